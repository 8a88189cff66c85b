// Long: one client type; every department call with its documented example.
//! The department client.

use crate::{DepartmentKey, Error, Grant};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use kluis_proto::cases::{CaseStatusView, NewCaseStatus, SharesPage};
use kluis_proto::consent::{
    CLIENT_ASSERTION_HEADER, DepartmentGrant, DepartmentRequestStatus, NewAccessRequest,
    ReadRequest, ReadResponse, RequestState,
};
use kluis_proto::{ErrorCode, Problem};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The category that holds whether the municipality may approach the resident.
pub const APPROACH_CATEGORY: &str = "regelingen.benaderen";

/// How often a call that is safe to repeat is tried in all.
const ATTEMPTS: u32 = 3;
const READ_PATH: &str = "/v1/dept/read";

/// A client for one department.
///
/// ```no_run
/// # async fn demo() -> Result<(), kluis_sdk::Error> {
/// let key = kluis_sdk::DepartmentKey::from_file("werk-en-inkomen.jwk")?;
/// let client = kluis_sdk::Client::new("https://kluis.example.nl", "werk-en-inkomen", key)?;
/// for grant in client.grants().await? {
///     println!("{} until {}", grant.id, grant.expires_at);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    /// The vault's base URL, which is also its issuer (the `aud` of assertions).
    vault: String,
    department: String,
    key: Arc<DepartmentKey>,
    /// The private key that opens encrypted read answers, when the department registered
    /// an encryption key.
    decryption: Option<Arc<crate::jwe::DecryptionKey>>,
}

fn now_secs() -> i64 {
    // The SDK runs in the department's process, where the system clock is the clock.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Client {
    /// A client for `department` at the vault `vault_url` (its issuer, such as
    /// `https://kluis.example.nl`), signing with `key`.
    ///
    /// ```no_run
    /// let key = kluis_sdk::DepartmentKey::from_file("jeugdhulp.jwk")?;
    /// let client = kluis_sdk::Client::new("https://kluis.example.nl", "jeugdhulp", key)?;
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn new(vault_url: &str, department: &str, key: DepartmentKey) -> Result<Client, Error> {
        let vault = vault_url.trim_end_matches('/').to_owned();
        if !(vault.starts_with("https://") || vault.starts_with("http://")) {
            return Err(Error::Protocol(format!(
                "{vault_url:?} is not an http(s) URL"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Protocol(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            vault,
            department: department.to_owned(),
            key: Arc::new(key),
            decryption: None,
        })
    }

    /// Opens encrypted read answers with `key`: the private half of the encryption key
    /// (`use: enc`, ECDH-ES+A256KW) the department registered. Without it, an encrypted
    /// answer is an error.
    ///
    /// ```no_run
    /// # fn demo(client: kluis_sdk::Client) -> Result<(), kluis_sdk::Error> {
    /// let key = kluis_sdk::jwe::DecryptionKey::from_file("schuldhulpverlening-enc.jwk")?;
    /// let client = client.with_decryption_key(key);
    /// # Ok(()) }
    /// ```
    pub fn with_decryption_key(mut self, key: crate::jwe::DecryptionKey) -> Client {
        self.decryption = Some(Arc::new(key));
        self
    }

    /// The same client sending through `http`: one with a proxy, extra root certificates,
    /// or the vault's name resolved to one node of several. Its timeouts are then
    /// `http`'s (the SDK's own client waits 10 s to connect and 30 s for an answer).
    ///
    /// ```no_run
    /// # let key = kluis_sdk::DepartmentKey::from_file("jeugdhulp.jwk")?;
    /// let http = reqwest::Client::builder()
    ///     .resolve("kluis.example.nl", "10.0.0.2:443".parse().unwrap())
    ///     .build()
    ///     .unwrap();
    /// let client = kluis_sdk::Client::new("https://kluis.example.nl", "jeugdhulp", key)?
    ///     .with_http_client(http);
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn with_http_client(mut self, http: reqwest::Client) -> Client {
        self.http = http;
        self
    }

    /// The department this client acts for.
    ///
    /// ```no_run
    /// # let key = kluis_sdk::DepartmentKey::from_file("jeugdhulp.jwk")?;
    /// let client = kluis_sdk::Client::new("https://kluis.example.nl", "jeugdhulp", key)?;
    /// assert_eq!(client.department(), "jeugdhulp");
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn department(&self) -> &str {
        &self.department
    }

    /// The vault's base URL (its issuer).
    pub(crate) fn vault(&self) -> &str {
        &self.vault
    }

    /// The HTTP client.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A fresh client assertion (RFC 7523): single use, valid one minute.
    fn assertion(&self) -> Result<String, Error> {
        let mut header = json!({"alg": "ES256", "typ": "client-authentication+jwt"});
        if let Some(kid) = self.key.kid() {
            header["kid"] = json!(kid);
        }
        let now = now_secs();
        let claims = json!({
            "iss": self.department, "sub": self.department, "aud": self.vault,
            "jti": Uuid::new_v4().to_string(), "iat": now, "exp": now + 60,
        });
        self.key.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// A fresh DPoP proof (RFC 9449) for `method` on `url`, bound to `token`.
    fn dpop(&self, method: &str, url: &str, token: &str) -> Result<String, Error> {
        let header = json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": self.key.dpop_jwk()});
        let ath = B64.encode(ring::digest::digest(
            &ring::digest::SHA256,
            token.as_bytes(),
        ));
        let claims = json!({"jti": Uuid::new_v4().to_string(), "htm": method, "htu": url, "iat": now_secs(), "ath": ath});
        self.key.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Sends one call, with fresh proofs on each attempt; retries only if `safe` and the
    /// vault was unreachable or unavailable.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        grant: Option<&str>,
        safe: bool,
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.vault);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), &url);
            // A read's DPoP proof authenticates it; every other call needs an assertion.
            if !(grant.is_some() && path == READ_PATH) {
                request = request.header(CLIENT_ASSERTION_HEADER, self.assertion()?);
            }
            if let Some(token) = grant {
                request = request
                    .header(reqwest::header::AUTHORIZATION, format!("DPoP {token}"))
                    .header("DPoP", self.dpop(method.as_str(), &url, token)?);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let result = match request.send().await {
                Ok(response) => decode(response, self.decryption.as_deref()).await,
                Err(e) => Err(Error::Unavailable(format!("cannot reach the vault: {e}"))),
            };
            match result {
                Err(e) if safe && e.is_transient() && attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 1))).await;
                }
                other => return other,
            }
        }
    }

    /// Asks the resident for access. Not retried (asking twice makes two requests): on
    /// [`Error::Unavailable`], check [`Client::grants`] or ask again later.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client) -> Result<(), kluis_sdk::Error> {
    /// use kluis_sdk::proto::consent::{NewAccessRequest, ResidentIdentifier};
    /// let asked = client
    ///     .request_access(&NewAccessRequest {
    ///         resident: ResidentIdentifier::NationalId { scheme: "bsn".into(), value: "999993653".into() },
    ///         processing_activity: "ondersteuning-gezin".into(),
    ///         categories: vec!["kinderen.situatie".into()],
    ///         duration_days: 180,
    ///     })
    ///     .await?;
    /// println!("request {} is {:?}", asked.id, asked.state);
    /// # Ok(()) }
    /// ```
    pub async fn request_access(
        &self,
        request: &NewAccessRequest,
    ) -> Result<DepartmentRequestStatus, Error> {
        let body = serde_json::to_value(request).map_err(|e| Error::Protocol(e.to_string()))?;
        self.call(
            Method::POST,
            "/v1/dept/access-requests",
            Some(body),
            None,
            false,
        )
        .await
    }

    /// Where a request stands (pending, approved with its grant, or declined).
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client, id: uuid::Uuid) -> Result<(), kluis_sdk::Error> {
    /// let status = client.request_status(id).await?;
    /// if let Some(grant) = status.grant {
    ///     println!("granted: {:?}", grant.categories);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn request_status(&self, id: Uuid) -> Result<DepartmentRequestStatus, Error> {
        self.call(
            Method::GET,
            &format!("/v1/dept/access-requests/{id}"),
            None,
            None,
            true,
        )
        .await
    }

    /// Polls a request until the resident decides: the grant on approval,
    /// [`Error::Declined`] on refusal, [`Error::Timeout`] after `timeout`.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client, id: uuid::Uuid) -> Result<(), kluis_sdk::Error> {
    /// use std::time::Duration;
    /// match client.wait_for_decision(id, Duration::from_secs(10), Duration::from_secs(86_400)).await {
    ///     Ok(grant) => println!("granted until {}", grant.expires_at),
    ///     Err(kluis_sdk::Error::Declined) => println!("the resident said no"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_decision(
        &self,
        id: Uuid,
        poll_every: Duration,
        timeout: Duration,
    ) -> Result<Grant, Error> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.request_status(id).await?;
            match (status.state, status.grant) {
                (RequestState::Approved, Some(grant)) => return Ok(grant),
                (RequestState::Approved, None) => {
                    return Err(Error::Protocol(
                        "an approved request without a grant".into(),
                    ));
                }
                (RequestState::Declined, _) => return Err(Error::Declined),
                (RequestState::Pending, _) if tokio::time::Instant::now() + poll_every > until => {
                    return Err(Error::Timeout);
                }
                (RequestState::Pending, _) => tokio::time::sleep(poll_every).await,
            }
        }
    }

    /// Reads the current version of `categories` under `grant`: exactly those, each
    /// inside the grant. Safe to retry, and retried when the vault is unavailable.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client, grant: kluis_sdk::Grant) -> Result<(), kluis_sdk::Error> {
    /// match client.read(&grant, &["schulden.overzicht"]).await {
    ///     Ok(read) => println!("{:?}", read.records),
    ///     Err(kluis_sdk::Error::Revoked) => println!("the resident withdrew this grant"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn read(&self, grant: &Grant, categories: &[&str]) -> Result<ReadResponse, Error> {
        let body = ReadRequest {
            resident: grant.resident.clone(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
        };
        let body = serde_json::to_value(body).map_err(|e| Error::Protocol(e.to_string()))?;
        self.call(
            Method::POST,
            READ_PATH,
            Some(body),
            Some(&grant.token),
            true,
        )
        .await
    }

    /// Whether the resident lets the municipality approach them about support they may
    /// be entitled to (proactive services): `None` when they have not chosen. Read under
    /// `grant` like any record, so the grant must include `regelingen.benaderen`.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client, grant: kluis_sdk::Grant) -> Result<(), kluis_sdk::Error> {
    /// if client.may_approach(&grant).await? == Some(true) {
    ///     println!("we may tell this resident about schemes they may be missing");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn may_approach(&self, grant: &Grant) -> Result<Option<bool>, Error> {
        let read = self.read(grant, &[APPROACH_CATEGORY]).await?;
        Ok(read
            .records
            .iter()
            .find(|r| r.category == APPROACH_CATEGORY)
            .and_then(|r| r.data["benaderen"].as_bool()))
    }

    /// The grant's current state (active, revoked, expired) as the vault records it.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client, grant: kluis_sdk::Grant) -> Result<(), kluis_sdk::Error> {
    /// let now = client.grant_status(grant.id).await?;
    /// println!("{:?}", now.state);
    /// # Ok(()) }
    /// ```
    pub async fn grant_status(&self, id: Uuid) -> Result<DepartmentGrant, Error> {
        self.call(
            Method::GET,
            &format!("/v1/dept/grants/{id}"),
            None,
            None,
            true,
        )
        .await
    }

    /// Every grant this department holds, including those residents gave on their own
    /// initiative.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client) -> Result<(), kluis_sdk::Error> {
    /// let active: Vec<_> = client
    ///     .grants()
    ///     .await?
    ///     .into_iter()
    ///     .filter(|g| g.state == kluis_sdk::proto::consent::GrantState::Active)
    ///     .collect();
    /// # Ok(()) }
    /// ```
    pub async fn grants(&self) -> Result<Vec<Grant>, Error> {
        self.call(Method::GET, "/v1/dept/grants", None, None, true)
            .await
    }

    /// Tells the resident where their case stands, under a grant this department holds
    /// (in force: a revoked grant is [`Error::Revoked`]). The resident reads it in the
    /// vault's own plain words. Not retried (it would post twice).
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client, grant: kluis_sdk::Grant) -> Result<(), kluis_sdk::Error> {
    /// use kluis_sdk::proto::cases::{CaseStatus, NewCaseStatus};
    /// let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 8).expect("a date");
    /// client
    ///     .post_status(&grant, &NewCaseStatus {
    ///         status: CaseStatus::AppointmentPlanned { date, time: Some("10:30".into()), place: "Stadskantoor, balie 4".into() },
    ///         contact: None,
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn post_status(
        &self,
        grant: &Grant,
        status: &NewCaseStatus,
    ) -> Result<CaseStatusView, Error> {
        let body = serde_json::to_value(status).map_err(|e| Error::Protocol(e.to_string()))?;
        self.call(
            Method::POST,
            &format!("/v1/dept/grants/{}/status", grant.id),
            Some(body),
            None,
            false,
        )
        .await
    }

    /// Writes a category this department keeps for the resident, one the catalogue marks
    /// `written_by: department` (the step of debt counselling `schulden.traject`,
    /// self-reliance scores `zelfredzaamheid.zrm`), under a grant of yours that covers it.
    /// The resident sees the new version and that you wrote it; they cannot change it.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client, grant: kluis_sdk::Grant) -> Result<(), kluis_sdk::Error> {
    /// let step = serde_json::json!({"fase": "stabilisatie", "budgetbeheer": true});
    /// client.write_record(&grant, "schulden.traject", &step).await?;
    /// # Ok(()) }
    /// ```
    pub async fn write_record(
        &self,
        grant: &Grant,
        category: &str,
        data: &serde_json::Value,
    ) -> Result<kluis_proto::records::RecordWritten, Error> {
        self.call(
            Method::PUT,
            &format!("/v1/dept/grants/{}/records/{category}", grant.id),
            Some(data.clone()),
            Some(&grant.token),
            false,
        )
        .await
    }

    /// The grants residents gave this department on their own initiative since `after`
    /// (the cursor of the previous page; `None` the first time): how the department learns
    /// of a share, such as from a life event. A share is listed from five seconds after
    /// the resident made it; each appears exactly once.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client) -> Result<(), kluis_sdk::Error> {
    /// let page = client.shares(None).await?;
    /// for grant in &page.grants {
    ///     println!("shared: {:?}", grant.categories);
    /// }
    /// let next = client.shares(Some(&page.cursor)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn shares(&self, after: Option<&str>) -> Result<SharesPage, Error> {
        let path = match after {
            Some(cursor) => format!("/v1/dept/shares?after={cursor}"),
            None => "/v1/dept/shares".to_owned(),
        };
        self.call(Method::GET, &path, None, None, true).await
    }
}

/// The body on success; the typed error from a problem document otherwise.
async fn decode<T: DeserializeOwned>(
    response: reqwest::Response,
    decryption: Option<&crate::jwe::DecryptionKey>,
) -> Result<T, Error> {
    let status = response.status();
    let encrypted = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/jose"));
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::Unavailable(format!("reading the answer: {e}")))?;
    if status.is_success() && encrypted {
        let key = decryption.ok_or_else(|| {
            Error::Key("the vault sent an encrypted answer: give the client the department's encryption key (Client::with_decryption_key)".into())
        })?;
        let token = std::str::from_utf8(&bytes)
            .map_err(|_| Error::Protocol("the encrypted answer is not text".into()))?;
        let plaintext = crate::jwe::decrypt(token.trim(), key)?;
        return serde_json::from_slice(&plaintext)
            .map_err(|e| Error::Protocol(format!("{status}: {e}")));
    }
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("{status}: {e}")));
    }
    // Decode the code leniently: a newer vault may send a code this SDK does not know.
    let problem: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let code = problem
        .as_ref()
        .and_then(|p| p["code"].as_str())
        .and_then(ErrorCode::from_code);
    let detail = problem
        .as_ref()
        .and_then(|p| serde_json::from_value::<Problem>(p.clone()).ok())
        .and_then(|p| p.detail.or(Some(p.title)))
        .or_else(|| {
            problem
                .as_ref()
                .and_then(|p| p["title"].as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| status.to_string());
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Error::Unavailable(detail));
    }
    Err(Error::from_problem(code, status.as_u16(), detail))
}
