//! The live model: everything the stage, timeline and statistics show, folded from the session's
//! updates. No egui and no I/O here, so it is tested on its own and the GUI only draws it.
//!
//! Memory stays bounded however long a run goes: messages, the latency series and errors live in
//! fixed-size rings; the latency histogram has a fixed number of buckets.

use std::collections::VecDeque;

use crate::mechanism::{MechanismId, Queued};
use crate::supervisor::{ExitKind, RunEvent};
use crate::telemetry::{Accounting, Direction, Event, LatencySummary, MessageEvent, Op, Role};
use crate::tr;
use crate::traffic::report::RunReport;
use crate::traffic::session::{Pace, ProcSample, Update};
use crate::traffic::spec::{Pattern, Program, RunSpec, Topology};

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
    /// For the stage, in the language of the thread that draws it (see `i18n`).
    pub fn label(&self) -> String {
        match self {
            ProcState::Starting => tr!("state.starting"),
            ProcState::Running => tr!("state.running"),
            ProcState::Blocked(on) if on.starts_with("send on") => tr!("state.blocked_full", call = wait_words(on)),
            ProcState::Blocked(on) => tr!("state.blocked", call = wait_words(on)),
            ProcState::AtGate { op: Op::SendEnd, seq } => tr!("state.about_to_send_end", n = seq),
            ProcState::AtGate { op: Op::Send, seq } => tr!("state.about_to_send", seq = seq),
            ProcState::AtGate { op: Op::Recv, seq } => tr!("state.about_to_recv", seq = seq),
            ProcState::Stopped => tr!("state.stopped"),
            ProcState::Exited(c) => tr!("state.exited", code = c),
            ProcState::Killed(s) => tr!("state.killed", signal = s),
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
    /// The node this view shows. A `thread` run has all its nodes in one process: each node
    /// gets a view of its own (same worker, same PID, its own thread's state).
    pub roles: Vec<Role>,
    /// Other nodes are threads of this same process.
    pub shares_process: bool,
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
    /// How long its packet takes to cross the stage (model clock), and whether that time was
    /// clamped to stay readable.
    pub crossing_nanos: u64,
    pub crossing_clamp: Clamp,
    /// Whether its packet is drawn on the stage. In ping-pong the stage shows one round trip at
    /// a time, as the protocol runs them; a round trip that begins while another is still
    /// crossing is left off the stage (the timeline and the numbers keep it).
    pub on_stage: bool,
}

/// On-screen crossing time per microsecond of measured latency, in real-time pace: one factor
/// for every mechanism, so a faster mechanism's packets visibly cross faster. Chosen for the
/// demos that people watch (a few messages a second, where a wake-up from idle makes one-way
/// latency 20..200 µs); at full speed (a few µs) packets are shown at the minimum, and the stage
/// says so.
pub const STAGE_NANOS_PER_LATENCY_MICRO: u64 = 2_000_000;
/// Crossings are kept between these bounds so a packet is visible and the stage keeps up.
pub const MIN_CROSSING_NANOS: u64 = 40_000_000;
pub const MAX_CROSSING_NANOS: u64 = 1_500_000_000;
/// Fewest messages in the last second for it alone to give the throughput.
const THROUGHPUT_MIN_COUNT: u64 = 50;
/// Changes of the count a slow run's throughput is measured over, and how far back at most.
const THROUGHPUT_POINTS: usize = 21;
const THROUGHPUT_WINDOW_NANOS: u64 = 10_000_000_000;
/// How far along its lane a packet waits while its receive is not yet reported.
pub const WAITING_AT: f64 = 0.88;
/// How long a notice stays on screen.
pub const NOTICE_NANOS: u64 = 4_000_000_000;

/// Whether a crossing time is the scaled latency or was clamped to a bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clamp {
    #[default]
    None,
    /// Faster than the shortest readable crossing: shown at [`MIN_CROSSING_NANOS`].
    Min,
    /// Slower than the longest crossing the stage waits for: shown at [`MAX_CROSSING_NANOS`].
    Max,
}

/// The crossing time of a packet whose message took `latency_nanos`, in real-time pace.
pub fn crossing_for_latency(latency_nanos: u64) -> (u64, Clamp) {
    let scaled = (latency_nanos as u128 * STAGE_NANOS_PER_LATENCY_MICRO as u128 / 1000).min(u64::MAX as u128) as u64;
    if scaled < MIN_CROSSING_NANOS {
        (MIN_CROSSING_NANOS, Clamp::Min)
    } else if scaled > MAX_CROSSING_NANOS {
        (MAX_CROSSING_NANOS, Clamp::Max)
    } else {
        (scaled, Clamp::None)
    }
}

/// A packet on the stage this frame: which lane, and how far along it (0 sender, 1 receiver).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Packet {
    pub from: Role,
    pub to: Role,
    pub seq: u64,
    pub along: f64,
    /// Its receive is not reported yet: it waits in the receiver's buffer.
    pub waiting: bool,
    pub clamp: Clamp,
}

/// The counts the statistics show, consistent with each other at every frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Data frames sent on every link and direction; at least what the receivers prove was sent.
    pub sent: u64,
    /// Distinct frames the receivers got (copies are counted in `duplicated`).
    pub received: u64,
    /// `sent - received`: in flight, or lost.
    pub not_arrived: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub corrupted: u64,
}

/// Throughput with the same meaning as `ipc-lab bench`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    /// Round trips per second (ping-pong) or messages delivered to final receivers per second.
    pub per_sec: f64,
    /// The whole run's average, as `bench` reports it (the run has finished), rather than the
    /// rate of the last second.
    pub run_average: bool,
    /// "round trips/s" or "msgs/s".
    pub unit: &'static str,
    /// Payload bytes per second, both directions counted in ping-pong.
    pub bytes_per_sec: f64,
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
    /// Fill of the buffers this node sends into, as its end reads them.
    pub sending: Vec<(u16, Queued)>,
    /// When this report arrived (model clock), to pick the fresher of two readings.
    pub at_nanos: u64,
    /// CLOCK_MONOTONIC when the worker read these counts (0: not said).
    pub sampled_at_nanos: u64,
    pub telemetry_dropped: u64,
    /// Faults this node injected so far (fault injection), beside what receivers detect.
    pub injected: crate::faults::FaultCounts,
    /// The role reported its final numbers; later progress reports are older than those.
    pub done: bool,
}

/// Live latency histogram with fixed log-spaced buckets (1 µs .. ~1 s), bounded memory.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveHistogram {
    pub counts: Vec<u64>,
}

/// Bucket i covers [BASE^(i) µs, BASE^(i+1) µs).
const HIST_BUCKETS: usize = 48;
const HIST_BASE: f64 = 1.3335; // 48 buckets span 1 µs .. ~1 s (1.3335^48 = 1.0e6)

impl Default for LiveHistogram {
    fn default() -> Self {
        LiveHistogram { counts: vec![0; HIST_BUCKETS] }
    }
}

impl LiveHistogram {
    /// Number of buckets (1 µs .. 1 s; slower ones go in the last).
    pub const BUCKETS: usize = HIST_BUCKETS;

    pub fn record(&mut self, nanos: u64) {
        self.record_n(nanos, 1);
    }

    /// Records one sampled message that stands for `n` messages (it was 1 in `n`): early
    /// messages, sampled 1 in 1 before the rate was known, then weigh no more than later ones.
    pub fn record_n(&mut self, nanos: u64, n: u64) {
        let micros = (nanos as f64 / 1000.0).max(1.0);
        let i = (micros.ln() / HIST_BASE.ln()) as usize;
        self.counts[i.min(HIST_BUCKETS - 1)] += n.max(1);
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
    /// (seconds since the first message, latency µs) of sampled messages: round trips in
    /// ping-pong, one-way (end to end) otherwise, as [`Model::latency_kind`] says.
    pub latency_series: VecDeque<(f64, f64)>,
    pub histogram: LiveHistogram,
    /// One message in this many is shown (the counts cover all of them).
    pub sample_every: u64,
    pub gate_passes: u64,
    pub errors: VecDeque<String>,
    /// A passing remark and when it was made (model clock); see [`Model::notice`].
    notice: Option<(String, u64)>,
    /// CLOCK_MONOTONIC of the first message, the timeline's origin.
    pub origin_nanos: Option<u64>,
    /// When the last packet to each node finishes crossing the stage (model clock).
    arrival_on_stage: Vec<u64>,
    /// Recent one-hop latency per (sender, receiver), the estimate for packets not yet received.
    link_latency: Vec<(Role, Role, u64)>,
    /// Reported messages left off the stage to keep ping-pong one round trip at a time, and
    /// those drawn (see [`Message::on_stage`]).
    pub off_stage: u64,
    pub drawn: u64,
    /// The user asked this run to stop (it then says "stopped", not "finished").
    pub stop_asked: bool,
    /// When the count of completions moved, for throughput: (model nanos, completions).
    throughput_marks: VecDeque<(u64, u64)>,
    /// Progress reports per node waiting for the other nodes' reports of the same tick, so the
    /// counts shown always come from one instant (see [`Model::commit_tick`]).
    staged: Vec<VecDeque<(u64, RoleProgress)>>,
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
            staged: Vec::new(),
            arrival_on_stage: Vec::new(),
            link_latency: Vec::new(),
            off_stage: 0,
            drawn: 0,
            stop_asked: false,
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

    /// Data frames sent, all roles, as last reported (see [`Model::counts`] for what to show).
    pub fn sent_total(&self) -> u64 {
        self.progress.iter().map(|p| p.sent).sum()
    }

    /// Accounting summed over both directions.
    pub fn accounting(&self) -> Accounting {
        Accounting::sum(self.progress.iter().map(|p| &p.accounting))
    }

    /// The nodes `role` receives from: its upstream ends, and in ping-pong the echo's replies.
    fn senders_to(&self, role: Role) -> Vec<Role> {
        let Some(t) = self.topology.as_ref() else { return Vec::new() };
        let two_way = self.spec.as_ref().is_some_and(|s| s.pattern == Pattern::PingPong);
        t.links
            .iter()
            .filter_map(|l| {
                if l.down == role {
                    Some(l.up)
                } else if two_way && l.up == role {
                    Some(l.down)
                } else {
                    None
                }
            })
            .collect()
    }

    /// What each node is shown to have sent: its own last report, or more when its receivers
    /// already prove more. Progress reports of different processes arrive at different times,
    /// so a consumer's report can be newer than its producer's; a receiver holding N distinct
    /// frames from one sender proves that sender sent N.
    pub fn sent_shown(&self) -> Vec<u64> {
        let mut proven = vec![0u64; self.progress.len()];
        for (i, p) in self.progress.iter().enumerate() {
            // A sender may feed several receivers (fan-out): what they prove adds up.
            if let [sender] = self.senders_to(Role(i as u16))[..]
                && let Some(n) = proven.get_mut(sender.index())
            {
                *n += p.accounting.unique;
            }
        }
        self.progress.iter().zip(proven).map(|(p, proven)| p.sent.max(proven)).collect()
    }

    /// Sent, received and not (yet) arrived, consistent at every frame: received never exceeds
    /// sent, and not arrived is exactly their difference.
    pub fn counts(&self) -> Counts {
        let shown = self.sent_shown();
        let mut sent: u64 = shown.iter().sum();
        // A receiver fed by several senders (fan-in) proves only their sum.
        for (i, p) in self.progress.iter().enumerate() {
            let senders = self.senders_to(Role(i as u16));
            if senders.len() > 1 {
                let theirs: u64 = senders.iter().filter_map(|s| shown.get(s.index())).sum();
                sent += p.accounting.unique.saturating_sub(theirs);
            }
        }
        let acc = self.accounting();
        Counts {
            sent,
            received: acc.unique,
            not_arrived: sent.saturating_sub(acc.unique),
            duplicated: acc.duplicated,
            out_of_order: acc.out_of_order,
            corrupted: acc.corrupted,
        }
    }

    /// Frames sent that have not arrived (in flight or lost): every frame has one receiver.
    pub fn not_arrived(&self) -> u64 {
        self.counts().not_arrived
    }

    pub fn telemetry_dropped(&self) -> u64 {
        self.progress.iter().map(|p| p.telemetry_dropped).sum()
    }

    fn commit(&mut self, role: Role, report: RoleProgress) {
        if let Some(p) = self.progress.get_mut(slot(role))
            && !p.done
        {
            *p = report;
        }
    }

    /// Shows the reports of tick `tick` once every node that still reports has sent its own:
    /// all processes sample at the same ticks, so counts of different processes are shown from
    /// one instant (within scheduling jitter), never one read 100 ms after the other. A node that
    /// has finished, died or stopped reporting for two ticks (SIGSTOP) is not waited for; its
    /// last counts stand, and they are true: a stopped process counts nothing.
    fn commit_tick(&mut self, tick: u64) {
        let waiting = |i: usize, m: &Model| -> bool {
            let done = m.progress.get(i).is_none_or(|p| p.done);
            let alive = m.worker_for(Role(i as u16)).is_some_and(|w| w.state.is_alive());
            let latest = m.staged[i].back().map(|(t, _)| *t);
            !done && alive && latest.is_some_and(|t| t < tick && t + 2 > tick)
        };
        if (0..self.staged.len()).any(|i| waiting(i, self)) {
            return;
        }
        for i in 0..self.staged.len() {
            // This tick's report, or the latest older one of a node that stopped reporting.
            let pick = self.staged[i].iter().rposition(|(t, _)| *t <= tick);
            if let Some(at) = pick {
                let (_, report) = self.staged[i][at].clone();
                self.staged[i].drain(..at); // the one shown stays: it says which tick a node is at
                self.commit(Role(i as u16), report);
            }
        }
    }

    /// How far apart in time the shown counts of the running nodes were read: cross-process
    /// differences (in flight) are exact only up to what moved in that time.
    pub fn report_skew_nanos(&self) -> u64 {
        let times = self.progress.iter().filter(|p| !p.done && p.sampled_at_nanos > 0).map(|p| p.sampled_at_nanos);
        let (lo, hi) = times.fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)));
        hi.saturating_sub(lo)
    }

    /// Faults the producers injected so far, all links together.
    pub fn injected(&self) -> crate::faults::FaultCounts {
        let mut total = crate::faults::FaultCounts::default();
        self.progress.iter().for_each(|p| total.add(&p.injected));
        total
    }

    /// The fill of the buffer that carries `from` → `to` on `link`, from whichever end reported
    /// it last: a stopped receiver reports nothing, and its running sender still reads the same
    /// buffer (pipes, FIFOs, queues, rings). For sockets the sender reads only its own send
    /// queue, a second buffer: that reading comes back as the second value.
    pub fn lane_fill(&self, link: u16, from: Role, to: Role) -> (Option<Queued>, Option<Queued>) {
        let find = |v: &[(u16, Queued)]| v.iter().find(|(k, _)| *k == link).map(|(_, q)| *q);
        let (rx, tx) = (self.progress.get(to.index()), self.progress.get(from.index()));
        let at_receiver = rx.and_then(|p| find(&p.queues).map(|q| (q, p.at_nanos)));
        let at_sender = tx.and_then(|p| find(&p.sending).map(|q| (q, p.at_nanos)));
        match (at_receiver, at_sender) {
            (_, Some((q, _))) if q.at_sender => (at_receiver.map(|r| r.0), Some(q)),
            (Some((r, rt)), Some((q, qt))) => (Some(if qt > rt { q } else { r }), None),
            (r, q) => (r.or(q).map(|x| x.0), None),
        }
    }

    /// The worker that plays `role`.
    pub fn worker_for(&self, role: Role) -> Option<&WorkerView> {
        self.workers.iter().find(|w| w.roles.contains(&role))
    }

    /// The current notice, until it is [`NOTICE_NANOS`] old.
    pub fn notice(&self, now_nanos: u64) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, at)| now_nanos.saturating_sub(*at) < NOTICE_NANOS)
            .map(|(text, _)| text.as_str())
    }

    pub fn set_notice(&mut self, text: impl Into<String>, now_nanos: u64) {
        self.notice = Some((text.into(), now_nanos));
    }

    /// Folds one update in; `now_nanos` is the model clock (for the animation).
    pub fn apply(&mut self, update: Update, now_nanos: u64) {
        match update {
            Update::Started { spec, prefix, workers, pace } => {
                let topology = spec.topology();
                let nodes = topology.programs.len();
                *self = Model {
                    progress: vec![RoleProgress::default(); nodes],
                    staged: vec![VecDeque::new(); nodes],
                    arrival_on_stage: vec![0; nodes],
                    topology: Some(topology),
                    status: RunStatus::Running,
                    spec: Some(spec),
                    prefix,
                    pace,
                    workers: workers
                        .into_iter()
                        .flat_map(|(worker_id, roles, pid)| {
                            let shares_process = roles.len() > 1;
                            roles.into_iter().map(move |role| WorkerView {
                                worker_id,
                                roles: vec![role],
                                shares_process,
                                pid,
                                state: ProcState::Running,
                                cpu_percent: 0.0,
                                gate: None,
                            })
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
            Update::NothingToStep => self.set_notice("nothing is waiting at a gate to step", now_nanos),
            Update::Finished { report } => {
                if let Err(e) = &report {
                    self.push_error(e.clone());
                }
                self.status = RunStatus::Finished(report);
                self.paused = false;
                self.notice = None;
            }
            Update::Proc(sample) => self.apply_proc(sample),
            Update::Event(ev) => self.apply_event(ev, now_nanos),
        }
    }

    fn apply_proc(&mut self, s: ProcSample) {
        let sends_only = self.program(s.role) == Some(Program::Producer);
        let Some(w) = self.workers.iter_mut().find(|w| w.worker_id == s.worker_id && w.roles.contains(&s.role)) else {
            return;
        };
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
            'S' | 'D' => ProcState::Blocked(describe_wchan_as(&s.wchan, sends_only)),
            _ => w.state.clone(),
        };
    }

    fn apply_event(&mut self, ev: RunEvent, now_nanos: u64) {
        match ev {
            RunEvent::Exited { worker_id, exit, stderr_tail } => {
                for w in self.workers.iter_mut().filter(|w| w.worker_id == worker_id) {
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
                    sending,
                    injected,
                    tick,
                    sampled_at_nanos,
                } => {
                    let report = RoleProgress {
                        sampled_at_nanos,
                        sent,
                        received,
                        accounting,
                        latency,
                        queues,
                        sending,
                        at_nanos: now_nanos,
                        telemetry_dropped,
                        injected,
                        done: false,
                    };
                    match tick {
                        // Sent at a step gate: exact now, and newer than anything staged.
                        None => {
                            if let Some(q) = self.staged.get_mut(slot(role)) {
                                q.clear();
                            }
                            self.commit(role, report);
                        }
                        Some(tick) => {
                            if let Some(q) = self.staged.get_mut(slot(role)) {
                                if q.len() == 4 {
                                    q.pop_front();
                                }
                                q.push_back((tick, report));
                            }
                            self.commit_tick(tick);
                        }
                    }
                    self.sample_every = sample_every.max(1);
                    self.mark_throughput(now_nanos);
                }
                Event::Message(m) => {
                    self.sample_every = m.sample_every.max(1);
                    self.on_message(&m, now_nanos);
                }
                Event::Gate { role, op, seq, passed } => {
                    if let Some(w) =
                        self.workers.iter_mut().find(|w| w.worker_id == worker_id && w.roles.contains(&role))
                    {
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
                }
                Event::Error { message, .. } => self.push_error(message),
                Event::Done { role, stats } => {
                    let Some(p) = self.progress.get_mut(slot(role)) else { return };
                    p.sent = stats.sent;
                    p.received = stats.accounting.received;
                    p.accounting = stats.accounting;
                    p.latency = stats.latency.or(p.latency);
                    p.telemetry_dropped = stats.telemetry_dropped;
                    let mut injected = crate::faults::FaultCounts::default();
                    stats.links.iter().for_each(|l| injected.add(&l.injected));
                    p.injected = injected;
                    p.done = true;
                }
                Event::Hello { .. }
                | Event::Listening { .. }
                | Event::Ready { .. }
                | Event::Sync { .. }
                | Event::Holding { .. }
                | Event::Values { .. } => {}
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
        let real_time = self.pace == Pace::RealTime;
        let found = self.messages.iter().rev().take(64).position(|m| m.from == from && m.to == to && m.seq == seq);
        let hop_latency = match found {
            Some(back) => {
                let i = self.messages.len() - 1 - back;
                let m = &mut self.messages[i];
                // Keep the hop's own send time: a relay passes the producer's stamp along in the frame.
                if recv_ts_nanos.is_some() {
                    m.recv_ts_nanos = recv_ts_nanos;
                }
                let latency = m.latency_nanos();
                if let (Some(l), true) = (latency, real_time) {
                    (m.crossing_nanos, m.crossing_clamp) = crossing_for_latency(l);
                }
                let arrival = m.depart_at_nanos + m.crossing_nanos;
                if let Some(a) = self.arrival_on_stage.get_mut(slot(to)) {
                    *a = arrival;
                }
                // A reply already drawn leaves only once this, its request, has arrived.
                if self.one_round_trip_at_a_time() && self.program(from) == Some(Program::Pinger) {
                    for r in self.messages.iter_mut().rev().take(64) {
                        if r.from == to && r.to == from && r.seq == seq && r.on_stage && r.depart_at_nanos < arrival {
                            r.depart_at_nanos = arrival;
                        }
                    }
                }
                latency
            }
            None => {
                if self.messages.len() == MAX_MESSAGES {
                    self.messages.pop_front();
                }
                let latency = recv_ts_nanos.map(|r| r.saturating_sub(send_ts_nanos));
                let (crossing_nanos, crossing_clamp) = self.crossing(from, to, latency);
                let (on_stage, depart_at_nanos) = if self.one_round_trip_at_a_time() {
                    self.round_trip_departure(from, to, seq, now_nanos)
                } else {
                    (true, self.departure(from, now_nanos, crossing_nanos))
                };
                if on_stage {
                    self.drawn += 1;
                } else {
                    self.off_stage += 1;
                }
                self.messages.push_back(Message {
                    from,
                    to,
                    seq,
                    size,
                    send_ts_nanos,
                    recv_ts_nanos,
                    depart_at_nanos,
                    crossing_nanos,
                    crossing_clamp,
                    on_stage,
                });
                if on_stage && let Some(a) = self.arrival_on_stage.get_mut(slot(to)) {
                    *a = depart_at_nanos + crossing_nanos;
                }
                latency
            }
        };
        if let Some(l) = hop_latency {
            self.note_link_latency(from, to, l);
        }
        let Some(r) = recv_ts_nanos else { return };
        // Latency plots hold what the numbers above them hold: round trips at the pinger in
        // ping-pong; one-way (end to end through a pipeline) at the consumers otherwise.
        let latency = match self.program(to) {
            Some(Program::Pinger) => {
                let ping = self.messages.iter().rev().find(|m| m.from == to && m.to == from && m.seq == seq);
                match ping {
                    Some(p) => r.saturating_sub(p.send_ts_nanos),
                    None => return, // the ping's send was not seen: no round trip to tell
                }
            }
            Some(Program::Consumer) => r.saturating_sub(send_ts_nanos),
            _ => return,
        };
        self.histogram.record_n(latency, event.sample_every);
        if self.latency_series.len() == MAX_SERIES {
            self.latency_series.pop_front();
        }
        let t = r.saturating_sub(origin) as f64 / 1e9;
        self.latency_series.push_back((t, latency as f64 / 1000.0));
    }

    fn note_link_latency(&mut self, from: Role, to: Role, latency_nanos: u64) {
        match self.link_latency.iter_mut().find(|(f, t, _)| *f == from && *t == to) {
            // A short memory: the estimate follows the link as it speeds up or slows down.
            Some((_, _, est)) => *est = (*est * 3 + latency_nanos) / 4,
            None => self.link_latency.push((from, to, latency_nanos)),
        }
    }

    /// The link's recent one-hop latency, the estimate for a packet whose receive is not known.
    pub fn link_latency_nanos(&self, from: Role, to: Role) -> Option<u64> {
        self.link_latency.iter().find(|(f, t, _)| *f == from && *t == to).map(|(_, _, l)| *l)
    }

    /// A packet's crossing time: in real time its latency (or the link's recent latency while the
    /// receive is unknown) scaled by one factor for every mechanism; when paced, a fixed time the
    /// eye can follow, because there the latency is mostly the pacing.
    fn crossing(&self, from: Role, to: Role, latency_nanos: Option<u64>) -> (u64, Clamp) {
        match self.pace {
            Pace::RealTime => match latency_nanos.or_else(|| self.link_latency_nanos(from, to)) {
                Some(l) => crossing_for_latency(l),
                None => (MIN_CROSSING_NANOS, Clamp::None),
            },
            _ => (self.crossing_nanos(), Clamp::None),
        }
    }

    /// How long a packet takes to cross the stage when the run is paced (slow motion, step).
    pub fn crossing_nanos(&self) -> u64 {
        let secs = match self.pace {
            Pace::RealTime => return MAX_CROSSING_NANOS,
            Pace::SlowMotion { ops_per_sec } => (0.8 / ops_per_sec).clamp(0.3, 1.5),
            Pace::Step => 0.8,
        };
        (secs * 1e9) as u64
    }

    /// Ping-pong in real time: one request or reply crosses at a time, as the protocol sends them.
    /// (Paced runs already send one message per crossing.)
    fn one_round_trip_at_a_time(&self) -> bool {
        self.pace == Pace::RealTime && self.spec.as_ref().is_some_and(|s| s.pattern == Pattern::PingPong)
    }

    /// Whether a new ping-pong message is drawn, and when it leaves: a request only when the
    /// stage is empty (every drawn packet has arrived), a reply only when its request is drawn,
    /// and never before that request has arrived on the stage.
    fn round_trip_departure(&self, from: Role, to: Role, seq: u64, now_nanos: u64) -> (bool, u64) {
        if self.program(from) == Some(Program::Echo) {
            let request = self.messages.iter().rev().take(64).find(|m| m.from == to && m.to == from && m.seq == seq);
            return match request {
                Some(r) if r.on_stage => (true, now_nanos.max(r.depart_at_nanos + r.crossing_nanos)),
                _ => (false, now_nanos),
            };
        }
        let busy = self
            .messages
            .iter()
            .rev()
            .take(64)
            .any(|m| m.on_stage && (m.recv_ts_nanos.is_none() || m.depart_at_nanos + m.crossing_nanos > now_nanos));
        // A request whose reply is not reported yet keeps the stage busy too.
        // (Not for ever: a reply never reported does not stop the stage.)
        let open = self.messages.iter().rev().take(64).find(|m| m.on_stage).is_some_and(|last| {
            self.program(last.from) == Some(Program::Pinger)
                && last.depart_at_nanos + last.crossing_nanos + 1_000_000_000 > now_nanos
        });
        (!busy && !open, now_nanos)
    }

    /// A packet from `from` leaves once what `from` last received has arrived on the stage,
    /// unless that would put the stage more than two crossings behind the processes.
    fn departure(&self, from: Role, now_nanos: u64, crossing_nanos: u64) -> u64 {
        let ready = self.arrival_on_stage.get(slot(from)).copied().unwrap_or(0);
        if ready > now_nanos && ready - now_nanos <= 2 * crossing_nanos.max(MIN_CROSSING_NANOS) {
            ready
        } else {
            now_nanos
        }
    }

    /// The packets on the stage at `now_nanos`, oldest first. While the run goes on, a packet
    /// whose receive is not reported waits near the receiver (in its buffer); once the run is
    /// over, received packets finish crossing and the others leave the stage (the timeline
    /// still has them). Without animation (tests) a packet sits mid-lane.
    pub fn packets(&self, now_nanos: u64, animate: bool) -> Vec<Packet> {
        let running = self.is_running();
        self.messages
            .iter()
            .filter_map(|m| {
                if !m.on_stage {
                    return None;
                }
                if animate && m.depart_at_nanos > now_nanos {
                    return None; // waits for the message that caused it to arrive first
                }
                let waiting = m.recv_ts_nanos.is_none();
                if !running && (waiting || !animate) {
                    return None;
                }
                let age = now_nanos.saturating_sub(m.depart_at_nanos) as f64;
                let mut along = if animate { age / m.crossing_nanos.max(1) as f64 } else { 0.5 };
                if waiting {
                    along = along.min(WAITING_AT);
                } else if along >= 1.0 {
                    return None;
                }
                Some(Packet { from: m.from, to: m.to, seq: m.seq, along, waiting, clamp: m.crossing_clamp })
            })
            .collect()
    }

    fn program(&self, role: Role) -> Option<Program> {
        self.topology.as_ref().and_then(|t| t.programs.get(role.index()).copied())
    }

    /// What throughput counts, as last reported: round trips completed at the pinger in
    /// ping-pong, messages that reached a final receiver otherwise (relays pass them on).
    pub fn completed_total(&self) -> u64 {
        let wanted = |p: Option<Program>| match self.spec.as_ref().map(|s| s.pattern) {
            Some(Pattern::PingPong) => p == Some(Program::Pinger),
            _ => p == Some(Program::Consumer),
        };
        self.progress
            .iter()
            .enumerate()
            .filter(|(i, _)| wanted(self.program(Role(*i as u16))))
            .map(|(_, p)| p.received)
            .sum()
    }

    /// Throughput with `ipc-lab bench`'s meaning: round trips per second and payload both ways
    /// in ping-pong; messages delivered to final receivers otherwise. Zero while paused and once
    /// the run is over, rather than the last rate frozen on screen.
    pub fn throughput(&self, now_nanos: u64) -> Throughput {
        // Before any run, the same default as `latency_kind`.
        let ping_pong = self.spec.as_ref().is_none_or(|s| s.pattern == Pattern::PingPong);
        let size = self.spec.as_ref().map_or(0, |s| s.size) as f64;
        let (per_sec, run_average) = match &self.status {
            // A finished run: its average, the very number `bench` prints.
            RunStatus::Finished(Ok(r)) => (r.msgs_per_sec, true),
            _ if !self.is_running() || self.paused => (0.0, false),
            _ => (self.completion_rate(now_nanos), false),
        };
        Throughput {
            per_sec,
            run_average,
            unit: if ping_pong { "round trips/s" } else { "msgs/s" },
            bytes_per_sec: per_sec * size * if ping_pong { 2.0 } else { 1.0 },
        }
    }

    /// See [`Model::throughput`].
    pub fn msgs_per_sec(&self, now_nanos: u64) -> f64 {
        self.throughput(now_nanos).per_sec
    }

    /// Completions per second, measured between the moments the count changed, so a steady
    /// 4 a second reads 4.00 and not 3 or 5 depending on where a one-second window falls: over
    /// the last second when that holds enough messages to be precise, otherwise over the last
    /// [`THROUGHPUT_POINTS`] changes (up to [`THROUGHPUT_WINDOW_NANOS`]). When completions stop,
    /// the rate falls with the time since the last one.
    fn completion_rate(&self, now_nanos: u64) -> f64 {
        let recent: Vec<(u64, u64)> = self
            .throughput_marks
            .iter()
            .copied()
            .filter(|m| now_nanos.saturating_sub(m.0) <= THROUGHPUT_WINDOW_NANOS)
            .collect();
        let last_second: Vec<(u64, u64)> =
            recent.iter().copied().filter(|m| now_nanos.saturating_sub(m.0) <= 1_000_000_000).collect();
        let points = match (last_second.first(), last_second.last()) {
            (Some(a), Some(b)) if b.1 - a.1 >= THROUGHPUT_MIN_COUNT => &last_second[..],
            _ => &recent[recent.len().saturating_sub(THROUGHPUT_POINTS)..],
        };
        let (Some(&(t0, c0)), Some(&(t1, c1))) = (points.first(), points.last()) else { return 0.0 };
        if points.len() < 2 || t1 <= t0 {
            return 0.0;
        }
        let interval = (t1 - t0) / (points.len() as u64 - 1);
        let since_last = now_nanos.saturating_sub(t1);
        // Nothing completed for longer than three usual gaps (and 1.5 s): traffic has stopped
        // (a stopped receiver, a blocked sender), and the rate is zero, not the last one frozen.
        if since_last > (3 * interval).max(1_500_000_000) {
            return 0.0;
        }
        // Quiet for longer than two usual gaps: count the quiet time in.
        let span = if since_last > 2 * interval { now_nanos - t0 } else { t1 - t0 };
        (c1 - c0) as f64 / (span as f64 / 1e9)
    }

    fn mark_throughput(&mut self, now_nanos: u64) {
        let completed = self.completed_total();
        if self.throughput_marks.back().is_some_and(|m| m.1 >= completed) {
            return; // only the moments the count moves
        }
        if self.throughput_marks.len() == MAX_SERIES {
            self.throughput_marks.pop_front();
        }
        self.throughput_marks.push_back((now_nanos, completed));
        while self.throughput_marks.front().is_some_and(|m| now_nanos.saturating_sub(m.0) > THROUGHPUT_WINDOW_NANOS) {
            self.throughput_marks.pop_front();
        }
    }

    fn push_error(&mut self, e: String) {
        if self.errors.len() == MAX_ERRORS {
            self.errors.pop_front();
        }
        self.errors.push_back(e);
    }

    /// What the latency numbers and plots hold: "round trip" in ping-pong, "one-way" otherwise
    /// (end to end through a pipeline).
    pub fn latency_kind(&self) -> &'static str {
        match self.spec.as_ref().map(|s| s.pattern) {
            Some(Pattern::PingPong) | None => "round trip",
            Some(Pattern::Pipeline) => "one-way, end to end",
            Some(_) => "one-way",
        }
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

pub use crate::traffic::report::placement_text;

/// A wait from `describe_wchan` in the language of the thread that draws it (the model keeps the
/// English words, which the CLI prints).
fn wait_words(on: &str) -> String {
    match on {
        "read on a pipe" => tr!("wait.pipe_read"),
        "write on a pipe" => tr!("wait.pipe_write"),
        "recv on a Unix socket" => tr!("wait.unix_recv"),
        "recv on a socket" => tr!("wait.socket_recv"),
        "send on a socket" => tr!("wait.socket_send"),
        "send on a Unix socket" => tr!("wait.unix_send"),
        "a message-queue call" => tr!("wait.mqueue"),
        "futex wait" => tr!("wait.futex"),
        "sleep (rate limit)" => tr!("wait.rate_sleep"),
        "accept" => tr!("wait.accept"),
        "poll" => tr!("wait.poll"),
        "the kernel" => tr!("wait.kernel"),
        other => other.to_string(),
    }
}

/// [`describe_wchan`] for a process that only sends (a producer): a socket wait is then a send
/// waiting for room (the kernel's `wait_woken` serves both directions of a TCP socket).
pub fn describe_wchan_as(wchan: &str, sends_only: bool) -> String {
    let what = describe_wchan(wchan);
    match what.as_str() {
        "recv on a socket" if sends_only => "send on a socket".into(),
        "recv on a Unix socket" if sends_only => "send on a Unix socket".into(),
        _ => what,
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
    use crate::mechanism::QueuedUnit;

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
        msg_at(role, direction, seq, 1_000 + seq, recv)
    }

    fn msg_at(role: Role, direction: Direction, seq: u64, send: u64, recv: Option<u64>) -> Update {
        Update::Event(RunEvent::Telemetry {
            worker_id: role.wire_id() as usize,
            event: Event::Message(MessageEvent {
                role,
                peer: role.peer(),
                direction,
                seq,
                size: 64,
                send_ts_nanos: send,
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

    /// A progress report built through its wire form, so fields the engine adds to it later
    /// (with serde defaults) need no change here.
    fn progress(role: Role, sent: u64, unique: u64) -> Update {
        let accounting = Accounting { received: unique, unique, ..Default::default() };
        let event = serde_json::from_value(serde_json::json!({
            "event": "progress",
            "role": role,
            "sent": sent,
            "received": unique,
            "queues": [],
            "accounting": accounting,
            "latency": null,
            "sample_every": 1,
            "telemetry_dropped": 0,
        }))
        .expect("a progress event");
        Update::Event(RunEvent::Telemetry { worker_id: role.index(), event })
    }

    fn started_with(spec: RunSpec, pace: Pace) -> Model {
        let mut m = Model::default();
        let n = spec.topology().programs.len();
        let workers = (0..n).map(|i| (i, vec![Role(i as u16)], 100 + i as u32)).collect();
        m.apply(Update::Started { spec, prefix: "p".into(), workers, pace }, 0);
        m
    }

    #[test]
    fn crossing_time_is_latency_times_one_factor_within_bounds() {
        // 100 µs at 1 µs = 2 ms: 200 ms, for every mechanism alike.
        assert_eq!(crossing_for_latency(100_000), (200_000_000, Clamp::None));
        assert_eq!(crossing_for_latency(200_000).0, 2 * crossing_for_latency(100_000).0);
        assert_eq!(crossing_for_latency(1_000), (MIN_CROSSING_NANOS, Clamp::Min));
        assert_eq!(crossing_for_latency(5_000_000_000), (MAX_CROSSING_NANOS, Clamp::Max));
        assert_eq!(crossing_for_latency(u64::MAX).1, Clamp::Max);
    }

    #[test]
    fn a_packet_crosses_in_its_scaled_latency_and_waits_for_its_receive() {
        let mut m = started(Pattern::Stream);
        // A first message, received after 100 µs: it crosses in 200 ms.
        m.apply(msg(Role::Initiator, Direction::Sent, 0, None), 0);
        m.apply(msg(Role::Responder, Direction::Received, 0, Some(1_000 + 100_000)), 0);
        assert_eq!(m.messages[0].crossing_nanos, 200_000_000);
        assert_eq!(m.packets(100_000_000, true)[0].along, 0.5);
        assert!(m.packets(200_000_000, true).is_empty(), "arrived");
        // The next one is not received yet: the link's recent latency is its estimate, and it
        // waits near the receiver until its receive is reported.
        m.apply(msg(Role::Initiator, Direction::Sent, 1, None), 300_000_000);
        assert_eq!(m.messages[1].crossing_nanos, 200_000_000);
        let p = m.packets(900_000_000, true);
        assert_eq!((p.len(), p[0].along, p[0].waiting), (1, WAITING_AT, true));
    }

    #[test]
    fn when_the_run_ends_no_packet_is_left_in_a_lane() {
        let mut m = started(Pattern::Stream);
        m.apply(msg(Role::Initiator, Direction::Sent, 0, None), 0);
        m.apply(msg(Role::Responder, Direction::Received, 0, Some(1_000 + 100_000)), 0);
        m.apply(msg(Role::Initiator, Direction::Sent, 1, None), 10);
        m.apply(Update::Finished { report: Err("stopped".into()) }, 20);
        let p = m.packets(100_000_000, true);
        assert_eq!(p.len(), 1, "the received one finishes crossing, the other leaves the stage");
        assert_eq!(p[0].seq, 0);
        assert!(m.packets(300_000_000, true).is_empty());
        assert_eq!(m.messages.len(), 2, "the timeline keeps both");
    }

    #[test]
    fn sent_is_at_least_what_the_receivers_prove() {
        // The consumer's report is newer than the producer's.
        let mut m = started(Pattern::Stream);
        m.apply(progress(Role::Initiator, 17_458_260, 0), 1);
        m.apply(progress(Role::Responder, 0, 17_462_022), 2);
        let c = m.counts();
        assert_eq!(c.sent, 17_462_022);
        assert_eq!((c.received, c.not_arrived), (17_462_022, 0));
        assert_eq!(m.sent_shown(), vec![17_462_022, 0]);
        // Fan-out: three consumers together prove what the producer sent.
        let mut m = started_with(RunSpec { pattern: Pattern::FanOut, nodes: 3, ..RunSpec::default() }, Pace::RealTime);
        m.apply(progress(Role(0), 10, 0), 1);
        for c in 1..=3 {
            m.apply(progress(Role(c), 0, 5), 2);
        }
        assert_eq!(m.counts().sent, 15);
        // Fan-in: one consumer fed by three producers proves their sum.
        let mut m = started_with(RunSpec { pattern: Pattern::FanIn, nodes: 3, ..RunSpec::default() }, Pace::RealTime);
        for p in 0..3 {
            m.apply(progress(Role(p), 2, 0), 1);
        }
        m.apply(progress(Role(3), 0, 9), 2);
        let c = m.counts();
        assert!(c.received <= c.sent && c.not_arrived == c.sent - c.received, "{c:?}");
        // Ping-pong: each side proves the other's sends; a normal report changes nothing.
        let mut m = started(Pattern::PingPong);
        m.apply(progress(Role::Initiator, 7, 6), 1);
        m.apply(progress(Role::Responder, 6, 7), 2);
        assert_eq!(m.counts(), Counts { sent: 13, received: 13, not_arrived: 0, ..Counts::default() });
    }

    #[test]
    fn a_final_report_is_not_overwritten_by_an_older_progress_report() {
        let mut m = started(Pattern::Stream);
        let stats = crate::telemetry::RoleStats { sent: 50, ..Default::default() };
        m.apply(Update::Event(RunEvent::Telemetry { worker_id: 0, event: Event::Done { role: Role(0), stats } }), 1);
        m.apply(progress(Role::Initiator, 40, 0), 2);
        assert_eq!(m.progress[0].sent, 50);
    }

    #[test]
    fn throughput_means_what_bench_means() {
        // Ping-pong at 4 round trips a second: 4.00 round trips/s, payload counted both ways.
        let mut m = started(Pattern::PingPong);
        for i in 0..=20u64 {
            let t = i * 250_000_000;
            m.apply(progress(Role::Initiator, i, i), t);
            m.apply(progress(Role::Responder, i, i), t + 1);
        }
        let t = m.throughput(5_000_000_100);
        assert_eq!(t.unit, "round trips/s");
        assert!((t.per_sec - 4.0).abs() < 0.01, "{t:?}");
        assert!((t.bytes_per_sec - 4.0 * 64.0 * 2.0).abs() < 1.0, "{t:?}");
        // When round trips stop, the rate falls instead of staying frozen.
        assert!(m.throughput(10_000_000_000).per_sec < 2.1);
        // A stream counts deliveries to the consumer, one way.
        let mut m = started(Pattern::Stream);
        for i in 0..=10u64 {
            m.apply(progress(Role::Responder, 0, i * 1000), i * 100_000_000);
        }
        let t = m.throughput(1_000_000_000);
        assert_eq!(t.unit, "msgs/s");
        assert!((t.per_sec - 10_000.0).abs() < 1.0, "{t:?}");
        assert!((t.bytes_per_sec - 640_000.0).abs() < 100.0);
    }

    /// Round trips faster than the stage can draw them: only one packet crosses at a time, and
    /// a reply never leaves the echo before its request has arrived there.
    #[test]
    fn ping_pong_packets_cross_in_the_protocols_order() {
        let mut m = started(Pattern::PingPong);
        let event = msg_at;
        // A round trip every 50 ms, each leg 100 µs (200 ms on the stage); reports arrive in the
        // order two processes may send them: the echo's before the pinger's now and then.
        for seq in 0..40u64 {
            let t = seq * 50_000_000;
            let (ping, pong) = (t + 1_000_000, t + 1_200_000);
            if seq % 3 == 0 {
                m.apply(event(Role::Responder, Direction::Received, seq, ping, Some(ping + 100_000)), t);
                m.apply(event(Role::Initiator, Direction::Sent, seq, ping, None), t);
            } else {
                m.apply(event(Role::Initiator, Direction::Sent, seq, ping, None), t);
                m.apply(event(Role::Responder, Direction::Received, seq, ping, Some(ping + 100_000)), t);
            }
            m.apply(event(Role::Responder, Direction::Sent, seq, pong, None), t + 1_000);
            m.apply(event(Role::Initiator, Direction::Received, seq, pong, Some(pong + 100_000)), t + 2_000);
            for now in (t..t + 50_000_000).step_by(1_000_000) {
                let on = m.packets(now, true);
                assert!(on.len() <= 1, "at {now}: {} packets on a one-at-a-time protocol", on.len());
                for p in on.iter().filter(|p| p.from == Role::Responder) {
                    let request =
                        m.messages.iter().find(|r| r.from == Role::Initiator && r.seq == p.seq).expect("its request");
                    assert!(
                        request.depart_at_nanos + request.crossing_nanos <= now,
                        "reply {} left before its request arrived: now {now} {:?} {:?}",
                        p.seq,
                        request,
                        m.messages.iter().filter(|r| r.seq == p.seq).collect::<Vec<_>>()
                    );
                }
            }
        }
        assert!(m.drawn >= 8 && m.off_stage > 0, "drawn {} off {}", m.drawn, m.off_stage);
        assert_eq!(m.latency_series.len(), 40, "every round trip still plotted");
    }

    #[test]
    fn ping_pong_plots_round_trips() {
        let mut m = started(Pattern::PingPong);
        // Ping 0 sent at 1_000, echoed back and received at 31_000: a 30 µs round trip.
        m.apply(msg(Role::Initiator, Direction::Sent, 0, None), 0);
        m.apply(msg(Role::Responder, Direction::Received, 0, Some(9_000)), 0);
        m.apply(msg(Role::Responder, Direction::Sent, 0, None), 0);
        m.apply(msg(Role::Initiator, Direction::Received, 0, Some(31_000)), 0);
        assert_eq!(m.latency_series.iter().map(|p| p.1).collect::<Vec<_>>(), vec![30.0]);
        assert_eq!(m.histogram.counts.iter().sum::<u64>(), 1);
        assert_eq!(m.latency_kind(), "round trip");
    }

    #[test]
    fn a_notice_goes_away_on_its_own_and_with_the_run() {
        let mut m = started(Pattern::PingPong);
        m.apply(Update::NothingToStep, 1_000);
        assert!(m.notice(2_000).is_some());
        assert!(m.notice(1_000 + NOTICE_NANOS).is_none());
        m.apply(Update::NothingToStep, 5_000);
        m.apply(Update::Finished { report: Err("x".into()) }, 6_000);
        assert!(m.notice(7_000).is_none());
    }

    #[test]
    fn placement_reads_as_words() {
        let two = RunSpec::default().topology();
        assert_eq!(placement_text(&two, None), "unpinned");
        assert_eq!(placement_text(&two, Some(&[0])), "both on CPU 0");
        assert_eq!(placement_text(&two, Some(&[0, 1])), "pinger on CPU 0, echo on CPU 1");
        let four = RunSpec { pattern: Pattern::Pipeline, nodes: 4, ..RunSpec::default() }.topology();
        assert_eq!(placement_text(&four, Some(&[0, 1])), "producer, relay 2 on CPU 0 · relay 1, consumer on CPU 1");
        assert_eq!(placement_text(&four, Some(&[0])), "all on CPU 0");
    }

    #[test]
    fn a_stopped_receivers_lane_shows_the_senders_fresher_reading() {
        let mut m = started(Pattern::Stream);
        let q = |amount, at_sender| Queued { amount, unit: QueuedUnit::Bytes, capacity: Some(65536), at_sender };
        let report = |role: Role, queues: Vec<(u16, Queued)>, sending: Vec<(u16, Queued)>| {
            Update::Event(RunEvent::Telemetry {
                worker_id: role.index(),
                event: Event::Progress {
                    role,
                    sent: 0,
                    received: 0,
                    queues,
                    sending,
                    accounting: Accounting::default(),
                    latency: None,
                    sample_every: 1,
                    telemetry_dropped: 0,
                    injected: Default::default(),
                    tick: None,
                    sampled_at_nanos: 0,
                },
            })
        };
        // The consumer read 0 B just before it was stopped; the producer keeps reading the pipe.
        m.apply(report(Role::Responder, vec![(0, q(0, false))], vec![]), 10);
        m.apply(report(Role::Initiator, vec![], vec![(0, q(64896, false))]), 20);
        assert_eq!(m.lane_fill(0, Role::Initiator, Role::Responder), (Some(q(64896, false)), None));
        // A newer receiver reading wins again once it runs.
        m.apply(report(Role::Responder, vec![(0, q(100, false))], vec![]), 30);
        assert_eq!(m.lane_fill(0, Role::Initiator, Role::Responder).0, Some(q(100, false)));
        // A socket sender's send queue is another buffer: shown beside, not instead.
        m.apply(report(Role::Initiator, vec![], vec![(0, q(5000, true))]), 40);
        assert_eq!(m.lane_fill(0, Role::Initiator, Role::Responder), (Some(q(100, false)), Some(q(5000, true))));
    }

    #[test]
    fn each_thread_of_a_thread_run_keeps_its_own_state() {
        let mut m = Model::default();
        let spec = RunSpec { mechanism: MechanismId::Thread, ..RunSpec::default() };
        let workers = vec![(0, vec![Role::Initiator, Role::Responder], 10)];
        m.apply(Update::Started { spec, prefix: "p".into(), workers, pace: Pace::RealTime }, 0);
        assert_eq!(m.workers.len(), 2, "one view per node");
        let sample = |role, state, wchan: &str| {
            Update::Proc(ProcSample { worker_id: 0, role, state, wchan: wchan.into(), cpu_percent: 1.0 })
        };
        m.apply(sample(Role::Initiator, 'S', "hrtimer_nanosleep"), 1);
        m.apply(sample(Role::Responder, 'S', "futex_wait_queue"), 1);
        assert_eq!(
            m.worker_for(Role::Initiator).map(|w| w.state.label()),
            Some("blocked in sleep (rate limit)".into())
        );
        assert_eq!(m.worker_for(Role::Responder).map(|w| w.state.label()), Some("blocked in futex wait".into()));
        assert!(m.workers.iter().all(|w| w.shares_process && w.pid == 10));
        m.apply(
            Update::Event(RunEvent::Exited { worker_id: 0, exit: ExitKind::Code(0), stderr_tail: String::new() }),
            2,
        );
        assert!(m.workers.iter().all(|w| w.state == ProcState::Exited(0)));
    }

    #[test]
    fn counts_of_different_processes_are_shown_from_one_tick() {
        let mut m = started(Pattern::Stream);
        let tick = |role: Role, tick: u64, sent: u64, unique: u64| {
            let event = crate::telemetry::parse_event(&format!(
                r#"{{"event":"progress","role":{},"sent":{sent},"received":{unique},"queues":[],"accounting":{{"received":{unique},"unique":{unique},"duplicated":0,"out_of_order":0,"corrupted":0}},"latency":null,"sample_every":1,"telemetry_dropped":0,"tick":{tick}}}"#,
                role.0
            ))
            .expect("a progress line");
            Update::Event(RunEvent::Telemetry { worker_id: role.index(), event })
        };
        m.apply(tick(Role::Initiator, 10, 1000, 0), 1);
        m.apply(tick(Role::Responder, 10, 0, 990), 2);
        assert_eq!((m.progress[0].sent, m.progress[1].accounting.unique), (1000, 990));
        // The producer's next tick alone does not move the numbers: the consumer's is missing.
        m.apply(tick(Role::Initiator, 11, 2000, 0), 3);
        assert_eq!(m.progress[0].sent, 1000, "shown only with the consumer's report of the same tick");
        m.apply(tick(Role::Responder, 11, 0, 1990), 4);
        assert_eq!((m.progress[0].sent, m.progress[1].accounting.unique), (2000, 1990));
        // The consumer is stopped: after two ticks without it, the producer's counts go on.
        m.apply(tick(Role::Initiator, 12, 2500, 0), 5);
        assert_eq!(m.progress[0].sent, 2000);
        m.apply(tick(Role::Initiator, 13, 2600, 0), 6);
        assert_eq!((m.progress[0].sent, m.progress[1].accounting.unique), (2600, 1990));
    }

    #[test]
    fn the_shown_counts_say_how_far_apart_they_were_read() {
        let mut m = started(Pattern::Stream);
        let at = |role: Role, sampled: u64| {
            let event = crate::telemetry::parse_event(&format!(
                r#"{{"event":"progress","role":{},"sent":5,"received":5,"queues":[],"accounting":{{"received":0,"unique":0,"duplicated":0,"out_of_order":0,"corrupted":0}},"latency":null,"sample_every":1,"telemetry_dropped":0,"tick":7,"sampled_at_nanos":{sampled}}}"#,
                role.0
            ))
            .expect("a progress line");
            Update::Event(RunEvent::Telemetry { worker_id: role.index(), event })
        };
        m.apply(at(Role::Initiator, 1_000_000), 1);
        m.apply(at(Role::Responder, 1_250_000), 2);
        assert_eq!(m.report_skew_nanos(), 250_000);
    }

    #[test]
    fn wait_channels_read_as_plain_words() {
        assert_eq!(describe_wchan("pipe_read"), "read on a pipe");
        assert_eq!(describe_wchan("unix_stream_read_generic"), "recv on a Unix socket");
        assert_eq!(describe_wchan("futex_wait_queue"), "futex wait");
        assert_eq!(describe_wchan_as("wait_woken", true), "send on a socket");
        assert_eq!(describe_wchan_as("wait_woken", false), "recv on a socket");
        assert_eq!(describe_wchan_as("unix_stream_read_generic", true), "send on a Unix socket");
    }
}
