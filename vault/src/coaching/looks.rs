//! What a coach may open: the look-along must be theirs and in force, and name what they
//! open. Every look is an audit entry with the coach's id, department and staff login,
//! about the resident; every refused try about a real look-along is one too.

use super::Coaching;
use crate::audit::Context;
use crate::audit::entry::{Action, Outcome};
use crate::auth::coaches::{CoachPrincipal, actor};
use crate::residents::ResidentId;
use crate::store::{CoachRow, LookAlongRow};
use crate::{Error, Result};
use kluis_proto::consent::RequestView;
use kluis_proto::records::Record;
use uuid::Uuid;

/// Whether every category of `request` is one the look-along names.
fn within(row: &LookAlongRow, request: &RequestView) -> bool {
    request
        .categories
        .iter()
        .all(|c| row.categories.contains(&c.id))
}

impl Coaching {
    /// What coach `coach` may open of look-along `id`: the look-along, if it is theirs and
    /// in force, with the coach's register entry. Anything else is refused, and a refusal
    /// about a real look-along is logged about its resident.
    pub async fn open(
        &self,
        context: &Context,
        coach: &CoachPrincipal,
        id: Uuid,
    ) -> Result<(LookAlongRow, CoachRow)> {
        let me = self.coaches.current(&coach.id).await?;
        let Some(row) = self.store.look_along(id).await? else {
            return Err(Error::NotFound("look-along"));
        };
        if row.coach != me.id || !self.in_force(&row) {
            self.refusal(context, &me, &row, None, "look_along_not_in_force")
                .await?;
            return Err(Error::Forbidden(
                "this resident does not let you look along (any more)",
            ));
        }
        Ok((row, me))
    }

    /// Logs a refused look by `coach` at `row` (a category, or the resident's page).
    pub(super) async fn refusal(
        &self,
        context: &Context,
        coach: &CoachRow,
        row: &LookAlongRow,
        category: Option<&str>,
        reason: &str,
    ) -> Result<()> {
        let mut entry = self.entry(
            Action::CoachView,
            Outcome::Refused,
            actor(coach),
            row.resident,
            coach,
        );
        entry.reason = Some(reason.to_owned());
        entry.categories = category.map(str::to_owned).into_iter().collect();
        entry
            .details
            .insert("look_along".into(), row.id.to_string());
        self.log(context, entry).await
    }

    /// Logs an allowed look by `coach` at `row`: a category, or a `page` of the resident.
    async fn look(
        &self,
        context: &Context,
        coach: &CoachRow,
        row: &LookAlongRow,
        (category, page): (Option<&str>, Option<&str>),
    ) -> Result<()> {
        let mut entry = self.entry(
            Action::CoachView,
            Outcome::Allowed,
            actor(coach),
            row.resident,
            coach,
        );
        entry.categories = category.map(str::to_owned).into_iter().collect();
        entry
            .details
            .insert("look_along".into(), row.id.to_string());
        if let Some(page) = page {
            entry.details.insert("page".into(), page.to_owned());
        }
        // Fail closed: no durable entry, no data.
        self.log(context, entry).await
    }

    /// Coach `coach` looks at category `category` of look-along `id`: the look-along and
    /// the current record (`None` when the resident has not filled it in), logged. A
    /// category not allowed is refused and logged.
    pub async fn view(
        &self,
        context: &Context,
        coach: &CoachPrincipal,
        id: Uuid,
        category: &str,
    ) -> Result<(LookAlongRow, Option<Record>)> {
        let (row, me) = self.open(context, coach, id).await?;
        self.residents.catalogue().get(category)?;
        if !row.categories.iter().any(|c| c == category) {
            self.refusal(context, &me, &row, Some(category), "category_not_allowed")
                .await?;
            return Err(Error::Forbidden(
                "the resident did not let you see this part",
            ));
        }
        self.look(context, &me, &row, (Some(category), None))
            .await?;
        let record = match self.residents.read(row.resident, category, None).await {
            Ok(record) => Some(record),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok((row, record))
    }

    /// Like [`Coaching::view`], for a coach about to propose a change: refused (and
    /// logged) unless the resident lets the coach propose.
    pub async fn view_to_propose(
        &self,
        context: &Context,
        coach: &CoachPrincipal,
        id: Uuid,
        category: &str,
    ) -> Result<(LookAlongRow, Option<Record>)> {
        let (row, me) = self.open(context, coach, id).await?;
        if !row.may_propose {
            self.refusal(context, &me, &row, Some(category), "proposals_not_allowed")
                .await?;
            return Err(Error::Forbidden(
                "the resident did not let you propose changes",
            ));
        }
        self.view(context, coach, id, category).await
    }

    /// Coach `coach` opens the page of look-along `id` (the allowed parts, without their
    /// contents, and the requests within them): logged as a look at the resident.
    pub async fn look_at_resident(
        &self,
        context: &Context,
        coach: &CoachPrincipal,
        id: Uuid,
    ) -> Result<(LookAlongRow, Vec<RequestView>)> {
        let (row, me) = self.open(context, coach, id).await?;
        self.look(context, &me, &row, (None, Some("overview")))
            .await?;
        let requests = self
            .consent
            .resident_requests(row.resident, false)
            .await?
            .into_iter()
            .filter(|r| within(&row, r))
            .collect();
        Ok((row, requests))
    }

    /// Coach `coach` opens a pending request of look-along `id`'s resident, to approve it
    /// on a witness statement: only one within the parts the resident lets them see;
    /// logged.
    pub async fn look_at_request(
        &self,
        context: &Context,
        coach: &CoachPrincipal,
        (id, request): (Uuid, Uuid),
    ) -> Result<(LookAlongRow, CoachRow, RequestView)> {
        let (row, me) = self.open(context, coach, id).await?;
        let view = self.consent.resident_request(row.resident, request).await?;
        if !within(&row, &view) {
            self.refusal(context, &me, &row, None, "request_outside_look_along")
                .await?;
            return Err(Error::Forbidden(
                "this request asks for parts the resident did not let you see",
            ));
        }
        self.look(context, &me, &row, (None, Some("request")))
            .await?;
        Ok((row, me, view))
    }

    /// Coach `coach` asks for the scheme suggestions of look-along `id`'s resident: the
    /// resident, if they let the coach see them (logged as a look); refused and logged if
    /// not.
    pub async fn look_at_schemes(
        &self,
        context: &Context,
        coach: &CoachPrincipal,
        id: Uuid,
    ) -> Result<ResidentId> {
        let (row, me) = self.open(context, coach, id).await?;
        if !row.may_see_schemes {
            self.refusal(context, &me, &row, None, "schemes_not_allowed")
                .await?;
            return Err(Error::Forbidden(
                "the resident did not let you see their scheme suggestions",
            ));
        }
        self.look(context, &me, &row, (None, Some("schemes")))
            .await?;
        Ok(row.resident)
    }
}
