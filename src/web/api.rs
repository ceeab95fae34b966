//! The JSON API the page uses (`/api/…` behind a session). Each handler asks the backend on the
//! blocking pool ([`on_backend`]), or awaits its future with a time limit, and answers JSON, a
//! file, or the refusal (`{"error": …}`, 422 `{"errors": {…}}`).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::backend::{BackendError, CallQuery, FieldKind, QueueQuery, SettingsView, WebBackend};
use super::error::{ApiError, SettingsErrors};
use super::range::{self, Served};
use super::state::AppState;

/// Days the dashboard's chart shows.
pub const CHART_DAYS: u32 = 14;
/// The longest text "hear it" speaks.
pub const MAX_PREVIEW_CHARS: usize = 500;
const CALLS_DEFAULT_LIMIT: usize = 50;
const CALLS_MAX_LIMIT: usize = 200;
const QUEUE_LIMIT: usize = 1000;
const LOGS_DEFAULT_LIMIT: usize = 200;
const LOGS_MAX_LIMIT: usize = 1000;
/// ServiceTitan, the voice and the updater get this long.
const SLOW_CALL_LIMIT: Duration = Duration::from_secs(60);

/// Runs `work` against the backend on the blocking pool (backend methods may touch the disk).
pub async fn on_backend<T, F>(state: &AppState, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn WebBackend) -> T + Send + 'static,
{
    let backend = state.backend.clone();
    tokio::task::spawn_blocking(move || work(backend.as_ref()))
        .await
        .map_err(|e| {
            tracing::error!("web: a backend call failed: {e}");
            ApiError::Internal
        })
}

/// Awaits one of the backend's slow answers, at most [`SLOW_CALL_LIMIT`].
async fn slow<T>(what: &str, future: impl Future<Output = T>) -> Result<T, ApiError> {
    tokio::time::timeout(SLOW_CALL_LIMIT, future)
        .await
        .map_err(|_| {
            ApiError::Backend(BackendError::Unavailable(format!(
                "{what} took longer than {} s",
                SLOW_CALL_LIMIT.as_secs()
            )))
        })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(value).map(Json).map_err(|e| {
        tracing::error!("web: an answer did not serialise: {e}");
        ApiError::Internal
    })
}

/// An optional number from the query string; 422 naming the parameter when it is not one.
fn number(name: &str, text: Option<&str>) -> Result<Option<usize>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| ApiError::Invalid(SettingsErrors::one(name, "must be a whole number"))),
    }
}

/// A query value, `None` when absent or blank.
pub fn given(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

pub async fn dashboard(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (view, days) = on_backend(&state, |b| (b.dashboard(), b.calls_per_day(CHART_DAYS))).await?;
    let mut answer = to_json(&view)?.0;
    if let Value::Object(map) = &mut answer {
        map.insert("calls_per_day".into(), to_json(&days)?.0);
    }
    Ok(Json(answer))
}

#[derive(Debug, Default, Deserialize)]
pub struct CallsParams {
    day: Option<String>,
    outcome: Option<String>,
    q: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

pub async fn calls(
    State(state): State<AppState>,
    Query(params): Query<CallsParams>,
) -> Result<Json<Value>, ApiError> {
    let query = CallQuery {
        offset: number("offset", params.offset.as_deref())?.unwrap_or(0),
        limit: number("limit", params.limit.as_deref())?
            .unwrap_or(CALLS_DEFAULT_LIMIT)
            .clamp(1, CALLS_MAX_LIMIT),
        day: given(params.day),
        outcome: given(params.outcome),
        search: given(params.q),
    };
    let page = on_backend(&state, move |b| b.calls(&query)).await?;
    to_json(&page)
}

pub async fn call(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let detail = on_backend(&state, move |b| b.call(&key)).await??;
    to_json(&detail)
}

/// `audio/wav`, whole or one byte range (206), `Accept-Ranges: bytes`.
pub async fn recording(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let served = on_backend(&state, move |b| {
        let path = b.recording(&key)?;
        range::read(&path, range.as_deref()).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                BackendError::NotFound("the recording file is missing".into())
            }
            _ => {
                tracing::error!(path = %path.display(), "web: reading a recording failed: {e}");
                BackendError::Internal("reading the recording failed".into())
            }
        })
    })
    .await??;
    Ok(recording_answer(served))
}

fn recording_answer(served: Served) -> Response {
    let wav = [
        (header::CONTENT_TYPE, HeaderValue::from_static("audio/wav")),
        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
    ];
    let content_range = |text: String| {
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("bytes */0"))
    };
    match served {
        Served::Whole(bytes) => (wav, bytes).into_response(),
        Served::Part {
            bytes,
            start,
            end,
            len,
        } => (
            StatusCode::PARTIAL_CONTENT,
            wav,
            [(
                header::CONTENT_RANGE,
                content_range(format!("bytes {start}-{end}/{len}")),
            )],
            bytes,
        )
            .into_response(),
        Served::Unsatisfiable { len } => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [
                (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
                (
                    header::CONTENT_RANGE,
                    content_range(format!("bytes */{len}")),
                ),
            ],
        )
            .into_response(),
        Served::TooLarge { len } => ApiError::Backend(BackendError::Refused(format!(
            "the recording is {len} bytes; ask for a byte range"
        )))
        .into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueParams {
    state: Option<String>,
}

pub async fn queue(
    State(state): State<AppState>,
    Query(params): Query<QueueParams>,
) -> Result<Json<Value>, ApiError> {
    let query = QueueQuery {
        state: given(params.state),
        limit: QUEUE_LIMIT,
    };
    let rows = on_backend(&state, move |b| b.queue(&query)).await??;
    to_json(&rows)
}

pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = on_backend(&state, move |b| b.retry(&id)).await??;
    to_json(&row)
}

pub async fn export_queue(State(state): State<AppState>) -> Result<Response, ApiError> {
    let bytes = on_backend(&state, |b| b.export_queue()).await??;
    Ok(attachment(
        "application/x-ndjson",
        &format!("callbox-queue-{}.ndjson", file_time()),
        bytes,
    ))
}

pub async fn on_call(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let view = on_backend(&state, |b| b.on_call()).await?;
    to_json(&view)
}

pub async fn settings(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let view = on_backend(&state, |b| b.settings()).await?;
    to_json(&without_secret_values(view))
}

/// Secrets are write-only: whatever the backend put in a secret's value, it is not sent.
pub fn without_secret_values(mut view: SettingsView) -> SettingsView {
    for field in view.sections.iter_mut().flat_map(|s| s.fields.iter_mut()) {
        if field.kind == FieldKind::Secret {
            field.value = Value::Null;
        }
    }
    view
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    changes: BTreeMap<String, Value>,
}

/// `PUT /api/settings`: 200 with what was applied, or 422 naming each wrong field.
pub async fn apply_settings(
    State(state): State<AppState>,
    Json(request): Json<SettingsChange>,
) -> Result<Json<Value>, ApiError> {
    if request.changes.is_empty() {
        return Err(ApiError::Invalid(SettingsErrors::one(
            "changes",
            "nothing to change",
        )));
    }
    let keys: Vec<String> = request.changes.keys().cloned().collect();
    let applied = on_backend(&state, move |b| b.apply_settings(&request.changes))
        .await?
        .map_err(ApiError::Invalid)?;
    tracing::info!(keys = ?keys, "web: settings changed");
    to_json(&applied)
}

pub async fn test_connection(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let backend = state.backend.clone();
    let report = slow("the ServiceTitan test", backend.test_connection()).await?;
    to_json(&report)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    by: String,
}

/// The longest name an acknowledgement keeps.
const MAX_ACK_NAME_CHARS: usize = 60;

/// `POST /api/alerts/{id}/acknowledge`: an office person takes the alert; the ladder stops.
pub async fn acknowledge_alert(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(request): Json<AcknowledgeRequest>,
) -> Result<Json<Value>, ApiError> {
    let by = ack_name(&request.by)?;
    let row = on_backend(&state, move |b| b.acknowledge_alert(&id, &by)).await??;
    to_json(&row)
}

/// Who took it, as typed: trimmed, one line, not empty, at most 60 characters.
fn ack_name(by: &str) -> Result<String, ApiError> {
    let by: String = by
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let invalid = |reason: String| ApiError::Invalid(SettingsErrors::one("by", reason));
    if by.is_empty() {
        return Err(invalid("say who takes it".into()));
    }
    let chars = by.chars().count();
    if chars > MAX_ACK_NAME_CHARS {
        return Err(invalid(format!(
            "at most {MAX_ACK_NAME_CHARS} characters ({chars} given)"
        )));
    }
    Ok(by)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    text: String,
}

/// `POST /api/voice/preview`: the text in the box's voice, `audio/wav`.
pub async fn voice_preview(
    State(state): State<AppState>,
    Json(request): Json<PreviewRequest>,
) -> Result<Response, ApiError> {
    let text = preview_text(&request.text)?;
    let backend = state.backend.clone();
    let wav = slow("the voice", backend.hear(text)).await??;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}

fn preview_text(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    let invalid = |reason: String| ApiError::Invalid(SettingsErrors::one("text", reason));
    if text.is_empty() {
        return Err(invalid("nothing to say".into()));
    }
    let chars = text.chars().count();
    if chars > MAX_PREVIEW_CHARS {
        return Err(invalid(format!(
            "at most {MAX_PREVIEW_CHARS} characters ({chars} given)"
        )));
    }
    Ok(text.to_string())
}

/// `POST /api/restart`: 202; the box restarts once the line is idle.
pub async fn restart(State(state): State<AppState>) -> Result<Response, ApiError> {
    let plan = on_backend(&state, |b| b.restart()).await??;
    tracing::info!(
        calls_in_progress = plan.calls_in_progress,
        "web: restart asked for"
    );
    Ok((StatusCode::ACCEPTED, to_json(&plan)?).into_response())
}

pub async fn updates(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let view = on_backend(&state, |b| b.updates()).await?;
    to_json(&view)
}

pub async fn check_updates(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let backend = state.backend.clone();
    let view = slow("the update check", backend.check_updates()).await?;
    to_json(&view)
}

#[derive(Debug, Default, Deserialize)]
pub struct LogParams {
    after: Option<String>,
    limit: Option<String>,
}

pub async fn logs(
    State(state): State<AppState>,
    Query(params): Query<LogParams>,
) -> Result<Json<Value>, ApiError> {
    let after = number("after", params.after.as_deref())?.unwrap_or(0) as u64;
    let limit = number("limit", params.limit.as_deref())?
        .unwrap_or(LOGS_DEFAULT_LIMIT)
        .clamp(1, LOGS_MAX_LIMIT);
    let lines = on_backend(&state, move |b| b.log_tail(after, limit)).await?;
    to_json(&lines)
}

pub async fn support_bundle(State(state): State<AppState>) -> Result<Response, ApiError> {
    let bytes = on_backend(&state, |b| b.support_bundle()).await??;
    Ok(attachment(
        "application/gzip",
        &format!("callbox-support-{}.tar.gz", file_time()),
        bytes,
    ))
}

/// A download: the type, and `Content-Disposition: attachment` with a plain file name.
fn attachment(content_type: &'static str, file_name: &str, bytes: Vec<u8>) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// UTC, for file names: `20261205T084700Z`.
fn file_time() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::backend::{SettingField, SettingsSection};

    #[test]
    fn preview_text_is_bounded() {
        assert_eq!(preview_text("  Hello there ").unwrap(), "Hello there");
        assert!(preview_text(&"a".repeat(MAX_PREVIEW_CHARS)).is_ok());
        for bad in ["", "   ", &"a".repeat(MAX_PREVIEW_CHARS + 1)] {
            let response = preview_text(bad).unwrap_err().into_response();
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
        // Characters, not bytes: 500 accented letters are fine.
        assert!(preview_text(&"é".repeat(MAX_PREVIEW_CHARS)).is_ok());
    }

    #[test]
    fn secret_values_never_leave() {
        let view = SettingsView {
            sections: vec![SettingsSection {
                name: "servicetitan".into(),
                fields: vec![
                    SettingField {
                        key: "servicetitan.client_secret".into(),
                        kind: FieldKind::Secret,
                        value: Value::String("hunter2".into()),
                        secret_set: true,
                        ..SettingField::default()
                    },
                    SettingField {
                        key: "servicetitan.tenant".into(),
                        value: Value::String("42".into()),
                        ..SettingField::default()
                    },
                ],
            }],
            restart_pending: Vec::new(),
        };
        let text = serde_json::to_string(&without_secret_values(view)).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("\"secret_set\":true"));
        assert!(text.contains("\"42\""));
    }

    #[test]
    fn query_numbers_name_the_parameter_when_wrong() {
        assert_eq!(number("offset", None).unwrap(), None);
        assert_eq!(number("offset", Some(" ")).unwrap(), None);
        assert_eq!(number("offset", Some("40")).unwrap(), Some(40));
        let ApiError::Invalid(errors) = number("offset", Some("-1")).unwrap_err() else {
            panic!("422 expected");
        };
        assert!(errors.0.contains_key("offset"));
    }

    #[test]
    fn attachments_name_their_file() {
        let response = attachment("application/gzip", "callbox-support-x.tar.gz", vec![1]);
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"callbox-support-x.tar.gz\""
        );
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/gzip");
    }
}
