//! The HTTPS certificate: the user's own, or a self-signed one made on first start and kept
//! under `<data_dir>/web/` (made again when the box gains a name or address it does not cover).

use std::fs;
use std::io;
use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

use super::settings::WebConfig;

const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// The names the stored self-signed certificate was made for.
const NAMES_FILE: &str = "cert-names.json";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("making the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS set-up: {0}")]
    Rustls(#[from] rustls::Error),
}

pub use crate::infra::http::install_crypto_provider;

/// The server's TLS configuration and the certificate's SHA-256 fingerprint.
pub struct Certificate {
    pub config: Arc<ServerConfig>,
    pub fingerprint: String,
    pub self_signed: bool,
    pub cert_path: PathBuf,
}

/// Loads the user's certificate when configured, else the self-signed one (made when missing).
pub fn load_or_create(settings: &WebConfig, web_dir: &Path) -> Result<Certificate, TlsError> {
    install_crypto_provider();
    let (cert_path, key_path, self_signed) = match (&settings.cert_file, &settings.key_file) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), false),
        _ => {
            let names = certificate_names(settings);
            ensure_self_signed(web_dir, &names)?;
            (web_dir.join(CERT_FILE), web_dir.join(KEY_FILE), true)
        }
    };
    let certs = read_certs(&cert_path)?;
    let key = read_key(&key_path)?;
    let fingerprint = fingerprint(&certs[0]);
    let config = server_config(certs, key)?;
    Ok(Certificate {
        config,
        fingerprint,
        self_signed,
        cert_path,
    })
}

/// `AB:CD:…` — the SHA-256 of the certificate, as browsers show it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(crate::infra::http::crypto_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = fs::read(path).map_err(|source| io_error(path, source))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error(path, "holds no PEM certificate".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = fs::read(path).map_err(|source| io_error(path, source))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| pem_error(path, e.to_string()))
}

/// Makes the self-signed certificate unless the stored one already covers `names`.
fn ensure_self_signed(web_dir: &Path, names: &[String]) -> Result<(), TlsError> {
    let (cert, key) = (web_dir.join(CERT_FILE), web_dir.join(KEY_FILE));
    let covered = stored_names(web_dir).is_some_and(|old| names.iter().all(|n| old.contains(n)));
    if covered && cert.exists() && key.exists() {
        return Ok(());
    }
    let rcgen::CertifiedKey {
        cert: made,
        signing_key,
    } = self_signed(names)?;
    let names_json = serde_json::to_vec(names).unwrap_or_default();
    write(&key, signing_key.serialize_pem().as_bytes())?;
    write(&cert, made.pem().as_bytes())?;
    write(&web_dir.join(NAMES_FILE), &names_json)?;
    tracing::info!(names = %names.join(", "), "web: made a self-signed certificate");
    Ok(())
}

fn self_signed(names: &[String]) -> Result<rcgen::CertifiedKey<rcgen::KeyPair>, TlsError> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::CommonName, "callbox");
    params.distinguished_name = subject;
    let signing_key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&signing_key)?;
    Ok(rcgen::CertifiedKey { cert, signing_key })
}

fn stored_names(web_dir: &Path) -> Option<Vec<String>> {
    let bytes = fs::read(web_dir.join(NAMES_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// localhost, the loopback addresses, the listen address, the box's host name and its address
/// on the network the default route leaves by, and the configured extra names.
pub fn certificate_names(settings: &WebConfig) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let listen_ip = settings.listen.ip();
    if !listen_ip.is_unspecified() {
        names.push(listen_ip.to_string());
    }
    if let Some(ip) = outbound_address() {
        names.push(ip.to_string());
    }
    if let Some(host) = host_name() {
        names.push(format!("{host}.local"));
        names.push(host);
    }
    names.extend(settings.hostnames.iter().cloned());
    let mut unique = Vec::with_capacity(names.len());
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
}

/// The local address a packet to the internet would leave from; nothing is sent.
fn outbound_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

fn host_name() -> Option<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_ascii_lowercase();
    let usable = !name.is_empty()
        && name != "localhost"
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    usable.then_some(name)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    crate::infra::fs::write_atomic(path, bytes).map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: io::Error) -> TlsError {
    TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pem_error(path: &Path, reason: String) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn self_signed_certificate_is_made_once_and_kept_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let settings = WebConfig {
            hostnames: vec!["callbox.example".into()],
            ..WebConfig::default()
        };
        let first = load_or_create(&settings, dir).unwrap();
        assert!(first.self_signed);
        for file in [CERT_FILE, KEY_FILE, NAMES_FILE] {
            let mode = fs::metadata(dir.join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let names = stored_names(dir).unwrap();
        assert!(names.contains(&"callbox.example".to_string()));
        assert!(names.contains(&"127.0.0.1".to_string()));
        let again = load_or_create(&settings, dir).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint, "kept, not made again");

        let more = WebConfig {
            hostnames: vec!["office-box".into()],
            ..settings
        };
        let remade = load_or_create(&more, dir).unwrap();
        assert_ne!(
            first.fingerprint, remade.fingerprint,
            "a new name needs a new certificate"
        );
    }

    #[test]
    fn a_user_certificate_replaces_the_self_signed_one() {
        let tmp = tempfile::tempdir().unwrap();
        let made = self_signed(&["shop.example".to_string()]).unwrap();
        let (cert, key) = (tmp.path().join("user.pem"), tmp.path().join("user.key"));
        fs::write(&cert, made.cert.pem()).unwrap();
        fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let settings = WebConfig {
            cert_file: Some(cert),
            key_file: Some(key),
            ..WebConfig::default()
        };
        let web_dir = tmp.path().join("web");
        let loaded = load_or_create(&settings, &web_dir).unwrap();
        assert!(!loaded.self_signed);
        assert_eq!(loaded.fingerprint, fingerprint(made.cert.der()));
        assert!(!web_dir.join(CERT_FILE).exists());
    }

    #[test]
    fn a_broken_user_certificate_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cert = tmp.path().join("user.pem");
        fs::write(&cert, "not a certificate").unwrap();
        let settings = WebConfig {
            cert_file: Some(cert.clone()),
            key_file: Some(tmp.path().join("user.key")),
            ..WebConfig::default()
        };
        let err = load_or_create(&settings, tmp.path()).err().unwrap();
        assert!(err.to_string().contains("user.pem"), "{err}");
    }

    #[test]
    fn fingerprint_is_colon_separated_sha256() {
        let fp = fingerprint(b"abc");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.starts_with("BA:78:16:BF"), "{fp}");
    }
}
