//! A test department: a fresh key registered with a test vault, an SDK client, and raw
//! tokens signed at the vault's own (settable) time for tests that move the clock.

use super::{TestVault, status_and_json};
use base64::Engine;
use kluis_proto::consent::{CLIENT_ASSERTION_HEADER, DepartmentSpec, ProcessingActivity};
use kluis_sdk::DepartmentKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// base64url without padding.
pub fn b64(data: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A registered test department.
pub struct TestDepartment {
    /// Its id.
    pub id: String,
    /// Its private JWK, as text.
    pub jwk: String,
    /// Its key (for raw tokens).
    pub key: DepartmentKey,
}

impl TestDepartment {
    /// Registers `id` with the activities of the demo department of the same id (or, for
    /// an unknown id, the debt-counselling activity) and a fresh key.
    pub async fn register(vault: &TestVault, id: &str) -> TestDepartment {
        let activities = kluis::dev::demo_departments()
            .into_iter()
            .find(|(demo, _, _)| *demo == id)
            .map(|(_, _, a)| a)
            .unwrap_or_else(|| kluis::dev::demo_departments().remove(1).2);
        TestDepartment::register_with(vault, id, activities).await
    }

    /// Registers demo department `id` under its demo name ("Werk en Inkomen") with its
    /// activities and a fresh key.
    pub async fn register_demo(vault: &TestVault, id: &str) -> TestDepartment {
        let (_, name, activities) = kluis::dev::demo_departments()
            .into_iter()
            .find(|(demo, _, _)| *demo == id)
            .expect("a demo department");
        TestDepartment::register_named(vault, id, name, activities).await
    }

    /// Registers `id` with `activities` and a fresh key.
    pub async fn register_with(
        vault: &TestVault,
        id: &str,
        activities: Vec<ProcessingActivity>,
    ) -> TestDepartment {
        TestDepartment::register_named(vault, id, &format!("Afdeling {id}"), activities).await
    }

    /// Registers `id` called `name` with `activities` and a fresh key.
    pub async fn register_named(
        vault: &TestVault,
        id: &str,
        name: &str,
        activities: Vec<ProcessingActivity>,
    ) -> TestDepartment {
        TestDepartment::try_register(vault, id, name, activities, None)
            .await
            .unwrap()
    }

    /// Registers `id` with `activities`, a fresh key and push endpoint `endpoint`.
    pub async fn register_pushing(
        vault: &TestVault,
        id: &str,
        activities: Vec<ProcessingActivity>,
        endpoint: &str,
    ) -> TestDepartment {
        TestDepartment::try_register(
            vault,
            id,
            &format!("Afdeling {id}"),
            activities,
            Some(endpoint),
        )
        .await
        .unwrap()
    }

    /// Registers `id` called `name`, or the vault's refusal as its message.
    pub async fn try_register(
        vault: &TestVault,
        id: &str,
        name: &str,
        activities: Vec<ProcessingActivity>,
        events_endpoint: Option<&str>,
    ) -> Result<TestDepartment, String> {
        let (private, public) =
            kluis::jose::keys::generate_department_jwk(&format!("{id}-1")).unwrap();
        let spec = DepartmentSpec {
            id: id.into(),
            name: name.into(),
            jwks: json!({"keys": [public]}),
            processing_activities: activities,
            privacy_officer: kluis::dev::DEMO_PRIVACY_OFFICER.into(),
            events_endpoint: events_endpoint.map(str::to_owned),
        };
        vault
            .app
            .consent()
            .register_department(
                &crate::support::ctx(),
                kluis::audit::entry::Actor::Operator,
                &spec,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(TestDepartment {
            id: id.into(),
            jwk: private.to_string(),
            key: DepartmentKey::from_jwk(&private).unwrap(),
        })
    }

    /// The department's first page of shares once the shares just made have settled (the
    /// feed lists a share a few seconds after it was made): moves a manual clock on, or
    /// waits for the real one.
    pub async fn settled_shares(&self, vault: &TestVault) -> kluis_proto::cases::SharesPage {
        vault
            .app
            .clock()
            .advance(kluis::consent::grants::SHARES_SETTLE);
        let client = self.client(vault);
        for _ in 0..40 {
            let page = client.shares(None).await.unwrap();
            if !page.grants.is_empty() {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("no share in {}'s feed after 10 seconds", self.id);
    }

    /// An SDK client (it signs with the system clock: use it on vaults whose clock runs).
    pub fn client(&self, vault: &TestVault) -> kluis_sdk::Client {
        kluis_sdk::Client::new(
            &vault.url,
            &self.id,
            DepartmentKey::from_jwk(&self.jwk).unwrap(),
        )
        .unwrap()
    }

    /// A client assertion with `claims` merged over the correct ones, signed at the
    /// vault's time.
    pub fn assertion_with(&self, vault: &TestVault, overrides: Value) -> String {
        let now = vault.app.clock().now().timestamp();
        assertion(&self.key, &self.id, &vault.url, now, overrides)
    }

    /// A correct client assertion at the vault's time.
    pub fn assertion(&self, vault: &TestVault) -> String {
        self.assertion_with(vault, json!({}))
    }

    /// A DPoP proof for a read with `token`, with `claims` merged over the correct ones.
    pub fn dpop_with(&self, vault: &TestVault, token: &str, overrides: Value) -> String {
        dpop(
            &self.key,
            &vault.url,
            token,
            vault.app.clock().now().timestamp(),
            overrides,
        )
    }

    /// A read with explicit headers; `None` leaves a header out.
    pub async fn read_raw(
        &self,
        vault: &TestVault,
        assertion: Option<String>,
        grant: Option<&str>,
        dpop: Option<String>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut request = vault
            .http
            .post(format!("{}/v1/dept/read", vault.url))
            .json(&body);
        if let Some(a) = assertion {
            request = request.header(CLIENT_ASSERTION_HEADER, a);
        }
        if let Some(g) = grant {
            request = request.header("authorization", format!("DPoP {g}"));
        }
        if let Some(d) = dpop {
            request = request.header("DPoP", d);
        }
        status_and_json(request.send().await.unwrap()).await
    }

    /// A correct read of `categories` under `grant` (token and resident reference), at the
    /// vault's time.
    pub async fn read(
        &self,
        vault: &TestVault,
        grant: &kluis_sdk::Grant,
        categories: &[&str],
    ) -> (StatusCode, Value) {
        let body = json!({"resident": grant.resident, "categories": categories});
        let dpop = self.dpop_with(vault, &grant.token, json!({}));
        self.read_raw(
            vault,
            Some(self.assertion(vault)),
            Some(&grant.token),
            Some(dpop),
            body,
        )
        .await
    }

    /// A department call other than a read, with a correct assertion at the vault's time.
    pub async fn call(
        &self,
        vault: &TestVault,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = vault
            .http
            .request(method, format!("{}{path}", vault.url))
            .header(CLIENT_ASSERTION_HEADER, self.assertion(vault));
        if let Some(body) = body {
            request = request.json(body);
        }
        status_and_json(request.send().await.unwrap()).await
    }
}

/// A client assertion by `department` for the vault `issuer` at `now` (seconds), with
/// `overrides` merged over the correct claims (`null` removes one).
pub fn assertion(
    key: &DepartmentKey,
    department: &str,
    issuer: &str,
    now: i64,
    overrides: Value,
) -> String {
    let mut claims = json!({"iss": department, "sub": department, "aud": issuer, "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 60});
    merge(&mut claims, overrides);
    let header = json!({"alg": "ES256", "typ": "client-authentication+jwt", "kid": format!("{department}-1")});
    key.sign_raw(&header.to_string(), &claims.to_string())
        .unwrap()
}

/// A DPoP proof for a read at `issuer` bound to `token`, at `now` (seconds).
pub fn dpop(key: &DepartmentKey, issuer: &str, token: &str, now: i64, overrides: Value) -> String {
    let ath = b64(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ));
    let mut claims = json!({
        "jti": uuid::Uuid::new_v4().to_string(), "htm": "POST", "htu": format!("{issuer}/v1/dept/read"), "iat": now, "ath": ath,
    });
    merge(&mut claims, overrides);
    let mut jwk = key.public_jwk();
    for drop in ["kid", "use", "alg"] {
        jwk.as_object_mut().unwrap().remove(drop);
    }
    let header = json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk});
    key.sign_raw(&header.to_string(), &claims.to_string())
        .unwrap()
}

fn merge(target: &mut Value, overrides: Value) {
    if let (Some(target), Value::Object(overrides)) = (target.as_object_mut(), overrides) {
        for (k, v) in overrides {
            if v.is_null() {
                target.remove(&k);
            } else {
                target.insert(k, v);
            }
        }
    }
}
