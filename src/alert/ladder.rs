//! The paging ladder: who is paged for an on-call alert, in which order, for how long, and
//! when it stops. **Sans-I/O**: it is handed the time and the outcome of each page call and
//! works on a [`PageProgress`] (plain data the dispatcher stores in the alert's queue record
//! before and after every call), so a restart resumes the ladder where it stopped.
//!
//! The contacts are fixed when the ladder starts: the on-call technician from ServiceTitan
//! when known (with a number), else the configured list; then the backup; then the owner.
//! Each contact gets up to `calls_per_contact` page calls, `call_pause` apart, within
//! `step_timeout`; pressing 2 (or declining) moves on at once. After the last contact the list
//! is paged again from the top, `rounds` times in all; then the ladder ends "exhausted" (said
//! loudly in the log: nobody took an emergency). The first acknowledgement (pressing 1 on a
//! page call, or the web page's On-call view) ends it.

use chrono::{DateTime, Utc};
use std::time::Duration;

use super::phone::PageCallOutcome;
use super::OnCallTech;
pub use crate::queue::{PageAcknowledgement, PageAttempt, PageContact, PageProgress};

/// `PageProgress::ended` when someone took the alert.
pub const ENDED_ACKNOWLEDGED: &str = "acknowledged";
/// `PageProgress::ended` when every round passed without an acknowledgement.
pub const ENDED_EXHAUSTED: &str = "exhausted";
/// The outcome noted for a call the box did not see the end of (it restarted during it).
pub const INTERRUPTED: &str = "interrupted";

/// How the ladder pages (from `[alerts]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderPolicy {
    /// How long one contact is paged before the next one is.
    pub step_timeout: Duration,
    /// Page calls to one contact within its step.
    pub calls_per_contact: u32,
    /// Between two calls to the same contact (no answer, busy, no key pressed).
    pub call_pause: Duration,
    /// Passes over the whole list before the ladder gives up.
    pub rounds: u32,
}

impl Default for LadderPolicy {
    fn default() -> Self {
        LadderPolicy {
            step_timeout: Duration::from_secs(300),
            calls_per_contact: 2,
            call_pause: Duration::from_secs(60),
            rounds: 2,
        }
    }
}

/// What the ladder wants done now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LadderAction {
    /// Place a page call to `contacts[contact]` now: note it with [`Ladder::call_started`]
    /// (and store the progress) before dialling, and its outcome with [`Ladder::call_ended`].
    Call { contact: usize },
    /// Nothing to do before this time.
    WaitUntil(DateTime<Utc>),
    /// The ladder is over: `ended` says how.
    Ended,
}

/// The ladder's rules. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Ladder {
    pub policy: LadderPolicy,
}

impl Ladder {
    pub fn new(policy: LadderPolicy) -> Ladder {
        Ladder { policy }
    }

    /// A new ladder over `contacts` (see [`contacts`]), starting at `now`.
    pub fn start(&self, contacts: Vec<PageContact>, now: DateTime<Utc>) -> PageProgress {
        PageProgress {
            contacts,
            step: 0,
            round: 1,
            step_started_at: Some(now),
            ..PageProgress::default()
        }
    }

    /// What to do at `now`. Moves the ladder on (a contact's time or calls used up, the list
    /// done, an acknowledgement noted elsewhere, a call a restart interrupted); the caller
    /// stores `p` when it changed.
    pub fn next(&self, p: &mut PageProgress, now: DateTime<Utc>) -> LadderAction {
        if p.ended.is_some() {
            return LadderAction::Ended;
        }
        if p.acknowledged.is_some() {
            self.end(p, ENDED_ACKNOWLEDGED, now);
            return LadderAction::Ended;
        }
        if let Some(mut call) = p.calling.take() {
            // The box stopped during this call: nobody pressed 1 that we know of.
            call.outcome = INTERRUPTED.into();
            call.ended_at = Some(now);
            p.attempts.push(call);
            p.next_call_at = None;
        }
        if p.round == 0 {
            p.round = 1;
        }
        // Each pass either returns or moves one step on; the steps are bounded by
        // contacts × rounds, so this ends.
        loop {
            if p.step >= p.contacts.len() {
                p.step = 0;
                p.round += 1;
                if p.contacts.is_empty() || p.round > self.policy.rounds.max(1) {
                    self.end(p, ENDED_EXHAUSTED, now);
                    return LadderAction::Ended;
                }
                self.begin_step(p, now);
            }
            let started = *p.step_started_at.get_or_insert(now);
            let deadline = started + chrono_duration(self.policy.step_timeout);
            let calls_left = p.calls_this_step < self.policy.calls_per_contact.max(1);
            let next_call = p.next_call_at.unwrap_or(now);
            if now >= deadline || !calls_left || next_call >= deadline {
                p.step += 1;
                if p.step < p.contacts.len() {
                    self.begin_step(p, now);
                }
                continue;
            }
            if next_call > now {
                return LadderAction::WaitUntil(next_call);
            }
            return LadderAction::Call { contact: p.step };
        }
    }

    /// A page call to `contact` is about to be placed (store `p` before dialling).
    pub fn call_started(&self, p: &mut PageProgress, contact: usize, now: DateTime<Utc>) {
        p.calls_this_step = p.calls_this_step.saturating_add(1);
        p.next_call_at = None;
        p.calling = Some(PageAttempt {
            contact,
            channel: "phone".into(),
            started_at: Some(now),
            outcome: String::new(),
            ended_at: None,
        });
    }

    /// The page call ended with `outcome` at `now`.
    pub fn call_ended(&self, p: &mut PageProgress, outcome: &PageCallOutcome, now: DateTime<Utc>) {
        let Some(mut call) = p.calling.take() else {
            return;
        };
        call.outcome = outcome_name(outcome);
        call.ended_at = Some(now);
        let contact = call.contact;
        let channel = call.channel.clone();
        p.attempts.push(call);
        match outcome {
            PageCallOutcome::Accepted => {
                let by = p
                    .contacts
                    .get(contact)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                p.acknowledged = Some(PageAcknowledgement {
                    by,
                    at: Some(now),
                    channel,
                });
                self.end(p, ENDED_ACKNOWLEDGED, now);
            }
            // Said no: the next contact, now.
            PageCallOutcome::Passed | PageCallOutcome::Declined => {
                p.calls_this_step = u32::MAX;
                p.next_call_at = None;
            }
            PageCallOutcome::NoResponse
            | PageCallOutcome::NoAnswer
            | PageCallOutcome::Busy
            | PageCallOutcome::Failed(_) => {
                p.next_call_at = Some(now + chrono_duration(self.policy.call_pause));
            }
        }
    }

    fn begin_step(&self, p: &mut PageProgress, now: DateTime<Utc>) {
        p.step_started_at = Some(now);
        p.calls_this_step = 0;
        p.next_call_at = None;
    }

    fn end(&self, p: &mut PageProgress, how: &str, now: DateTime<Utc>) {
        p.ended = Some(how.into());
        p.ended_at = Some(now);
        p.next_call_at = None;
    }
}

/// How an outcome is written in the record.
pub fn outcome_name(outcome: &PageCallOutcome) -> String {
    match outcome {
        PageCallOutcome::Accepted => "accepted".into(),
        PageCallOutcome::Passed => "passed".into(),
        PageCallOutcome::NoResponse => "no_response".into(),
        PageCallOutcome::NoAnswer => "no_answer".into(),
        PageCallOutcome::Busy => "busy".into(),
        PageCallOutcome::Declined => "declined".into(),
        PageCallOutcome::Failed(why) => format!("failed: {why}"),
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

/// The configured people the ladder can page (`[alerts]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagingContacts {
    /// Paged in order when ServiceTitan's on-call technician is not known.
    pub list: Vec<PageContact>,
    pub backup: Option<PageContact>,
    pub owner: Option<PageContact>,
}

/// Whom to page, in order: `on_call` (ServiceTitan's shift, when it has a number) or else the
/// configured list, then the backup, then the owner; a number appears once.
pub fn contacts(on_call: Option<&OnCallTech>, configured: &PagingContacts) -> Vec<PageContact> {
    let mut out: Vec<PageContact> = Vec::new();
    let from_st = on_call
        .filter(|t| t.source == "servicetitan")
        .and_then(|t| {
            t.phone.as_ref().map(|phone| PageContact {
                name: t.name.clone(),
                to: phone.clone(),
                role: "on_call".into(),
            })
        });
    match from_st {
        Some(c) => out.push(c),
        None => out.extend(configured.list.iter().cloned()),
    }
    out.extend(configured.backup.iter().cloned());
    out.extend(configured.owner.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.to.clone()));
    out
}

/// `"Mike Reyes <+13125550100>"`, `"Mike <sip:201@192.0.2.10>"` or a bare number or URI, as
/// `role`. The number must be E.164; a SIP URI must name a host.
pub fn parse_contact(text: &str, role: &str) -> Result<PageContact, String> {
    let text = text.trim();
    let (name, to) = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close && close == text.len() - 1 => {
            (text[..open].trim(), text[open + 1..close].trim())
        }
        (None, None) => ("", text),
        _ => return Err(format!("`{text}`: write it as `Name <+13125550100>`")),
    };
    let ok = if let Some(rest) = to.strip_prefix("sip:") {
        rest.rsplit('@').next().is_some_and(|host| !host.is_empty()) && !rest.contains(' ')
    } else {
        crate::trade::phone::is_e164(to)
    };
    if !ok {
        return Err(format!(
            "`{to}` is neither an E.164 number (+13125550100) nor a SIP URI (sip:201@192.0.2.10)"
        ));
    }
    Ok(PageContact {
        name: name.to_string(),
        to: to.to_string(),
        role: role.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-01-15T03:00:00Z".parse().expect("time")
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    fn people(n: usize) -> Vec<PageContact> {
        (0..n)
            .map(|i| PageContact {
                name: format!("tech{i}"),
                to: format!("+1312555010{i}"),
                role: "contact".into(),
            })
            .collect()
    }

    fn ladder() -> Ladder {
        Ladder::new(LadderPolicy {
            step_timeout: Duration::from_secs(300),
            calls_per_contact: 2,
            call_pause: Duration::from_secs(60),
            rounds: 2,
        })
    }

    /// Runs one call at `now` with `outcome`; returns the contact called.
    fn call(
        l: &Ladder,
        p: &mut PageProgress,
        now: DateTime<Utc>,
        outcome: PageCallOutcome,
    ) -> usize {
        let LadderAction::Call { contact } = l.next(p, now) else {
            panic!("expected a call at {now}: {p:?}");
        };
        l.call_started(p, contact, now);
        l.call_ended(p, &outcome, now + secs(40));
        contact
    }

    #[test]
    fn the_first_contact_pressing_1_ends_the_ladder() {
        let l = ladder();
        let mut p = l.start(people(3), t0());
        assert_eq!(call(&l, &mut p, t0(), PageCallOutcome::Accepted), 0);
        assert_eq!(l.next(&mut p, t0() + secs(41)), LadderAction::Ended);
        let ack = p.acknowledged.clone().expect("acknowledged");
        assert_eq!((ack.by.as_str(), ack.channel.as_str()), ("tech0", "phone"));
        assert_eq!(ack.at, Some(t0() + secs(40)));
        assert_eq!(p.ended.as_deref(), Some(ENDED_ACKNOWLEDGED));
        assert_eq!(p.attempts.len(), 1);
    }

    #[test]
    fn no_answer_calls_again_after_the_pause_then_moves_on() {
        let l = ladder();
        let mut p = l.start(people(2), t0());
        assert_eq!(call(&l, &mut p, t0(), PageCallOutcome::NoAnswer), 0);
        // The pause: nobody is called before it is over.
        assert_eq!(
            l.next(&mut p, t0() + secs(50)),
            LadderAction::WaitUntil(t0() + secs(100))
        );
        assert_eq!(call(&l, &mut p, t0() + secs(100), PageCallOutcome::Busy), 0);
        // Two calls used: the next contact at once.
        assert_eq!(
            call(&l, &mut p, t0() + secs(140), PageCallOutcome::Accepted),
            1
        );
        assert_eq!(p.acknowledged.expect("ack").by, "tech1");
    }

    #[test]
    fn pressing_2_moves_to_the_next_contact_at_once() {
        let l = ladder();
        let mut p = l.start(people(2), t0());
        call(&l, &mut p, t0(), PageCallOutcome::Passed);
        assert_eq!(
            l.next(&mut p, t0() + secs(40)),
            LadderAction::Call { contact: 1 }
        );
    }

    #[test]
    fn a_contact_is_paged_no_longer_than_the_step_timeout() {
        let l = Ladder::new(LadderPolicy {
            calls_per_contact: 10,
            ..ladder().policy
        });
        let mut p = l.start(people(2), t0());
        let mut now = t0();
        let mut calls_to_first = 0;
        loop {
            match l.next(&mut p, now) {
                LadderAction::Call { contact: 0 } => {
                    calls_to_first += 1;
                    l.call_started(&mut p, 0, now);
                    now += secs(40);
                    l.call_ended(&mut p, &PageCallOutcome::NoResponse, now);
                }
                LadderAction::WaitUntil(t) => now = t,
                LadderAction::Call { contact: 1 } => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(now <= t0() + secs(300), "moved on at {now}");
        // 0, 100, 200 s: a fourth call would start past the timeout.
        assert_eq!(calls_to_first, 3);
    }

    #[test]
    fn after_every_round_nobody_took_it_and_the_ladder_says_so() {
        let l = ladder();
        let mut p = l.start(people(2), t0());
        let mut now = t0();
        let mut called = Vec::new();
        for _ in 0..100 {
            match l.next(&mut p, now) {
                LadderAction::Call { contact } => {
                    called.push(contact);
                    l.call_started(&mut p, contact, now);
                    now += secs(30);
                    l.call_ended(&mut p, &PageCallOutcome::NoAnswer, now);
                }
                LadderAction::WaitUntil(t) => now = t,
                LadderAction::Ended => break,
            }
        }
        assert_eq!(called, [0, 0, 1, 1, 0, 0, 1, 1]);
        assert_eq!(p.ended.as_deref(), Some(ENDED_EXHAUSTED));
        assert!(p.acknowledged.is_none());
        assert_eq!(p.attempts.len(), 8);
    }

    #[test]
    fn nobody_to_page_ends_at_once() {
        let l = ladder();
        let mut p = l.start(Vec::new(), t0());
        assert_eq!(l.next(&mut p, t0()), LadderAction::Ended);
        assert_eq!(p.ended.as_deref(), Some(ENDED_EXHAUSTED));
    }

    #[test]
    fn a_call_interrupted_by_a_restart_is_noted_and_placed_again() {
        let l = ladder();
        let mut p = l.start(people(2), t0());
        let LadderAction::Call { contact } = l.next(&mut p, t0()) else {
            panic!("call");
        };
        l.call_started(&mut p, contact, t0());
        // Stored here; the box restarts. What was stored comes back as it was.
        let stored = serde_json::to_string(&p).expect("json");
        let mut resumed: PageProgress = serde_json::from_str(&stored).expect("json");
        assert_eq!(
            l.next(&mut resumed, t0() + secs(20)),
            LadderAction::Call { contact: 0 },
            "the second of two calls to the first contact"
        );
        assert_eq!(resumed.attempts.len(), 1);
        assert_eq!(resumed.attempts[0].outcome, INTERRUPTED);
    }

    #[test]
    fn an_acknowledgement_from_elsewhere_ends_the_ladder() {
        let l = ladder();
        let mut p = l.start(people(2), t0());
        call(&l, &mut p, t0(), PageCallOutcome::NoAnswer);
        p.acknowledged = Some(PageAcknowledgement {
            by: "office".into(),
            at: Some(t0() + secs(45)),
            channel: "web".into(),
        });
        assert_eq!(l.next(&mut p, t0() + secs(50)), LadderAction::Ended);
        assert_eq!(p.ended.as_deref(), Some(ENDED_ACKNOWLEDGED));
    }

    #[test]
    fn contacts_are_the_on_call_technician_or_the_list_then_backup_and_owner() {
        let configured = PagingContacts {
            list: people(2),
            backup: Some(parse_contact("Bea Backup <+13125550199>", "backup").expect("ok")),
            owner: Some(parse_contact("Olga <+13125550100>", "owner").expect("ok")),
        };
        let names = |c: Vec<PageContact>| c.into_iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(
            names(contacts(None, &configured)),
            // Olga shares tech0's number: paged once.
            ["tech0", "tech1", "Bea Backup"]
        );
        let st = OnCallTech {
            name: "Mike".into(),
            phone: Some("+13125550177".into()),
            source: "servicetitan",
        };
        assert_eq!(
            names(contacts(Some(&st), &configured)),
            ["Mike", "Bea Backup", "Olga"]
        );
        let no_phone = OnCallTech { phone: None, ..st };
        assert_eq!(names(contacts(Some(&no_phone), &configured))[0], "tech0");
    }

    #[test]
    fn contacts_are_parsed_strictly() {
        let c = parse_contact(" Mike Reyes <+13125550100> ", "contact").expect("ok");
        assert_eq!(
            (c.name.as_str(), c.to.as_str()),
            ("Mike Reyes", "+13125550100")
        );
        let c = parse_contact("sip:201@192.0.2.10", "owner").expect("ok");
        assert_eq!((c.name.as_str(), c.to.as_str()), ("", "sip:201@192.0.2.10"));
        for bad in [
            "Mike 3125550100",
            "Mike <+12>",
            "Mike <+13125550100",
            "sip:@",
        ] {
            assert!(parse_contact(bad, "contact").is_err(), "{bad}");
        }
    }
}
