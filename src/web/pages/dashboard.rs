//! The dashboard: the line, the connections, the box, the calls-per-day chart, the queue by
//! state, the services and the configuration's warnings.

use std::fmt::Write;

use super::super::backend::{DashboardView, DayCalls, Reachability, ServiceView};
use super::super::html::escape;
use super::chart::calls_chart;
use super::{duration, or_dash, session_page, tone};

pub fn render(view: &DashboardView, days: &[DayCalls], csrf: &str) -> String {
    let body = format!(
        "<p class=\"lead\">{shop}</p>\n<div class=\"grid\">\n{line}{connections}{machine}</div>\n\
         <section class=\"card\"><h2>Calls per day</h2>\n<div class=\"scroll\">{chart}</div></section>\n{queue}{services}{warnings}",
        shop = escape(&view.shop_name),
        line = line_card(view),
        connections = connections_card(view),
        machine = machine_card(view),
        chart = calls_chart(days),
        queue = queue_card(view),
        services = services_card(&view.services),
        warnings = warnings_card(&view.warnings),
    );
    session_page("Dashboard", "/", csrf, &body)
}

/// One `<dt>`/`<dd>` pair; `value` is escaped HTML.
fn fact(id: &str, name: &str, value: &str) -> String {
    format!("<dt>{name}</dt><dd id=\"{id}\">{value}</dd>\n")
}

fn badge(state: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        tone(state),
        escape(state)
    )
}

fn line_card(view: &DashboardView) -> String {
    let calls = format!("{} of {}", view.calls_in_progress, view.line_capacity);
    format!(
        "<section class=\"card\"><h2>Line</h2><dl>\n{}{}{}</dl></section>\n",
        fact(
            "ata-last-contact",
            "ATA last contact",
            &or_dash(view.ata_last_contact.as_deref())
        ),
        fact(
            "ata-address",
            "ATA address",
            &or_dash(view.ata_address.as_deref())
        ),
        fact("calls-in-progress", "Calls in progress", &calls),
    )
}

fn reachability(r: &Reachability) -> String {
    let mut out = badge(if r.state.is_empty() {
        "unknown"
    } else {
        &r.state
    });
    if let Some(checked) = &r.checked {
        let _ = write!(out, " <span class=\"when\">{}</span>", escape(checked));
    }
    if let Some(detail) = &r.detail {
        let _ = write!(out, "<br><span class=\"detail\">{}</span>", escape(detail));
    }
    out
}

fn connections_card(view: &DashboardView) -> String {
    format!(
        "<section class=\"card\"><h2>Connections</h2><dl>\n{}{}{}{}</dl></section>\n",
        fact("internet", "Internet", &reachability(&view.internet)),
        fact(
            "servicetitan",
            "ServiceTitan",
            &reachability(&view.servicetitan)
        ),
        fact(
            "last-sync",
            "Last sync",
            &or_dash(view.last_sync.as_deref())
        ),
        fact(
            "alerts-pending",
            "Alerts pending",
            &view.alerts_pending.to_string()
        ),
    )
}

fn machine_card(view: &DashboardView) -> String {
    let speech = format!(
        "{}<br><span class=\"detail\">{}</span>",
        badge(if view.speech_loaded {
            "loaded"
        } else {
            "keypad only"
        }),
        escape(&view.speech)
    );
    let disk = format!(
        "{} MiB used of {} MiB budget; {} MiB free",
        view.disk.used_mb, view.disk.budget_mb, view.disk.free_mb
    );
    format!(
        "<section class=\"card\"><h2>Box</h2><dl>\n{}{}{}{}</dl></section>\n",
        fact("speech", "Speech", &speech),
        fact("disk", "Disk", &disk),
        fact("uptime", "Uptime", &uptime(view.uptime_secs)),
        fact("version", "Version", &escape(&view.version)),
    )
}

/// `3 d 4 h`, `4 h 12 min`, or `m:ss` under an hour.
fn uptime(secs: u64) -> String {
    let (days, hours, minutes) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (days, hours) {
        (0, 0) => duration(secs),
        (0, h) => format!("{h} h {minutes} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

fn queue_card(view: &DashboardView) -> String {
    let problem = view
        .queue_problem
        .as_deref()
        .map(|p| {
            format!(
                "<p class=\"bad-note\" id=\"queue-problem\">{}</p>\n",
                escape(p)
            )
        })
        .unwrap_or_default();
    let rows: String = view
        .queue
        .iter()
        .map(|(state, count)| {
            format!(
                "<tr data-state=\"{s}\"><th scope=\"row\"><a href=\"/queue?state={u}\">{s}</a></th>\
                 <td class=\"count\">{count}</td></tr>\n",
                s = escape(state),
                u = super::url_part(state),
            )
        })
        .collect();
    format!(
        "<section class=\"card\"><h2>Queue</h2>\n{problem}<div class=\"scroll\"><table id=\"queue-counts\">\
         <thead><tr><th scope=\"col\">State</th><th scope=\"col\" class=\"count\">Records</th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table></div></section>\n"
    )
}

fn services_card(services: &[ServiceView]) -> String {
    let items: String = services
        .iter()
        .map(|s| {
            let error = s
                .last_error
                .as_deref()
                .map(|e| format!("<br><span class=\"detail\">{}</span>", escape(e)))
                .unwrap_or_default();
            format!(
                "<li data-service=\"{n}\" data-state=\"{st}\"><span class=\"name\">{n}</span> {b} \
                 <span class=\"restarts\">{r} restarts</span>{error}</li>\n",
                n = escape(&s.name),
                st = escape(&s.state),
                b = badge(&s.state),
                r = s.restarts,
            )
        })
        .collect();
    format!("<section class=\"card\"><h2>Services</h2><ul id=\"services\" class=\"plain\">\n{items}</ul></section>\n")
}

fn warnings_card(warnings: &[String]) -> String {
    if warnings.is_empty() {
        return "<section class=\"card\"><h2>Configuration</h2><p id=\"warnings\">No warnings.</p></section>\n"
            .to_string();
    }
    let items: String = warnings
        .iter()
        .map(|w| format!("<li>{}</li>\n", escape(w)))
        .collect();
    format!(
        "<section class=\"card\"><h2>Configuration warnings</h2><ul id=\"warnings\" class=\"warnings\">\n{items}</ul></section>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_naturally() {
        assert_eq!(uptime(59), "0:59");
        assert_eq!(uptime(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(uptime(2 * 86_400 + 5 * 3600), "2 d 5 h");
    }
}
