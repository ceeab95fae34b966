//! Digest authentication for REGISTER (RFC 2617 with MD5, RFC 8760 with SHA-256), and the
//! client side: answering a trunk's or ATA's 401/407 challenge to the box's own INVITE.
//!
//! Nonces are issued by the box and remembered for a few minutes; a response computed over an
//! expired nonce gets a fresh challenge with `stale=true`, so an ATA re-registers without
//! anyone seeing an error.

use crate::infra::Secret;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an issued nonce stays good.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Nonces remembered at once; the oldest are forgotten first (a flood cannot grow memory).
const MAX_NONCES: usize = 256;

/// Hash algorithm of a digest challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash_hex(self, input: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(input.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(input.as_bytes())),
        }
    }
}

/// The outcome of checking an Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are right: the authenticated username.
    Accepted(String),
    /// No usable credentials: challenge (again). `stale` when only the nonce had expired.
    Challenge { stale: bool },
    /// Credentials for a known nonce that are wrong (bad password or unknown user).
    Rejected,
}

/// Issues nonces and checks digest responses against configured accounts.
#[derive(Debug)]
pub struct DigestAuthenticator {
    realm: String,
    accounts: HashMap<String, Secret>,
    nonces: HashMap<String, Instant>,
}

impl DigestAuthenticator {
    pub fn new(realm: &str, accounts: impl IntoIterator<Item = (String, Secret)>) -> Self {
        DigestAuthenticator {
            realm: realm.to_string(),
            accounts: accounts.into_iter().collect(),
            nonces: HashMap::new(),
        }
    }

    /// True when accounts are configured, i.e. REGISTER must authenticate.
    pub fn required(&self) -> bool {
        !self.accounts.is_empty()
    }

    /// WWW-Authenticate values for a new challenge: MD5 first, because many ATAs read only the
    /// first challenge and know only MD5; SHA-256 (RFC 8760) second for those that prefer it.
    pub fn challenge(&mut self, now: Instant, stale: bool) -> Vec<String> {
        self.nonces
            .retain(|_, issued| now.saturating_duration_since(*issued) < NONCE_LIFETIME);
        if self.nonces.len() >= MAX_NONCES {
            if let Some(oldest) = self
                .nonces
                .iter()
                .min_by_key(|(_, issued)| **issued)
                .map(|(n, _)| n.clone())
            {
                self.nonces.remove(&oldest);
            }
        }
        let nonce = super::message::random_token(32);
        self.nonces.insert(nonce.clone(), now);
        let stale = if stale { ", stale=true" } else { "" };
        [Algorithm::Md5, Algorithm::Sha256]
            .iter()
            .map(|alg| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"{}",
                    self.realm,
                    nonce,
                    alg.name(),
                    stale
                )
            })
            .collect()
    }

    /// Checks an Authorization header value for `method` (REGISTER).
    pub fn verify(&mut self, now: Instant, method: &str, authorization: Option<&str>) -> Verdict {
        let Some(value) = authorization else {
            return Verdict::Challenge { stale: false };
        };
        let Some(params) = parse_digest(value) else {
            return Verdict::Challenge { stale: false };
        };
        let get = |k: &str| params.get(k).map(String::as_str);
        let (Some(username), Some(nonce), Some(uri), Some(response)) =
            (get("username"), get("nonce"), get("uri"), get("response"))
        else {
            return Verdict::Challenge { stale: false };
        };
        if get("realm") != Some(self.realm.as_str()) {
            return Verdict::Challenge { stale: false };
        }
        match self.nonces.get(nonce) {
            Some(issued) if now.saturating_duration_since(*issued) < NONCE_LIFETIME => {}
            Some(_) => return Verdict::Challenge { stale: true },
            None => return Verdict::Challenge { stale: false },
        }
        let algorithm = match get("algorithm").map(str::to_ascii_uppercase).as_deref() {
            None | Some("MD5") => Algorithm::Md5,
            Some("SHA-256") => Algorithm::Sha256,
            Some(_) => return Verdict::Challenge { stale: false },
        };
        let Some(password) = self.accounts.get(username) else {
            return Verdict::Rejected;
        };
        let expected = expected_response(
            algorithm,
            username,
            &self.realm,
            password.expose(),
            method,
            uri,
            nonce,
            get("qop"),
            get("nc"),
            get("cnonce"),
        );
        match expected {
            Some(expected) if constant_time_eq(expected.as_bytes(), response.as_bytes()) => {
                Verdict::Accepted(username.to_string())
            }
            _ => Verdict::Rejected,
        }
    }
}

/// A digest challenge the box received (WWW-Authenticate or Proxy-Authenticate), to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop="auth"` (the box then sends nc and cnonce).
    pub qop_auth: bool,
    pub stale: bool,
}

impl Challenge {
    /// Parses one challenge; None for another scheme, a missing realm or nonce, an algorithm
    /// the box does not know, or a qop list without `auth` (auth-int is not offered).
    pub fn parse(value: &str) -> Option<Challenge> {
        let params = parse_digest(value)?;
        let algorithm = match params.get("algorithm").map(|a| a.to_ascii_uppercase()) {
            None => Algorithm::Md5,
            Some(a) if a == "MD5" => Algorithm::Md5,
            Some(a) if a == "SHA-256" => Algorithm::Sha256,
            Some(_) => return None,
        };
        let qop_auth = match params.get("qop") {
            None => false,
            Some(list) => {
                if !list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
                {
                    return None;
                }
                true
            }
        };
        Some(Challenge {
            realm: params.get("realm")?.clone(),
            nonce: params.get("nonce")?.clone(),
            opaque: params.get("opaque").cloned(),
            algorithm,
            qop_auth,
            stale: params
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The strongest challenge among `values` the box can answer: SHA-256 over MD5.
    pub fn strongest<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        values
            .into_iter()
            .filter_map(Challenge::parse)
            .max_by_key(|c| c.algorithm == Algorithm::Sha256)
    }

    /// The Authorization / Proxy-Authorization value answering this challenge for `method`
    /// on `uri`, with the client nonce `cnonce` and nonce count `nc`.
    pub fn answer(
        &self,
        username: &str,
        password: &Secret,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let nc_text = format!("{nc:08x}");
        let qop = self.qop_auth.then_some("auth");
        let response = expected_response(
            self.algorithm,
            username,
            &self.realm,
            password.expose(),
            method,
            uri,
            &self.nonce,
            qop,
            Some(&nc_text),
            Some(cnonce),
        )
        .unwrap_or_default();
        let mut value = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm={}",
            self.realm,
            self.nonce,
            self.algorithm.name()
        );
        if qop.is_some() {
            value.push_str(&format!(", qop=auth, nc={nc_text}, cnonce=\"{cnonce}\""));
        }
        if let Some(opaque) = &self.opaque {
            value.push_str(&format!(", opaque=\"{opaque}\""));
        }
        value
    }
}

#[allow(clippy::too_many_arguments)]
fn expected_response(
    algorithm: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<&str>,
    nc: Option<&str>,
    cnonce: Option<&str>,
) -> Option<String> {
    let ha1 = algorithm.hash_hex(&format!("{username}:{realm}:{password}"));
    let ha2 = algorithm.hash_hex(&format!("{method}:{uri}"));
    let input = match qop {
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            format!("{ha1}:{nonce}:{}:{}:auth:{ha2}", nc?, cnonce?)
        }
        Some(_) => return None,
        None => format!("{ha1}:{nonce}:{ha2}"),
    };
    Some(algorithm.hash_hex(&input))
}

/// Parses `Digest k=v, k="v", …` into lowercase keys.
fn parse_digest(value: &str) -> Option<HashMap<String, String>> {
    let rest = value.trim();
    let scheme_end = rest.find(char::is_whitespace)?;
    if !rest[..scheme_end].eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut params = HashMap::new();
    for part in super::message::split_header_list(&rest[scheme_end..]) {
        let (k, v) = part.split_once('=')?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(v);
        params.insert(k.trim().to_ascii_lowercase(), v.to_string());
    }
    Some(params)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce_of(challenge: &str) -> String {
        let params = parse_digest(challenge).expect("digest");
        params["nonce"].clone()
    }

    #[test]
    fn rfc2617_reference_vector() {
        // RFC 2617 §3.5 example (qop=auth, MD5).
        let r = expected_response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some("auth"),
            Some("00000001"),
            Some("0a4f113b"),
        );
        assert_eq!(r.as_deref(), Some("6629fae49393a05397450978507c4ef1"));
    }

    fn authorization(alg: Algorithm, user: &str, pass: &str, nonce: &str) -> String {
        let response = expected_response(
            alg,
            user,
            "callbox",
            pass,
            "REGISTER",
            "sip:127.0.0.1",
            nonce,
            Some("auth"),
            Some("00000001"),
            Some("c0ffee"),
        )
        .expect("computable");
        format!(
            "Digest username=\"{user}\", realm=\"callbox\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", \
             response=\"{response}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"c0ffee\"",
            alg.name()
        )
    }

    #[test]
    fn accepts_right_password_and_rejects_wrong_one() {
        let now = Instant::now();
        let mut auth =
            DigestAuthenticator::new("callbox", [("ht813".to_string(), "s3cret".into())]);
        assert!(auth.required());
        assert_eq!(
            auth.verify(now, "REGISTER", None),
            Verdict::Challenge { stale: false }
        );
        let challenge = auth.challenge(now, false);
        assert_eq!(challenge.len(), 2);
        assert!(
            challenge[0].contains("algorithm=MD5"),
            "MD5 first: {challenge:?}"
        );
        let nonce = nonce_of(&challenge[1]);
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let good = authorization(alg, "ht813", "s3cret", &nonce);
            assert_eq!(
                auth.verify(now, "REGISTER", Some(&good)),
                Verdict::Accepted("ht813".into())
            );
        }
        let bad = authorization(Algorithm::Md5, "ht813", "guess", &nonce);
        assert_eq!(auth.verify(now, "REGISTER", Some(&bad)), Verdict::Rejected);
        let stranger = authorization(Algorithm::Md5, "admin", "s3cret", &nonce);
        assert_eq!(
            auth.verify(now, "REGISTER", Some(&stranger)),
            Verdict::Rejected
        );
    }

    #[test]
    fn expired_and_unknown_nonces_are_rechallenged() {
        let now = Instant::now();
        let mut auth = DigestAuthenticator::new("callbox", [("a".to_string(), "b".into())]);
        let nonce = nonce_of(&auth.challenge(now, false)[0]);
        let header = authorization(Algorithm::Md5, "a", "b", &nonce);
        let later = now + NONCE_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            auth.verify(later, "REGISTER", Some(&header)),
            Verdict::Challenge { stale: true }
        );
        let forged = authorization(Algorithm::Md5, "a", "b", "not-issued");
        assert_eq!(
            auth.verify(now, "REGISTER", Some(&forged)),
            Verdict::Challenge { stale: false }
        );
    }

    #[test]
    fn client_answers_are_accepted_by_the_server_side() {
        let now = Instant::now();
        let mut server = DigestAuthenticator::new("callbox", [("tech".to_string(), "pw".into())]);
        let challenges = server.challenge(now, false);
        let chosen = Challenge::strongest(challenges.iter().map(String::as_str)).expect("one");
        assert_eq!(chosen.algorithm, Algorithm::Sha256, "SHA-256 preferred");
        assert!(chosen.qop_auth);
        let md5 = Challenge::parse(&challenges[0]).expect("md5");
        for c in [chosen, md5] {
            let header = c.answer("tech", &"pw".into(), "INVITE", "sip:200@x", "abc", 1);
            assert_eq!(
                server.verify(now, "INVITE", Some(&header)),
                Verdict::Accepted("tech".into()),
                "{header}"
            );
            let wrong = c.answer("tech", &"nope".into(), "INVITE", "sip:200@x", "abc", 1);
            assert_eq!(
                server.verify(now, "INVITE", Some(&wrong)),
                Verdict::Rejected
            );
        }
    }

    #[test]
    fn client_parses_plain_and_refuses_unknown_challenges() {
        let plain = Challenge::parse("Digest realm=\"sipp\", nonce=\"n1\", opaque=\"o\"")
            .expect("RFC 2069 style");
        assert_eq!(plain.algorithm, Algorithm::Md5);
        assert!(!plain.qop_auth);
        let answer = plain.answer("u", &"p".into(), "INVITE", "sip:1@h", "c", 1);
        assert!(
            answer.contains("opaque=\"o\"") && !answer.contains("qop"),
            "{answer}"
        );
        assert!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256").is_none()
        );
        assert!(Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"").is_none());
        assert!(Challenge::parse("Basic realm=\"r\"").is_none());
        assert!(Challenge::parse("Digest realm=\"r\"").is_none());
    }

    #[test]
    fn nonce_table_is_bounded() {
        let now = Instant::now();
        let mut auth = DigestAuthenticator::new("callbox", [("a".to_string(), "b".into())]);
        for _ in 0..(MAX_NONCES * 3) {
            auth.challenge(now, false);
        }
        assert!(auth.nonces.len() <= MAX_NONCES);
    }
}
