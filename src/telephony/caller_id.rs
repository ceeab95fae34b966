//! Caller ID from SIP header values: P-Asserted-Identity, Remote-Party-ID, From.
//!
//! The SIP layer hands over raw header values (strings). This module picks the most trustworthy
//! one, recognises the many ways "no number" is spelled (RFC 3323 anonymous URIs, and the
//! Bellcore "O"/"P" markers an FXO ATA copies from the analogue line), and normalises numbers to
//! E.164 using the shop's country so the job queue can match callers to customers.

// The dialling plans are the trade's phone-number rules; re-exported for the settings check.
use crate::trade::phone;
pub use crate::trade::phone::{dialling_plan, DiallingPlan, DIALLING_PLANS};

/// Whether the caller's number may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// A number (or at least an identity) was presented.
    Available,
    /// The caller withheld it (private, restricted, anonymous, RPID privacy).
    Anonymous,
    /// The network did not have it (out of area, unknown, empty).
    Unavailable,
}

/// Who is calling, as far as the headers tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId {
    /// E.164 ("+13125550142") when the headers carried a usable number.
    pub number: Option<String>,
    /// The header value the result came from, for logs and support.
    pub raw: String,
    /// A real name (placeholders like "Anonymous" and names that are just the number are dropped).
    pub display_name: Option<String>,
    pub presentation: Presentation,
}

/// Extracts caller ID. Precedence: P-Asserted-Identity (network-asserted), then Remote-Party-ID
/// (its `privacy=full`/`uri` withholds the number, `privacy=name` the name; `party=called`
/// entries are ignored), then From.
pub fn caller_id(
    p_asserted_identity: Option<&str>,
    remote_party_id: Option<&str>,
    from: &str,
    default_country: &str,
) -> CallerId {
    let plan = dialling_plan(default_country);
    let pai: Vec<Party> = p_asserted_identity
        .map(|v| split_header_list(v).into_iter().map(Party::parse).collect())
        .unwrap_or_default();
    let rpid: Vec<Party> = remote_party_id
        .map(|v| {
            split_header_list(v)
                .into_iter()
                .map(Party::parse)
                .filter(|p| {
                    !p.param("party")
                        .is_some_and(|v| v.eq_ignore_ascii_case("called"))
                })
                .collect()
        })
        .unwrap_or_default();
    let from = Party::parse(from);

    // A name from any source that may show one, for sources (PAI) that often carry none.
    let fallback_name = pai
        .iter()
        .chain(rpid.iter().filter(|p| !p.hides_name()))
        .chain(std::iter::once(&from))
        .find_map(Party::real_display_name);

    for party in &pai {
        if let Some(number) = party.number(plan) {
            return party.available(number, fallback_name);
        }
    }
    if let Some(party) = rpid.first() {
        if party.hides_number() {
            return CallerId {
                number: None,
                raw: party.raw.clone(),
                display_name: None,
                presentation: Presentation::Anonymous,
            };
        }
        if let Some(number) = party.number(plan) {
            let mut id = party.available(number, fallback_name);
            if party.hides_name() {
                id.display_name = None;
            }
            return id;
        }
    }
    if let Some(number) = from.number(plan) {
        return from.available(number, fallback_name);
    }

    // No number anywhere: the most trusted source saying "withheld" wins over "unavailable".
    let all = || pai.iter().chain(rpid.iter()).chain(std::iter::once(&from));
    let (raw, presentation) = match all().find(|p| p.withheld()) {
        Some(p) => (p.raw.clone(), Presentation::Anonymous),
        None => (from.raw.clone(), Presentation::Unavailable),
    };
    CallerId {
        number: None,
        raw,
        display_name: if presentation == Presentation::Anonymous {
            None
        } else {
            fallback_name
        },
        presentation,
    }
}

/// The number the caller dialled (the shop's line), from the Request-URI user part, else the To
/// header. `None` when neither is a phone number (e.g. the ATA sends its account name).
pub fn dialled_number(request_uri_user: &str, to: &str, default_country: &str) -> Option<String> {
    let plan = dialling_plan(default_country);
    let user = percent_decode(strip_user_params(request_uri_user));
    phone::normalise(&user, plan).or_else(|| Party::parse(to).number(plan))
}

/// Normalises a dialled or presented number to E.164 ("+13125550142") using `default_country`'s
/// plan. Visual separators (`-().` and spaces) are ignored. `None` when it is not a phone number
/// or is too short to place without more context (e.g. 7-digit local numbers).
pub fn normalise_number(raw: &str, default_country: &str) -> Option<String> {
    phone::normalise(raw, dialling_plan(default_country))
}

/// One parsed name-addr / addr-spec with its header parameters.
#[derive(Debug, Default)]
struct Party {
    raw: String,
    display_name: Option<String>,
    /// User part of a sip:/sips: URI, or the number of a tel: URI; percent-decoded.
    user: String,
    host: String,
    /// Header parameters after the URI (`;privacy=full;screen=yes`), names lower-cased.
    params: Vec<(String, String)>,
}

/// User parts that mean the caller withheld the number. "p" is Bellcore's "private".
const WITHHELD_USERS: &[&str] = &[
    "anonymous",
    "restricted",
    "private",
    "p",
    "withheld",
    "blocked",
];
/// Display names that are placeholders rather than names.
const PLACEHOLDER_NAMES: &[&str] = &[
    "anonymous",
    "restricted",
    "private",
    "private caller",
    "private number",
    "p",
    "withheld",
    "blocked",
    "unavailable",
    "out of area",
    "out-of-area",
    "o",
    "unknown",
    "unknown caller",
];

impl Party {
    fn parse(value: &str) -> Party {
        let raw = value.trim();
        let mut party = Party {
            raw: raw.to_string(),
            ..Party::default()
        };
        let mut rest = raw;
        if let Some(after_quote) = rest.strip_prefix('"') {
            let (name, after) = unquote(after_quote);
            party.display_name = Some(name);
            rest = after;
        }
        let (uri, params) = if let Some(lt) = rest.find('<') {
            if party.display_name.is_none() {
                let token = rest[..lt].trim();
                if !token.is_empty() {
                    party.display_name = Some(token.to_string());
                }
            }
            let inside = &rest[lt + 1..];
            match inside.find('>') {
                Some(gt) => (&inside[..gt], &inside[gt + 1..]),
                None => (inside, ""),
            }
        } else {
            // addr-spec without brackets: anything after `;` is a header parameter (RFC 3261
            // §20.10), except inside a tel: URI where `;` starts the URI's own parameters.
            match rest.find(';') {
                Some(semi) => (&rest[..semi], &rest[semi..]),
                None => (rest, ""),
            }
        };
        party.params = params
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_string(),
                ),
                None => (p.to_ascii_lowercase(), String::new()),
            })
            .collect();
        party.display_name = party
            .display_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());

        let uri = uri.trim();
        let (scheme, body) = match uri.split_once(':') {
            Some((s, b)) if s.chars().all(|c| c.is_ascii_alphabetic()) && !s.is_empty() => {
                (s.to_ascii_lowercase(), b)
            }
            _ => (String::new(), uri),
        };
        match scheme.as_str() {
            "tel" => party.user = percent_decode(strip_user_params(body)),
            _ => {
                // sip:, sips:, or a bare user@host some devices send; drop `?headers`.
                let body = body.split('?').next().unwrap_or("");
                match body.split_once('@') {
                    Some((userinfo, hostport)) => {
                        // user:password is deprecated but legal; the password is not caller ID.
                        let user = userinfo.split(':').next().unwrap_or("");
                        party.user = percent_decode(strip_user_params(user));
                        party.host = hostport
                            .split([';', ':'])
                            .next()
                            .unwrap_or("")
                            .to_ascii_lowercase();
                    }
                    None if scheme.is_empty() => {
                        party.user = percent_decode(strip_user_params(body));
                    }
                    // sip:host with no user part: no caller ID.
                    None => {}
                }
            }
        }
        party
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// RPID `privacy=full` or `privacy=uri` (RFC draft-ietf-sip-privacy-04): do not show the number.
    fn hides_number(&self) -> bool {
        self.param("privacy").is_some_and(|p| {
            p.split(',')
                .any(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "full" | "uri"))
        })
    }

    fn hides_name(&self) -> bool {
        self.hides_number()
            || self
                .param("privacy")
                .is_some_and(|p| p.split(',').any(|v| v.trim().eq_ignore_ascii_case("name")))
    }

    fn number(&self, plan: Option<&DiallingPlan>) -> Option<String> {
        if self.withheld() {
            return None;
        }
        phone::normalise(&self.user, plan)
    }

    fn withheld(&self) -> bool {
        let user = self.user.trim().to_ascii_lowercase();
        if WITHHELD_USERS.contains(&user.as_str()) || self.host == "anonymous.invalid" {
            return true;
        }
        // No number in the user part, but the name field says why ("PRIVATE" from an FXO line).
        let no_number = !user.bytes().any(|b| b.is_ascii_digit());
        no_number
            && self
                .placeholder_name()
                .is_some_and(|n| WITHHELD_USERS.contains(&n) || n.starts_with("private"))
    }

    /// The display name lower-cased, if it is a placeholder word rather than a name.
    fn placeholder_name(&self) -> Option<&'static str> {
        let name = self.display_name.as_deref()?.trim().to_ascii_lowercase();
        PLACEHOLDER_NAMES.iter().copied().find(|p| *p == name)
    }

    fn real_display_name(&self) -> Option<String> {
        let name = self.display_name.as_deref()?;
        if self.placeholder_name().is_some() {
            return None;
        }
        // Many ATAs put the number in the name field; that is not a name to greet anyone by.
        if name
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | '.' | ' '))
        {
            return None;
        }
        Some(name.to_string())
    }

    fn available(&self, number: String, fallback_name: Option<String>) -> CallerId {
        CallerId {
            number: Some(number),
            raw: self.raw.clone(),
            display_name: self.real_display_name().or(fallback_name),
            presentation: Presentation::Available,
        }
    }
}

/// Reads a quoted-string body (after the opening quote), handling `\"` and `\\` escapes.
/// Returns the unescaped text and what follows the closing quote.
fn unquote(s: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    out.push(escaped);
                }
            }
            '"' => return (out, &s[i + 1..]),
            _ => out.push(c),
        }
    }
    // Unterminated quote: treat it all as the name; no URI follows.
    (out, "")
}

/// Splits a header value holding several comma-separated entries (PAI may carry a sip: and a
/// tel: identity), ignoring commas inside quotes and angle brackets.
fn split_header_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut in_quotes, mut in_angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// A user part may carry tel-style parameters (`+13125550142;npdi;rn=…`); the number ends at `;`.
fn strip_user_params(user: &str) -> &str {
    user.split(';').next().unwrap_or("").trim()
}

/// Decodes `%XX` escapes (a `+` is often sent as `%2B`). Malformed escapes are kept as-is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(number: Option<&str>, name: Option<&str>, presentation: Presentation) -> Expect {
        Expect {
            number: number.map(str::to_string),
            name: name.map(str::to_string),
            presentation,
        }
    }

    #[derive(Debug, PartialEq)]
    struct Expect {
        number: Option<String>,
        name: Option<String>,
        presentation: Presentation,
    }

    use Presentation::{Anonymous as Anon, Available as Avail, Unavailable as Unav};

    #[test]
    fn from_header_forms() {
        let cases: &[(&str, &str, Expect)] = &[
            (
                r#""John Smith" <sip:+13125550142@192.168.1.1;user=phone>;tag=abc"#,
                "US",
                cid(Some("+13125550142"), Some("John Smith"), Avail),
            ),
            (
                "<tel:+1-312-555-0142>",
                "US",
                cid(Some("+13125550142"), None, Avail),
            ),
            (
                "sip:3125550142@192.168.1.20",
                "US",
                cid(Some("+13125550142"), None, Avail),
            ),
            (
                "sip:3125550142@192.168.1.20;tag=1234",
                "US",
                cid(Some("+13125550142"), None, Avail),
            ),
            (
                "<sip:13125550142@192.168.1.20:5062>;tag=9",
                "US",
                cid(Some("+13125550142"), None, Avail),
            ),
            (
                r#""O'Brien \"Bob\"" <sip:(312) 555-0142@host>"#,
                "US",
                cid(Some("+13125550142"), Some("O'Brien \"Bob\""), Avail),
            ),
            (
                r#""Back\\slash" <sip:312.555.0142@host>"#,
                "US",
                cid(Some("+13125550142"), Some("Back\\slash"), Avail),
            ),
            (
                "Jane Doe <sip:3125550142@host>",
                "US",
                cid(Some("+13125550142"), Some("Jane Doe"), Avail),
            ),
            (
                "<sip:%2B13125550142@host>",
                "US",
                cid(Some("+13125550142"), None, Avail),
            ),
            (
                "<sip:+13125550142;npdi;rn=+13125550000@host;user=phone>",
                "US",
                cid(Some("+13125550142"), None, Avail),
            ),
            (
                "<sip:01144 20 7946 0018@host>",
                "US",
                cid(Some("+442079460018"), None, Avail),
            ),
            (
                "<sip:00442079460018@host>",
                "US",
                cid(Some("+442079460018"), None, Avail),
            ),
            (
                "<sip:4165550199@ata>",
                "CA",
                cid(Some("+14165550199"), None, Avail),
            ),
            (
                "<sip:020 7946 0018@host>",
                "GB",
                cid(Some("+442079460018"), None, Avail),
            ),
            (
                "<sip:0412345678@host>",
                "AU",
                cid(Some("+61412345678"), None, Avail),
            ),
            (
                "<sip:0011 1 312 555 0142@host>",
                "AU",
                cid(Some("+13125550142"), None, Avail),
            ),
            (
                "<sip:030123456@host>",
                "DE",
                cid(Some("+4930123456"), None, Avail),
            ),
            (
                "<sip:4930123456@host>",
                "DE",
                cid(Some("+4930123456"), None, Avail),
            ),
            (
                "<sip:01 23 45 67 89@host>",
                "FR",
                cid(Some("+33123456789"), None, Avail),
            ),
            // 7-digit local number: no area code, cannot be made E.164.
            ("<sip:5550142@host>", "US", cid(None, None, Unav)),
            // Invalid NANP area code (starts with 1 after the country code).
            ("<sip:11125550142@host>", "US", cid(None, None, Unav)),
            // Display name that is just the number is not a name.
            (
                r#""3125550142" <sip:3125550142@host>"#,
                "US",
                cid(Some("+13125550142"), None, Avail),
            ),
            (
                r#""Anonymous" <sip:anonymous@anonymous.invalid>;tag=x"#,
                "US",
                cid(None, None, Anon),
            ),
            ("sip:anonymous@192.168.1.20", "US", cid(None, None, Anon)),
            ("<sip:Restricted@host>", "US", cid(None, None, Anon)),
            ("<sip:P@192.168.1.20>", "US", cid(None, None, Anon)),
            ("<sip:O@192.168.1.20>", "US", cid(None, None, Unav)),
            ("<sip:OUT-OF-AREA@host>", "US", cid(None, None, Unav)),
            ("<sip:Unavailable@host>", "US", cid(None, None, Unav)),
            ("<sip:unknown@host>", "US", cid(None, None, Unav)),
            ("<sip:@host>", "US", cid(None, None, Unav)),
            ("<sip:192.168.1.20>", "US", cid(None, None, Unav)),
            (
                r#""PRIVATE" <sip:192.168.1.20>"#,
                "US",
                cid(None, None, Anon),
            ),
            (
                r#""OUT OF AREA" <sip:192.168.1.20>"#,
                "US",
                cid(None, None, Unav),
            ),
            // ATA's own account name when the line had no caller ID; the name is still real.
            (
                r#""Front Desk" <sip:ht813@192.168.1.20>"#,
                "US",
                cid(None, Some("Front Desk"), Unav),
            ),
            // Unknown country: only numbers already in + form normalise.
            ("<sip:3125550142@host>", "ZZ", cid(None, None, Unav)),
            (
                "<sip:+13125550142@host>",
                "ZZ",
                cid(Some("+13125550142"), None, Avail),
            ),
            ("", "US", cid(None, None, Unav)),
            ("<<<\"\\", "US", cid(None, None, Unav)),
            (
                r#""unterminated <sip:3125550142@h>"#,
                "US",
                cid(None, Some("unterminated <sip:3125550142@h>"), Unav),
            ),
        ];
        for (from, country, want) in cases {
            let got = caller_id(None, None, from, country);
            let got = Expect {
                number: got.number,
                name: got.display_name,
                presentation: got.presentation,
            };
            assert_eq!(&got, want, "From: {from} ({country})");
        }
    }

    #[test]
    fn pai_takes_precedence_over_rpid_and_from() {
        let c = caller_id(
            Some("<sip:+13125550142@carrier.example;user=phone>"),
            Some("<sip:3125559999@ata>;party=calling;screen=yes"),
            r#""John Smith" <sip:3125558888@ata>;tag=1"#,
            "US",
        );
        assert_eq!(c.number.as_deref(), Some("+13125550142"));
        assert_eq!(c.raw, "<sip:+13125550142@carrier.example;user=phone>");
        // PAI has no name; the From's name is used.
        assert_eq!(c.display_name.as_deref(), Some("John Smith"));
        assert_eq!(c.presentation, Presentation::Available);
    }

    #[test]
    fn pai_with_sip_and_tel_entries() {
        let c = caller_id(
            Some(r#""Carrier, Inc" <sip:anonymous@x.invalid>, <tel:+1-312-555-0142>"#),
            None,
            "<sip:anonymous@anonymous.invalid>",
            "US",
        );
        assert_eq!(c.number.as_deref(), Some("+13125550142"));
    }

    #[test]
    fn rpid_used_when_no_pai() {
        let c = caller_id(
            None,
            Some(r#""Acme" <sip:3125550142@ata>;party=calling;screen=no;privacy=off"#),
            "<sip:3125558888@ata>",
            "US",
        );
        assert_eq!(c.number.as_deref(), Some("+13125550142"));
        assert_eq!(c.display_name.as_deref(), Some("Acme"));
    }

    #[test]
    fn rpid_privacy_full_withholds_even_if_from_has_number() {
        let c = caller_id(
            None,
            Some(r#""John" <sip:3125550142@ata>;party=calling;privacy=full;screen=yes"#),
            r#""John" <sip:3125550142@ata>"#,
            "US",
        );
        assert_eq!(c.number, None);
        assert_eq!(c.display_name, None);
        assert_eq!(c.presentation, Presentation::Anonymous);
    }

    #[test]
    fn rpid_privacy_name_keeps_number_hides_name() {
        let c = caller_id(
            None,
            Some(r#""John" <sip:3125550142@ata>;privacy=name"#),
            "<sip:3125550142@ata>",
            "US",
        );
        assert_eq!(c.number.as_deref(), Some("+13125550142"));
        assert_eq!(c.display_name, None);
    }

    #[test]
    fn rpid_party_called_is_ignored() {
        let c = caller_id(
            None,
            Some("<sip:8005550100@ata>;party=called"),
            "<sip:3125550142@ata>",
            "US",
        );
        assert_eq!(c.number.as_deref(), Some("+13125550142"));
    }

    #[test]
    fn pai_anonymous_falls_back_to_from_number() {
        let c = caller_id(
            Some("<sip:anonymous@anonymous.invalid>"),
            None,
            "<sip:3125550142@ata>",
            "US",
        );
        assert_eq!(c.number.as_deref(), Some("+13125550142"));
    }

    #[test]
    fn anonymous_everywhere_is_anonymous_with_raw_of_first_source() {
        let c = caller_id(
            Some("<sip:anonymous@anonymous.invalid>"),
            None,
            "<sip:O@ata>",
            "US",
        );
        assert_eq!(c.presentation, Presentation::Anonymous);
        assert_eq!(c.raw, "<sip:anonymous@anonymous.invalid>");
    }

    #[test]
    fn normalise_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("+13125550142", "US", Some("+13125550142")),
            ("+1 (312) 555-0142", "US", Some("+13125550142")),
            ("1-312-555-0142", "US", Some("+13125550142")),
            ("312 555 0142", "US", Some("+13125550142")),
            // 011 is international: this is a Dutch number, not Chicago.
            ("0113125550142", "US", Some("+3125550142")),
            ("011442079460018", "US", Some("+442079460018")),
            ("+0123", "US", None),
            ("+1234567890123456", "US", None),
            ("*67", "US", None),
            ("3125550142#", "US", None),
            ("0207 946 0018", "gb", Some("+442079460018")),
            ("02 9876 5432", "AU", Some("+61298765432")),
            ("", "US", None),
        ];
        for (raw, country, want) in cases {
            assert_eq!(
                normalise_number(raw, country).as_deref(),
                *want,
                "{raw} ({country})"
            );
        }
    }

    #[test]
    fn dialled_number_prefers_request_uri() {
        assert_eq!(
            dialled_number("8005550100", "<sip:ignored@box>", "US").as_deref(),
            Some("+18005550100")
        );
        assert_eq!(
            dialled_number("callbox", "<sip:+1-800-555-0100@box>", "US").as_deref(),
            Some("+18005550100")
        );
        assert_eq!(dialled_number("callbox", "<sip:callbox@box>", "US"), None);
        assert_eq!(dialled_number("", "", "US"), None);
    }

    #[test]
    fn supported_countries() {
        for c in ["US", "CA", "GB", "AU", "DE", "FR", "us"] {
            assert!(dialling_plan(c).is_some(), "{c}");
        }
        assert!(dialling_plan("XX").is_none());
    }

    #[test]
    fn garbage_never_panics() {
        // Byte-level mutations of a real header, including multi-byte characters and `%` at the end.
        let seed =
            r#""Jöhn \"Q\" Smith" <sip:+1-312-555-0142;npdi@192.168.1.1;user=phone>;tag=ab%"#;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut chars: Vec<char> = seed.chars().collect();
            let i = (x as usize) % chars.len();
            let pick = ['"', '<', '>', '\\', ';', '@', '%', ':', ',', 'é', '\0'];
            chars[i] = pick[(x >> 32) as usize % pick.len()];
            chars.truncate((x >> 40) as usize % (chars.len() + 1));
            let s: String = chars.into_iter().collect();
            let c = caller_id(Some(&s), Some(&s), &s, "US");
            if let Some(n) = c.number {
                assert!(
                    n.starts_with('+') && n[1..].bytes().all(|b| b.is_ascii_digit()),
                    "{s} -> {n}"
                );
            }
        }
    }
}
