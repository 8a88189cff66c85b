//! Looking along over the JSON API: the resident's look-alongs, proposals and witness
//! statements (`/v1/me/...`, a resident's bearer token), and the coach's side
//! (`/v1/coach/...`, the bearer token of a coach's staff login). The same rules as the
//! pages: `coaching` decides and logs.

use super::extract::{ApiJson, ApiPath, CoachAuth, Ctx, ResidentAuth};
use crate::auth::coaches::Coaches;
use crate::coaching::{Choice, Coaching, Length, Via};
use crate::store::LookAlongRow;
use crate::{Error, Result};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kluis_proto::coaching::{
    CoachRef, CodeView, LookAlongView, NewLookAlong, NewProposal, ProposalMade, ProposalView,
    StatementView, WitnessApproval,
};
use kluis_proto::records::Record;
use uuid::Uuid;

async fn view(row: LookAlongRow, coaches: Option<&Coaches>) -> Result<LookAlongView> {
    let coach = match coaches {
        Some(coaches) => coaches.get(&row.coach).await?.map(|c| CoachRef {
            id: c.id,
            name: c.name,
            department: c.department,
        }),
        None => None,
    };
    Ok(LookAlongView {
        id: row.id,
        coach,
        categories: row.categories,
        may_propose: row.may_propose,
        may_see_schemes: row.may_see_schemes,
        started_at: row.started_at,
        ends_at: row.ends_at,
        help: row.help.and_then(|h| {
            serde_json::to_value(h.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        }),
    })
}

/// The coaches who look along now.
pub async fn look_alongs(
    auth: ResidentAuth,
    State(coaching): State<Coaching>,
) -> Result<Json<Vec<LookAlongView>>> {
    let mut out = Vec::new();
    for row in coaching.of_resident(auth.resident).await? {
        out.push(view(row, Some(coaching.coaches())).await?);
    }
    Ok(Json(out))
}

/// Lets a coach look along, by their code or as a coach from before.
pub async fn start(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(coaching): State<Coaching>,
    ApiJson(new): ApiJson<NewLookAlong>,
) -> Result<(StatusCode, Json<LookAlongView>)> {
    let via = match (new.code, new.coach) {
        (Some(code), None) => Via::Code(code),
        (None, Some(coach)) => Via::Earlier(coach),
        _ => {
            return Err(Error::InvalidParameter(
                "give either `code` (the coach's code) or `coach` (a coach from before)".into(),
            ));
        }
    };
    let choice = Choice {
        via,
        categories: new.categories,
        length: new.until.map_or(Length::Conversation, Length::Until),
        may_propose: new.may_propose,
        may_see_schemes: new.may_see_schemes,
    };
    let row = coaching.start(&context, auth.resident, &choice).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(row, Some(coaching.coaches())).await?),
    ))
}

/// Ends a look-along at once.
pub async fn end(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(coaching): State<Coaching>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    coaching.end(&context, auth.resident, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The open proposals, each with the record as it is and as proposed.
pub async fn proposals(
    auth: ResidentAuth,
    State(coaching): State<Coaching>,
) -> Result<Json<Vec<ProposalView>>> {
    let mut out = Vec::new();
    for row in coaching.open_proposals(auth.resident).await? {
        let p = coaching.proposal(auth.resident, row.id).await?;
        out.push(ProposalView {
            id: p.row.id,
            coach: CoachRef {
                id: p.coach.id,
                name: p.coach.name,
                department: p.coach.department,
            },
            category: p.row.category,
            base_version: p.row.base_version,
            current: p.current.map_or(serde_json::Value::Null, |r| r.data),
            proposed: p.proposed,
            expires_at: p.row.expires_at,
        });
    }
    Ok(Json(out))
}

/// Takes a proposal over as the resident's own new version.
pub async fn confirm(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(coaching): State<Coaching>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    coaching.confirm(&context, auth.resident, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Declines a proposal.
pub async fn decline(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(coaching): State<Coaching>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    coaching.decline(&context, auth.resident, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn statement(row: crate::store::WitnessRow) -> StatementView {
    StatementView {
        id: row.id,
        coach: row.coach,
        request: row.request,
        grant: row.grant,
        department: row.department,
        categories: row.categories,
        channel: row.channel,
        recorded_at: row.recorded_at,
    }
}

/// The witness statements not answered yet.
pub async fn statements(
    auth: ResidentAuth,
    State(coaching): State<Coaching>,
) -> Result<Json<Vec<StatementView>>> {
    Ok(Json(
        coaching
            .open_statements(auth.resident)
            .await?
            .into_iter()
            .map(statement)
            .collect(),
    ))
}

/// "Dit klopt" (`confirm`) or "Dit klopt niet" (`dispute`: the grant is revoked).
pub async fn answer(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(coaching): State<Coaching>,
    ApiPath((id, answer)): ApiPath<(Uuid, String)>,
) -> Result<StatusCode> {
    let correct = match answer.as_str() {
        "confirm" => true,
        "dispute" => false,
        _ => return Err(Error::NotFound("answer")),
    };
    coaching
        .answer_statement(&context, auth.resident, id, correct)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time code to show a resident.
pub async fn code(
    CoachAuth(coach): CoachAuth,
    State(coaching): State<Coaching>,
) -> Result<(StatusCode, Json<CodeView>)> {
    let (code, expires_at) = coaching.issue_code(&coach).await?;
    Ok((StatusCode::CREATED, Json(CodeView { code, expires_at })))
}

/// The residents who let the coach look along now, help signals first.
pub async fn residents(
    CoachAuth(coach): CoachAuth,
    State(coaching): State<Coaching>,
) -> Result<Json<Vec<LookAlongView>>> {
    let mut out = Vec::new();
    for row in coaching.of_coach(&coach).await? {
        out.push(view(row, None).await?);
    }
    Ok(Json(out))
}

/// One allowed part of a resident's vault (logged as the coach's look).
pub async fn record(
    Ctx(context): Ctx,
    CoachAuth(coach): CoachAuth,
    State(coaching): State<Coaching>,
    ApiPath((id, category)): ApiPath<(Uuid, String)>,
) -> Result<Json<Record>> {
    coaching
        .view(&context, &coach, id, &category)
        .await?
        .1
        .map(Json)
        .ok_or(Error::NotFound("record"))
}

/// Proposes a change to an allowed part.
pub async fn propose(
    Ctx(context): Ctx,
    CoachAuth(coach): CoachAuth,
    State(coaching): State<Coaching>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewProposal>,
) -> Result<(StatusCode, Json<ProposalMade>)> {
    let row = coaching
        .propose(
            &context,
            &coach,
            id,
            &new.category,
            new.base_version,
            &new.data,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProposalMade {
            id: row.id,
            category: row.category,
            expires_at: row.expires_at,
        }),
    ))
}

/// Approves a pending request on the resident's behalf, with a witness statement.
pub async fn witness(
    Ctx(context): Ctx,
    CoachAuth(coach): CoachAuth,
    State(coaching): State<Coaching>,
    ApiPath((id, request)): ApiPath<(Uuid, Uuid)>,
    ApiJson(approval): ApiJson<WitnessApproval>,
) -> Result<(StatusCode, Json<StatementView>)> {
    if !approval.resident_said_yes {
        return Err(Error::InvalidParameter(
            "record a statement only when the resident said yes to this exact request".into(),
        ));
    }
    let row = coaching
        .approve_as_witness(&context, &coach, (id, request), approval.channel)
        .await?;
    Ok((StatusCode::CREATED, Json(statement(row))))
}
