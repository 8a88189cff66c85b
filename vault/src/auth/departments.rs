//! Department authentication: a `private_key_jwt` client assertion (RFC 7523) on every
//! call, signed with a key the operator registered for the department.
//!
//! The order matters: the assertion's form and claims are checked first (nothing looked
//! up yet), then the department it names is looked up and its signature verified, then its
//! `jti` is recorded so it can never be used again, and only then is a disabled department
//! told so. An unauthenticated caller learns nothing about which departments exist.

use crate::clock::Clock;
use crate::jose::keys::KeySet;
use crate::jose::{ClientAssertion, MAX_SKEW_SECS};
use crate::store::{DepartmentRow, Store};
use crate::{Error, Result};
use chrono::TimeDelta;

/// An authenticated department.
#[derive(Clone, Debug)]
pub struct DepartmentPrincipal {
    /// Its registration.
    pub row: DepartmentRow,
    /// Its registered public keys.
    pub keys: KeySet,
}

impl DepartmentPrincipal {
    /// The department id.
    pub fn id(&self) -> &str {
        &self.row.id
    }
}

/// Records a token id for one-time use; false if it was seen before.
pub async fn first_use(
    store: &dyn Store,
    kind: &str,
    issuer: &str,
    jti: &str,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    let key = crate::crypto::sha256(
        &[
            kind.as_bytes(),
            &[0],
            issuer.as_bytes(),
            &[0],
            jti.as_bytes(),
        ]
        .concat(),
    );
    Ok(store.first_use(&key, until).await?)
}

/// Authenticates the department behind `assertion` for the vault `issuer`.
pub async fn authenticate(
    store: &dyn Store,
    clock: &Clock,
    issuer: &str,
    assertion: Option<&str>,
) -> Result<DepartmentPrincipal> {
    let assertion = assertion.ok_or_else(|| {
        Error::InvalidClient(
            "send a client assertion (private_key_jwt) in the Client-Assertion header".into(),
        )
    })?;
    let now = clock.now();
    let unverified = ClientAssertion::parse(assertion, issuer, now)
        .map_err(|e| Error::InvalidClient(e.to_string()))?;
    let row = store
        .department(&unverified.department)
        .await?
        .ok_or_else(|| Error::InvalidClient("the assertion cannot be verified".into()))?;
    let keys = KeySet::from_jwks(&row.jwks).map_err(|e| Error::InvalidClient(e.to_string()))?;
    let verified = unverified
        .verify(&keys)
        .map_err(|e| Error::InvalidClient(e.to_string()))?;
    let until = verified.exp + TimeDelta::seconds(MAX_SKEW_SECS);
    if !first_use(
        store,
        "client-assertion",
        &verified.department,
        &verified.jti,
        until,
    )
    .await?
    {
        return Err(Error::InvalidClient(
            "this assertion was used before; make a new one for every call".into(),
        ));
    }
    if row.disabled {
        return Err(Error::DepartmentDisabled);
    }
    Ok(DepartmentPrincipal { row, keys })
}
