//! The queue: each record with its state, ServiceTitan ids and why it needs a person; retry;
//! export.

use std::fmt::Write;

use crate::queue::StateName;

use super::super::backend::QueueRow;
use super::super::html::escape;
use super::calls::servicetitan_ids;
use super::{or_dash, session_page, tone, url_part};

/// The states the filter offers, as the API names them (`needs_attention`).
fn state_names() -> Vec<String> {
    StateName::ALL
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

pub fn render(rows: &[QueueRow], wanted: Option<&str>, csrf: &str) -> String {
    let table_rows: String = rows.iter().map(row).collect();
    let empty = if rows.is_empty() {
        "<tr><td colspan=\"7\" class=\"empty\">No records.</td></tr>\n"
    } else {
        ""
    };
    let body = format!(
        "{form}<div class=\"card\"><p class=\"actions\"><a id=\"export\" href=\"/api/queue/export\" download>\
         Export every record (JSON lines)</a></p>\n<div class=\"scroll\"><table id=\"queue\">\n\
         <thead><tr><th scope=\"col\">Created</th><th scope=\"col\">Kind</th><th scope=\"col\">About</th>\
         <th scope=\"col\">State</th><th scope=\"col\">ServiceTitan</th><th scope=\"col\">Needs</th>\
         <th scope=\"col\"></th></tr></thead>\n<tbody>\n{table_rows}{empty}</tbody></table></div></div>",
        form = filter_form(wanted),
    );
    session_page("Queue", "/queue", csrf, &body)
}

fn filter_form(wanted: Option<&str>) -> String {
    let mut options = String::from("<option value=\"\">all</option>");
    let mut names = state_names();
    if let Some(w) = wanted.filter(|w| !names.iter().any(|n| n == w)) {
        names.push(w.to_string());
    }
    for name in names {
        let selected = if Some(name.as_str()) == wanted {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            options,
            "<option value=\"{n}\"{selected}>{n}</option>",
            n = escape(&name)
        );
    }
    format!(
        "<form id=\"queue-filter\" class=\"card filter\" method=\"get\" action=\"/queue\">\n\
         <div><label for=\"state\">State</label><select id=\"state\" name=\"state\">{options}</select></div>\n\
         <div class=\"actions\"><button type=\"submit\">Show</button></div>\n</form>\n"
    )
}

fn row(r: &QueueRow) -> String {
    let about = match &r.call_key {
        Some(key) => format!(
            "<a href=\"/calls/{}\">{}</a>",
            url_part(key),
            escape(&r.about)
        ),
        None => escape(&r.about),
    };
    let action = if r.retryable {
        format!(
            "<button type=\"button\" class=\"retry\" data-record-id=\"{}\">Retry</button>",
            escape(&r.id)
        )
    } else {
        String::new()
    };
    format!(
        "<tr data-record-id=\"{id}\" data-state=\"{st}\"><td>{created}</td><td>{kind}</td><td>{about}</td>\
         <td class=\"state\"><span class=\"badge {t}\">{st}</span></td><td>{ids}</td>\
         <td>{attention}<br><span class=\"detail\">{attempts} attempts</span></td><td>{action}</td></tr>\n",
        id = escape(&r.id),
        st = escape(&r.state),
        t = tone(&r.state),
        created = escape(&r.created_local),
        kind = escape(&r.kind),
        ids = servicetitan_ids(&r.servicetitan_ids),
        attention = or_dash(r.attention.as_deref()),
        attempts = r.attempts,
    )
}
