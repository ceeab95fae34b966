//! How much recogniser state the box keeps: the warm pool's size and when a recogniser is
//! recreated rather than reused. Pure functions; the caller reads `/proc/meminfo` and hands
//! its text in.
//!
//! **Why recognisers are recycled.** With a lookahead graph (`HCLr.fst` + `Gr.fst`, every
//! small Vosk model) each libvosk recogniser composes the graph lazily into caches of its
//! own. The caches grow with the audio decoded (measured with the Korean test model: +136 MiB
//! after one 60 s call, +146 MiB after three) and `vosk_recognizer_reset` does not free them;
//! only freeing the recogniser does (and glibc keeps the freed pages until `malloc_trim`,
//! which the pool calls). A fresh recogniser grows fast: +50 MiB after 5 s of speech, +68 MiB
//! after 10 s, +101 MiB after 20 s, ~137 MiB from 55 s on (its caches are size-limited inside
//! libvosk; nothing in the C API sets the limit). So an open recogniser that has decoded more than
//! [`PoolPolicy::recycle_after_ms`] of audio is freed at the end of its turn instead of going
//! back to the pool, and the pool itself is sized to the memory the board has
//! ([`warm_pool_size`]). The figures are in benches/README.md ("Memory per call").

/// The part of `/proc/meminfo` the sizing needs, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    pub total_kib: u64,
    /// `MemAvailable`: what can be allocated without swapping (page cache counted as free).
    pub available_kib: u64,
}

/// Reads `MemTotal` and `MemAvailable` from the text of `/proc/meminfo`; `None` when either
/// is missing or unreadable (kernels before 3.14 have no `MemAvailable`).
pub fn parse_meminfo(text: &str) -> Option<MemInfo> {
    Some(MemInfo {
        total_kib: kib_field(text, "MemTotal")?,
        available_kib: kib_field(text, "MemAvailable")?,
    })
}

/// The value of a `Name:   1234 kB` line of a `/proc` text (`meminfo`, `<pid>/status`), in
/// KiB; `None` when the line is missing or in another unit.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value = parts.next()?.parse::<u64>().ok()?;
        match parts.next() {
            Some("kB") | None => Some(value),
            Some(_) => None,
        }
    })
}

/// What one warm open recogniser is assumed to hold, in KiB: its graph caches after
/// [`DEFAULT_RECYCLE_AFTER_MS`] of audio plus one more turn, with the small models (68 MiB
/// after 10 s, 101 MiB after 20 s; see the module's doc).
pub const WARM_RECOGNIZER_KIB: u64 = 80 * 1024;

/// Default of `speech.recycle_recognizer_after_s`, in milliseconds: a new open recogniser
/// every turn. Reusing one for 10 s of audio cost 54 MiB per call (four 30 s calls), a new
/// one per turn 36 MiB with `speech.max_active = 1000` (benches/README.md, "Memory per call"):
/// only the per-turn recogniser meets issue 18's 40 MiB, at the price of composing its graph
/// cache anew each turn (more CPU per open turn; the same bench measures it).
pub const DEFAULT_RECYCLE_AFTER_MS: u64 = 0;

/// Most warm recognisers ever kept, whatever the setting: the box takes a few calls at once.
pub const MAX_WARM_RECOGNIZERS: usize = 8;

/// The inputs of [`warm_pool_size`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizing {
    /// `speech.warm_recognizers`: the most the shop wants kept.
    pub configured: usize,
    /// What one warm recogniser costs ([`WARM_RECOGNIZER_KIB`]).
    pub per_recognizer_kib: u64,
    /// Memory that must stay available for the calls themselves (recognisers in use, audio
    /// buffers, the queue, the web page), in KiB.
    pub reserve_kib: u64,
}

impl PoolSizing {
    /// The sizing for a box taking up to `max_calls` calls at once: each call in progress may
    /// need a recogniser of its own on top of the pool, so that much stays free, plus a
    /// quarter of the board's memory for everything else.
    pub fn for_calls(configured: usize, max_calls: usize, mem: Option<MemInfo>) -> PoolSizing {
        let quarter = mem.map(|m| m.total_kib / 4).unwrap_or(0);
        PoolSizing {
            configured,
            per_recognizer_kib: WARM_RECOGNIZER_KIB,
            reserve_kib: quarter
                .saturating_add(WARM_RECOGNIZER_KIB.saturating_mul(max_calls as u64)),
        }
    }
}

/// How many warm open recognisers to keep, given the memory available now (after the model
/// is loaded). Never more than configured nor [`MAX_WARM_RECOGNIZERS`]; without a reading of
/// `/proc/meminfo` (not Linux) the configured number stands.
pub fn warm_pool_size(sizing: PoolSizing, mem: Option<MemInfo>) -> usize {
    let wanted = sizing.configured.min(MAX_WARM_RECOGNIZERS);
    let Some(mem) = mem else {
        return wanted;
    };
    let spare = mem.available_kib.saturating_sub(sizing.reserve_kib);
    let affordable = spare
        .checked_div(sizing.per_recognizer_kib)
        .unwrap_or(u64::MAX);
    wanted.min(usize::try_from(affordable).unwrap_or(usize::MAX))
}

/// What the model's pool keeps and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolPolicy {
    /// Idle open recognisers kept for reuse.
    pub max_idle: usize,
    /// An open recogniser that has decoded this much audio (ms, over its whole life) is freed
    /// at the end of its turn rather than reused; 0 frees every one (a new one per turn).
    pub recycle_after_ms: u64,
}

impl Default for PoolPolicy {
    fn default() -> Self {
        PoolPolicy {
            max_idle: 4,
            recycle_after_ms: DEFAULT_RECYCLE_AFTER_MS,
        }
    }
}

impl PoolPolicy {
    /// Whether a recogniser that has decoded `lifetime_ms` of audio goes back to a pool that
    /// holds `idle` recognisers.
    pub fn keeps(&self, lifetime_ms: u64, idle: usize) -> bool {
        idle < self.max_idle && lifetime_ms < self.recycle_after_ms
    }
}

/// Default of `speech.call_memory_mib`: what one call with speech takes at its largest, a
/// caller 15 s into one answer (the longest turn, `speech.max_utterance_ms`) with the small
/// models and `speech.max_active = 1000`: the turn's recogniser ~70 MiB plus ~4 MiB for the
/// call itself (benches/README.md, "Long answers"), rounded up.
pub const DEFAULT_CALL_MEMORY_MIB: u32 = 80;

/// The memory the process has room for, in KiB, as it reads it (once the models are loaded,
/// and again at each call). Each reading is `None` when it could not be taken (not Linux, no
/// cgroup v2, no limit set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryRoom {
    /// `MemAvailable` from `/proc/meminfo`: the whole board's.
    pub available_kib: Option<u64>,
    /// The tightest `memory.high` or `memory.max` of the process's cgroup and its parents
    /// (the systemd unit's `MemoryHigh=`/`MemoryMax=`).
    pub cgroup_limit_kib: Option<u64>,
    /// The process's resident memory (`VmRSS`), the models included.
    pub rss_kib: Option<u64>,
}

impl MemoryRoom {
    /// What more the process can take: the board's available memory, or what its cgroup's
    /// limit leaves above its resident memory, whichever is less. `None` when neither is known.
    pub fn headroom_kib(&self) -> Option<u64> {
        let under_limit = self
            .cgroup_limit_kib
            .map(|limit| limit.saturating_sub(self.rss_kib.unwrap_or(0)));
        match (self.available_kib, under_limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// How many calls at once may have speech: as many as the room holds at `per_call_kib` each,
/// at least one (the model was loaded for calls), at most `max_calls`. Without a reading, or
/// with `per_call_kib` 0 (`speech.call_memory_mib = 0`: no limit), every line has speech.
pub fn spoken_call_limit(room: &MemoryRoom, per_call_kib: u64, max_calls: usize) -> usize {
    let Some(headroom) = room.headroom_kib() else {
        return max_calls;
    };
    let Some(fit) = headroom.checked_div(per_call_kib) else {
        return max_calls;
    };
    usize::try_from(fit)
        .unwrap_or(usize::MAX)
        .clamp(1, max_calls.max(1))
}

/// The process's cgroup (v2) path from the text of `/proc/self/cgroup` (its `0::` line), e.g.
/// `/system.slice/callbox.service`; `None` on cgroup v1 or when the line is missing.
pub fn parse_cgroup_path(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::trim)
        .filter(|path| path.starts_with('/'))
}

/// A cgroup memory limit file's text (`memory.high`, `memory.max`) in KiB; `None` for `max`
/// (no limit) or anything unreadable.
pub fn parse_memory_limit(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok().map(|bytes| bytes / 1024)
}

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
pub fn parse_vm_rss(text: &str) -> Option<u64> {
    kib_field(text, "VmRSS")
}

/// The room for calls now, from a reading taken now and the one taken at start-up: the
/// process's own growth since start-up is its calls' (each counted as it was admitted) or
/// heap it can reuse, so it is given back; what others took since (another program, a
/// smaller `MemoryHigh=` set while running) is not. Under a unit limit the room is then the
/// limit less the resident size at start-up; on the board alone, what is available now plus
/// that growth.
pub fn room_for_calls(at_start: &MemoryRoom, now: &MemoryRoom) -> MemoryRoom {
    let (rss_kib, growth) = match (at_start.rss_kib, now.rss_kib) {
        (Some(then), Some(now)) => (Some(then.min(now)), now.saturating_sub(then)),
        (then, now) => (now.or(then), 0),
    };
    MemoryRoom {
        available_kib: now.available_kib.map(|a| a.saturating_add(growth)),
        cgroup_limit_kib: now.cgroup_limit_kib,
        rss_kib,
    }
}

/// Reads the process's memory room now (`app::speech_pool` reads `/proc` and the cgroup
/// tree; tests hand in their own).
pub type ReadRoom = std::sync::Arc<dyn Fn() -> MemoryRoom + Send + Sync>;

/// The calls in progress that have speech, against the limit the memory sets
/// ([`spoken_call_limit`]). A call over it is answered keypad-only rather than let the box
/// run out of memory (or be throttled past the unit's `MemoryHigh`) in the middle of
/// everyone's answers. The limit follows the memory: it is worked out again at each call
/// ([`room_for_calls`]). Cheap to clone: every clone counts the same calls.
#[derive(Clone)]
pub struct SpokenCalls {
    limit: Limit,
    live: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Clone)]
enum Limit {
    Fixed(usize),
    Memory {
        at_start: MemoryRoom,
        per_call_kib: u64,
        lines: usize,
        read: ReadRoom,
    },
}

impl std::fmt::Debug for SpokenCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("SpokenCalls");
        match &self.limit {
            Limit::Fixed(limit) => out.field("limit", limit),
            Limit::Memory {
                at_start,
                per_call_kib,
                lines,
                ..
            } => out
                .field("at_start", at_start)
                .field("per_call_kib", per_call_kib)
                .field("lines", lines),
        };
        out.field("in_progress", &self.in_progress()).finish()
    }
}

/// Why a call has no speech: the calls with it already take the limit the memory sets now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoomForSpeech {
    pub in_progress: usize,
    pub limit: usize,
}

/// One call's right to speech, given back when it is dropped (the call ended).
#[derive(Debug)]
pub struct SpokenCall {
    live: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SpokenCalls {
    /// At most `limit` calls with speech at once.
    pub fn new(limit: usize) -> SpokenCalls {
        SpokenCalls {
            limit: Limit::Fixed(limit),
            live: Default::default(),
        }
    }

    /// As many calls with speech as the memory holds at `per_call_kib` each, on `lines`
    /// lines: `at_start` is the reading once the models are loaded, `read` takes one now.
    pub fn following_memory(
        at_start: MemoryRoom,
        per_call_kib: u64,
        lines: usize,
        read: ReadRoom,
    ) -> SpokenCalls {
        SpokenCalls {
            limit: Limit::Memory {
                at_start,
                per_call_kib,
                lines,
                read,
            },
            live: Default::default(),
        }
    }

    /// No limit but the lines themselves.
    pub fn unlimited() -> SpokenCalls {
        SpokenCalls::new(usize::MAX)
    }

    /// How many calls may have speech at once, now.
    pub fn limit(&self) -> usize {
        match &self.limit {
            Limit::Fixed(limit) => *limit,
            Limit::Memory {
                at_start,
                per_call_kib,
                lines,
                read,
            } => spoken_call_limit(&room_for_calls(at_start, &read()), *per_call_kib, *lines),
        }
    }

    /// Speech for one more call, or why not: the calls in progress already take the limit
    /// (worked out once, here).
    pub fn try_admit(&self) -> Result<SpokenCall, NoRoomForSpeech> {
        use std::sync::atomic::Ordering;
        let limit = self.limit();
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .map(|_| SpokenCall {
                live: self.live.clone(),
            })
            .map_err(|in_progress| NoRoomForSpeech { in_progress, limit })
    }

    /// Calls with speech now.
    pub fn in_progress(&self) -> usize {
        self.live.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for SpokenCall {
    fn drop(&mut self) {
        self.live.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024;

    fn room(
        available_mib: Option<u64>,
        limit_mib: Option<u64>,
        rss_mib: Option<u64>,
    ) -> MemoryRoom {
        MemoryRoom {
            available_kib: available_mib.map(|m| m * MIB),
            cgroup_limit_kib: limit_mib.map(|m| m * MIB),
            rss_kib: rss_mib.map(|m| m * MIB),
        }
    }

    #[test]
    fn spoken_calls_are_what_the_tighter_of_board_and_unit_holds() {
        let per_call = u64::from(DEFAULT_CALL_MEMORY_MIB) * MIB;
        // A 1 GiB board under the unit's MemoryHigh=800M, the model loaded (540 MiB
        // resident): 260 MiB left under the limit, three calls' worth; the board itself
        // would hold four.
        assert_eq!(
            spoken_call_limit(&room(Some(330), Some(800), Some(540)), per_call, 4),
            3
        );
        // No unit limit: the board's available memory alone.
        assert_eq!(
            spoken_call_limit(&room(Some(330), None, Some(540)), per_call, 4),
            4
        );
        assert_eq!(
            spoken_call_limit(&room(Some(200), None, None), per_call, 4),
            2
        );
        // A drop-in raising the limit on a 2 GiB board: every line.
        assert_eq!(
            spoken_call_limit(&room(Some(1300), Some(1400), Some(540)), per_call, 4),
            4
        );
        // Never more than the lines, never fewer than one.
        assert_eq!(
            spoken_call_limit(&room(Some(20_000), None, None), per_call, 2),
            2
        );
        assert_eq!(
            spoken_call_limit(&room(Some(30), Some(560), Some(540)), per_call, 4),
            1
        );
        assert_eq!(
            spoken_call_limit(&room(Some(0), Some(100), Some(540)), per_call, 4),
            1
        );
        // No reading, or no limit asked for: every line.
        assert_eq!(spoken_call_limit(&MemoryRoom::default(), per_call, 4), 4);
        assert_eq!(spoken_call_limit(&room(Some(100), None, None), 0, 3), 3);
    }

    #[test]
    fn cgroup_and_status_texts_are_read() {
        assert_eq!(
            parse_cgroup_path("0::/system.slice/callbox.service\n"),
            Some("/system.slice/callbox.service")
        );
        assert_eq!(
            parse_cgroup_path("12:memory:/x\n1:name=systemd:/y\n"),
            None,
            "cgroup v1 has no 0:: line"
        );
        assert_eq!(parse_cgroup_path("0::/\n"), Some("/"));
        assert_eq!(parse_memory_limit("838860800\n"), Some(800 * MIB));
        assert_eq!(parse_memory_limit("max\n"), None);
        assert_eq!(parse_memory_limit(""), None);
        let status = "Name:\tcallbox\nVmPeak:\t  900000 kB\nVmRSS:\t  552960 kB\nThreads: 9\n";
        assert_eq!(parse_vm_rss(status), Some(540 * MIB));
        assert_eq!(parse_vm_rss("VmRSS: 12 MB\n"), None);
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn a_call_over_the_limit_gets_no_speech_until_one_ends() {
        let calls = SpokenCalls::new(2);
        let first = calls.try_admit().expect("first call");
        let second = calls
            .clone()
            .try_admit()
            .expect("second call, through a clone");
        assert!(calls.try_admit().is_err(), "a third call is over the limit");
        assert_eq!(calls.in_progress(), 2);
        drop(first);
        let third = calls.try_admit().expect("room again once a call ended");
        assert_eq!(calls.in_progress(), 2);
        drop((second, third));
        assert_eq!(calls.in_progress(), 0);
        assert!(SpokenCalls::unlimited().try_admit().is_ok());
    }

    /// The limit worked out again at each call: the process's own calls growing do not lower
    /// it (they are counted already), another program taking the board's memory or a smaller
    /// `MemoryHigh=` set while running does, and memory given back raises it again.
    #[test]
    fn the_limit_follows_what_others_take_of_the_memory() {
        let per_call = u64::from(DEFAULT_CALL_MEMORY_MIB) * MIB;
        let now = std::sync::Arc::new(std::sync::Mutex::new(room(Some(330), None, Some(540))));
        let reading = now.clone();
        let read: ReadRoom = std::sync::Arc::new(move || *reading.lock().expect("room"));
        let set = |available: u64, limit: Option<u64>, rss: u64| {
            *now.lock().expect("room") = room(Some(available), limit, Some(rss))
        };
        let calls =
            SpokenCalls::following_memory(room(Some(330), None, Some(540)), per_call, 4, read);
        assert_eq!(calls.limit(), 4);
        // Two calls deep in their answers: 140 MiB more resident, 140 MiB less available.
        let first = calls.try_admit().expect("first call");
        let second = calls.try_admit().expect("second call");
        set(190, None, 680);
        assert_eq!(calls.limit(), 4, "the box's own calls are counted already");
        // Another program takes 150 MiB of the board: room for 2 calls, both in progress.
        set(40, None, 680);
        assert_eq!(calls.limit(), 2);
        assert_eq!(
            calls.try_admit().err(),
            Some(NoRoomForSpeech {
                in_progress: 2,
                limit: 2
            }),
            "a third call is keypad-only"
        );
        // It exits; the two calls end and glibc gives their memory back.
        drop((first, second));
        set(330, None, 540);
        let third = calls.try_admit().expect("room again");
        // A MemoryHigh=700M set while the box runs: 160 MiB under it, two calls.
        set(330, Some(700), 560);
        assert_eq!(calls.limit(), 2);
        let fourth = calls.try_admit().expect("second of two");
        assert!(calls.try_admit().is_err());
        // Resident size below start-up (trimmed): the room under the limit is larger.
        set(330, Some(700), 460);
        assert_eq!(calls.limit(), 3);
        drop((third, fourth));
        // `call_memory_mib = 0`: no limit but the lines.
        let no_reading: ReadRoom = std::sync::Arc::new(MemoryRoom::default);
        assert_eq!(
            SpokenCalls::following_memory(MemoryRoom::default(), 0, 4, no_reading).limit(),
            4
        );
    }

    #[test]
    fn meminfo_fields_are_read_in_kib() {
        let text = "MemTotal:        3884584 kB\nMemFree:          154932 kB\n\
                    MemAvailable:    2117200 kB\nBuffers:           93500 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Some(MemInfo {
                total_kib: 3_884_584,
                available_kib: 2_117_200
            })
        );
    }

    #[test]
    fn meminfo_without_available_or_with_odd_units_is_unknown() {
        assert_eq!(parse_meminfo("MemTotal: 1000 kB\nMemFree: 10 kB\n"), None);
        assert_eq!(
            parse_meminfo("MemTotal: 1000 kB\nMemAvailable: 10 MB\n"),
            None
        );
        assert_eq!(parse_meminfo("MemTotal: x kB\nMemAvailable: 10 kB\n"), None);
        assert_eq!(parse_meminfo(""), None);
        // A prefix of another field's name is not the field.
        assert_eq!(
            parse_meminfo("MemTotalX: 5 kB\nMemTotal: 7 kB\nMemAvailable: 3 kB"),
            Some(MemInfo {
                total_kib: 7,
                available_kib: 3
            })
        );
    }

    fn mem(total_mib: u64, available_mib: u64) -> Option<MemInfo> {
        Some(MemInfo {
            total_kib: total_mib * MIB,
            available_kib: available_mib * MIB,
        })
    }

    #[test]
    fn a_big_machine_gets_what_is_configured() {
        let m = mem(24 * 1024, 20 * 1024);
        assert_eq!(warm_pool_size(PoolSizing::for_calls(2, 4, m), m), 2);
        assert_eq!(warm_pool_size(PoolSizing::for_calls(4, 4, m), m), 4);
        // Never past the hard limit.
        assert_eq!(warm_pool_size(PoolSizing::for_calls(50, 4, m), m), 8);
    }

    #[test]
    fn a_one_gib_board_after_the_model_keeps_fewer() {
        // 1 GiB board, the model loaded (~520 MiB), 500 MiB available: a quarter (256 MiB)
        // plus four calls' recognisers (4 × 80 MiB) must stay free, so no warm recogniser.
        let m = mem(1024, 500);
        assert_eq!(warm_pool_size(PoolSizing::for_calls(2, 4, m), m), 0);
        // With two calls at most: 500 - 256 - 160 = 84 MiB, one recogniser.
        assert_eq!(warm_pool_size(PoolSizing::for_calls(2, 2, m), m), 1);
    }

    #[test]
    fn a_two_gib_board_keeps_some() {
        // 2 GiB, 1400 MiB available: 1400 - 512 - 320 = 568 MiB → 7 affordable, 2 wanted.
        let m = mem(2048, 1400);
        assert_eq!(warm_pool_size(PoolSizing::for_calls(2, 4, m), m), 2);
        // 1000 MiB available: 1000 - 832 = 168 MiB → 2; 920 → 88 MiB → 1 (rounded down).
        let m = mem(2048, 1000);
        assert_eq!(warm_pool_size(PoolSizing::for_calls(4, 4, m), m), 2);
        let m = mem(2048, 920);
        assert_eq!(warm_pool_size(PoolSizing::for_calls(4, 4, m), m), 1);
        let m = mem(2048, 900);
        assert_eq!(warm_pool_size(PoolSizing::for_calls(4, 4, m), m), 0);
    }

    #[test]
    fn no_reading_keeps_the_setting_and_zero_is_zero() {
        assert_eq!(warm_pool_size(PoolSizing::for_calls(3, 4, None), None), 3);
        let m = mem(24 * 1024, 20 * 1024);
        assert_eq!(warm_pool_size(PoolSizing::for_calls(0, 4, m), m), 0);
        // A recogniser costing nothing cannot divide by zero.
        let free = PoolSizing {
            configured: 5,
            per_recognizer_kib: 0,
            reserve_kib: 0,
        };
        assert_eq!(warm_pool_size(free, m), 5);
    }

    #[test]
    fn the_pool_keeps_young_recognisers_while_there_is_room() {
        let policy = PoolPolicy {
            max_idle: 2,
            recycle_after_ms: 20_000,
        };
        assert!(policy.keeps(0, 0));
        assert!(policy.keeps(19_999, 1));
        assert!(!policy.keeps(20_000, 0), "old enough to be recycled");
        assert!(!policy.keeps(5_000, 2), "pool full");
        let every_turn = PoolPolicy {
            max_idle: 4,
            recycle_after_ms: 0,
        };
        assert!(!every_turn.keeps(0, 0));
    }
}
