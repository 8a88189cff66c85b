//! "Controlepunt": the log's current checkpoint as a signed note to save, and a form to
//! check a note saved earlier. The check (signature, then a consistency proof from the
//! saved size to today's) is `Audit::check_saved_checkpoint`; this page says its answer
//! in words, with what to do when it fails.

use super::Officer;
use crate::audit::SavedCheckpoint;
use crate::http::extract::Ctx;
use crate::state::AppState;
use crate::web::{Page, read_form, render};
use askama::Template;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

/// The largest note the form takes (a note with a hundred cosignatures is under 20 KB).
const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The answer of a check, in words.
struct Verdict {
    good: bool,
    message: String,
}

#[derive(Template)]
#[template(path = "officer_checkpoint.html")]
struct CheckpointPage {
    page: Page,
    note: String,
    note_key: String,
    tree_size: u64,
    saved: String,
    verdict: Option<Verdict>,
}

async fn page(
    state: &AppState,
    context: &crate::audit::Context,
    officer: &Officer,
    saved: String,
    verdict: Option<Verdict>,
) -> Response {
    let texts = officer.texts;
    let mut page = officer.page(
        state,
        texts.get("officer.checkpoint_title"),
        "officer-checkpoint",
    );
    let status = page.answering(verdict.as_ref().is_some_and(|v| !v.good));
    match state.desk.checkpoint(context, &officer.actor()).await {
        Ok(view) => render(
            &CheckpointPage {
                page,
                note: view.note,
                note_key: view.note_key,
                tree_size: view.tree_size,
                saved,
                verdict,
            },
            status,
        ),
        Err(error) => officer.error(error),
    }
}

/// The current checkpoint and the form.
pub async fn show(State(state): State<AppState>, Ctx(context): Ctx, officer: Officer) -> Response {
    page(&state, &context, &officer, String::new(), None).await
}

/// Checks the pasted note, and shows the answer above the form.
pub async fn check(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    officer: Officer,
    request: Request,
) -> Response {
    let texts = officer.texts;
    let fields = match read_form(&state, &officer.session, texts, request).await {
        Ok(fields) => fields,
        Err(error) => return error.into_response(),
    };
    let saved = fields
        .iter()
        .find(|(k, _)| k == "saved")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let fill = |key: &str, values: &[(&str, &str)]| texts.fill(key, values);
    let verdict = if saved.trim().is_empty() {
        Verdict {
            good: false,
            message: texts.get("officer.check_empty").to_owned(),
        }
    } else if saved.len() > MAX_NOTE_BYTES {
        Verdict {
            good: false,
            message: texts.get("officer.check_too_long").to_owned(),
        }
    } else {
        let answer = match state
            .desk
            .check_saved_checkpoint(&context, &officer.actor(), &saved)
            .await
        {
            Ok(answer) => answer,
            Err(error) => return officer.error(error),
        };
        match answer {
            SavedCheckpoint::Consistent {
                saved_size,
                current_size,
                proof_hashes,
            } => Verdict {
                good: true,
                message: fill(
                    "officer.check_consistent",
                    &[
                        ("saved", &saved_size.to_string()),
                        ("current", &current_size.to_string()),
                        ("hashes", &proof_hashes.to_string()),
                    ],
                ),
            },
            SavedCheckpoint::Unreadable(_) => Verdict {
                good: false,
                message: texts.get("officer.check_unreadable").to_owned(),
            },
            SavedCheckpoint::NotSigned => Verdict {
                good: false,
                message: texts.get("officer.check_not_signed").to_owned(),
            },
            SavedCheckpoint::Shrunk {
                saved_size,
                current_size,
            } => Verdict {
                good: false,
                message: fill(
                    "officer.check_shrunk",
                    &[
                        ("saved", &saved_size.to_string()),
                        ("current", &current_size.to_string()),
                    ],
                ),
            },
            SavedCheckpoint::Rewritten { saved_size } => Verdict {
                good: false,
                message: fill(
                    "officer.check_rewritten",
                    &[("saved", &saved_size.to_string())],
                ),
            },
        }
    };
    let shown = if saved.len() > MAX_NOTE_BYTES {
        String::new()
    } else {
        saved
    };
    page(&state, &context, &officer, shown, Some(verdict)).await
}
