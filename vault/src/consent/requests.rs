//! Access requests: a department asks, the resident decides.
//!
//! A department can only ask about a resident it can name: by the pairwise reference of an
//! earlier grant, or by a national identifier it already holds (compared as a keyed hash;
//! a request by BSN for someone without a vault yet waits for them). It can only ask for
//! categories of one of its own processing activities. The resident sees each request in
//! plain words and approves all of it, part of it (fewer categories, a shorter time), or
//! nothing.

use super::{
    Consent, activity_version, activity_view, check_categories, check_duration, current_activity,
    department_ref, with_activity,
};
use crate::audit::Context;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::auth::departments::DepartmentPrincipal;
use crate::language::{Language, Texts, stories};
use crate::residents::ResidentId;
use crate::store::{RequestRow, RequestState, RequestSubject};
use crate::{Error, Result};
use kluis_proto::consent::{
    Approval, DepartmentRequestStatus, GrantView, NewAccessRequest, RequestView, ResidentIdentifier,
};
use uuid::Uuid;

impl Consent {
    /// A department asks for access.
    pub async fn create_request(
        &self,
        context: &Context,
        department: &DepartmentPrincipal,
        ask: &NewAccessRequest,
    ) -> Result<DepartmentRequestStatus> {
        let activity = current_activity(&department.row, &ask.processing_activity)?;
        check_categories(&ask.categories, &activity.categories, &self.residents)?;
        check_duration(ask.duration_days)?;
        let subject = match &ask.resident {
            ResidentIdentifier::Reference(reference) => {
                let resident = self
                    .store
                    .resident_by_reference(department.id(), reference)
                    .await?
                    .ok_or(Error::NotFound("resident reference"))?;
                RequestSubject::Resident { id: resident }
            }
            ResidentIdentifier::NationalId { scheme, value } => {
                let hash = self.residents.national_id_hash(scheme, value)?;
                match self.residents.by_national_id(&hash).await? {
                    Some(resident) => RequestSubject::Resident { id: resident.id },
                    None => RequestSubject::NationalId { hash },
                }
            }
        };
        let row = RequestRow {
            id: Uuid::new_v4(),
            department: department.id().to_owned(),
            activity_id: activity.id.clone(),
            activity_version: activity.version,
            categories: ask.categories.clone(),
            duration_days: ask.duration_days,
            subject,
            state: RequestState::Pending,
            created_at: self.clock.now(),
            decided_at: None,
            grant_id: None,
        };
        self.store.insert_request(&row).await?;
        let actor = Actor::Department {
            id: department.id().to_owned(),
        };
        let mut entry = with_activity(
            Entry::new(Action::AccessRequest, Outcome::Done, actor),
            department.id(),
            activity,
        );
        entry.request = Some(row.id);
        entry.categories = row.categories.clone();
        entry
            .details
            .insert("duration_days".into(), row.duration_days.to_string());
        match &row.subject {
            RequestSubject::Resident { id } => {
                entry.resident = Some(self.residents.audit_reference(*id))
            }
            RequestSubject::NationalId { .. } => {
                entry.details.insert(
                    "addressed_by".into(),
                    "national identifier; no vault yet".into(),
                );
            }
        }
        self.audit.record(context, entry).await?;
        self.department_view(&row).await
    }

    /// A department looks at one of its own requests.
    pub async fn department_request(
        &self,
        department: &DepartmentPrincipal,
        id: Uuid,
    ) -> Result<DepartmentRequestStatus> {
        match self.store.request(id).await? {
            Some(row) if row.department == department.id() => self.department_view(&row).await,
            _ => Err(Error::NotFound("request")),
        }
    }

    async fn department_view(&self, row: &RequestRow) -> Result<DepartmentRequestStatus> {
        let grant = match row.grant_id {
            Some(id) => self
                .store
                .grant(id)
                .await?
                .map(|grant| self.department_grant_view(&grant)),
            None => None,
        };
        Ok(DepartmentRequestStatus {
            id: row.id,
            state: row.state,
            categories: row.categories.clone(),
            requested_at: row.created_at,
            decided_at: row.decided_at,
            grant,
        })
    }

    /// Everything that may address this resident: their id, and their national-id hash.
    pub(super) async fn subjects_of(&self, resident: ResidentId) -> Result<Vec<RequestSubject>> {
        let row = self.residents.resident(resident).await?;
        let mut subjects = vec![RequestSubject::Resident { id: resident }];
        if let Some(hash) = row.national_id {
            subjects.push(RequestSubject::NationalId { hash });
        }
        Ok(subjects)
    }

    /// The resident's own request `id`, or `NotFound` (never another resident's).
    async fn own_request(&self, resident: ResidentId, id: Uuid) -> Result<RequestRow> {
        let subjects = self.subjects_of(resident).await?;
        match self.store.request(id).await? {
            Some(row) if subjects.contains(&row.subject) => Ok(row),
            _ => Err(Error::NotFound("request")),
        }
    }

    /// A registered department acting without a client assertion: only for the demo
    /// world of `kluis dev`, which asks in the demo departments' names.
    pub async fn registered_department(&self, id: &str) -> Result<DepartmentPrincipal> {
        let row = self
            .store
            .department(id)
            .await?
            .ok_or(Error::NotFound("department"))?;
        let keys = self.departments.keys_of(&row)?;
        Ok(DepartmentPrincipal { row, keys })
    }

    /// The resident's requests; only the open ones unless `all`.
    pub async fn resident_requests(
        &self,
        resident: ResidentId,
        all: bool,
    ) -> Result<Vec<RequestView>> {
        let subjects = self.subjects_of(resident).await?;
        let mut out = Vec::new();
        for row in self.store.requests_about(&subjects).await? {
            if all || row.state == RequestState::Pending {
                out.push(self.resident_view(&row).await?);
            }
        }
        Ok(out)
    }

    /// One of the resident's requests.
    pub async fn resident_request(&self, resident: ResidentId, id: Uuid) -> Result<RequestView> {
        let row = self.own_request(resident, id).await?;
        self.resident_view(&row).await
    }

    async fn resident_view(&self, row: &RequestRow) -> Result<RequestView> {
        let department = self.department_row(&row.department).await?;
        let activity = activity_version(&department, &row.activity_id, row.activity_version)?;
        let mut view = RequestView {
            id: row.id,
            department: department_ref(&department),
            processing_activity: activity_view(activity),
            categories: self.labels(&row.categories),
            duration_days: row.duration_days,
            requested_at: row.created_at,
            state: row.state,
            summary_nl: String::new(),
        };
        view.summary_nl = stories::request_summary(
            &view,
            Texts {
                language: Language::Nl,
            },
        );
        Ok(view)
    }

    /// The resident approves a request, wholly or in part; returns the grant.
    pub async fn approve(
        &self,
        context: &Context,
        resident: ResidentId,
        id: Uuid,
        approval: &Approval,
    ) -> Result<GrantView> {
        self.decide_approval(context, resident, id, approval, None)
            .await
    }

    /// A coach approves a whole request on the resident's behalf, on witness statement
    /// `statement`: the decision and the grant are logged as done by `coach`, naming the
    /// statement.
    pub async fn approve_witnessed(
        &self,
        context: &Context,
        resident: ResidentId,
        id: Uuid,
        (coach, statement): (Actor, Uuid),
    ) -> Result<GrantView> {
        let whole = Approval {
            categories: None,
            duration_days: None,
        };
        self.decide_approval(context, resident, id, &whole, Some((coach, statement)))
            .await
    }

    async fn decide_approval(
        &self,
        context: &Context,
        resident: ResidentId,
        id: Uuid,
        approval: &Approval,
        witnessed: Option<(Actor, Uuid)>,
    ) -> Result<GrantView> {
        let row = self.own_request(resident, id).await?;
        if row.state != RequestState::Pending {
            return Err(Error::Conflict("this request has already been decided"));
        }
        let categories = match &approval.categories {
            Some(subset) => check_categories(subset, &row.categories, &self.residents)?,
            None => row.categories.iter().cloned().collect(),
        };
        let duration = approval.duration_days.unwrap_or(row.duration_days);
        check_duration(duration)?;
        if duration > row.duration_days {
            return Err(Error::OutOfScope(
                "a grant cannot run longer than the department asked".into(),
            ));
        }
        let department = self.department_row(&row.department).await?;
        if department.disabled {
            return Err(Error::Conflict(
                "this department is disabled; it cannot receive grants now",
            ));
        }
        let activity = activity_version(&department, &row.activity_id, row.activity_version)?;
        let grant = self.issue_grant(
            resident,
            &department,
            activity,
            categories,
            duration,
            Some(row.id),
        )?;
        let decided = RequestRow {
            subject: RequestSubject::Resident { id: resident },
            state: RequestState::Approved,
            decided_at: Some(grant.issued_at),
            grant_id: Some(grant.id),
            ..row
        };
        if !self.store.decide_request(&decided, Some(&grant)).await? {
            return Err(Error::Conflict("this request has already been decided"));
        }
        let (actor, statement) = match witnessed {
            Some((coach, statement)) => (coach, Some(statement.to_string())),
            None => (self.resident_actor(resident), None),
        };
        let mut decision = self.grant_entry(
            Action::RequestDecision,
            Outcome::Approved,
            actor.clone(),
            &grant,
            activity,
        );
        decision.valid_from = None;
        decision.valid_until = None;
        let mut issued = self.grant_entry(Action::Grant, Outcome::Done, actor, &grant, activity);
        if let Some(statement) = statement {
            for entry in [&mut decision, &mut issued] {
                entry
                    .details
                    .insert("witness_statement".into(), statement.clone());
                if let Actor::Coach { id, .. } = &entry.actor {
                    entry.details.insert("coach".into(), id.clone());
                }
            }
        }
        self.audit.record(context, decision).await?;
        self.audit.record(context, issued).await?;
        self.grant_view(&grant).await
    }

    /// The resident declines a request.
    pub async fn decline(
        &self,
        context: &Context,
        resident: ResidentId,
        id: Uuid,
    ) -> Result<RequestView> {
        let row = self.own_request(resident, id).await?;
        if row.state != RequestState::Pending {
            return Err(Error::Conflict("this request has already been decided"));
        }
        let decided = RequestRow {
            subject: RequestSubject::Resident { id: resident },
            state: RequestState::Declined,
            decided_at: Some(self.clock.now()),
            ..row
        };
        if !self.store.decide_request(&decided, None).await? {
            return Err(Error::Conflict("this request has already been decided"));
        }
        let department = self.department_row(&decided.department).await?;
        let activity =
            activity_version(&department, &decided.activity_id, decided.activity_version)?;
        let mut entry = with_activity(
            Entry::new(
                Action::RequestDecision,
                Outcome::Declined,
                self.resident_actor(resident),
            ),
            &decided.department,
            activity,
        );
        entry.resident = Some(self.residents.audit_reference(resident));
        entry.request = Some(decided.id);
        entry.categories = decided.categories.clone();
        self.audit.record(context, entry).await?;
        self.resident_view(&decided).await
    }
}
