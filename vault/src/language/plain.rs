//! A plain-language check for Dutch at B1: short sentences and no jargon. The tests run it
//! over every Dutch sentence Kluis shows (`messages.toml`, the life-event catalogue), so a
//! long or hard sentence fails the build instead of reaching a resident.

/// The longest sentence allowed, in words.
pub const MAX_WORDS: usize = 20;
/// The longest average sentence allowed, in words.
pub const MAX_AVERAGE: f64 = 12.0;
/// Words residents should not meet (a word starting with one of these).
pub const JARGON: [&str; 5] = [
    "categorie",
    "verwerkingsactiviteit",
    "grondslag",
    "autorisatie",
    "data",
];

/// The sentences of `text`: split after `.`, `?`, `!` or `:` followed by a space or the
/// end. A `{placeholder}` counts as one word.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let ends = matches!(c, '.' | '?' | '!' | ':')
            && chars.peek().is_none_or(|next| next.is_whitespace());
        if ends {
            if !current.trim().is_empty() {
                out.push(current.trim().to_owned());
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// The words of a sentence.
pub fn words(sentence: &str) -> Vec<String> {
    sentence
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '{' && c != '}')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word pairs Kluis never writes, with the form it uses instead: one form of "u heeft".
pub const AVOID: [(&str, &str); 2] = [("u hebt", "u heeft"), ("hebt u", "heeft u")];

fn is_jargon(word: &str) -> bool {
    JARGON.iter().any(|j| {
        if *j == "data" {
            word == *j
        } else {
            word.starts_with(j)
        }
    })
}

/// What is wrong with the sentences of one text, each problem naming its sentence: too
/// long, jargon, a form Kluis does not use. The average is left to [`problems`].
pub fn sentence_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for sentence in sentences(text) {
        let words = words(&sentence);
        if words.len() > MAX_WORDS {
            problems.push(format!("{} words: {sentence}", words.len()));
        }
        for word in words.iter().filter(|w| is_jargon(w)) {
            problems.push(format!("jargon {word:?}: {sentence}"));
        }
        let joined = words.join(" ");
        for (avoid, instead) in AVOID {
            if format!(" {joined} ").contains(&format!(" {avoid} ")) {
                problems.push(format!("write {instead:?}, not {avoid:?}: {sentence}"));
            }
        }
    }
    problems
}

/// What is wrong with `texts` (each a message), as lines naming the sentence, and the
/// average sentence length over all of them.
pub fn problems<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut total = 0;
    let mut count = 0;
    for text in texts {
        problems.extend(sentence_problems(text));
        for sentence in sentences(text) {
            total += words(&sentence).len();
            count += 1;
        }
    }
    if count > 0 && total as f64 / count as f64 > MAX_AVERAGE {
        problems.push(format!(
            "the sentences average {:.1} words, more than {MAX_AVERAGE}",
            total as f64 / count as f64
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::life_events::catalogue::LifeEventCatalogue;
    use crate::residents::catalogue::Catalogue;

    #[test]
    fn the_checker_finds_long_sentences_jargon_and_a_high_average() {
        assert_eq!(
            sentences("Wat is er gebeurd? Kies: een. Bel {phone}."),
            ["Wat is er gebeurd?", "Kies:", "een.", "Bel {phone}."]
        );
        let long = "een ".repeat(21);
        assert_eq!(problems([long.as_str()]).len(), 2, "long, and the average");
        assert!(problems(["Uw data staan veilig."])[0].starts_with("jargon"));
        assert!(problems(["De categorieën zijn klaar."])[0].starts_with("jargon"));
        assert!(problems(["Wat u hebt ingevuld."])[0].starts_with("write"));
        assert!(problems(["Wat heeft u ingevuld?"]).is_empty());
        assert!(
            problems(["Kies een datum."]).is_empty(),
            "datum is not data"
        );
    }

    #[test]
    fn every_dutch_message_is_plain() {
        let dutch = super::super::texts::dutch();
        let found = problems(dutch.iter().map(String::as_str));
        assert!(found.is_empty(), "messages.toml: {found:#?}");
    }

    #[test]
    fn every_dutch_sentence_of_the_life_events_is_plain() {
        let catalogue = LifeEventCatalogue::builtin(&Catalogue::builtin().unwrap()).unwrap();
        let mut dutch: Vec<&str> = Vec::new();
        for event in catalogue.events() {
            dutch.extend([event.title.nl.as_str(), event.description.nl.as_str()]);
            dutch.extend(event.questions.iter().map(|q| q.ask.nl.as_str()));
            for help in &event.self_help {
                dutch.extend([help.title.nl.as_str(), help.text.nl.as_str()]);
            }
            dutch.extend(event.neighbourhood.iter().map(|n| n.what.nl.as_str()));
        }
        let found = problems(dutch);
        assert!(found.is_empty(), "life events: {found:#?}");
    }

    #[test]
    fn every_dutch_sentence_of_the_schemes_is_plain() {
        let rules =
            crate::schemes::rules::RuleSet::builtin(&Catalogue::builtin().unwrap(), 2026).unwrap();
        let mut dutch: Vec<&str> = Vec::new();
        for scheme in rules.schemes() {
            dutch.extend([
                scheme.title.nl.as_str(),
                scheme.what.nl.as_str(),
                scheme.gives.nl.as_str(),
            ]);
            dutch.extend(scheme.why.iter().map(|w| w.nl.as_str()));
        }
        let found = problems(dutch);
        assert!(found.is_empty(), "schemes: {found:#?}");
    }
}
