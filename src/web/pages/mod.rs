//! The session pages: server-rendered HTML, one module per page, every value through
//! [`escape`]. The handlers here fetch the page's view from the backend (blocking pool) and
//! hand it to the page's `render`; the frame (nav, logout, CSRF meta tag, `<h1>`) is
//! [`session_page`]. Behaviour (retry, save, hear it, log tail …) is in `assets/app.js`.

mod calls;
pub mod chart;
mod dashboard;
mod on_call;
mod queue;
mod settings;
mod system;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::api::{given, on_backend, without_secret_values, CHART_DAYS};
use super::backend::{CallQuery, QueueQuery};
use super::error::{backend_status, ApiError};
use super::html::{escape, layout};
use super::session::ActiveSession;
use super::state::AppState;

/// Calls per page of the list.
pub const CALLS_PER_PAGE: usize = 50;
const QUEUE_ROWS: usize = 1000;

/// The pages the nav links to, in order: path and name.
pub const NAV: &[(&str, &str)] = &[
    ("/", "Dashboard"),
    ("/calls", "Calls"),
    ("/queue", "Queue"),
    ("/on-call", "On call"),
    ("/settings", "Settings"),
    ("/updates", "Updates"),
    ("/diagnostics", "Diagnostics"),
];

/// A session page: the nav (`current` marked), the logout button, the CSRF token for the
/// script, the `<h1>` and a message line for the script's answers. `body` is escaped HTML.
pub fn session_page(title: &str, current: &str, csrf_token: &str, body: &str) -> String {
    let head = format!(
        "<meta name=\"csrf-token\" content=\"{}\">\n",
        escape(csrf_token)
    );
    let header = format!(
        "\n<nav aria-label=\"Pages\"><ul>{}</ul></nav>\n\
         <button id=\"logout\" type=\"button\" class=\"quiet\">Log out</button>\n",
        nav_links(current)
    );
    let body = format!(
        "<h1>{}</h1>\n<p id=\"message\" class=\"message\" role=\"alert\"></p>\n{body}",
        escape(title)
    );
    layout(title, &head, &header, &body)
}

fn nav_links(current: &str) -> String {
    NAV.iter()
        .map(|(path, name)| {
            let mark = if *path == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<li><a href=\"{path}\"{mark}>{name}</a></li>")
        })
        .collect()
}

/// Percent-encodes one URL path segment or query value (everything but unreserved bytes).
pub fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `Some(text)` escaped, or the placeholder (a literal) when absent.
pub fn or_dash(text: Option<&str>) -> String {
    text.map_or_else(|| "—".to_string(), escape)
}

/// `m:ss`, or `h:mm:ss` from an hour.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A status word as a CSS class: one of a fixed set, never the text itself.
pub fn tone(state: &str) -> &'static str {
    let state = state.to_ascii_lowercase();
    let starts = |words: &[&str]| words.iter().any(|w| state.starts_with(w));
    if starts(&[
        "running",
        "reachable",
        "delivered",
        "synced",
        "ok",
        "loaded",
    ]) {
        "good"
    } else if starts(&["failed", "unreachable", "needs", "stopped", "error"]) {
        "bad"
    } else if starts(&["restarting", "pending", "syncing", "queued", "deferred"]) {
        "warn"
    } else {
        "neutral"
    }
}

/// A page the backend could not fill: its status, the frame and the reason.
fn error_page(title: &str, current: &str, csrf: &str, error: ApiError) -> Response {
    let (status, reason) = match error {
        ApiError::Backend(e) => (backend_status(&e), e.to_string()),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the box's log".to_string(),
        ),
    };
    let body = format!(
        "<p class=\"card bad-note\" id=\"page-error\">{}</p>",
        escape(&reason)
    );
    (status, Html(session_page(title, current, csrf, &body))).into_response()
}

fn page(html: String) -> Response {
    Html(html).into_response()
}

pub async fn dashboard(
    State(state): State<AppState>,
    Extension(session): Extension<ActiveSession>,
) -> Response {
    match on_backend(&state, |b| (b.dashboard(), b.calls_per_day(CHART_DAYS))).await {
        Ok((view, days)) => page(dashboard::render(&view, &days, &session.csrf_token)),
        Err(e) => error_page("Dashboard", "/", &session.csrf_token, e),
    }
}

/// The calls page's query: all text, so a hand-edited URL is shown, not refused.
#[derive(Debug, Default, Deserialize)]
pub struct CallsFilter {
    pub day: Option<String>,
    pub outcome: Option<String>,
    pub q: Option<String>,
    pub page: Option<String>,
}

impl CallsFilter {
    /// 1-based page number.
    fn page_number(&self) -> usize {
        self.page
            .as_deref()
            .and_then(|p| p.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .max(1)
    }

    fn query(&self) -> CallQuery {
        CallQuery {
            day: given(self.day.clone()),
            outcome: given(self.outcome.clone()),
            search: given(self.q.clone()),
            offset: (self.page_number() - 1).saturating_mul(CALLS_PER_PAGE),
            limit: CALLS_PER_PAGE,
        }
    }
}

pub async fn calls(
    State(state): State<AppState>,
    Extension(session): Extension<ActiveSession>,
    Query(filter): Query<CallsFilter>,
) -> Response {
    let query = filter.query();
    match on_backend(&state, move |b| b.calls(&query)).await {
        Ok(found) => page(calls::render_list(&found, &filter, &session.csrf_token)),
        Err(e) => error_page("Calls", "/calls", &session.csrf_token, e),
    }
}

pub async fn call(
    State(state): State<AppState>,
    Extension(session): Extension<ActiveSession>,
    Path(key): Path<String>,
) -> Response {
    let found = on_backend(&state, move |b| b.call(&key)).await;
    match found.and_then(|r| r.map_err(ApiError::from)) {
        Ok(detail) => page(calls::render_detail(&detail, &session.csrf_token)),
        Err(e) => error_page("Call", "/calls", &session.csrf_token, e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueFilter {
    pub state: Option<String>,
}

pub async fn queue(
    State(state): State<AppState>,
    Extension(session): Extension<ActiveSession>,
    Query(filter): Query<QueueFilter>,
) -> Response {
    let wanted = given(filter.state);
    let query = QueueQuery {
        state: wanted.clone(),
        limit: QUEUE_ROWS,
    };
    let found = on_backend(&state, move |b| b.queue(&query)).await;
    match found.and_then(|r| r.map_err(ApiError::from)) {
        Ok(rows) => page(queue::render(&rows, wanted.as_deref(), &session.csrf_token)),
        Err(e) => error_page("Queue", "/queue", &session.csrf_token, e),
    }
}

pub async fn on_call(
    State(state): State<AppState>,
    Extension(session): Extension<ActiveSession>,
) -> Response {
    match on_backend(&state, |b| b.on_call()).await {
        Ok(view) => page(on_call::render(&view, &session.csrf_token)),
        Err(e) => error_page("On call", "/on-call", &session.csrf_token, e),
    }
}

pub async fn settings(
    State(state): State<AppState>,
    Extension(session): Extension<ActiveSession>,
) -> Response {
    match on_backend(&state, |b| without_secret_values(b.settings())).await {
        Ok(view) => page(settings::render(&view, &session.csrf_token)),
        Err(e) => error_page("Settings", "/settings", &session.csrf_token, e),
    }
}

pub async fn updates(
    State(state): State<AppState>,
    Extension(session): Extension<ActiveSession>,
) -> Response {
    match on_backend(&state, |b| b.updates()).await {
        Ok(view) => page(system::render_updates(&view, &session.csrf_token)),
        Err(e) => error_page("Updates", "/updates", &session.csrf_token, e),
    }
}

pub async fn diagnostics(Extension(session): Extension<ActiveSession>) -> Response {
    page(system::render_diagnostics(&session.csrf_token))
}

#[cfg(test)]
mod tests;
