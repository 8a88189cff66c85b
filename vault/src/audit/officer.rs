// Long: every question a privacy officer (or the operator) can ask the log, each logged first, in one desk.
//! What privacy officers (and the operator) ask of the log: pages of entries, exports,
//! checkpoints, proofs, reports and resident lookups.
//!
//! Every question is itself logged before it is answered, and if that entry cannot be
//! written the question is refused (fail closed): the log shows who looked at the log.
//! Answers hold the log's metadata only, never vault contents.

use super::entry::{Action, Actor, Entry, Outcome};
use super::reports::Report;
use super::{Audit, Context, Filter, standards};
use crate::jose::compact::B64URL;
use crate::store::DepartmentStore;
use crate::{Error, Result};
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use kluis_proto::audit::{
    AuditPage, CheckpointView, ConsistencyProof, ErasureRequestStatus, InclusionProof,
    ReportAnswer, ResidentLookup,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Finds the audit reference of the resident a department knows by a pairwise reference
/// (implemented by the consent service, which holds the references).
#[async_trait]
pub trait ReferenceResolver: Send + Sync {
    /// The audit reference behind `reference` of `department`, if there is one.
    async fn audit_reference(&self, department: &str, reference: &str) -> Result<Option<String>>;
    /// The audit reference of the vault whose national identifier (`scheme`, such as
    /// `bsn`) is `value`, found by its keyed hash, if there is one.
    async fn audit_reference_by_national_id(
        &self,
        scheme: &str,
        value: &str,
    ) -> Result<Option<String>>;
}

/// A range of the log, by position or by time; open ends mean the log's start and end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Range {
    /// The first position.
    pub from_seq: Option<u64>,
    /// One past the last position.
    pub to_seq: Option<u64>,
    /// The first entry logged at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries logged before this time.
    pub to: Option<DateTime<Utc>>,
}

/// The shapes an export comes in (JSON Lines each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Kluis' own: verifiable offline with `kluis audit verify`.
    Kluis,
    /// Logius' Logboek Dataverwerkingen.
    Logboek,
    /// The Authorization Decision Log.
    Adl,
}

impl ExportFormat {
    /// The format called `name` (`kluis`, `logboek`, `adl`).
    pub fn from_name(name: &str) -> Result<ExportFormat> {
        match name {
            "kluis" => Ok(ExportFormat::Kluis),
            "logboek" => Ok(ExportFormat::Logboek),
            "adl" => Ok(ExportFormat::Adl),
            _ => Err(Error::InvalidParameter(
                "format is kluis, logboek or adl".into(),
            )),
        }
    }

    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Kluis => "kluis",
            ExportFormat::Logboek => "logboek",
            ExportFormat::Adl => "adl",
        }
    }
}

/// The privacy officer's desk: the log, the department register (for the scope report),
/// and the way from a department's reference to a resident's audit reference.
#[derive(Clone)]
pub struct OfficerDesk {
    audit: Arc<Audit>,
    departments: Arc<dyn DepartmentStore>,
    references: Arc<dyn ReferenceResolver>,
}

impl OfficerDesk {
    /// A desk over `audit`.
    pub fn new(
        audit: Arc<Audit>,
        departments: Arc<dyn DepartmentStore>,
        references: Arc<dyn ReferenceResolver>,
    ) -> OfficerDesk {
        OfficerDesk {
            audit,
            departments,
            references,
        }
    }

    /// Logs a question (fail closed), with the resident and department it concerns if any.
    pub async fn log_question(
        &self,
        context: &Context,
        actor: &Actor,
        question: &str,
        mut details: BTreeMap<String, String>,
    ) -> Result<()> {
        let mut entry = Entry::new(Action::OfficerQuery, Outcome::Done, actor.clone());
        entry.resident = details.get("resident").cloned();
        entry.department = details.get("department").cloned();
        details.insert("endpoint".into(), question.into());
        entry.details = details;
        self.audit.record(context, entry).await.map(|_| ())
    }

    /// Entries matching `filter`, from `cursor` on, at most `limit`.
    pub async fn page(
        &self,
        context: &Context,
        actor: &Actor,
        filter: &Filter,
        cursor: u64,
        limit: usize,
    ) -> Result<AuditPage> {
        self.log_question(context, actor, "audit", filter.as_details())
            .await?;
        let (entries, next_cursor) = self.audit.query(filter, cursor, limit).await?;
        Ok(AuditPage {
            entries,
            next_cursor,
            tree_size: self.audit.size().await,
        })
    }

    /// The positions `[from, to)` a range covers.
    async fn positions(&self, range: &Range) -> Result<(u64, u64)> {
        let size = self.audit.size().await;
        let from = match (range.from_seq, range.from) {
            (Some(s), _) => s,
            (None, Some(t)) => self.audit.seq_at(t).await?,
            (None, None) => 0,
        };
        let to = match (range.to_seq, range.to) {
            (Some(s), _) => s,
            (None, Some(t)) => self.audit.seq_at(t).await?,
            (None, None) => size,
        };
        if from > to || to > size {
            return Err(Error::InvalidParameter(format!(
                "the range must lie within 0..{size}"
            )));
        }
        Ok((from, to))
    }

    /// An export of `range` in `format`, as JSON Lines.
    pub async fn export(
        &self,
        context: &Context,
        actor: &Actor,
        range: &Range,
        format: ExportFormat,
    ) -> Result<String> {
        let (from, to) = self.positions(range).await?;
        let mut details = range_details(from, to);
        details.insert("format".into(), format.name().into());
        self.log_question(context, actor, "export", details).await?;
        let shape = match format {
            ExportFormat::Kluis => return self.audit.export(from, to).await,
            ExportFormat::Logboek => standards::logboek,
            ExportFormat::Adl => standards::decision,
        };
        let mut out = String::new();
        self.audit
            .scan(from, to, |entry| {
                if let Some(record) = shape(entry) {
                    out.push_str(&record.to_string());
                    out.push('\n');
                }
            })
            .await?;
        Ok(out)
    }

    /// A fresh signed checkpoint of the whole log (also saved by the vault).
    pub async fn checkpoint(&self, context: &Context, actor: &Actor) -> Result<CheckpointView> {
        self.log_question(context, actor, "checkpoint", BTreeMap::new())
            .await?;
        let token = self.audit.checkpoint().await?;
        let verified = crate::jose::Checkpoint::verify(&token, &self.audit.jwks())
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(CheckpointView {
            checkpoint: token,
            tree_size: verified.tree_size,
            root_hash: B64URL.encode(verified.root_hash),
            note: self.audit.checkpoint_note(Some(verified.tree_size)).await?,
            note_key: self.audit.note_key().to_string(),
        })
    }

    /// Every erasure request the vault sent, oldest first, with when (if) its department
    /// confirmed it: from the log's notices and confirmations.
    pub async fn erasure_requests(
        &self,
        context: &Context,
        actor: &Actor,
    ) -> Result<Vec<ErasureRequestStatus>> {
        self.log_question(context, actor, "erasure_requests", BTreeMap::new())
            .await?;
        let mut requests: Vec<ErasureRequestStatus> = Vec::new();
        let mut confirmed = std::collections::HashMap::new();
        for action in [Action::Notice, Action::ErasureConfirmed] {
            let filter = Filter {
                action: Some(action),
                ..Default::default()
            };
            let mut cursor = Some(0);
            while let Some(at) = cursor {
                let (page, next) = self.audit.query(&filter, at, 1000).await?;
                for entry in page {
                    let Some(id) = entry
                        .details
                        .get("event_id")
                        .and_then(|id| uuid::Uuid::parse_str(id).ok())
                    else {
                        continue;
                    };
                    if action == Action::ErasureConfirmed {
                        confirmed.entry(id).or_insert(entry.time);
                    } else if entry.details.get("event").map(String::as_str)
                        == Some(kluis_proto::events::ERASURE_REQUESTED)
                    {
                        requests.push(ErasureRequestStatus {
                            event: id,
                            department: entry.department.clone().unwrap_or_default(),
                            resident: entry.resident.clone(),
                            grant: entry.grant,
                            read: entry.details.get("read").and_then(|r| r.parse().ok()),
                            requested_at: entry.time,
                            confirmed_at: None,
                        });
                    }
                }
                cursor = next;
            }
        }
        for request in &mut requests {
            request.confirmed_at = confirmed.get(&request.event).copied();
        }
        Ok(requests)
    }

    /// The checkpoint of the log's first `size` entries (all, without a size) as a C2SP
    /// signed note with its cosignatures.
    pub async fn checkpoint_note(
        &self,
        context: &Context,
        actor: &Actor,
        size: Option<u64>,
    ) -> Result<String> {
        let details = size
            .map(|s| BTreeMap::from([("size".to_owned(), s.to_string())]))
            .unwrap_or_default();
        self.log_question(context, actor, "checkpoint_note", details)
            .await?;
        self.audit.checkpoint_note(size).await
    }

    /// Checks a checkpoint note the officer saved earlier against the log now (logged with
    /// its outcome's kind only).
    pub async fn check_saved_checkpoint(
        &self,
        context: &Context,
        actor: &Actor,
        saved: &str,
    ) -> Result<super::SavedCheckpoint> {
        self.log_question(context, actor, "checkpoint_check", BTreeMap::new())
            .await?;
        self.audit.check_saved_checkpoint(saved).await
    }

    /// An inclusion proof for entry `seq` in the log's first `size` entries.
    pub async fn inclusion(
        &self,
        context: &Context,
        actor: &Actor,
        seq: u64,
        size: u64,
    ) -> Result<InclusionProof> {
        let details = BTreeMap::from([("seq".to_owned(), seq.to_string())]);
        self.log_question(context, actor, "inclusion_proof", details)
            .await?;
        let proof = self.audit.inclusion_proof(seq, size).await?;
        let entry = self
            .audit
            .raw_entries(seq, seq + 1)
            .await?
            .pop()
            .ok_or(Error::NotFound("entry"))?;
        Ok(InclusionProof {
            seq,
            size,
            leaf_hash: B64URL.encode(super::merkle::leaf_hash(&entry)),
            root_hash: B64URL.encode(self.audit.root_at(size).await?),
            proof: proof.iter().map(|h| B64URL.encode(h)).collect(),
        })
    }

    /// A consistency proof between the log's first `old` and first `new` entries.
    pub async fn consistency(
        &self,
        context: &Context,
        actor: &Actor,
        old: u64,
        new: u64,
    ) -> Result<ConsistencyProof> {
        self.log_question(context, actor, "consistency_proof", BTreeMap::new())
            .await?;
        let proof = self.audit.consistency_proof(old, new).await?;
        Ok(ConsistencyProof {
            old,
            new,
            old_root: B64URL.encode(self.audit.root_at(old).await?),
            new_root: B64URL.encode(self.audit.root_at(new).await?),
            proof: proof.iter().map(|h| B64URL.encode(h)).collect(),
        })
    }

    /// Report `name` over `range`, with the signed checkpoint of the log it was computed
    /// from. The log streams through the report; it is never loaded whole.
    pub async fn report(
        &self,
        context: &Context,
        actor: &Actor,
        name: &str,
        range: &Range,
    ) -> Result<ReportAnswer> {
        let report = Report::from_name(name).ok_or(Error::NotFound("report"))?;
        let (from, to) = self.positions(range).await?;
        let mut details = range_details(from, to);
        details.insert("report".into(), report.name().into());
        self.log_question(context, actor, "report", details).await?;
        let departments = match report {
            Report::Categories => self.departments.departments().await?,
            _ => Vec::new(),
        };
        let mut tally = report.tally(from, departments);
        let start = if report.replays_grants() { 0 } else { from };
        self.audit
            .scan(start, to, |entry| tally.observe(entry))
            .await?;
        Ok(ReportAnswer {
            report: report.name().into(),
            from_seq: from,
            to_seq: to,
            checkpoint: self.audit.checkpoint_at(to).await?,
            result: tally.answer(),
        })
    }

    /// The audit reference of the resident `department` knows as `reference`.
    pub async fn lookup(
        &self,
        context: &Context,
        actor: &Actor,
        department: &str,
        reference: &str,
    ) -> Result<ResidentLookup> {
        let found = self
            .references
            .audit_reference(department, reference)
            .await?;
        let department = if super::queries::is_id_like(department) {
            department.to_owned()
        } else {
            "(not a department id)".to_owned()
        };
        self.log_lookup(context, actor, ("department", department), found)
            .await
    }

    /// The audit reference of the vault with BSN `bsn` (through its keyed hash). The log
    /// says that a BSN was looked up and which reference it led to, never the BSN.
    pub async fn lookup_national_id(
        &self,
        context: &Context,
        actor: &Actor,
        bsn: &str,
    ) -> Result<ResidentLookup> {
        let found = self
            .references
            .audit_reference_by_national_id("bsn", bsn)
            .await?;
        self.log_lookup(context, actor, ("by", "national_id".to_owned()), found)
            .await
    }

    /// Logs a lookup (what it was by, and the reference found or `found: false`), then
    /// answers it: a miss is logged too.
    async fn log_lookup(
        &self,
        context: &Context,
        actor: &Actor,
        (by, value): (&str, String),
        found: Option<String>,
    ) -> Result<ResidentLookup> {
        let mut details = BTreeMap::from([(by.to_owned(), value)]);
        match &found {
            Some(resident) => details.insert("resident".to_owned(), resident.clone()),
            None => details.insert("found".to_owned(), "false".to_owned()),
        };
        self.log_question(context, actor, "resident_lookup", details)
            .await?;
        let resident = found.ok_or(Error::NotFound("resident"))?;
        Ok(ResidentLookup { resident })
    }

    /// The operator's export of positions `[from, to)` (the admin socket), logged first.
    pub async fn operator_export(
        &self,
        context: &Context,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<String> {
        let range = Range {
            from_seq: from,
            to_seq: to,
            ..Range::default()
        };
        self.export(context, &Actor::Operator, &range, ExportFormat::Kluis)
            .await
    }

    /// A fresh signed checkpoint, for the operator (the admin socket).
    pub async fn operator_checkpoint(&self) -> Result<String> {
        self.audit.checkpoint().await
    }
}

fn range_details(from: u64, to: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("from_seq".to_owned(), from.to_string()),
        ("to_seq".to_owned(), to.to_string()),
    ])
}
