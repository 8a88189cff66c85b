// Long: one adapter implements every port, each in a short block of its own; split, the blocks would only point at each other.
//! The in-memory adapter: every port over maps behind one lock, for unit tests of the
//! services' rules. Nothing survives the process, so it is never the only proof that a
//! path works: the same contract suite runs against sled (and every later adapter).

use super::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use uuid::Uuid;

/// A store that lives in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    residents: BTreeMap<Uuid, ResidentRow>,
    identities: HashMap<String, Uuid>,
    national_ids: HashMap<String, Uuid>,
    rotation_due: Option<DateTime<Utc>>,
    kek_version: u32,
    /// (resident, category) → version → record.
    records: BTreeMap<(Uuid, String), BTreeMap<u32, StoredRecord>>,
    record_counters: HashMap<(Uuid, String), u32>,
    sessions: HashMap<[u8; 32], SessionRow>,
    pending_logins: HashMap<[u8; 32], PendingLoginRow>,
    departments: BTreeMap<String, DepartmentRow>,
    requests: HashMap<Uuid, RequestRow>,
    grants: HashMap<Uuid, GrantRow>,
    pairwise: HashMap<(String, String), Uuid>,
    replay: HashMap<[u8; 32], DateTime<Utc>>,
    audit_entries: Vec<Vec<u8>>,
    audit_nodes: HashMap<(u8, u64), [u8; 32]>,
    audit_index: BTreeMap<Vec<u8>, Vec<u64>>,
    officers: HashMap<[u8; 32], OfficerRow>,
    case_statuses: Vec<CaseStatusRow>,
    coaches: BTreeMap<String, CoachRow>,
    coach_codes: HashMap<[u8; 32], CoachCodeRow>,
    look_alongs: BTreeMap<Uuid, LookAlongRow>,
    proposals: BTreeMap<Uuid, ProposalRow>,
    witnesses: BTreeMap<Uuid, WitnessRow>,
    /// Every event, in the order queued.
    events: Vec<EventRow>,
    /// (checkpoint size, witness) → cosignature line.
    cosignatures: BTreeMap<(u64, String), String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn store_grant(&mut self, grant: &GrantRow) {
        self.pairwise.insert(
            (grant.department.clone(), grant.reference.clone()),
            grant.resident,
        );
        self.grants.insert(grant.id, grant.clone());
    }

    fn grants_where(&self, keep: impl Fn(&GrantRow) -> bool) -> Vec<GrantRow> {
        let mut out: Vec<GrantRow> = self.grants.values().filter(|g| keep(g)).cloned().collect();
        out.sort_by_key(|g| g.issued_at);
        out
    }
}

#[async_trait]
impl ResidentStore for MemoryStore {
    async fn resident_by_identity(&self, identity: &str) -> StoreResult<Option<ResidentRow>> {
        let state = self.state();
        Ok(state
            .identities
            .get(identity)
            .and_then(|id| state.residents.get(id))
            .cloned())
    }

    async fn resident(&self, id: Uuid) -> StoreResult<Option<ResidentRow>> {
        Ok(self.state().residents.get(&id).cloned())
    }

    async fn insert_resident(
        &self,
        row: &ResidentRow,
        kek_version: u32,
    ) -> StoreResult<ResidentRow> {
        let mut state = self.state();
        if state.kek_version > kek_version {
            return Err(StoreError::KekReplaced(state.kek_version));
        }
        if let Some(existing) = state.identities.get(&row.identity) {
            let existing = state.residents.get(existing).cloned();
            return existing.ok_or_else(|| StoreError::Corrupt("identity without resident".into()));
        }
        state.identities.insert(row.identity.clone(), row.id);
        state.residents.insert(row.id, row.clone());
        Ok(row.clone())
    }

    async fn residents_after(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<ResidentRow>> {
        let state = self.state();
        let rows = state.residents.values();
        Ok(rows
            .filter(|r| after.is_none_or(|a| r.id > a))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn replace_wrapped_key(
        &self,
        id: Uuid,
        expected: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        match self.state().residents.get_mut(&id) {
            Some(row) if row.wrapped_key == expected => {
                row.wrapped_key = new.to_vec();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_national_id(&self, id: Uuid, hash: &str) -> StoreResult<()> {
        let mut state = self.state();
        let row = state
            .residents
            .get_mut(&id)
            .ok_or_else(|| StoreError::Corrupt("national id for an unknown resident".into()))?;
        let old = row.national_id.replace(hash.to_owned());
        if let Some(old) = old {
            state.national_ids.remove(&old);
        }
        state.national_ids.insert(hash.to_owned(), id);
        Ok(())
    }

    async fn resident_by_national_id(&self, hash: &str) -> StoreResult<Option<ResidentRow>> {
        let state = self.state();
        Ok(state
            .national_ids
            .get(hash)
            .and_then(|id| state.residents.get(id))
            .cloned())
    }

    async fn erase_resident(&self, id: Uuid) -> StoreResult<()> {
        let mut state = self.state();
        let Some(row) = state.residents.remove(&id) else {
            return Ok(());
        };
        state.identities.remove(&row.identity);
        if let Some(hash) = &row.national_id {
            state.national_ids.remove(hash);
        }
        state.records.retain(|(resident, _), _| *resident != id);
        state
            .record_counters
            .retain(|(resident, _), _| *resident != id);
        state.pairwise.retain(|_, resident| *resident != id);
        state
            .sessions
            .retain(|_, s| s.subject != SessionSubject::Resident { id });
        state.case_statuses.retain(|c| c.resident != id);
        state.look_alongs.retain(|_, l| l.resident != id);
        state.proposals.retain(|_, p| p.resident != id);
        state.witnesses.retain(|_, w| w.resident != id);
        Ok(())
    }

    async fn announce_kek(&self, version: u32) -> StoreResult<()> {
        let mut state = self.state();
        state.kek_version = state.kek_version.max(version);
        Ok(())
    }

    async fn rotation_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(self.state().rotation_due)
    }

    async fn set_rotation_due(&self, at: Option<DateTime<Utc>>) -> StoreResult<()> {
        self.state().rotation_due = at;
        Ok(())
    }

    async fn replace_rotation_due(
        &self,
        expected: Option<DateTime<Utc>>,
        new: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        if state.rotation_due != expected {
            return Ok(false);
        }
        state.rotation_due = new;
        Ok(true)
    }
}

#[async_trait]
impl RecordStore for MemoryStore {
    async fn reserve_record_version(&self, resident: Uuid, category: &str) -> StoreResult<u32> {
        let mut state = self.state();
        let counter = state
            .record_counters
            .entry((resident, category.to_owned()))
            .or_default();
        *counter = counter
            .checked_add(1)
            .ok_or_else(|| StoreError::Unavailable("record version counter exhausted".into()))?;
        Ok(*counter)
    }

    async fn record(
        &self,
        resident: Uuid,
        category: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<StoredRecord>> {
        let state = self.state();
        let Some(versions) = state.records.get(&(resident, category.to_owned())) else {
            return Ok(None);
        };
        Ok(match version {
            Some(v) => versions.get(&v).cloned(),
            None => versions.values().next_back().cloned(),
        })
    }

    async fn record_versions(
        &self,
        resident: Uuid,
        category: &str,
    ) -> StoreResult<Vec<RecordMeta>> {
        let state = self.state();
        Ok(state
            .records
            .get(&(resident, category.to_owned()))
            .map(|versions| {
                versions
                    .values()
                    .map(|r| RecordMeta {
                        version: r.version,
                        created_at: r.created_at,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn record_summaries(&self, resident: Uuid) -> StoreResult<Vec<(String, RecordMeta)>> {
        let state = self.state();
        Ok(state
            .records
            .iter()
            .filter(|((r, _), _)| *r == resident)
            .filter_map(|((_, category), versions)| {
                let last = versions.values().next_back()?;
                Some((
                    category.clone(),
                    RecordMeta {
                        version: last.version,
                        created_at: last.created_at,
                    },
                ))
            })
            .collect())
    }

    async fn resident_with_current(
        &self,
        resident: Uuid,
        categories: &[String],
    ) -> StoreResult<Option<(ResidentRow, Vec<(String, StoredRecord)>)>> {
        crate::store::local_lookups::resident_with_current_by_lookups(self, resident, categories)
            .await
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn put_session(&self, token_hash: &[u8; 32], row: &SessionRow) -> StoreResult<()> {
        self.state().sessions.insert(*token_hash, row.clone());
        Ok(())
    }

    async fn session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRow>> {
        Ok(self.state().sessions.get(token_hash).cloned())
    }

    async fn touch_session(&self, token_hash: &[u8; 32], at: DateTime<Utc>) -> StoreResult<()> {
        if let Some(row) = self.state().sessions.get_mut(token_hash) {
            row.last_seen = row.last_seen.max(at);
        }
        Ok(())
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> StoreResult<()> {
        self.state().sessions.remove(token_hash);
        Ok(())
    }

    async fn sessions_of(&self, subject: &str) -> StoreResult<Vec<([u8; 32], DateTime<Utc>)>> {
        let mut found: Vec<_> = self
            .state()
            .sessions
            .iter()
            .filter(|(_, row)| row.subject.key() == subject)
            .map(|(hash, row)| (*hash, row.created_at))
            .collect();
        found.sort_by_key(|(hash, created)| (*created, *hash));
        Ok(found)
    }

    async fn purge_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let mut state = self.state();
        let before = state.sessions.len();
        state
            .sessions
            .retain(|_, row| row.last_seen >= idle_before && row.created_at >= created_before);
        Ok(before - state.sessions.len())
    }

    async fn delete_login(&self, login_id: &str) -> StoreResult<usize> {
        let mut state = self.state();
        let before = state.sessions.len();
        if !login_id.is_empty() {
            state.sessions.retain(|_, s| s.login_id != login_id);
        }
        Ok(before - state.sessions.len())
    }

    async fn put_pending_login(
        &self,
        state_hash: &[u8; 32],
        row: &PendingLoginRow,
    ) -> StoreResult<()> {
        self.state().pending_logins.insert(*state_hash, row.clone());
        Ok(())
    }

    async fn take_pending_login(
        &self,
        state_hash: &[u8; 32],
    ) -> StoreResult<Option<PendingLoginRow>> {
        Ok(self.state().pending_logins.remove(state_hash))
    }

    async fn purge_pending_logins(&self, started_before: DateTime<Utc>) -> StoreResult<usize> {
        let mut state = self.state();
        let before = state.pending_logins.len();
        state
            .pending_logins
            .retain(|_, row| row.created_at >= started_before);
        Ok(before - state.pending_logins.len())
    }

    async fn pending_login_count(&self) -> StoreResult<usize> {
        Ok(self.state().pending_logins.len())
    }

    async fn session_count(&self) -> StoreResult<usize> {
        Ok(self.state().sessions.len())
    }
}

#[async_trait]
impl DepartmentStore for MemoryStore {
    async fn put_department(&self, row: &DepartmentRow) -> StoreResult<()> {
        self.state().departments.insert(row.id.clone(), row.clone());
        Ok(())
    }

    async fn department(&self, id: &str) -> StoreResult<Option<DepartmentRow>> {
        Ok(self.state().departments.get(id).cloned())
    }

    async fn departments(&self) -> StoreResult<Vec<DepartmentRow>> {
        Ok(self.state().departments.values().cloned().collect())
    }
}

#[async_trait]
impl ConsentStore for MemoryStore {
    async fn insert_request(&self, row: &RequestRow) -> StoreResult<()> {
        self.state().requests.insert(row.id, row.clone());
        Ok(())
    }

    async fn request(&self, id: Uuid) -> StoreResult<Option<RequestRow>> {
        Ok(self.state().requests.get(&id).cloned())
    }

    async fn requests_about(&self, subjects: &[RequestSubject]) -> StoreResult<Vec<RequestRow>> {
        let subjects: HashSet<&RequestSubject> = subjects.iter().collect();
        let state = self.state();
        let mut out: Vec<RequestRow> = state
            .requests
            .values()
            .filter(|r| subjects.contains(&r.subject))
            .cloned()
            .collect();
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    async fn decide_request(
        &self,
        decided: &RequestRow,
        grant: Option<&GrantRow>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        match state.requests.get(&decided.id) {
            Some(current) if current.state == RequestState::Pending => {}
            _ => return Ok(false),
        }
        state.requests.insert(decided.id, decided.clone());
        if let Some(grant) = grant {
            state.store_grant(grant);
        }
        Ok(true)
    }

    async fn insert_grant(&self, row: &GrantRow) -> StoreResult<()> {
        self.state().store_grant(row);
        Ok(())
    }

    async fn grant(&self, id: Uuid) -> StoreResult<Option<GrantRow>> {
        Ok(self.state().grants.get(&id).cloned())
    }

    async fn grant_with_department(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<(GrantRow, Option<DepartmentRow>)>> {
        let state = self.state();
        Ok(state.grants.get(&id).map(|grant| {
            let department = state.departments.get(&grant.department).cloned();
            (grant.clone(), department)
        }))
    }

    async fn grants_of_resident(&self, resident: Uuid) -> StoreResult<Vec<GrantRow>> {
        Ok(self.state().grants_where(|g| g.resident == resident))
    }

    async fn grants_of_department(&self, department: &str) -> StoreResult<Vec<GrantRow>> {
        Ok(self.state().grants_where(|g| g.department == department))
    }

    async fn revoke_grant(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(GrantRow, bool)>> {
        let mut state = self.state();
        Ok(state.grants.get_mut(&id).map(|grant| {
            let changed = grant.revoke(at);
            (grant.clone(), changed)
        }))
    }

    async fn set_grant_pause(
        &self,
        id: Uuid,
        from: Option<GrantPause>,
        to: Option<GrantPause>,
    ) -> StoreResult<Option<(GrantRow, bool)>> {
        let mut state = self.state();
        Ok(state.grants.get_mut(&id).map(|grant| {
            let change = grant.change_pause(from, to);
            (grant.clone(), change)
        }))
    }

    async fn resident_by_reference(
        &self,
        department: &str,
        reference: &str,
    ) -> StoreResult<Option<Uuid>> {
        Ok(self
            .state()
            .pairwise
            .get(&(department.to_owned(), reference.to_owned()))
            .copied())
    }
}

#[async_trait]
impl ReplayStore for MemoryStore {
    async fn first_use(
        &self,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
        _: Durability,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        if state.replay.contains_key(key) {
            return Ok(false);
        }
        state.replay.insert(*key, expires_at);
        Ok(true)
    }

    async fn replay_count(&self) -> StoreResult<usize> {
        Ok(self.state().replay.len())
    }

    async fn purge_replays(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let mut state = self.state();
        let before = state.replay.len();
        state.replay.retain(|_, expires| *expires >= now);
        Ok(before - state.replay.len())
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn put_cosignature(&self, size: u64, witness: &str, line: &str) -> StoreResult<()> {
        self.state()
            .cosignatures
            .insert((size, witness.to_owned()), line.to_owned());
        Ok(())
    }

    async fn cosignatures(&self, size: u64) -> StoreResult<Vec<String>> {
        Ok(self
            .state()
            .cosignatures
            .range((size, String::new())..)
            .take_while(|((s, _), _)| *s == size)
            .map(|(_, line)| line.clone())
            .collect())
    }

    async fn append_audit(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        let mut state = self.state();
        let next = state.audit_entries.len() as u64;
        if batch.first().is_some_and(|a| a.seq != next) {
            return Err(StoreError::AuditMoved(next));
        }
        for (seq, append) in (next..).zip(batch) {
            if append.seq != seq {
                return Err(StoreError::Corrupt(format!(
                    "audit entry {} is not the next one, {seq}",
                    append.seq
                )));
            }
        }
        for append in batch {
            state.audit_entries.push(append.entry.clone());
            for (level, index, hash) in &append.nodes {
                state.audit_nodes.insert((*level, *index), *hash);
            }
            for key in &append.index_keys {
                state
                    .audit_index
                    .entry(key.clone())
                    .or_default()
                    .push(append.seq);
            }
            match &append.change {
                None => {}
                Some(RecordChange::Put {
                    resident,
                    category,
                    record,
                }) => {
                    state
                        .records
                        .entry((*resident, category.clone()))
                        .or_default()
                        .insert(record.version, record.clone());
                }
                Some(RecordChange::Delete {
                    resident,
                    category,
                    versions,
                }) => {
                    let key = (*resident, category.clone());
                    if let Some(stored) = state.records.get_mut(&key) {
                        stored.retain(|v, _| !versions.contains(v));
                        if stored.is_empty() {
                            state.records.remove(&key);
                        }
                    }
                }
                // A resident erased meanwhile gets no status.
                Some(RecordChange::AddCaseStatus(row))
                    if state.residents.contains_key(&row.resident) =>
                {
                    state.case_statuses.push(row.clone());
                }
                Some(RecordChange::AddCaseStatus(_)) => {}
                // One event per id.
                Some(RecordChange::QueueEvent(row))
                    if !state.events.iter().any(|e| e.id == row.id) =>
                {
                    state.events.push(row.clone());
                }
                Some(RecordChange::QueueEvent(_)) => {}
            }
        }
        Ok(())
    }

    async fn sync(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn sync_appends(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn audit_len(&self) -> StoreResult<u64> {
        Ok(self.state().audit_entries.len() as u64)
    }

    async fn audit_entries(&self, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>> {
        let state = self.state();
        let len = state.audit_entries.len() as u64;
        let (from, to) = (from.min(len) as usize, to.min(len) as usize);
        Ok(state.audit_entries[from..to.max(from)].to_vec())
    }

    async fn audit_nodes(&self, nodes: &[(u8, u64)]) -> StoreResult<Vec<Option<[u8; 32]>>> {
        let state = self.state();
        Ok(nodes
            .iter()
            .map(|n| state.audit_nodes.get(n).copied())
            .collect())
    }

    async fn audit_index(&self, key: &[u8], from_seq: u64, limit: usize) -> StoreResult<Vec<u64>> {
        let state = self.state();
        Ok(state
            .audit_index
            .get(key)
            .map(|seqs| {
                seqs.iter()
                    .copied()
                    .filter(|s| *s >= from_seq)
                    .take(limit)
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl OfficerStore for MemoryStore {
    async fn put_officer(&self, row: &OfficerRow) -> StoreResult<()> {
        let mut state = self.state();
        state.officers.retain(|_, o| o.id != row.id);
        state.officers.insert(row.token_hash, row.clone());
        Ok(())
    }

    async fn officer_by_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<OfficerRow>> {
        Ok(self.state().officers.get(token_hash).cloned())
    }

    async fn officers(&self) -> StoreResult<Vec<OfficerRow>> {
        let mut all: Vec<OfficerRow> = self.state().officers.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }
}

#[async_trait]
impl CoachStore for MemoryStore {
    async fn put_coach(&self, row: &CoachRow) -> StoreResult<()> {
        self.state().coaches.insert(row.id.clone(), row.clone());
        Ok(())
    }

    async fn coach(&self, id: &str) -> StoreResult<Option<CoachRow>> {
        Ok(self.state().coaches.get(id).cloned())
    }

    async fn coaches(&self) -> StoreResult<Vec<CoachRow>> {
        Ok(self.state().coaches.values().cloned().collect())
    }

    async fn put_coach_code(&self, code_hash: &[u8; 32], row: &CoachCodeRow) -> StoreResult<()> {
        self.state().coach_codes.insert(*code_hash, row.clone());
        Ok(())
    }

    async fn coach_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<CoachCodeRow>> {
        Ok(self.state().coach_codes.get(code_hash).cloned())
    }

    async fn take_coach_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<CoachCodeRow>> {
        Ok(self.state().coach_codes.remove(code_hash))
    }

    async fn put_look_along(&self, row: &LookAlongRow) -> StoreResult<()> {
        self.state().look_alongs.insert(row.id, row.clone());
        Ok(())
    }

    async fn change_look_along(
        &self,
        id: Uuid,
        change: &LookAlongChange,
    ) -> StoreResult<Option<LookAlongRow>> {
        let mut state = self.state();
        let Some(row) = state.look_alongs.get(&id).cloned() else {
            return Ok(None);
        };
        let changed = change.apply(row);
        state.look_alongs.insert(id, changed.clone());
        Ok(Some(changed))
    }

    async fn look_along(&self, id: Uuid) -> StoreResult<Option<LookAlongRow>> {
        Ok(self.state().look_alongs.get(&id).cloned())
    }

    async fn look_alongs_of_resident(&self, resident: Uuid) -> StoreResult<Vec<LookAlongRow>> {
        let mut rows: Vec<LookAlongRow> = (self.state().look_alongs.values())
            .filter(|l| l.resident == resident)
            .cloned()
            .collect();
        rows.sort_by_key(|r| r.started_at);
        Ok(rows)
    }

    async fn look_alongs_of_coach(&self, coach: &str) -> StoreResult<Vec<LookAlongRow>> {
        let mut rows: Vec<LookAlongRow> = (self.state().look_alongs.values())
            .filter(|l| l.coach == coach)
            .cloned()
            .collect();
        rows.sort_by_key(|r| r.started_at);
        Ok(rows)
    }

    async fn put_proposal(&self, row: &ProposalRow) -> StoreResult<()> {
        self.state().proposals.insert(row.id, row.clone());
        Ok(())
    }

    async fn proposal(&self, id: Uuid) -> StoreResult<Option<ProposalRow>> {
        Ok(self.state().proposals.get(&id).cloned())
    }

    async fn proposals_of_resident(&self, resident: Uuid) -> StoreResult<Vec<ProposalRow>> {
        let mut rows: Vec<ProposalRow> = (self.state().proposals.values())
            .filter(|p| p.resident == resident)
            .cloned()
            .collect();
        rows.sort_by_key(|r| r.created_at);
        Ok(rows)
    }

    async fn purge_coaching(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let mut state = self.state();
        let before = state.coach_codes.len();
        state.coach_codes.retain(|_, c| c.expires_at > now);
        let mut purged = before - state.coach_codes.len();
        for row in state.proposals.values_mut() {
            if row.state == ProposalState::Open && row.expires_at <= now {
                row.state = ProposalState::Lapsed;
                row.sealed = Vec::new();
                purged += 1;
            }
        }
        Ok(purged)
    }

    async fn put_witness(&self, row: &WitnessRow) -> StoreResult<()> {
        self.state().witnesses.insert(row.id, row.clone());
        Ok(())
    }

    async fn witness(&self, id: Uuid) -> StoreResult<Option<WitnessRow>> {
        Ok(self.state().witnesses.get(&id).cloned())
    }

    async fn witnesses_of_resident(&self, resident: Uuid) -> StoreResult<Vec<WitnessRow>> {
        let mut rows: Vec<WitnessRow> = (self.state().witnesses.values())
            .filter(|w| w.resident == resident)
            .cloned()
            .collect();
        rows.sort_by_key(|r| r.recorded_at);
        Ok(rows)
    }
}

#[async_trait]
impl CaseStore for MemoryStore {
    async fn case_statuses_of_resident(&self, resident: Uuid) -> StoreResult<Vec<CaseStatusRow>> {
        let mut out: Vec<CaseStatusRow> = self
            .state()
            .case_statuses
            .iter()
            .filter(|c| c.resident == resident)
            .cloned()
            .collect();
        out.sort_by_key(|c| c.posted_at);
        Ok(out)
    }

    async fn mark_case_statuses_seen(
        &self,
        resident: Uuid,
        shown: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let mut state = self.state();
        let unseen = state
            .case_statuses
            .iter_mut()
            .filter(|c| c.resident == resident && c.seen_at.is_none() && c.posted_at <= shown);
        let mut marked = 0;
        for status in unseen {
            status.seen_at = Some(at);
            marked += 1;
        }
        Ok(marked)
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn pending_events(&self, department: &str, limit: usize) -> StoreResult<Vec<EventRow>> {
        Ok(self
            .state()
            .events
            .iter()
            .filter(|e| e.department == department && e.acknowledged_at.is_none())
            .take(limit)
            .cloned()
            .collect())
    }

    async fn event(&self, id: Uuid) -> StoreResult<Option<EventRow>> {
        Ok(self.state().events.iter().find(|e| e.id == id).cloned())
    }

    async fn acknowledge_events(
        &self,
        department: &str,
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let mut count = 0;
        for event in &mut self.state().events {
            if event.department == department
                && event.acknowledged_at.is_none()
                && ids.contains(&event.id)
            {
                event.acknowledged_at = Some(at);
                count += 1;
            }
        }
        Ok(count)
    }
}

/// The in-memory store has no files to copy: it refuses, as the trait's default says.
impl super::Snapshot for MemoryStore {}

#[async_trait]
impl Health for MemoryStore {
    async fn check(&self) -> StoreResult<()> {
        Ok(())
    }

    fn was_fresh(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn passes_the_store_contract() {
        crate::store::contract::check(std::sync::Arc::new(super::MemoryStore::new())).await;
    }
}
