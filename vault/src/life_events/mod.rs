//! Life events: the resident starts from what happened ("Ik ben mijn baan kwijt"), answers
//! only the questions that fit their situation (confirming what their vault already
//! holds), and shares with every department that can help, in one step.
//!
//! - [`catalogue`]: the events as data, checked at start.
//! - [`conditions`]: when a question applies (outside in).
//!
//! Never asked twice: a question whose field the vault already holds is shown with that
//! answer, to confirm or change; a confirmed answer is not written again. Answers are
//! saved into the resident's categories as new versions through the record service, with
//! the same schema checks and the same audit entries as the record pages. Sharing makes
//! one grant on the resident's own initiative per department, each limited to the
//! categories of that department's activity that the event touches.

pub mod catalogue;
mod checks;
pub mod conditions;

use crate::audit::Context;
use crate::consent::Consent;
use crate::consent::offers::ShareOffer;
use crate::residents::fields::Field;
use crate::residents::{ResidentId, Residents};
use crate::{Error, Result};
use catalogue::{LifeEvent, LifeEventCatalogue, Question};
use kluis_proto::consent::GrantView;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The answers given so far, by question id.
pub type Answers = BTreeMap<String, Value>;

/// A question as it stands for one resident: what the vault holds, what they answered.
#[derive(Clone, Debug)]
pub struct Step {
    /// The question.
    pub question: Question,
    /// The field it fills.
    pub field: Field,
    /// What the vault holds for it now.
    pub held: Option<Value>,
    /// What the resident answered in this flow.
    pub answer: Option<Value>,
}

impl Step {
    /// The answer in force: given in this flow, else the vault's.
    pub fn value(&self) -> Option<&Value> {
        self.answer.as_ref().or(self.held.as_ref())
    }

    /// Whether the answer changes what the vault holds.
    pub fn changes(&self) -> bool {
        self.answer.is_some() && self.answer != self.held
    }

    /// The values a choice question offers: the question's own list, else every choice
    /// of its field; with what the vault holds, so confirming it is always possible.
    pub fn options(&self) -> Vec<String> {
        let mut values: Vec<String> = match &self.field.kind {
            crate::residents::fields::FieldKind::Choice(choices)
                if self.question.options.is_empty() =>
            {
                choices.iter().map(|(v, _)| v.clone()).collect()
            }
            _ => self.question.options.clone(),
        };
        if let Some(Value::String(held)) = &self.held
            && !values.contains(held)
        {
            values.push(held.clone());
        }
        values
    }
}

/// What saving a flow did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Saved {
    /// The categories written (one new version each).
    pub written: Vec<String>,
    /// The questions whose answer was confirmed as it stood (nothing written for them).
    pub confirmed: Vec<String>,
}

/// The life-event service.
#[derive(Clone)]
pub struct LifeEvents {
    catalogue: Arc<LifeEventCatalogue>,
    residents: Residents,
    consent: Consent,
}

impl LifeEvents {
    /// The service over `catalogue`.
    pub fn new(
        catalogue: Arc<LifeEventCatalogue>,
        residents: Residents,
        consent: Consent,
    ) -> LifeEvents {
        LifeEvents {
            catalogue,
            residents,
            consent,
        }
    }

    /// Every event.
    pub fn events(&self) -> &[LifeEvent] {
        self.catalogue.events()
    }

    /// The event `id`.
    pub fn event(&self, id: &str) -> Result<&LifeEvent> {
        self.catalogue.get(id).ok_or(Error::NotFound("life event"))
    }

    /// The current record data of each category the event touches (absent: not filled in).
    async fn held(
        &self,
        resident: ResidentId,
        event: &LifeEvent,
    ) -> Result<HashMap<String, Value>> {
        let mut held = HashMap::new();
        let categories: BTreeSet<&str> = event
            .questions
            .iter()
            .map(Question::category)
            .chain(
                event
                    .questions
                    .iter()
                    .flat_map(|q| q.when.iter().map(|c| c.category())),
            )
            .collect();
        for category in categories {
            match self.residents.read(resident, category, None).await {
                Ok(record) => {
                    held.insert(category.to_owned(), record.data);
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(held)
    }

    /// The questions of event `id` that apply to this resident, in order, given the answers
    /// so far: a question whose conditions do not hold is left out. A condition on a field
    /// asked earlier is judged by the answer there; on any other field by the vault.
    pub async fn steps(
        &self,
        resident: ResidentId,
        id: &str,
        answers: &Answers,
    ) -> Result<Vec<Step>> {
        let event = self.event(id)?;
        let held = self.held(resident, event).await?;
        let vault = |field: &str| -> Option<Value> {
            let (category, name) = field.split_once('/')?;
            held.get(category)?
                .get(name)
                .filter(|v| !v.is_null())
                .cloned()
        };
        let mut steps: Vec<Step> = Vec::new();
        for question in &event.questions {
            let value_of = |field: &str| {
                steps
                    .iter()
                    .find(|s| s.question.field == field)
                    .and_then(|s| s.value().cloned())
                    .or_else(|| vault(field))
            };
            if !question
                .when
                .iter()
                .all(|c| c.holds(value_of(&c.field).as_ref()))
            {
                continue;
            }
            let field = catalogue::field(
                self.residents.catalogue(),
                question.category(),
                question.name(),
            )
            .ok_or_else(|| {
                Error::Internal(format!("life event field {} vanished", question.field))
            })?;
            steps.push(Step {
                question: question.clone(),
                field: field.clone(),
                held: vault(&question.field),
                answer: answers.get(&question.id).cloned(),
            });
        }
        Ok(steps)
    }

    /// Saves the answers of event `id`: every category with a changed answer gets one new
    /// version (its other fields kept); confirmed answers write nothing. Answers to
    /// questions that do not apply are ignored. The event itself is recorded among the
    /// resident's life events unless it is there already.
    pub async fn save(
        &self,
        context: &Context,
        resident: ResidentId,
        id: &str,
        answers: &Answers,
    ) -> Result<Saved> {
        let event = self.event(id)?;
        let steps = self.steps(resident, id, answers).await?;
        let mut saved = Saved::default();
        let mut changes: BTreeMap<&str, Vec<&Step>> = BTreeMap::new();
        for step in &steps {
            if step.value().is_none() {
                return Err(Error::InvalidParameter(format!(
                    "question {} has no answer",
                    step.question.id
                )));
            }
            if step.changes() {
                changes
                    .entry(step.question.category())
                    .or_default()
                    .push(step);
            } else {
                saved.confirmed.push(step.question.id.clone());
            }
        }
        let held = self.held(resident, event).await?;
        let mut records: Vec<(&str, Value)> = Vec::new();
        for (category, steps) in changes {
            let mut record = match held.get(category) {
                Some(Value::Object(fields)) => fields.clone(),
                _ => Map::new(),
            };
            for step in steps {
                if let Some(answer) = &step.answer {
                    record.insert(step.question.name().to_owned(), answer.clone());
                }
            }
            records.push((category, Value::Object(record)));
        }
        if let Some(kind) = &event.records_as
            && let Some(events) = self.with_event(resident, kind).await?
        {
            records.push(("levensgebeurtenis", events));
        }
        // All answers are stored together, or (a bad answer, a failure) none.
        let pairs: Vec<(&str, &Value)> = records.iter().map(|(c, v)| (*c, v)).collect();
        for written in self.residents.write_all(context, resident, &pairs).await? {
            saved.written.push(written.category);
        }
        Ok(saved)
    }

    /// The resident's life events with `kind` added, or `None` when it is there.
    async fn with_event(&self, resident: ResidentId, kind: &str) -> Result<Option<Value>> {
        let mut events = match self
            .residents
            .read(resident, "levensgebeurtenis", None)
            .await
        {
            Ok(record) => record.data,
            Err(Error::NotFound(_)) => serde_json::json!({"gebeurtenissen": []}),
            Err(e) => return Err(e),
        };
        let Some(list) = events
            .get_mut("gebeurtenissen")
            .and_then(Value::as_array_mut)
        else {
            return Ok(None);
        };
        if list.iter().any(|e| e["soort"] == kind) {
            return Ok(None);
        }
        list.push(serde_json::json!({"soort": kind}));
        Ok(Some(events))
    }

    /// The departments that can help with event `id` now: registered, enabled, with the
    /// activity current, and touching at least one of the event's categories.
    pub async fn helpers(&self, id: &str) -> Result<Vec<ShareOffer>> {
        let event = self.event(id)?;
        let mut out = Vec::new();
        for helper in &event.helpers {
            if let Some(offer) = self
                .consent
                .share_offer(
                    &helper.department,
                    &helper.activity,
                    &event.categories,
                    helper.duration_days,
                )
                .await?
            {
                out.push(offer);
            }
        }
        Ok(out)
    }

    /// Saves the answers and shares with `departments`, in one call. The share is checked
    /// first: a department that cannot help with the event changes nothing at all.
    pub async fn complete(
        &self,
        context: &Context,
        resident: ResidentId,
        id: &str,
        answers: &Answers,
        departments: &[String],
    ) -> Result<(Saved, Vec<GrantView>)> {
        let chosen = self.chosen(id, departments).await?;
        let saved = self.save(context, resident, id, answers).await?;
        let grants = self.share_with(context, resident, &chosen).await?;
        Ok((saved, grants))
    }

    /// The helpers `departments` names, each once; an id that cannot help is refused.
    async fn chosen(&self, id: &str, departments: &[String]) -> Result<Vec<ShareOffer>> {
        let helpers = self.helpers(id).await?;
        let mut chosen: Vec<ShareOffer> = Vec::new();
        for department in departments {
            let helper = helpers
                .iter()
                .find(|h| &h.department.id == department)
                .ok_or_else(|| {
                    Error::OutOfScope(format!(
                        "{department} is not a department that helps with this event"
                    ))
                })?;
            if !chosen
                .iter()
                .any(|h| h.department.id == helper.department.id)
            {
                chosen.push(helper.clone());
            }
        }
        Ok(chosen)
    }

    /// Shares with each of `departments` (ids among the event's helpers) in one step: one
    /// grant each, limited to what [`LifeEvents::helpers`] says it would see. Any id that
    /// cannot help with this event refuses the whole share, before anything is granted.
    pub async fn share(
        &self,
        context: &Context,
        resident: ResidentId,
        id: &str,
        departments: &[String],
    ) -> Result<Vec<GrantView>> {
        let chosen = self.chosen(id, departments).await?;
        self.share_with(context, resident, &chosen).await
    }

    /// One grant to each of `chosen`, limited to what it would see.
    async fn share_with(
        &self,
        context: &Context,
        resident: ResidentId,
        chosen: &[ShareOffer],
    ) -> Result<Vec<GrantView>> {
        let mut grants = Vec::new();
        for offer in chosen {
            grants.push(self.consent.accept_offer(context, resident, offer).await?);
        }
        Ok(grants)
    }
}

#[cfg(test)]
mod tests;
