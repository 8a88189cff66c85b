//! The rules a life-event catalogue must keep, each broken rule one line naming the event
//! and the question: known categories and fields, one value per question, at most three
//! choices, conditions only on what was asked before, every required field asked, https
//! links, plausible helpers.

use super::catalogue::{LifeEvent, Question, field};
use crate::ids::is_id;
use crate::residents::catalogue::Catalogue;
use crate::residents::fields::{Field, FieldKind, Text};

/// The longest a share made from a life event may run, in days.
const MAX_SHARE_DAYS: u32 = 730;

/// Whether a field can be one question: one value, not a group or a list.
fn is_one_value(kind: &FieldKind) -> bool {
    match kind {
        FieldKind::Text { max_length, .. } => max_length.is_some_and(|m| m <= 200),
        FieldKind::Integer { .. } | FieldKind::Number { .. } | FieldKind::Boolean => true,
        FieldKind::Choice(_) => true,
        FieldKind::Group(_) | FieldKind::List { .. } | FieldKind::TextList { .. } => false,
    }
}

fn check_text(text: &Text, what: &str, problems: &mut Vec<String>) {
    if text.nl.trim().is_empty() || text.en.trim().is_empty() {
        problems.push(format!("{what} needs a Dutch and an English text"));
    }
}

pub(super) fn check_event(event: &LifeEvent, categories: &Catalogue, problems: &mut Vec<String>) {
    let at = |what: String| format!("event {}: {what}", event.id);
    if !is_id(&event.id) {
        problems.push(at(
            "the id must be 2 to 64 lowercase letters, digits or dashes".into(),
        ));
    }
    check_text(&event.title, &at("the title".into()), problems);
    check_text(&event.description, &at("the description".into()), problems);
    for category in &event.categories {
        if !categories.contains(category) {
            problems.push(at(format!("unknown category {category}")));
        }
    }
    if let Some(kind) = &event.records_as {
        let known = field(categories, "levensgebeurtenis", "gebeurtenissen")
            .and_then(|f| match &f.kind {
                FieldKind::List { item, .. } => item.iter().find(|f| f.name == "soort"),
                _ => None,
            })
            .is_some_and(
                |f| matches!(&f.kind, FieldKind::Choice(c) if c.iter().any(|(v, _)| v == kind)),
            );
        if !known {
            problems.push(at(format!("records_as {kind} is not a kind of life event")));
        }
    }
    for (i, question) in event.questions.iter().enumerate() {
        let at = |what: String| format!("event {}, question {}: {what}", event.id, question.id);
        if event.questions[..i].iter().any(|q| q.id == question.id) {
            problems.push(at("the id appears twice".into()));
        }
        check_text(&question.ask, &at("the question".into()), problems);
        if !event.categories.iter().any(|c| c == question.category()) {
            problems.push(at(format!(
                "its category {} is not among the event's categories",
                question.category()
            )));
        }
        if categories
            .get(question.category())
            .is_ok_and(|c| c.kept_by_department())
        {
            problems.push(at(format!(
                "{} is kept by a department; ask the resident only what they fill in",
                question.field
            )));
        }
        match field(categories, question.category(), question.name()) {
            None => problems.push(at(format!("unknown field {}", question.field))),
            Some(f) if !is_one_value(&f.kind) => problems.push(at(format!(
                "{} is not one value (a list, a group or a long text)",
                question.field
            ))),
            Some(f) => check_options(question, f, &at, problems),
        }
        for condition in &question.when {
            if field(categories, condition.category(), condition.name()).is_none() {
                problems.push(at(format!(
                    "a condition names unknown field {}",
                    condition.field
                )));
            } else if event.questions[i..]
                .iter()
                .any(|q| q.field == condition.field)
            {
                problems.push(at(format!(
                    "a condition on {} is asked by this or a later question",
                    condition.field
                )));
            }
        }
    }
    // A record made from the answers must be whole: every required field is asked.
    let asked: std::collections::BTreeSet<&str> =
        event.questions.iter().map(Question::category).collect();
    for category in asked {
        let Ok(found) = categories.get(category) else {
            continue;
        };
        // A question with an unknown field is reported already; do not report it twice.
        let unknown = event
            .questions
            .iter()
            .any(|q| q.category() == category && field(categories, category, q.name()).is_none());
        if unknown {
            continue;
        }
        let of_category = || event.questions.iter().filter(|q| q.category() == category);
        for required in found.fields.iter().filter(|f| f.required) {
            let Some(question) = of_category().find(|q| q.name() == required.name) else {
                problems.push(at(format!(
                    "it asks about {category} but not its required field {}",
                    required.name
                )));
                continue;
            };
            // Asked on a condition the category's other questions do not share, the
            // required field could be missing from the record those answers make.
            if !question.when.is_empty() && of_category().any(|q| q.when != question.when) {
                problems.push(at(format!(
                    "question {} fills the required field {} of {category} only when its conditions hold; give every question of {category} the same conditions, or none",
                    question.id, required.name
                )));
            }
        }
    }
    for help in &event.self_help {
        check_text(&help.title, &at("a tip's title".into()), problems);
        check_text(&help.text, &at("a tip's text".into()), problems);
        if !help.url.starts_with("https://") || help.url.contains(char::is_whitespace) {
            problems.push(at(format!(
                "the link {} must be an https address",
                help.url
            )));
        }
    }
    for helper in &event.helpers {
        if !is_id(&helper.department) || !is_id(&helper.activity) {
            problems.push(at(format!(
                "helper {}/{} is not a department and activity id",
                helper.department, helper.activity
            )));
        }
        if !(1..=MAX_SHARE_DAYS).contains(&helper.duration_days) {
            problems.push(at(format!(
                "helper {}: duration_days must be 1 to {MAX_SHARE_DAYS}",
                helper.department
            )));
        }
    }
    for neighbour in &event.neighbourhood {
        check_text(
            &neighbour.what,
            &at(format!("{} needs what it does", neighbour.name)),
            problems,
        );
        if neighbour.name.trim().is_empty() || neighbour.contact.trim().is_empty() {
            problems.push(at(
                "a neighbourhood organisation needs a name and a contact".into(),
            ));
        }
    }
}

fn check_options(
    question: &Question,
    field: &Field,
    at: &dyn Fn(String) -> String,
    problems: &mut Vec<String>,
) {
    match &field.kind {
        FieldKind::Choice(choices) => {
            let offered = if question.options.is_empty() {
                choices.len()
            } else {
                question.options.len()
            };
            if offered > 3 {
                problems.push(at(format!(
                    "{} has {offered} choices; offer at most three in options",
                    question.field
                )));
            }
            for option in &question.options {
                if !choices.iter().any(|(v, _)| v == option) {
                    problems.push(at(format!(
                        "{option} is not a choice of {}",
                        question.field
                    )));
                }
            }
        }
        _ if !question.options.is_empty() => problems.push(at(format!(
            "{} is not a choice; leave options out",
            question.field
        ))),
        _ => {}
    }
}
