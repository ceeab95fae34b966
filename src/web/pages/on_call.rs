//! On call: who is on call now and next, where that comes from, and the recent alerts with
//! their delivery and acknowledgement; an alert nobody took yet has a button for an office
//! person taking it by hand (their name from the "Taken by" field), which ends its paging.

use super::super::backend::{AlertRow, OnCallPerson, OnCallView};
use super::super::html::escape;
use super::{or_dash, session_page, tone, url_part};

pub fn render(view: &OnCallView, csrf: &str) -> String {
    let warnings: String = view
        .warnings
        .iter()
        .map(|w| format!("<li>{}</li>", escape(w)))
        .collect();
    let warnings = if warnings.is_empty() {
        String::new()
    } else {
        format!("<ul class=\"warnings card\" id=\"on-call-warnings\">{warnings}</ul>\n")
    };
    let alerts: String = view.alerts.iter().map(alert_row).collect();
    let taker = if view.alerts.iter().any(|a| a.acknowledged_by.is_none()) {
        "<p class=\"detail\"><label for=\"ack-by\">Taken by</label> \
         <input id=\"ack-by\" name=\"by\" maxlength=\"60\" autocomplete=\"name\"> \
         (your name, for an alert you take by hand: paging stops)</p>\n"
    } else {
        ""
    };
    let empty = if view.alerts.is_empty() {
        "<tr><td colspan=\"4\" class=\"empty\">No alerts.</td></tr>\n"
    } else {
        ""
    };
    let body = format!(
        "{warnings}<div class=\"grid\">\n{now}{next}</div>\n<p class=\"detail\" id=\"on-call-source\">From {source}</p>\n\
         <section class=\"card\"><h2>Recent alerts</h2>{taker}<div class=\"scroll\"><table id=\"alerts\">\n\
         <thead><tr><th scope=\"col\">Created</th><th scope=\"col\">About</th><th scope=\"col\">Delivery</th>\
         <th scope=\"col\">Acknowledged</th></tr></thead>\n<tbody>\n{alerts}{empty}</tbody></table></div></section>",
        taker = taker,
        now = person_card("on-call-now", "On call now", view.now.as_ref()),
        next = person_card("on-call-next", "Next", view.next.as_ref()),
        source = escape(&view.source),
    );
    session_page("On call", "/on-call", csrf, &body)
}

fn person_card(id: &str, title: &str, person: Option<&OnCallPerson>) -> String {
    let inner = match person {
        None => "<p class=\"name\">Nobody</p>".to_string(),
        Some(p) => format!(
            "<p class=\"name\">{}</p><p class=\"phone\">{}</p><p class=\"when\">{}</p>",
            escape(&p.name),
            or_dash(p.phone.as_deref()),
            or_dash(p.when.as_deref())
        ),
    };
    format!("<section class=\"card\" id=\"{id}\"><h2>{title}</h2>{inner}</section>\n")
}

fn alert_row(alert: &AlertRow) -> String {
    let acknowledged = match (&alert.acknowledged_by, &alert.acknowledged_at) {
        (None, None) => format!(
            "no <button type=\"button\" class=\"acknowledge\" data-alert-id=\"{}\">Take it</button>",
            escape(&alert.id)
        ),
        (by, at) => format!("{} {}", or_dash(by.as_deref()), or_dash(at.as_deref())),
    };
    let voicemail = alert
        .voicemail_call
        .as_deref()
        .map_or(String::new(), |key| {
            format!(
            " <a class=\"voicemail\" href=\"/calls/{}#recording\">The caller left a voicemail</a>",
            url_part(key)
        )
        });
    format!(
        "<tr data-alert-id=\"{id}\"><td>{created}</td><td>{summary}{voicemail}</td>\
         <td><span class=\"badge {t}\">{delivery}</span></td><td class=\"acknowledged\">{acknowledged}</td></tr>\n",
        id = escape(&alert.id),
        created = escape(&alert.created_local),
        summary = escape(&alert.summary),
        t = tone(&alert.delivery),
        delivery = escape(&alert.delivery),
    )
}
