//! The route handlers. Access rules live in the route table (`routes.rs`) and the guards, not
//! here: a handler behind a session receives the [`ActiveSession`] as an extension.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::SetupError;
use super::error::{ApiError, SettingsErrors};
use super::guard::refuse_unauthenticated;
use super::html;
use super::session::ActiveSession;
use super::state::{expired_cookie_header, session_cookie_header, AppState};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn login_page(State(state): State<AppState>) -> Response {
    if state.credentials.needs_setup() {
        return Redirect::to("/setup").into_response();
    }
    Html(html::login_page()).into_response()
}

pub async fn setup_page(State(state): State<AppState>) -> Response {
    if !state.credentials.needs_setup() {
        return Redirect::to("/login").into_response();
    }
    Html(html::setup_page()).into_response()
}

pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", html::CSS)
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", html::JS)
}

pub async fn favicon() -> Response {
    asset("image/svg+xml", html::FAVICON)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    setup_code: String,
    password: String,
}

/// `POST /api/setup`: the one-time code sets the admin password.
pub async fn setup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(request): Json<SetupRequest>,
) -> Result<Json<Value>, ApiError> {
    let ip = peer.ip();
    state.check_throttle(ip)?;
    let credentials = state.credentials.clone();
    let result = state
        .hashing(move || credentials.set_up(&request.setup_code, &request.password))
        .await?;
    match result {
        Ok(()) => {
            state.succeeded(ip);
            tracing::info!(source = %ip, "web: admin password set; the setup code is used up");
            Ok(Json(json!({ "status": "ok" })))
        }
        Err(SetupError::WrongCode) => {
            Err(state.failed_attempt(ip, "setup code", ApiError::Forbidden("wrong setup code")))
        }
        Err(SetupError::AlreadyDone) => Err(ApiError::Conflict(
            "the admin password is already set; log in",
        )),
        Err(SetupError::WeakPassword(reason)) => {
            Err(ApiError::Invalid(SettingsErrors::one("password", reason)))
        }
        Err(SetupError::Storage(e)) => {
            tracing::error!("web: storing the admin password failed: {e}");
            Err(ApiError::Internal)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    password: String,
}

/// `POST /api/session`: log in; the cookie and the CSRF token for changes.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = peer.ip();
    state.check_throttle(ip)?;
    if state.credentials.needs_setup() {
        return Err(ApiError::Conflict("no admin password yet; open /setup"));
    }
    let credentials = state.credentials.clone();
    let correct = state
        .hashing(move || credentials.verify(&request.password))
        .await?;
    if !correct {
        return Err(state.failed_attempt(
            ip,
            "password",
            ApiError::Unauthenticated("wrong password"),
        ));
    }
    state.succeeded(ip);
    let session = state.start_session();
    tracing::info!(source = %ip, "web: logged in");
    let cookie = session_cookie_header(&session.id, state.session_max());
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "csrf_token": session.csrf_token })),
    )
        .into_response())
}

/// `DELETE /api/session`: log out.
pub async fn logout(
    State(state): State<AppState>,
    Extension(session): Extension<ActiveSession>,
) -> Response {
    state.end_session(&session.id);
    tracing::info!("web: logged out");
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, expired_cookie_header())],
    )
        .into_response()
}

pub async fn status(State(state): State<AppState>) -> Json<Value> {
    Json(state.backend.status())
}

pub async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

/// Unknown paths: 404 for a logged-in user, the usual refusal for anyone else (so the set of
/// pages is not probed without a session).
pub async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    match state.session_for(request.headers()) {
        Some(_) => ApiError::NotFound.into_response(),
        None => refuse_unauthenticated(request.uri().path()),
    }
}
