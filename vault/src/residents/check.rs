//! The operator's check that every stored record still opens (after `kluis migrate`): each
//! vault's data key unwraps, and every version of every category decrypts and is JSON.

use super::Residents;
use crate::Result;

/// What [`Residents::check_every_record_opens`] opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Opened {
    /// Vaults whose data key unwrapped.
    pub vaults: u64,
    /// Record versions that opened.
    pub records: u64,
}

impl Residents {
    /// Opens every version of every record of every vault and throws the contents away.
    /// The first that does not open fails the check with an integrity error (no contents in
    /// it). Nothing is logged per record: the operator's command logs the check itself.
    pub async fn check_every_record_opens(&self) -> Result<Opened> {
        let mut opened = Opened::default();
        let mut after = None;
        loop {
            let page = self.store.residents_after(after, 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for row in &page {
                let key = self.data_key(row.id).await?;
                opened.vaults += 1;
                for (category, _) in self.store.record_summaries(row.id).await? {
                    for meta in self.store.record_versions(row.id, &category).await? {
                        let stored = self
                            .store
                            .record(row.id, &category, Some(meta.version))
                            .await?
                            .ok_or(crate::Error::NotFound("version"))?;
                        self.open(row.id, &category, &key, stored)?;
                        opened.records += 1;
                    }
                }
            }
        }
        Ok(opened)
    }
}
