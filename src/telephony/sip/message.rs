//! SIP message intake and output: the stack's parser behind a validating front, and the few
//! messages a user agent server writes (responses, in-dialog requests).
//!
//! rsipstack's parser does the tokenising. What it tolerates silently, a UAS on an open port
//! must not: a Content-Length longer than the datagram, a missing Call-ID, a CSeq whose method
//! disagrees with the request line, header bytes that are not text. Those are checked here, so
//! everything past this module can rely on the headers it needs being present and well formed.

use rsipstack::sip::{self as rsip, prelude::HeadersExt, typed, HasHeaders};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// RFC 3261 magic cookie: a branch starting with it is unique per transaction.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A request method, including ones the box does not know (answered 501).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    /// Methods the stack knows but the box does not serve (SUBSCRIBE, REFER, …): 405.
    NotAllowed(String),
    /// Anything else: 501.
    Unknown(String),
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "MESSAGE" | "NOTIFY" | "PRACK" | "PUBLISH" | "REFER" | "SUBSCRIBE" | "UPDATE" => {
                Method::NotAllowed(token.to_string())
            }
            other => Method::Unknown(other.to_string()),
        }
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::NotAllowed(m) | Method::Unknown(m) => m,
        }
    }
}

/// The methods the box serves, for Allow headers.
pub const ALLOWED_METHODS: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO";

/// Why a datagram was not accepted as a SIP message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MessageError {
    #[error("empty datagram")]
    Empty,
    #[error("datagram of {size} bytes exceeds the {limit}-byte limit")]
    Oversized { size: usize, limit: usize },
    #[error("header section is not valid UTF-8 text")]
    NotText,
    #[error("no blank line ends the header section")]
    Unterminated,
    #[error("malformed start line: {0}")]
    StartLine(String),
    #[error("unparseable message: {0}")]
    Syntax(String),
    /// The message is a request the box can answer, but it is not acceptable; the response
    /// carries `reason` as its phrase.
    #[error("bad request: {reason}")]
    BadRequest { reason: String },
    /// A request refused with a status other than 400 before it is fully parsed: 505 for
    /// another SIP version, 416 for a Request-URI scheme the box does not serve.
    #[error("refused with {status}: {reason}")]
    Refused { status: u16, reason: &'static str },
    /// The parser library panicked on this datagram (a bug there, caught here): the datagram
    /// is dropped and the box goes on.
    #[error("the SIP parser panicked: {0}")]
    Panicked(String),
}

/// Unit tests only: a datagram starting with these bytes makes the parser panic, standing in
/// for a bug in the parser library (none is known; see `tests/assets/sip-crashes/`).
#[cfg(test)]
pub(crate) const PANIC_IN_PARSER: &[u8] = b"CALLBOX-TEST-PANIC-IN-PARSER";

/// A request that passed validation: every header a UAS needs is present and parsed.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The Request-URI as written.
    pub uri: String,
    /// User part of the Request-URI (the dialled number on most ATAs).
    pub uri_user: Option<String>,
    /// Raw Via header values, top first.
    pub vias: Vec<String>,
    /// The top Via, parsed.
    pub top_via: typed::Via,
    /// Branch of the top Via (empty for pre-RFC 3261 peers).
    pub branch: String,
    pub from: String,
    pub from_tag: Option<String>,
    pub to: String,
    pub to_tag: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: String,
    /// Raw Contact header values.
    pub contacts: Vec<String>,
    pub record_routes: Vec<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Every header as (name, value), in order, for lookups of the rarer ones.
    headers: Vec<(String, String)>,
}

impl Request {
    /// First value of a header, by name (case-insensitive; compact forms are the caller's job).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the branch is RFC 3261 style, i.e. unique per transaction.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch.starts_with(MAGIC_COOKIE)
    }

    /// The `sent-by` of the top Via.
    pub fn via_sent_by(&self) -> (String, Option<u16>) {
        let hwp = self.top_via.sent_by();
        (hwp.host.to_string(), hwp.port.as_ref().map(|p| p.value()))
    }
}

/// A response that passed validation (to match against the box's client transactions).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub branch: String,
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: String,
    pub to_tag: Option<String>,
    /// The To header as written (the dialog's remote party, with its tag).
    pub to: String,
    /// Raw Contact values (the remote target of a dialog the response sets up).
    pub contacts: Vec<String>,
    /// Raw Record-Route values, top first.
    pub record_routes: Vec<String>,
    pub content_type: Option<String>,
    /// The body (SDP of a 183 or a 200 to an INVITE).
    pub body: Vec<u8>,
    /// Every header as (name, value), for challenges and the rarer ones.
    headers: Vec<(String, String)>,
}

impl Response {
    /// All values of a header, by name (case-insensitive).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a datagram turned out to be.
#[derive(Debug, Clone)]
pub enum Inbound {
    Request(Box<Request>),
    Response(Box<Response>),
    /// CRLF keep-alive (RFC 5626): ignored.
    KeepAlive,
}

/// Parses and validates one UDP datagram.
///
/// `Err(BadRequest)` comes with enough of the request (see [`bad_request_context`]) to write a
/// 400; every other error means the datagram is dropped. A panic inside the parser library
/// is caught and becomes `Err(Panicked)`: one bad datagram cannot take the box down.
pub fn parse(data: &[u8], max_bytes: usize) -> Result<Inbound, MessageError> {
    guarded(|| parse_unguarded(data, max_bytes))
}

/// Runs `f`, turning a panic into [`MessageError::Panicked`] with the panic's message.
fn guarded<T>(
    f: impl FnOnce() -> Result<T, MessageError> + std::panic::UnwindSafe,
) -> Result<T, MessageError> {
    std::panic::catch_unwind(f).unwrap_or_else(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        Err(MessageError::Panicked(truncate(&text, 200)))
    })
}

fn parse_unguarded(data: &[u8], max_bytes: usize) -> Result<Inbound, MessageError> {
    #[cfg(test)]
    if data.starts_with(PANIC_IN_PARSER) {
        panic!("a stand-in for a parser bug");
    }
    if data.is_empty() {
        return Err(MessageError::Empty);
    }
    if data.len() > max_bytes {
        return Err(MessageError::Oversized {
            size: data.len(),
            limit: max_bytes,
        });
    }
    if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
        return Ok(Inbound::KeepAlive);
    }
    let header_end = find_header_end(data).ok_or(MessageError::Unterminated)?;
    let header_text =
        std::str::from_utf8(&data[..header_end]).map_err(|_| MessageError::NotText)?;
    let actual_body = &data[header_end + 4..];
    let start_line = header_text.lines().next().unwrap_or_default();

    if start_line.starts_with("SIP/") {
        return parse_response(data);
    }

    // The stack refuses methods it does not know; the box must answer those with 501, so the
    // start line is checked here and an unknown method parsed under a stand-in name.
    let (method_token, uri_token) = check_start_line(start_line)?;
    let method = Method::from_token(method_token);
    check_request_uri(uri_token)?;
    let parsed = if matches!(method, Method::Unknown(_)) {
        let mut substitute = Vec::with_capacity(data.len() + 8);
        substitute.extend_from_slice(b"OPTIONS");
        substitute.extend_from_slice(&data[method_token.len()..]);
        rsip::parser::parse_message(&substitute)
    } else {
        rsip::parser::parse_message(data)
    }
    .map_err(|e| MessageError::Syntax(truncate(&e.to_string(), 120)))?;

    let rsip::SipMessage::Request(req) = parsed else {
        return Err(MessageError::Syntax(
            "start line is neither request nor response".into(),
        ));
    };
    validate_request(method, req, actual_body).map(|r| Inbound::Request(Box::new(r)))
}

fn validate_request(
    method: Method,
    req: rsip::Request,
    actual_body: &[u8],
) -> Result<Request, MessageError> {
    let bad = |reason: &str| MessageError::BadRequest {
        reason: reason.to_string(),
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|h| (canonical_name(h.name()).to_string(), h.value().to_string()))
        .collect();
    let first = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let all = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| split_header_list(v))
            .collect()
    };

    let vias = all("Via");
    let top_via_text = vias.first().ok_or_else(|| bad("Missing Via header"))?;
    let top_via = typed::Via::parse(top_via_text).map_err(|_| bad("Malformed Via header"))?;
    let branch = top_via.branch().map(|b| b.to_string()).unwrap_or_default();

    let from = first("From").ok_or_else(|| bad("Missing From header"))?;
    let from_typed = typed::From::parse(&from).map_err(|_| bad("Malformed From header"))?;
    let to = first("To").ok_or_else(|| bad("Missing To header"))?;
    let to_typed = typed::To::parse(&to).map_err(|_| bad("Malformed To header"))?;
    let call_id = first("Call-ID")
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| bad("Missing Call-ID header"))?;
    let cseq_text = first("CSeq").ok_or_else(|| bad("Missing CSeq header"))?;
    let (cseq, cseq_method) = parse_cseq(&cseq_text).ok_or_else(|| bad("Malformed CSeq header"))?;
    // RFC 4475 §3.1.2.18: an unknown method with a mismatched CSeq is answered 501.
    if cseq_method != method.as_str() && !matches!(method, Method::Unknown(_)) {
        return Err(bad("CSeq method does not match the request line"));
    }
    check_single_valued(&headers).map_err(|name| MessageError::BadRequest {
        reason: format!("Multiple {name} values"),
    })?;
    for name in ["From", "To"] {
        if let Some(value) = first(name) {
            check_name_addr(&value).map_err(|why| MessageError::BadRequest {
                reason: format!("Malformed {name} header: {why}"),
            })?;
        }
    }
    for contact in all("Contact").iter().filter(|c| c.trim() != "*") {
        check_name_addr(contact).map_err(|why| MessageError::BadRequest {
            reason: format!("Malformed Contact header: {why}"),
        })?;
    }
    for via in &vias {
        check_via(via).map_err(|why| MessageError::BadRequest {
            reason: format!("Malformed Via header: {why}"),
        })?;
    }

    // RFC 3261 18.3: over UDP a Content-Length larger than the body means a truncated
    // message; a missing one means the body runs to the end of the datagram.
    let body = match first("Content-Length") {
        Some(text) => {
            let declared: usize = text
                .trim()
                .parse()
                .map_err(|_| bad("Malformed Content-Length header"))?;
            if declared > actual_body.len() {
                return Err(bad("Content-Length exceeds the message body"));
            }
            actual_body[..declared].to_vec()
        }
        None => actual_body.to_vec(),
    };

    let uri = req.uri().to_string();
    let uri_user = req.uri().user().map(str::to_string);
    Ok(Request {
        method,
        uri,
        uri_user,
        top_via,
        branch,
        from_tag: from_typed
            .tag()
            .map(|t| t.to_string())
            .or_else(|| header_param(&from, "tag")),
        to_tag: to_typed
            .tag()
            .map(|t| t.to_string())
            .or_else(|| header_param(&to, "tag")),
        from,
        to,
        call_id: call_id.trim().to_string(),
        cseq,
        cseq_method,
        contacts: all("Contact"),
        record_routes: all("Record-Route"),
        content_type: first("Content-Type"),
        body,
        vias,
        headers,
    })
}

fn parse_response(data: &[u8]) -> Result<Inbound, MessageError> {
    let parsed = rsip::parser::parse_message(data)
        .map_err(|e| MessageError::Syntax(truncate(&e.to_string(), 120)))?;
    let rsip::SipMessage::Response(resp) = parsed else {
        return Err(MessageError::Syntax("malformed status line".into()));
    };
    let via = resp
        .top_via_header()
        .map_err(|_| MessageError::Syntax("response without Via".into()))?;
    let branch = typed::Via::parse(via.value())
        .ok()
        .and_then(|v| v.branch().map(|b| b.to_string()))
        .unwrap_or_default();
    let call_id = resp
        .call_id_header()
        .map_err(|_| MessageError::Syntax("response without Call-ID".into()))?
        .value()
        .trim()
        .to_string();
    let cseq_text = resp
        .cseq_header()
        .map_err(|_| MessageError::Syntax("response without CSeq".into()))?
        .value()
        .to_string();
    let (cseq, cseq_method) =
        parse_cseq(&cseq_text).ok_or_else(|| MessageError::Syntax("malformed CSeq".into()))?;
    let to_tag = resp
        .to_header()
        .ok()
        .and_then(|t| typed::To::parse(t.value()).ok())
        .and_then(|t| t.tag().map(|t| t.to_string()));
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|h| (canonical_name(h.name()).to_string(), h.value().to_string()))
        .collect();
    let all = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| split_header_list(v))
            .collect()
    };
    let first = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let to = first("To").unwrap_or_default();
    let contacts = all("Contact");
    let record_routes = all("Record-Route");
    let content_type = first("Content-Type");
    // Over UDP the body runs to Content-Length (or the datagram's end without one).
    let body_start = find_header_end(data).map_or(data.len(), |end| end + 4);
    let actual_body = &data[body_start.min(data.len())..];
    let body = match first("Content-Length").and_then(|v| v.trim().parse::<usize>().ok()) {
        Some(declared) if declared <= actual_body.len() => actual_body[..declared].to_vec(),
        Some(_) => {
            return Err(MessageError::Syntax(
                "Content-Length exceeds the body".into(),
            ))
        }
        None => actual_body.to_vec(),
    };
    Ok(Inbound::Response(Box::new(Response {
        status: u16::from(resp.status_code().clone()),
        branch,
        call_id,
        cseq,
        cseq_method,
        to_tag,
        to,
        contacts,
        record_routes,
        content_type,
        body,
        headers,
    })))
}

/// The headers needed to answer a request that failed validation with a 400, if the datagram
/// has them (a Via at least: without it there is nowhere to send a response).
pub fn bad_request_context(data: &[u8]) -> Option<ErrorContext> {
    let header_end = find_header_end(data).unwrap_or(data.len());
    let text = std::str::from_utf8(&data[..header_end]).ok()?;
    let mut lines = text.split("\r\n");
    let start = lines.next()?;
    if start.starts_with("SIP/") {
        return None; // never answer a response
    }
    let method = start.split_whitespace().next()?.to_string();
    if method == "ACK" {
        return None; // ACK is never answered
    }
    let mut ctx = ErrorContext {
        vias: Vec::new(),
        from: None,
        to: None,
        call_id: None,
        cseq: None,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match canonical_name(name.trim()) {
            "Via" => ctx.vias.extend(split_header_list(&value)),
            "From" => ctx.from = ctx.from.take().or(Some(value)),
            "To" => ctx.to = ctx.to.take().or(Some(value)),
            "Call-ID" => ctx.call_id = ctx.call_id.take().or(Some(value)),
            "CSeq" => ctx.cseq = ctx.cseq.take().or(Some(value)),
            _ => {}
        }
    }
    let top = ctx.vias.first()?;
    typed::Via::parse(top).ok()?;
    Some(ctx)
}

/// Headers of a request that could not be fully validated, enough for an error response.
#[derive(Debug, Clone)]
pub struct ErrorContext {
    pub vias: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub call_id: Option<String>,
    pub cseq: Option<String>,
}

/// Where a response to a request goes (RFC 3261 18.2.2 with RFC 3581 rport), and the top Via
/// rewritten with `received`/`rport` as the response must carry it.
pub fn response_route(top_via: &typed::Via, source: SocketAddr) -> (SocketAddr, String) {
    let mut via = top_via.clone();
    let sent_by = via.sent_by().clone();
    let sent_by_ip: Option<IpAddr> = sent_by.host.to_string().parse().ok();
    if sent_by_ip != Some(source.ip()) {
        via = via.with_received(rsip::param::Received::new(source.ip().to_string()));
    }
    let destination = if via.rport().is_some() {
        via = via.with_rport(Some(source.port()));
        if sent_by_ip == Some(source.ip()) {
            // RFC 3581 requires received whenever rport is filled in.
            via = via.with_received(rsip::param::Received::new(source.ip().to_string()));
        }
        source
    } else {
        let port = sent_by.port.as_ref().map(|p| p.value()).unwrap_or(5060);
        SocketAddr::new(source.ip(), port)
    };
    (destination, via.to_string())
}

/// Writes a response. `vias` are the request's Via values with the top one already rewritten
/// by [`response_route`]; `extra` headers go after the mandatory ones.
#[allow(clippy::too_many_arguments)]
pub fn write_response(
    status: u16,
    reason: &str,
    vias: &[String],
    from: &str,
    to: &str,
    call_id: &str,
    cseq: &str,
    extra: &[(&str, String)],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut head = String::with_capacity(512);
    let _ = write!(head, "SIP/2.0 {status} {reason}\r\n");
    for via in vias {
        let _ = write!(head, "Via: {via}\r\n");
    }
    let _ = write!(
        head,
        "From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n"
    );
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let mut out = head.into_bytes();
    match body {
        Some((content_type, bytes)) => {
            let tail = format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                bytes.len()
            );
            out.extend_from_slice(tail.as_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
    }
    out
}

/// Adds a tag to a To header value unless it has one.
pub fn with_to_tag(to: &str, tag: &str) -> String {
    match typed::To::parse(to) {
        Ok(parsed) if parsed.tag().is_some() => to.to_string(),
        _ => format!("{to};tag={tag}"),
    }
}

/// A random token for tags, branches and nonces.
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `sip:user@host:port` parts of a Contact or Record-Route value, for sending requests to it.
pub fn uri_of(name_addr: &str) -> Option<String> {
    let trimmed = name_addr.trim();
    let inner = match (trimmed.find('<'), trimmed.find('>')) {
        (Some(open), Some(close)) if close > open => &trimmed[open + 1..close],
        _ => trimmed.split(';').next().unwrap_or(trimmed),
    };
    let inner = inner.trim();
    (!inner.is_empty()).then(|| inner.to_string())
}

/// The socket address a SIP URI points at, when its host is an IP literal (the box never
/// resolves names: the ATA is on the LAN and gives its address).
pub fn uri_socket_addr(uri: &str) -> Option<SocketAddr> {
    let parsed = rsip::parse_uri(uri).ok()?;
    let ip: IpAddr = parsed
        .host()
        .to_string()
        .trim_matches(['[', ']'])
        .parse()
        .ok()?;
    let port = parsed
        .host_with_port
        .port
        .as_ref()
        .map(|p| p.value())
        .unwrap_or(5060);
    Some(SocketAddr::new(ip, port))
}

/// The request line, read strictly (RFC 3261 §25.1: `Method SP Request-URI SP SIP-Version`,
/// one SP each, nothing trailing): RFC 4475 §3.1.2.9 and §3.1.2.10 allow refusing extra SP,
/// and the box does. Another SIP version is 505 (§3.1.2.16).
fn check_start_line(line: &str) -> Result<(&str, &str), MessageError> {
    let malformed = || MessageError::StartLine(truncate(line, 80));
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if method.is_empty() || !method.bytes().all(is_token_char) || uri.is_empty() {
        return Err(malformed());
    }
    if version != "SIP/2.0" {
        let looks_like_version = version
            .strip_prefix("SIP/")
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit())
            });
        return Err(if looks_like_version {
            MessageError::Refused {
                status: 505,
                reason: "Version Not Supported",
            }
        } else {
            malformed()
        });
    }
    Ok((method, uri))
}

/// The Request-URI: an addr-spec (no `<>`, RFC 4475 §3.1.2.7), of a scheme the box serves
/// (`sip`/`sips`, else 416, §3.3.2), with no escaped headers (§3.1.2.11: refused with 400).
fn check_request_uri(uri: &str) -> Result<(), MessageError> {
    let bad = |reason: &str| MessageError::BadRequest {
        reason: reason.to_string(),
    };
    if uri.contains(['<', '>', '"']) {
        return Err(bad("Malformed Request-URI"));
    }
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or("");
    if scheme.is_empty() {
        return Err(bad("Malformed Request-URI"));
    }
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return Err(MessageError::Refused {
            status: 416,
            reason: "Unsupported URI Scheme",
        });
    }
    if uri_has_headers(uri) {
        return Err(bad("Request-URI carries headers"));
    }
    Ok(())
}

/// Header fields that take one value (RFC 3261 §7.3.1; RFC 4475 §3.3.8, §3.3.9): a second
/// instance, or a comma list in one, makes the request a 400.
fn check_single_valued(headers: &[(String, String)]) -> Result<(), &'static str> {
    const SINGLE: &[&str] = &[
        "Call-ID",
        "CSeq",
        "From",
        "To",
        "Max-Forwards",
        "Content-Length",
        "Content-Type",
    ];
    for name in SINGLE {
        let count = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count();
        if count > 1 {
            return Err(name);
        }
    }
    Ok(())
}

/// A From, To or Contact value: `[display-name] <URI> *(;param)` or `addr-spec *(;param)`
/// (RFC 3261 §20.10, §25.1). Refuses an unterminated quote (RFC 4475 §3.1.2.6), non-token
/// characters in an unquoted display name (§3.1.2.15), LWS inside `<>` (§3.1.2.14), an
/// addr-spec with headers or with `,`/`?` that needs `<>` (§3.1.2.13), and empty parameters
/// (§3.1.2.1).
fn check_name_addr(value: &str) -> Result<(), &'static str> {
    let value = value.trim_matches(is_lws);
    let (params, uri) = match value.find(['<', '"']) {
        Some(_) => {
            let (display, rest) = split_display_name(value)?;
            check_display_name(display)?;
            let rest = rest
                .strip_prefix('<')
                .ok_or("no URI after the display name")?;
            let (uri, params) = rest.split_once('>').ok_or("unterminated <")?;
            (params, uri)
        }
        None => {
            let (uri, params) = value.split_once(';').unwrap_or((value, ""));
            if uri_has_headers(uri) || uri.contains(',') {
                return Err("a URI with headers must be in <>");
            }
            let params = if params.is_empty() {
                ""
            } else {
                &value[uri.len()..]
            };
            (params, uri.trim_matches(is_lws))
        }
    };
    if uri.is_empty() || uri.contains(is_lws) || !uri.contains(':') {
        return Err("malformed URI");
    }
    check_params(params)
}

/// Splits `"quoted" <uri>` / `tokens <uri>` at the `<`, honouring quotes and escapes.
fn split_display_name(value: &str) -> Result<(&str, &str), &'static str> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => return Ok((value[..i].trim_matches(is_lws), &value[i..])),
            _ => {}
        }
    }
    Err(if quoted {
        "unterminated quoted string"
    } else {
        "no <URI>"
    })
}

fn check_display_name(display: &str) -> Result<(), &'static str> {
    if display.is_empty() || display.starts_with('"') {
        return Ok(()); // quoting was checked while splitting
    }
    if display
        .split(is_lws)
        .all(|word| word.bytes().all(is_token_char))
    {
        Ok(())
    } else {
        Err("display name is neither a quoted string nor tokens")
    }
}

/// `*( SEMI generic-param )` after a name-addr or addr-spec: no empty parameter, names are
/// tokens.
fn check_params(params: &str) -> Result<(), &'static str> {
    let params = params.trim_matches(is_lws);
    if params.is_empty() {
        return Ok(());
    }
    let rest = params.strip_prefix(';').ok_or("text after the URI")?;
    for param in rest.split(';') {
        let name = param.split('=').next().unwrap_or("").trim_matches(is_lws);
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err("empty or malformed parameter");
        }
    }
    Ok(())
}

/// One Via value: `SIP / 2.0 / transport sent-by *(;param)` with no empty parameter
/// (RFC 4475 §3.1.2.1).
fn check_via(value: &str) -> Result<(), &'static str> {
    let value = value.trim_matches(is_lws);
    if !value.starts_with("SIP") {
        return Err("not a SIP Via");
    }
    match value.split_once(';') {
        Some((_, params)) => check_params(&format!(";{params}")),
        None => Ok(()),
    }
}

/// A header parameter's value (`;name = value`, LWS allowed around `=`, RFC 3261 §25.1),
/// for the tags the stack's parser misses when LWS surrounds them (RFC 4475 §3.1.1.1).
fn header_param(value: &str, name: &str) -> Option<String> {
    let after_uri = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.split_once(';').map(|(_, p)| p).unwrap_or(""),
    };
    after_uri.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim_matches(is_lws)
            .eq_ignore_ascii_case(name)
            .then(|| v.trim_matches(is_lws).to_string())
            .filter(|v| !v.is_empty())
    })
}

/// Whether a SIP URI has a `?headers` part: a `?` after the host (the user part may hold
/// one, RFC 4475 §3.1.1.2).
pub fn uri_has_headers(uri: &str) -> bool {
    let host_part = uri.rsplit_once('@').map(|(_, h)| h).unwrap_or(uri);
    host_part.contains('?')
}

fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn parse_cseq(text: &str) -> Option<(u32, String)> {
    let mut parts = text.split_whitespace();
    let seq: u32 = parts.next()?.parse().ok()?;
    let method = parts.next()?.to_string();
    if parts.next().is_some() || !method.bytes().all(is_token_char) {
        return None;
    }
    Some((seq, method))
}

fn find_header_end(data: &[u8]) -> Option<usize> {
    data.windows(4).position(|w| w == b"\r\n\r\n")
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Splits a comma-separated header list, leaving commas inside quotes and angle brackets.
pub fn split_header_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                let piece = current.trim();
                if !piece.is_empty() {
                    out.push(piece.to_string());
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    let piece = current.trim();
    if !piece.is_empty() {
        out.push(piece.to_string());
    }
    out
}

/// Maps compact and odd-cased header names to one spelling.
fn canonical_name(name: &str) -> &str {
    const NAMES: &[(&str, &str)] = &[
        ("v", "Via"),
        ("f", "From"),
        ("t", "To"),
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("k", "Supported"),
        ("via", "Via"),
        ("from", "From"),
        ("to", "To"),
        ("call-id", "Call-ID"),
        ("cseq", "CSeq"),
        ("contact", "Contact"),
        ("content-length", "Content-Length"),
        ("content-type", "Content-Type"),
        ("record-route", "Record-Route"),
        ("expires", "Expires"),
        ("authorization", "Authorization"),
        ("p-asserted-identity", "P-Asserted-Identity"),
        ("remote-party-id", "Remote-Party-ID"),
    ];
    NAMES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map(|(_, canonical)| *canonical)
        .unwrap_or(name)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:5551234@192.168.1.10 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-abc;rport\r\n\
From: \"JOHN SMITH\" <sip:3125550142@192.168.1.20>;tag=ht813\r\n\
To: <sip:5551234@192.168.1.10>\r\n\
Call-ID: 1-abc@192.168.1.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:3125550142@192.168.1.20:5062>\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn a_panic_in_the_parser_is_caught_and_named() {
        let mut datagram = PANIC_IN_PARSER.to_vec();
        datagram.extend_from_slice(INVITE.as_bytes());
        match parse(&datagram, 8192) {
            Err(MessageError::Panicked(why)) => assert!(why.contains("stand-in"), "{why}"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        // The next datagram parses as ever.
        assert!(parse_request(INVITE).is_ok());
    }

    fn parse_request(text: &str) -> Result<Request, MessageError> {
        match parse(text.as_bytes(), 8192)? {
            Inbound::Request(r) => Ok(*r),
            other => panic!("expected request, got {other:?}"),
        }
    }

    #[test]
    fn parses_an_ata_invite() {
        let r = parse_request(INVITE).expect("valid");
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.call_id, "1-abc@192.168.1.20");
        assert_eq!(r.cseq, 1);
        assert_eq!(r.branch, "z9hG4bK-abc");
        assert_eq!(r.from_tag.as_deref(), Some("ht813"));
        assert_eq!(r.to_tag, None);
        assert_eq!(r.uri_user.as_deref(), Some("5551234"));
        assert_eq!(r.body, b"v=0\n");
        assert_eq!(r.contacts.len(), 1);
    }

    #[test]
    fn content_length_longer_than_body_is_a_bad_request() {
        let text = INVITE.replace("Content-Length: 4", "Content-Length: 400");
        assert!(matches!(
            parse_request(&text),
            Err(MessageError::BadRequest { .. })
        ));
    }

    #[test]
    fn shorter_content_length_truncates_the_body() {
        let text = INVITE.replace("Content-Length: 4", "Content-Length: 2");
        assert_eq!(parse_request(&text).expect("valid").body, b"v=");
    }

    #[test]
    fn missing_mandatory_headers_are_named() {
        for header in ["Call-ID", "CSeq", "From", "To"] {
            let text: String = INVITE
                .split("\r\n")
                .filter(|l| !l.starts_with(&format!("{header}:")))
                .collect::<Vec<_>>()
                .join("\r\n");
            match parse_request(&text) {
                Err(MessageError::BadRequest { reason }) => {
                    assert!(reason.contains(header), "{reason}")
                }
                other => panic!("{header}: {other:?}"),
            }
        }
    }

    #[test]
    fn cseq_method_mismatch_is_rejected() {
        let text = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        assert!(matches!(
            parse_request(&text),
            Err(MessageError::BadRequest { .. })
        ));
    }

    #[test]
    fn unknown_method_parses_for_501() {
        let text = INVITE
            .replacen("INVITE sip", "FROBNICATE sip", 1)
            .replace("CSeq: 1 INVITE", "CSeq: 1 FROBNICATE");
        let r = parse_request(&text).expect("valid");
        assert_eq!(r.method, Method::Unknown("FROBNICATE".into()));
    }

    #[test]
    fn garbage_is_dropped_not_parsed() {
        assert_eq!(parse(b"", 100).err(), Some(MessageError::Empty));
        assert!(parse(&[0xff, 0xfe, 0x00, 0x13], 100).is_err());
        assert!(matches!(
            parse(&[b'A'; 200], 100),
            Err(MessageError::Oversized { .. })
        ));
        assert!(matches!(parse(b"\r\n\r\n", 100), Ok(Inbound::KeepAlive)));
        assert!(parse(b"INVITE sip:a@b\r\n\r\n", 100).is_err());
        let non_utf8 = INVITE.replace("JOHN", "J\u{0}N").into_bytes();
        let mut bad = non_utf8.clone();
        let at = bad.iter().position(|b| *b == 0).expect("marker");
        bad[at] = 0xC3;
        assert!(parse(&bad, 8192).is_err());
    }

    #[test]
    fn rport_response_goes_to_the_source() {
        let r = parse_request(INVITE).expect("valid");
        let source: SocketAddr = "10.0.0.5:40000".parse().expect("addr");
        let (dest, via) = response_route(&r.top_via, source);
        assert_eq!(dest, source);
        assert!(via.contains("rport=40000"), "{via}");
        assert!(via.contains("received=10.0.0.5"), "{via}");
    }

    #[test]
    fn without_rport_response_goes_to_sent_by_port() {
        let text = INVITE.replace(";rport", "");
        let r = parse_request(&text).expect("valid");
        let source: SocketAddr = "192.168.1.20:40000".parse().expect("addr");
        let (dest, via) = response_route(&r.top_via, source);
        assert_eq!(dest, "192.168.1.20:5062".parse().expect("addr"));
        assert!(!via.contains("received"), "{via}");
    }

    #[test]
    fn bad_request_context_needs_a_via() {
        let no_call_id = INVITE.replace("Call-ID: 1-abc@192.168.1.20\r\n", "");
        let ctx = bad_request_context(no_call_id.as_bytes()).expect("has via");
        assert!(ctx.call_id.is_none());
        let no_via = INVITE.replace(
            "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-abc;rport\r\n",
            "",
        );
        assert!(bad_request_context(no_via.as_bytes()).is_none());
    }

    #[test]
    fn header_lists_split_outside_quotes() {
        let parts = split_header_list("\"Smith, John\" <sip:a@b>, <sip:c@d;x=1,2>");
        assert_eq!(parts.len(), 2, "{parts:?}");
    }

    #[test]
    fn uri_helpers() {
        assert_eq!(
            uri_of("\"A\" <sip:1@10.0.0.1:5062;transport=udp>;expires=60").as_deref(),
            Some("sip:1@10.0.0.1:5062;transport=udp")
        );
        assert_eq!(
            uri_socket_addr("sip:1@10.0.0.1:5062;transport=udp"),
            Some("10.0.0.1:5062".parse().expect("addr"))
        );
        assert_eq!(uri_socket_addr("sip:1@ata.local"), None);
    }
}
