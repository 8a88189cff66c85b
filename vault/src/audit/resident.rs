//! The resident's own part of the log, in plain Dutch (B1): who looked at what, and why.

use super::entry::{Action, Entry, Outcome};
use std::collections::HashMap;

/// One entry as a short Dutch sentence. `department_name` maps department ids to names,
/// `label` maps category ids to their Dutch labels.
pub fn describe_nl(
    entry: &Entry,
    department_name: &HashMap<String, String>,
    label: &dyn Fn(&str) -> String,
) -> String {
    let department = entry
        .department
        .as_ref()
        .map(|d| department_name.get(d).cloned().unwrap_or_else(|| d.clone()))
        .unwrap_or_else(|| "Iemand".to_owned());
    let labels: Vec<String> = entry.categories.iter().map(|c| label(c)).collect();
    let labels = labels.join(", ");
    let purpose = entry
        .purpose
        .as_ref()
        .map(|p| format!(" Waarom: {}", p.trim_end()))
        .unwrap_or_default();
    match (entry.action, entry.outcome) {
        (Action::Read, Outcome::Allowed) => {
            format!("{department} heeft uw gegevens bekeken: {labels}.{purpose}")
        }
        (Action::Read, _) if labels.is_empty() => {
            format!(
                "{department} wilde uw gegevens bekijken, maar mocht dat niet. Er is niets gedeeld."
            )
        }
        (Action::Read, _) => format!(
            "{department} wilde uw gegevens bekijken ({labels}), maar mocht dat niet. Er is niets gedeeld."
        ),
        (Action::AccessRequest, _) => {
            format!("{department} vroeg of het uw gegevens mag bekijken: {labels}.")
        }
        (Action::RequestDecision, Outcome::Declined) => {
            format!("U zei nee tegen de vraag van {department}.")
        }
        (Action::RequestDecision, _) => {
            format!("U zei ja tegen de vraag van {department}: {labels}.")
        }
        (Action::Grant, _) => match entry.valid_until {
            Some(until) => format!(
                "{department} mag nu bekijken: {labels}. Dat mag tot {}.",
                until.format("%d-%m-%Y")
            ),
            None => format!("{department} mag nu bekijken: {labels}."),
        },
        (Action::Revocation, _) => format!(
            "U heeft de toestemming van {department} ingetrokken. {department} kan uw gegevens niet meer bekijken."
        ),
        (Action::RecordWrite, _) => format!("U heeft dit bijgewerkt: {labels}."),
        (Action::RecordDelete, _) => format!("U heeft dit verwijderd: {labels}."),
        (Action::Export, _) => "U heeft al uw gegevens gedownload.".to_owned(),
        (Action::Erasure, _) => "U heeft uw kluis gewist.".to_owned(),
        (Action::OfficerQuery, _) => {
            "De functionaris gegevensbescherming heeft het logboek over u bekeken.".to_owned()
        }
        (Action::DepartmentChange | Action::KeyRotation | Action::OfficerChange, _) => {
            "De beheerder heeft iets aangepast.".to_owned()
        }
    }
}
