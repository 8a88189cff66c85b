//! [`RecordStore::resident_with_current`] for adapters whose lookups are local (sled,
//! memory): one lookup per category, where combining them gains nothing.

use super::{RecordStore, ResidentRow, ResidentStore, StoreResult, StoredRecord};
use uuid::Uuid;

/// The resident's row and their current records of `categories`, each once. Like the
/// lookups it makes, not one atomic read.
pub(crate) async fn resident_with_current_by_lookups<S>(
    store: &S,
    resident: Uuid,
    categories: &[String],
) -> StoreResult<Option<(ResidentRow, Vec<(String, StoredRecord)>)>>
where
    S: ResidentStore + RecordStore + ?Sized,
{
    let Some(row) = store.resident(resident).await? else {
        return Ok(None);
    };
    let mut current: Vec<(String, StoredRecord)> = Vec::with_capacity(categories.len());
    for category in categories {
        if current.iter().any(|(c, _)| c == category) {
            continue;
        }
        if let Some(record) = store.record(resident, category, None).await? {
            current.push((category.clone(), record));
        }
    }
    Ok(Some((row, current)))
}
