//! A run as Chrome trace-event JSON (issue 6/7), which Perfetto UI (ui.perfetto.dev) and
//! chrome://tracing open: a track per process and per node (thread), a 1 µs mark at each
//! measured send and receive instant, a flow arrow from each send to its receive, and counters
//! for the buffer fill each node reads. Built from the same telemetry the stage folds.
//!
//! Bounded: messages come as the workers sample them (every one at low rates, one in
//! `sample_every` at high ones), and at most [`MAX_MESSAGES`] are kept; the file says both.
//! Times are CLOCK_MONOTONIC, shared by every process of the machine, so the arrows between
//! processes are true to the nanosecond the clock gives.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::supervisor::RunEvent;
use crate::telemetry::{Direction, Event, MessageEvent, Role};
use crate::traffic::spec::Topology;

/// Messages (send and receive pairs) a trace holds at most.
pub const MAX_MESSAGES: usize = 50_000;
/// Buffer-fill samples a trace holds at most.
const MAX_COUNTERS: usize = 50_000;

/// Collects one or more runs' events into a trace.
#[derive(Default)]
pub struct TraceBuilder {
    events: Vec<Value>,
    /// (run, role) → pid, learned from each worker's hello.
    pids: BTreeMap<(usize, u16), u32>,
    /// Messages drawn, and those left out past [`MAX_MESSAGES`].
    messages: usize,
    dropped: usize,
    sample_every: u64,
    counters: usize,
    /// The earliest instant of any event (CLOCK_MONOTONIC nanoseconds): the trace's zero. Events
    /// keep their raw stamps until `finish`, because they do not come in time order (workers
    /// report independently, and a receive carries its send's earlier stamp); rebasing on the
    /// first one processed would clamp earlier ones to 0 and bend their arrows.
    origin: Option<u64>,
    run: usize,
    /// Names of the current run's nodes.
    names: Vec<String>,
    label: String,
}

impl TraceBuilder {
    pub fn new() -> TraceBuilder {
        TraceBuilder { sample_every: 1, ..TraceBuilder::default() }
    }

    /// Starts the next run: `label` ("pipe 64 B ping-pong") names its processes.
    pub fn begin_run(&mut self, label: &str, topology: &Topology) {
        self.run += 1;
        self.label = label.to_string();
        self.names = topology.programs.iter().map(|p| format!("{p:?}").to_lowercase()).collect();
    }

    /// Notes a stamp for the trace's zero and returns it as it is stored until `finish`.
    fn ts(&mut self, nanos: u64) -> u64 {
        self.origin = Some(self.origin.map_or(nanos, |o| o.min(nanos)));
        nanos
    }

    fn pid(&self, role: Role) -> u32 {
        self.pids.get(&(self.run, role.wire_id())).copied().unwrap_or(0)
    }

    /// Names the current run's processes and their nodes: (pid, roles) per worker. Call it before
    /// the run's events: a message is drawn on the tracks of the pids known then.
    pub fn processes(&mut self, workers: &[(u32, Vec<Role>)]) {
        for (pid, roles) in workers {
            self.hello(*pid, roles);
        }
    }

    fn hello(&mut self, pid: u32, roles: &[Role]) {
        let name = roles.iter().map(|r| self.name(*r)).collect::<Vec<_>>().join(" + ");
        self.events.push(json!({
            "name": "process_name", "ph": "M", "pid": pid,
            "args": { "name": format!("{}: {name} (pid {pid})", self.label) }
        }));
        for r in roles {
            self.pids.insert((self.run, r.wire_id()), pid);
            self.events.push(json!({
                "name": "thread_name", "ph": "M", "pid": pid, "tid": r.wire_id(),
                "args": { "name": self.name(*r) }
            }));
        }
    }

    /// Folds one event of the current run.
    pub fn add(&mut self, ev: &RunEvent) {
        let RunEvent::Telemetry { event, .. } = ev else { return };
        match event {
            Event::Message(m) => self.message(m),
            Event::Progress { role, queues, sampled_at_nanos, .. } if *sampled_at_nanos > 0 => {
                if self.counters >= MAX_COUNTERS {
                    return;
                }
                let pid = self.pid(*role);
                let ts = self.ts(*sampled_at_nanos);
                for (link, q) in queues {
                    self.counters += 1;
                    self.events.push(json!({
                        "name": format!("buffer fill, link {link} ({:?})", q.unit).to_lowercase(),
                        "ph": "C", "ts": ts, "pid": pid,
                        "args": { "queued": q.amount }
                    }));
                }
            }
            _ => {}
        }
    }

    fn name(&self, r: Role) -> String {
        self.names.get(r.index()).map_or_else(|| format!("node {}", r.index()), |n| format!("{n} {}", r.index()))
    }

    /// A received message gives the whole arrow: its send stamp travels with it.
    fn message(&mut self, m: &MessageEvent) {
        self.sample_every = self.sample_every.max(m.sample_every);
        let (Direction::Received, Some(recv)) = (m.direction, m.recv_ts_nanos) else { return };
        if self.messages >= MAX_MESSAGES {
            self.dropped += 1;
            return;
        }
        self.messages += 1;
        let id = self.messages;
        let (from, to) = (m.peer, m.role);
        let (send_ts, recv_ts) = (self.ts(m.send_ts_nanos), self.ts(recv));
        let (pid_from, pid_to) = (self.pid(from), self.pid(to));
        let name = format!("#{} ({} B)", m.seq, m.size);
        self.events.push(json!({
            "name": format!("send {name}"), "cat": "message", "ph": "X", "ts": send_ts, "dur": 1,
            "pid": pid_from, "tid": from.wire_id(), "args": { "seq": m.seq, "bytes": m.size }
        }));
        self.events.push(json!({
            "name": format!("receive {name}"), "cat": "message", "ph": "X", "ts": recv_ts, "dur": 1,
            "pid": pid_to, "tid": to.wire_id(),
            "args": { "seq": m.seq, "bytes": m.size, "latency_ns": recv.saturating_sub(m.send_ts_nanos) }
        }));
        self.events.push(json!({
            "name": "message", "cat": "message", "ph": "s", "id": id, "ts": send_ts,
            "pid": pid_from, "tid": from.wire_id()
        }));
        self.events.push(json!({
            "name": "message", "cat": "message", "ph": "f", "bp": "e", "id": id, "ts": recv_ts,
            "pid": pid_to, "tid": to.wire_id()
        }));
    }

    /// Messages with an arrow in the trace.
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// The trace as JSON text.
    pub fn finish(mut self) -> String {
        // Microseconds from the earliest event; a difference of raw stamps first, so an arrow's
        // length is its latency to the nanosecond (as exactly as an f64 of µs holds it).
        let origin = self.origin.unwrap_or(0);
        for e in &mut self.events {
            if let Some(ts) = e.get("ts").and_then(Value::as_u64) {
                e["ts"] = json!(ts.saturating_sub(origin) as f64 / 1000.0);
            }
        }
        let sampling = if self.sample_every > 1 {
            format!("sampled: at most one message in {} was reported by the workers", self.sample_every)
        } else {
            "every message".to_string()
        };
        let mut note = format!("{} message(s) drawn, {sampling}", self.messages);
        if self.dropped > 0 {
            note.push_str(&format!("; {} more left out (a trace holds at most {MAX_MESSAGES})", self.dropped));
        }
        let doc = json!({
            "traceEvents": self.events,
            "displayTimeUnit": "ns",
            "otherData": {
                "source": "ipc-lab",
                "clock": "CLOCK_MONOTONIC, microseconds from the earliest event",
                "messages": note,
                "slices": "1 µs marks at the measured send and receive instants"
            }
        });
        serde_json::to_string(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// The live stage's run as a trace: the messages the model still holds (its recent ones, as
/// sampled), each worker's process and nodes. For the stage's "Save trace".
pub fn from_model(model: &crate::traffic::model::Model) -> Option<String> {
    let spec = model.spec.as_ref()?;
    let topology = model.topology.as_ref()?;
    let mut t = TraceBuilder::new();
    let label =
        format!("{} {} {}", spec.mechanism, crate::traffic::spec::human_bytes(spec.size as u64), spec.pattern.as_str());
    t.begin_run(&label, topology);
    let mut workers: Vec<(u32, Vec<Role>)> = Vec::new();
    for w in &model.workers {
        match workers.iter_mut().find(|(pid, _)| *pid == w.pid) {
            Some((_, roles)) => roles.extend(w.roles.iter().copied()),
            None => workers.push((w.pid, w.roles.clone())),
        }
    }
    t.processes(&workers);
    for m in &model.messages {
        let ev = MessageEvent {
            role: m.to,
            peer: m.from,
            direction: Direction::Received,
            seq: m.seq,
            size: m.size,
            send_ts_nanos: m.send_ts_nanos,
            recv_ts_nanos: m.recv_ts_nanos,
            sample_every: model.sample_every.max(1),
        };
        t.add(&RunEvent::Telemetry { worker_id: 0, event: Event::Message(ev) });
    }
    Some(t.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::MessageEvent;

    #[test]
    fn a_trace_holds_at_most_its_bound_and_says_how_many_it_left_out() {
        let mut t = TraceBuilder::new();
        t.begin_run("test", &crate::traffic::spec::RunSpec::default().topology());
        for seq in 0..(MAX_MESSAGES as u64 + 10) {
            let m = MessageEvent {
                role: Role(1),
                peer: Role(0),
                direction: Direction::Received,
                seq,
                size: 8,
                send_ts_nanos: 1_000 + seq,
                recv_ts_nanos: Some(2_000 + seq),
                sample_every: 4,
            };
            t.add(&RunEvent::Telemetry { worker_id: 1, event: Event::Message(m) });
        }
        assert_eq!(t.messages(), MAX_MESSAGES);
        let text = t.finish();
        assert!(
            text.contains("10 more left out") && text.contains("one message in 4"),
            "the file says it is sampled and cut"
        );
    }
}
