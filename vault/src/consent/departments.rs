//! Registering departments and their processing activities.
//!
//! Registration is an upsert by the operator. An activity whose content changes gets a new
//! version; the old version stays, so grants and requests made under it keep exactly the
//! scope they had. An activity left out of a new registration is retired: no new requests
//! or grants, while existing grants live out their term.

use super::{Consent, activity_view};
use crate::audit::Context;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::ids::is_id;
use crate::jose::keys::KeySet;
use crate::language::plain;
use crate::signals::Notice;
use crate::store::{ActivityRow, DepartmentRow};
use crate::{Error, Result};
use kluis_proto::consent::{DepartmentInfo, DepartmentSpec, ProcessingActivity};
use kluis_proto::events::EventKind;

fn text(value: &str, what: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.len() > max {
        return Err(Error::InvalidParameter(format!(
            "{what} must be 1 to {max} characters"
        )));
    }
    Ok(())
}

fn same_content(row: &ActivityRow, spec: &ProcessingActivity) -> bool {
    row.name == spec.name
        && row.purpose == spec.purpose
        && row.explanation == spec.explanation
        && row.if_no == spec.if_no
        && row.contact == spec.contact
        && row.next_step == spec.next_step
        && row.law == spec.legal_basis.law
        && row.article == spec.legal_basis.article
        && row.necessary == spec.legal_basis.necessary
        && row.categories == spec.categories
        && row.writes == spec.writes
        && row.retention_days == spec.retention_days
        && row.recipients == spec.recipients
}

/// The longest purpose, in words: it is the one line a resident reads first.
const MAX_PURPOSE_WORDS: usize = 15;

/// The texts a resident reads on a request must be there, short and plain Dutch; the
/// registration names the activity, the field and what to change.
fn check_resident_texts(activity: &ProcessingActivity) -> Result<()> {
    let refuse = |field: &str, problem: String| {
        Err(Error::InvalidParameter(format!(
            "activity {}: {field} {problem}",
            activity.id
        )))
    };
    let words = plain::words(&activity.purpose).len();
    if words > MAX_PURPOSE_WORDS {
        return refuse(
            "purpose",
            format!(
                "has {words} words; keep it to {MAX_PURPOSE_WORDS} and put the rest in explanation"
            ),
        );
    }
    text(
        &activity.contact,
        &format!("activity {}: contact", activity.id),
        300,
    )?;
    text(
        &activity.next_step,
        &format!("activity {}: next_step", activity.id),
        1000,
    )?;
    if activity.legal_basis.necessary && activity.if_no.trim().is_empty() {
        return refuse(
            "if_no",
            "is required: the law makes the data necessary, so say what happens without it".into(),
        );
    }
    text(
        &activity.recipients,
        &format!(
            "activity {}: recipients (to whom the department passes on what it reads, or \"Niemand.\")",
            activity.id
        ),
        500,
    )?;
    for (field, value, max) in [
        ("purpose", &activity.purpose, 300),
        ("explanation", &activity.explanation, 2000),
        ("if_no", &activity.if_no, 1000),
        ("next_step", &activity.next_step, 1000),
        ("recipients", &activity.recipients, 500),
    ] {
        if value.len() > max {
            return refuse(field, format!("must be at most {max} characters"));
        }
        if let Some(problem) = plain::sentence_problems(value).into_iter().next() {
            return refuse(field, format!("is not plain Dutch ({problem})"));
        }
    }
    Ok(())
}

impl Consent {
    /// Checks a registration without storing it.
    fn validate(&self, spec: &DepartmentSpec) -> Result<()> {
        if !is_id(&spec.id) {
            return Err(Error::InvalidParameter(
                "the department id must be 2 to 64 lowercase letters, digits or dashes".into(),
            ));
        }
        text(&spec.name, "the name", 200)?;
        KeySet::from_jwks(&spec.jwks).map_err(|e| Error::InvalidParameter(format!("jwks: {e}")))?;
        if spec.processing_activities.is_empty() {
            return Err(Error::InvalidParameter(
                "register at least one processing activity".into(),
            ));
        }
        for (i, activity) in spec.processing_activities.iter().enumerate() {
            if !is_id(&activity.id) {
                return Err(Error::InvalidParameter(
                    "an activity id must be 2 to 64 lowercase letters, digits or dashes".into(),
                ));
            }
            if spec.processing_activities[..i]
                .iter()
                .any(|a| a.id == activity.id)
            {
                return Err(Error::InvalidParameter(format!(
                    "activity {} appears twice",
                    activity.id
                )));
            }
            text(&activity.name, "an activity name", 200)?;
            text(&activity.purpose, "a purpose", 300)?;
            check_resident_texts(activity)?;
            text(&activity.legal_basis.law, "a law", 200)?;
            text(&activity.legal_basis.article, "an article", 200)?;
            if !(1..=36_500).contains(&activity.retention_days) {
                return Err(Error::InvalidParameter(
                    "retention_days must be 1 to 36500".into(),
                ));
            }
            if activity.categories.is_empty() {
                return Err(Error::InvalidParameter(format!(
                    "activity {} needs at least one category",
                    activity.id
                )));
            }
            for category in &activity.categories {
                self.residents.catalogue().get(category)?;
            }
            for category in &activity.writes {
                let kept = self
                    .residents
                    .catalogue()
                    .get(category)?
                    .kept_by_department();
                if !kept || !activity.categories.contains(category) {
                    return Err(Error::InvalidParameter(format!(
                        "activity {}: writes may name only its own categories that a department keeps; {category} is not one",
                        activity.id
                    )));
                }
            }
        }
        text(
            &spec.privacy_officer,
            "privacy_officer (how residents reach your data protection officer, such as fg@gemeente.nl)",
            300,
        )
    }

    /// Registers a department, or updates its name, keys and activities. A registration
    /// that changes nothing is not stored or logged again.
    pub async fn register_department(
        &self,
        context: &Context,
        actor: Actor,
        spec: &DepartmentSpec,
    ) -> Result<DepartmentInfo> {
        self.validate(spec)?;
        if let Some(endpoint) = &spec.events_endpoint {
            self.signals.check_endpoint(endpoint)?;
        }
        let now = self.clock.now();
        let existing = self.store.department(&spec.id).await?;
        let mut row = match existing.clone() {
            Some(existing) => existing,
            None => DepartmentRow {
                id: spec.id.clone(),
                name: spec.name.clone(),
                jwks: spec.jwks.clone(),
                activities: Vec::new(),
                privacy_officer: spec.privacy_officer.clone(),
                events_endpoint: None,
                disabled: false,
                created_at: now,
                updated_at: now,
            },
        };
        row.name = spec.name.clone();
        row.jwks = spec.jwks.clone();
        row.privacy_officer = spec.privacy_officer.clone();
        row.events_endpoint = spec.events_endpoint.clone();
        row.updated_at = now;
        for activity in &spec.processing_activities {
            let latest = row
                .activities
                .iter()
                .filter(|a| a.id == activity.id)
                .max_by_key(|a| a.version);
            let version = match latest {
                Some(latest) if same_content(latest, activity) && !latest.retired => continue,
                Some(latest) if same_content(latest, activity) => latest.version,
                Some(latest) => latest.version + 1,
                None => 1,
            };
            row.activities
                .retain(|a| !(a.id == activity.id && a.version == version));
            row.activities.push(ActivityRow {
                id: activity.id.clone(),
                version,
                name: activity.name.clone(),
                purpose: activity.purpose.clone(),
                explanation: activity.explanation.clone(),
                if_no: activity.if_no.clone(),
                contact: activity.contact.clone(),
                next_step: activity.next_step.clone(),
                law: activity.legal_basis.law.clone(),
                article: activity.legal_basis.article.clone(),
                necessary: activity.legal_basis.necessary,
                categories: activity.categories.clone(),
                writes: activity.writes.clone(),
                retention_days: activity.retention_days,
                recipients: activity.recipients.clone(),
                registered_at: now,
                retired: false,
            });
        }
        for old in row.activities.iter_mut() {
            if !spec.processing_activities.iter().any(|a| a.id == old.id) {
                old.retired = true;
            }
        }
        row.activities
            .sort_by(|a, b| (&a.id, a.version).cmp(&(&b.id, b.version)));
        let unchanged = existing.as_ref().is_some_and(|before| {
            DepartmentRow {
                updated_at: now,
                ..before.clone()
            } == row
        });
        if unchanged {
            return Ok(info(&row));
        }
        self.store.put_department(&row).await?;
        self.departments.forget(&row.id);
        let change = if existing.is_some() {
            "updated"
        } else {
            "registered"
        };
        self.record_department_change(context, actor, &row, change)
            .await?;
        Ok(info(&row))
    }

    async fn record_department_change(
        &self,
        context: &Context,
        actor: Actor,
        row: &DepartmentRow,
        change: &str,
    ) -> Result<()> {
        let mut entry = Entry::new(Action::DepartmentChange, Outcome::Done, actor.clone());
        entry.department = Some(row.id.clone());
        entry.details.insert("change".into(), change.into());
        let current = info(row).processing_activities;
        let activities: Vec<String> = current
            .iter()
            .map(|a| format!("{} v{}", a.id, a.version))
            .collect();
        entry
            .details
            .insert("activities".into(), activities.join(", "));
        let mut entries = vec![(entry, None)];
        if change == "disabled" {
            // Delivered by poll once it is enabled again (it then explains the refusals).
            entries.push(self.signals.notice(
                actor,
                Notice {
                    department: &row.id,
                    subject: None,
                    resident: None,
                    kind: EventKind::DepartmentDisabled {},
                },
            )?);
        }
        self.audit.record_all(context, entries).await.map(|_| ())
    }

    /// Disables or re-enables a department. Disabled, every call it makes is refused,
    /// including reads under grants it holds.
    pub async fn set_department_disabled(
        &self,
        context: &Context,
        actor: Actor,
        id: &str,
        disabled: bool,
    ) -> Result<DepartmentInfo> {
        let mut row = self.department_row(id).await?;
        if row.disabled == disabled {
            // Nothing changes: nothing to log or tell.
            return Ok(info(&row));
        }
        row.disabled = disabled;
        row.updated_at = self.clock.now();
        self.store.put_department(&row).await?;
        let change = if disabled { "disabled" } else { "enabled" };
        self.record_department_change(context, actor, &row, change)
            .await?;
        Ok(info(&row))
    }

    /// Every department with its current activities.
    pub async fn departments(&self) -> Result<Vec<DepartmentInfo>> {
        Ok(self.store.departments().await?.iter().map(info).collect())
    }
}

/// The listing view of a department: its current, non-retired activity versions.
fn info(row: &DepartmentRow) -> DepartmentInfo {
    let mut current: Vec<&ActivityRow> = Vec::new();
    for a in &row.activities {
        let newest = row
            .activities
            .iter()
            .filter(|b| b.id == a.id)
            .map(|b| b.version)
            .max();
        if Some(a.version) == newest && !a.retired {
            current.push(a);
        }
    }
    DepartmentInfo {
        id: row.id.clone(),
        name: row.name.clone(),
        disabled: row.disabled,
        privacy_officer: row.privacy_officer.clone(),
        processing_activities: current.into_iter().map(activity_view).collect(),
    }
}
