//! Sentences built from data: one entry of a resident's history ("Schuldhulp heeft uw
//! gegevens bekeken: ..."), and the summary of a department's request. The words are in
//! `web/messages.toml` (groups `story` and `request`); this only picks and fills them.

use super::Texts;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use kluis_proto::consent::RequestView;

/// One entry of the resident's own history, told in short sentences: a lead, the data it
/// was about as a list (never glued into the sentence), and what followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Story {
    /// The first sentence; it ends with ":" when `labels` follow.
    pub lead: String,
    /// The categories' labels, to show as a list.
    pub labels: Vec<String>,
    /// A sentence after the list ("Waarom: ...", "Er is niets gedeeld."), if any.
    pub after: Option<String>,
}

impl Story {
    /// The story as one line of text (for the API and the download).
    pub fn sentence(&self) -> String {
        let mut text = self.lead.clone();
        if !self.labels.is_empty() {
            text = format!("{text} {}.", self.labels.join(", "));
        }
        if let Some(after) = &self.after {
            text = format!("{text} {after}");
        }
        text
    }
}

/// One entry of the resident's own history. `department` is the department's name and
/// `coach` the coach's (if one was involved), `labels` the categories' labels, all in
/// `t`'s language.
pub fn history_story(
    entry: &Entry,
    (department, coach): (Option<&str>, Option<&str>),
    labels: &[String],
    t: Texts,
) -> Story {
    let department = department.unwrap_or(t.get("story.someone"));
    let coach = coach.unwrap_or(t.get("story.someone"));
    let fill = |key: &str| t.fill(key, &[("department", department), ("coach", coach)]);
    let listed = |key: &str, after: Option<String>| Story {
        lead: fill(key),
        labels: labels.to_vec(),
        after,
    };
    let plain = |lead: String| Story {
        lead,
        labels: Vec::new(),
        after: None,
    };
    match (entry.action, entry.outcome) {
        (Action::Read, Outcome::Allowed) => listed(
            "story.read",
            entry
                .purpose
                .as_ref()
                .map(|p| t.fill("story.why", &[("purpose", p.trim_end())])),
        ),
        (Action::Read, _) if labels.is_empty() => Story {
            after: Some(t.get("story.nothing_shared").to_owned()),
            ..plain(fill("story.read_refused"))
        },
        (Action::Read, _) => listed(
            "story.read_refused_labels",
            Some(t.get("story.nothing_shared").to_owned()),
        ),
        (Action::AccessRequest, _) => listed("story.asked", None),
        (Action::RequestDecision, Outcome::Declined) => plain(fill("story.declined")),
        (Action::RequestDecision, _) if matches!(entry.actor, Actor::Coach { .. }) => {
            listed("story.witness_approved", None)
        }
        (Action::RequestDecision, _) => listed("story.approved", None),
        (Action::Grant, _) => listed(
            "story.granted",
            entry
                .valid_until
                .map(|until| t.fill("story.granted_until", &[("date", &t.date(until))])),
        ),
        (Action::Revocation, _) => plain(fill("story.revoked")),
        (Action::Notice, _) => match entry.details.get("event").map(String::as_str) {
            Some(kluis_proto::events::ERASURE_REQUESTED) if entry.details.contains_key("read") => {
                listed("story.erasure_asked_read", None)
            }
            Some(kluis_proto::events::ERASURE_REQUESTED) => plain(fill("story.erasure_asked")),
            Some("record-rectified") => listed("story.told_rectified", None),
            _ => plain(fill("story.told")),
        },
        (Action::ErasureConfirmed, _) => listed("story.erasure_confirmed", None),
        (Action::Pause, _) => match entry.details.get("change").map(String::as_str) {
            Some("resumed") => plain(fill("story.resumed")),
            _ => plain(fill("story.paused")),
        },
        (Action::RecordWrite, _) if matches!(entry.actor, Actor::Department { .. }) => {
            listed("story.written_by_department", None)
        }
        (Action::RecordWrite, _) => listed("story.written", None),
        (Action::RecordDelete, _) => listed("story.deleted", None),
        (Action::Export, _) => plain(t.get("story.exported").to_owned()),
        (Action::Erasure, _) => plain(t.get("story.erased").to_owned()),
        (Action::OfficerQuery, _) => plain(t.get("story.officer").to_owned()),
        (Action::CaseStatus, _) => plain(fill("story.case_status")),
        (Action::SchemeCheck, _) => plain(t.get("story.scheme_check").to_owned()),
        (Action::SchemeApplication, _) => plain(fill("story.scheme_application")),
        (Action::CoachView, Outcome::Allowed) if labels.is_empty() => {
            plain(fill("story.coach_opened"))
        }
        (Action::CoachView, Outcome::Allowed) => listed("story.coach_looked", None),
        (Action::CoachView, _) => Story {
            after: Some(t.get("story.nothing_shared").to_owned()),
            ..plain(fill("story.coach_refused"))
        },
        (Action::LookAlong, _) => match entry.details.get("change").map(String::as_str) {
            Some("ended") => plain(fill("story.look_along_ended")),
            Some("ended: coach removed") => plain(fill("story.look_along_coach_removed")),
            Some("help asked") => plain(fill("story.help_asked")),
            _ => listed(
                "story.look_along_started",
                entry
                    .valid_until
                    .map(|until| t.fill("story.granted_until", &[("date", &t.date_time(until))])),
            ),
        },
        (Action::Proposal, Outcome::Approved) => listed("story.proposal_confirmed", None),
        (Action::Proposal, Outcome::Declined) => listed("story.proposal_declined", None),
        (Action::Proposal, _) => listed("story.proposed", None),
        (Action::WitnessStatement, Outcome::Done) => listed("story.witness_recorded", None),
        (Action::WitnessStatement, Outcome::Approved) => plain(fill("story.witness_confirmed")),
        (Action::WitnessStatement, Outcome::Declined) => plain(fill("story.witness_disputed")),
        (Action::WitnessStatement, _) => plain(fill("story.witness_refused")),
        (
            Action::DepartmentChange
            | Action::KeyRotation
            | Action::Backup
            | Action::OfficerChange
            | Action::CoachChange,
            _,
        ) => plain(t.get("story.operator").to_owned()),
    }
}

/// A number of days in words: "1 dag", "90 dagen", "3 maanden", "5 jaar".
pub fn days(days: u32, t: Texts) -> String {
    let n = |value: u32| value.to_string();
    match days {
        1 => t.get("duration.one_day").to_owned(),
        365 => t.get("duration.one_year").to_owned(),
        d if d % 365 == 0 => t.fill("duration.years", &[("n", &n(d / 365))]),
        d if d >= 60 && d % 30 == 0 => t.fill("duration.months", &[("n", &n(d / 30))]),
        d => t.fill("duration.days", &[("n", &n(d))]),
    }
}

/// What a request asks, why, on what legal ground, for how long, and what the resident
/// can do: the whole request in plain words.
pub fn request_summary(request: &RequestView, t: Texts) -> String {
    let labels: Vec<&str> = request
        .categories
        .iter()
        .map(|c| t.language.pick(c.label_nl.as_str(), c.label_en.as_str()))
        .collect();
    let activity = &request.processing_activity;
    let mut summary = t.fill(
        "request.summary_asks",
        &[
            ("department", &request.department.name),
            ("labels", &labels.join(", ")),
        ],
    );
    if request.categories.iter().any(|c| c.special_category) {
        summary.push(' ');
        summary.push_str(t.get("request.summary_special"));
    }
    summary.push(' ');
    summary.push_str(&t.fill(
        "request.summary_rest",
        &[
            ("department", &request.department.name),
            ("purpose", activity.purpose.trim_end()),
            ("law", &activity.legal_basis.law),
            ("article", &activity.legal_basis.article),
            ("duration", &days(request.duration_days, t)),
            ("retention", &days(activity.retention_days, t)),
        ],
    ));
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Language;

    const NL: Texts = Texts {
        language: Language::Nl,
    };

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(days(1, NL), "1 dag");
        assert_eq!(days(90, NL), "3 maanden");
        assert_eq!(days(45, NL), "45 dagen");
        assert_eq!(days(3650, NL), "10 jaar");
    }

    #[test]
    fn a_read_names_the_department_what_and_why() {
        let mut entry = Entry::new(
            Action::Read,
            Outcome::Allowed,
            Actor::Department { id: "wi".into() },
        );
        entry.purpose = Some("Uw aanvraag beoordelen. ".into());
        let story = history_story(
            &entry,
            (Some("Werk en Inkomen"), None),
            &["Werk".into()],
            NL,
        );
        assert_eq!(story.lead, "Werk en Inkomen heeft deze gegevens bekeken:");
        assert_eq!(
            story.labels,
            ["Werk"],
            "the data as a list, not in the sentence"
        );
        assert_eq!(
            story.sentence(),
            "Werk en Inkomen heeft deze gegevens bekeken: Werk. Waarom: Uw aanvraag beoordelen."
        );
        entry.outcome = Outcome::Refused;
        let refused = history_story(&entry, (None, None), &[], NL).sentence();
        assert!(
            refused.starts_with("Iemand wilde uw gegevens bekijken"),
            "{refused}"
        );
        assert!(refused.ends_with("Er is niets gedeeld."), "{refused}");
    }
}
