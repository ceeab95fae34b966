//! Middleware: the session and CSRF check on protected routes, the same-origin check on every
//! change, and the security headers on every answer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;

pub const CSRF_HEADER: &str = "x-csrf-token";

/// Only the box's own CSS and JS; the recording player and "hear it" (a Blob URL) may play;
/// no framing, no plugins, forms only to the box.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; media-src 'self' blob:; connect-src 'self'; object-src 'none'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Protected routes: a live session, and on every change its CSRF token. The session is handed
/// to the handler as a request extension.
pub async fn require_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(session) = state.session_for(request.headers()) else {
        return refuse_unauthenticated(request.uri().path());
    };
    if !is_safe(request.method()) && !csrf_matches(request.headers(), &session.csrf_token) {
        tracing::info!(path = %request.uri().path(), "web: change refused: missing or wrong CSRF token");
        return ApiError::Forbidden("missing or wrong X-CSRF-Token").into_response();
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// Without a session: the API answers 401, pages send the browser to the login page.
pub fn refuse_unauthenticated(path: &str) -> Response {
    if path == "/api" || path.starts_with("/api/") {
        ApiError::Unauthenticated("log in first").into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

/// Changes only from the page itself: a browser that says the request is cross-site, or sends
/// an `Origin` other than this box, is refused (SameSite=Strict and the CSRF token already stop
/// most of it; this also covers login and setup, which have no token yet).
pub async fn same_origin(request: Request, next: Next) -> Response {
    if !is_safe(request.method()) && is_cross_site(&request) {
        tracing::info!(path = %request.uri().path(), "web: cross-site change refused");
        return ApiError::Forbidden("cross-site request").into_response();
    }
    next.run(request).await
}

/// CSP, no framing, no referrer, no sniffing; `no-store` unless the handler chose caching
/// (static assets), so the back button after logout shows no data.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

fn is_safe(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

fn csrf_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(CSRF_HEADER)
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
}

fn is_cross_site(request: &Request) -> bool {
    let headers = request.headers();
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if matches!(fetch_site, Some(b"cross-site" | b"same-site")) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match (origin.to_str(), host) {
        (Ok(origin), Some(host)) => !origin.eq_ignore_ascii_case(&format!("https://{host}")),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn post(headers: &[(&'static str, &'static str)]) -> Request {
        let mut builder = Request::builder().method("POST").uri("/api/session");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn cross_site_changes_are_recognised() {
        assert!(!is_cross_site(&post(&[("host", "10.0.0.2:8443")])));
        assert!(!is_cross_site(&post(&[
            ("host", "10.0.0.2:8443"),
            ("origin", "https://10.0.0.2:8443")
        ])));
        assert!(is_cross_site(&post(&[
            ("host", "10.0.0.2:8443"),
            ("origin", "https://evil.example")
        ])));
        assert!(is_cross_site(&post(&[
            ("host", "10.0.0.2:8443"),
            ("origin", "null")
        ])));
        assert!(is_cross_site(&post(&[
            ("host", "10.0.0.2:8443"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!is_cross_site(&post(&[
            ("host", "10.0.0.2:8443"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn csrf_token_must_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!csrf_matches(&headers, "abc"));
        headers.insert(CSRF_HEADER, HeaderValue::from_static("abd"));
        assert!(!csrf_matches(&headers, "abc"));
        headers.insert(CSRF_HEADER, HeaderValue::from_static("abc "));
        assert!(!csrf_matches(&headers, "abc"));
        headers.insert(CSRF_HEADER, HeaderValue::from_static("abc"));
        assert!(csrf_matches(&headers, "abc"));
    }

    #[test]
    fn the_policy_lets_the_players_use_blob_urls_and_nothing_else_in() {
        let policy: Vec<&str> = CONTENT_SECURITY_POLICY.split(';').map(str::trim).collect();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "media-src 'self' blob:",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(&directive), "{directive} in {policy:?}");
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("http"));
    }

    #[test]
    fn unauthenticated_api_gets_401_and_pages_go_to_login() {
        assert_eq!(refuse_unauthenticated("/api/status").status(), 401);
        assert_eq!(refuse_unauthenticated("/api").status(), 401);
        let page = refuse_unauthenticated("/");
        assert_eq!(page.status(), 303);
        assert_eq!(page.headers()[header::LOCATION], "/login");
        assert_eq!(refuse_unauthenticated("/apix").status(), 303);
    }
}
