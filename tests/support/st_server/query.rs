//! Query-string binding as ServiceTitan does it, including its trap: a parameter name the
//! operation does not declare is **silently ignored** and the answer is the unfiltered list with
//! 200 (servicetitan-api.md §2.1, §6.4, §7.1 — `phoneNumber=`, `email=`, plural `technicianIds`).
//!
//! Handlers read parameters through typed getters; each operation also lists every parameter its
//! OpenAPI document declares. After reading, [`QueryParams::finish`] sorts what the client sent
//! into three heaps:
//! - read by the handler: honoured;
//! - declared by the spec but not implemented by this test server: 501, so a test never passes
//!   on a filter the server quietly skipped;
//! - unknown to the spec: ignored like the real API, and recorded in the request log.
//!
//! Names bind case-insensitively, as in ASP.NET.

use super::schema::{parse_datetime, pascal, FieldErrors};
use super::ApiError;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

pub struct QueryParams {
    pairs: Vec<(String, String)>,
    read: HashSet<String>,
    errors: FieldErrors,
    spec: &'static [&'static str],
}

/// `page`, `pageSize`, `includeTotal`, already checked.
#[derive(Clone, Copy, Debug)]
pub struct Paging {
    pub page: usize,
    pub page_size: usize,
    pub include_total: bool,
}

/// `active`: "True|Any|False"; most lists default to active only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Active {
    True,
    Any,
    False,
}

impl Active {
    pub fn admits(self, active: bool) -> bool {
        match self {
            Active::True => active,
            Active::False => !active,
            Active::Any => true,
        }
    }
}

/// `externalDataApplicationGuid` (+ `externalDataKey` + `externalDataValues`).
#[derive(Clone, Debug, Default)]
pub struct ExternalDataQuery {
    pub guid: Option<String>,
    /// Key and values: both present, or neither (400 otherwise).
    pub lookup: Option<(String, Vec<String>)>,
}

/// The created/modified date filters that most lists share.
#[derive(Clone, Copy, Debug, Default)]
pub struct DateFilters {
    pub created_before: Option<DateTime<Utc>>,
    pub created_on_or_after: Option<DateTime<Utc>>,
    pub modified_before: Option<DateTime<Utc>>,
    pub modified_on_or_after: Option<DateTime<Utc>>,
}

impl DateFilters {
    pub fn admits(&self, created: DateTime<Utc>, modified: DateTime<Utc>) -> bool {
        self.created_before.is_none_or(|t| created < t)
            && self.created_on_or_after.is_none_or(|t| created >= t)
            && self.modified_before.is_none_or(|t| modified < t)
            && self.modified_on_or_after.is_none_or(|t| modified >= t)
    }
}

/// Most list operations accept at most 50 IDs, and say so with this exact message
/// (servicetitan-api.md §2.2, mirrored from a live tenant).
pub const IDS_LIMIT_MESSAGE: &str = "Simple IDs lookup should not exceed 50 ids";

impl QueryParams {
    pub fn parse(raw: Option<&str>, spec: &'static [&'static str]) -> Self {
        let pairs = raw
            .map(|q| {
                url_decode_pairs(q)
                    .into_iter()
                    .filter(|(k, _)| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        QueryParams {
            pairs,
            read: HashSet::new(),
            errors: FieldErrors::new(),
            spec,
        }
    }

    /// First value of `name` (case-insensitive); empty values count as absent.
    pub fn raw(&mut self, name: &str) -> Option<String> {
        self.read.insert(name.to_ascii_lowercase());
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
    }

    fn invalid(&mut self, name: &str, value: &str) {
        self.errors
            .entry(name.to_string())
            .or_default()
            .push(format!(
                "The value '{value}' is not valid for {}.",
                pascal(name)
            ));
    }

    pub fn error(&mut self, key: &str, message: &str) {
        self.errors
            .entry(key.to_string())
            .or_default()
            .push(message.to_string());
    }

    pub fn string(&mut self, name: &str) -> Option<String> {
        self.raw(name)
    }

    pub fn int64(&mut self, name: &str) -> Option<i64> {
        let v = self.raw(name)?;
        match v.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.invalid(name, &v);
                None
            }
        }
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        let v = self.raw(name)?;
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.invalid(name, &v);
                None
            }
        }
    }

    pub fn datetime(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let v = self.raw(name)?;
        match parse_datetime(&v) {
            Some(t) => Some(t),
            None => {
                self.invalid(name, &v);
                None
            }
        }
    }

    /// A value from a fixed set (case-insensitive); returns the canonical spelling.
    pub fn one_of(&mut self, name: &str, members: &[&'static str]) -> Option<&'static str> {
        let v = self.raw(name)?;
        match members.iter().find(|m| m.eq_ignore_ascii_case(v.trim())) {
            Some(m) => Some(*m),
            None => {
                self.invalid(name, &v);
                None
            }
        }
    }

    /// Comma-separated IDs, at most 50.
    pub fn ids(&mut self, name: &str) -> Option<Vec<i64>> {
        let v = self.raw(name)?;
        let mut out = Vec::new();
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<i64>() {
                Ok(n) => out.push(n),
                Err(_) => {
                    self.invalid(name, &v);
                    return None;
                }
            }
        }
        if out.len() > 50 {
            self.error(&pascal(name), IDS_LIMIT_MESSAGE);
            return None;
        }
        Some(out)
    }

    /// `active` with the operation's default (most: True; job cancel reasons: Any).
    pub fn active(&mut self, default: Active) -> Active {
        match self.one_of("active", &["True", "Any", "False"]) {
            Some("True") => Active::True,
            Some("False") => Active::False,
            Some(_) => Active::Any,
            None => default,
        }
    }

    /// `page` (from 1), `pageSize` (50 by default), `includeTotal`.
    ///
    /// The partner docs give pageSize 1–5000 (outside → 400, worded like ASP.NET's `[Range]`);
    /// community clients see an effective cap of 500, so larger sizes are served as
    /// `max_page_size` with `hasMore` telling the client to keep paging.
    pub fn paging(&mut self, max_page_size: usize) -> Paging {
        let page = self.int64("page").unwrap_or(1);
        if page < 1 || page > i32::MAX as i64 {
            self.error("Page", "The field Page must be between 1 and 2147483647.");
        }
        let page_size = self.int64("pageSize").unwrap_or(50);
        if !(1..=5000).contains(&page_size) {
            self.error("PageSize", "The field PageSize must be between 1 and 5000.");
        }
        let include_total = self.boolean("includeTotal").unwrap_or(false);
        Paging {
            page: page.max(1) as usize,
            page_size: (page_size.clamp(1, 5000) as usize).min(max_page_size),
            include_total,
        }
    }

    pub fn date_filters(&mut self) -> DateFilters {
        DateFilters {
            created_before: self.datetime("createdBefore"),
            created_on_or_after: self.datetime("createdOnOrAfter"),
            modified_before: self.datetime("modifiedBefore"),
            modified_on_or_after: self.datetime("modifiedOnOrAfter"),
        }
    }

    /// The spec: "Performs lookup by external data key, 'externalDataValues' must also be
    /// provided" (and the reverse), at most 50 values; items are visible only under the
    /// application GUID that created them, so a key/values lookup without the GUID is refused.
    pub fn external_data(&mut self) -> ExternalDataQuery {
        let guid = self.raw("externalDataApplicationGuid");
        if let Some(g) = &guid {
            if !super::schema::is_guid(g) {
                let g = g.clone();
                self.invalid("externalDataApplicationGuid", &g);
            }
        }
        let key = self.raw("externalDataKey");
        let values = self.raw("externalDataValues");
        let lookup = match (key, values) {
            (Some(k), Some(v)) => {
                let values: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if values.len() > 50 {
                    self.error(
                        "ExternalDataValues",
                        "External data values lookup should not exceed 50 values",
                    );
                }
                if guid.is_none() {
                    self.error(
                        "ExternalDataApplicationGuid",
                        "'externalDataApplicationGuid' must be provided for external data lookup.",
                    );
                }
                Some((k, values))
            }
            (Some(_), None) => {
                self.error(
                    "ExternalDataValues",
                    "'externalDataValues' must also be provided.",
                );
                None
            }
            (None, Some(_)) => {
                self.error(
                    "ExternalDataKey",
                    "'externalDataKey' must also be provided.",
                );
                None
            }
            (None, None) => None,
        };
        ExternalDataQuery {
            guid: guid.map(|g| g.to_ascii_lowercase()),
            lookup,
        }
    }

    /// `sort=+Field|-Field|Field` over the listed fields (case-insensitive).
    pub fn sort(&mut self, fields: &[&'static str]) -> Option<(&'static str, bool)> {
        let v = self.raw("sort")?;
        let t = v.trim();
        let (desc, name) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            // A literal '+' arrives as a space when the client forgot to percent-encode it.
            Some(b' ') => (false, t.trim_start()),
            _ => (false, t),
        };
        match fields.iter().find(|f| f.eq_ignore_ascii_case(name.trim())) {
            Some(f) => Some((*f, desc)),
            None => {
                self.error(
                    "Sort",
                    &format!(
                        "Sorting by '{name}' is not supported. Available fields are: {}.",
                        fields.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// Ends binding: 400 on bad values, 501 on a declared-but-unimplemented parameter, else
    /// the names the real API would have ignored.
    pub fn finish(self) -> Result<Vec<String>, ApiError> {
        if !self.errors.is_empty() {
            return Err(ApiError::validation(self.errors));
        }
        let mut ignored = Vec::new();
        let mut seen = HashSet::new();
        for (k, _) in &self.pairs {
            let lower = k.to_ascii_lowercase();
            if self.read.contains(&lower) || !seen.insert(lower.clone()) {
                continue;
            }
            // The app key may travel as a query parameter (spec security scheme).
            if lower == "servicetitanapplicationkey" {
                continue;
            }
            if self.spec.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                return Err(ApiError::not_implemented(&format!(
                    "The ServiceTitan test server does not implement the '{k}' parameter of this operation."
                )));
            }
            ignored.push(k.clone());
        }
        Ok(ignored)
    }
}

/// `application/x-www-form-urlencoded` pairs (query strings and the token form).
pub fn url_decode_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sorts and pages JSON items, answering ServiceTitan's envelope
/// `{page, pageSize, hasMore, totalCount, data}`; `totalCount` only with `includeTotal=true`.
pub fn page_of(
    mut items: Vec<serde_json::Value>,
    paging: Paging,
    sort: Option<(&'static str, bool)>,
) -> serde_json::Value {
    if let Some((field, desc)) = sort {
        let key = super::schema::pascal(field);
        let camel = {
            let mut c = key.chars();
            c.next()
                .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                .unwrap_or_default()
        };
        items.sort_by(|a, b| {
            let (x, y) = (&a[&camel], &b[&camel]);
            let ord = match (x.as_i64(), y.as_i64()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => x
                    .as_str()
                    .unwrap_or_default()
                    .cmp(y.as_str().unwrap_or_default()),
            };
            if desc {
                ord.reverse()
            } else {
                ord
            }
        });
    }
    let total = items.len();
    let start = (paging.page - 1).saturating_mul(paging.page_size);
    let data: Vec<serde_json::Value> = items
        .into_iter()
        .skip(start)
        .take(paging.page_size)
        .collect();
    let has_more = start.saturating_add(data.len()) < total;
    serde_json::json!({
        "page": paging.page,
        "pageSize": paging.page_size,
        "hasMore": has_more,
        "totalCount": if paging.include_total { serde_json::Value::from(total) } else { serde_json::Value::Null },
        "data": data,
    })
}
