//! What the on-call technician reads: built from the queued alert and who is on call. Pure:
//! no I/O, no clock (the delivery time is not in the message, so every retry says the same).

use chrono_tz::Tz;
use serde_json::json;

use super::OnCallTech;
use crate::queue::{Hazard, OnCallAlert};

/// One alert, ready for any channel.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertMessage {
    /// The record id: the same on every retry and after a restart, for the receiver to dedupe.
    pub idempotency_key: String,
    /// One line, ASCII (it travels in an HTTP header for ntfy).
    pub title: String,
    /// The full text, several lines.
    pub text: String,
    /// ntfy tags: the first renders as an emoji on the phone.
    pub tags: Vec<&'static str>,
    /// The JSON channel's document.
    pub json: serde_json::Value,
}

/// The message for `alert` (record `key`), naming `on_call` when known.
pub fn compose(
    key: &str,
    alert: &OnCallAlert,
    on_call: Option<&OnCallTech>,
    shop_name: &str,
    timezone: Tz,
) -> AlertMessage {
    let caller_name = alert.caller.name.trim();
    let phone = alert.caller.best_phone();
    let who = match (caller_name, phone) {
        ("", Some(p)) => p.to_string(),
        ("", None) => "a caller (number withheld)".to_string(),
        (n, Some(p)) => format!("{n} {p}"),
        (n, None) => format!("{n} (number withheld)"),
    };
    let hazard = alert.hazard.label();
    let (kind, kind_upper) = if alert.hazard.is_safety() {
        ("SAFETY", "SAFETY ALERT")
    } else {
        ("EMERGENCY", "EMERGENCY")
    };
    let title = ascii(&format!("{kind}: {hazard} - {who}"));
    let local = alert.raised_at_utc.with_timezone(&timezone);
    let mut lines = vec![format!(
        "{kind_upper} ({hazard}) from a caller to {shop_name}.",
    )];
    lines.push(format!(
        "Caller: {}{}",
        if caller_name.is_empty() {
            "name not given"
        } else {
            caller_name
        },
        match (alert.caller.phone_e164.as_deref(), phone) {
            (_, None) => ", number withheld".to_string(),
            (Some(id), Some(best)) if id != best =>
                format!(", call back on {best} (caller ID {id})"),
            (_, Some(best)) => format!(", {best}"),
        }
    ));
    lines.push(match alert.address_line() {
        Some(a) => format!("Address: {a}"),
        None => "Address: not known - call the caller back for it".to_string(),
    });
    if !alert.caller_said.trim().is_empty() {
        lines.push(format!("Caller said: \"{}\"", alert.caller_said.trim()));
    }
    lines.push(format!(
        "Reported: {} ({})",
        local.format("%a %-d %b %H:%M %Z"),
        alert.raised_at_utc.format("%Y-%m-%dT%H:%M:%SZ")
    ));
    lines.push(if alert.hazard.is_safety() {
        "The caller was told to leave the building and call 911 / the gas utility from outside."
            .to_string()
    } else {
        "The caller was told the on-call technician is being alerted and to keep the phone free."
            .to_string()
    });
    lines.push(match on_call {
        Some(t) => format!(
            "On call: {}{}",
            if t.name.is_empty() {
                "(no name)"
            } else {
                &t.name
            },
            t.phone
                .as_deref()
                .map(|p| format!(", {p}"))
                .unwrap_or_default()
        ),
        None => {
            "On call: not known (no ServiceTitan shift cached, no fallback configured)".to_string()
        }
    });
    lines.push(format!("Ref: {key}"));
    let text = lines.join("\n");
    let json = json!({
        "type": "callbox.on_call_alert",
        "idempotency_key": key,
        "hazard": alert.hazard,
        "hazard_label": hazard,
        "caller": {
            "name": caller_name,
            "phone": alert.caller.phone_e164,
            "callback_phone": phone,
        },
        "address": alert.address,
        "address_line": alert.address_line(),
        "known_customer_id": alert.known_customer_id,
        "caller_said": alert.caller_said,
        "raised_at_utc": alert.raised_at_utc,
        "on_call": on_call.map(|t| json!({
            "name": t.name,
            "phone": t.phone,
            "source": t.source,
        })),
        "shop": shop_name,
        "call_key": alert.call_key,
        "title": title,
        "text": text,
    });
    AlertMessage {
        idempotency_key: key.to_string(),
        title,
        text,
        tags: vec![
            match alert.hazard {
                Hazard::Smoke | Hazard::Burning | Hazard::Sparking => "fire",
                Hazard::WaterLeak => "droplet",
                Hazard::NoHeat => "snowflake",
                Hazard::NoCooling => "sunny",
                _ => "rotating_light",
            },
            "warning",
        ],
        json,
    }
}

/// Said and written in a page when the caller left a voicemail (issue 15: nobody could take
/// a bridged call, and the caller left a message kept with the call's recording).
pub const VOICEMAIL_LEFT: &str = "The caller left a voicemail.";

/// `message` saying the caller left a voicemail: a line in the text and `voicemail: true`
/// in the JSON document.
pub fn with_voicemail(mut message: AlertMessage) -> AlertMessage {
    message.text = format!("{}\n{VOICEMAIL_LEFT}", message.text);
    message.json["voicemail"] = true.into();
    message.json["text"] = message.text.clone().into();
    message
}

/// [`spoken`], saying the caller left a voicemail when they did.
pub fn spoken_with(alert: &OnCallAlert, shop_name: &str, voicemail: bool) -> String {
    let said = spoken(alert, shop_name);
    if voicemail {
        format!("{said} {VOICEMAIL_LEFT}")
    } else {
        said
    }
}

/// What a page call says (spoken, then repeated, then "press 1 to accept, 2 to pass"): the
/// shop, what is wrong, who and where, the number to call back as spoken digits.
pub fn spoken(alert: &OnCallAlert, shop_name: &str) -> String {
    let mut parts = vec![format!(
        "This is the {shop_name} answering service with an {}: {}.",
        if alert.hazard.is_safety() {
            "urgent safety call"
        } else {
            "emergency call"
        },
        alert.hazard.label()
    )];
    let name = alert.caller.name.trim();
    if !name.is_empty() {
        parts.push(format!("The caller is {name}."));
    }
    match alert.caller.best_phone() {
        Some(p) => parts.push(format!(
            "Call them back on {}.",
            crate::trade::phone::default_plan().spoken(p)
        )),
        None => parts.push("The caller's number was withheld.".into()),
    }
    if let Some(a) = alert.address_line() {
        parts.push(format!("The address is {a}."));
    }
    parts.join(" ")
}

/// Header-safe: printable ASCII only (ntfy reads `Title` from a header).
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c,
            '—' | '–' => '-',
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Address, CallerInfo};

    fn alert() -> OnCallAlert {
        OnCallAlert {
            call_key: "20260114T030000Z-x".into(),
            caller: CallerInfo {
                name: "Zoë Doe".into(),
                phone_e164: Some("+13125550142".into()),
                callback_phone_e164: None,
            },
            hazard: Hazard::CarbonMonoxide,
            address: Some(Address {
                street: "123 Maple St".into(),
                unit: None,
                city: "Springfield".into(),
                state: "IL".into(),
                zip: "62704".into(),
                country: "USA".into(),
            }),
            known_customer_id: Some(42),
            caller_said: "my co alarm is going off".into(),
            raised_at_utc: "2026-01-14T03:00:00Z".parse().expect("time"),
            job_record_id: None,
        }
    }

    #[test]
    fn names_hazard_caller_address_and_technician() {
        let tech = OnCallTech {
            name: "Mike Reyes".into(),
            phone: Some("+13125550100".into()),
            source: "servicetitan",
        };
        let m = compose(
            "cb-01",
            &alert(),
            Some(&tech),
            "Acme HVAC",
            chrono_tz::America::Chicago,
        );
        assert_eq!(
            m.title,
            "SAFETY: carbon monoxide alarm - Zo? Doe +13125550142"
        );
        for want in [
            "carbon monoxide alarm",
            "Zoë Doe, +13125550142",
            "123 Maple St, Springfield IL 62704",
            "my co alarm is going off",
            "Tue 13 Jan 21:00 CST",
            "On call: Mike Reyes, +13125550100",
            "Ref: cb-01",
        ] {
            assert!(m.text.contains(want), "{want:?} not in\n{}", m.text);
        }
        assert_eq!(m.json["idempotency_key"], "cb-01");
        assert_eq!(m.json["hazard"], "carbon_monoxide");
        assert_eq!(m.json["on_call"]["source"], "servicetitan");
        assert_eq!(m.json["caller"]["callback_phone"], "+13125550142");
    }

    #[test]
    fn says_what_is_unknown() {
        let mut a = alert();
        a.address = None;
        a.caller = CallerInfo {
            name: String::new(),
            phone_e164: None,
            callback_phone_e164: None,
        };
        let m = compose("cb-02", &a, None, "Acme", chrono_tz::UTC);
        assert!(m.text.contains("number withheld"), "{}", m.text);
        assert!(m.text.contains("Address: not known"), "{}", m.text);
        assert!(m.text.contains("On call: not known"), "{}", m.text);
        assert!(m.title.is_ascii());
    }

    #[test]
    fn an_emergency_that_is_not_a_hazard_says_so() {
        let mut a = alert();
        a.hazard = Hazard::NoHeat;
        let m = compose("cb-03", &a, None, "Acme", chrono_tz::UTC);
        assert!(m.title.starts_with("EMERGENCY: no heat"), "{}", m.title);
        assert!(!m.text.contains("leave the building"), "{}", m.text);
        let said = spoken(&a, "Acme Heating");
        for want in ["Acme Heating", "no heat", "Zoë Doe", "123 Maple St"] {
            assert!(said.contains(want), "{want:?} not in {said}");
        }
        assert!(!said.contains("+1"), "digits are spoken: {said}");
    }

    #[test]
    fn a_voicemail_is_said_and_written_only_when_left() {
        let a = alert();
        let plain = compose("cb-04", &a, None, "Acme", chrono_tz::UTC);
        assert!(!plain.text.contains(VOICEMAIL_LEFT), "{}", plain.text);
        assert!(!spoken_with(&a, "Acme", false).contains("voicemail"));
        let left = with_voicemail(plain.clone());
        assert!(left.text.ends_with(VOICEMAIL_LEFT), "{}", left.text);
        assert_eq!(left.json["voicemail"], true);
        assert_eq!(left.json["text"], left.text.as_str());
        assert!(spoken_with(&a, "Acme", true).ends_with(VOICEMAIL_LEFT));
    }
}
