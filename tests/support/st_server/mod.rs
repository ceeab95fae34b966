//! A ServiceTitan (v2 REST API) test server for callbox's integration and fault tests.
//!
//! It behaves like the documented API, written down from ServiceTitan's OpenAPI documents and
//! the research notes (`shared/servicetitan-api.md`) — the facts are transcribed into this code;
//! nothing here reads `../shared` at run time.
//!
//! - `POST /connect/token` (client credentials) with expiring tokens and a request counter;
//! - the CRM, JPM, Dispatch, Settings, Marketing and JBCE operations callbox uses, validating
//!   bodies like the real binder (400 `ApiErrorResponse` naming the field), keeping real state,
//!   paging with `{page, pageSize, hasMore, totalCount, data}`;
//! - the traps: unknown query parameters are ignored (unfiltered 200), plural `technicianIds`
//!   on shifts is ignored, `ids` over 50 is a 400, capacity `start`/`end` are tenant-local;
//! - the gateway: `ST-App-Key`, bearer tokens (401), scopes (403), 60 requests/s per app per
//!   tenant (429 + `Retry-After`);
//! - faults injected by the test ([`FaultPlan`]): 429, 5xx, slow answers, a write that commits
//!   but whose answer never arrives, token revocation, 403/404/409.
//!
//! Start it with [`StServer::start`]; it runs on its own thread and runtime (so paused tokio
//! clocks in a test do not stop it) and listens on plain HTTP on 127.0.0.1.

#![allow(dead_code)]

pub mod conversation;
pub mod crm;
pub mod dispatch;
pub mod faults;
pub mod jpm;
pub mod memberships;
pub mod query;
pub mod schema;
pub mod seed;
pub mod settings;
pub mod state;

#[allow(unused_imports)]
pub use faults::{DropMode, Fault, FaultPlan, FaultRule};
#[allow(unused_imports)]
pub use state::*;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

use faults::{max_in_any_window, RateLimiter};
use schema::{FieldErrors, Schema, Validated};

/// Every scope callbox's app is granted (servicetitan-api.md §1, "Scope names the appliance
/// needs").
pub const ALL_SCOPES: &[&str] = &[
    "tn.crm.customers:r",
    "tn.crm.customers:w",
    "tn.crm.locations:r",
    "tn.crm.locations:w",
    "tn.crm.bookings:r",
    "tn.crm.bookings:w",
    "tn.crm.leads:r",
    "tn.crm.leads:w",
    "tn.jpm.jobs:r",
    "tn.jpm.jobs:w",
    "tn.jpm.appointments:r",
    "tn.jpm.appointments:w",
    "tn.jpm.jobtypes:r",
    "tn.jpm.jobcancelreasons:r",
    "tn.dis.capacity:w",
    "tn.dis.appointmentassignments:r",
    "tn.dis.appointmentassignments:w",
    "tn.dis.technicianshifts:r",
    "tn.dis.arrivalwindows:r",
    "tn.dis.businesshours:r",
    "tn.stt.technicians:r",
    "tn.stt.businessunits:r",
    "tn.mrk.campaigns:r",
    "tn.jbce.callreasons:r",
    "tn.mem.memberships:r",
];

/// How the server is set up. `Default` gives the values below; tests change what they need.
#[derive(Clone, Debug)]
pub struct StServerConfig {
    /// Where to listen: loopback, port 0 (any free port) by default.
    pub listen: SocketAddr,
    /// The numeric tenant ID in every path (`/crm/v2/tenant/{tenant}/...`); others get 404.
    pub tenant_id: i64,
    /// The application key expected in `ST-App-Key` (or `?servicetitanapplicationkey=`).
    pub app_key: String,
    pub client_id: String,
    pub client_secret: String,
    /// Token lifetime; ServiceTitan issues 900 s tokens. Tests shorten it to force expiry.
    pub token_lifetime: Duration,
    /// Token endpoint throttle: at most this many token requests per rolling minute (429
    /// beyond). ServiceTitan documents that it throttles token requests, not the figure.
    pub token_requests_per_minute: Option<usize>,
    /// Calls per rolling second per app per tenant (ServiceTitan: 60). 0 disables the limit.
    pub rate_limit_per_second: usize,
    /// Largest page actually served (community-observed cap 500); larger `pageSize` values up
    /// to the documented 5000 are served as this many with `hasMore`.
    pub max_page_size: usize,
    /// The tenant's UTC offset in minutes, used for capacity frames' local `start`/`end` and
    /// arrival windows. A fixed offset: the test server has no time-zone database.
    pub tenant_utc_offset_minutes: i32,
    /// Scopes written into issued tokens.
    pub scopes: Vec<String>,
    /// How long a [`DropMode::Hang`] keeps the connection silent before closing it.
    pub hang_for: Duration,
    /// Delay added before every API answer (none by default).
    pub latency: Duration,
    /// Booked share of capacity above which `isExceedingIdealBookingPercentage` is true.
    pub ideal_booking_percentage: f64,
}

pub const TEST_TENANT_ID: i64 = 1_017_654_321;
pub const TEST_APP_KEY: &str = "ak1.callbox-test-app-key";
pub const TEST_CLIENT_ID: &str = "cid.callbox-test-client";
pub const TEST_CLIENT_SECRET: &str = "cs1.callbox-test-secret";

impl Default for StServerConfig {
    fn default() -> Self {
        StServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tenant_id: TEST_TENANT_ID,
            app_key: TEST_APP_KEY.into(),
            client_id: TEST_CLIENT_ID.into(),
            client_secret: TEST_CLIENT_SECRET.into(),
            token_lifetime: Duration::from_secs(900),
            token_requests_per_minute: None,
            rate_limit_per_second: 60,
            max_page_size: 500,
            tenant_utc_offset_minutes: -5 * 60,
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            hang_for: Duration::from_secs(120),
            latency: Duration::ZERO,
            ideal_booking_percentage: 0.8,
        }
    }
}

/// One request as the server saw it, for tests to inspect.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub seq: u64,
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// OpenAPI `operationId` (`"Jobs_Create"`), `"Token"` for the token endpoint, `None` for
    /// paths the API does not have.
    pub operation_id: Option<String>,
    /// The JSON body (or the token form with the secret masked).
    pub body: Option<Value>,
    /// `None` when no answer was sent (dropped connection).
    pub status: Option<u16>,
    pub fault: Option<Fault>,
    /// Query parameters the real API would have ignored, and body properties (`$.path`) the
    /// binder skipped.
    pub ignored: Vec<String>,
    pub bearer: Option<String>,
}

#[derive(Debug)]
struct Token {
    expires_at: Instant,
    revoked: bool,
    scopes: Vec<String>,
}

/// Mutable server state, behind one mutex (never held across an await).
pub struct ServerState {
    pub tenant: Tenant,
    tokens: HashMap<String, Token>,
    token_requests: usize,
    tokens_issued: usize,
    token_times: VecDeque<Instant>,
    faults: FaultPlan,
    limiter: RateLimiter,
    api_arrivals: Vec<Instant>,
    rate_limited: usize,
    log: Vec<LoggedRequest>,
    scopes: Vec<String>,
}

pub struct Inner {
    pub config: StServerConfig,
    state: Mutex<ServerState>,
}

pub type Shared = Arc<Inner>;

impl Inner {
    pub fn lock(&self) -> MutexGuard<'_, ServerState> {
        // A panicking handler must not wedge the rest of the test.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_start(&self, entry: LoggedRequest) -> u64 {
        let mut s = self.lock();
        let seq = s.log.len() as u64;
        s.log.push(LoggedRequest { seq, ..entry });
        seq
    }

    fn log_finish(
        &self,
        seq: u64,
        status: Option<u16>,
        fault: Option<Fault>,
        ignored: Vec<String>,
    ) {
        let mut s = self.lock();
        if let Some(e) = s.log.get_mut(seq as usize) {
            e.status = status;
            if fault.is_some() {
                e.fault = fault;
            }
            e.ignored = ignored;
        }
    }
}

/// The running server. Dropping it stops it.
pub struct StServer {
    addr: SocketAddr,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StServer {
    /// Binds `config.listen` (127.0.0.1:0 by default) and serves on a dedicated thread with
    /// its own runtime. Works from sync and async tests.
    pub fn start(config: StServerConfig) -> StServer {
        let listener = std::net::TcpListener::bind(config.listen).expect("bind the test server");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared: Shared = Arc::new(Inner {
            state: Mutex::new(ServerState {
                tenant: Tenant::default(),
                tokens: HashMap::new(),
                token_requests: 0,
                tokens_issued: 0,
                token_times: VecDeque::new(),
                faults: FaultPlan::none(),
                limiter: RateLimiter::new(config.rate_limit_per_second),
                api_arrivals: Vec::new(),
                rate_limited: 0,
                log: Vec::new(),
                scopes: config.scopes.clone(),
            }),
            config,
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let served = shared.clone();
        let thread = std::thread::Builder::new()
            .name("st-test-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("test server runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    serve(listener, router(served), rx).await;
                });
                // Hanging answers are abandoned, not awaited.
                rt.shutdown_background();
            })
            .expect("spawn test server thread");
        StServer {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Starts with `seed` already applied.
    pub fn start_seeded(config: StServerConfig, seed: Seed) -> StServer {
        let server = StServer::start(config);
        server.seed(seed);
        server
    }

    /// The API host, e.g. `http://127.0.0.1:41234` (real: `https://api.servicetitan.io`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The auth host (real: `https://auth.servicetitan.io`); the token endpoint is
    /// `{auth_url}/connect/token`. The test server serves both hosts on one port.
    pub fn auth_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.auth_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &StServerConfig {
        &self.shared.config
    }

    pub fn tenant_id(&self) -> i64 {
        self.shared.config.tenant_id
    }

    /// Adds reference data and existing records.
    pub fn seed(&self, seed: Seed) {
        self.shared.lock().tenant.apply_seed(seed, Utc::now());
    }

    /// Reads or changes the tenant's records directly (e.g. complete a job behind the
    /// client's back).
    pub fn with_tenant<R>(&self, f: impl FnOnce(&mut Tenant) -> R) -> R {
        f(&mut self.shared.lock().tenant)
    }

    pub fn customers(&self) -> Vec<Customer> {
        self.with_tenant(|t| t.customers.values().cloned().collect())
    }

    pub fn locations(&self) -> Vec<Location> {
        self.with_tenant(|t| t.locations.values().cloned().collect())
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.with_tenant(|t| t.jobs.values().cloned().collect())
    }

    pub fn appointments(&self) -> Vec<Appointment> {
        self.with_tenant(|t| t.appointments.values().cloned().collect())
    }

    /// The notes of one job, oldest first.
    pub fn notes(&self, job_id: i64) -> Vec<Note> {
        self.with_tenant(|t| {
            t.notes
                .iter()
                .filter(|n| n.job_id == job_id)
                .cloned()
                .collect()
        })
    }

    pub fn assignments(&self) -> Vec<Assignment> {
        self.with_tenant(|t| t.assignments.values().cloned().collect())
    }

    pub fn leads(&self) -> Vec<Lead> {
        self.with_tenant(|t| t.leads.values().cloned().collect())
    }

    pub fn bookings(&self) -> Vec<Booking> {
        self.with_tenant(|t| t.bookings.values().cloned().collect())
    }

    /// Every request so far (API and token), in arrival order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    /// The logged requests of one operation (`"Jobs_Create"`, `"Token"`, …).
    pub fn requests_for(&self, operation_id: &str) -> Vec<LoggedRequest> {
        self.request_log()
            .into_iter()
            .filter(|r| r.operation_id.as_deref() == Some(operation_id))
            .collect()
    }

    /// Requests to the token endpoint, successful or not.
    pub fn token_requests(&self) -> usize {
        self.shared.lock().token_requests
    }

    /// Tokens actually issued.
    pub fn tokens_issued(&self) -> usize {
        self.shared.lock().tokens_issued
    }

    /// Replaces the fault plan (rule counters start from zero).
    pub fn set_faults(&self, plan: FaultPlan) {
        self.shared.lock().faults = plan;
    }

    /// The plan in force, with its rules' `fired()` counts.
    pub fn faults(&self) -> FaultPlan {
        self.shared.lock().faults.clone()
    }

    /// Revokes every issued token now: the next call with any of them gets 401.
    pub fn revoke_tokens(&self) {
        for t in self.shared.lock().tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// Scopes for tokens issued from now on (a scope change needs a new token, as in ST).
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.shared.lock().scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// The most API calls that arrived inside any one-second window, rejected ones included:
    /// what a test checks against ServiceTitan's 60/s limit.
    pub fn max_requests_in_any_1s_window(&self) -> usize {
        max_in_any_window(&self.shared.lock().api_arrivals, Duration::from_secs(1))
    }

    /// API calls that arrived (token requests excluded).
    pub fn api_request_count(&self) -> usize {
        self.shared.lock().api_arrivals.len()
    }

    /// Calls refused by the 60/s rate limit (not counting injected 429s).
    pub fn rate_limited_count(&self) -> usize {
        self.shared.lock().rate_limited
    }
}

impl std::ops::Drop for StServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and answers

/// An error answer: ServiceTitan's `ApiErrorResponse` or the gateway's `{statusCode, message}`.
#[derive(Debug)]
pub enum ApiError {
    /// `{type, title, status, traceId, errors: {Field: [msg]}, data}`.
    Api {
        status: StatusCode,
        title: String,
        errors: FieldErrors,
    },
    /// Azure API Management's body `{statusCode, message}` (401, 403, 429, 502, 503).
    Gateway {
        status: StatusCode,
        message: String,
        retry_after: Option<u64>,
    },
    /// A declared parameter or feature this test server does not implement.
    NotImplemented(String),
}

impl ApiError {
    /// 400 "One or more validation errors occurred." with per-field messages.
    pub fn validation(errors: FieldErrors) -> Self {
        ApiError::Api {
            status: StatusCode::BAD_REQUEST,
            title: "One or more validation errors occurred.".into(),
            errors,
        }
    }

    /// 400 with one field error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_string(), vec![message.into()]);
        ApiError::validation(errors)
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::Api {
            status: StatusCode::NOT_FOUND,
            title: format!("{what} not found."),
            errors: FieldErrors::new(),
        }
    }

    pub fn conflict(message: &str) -> Self {
        ApiError::Api {
            status: StatusCode::CONFLICT,
            title: message.into(),
            errors: FieldErrors::new(),
        }
    }

    pub fn not_implemented(message: &str) -> Self {
        ApiError::NotImplemented(message.into())
    }

    pub fn gateway(status: StatusCode, message: &str) -> Self {
        ApiError::Gateway {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Azure APIM's rate-limit answer.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        ApiError::Gateway {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds."),
            retry_after: Some(retry_after_secs),
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::gateway(
            StatusCode::UNAUTHORIZED,
            "Unauthorized. Access token is missing or invalid.",
        )
    }
}

fn trace_id() -> String {
    let mut rng = rand::thread_rng();
    format!("00-{:032x}-{:016x}-00", rng.gen::<u128>(), rng.gen::<u64>())
}

fn problem_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        404 => "https://tools.ietf.org/html/rfc7231#section-6.5.4",
        409 => "https://tools.ietf.org/html/rfc7231#section-6.5.8",
        415 => "https://tools.ietf.org/html/rfc7231#section-6.5.13",
        _ => "https://tools.ietf.org/html/rfc7231#section-6.6.1",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Api {
                status,
                title,
                errors,
            } => {
                let body = json!({
                    "type": problem_type(status),
                    "title": title,
                    "status": status.as_u16(),
                    "traceId": trace_id(),
                    "errors": errors,
                    "data": {},
                });
                json_response(status, &body)
            }
            ApiError::Gateway {
                status,
                message,
                retry_after,
            } => {
                let body = json!({ "statusCode": status.as_u16(), "message": message });
                let mut r = json_response(status, &body);
                if let Some(secs) = retry_after {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                if status == StatusCode::UNAUTHORIZED {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer error=\"invalid_token\""),
                    );
                }
                r
            }
            ApiError::NotImplemented(message) => json_response(
                StatusCode::NOT_IMPLEMENTED,
                &json!({ "statusCode": 501, "message": message }),
            ),
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Inputs the real API would have ignored, carried from a handler to the request log.
#[derive(Clone, Debug, Default)]
struct Ignored(Vec<String>);

/// A successful answer.
pub struct Answer {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub ignored: Vec<String>,
}

impl Answer {
    pub fn json(body: Value, ignored: Vec<String>) -> Self {
        Answer {
            status: StatusCode::OK,
            body: Some(body),
            ignored,
        }
    }

    /// 200 with an empty body (e.g. `PUT /jobs/{id}/cancel`).
    pub fn empty(ignored: Vec<String>) -> Self {
        Answer {
            status: StatusCode::OK,
            body: None,
            ignored,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut r = match self.body {
            Some(b) => json_response(self.status, &b),
            None => {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = self.status;
                r
            }
        };
        r.extensions_mut().insert(Ignored(self.ignored));
        r
    }
}

pub type Reply = Result<Answer, ApiError>;

// ---------------------------------------------------------------------------------------------
// The per-request context handlers get

/// Everything a handler needs: the server, path parameters, query, headers, body.
pub struct Call {
    pub server: Shared,
    pub params: HashMap<String, String>,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub now: DateTime<Utc>,
}

impl FromRequest<Shared> for Call {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let RawQuery(query) = RawQuery::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let body = axum::body::to_bytes(body, 16 << 20)
            .await
            .map_err(|e| ApiError::field("", e.to_string()).into_response())?;
        Ok(Call {
            server: state.clone(),
            params,
            query,
            headers: parts.headers,
            body,
            now: Utc::now(),
        })
    }
}

impl Call {
    /// An int64 path parameter; a non-number fails the route constraint (404).
    pub fn id(&self, name: &str) -> Result<i64, ApiError> {
        self.params
            .get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| ApiError::not_found("Resource"))
    }

    pub fn query(&self, spec: &'static [&'static str]) -> query::QueryParams {
        query::QueryParams::parse(self.query.as_deref(), spec)
    }

    pub fn max_page_size(&self) -> usize {
        self.server.config.max_page_size
    }

    /// Binds a JSON body like `[FromBody]`: 415 without a JSON content type, 400 for an
    /// empty or malformed body, 400 with field errors from the schema.
    pub fn json(&self, schema: &'static Schema) -> Result<Validated, ApiError> {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !(media == "application/json" || media == "text/json" || media.ends_with("+json")) {
            return Err(ApiError::Api {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                title: "Unsupported Media Type".into(),
                errors: FieldErrors::new(),
            });
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::field("", "A non-empty request body is required."));
        }
        let value: Value = serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::field(
                "$",
                format!(
                    "The JSON value is invalid: {e}. Path: $ | LineNumber: {} | BytePositionInLine: {}.",
                    e.line().saturating_sub(1),
                    e.column()
                ),
            )
        })?;
        schema::validate(schema, &value).map_err(ApiError::validation)
    }
}

/// Deserialises a validated (normalised) body into a handler's request type.
pub fn bind<T: serde::de::DeserializeOwned>(v: &Validated) -> Result<T, ApiError> {
    serde_json::from_value(v.value.clone()).map_err(|e| {
        // Validation normalised the body, so this means the DTO and schema disagree.
        ApiError::field("$", format!("test server DTO mismatch: {e}"))
    })
}

// ---------------------------------------------------------------------------------------------
// Routes: path, OpenAPI operationId, the scope the gateway demands

struct Operation {
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    scope: &'static str,
}

const fn op(
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    scope: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        operation_id,
        scope,
    }
}

const CRM: &str = "/crm/v2/tenant/{tenant}";
const JPM: &str = "/jpm/v2/tenant/{tenant}";
const DIS: &str = "/dispatch/v2/tenant/{tenant}";

static OPERATIONS: &[Operation] = &[
    // CRM
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/customers",
        "Customers_GetList",
        "tn.crm.customers:r",
    ),
    op(
        Method::POST,
        "/crm/v2/tenant/{tenant}/customers",
        "Customers_Create",
        "tn.crm.customers:w",
    ),
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/customers/{id}",
        "Customers_Get",
        "tn.crm.customers:r",
    ),
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/customers/{id}/contacts",
        "Customers_GetContactList",
        "tn.crm.customers:r",
    ),
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/locations",
        "Locations_GetList",
        "tn.crm.locations:r",
    ),
    op(
        Method::POST,
        "/crm/v2/tenant/{tenant}/locations",
        "Locations_Create",
        "tn.crm.locations:w",
    ),
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/locations/{id}",
        "Locations_Get",
        "tn.crm.locations:r",
    ),
    op(
        Method::POST,
        "/crm/v2/tenant/{tenant}/leads",
        "Leads_Create",
        "tn.crm.leads:w",
    ),
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/leads",
        "Leads_GetList",
        "tn.crm.leads:r",
    ),
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/leads/{id}",
        "Leads_Get",
        "tn.crm.leads:r",
    ),
    op(
        Method::POST,
        "/crm/v2/tenant/{tenant}/booking-provider/{booking_provider}/bookings",
        "Bookings_Create",
        "tn.crm.bookings:w",
    ),
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/booking-provider/{booking_provider}/bookings",
        "Bookings_GetList2",
        "tn.crm.bookings:r",
    ),
    op(
        Method::GET,
        "/crm/v2/tenant/{tenant}/booking-provider/{booking_provider}/bookings/{id}",
        "Bookings_GetForProvider",
        "tn.crm.bookings:r",
    ),
    // JPM
    op(
        Method::GET,
        "/jpm/v2/tenant/{tenant}/job-types",
        "JobTypes_GetList",
        "tn.jpm.jobtypes:r",
    ),
    op(
        Method::GET,
        "/jpm/v2/tenant/{tenant}/job-types/{id}",
        "JobTypes_Get",
        "tn.jpm.jobtypes:r",
    ),
    op(
        Method::POST,
        "/jpm/v2/tenant/{tenant}/jobs",
        "Jobs_Create",
        "tn.jpm.jobs:w",
    ),
    op(
        Method::GET,
        "/jpm/v2/tenant/{tenant}/jobs",
        "Jobs_GetList",
        "tn.jpm.jobs:r",
    ),
    op(
        Method::GET,
        "/jpm/v2/tenant/{tenant}/jobs/{id}",
        "Jobs_Get",
        "tn.jpm.jobs:r",
    ),
    op(
        Method::PATCH,
        "/jpm/v2/tenant/{tenant}/jobs/{id}",
        "Jobs_Update",
        "tn.jpm.jobs:w",
    ),
    op(
        Method::POST,
        "/jpm/v2/tenant/{tenant}/jobs/{id}/notes",
        "Jobs_CreateNote",
        "tn.jpm.jobs:w",
    ),
    op(
        Method::GET,
        "/jpm/v2/tenant/{tenant}/jobs/{id}/notes",
        "Jobs_GetNotes",
        "tn.jpm.jobs:r",
    ),
    op(
        Method::PUT,
        "/jpm/v2/tenant/{tenant}/jobs/{id}/cancel",
        "Jobs_Cancel",
        "tn.jpm.jobs:w",
    ),
    op(
        Method::GET,
        "/jpm/v2/tenant/{tenant}/job-cancel-reasons",
        "JobCancelReasons_GetList",
        "tn.jpm.jobcancelreasons:r",
    ),
    op(
        Method::GET,
        "/jpm/v2/tenant/{tenant}/appointments",
        "Appointments_GetList",
        "tn.jpm.appointments:r",
    ),
    op(
        Method::GET,
        "/jpm/v2/tenant/{tenant}/appointments/{id}",
        "Appointments_Get",
        "tn.jpm.appointments:r",
    ),
    op(
        Method::PATCH,
        "/jpm/v2/tenant/{tenant}/appointments/{id}/reschedule",
        "Appointments_Reschedule",
        "tn.jpm.appointments:w",
    ),
    // Dispatch
    op(
        Method::POST,
        "/dispatch/v2/tenant/{tenant}/capacity",
        "Capacity_GetList",
        "tn.dis.capacity:w",
    ),
    op(
        Method::GET,
        "/dispatch/v2/tenant/{tenant}/technician-shifts",
        "TechnicianShifts_GetList",
        "tn.dis.technicianshifts:r",
    ),
    op(
        Method::POST,
        "/dispatch/v2/tenant/{tenant}/appointment-assignments/assign-technicians",
        "AppointmentAssignments_AssignTechnicians",
        "tn.dis.appointmentassignments:w",
    ),
    op(
        Method::GET,
        "/dispatch/v2/tenant/{tenant}/appointment-assignments",
        "AppointmentAssignments_GetList",
        "tn.dis.appointmentassignments:r",
    ),
    op(
        Method::GET,
        "/dispatch/v2/tenant/{tenant}/arrival-windows",
        "ArrivalWindows_GetList",
        "tn.dis.arrivalwindows:r",
    ),
    op(
        Method::GET,
        "/dispatch/v2/tenant/{tenant}/business-hours",
        "BusinessHour_GetList",
        "tn.dis.businesshours:r",
    ),
    // Memberships
    op(
        Method::GET,
        "/memberships/v2/tenant/{tenant}/memberships",
        "CustomerMemberships_GetList",
        "tn.mem.memberships:r",
    ),
    // Settings, Marketing, JBCE
    op(
        Method::GET,
        "/settings/v2/tenant/{tenant}/technicians",
        "Technicians_GetList",
        "tn.stt.technicians:r",
    ),
    op(
        Method::GET,
        "/settings/v2/tenant/{tenant}/technicians/{id}",
        "Technicians_Get",
        "tn.stt.technicians:r",
    ),
    op(
        Method::GET,
        "/settings/v2/tenant/{tenant}/business-units",
        "BusinessUnits_GetList",
        "tn.stt.businessunits:r",
    ),
    op(
        Method::GET,
        "/marketing/v2/tenant/{tenant}/campaigns",
        "Campaigns_GetList",
        "tn.mrk.campaigns:r",
    ),
    op(
        Method::GET,
        "/jbce/v2/tenant/{tenant}/call-reasons",
        "CallReasons_Get",
        "tn.jbce.callreasons:r",
    ),
];

fn operation(method: &Method, path: &str) -> Option<&'static Operation> {
    OPERATIONS
        .iter()
        .find(|o| o.method == *method && o.path == path)
}

/// The OpenAPI `operationId`s this server implements.
pub fn operation_ids() -> Vec<&'static str> {
    OPERATIONS.iter().map(|o| o.operation_id).collect()
}

fn router(shared: Shared) -> Router {
    let api = Router::new()
        .route(
            &format!("{CRM}/customers"),
            get(crm::customers_list).post(crm::customers_create),
        )
        .route(&format!("{CRM}/customers/{{id}}"), get(crm::customers_get))
        .route(
            &format!("{CRM}/customers/{{id}}/contacts"),
            get(crm::customer_contacts),
        )
        .route(
            &format!("{CRM}/locations"),
            get(crm::locations_list).post(crm::locations_create),
        )
        .route(&format!("{CRM}/locations/{{id}}"), get(crm::locations_get))
        .route(
            &format!("{CRM}/leads"),
            post(crm::leads_create).get(crm::leads_list),
        )
        .route(&format!("{CRM}/leads/{{id}}"), get(crm::leads_get))
        .route(
            &format!("{CRM}/booking-provider/{{booking_provider}}/bookings"),
            get(crm::bookings_list).post(crm::bookings_create),
        )
        .route(
            &format!("{CRM}/booking-provider/{{booking_provider}}/bookings/{{id}}"),
            get(crm::bookings_get),
        )
        .route(&format!("{JPM}/job-types"), get(jpm::job_types_list))
        .route(&format!("{JPM}/job-types/{{id}}"), get(jpm::job_types_get))
        .route(
            &format!("{JPM}/jobs"),
            get(jpm::jobs_list).post(jpm::jobs_create),
        )
        .route(
            &format!("{JPM}/jobs/{{id}}"),
            get(jpm::jobs_get).patch(jpm::jobs_update),
        )
        .route(
            &format!("{JPM}/jobs/{{id}}/notes"),
            get(jpm::notes_list).post(jpm::notes_create),
        )
        .route(&format!("{JPM}/jobs/{{id}}/cancel"), put(jpm::jobs_cancel))
        .route(
            &format!("{JPM}/job-cancel-reasons"),
            get(jpm::cancel_reasons_list),
        )
        .route(&format!("{JPM}/appointments"), get(jpm::appointments_list))
        .route(
            &format!("{JPM}/appointments/{{id}}"),
            get(jpm::appointments_get),
        )
        .route(
            &format!("{JPM}/appointments/{{id}}/reschedule"),
            patch(jpm::appointments_reschedule),
        )
        .route(&format!("{DIS}/capacity"), post(dispatch::capacity))
        .route(
            &format!("{DIS}/technician-shifts"),
            get(dispatch::technician_shifts_list),
        )
        .route(
            &format!("{DIS}/appointment-assignments/assign-technicians"),
            post(dispatch::assign_technicians),
        )
        .route(
            &format!("{DIS}/appointment-assignments"),
            get(dispatch::assignments_list),
        )
        .route(
            &format!("{DIS}/arrival-windows"),
            get(dispatch::arrival_windows_list),
        )
        .route(
            &format!("{DIS}/business-hours"),
            get(dispatch::business_hours),
        )
        .route(
            "/memberships/v2/tenant/{tenant}/memberships",
            get(memberships::memberships_list),
        )
        .route(
            "/settings/v2/tenant/{tenant}/technicians",
            get(settings::technicians_list),
        )
        .route(
            "/settings/v2/tenant/{tenant}/technicians/{id}",
            get(settings::technicians_get),
        )
        .route(
            "/settings/v2/tenant/{tenant}/business-units",
            get(settings::business_units_list),
        )
        .route(
            "/marketing/v2/tenant/{tenant}/campaigns",
            get(settings::campaigns_list),
        )
        .route(
            "/jbce/v2/tenant/{tenant}/call-reasons",
            get(settings::call_reasons_list),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            gateway,
        ));
    api.route("/connect/token", post(token))
        .fallback(unknown_path)
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// The gateway: app key, rate limit, token, tenant, scope, faults — then the operation

/// Closes the connection a request arrived on (the "answer never arrives" faults).
#[derive(Clone)]
struct ConnectionKill(Arc<Notify>);

async fn gateway(
    State(server): State<Shared>,
    matched: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let op = operation(&parts.method, matched.as_str());
    let bearer = bearer_token(&parts.headers);
    let seq = server.log_start(LoggedRequest {
        seq: 0,
        at: arrived,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        operation_id: op.map(|o| o.operation_id.to_string()),
        body: serde_json::from_slice(&body).ok(),
        status: None,
        fault: None,
        ignored: Vec::new(),
        bearer: bearer.clone(),
    });
    let kill = parts.extensions.get::<ConnectionKill>().cloned();

    let checked = admit(
        &server,
        &parts,
        op,
        bearer.as_deref(),
        arrived,
        matched.as_str(),
    );
    let fault = match checked {
        Err(e) => {
            let r = e.into_response();
            server.log_finish(seq, Some(r.status().as_u16()), None, Vec::new());
            return r;
        }
        Ok(fault) => fault,
    };

    // Faults that stop the call before the operation runs.
    let early: Option<ApiError> = match &fault {
        Some(Fault::RateLimited { retry_after_secs }) => {
            Some(ApiError::rate_limited(*retry_after_secs))
        }
        Some(Fault::ServerError(code)) => Some(server_error(*code)),
        Some(Fault::RevokeToken) => Some(ApiError::unauthorized()),
        Some(Fault::Forbidden) => Some(forbidden()),
        Some(Fault::NotFound) => Some(ApiError::not_found("Resource")),
        Some(Fault::Conflict) => Some(ApiError::conflict(
            "The request conflicts with the current state of the resource.",
        )),
        _ => None,
    };
    if let Some(e) = early {
        let r = e.into_response();
        server.log_finish(seq, Some(r.status().as_u16()), fault, Vec::new());
        return r;
    }
    if let Some(Fault::DropBeforeCommit(mode)) = &fault {
        server.log_finish(seq, None, fault.clone(), Vec::new());
        return drop_connection(&server, kill, *mode).await;
    }

    // Run the operation on its own task: a client that gives up must not cancel a write that
    // is under way — the real server finishes it regardless.
    let req = Request::from_parts(parts, Body::from(body));
    let response = tokio::spawn(next.run(req)).await.unwrap_or_else(|e| {
        ApiError::field("$", format!("test server handler panicked: {e}")).into_response()
    });
    let ignored = response
        .extensions()
        .get::<Ignored>()
        .map(|i| i.0.clone())
        .unwrap_or_default();
    let latency = server.config.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match &fault {
        Some(Fault::CommitThenDrop(mode)) => {
            server.log_finish(seq, None, fault.clone(), ignored);
            drop_connection(&server, kill, *mode).await
        }
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(*delay).await;
            server.log_finish(
                seq,
                Some(response.status().as_u16()),
                fault.clone(),
                ignored,
            );
            response
        }
        _ => {
            server.log_finish(seq, Some(response.status().as_u16()), fault, ignored);
            response
        }
    }
}

/// The gateway's checks, in order; `Ok` carries the fault the plan picked, if any.
fn admit(
    server: &Shared,
    parts: &axum::http::request::Parts,
    op: Option<&'static Operation>,
    bearer: Option<&str>,
    arrived: Instant,
    matched_path: &str,
) -> Result<Option<Fault>, ApiError> {
    let config = &server.config;
    let mut s = server.lock();
    s.api_arrivals.push(arrived);

    // The app key: `ST-App-Key`, or the `servicetitanapplicationkey` query parameter.
    let app_key = parts
        .headers
        .get("ST-App-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            parts.uri.query().and_then(|q| {
                query::url_decode_pairs(q)
                    .into_iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("servicetitanapplicationkey"))
                    .map(|(_, v)| v)
            })
        });
    match app_key {
        None => {
            return Err(ApiError::gateway(
                StatusCode::UNAUTHORIZED,
                "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
            ))
        }
        Some(k) if k != config.app_key => {
            return Err(ApiError::gateway(
                StatusCode::UNAUTHORIZED,
                "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.",
            ))
        }
        Some(_) => {}
    }

    // 60 calls per second per application per tenant.
    if let Err(retry_after) = s.limiter.admit(arrived) {
        s.rate_limited += 1;
        return Err(ApiError::rate_limited(retry_after));
    }

    let token = bearer.and_then(|b| s.tokens.get(b));
    let scopes = match token {
        Some(t) if !t.revoked && arrived < t.expires_at => t.scopes.clone(),
        _ => return Err(ApiError::unauthorized()),
    };

    // The token is tied to one tenant.
    if path_tenant(parts.uri.path(), matched_path) != Some(config.tenant_id) {
        return Err(ApiError::not_found("Tenant"));
    }

    if let Some(op) = op {
        if !scopes.iter().any(|s| s == op.scope) {
            return Err(forbidden());
        }
    }

    // Faults are drawn only for calls that would otherwise reach the operation, so a rule's
    // count means "calls of this operation the client got through the gateway".
    let fault = s.faults.pick(op.map(|o| o.operation_id), false);
    if fault == Some(Fault::RevokeToken) {
        // The token dies early: this call and every later one with it get 401.
        for t in s.tokens.values_mut() {
            t.revoked = true;
        }
    }
    Ok(fault)
}

/// The `{tenant}` segment of `path`, by position in the matched route.
fn path_tenant(path: &str, matched: &str) -> Option<i64> {
    let pos = matched.split('/').position(|seg| seg == "{tenant}")?;
    path.split('/').nth(pos)?.parse().ok()
}

fn forbidden() -> ApiError {
    ApiError::gateway(
        StatusCode::FORBIDDEN,
        "Forbidden. The application does not have the scope required by this operation.",
    )
}

fn server_error(code: u16) -> ApiError {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        ApiError::Api {
            status,
            title: "An unexpected error occurred.".into(),
            errors: FieldErrors::new(),
        }
    } else {
        ApiError::gateway(
            status,
            status.canonical_reason().unwrap_or("Service Unavailable"),
        )
    }
}

async fn drop_connection(
    server: &Shared,
    kill: Option<ConnectionKill>,
    mode: DropMode,
) -> Response {
    if mode == DropMode::Hang {
        tokio::time::sleep(server.config.hang_for).await;
    }
    if let Some(k) = kill {
        k.0.notify_one();
    }
    // The connection task drops the socket; this answer is never written.
    std::future::pending::<()>().await;
    unreachable!()
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| token.trim().to_string())
}

/// Paths the API does not have: 404, logged so tests see the client's mistake.
async fn unknown_path(State(server): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let seq = server.log_start(LoggedRequest {
        seq: 0,
        at: Instant::now(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        operation_id: None,
        body: serde_json::from_slice(&body).ok(),
        status: None,
        fault: None,
        ignored: Vec::new(),
        bearer: bearer_token(&parts.headers),
    });
    let r = ApiError::Api {
        status: StatusCode::NOT_FOUND,
        title: "Not Found".into(),
        errors: FieldErrors::new(),
    }
    .into_response();
    server.log_finish(seq, Some(404), None, Vec::new());
    r
}

// ---------------------------------------------------------------------------------------------
// The token endpoint (auth.servicetitan.io/connect/token)

/// `grant_type=client_credentials&client_id=…&client_secret=…` (form) →
/// `{access_token, expires_in, token_type: "Bearer", scope}`. Wrong credentials: 400
/// `{"error":"invalid_client"}` (IdentityServer's OAuth 2.0 error body).
async fn token(State(server): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let now = Instant::now();
    let form: Vec<(String, String)> = query::url_decode_pairs(&String::from_utf8_lossy(&body));
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let logged_form: serde_json::Map<String, Value> = form
        .iter()
        .map(|(k, v)| {
            let v = if k == "client_secret" {
                "***"
            } else {
                v.as_str()
            };
            (k.clone(), Value::String(v.to_string()))
        })
        .collect();
    let seq = server.log_start(LoggedRequest {
        seq: 0,
        at: now,
        method: "POST".into(),
        path: "/connect/token".into(),
        query: None,
        operation_id: Some("Token".into()),
        body: Some(Value::Object(logged_form)),
        status: None,
        fault: None,
        ignored: Vec::new(),
        bearer: None,
    });
    let answer = |status: StatusCode, body: Value, fault: Option<Fault>| {
        server.log_finish(seq, Some(status.as_u16()), fault, Vec::new());
        json_response(status, &body)
    };
    let oauth_error = |e: &str| json!({ "error": e });

    let config = &server.config;
    let mut s = server.lock();
    s.token_requests += 1;
    match s.faults.pick(None, true) {
        Some(Fault::RateLimited { retry_after_secs }) => {
            drop(s);
            let f = Fault::RateLimited { retry_after_secs };
            server.log_finish(seq, Some(429), Some(f), Vec::new());
            return ApiError::rate_limited(retry_after_secs).into_response();
        }
        Some(Fault::ServerError(code)) => {
            drop(s);
            server.log_finish(seq, Some(code), Some(Fault::ServerError(code)), Vec::new());
            return server_error(code).into_response();
        }
        _ => {}
    }
    if let Some(per_minute) = config.token_requests_per_minute {
        while s
            .token_times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            s.token_times.pop_front();
        }
        if s.token_times.len() >= per_minute {
            drop(s);
            server.log_finish(seq, Some(429), None, Vec::new());
            return ApiError::rate_limited(60).into_response();
        }
        s.token_times.push_back(now);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        drop(s);
        return answer(
            StatusCode::BAD_REQUEST,
            oauth_error("invalid_request"),
            None,
        );
    }
    if field("grant_type").as_deref() != Some("client_credentials") {
        drop(s);
        return answer(
            StatusCode::BAD_REQUEST,
            oauth_error("unsupported_grant_type"),
            None,
        );
    }
    if field("client_id").as_deref() != Some(config.client_id.as_str())
        || field("client_secret").as_deref() != Some(config.client_secret.as_str())
    {
        drop(s);
        return answer(StatusCode::BAD_REQUEST, oauth_error("invalid_client"), None);
    }
    let access_token = format!(
        "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.test-{}.{:032x}",
        s.tokens_issued + 1,
        rand::thread_rng().gen::<u128>()
    );
    let scopes = s.scopes.clone();
    s.tokens.insert(
        access_token.clone(),
        Token {
            expires_at: now + config.token_lifetime,
            revoked: false,
            scopes: scopes.clone(),
        },
    );
    s.tokens_issued += 1;
    drop(s);
    answer(
        StatusCode::OK,
        json!({
            "access_token": access_token,
            "expires_in": config.token_lifetime.as_secs(),
            "token_type": "Bearer",
            "scope": scopes.join(" "),
        }),
        None,
    )
}

// ---------------------------------------------------------------------------------------------
// Serving: hyper per connection, so a fault can close one connection without answering

async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let kill = ConnectionKill(Arc::new(Notify::new()));
        let app = router.clone().layer(axum::Extension(kill.clone()));
        tokio::spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                // Dropping the connection future closes the socket mid-exchange.
                _ = kill.0.notified() => {}
            }
        });
    }
}
