//! Every page rendered from views whose every string is hostile markup: nothing of it may act.

use std::collections::BTreeMap;

use serde_json::json;

use super::super::backend::*;
use super::*;

const H: &str = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";

fn h() -> String {
    H.to_string()
}

fn row() -> QueueRow {
    QueueRow {
        id: h(),
        kind: h(),
        state: h(),
        created_local: h(),
        about: h(),
        call_key: Some(h()),
        servicetitan_ids: vec![(h(), h())],
        attention: Some(h()),
        attempts: 2,
        retryable: true,
    }
}

fn summary() -> CallSummary {
    CallSummary {
        key: h(),
        answered_at: h(),
        answered_local: h(),
        caller_number: h(),
        caller_name: Some(h()),
        duration_secs: 75,
        outcome: h(),
        urgency: h(),
        confirmation_number: Some(h()),
        has_recording: true,
    }
}

fn dashboard_view() -> DashboardView {
    let reach = Reachability {
        state: h(),
        checked: Some(h()),
        detail: Some(h()),
    };
    DashboardView {
        shop_name: h(),
        version: h(),
        uptime_secs: 100,
        ata_last_contact: Some(h()),
        ata_address: Some(h()),
        calls_in_progress: 1,
        line_capacity: 2,
        internet: reach.clone(),
        servicetitan: reach,
        queue: BTreeMap::from([(h(), 3)]),
        queue_problem: Some(h()),
        last_sync: Some(h()),
        alerts_pending: 1,
        speech: h(),
        speech_loaded: false,
        disk: DiskView::default(),
        services: vec![ServiceView {
            name: h(),
            state: h(),
            restarts: 1,
            last_error: Some(h()),
        }],
        warnings: vec![h()],
    }
}

fn settings_view() -> SettingsView {
    let field = |kind: FieldKind, value: serde_json::Value| SettingField {
        key: format!("{H}.{H}"),
        kind,
        value,
        secret_set: true,
        help: h(),
        needs_restart: true,
        source: h(),
        issue: Some(h()),
        is_prompt: true,
    };
    SettingsView {
        sections: vec![SettingsSection {
            name: h(),
            fields: vec![
                field(FieldKind::Text, json!(H)),
                field(FieldKind::Number, json!(H)),
                field(FieldKind::Bool, json!(H)),
                field(FieldKind::List, json!([H, H])),
                field(FieldKind::Secret, json!(H)),
            ],
        }],
        restart_pending: vec![h()],
    }
}

fn every_page() -> Vec<(&'static str, String)> {
    let csrf = H;
    let page = CallPage {
        calls: vec![summary()],
        total: 120,
        outcomes: vec![h()],
    };
    let filter = CallsFilter {
        day: Some(h()),
        outcome: Some(h()),
        q: Some(h()),
        page: Some(h()),
    };
    let detail = CallDetail {
        summary: summary(),
        end_reason: h(),
        transcript: vec![TranscriptTurn {
            at: h(),
            speaker: h(),
            text: h(),
        }],
        digits: vec![h()],
        records: vec![row()],
        recording_note: Some(h()),
        paged: Some(PagedView {
            outcome: "acknowledged".into(),
            by: Some(h()),
            channel: Some(h()),
            at_local: Some(h()),
            calls: 2,
            alert: h(),
        }),
        mode: Some(h()),
    };
    let person = OnCallPerson {
        name: h(),
        phone: Some(h()),
        when: Some(h()),
    };
    let on_call_view = OnCallView {
        now: Some(person.clone()),
        next: Some(person),
        source: h(),
        alerts: vec![AlertRow {
            id: h(),
            created_local: h(),
            summary: h(),
            delivery: h(),
            acknowledged_by: Some(h()),
            acknowledged_at: Some(h()),
            voicemail_call: Some(h()),
        }],
        warnings: vec![h()],
    };
    let updates_view = UpdatesView {
        version: h(),
        channel: Some(h()),
        last_check: Some(h()),
        last_result: Some(h()),
        available: false,
        missing: Some(h()),
    };
    let days = vec![DayCalls {
        date: h(),
        by_outcome: BTreeMap::from([(h(), 4)]),
    }];
    vec![
        (
            "dashboard",
            dashboard::render(&dashboard_view(), &days, csrf),
        ),
        ("calls", calls::render_list(&page, &filter, csrf)),
        ("call", calls::render_detail(&detail, csrf)),
        ("queue", queue::render(&[row()], Some(H), csrf)),
        ("on-call", on_call::render(&on_call_view, csrf)),
        ("settings", settings::render(&settings_view(), csrf)),
        ("updates", system::render_updates(&updates_view, csrf)),
        ("diagnostics", system::render_diagnostics(csrf)),
    ]
}

#[test]
fn hostile_text_in_every_view_field_is_inert() {
    for (name, html) in every_page() {
        assert_eq!(
            html.matches("<script").count(),
            1,
            "{name}: only the page's own script tag\n{html}"
        );
        assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));
        assert!(!html.contains("<img"), "{name}: raw <img\n{html}");
        assert!(!html.contains("'x')"), "{name}: raw quote\n{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img"),
            "{name}: the hostile text is shown, escaped"
        );
    }
}

#[test]
fn every_session_page_has_the_frame_the_browser_tests_use() {
    for (name, html) in every_page() {
        assert!(html.contains("<nav aria-label=\"Pages\">"), "{name}");
        for (path, _) in NAV {
            assert!(
                html.contains(&format!("<a href=\"{path}\"")),
                "{name} links {path}"
            );
        }
        assert!(html.contains("<button id=\"logout\""), "{name}");
        assert!(
            html.contains("<meta name=\"csrf-token\" content=\""),
            "{name}"
        );
        assert_eq!(html.matches("<h1>").count(), 1, "{name}");
        assert!(!html.contains("http://") || name == "dashboard", "{name}");
        assert!(!html.contains("https://"), "{name}: nothing from outside");
    }
}

#[test]
fn the_nav_marks_the_current_page() {
    let html = system::render_diagnostics("t");
    assert!(html.contains("<a href=\"/diagnostics\" aria-current=\"page\">"));
    assert_eq!(html.matches("aria-current").count(), 1);
}

#[test]
fn url_parts_are_percent_encoded() {
    assert_eq!(url_part("call-2026_12.04~x"), "call-2026_12.04~x");
    assert_eq!(url_part("a b/c?d&e\"<"), "a%20b%2Fc%3Fd%26e%22%3C");
    assert_eq!(url_part("é"), "%C3%A9");
}

#[test]
fn the_dashboard_follows_the_dom_contract() {
    let mut view = DashboardView {
        queue: BTreeMap::from([
            ("needs_attention".to_string(), 2),
            ("queued".to_string(), 5),
        ]),
        services: vec![ServiceView {
            name: "sync".into(),
            state: "running".into(),
            ..ServiceView::default()
        }],
        ..DashboardView::default()
    };
    view.speech_loaded = true;
    let days: Vec<DayCalls> = (1..=14)
        .map(|d| DayCalls {
            date: format!("2026-11-{d:02}"),
            by_outcome: BTreeMap::from([("job".to_string(), d)]),
        })
        .collect();
    let html = dashboard::render(&view, &days, "t");
    assert!(html.contains("<table id=\"queue-counts\">"));
    assert!(html.contains(
        "<tr data-state=\"needs_attention\"><th scope=\"row\"><a href=\"/queue?state=needs_attention\">needs_attention</a></th><td class=\"count\">2</td></tr>"
    ));
    assert!(html.contains("<td class=\"count\">5</td>"));
    assert_eq!(html.matches("<g class=\"day\"").count(), 14);
    assert!(html.contains("<ul id=\"services\""));
    assert!(html.contains("<li data-service=\"sync\" data-state=\"running\">"));
    assert!(html.contains("<h1>Dashboard</h1>"));
}

#[test]
fn the_calls_pages_follow_the_dom_contract() {
    let mut call = summary();
    call.key = "20261204-2114-ab12".into();
    call.caller_name = Some("Dana".into());
    let list = calls::render_list(
        &CallPage {
            calls: vec![call.clone()],
            total: 51,
            outcomes: vec!["job".into(), "lead".into()],
        },
        &CallsFilter {
            outcome: Some("lead".into()),
            q: Some("Da na".into()),
            ..CallsFilter::default()
        },
        "t",
    );
    assert!(list.contains(
        "<tr data-call-key=\"20261204-2114-ab12\"><td><a href=\"/calls/20261204-2114-ab12\">"
    ));
    assert!(list.contains("<form id=\"call-filter\""));
    assert!(list.contains("<select id=\"outcome\" name=\"outcome\">"));
    assert!(list.contains("<option value=\"lead\" selected>lead</option>"));
    assert!(list.contains("<input id=\"day\" name=\"day\" type=\"date\""));
    assert!(list.contains("<input id=\"q\" name=\"q\" type=\"search\" value=\"Da na\""));
    assert!(list.contains("Page 1 of 2"));
    assert!(list.contains("href=\"/calls?outcome=lead&amp;q=Da%20na&amp;page=2\""));

    let detail = calls::render_detail(
        &CallDetail {
            summary: call,
            transcript: vec![TranscriptTurn {
                at: "0:03".into(),
                speaker: "caller".into(),
                text: "my furnace".into(),
            }],
            records: vec![QueueRow {
                id: "r1".into(),
                state: "synced".into(),
                servicetitan_ids: vec![("job".into(), "4455".into())],
                ..QueueRow::default()
            }],
            ..CallDetail::default()
        },
        "t",
    );
    assert!(detail.contains(
        "<audio id=\"recording\" controls preload=\"metadata\" src=\"/api/calls/20261204-2114-ab12/recording\">"
    ));
    assert!(detail.contains("<ol id=\"transcript\">"));
    assert!(detail.contains("<li data-speaker=\"caller\""));
    assert!(detail.contains("<span class=\"at\">0:03</span>"));
    assert!(detail.contains("<table id=\"call-records\">"));
    assert!(detail.contains("<tr data-record-id=\"r1\""));
    assert!(detail.contains("4455"));
    assert!(!detail.contains("id=\"call-page\""), "no page, no row");

    let summary = || CallSummary {
        key: "20261204-2114-ab12".into(),
        ..CallSummary::default()
    };
    let taken = calls::render_detail(
        &CallDetail {
            summary: summary(),
            paged: Some(PagedView {
                outcome: "acknowledged".into(),
                by: Some("Mike Reyes".into()),
                channel: Some("phone".into()),
                at_local: Some("03:12 Thu".into()),
                calls: 1,
                alert: "cb-1".into(),
            }),
            ..CallDetail::default()
        },
        "t",
    );
    assert!(taken.contains(
        "<dd id=\"call-page\" data-outcome=\"acknowledged\">taken by Mike Reyes (phone) at 03:12 Thu; 1 page call</dd>"
    ));
    let nobody = calls::render_detail(
        &CallDetail {
            summary: summary(),
            paged: Some(PagedView {
                outcome: "exhausted".into(),
                at_local: Some("03:40 Thu".into()),
                calls: 12,
                ..PagedView::default()
            }),
            ..CallDetail::default()
        },
        "t",
    );
    assert!(nobody.contains(
        "data-outcome=\"exhausted\">NOBODY took it: paging gave up at 03:40 Thu after 12 page calls</dd>"
    ));
    // Whether the caller could answer by voice, and why not.
    let speech = |mode: Option<&str>| {
        calls::render_detail(
            &CallDetail {
                summary: summary(),
                mode: mode.map(str::to_string),
                ..CallDetail::default()
            },
            "t",
        )
    };
    assert!(speech(Some("speech"))
        .contains("<dd id=\"call-mode\" data-mode=\"speech\">on: voice and keypad</dd>"));
    assert!(speech(Some("keypad_only"))
        .contains("data-mode=\"keypad_only\">off, keypad only: no usable speech model</dd>"));
    assert!(speech(Some("keypad_only_memory")).contains(
        "data-mode=\"keypad_only_memory\">off, keypad only: the memory held speech for no more calls at once"
    ));
    assert!(
        !speech(None).contains("id=\"call-mode\""),
        "no dialog, no row"
    );
}

#[test]
fn the_queue_on_call_and_updates_pages_follow_the_dom_contract() {
    let mut stuck = row();
    stuck.id = "rec-1".into();
    stuck.state = "needs_attention".into();
    let mut done = row();
    done.id = "rec-2".into();
    done.state = "synced".into();
    done.retryable = false;
    let html = queue::render(&[stuck, done], None, "t");
    assert!(html.contains("<table id=\"queue\">"));
    assert!(html.contains("<tr data-record-id=\"rec-1\" data-state=\"needs_attention\">"));
    assert!(html.contains("<button type=\"button\" class=\"retry\" data-record-id=\"rec-1\">"));
    assert!(!html.contains("class=\"retry\" data-record-id=\"rec-2\""));
    assert!(html.contains("<a id=\"export\" href=\"/api/queue/export\" download>"));
    assert!(html.contains("<option value=\"needs_attention\">"));

    let html = on_call::render(&OnCallView::default(), "t");
    for id in [
        "id=\"on-call-now\"",
        "id=\"on-call-next\"",
        "<table id=\"alerts\">",
    ] {
        assert!(html.contains(id), "{id}");
    }
    assert!(!html.contains("id=\"ack-by\""), "nothing to take");

    // An alert nobody took has a button (and the page a name field); a taken one has not.
    let view = OnCallView {
        alerts: vec![
            AlertRow {
                id: "cb-open".into(),
                ..AlertRow::default()
            },
            AlertRow {
                id: "cb-taken".into(),
                acknowledged_by: Some("Mike Reyes (phone)".into()),
                acknowledged_at: Some("03:12 Thu".into()),
                voicemail_call: Some("20260115T030000Z-0001".into()),
                ..AlertRow::default()
            },
        ],
        ..OnCallView::default()
    };
    let html = on_call::render(&view, "t");
    assert!(html.contains("<input id=\"ack-by\" name=\"by\" maxlength=\"60\""));
    assert!(html.contains(
        "<td class=\"acknowledged\">no <button type=\"button\" class=\"acknowledge\" data-alert-id=\"cb-open\">Take it</button></td>"
    ));
    assert!(!html.contains("class=\"acknowledge\" data-alert-id=\"cb-taken\""));
    assert!(html.contains("<td class=\"acknowledged\">Mike Reyes (phone) 03:12 Thu</td>"));
    // Issue 15: the alert whose caller left a voicemail links the call (its recording).
    assert!(html.contains(
        "<a class=\"voicemail\" href=\"/calls/20260115T030000Z-0001#recording\">The caller left a voicemail</a>"
    ));
    assert_eq!(
        html.matches("class=\"voicemail\"").count(),
        1,
        "only where one was left"
    );

    let html = system::render_updates(
        &UpdatesView {
            version: "1.2.3".into(),
            available: false,
            missing: Some("the updater (issue 14)".into()),
            ..UpdatesView::default()
        },
        "t",
    );
    assert!(html.contains("<dd id=\"version\">1.2.3</dd>"));
    assert!(html.contains("id=\"update-channel\""));
    assert!(html.contains("<button id=\"check-updates\""));
    assert!(
        html.contains("<dd id=\"update-result\" aria-live=\"polite\">the updater (issue 14)</dd>")
    );

    let html = system::render_diagnostics("t");
    assert!(html.contains("<pre id=\"log-tail\""));
    assert!(html.contains("<a id=\"support-bundle\""));
}
