//! Rectification notices (GDPR art. 19): when a record changes, every department that read
//! an older version of it, under a grant whose retention has not passed since that read,
//! is told which category changed and its new version (never the value). A department that
//! never read it hears nothing.

use super::{Notice, Signals};
use crate::Result;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::store::RecordChange;
use chrono::TimeDelta;
use kluis_proto::events::EventKind;
use kluis_proto::records::RecordWritten;
use uuid::Uuid;

impl Signals {
    /// The notices (event and entry each) for the versions in `written` of `resident`
    /// (audit reference `reference`), made by `actor`: one per grant and category that a
    /// department read an older version under and may still hold.
    pub async fn rectified(
        &self,
        actor: &Actor,
        resident: Uuid,
        reference: &str,
        written: &[RecordWritten],
    ) -> Result<Vec<(Entry, Option<RecordChange>)>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for grant in self.store.grants_of_resident(resident).await? {
            // A department that wrote the new version itself needs no notice of it.
            if matches!(actor, Actor::Department { id } if *id == grant.department) {
                continue;
            }
            let changed: Vec<&RecordWritten> = written
                .iter()
                .filter(|w| grant.categories.contains(&w.category))
                .collect();
            if changed.is_empty() {
                continue;
            }
            let Some(department) = self.store.department(&grant.department).await? else {
                continue;
            };
            let Some(activity) = department
                .activities
                .iter()
                .find(|a| a.id == grant.activity_id && a.version == grant.activity_version)
            else {
                continue;
            };
            let kept = TimeDelta::days(i64::from(activity.retention_days));
            let reads: Vec<Entry> = self
                .audit
                .about_grant(grant.id)
                .await?
                .into_iter()
                .filter(|e| {
                    e.action == Action::Read && e.outcome == Outcome::Allowed && e.time + kept > now
                })
                .collect();
            for version in changed {
                if reads
                    .iter()
                    .any(|r| r.categories.contains(&version.category))
                {
                    let kind = EventKind::RecordRectified {
                        grant: grant.id,
                        category: version.category.clone(),
                        version: version.version,
                    };
                    out.push(
                        self.notice(actor.clone(), Notice::about_grant(&grant, reference, kind))?,
                    );
                }
            }
        }
        Ok(out)
    }
}
