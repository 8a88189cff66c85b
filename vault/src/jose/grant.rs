//! Grants: the vault's signed record of a resident's decision, bound to a department key.

use super::compact;
use super::keys::VaultKey;
use super::{
    GRANT_TYP, JoseError, Kind, check_header, header_kid, jti_claim, string_claim, time_claim,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The processing activity a grant was given under, as carried in the grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantActivity {
    /// The activity's id in the department's register.
    pub id: String,
    /// Its version.
    pub version: u32,
}

/// The claims of a grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantClaims {
    /// The vault's issuer URL.
    pub iss: String,
    /// The resident's pairwise reference for this department.
    pub sub: String,
    /// The department id.
    pub aud: String,
    /// The grant id.
    pub jti: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Not before (seconds).
    pub nbf: i64,
    /// Expires (seconds).
    pub exp: i64,
    /// The granted categories.
    pub categories: Vec<String>,
    /// The processing activity.
    pub activity: GrantActivity,
    /// The thumbprint of the department key the grant is bound to.
    pub jkt: String,
}

impl GrantClaims {
    /// Signs the grant with the vault's current key.
    pub fn sign(&self, key: &VaultKey) -> Result<String, JoseError> {
        let claims = json!({
            "iss": self.iss, "sub": self.sub, "aud": self.aud, "jti": self.jti,
            "iat": self.iat, "nbf": self.nbf, "exp": self.exp,
            "categories": self.categories,
            "processing_activity": self.activity,
            "cnf": {"jkt": self.jkt},
        });
        key.sign(GRANT_TYP, &claims)
    }

    /// The grant id `token` claims, unverified: only for finding the stored grant it may
    /// be. Trust comes from the stored token matching `token` exactly, never from this.
    pub fn claimed_id(token: &str) -> Option<uuid::Uuid> {
        let claims = compact::parse(token).ok()?.claims().ok()?;
        uuid::Uuid::parse_str(&jti_claim(&claims).ok()?).ok()
    }

    /// Verifies a grant as anyone holding the vault's published keys can (a department, an
    /// officer, a court); the vault itself compares a presented grant with the token it
    /// keeps instead (`consent::proof`). Strict parsing, `typ`, ES256, a `kid` that names
    /// one of the vault's keys exactly, the signature, `iss` = this vault, `aud` =
    /// `department` (a string), every claim present and well-typed. Whether the grant is valid *now* is not decided
    /// here: the stored grant record is the authority (see `consent`).
    pub fn verify(
        token: &str,
        issuer: &str,
        department: &str,
        vault_keys: &[VaultKey],
    ) -> Result<GrantClaims, JoseError> {
        let parsed = compact::parse(token)?;
        check_header(&parsed, Kind::Grant)?;
        let kid = header_kid(&parsed).ok_or(JoseError::Header("a grant names its key in kid"))?;
        let key = vault_keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(JoseError::Key("no vault key has this kid"))?;
        let claims = parsed.claims()?;
        if string_claim(&claims, "iss")? != issuer {
            return Err(JoseError::Claims("the grant was not issued by this vault"));
        }
        let aud = match claims.get("aud") {
            Some(Value::String(aud)) => aud.as_str(),
            _ => return Err(JoseError::Claims("aud must be a single string")),
        };
        if aud != department {
            return Err(JoseError::Claims("the grant is for another department"));
        }
        let required_time = |name: &'static str| {
            time_claim(&claims, name)?.ok_or(JoseError::Claims("a required claim is missing"))
        };
        let categories = claims
            .get("categories")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or(JoseError::Claims("categories must be an array of strings"))?;
        let activity: GrantActivity = claims
            .get("processing_activity")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or(JoseError::Claims("processing_activity is malformed"))?;
        let jkt = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
            .ok_or(JoseError::Claims("cnf.jkt is missing"))?;
        let (iat, nbf, exp) = (
            required_time("iat")?,
            required_time("nbf")?,
            required_time("exp")?,
        );
        key.public()
            .verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
        Ok(GrantClaims {
            iss: issuer.to_owned(),
            sub: string_claim(&claims, "sub")?.to_owned(),
            aud: aud.to_owned(),
            jti: jti_claim(&claims)?,
            iat,
            nbf,
            exp,
            categories,
            activity,
            jkt: jkt.to_owned(),
        })
    }
}
