//! Where a resident's case stands ("Waar sta ik?"): per department, the steps so far (it
//! asked, the resident decided or shared, it looked) and the status updates the
//! department posted under a grant it holds, and the open actions that follow from them.
//!
//! A department posts a status as a kind from a fixed list with its few facts
//! (`kluis_proto::cases::CaseStatus`); the resident reads it in the vault's own plain
//! words, never in the department's. Each posted status is logged.

use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::audit::{Audit, Context};
use crate::auth::departments::DepartmentPrincipal;
use crate::clock::Clock;
use crate::consent::Consent;
use crate::consent::{access, activity_version};
use crate::residents::{ResidentId, Residents};
use crate::store::{CaseStatusRow, CaseStore, GrantRow, RecordChange};
use crate::{Error, Result};
use chrono::{DateTime, NaiveDate, Utc};
use kluis_proto::cases::{CaseStatus, CaseStatusView, Contact, NewCaseStatus};
use kluis_proto::consent::{DepartmentRef, GrantState};
use std::sync::Arc;
use uuid::Uuid;

/// The most statuses a department may post under one grant (more would bury the
/// resident's page).
pub const MAX_STATUSES_PER_GRANT: usize = 50;

/// The case-status service.
#[derive(Clone)]
pub struct Cases {
    store: Arc<dyn CaseStore>,
    consent: Consent,
    residents: Residents,
    audit: Arc<Audit>,
    clock: Clock,
}

/// One step of a case, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The department asked for access.
    Asked,
    /// The resident said yes (all or part).
    Approved,
    /// The resident said no.
    Declined,
    /// The resident shared on their own initiative.
    Shared,
    /// The department looked at the resident's information.
    Read,
    /// The resident withdrew the permission.
    Revoked,
    /// The department posted a status.
    Status(CaseStatus),
}

/// A case: one department's dealings with the resident.
#[derive(Clone, Debug)]
pub struct Case {
    /// The department.
    pub department: DepartmentRef,
    /// The steps, each with when it happened, oldest first.
    pub steps: Vec<(DateTime<Utc>, Step)>,
    /// The latest contact line the department gave.
    pub contact: Option<Contact>,
}

/// Something the resident should do, for the home page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenAction {
    /// Requests wait for an answer.
    AnswerRequests(usize),
    /// A department asked for this category (not updated since).
    Complete {
        /// The department's name.
        department: String,
        /// The category id.
        category: String,
    },
    /// There is news about a case the resident has not seen.
    News(usize),
}

impl Cases {
    /// The service.
    pub fn new(
        store: Arc<dyn CaseStore>,
        consent: Consent,
        residents: Residents,
        audit: Arc<Audit>,
        clock: Clock,
    ) -> Cases {
        Cases {
            store,
            consent,
            residents,
            audit,
            clock,
        }
    }

    /// A department posts a status under grant `id`, which it must hold and which must be
    /// in force; the status is checked, stored and logged.
    pub async fn post(
        &self,
        context: &Context,
        department: &DepartmentPrincipal,
        id: Uuid,
        new: &NewCaseStatus,
    ) -> Result<CaseStatusView> {
        let grant = self.consent.held_grant(department, id).await?;
        match access::state(&grant, self.clock.now()) {
            // A pause stops reads, not telling the resident where their case stands.
            GrantState::Active | GrantState::Paused => {}
            GrantState::Revoked => return Err(Error::GrantRevoked),
            GrantState::Expired => return Err(Error::GrantExpired),
            GrantState::NotYetValid => return Err(Error::GrantNotYetValid),
        }
        self.check(&new.status, &grant, department)?;
        if let Some(contact) = &new.contact {
            check_contact(contact)?;
        }
        let posted = self.store.case_statuses_of_resident(grant.resident).await?;
        if posted.iter().filter(|s| s.grant == grant.id).count() >= MAX_STATUSES_PER_GRANT {
            return Err(Error::Conflict(
                "this grant holds as many statuses as it may; the resident reads them all",
            ));
        }
        let row = CaseStatusRow {
            id: Uuid::new_v4(),
            grant: grant.id,
            department: department.id().to_owned(),
            resident: grant.resident,
            status: new.status.clone(),
            contact: new.contact.clone(),
            posted_at: self.clock.now(),
            seen_at: None,
        };
        let mut entry = Entry::new(
            Action::CaseStatus,
            Outcome::Done,
            Actor::Department {
                id: department.id().to_owned(),
            },
        );
        entry.department = Some(department.id().to_owned());
        entry.grant = Some(grant.id);
        entry.resident = Some(self.residents.audit_reference(grant.resident));
        entry
            .details
            .insert("kind".into(), new.status.kind().into());
        if let CaseStatus::MoreInformationNeeded { categories } = &new.status {
            entry.categories = categories.clone();
        }
        // The status and its entry are stored together, or neither.
        self.audit
            .record_change(context, entry, RecordChange::AddCaseStatus(row.clone()))
            .await?;
        Ok(view(&row))
    }

    /// Checks a status's facts: dates in range, a short place, a time of day, categories of
    /// the grant's activity.
    fn check(
        &self,
        status: &CaseStatus,
        grant: &GrantRow,
        department: &DepartmentPrincipal,
    ) -> Result<()> {
        let today = self.clock.now().date_naive();
        let day = |date: &NaiveDate| {
            if *date < today {
                Err(Error::InvalidParameter(
                    "a date must be today or later, such as the day of the appointment".into(),
                ))
            } else if chrono::Datelike::year(date) > 2100 {
                Err(Error::InvalidParameter(
                    "a date must lie before the year 2101".into(),
                ))
            } else {
                Ok(())
            }
        };
        match status {
            CaseStatus::Received | CaseStatus::DecisionMade => Ok(()),
            CaseStatus::DecisionExpected { by } => day(by),
            CaseStatus::AppointmentPlanned { date, time, place } => {
                day(date)?;
                if let Some(time) = time
                    && chrono::NaiveTime::parse_from_str(time, "%H:%M").is_err()
                {
                    return Err(Error::InvalidParameter(
                        "time is the time of day as HH:MM, such as 09:30".into(),
                    ));
                }
                short_text(place, "place")
            }
            CaseStatus::MoreInformationNeeded { categories } => {
                if categories.is_empty() {
                    return Err(Error::InvalidParameter(
                        "name at least one category the resident should fill in".into(),
                    ));
                }
                // The version the grant was given under: what the resident agreed to.
                let allowed =
                    &activity_version(&department.row, &grant.activity_id, grant.activity_version)?
                        .categories;
                for (i, category) in categories.iter().enumerate() {
                    if categories[..i].contains(category) {
                        return Err(Error::InvalidParameter(format!(
                            "name each category once; {category} is named twice"
                        )));
                    }
                    self.residents.catalogue().get(category)?;
                    if !allowed.contains(category) {
                        return Err(Error::OutOfScope(format!(
                            "{category} is not among the categories of this grant's processing activity"
                        )));
                    }
                }
                Ok(())
            }
        }
    }

    /// The resident's cases: every department that asked or was shared with, with its
    /// steps, newest department activity last.
    pub async fn of_resident(&self, resident: ResidentId) -> Result<Vec<Case>> {
        let reference = self.residents.audit_reference(resident);
        let entries = self.audit.about_resident(&reference).await?;
        let names = self.consent.department_names().await?;
        let mut cases: Vec<Case> = Vec::new();
        let case_of = |cases: &mut Vec<Case>, id: &str| -> usize {
            if let Some(at) = cases.iter().position(|c| c.department.id == id) {
                return at;
            }
            cases.push(Case {
                department: DepartmentRef {
                    id: id.to_owned(),
                    name: names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
                    privacy_officer: String::new(),
                },
                steps: Vec::new(),
                contact: None,
            });
            cases.len() - 1
        };
        for entry in &entries {
            let Some(department) = &entry.department else {
                continue;
            };
            let step = match (entry.action, entry.outcome) {
                (Action::AccessRequest, _) => Step::Asked,
                (Action::RequestDecision, Outcome::Declined) => Step::Declined,
                (Action::RequestDecision, _) => Step::Approved,
                (Action::Grant, _) if entry.request.is_none() => Step::Shared,
                (Action::Read, Outcome::Allowed) => Step::Read,
                (Action::Revocation, _) => Step::Revoked,
                _ => continue,
            };
            let at = case_of(&mut cases, department);
            let steps = &mut cases[at].steps;
            // Many reads are one step: "they looked", at the last time.
            if step == Step::Read
                && let Some((when, Step::Read)) = steps.last_mut()
            {
                *when = entry.time;
                continue;
            }
            steps.push((entry.time, step));
        }
        for status in self.store.case_statuses_of_resident(resident).await? {
            let at = case_of(&mut cases, &status.department);
            cases[at]
                .steps
                .push((status.posted_at, Step::Status(status.status)));
            if status.contact.is_some() {
                cases[at].contact = status.contact;
            }
        }
        for case in &mut cases {
            case.steps.sort_by_key(|(when, _)| *when);
        }
        Ok(cases)
    }

    /// What the resident should do now: requests to answer, information a department
    /// asked for (until that category is updated), news not seen yet.
    pub async fn open_actions(&self, resident: ResidentId) -> Result<Vec<OpenAction>> {
        let mut actions = Vec::new();
        let requests = self.consent.resident_requests(resident, false).await?.len();
        if requests > 0 {
            actions.push(OpenAction::AnswerRequests(requests));
        }
        let statuses = self.store.case_statuses_of_resident(resident).await?;
        let records = self.residents.overview(resident).await?;
        let names = self.consent.department_names().await?;
        // A request for information ends with the grant it came under.
        let in_force: Vec<Uuid> = self
            .consent
            .resident_grants(resident)
            .await?
            .iter()
            .filter(|g| g.state == GrantState::Active)
            .map(|g| g.id)
            .collect();
        for status in &statuses {
            let CaseStatus::MoreInformationNeeded { categories } = &status.status else {
                continue;
            };
            if !in_force.contains(&status.grant) {
                continue;
            }
            for category in categories {
                let updated = records
                    .iter()
                    .any(|r| &r.category == category && r.updated_at > status.posted_at);
                let action = OpenAction::Complete {
                    department: names
                        .get(&status.department)
                        .cloned()
                        .unwrap_or_else(|| status.department.clone()),
                    category: category.clone(),
                };
                if !updated && !actions.contains(&action) {
                    actions.push(action);
                }
            }
        }
        let unseen = statuses.iter().filter(|s| s.seen_at.is_none()).count();
        if unseen > 0 {
            actions.push(OpenAction::News(unseen));
        }
        Ok(actions)
    }

    /// The resident was shown `cases`: the statuses in them are no longer news (one
    /// posted since is).
    pub async fn seen(&self, resident: ResidentId, cases: &[Case]) -> Result<()> {
        let newest = cases
            .iter()
            .flat_map(|case| &case.steps)
            .filter(|(_, step)| matches!(step, Step::Status(_)))
            .map(|(at, _)| *at)
            .max();
        if let Some(shown) = newest {
            self.store
                .mark_case_statuses_seen(resident, shown, self.clock.now())
                .await?;
        }
        Ok(())
    }
}

fn view(row: &CaseStatusRow) -> CaseStatusView {
    CaseStatusView {
        id: row.id,
        grant: row.grant,
        department: row.department.clone(),
        status: row.status.clone(),
        contact: row.contact.clone(),
        posted_at: row.posted_at,
    }
}

/// A short, printable text: 1 to 100 characters, no control characters.
/// Whether `c` is invisible or turns text around (controls, zero-width and direction
/// marks, line separators): such characters could make a place read as something else.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}')
}

fn short_text(text: &str, what: &str) -> Result<()> {
    if text.trim().is_empty() || text.chars().count() > 100 || text.chars().any(is_hidden) {
        return Err(Error::InvalidParameter(format!(
            "{what} is 1 to 100 characters of plain text"
        )));
    }
    Ok(())
}

fn check_contact(contact: &Contact) -> Result<()> {
    if let Some(phone) = &contact.phone {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        let plain = phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-'));
        if !plain || !(3..=15).contains(&digits) {
            return Err(Error::InvalidParameter(
                "phone is a phone number of digits, spaces, + and -, such as 14 078".into(),
            ));
        }
    }
    if let Some(desk) = &contact.desk {
        short_text(desk, "desk")?;
    }
    if contact.phone.is_none() && contact.desk.is_none() {
        return Err(Error::InvalidParameter(
            "a contact has a phone number, a desk, or both".into(),
        ));
    }
    Ok(())
}
