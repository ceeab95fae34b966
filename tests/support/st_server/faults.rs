//! Faults a test injects at run time, and the gateway's rate limit.
//!
//! A [`FaultPlan`] is a list of rules. Each rule names the operations it applies to (by the
//! OpenAPI `operationId`, e.g. `"Jobs_Create"`, or any API call), when it fires among the
//! requests it matches (the first N, the Nth, every Nth, with a probability, always), and what
//! happens. The first rule that fires wins; every rule counts its own matches.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What happens to a request a rule fires on.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// 429 with `Retry-After: N` and Azure APIM's body
    /// `{"statusCode":429,"message":"Rate limit is exceeded. Try again in N seconds."}`.
    RateLimited { retry_after_secs: u64 },
    /// 500 (an `ApiErrorResponse`), or 502/503/504 from the gateway. Nothing is written.
    ServerError(u16),
    /// The operation runs (a write commits), then the answer waits this long.
    Slow(Duration),
    /// THE nasty case: the operation runs and commits, then the answer never arrives.
    CommitThenDrop(DropMode),
    /// The connection fails before the operation runs: nothing is written.
    DropBeforeCommit(DropMode),
    /// Every issued token is revoked before this request is checked, so it gets 401.
    RevokeToken,
    /// 403, as the gateway answers a token without the operation's scope.
    Forbidden,
    /// 404 `ApiErrorResponse`.
    NotFound,
    /// 409 `ApiErrorResponse`.
    Conflict,
}

/// How an answer goes missing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DropMode {
    /// The connection is closed without a response (the client sees a reset / early EOF).
    Close,
    /// The connection stays open and silent for the server's `hang_for`, then closes: the
    /// client's own timeout has to fire.
    Hang,
}

/// Which requests a rule looks at.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Every API call (not the token endpoint).
    AnyApi,
    /// These operations, by OpenAPI `operationId`.
    Operations(Vec<String>),
    /// The token endpoint (`POST /connect/token`); only the status faults apply there.
    Token,
}

/// When a rule fires, counting the requests it matches from 1.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    Always,
    /// Matches 1..=n.
    FirstN(u32),
    /// These match numbers.
    Nth(Vec<u32>),
    /// Matches k, 2k, 3k…
    Every(u32),
    /// Each match with probability p (the plan's seeded RNG: runs are repeatable).
    Probability(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    pub target: Target,
    pub when: When,
    pub fault: Fault,
    matched: u32,
    fired: u32,
}

impl FaultRule {
    /// A rule for every API call; narrow it with [`FaultRule::on`].
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            target: Target::AnyApi,
            when: When::Always,
            fault,
            matched: 0,
            fired: 0,
        }
    }

    /// Only these operations (OpenAPI `operationId`s such as `"Jobs_Create"`).
    pub fn on(mut self, operation_ids: &[&str]) -> Self {
        self.target = Target::Operations(operation_ids.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Only the token endpoint.
    pub fn on_token(mut self) -> Self {
        self.target = Target::Token;
        self
    }

    pub fn first(mut self, n: u32) -> Self {
        self.when = When::FirstN(n);
        self
    }

    pub fn nth(mut self, ns: &[u32]) -> Self {
        self.when = When::Nth(ns.to_vec());
        self
    }

    pub fn every(mut self, k: u32) -> Self {
        self.when = When::Every(k.max(1));
        self
    }

    pub fn probability(mut self, p: f64) -> Self {
        self.when = When::Probability(p);
        self
    }

    pub fn always(mut self) -> Self {
        self.when = When::Always;
        self
    }

    /// How many times this rule has fired.
    pub fn fired(&self) -> u32 {
        self.fired
    }

    fn targets(&self, operation_id: Option<&str>, token: bool) -> bool {
        match &self.target {
            Target::AnyApi => !token,
            Target::Token => token,
            Target::Operations(ops) => {
                !token && operation_id.is_some_and(|op| ops.iter().any(|o| o == op))
            }
        }
    }
}

/// The faults in force. `FaultPlan::default()` injects nothing.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
    rng: StdRng,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan::seeded(0x5EED)
    }
}

impl PartialEq for FaultPlan {
    fn eq(&self, other: &Self) -> bool {
        self.rules == other.rules
    }
}

impl FaultPlan {
    pub fn none() -> Self {
        FaultPlan::default()
    }

    /// A plan whose probabilistic rules draw from this seed.
    pub fn seeded(seed: u64) -> Self {
        FaultPlan {
            rules: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn with(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Counts this request against every rule that targets it; the first that fires wins.
    pub fn pick(&mut self, operation_id: Option<&str>, token: bool) -> Option<Fault> {
        let mut chosen = None;
        for rule in &mut self.rules {
            if !rule.targets(operation_id, token) {
                continue;
            }
            rule.matched += 1;
            let n = rule.matched;
            let fires = match &rule.when {
                When::Always => true,
                When::FirstN(k) => n <= *k,
                When::Nth(ns) => ns.contains(&n),
                When::Every(k) => n % k == 0,
                When::Probability(p) => self.rng.gen_bool(p.clamp(0.0, 1.0)),
            };
            if fires && chosen.is_none() {
                rule.fired += 1;
                chosen = Some(rule.fault.clone());
            }
        }
        chosen
    }
}

/// "60 calls per second per application per tenant" (servicetitan-api.md §6.1), as a sliding
/// one-second window over the calls it let through. Rejected calls do not use up the window.
#[derive(Debug)]
pub struct RateLimiter {
    pub limit: usize,
    window: VecDeque<Instant>,
}

impl RateLimiter {
    pub fn new(limit: usize) -> Self {
        RateLimiter {
            limit,
            window: VecDeque::new(),
        }
    }

    /// `Ok` and counts the call, or `Err(retry_after_secs)`.
    pub fn admit(&mut self, now: Instant) -> Result<(), u64> {
        let second = Duration::from_secs(1);
        while self
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= second)
        {
            self.window.pop_front();
        }
        if self.limit > 0 && self.window.len() >= self.limit {
            let oldest = *self.window.front().expect("window is full");
            let wait = second.saturating_sub(now.duration_since(oldest));
            // Whole seconds, at least 1, as the APIM policy reports.
            return Err(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        self.window.push_back(now);
        Ok(())
    }
}

/// The largest number of `arrivals` inside any one-second window `[t, t + 1 s)`.
pub fn max_in_any_window(arrivals: &[Instant], window: Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..sorted.len() {
        while sorted[hi].duration_since(sorted[lo]) >= window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}
