//! The API's refusals as HTTP answers: one JSON shape, `{"error": "..."}`, except invalid
//! settings, which name each field: `{"errors": {"<section>.<key>": "reason"}}` (422).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::backend::BackendError;
use super::throttle::retry_after_secs;

/// 422 with one reason per field, e.g. from a section's `validate()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsErrors(pub BTreeMap<String, String>);

impl SettingsErrors {
    pub fn one(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self(BTreeMap::from([(key.into(), reason.into())]))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The `(key, reason)` list a settings section's `validate()` returns; the first reason per key
/// is kept.
impl From<Vec<(String, String)>> for SettingsErrors {
    fn from(issues: Vec<(String, String)>) -> Self {
        let mut map = BTreeMap::new();
        for (key, reason) in issues {
            map.entry(key).or_insert(reason);
        }
        Self(map)
    }
}

impl IntoResponse for SettingsErrors {
    fn into_response(self) -> Response {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "errors": self.0 })),
        )
            .into_response()
    }
}

/// Why a request was refused.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no session, or the wrong password.
    Unauthenticated(&'static str),
    /// 403: missing or wrong CSRF token, wrong setup code, cross-site request.
    Forbidden(&'static str),
    /// 404.
    NotFound,
    /// 409: the request does not fit the box's state (e.g. setup after setup).
    Conflict(&'static str),
    /// 422.
    Invalid(SettingsErrors),
    /// 429 with `Retry-After`.
    LockedOut { retry_after: Duration },
    /// 500; the cause is in the log, not in the answer.
    Internal,
    /// What the backend refused: 404, 409, 503 or 500 with its (secret-free) message.
    Backend(BackendError),
}

impl From<BackendError> for ApiError {
    fn from(error: BackendError) -> Self {
        ApiError::Backend(error)
    }
}

/// The HTTP status a backend refusal answers with.
pub fn backend_status(error: &BackendError) -> StatusCode {
    match error {
        BackendError::NotFound(_) => StatusCode::NOT_FOUND,
        BackendError::Refused(_) => StatusCode::CONFLICT,
        BackendError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        BackendError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let plain = |status: StatusCode, message: &str| {
            (status, Json(json!({ "error": message }))).into_response()
        };
        match self {
            ApiError::Unauthenticated(m) => plain(StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => plain(StatusCode::FORBIDDEN, m),
            ApiError::NotFound => plain(StatusCode::NOT_FOUND, "no such page"),
            ApiError::Conflict(m) => plain(StatusCode::CONFLICT, m),
            ApiError::Invalid(errors) => errors.into_response(),
            ApiError::LockedOut { retry_after } => {
                let secs = retry_after_secs(retry_after);
                let mut response = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many failed attempts; try again later",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                response
            }
            ApiError::Internal => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the box's log",
            ),
            ApiError::Backend(error) => plain(backend_status(&error), &error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_errors_keep_one_reason_per_field() {
        let errors = SettingsErrors::from(vec![
            ("web.listen".to_string(), "port must not be 0".to_string()),
            ("web.listen".to_string(), "second".to_string()),
            ("shop.timezone".to_string(), "unknown".to_string()),
        ]);
        assert_eq!(errors.0.len(), 2);
        assert_eq!(errors.0["web.listen"], "port must not be 0");
        let response = errors.into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn backend_refusals_map_to_their_status_with_the_message() {
        let cases = [
            (BackendError::NotFound("no call k1".into()), 404),
            (BackendError::Refused("syncing".into()), 409),
            (BackendError::Unavailable("queue closed".into()), 503),
            (BackendError::Internal("disk".into()), 500),
        ];
        for (error, status) in cases {
            let response = ApiError::from(error).into_response();
            assert_eq!(response.status().as_u16(), status);
        }
    }

    #[test]
    fn lock_out_carries_retry_after() {
        let response = ApiError::LockedOut {
            retry_after: Duration::from_millis(899_500),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "900");
    }
}
