//! Grants: issuing the signed token, grants on the resident's own initiative, listing, and
//! revocation.
//!
//! A grant is a JWT signed by the vault (`kid` in the header, keys at
//! `/.well-known/jwks.json`) carrying `iss`, `sub` (the resident's pairwise reference for
//! the department), `aud` (the department), `jti` (the grant id), `iat`/`nbf`/`exp`, the
//! categories, the processing activity (id and version), and `cnf.jkt` (the thumbprint of
//! the department key it is bound to). The JWT is portable proof of the resident's
//! decision; the stored [`GrantRow`] is the authority, checked on every read, so a revoke
//! takes effect on the very next read.

use super::{
    Consent, access, activity_version, activity_view, check_categories, check_duration,
    current_activity, department_ref,
};
use crate::audit::Context;
use crate::audit::entry::{Action, Outcome};
use crate::auth::departments::DepartmentPrincipal;
use crate::jose::GrantClaims;
use crate::residents::ResidentId;
use crate::store::{ActivityRow, DepartmentRow, GrantRow};
use crate::{Error, Result};
use chrono::TimeDelta;
use kluis_proto::cases::SharesPage;
use kluis_proto::consent::{ActivityRef, DepartmentGrant, GrantView, OwnInitiativeGrant};
use kluis_proto::events::EventKind;
use std::collections::BTreeSet;
use uuid::Uuid;

/// How old a share must be before the shares feed lists it (see `department_shares`).
pub const SHARES_SETTLE: TimeDelta = TimeDelta::seconds(5);

impl Consent {
    /// Signs a new grant (not stored yet).
    pub(super) fn issue_grant(
        &self,
        resident: ResidentId,
        department: &DepartmentRow,
        activity: &ActivityRow,
        categories: BTreeSet<String>,
        duration_days: u32,
        request_id: Option<Uuid>,
    ) -> Result<GrantRow> {
        // Grants are bound to the department's first signing key.
        let keys = self
            .departments
            .keys_of(department)
            .map_err(|e| Error::Internal(format!("stored JWKS: {e}")))?;
        let jkt = keys
            .thumbprints()
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("no department key".into()))?;
        let now = self.clock.now();
        let issued = now.timestamp();
        let expires_at = now + TimeDelta::days(i64::from(duration_days));
        let id = Uuid::new_v4();
        let reference = self.residents.pairwise_reference(resident, &department.id);
        let claims = GrantClaims {
            iss: self.issuer.clone(),
            sub: reference.clone(),
            aud: department.id.clone(),
            jti: id.to_string(),
            iat: issued,
            nbf: issued,
            exp: expires_at.timestamp(),
            categories: categories.iter().cloned().collect(),
            activity: crate::jose::GrantActivity {
                id: activity.id.clone(),
                version: activity.version,
            },
            jkt: jkt.clone(),
        };
        let token = claims
            .sign(&self.vault_keys.current())
            .map_err(|e| Error::Internal(format!("signing a grant: {e}")))?;
        // Stored times are whole seconds, exactly as in the token.
        let at = |secs: i64| chrono::DateTime::from_timestamp(secs, 0).unwrap_or(now);
        Ok(GrantRow {
            id,
            department: department.id.clone(),
            resident,
            reference,
            activity_id: activity.id.clone(),
            activity_version: activity.version,
            categories,
            issued_at: at(claims.iat),
            not_before: at(claims.nbf),
            expires_at: at(claims.exp),
            jkt,
            token,
            request_id,
            revoked_at: None,
            paused: None,
        })
    }

    /// The resident grants access on their own initiative, without a request.
    pub async fn grant_own_initiative(
        &self,
        context: &Context,
        resident: ResidentId,
        grant: &OwnInitiativeGrant,
    ) -> Result<GrantView> {
        let department = self.department_row(&grant.department).await?;
        if department.disabled {
            return Err(Error::Conflict(
                "this department is disabled; it cannot receive grants now",
            ));
        }
        let activity = current_activity(&department, &grant.processing_activity)?;
        let categories =
            check_categories(&grant.categories, &activity.categories, &self.residents)?;
        check_duration(grant.duration_days)?;
        let row = self.issue_grant(
            resident,
            &department,
            activity,
            categories,
            grant.duration_days,
            None,
        )?;
        self.store.insert_grant(&row).await?;
        let entry = self.grant_entry(
            Action::Grant,
            Outcome::Done,
            self.resident_actor(resident),
            &row,
            activity,
        );
        let notice = self.grant_notice(
            &row,
            EventKind::GrantCreated {
                grant: row.id,
                categories: row.categories.iter().cloned().collect(),
                expires_at: row.expires_at,
            },
        )?;
        self.audit
            .record_all(context, vec![(entry, None), notice])
            .await?;
        self.grant_view(&row).await
    }

    /// The resident's grants, newest last.
    pub async fn resident_grants(&self, resident: ResidentId) -> Result<Vec<GrantView>> {
        let mut out = Vec::new();
        for grant in self.store.grants_of_resident(resident).await? {
            out.push(self.grant_view(&grant).await?);
        }
        Ok(out)
    }

    /// Revokes one of the resident's grants. Durable before it returns: the next read
    /// under it is refused.
    pub async fn revoke(
        &self,
        context: &Context,
        resident: ResidentId,
        id: Uuid,
    ) -> Result<GrantView> {
        let before = self.own_grant(resident, id).await?;
        let revoked = self.revoke_and_record(context, &before).await?;
        self.grant_view(&revoked).await
    }

    /// Revokes `grant` (durably) and, if this call revoked it (not an earlier or a
    /// concurrent one), logs it and tells the department.
    async fn revoke_and_record(&self, context: &Context, grant: &GrantRow) -> Result<GrantRow> {
        let (revoked, changed) = self
            .store
            .revoke_grant(grant.id, self.clock.now())
            .await?
            .ok_or(Error::NotFound("grant"))?;
        if changed {
            let department = self.department_row(&grant.department).await?;
            let activity =
                activity_version(&department, &grant.activity_id, grant.activity_version)?;
            let mut entry = self.grant_entry(
                Action::Revocation,
                Outcome::Done,
                self.resident_actor(grant.resident),
                &revoked,
                activity,
            );
            entry.valid_from = None;
            entry.valid_until = None;
            let notice =
                self.grant_notice(&revoked, EventKind::GrantRevoked { grant: grant.id })?;
            self.audit
                .record_all(context, vec![(entry, None), notice])
                .await?;
        }
        Ok(revoked)
    }

    /// Revokes every grant the resident gave `department`; returns those it revoked.
    pub async fn revoke_department(
        &self,
        context: &Context,
        resident: ResidentId,
        department: &str,
    ) -> Result<Vec<GrantView>> {
        let mut out = Vec::new();
        for grant in self.store.grants_of_resident(resident).await? {
            if grant.department == department && grant.revoked_at.is_none() {
                let revoked = self.revoke_and_record(context, &grant).await?;
                out.push(self.grant_view(&revoked).await?);
            }
        }
        Ok(out)
    }

    /// A department's grants (all states).
    pub async fn department_grants(
        &self,
        department: &DepartmentPrincipal,
    ) -> Result<Vec<DepartmentGrant>> {
        Ok(self
            .store
            .grants_of_department(department.id())
            .await?
            .iter()
            .map(|g| self.department_grant_view(g))
            .collect())
    }

    /// The grants residents gave `department` on their own initiative (shares, such as
    /// from a life event) after cursor `after`, oldest first, with the cursor of this
    /// page: how a department's system learns of a share without polling every grant.
    ///
    /// A page holds only shares issued at least [`SHARES_SETTLE`] ago. Issue times are
    /// whole seconds and a share is stored a moment after it is issued, so a share of the
    /// current second could still be on its way; leaving those for the next page means a
    /// cursor never passes a share the department has not seen.
    pub async fn department_shares(
        &self,
        department: &DepartmentPrincipal,
        after: Option<&str>,
    ) -> Result<SharesPage> {
        let bad = || {
            Error::InvalidParameter(
                "after is a cursor from an earlier page of shares, as the vault gave it".into(),
            )
        };
        let after = match after {
            None => None,
            Some(cursor) => {
                let (micros, id) = cursor.split_once('-').ok_or_else(bad)?;
                let micros: i64 = micros.parse().map_err(|_| bad())?;
                Some((micros, Uuid::parse_str(id).map_err(|_| bad())?))
            }
        };
        let key = |g: &GrantRow| (g.issued_at.timestamp_micros(), g.id);
        let settled = self.clock.now() - SHARES_SETTLE;
        let mut shares: Vec<GrantRow> = self
            .store
            .grants_of_department(department.id())
            .await?
            .into_iter()
            .filter(|g| {
                g.request_id.is_none() && g.issued_at <= settled && after.is_none_or(|a| key(g) > a)
            })
            .collect();
        shares.sort_by_key(key);
        let cursor = match (shares.last(), after) {
            (Some(last), _) => format!("{}-{}", last.issued_at.timestamp_micros(), last.id),
            (None, Some((micros, id))) => format!("{micros}-{id}"),
            (None, None) => format!("0-{}", Uuid::nil()),
        };
        Ok(SharesPage {
            grants: shares
                .iter()
                .map(|g| self.department_grant_view(g))
                .collect(),
            cursor,
        })
    }

    /// The record of grant `id`, if `department` holds it (else `NotFound`).
    pub async fn held_grant(&self, department: &DepartmentPrincipal, id: Uuid) -> Result<GrantRow> {
        match self.store.grant(id).await? {
            Some(grant) if grant.department == department.id() => Ok(grant),
            _ => Err(Error::NotFound("grant")),
        }
    }

    /// One of a department's grants.
    pub async fn department_grant(
        &self,
        department: &DepartmentPrincipal,
        id: Uuid,
    ) -> Result<DepartmentGrant> {
        let grant = self.held_grant(department, id).await?;
        Ok(self.department_grant_view(&grant))
    }

    pub(super) fn department_grant_view(&self, grant: &GrantRow) -> DepartmentGrant {
        DepartmentGrant {
            id: grant.id,
            token: grant.token.clone(),
            resident: grant.reference.clone(),
            categories: grant.categories.iter().cloned().collect(),
            processing_activity: ActivityRef {
                id: grant.activity_id.clone(),
                version: grant.activity_version,
            },
            issued_at: grant.issued_at,
            not_before: grant.not_before,
            expires_at: grant.expires_at,
            state: access::state(grant, self.clock.now()),
        }
    }

    pub(super) async fn grant_view(&self, grant: &GrantRow) -> Result<GrantView> {
        let department = self.department_row(&grant.department).await?;
        let activity = activity_version(&department, &grant.activity_id, grant.activity_version)?;
        Ok(GrantView {
            id: grant.id,
            department: department_ref(&department),
            processing_activity: activity_view(activity),
            categories: self.labels(&grant.categories),
            issued_at: grant.issued_at,
            expires_at: grant.expires_at,
            state: access::state(grant, self.clock.now()),
            revoked_at: grant.revoked_at,
            paused: grant.paused.filter(|_| grant.revoked_at.is_none()),
        })
    }
}
