//! The resident's own part of the log, in plain words (Dutch at B1, or English): who
//! looked at what, and why.

use super::entry::{Action, Entry, Outcome};
use crate::language::Language;
use std::collections::HashMap;

/// One entry as a short sentence in `language`. `department_name` maps department ids to
/// names, `label` maps category ids to their labels in that language.
pub fn describe(
    entry: &Entry,
    language: Language,
    department_name: &HashMap<String, String>,
    label: &dyn Fn(&str) -> String,
) -> String {
    let l = |nl: &str, en: &str| language.pick(nl, en).to_owned();
    let department = entry
        .department
        .as_ref()
        .map(|d| department_name.get(d).cloned().unwrap_or_else(|| d.clone()))
        .unwrap_or_else(|| l("Iemand", "Someone"));
    let labels: Vec<String> = entry.categories.iter().map(|c| label(c)).collect();
    let labels = labels.join(", ");
    let purpose = entry
        .purpose
        .as_ref()
        .map(|p| format!(" {} {}", l("Waarom:", "Why:"), p.trim_end()))
        .unwrap_or_default();
    let nothing_shared = l("Er is niets gedeeld.", "Nothing was shared.");
    match (entry.action, entry.outcome, language) {
        (Action::Read, Outcome::Allowed, Language::Nl) => {
            format!("{department} heeft uw gegevens bekeken: {labels}.{purpose}")
        }
        (Action::Read, Outcome::Allowed, Language::En) => {
            format!("{department} looked at your information: {labels}.{purpose}")
        }
        (Action::Read, _, Language::Nl) if labels.is_empty() => {
            format!("{department} wilde uw gegevens bekijken, maar mocht dat niet. {nothing_shared}")
        }
        (Action::Read, _, Language::En) if labels.is_empty() => {
            format!("{department} wanted to look at your information, but was not allowed to. {nothing_shared}")
        }
        (Action::Read, _, Language::Nl) => {
            format!("{department} wilde uw gegevens bekijken ({labels}), maar mocht dat niet. {nothing_shared}")
        }
        (Action::Read, _, Language::En) => format!(
            "{department} wanted to look at your information ({labels}), but was not allowed to. {nothing_shared}"
        ),
        (Action::AccessRequest, _, Language::Nl) => {
            format!("{department} vroeg of het uw gegevens mag bekijken: {labels}.")
        }
        (Action::AccessRequest, _, Language::En) => {
            format!("{department} asked to look at your information: {labels}.")
        }
        (Action::RequestDecision, Outcome::Declined, Language::Nl) => {
            format!("U zei nee tegen de vraag van {department}.")
        }
        (Action::RequestDecision, Outcome::Declined, Language::En) => {
            format!("You said no to {department}.")
        }
        (Action::RequestDecision, _, Language::Nl) => {
            format!("U zei ja tegen de vraag van {department}: {labels}.")
        }
        (Action::RequestDecision, _, Language::En) => {
            format!("You said yes to {department}: {labels}.")
        }
        (Action::Grant, _, _) => {
            let until = entry
                .valid_until
                .map(|until| {
                    format!(
                        " {} {}.",
                        l("Dat mag tot", "Until"),
                        until.format("%d-%m-%Y")
                    )
                })
                .unwrap_or_default();
            language.pick(
                format!("{department} mag nu bekijken: {labels}.{until}"),
                format!("{department} may now look at: {labels}.{until}"),
            )
        }
        (Action::Revocation, _, _) => language.pick(
            format!(
                "U heeft de toestemming van {department} ingetrokken. {department} kan uw gegevens niet meer bekijken."
            ),
            format!(
                "You withdrew the permission of {department}. {department} can no longer look at your information."
            ),
        ),
        (Action::RecordWrite, _, _) => language.pick(
            format!("U heeft dit bijgewerkt: {labels}."),
            format!("You updated: {labels}."),
        ),
        (Action::RecordDelete, _, _) => language.pick(
            format!("U heeft dit verwijderd: {labels}."),
            format!("You deleted: {labels}."),
        ),
        (Action::Export, _, _) => l(
            "U heeft al uw gegevens gedownload.",
            "You downloaded all your information.",
        ),
        (Action::Erasure, _, _) => l("U heeft uw kluis gewist.", "You erased your vault."),
        (Action::OfficerQuery, _, _) => l(
            "De functionaris gegevensbescherming heeft het logboek over u bekeken.",
            "The data protection officer looked at the log about you.",
        ),
        (Action::DepartmentChange | Action::KeyRotation | Action::OfficerChange, _, _) => l(
            "De beheerder heeft iets aangepast.",
            "The administrator changed something.",
        ),
    }
}
