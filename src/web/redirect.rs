//! The optional plain-HTTP listener: every request is sent to the same host over HTTPS.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

#[derive(Clone)]
struct Target {
    https_port: u16,
    /// Used when a request names no usable host.
    default_host: String,
}

pub fn router(https_port: u16, default_host: String) -> Router {
    Router::new().fallback(redirect).with_state(Target {
        https_port,
        default_host,
    })
}

async fn redirect(State(target): State<Target>, request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = https_location(host, &target.default_host, target.https_port, path);
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

/// `https://<host>[:port]<path>` for the host the browser used (its port dropped).
pub fn https_location(
    host: Option<&str>,
    default_host: &str,
    https_port: u16,
    path: &str,
) -> String {
    let host = host
        .map(strip_port)
        .filter(|h| is_plain_host(h))
        .unwrap_or(default_host);
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = if path.starts_with('/') { path } else { "/" };
    format!("https://{host}{port}{path}")
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_host_and_path_and_use_the_https_port() {
        assert_eq!(
            https_location(Some("callbox.local"), "127.0.0.1", 8443, "/calls?day=1"),
            "https://callbox.local:8443/calls?day=1"
        );
        assert_eq!(
            https_location(Some("10.0.0.2:80"), "127.0.0.1", 443, "/"),
            "https://10.0.0.2/"
        );
        assert_eq!(
            https_location(Some("[fe80::1]:80"), "127.0.0.1", 8443, "/x"),
            "https://[fe80::1]:8443/x"
        );
    }

    #[test]
    fn a_strange_host_falls_back_to_the_box() {
        assert_eq!(
            https_location(Some("evil.example/@x"), "10.0.0.2", 8443, "/"),
            "https://10.0.0.2:8443/"
        );
        assert_eq!(
            https_location(None, "10.0.0.2", 8443, "*"),
            "https://10.0.0.2:8443/"
        );
    }
}
