//! The resident's view of the audit log: every entry about them, newest first, each told
//! in a plain sentence, with department names and category labels filled in.

use super::Consent;
use crate::Result;
use crate::audit::entry::{Action, Outcome};
use crate::language::Language;
use crate::residents::ResidentId;
use chrono::{DateTime, Utc};
use kluis_proto::consent::DepartmentRef;
use std::collections::HashMap;

/// One entry of the resident's history.
#[derive(Clone, Debug)]
pub struct HistoryItem {
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
    /// The whole entry as one plain sentence.
    pub summary: String,
}

impl Consent {
    /// The resident's audit reference and their entries, newest first, told in `language`.
    pub async fn resident_history(
        &self,
        resident: ResidentId,
        language: Language,
    ) -> Result<(String, Vec<HistoryItem>)> {
        let reference = self.residents.audit_reference(resident);
        let entries = self.residents.audit().about_resident(&reference).await?;
        let names: HashMap<String, String> = self
            .store
            .departments()
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        let catalogue = self.residents.catalogue();
        let label = |id: &str| {
            catalogue
                .get(id)
                .map(|c| language.pick(&c.info.label_nl, &c.info.label_en).clone())
                .unwrap_or_else(|_| id.to_owned())
        };
        let items = entries
            .iter()
            .rev()
            .map(|e| HistoryItem {
                time: e.time,
                action: e.action,
                outcome: e.outcome,
                department: e.department.as_ref().map(|id| DepartmentRef {
                    id: id.clone(),
                    name: names.get(id).unwrap_or(id).clone(),
                }),
                categories: e.categories.clone(),
                purpose: e.purpose.clone(),
                summary: crate::audit::resident::describe(e, language, &names, &label),
            })
            .collect();
        Ok((reference, items))
    }
}
