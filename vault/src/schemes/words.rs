//! A scheme suggestion in the resident's own words: the scheme's texts with their
//! `{placeholders}` filled from the resident's facts, amounts as residents read them
//! ("€ 1.471,05"), counts as numbers.

use super::Suggestion;
use super::facts::{Facts, Kind, info};
use super::rules::RuleSet;
use crate::language::Texts;
use crate::residents::fields::Text;
use serde_json::Value;

/// What fills the placeholders of one suggestion's texts.
pub struct Filler<'a> {
    /// The suggestion.
    pub suggestion: &'a Suggestion,
    /// The resident's facts.
    pub facts: &'a Facts,
    /// The rule set (for parameters).
    pub rules: &'a RuleSet,
    /// The year whose parameters apply.
    pub year: i32,
}

impl Filler<'_> {
    /// `text` in `t`'s language with every placeholder filled.
    pub fn fill(&self, text: &Text, t: Texts) -> String {
        let mut out = text.get(t.language).to_owned();
        while let Some(start) = out.find('{') {
            let Some(length) = out[start..].find('}') else {
                break;
            };
            let name = &out[start + 1..start + length];
            let value = self.value(name, t).unwrap_or_else(|| "?".to_owned());
            out.replace_range(start..=start + length, &value);
        }
        out
    }

    /// Every "why" line.
    pub fn why(&self, t: Texts) -> Vec<String> {
        self.suggestion
            .scheme
            .why
            .iter()
            .map(|line| self.fill(line, t))
            .collect()
    }

    fn value(&self, name: &str, t: Texts) -> Option<String> {
        if name == "grens" {
            return self.suggestion.limit.map(|limit| t.euros(limit));
        }
        if let Some(parameter) = name.strip_prefix("p.") {
            let household = self.facts.get("huishouden")?.as_str()?;
            return self
                .rules
                .parameter(parameter, self.year, household)
                .map(|amount| t.euros(amount));
        }
        let value = self.facts.get(name)?;
        match info(name)?.kind {
            Kind::Money => value.as_f64().map(|amount| t.euros(amount)),
            Kind::Count => value.as_i64().map(|n| n.to_string()),
            Kind::Word => value.as_str().map(str::to_owned),
            Kind::Words => value.as_array().map(|words| {
                words
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        }
    }
}
