// Long: the buckets of token ids, their purge, the move from layout 4 and their tests in one place.
//! One-time token ids: remembered in memory, one set per ten seconds of expiry, and kept
//! in sled in one tree per ten seconds (`replay_<end>`, the end in Unix seconds, 20
//! digits), read back into memory when the store opens. Forgetting expired ids drops whole
//! sets and trees: removing them one by one held sled's write lock for seconds each minute
//! under load, and its pages for the removed keys stayed in memory.
//!
//! An id is refused if any set holds it, whatever expiry it came with. The sets hold the
//! first 16 bytes of each id (a SHA-256): two different ids agree in them with a chance of
//! 2⁻¹²⁸, and nobody can make a token whose id matches another's in them.
//!
//! An id a read brings ([`Durability::WithNextWrite`]) is written once, with the next audit
//! batch: the batch's first record in the audit files carries it, and the sled
//! transaction that commits the batch (with the batches of reads before it, see
//! `deferred`) writes their ids under one key per tree (the first position it commits,
//! u64 BE; value: per id its key (32) and expiry (i64 µs BE)). Writing each id under its
//! own key cost every read a sled insert, most of what sled wrote, and a share of its
//! background threads' time. If a crash loses the transaction of a batch of reads, its
//! first record is in the log's tail and its ids are remembered again when the tail is
//! taken up (see `audit_file`); a batch that changes records carries no ids in its records,
//! and a crash that loses its transaction loses calls nobody was answered for.
//! An id that must be durable at once ([`Durability::Now`]) is written under its own key
//! (32 bytes; value: its expiry) and flushed. Layout 4 and earlier kept every id in one
//! tree, `replay`; its ids move into the buckets at open.

use super::audit_file::TokenId;
use super::{SledStore, map_err};
use crate::store::{Durability, ReplayStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

/// Seconds of expiry per tree.
const BUCKET_SECS: i64 = 10;
/// The trees' name before their end.
const PREFIX: &str = "replay_";
/// The one tree of layout 4 and earlier.
const LEGACY_TREE: &str = "replay";
/// Locks taken per id while it is looked for and remembered (by its first byte).
const STRIPES: usize = 64;
/// The key and expiry of an id in a batch's value.
const ID_BYTES: usize = 40;
/// The length of the key of an id written on its own.
const ONE_ID_KEY: usize = 32;

/// The buckets of ids, by the end of their ten seconds.
pub(super) struct ReplayBuckets {
    trees: RwLock<BTreeMap<i64, Bucket>>,
    /// While a purge drops buckets: they end at or before this, and are not opened again
    /// meanwhile (sled would hand back the tree it is dropping). `i64::MIN` otherwise.
    dropping_through: AtomicI64,
    /// So that two calls with one id (even with different expiries) cannot both find it
    /// absent and both record it.
    stripes: [Mutex<()>; STRIPES],
    /// Ids remembered since the last audit batch, to be written with the next one.
    pending: Mutex<Vec<TokenId>>,
}

/// One bucket: its tree, and the ids it holds (written or waiting for a batch).
struct Bucket {
    tree: sled::Tree,
    ids: Mutex<HashSet<u128>>,
}

impl Bucket {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<u128>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the sets hold of an id: its first 16 bytes.
fn short(key: &[u8; 32]) -> u128 {
    let mut first = [0u8; 16];
    first.copy_from_slice(&key[..16]);
    u128::from_be_bytes(first)
}

/// The end of the bucket an id expiring at `at` goes in: the first multiple of ten
/// seconds after it, so every id in a bucket has expired once its end has passed.
fn bucket_end(at: DateTime<Utc>) -> i64 {
    (at.timestamp().div_euclid(BUCKET_SECS) + 1) * BUCKET_SECS
}

fn tree_name(end: i64) -> String {
    format!("{PREFIX}{end:020}")
}

/// The end of bucket tree `name`, or `None` if `name` is another tree.
pub(super) fn bucket_of(name: &[u8]) -> Option<i64> {
    let digits = name.strip_prefix(PREFIX.as_bytes())?;
    if digits.len() != 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn expiry_of(value: &[u8]) -> StoreResult<DateTime<Utc>> {
    value
        .try_into()
        .ok()
        .map(i64::from_be_bytes)
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| StoreError::Corrupt("a token id's expiry is unreadable".into()))
}

/// The ids and expiries (as stored) of one pair of a bucket's tree: an id written on its
/// own, or a batch's.
pub(super) fn ids_of_pair<'a>(
    key: &'a [u8],
    value: &'a [u8],
) -> StoreResult<Vec<(&'a [u8], &'a [u8])>> {
    if key.len() == ONE_ID_KEY {
        return Ok(vec![(key, value)]);
    }
    if key.len() != 8 || !value.len().is_multiple_of(ID_BYTES) {
        return Err(StoreError::Corrupt(
            "a tree of token ids holds a pair of unknown form".into(),
        ));
    }
    Ok(value
        .chunks_exact(ID_BYTES)
        .map(|id| id.split_at(ONE_ID_KEY))
        .collect())
}

/// A batch's ids as one pair of a bucket's tree, under the batch's first position.
fn batch_pair(first: u64, ids: &[&TokenId]) -> ([u8; 8], Vec<u8>) {
    let mut value = Vec::with_capacity(ids.len() * ID_BYTES);
    for (key, expiry) in ids {
        value.extend_from_slice(key);
        value.extend_from_slice(&expiry.to_be_bytes());
    }
    (first.to_be_bytes(), value)
}

impl ReplayBuckets {
    /// The ids remembered since the last call, for the audit batch that writes them.
    pub(super) fn take_pending(&self) -> Vec<TokenId> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Gives back ids taken for a batch that was not stored.
    pub(super) fn restore_pending(&self, mut ids: Vec<TokenId>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        ids.append(&mut pending);
        *pending = ids;
    }

    /// The buckets of `db` with the ids their trees hold, after moving the ids of the one
    /// tree of layout 4 and earlier into them (flushed before that tree is dropped, so a
    /// crash between the two only moves them again).
    pub(super) fn open(db: &sled::Db) -> StoreResult<ReplayBuckets> {
        let open = |name: &str| db.open_tree(name).map_err(|e| map_err(e, "opening a tree"));
        let mut trees = BTreeMap::new();
        for name in db.tree_names() {
            if let Some(end) = bucket_of(&name) {
                let tree = open(&tree_name(end))?;
                let mut ids = HashSet::new();
                let damaged = |e| match e {
                    StoreError::Corrupt(m) => {
                        StoreError::Corrupt(format!("{m} ({})", tree_name(end)))
                    }
                    other => other,
                };
                for item in tree.iter() {
                    let (key, value) = item.map_err(|e| map_err(e, "reading token ids"))?;
                    for (key, _) in ids_of_pair(&key, &value).map_err(damaged)? {
                        let key: &[u8; 32] = key.try_into().map_err(|_| {
                            StoreError::Corrupt("a token id of unknown length".into())
                        })?;
                        ids.insert(short(key));
                    }
                }
                let ids = Mutex::new(ids);
                trees.insert(end, Bucket { tree, ids });
            }
        }
        let buckets = ReplayBuckets {
            trees: RwLock::new(trees),
            dropping_through: AtomicI64::new(i64::MIN),
            stripes: std::array::from_fn(|_| Mutex::default()),
            pending: Mutex::default(),
        };
        if db.tree_names().iter().any(|n| n == LEGACY_TREE.as_bytes()) {
            let legacy = open(LEGACY_TREE)?;
            for item in legacy.iter() {
                let (key, value) = item.map_err(|e| map_err(e, "reading token ids"))?;
                // An unreadable expiry was purged by layout 4 too: its id is not kept.
                let (Ok(expiry), Ok(id)) = (expiry_of(&value), <[u8; 32]>::try_from(&key[..]))
                else {
                    tracing::warn!("a token id with an unreadable expiry was not kept");
                    continue;
                };
                buckets.remember(db, &id, expiry, Write::OnItsOwn)?;
            }
            db.flush().map_err(|e| map_err(e, "flushing token ids"))?;
            db.drop_tree(LEGACY_TREE)
                .map_err(|e| map_err(e, "dropping the old tree of token ids"))?;
        }
        Ok(buckets)
    }

    /// Remembers `key` unless a bucket holds it already, or its bucket is being dropped as
    /// expired; true if it was remembered. Written into the bucket's tree at once
    /// ([`Write::OnItsOwn`]) or by a later batch.
    fn remember(
        &self,
        db: &sled::Db,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
        write: Write,
    ) -> StoreResult<bool> {
        let _one_id = self.stripes[usize::from(key[0]) % STRIPES]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = self.bucket(db, bucket_end(expires_at))? else {
            return Ok(false);
        };
        let id = short(key);
        if bucket.trees.values().any(|other| other.ids().contains(&id)) {
            return Ok(false);
        }
        if write == Write::OnItsOwn {
            bucket
                .tree
                .insert(key, &expires_at.timestamp_micros().to_be_bytes()[..])
                .map_err(|e| map_err(e, "recording a token id"))?;
        }
        bucket.ids().insert(id);
        Ok(true)
    }

    /// The bucket ending at `end`, opened (and created) if need be; `None` if it was
    /// dropped as expired.
    fn bucket(&self, db: &sled::Db, end: i64) -> StoreResult<Option<BucketRef<'_>>> {
        {
            let trees = self.trees.read().unwrap_or_else(|p| p.into_inner());
            if trees.contains_key(&end) {
                return Ok(Some(BucketRef { trees, end }));
            }
        }
        {
            let mut trees = self.trees.write().unwrap_or_else(|p| p.into_inner());
            // Checked under the lock the purge sets it under: a tree sled is dropping must
            // not come back. (An id that would go there expired before the purge began.)
            if end <= self.dropping_through.load(Ordering::Acquire) {
                return Ok(None);
            }
            if let std::collections::btree_map::Entry::Vacant(absent) = trees.entry(end) {
                let tree = db
                    .open_tree(tree_name(end))
                    .map_err(|e| map_err(e, "opening a tree of token ids"))?;
                let ids = Mutex::default();
                absent.insert(Bucket { tree, ids });
            }
        }
        let trees = self.trees.read().unwrap_or_else(|p| p.into_inner());
        // Absent only if a purge dropped it between the two locks.
        Ok(trees.contains_key(&end).then_some(BucketRef { trees, end }))
    }

    /// The pairs that write `ids` (of a batch starting at position `first`) into their
    /// buckets' trees, with the buckets held so that no purge drops those trees before the
    /// pairs are in. Ids whose bucket was dropped meanwhile are left out: they expired.
    pub(super) fn batch_pairs(&self, first: u64, ids: &[TokenId]) -> BatchPairs<'_> {
        let trees = self.trees.read().unwrap_or_else(|p| p.into_inner());
        let mut by_bucket: BTreeMap<i64, Vec<&TokenId>> = BTreeMap::new();
        // An id once per batch: one remembered again after a purge forgot it can wait twice.
        let mut seen = HashSet::with_capacity(ids.len());
        for id in ids {
            if let Some(at) = DateTime::from_timestamp_micros(id.1)
                && seen.insert(short(&id.0))
            {
                by_bucket.entry(bucket_end(at)).or_default().push(id);
            }
        }
        let pairs = by_bucket
            .into_iter()
            .filter_map(|(end, ids)| {
                let bucket = trees.get(&end)?;
                let (key, value) = batch_pair(first, &ids);
                Some((bucket.tree.clone(), key, value))
            })
            .collect();
        BatchPairs {
            _held: trees,
            pairs,
        }
    }

    /// Every bucket's tree, for copies.
    fn trees(&self) -> Vec<sled::Tree> {
        let trees = self.trees.read().unwrap_or_else(|p| p.into_inner());
        trees.values().map(|b| b.tree.clone()).collect()
    }
}

/// Whether an id is written into its bucket's tree when it is remembered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    /// At once, under its own key.
    OnItsOwn,
    /// With the next audit batch.
    WithBatch,
}

/// The pairs of a batch's ids, per bucket tree, and the buckets held meanwhile.
pub(super) struct BatchPairs<'a> {
    _held: RwLockReadGuard<'a, BTreeMap<i64, Bucket>>,
    /// Tree, key, value.
    pub(super) pairs: Vec<(sled::Tree, [u8; 8], Vec<u8>)>,
}

/// A bucket, with the map it is in held for reading.
struct BucketRef<'a> {
    trees: RwLockReadGuard<'a, BTreeMap<i64, Bucket>>,
    end: i64,
}

impl std::ops::Deref for BucketRef<'_> {
    type Target = Bucket;
    fn deref(&self) -> &Bucket {
        &self.trees[&self.end]
    }
}

impl SledStore {
    /// Every recorded id and its expiry, bucket after bucket (for `kluis migrate`, which
    /// copies them into one table).
    pub(in crate::store) fn replay_pairs(&self) -> super::audit::Pairs {
        Box::new(self.replay.trees().into_iter().flat_map(|tree| {
            tree.iter().flat_map(|item| {
                let pairs = item
                    .map_err(|e| map_err(e, "reading token ids"))
                    .and_then(|(k, v)| {
                        Ok(ids_of_pair(&k, &v)?
                            .into_iter()
                            .map(|(k, v)| Ok((k.to_vec(), v.to_vec())))
                            .collect::<Vec<_>>())
                    });
                match pairs {
                    Ok(pairs) => pairs,
                    Err(e) => vec![Err(e)],
                }
            })
        }))
    }

    /// Remembers again the token ids of records a crash left in the log's tail; returns
    /// those not remembered yet, for the take-up to write.
    pub(super) fn remember_again<'a>(
        &self,
        ids: impl Iterator<Item = &'a TokenId>,
    ) -> StoreResult<Vec<TokenId>> {
        let mut again = Vec::new();
        for id @ (key, expiry) in ids {
            if let Some(expires_at) = DateTime::from_timestamp_micros(*expiry)
                && self.record_once(key, expires_at)?
            {
                again.push(*id);
            }
        }
        Ok(again)
    }

    /// Remembers `key` (written with the next audit batch) unless a bucket holds it
    /// already, or its bucket is being dropped as expired; true if it was remembered.
    pub(super) fn record_once(
        &self,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.replay
            .remember(&self.db, key, expires_at, Write::WithBatch)
    }
}

#[async_trait]
impl ReplayStore for SledStore {
    async fn first_use(
        &self,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
        durability: Durability,
    ) -> StoreResult<bool> {
        let _gate = self.write_gate().await;
        match durability {
            Durability::Now => {
                let first = self
                    .replay
                    .remember(&self.db, key, expires_at, Write::OnItsOwn)?;
                if first {
                    self.durable().await?;
                }
                Ok(first)
            }
            Durability::WithNextWrite => {
                let first = self.record_once(key, expires_at)?;
                if first {
                    self.replay
                        .pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((*key, expires_at.timestamp_micros()));
                }
                Ok(first)
            }
        }
    }

    async fn replay_count(&self) -> StoreResult<usize> {
        let trees = self.replay.trees.read().unwrap_or_else(|p| p.into_inner());
        Ok(trees.values().map(|b| b.ids().len()).sum())
    }

    /// Drops the buckets whose end has passed: every id in them expired before `now`.
    /// Ids that expired in the ten seconds before `now` may stay until the next purge.
    async fn purge_replays(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let _gate = self.write_gate().await;
        let expired: Vec<(i64, Bucket)> = {
            let mut trees = self.replay.trees.write().unwrap_or_else(|p| p.into_inner());
            self.replay
                .dropping_through
                .store(now.timestamp(), Ordering::Release);
            let kept = trees.split_off(&(now.timestamp() + 1));
            // Ids waiting for a batch whose bucket goes are not written: they expired.
            self.replay
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(_, expiry)| {
                    DateTime::from_timestamp_micros(*expiry)
                        .is_some_and(|at| bucket_end(at) > now.timestamp())
                });
            std::mem::replace(&mut *trees, kept).into_iter().collect()
        };
        let (mut purged, mut failed) = (0, None);
        let mut expired = expired.into_iter();
        while let Some((end, bucket)) = expired.next() {
            if let Err(e) = self.db.drop_tree(tree_name(end)) {
                // Kept (and counted) for the next purge to drop.
                let mut trees = self.replay.trees.write().unwrap_or_else(|p| p.into_inner());
                trees.insert(end, bucket);
                trees.extend(expired.by_ref());
                failed = Some(map_err(e, "dropping expired token ids"));
                break;
            }
            purged += bucket.ids().len();
        }
        {
            let _trees = self.replay.trees.write().unwrap_or_else(|p| p.into_inner());
            self.replay
                .dropping_through
                .store(i64::MIN, Ordering::Release);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(purged),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("a time")
    }

    /// An id waits for an audit batch with a record to carry it: an empty one (a readiness
    /// probe) leaves it waiting.
    #[tokio::test]
    async fn a_token_id_waits_for_a_batch_with_a_record_to_carry_it() {
        use crate::store::AuditStore;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SledStore::open(dir.path(), 8 << 20).expect("the store opens");
        let later = Durability::WithNextWrite;
        assert!(
            store
                .first_use(&[1; 32], at(100), later)
                .await
                .expect("recorded")
        );
        store.append_audit(&[]).await.expect("an empty batch");
        assert_eq!(
            store.replay.take_pending(),
            [([1; 32], at(100).timestamp_micros())]
        );
    }

    fn bucket_names(store: &SledStore) -> Vec<i64> {
        let mut ends: Vec<i64> = store
            .db
            .tree_names()
            .iter()
            .filter_map(|n| bucket_of(n))
            .collect();
        ends.sort();
        ends
    }

    #[test]
    fn an_id_goes_in_the_bucket_that_ends_after_it_expires() {
        assert_eq!(bucket_end(at(0)), 1_800_000_010);
        assert_eq!(
            bucket_end(at(9) + TimeDelta::milliseconds(999)),
            1_800_000_010
        );
        assert_eq!(bucket_end(at(10)), 1_800_000_020);
        assert_eq!(
            bucket_of(tree_name(1_800_000_010).as_bytes()),
            Some(1_800_000_010)
        );
        for other in [
            "replay",
            "replay_1",
            "replay_0000000000000000000x",
            "records",
        ] {
            assert_eq!(bucket_of(other.as_bytes()), None, "{other}");
        }
    }

    #[tokio::test]
    async fn an_id_is_refused_whatever_expiry_it_comes_with_and_expired_buckets_are_dropped_whole()
    {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SledStore::open(&dir.path().join("db"), 8 << 20).expect("the store opens");
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let later = Durability::WithNextWrite;
        assert!(store.first_use(&a, at(5), later).await.expect("first"));
        assert!(
            !store.first_use(&a, at(65), later).await.expect("again"),
            "the same id with a later expiry is a replay"
        );
        assert!(store.first_use(&b, at(65), later).await.expect("first"));
        assert_eq!(bucket_names(&store), [1_800_000_010, 1_800_000_070]);
        assert_eq!(store.replay_count().await.expect("count"), 2);

        assert_eq!(
            store.purge_replays(at(9)).await.expect("purge"),
            0,
            "not ended"
        );
        assert_eq!(store.purge_replays(at(10)).await.expect("purge"), 1);
        assert_eq!(bucket_names(&store), [1_800_000_070], "the tree is gone");
        assert!(store.first_use(&a, at(70), later).await.expect("forgotten"));
        assert!(!store.first_use(&b, at(70), later).await.expect("kept"));
        assert_eq!(store.replay_count().await.expect("count"), 2);
        assert!(
            store.first_use(&[3; 32], at(5), later).await.expect("late"),
            "once the drop is done, a late id (refused by its caller) goes in a new tree"
        );
        assert_eq!(
            bucket_names(&store),
            [1_800_000_010, 1_800_000_070, 1_800_000_080]
        );
    }

    #[tokio::test]
    async fn ids_and_their_count_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("db");
        {
            let store = SledStore::open(&path, 8 << 20).expect("the store opens");
            for n in 0..30u8 {
                let id = [n; 32];
                assert!(
                    store
                        .first_use(&id, at(i64::from(n)), Durability::Now)
                        .await
                        .expect("first")
                );
            }
        }
        let store = super::super::tests::reopen(&path).await;
        assert_eq!(store.replay_count().await.expect("count"), 30);
        assert!(
            !store
                .first_use(&[7; 32], at(7), Durability::Now)
                .await
                .expect("again")
        );
        assert_eq!(store.purge_replays(at(20)).await.expect("purge"), 20);
    }

    /// A read's id is written once, with the next audit batch, under the batch's first
    /// position: read back at open, counted per id, and copied per id for `kluis migrate`.
    #[tokio::test]
    async fn the_ids_of_reads_are_written_with_the_next_batch_under_one_key_each_bucket() {
        use crate::store::AuditStore;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("db");
        let later = Durability::WithNextWrite;
        {
            let store = SledStore::open(&path, 8 << 20).expect("the store opens");
            // Expiring at 0, 4 and 8 s: the bucket ending at 10; at 12 and 16: at 20.
            for n in 0..5u8 {
                let expiry = at(i64::from(n) * 4);
                assert!(
                    store
                        .first_use(&[n; 32], expiry, later)
                        .await
                        .expect("first")
                );
            }
            let tree = store.raw_tree(&tree_name(1_800_000_010)).expect("the tree");
            assert!(tree.is_empty(), "nothing is written before a batch");
            let batch: Vec<_> = (0..2)
                .map(|seq| crate::store::contract::append(seq, None))
                .collect();
            store.append_audit(&batch).await.expect("a batch");
            AuditStore::sync(&store).await.expect("flushed");
            let pairs: Vec<_> = tree.iter().map(|p| p.expect("a pair")).collect();
            assert_eq!(pairs.len(), 1, "one key for the batch in this bucket");
            assert_eq!(
                pairs[0].0.as_ref(),
                0u64.to_be_bytes(),
                "its first position"
            );
            assert_eq!(pairs[0].1.len(), 3 * ID_BYTES);
            let copied: Vec<_> = store
                .replay_pairs()
                .map(|pair| pair.expect("a pair"))
                .collect();
            assert_eq!(copied.len(), 5, "copied per id");
            assert!(copied.contains(&(
                vec![4; 32],
                at(16).timestamp_micros().to_be_bytes().to_vec()
            )));
            assert_eq!(store.row_counts().expect("counts")["replay"], 5);
        }
        let store = super::super::tests::reopen(&path).await;
        assert_eq!(store.replay_count().await.expect("count"), 5);
        for n in 0..5u8 {
            assert!(
                !store
                    .first_use(&[n; 32], at(100), later)
                    .await
                    .expect("again"),
                "id {n} is refused after a reopen"
            );
        }
        assert_eq!(store.purge_replays(at(10)).await.expect("purge"), 3);
    }

    /// An id waiting for a batch when a purge drops its bucket is not written; brought
    /// again, it is written once.
    #[tokio::test]
    async fn an_id_forgotten_by_a_purge_while_it_waits_is_written_once() {
        use crate::store::AuditStore;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SledStore::open(&dir.path().join("db"), 8 << 20).expect("the store opens");
        let later = Durability::WithNextWrite;
        assert!(
            store
                .first_use(&[1; 32], at(5), later)
                .await
                .expect("first")
        );
        assert_eq!(store.purge_replays(at(10)).await.expect("purge"), 1);
        assert!(
            store
                .first_use(&[1; 32], at(5), later)
                .await
                .expect("forgotten")
        );
        let batch = [crate::store::contract::append(0, None)];
        store.append_audit(&batch).await.expect("a batch");
        AuditStore::sync(&store).await.expect("committed");
        assert_eq!(store.row_counts().expect("counts")["replay"], 1);
        assert_eq!(store.replay_pairs().count(), 1);
    }

    #[tokio::test]
    async fn a_pair_of_token_ids_of_unknown_form_is_refused_at_open() {
        for (key, value) in [
            (&[0u8; 8][..], &[1u8; 41][..]),
            (&[0u8; 9][..], &[1u8; 40][..]),
        ] {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let path = dir.path().join("db");
            {
                let store = SledStore::open(&path, 8 << 20).expect("the store opens");
                let tree = store.raw_tree(&tree_name(1_800_000_010)).expect("the tree");
                tree.insert(key, value).expect("a damaged pair");
                store.db.flush().expect("flushed");
            }
            // sled lets go of the database's lock in the background: wait for it.
            let mut tries = 0;
            let err = loop {
                let err = SledStore::open(&path, 8 << 20)
                    .expect_err("refused")
                    .to_string();
                if err.contains("token ids") || tries == 100 {
                    break err;
                }
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            assert!(
                err.contains("a tree of token ids holds a pair of unknown form"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn the_one_tree_of_layout_4_moves_into_buckets_at_open() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("db");
        {
            let store = SledStore::open(&path, 8 << 20).expect("the store opens");
            let legacy = store.raw_tree(LEGACY_TREE).expect("the old tree");
            for n in 0..3u8 {
                let expiry = at(i64::from(n) * 10).timestamp_micros().to_be_bytes();
                legacy.insert([n; 32], &expiry[..]).expect("an old id");
            }
            legacy
                .insert([9; 32], &b"junk"[..])
                .expect("an unreadable expiry");
            store.db.flush().expect("flushed");
        }
        let store = super::super::tests::reopen(&path).await;
        assert_eq!(
            store.replay_count().await.expect("count"),
            3,
            "the unreadable one is not kept"
        );
        assert!(
            !store
                .db
                .tree_names()
                .iter()
                .any(|n| n == LEGACY_TREE.as_bytes()),
            "the old tree is dropped"
        );
        assert_eq!(
            bucket_names(&store),
            [1_800_000_010, 1_800_000_020, 1_800_000_030]
        );
        for n in 0..3u8 {
            assert!(
                !store
                    .first_use(&[n; 32], at(100), Durability::Now)
                    .await
                    .expect("old id"),
                "an id of the old tree is still refused"
            );
        }
    }
}
