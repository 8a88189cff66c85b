//! Departments writing what they know better than the resident: the categories the
//! catalogue marks `written_by: department` (the step of debt counselling, self-reliance
//! scores). A write is held to a read's proof and a client assertion: the assertion, the grant
//! token the vault issued, and a fresh DPoP proof by the key the grant is bound to, for
//! this method and URL; the grant must be in force, cover the category, and have been
//! given under an activity version that declares it `writes` the category, so the
//! resident was told before deciding. Every attempt, allowed or refused, writes one audit
//! entry; the resident sees every version and who wrote it, and cannot change it.

use super::access::{self, Evidence};
use super::proof::required_token;
use super::{Consent, activity_version, with_activity};
use crate::audit::Context;
use crate::audit::entry::{ACCESS_POLICY, Action, Actor, Entry, Outcome};
use crate::auth::departments::DepartmentPrincipal;
use crate::jose::GrantClaims;
use crate::store::GrantRow;
use crate::{Error, Result};
use kluis_proto::records::RecordWritten;
use std::collections::BTreeSet;
use uuid::Uuid;

/// One attempt to write, as it reached the vault.
pub struct WriteAttempt<'a> {
    /// The grant id from the path.
    pub grant: Uuid,
    /// The category from the path (a category id).
    pub category: &'a str,
    /// The grant token from `Authorization: DPoP <grant>`.
    pub token: Option<&'a str>,
    /// The `DPoP` header.
    pub proof: Option<&'a str>,
    /// The record.
    pub data: &'a serde_json::Value,
}

impl Consent {
    /// Stores a new version of a category the department keeps for the resident of the
    /// grant, or refuses; logs the attempt either way (a refusal that cannot be logged
    /// stays a refusal).
    pub async fn department_write(
        &self,
        context: &Context,
        department: &DepartmentPrincipal,
        attempt: WriteAttempt<'_>,
    ) -> Result<RecordWritten> {
        let held = self.held_grant(department, attempt.grant).await?;
        let entry = |outcome, reason: Option<&Error>| {
            let actor = Actor::Department {
                id: department.id().to_owned(),
            };
            let mut entry = Entry::new(Action::RecordWrite, outcome, actor);
            if let Ok(activity) =
                activity_version(&department.row, &held.activity_id, held.activity_version)
            {
                entry = with_activity(entry, department.id(), activity);
            }
            entry.department = Some(department.id().to_owned());
            entry.grant = Some(held.id);
            entry.resident = Some(self.residents.audit_reference(held.resident));
            entry.policy = Some(ACCESS_POLICY.to_owned());
            entry.reason = reason.map(|e| e.code().as_str().to_owned());
            if self.residents.catalogue().contains(attempt.category) {
                entry.categories = vec![attempt.category.to_owned()];
            }
            entry
        };
        let written = match self.decide_write(department, &held, &attempt).await {
            Ok(()) => {
                self.residents
                    .write_for_department(
                        context,
                        held.resident,
                        attempt.category,
                        attempt.data,
                        entry(Outcome::Done, None),
                    )
                    .await
            }
            Err(refusal) => Err(refusal),
        };
        if let Err(refusal) = &written {
            // The record and its entry are stored together or not at all; a refusal (a
            // record against the schema too) gets an entry of its own.
            if let Err(e) = self
                .audit
                .record(context, entry(Outcome::Refused, Some(refusal)))
                .await
            {
                tracing::error!(error = %e, "a refused write could not be logged");
            }
        }
        written
    }

    async fn decide_write(
        &self,
        department: &DepartmentPrincipal,
        held: &GrantRow,
        attempt: &WriteAttempt<'_>,
    ) -> Result<()> {
        let url = format!(
            "{}/v1/dept/grants/{}/records/{}",
            self.issuer, held.id, attempt.category
        );
        let token = required_token(attempt.token)?;
        // `decide` compares the token with the stored one; this only gives the clearer
        // answer for a token of another grant.
        if GrantClaims::claimed_id(token) != Some(held.id) {
            return Err(Error::InvalidGrant(
                "the grant token is for another grant than the path names".into(),
            ));
        }
        let now = self.clock.now();
        let presented = self
            .verify_proof(
                held,
                &department.keys,
                token,
                attempt.proof,
                ("PUT", &url),
                now,
            )
            .await?;
        let categories = BTreeSet::from([attempt.category.to_owned()]);
        access::decide(&Evidence {
            department: department.id(),
            department_keys: &department.keys,
            token,
            proof: &presented.proof,
            proof_first_use: presented.first_use,
            grant: Some(held),
            resident: &held.reference,
            categories: &categories,
            now,
        })
        .map_err(super::reads::refusal)?;
        // The resident was told the department fills it in: the activity version the grant
        // was given under says so.
        let activity = activity_version(&department.row, &held.activity_id, held.activity_version)?;
        if !activity.writes.iter().any(|c| c == attempt.category) {
            return Err(Error::OutOfScope(format!(
                "activity {} v{} does not fill in {}; register it under `writes` and ask the resident again",
                activity.id, activity.version, attempt.category
            )));
        }
        Ok(())
    }
}
