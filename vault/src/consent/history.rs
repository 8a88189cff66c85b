//! The resident's view of the audit log: every entry about them, newest first, each told
//! in a plain sentence, with department names and category labels filled in.

use super::Consent;
use crate::Result;
use crate::audit::entry::{Action, Outcome};
use crate::language::{Texts, stories};
use crate::residents::ResidentId;
use chrono::{DateTime, Utc};
use kluis_proto::consent::DepartmentRef;
use std::collections::HashMap;

/// One entry of the resident's history.
#[derive(Clone, Debug)]
pub struct HistoryItem {
    /// Its position in the log (the reference a complaint or an erasure request names).
    pub seq: u64,
    /// When.
    pub time: DateTime<Utc>,
    /// What happened.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// Which department, if one was involved.
    pub department: Option<DepartmentRef>,
    /// Which categories.
    pub categories: Vec<String>,
    /// The department's stated purpose.
    pub purpose: Option<String>,
    /// The whole entry in plain sentences, its data as a list.
    pub story: stories::Story,
    /// For a read: whether the resident asked the department to delete what it read,
    /// and when the department confirmed it did.
    pub erasure: Option<ReadErasure>,
}

/// The resident's request that a department delete what one read returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadErasure {
    /// When the resident asked.
    pub asked_at: DateTime<Utc>,
    /// When the department confirmed it deleted it, if it did.
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl Consent {
    /// Every department's name, by id.
    pub async fn department_names(&self) -> Result<HashMap<String, String>> {
        Ok(self
            .store
            .departments()
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect())
    }

    /// The resident's audit reference and their entries, newest first, told in `t`'s
    /// language; `coaches` names the coaches by id.
    pub async fn resident_history(
        &self,
        resident: ResidentId,
        coaches: &HashMap<String, String>,
        t: Texts,
    ) -> Result<(String, Vec<HistoryItem>)> {
        let reference = self.residents.audit_reference(resident);
        let entries = self.audit.about_resident(&reference).await?;
        let names = self.department_names().await?;
        let catalogue = self.residents.catalogue();
        let label = |id: &String| {
            catalogue
                .get(id)
                .map(|c| c.label(t.language).to_owned())
                .unwrap_or_else(|_| id.clone())
        };
        // Erasure requests and confirmations about single reads, by the read's position.
        let mut erasures: HashMap<String, ReadErasure> = HashMap::new();
        for e in &entries {
            let Some(read) = e.details.get("read") else {
                continue;
            };
            match e.action {
                Action::Notice => {
                    erasures.entry(read.clone()).or_insert(ReadErasure {
                        asked_at: e.time,
                        confirmed_at: None,
                    });
                }
                Action::ErasureConfirmed => {
                    if let Some(asked) = erasures.get_mut(read) {
                        asked.confirmed_at.get_or_insert(e.time);
                    }
                }
                _ => {}
            }
        }
        let items = entries
            .iter()
            .rev()
            .map(|e| {
                let department = e.department.as_ref().map(|id| DepartmentRef {
                    id: id.clone(),
                    name: names.get(id).unwrap_or(id).clone(),
                    privacy_officer: String::new(),
                });
                let labels: Vec<String> = e.categories.iter().map(label).collect();
                let coach = e
                    .details
                    .get("coach")
                    .map(|id| coaches.get(id).unwrap_or(id));
                HistoryItem {
                    seq: e.seq,
                    erasure: erasures.get(&e.seq.to_string()).copied(),
                    time: e.time,
                    action: e.action,
                    outcome: e.outcome,
                    story: stories::history_story(
                        e,
                        (
                            department.as_ref().map(|d| d.name.as_str()),
                            coach.map(String::as_str),
                        ),
                        &labels,
                        t,
                    ),
                    department,
                    categories: e.categories.clone(),
                    purpose: e.purpose.clone(),
                }
            })
            .collect();
        Ok((reference, items))
    }
}
