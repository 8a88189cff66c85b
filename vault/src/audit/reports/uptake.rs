//! The scheme-uptake report: per scheme, how many residents were shown it and how many
//! applied, counted only from the receipts residents' own evaluations wrote
//! (`scheme_check`) and their applications (`scheme_application`). No record is read and
//! no vault is evaluated to make it: the non-take-up figure without profiling anyone.
//! Each count is of distinct residents; a count under [`SMALLEST_SHOWN`] is left out
//! (`null`), so no small group can be singled out.

use super::Tally;
use crate::audit::entry::{Action, Entry};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The smallest count the report shows.
pub const SMALLEST_SHOWN: usize = 10;

/// One scheme's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uptake {
    /// The scheme's id.
    pub scheme: String,
    /// Residents who were shown it (`None`: fewer than ten).
    pub shown: Option<usize>,
    /// Residents who applied for it from the suggestion (`None`: fewer than ten).
    pub applied: Option<usize>,
}

/// Distinct residents per scheme, shown and applied.
#[derive(Default)]
pub struct UptakeTally {
    shown: BTreeMap<String, HashSet<String>>,
    applied: BTreeMap<String, HashSet<String>>,
}

impl UptakeTally {
    /// The figures so far, small counts left out.
    pub fn report(&self) -> Vec<Uptake> {
        let count = |residents: Option<&HashSet<String>>| {
            residents.map(HashSet::len).filter(|n| *n >= SMALLEST_SHOWN)
        };
        let mut schemes: Vec<&String> = self.shown.keys().chain(self.applied.keys()).collect();
        schemes.sort();
        schemes.dedup();
        schemes
            .into_iter()
            .map(|scheme| Uptake {
                scheme: scheme.clone(),
                shown: count(self.shown.get(scheme)),
                applied: count(self.applied.get(scheme)),
            })
            .collect()
    }
}

impl Tally for UptakeTally {
    fn observe(&mut self, entry: &Entry) {
        let Some(resident) = &entry.resident else {
            return;
        };
        match entry.action {
            Action::SchemeCheck => {
                let suggested = entry.details.get("suggested").map_or("", String::as_str);
                for scheme in suggested.split(',').filter(|s| !s.is_empty()) {
                    self.shown
                        .entry(scheme.to_owned())
                        .or_default()
                        .insert(resident.clone());
                }
            }
            Action::SchemeApplication => {
                if let Some(scheme) = entry.details.get("scheme") {
                    self.applied
                        .entry(scheme.clone())
                        .or_default()
                        .insert(resident.clone());
                }
            }
            _ => {}
        }
    }

    fn answer(&self) -> serde_json::Value {
        serde_json::json!({
            "smallest_count_shown": SMALLEST_SHOWN,
            "schemes": self.report(),
        })
    }
}
