//! The live model: everything the stage, timeline and statistics show, folded from the session's
//! updates. No egui and no I/O here, so it is tested on its own and the GUI only draws it.
//!
//! Memory stays bounded however long a run goes: messages, the latency series and errors live in
//! fixed-size rings; the latency histogram has a fixed number of buckets.

use std::collections::VecDeque;

use crate::mechanism::{MechanismId, Queued};
use crate::report::RunReport;
use crate::scenario::{Program, RunSpec, Topology};
use crate::session::{Pace, ProcSample, Update};
use crate::supervisor::{ExitKind, RunEvent};
use crate::telemetry::{Accounting, Direction, Event, LatencySummary, MessageEvent, Op, Role};

/// Messages kept for the stage and the timeline.
pub const MAX_MESSAGES: usize = 4096;
/// Points kept for the latency-over-time plot.
pub const MAX_SERIES: usize = 4096;
const MAX_ERRORS: usize = 32;

/// The lifecycle of the current run. (One per app: its size does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    Idle,
    Starting,
    Running,
    Finished(Result<RunReport, String>),
    StartFailed(String),
}

/// What a worker process is doing, as far as the model knows.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcState {
    Starting,
    Running,
    /// Asleep in the kernel: in a read, write, accept, futex...
    Blocked(String),
    /// Waiting at its step gate, about to do `op`.
    AtGate {
        op: Op,
        seq: u64,
    },
    Stopped,
    Exited(i32),
    Killed(i32),
}

impl ProcState {
    pub fn label(&self) -> String {
        match self {
            ProcState::Starting => "starting".into(),
            ProcState::Running => "running".into(),
            ProcState::Blocked(on) => format!("blocked in {on}"),
            ProcState::AtGate { op, seq } => format!("about to {} #{seq}", op.as_str()),
            ProcState::Stopped => "stopped (SIGSTOP)".into(),
            ProcState::Exited(c) => format!("exited({c})"),
            ProcState::Killed(s) => format!("killed(signal {s})"),
        }
    }

    pub fn is_alive(&self) -> bool {
        !matches!(self, ProcState::Exited(_) | ProcState::Killed(_))
    }
}

/// One worker process on the stage.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerView {
    pub worker_id: usize,
    pub roles: Vec<Role>,
    pub pid: u32,
    pub state: ProcState,
    pub cpu_percent: f64,
    pub gate: Option<(Op, u64)>,
}

/// One message as the stage and timeline show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Message {
    pub from: Role,
    pub to: Role,
    pub seq: u64,
    pub size: u32,
    pub send_ts_nanos: u64,
    pub recv_ts_nanos: Option<u64>,
    /// When its packet sets off across the stage, model clock in nanoseconds: when the model
    /// learned of it, or later, once the message that caused it has arrived on the stage (an echo
    /// never leaves before its ping has visibly arrived).
    pub depart_at_nanos: u64,
}

impl Message {
    pub fn latency_nanos(&self) -> Option<u64> {
        self.recv_ts_nanos.map(|r| r.saturating_sub(self.send_ts_nanos))
    }
}

/// Per-role numbers from the latest progress report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleProgress {
    pub sent: u64,
    pub received: u64,
    pub accounting: Accounting,
    pub latency: Option<LatencySummary>,
    /// Receive-buffer fill per link at this node.
    pub queues: Vec<(u16, Queued)>,
    pub telemetry_dropped: u64,
}

/// Live latency histogram with fixed log-spaced buckets (1 µs .. ~1 s), bounded memory.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveHistogram {
    pub counts: Vec<u64>,
}

/// Bucket i covers [BASE^(i) µs, BASE^(i+1) µs).
const HIST_BUCKETS: usize = 48;
const HIST_BASE: f64 = 1.3335; // 48 buckets span 1 µs .. ~1 s

impl Default for LiveHistogram {
    fn default() -> Self {
        LiveHistogram { counts: vec![0; HIST_BUCKETS] }
    }
}

impl LiveHistogram {
    pub fn record(&mut self, nanos: u64) {
        let micros = (nanos as f64 / 1000.0).max(1.0);
        let i = (micros.ln() / HIST_BASE.ln()) as usize;
        self.counts[i.min(HIST_BUCKETS - 1)] += 1;
    }

    /// Lower edge of bucket `i` in microseconds.
    pub fn bucket_start_micros(i: usize) -> f64 {
        HIST_BASE.powi(i as i32)
    }
}

/// Everything the GUI draws.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub status: RunStatus,
    pub spec: Option<RunSpec>,
    pub prefix: String,
    pub pace: Pace,
    pub paused: bool,
    pub workers: Vec<WorkerView>,
    /// Per node, indexed by `Role::index()`.
    pub progress: Vec<RoleProgress>,
    pub topology: Option<Topology>,
    pub messages: VecDeque<Message>,
    /// (seconds since the run started, one-way latency µs) of sampled messages.
    pub latency_series: VecDeque<(f64, f64)>,
    pub histogram: LiveHistogram,
    /// One message in this many is shown (the counts cover all of them).
    pub sample_every: u64,
    pub gate_passes: u64,
    pub errors: VecDeque<String>,
    pub notice: Option<String>,
    /// CLOCK_MONOTONIC of the first message, the timeline's origin.
    pub origin_nanos: Option<u64>,
    /// When the last packet to each node finishes crossing the stage (model clock).
    arrival_on_stage: Vec<u64>,
    /// Received-message counts over time, for throughput: (model nanos, received).
    throughput_marks: VecDeque<(u64, u64)>,
    msgs_per_sec: f64,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            status: RunStatus::Idle,
            spec: None,
            prefix: String::new(),
            pace: Pace::RealTime,
            paused: false,
            workers: Vec::new(),
            progress: Vec::new(),
            topology: None,
            messages: VecDeque::new(),
            latency_series: VecDeque::new(),
            histogram: LiveHistogram::default(),
            sample_every: 1,
            gate_passes: 0,
            errors: VecDeque::new(),
            notice: None,
            origin_nanos: None,
            throughput_marks: VecDeque::new(),
            msgs_per_sec: 0.0,
            arrival_on_stage: Vec::new(),
        }
    }
}

fn slot(role: Role) -> usize {
    role.index()
}

impl Model {
    pub fn mechanism(&self) -> Option<MechanismId> {
        self.spec.as_ref().map(|s| s.mechanism)
    }

    pub fn is_running(&self) -> bool {
        matches!(self.status, RunStatus::Starting | RunStatus::Running)
    }

    /// Messages received by real worker processes, all roles, as last reported.
    pub fn received_total(&self) -> u64 {
        self.progress.iter().map(|p| p.received).sum()
    }

    pub fn sent_total(&self) -> u64 {
        self.progress.iter().map(|p| p.sent).sum()
    }

    /// Accounting summed over both directions.
    pub fn accounting(&self) -> Accounting {
        Accounting::sum(self.progress.iter().map(|p| &p.accounting))
    }

    /// Frames sent that have not arrived (in flight or lost): every frame has one receiver.
    pub fn not_arrived(&self) -> u64 {
        self.sent_total().saturating_sub(self.accounting().unique)
    }

    pub fn telemetry_dropped(&self) -> u64 {
        self.progress.iter().map(|p| p.telemetry_dropped).sum()
    }

    /// The worker that plays `role`.
    pub fn worker_for(&self, role: Role) -> Option<&WorkerView> {
        self.workers.iter().find(|w| w.roles.contains(&role))
    }

    /// Folds one update in; `now_nanos` is the model clock (for the animation).
    pub fn apply(&mut self, update: Update, now_nanos: u64) {
        match update {
            Update::Started { spec, prefix, workers, pace } => {
                let topology = spec.topology();
                let nodes = topology.programs.len();
                *self = Model {
                    progress: vec![RoleProgress::default(); nodes],
                    arrival_on_stage: vec![0; nodes],
                    topology: Some(topology),
                    status: RunStatus::Running,
                    spec: Some(spec),
                    prefix,
                    pace,
                    workers: workers
                        .into_iter()
                        .map(|(worker_id, roles, pid)| WorkerView {
                            worker_id,
                            roles,
                            pid,
                            state: ProcState::Running,
                            cpu_percent: 0.0,
                            gate: None,
                        })
                        .collect(),
                    ..Model::default()
                };
            }
            Update::StartFailed(why) => *self = Model { status: RunStatus::StartFailed(why), ..Model::default() },
            Update::Paced { pace, paused } => {
                self.pace = pace;
                self.paused = paused;
            }
            Update::NothingToStep => {
                self.notice = Some("nothing is waiting at a gate to step".into());
            }
            Update::Finished { report } => {
                if let Err(e) = &report {
                    self.push_error(e.clone());
                }
                self.status = RunStatus::Finished(report);
                self.paused = false;
            }
            Update::Proc(sample) => self.apply_proc(sample),
            Update::Event(ev) => self.apply_event(ev, now_nanos),
        }
    }

    fn apply_proc(&mut self, s: ProcSample) {
        let Some(w) = self.workers.get_mut(s.worker_id) else { return };
        w.cpu_percent = s.cpu_percent;
        if !w.state.is_alive() {
            return;
        }
        w.state = match s.state {
            'T' | 't' => ProcState::Stopped,
            'R' => ProcState::Running,
            'S' | 'D' if w.gate.is_some() => {
                let (op, seq) = w.gate.unwrap_or((Op::Send, 0));
                ProcState::AtGate { op, seq }
            }
            'S' | 'D' => ProcState::Blocked(describe_wchan(&s.wchan)),
            _ => w.state.clone(),
        };
    }

    fn apply_event(&mut self, ev: RunEvent, now_nanos: u64) {
        match ev {
            RunEvent::Exited { worker_id, exit, stderr_tail } => {
                if let Some(w) = self.workers.get_mut(worker_id) {
                    w.state = match exit {
                        ExitKind::Code(c) => ProcState::Exited(c),
                        ExitKind::Signal(s) => ProcState::Killed(s),
                    };
                    w.gate = None;
                }
                let tail = stderr_tail.trim();
                if !tail.is_empty() {
                    self.push_error(tail.to_string());
                }
            }
            RunEvent::BadTelemetry { message, .. } => self.push_error(message),
            RunEvent::Telemetry { worker_id, event } => match event {
                Event::Progress {
                    role,
                    sent,
                    received,
                    queues,
                    accounting,
                    latency,
                    sample_every,
                    telemetry_dropped,
                    ..
                } => {
                    if let Some(p) = self.progress.get_mut(slot(role)) {
                        *p = RoleProgress { sent, received, accounting, latency, queues, telemetry_dropped };
                    }
                    self.sample_every = sample_every.max(1);
                    self.mark_throughput(now_nanos);
                }
                Event::Message(m) => {
                    self.sample_every = m.sample_every.max(1);
                    self.on_message(&m, now_nanos);
                }
                Event::Gate { role, op, seq, passed } => {
                    if let Some(w) = self.workers.get_mut(worker_id) {
                        if passed {
                            w.gate = None;
                            if matches!(w.state, ProcState::AtGate { .. }) {
                                w.state = ProcState::Running;
                            }
                        } else {
                            w.gate = Some((op, seq));
                            w.state = ProcState::AtGate { op, seq };
                        }
                    }
                    if passed {
                        self.gate_passes += 1;
                    }
                    let _ = role;
                }
                Event::Error { message, .. } => self.push_error(message),
                Event::Done { role, stats } => {
                    let Some(p) = self.progress.get_mut(slot(role)) else { return };
                    p.sent = stats.sent;
                    p.received = stats.accounting.received;
                    p.accounting = stats.accounting;
                    p.latency = stats.latency.or(p.latency);
                    p.telemetry_dropped = stats.telemetry_dropped;
                }
                Event::Hello { .. } | Event::Listening { .. } | Event::Ready { .. } => {}
            },
        }
    }

    fn on_message(&mut self, event: &MessageEvent, now_nanos: u64) {
        let MessageEvent { role, peer, direction, seq, size, send_ts_nanos, recv_ts_nanos, .. } = *event;
        let (from, to) = match direction {
            Direction::Sent => (role, peer),
            Direction::Received => (peer, role),
        };
        let origin = *self.origin_nanos.get_or_insert(send_ts_nanos);
        // A received message completes the one already shown in flight, or appears whole when
        // its send was not sampled.
        if let Some(m) = self.messages.iter_mut().rev().take(64).find(|m| m.from == from && m.to == to && m.seq == seq)
        {
            // Keep the hop's own send time: a relay passes the producer's stamp along in the frame.
            if recv_ts_nanos.is_some() {
                m.recv_ts_nanos = recv_ts_nanos;
            }
        } else {
            if self.messages.len() == MAX_MESSAGES {
                self.messages.pop_front();
            }
            self.messages.push_back(Message {
                from,
                to,
                seq,
                size,
                send_ts_nanos,
                recv_ts_nanos,
                depart_at_nanos: self.departure(from, now_nanos),
            });
            if let Some(m) = self.messages.back() {
                let arrival = m.depart_at_nanos + self.crossing_nanos();
                if let Some(a) = self.arrival_on_stage.get_mut(slot(m.to)) {
                    *a = arrival;
                }
            }
        }
        // Latency plots take final receivers only: a relay's arrival is not the end of the trip.
        let final_receiver = self.program(to) != Some(Program::Relay);
        if let Some(r) = recv_ts_nanos.filter(|_| final_receiver) {
            let latency = r.saturating_sub(send_ts_nanos);
            self.histogram.record(latency);
            if self.latency_series.len() == MAX_SERIES {
                self.latency_series.pop_front();
            }
            let t = r.saturating_sub(origin) as f64 / 1e9;
            self.latency_series.push_back((t, latency as f64 / 1000.0));
        }
    }

    /// How long a packet takes to cross the stage: slow enough to follow, and in real time short
    /// enough that a ping and its echo both fit between two round trips.
    pub fn crossing_nanos(&self) -> u64 {
        let secs = match self.pace {
            Pace::RealTime => {
                let per_direction = self.spec.as_ref().and_then(|s| s.rate_per_sec).unwrap_or(f64::INFINITY);
                (0.4 / per_direction).clamp(0.08, 0.6)
            }
            Pace::SlowMotion { ops_per_sec } => (0.8 / ops_per_sec).clamp(0.3, 1.5),
            Pace::Step => 0.8,
        };
        (secs * 1e9) as u64
    }

    /// A packet from `from` leaves once what `from` last received has arrived on the stage,
    /// unless that would put the stage more than two crossings behind the processes.
    fn departure(&self, from: Role, now_nanos: u64) -> u64 {
        let ready = self.arrival_on_stage.get(slot(from)).copied().unwrap_or(0);
        if ready > now_nanos && ready - now_nanos <= 2 * self.crossing_nanos() { ready } else { now_nanos }
    }

    fn program(&self, role: Role) -> Option<Program> {
        self.topology.as_ref().and_then(|t| t.programs.get(role.index()).copied())
    }

    /// Messages that reached their final receiver (relays pass them on), as last reported.
    pub fn delivered_total(&self) -> u64 {
        self.progress
            .iter()
            .enumerate()
            .filter(|(i, _)| self.program(Role(*i as u16)) != Some(Program::Relay))
            .map(|(_, p)| p.received)
            .sum()
    }

    /// Deliveries per second over the last second, zero once traffic stops (paused, stopped,
    /// finished) rather than the last rate frozen on screen.
    pub fn msgs_per_sec(&self, now_nanos: u64) -> f64 {
        let stale = self.throughput_marks.back().is_none_or(|m| now_nanos.saturating_sub(m.0) > 1_500_000_000);
        if !self.is_running() || self.paused || stale { 0.0 } else { self.msgs_per_sec }
    }

    fn mark_throughput(&mut self, now_nanos: u64) {
        let received = self.delivered_total();
        self.throughput_marks.push_back((now_nanos, received));
        while self.throughput_marks.len() > 2
            && now_nanos.saturating_sub(self.throughput_marks.front().map_or(0, |m| m.0)) > 1_000_000_000
        {
            self.throughput_marks.pop_front();
        }
        if let (Some(a), Some(b)) = (self.throughput_marks.front(), self.throughput_marks.back()) {
            let dt = b.0.saturating_sub(a.0) as f64 / 1e9;
            if dt > 0.05 {
                self.msgs_per_sec = b.1.saturating_sub(a.1) as f64 / dt;
            }
        }
    }

    fn push_error(&mut self, e: String) {
        if self.errors.len() == MAX_ERRORS {
            self.errors.pop_front();
        }
        self.errors.push_back(e);
    }

    /// Latency numbers to show: the workers' own, over all messages. Round trip at the pinger;
    /// otherwise one-way (end to end through a pipeline) at the consumer, or the slowest consumer
    /// of a fan-out.
    pub fn latency(&self) -> Option<(LatencySummary, &'static str)> {
        let topology = self.topology.as_ref()?;
        let mut best: Option<LatencySummary> = None;
        for (i, program) in topology.programs.iter().enumerate() {
            let l = self.progress.get(i).and_then(|p| p.latency);
            match (program, l) {
                (Program::Pinger, Some(l)) => return Some((l, "round trip")),
                (Program::Consumer, Some(l)) if best.is_none_or(|b| l.p99 > b.p99) => best = Some(l),
                _ => {}
            }
        }
        best.map(|l| (l, "one-way"))
    }
}

/// Turns a kernel wait channel into words a student knows.
pub fn describe_wchan(wchan: &str) -> String {
    let w = wchan;
    let what = if w.contains("pipe_read") {
        "read on a pipe"
    } else if w.contains("pipe_write") {
        "write on a pipe"
    } else if w.contains("unix_stream") || w.contains("unix_wait") {
        "recv on a Unix socket"
    } else if w.contains("tcp") || w.contains("sk_wait") || w.contains("sk_stream") || w == "wait_woken" {
        "recv on a socket"
    } else if w.contains("mq_") || w.contains("wq_sleep") {
        "a message-queue call"
    } else if w.contains("futex") {
        "futex wait"
    } else if w.contains("nanosleep") || w.contains("hrtimer") {
        "sleep (rate limit)"
    } else if w.contains("accept") {
        "accept"
    } else if w.contains("poll") || w.contains("select") {
        "poll"
    } else if w.is_empty() || w == "0" {
        "the kernel"
    } else {
        return w.to_string();
    };
    what.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Pattern;

    fn started(pattern: Pattern) -> Model {
        let mut m = Model::default();
        let spec = RunSpec { pattern, ..RunSpec::default() };
        m.apply(
            Update::Started {
                spec,
                prefix: "p".into(),
                workers: vec![(0, vec![Role::Initiator], 10), (1, vec![Role::Responder], 11)],
                pace: Pace::RealTime,
            },
            0,
        );
        m
    }

    fn msg(role: Role, direction: Direction, seq: u64, recv: Option<u64>) -> Update {
        Update::Event(RunEvent::Telemetry {
            worker_id: role.wire_id() as usize,
            event: Event::Message(MessageEvent {
                role,
                peer: role.peer(),
                direction,
                seq,
                size: 64,
                send_ts_nanos: 1_000 + seq,
                recv_ts_nanos: recv,
                sample_every: 1,
            }),
        })
    }

    #[test]
    fn a_sent_then_received_message_is_one_flight() {
        let mut m = started(Pattern::Stream);
        m.apply(msg(Role::Initiator, Direction::Sent, 0, None), 5);
        m.apply(msg(Role::Responder, Direction::Received, 0, Some(9_000)), 6);
        assert_eq!(m.messages.len(), 1);
        assert_eq!(m.messages[0].recv_ts_nanos, Some(9_000));
        assert_eq!(m.histogram.counts.iter().sum::<u64>(), 1);
    }

    #[test]
    fn memory_stays_bounded_on_an_endless_run() {
        let mut m = started(Pattern::Stream);
        for seq in 0..(3 * MAX_MESSAGES as u64) {
            m.apply(msg(Role::Responder, Direction::Received, seq, Some(2_000 + seq)), seq);
        }
        assert_eq!(m.messages.len(), MAX_MESSAGES);
        assert!(m.latency_series.len() <= MAX_SERIES);
    }

    #[test]
    fn a_kill_marks_the_worker_killed() {
        let mut m = started(Pattern::PingPong);
        m.apply(
            Update::Event(RunEvent::Exited { worker_id: 1, exit: ExitKind::Signal(9), stderr_tail: String::new() }),
            0,
        );
        assert_eq!(m.workers[1].state, ProcState::Killed(9));
        assert_eq!(m.workers[1].state.label(), "killed(signal 9)");
        assert_eq!(m.progress.len(), 2);
    }

    #[test]
    fn fan_out_keeps_each_consumers_copy_of_a_sequence_number_apart() {
        let mut m = Model::default();
        let spec = RunSpec { pattern: Pattern::FanOut, nodes: 3, ..RunSpec::default() };
        let workers = (0..4).map(|i| (i, vec![Role(i as u16)], 100 + i as u32)).collect();
        m.apply(Update::Started { spec, prefix: "p".into(), workers, pace: Pace::RealTime }, 0);
        for consumer in 1..=3u16 {
            let event = Event::Message(MessageEvent {
                role: Role(consumer),
                peer: Role(0),
                direction: Direction::Received,
                seq: 0,
                size: 64,
                send_ts_nanos: 10,
                recv_ts_nanos: Some(20 + consumer as u64),
                sample_every: 1,
            });
            m.apply(Update::Event(RunEvent::Telemetry { worker_id: consumer as usize, event }), 1);
        }
        assert_eq!(m.messages.len(), 3, "one message per link, not one merged");
        assert_eq!(m.progress.len(), 4);
    }

    #[test]
    fn wait_channels_read_as_plain_words() {
        assert_eq!(describe_wchan("pipe_read"), "read on a pipe");
        assert_eq!(describe_wchan("unix_stream_read_generic"), "recv on a Unix socket");
        assert_eq!(describe_wchan("futex_wait_queue"), "futex wait");
    }
}
