//! Coaches: staff members who look along with residents who let them in.
//!
//! The operator keeps the list (`kluis coach add|list|remove`): each coach has an id, a
//! name residents see, the department under whose responsibility they look, and the staff
//! login (provider and subject) that makes them this coach. A staff login matches a coach
//! only while the coach is on the list; removing a coach ends their sessions' use at the
//! next page (every coach page checks the list), and an id is never given to another login
//! or department, so an old session can never come back as someone else. Every change is
//! logged.

use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::audit::{Audit, Context};
use crate::clock::Clock;
use crate::store::{CoachRow, CoachStore, DepartmentStore};
use crate::{Error, Result};
use std::sync::Arc;

/// A logged-in coach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoachPrincipal {
    /// Their coach id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their department.
    pub department: String,
}

/// A coach to register.
#[derive(Clone, Debug)]
pub struct NewCoach<'a> {
    /// Their id.
    pub id: &'a str,
    /// Their name.
    pub name: &'a str,
    /// Their department (registered).
    pub department: &'a str,
    /// The staff provider they log in with.
    pub provider: &'a str,
    /// Their subject there.
    pub subject: &'a str,
}

/// The coach register.
#[derive(Clone)]
pub struct Coaches {
    store: Arc<dyn CoachStore>,
    departments: Arc<dyn DepartmentStore>,
    audit: Arc<Audit>,
    clock: Clock,
}

impl Coaches {
    /// The register over `store`, checking departments in `departments`, logging to
    /// `audit`.
    pub fn new(
        store: Arc<dyn CoachStore>,
        departments: Arc<dyn DepartmentStore>,
        audit: Arc<Audit>,
        clock: Clock,
    ) -> Coaches {
        Coaches {
            store,
            departments,
            audit,
            clock,
        }
    }

    /// Every coach, removed ones too.
    pub async fn list(&self) -> Result<Vec<CoachRow>> {
        Ok(self.store.coaches().await?)
    }

    /// Registers a coach, or changes the name of one registered with the same login and
    /// department. A removed coach's id is never given out again.
    pub async fn add(&self, new: &NewCoach<'_>) -> Result<CoachRow> {
        let invalid = |why: &str| Err(Error::InvalidParameter(why.into()));
        if !crate::ids::is_id(new.id) {
            return invalid("a coach id is 2 to 64 lowercase letters, digits or dashes");
        }
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return invalid("a coach's name is 1 to 100 characters, without control characters");
        }
        if !crate::ids::is_id(new.provider) {
            return invalid("the provider is the name of a staff [[oidc]] provider");
        }
        let subject = new.subject.trim();
        if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
            return invalid(
                "the subject is the coach's `sub` at the staff provider (1 to 255 characters)",
            );
        }
        match self.departments.department(new.department).await? {
            Some(_) => {}
            None => {
                return Err(Error::InvalidParameter(
                    "the department is not registered; `kluis department list` shows them".into(),
                ));
            }
        }
        let coaches = self.store.coaches().await?;
        if let Some(old) = coaches.iter().find(|c| c.id == new.id) {
            // An id stays with one person and one department: sessions and look-alongs
            // name the id, and residents chose that person.
            if old.removed_at.is_some() {
                return Err(Error::Conflict(
                    "this id belonged to a removed coach; give the coach a new id",
                ));
            }
            if (
                old.provider.as_str(),
                old.subject.as_str(),
                old.department.as_str(),
            ) != (new.provider, subject, new.department)
            {
                return Err(Error::Conflict(
                    "this coach is registered with another login or department; remove them and add them under a new id",
                ));
            }
        }
        let taken = coaches.iter().any(|c| {
            c.id != new.id
                && c.removed_at.is_none()
                && c.provider == new.provider
                && c.subject == subject
        });
        if taken {
            return Err(Error::Conflict(
                "another coach already has this staff login; remove that coach first",
            ));
        }
        let row = CoachRow {
            id: new.id.to_owned(),
            name: name.to_owned(),
            department: new.department.to_owned(),
            provider: new.provider.to_owned(),
            subject: subject.to_owned(),
            created_at: self.clock.now(),
            removed_at: None,
        };
        self.store.put_coach(&row).await?;
        self.record_change(&row, "registered").await?;
        Ok(row)
    }

    /// Removes coach `id`: they can no longer log in or look along.
    pub async fn remove(&self, id: &str) -> Result<CoachRow> {
        let mut row = self
            .store
            .coach(id)
            .await?
            .ok_or(Error::NotFound("coach"))?;
        if row.removed_at.is_none() {
            row.removed_at = Some(self.clock.now());
            self.store.put_coach(&row).await?;
            self.record_change(&row, "removed").await?;
        }
        Ok(row)
    }

    async fn record_change(&self, row: &CoachRow, change: &str) -> Result<()> {
        let mut entry = Entry::new(Action::CoachChange, Outcome::Done, Actor::Operator);
        entry.department = Some(row.department.clone());
        entry.details.insert("coach".into(), row.id.clone());
        entry.details.insert("change".into(), change.to_owned());
        let context = Context::new(&self.clock);
        self.audit.record(&context, entry).await.map(|_| ())
    }

    /// The coach a staff login (`provider`, `subject`) is, if any.
    pub async fn by_login(&self, provider: &str, subject: &str) -> Result<Option<CoachPrincipal>> {
        Ok(self
            .store
            .coaches()
            .await?
            .into_iter()
            .find(|c| c.removed_at.is_none() && c.provider == provider && c.subject == subject)
            .map(principal))
    }

    /// The coach `id`, while registered; `Unauthenticated` once removed.
    pub async fn current(&self, id: &str) -> Result<CoachRow> {
        match self.store.coach(id).await? {
            Some(row) if row.removed_at.is_none() => Ok(row),
            _ => Err(Error::Unauthenticated(
                "you are no longer registered as a coach; ask the operator",
            )),
        }
    }

    /// Every coach's name, by id (removed ones too), for residents' histories.
    pub async fn names(&self) -> Result<std::collections::HashMap<String, String>> {
        Ok(self
            .store
            .coaches()
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect())
    }

    /// Coach `id` as registered (removed ones too), for names in residents' pages.
    pub async fn get(&self, id: &str) -> Result<Option<CoachRow>> {
        Ok(self.store.coach(id).await?)
    }
}

/// The principal of a registered coach.
pub fn principal(row: CoachRow) -> CoachPrincipal {
    CoachPrincipal {
        id: row.id,
        name: row.name,
        department: row.department,
    }
}

/// A registered coach as the log's actor: id, department, and staff login.
pub fn actor(row: &CoachRow) -> Actor {
    Actor::Coach {
        id: row.id.clone(),
        department: row.department.clone(),
        staff: format!("{}:{}", row.provider, row.subject),
    }
}
