//! The one HTTP client builder: reqwest with rustls and the ring provider, connect and request
//! timeouts, the `callbox/<version>` user agent, an optional extra CA file (a shop's proxy or a
//! private ServiceTitan test server), and optionally https only (plain http to this machine
//! stays allowed, for local relays and test servers).

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

/// What every request from the box says it is.
pub const USER_AGENT: &str = concat!("callbox/", env!("CARGO_PKG_VERSION"));

/// How a client behaves. Start from [`HttpOptions::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Longest wait for a TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Longest a whole request may take; `None` = no limit beyond the connect timeout.
    pub timeout: Option<Duration>,
    /// PEM file with CA certificates trusted besides the built-in roots.
    pub extra_ca_file: Option<PathBuf>,
    /// Refuse plain http except to a loopback host: checked on every redirect; check the first
    /// URL with [`check_url`].
    pub https_only: bool,
    /// Follow up to ten redirects; `false` treats a redirect as the answer.
    pub follow_redirects: bool,
    /// Drop pooled connections idle this long (a dead one must not eat a whole timeout).
    pub pool_idle_timeout: Option<Duration>,
}

impl HttpOptions {
    pub fn new(connect_timeout: Duration, timeout: Option<Duration>) -> HttpOptions {
        HttpOptions {
            connect_timeout,
            timeout,
            extra_ca_file: None,
            https_only: false,
            follow_redirects: true,
            pool_idle_timeout: None,
        }
    }
}

/// Why a client could not be built, or a URL may not be used.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot read the CA file {path}: {source}")]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {path} holds no usable certificate: {reason}")]
    BadCa { path: PathBuf, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// `url` is scheme and host only (a path may hold a private topic); the message names
    /// neither, so callers put the URL where they want it.
    #[error("plain http is only allowed for loopback hosts; use https")]
    PlainHttp { url: String },
    #[error("scheme `{scheme}` is not https")]
    Scheme { url: String, scheme: String },
}

/// The TLS cryptography the box uses, for the ServiceTitan client, the alert channels and the
/// web page alike: rustls's *ring* provider (pure Rust and assembly, no cmake, cross-builds
/// with the Debian toolchain; see Cargo.toml). rustls 0.23.48 marks it deprecated because
/// *ring* has no post-quantum key exchange; moving to aws-lc-rs is a choice of its own
/// (a C build on both targets), so the one allowance is here.
#[allow(deprecated)]
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// reqwest is built with `rustls-no-provider`: the process picks [`crypto_provider`] once.
/// Idempotent.
pub fn install_crypto_provider() {
    let _ = crypto_provider().install_default();
}

/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("");
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `Ok` for https, and for plain http when `https_only` is off or the host is loopback.
pub fn check_url(url: &Url, https_only: bool) -> Result<(), HttpError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if !https_only || is_loopback(url) => Ok(()),
        "http" => Err(HttpError::PlainHttp {
            url: without_path(url),
        }),
        other => Err(HttpError::Scheme {
            url: without_path(url),
            scheme: other.to_string(),
        }),
    }
}

/// Scheme and host only: a path may hold a private topic, a query a token.
fn without_path(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""))
}

fn redirect_policy(opts: &HttpOptions) -> reqwest::redirect::Policy {
    if !opts.follow_redirects {
        return reqwest::redirect::Policy::none();
    }
    let https_only = opts.https_only;
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("too many redirects")
        } else if let Err(e) = check_url(attempt.url(), https_only) {
            attempt.error(e)
        } else {
            attempt.follow()
        }
    })
}

fn extra_roots(opts: &HttpOptions) -> Result<Vec<reqwest::Certificate>, HttpError> {
    let Some(path) = &opts.extra_ca_file else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path).map_err(|source| HttpError::CaFile {
        path: path.clone(),
        source,
    })?;
    let bad = |reason: String| HttpError::BadCa {
        path: path.clone(),
        reason,
    };
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The builders of reqwest's async and blocking clients have the same methods, not a trait.
macro_rules! configure {
    ($builder:expr, $opts:expr) => {{
        let opts = $opts;
        let mut b = $builder
            .connect_timeout(opts.connect_timeout)
            .user_agent(USER_AGENT)
            .redirect(redirect_policy(opts))
            .tls_certs_merge(extra_roots(opts)?);
        if let Some(timeout) = opts.timeout {
            b = b.timeout(timeout);
        }
        if let Some(idle) = opts.pool_idle_timeout {
            b = b.pool_idle_timeout(idle);
        }
        b
    }};
}

/// The async client (ServiceTitan, on-call alerts).
pub fn client(opts: &HttpOptions) -> Result<reqwest::Client, HttpError> {
    install_crypto_provider();
    configure!(reqwest::Client::builder(), opts)
        .build()
        .map_err(|e| HttpError::Build(e.without_url().to_string()))
}

/// The blocking client (the speech model download, run from the command line).
pub fn blocking_client(opts: &HttpOptions) -> Result<reqwest::blocking::Client, HttpError> {
    install_crypto_provider();
    configure!(reqwest::blocking::Client::builder(), opts)
        .build()
        .map_err(|e| HttpError::Build(e.without_url().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn https_only_allows_loopback_http() {
        assert!(check_url(&url("https://ntfy.sh/topic"), true).is_ok());
        assert!(check_url(&url("http://127.0.0.1:8080/hook"), true).is_ok());
        assert!(check_url(&url("http://[::1]/hook"), true).is_ok());
        assert!(check_url(&url("http://localhost/x"), true).is_ok());
        assert!(check_url(&url("http://hooks.example.com/x"), false).is_ok());
        let err = check_url(&url("http://hooks.example.com/secret-topic"), true).unwrap_err();
        assert!(
            matches!(err, HttpError::PlainHttp { ref url } if url == "http://hooks.example.com")
        );
        assert!(!err.to_string().contains("secret-topic"), "{err}");
        assert!(matches!(
            check_url(&url("ftp://example.com/x"), false),
            Err(HttpError::Scheme { .. })
        ));
    }

    #[test]
    fn clients_build_with_and_without_extras() {
        let mut opts = HttpOptions::new(Duration::from_secs(5), Some(Duration::from_secs(30)));
        opts.pool_idle_timeout = Some(Duration::from_secs(30));
        opts.https_only = true;
        assert!(client(&opts).is_ok());
        opts.follow_redirects = false;
        assert!(blocking_client(&opts).is_ok());
    }

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = HttpOptions::new(Duration::from_secs(5), None);
        opts.extra_ca_file = Some(dir.path().join("missing.pem"));
        assert!(matches!(client(&opts), Err(HttpError::CaFile { .. })));
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        opts.extra_ca_file = Some(junk);
        assert!(matches!(client(&opts), Err(HttpError::BadCa { .. })));
    }

    #[tokio::test]
    async fn requests_say_who_they_are() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let n = conn.read(&mut buf).await.expect("read");
            conn.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .expect("write");
            String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase()
        });
        let opts = HttpOptions::new(Duration::from_secs(5), Some(Duration::from_secs(10)));
        let http = client(&opts).expect("client");
        let answer = http
            .get(format!("http://{addr}/"))
            .send()
            .await
            .expect("send");
        assert_eq!(answer.status().as_u16(), 204);
        let request = server.await.expect("server");
        assert!(
            request.contains(&format!("user-agent: {}", USER_AGENT.to_ascii_lowercase())),
            "{request}"
        );
    }
}
