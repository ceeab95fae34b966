//! `StClient`: the ServiceTitan v2 REST client (reqwest + rustls/ring).
//!
//! Every call goes through one path ([`StClient::send`]): the shared rate limiter, a cached
//! token, the `ST-App-Key` header, a total timeout, then classification of the outcome:
//! - 401: renew the token once and retry;
//! - 429: pause every caller for `Retry-After` (seconds or HTTP date), then retry;
//! - 5xx, timeout, reset: reads retry a few times; writes become [`StError::Ambiguous`],
//!   because the write may have been applied. The sync then looks the object up (by
//!   externalData) before writing again;
//! - 400: [`StError::Validation`] with ServiceTitan's message.
//!
//! Query parameter names are checked against an allowlist taken from the OpenAPI documents,
//! since the API silently ignores a misspelt filter.

use crate::infra::Secret;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::error::StError;
use super::ratelimit::{parse_retry_after, RateLimiter};
use super::token::{FetchedToken, TokenCache};
use super::types::*;
use super::verify;
use crate::infra::backoff::Backoff;
use crate::infra::clock::{SharedClock, SystemClock};
use crate::infra::http::{self, HttpOptions};
use crate::trade::phone::DiallingPlan;

/// Which ServiceTitan the box talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    Production,
    /// The sandbox tenant (`*-integration` hosts).
    Integration,
    /// Explicit URLs. `http://` is accepted only for loopback hosts: that is how tests point
    /// the client at an in-process test server; anything else must be https.
    Custom {
        auth_url: String,
        api_url: String,
    },
}

impl Environment {
    /// The token endpoint and the API base.
    pub fn urls(&self) -> Result<(Url, Url), StError> {
        let (auth, api) = match self {
            Environment::Production => (
                "https://auth.servicetitan.io/connect/token",
                "https://api.servicetitan.io",
            ),
            Environment::Integration => (
                "https://auth-integration.servicetitan.io/connect/token",
                "https://api-integration.servicetitan.io",
            ),
            Environment::Custom { auth_url, api_url } => (auth_url.as_str(), api_url.as_str()),
        };
        let mut auth = checked_url("auth_url", auth)?;
        if !auth.path().ends_with("/connect/token") {
            let path = format!("{}/connect/token", auth.path().trim_end_matches('/'));
            auth.set_path(&path);
        }
        let api = checked_url("api_url", api)?;
        Ok((auth, api))
    }
}

fn checked_url(name: &str, text: &str) -> Result<Url, StError> {
    let url = Url::parse(text).map_err(|e| StError::Config {
        message: format!("{name} `{text}`: {e}"),
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(&url) => Ok(url),
        "http" => Err(StError::Config {
            message: format!("{name} `{text}`: plain http is only allowed for loopback hosts"),
        }),
        other => Err(StError::Config {
            message: format!("{name} `{text}`: unsupported scheme `{other}`"),
        }),
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host_str() {
        Some(h) if h.eq_ignore_ascii_case("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Everything the client needs; built from `[servicetitan]` in the configuration.
#[derive(Debug, Clone)]
pub struct StClientConfig {
    pub environment: Environment,
    pub tenant_id: i64,
    pub app_key: Secret,
    pub client_id: Secret,
    pub client_secret: Secret,
    /// The app's External Data Application GUID (externalData is only visible with it).
    pub external_data_guid: String,
    pub connect_timeout: Duration,
    pub token_timeout: Duration,
    pub api_timeout: Duration,
    /// Requests in any 1 s window; ServiceTitan's ceiling is 60.
    pub max_requests_per_second: u32,
    /// The shop's dialling plan (`shop.default_country`): how phone numbers are matched and
    /// written.
    pub phone_plan: &'static DiallingPlan,
    /// Start with the rate window full (a just-killed predecessor may have used it).
    pub cold_start_rate_window: bool,
    /// Extra tries for reads that time out or get 5xx.
    pub read_retries: u32,
    /// 429s waited out per call before giving up with [`StError::RateLimited`].
    pub max_rate_limit_waits: u32,
    /// Wait on a 429 without `Retry-After`.
    pub default_retry_after: Duration,
    /// Longest `Retry-After` honoured in-call; longer ones are returned to the caller.
    pub max_retry_after: Duration,
    /// Longest `Retry-After` believed at all, on every path (API and token endpoint): a
    /// gateway asking for a day is waited out for this long, then asked again.
    pub retry_after_cap: Duration,
    /// Renew the token this long before it expires.
    pub token_renew_before: Duration,
}

impl StClientConfig {
    /// Sensible defaults around the given environment and credentials (tests, tools).
    pub fn new(environment: Environment, tenant_id: i64) -> Self {
        StClientConfig {
            environment,
            tenant_id,
            app_key: Secret::default(),
            client_id: Secret::default(),
            client_secret: Secret::default(),
            external_data_guid: String::new(),
            connect_timeout: Duration::from_secs(5),
            token_timeout: Duration::from_secs(15),
            api_timeout: Duration::from_secs(30),
            max_requests_per_second: 50,
            phone_plan: crate::trade::phone::default_plan(),
            cold_start_rate_window: true,
            read_retries: 2,
            max_rate_limit_waits: 5,
            default_retry_after: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
            retry_after_cap: Duration::from_secs(600),
            token_renew_before: Duration::from_secs(60),
        }
    }
}

/// Counters for status and benchmarks.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub rate_limited: AtomicU64,
    pub unauthorized: AtomicU64,
    pub ambiguous: AtomicU64,
    pub retries: AtomicU64,
}

/// Read or write: decides what a lost answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Safe to repeat (GET, and POST /capacity which only reads).
    Read,
    /// May change state; a lost answer is [`StError::Ambiguous`].
    Write,
}

/// Largest `pageSize` the box asks for (community clients treat 500 as the cap).
const PAGE_SIZE: u32 = 500;
/// Lists the box pages through in full are small (reference data); stop runaway paging.
const MAX_PAGES: u32 = 50;
/// `ids=` and `externalDataValues=` take at most 50 values.
const MAX_IDS: usize = 50;
/// externalData key under which the box stamps its record id.
pub const RECORD_ID_KEY: &str = "callboxRecordId";

/// Query parameter names the box may send, per path suffix (from the OpenAPI documents).
/// A name not listed here is refused before sending: the API would silently ignore it.
const ALLOWED_QUERY: &[(&str, &[&str])] = &[
    (
        "/customers",
        &[
            "ids",
            "phone",
            "name",
            "street",
            "zip",
            "active",
            "externalDataApplicationGuid",
            "externalDataKey",
            "externalDataValues",
        ],
    ),
    ("/contacts", &[]),
    (
        "/locations",
        &[
            "customerId",
            "active",
            "externalDataApplicationGuid",
            "externalDataKey",
            "externalDataValues",
        ],
    ),
    (
        "/jobs",
        &[
            "ids",
            "number",
            "modifiedOnOrAfter",
            "externalDataApplicationGuid",
            "externalDataKey",
            "externalDataValues",
        ],
    ),
    ("/notes", &[]),
    (
        "/appointments",
        &[
            "ids",
            "jobId",
            "modifiedOnOrAfter",
            "startsOnOrAfter",
            "startsBefore",
        ],
    ),
    ("/job-cancel-reasons", &["active"]),
    ("/memberships", &["customerIds", "status"]),
    ("/appointment-assignments", &["appointmentIds", "jobId"]),
    (
        "/technician-shifts",
        &["startsOnOrAfter", "endsOnOrBefore", "shiftType", "active"],
    ),
    ("/job-types", &["active"]),
    ("/business-units", &["active"]),
    ("/technicians", &["active"]),
    ("/campaigns", &["active", "campaignPhoneNumber"]),
    ("/bookings", &["externalId"]),
    ("/leads", &["createdOnOrAfter"]),
];

/// The common paging parameters, valid on every list.
const PAGING_QUERY: &[&str] = &["page", "pageSize", "includeTotal"];

fn query_allowed(path: &str, name: &str) -> bool {
    if PAGING_QUERY.contains(&name) {
        return true;
    }
    ALLOWED_QUERY
        .iter()
        .filter(|(suffix, _)| path.ends_with(suffix))
        .any(|(_, names)| names.contains(&name))
}

/// RFC 3339 in UTC with a `Z`, as ServiceTitan's filters and bodies expect.
pub fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Installs rustls' ring provider for the process (reqwest is built with `rustls-no-provider`).
/// Idempotent: a second call, or a provider installed elsewhere, is fine.
pub use crate::infra::http::install_crypto_provider;

/// See the module docs. Cheap to clone (shared state behind `Arc`).
#[derive(Debug, Clone)]
pub struct StClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    cfg: StClientConfig,
    token_url: Url,
    api_base: Url,
    tokens: TokenCache,
    limiter: RateLimiter,
    stats: ClientStats,
    /// Waits between tries (reads retried after a 5xx or timeout).
    clock: SharedClock,
}

impl StClient {
    pub fn new(cfg: StClientConfig) -> Result<Self, StError> {
        Self::with_clock(cfg, SystemClock::shared())
    }

    /// A client whose waits between tries run on `clock`.
    pub fn with_clock(cfg: StClientConfig, clock: SharedClock) -> Result<Self, StError> {
        install_crypto_provider();
        let (token_url, api_base) = cfg.environment.urls()?;
        if !(1..=60).contains(&cfg.max_requests_per_second) {
            return Err(StError::Config {
                message: format!(
                    "max_requests_per_second must be 1..=60 ({} given)",
                    cfg.max_requests_per_second
                ),
            });
        }
        let mut options = HttpOptions::new(cfg.connect_timeout, None);
        // A dead pooled connection must not eat a whole API timeout.
        options.pool_idle_timeout = Some(Duration::from_secs(30));
        let http = http::client(&options).map_err(|e| StError::Config {
            message: format!("HTTP client: {e}"),
        })?;
        Ok(StClient {
            inner: Arc::new(Inner {
                http,
                token_url,
                api_base,
                tokens: TokenCache::new(cfg.token_renew_before),
                limiter: RateLimiter::new(cfg.max_requests_per_second, cfg.cold_start_rate_window),
                stats: ClientStats::default(),
                clock,
                cfg,
            }),
        })
    }

    pub fn config(&self) -> &StClientConfig {
        &self.inner.cfg
    }

    pub fn stats(&self) -> &ClientStats {
        &self.inner.stats
    }

    /// How many tokens were fetched so far.
    pub fn token_fetches(&self) -> u64 {
        self.inner.tokens.fetch_count()
    }

    fn tenant_path(&self, module: &str, rest: &str) -> String {
        format!(
            "/{module}/v2/tenant/{}/{}",
            self.inner.cfg.tenant_id,
            rest.trim_start_matches('/')
        )
    }

    /// Fetches (or reuses) an access token: "test connection" checks the credentials with it.
    pub async fn check_token(&self) -> Result<(), StError> {
        self.token().await.map(|_| ())
    }

    async fn token(&self) -> Result<String, StError> {
        let inner = &self.inner;
        inner.tokens.get(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<FetchedToken, StError> {
        let inner = &self.inner;
        // The token endpoint is throttled too; it shares the budget.
        inner.limiter.acquire().await;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", inner.cfg.client_id.expose()),
            ("client_secret", inner.cfg.client_secret.expose()),
        ];
        let resp = inner
            .http
            .post(inner.token_url.clone())
            .form(&form)
            .timeout(inner.cfg.token_timeout)
            .send()
            .await
            .map_err(|e| transport_error(&e, Kind::Read))?;
        let status = resp.status();
        let retry_after = retry_after_header(&resp, inner.cfg.retry_after_cap);
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(&e, Kind::Read))?;
        if status.is_success() {
            let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| StError::Decode {
                message: format!("token response: {e}"),
            })?;
            return Ok(FetchedToken {
                access_token: t.access_token,
                expires_in: Duration::from_secs(t.expires_in),
            });
        }
        Err(match status.as_u16() {
            400 | 401 => StError::Unauthorized {
                message: format!(
                    "token endpoint said HTTP {}: {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
            },
            429 => StError::RateLimited {
                retry_after: retry_after
                    .unwrap_or(inner.cfg.default_retry_after)
                    .min(inner.cfg.retry_after_cap),
            },
            s if s >= 500 => StError::Server { status: s },
            s => classify_status(s, &body, Kind::Read, retry_after),
        })
    }

    /// Sends one API call with every policy in the module docs applied.
    pub async fn send<B, T>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        kind: Kind,
    ) -> Result<T, StError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let inner = &self.inner;
        for (name, _) in query {
            if !query_allowed(path, name) {
                return Err(StError::Config {
                    message: format!("query parameter `{name}` is not in the allowlist for {path}"),
                });
            }
        }
        let mut url = inner.api_base.clone();
        url.set_path(&format!(
            "{}{}",
            inner.api_base.path().trim_end_matches('/'),
            path
        ));
        let mut reauthed = false;
        let mut waits_429 = 0u32;
        let mut read_tries = 0u32;
        loop {
            inner.limiter.acquire().await;
            let token = self.token().await?;
            inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            let mut req = inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&token)
                .header("ST-App-Key", inner.cfg.app_key.expose())
                .timeout(inner.cfg.api_timeout);
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = retry_after_header(&resp, inner.cfg.retry_after_cap);
                    match resp.bytes().await {
                        Ok(bytes) => Ok((status, retry_after, bytes)),
                        Err(e) => Err(transport_error(&e, kind)),
                    }
                }
                Err(e) => Err(transport_error(&e, kind)),
            };
            let err = match outcome {
                Ok((status, _, bytes)) if status.is_success() => {
                    // Some writes (job cancel) answer 200 with no body at all.
                    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
                        b"null"
                    } else {
                        &bytes
                    };
                    return serde_json::from_slice(bytes).map_err(|e| {
                        let message = format!("{method} {path}: {e}");
                        match kind {
                            // The write was applied but its answer is unreadable: we do not
                            // know the new id, so treat it like a lost answer.
                            Kind::Write => StError::Ambiguous { reason: message },
                            Kind::Read => StError::Decode { message },
                        }
                    });
                }
                Ok((status, retry_after, bytes)) => {
                    classify_status(status.as_u16(), &bytes, kind, retry_after)
                }
                Err(e) => e,
            };
            match &err {
                // A 401, or a 403 that may be a stale token's scopes: once with a fresh token.
                // If it persists it is ServiceTitan's (or the app's) problem, not the record's.
                StError::Unauthorized { .. } | StError::Forbidden { .. } if !reauthed => {
                    if matches!(err, StError::Unauthorized { .. }) {
                        inner.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
                    }
                    inner.tokens.invalidate(&token).await;
                    reauthed = true;
                    continue;
                }
                StError::RateLimited { retry_after } => {
                    inner.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let wait = *retry_after;
                    if waits_429 < inner.cfg.max_rate_limit_waits
                        && wait <= inner.cfg.max_retry_after
                    {
                        waits_429 += 1;
                        inner.limiter.pause_for(wait);
                        tracing::debug!(?wait, path, "ServiceTitan 429; waiting");
                        continue;
                    }
                    // Longer waits are the caller's, on its clock (capped at retry_after_cap).
                    return Err(err);
                }
                StError::Ambiguous { .. } => {
                    inner.stats.ambiguous.fetch_add(1, Ordering::Relaxed);
                    return Err(err);
                }
                StError::Server { .. } | StError::Timeout | StError::Network { .. }
                    if kind == Kind::Read && read_tries < inner.cfg.read_retries =>
                {
                    read_tries += 1;
                    inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = Backoff::new(Duration::from_millis(200), Duration::from_secs(5))
                        .delay_jittered(read_tries - 1);
                    inner.clock.sleep(wait).await;
                    continue;
                }
                _ => return Err(err),
            }
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, StError> {
        self.send::<(), T>(Method::GET, path, query, None, Kind::Read)
            .await
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, StError> {
        self.send(Method::POST, path, &[], Some(body), Kind::Write)
            .await
    }

    /// Every page of a list (reference data).
    async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, StError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut q = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("pageSize", PAGE_SIZE.to_string()));
            let p: Page<T> = self.get(path, &q).await?;
            let more = p.has_more && !p.data.is_empty();
            out.extend(p.data);
            if !more {
                return Ok(out);
            }
        }
        Ok(out)
    }

    fn external_data_query(&self, key: &str, value: &str) -> Vec<(&'static str, String)> {
        vec![
            (
                "externalDataApplicationGuid",
                self.inner.cfg.external_data_guid.clone(),
            ),
            ("externalDataKey", key.to_string()),
            ("externalDataValues", value.to_string()),
        ]
    }

    // ---- CRM ----------------------------------------------------------------------------

    /// Customers whose contacts hold `phone` (any format; sent as the shop country's national
    /// number), verified.
    pub async fn find_customers_by_phone(&self, phone: &str) -> Result<Vec<Customer>, StError> {
        let plan = self.inner.cfg.phone_plan;
        let Some(key) = plan.servicetitan_key(phone) else {
            return Ok(Vec::new());
        };
        let path = self.tenant_path("crm", "customers");
        let page: Page<Customer> = self
            .get(
                &path,
                &[
                    ("phone", key),
                    ("includeTotal", "true".into()),
                    ("pageSize", MAX_IDS.to_string()),
                    (
                        "externalDataApplicationGuid",
                        self.inner.cfg.external_data_guid.clone(),
                    ),
                ],
            )
            .await?;
        if page.data.is_empty() {
            return Ok(Vec::new());
        }
        // Ten is plenty for one phone number; an unfiltered page is caught by the verification.
        let ids: Vec<StId> = page.data.iter().map(|c| c.id).take(10).collect();
        let contacts = self.customer_contacts(&ids).await?;
        verify::verify_phone_customers(&page, &contacts, phone, plan)
    }

    /// These customers (≤ 50 per request), verified by id.
    pub async fn customers_by_ids(&self, ids: &[StId]) -> Result<Vec<Customer>, StError> {
        let path = self.tenant_path("crm", "customers");
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_IDS) {
            let items: Vec<Customer> = self.get_all(&path, &[("ids", join_ids(chunk))]).await?;
            out.extend(verify::verify_all(items, "ids", |c| chunk.contains(&c.id))?);
        }
        Ok(out)
    }

    /// Contact methods of these customers, each tagged with its customer id.
    pub async fn customer_contacts(&self, ids: &[StId]) -> Result<Vec<CustomerContact>, StError> {
        // One call per customer (`/customers/{id}/contacts`): a phone lookup rarely returns
        // more than one or two customers.
        let mut out = Vec::new();
        for &id in ids.iter().take(MAX_IDS) {
            let path = self.tenant_path("crm", &format!("customers/{id}/contacts"));
            let contacts: Vec<CustomerContact> = self.get_all(&path, &[]).await?;
            out.extend(contacts.into_iter().map(|mut c| {
                c.customer_id = Some(id);
                c
            }));
        }
        Ok(out)
    }

    /// Customers at this street and zip (optionally by name), verified against the address.
    pub async fn find_customers_by_address(
        &self,
        name: Option<&str>,
        address: &Address,
    ) -> Result<Vec<Customer>, StError> {
        let path = self.tenant_path("crm", "customers");
        let mut q = vec![
            ("street", address.street.clone()),
            ("zip", address.zip.clone()),
            ("includeTotal", "true".into()),
            ("pageSize", MAX_IDS.to_string()),
        ];
        if let Some(n) = name {
            q.push(("name", n.to_string()));
        }
        let page: Page<Customer> = self.get(&path, &q).await?;
        verify::verify_address_customers(&page, address)
    }

    /// Customers this box created for record `value` (externalData lookup), verified.
    pub async fn find_customers_by_external_data(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<Customer>, StError> {
        let path = self.tenant_path("crm", "customers");
        let page: Page<Customer> = self
            .get(&path, &self.external_data_query(key, value))
            .await?;
        verify::verify_external_data(page.data, key, value, |c| c.external_data.as_ref())
    }

    /// A customer's locations, verified to belong to it.
    pub async fn list_locations(&self, customer_id: StId) -> Result<Vec<Location>, StError> {
        let path = self.tenant_path("crm", "locations");
        let locations: Vec<Location> = self
            .get_all(&path, &[("customerId", customer_id.to_string())])
            .await?;
        verify::verify_all(locations, "customerId", |l| l.customer_id == customer_id)
    }

    /// Locations this box created for record `value`, verified.
    pub async fn find_locations_by_external_data(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<Location>, StError> {
        let path = self.tenant_path("crm", "locations");
        let page: Page<Location> = self
            .get(&path, &self.external_data_query(key, value))
            .await?;
        verify::verify_external_data(page.data, key, value, |l| l.external_data.as_ref())
    }

    /// Creates a customer and its first location in one call.
    pub async fn create_customer(
        &self,
        req: &CreateCustomerRequest,
    ) -> Result<CreatedCustomer, StError> {
        self.post(&self.tenant_path("crm", "customers"), req).await
    }

    pub async fn create_location(&self, req: &CreateLocationRequest) -> Result<Location, StError> {
        self.post(&self.tenant_path("crm", "locations"), req).await
    }

    /// Hands the call to a CSR (Calls screen) through the tenant's booking provider tag.
    pub async fn create_booking(
        &self,
        provider: StId,
        req: &CreateBookingRequest,
    ) -> Result<Booking, StError> {
        let path = self.tenant_path("crm", &format!("booking-provider/{provider}/bookings"));
        self.post(&path, req).await
    }

    /// Bookings with this `externalId`, verified.
    pub async fn find_bookings_by_external_id(
        &self,
        provider: StId,
        external_id: &str,
    ) -> Result<Vec<Booking>, StError> {
        let path = self.tenant_path("crm", &format!("booking-provider/{provider}/bookings"));
        let page: Page<Booking> = self
            .get(&path, &[("externalId", external_id.to_string())])
            .await?;
        verify::verify_all(page.data, "externalId", |b| b.external_id == external_id)
    }

    /// Leads created since `since` whose summary carries `marker`. Leads have no externalData
    /// and no summary filter, so they are found by date and the summaries are read; each is
    /// checked against the date too, in case the filter is ignored.
    pub async fn find_leads_by_marker(
        &self,
        since: DateTime<Utc>,
        marker: &str,
    ) -> Result<Vec<Lead>, StError> {
        let path = self.tenant_path("crm", "leads");
        let leads: Vec<Lead> = self
            .get_all(&path, &[("createdOnOrAfter", utc(since))])
            .await?;
        Ok(leads
            .into_iter()
            .filter(|l| l.created_on.is_none_or(|t| t >= since))
            .filter(|l| l.summary.as_deref().is_some_and(|s| s.contains(marker)))
            .collect())
    }

    pub async fn create_lead(&self, req: &CreateLeadRequest) -> Result<Lead, StError> {
        self.post(&self.tenant_path("crm", "leads"), req).await
    }

    // ---- JPM ----------------------------------------------------------------------------

    pub async fn create_job(&self, req: &CreateJobRequest) -> Result<Job, StError> {
        self.post(&self.tenant_path("jpm", "jobs"), req).await
    }

    /// Jobs this box created for record `value`, verified.
    pub async fn find_jobs_by_external_data(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<Job>, StError> {
        let path = self.tenant_path("jpm", "jobs");
        let page: Page<Job> = self
            .get(&path, &self.external_data_query(key, value))
            .await?;
        verify::verify_external_data(page.data, key, value, |j| j.external_data.as_ref())
    }

    /// Jobs among `ids` modified at or after `since` (polling dispatcher changes).
    pub async fn jobs_modified_since(
        &self,
        ids: &[StId],
        since: DateTime<Utc>,
    ) -> Result<Vec<Job>, StError> {
        let path = self.tenant_path("jpm", "jobs");
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_IDS) {
            let q = [
                ("ids", join_ids(chunk)),
                ("modifiedOnOrAfter", utc(since)),
                (
                    "externalDataApplicationGuid",
                    self.inner.cfg.external_data_guid.clone(),
                ),
            ];
            let jobs: Vec<Job> = self.get_all(&path, &q).await?;
            out.extend(verify::verify_ids(jobs, chunk, |j| j.id)?);
        }
        Ok(out)
    }

    /// Appointments by id (≤ 50 per request), verified.
    pub async fn appointments_by_ids(&self, ids: &[StId]) -> Result<Vec<Appointment>, StError> {
        let path = self.tenant_path("jpm", "appointments");
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_IDS) {
            let q = [("ids", join_ids(chunk))];
            let items: Vec<Appointment> = self.get_all(&path, &q).await?;
            out.extend(verify::verify_ids(items, chunk, |a| a.id)?);
        }
        Ok(out)
    }

    /// Appointments starting in [from, to), every page, verified against the window.
    pub async fn appointments_starting(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, StError> {
        let path = self.tenant_path("jpm", "appointments");
        let q = [("startsOnOrAfter", utc(from)), ("startsBefore", utc(to))];
        let items: Vec<Appointment> = self.get_all(&path, &q).await?;
        // Compared at the second, as sent: the filter was rounded to whole seconds.
        let (from_s, to_s) = (from.timestamp(), to.timestamp());
        verify::verify_all(items, "startsOnOrAfter/startsBefore", |a| {
            (from_s..to_s).contains(&a.start.timestamp())
        })
    }

    /// Jobs by id (≤ 50 per request), verified.
    pub async fn jobs_by_ids(&self, ids: &[StId]) -> Result<Vec<Job>, StError> {
        let path = self.tenant_path("jpm", "jobs");
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_IDS) {
            let q = [
                ("ids", join_ids(chunk)),
                (
                    "externalDataApplicationGuid",
                    self.inner.cfg.external_data_guid.clone(),
                ),
            ];
            let jobs: Vec<Job> = self.get_all(&path, &q).await?;
            out.extend(verify::verify_ids(jobs, chunk, |j| j.id)?);
        }
        Ok(out)
    }

    /// The job with the number the caller quoted, verified.
    pub async fn find_jobs_by_number(&self, number: &str) -> Result<Vec<Job>, StError> {
        let path = self.tenant_path("jpm", "jobs");
        let page: Page<Job> = self.get(&path, &[("number", number.to_string())]).await?;
        verify::verify_all(page.data, "number", |j| j.job_number == number)
    }

    /// Moves an appointment (UTC times). 404 unknown, 409 when the job is done or canceled.
    pub async fn reschedule_appointment(
        &self,
        appointment_id: StId,
        req: &RescheduleAppointmentRequest,
    ) -> Result<Appointment, StError> {
        let path = self.tenant_path("jpm", &format!("appointments/{appointment_id}/reschedule"));
        self.send(Method::PATCH, &path, &[], Some(req), Kind::Write)
            .await
    }

    /// Cancels a job (jobs are never deleted); ServiceTitan answers 200 with no body.
    pub async fn cancel_job(&self, job_id: StId, req: &CancelJobRequest) -> Result<(), StError> {
        let path = self.tenant_path("jpm", &format!("jobs/{job_id}/cancel"));
        let _: serde_json::Value = self
            .send(Method::PUT, &path, &[], Some(req), Kind::Write)
            .await?;
        Ok(())
    }

    pub async fn list_job_cancel_reasons(&self) -> Result<Vec<JobCancelReason>, StError> {
        self.get_all(&self.tenant_path("jpm", "job-cancel-reasons"), &[])
            .await
    }

    pub async fn add_job_note(&self, job_id: StId, text: &str) -> Result<Note, StError> {
        let path = self.tenant_path("jpm", &format!("jobs/{job_id}/notes"));
        self.post(
            &path,
            &CreateNoteRequest {
                text: text.to_string(),
                pin_to_top: false,
            },
        )
        .await
    }

    pub async fn list_job_notes(&self, job_id: StId) -> Result<Vec<Note>, StError> {
        let path = self.tenant_path("jpm", &format!("jobs/{job_id}/notes"));
        self.get_all(&path, &[]).await
    }

    pub async fn list_job_types(&self) -> Result<Vec<JobType>, StError> {
        self.get_all(&self.tenant_path("jpm", "job-types"), &[])
            .await
    }

    // ---- Dispatch -----------------------------------------------------------------------

    /// On-call shifts overlapping [from, to], verified to be on-call.
    pub async fn on_call_shifts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TechnicianShift>, StError> {
        let path = self.tenant_path("dispatch", "technician-shifts");
        // `endsOnOrBefore` (not `startsBefore`, which is silently ignored here). A shift that
        // covers the moment starts before `to` and ends after `from`; ask for a day around it
        // and filter locally.
        let q = [
            ("shiftType", "OnCall".to_string()),
            ("startsOnOrAfter", utc(from - chrono::Duration::days(1))),
            ("endsOnOrBefore", utc(to + chrono::Duration::days(1))),
        ];
        let shifts: Vec<TechnicianShift> = self.get_all(&path, &q).await?;
        let shifts = verify::verify_all(shifts, "shiftType", |s| s.shift_type == "OnCall")?;
        Ok(shifts
            .into_iter()
            .filter(|s| s.start <= to && s.end >= from)
            .collect())
    }

    pub async fn assign_technicians(
        &self,
        appointment_id: StId,
        technician_ids: &[StId],
    ) -> Result<serde_json::Value, StError> {
        let path = self.tenant_path("dispatch", "appointment-assignments/assign-technicians");
        self.post(
            &path,
            &AssignTechniciansRequest {
                job_appointment_id: appointment_id,
                technician_ids: technician_ids.to_vec(),
            },
        )
        .await
    }

    /// Technicians assigned to an appointment, verified.
    pub async fn appointment_assignments(
        &self,
        appointment_id: StId,
    ) -> Result<Vec<AppointmentAssignment>, StError> {
        let path = self.tenant_path("dispatch", "appointment-assignments");
        let items: Vec<AppointmentAssignment> = self
            .get_all(&path, &[("appointmentIds", appointment_id.to_string())])
            .await?;
        verify::verify_all(items, "appointmentIds", |a| {
            a.appointment_id == appointment_id
        })
    }

    /// Technicians on these appointments (≤ 50 per request), verified.
    pub async fn assignments_for_appointments(
        &self,
        appointment_ids: &[StId],
    ) -> Result<Vec<AppointmentAssignment>, StError> {
        let path = self.tenant_path("dispatch", "appointment-assignments");
        let mut out = Vec::new();
        for chunk in appointment_ids.chunks(MAX_IDS) {
            let items: Vec<AppointmentAssignment> = self
                .get_all(&path, &[("appointmentIds", join_ids(chunk))])
                .await?;
            out.extend(verify::verify_all(items, "appointmentIds", |a| {
                chunk.contains(&a.appointment_id)
            })?);
        }
        Ok(out)
    }

    /// Capacity frames (a POST that only reads, hence [`Kind::Read`]).
    pub async fn capacity(&self, req: &CapacityRequest) -> Result<CapacityResponse, StError> {
        let path = self.tenant_path("dispatch", "capacity");
        self.send(Method::POST, &path, &[], Some(req), Kind::Read)
            .await
    }

    // ---- Memberships --------------------------------------------------------------------

    /// Active memberships of these customers (≤ 50 per request), verified.
    pub async fn active_memberships(
        &self,
        customer_ids: &[StId],
    ) -> Result<Vec<Membership>, StError> {
        let path = self.tenant_path("memberships", "memberships");
        let mut out = Vec::new();
        for chunk in customer_ids.chunks(MAX_IDS) {
            let q = [
                ("customerIds", join_ids(chunk)),
                ("status", "Active".to_string()),
            ];
            let items: Vec<Membership> = self.get_all(&path, &q).await?;
            out.extend(verify::verify_all(items, "customerIds/status", |m| {
                chunk.contains(&m.customer_id) && m.status == "Active"
            })?);
        }
        Ok(out)
    }

    /// Every active membership of the tenant (all pages): the members the box should greet as
    /// members on their first call, before it has ever looked them up by phone.
    pub async fn all_active_memberships(&self) -> Result<Vec<Membership>, StError> {
        let path = self.tenant_path("memberships", "memberships");
        let items: Vec<Membership> = self
            .get_all(&path, &[("status", "Active".to_string())])
            .await?;
        verify::verify_all(items, "status", |m| m.status == "Active")
    }

    // ---- Settings / Marketing -----------------------------------------------------------

    pub async fn list_business_units(&self) -> Result<Vec<BusinessUnit>, StError> {
        self.get_all(&self.tenant_path("settings", "business-units"), &[])
            .await
    }

    pub async fn list_technicians(&self) -> Result<Vec<Technician>, StError> {
        self.get_all(&self.tenant_path("settings", "technicians"), &[])
            .await
    }

    pub async fn list_campaigns(&self) -> Result<Vec<Campaign>, StError> {
        self.get_all(&self.tenant_path("marketing", "campaigns"), &[])
            .await
    }

    /// Campaigns tracking the dialled number (DNIS), verified.
    pub async fn find_campaigns_by_phone(&self, dialled: &str) -> Result<Vec<Campaign>, StError> {
        let plan = self.inner.cfg.phone_plan;
        let Some(key) = plan.servicetitan_key(dialled) else {
            return Ok(Vec::new());
        };
        let path = self.tenant_path("marketing", "campaigns");
        let page: Page<Campaign> = self.get(&path, &[("campaignPhoneNumber", key)]).await?;
        verify::verify_campaigns_by_phone(page.data, dialled, plan)
    }
}

/// `1,2,3`: how ServiceTitan takes id lists in a query.
fn join_ids(ids: &[StId]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `Retry-After` (seconds or an HTTP date), never longer than `cap`.
fn retry_after_header(resp: &reqwest::Response, cap: Duration) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()))
        .map(|d| d.min(cap))
}

/// A transport failure (no HTTP status): what it means depends on whether the request may have
/// reached the server.
pub fn transport_error(e: &reqwest::Error, kind: Kind) -> StError {
    let message = e.to_string();
    if e.is_connect() {
        // Refused or unreachable: nothing was sent, even a write is safe to retry.
        return StError::Network { message };
    }
    classify_transport(e.is_timeout(), message, kind)
}

/// [`transport_error`]'s decision, separated for tests.
pub fn classify_transport(timed_out: bool, message: String, kind: Kind) -> StError {
    match (kind, timed_out) {
        (Kind::Write, true) => StError::Ambiguous {
            reason: format!("timed out: {message}"),
        },
        (Kind::Write, false) => StError::Ambiguous {
            reason: format!("connection lost: {message}"),
        },
        (Kind::Read, true) => StError::Timeout,
        (Kind::Read, false) => StError::Network { message },
    }
}

/// Maps a non-2xx status and its body to an error.
pub fn classify_status(
    status: u16,
    body: &[u8],
    kind: Kind,
    retry_after: Option<Duration>,
) -> StError {
    let api: Option<ApiErrorResponse> = serde_json::from_slice(body).ok();
    let text = || {
        api.as_ref()
            .and_then(|a| a.title.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect())
    };
    match status {
        400 | 422 => {
            let api = api.clone().unwrap_or_default();
            StError::Validation {
                title: api.title.unwrap_or_else(&text),
                errors: api.errors,
                trace_id: api.trace_id,
            }
        }
        401 => StError::Unauthorized { message: text() },
        403 => StError::Forbidden { scope_hint: text() },
        404 => StError::NotFound { what: text() },
        409 => StError::Conflict { message: text() },
        429 => StError::RateLimited {
            // 1 s when the gateway says nothing: the window is one second long.
            retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
        },
        s if s >= 500 && kind == Kind::Write => StError::Ambiguous {
            reason: format!("HTTP {s}"),
        },
        s if s >= 500 => StError::Server { status: s },
        s => StError::Decode {
            message: format!("unexpected HTTP {s}: {}", text()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments() {
        let (auth, api) = Environment::Production.urls().unwrap();
        assert_eq!(auth.as_str(), "https://auth.servicetitan.io/connect/token");
        assert_eq!(api.as_str(), "https://api.servicetitan.io/");
        let (auth, api) = Environment::Integration.urls().unwrap();
        assert_eq!(
            auth.as_str(),
            "https://auth-integration.servicetitan.io/connect/token"
        );
        assert_eq!(api.host_str(), Some("api-integration.servicetitan.io"));
        let custom = |a: &str, b: &str| Environment::Custom {
            auth_url: a.into(),
            api_url: b.into(),
        };
        let (auth, _) = custom("http://127.0.0.1:9000", "http://127.0.0.1:9001")
            .urls()
            .unwrap();
        assert_eq!(auth.as_str(), "http://127.0.0.1:9000/connect/token");
        assert!(custom("http://localhost:1/connect/token", "http://[::1]:2")
            .urls()
            .is_ok());
        assert!(matches!(
            custom("http://10.0.0.5:9000", "https://x.example").urls(),
            Err(StError::Config { .. })
        ));
        assert!(custom("https://a.example", "http://api.example")
            .urls()
            .is_err());
        assert!(custom("ftp://127.0.0.1", "https://x").urls().is_err());
        assert!(custom("not a url", "https://x").urls().is_err());
    }

    #[test]
    fn status_classification() {
        let body = br#"{"type":"t","title":"One or more validation errors occurred.","status":400,
            "traceId":"abc","errors":{"CampaignId":["The CampaignId field is required."]}}"#;
        match classify_status(400, body, Kind::Write, None) {
            StError::Validation {
                title,
                errors,
                trace_id,
            } => {
                assert_eq!(title, "One or more validation errors occurred.");
                assert_eq!(errors["CampaignId"].len(), 1);
                assert_eq!(trace_id.as_deref(), Some("abc"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_status(400, b"not json", Kind::Read, None),
            StError::Validation { .. }
        ));
        assert!(matches!(
            classify_status(500, b"", Kind::Write, None),
            StError::Ambiguous { .. }
        ));
        assert_eq!(
            classify_status(503, b"", Kind::Read, None),
            StError::Server { status: 503 }
        );
        assert_eq!(
            classify_status(429, b"", Kind::Write, Some(Duration::from_secs(3))),
            StError::RateLimited {
                retry_after: Duration::from_secs(3)
            }
        );
        assert!(matches!(
            classify_status(403, b"", Kind::Read, None),
            StError::Forbidden { .. }
        ));
        assert!(matches!(
            classify_status(401, b"", Kind::Read, None),
            StError::Unauthorized { .. }
        ));
        assert!(matches!(
            classify_status(404, b"", Kind::Read, None),
            StError::NotFound { .. }
        ));
        assert!(matches!(
            classify_status(409, b"", Kind::Write, None),
            StError::Conflict { .. }
        ));
        assert!(matches!(
            classify_status(302, b"", Kind::Read, None),
            StError::Decode { .. }
        ));
    }

    #[test]
    fn transport_classification() {
        assert!(classify_transport(true, "t".into(), Kind::Write).is_ambiguous());
        assert!(classify_transport(false, "reset".into(), Kind::Write).is_ambiguous());
        assert_eq!(
            classify_transport(true, "t".into(), Kind::Read),
            StError::Timeout
        );
        assert!(classify_transport(false, "reset".into(), Kind::Read).is_offline());
    }

    #[test]
    fn query_allowlist() {
        assert!(query_allowed("/crm/v2/tenant/1/customers", "phone"));
        assert!(!query_allowed("/crm/v2/tenant/1/customers", "phoneNumber"));
        assert!(!query_allowed(
            "/dispatch/v2/tenant/1/technician-shifts",
            "technicianIds"
        ));
        assert!(!query_allowed(
            "/dispatch/v2/tenant/1/technician-shifts",
            "startsBefore"
        ));
        assert!(query_allowed("/crm/v2/tenant/1/customers", "page"));
        assert!(query_allowed(
            "/crm/v2/tenant/1/customers/7/contacts",
            "page"
        ));
        assert!(!query_allowed(
            "/crm/v2/tenant/1/customers/7/contacts",
            "customerIds"
        ));
        assert!(query_allowed("/jpm/v2/tenant/1/jobs", "externalDataValues"));
    }

    #[test]
    fn utc_format() {
        let t: DateTime<Utc> = "2026-07-01T15:00:00.123Z".parse().unwrap();
        assert_eq!(utc(t), "2026-07-01T15:00:00Z");
    }
}
