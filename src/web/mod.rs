//! The local web page (issue 12): HTTPS on the shop's network, for setting up, watching and
//! reviewing the box from a phone or a laptop.
//!
//! Layer rules: `web` may import `infra`, `trade` and `queue` (read-only types), nothing else of
//! the crate, never `config`. It reads the app through [`WebBackend`], which the composition
//! root implements over the services' status handles. Until `infra` lands, `fsutil` holds the
//! private-file helpers (see its docs).
//!
//! Start-up ([`WebServer::bind`]): the certificate (the user's, or a self-signed one under
//! `<data_dir>/web/`, its SHA-256 fingerprint logged), the admin credentials (or, on first
//! start, a one-time setup code written to `<data_dir>/web/setup-code` and logged), then the
//! listeners. Access rules are in [`routes()`]: every route needs a session except login, setup,
//! static assets and `GET /healthz`; every change also needs the session's CSRF token.
//!
//! Modules: `routes` (the table: path, verb, access, handler; the router and `openapi` are
//! built from it), `guard` (session, CSRF, same-origin, security headers, `no-store`),
//! `handlers` (login, setup, logout, assets), `api` (the JSON API over [`WebBackend`], called on
//! the blocking pool; backend refusals → 404/409/503/500), `range` (the recording's single byte
//! ranges), `pages` (one module per session page, server-rendered, every value escaped; the
//! calls-per-day chart is SVG drawn in `pages::chart`), `html` (escape, the frame, login and
//! setup), `assets/` (the one stylesheet and script; no inline script or style, nothing from a
//! CDN).

mod api;
mod auth;
pub mod backend;
mod error;
mod guard;
mod handlers;
pub mod html;
mod openapi;
mod pages;
mod range;
mod redirect;
mod routes;
mod session;
pub mod settings;
mod state;
mod throttle;
mod tls;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use backend::WebBackend;
pub use error::SettingsErrors;
pub use routes::{routes, Access, Route, Verb, BODY_LIMIT_BYTES};
pub use settings::WebConfig;
pub use state::SESSION_COOKIE;
pub use tls::install_crypto_provider;

/// Connections still open at shutdown get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("web: {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error("web: certificate: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("web: admin credentials: {0}")]
    Credentials(#[from] auth::AuthError),
    #[error("web: cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("web: server: {0}")]
    Serve(io::Error),
}

/// Runs the web page until `shutdown` completes. Returns at once (after `shutdown`) when the
/// page is disabled.
pub async fn serve(
    settings: &WebConfig,
    data_dir: &Path,
    backend: Arc<dyn WebBackend>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WebError> {
    if !settings.enabled {
        tracing::info!("web: the web page is disabled (web.enabled = false)");
        shutdown.await;
        return Ok(());
    }
    WebServer::bind(settings, data_dir, backend)
        .await?
        .run(shutdown)
        .await
}

/// A bound, not yet running web server (so a caller, or a test using port 0, learns the
/// address before serving).
pub struct WebServer {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    redirect: Option<tokio::net::TcpListener>,
    tls: Arc<rustls::ServerConfig>,
    fingerprint: String,
    router: axum::Router,
    default_host: String,
}

impl WebServer {
    /// Prepares `<data_dir>/web/`, the certificate and the credentials, and binds the listeners.
    pub async fn bind(
        settings: &WebConfig,
        data_dir: &Path,
        backend: Arc<dyn WebBackend>,
    ) -> Result<Self, WebError> {
        let web_dir = data_dir.join("web");
        crate::infra::fs::create_private_dir_all(&web_dir).map_err(|source| WebError::DataDir {
            path: web_dir.clone(),
            source,
        })?;
        let certificate = {
            let (settings, web_dir) = (settings.clone(), web_dir.clone());
            tokio::task::spawn_blocking(move || tls::load_or_create(&settings, &web_dir))
                .await
                .map_err(|e| WebError::Serve(io::Error::other(e)))??
        };
        let opened = auth::Credentials::open(&web_dir)?;
        let listener =
            std::net::TcpListener::bind(settings.listen).map_err(|source| WebError::Bind {
                addr: settings.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(WebError::Serve)?;
        let redirect = match settings.redirect_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| WebError::Bind { addr, source })?,
            ),
            None => None,
        };
        tracing::info!(
            certificate = %certificate.cert_path.display(),
            self_signed = certificate.self_signed,
            sha256 = %certificate.fingerprint,
            "web: serving https://{local_addr}/"
        );
        if let Some(code) = &opened.setup_code {
            tracing::warn!(
                "web: no admin password yet: open https://{local_addr}/setup and enter the setup code {code} \
                 (also in {}); it works once",
                web_dir.join("setup-code").display()
            );
        }
        let state = state::AppState::new(settings, opened.credentials, backend);
        let default_host = match settings.listen.ip() {
            ip if ip.is_unspecified() => "localhost".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        Ok(Self {
            listener,
            local_addr,
            redirect,
            tls: certificate.config,
            fingerprint: certificate.fingerprint,
            router: routes::router(state),
            default_host,
        })
    }

    /// The HTTPS address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The plain-HTTP redirect address actually bound, when configured.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// SHA-256 of the certificate served, `AB:CD:…`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Serves until `shutdown` completes (then lets open connections finish, briefly).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), WebError> {
        let handle = axum_server::Handle::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(self.tls);
        // TCP_NODELAY: without it a fresh connection's first answer can wait ~40 ms on
        // Nagle and delayed ACKs (seen in benches/web_dashboard.sh).
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
        let https = axum_server::from_tcp(self.listener)
            .map_err(WebError::Serve)?
            .acceptor(acceptor)
            .handle(handle.clone())
            .serve(
                self.router
                    .into_make_service_with_connect_info::<SocketAddr>(),
            );
        let redirect_router = redirect::router(self.local_addr.port(), self.default_host);
        let plain = async move {
            let Some(listener) = self.redirect else {
                return Ok(());
            };
            let mut stop = stop_rx;
            axum::serve(listener, redirect_router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                })
                .await
        };
        let servers = async { tokio::try_join!(https, plain) };
        tokio::pin!(servers);
        let result = tokio::select! {
            result = &mut servers => result,
            () = shutdown => {
                tracing::info!("web: stopping");
                handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
                let _ = stop_tx.send(true);
                servers.await
            }
        };
        result.map(|_| ()).map_err(WebError::Serve)
    }
}
