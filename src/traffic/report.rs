//! One run's numbers, derived from what both roles reported. Shared by `bench` and (later) the GUI,
//! so a number on screen and one in a terminal come from the same code.

use serde::Serialize;

use crate::faults::FaultCounts;
use crate::supervisor::RunOutcome;
use crate::telemetry::{Accounting, LatencySummary, LinkStats, Role, RoleStats};
use crate::traffic::spec::Pattern;
use crate::traffic::spec::{Program, Topology};

/// Latency percentiles in nanoseconds, as the bench JSON carries them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
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
    /// The distribution of `rtt_ns` or `one_way_ns` (whichever the run has): `[nanoseconds,
    /// fraction of the messages at or below it]` pairs, a point per percent and four in the tail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_cdf: Vec<(u64, f64)>,
    /// Round trips per second (ping-pong) or messages per second (stream).
    pub msgs_per_sec: f64,
    /// Payload bytes moved per second, both directions counted in ping-pong.
    pub bytes_per_sec: f64,
    /// CPU seconds of the initiating process (pinger/producer) in the measured phase.
    pub cpu_parent_secs: f64,
    /// CPU seconds of the other processes (echo, consumer, relays...) in the measured phase.
    pub cpu_child_secs: f64,
    /// CPU seconds of each node, in node order.
    pub cpu_secs_per_node: Vec<f64>,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub corrupted: u64,
    pub telemetry_dropped: u64,
    /// The fault rules of the run, as `--inject` takes them ("none" without).
    pub faults: String,
    /// Faults the producers injected on purpose, all links together; `lost`, `duplicated`,
    /// `out_of_order` and `corrupted` are what the receivers detected.
    pub injected: FaultCounts,
    /// The same numbers per link and direction.
    pub links: Vec<LinkReport>,
    /// The run reported every message as the live stage does (to measure the observer effect).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub live_telemetry: bool,
}

/// One direction of one link: what its sender sent and injected, what its receiver detected.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct LinkReport {
    pub link: u16,
    /// Node names, e.g. "producer" → "relay 1".
    pub from: String,
    pub to: String,
    pub sent: u64,
    pub received: u64,
    pub unique: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub corrupted: u64,
    pub injected: FaultCounts,
}

impl RunReport {
    /// Builds the report, or says why the run has none (a worker died, a role never reported).
    pub fn from_outcome(outcome: &RunOutcome) -> Result<RunReport, String> {
        if let Some(why) = outcome.failure() {
            return Err(why);
        }
        let spec = &outcome.spec;
        let topology = spec.topology();
        let mut nodes = Vec::with_capacity(topology.programs.len());
        for i in 0..topology.programs.len() {
            let role = Role(i as u16);
            let stats = outcome
                .stats
                .get(&role)
                .ok_or_else(|| format!("{} never reported its results", topology.node_name(role)))?;
            nodes.push(stats);
        }
        // Each link and direction: what one end sent against what the other end saw. A link an end
        // does not report is an error, not zero loss.
        let on_link = |role: Role, link: u16| -> Result<LinkStats, String> {
            nodes[role.index()].links.iter().find(|l| l.link == link).copied().ok_or_else(|| {
                format!("{} did not report link {link}: its accounting is missing", topology.node_name(role))
            })
        };
        let mut links = Vec::new();
        for l in &topology.links {
            let (up, down) = (on_link(l.up, l.link)?, on_link(l.down, l.link)?);
            let mut directions = vec![(l.up, up, l.down, down)];
            if spec.pattern == Pattern::PingPong {
                directions.push((l.down, down, l.up, up));
            }
            for (from, tx, to, rx) in directions {
                let a = rx.accounting;
                links.push(LinkReport {
                    link: l.link,
                    from: topology.node_name(from),
                    to: topology.node_name(to),
                    sent: tx.sent,
                    received: a.received,
                    unique: a.unique,
                    lost: tx.sent.saturating_sub(a.unique),
                    duplicated: a.duplicated,
                    out_of_order: a.out_of_order,
                    corrupted: a.corrupted,
                    injected: tx.injected,
                });
            }
        }
        let lost = links.iter().map(|l| l.lost).sum();
        let mut injected = FaultCounts::default();
        links.iter().for_each(|l| injected.add(&l.injected));
        let consumers: Vec<&RoleStats> =
            topology.programs.iter().zip(&nodes).filter(|(p, _)| **p == Program::Consumer).map(|(_, s)| *s).collect();
        let (timed, msgs_per_sec) = if spec.pattern == Pattern::PingPong {
            let secs = nodes[0].measured_nanos as f64 / 1e9;
            (Some(nodes[0]), if secs > 0.0 { nodes[0].measured_messages as f64 / secs } else { 0.0 })
        } else {
            // The slowest consumer's latency; the messages all consumers took per second.
            let slowest = consumers.iter().filter(|c| c.latency.is_some()).max_by_key(|c| c.latency.map(|l| l.p99));
            let secs = consumers.iter().map(|c| c.measured_nanos).max().unwrap_or(0) as f64 / 1e9;
            let msgs: u64 = consumers.iter().map(|c| c.measured_messages).sum();
            (slowest.copied(), if secs > 0.0 { msgs as f64 / secs } else { 0.0 })
        };
        let latency = timed.and_then(|n| n.latency);
        let directions = if spec.pattern == Pattern::PingPong { 2.0 } else { 1.0 };
        let accounting = Accounting::sum(nodes.iter().map(|n| &n.accounting));
        let dropped = nodes.iter().map(|n| n.telemetry_dropped);
        Ok(RunReport {
            mechanism: spec.mechanism.to_string(),
            size: spec.size,
            pattern: spec.pattern.to_string(),
            count: spec.count,
            warmup: spec.warmup,
            shm_wait: (spec.mechanism == crate::mechanism::MechanismId::Shm).then(|| spec.shm_wait.to_string()),
            placement: placement_text(&topology, spec.pin.as_deref()),
            rtt_ns: (spec.pattern == Pattern::PingPong).then_some(latency).flatten().map(Into::into),
            one_way_ns: (spec.pattern != Pattern::PingPong).then_some(latency).flatten().map(Into::into),
            latency_cdf: timed.map(|n| n.latency_cdf.clone()).unwrap_or_default(),
            msgs_per_sec,
            bytes_per_sec: msgs_per_sec * spec.size as f64 * directions,
            cpu_parent_secs: nodes[0].cpu_secs,
            cpu_child_secs: nodes[1..].iter().map(|n| n.cpu_secs).sum(),
            cpu_secs_per_node: nodes.iter().map(|n| n.cpu_secs).collect(),
            sent: nodes.iter().map(|n| n.sent).sum(),
            received: accounting.received,
            lost,
            duplicated: accounting.duplicated,
            out_of_order: accounting.out_of_order,
            corrupted: accounting.corrupted,
            // In the thread baseline all nodes share one telemetry queue and report the same count.
            telemetry_dropped: if spec.mechanism.in_process() { dropped.max().unwrap_or(0) } else { dropped.sum() },
            faults: spec.faults.to_string(),
            injected,
            links,
            live_telemetry: false,
        })
    }
}

/// Where a run's nodes are placed, for people: "unpinned", "both on CPU 0", "pinger on CPU 0,
/// echo on CPU 1", "producer, relay 2 on CPU 0 · relay 1, consumer on CPU 1".
pub fn placement_text(topology: &Topology, pin: Option<&[usize]>) -> String {
    let Some(cpus) = pin.filter(|c| !c.is_empty()) else { return "unpinned".into() };
    let n = topology.programs.len();
    let mut groups: Vec<(usize, Vec<String>)> = Vec::new();
    for i in 0..n {
        let role = Role(i as u16);
        let Some(cpu) = crate::traffic::worker::role_cpu(cpus, role) else { continue };
        match groups.iter_mut().find(|(c, _)| *c == cpu) {
            Some((_, names)) => names.push(topology.node_name(role)),
            None => groups.push((cpu, vec![topology.node_name(role)])),
        }
    }
    match &groups[..] {
        [(cpu, _)] if n == 2 => format!("both on CPU {cpu}"),
        [(cpu, _)] => format!("all on CPU {cpu}"),
        _ if n == 2 => {
            groups.iter().map(|(c, names)| format!("{} on CPU {c}", names.join(", "))).collect::<Vec<_>>().join(", ")
        }
        _ => groups.iter().map(|(c, names)| format!("{} on CPU {c}", names.join(", "))).collect::<Vec<_>>().join(" · "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::{ExitKind, WorkerExit};
    use crate::telemetry::LinkStats;
    use crate::traffic::spec::RunSpec;

    fn acc(received: u64, unique: u64) -> Accounting {
        Accounting { received, unique, duplicated: received - unique, ..Default::default() }
    }

    fn outcome(pattern: Pattern, nodes: Vec<RoleStats>) -> RunOutcome {
        let spec = RunSpec { pattern, nodes: 2, ..RunSpec::default() };
        let exits = (0..nodes.len())
            .map(|i| WorkerExit {
                worker_id: i,
                roles: vec![Role(i as u16)],
                pid: 100 + i as u32,
                exit: ExitKind::Code(0),
                stderr_tail: String::new(),
            })
            .collect();
        let stats = nodes.into_iter().enumerate().map(|(i, s)| (Role(i as u16), s)).collect();
        RunOutcome { spec, prefix: "p".into(), stats, errors: vec![], exits }
    }

    fn link(link: u16, sent: u64, received: u64, unique: u64) -> LinkStats {
        LinkStats { link, sent, accounting: acc(received, unique), injected: FaultCounts::default() }
    }

    #[test]
    fn loss_is_what_was_sent_minus_what_arrived_once() {
        let producer = RoleStats { links: vec![link(0, 100, 0, 0)], sent: 100, ..Default::default() };
        let consumer = RoleStats { links: vec![link(0, 0, 98, 97)], accounting: acc(98, 97), ..Default::default() };
        let r = RunReport::from_outcome(&outcome(Pattern::Stream, vec![producer, consumer])).unwrap();
        assert_eq!((r.sent, r.received, r.lost, r.duplicated), (100, 98, 3, 1));
        assert_eq!(r.links.len(), 1);
        assert_eq!((r.links[0].from.as_str(), r.links[0].to.as_str(), r.links[0].lost), ("producer", "consumer", 3));
    }

    #[test]
    fn ping_pong_counts_loss_in_both_directions() {
        let pinger =
            RoleStats { links: vec![link(0, 10, 9, 9)], sent: 10, accounting: acc(9, 9), ..Default::default() };
        let echo =
            RoleStats { links: vec![link(0, 9, 10, 10)], sent: 9, accounting: acc(10, 10), ..Default::default() };
        let r = RunReport::from_outcome(&outcome(Pattern::PingPong, vec![pinger, echo])).unwrap();
        assert_eq!(r.links.len(), 2, "one entry per direction");
        assert_eq!(r.lost, 0);
        let pinger =
            RoleStats { links: vec![link(0, 10, 8, 8)], sent: 10, accounting: acc(8, 8), ..Default::default() };
        let echo =
            RoleStats { links: vec![link(0, 10, 10, 10)], sent: 10, accounting: acc(10, 10), ..Default::default() };
        let r = RunReport::from_outcome(&outcome(Pattern::PingPong, vec![pinger, echo])).unwrap();
        assert_eq!(r.lost, 2, "two echoes never came back");
    }

    #[test]
    fn a_link_missing_from_a_report_is_an_error_not_zero_loss() {
        let producer = RoleStats { links: vec![link(0, 100, 0, 0)], sent: 100, ..Default::default() };
        let consumer = RoleStats { links: vec![], ..Default::default() };
        let err = RunReport::from_outcome(&outcome(Pattern::Stream, vec![producer, consumer])).unwrap_err();
        assert!(err.contains("did not report link 0"), "{err}");
    }

    #[test]
    fn injected_faults_are_reported_beside_what_was_detected() {
        let injected = FaultCounts { dropped: 2, duplicated: 1, reordered: 0, corrupted: 3 };
        let producer =
            RoleStats { links: vec![LinkStats { injected, ..link(0, 100, 0, 0) }], sent: 100, ..Default::default() };
        let consumer = RoleStats { links: vec![link(0, 0, 99, 98)], accounting: acc(99, 98), ..Default::default() };
        let r = RunReport::from_outcome(&outcome(Pattern::Stream, vec![producer, consumer])).unwrap();
        assert_eq!(r.injected, injected);
        assert_eq!(r.links[0].injected, injected);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["injected"]["dropped"], 2);
        assert_eq!(json["lost"], 2);
    }
}
