//! The dashboard, queue rows, on-call and "test connection" as the page shows them.

use super::{step, Console};
use crate::app::supervisor::ServiceState;
use crate::config::Config;
use crate::queue::{Payload, Record, RecordState};
use crate::trade::phone;
use crate::web::backend::{
    AlertRow, ConnectionReport, DashboardView, DiskView, OnCallPerson, OnCallView, QueueRow,
    Reachability, ServiceView,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

pub(super) fn local(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
}

/// `rel` (as records name files: relative to the data directory) when it is a file inside
/// `root`; `None` for anything that escapes it or is missing.
pub(super) fn inside_data_dir(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return None;
    }
    let root = root.canonicalize().ok()?;
    let path = root.join(rel).canonicalize().ok()?;
    (path.starts_with(&root) && path.is_file()).then_some(path)
}

pub(super) fn dashboard(console: &Console) -> DashboardView {
    let config = console.config();
    let zone = console.zone();
    let report = console.parts.status.report(console.parts.queue.as_ref());
    let ata = report.ata_last_contact.clone();
    let (servicetitan, last_sync) = servicetitan_reachability(console, zone);
    let speech = console.parts.status.speech();
    DashboardView {
        shop_name: config.shop.name.clone(),
        version: report.version.clone(),
        uptime_secs: u64::try_from(report.uptime_secs).unwrap_or(0),
        ata_last_contact: ata.as_ref().map(|a| local(a.at, zone)),
        ata_address: ata.map(|a| a.from.ip().to_string()),
        calls_in_progress: u32::try_from(report.calls_in_progress).unwrap_or(u32::MAX),
        line_capacity: u32::try_from(config.sip.max_concurrent_calls).unwrap_or(u32::MAX),
        internet: Reachability {
            detail: servicetitan
                .detail
                .as_ref()
                .map(|d| format!("judged by the ServiceTitan sync: {d}")),
            ..servicetitan.clone()
        },
        servicetitan,
        queue: queue_counts(report.queue.as_ref()),
        queue_problem: console.parts.queue.is_none().then(|| {
            "the job queue did not open (data partition full): the box answers but cannot book"
                .to_string()
        }),
        last_sync,
        alerts_pending: report
            .queue
            .map_or(0, |q| u64::try_from(q.alerts_undelivered).unwrap_or(0)),
        speech: speech
            .as_ref()
            .map_or_else(|| "starting".to_string(), |s| s.detail.clone()),
        speech_loaded: speech.is_some_and(|s| s.loaded),
        disk: disk(&report, &config),
        services: report
            .services
            .iter()
            .map(|(name, s)| service_view(name, s))
            .collect(),
        warnings: report.warnings.clone(),
    }
}

/// Records per state, by the names the page uses (`needs_attention`, not `needs-attention`).
pub(super) fn queue_counts(counts: Option<&crate::queue::QueueCounts>) -> BTreeMap<String, u64> {
    let Some(c) = counts else {
        return BTreeMap::new();
    };
    [
        ("queued", c.queued),
        ("syncing", c.syncing),
        ("synced", c.synced),
        ("needs_attention", c.needs_attention),
        ("quarantined", c.quarantined),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), u64::try_from(v).unwrap_or(u64::MAX)))
    .collect()
}

fn disk(report: &crate::app::status::StatusReport, config: &Config) -> DiskView {
    match &report.housekeeping {
        Some(h) => DiskView {
            used_mb: h.used_bytes / MIB,
            budget_mb: h.budget_bytes / MIB,
            free_mb: h.free_bytes.unwrap_or(0) / MIB,
        },
        None => DiskView {
            used_mb: 0,
            budget_mb: config.storage.recordings_budget_mb,
            free_mb: crate::infra::disk::free_bytes(&config.storage.data_dir).unwrap_or(0) / MIB,
        },
    }
}

fn service_view(name: &str, s: &crate::app::supervisor::ServiceStatus) -> ServiceView {
    let (state, last_error) = match &s.state {
        ServiceState::Running { .. } => ("running", s.last_error.clone()),
        ServiceState::Restarting { last_error, .. } => ("restarting", Some(last_error.clone())),
        ServiceState::Stopped => ("stopped", s.last_error.clone()),
    };
    ServiceView {
        name: name.to_string(),
        state: state.to_string(),
        restarts: s.restarts,
        last_error,
    }
}

fn servicetitan_reachability(console: &Console, zone: Tz) -> (Reachability, Option<String>) {
    let last_synced = console
        .parts
        .queue
        .as_ref()
        .and_then(|q| q.status().last_synced_at);
    let Some(sync) = console.parts.sync.as_ref() else {
        return (
            Reachability {
                state: "unknown".into(),
                checked: None,
                detail: Some("the ServiceTitan sync is not running in this box".into()),
            },
            last_synced.map(|t| local(t, zone)),
        );
    };
    let s = sync.status();
    let checked = s.last_sync_at.map(|t| local(t, zone));
    let reach = match s.online {
        Some(true) => Reachability {
            state: "reachable".into(),
            checked,
            detail: None,
        },
        Some(false) => Reachability {
            state: "unreachable".into(),
            checked,
            detail: s.last_error.clone(),
        },
        None => Reachability {
            state: "unknown".into(),
            checked,
            detail: None,
        },
    };
    (
        reach,
        s.last_sync_at.or(last_synced).map(|t| local(t, zone)),
    )
}

/// Who a record is about, as the office says it: name and masked number.
fn about(payload: &Payload) -> String {
    let Some(caller) = payload.caller() else {
        return String::new();
    };
    let number = caller.best_phone().map(phone::masked);
    match (caller.name.trim(), number) {
        ("", Some(n)) => n,
        ("", None) => "unknown caller".into(),
        (name, Some(n)) => format!("{name} ({n})"),
        (name, None) => name.to_string(),
    }
}

fn servicetitan_ids(record: &Record) -> Vec<(String, String)> {
    let p = &record.progress;
    let mut ids = Vec::new();
    let mut push = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            ids.push((name.to_string(), v));
        }
    };
    push("customer", p.customer_id.map(|v| v.to_string()));
    push("location", p.location_id.map(|v| v.to_string()));
    push("job", p.job_id.map(|v| v.to_string()));
    push("job number", p.job_number.clone());
    push("appointment", p.appointment_id.map(|v| v.to_string()));
    push("booking", p.booking_id.map(|v| v.to_string()));
    push("lead", p.lead_id.map(|v| v.to_string()));
    ids
}

pub(super) fn queue_row(record: &Record, zone: Tz) -> QueueRow {
    let (attention, retryable) = match &record.state {
        RecordState::NeedsAttention { reason } => (Some(reason.clone()), true),
        RecordState::Queued => (None, record.next_attempt_at.is_some()),
        _ => (None, false),
    };
    QueueRow {
        id: record.id.to_string(),
        kind: record.kind().name().to_string(),
        state: record.state.name().label().replace('-', "_"),
        created_local: local(record.created_at, zone),
        about: about(&record.payload),
        call_key: Some(record.payload.call_key().to_string()).filter(|k| !k.is_empty()),
        servicetitan_ids: servicetitan_ids(record),
        attention,
        attempts: record.attempts,
        retryable,
    }
}

fn person(name: &str, phone: Option<String>, when: Option<String>) -> OnCallPerson {
    OnCallPerson {
        name: name.to_string(),
        phone,
        when,
    }
}

pub(super) fn on_call(console: &Console) -> OnCallView {
    let config = console.config();
    let zone = console.zone();
    let now = Utc::now();
    let mut view = OnCallView::default();
    let shifts = console
        .parts
        .cache
        .as_ref()
        .map(|c| {
            (
                c.on_call_shifts_from(now),
                c.technicians(),
                c.refreshed_at(crate::servicetitan::cache::CacheName::OnCallShifts),
            )
        })
        .filter(|(shifts, _, _)| !shifts.is_empty());
    if let Some((shifts, techs, refreshed)) = shifts {
        let named = |id| {
            let tech = techs.iter().find(|t| t.id == id);
            (
                tech.map_or_else(|| format!("technician #{id}"), |t| t.name.clone()),
                tech.and_then(|t| t.phone_number.clone()),
            )
        };
        let current = shifts.iter().find(|s| s.start <= now);
        let upcoming = shifts.iter().find(|s| s.start > now);
        view.now = current.map(|s| {
            let (name, phone) = named(s.technician_id);
            person(&name, phone, Some(format!("until {}", local(s.end, zone))))
        });
        view.next = upcoming.map(|s| {
            let (name, phone) = named(s.technician_id);
            person(&name, phone, Some(format!("from {}", local(s.start, zone))))
        });
        view.source = format!(
            "ServiceTitan on-call shifts (cached {})",
            refreshed.map_or_else(|| "at an unknown time".into(), |t| local(t, zone))
        );
    } else {
        let a = &config.alerts;
        if !a.fallback_name.trim().is_empty() || !a.fallback_phone.is_empty() {
            view.now = Some(person(
                a.fallback_name.trim(),
                Some(a.fallback_phone.clone()).filter(|p| !p.is_empty()),
                None,
            ));
        }
        view.source = "config".into();
    }
    if config.alerts.webhook_url.trim().is_empty() {
        view.warnings
            .push("no alert channel configured ([alerts] webhook_url)".into());
    }
    view.alerts = alerts(console, zone);
    view
}

fn alerts(console: &Console, zone: Tz) -> Vec<AlertRow> {
    let Some(queue) = console.parts.queue.as_ref() else {
        return Vec::new();
    };
    let filter = crate::queue::ListFilter {
        state: None,
        kind: Some(crate::queue::RecordKind::OnCallAlert),
        limit: None,
    };
    let mut records = queue.list(&filter).unwrap_or_default();
    records.reverse();
    records.truncate(50);
    records.iter().map(|r| alert_row(r, zone, queue)).collect()
}

/// One alert as the On-call view lists it (with `queue`, the caller's voicemail if any).
pub(super) fn alert_row(r: &Record, zone: Tz, queue: &crate::queue::Outbox) -> AlertRow {
    let summary = match &r.payload {
        Payload::OnCallAlert(a) => format!("{:?}: {}", a.hazard, about(&r.payload)),
        other => other.headline(),
    };
    let d = &r.alert;
    let page = d.page.as_ref();
    let ack = page.and_then(|p| p.acknowledged.as_ref());
    let paged = page.map(|p| {
        let calls = p.attempts.len();
        match (p.ended.as_deref(), ack) {
            (_, Some(_)) => format!("; {calls} page call(s)"),
            (Some(_), None) => {
                format!("; NOBODY ACKNOWLEDGED after {calls} page call(s)")
            }
            (None, None) => {
                let who = p.contacts.get(p.step).map_or("", |c| c.name.as_str());
                format!("; paging {who} (round {}, {calls} call(s) so far)", p.round)
            }
        }
    });
    let delivery = if let Some(at) = d.delivered_at {
        format!(
            "delivered {} ({})",
            local(at, zone),
            d.delivered_to.join(", ")
        )
    } else if let Some(err) = &d.last_error {
        format!("failed: {err}")
    } else {
        "pending".to_string()
    } + paged.as_deref().unwrap_or("");
    AlertRow {
        id: r.id.to_string(),
        created_local: local(r.created_at, zone),
        summary,
        delivery,
        acknowledged_by: ack.map(|a| format!("{} ({})", a.by, a.channel)),
        acknowledged_at: ack.and_then(|a| a.at).map(|t| local(t, zone)),
        voicemail_call: match &r.payload {
            Payload::OnCallAlert(a) => queue
                .voicemail_of_call(&a.call_key)
                .ok()
                .flatten()
                .map(|v| v.call_key),
            _ => None,
        },
    }
}

/// Token, customer lookup and capacity with the saved credentials; the details never carry a
/// secret (ServiceTitan's errors name the endpoint and the status).
pub(super) async fn test_connection(config: &Config) -> ConnectionReport {
    let client = match crate::app::services::st_client(config) {
        Ok(client) => client,
        Err(e) => {
            return ConnectionReport {
                steps: vec![step("token", Err(format!("not configured: {e}")))],
            }
        }
    };
    let mut steps = vec![step(
        "token",
        client
            .check_token()
            .await
            .map(|()| "a token was issued".to_string())
            .map_err(|e| e.to_string()),
    )];
    if !steps[0].ok {
        return ConnectionReport { steps };
    }
    let probe = match config.alerts.fallback_phone.trim() {
        "" => "+13125550100",
        p => p,
    };
    steps.push(step(
        "customer lookup",
        client
            .find_customers_by_phone(probe)
            .await
            .map(|found| format!("{} customer(s) for {}", found.len(), phone::masked(probe)))
            .map_err(|e| e.to_string()),
    ));
    let now = Utc::now();
    let req = crate::servicetitan::types::CapacityRequest {
        starts_on_or_after: now,
        ends_on_or_before: now + chrono::Duration::days(3),
        business_unit_ids: config
            .servicetitan
            .default_business_unit_id
            .map(|b| vec![b]),
        job_type_id: config.servicetitan.default_job_type_id,
        skill_based_availability: false,
    };
    steps.push(step(
        "capacity",
        client
            .capacity(&req)
            .await
            .map(|c| {
                format!(
                    "{} availability slot(s) in the next 3 days",
                    c.availabilities.len()
                )
            })
            .map_err(|e| e.to_string()),
    ));
    ConnectionReport { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_outside_the_data_directory_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("recordings")).expect("mkdir");
        std::fs::write(dir.path().join("recordings/a.wav"), b"RIFF").expect("write");
        assert!(inside_data_dir(dir.path(), "recordings/a.wav").is_some());
        assert!(inside_data_dir(dir.path(), "recordings/missing.wav").is_none());
        assert!(inside_data_dir(dir.path(), "../etc/passwd").is_none());
        assert!(inside_data_dir(dir.path(), "/etc/passwd").is_none());
        assert!(inside_data_dir(dir.path(), "recordings/../../x").is_none());
    }
}
