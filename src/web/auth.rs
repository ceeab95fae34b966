//! The admin password (Argon2id PHC string in `<data_dir>/web/admin.json`) and the one-time
//! setup code that lets the first visitor set it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use rand::Rng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

const ADMIN_FILE: &str = "admin.json";
const SETUP_CODE_FILE: &str = "setup-code";
/// Easy to read aloud and to type: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_GROUPS: usize = 3;
const CODE_GROUP_LEN: usize = 4;
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not an admin password file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("hashing the password: {0}")]
    Hash(String),
}

/// Why `POST /api/setup` was refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the admin password is already set")]
    AlreadyDone,
    #[error("wrong setup code")]
    WrongCode,
    #[error("{0}")]
    WeakPassword(String),
    #[error(transparent)]
    Storage(#[from] AuthError),
}

#[derive(Serialize, Deserialize)]
struct AdminFile {
    /// `$argon2id$v=19$m=…` — never the password itself.
    password_phc: String,
}

enum State {
    NeedsSetup { code: String },
    Ready { phc: String },
}

/// What the box knows about its one admin.
pub struct Credentials {
    dir: PathBuf,
    state: Mutex<State>,
}

/// `Credentials::open`'s answer: the store and, while no password is set, the setup code (for
/// the start-up log line).
pub struct Opened {
    pub credentials: Credentials,
    pub setup_code: Option<String>,
}

impl Credentials {
    /// Reads `admin.json`; without one, keeps (or writes) the one-time setup code.
    pub fn open(web_dir: &Path) -> Result<Opened, AuthError> {
        let admin = web_dir.join(ADMIN_FILE);
        let (state, setup_code) = match read_admin(&admin)? {
            Some(phc) => {
                remove_if_present(&web_dir.join(SETUP_CODE_FILE))?;
                (State::Ready { phc }, None)
            }
            None => {
                let code = setup_code(web_dir)?;
                (State::NeedsSetup { code: code.clone() }, Some(code))
            }
        };
        let credentials = Credentials {
            dir: web_dir.to_path_buf(),
            state: Mutex::new(state),
        };
        Ok(Opened {
            credentials,
            setup_code,
        })
    }

    pub fn needs_setup(&self) -> bool {
        matches!(*self.lock(), State::NeedsSetup { .. })
    }

    /// Checks the code, hashes the password, stores it and deletes the code. Slow (Argon2id):
    /// call it off the async threads. The hash is computed without holding the state, which is
    /// checked again before storing (a concurrent setup may have won).
    pub fn set_up(&self, code: &str, password: &str) -> Result<(), SetupError> {
        code_accepted(&self.lock(), code)?;
        check_password(password).map_err(SetupError::WeakPassword)?;
        let phc = hash(password)?;
        let mut state = self.lock();
        code_accepted(&state, code)?;
        let admin = AdminFile {
            password_phc: phc.clone(),
        };
        let path = self.dir.join(ADMIN_FILE);
        let json = serde_json::to_vec_pretty(&admin).map_err(|e| AuthError::Hash(e.to_string()))?;
        crate::infra::fs::write_atomic(&path, &json)
            .map_err(|source| AuthError::Io { path, source })?;
        remove_if_present(&self.dir.join(SETUP_CODE_FILE))?;
        *state = State::Ready { phc };
        Ok(())
    }

    /// True when `password` is the admin password. Slow (Argon2id): call it off the async
    /// threads.
    pub fn verify(&self, password: &str) -> bool {
        let phc = match &*self.lock() {
            State::Ready { phc } => phc.clone(),
            State::NeedsSetup { .. } => return false,
        };
        password.len() <= MAX_PASSWORD_BYTES
            && Argon2::default()
                .verify_password(password.as_bytes(), phc.as_str())
                .is_ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Setup is still pending and `code` is its code.
fn code_accepted(state: &State, code: &str) -> Result<(), SetupError> {
    match state {
        State::Ready { .. } => Err(SetupError::AlreadyDone),
        State::NeedsSetup { code: expected } if codes_match(expected, code) => Ok(()),
        State::NeedsSetup { .. } => Err(SetupError::WrongCode),
    }
}

/// The rule a new admin password must meet; the reason otherwise.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

fn hash(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|phc| phc.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

fn read_admin(path: &Path) -> Result<Option<String>, AuthError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let corrupt = |reason: String| AuthError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let admin: AdminFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if !admin.password_phc.starts_with("$argon2id$") {
        return Err(corrupt("password_phc is not an Argon2id PHC string".into()));
    }
    Ok(Some(admin.password_phc))
}

/// The stored code when it is well formed (so a restart before setup keeps what the installer
/// was told), else a new one written 0600.
fn setup_code(web_dir: &Path) -> Result<String, AuthError> {
    let path = web_dir.join(SETUP_CODE_FILE);
    if let Ok(text) = fs::read_to_string(&path) {
        let code = text.trim();
        if is_well_formed(code) {
            return Ok(code.to_string());
        }
    }
    let code = new_code();
    crate::infra::fs::write_atomic(&path, format!("{code}\n").as_bytes())
        .map_err(|source| AuthError::Io { path, source })?;
    Ok(code)
}

/// `ABCD-EFGH-JKMN`: 12 characters of a 31-letter alphabet, about 59 bits.
fn new_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let groups: Vec<String> = (0..CODE_GROUPS)
        .map(|_| {
            (0..CODE_GROUP_LEN)
                .map(|_| char::from(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())]))
                .collect()
        })
        .collect();
    groups.join("-")
}

fn is_well_formed(code: &str) -> bool {
    let plain = normalise(code);
    plain.len() == CODE_GROUPS * CODE_GROUP_LEN && plain.bytes().all(|b| CODE_ALPHABET.contains(&b))
}

/// Upper case without spaces or dashes, so `abcd efgh jkmn` is accepted.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn codes_match(expected: &str, given: &str) -> bool {
    let (expected, given) = (normalise(expected), normalise(given));
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

fn remove_if_present(path: &Path) -> Result<(), AuthError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(AuthError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn setup_code_then_password_then_login() {
        let tmp = tempfile::tempdir().unwrap();
        let opened = Credentials::open(tmp.path()).unwrap();
        let code = opened.setup_code.unwrap();
        let creds = opened.credentials;
        assert!(is_well_formed(&code), "{code}");
        let code_file = tmp.path().join(SETUP_CODE_FILE);
        assert_eq!(fs::read_to_string(&code_file).unwrap().trim(), code);
        assert_eq!(
            fs::metadata(&code_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!creds.verify("anything at all"), "no password before setup");

        assert!(matches!(
            creds.set_up("AAAA-AAAA-AAAA", "long enough pw"),
            Err(SetupError::WrongCode)
        ));
        assert!(matches!(
            creds.set_up(&code, "short"),
            Err(SetupError::WeakPassword(_))
        ));
        creds
            .set_up(&code.to_lowercase().replace('-', " "), "long enough pw")
            .unwrap();
        assert!(!code_file.exists(), "the code is used up");
        assert!(matches!(
            creds.set_up(&code, "another password"),
            Err(SetupError::AlreadyDone)
        ));
        assert!(creds.verify("long enough pw"));
        assert!(!creds.verify("long enough pw "));

        let stored = fs::read_to_string(tmp.path().join(ADMIN_FILE)).unwrap();
        assert!(stored.contains("$argon2id$"), "{stored}");
        assert!(!stored.contains("long enough pw"));
        let reopened = Credentials::open(tmp.path()).unwrap();
        assert!(reopened.setup_code.is_none());
        assert!(reopened.credentials.verify("long enough pw"));
    }

    #[test]
    fn a_restart_before_setup_keeps_the_code() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Credentials::open(tmp.path()).unwrap().setup_code.unwrap();
        let second = Credentials::open(tmp.path()).unwrap().setup_code.unwrap();
        assert_eq!(first, second);
        assert_ne!(first, new_code(), "codes are random");
    }

    #[test]
    fn a_damaged_admin_file_is_an_error_not_a_fresh_setup() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(ADMIN_FILE), "{\"password_phc\":\"plain\"}").unwrap();
        assert!(matches!(
            Credentials::open(tmp.path()),
            Err(AuthError::Corrupt { .. })
        ));
    }
}
