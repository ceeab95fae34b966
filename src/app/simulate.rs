//! `callbox simulate`: the real dialog engine, the real queue (an `Outbox` in the data dir) and
//! the real cache, driven by lines on stdin. A line is what the recogniser heard; `dtmf:<keys>`
//! is keypad input, `conf:<0..1> <words>` words heard with that confidence (1 otherwise),
//! `more:<words>` the caller going on after the last answer was cut off (the engine hears the
//! last answer and these words as one, [`Input::Continued`]), `silence` a no-input timeout,
//! `hangup` the caller leaving (so is the end of input), `technician:takes` /
//! `technician:busy` / `technician:no-answer` / `technician:passes` how a bridge to the on-call
//! technician ended (`[sip] outbound_while_on_call`; the box prints `[rings the on-call
//! technician]`). Each of the box's turns is printed as `callbox: <text>` and flushed before the next
//! line is read; the run ends with one JSON line, the outcome.
//!
//! For tests and installers: `--now` fixes the clock, `--seed` fills the cache from a JSON
//! fixture (customers with their locations and appointments, technicians, on-call shifts,
//! capacity), `--offline` ignores cached capacity, `--fail-enqueue-after N` makes every enqueue
//! after the first N fail as a full disk would.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::lookup::{CacheLookups, CacheSchedule};
use crate::config::Config;
use crate::dialog::engine::{
    drive, Action, BridgeOutcome, CallContext, Dialog, Input, Script, Sources,
};
use crate::dialog::schedule::{shop_zone, ConfiguredSchedule};
use crate::dialog::sources::{RecordFailure, RecordSink};
use crate::queue::{Outbox, Payload, QueueOptions, RecordId};
use crate::servicetitan::cache::{CustomerDetails, StCache};
use crate::servicetitan::types::{CapacityResponse, Customer, Technician, TechnicianShift};

/// Options of `callbox simulate`.
#[derive(Debug, Clone, Default)]
pub struct SimulateOptions {
    /// Caller ID (E.164); none = withheld.
    pub caller_id: Option<String>,
    pub dialled: Option<String>,
    /// The call's start; default the real clock.
    pub now: Option<DateTime<Utc>>,
    /// JSON fixture loaded into the cache first.
    pub seed: Option<PathBuf>,
    pub offline: bool,
    pub fail_enqueue_after: Option<usize>,
    pub outdoor_temp_f: Option<f32>,
    /// `outdoor_temp_f` is a fresh NWS forecast (it wins over an outdoor figure the caller
    /// states); otherwise it stands for an aging value or the climate rule.
    pub outdoor_measured: bool,
}

/// The cache fixture: what `callbox sync` would have cached.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    #[serde(default)]
    customers: Vec<FixtureCustomer>,
    #[serde(default)]
    technicians: Vec<Technician>,
    #[serde(default)]
    on_call_shifts: Vec<TechnicianShift>,
    #[serde(default)]
    capacity: Option<CapacityResponse>,
}

#[derive(Debug, Deserialize)]
struct FixtureCustomer {
    phone: String,
    customer: Customer,
    #[serde(default)]
    details: CustomerDetails,
}

/// Loads a cache fixture (the `--seed` JSON) into `cache`, as refreshed at `now`: `callbox
/// simulate --seed` and `callbox cache seed` (installers, tests of the running box).
pub fn seed(cache: &StCache, path: &Path, now: DateTime<Utc>) -> Result<()> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let fixture: Fixture =
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    for c in fixture.customers {
        cache.put_customer_details(c.customer.id, &c.details)?;
        let mut list = cache.customers_for_phone(&c.phone).unwrap_or_default();
        list.retain(|x| x.id != c.customer.id);
        list.push(c.customer);
        cache.put_customers_for_phone(&c.phone, list, now)?;
    }
    if !fixture.technicians.is_empty() {
        cache.put_technicians(fixture.technicians, now)?;
    }
    if !fixture.on_call_shifts.is_empty() {
        cache.put_on_call_shifts(fixture.on_call_shifts, now)?;
    }
    if let Some(capacity) = fixture.capacity {
        cache.put_capacity(capacity, now)?;
    }
    Ok(())
}

/// Enqueues into the real outbox; `fail_after` injects a full disk.
struct OutboxSink {
    outbox: Outbox,
    runtime: tokio::runtime::Runtime,
    fail_after: Option<usize>,
    attempts: usize,
}

impl RecordSink for OutboxSink {
    fn enqueue(&mut self, payload: &Payload) -> Result<RecordId, RecordFailure> {
        self.attempts += 1;
        if self.fail_after.is_some_and(|n| self.attempts > n) {
            return Err(RecordFailure(
                "disk full while writing the queue (injected by --fail-enqueue-after)".into(),
            ));
        }
        self.runtime
            .block_on(self.outbox.enqueue(payload.clone()))
            .map_err(|e| RecordFailure(e.to_string()))
    }
}

/// One line of input as the engine's input; `None` for comments and blank lines.
fn parse_line(line: &str) -> Option<Input> {
    let line = line.trim();
    if line.is_empty() || line.starts_with("//") {
        return None;
    }
    Some(match line {
        "silence" => Input::NoInput,
        "hangup" => Input::Hangup,
        // How the bridge to the on-call technician ended (`[sip] outbound_while_on_call`).
        "technician:takes" => Input::Bridged(BridgeOutcome::Talked),
        "technician:busy" | "technician:no-answer" | "technician:passes" => {
            Input::Bridged(BridgeOutcome::NotTaken)
        }
        _ => match line.strip_prefix("dtmf:") {
            Some(keys) => Input::Digits(keys.trim().to_string()),
            // The whole answer is filled in by the caller of this function (it knows the
            // last answer).
            None if line.starts_with("more:") => Input::Continued {
                text: line.trim_start_matches("more:").trim().to_string(),
                whole: String::new(),
                confidence: 1.0,
            },
            // "conf:0.42 john smith": what the recogniser heard, with its confidence.
            None => match line
                .strip_prefix("conf:")
                .and_then(|rest| rest.split_once(' '))
                .and_then(|(c, text)| Some((c.parse::<f32>().ok()?, text)))
            {
                Some((confidence, text)) => Input::Heard {
                    text: text.trim().to_string(),
                    confidence,
                },
                None => Input::Heard {
                    text: line.to_string(),
                    confidence: 1.0,
                },
            },
        },
    })
}

fn print_actions(out: &mut dyn Write, actions: &[Action]) -> Result<()> {
    for a in actions {
        match a {
            Action::Say { text, .. } => writeln!(out, "callbox: {text}")?,
            Action::Hangup => writeln!(out, "callbox: [hangs up]")?,
            Action::Language(l) => writeln!(out, "callbox: [speaks {}]", l.tag())?,
            Action::Bridge(_) => writeln!(out, "callbox: [rings the on-call technician]")?,
            Action::Listen(_) | Action::Enqueue(_) => {}
        }
    }
    out.flush()?;
    Ok(())
}

/// Runs one simulated call; returns the outcome (also printed as the last line).
pub fn run(
    config: &Config,
    opts: &SimulateOptions,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<crate::dialog::engine::Outcome> {
    let paths = config.data_paths();
    paths
        .create_all()
        .with_context(|| format!("creating the data directory {}", paths.root.display()))?;
    let (outbox, _) = Outbox::open(&paths.queue, QueueOptions::from_settings(&config.queue))
        .with_context(|| format!("opening the queue in {}", paths.queue.display()))?;
    let cache = Arc::new(
        StCache::open(&paths.root.join("cache"))
            .with_context(|| format!("opening the cache in {}", paths.root.display()))?
            .with_phone_plan(
                crate::trade::phone::dialling_plan(&config.shop.default_country)
                    .context("no dialling plan for shop.default_country")?,
            ),
    );
    let mut now = opts.now.unwrap_or_else(Utc::now);
    if let Some(path) = &opts.seed {
        seed(&cache, path, now)?;
    }
    let lookups = Arc::new(CacheLookups {
        cache: cache.clone(),
        outbox: Some(outbox.clone()),
    });
    let sources = Sources {
        customers: lookups.clone(),
        appointments: lookups,
        schedule: Arc::new(CacheSchedule {
            cache,
            fallback: ConfiguredSchedule::new(&config.schedule, &config.shop.timezone),
            timezone: shop_zone(&config.shop.timezone),
            max_age: chrono::Duration::seconds(
                i64::try_from(config.schedule.capacity_max_age_secs).unwrap_or(i64::MAX),
            ),
            offline: opts.offline,
        }),
    };
    let call_key = crate::dialog::call_log::record_key(now, "simulate");
    let ctx = CallContext {
        call_key: call_key.clone(),
        caller_id: opts.caller_id.clone(),
        dialled: opts.dialled.clone(),
        outdoor_temp_f: opts.outdoor_temp_f,
        outdoor_measured: opts.outdoor_measured && opts.outdoor_temp_f.is_some(),
        recording_path: Some(format!("recordings/{call_key}.wav")),
    };
    let mut sink = OutboxSink {
        outbox,
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?,
        fail_after: opts.fail_enqueue_after,
        attempts: 0,
    };
    let mut dialog = Dialog::new(
        ctx,
        Arc::new(
            Script::from_settings(
                &config.shop.name,
                &config.shop.timezone,
                &config.shop.default_country,
                &config.dialog,
                &config.triage,
            )
            .with_insist_pages(crate::app::flow::insist_pages(config))
            // No voice or model is run here: Spanish is offered when a voice is configured,
            // and heard by voice when a Spanish model is.
            .with_spanish(!config.voice.spanish_voice.is_empty())
            .with_spanish_speech(
                config
                    .speech
                    .spanish_model_dir(&config.storage.data_dir)
                    .is_some(),
            )
            .with_bridge(config.sip.outbound_while_on_call),
        ),
        sources,
        now,
    );
    let first = dialog.start(now);
    print_actions(out, &first)?;
    let mut line = String::new();
    let mut last_answer = String::new();
    while !dialog.is_ended() {
        line.clear();
        let read = input.read_line(&mut line).context("reading stdin")?;
        let event = if read == 0 {
            Input::Hangup
        } else {
            match parse_line(&line) {
                Some(e) => e,
                None => continue,
            }
        };
        // The answer a `more:` line goes on with, as the speech layer joins the pieces.
        let event = match event {
            Input::Continued {
                text, confidence, ..
            } => Input::Continued {
                whole: format!("{last_answer} {text}").trim().to_string(),
                text,
                confidence,
            },
            other => other,
        };
        last_answer = match &event {
            Input::Heard { text, .. } => text.clone(),
            Input::Continued { whole, .. } => whole.clone(),
            _ => String::new(),
        };
        // Each turn a few seconds later, so the transcript reads like a call.
        now += chrono::Duration::seconds(5);
        let actions = drive(&mut dialog, &mut sink, now, event);
        print_actions(out, &actions)?;
        if read == 0 {
            break;
        }
    }
    let outcome = dialog.outcome().clone();
    let line = serde_json::json!({
        "outcome": outcome.kind,
        "record_ids": outcome.record_ids,
        "records": outcome.records,
        "confirmation_number": outcome.confirmation_number,
        "booked_live": outcome.booked_live,
        "enqueue_failed": outcome.enqueue_failed,
        "caller_hung_up": outcome.caller_hung_up,
        "call_key": call_key,
        "transcript": dialog.transcript(),
        // As the daemon's call record has it: a temperature the caller stated, and whether
        // triage used it.
        "caller_temp": crate::dialog::call_log::caller_temp(
            dialog.transcript(),
            config.triage.cold_threshold_f,
            config.triage.hot_threshold_f,
            opts.outdoor_measured && opts.outdoor_temp_f.is_some(),
        ),
    });
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(outcome)
}
