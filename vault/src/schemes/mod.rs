//! Schemes a resident may be missing ("Misschien heeft u recht op..."), computed inside the
//! vault from the resident's own records, shown to the resident first, and shared only
//! when the resident applies.
//!
//! - [`rules`]: the scheme catalogue as data, compiled with a JSON Logic engine.
//! - [`facts`]: the facts the rules read, derived from the records in memory.
//! - [`words`]: a suggestion's texts filled with the resident's own facts.
//!
//! Each evaluation decrypts the resident's current records in memory, evaluates every
//! scheme, and writes one audit entry, a receipt: the rule set's id, version and hash, the
//! categories read, the schemes suggested (ids only), never a value. Nothing is stored in
//! plain text and nothing is sent anywhere. The resident's choices are their own records:
//! whether the municipality may approach them (`regelingen.benaderen`, which a department
//! reads under a grant like any record) and the suggestions they hid
//! (`regelingen.verborgen`, which no department activity covers).

pub mod facts;
pub mod rules;
pub mod words;

use crate::audit::entry::{Action, Actor, Entry, Outcome as Done};
use crate::audit::{Audit, Context};
use crate::clock::Clock;
use crate::consent::Consent;
use crate::consent::offers::ShareOffer;
use crate::residents::{ResidentId, Residents};
use crate::{Error, Result};
use facts::Facts;
use kluis_proto::consent::GrantView;
use rules::{Apply, Outcome, RuleSet, Scheme};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The category that holds whether the municipality may approach the resident.
pub const APPROACH: &str = "regelingen.benaderen";

/// The category that holds the suggestions the resident hid.
pub const HIDDEN: &str = "regelingen.verborgen";

/// How long a share made from a suggestion runs, in days.
const SHARE_DAYS: u32 = 180;

/// One scheme as it stands for one resident.
#[derive(Clone, Debug)]
pub struct Suggestion {
    /// The scheme.
    pub scheme: Scheme,
    /// What its rule says.
    pub outcome: Outcome,
    /// The limit it used, if any.
    pub limit: Option<f64>,
    /// Whether the resident said "niet voor mij" while their situation was as it is now.
    pub hidden: bool,
}

/// One evaluation: the resident's facts and every scheme's outcome.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The facts the rules read.
    pub facts: Facts,
    /// Every scheme in force, in the file's order.
    pub suggestions: Vec<Suggestion>,
}

impl Evaluation {
    /// The schemes that may fit and are not hidden: what the resident is shown.
    pub fn shown(&self) -> impl Iterator<Item = &Suggestion> {
        self.suggestions
            .iter()
            .filter(|s| s.outcome == Outcome::MayFit && !s.hidden)
    }
}

/// The scheme service.
#[derive(Clone)]
pub struct Schemes {
    rules: Arc<RuleSet>,
    residents: Residents,
    consent: Consent,
    audit: Arc<Audit>,
    clock: Clock,
}

impl Schemes {
    /// The service over `rules`.
    pub fn new(
        rules: Arc<RuleSet>,
        residents: Residents,
        consent: Consent,
        audit: Arc<Audit>,
        clock: Clock,
    ) -> Schemes {
        Schemes {
            rules,
            residents,
            consent,
            audit,
            clock,
        }
    }

    /// The rule set.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Today, by the vault's clock (whose year's parameters apply).
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.now().date_naive()
    }

    /// The scheme `id`, as in force today.
    pub fn scheme(&self, id: &str) -> Result<&Scheme> {
        self.rules
            .scheme(id, self.today())
            .ok_or(Error::NotFound("scheme"))
    }

    /// The resident's current records of `categories`, decrypted in memory under one
    /// unwrap of the data key; categories without a record are left out.
    async fn records(
        &self,
        resident: ResidentId,
        categories: &[&str],
    ) -> Result<HashMap<String, Value>> {
        let wanted: Vec<String> = categories.iter().map(|c| (*c).to_owned()).collect();
        Ok(self
            .residents
            .read_current(resident, &wanted)
            .await?
            .into_iter()
            .map(|record| (record.category, record.data))
            .collect())
    }

    fn facts(&self, records: &HashMap<String, Value>) -> Facts {
        let today = self.clock.now().date_naive();
        let year = chrono::Datelike::year(&today);
        Facts::derive(records, today, |household| {
            self.rules.parameter("bijstandsnorm", year, household)
        })
    }

    /// Evaluates every scheme for the resident and writes the receipt.
    pub async fn evaluate(&self, context: &Context, resident: ResidentId) -> Result<Evaluation> {
        let (evaluation, read) = self.evaluate_quietly(resident).await?;
        let (id, version, hash) = self.rules.identity();
        let mut entry = self.own_entry(Action::SchemeCheck, resident);
        entry.categories = read;
        let suggested: Vec<&str> = evaluation.shown().map(|s| s.scheme.id.as_str()).collect();
        entry.details.insert("rule_set".into(), id.to_owned());
        entry
            .details
            .insert("rule_set_version".into(), version.to_string());
        entry
            .details
            .insert("rule_set_hash".into(), hash.to_owned());
        entry
            .details
            .insert("suggested".into(), suggested.join(","));
        self.audit.record(context, entry).await?;
        Ok(evaluation)
    }

    /// The resident's suggestions without a receipt of their own: for a coach the resident
    /// let see them, whose look the caller has logged.
    pub async fn suggestions(&self, resident: ResidentId) -> Result<Evaluation> {
        Ok(self.evaluate_quietly(resident).await?.0)
    }

    /// Every scheme's outcome, and the categories read for it.
    async fn evaluate_quietly(&self, resident: ResidentId) -> Result<(Evaluation, Vec<String>)> {
        let mut categories = facts::categories();
        categories.push(HIDDEN);
        let records = self.records(resident, &categories).await?;
        let facts = self.facts(&records);
        let hidden = hidden_marks(records.get(HIDDEN));
        let suggestions: Vec<Suggestion> = self
            .rules
            .evaluate(&facts, self.clock.now().date_naive())
            .into_iter()
            .map(|(scheme, outcome, limit)| Suggestion {
                hidden: hidden.contains(&(scheme.id.clone(), fingerprint(scheme, &facts))),
                scheme: scheme.clone(),
                outcome,
                limit,
            })
            .collect();
        let evaluation = Evaluation { facts, suggestions };
        let mut read: Vec<String> = records.into_keys().collect();
        read.sort();
        Ok((evaluation, read))
    }

    fn own_entry(&self, action: Action, resident: ResidentId) -> Entry {
        let reference = self.residents.audit_reference(resident);
        let mut entry = Entry::new(
            action,
            Done::Done,
            Actor::Resident {
                reference: reference.clone(),
            },
        );
        entry.resident = Some(reference);
        entry
    }

    /// "Niet voor mij": hides scheme `id` while the resident's situation stays as it is;
    /// a change in what the scheme reads brings it back.
    pub async fn hide(&self, context: &Context, resident: ResidentId, id: &str) -> Result<()> {
        let scheme = self.scheme(id)?.clone();
        let mut categories = facts::categories();
        categories.push(HIDDEN);
        let records = self.records(resident, &categories).await?;
        let mark = fingerprint(&scheme, &self.facts(&records));
        let mut list = hidden_list(records.get(HIDDEN));
        list.retain(|h| h["regeling"] != id);
        list.push(json!({"regeling": id, "situatie": mark}));
        self.write_hidden(context, resident, list).await
    }

    /// Shows scheme `id` again after the resident hid it.
    pub async fn unhide(&self, context: &Context, resident: ResidentId, id: &str) -> Result<()> {
        self.scheme(id)?;
        let records = self.records(resident, &[HIDDEN]).await?;
        let mut list = hidden_list(records.get(HIDDEN));
        let before = list.len();
        list.retain(|h| h["regeling"] != id);
        if list.len() == before {
            return Ok(());
        }
        self.write_hidden(context, resident, list).await
    }

    async fn write_hidden(
        &self,
        context: &Context,
        resident: ResidentId,
        list: Vec<Value>,
    ) -> Result<()> {
        self.residents
            .write(context, resident, HIDDEN, &json!({"niet_voor_mij": list}))
            .await?;
        Ok(())
    }

    /// Whether the municipality may approach the resident about support they may be
    /// entitled to (`None`: not chosen yet).
    pub async fn approach(&self, resident: ResidentId) -> Result<Option<bool>> {
        let records = self.records(resident, &[APPROACH]).await?;
        Ok(records.get(APPROACH).and_then(|r| r["benaderen"].as_bool()))
    }

    /// Records whether the municipality may approach the resident.
    pub async fn set_approach(
        &self,
        context: &Context,
        resident: ResidentId,
        may: bool,
    ) -> Result<()> {
        self.residents
            .write(context, resident, APPROACH, &json!({"benaderen": may}))
            .await?;
        Ok(())
    }

    /// What applying for scheme `id` would share, with whom, why and for how long; a
    /// scheme applied for at a public site, or whose department is not there, has none.
    pub async fn application(&self, id: &str) -> Result<ShareOffer> {
        let scheme = self.scheme(id)?;
        let Apply::Share {
            department,
            activity,
            shares,
        } = &scheme.apply
        else {
            return Err(Error::Conflict(
                "this scheme is applied for at its own site",
            ));
        };
        self.consent
            .share_offer(department, activity, shares, SHARE_DAYS)
            .await?
            .ok_or(Error::NotFound("department for this scheme"))
    }

    /// Applies for scheme `id`: shares what it needs with its department in one step,
    /// and logs which scheme the share was for (the uptake report counts these).
    pub async fn apply(
        &self,
        context: &Context,
        resident: ResidentId,
        id: &str,
    ) -> Result<GrantView> {
        let offer = self.application(id).await?;
        let view = self.consent.accept_offer(context, resident, &offer).await?;
        let mut entry = self.own_entry(Action::SchemeApplication, resident);
        entry.department = Some(offer.department.id);
        entry.grant = Some(view.id);
        entry.details.insert("scheme".into(), id.to_owned());
        self.audit.record(context, entry).await?;
        Ok(view)
    }
}

/// The hidden list in the resident's `regelingen.verborgen` record (empty without one).
fn hidden_list(record: Option<&Value>) -> Vec<Value> {
    record
        .and_then(|r| r["niet_voor_mij"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// The (scheme, situation) pairs the resident hid.
fn hidden_marks(record: Option<&Value>) -> Vec<(String, String)> {
    hidden_list(record)
        .iter()
        .filter_map(|h| {
            Some((
                h["regeling"].as_str()?.to_owned(),
                h["situatie"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// A mark of the facts a scheme reads: when they change, a hidden suggestion comes back.
/// It is kept in the resident's own sealed record only.
fn fingerprint(scheme: &Scheme, facts: &Facts) -> String {
    let read: Vec<Value> = scheme
        .needs
        .iter()
        .map(|n| facts.get(n).cloned().unwrap_or(Value::Null))
        .collect();
    let digest = crate::crypto::sha256(Value::Array(read).to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
