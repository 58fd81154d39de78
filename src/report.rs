//! One run's numbers, derived from what both roles reported. Shared by `bench` and (later) the GUI,
//! so a number on screen and one in a terminal come from the same code.

use serde::Serialize;

use crate::scenario::Pattern;
use crate::supervisor::RunOutcome;
use crate::telemetry::{LatencySummary, Role};

/// Latency percentiles in nanoseconds, as the bench JSON carries them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencyNanos {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl From<LatencySummary> for LatencyNanos {
    fn from(s: LatencySummary) -> Self {
        LatencyNanos { p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, max: s.max, mean: s.mean }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    pub mechanism: String,
    pub size: usize,
    pub pattern: String,
    pub count: u64,
    pub warmup: u64,
    /// Wake-up strategy, for shm runs.
    pub shm_wait: Option<String>,
    /// Where the workers ran: "pinned to CPUs 0" or "unpinned".
    pub placement: String,
    /// Round trip (ping-pong); `null` for stream.
    pub rtt_ns: Option<LatencyNanos>,
    /// Send-to-receive latency (stream), from CLOCK_MONOTONIC stamps of both processes.
    pub one_way_ns: Option<LatencyNanos>,
    /// Round trips per second (ping-pong) or messages per second (stream).
    pub msgs_per_sec: f64,
    /// Payload bytes moved per second, both directions counted in ping-pong.
    pub bytes_per_sec: f64,
    /// CPU seconds of the initiating process (pinger/producer) in the measured phase.
    pub cpu_parent_secs: f64,
    /// CPU seconds of the responding process (echo/consumer) in the measured phase.
    pub cpu_child_secs: f64,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub corrupted: u64,
    pub telemetry_dropped: u64,
}

impl RunReport {
    /// Builds the report, or says why the run has none (a worker died, a role never reported).
    pub fn from_outcome(outcome: &RunOutcome) -> Result<RunReport, String> {
        if let Some(why) = outcome.failure() {
            return Err(why);
        }
        let spec = &outcome.spec;
        let (Some(init), Some(resp)) = (outcome.stats.get(&Role::Initiator), outcome.stats.get(&Role::Responder))
        else {
            return Err("a role never reported its results".into());
        };
        // Loss in each direction: what the sender sent minus the distinct frames the receiver saw.
        let lost_fwd = init.sent.saturating_sub(resp.accounting.unique);
        let lost_bwd = resp.sent.saturating_sub(init.accounting.unique);
        let (latency, timing) = match spec.pattern {
            Pattern::PingPong => (init.latency, init),
            Pattern::Stream => (resp.latency, resp),
        };
        let secs = timing.measured_nanos as f64 / 1e9;
        let msgs_per_sec = if secs > 0.0 { timing.measured_messages as f64 / secs } else { 0.0 };
        let directions = if spec.pattern == Pattern::PingPong { 2.0 } else { 1.0 };
        Ok(RunReport {
            mechanism: spec.mechanism.to_string(),
            size: spec.size,
            pattern: spec.pattern.to_string(),
            count: spec.count,
            warmup: spec.warmup,
            shm_wait: (spec.mechanism == crate::mechanism::MechanismId::Shm).then(|| spec.shm_wait.to_string()),
            placement: placement(spec.pin.as_deref()),
            rtt_ns: (spec.pattern == Pattern::PingPong).then_some(latency).flatten().map(Into::into),
            one_way_ns: (spec.pattern == Pattern::Stream).then_some(latency).flatten().map(Into::into),
            msgs_per_sec,
            bytes_per_sec: msgs_per_sec * spec.size as f64 * directions,
            cpu_parent_secs: init.cpu_secs,
            cpu_child_secs: resp.cpu_secs,
            sent: init.sent + resp.sent,
            received: init.accounting.received + resp.accounting.received,
            lost: lost_fwd + lost_bwd,
            duplicated: init.accounting.duplicated + resp.accounting.duplicated,
            out_of_order: init.accounting.out_of_order + resp.accounting.out_of_order,
            corrupted: init.accounting.corrupted + resp.accounting.corrupted,
            // In the thread baseline both roles share one telemetry queue and report the same count.
            telemetry_dropped: if spec.mechanism.in_process() {
                init.telemetry_dropped.max(resp.telemetry_dropped)
            } else {
                init.telemetry_dropped + resp.telemetry_dropped
            },
        })
    }
}

/// Says where the roles ran, e.g. "both on CPU 0" or "initiator on CPU 0, responder on CPU 1".
pub fn placement(pin: Option<&[usize]>) -> String {
    use crate::telemetry::Role;
    use crate::worker::role_cpu;
    match pin.map(|cpus| (role_cpu(cpus, Role::Initiator), role_cpu(cpus, Role::Responder))) {
        Some((Some(a), Some(b))) if a == b => format!("both on CPU {a}"),
        Some((Some(a), Some(b))) => format!("initiator on CPU {a}, responder on CPU {b}"),
        _ => "unpinned".into(),
    }
}
