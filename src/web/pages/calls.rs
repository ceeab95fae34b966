//! The calls list (filter by day and outcome, search, pages) and one call's detail
//! (transcript, recording, the records it made).

use std::fmt::Write;

use super::super::backend::{CallDetail, CallPage, CallSummary, PagedView, QueueRow};
use super::super::html::escape;
use super::{duration, or_dash, session_page, tone, url_part, CallsFilter, CALLS_PER_PAGE};

pub fn render_list(found: &CallPage, filter: &CallsFilter, csrf: &str) -> String {
    let rows: String = found.calls.iter().map(call_row).collect();
    let empty = if found.calls.is_empty() {
        "<tr><td colspan=\"5\" class=\"empty\">No calls match.</td></tr>\n"
    } else {
        ""
    };
    let body = format!(
        "{form}<div class=\"card\"><div class=\"scroll\"><table id=\"calls\">\n\
         <thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Caller</th><th scope=\"col\">Duration</th>\
         <th scope=\"col\">Outcome</th><th scope=\"col\">Urgency</th></tr></thead>\n\
         <tbody>\n{rows}{empty}</tbody></table></div>\n{pager}</div>",
        form = filter_form(found, filter),
        pager = pager(found.total, filter),
    );
    session_page("Calls", "/calls", csrf, &body)
}

fn filter_form(found: &CallPage, filter: &CallsFilter) -> String {
    let value = |v: &Option<String>| escape(v.as_deref().unwrap_or(""));
    let chosen = filter.outcome.as_deref().unwrap_or("");
    let mut options = String::from("<option value=\"\">any</option>");
    for outcome in &found.outcomes {
        let selected = if outcome == chosen { " selected" } else { "" };
        let _ = write!(
            options,
            "<option value=\"{o}\"{selected}>{o}</option>",
            o = escape(outcome)
        );
    }
    format!(
        "<form id=\"call-filter\" class=\"card filter\" method=\"get\" action=\"/calls\">\n\
         <div><label for=\"day\">Day</label><input id=\"day\" name=\"day\" type=\"date\" value=\"{day}\"></div>\n\
         <div><label for=\"outcome\">Outcome</label><select id=\"outcome\" name=\"outcome\">{options}</select></div>\n\
         <div><label for=\"q\">Number or name</label><input id=\"q\" name=\"q\" type=\"search\" value=\"{q}\" \
         autocomplete=\"off\"></div>\n\
         <div class=\"actions\"><button type=\"submit\">Show</button> <a href=\"/calls\">Clear</a></div>\n</form>\n",
        day = value(&filter.day),
        q = value(&filter.q),
    )
}

fn caller(summary: &CallSummary) -> String {
    match &summary.caller_name {
        Some(name) => format!(
            "<span class=\"name\">{}</span><br><span class=\"number\">{}</span>",
            escape(name),
            escape(&summary.caller_number)
        ),
        None => format!(
            "<span class=\"number\">{}</span>",
            escape(&summary.caller_number)
        ),
    }
}

fn call_row(summary: &CallSummary) -> String {
    format!(
        "<tr data-call-key=\"{k}\"><td><a href=\"/calls/{u}\">{time}</a></td><td>{caller}</td>\
         <td>{dur}</td><td><span class=\"badge {t}\">{outcome}</span></td><td>{urgency}</td></tr>\n",
        k = escape(&summary.key),
        u = url_part(&summary.key),
        time = escape(&summary.answered_local),
        caller = caller(summary),
        dur = duration(summary.duration_secs),
        t = tone(&summary.outcome),
        outcome = escape(&summary.outcome),
        urgency = escape(&summary.urgency),
    )
}

/// "Page 2 of 5" with links to the pages around, keeping the filter.
fn pager(total: usize, filter: &CallsFilter) -> String {
    let pages = total.div_ceil(CALLS_PER_PAGE).max(1);
    let page = filter.page_number().min(pages);
    let link = |to: usize, id: &str, text: &str| {
        format!(
            "<a id=\"{id}\" rel=\"{id}\" href=\"/calls?{}\">{text}</a>",
            escape(&filter_query(filter, to))
        )
    };
    let previous = if page > 1 {
        link(page - 1, "prev", "← Newer")
    } else {
        String::new()
    };
    let next = if page < pages {
        link(page + 1, "next", "Older →")
    } else {
        String::new()
    };
    format!(
        "<nav class=\"pager\" aria-label=\"Call pages\">{previous} <span>Page {page} of {pages} \
         ({total} calls)</span> {next}</nav>"
    )
}

fn filter_query(filter: &CallsFilter, page: usize) -> String {
    let mut parts = Vec::new();
    for (name, value) in [
        ("day", &filter.day),
        ("outcome", &filter.outcome),
        ("q", &filter.q),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{name}={}", url_part(v)));
        }
    }
    parts.push(format!("page={page}"));
    parts.join("&")
}

pub fn render_detail(detail: &CallDetail, csrf: &str) -> String {
    let body = format!(
        "{summary}{recording}{transcript}{digits}{records}",
        summary = summary_card(detail),
        recording = recording_card(detail),
        transcript = transcript_card(detail),
        digits = digits_card(&detail.digits),
        records = records_card(&detail.records),
    );
    session_page("Call", "/calls", csrf, &body)
}

fn summary_card(detail: &CallDetail) -> String {
    let s = &detail.summary;
    let row = |name: &str, value: String| format!("<dt>{name}</dt><dd>{value}</dd>\n");
    format!(
        "<section class=\"card\" id=\"call-summary\" data-call-key=\"{k}\"><dl>\n{}{}{}{}{}{}{}{}{}</dl></section>\n",
        row("Answered", escape(&s.answered_local)),
        row("Caller", caller(s)),
        row("Duration", duration(s.duration_secs)),
        row("Outcome", escape(&s.outcome)),
        row("Urgency", or_dash(Some(&s.urgency).filter(|u| !u.is_empty()).map(|u| u.as_str()))),
        row("Confirmation", or_dash(s.confirmation_number.as_deref())),
        row("Ended", escape(&detail.end_reason)),
        speech(detail.mode.as_deref()),
        paged(detail.paged.as_ref()),
        k = escape(&s.key),
    )
}

/// Whether the caller could answer by voice, and why not (the owner sees a caller who had no
/// speech, and that more memory or fewer lines would give it).
fn speech(mode: Option<&str>) -> String {
    let text = match mode {
        None => return String::new(),
        Some("speech") => "on: voice and keypad".to_string(),
        Some("keypad_only") => "off, keypad only: no usable speech model".to_string(),
        Some("keypad_only_memory") => "off, keypad only: the memory held speech for no more \
             calls at once (README, \"Memory and the number of lines\")"
            .to_string(),
        Some(other) => escape(other),
    };
    format!(
        "<dt>Speech</dt><dd id=\"call-mode\" data-mode=\"{}\">{text}</dd>\n",
        escape(mode.unwrap_or_default())
    )
}

/// The on-call page's end: who took it and when, or that nobody did.
fn paged(page: Option<&PagedView>) -> String {
    let Some(p) = page else {
        return String::new();
    };
    let calls = match p.calls {
        1 => "1 page call".to_string(),
        n => format!("{n} page calls"),
    };
    let text = if p.outcome == "acknowledged" {
        format!(
            "taken by {} ({}) at {}; {calls}",
            or_dash(p.by.as_deref()),
            or_dash(p.channel.as_deref()),
            or_dash(p.at_local.as_deref()),
        )
    } else {
        format!(
            "NOBODY took it: paging gave up at {} after {calls}",
            or_dash(p.at_local.as_deref())
        )
    };
    format!(
        "<dt>On-call page</dt><dd id=\"call-page\" data-outcome=\"{}\">{text}</dd>\n",
        escape(&p.outcome)
    )
}

fn recording_card(detail: &CallDetail) -> String {
    let note = detail
        .recording_note
        .as_deref()
        .map(|n| {
            format!(
                "<p class=\"detail\" id=\"recording-note\">{}</p>",
                escape(n)
            )
        })
        .unwrap_or_default();
    let player = if detail.summary.has_recording {
        format!(
            "<audio id=\"recording\" controls preload=\"metadata\" src=\"/api/calls/{}/recording\"></audio>",
            url_part(&detail.summary.key)
        )
    } else {
        "<p>No recording.</p>".to_string()
    };
    format!("<section class=\"card\"><h2>Recording</h2>\n{player}\n{note}</section>\n")
}

fn transcript_card(detail: &CallDetail) -> String {
    let turns: String = detail
        .transcript
        .iter()
        .map(|turn| {
            format!(
                "<li data-speaker=\"{s}\" class=\"turn {c}\"><span class=\"at\">{at}</span> \
                 <span class=\"speaker\">{s}</span> <span class=\"text\">{t}</span></li>\n",
                s = escape(&turn.speaker),
                c = if turn.speaker == "caller" {
                    "caller"
                } else {
                    "box"
                },
                at = escape(&turn.at),
                t = escape(&turn.text),
            )
        })
        .collect();
    format!("<section class=\"card\"><h2>Transcript</h2>\n<ol id=\"transcript\">\n{turns}</ol></section>\n")
}

fn digits_card(digits: &[String]) -> String {
    if digits.is_empty() {
        return String::new();
    }
    let items: String = digits
        .iter()
        .map(|d| format!("<li>{}</li>", escape(d)))
        .collect();
    format!(
        "<section class=\"card\"><h2>Keys pressed</h2><ul id=\"digits\">{items}</ul></section>\n"
    )
}

/// ServiceTitan ids as `kind 123, kind 456`.
pub fn servicetitan_ids(ids: &[(String, String)]) -> String {
    if ids.is_empty() {
        return "—".to_string();
    }
    ids.iter()
        .map(|(kind, id)| {
            format!(
                "{} <span class=\"st-id\">{}</span>",
                escape(kind),
                escape(id)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn records_card(records: &[QueueRow]) -> String {
    let rows: String = records
        .iter()
        .map(|r| {
            format!(
                "<tr data-record-id=\"{id}\" data-state=\"{st}\"><td>{kind}</td><td><span class=\"badge {t}\">{st}</span></td>\
                 <td>{ids}</td><td>{attention}</td></tr>\n",
                id = escape(&r.id),
                st = escape(&r.state),
                t = tone(&r.state),
                kind = escape(&r.kind),
                ids = servicetitan_ids(&r.servicetitan_ids),
                attention = or_dash(r.attention.as_deref()),
            )
        })
        .collect();
    format!(
        "<section class=\"card\"><h2>Records</h2><div class=\"scroll\"><table id=\"call-records\">\n\
         <thead><tr><th scope=\"col\">Kind</th><th scope=\"col\">State</th><th scope=\"col\">ServiceTitan</th>\
         <th scope=\"col\">Needs</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div></section>\n"
    )
}
