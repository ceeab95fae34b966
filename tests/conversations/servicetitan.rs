//! Issue 16: the conversation table against the ServiceTitan test server, online and offline.
//!
//! One server holds the table's shop (`st_server::conversation::conversation_tenant`, built
//! from `tests/conversations/seed.json`). The box's cache is filled from it once, the way the
//! product does it (`callbox cache refresh --now`: the sync worker's reference, capacity and
//! customer-details refreshes on a clock started at the table's "now"), and copied into each
//! case's data directory. Each case
//! then runs through `callbox simulate` without `--seed` and is checked as in the offline
//! table; then the real sync (`SyncWorker::sync_once`, on the case's clock):
//!
//! 1. with ServiceTitan unreachable: nothing is pushed, the queue holds the same records with
//!    the same payloads, still queued;
//! 2. with it back: every record is synced, and what reached ServiceTitan is checked field by
//!    field (customer, location, job type, business unit, campaign, priority, appointment
//!    window, summary, the on-call technician; notes; moves; cancellations; the office's
//!    bookings for callbacks, leads, voicemails and the rest);
//! 3. a second sync pushes nothing and ServiceTitan's records are unchanged: each record was
//!    pushed exactly once.

use super::*;
use crate::support::st_server::conversation::{
    conversation_tenant, CONVERSATION_UTC_OFFSET_MINUTES, JT_SERVICE_CALL,
};
use crate::support::st_server::seed::*;
use crate::support::st_server::{
    DropMode, Fault, FaultPlan, FaultRule, StServer, StServerConfig, TEST_APP_KEY, TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
};
use callbox::config::Config;
use callbox::infra::clock::ManualClock;
use callbox::queue::{Payload, Record, RecordState, Urgency};
use callbox::servicetitan::SyncWorker;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The table's shop in ServiceTitan, and the cache the box filled from it.
struct Shop {
    server: StServer,
    cache: CacheDir,
}

fn st_config(api: &str, auth: &str, tenant: i64, data: &Path) -> Config {
    let mut c = crate::sync_support::config_for(api, auth, tenant, data);
    // The table's shop (Chicago); the box keeps its shop settings in the same file.
    c.shop.timezone = "America/Chicago".into();
    // What the firmware's example maps: the dialog's other hints (noise, thermostat, none)
    // become the shop's service call.
    c.servicetitan.default_job_type_id = Some(JT_SERVICE_CALL);
    c
}

/// The tenant as the table starts from it: every case finds ServiceTitan as the cache saw it
/// (a case that cancels Jane's visit must not leave it canceled for the next one).
fn reset_tenant(server: &StServer) {
    let now: DateTime<Utc> = NOW.parse().expect("NOW");
    let (seed, book) = conversation_tenant(now);
    server.with_tenant(|t| {
        *t = crate::support::st_server::Tenant::default();
        t.apply_seed(seed, now);
        book(t);
    });
}

/// The sync worker `open_worker_with_clock` makes, except that its client's rate window starts
/// empty: a new client per case would otherwise wait out a second it never used (the
/// daemon's cold start, tested in `sync_faults`), and each server sees one case at a time.
fn worker(config: &Config, now: DateTime<Utc>) -> (SyncWorker, ManualClock) {
    use callbox::servicetitan::{cache::StCache, client::StClient, sync::SyncSettings};
    let clock = ManualClock::new(now);
    let data = &config.storage.data_dir;
    let mut client_config =
        callbox::servicetitan::client_config(&config.servicetitan, &config.shop.default_country)
            .expect("client config");
    client_config.cold_start_rate_window = false;
    let client = StClient::with_clock(client_config, clock.shared()).expect("client");
    let (outbox, _) = callbox::queue::Outbox::open(
        &data.join("queue"),
        callbox::queue::QueueOptions::from_settings(&config.queue),
    )
    .expect("queue");
    let cache = std::sync::Arc::new(
        StCache::open(&data.join("cache"))
            .expect("cache")
            .with_phone_plan(client.config().phone_plan),
    );
    let settings = SyncSettings::from_config(&config.servicetitan);
    let worker = SyncWorker::new(client, outbox, cache, settings).with_clock(clock.shared());
    (worker, clock)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn open_shop() -> Shop {
    let server = StServer::start(StServerConfig {
        tenant_utc_offset_minutes: CONVERSATION_UTC_OFFSET_MINUTES,
        ..StServerConfig::default()
    });
    reset_tenant(&server);
    let cache = case_dir();
    // The product's way: `callbox cache refresh` at the table's now, with the box's
    // ServiceTitan settings.
    let file = cache.path().join("refresh.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\ndata_dir = {data:?}\n[shop]\ntimezone = \"America/Chicago\"\n\
             [servicetitan]\nenabled = true\nenvironment = \"custom\"\napi_url = {api:?}\n\
             auth_url = {auth:?}\ntenant_id = {tenant}\napp_key = {key:?}\n\
             client_id = {id:?}\nclient_secret = {secret:?}\nexternal_data_guid = {guid:?}\n\
             booking_provider_id = {BOOKING_PROVIDER}\n\
             default_business_unit_id = {BU_HVAC_SERVICE}\n\
             default_job_type_id = {JT_SERVICE_CALL}\n",
            data = cache.path().join("data").display().to_string(),
            api = server.base_url(),
            auth = server.auth_url(),
            tenant = server.tenant_id(),
            key = TEST_APP_KEY,
            id = TEST_CLIENT_ID,
            secret = TEST_CLIENT_SECRET,
            guid = crate::sync_support::GUID,
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_callbox"))
        .arg("--config")
        .arg(&file)
        .args(["cache", "refresh", "--now", NOW])
        .env_remove("CALLBOX_STORAGE_DATA_DIR")
        .output()
        .expect("callbox cache refresh");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cache refresh: {}\n{printed}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Jane (a visit), Bob (a member): both fetched, with their numbers.
    let report: Value = serde_json::from_str(&printed).expect("refresh report");
    assert_eq!(report["customers_refreshed"], 2, "{printed}");
    Shop {
        server,
        cache: CacheDir(cache),
    }
}

/// The data directory `callbox cache refresh` filled (its `cache`, copied per case).
struct CacheDir(tempfile::TempDir);

impl CacheDir {
    fn path(&self) -> std::path::PathBuf {
        self.0.path().join("data").join("cache")
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// What ServiceTitan holds, to see that a second sync adds or changes nothing.
fn snapshot(server: &StServer) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        server.customers().len(),
        server.locations().len(),
        server
            .jobs()
            .iter()
            .map(|j| (j.id, j.job_status.clone()))
            .collect::<Vec<_>>(),
        server
            .appointments()
            .iter()
            .map(|a| (a.id, a.start, a.end))
            .collect::<Vec<_>>(),
        server.with_tenant(|t| t.notes.len()),
        server.bookings().len(),
        server.leads().len(),
    )
}

fn sameish(a: &Record, b: &Record) -> bool {
    a.id == b.id && a.payload == b.payload
}

/// Field by field: what the record asked for against what ServiceTitan now holds.
fn check_in_servicetitan(server: &StServer, r: &Record, errs: &mut Vec<String>) {
    let p = &r.progress;
    let mut err = |e: String| errs.push(format!("{} {}: {e}", r.kind(), r.id));
    match &r.payload {
        Payload::Job(req) => {
            let Some(job) = p
                .job_id
                .and_then(|id| server.jobs().into_iter().find(|j| j.id == id))
            else {
                return err(format!("no job in ServiceTitan (progress {p:?})"));
            };
            if job.external_value(crate::sync_support::KEY) != Some(r.id.as_str()) {
                err(format!("job {} does not carry the record id", job.id));
            }
            match req.known_customer_id {
                Some(id) if job.customer_id != id => {
                    err(format!("customer {} != known {id}", job.customer_id))
                }
                Some(_) => {}
                None => match server.customers().iter().find(|c| c.id == job.customer_id) {
                    None => err("the job's customer is missing".into()),
                    Some(c) => {
                        if c.name != req.caller.name {
                            err(format!(
                                "customer name {:?} != {:?}",
                                c.name, req.caller.name
                            ));
                        }
                        let phone = req
                            .caller
                            .callback_phone_e164
                            .as_deref()
                            .or(req.caller.phone_e164.as_deref());
                        if let Some(phone) = phone {
                            let d = digits(phone);
                            if !c.contacts.iter().any(|k| d.ends_with(&digits(&k.value))) {
                                err(format!("customer contacts {:?} lack {phone}", c.contacts));
                            }
                        }
                    }
                },
            }
            match req.known_location_id {
                Some(id) if job.location_id != id => {
                    err(format!("location {} != known {id}", job.location_id))
                }
                Some(_) => {}
                None => match server.locations().iter().find(|l| l.id == job.location_id) {
                    None => err("the job's location is missing".into()),
                    Some(l) => {
                        let want = &req.service_address;
                        let got = &l.address;
                        if (got.street.as_str(), got.city.as_str(), got.zip.as_str())
                            != (want.street.as_str(), want.city.as_str(), want.zip.as_str())
                        {
                            err(format!("location address {got:?} != {want:?}"));
                        }
                        if l.customer_id != job.customer_id {
                            err("the new location is not the customer's".into());
                        }
                    }
                },
            }
            // The hints `config check` knows are the ones the dialog gives.
            if let Some(hint) = req.job_type_hint.as_deref() {
                if !callbox::trade::request::JOB_TYPE_HINTS.contains(&hint) {
                    err(format!(
                        "hint {hint:?} is not in trade::request::JOB_TYPE_HINTS"
                    ));
                }
            }
            let job_type = match req.job_type_hint.as_deref() {
                Some("no_heat") => JT_NO_HEAT,
                Some("no_cooling") => JT_NO_COOL,
                Some("maintenance") => JT_MAINTENANCE,
                Some("leak") => JT_LEAK,
                _ => JT_SERVICE_CALL,
            };
            if job.job_type_id != job_type {
                err(format!(
                    "job type {} != {job_type} for {:?}",
                    job.job_type_id, req.job_type_hint
                ));
            }
            let unit = match job.job_type_id {
                JT_LEAK => BU_PLUMBING,
                _ => BU_HVAC_SERVICE,
            };
            if job.business_unit_id != unit {
                err(format!("business unit {} != {unit}", job.business_unit_id));
            }
            // The dialled number is no campaign's tracking number: the default campaign.
            if job.campaign_id != CAMPAIGN_DEFAULT {
                err(format!("campaign {} != default", job.campaign_id));
            }
            let priority = match req.urgency {
                Urgency::Emergency => "Urgent",
                Urgency::Routine => "Normal",
            };
            if job.priority != priority {
                err(format!("priority {} != {priority}", job.priority));
            }
            let summary = job.summary.clone().unwrap_or_default();
            if !summary.contains(&req.problem_summary)
                || !summary.contains(&req.confirmation_number)
            {
                err(format!(
                    "summary {summary:?} lacks {:?} / {}",
                    req.problem_summary, req.confirmation_number
                ));
            }
            let appts: Vec<_> = server
                .appointments()
                .into_iter()
                .filter(|a| a.job_id == job.id)
                .collect();
            match appts.as_slice() {
                [a] if a.start == req.appointment.start_utc && a.end == req.appointment.end_utc => {
                    let techs: Vec<i64> = server
                        .assignments()
                        .iter()
                        .filter(|x| x.appointment_id == a.id && x.active)
                        .map(|x| x.technician_id)
                        .collect();
                    // The technician ServiceTitan has on call when the visit starts.
                    let on_call: Vec<i64> = server.with_tenant(|t| {
                        t.technician_shifts
                            .values()
                            .filter(|sh| sh.active && sh.shift_type == "OnCall")
                            .filter(|sh| sh.start <= a.start && a.start < sh.end)
                            .map(|sh| sh.technician_id)
                            .collect()
                    });
                    if req.assign_on_call_technician && techs != on_call {
                        err(format!(
                            "technicians {techs:?} assigned, on call at {}: {on_call:?}",
                            a.start
                        ));
                    }
                    if !req.assign_on_call_technician && !techs.is_empty() {
                        err(format!("technicians {techs:?} assigned to a routine visit"));
                    }
                }
                other => err(format!(
                    "appointments {:?} != one at {}–{}",
                    other.iter().map(|a| (a.start, a.end)).collect::<Vec<_>>(),
                    req.appointment.start_utc,
                    req.appointment.end_utc
                )),
            }
            // The call's note: what the caller said, for the technician.
            if !server
                .notes(job.id)
                .iter()
                .any(|n| n.text.contains(r.id.as_str()))
            {
                err("no call note on the job".into());
            }
        }
        Payload::Note(note) => {
            let Some(job_id) = note.job_id.or(p.job_id) else {
                return err("a note with no job".into());
            };
            if !server
                .notes(job_id)
                .iter()
                .any(|n| n.text.contains(note.text.trim()))
            {
                err(format!("job {job_id} has no note {:?}", note.text));
            }
        }
        Payload::Reschedule(req) => {
            let id = req.appointment_id.or(p.appointment_id);
            match server.appointments().into_iter().find(|a| Some(a.id) == id) {
                Some(a)
                    if a.start == req.new_window.start_utc && a.end == req.new_window.end_utc => {}
                other => err(format!(
                    "appointment {:?} not moved to {}",
                    other.map(|a| (a.id, a.start)),
                    req.new_window.start_utc
                )),
            }
        }
        Payload::Cancellation(req) => {
            let id = req.job_id.or(p.job_id);
            match server.jobs().into_iter().find(|j| Some(j.id) == id) {
                Some(j) if j.job_status == "Canceled" => {}
                other => err(format!(
                    "job {:?} not canceled",
                    other.map(|j| (j.id, j.job_status))
                )),
            }
        }
        // The page for an emergency booked on the same call: the job is the office's copy.
        Payload::OnCallAlert(a) if a.job_record_id.is_some() => {
            if p.booking_id.is_some() || p.lead_id.is_some() {
                err("the page of a booked emergency also became a booking or lead".into());
            }
        }
        Payload::Lead(lead) => {
            // A hang-up's lead: a ServiceTitan lead, found by its marker, with what was said.
            let leads: Vec<_> = server
                .leads()
                .into_iter()
                .filter(|l| l.summary.contains(r.id.as_str()))
                .collect();
            let [l] = leads.as_slice() else {
                return err(format!("{} leads for the record", leads.len()));
            };
            if Some(l.id) != p.lead_id {
                err(format!("lead {} != progress {:?}", l.id, p.lead_id));
            }
            if !l.summary.contains(&lead.summary) || !l.summary.contains(&lead.reason) {
                err(format!(
                    "lead summary {:?} lacks {:?} / {:?}",
                    l.summary, lead.summary, lead.reason
                ));
            }
            if l.campaign_id != CAMPAIGN_DEFAULT {
                err(format!("lead campaign {} != default", l.campaign_id));
            }
        }
        other => {
            // Callbacks, voicemails, invoice copies, membership interest and pages without a
            // job: the office's booking (a provider is configured).
            let bookings: Vec<_> = server
                .bookings()
                .into_iter()
                .filter(|b| b.external_id == r.id.as_str())
                .collect();
            let [b] = bookings.as_slice() else {
                return err(format!("{} bookings for the record", bookings.len()));
            };
            if Some(b.id) != p.booking_id {
                err(format!("booking {} != progress {:?}", b.id, p.booking_id));
            }
            let headline = other.headline();
            if !b.summary.contains(&headline) {
                err(format!(
                    "booking summary {:?} lacks {headline:?}",
                    b.summary
                ));
            }
            if let Some(caller) = other.caller() {
                if !caller.name.trim().is_empty() && b.name != caller.name {
                    err(format!("booking name {:?} != {:?}", b.name, caller.name));
                }
                if let Some(phone) = caller.best_phone() {
                    let d = digits(phone);
                    if !b.contacts.iter().any(|(_, v, _)| d.ends_with(&digits(v))) {
                        err(format!("booking contacts {:?} lack {phone}", b.contacts));
                    }
                }
            }
        }
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// One case: simulate on the copied cache, the sync offline, then online, then again.
fn sync_case(shop: &Shop, rt: &tokio::runtime::Runtime, c: &Case, errs: &mut Vec<String>) {
    reset_tenant(&shop.server);
    let dir = case_dir();
    let data = dir.path().join("data");
    copy_dir(&shop.cache.path(), &data.join("cache"));
    let r = run_from(c, dir.path(), SHOP_CONFIG, None);
    errs.extend(check(c, &r));
    if r.queue.is_empty() {
        return;
    }
    let now: DateTime<Utc> = c.now.parse().expect("now");
    // After the call (each turn is 5 s in simulate).
    let after = now + chrono::Duration::minutes(10);

    // 1. ServiceTitan unreachable (every connection dropped, the token endpoint down):
    // nothing pushed, the same records queued.
    let config = st_config(
        &shop.server.base_url(),
        &shop.server.auth_url(),
        shop.server.tenant_id(),
        &data,
    );
    let (w, clock) = worker(&config, after);
    // The outage's probing back-off (up to minutes) passes in moments.
    let ticks = {
        let _in_runtime = rt.enter();
        clock.tick(Duration::from_secs(60), Duration::from_millis(1))
    };
    shop.server.set_faults(
        FaultPlan::none()
            .with(FaultRule::new(Fault::DropBeforeCommit(DropMode::Close)))
            .with(FaultRule::new(Fault::ServerError(503)).on_token()),
    );
    let summary = rt.block_on(w.sync_once());
    shop.server.set_faults(FaultPlan::none());
    match summary {
        Ok(s) if s.synced == 0 && s.offline => {}
        other => errs.push(format!("offline sync: {other:?}")),
    }
    let held = w.outbox().list(&ListFilter::default()).expect("list");
    if held.len() != r.queue.len()
        || held.iter().zip(&r.queue).any(|(a, b)| !sameish(a, b))
        || held
            .iter()
            .any(|h| !matches!(h.state, RecordState::Queued | RecordState::Syncing))
    {
        errs.push(format!(
            "offline the queue changed: {:?}",
            held.iter()
                .map(|h| (h.kind(), &h.state))
                .collect::<Vec<_>>()
        ));
    }

    // 2. ServiceTitan back (later: the outage's hold has run out): every record synced, once,
    // as the record says.
    ticks.abort();
    clock.advance(Duration::from_secs(2 * 3600));
    let ticks = {
        let _in_runtime = rt.enter();
        clock.tick(Duration::from_secs(1), Duration::from_millis(2))
    };
    let summary = rt.block_on(w.sync_once());
    match &summary {
        Ok(s) if s.synced == r.queue.len() && s.errors.is_empty() => {}
        other => errs.push(format!("online sync: {other:?}")),
    }
    let synced = w.outbox().list(&ListFilter::default()).expect("list");
    for rec in &synced {
        if rec.state != RecordState::Synced {
            errs.push(format!("{} {} is {:?}", rec.kind(), rec.id, rec.state));
            continue;
        }
        check_in_servicetitan(&shop.server, rec, errs);
    }

    // 3. Exactly once: a second sync pushes nothing and changes nothing.
    let before = snapshot(&shop.server);
    match rt.block_on(w.sync_once()) {
        Ok(s) if s.synced == 0 && s.errors.is_empty() => {}
        other => errs.push(format!("second sync: {other:?}")),
    }
    if snapshot(&shop.server) != before {
        errs.push("a second sync changed ServiceTitan".into());
    }
    ticks.abort();
    // Closing sled waits for its flusher (up to a second): let that happen beside the next
    // case, then remove the directory.
    std::thread::spawn(move || {
        drop(w);
        drop(dir);
    });
}

/// Cases about the seed's own capacity horizon: `seed.json` lists frames for two days only, so
/// past Thursday the box offers configured windows as unconfirmed; ServiceTitan answers for
/// the fourteen days the box asks about (frames with no technician are unavailable), so there
/// the box rightly offers nothing it would have to make up. Their wording is the seed's.
const SEED_HORIZON_ONLY: &[&str] = &[
    "q2 known caller: friday instead, online capacity",
    "s3 no to the only real window: windows past ServiceTitan's horizon, unconfirmed, then a callback",
];

/// The whole table with the cache filled from ServiceTitan (no `--seed`), each case's records
/// synced offline, then online, then again (see the module docs).
#[test]
fn the_table_against_the_servicetitan_test_server_online_and_offline() {
    let cases = table();
    let filter = std::env::var("CONVERSATION_FILTER").unwrap_or_default();
    let mut failures = Vec::new();
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| c.name.contains(&filter) && !SEED_HORIZON_ONLY.contains(&c.name.as_str()))
        .collect();
    let ran = cases.len();
    let started = std::time::Instant::now();
    // One server (tenant, faults, snapshot) per thread: a case's sync checks what it alone
    // changed in ServiceTitan.
    let shops: Vec<(Shop, tokio::runtime::Runtime)> = (0..case_threads().min(ran).max(1))
        .map(|_| (open_shop(), runtime()))
        .collect();
    let results = on_lanes(&shops, &cases, |(shop, rt), c| {
        let mut errs = Vec::new();
        sync_case(shop, rt, c, &mut errs);
        errs
    });
    for (c, errs) in cases.iter().zip(results) {
        if !errs.is_empty() {
            failures.push(format!("--- {}\n  {}", c.name, errs.join("\n  ")));
        }
    }
    println!(
        "{ran} conversations against ServiceTitan on {} servers, {} failed, in {:.1} s",
        shops.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A test that must be able to fail: a record whose job ServiceTitan does not hold, or holds
/// at another time, is caught by the field-by-field check.
#[test]
fn the_servicetitan_check_catches_a_wrong_job() {
    let rt = runtime();
    let shop = open_shop();
    let c = case(
        "known caller keypad emergency booking",
        Some(JANE),
        &["dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
    )
    .expect("job", &["job", "on_call_alert"]);
    let mut errs = Vec::new();
    sync_case(&shop, &rt, &c, &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    let job = shop
        .server
        .jobs()
        .into_iter()
        .max_by_key(|j| j.id)
        .expect("a job");
    // Move the booked visit behind the box's back: the check must see it.
    shop.server.with_tenant(|t| {
        for a in t.appointments.values_mut().filter(|a| a.job_id == job.id) {
            a.start += chrono::Duration::hours(1);
        }
    });
    let dir = case_dir();
    let data = dir.path().join("data");
    copy_dir(&shop.cache.path(), &data.join("cache"));
    let r = run_from(&c, dir.path(), SHOP_CONFIG, None);
    let mut record = r.queue[0].clone();
    record.progress.job_id = Some(job.id);
    let mut errs = Vec::new();
    check_in_servicetitan(&shop.server, &record, &mut errs);
    assert!(errs.iter().any(|e| e.contains("appointments")), "{errs:?}");
}
