//! Scheme suggestions over the resident's own JSON API: `/v1/me/schemes` (evaluated in
//! the vault on each call, one receipt each), hiding and showing one, applying (a share
//! with the scheme's department), and the proactive-services preference.

use super::extract::{ApiJson, ApiPath, Ctx, ResidentAuth};
use crate::language::{Language, Texts};
use crate::schemes::facts::info;
use crate::schemes::rules::{Apply, Outcome};
use crate::schemes::words::Filler;
use crate::schemes::{Schemes, Suggestion};
use crate::{Error, Result};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Datelike;
use kluis_proto::consent::GrantView;
use kluis_proto::schemes::{ApproachChoice, HowToApply, SchemeOutcome, SchemeView};

/// Every scheme in force, as it stands for me.
pub async fn list(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(schemes): State<Schemes>,
) -> Result<Json<Vec<SchemeView>>> {
    let evaluation = schemes.evaluate(&context, auth.resident).await?;
    let year = schemes.today().year();
    let views = evaluation
        .suggestions
        .iter()
        .map(|s| {
            let filler = Filler {
                suggestion: s,
                facts: &evaluation.facts,
                rules: schemes.rules(),
                year,
            };
            view(s, &filler)
        })
        .collect();
    Ok(Json(views))
}

fn view(s: &Suggestion, filler: &Filler<'_>) -> SchemeView {
    let (nl, en) = (
        Texts {
            language: Language::Nl,
        },
        Texts {
            language: Language::En,
        },
    );
    let may_fit = s.outcome == Outcome::MayFit;
    let mut to_fill: Vec<String> = match &s.outcome {
        Outcome::CannotTell(missing) => missing
            .iter()
            .filter_map(|fact| info(fact).map(|f| f.category.to_owned()))
            .collect(),
        _ => Vec::new(),
    };
    to_fill.dedup();
    SchemeView {
        id: s.scheme.id.clone(),
        title_nl: s.scheme.title.nl.clone(),
        title_en: s.scheme.title.en.clone(),
        national: s.scheme.national,
        outcome: match s.outcome {
            Outcome::MayFit => SchemeOutcome::MayFit,
            Outcome::DoesNotFit => SchemeOutcome::DoesNotFit,
            Outcome::CannotTell(_) => SchemeOutcome::CannotTell,
        },
        hidden: s.hidden,
        why_nl: if may_fit { filler.why(nl) } else { Vec::new() },
        why_en: if may_fit { filler.why(en) } else { Vec::new() },
        to_fill,
        apply: match &s.scheme.apply {
            Apply::Share {
                department,
                activity,
                shares,
            } => HowToApply::Share {
                department: department.clone(),
                processing_activity: activity.clone(),
                categories: shares.clone(),
            },
            Apply::Link { url } => HowToApply::Link { url: url.clone() },
        },
    }
}

/// Applies for a scheme: shares what it needs with its department.
pub async fn apply(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(schemes): State<Schemes>,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<GrantView>)> {
    let grant = schemes.apply(&context, auth.resident, &id).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// "Niet voor mij".
pub async fn hide(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(schemes): State<Schemes>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    schemes.hide(&context, auth.resident, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Shows a hidden scheme again.
pub async fn unhide(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(schemes): State<Schemes>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    schemes.unhide(&context, auth.resident, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether the municipality may approach me.
pub async fn approach(
    auth: ResidentAuth,
    State(schemes): State<Schemes>,
) -> Result<Json<ApproachChoice>> {
    Ok(Json(ApproachChoice {
        may_approach: schemes.approach(auth.resident).await?,
    }))
}

/// Records whether the municipality may approach me.
pub async fn set_approach(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(schemes): State<Schemes>,
    ApiJson(choice): ApiJson<ApproachChoice>,
) -> Result<Json<ApproachChoice>> {
    let may = choice.may_approach.ok_or_else(|| {
        Error::InvalidParameter(
            "may_approach is true or false, such as {\"may_approach\": true}".into(),
        )
    })?;
    schemes.set_approach(&context, auth.resident, may).await?;
    Ok(Json(ApproachChoice {
        may_approach: Some(may),
    }))
}
