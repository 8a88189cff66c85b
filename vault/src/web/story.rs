//! "Mijn verhaal": a readable, printable summary of the resident's situation to take to
//! an appointment: every filled-in part in words and euros, with its totals, and who may
//! see what. The same page downloads as one HTML file that prints without the vault.

use super::records::{Block, blocks_of};
use super::{OrPage, Page, PortalError, Resident, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kluis_proto::consent::GrantState;

/// One filled-in part of the vault.
pub struct Chapter {
    /// Its label, such as "Mijn inkomen".
    pub title: String,
    /// When it was last filled in.
    pub changed: String,
    /// A department fills it in, not the resident.
    pub kept: bool,
    /// What it says.
    pub blocks: Vec<Block>,
}

/// A department that may see part of the vault now.
pub struct Sharing {
    /// Who.
    pub department: String,
    /// Until when.
    pub until: String,
    /// What, by label.
    pub labels: Vec<String>,
}

/// The story, for the page and for the file.
pub struct Story {
    /// The day it was made, in words.
    pub made_on: String,
    /// Every filled-in part, in the catalogue's order.
    pub chapters: Vec<Chapter>,
    /// Who may see what now.
    pub sharing: Vec<Sharing>,
}

#[derive(Template)]
#[template(path = "story.html")]
struct StoryPage {
    page: Page,
    story: Story,
}

#[derive(Template)]
#[template(path = "story_file.html")]
struct StoryFile {
    page: Page,
    story: Story,
}

async fn story(state: &AppState, me: &Resident) -> Result<Story, PortalError> {
    let t = me.texts;
    let stored: Vec<String> = state
        .residents
        .overview(me.id)
        .await
        .or_page(t)?
        .into_iter()
        .map(|s| s.category)
        .collect();
    let records = state
        .residents
        .read_current(me.id, &stored)
        .await
        .or_page(t)?;
    let mut chapters = Vec::new();
    for category in state.residents.catalogue().iter() {
        let Some(record) = records.iter().find(|r| r.category == category.info.id) else {
            continue;
        };
        chapters.push(Chapter {
            title: category.label(t.language).to_owned(),
            changed: t.fill(
                "overview.changed_on",
                &[("date", &t.date(record.created_at))],
            ),
            kept: category.kept_by_department(),
            blocks: blocks_of(&category.fields, &record.data, t),
        });
    }
    let sharing = state
        .consent
        .resident_grants(me.id)
        .await
        .or_page(t)?
        .into_iter()
        .filter(|g| g.state == GrantState::Active)
        .map(|g| Sharing {
            department: g.department.name,
            until: t.date(g.expires_at),
            labels: g
                .categories
                .into_iter()
                .map(|c| t.language.pick(c.label_nl, c.label_en))
                .collect(),
        })
        .collect();
    Ok(Story {
        made_on: t.fill("my_story.made_on", &[("date", &t.date(state.clock.now()))]),
        chapters,
        sharing,
    })
}

/// The story as a page of the portal, ready to print.
pub async fn page(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    let story = story(&state, &me).await?;
    Ok(render(
        &StoryPage {
            page: me.page(&state, me.texts.get("my_story.title"), "account"),
            story,
        },
        StatusCode::OK,
    ))
}

/// The story as one HTML file with its own print style: it opens and prints anywhere.
pub async fn download(
    State(state): State<AppState>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    me.form(&state, request).await?;
    let story = story(&state, &me).await?;
    let file = StoryFile {
        page: me.page(&state, me.texts.get("my_story.title"), "account"),
        story,
    };
    let html = file
        .render()
        .map_err(|e| crate::Error::Internal(format!("story file: {e}")))
        .or_page(me.texts)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"mijn-verhaal.html\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}
