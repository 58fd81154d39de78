//! What workers say about themselves, and what the supervisor tells them.
//!
//! Telemetry travels on its own channel, apart from the data: one JSON object per line on the
//! worker's stdout. Control travels the other way on the worker's stdin. Both are versioned by the
//! `hello` a worker sends first.
//!
//! A worker never blocks on telemetry while it moves data: events from the data path go through a
//! bounded queue to a writer thread, and when the queue is full the event is dropped and counted
//! ([`Sink::dropped`]); the count is reported in the final stats. Lifecycle events (hello, ready,
//! done, error) happen outside the data path and are never dropped.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam::channel::{Sender, TrySendError, bounded};
use serde::{Deserialize, Serialize};

use crate::mechanism::Queued;

/// Version of the telemetry and control protocol; a worker that says another is refused.
pub const TELEMETRY_VERSION: u32 = 3;

/// A node of a run's topology: one role a worker plays. Two-party patterns have an initiator
/// (node 0: the pinger, the producer) and a responder (node 1: the echo, the consumer); pipelines
/// and fans number their nodes from the producers on (see `scenario::Topology`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct Role(pub u16);

#[allow(non_upper_case_globals)]
impl Role {
    /// Node 0 of a two-party pattern: the pinger, the producer.
    pub const Initiator: Role = Role(0);
    /// Node 1 of a two-party pattern: the echo, the consumer.
    pub const Responder: Role = Role(1);

    /// "initiator", "responder", or "node N".
    pub fn as_str(self) -> String {
        match self.0 {
            0 => "initiator".into(),
            1 => "responder".into(),
            n => format!("node {n}"),
        }
    }

    /// The wire id used as sender/receiver in frame headers.
    pub fn wire_id(self) -> u16 {
        self.0
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The other node of a two-party pattern.
    pub fn peer(self) -> Role {
        if self.0 == 0 { Role::Responder } else { Role::Initiator }
    }
}

/// Latency distribution summary, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl LatencySummary {
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Self {
        LatencySummary {
            count: h.len(),
            min: h.min(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// A latency distribution as a plot can draw it: `(nanoseconds, fraction of the messages at or
/// below it)`, from the smallest value to the largest, a point where the fraction passes each
/// whole percent and then 99.5, 99.9, 99.95 and 99.99 % (at most ~106 points). Each point is a
/// value the histogram holds (to its 3 significant digits) with its exact cumulative fraction.
pub fn latency_cdf(h: &hdrhistogram::Histogram<u64>) -> Vec<(u64, f64)> {
    const TAIL: [f64; 4] = [0.995, 0.999, 0.9995, 0.9999];
    let total = h.len();
    if total == 0 {
        return Vec::new();
    }
    let mut grid = (1..100).map(|p| p as f64 / 100.0).chain(TAIL).chain([1.0]).peekable();
    let mut points = Vec::with_capacity(110);
    let mut below = 0u64;
    for (i, v) in h.iter_recorded().enumerate() {
        below += v.count_since_last_iteration();
        let fraction = below as f64 / total as f64;
        let value = h.highest_equivalent(v.value_iterated_to());
        let mut passed = false;
        while grid.peek().is_some_and(|&q| fraction >= q) {
            grid.next();
            passed = true;
        }
        if i == 0 || passed {
            points.push((value.min(h.max()), fraction));
        }
    }
    points
}

/// Receiver-side accounting of one direction, computed from sequence numbers and checksums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// Frames that arrived (including duplicates and corrupted ones).
    pub received: u64,
    /// Distinct sequence numbers that arrived.
    pub unique: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Frames whose payload did not match its checksum.
    pub corrupted: u64,
}

/// One link as seen from one of its ends: what this end sent on it and what it received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    pub link: u16,
    pub sent: u64,
    pub accounting: Accounting,
    /// Faults this end injected into what it sent on the link.
    #[serde(default)]
    pub injected: crate::faults::FaultCounts,
}

impl Accounting {
    /// The accounting of several receivers (or links) together.
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a Accounting>) -> Accounting {
        let mut total = Accounting::default();
        for a in items {
            total.add(a);
        }
        total
    }

    pub fn add(&mut self, other: &Accounting) {
        self.received += other.received;
        self.unique += other.unique;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.corrupted += other.corrupted;
    }
}

/// What a role reports when it has finished.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleStats {
    /// Per link, for loss: a link's sender's count minus its receiver's distinct frames.
    pub links: Vec<LinkStats>,
    /// Data frames this role sent (warm-up included).
    pub sent: u64,
    /// Accounting of the frames this role received (warm-up included).
    pub accounting: Accounting,
    /// Round trip (initiator in ping-pong) or one-way latency (responder in stream) of the
    /// measured messages, warm-up excluded.
    pub latency: Option<LatencySummary>,
    /// The same latencies as a distribution ([`latency_cdf`]); empty without latencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_cdf: Vec<(u64, f64)>,
    /// Wall time of the measured phase.
    pub measured_nanos: u64,
    /// Measured messages (round trips in ping-pong) completed in the measured phase.
    pub measured_messages: u64,
    /// User + system CPU time of this role during the measured phase.
    pub cpu_secs: f64,
    /// Telemetry events dropped because the queue was full.
    pub telemetry_dropped: u64,
}

/// Direction of a per-message event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Sent,
    Received,
}

/// One frame sent or received. At high rates only one message in `sample_every` is reported;
/// the counts still cover all of them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageEvent {
    pub role: Role,
    /// The node at the other end of the link.
    pub peer: Role,
    pub direction: Direction,
    pub seq: u64,
    pub size: u32,
    pub send_ts_nanos: u64,
    pub recv_ts_nanos: Option<u64>,
    pub sample_every: u64,
}

/// One line of telemetry from a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// First line of every worker.
    Hello { version: u32, pid: u32, roles: Vec<Role> },
    /// The worker's end of `link` is bound (if it listens) and it waits for `connect`.
    Listening { role: Role, link: u16, address: Option<String> },
    /// The endpoint is open and connected to the peer; data can flow.
    Ready { role: Role },
    /// Periodic progress, at most ten times a second: counts, the receive buffer's fill, the
    /// role's latency so far (round trip for the ping-pong initiator, one-way for the stream
    /// consumer) and the current message sampling.
    Progress {
        role: Role,
        sent: u64,
        received: u64,
        /// Receive-buffer fill per link, as this node's ends read it.
        queues: Vec<(u16, Queued)>,
        /// Fill of the buffers this node sends into, per link, read from its end (for pipes,
        /// queues and rings the same buffer the receiver reads; for sockets the send queue).
        #[serde(default)]
        sending: Vec<(u16, Queued)>,
        accounting: Accounting,
        latency: Option<LatencySummary>,
        sample_every: u64,
        telemetry_dropped: u64,
        /// Faults this node injected so far, all its links together.
        #[serde(default)]
        injected: crate::faults::FaultCounts,
        /// The 100 ms tick of CLOCK_MONOTONIC this report was sampled at: every worker samples
        /// at the same ticks, so reports of one tick from different processes go together.
        /// `None` for a report sent on reaching a step gate (exact as it stands).
        #[serde(default)]
        tick: Option<u64>,
        /// CLOCK_MONOTONIC when the counts were read: reports of one tick still lie apart by
        /// scheduling jitter, and the viewer says by how much.
        #[serde(default)]
        sampled_at_nanos: u64,
    },
    /// One frame sent or received (only when the run asked for per-message events).
    Message(MessageEvent),
    /// Step mode: the role is at its gate before `op` (waiting) or was let through (passed).
    Gate { role: Role, op: Op, seq: u64, passed: bool },
    /// The role finished; its numbers.
    Done { role: Role, stats: RoleStats },
    /// The role failed; the worker exits non-zero after this.
    Error { role: Option<Role>, message: String },
    /// Scenario programs: a process starts (`enter`), completes (`leave`) or is refused
    /// (`failed`, with the reason) an operation on a named resource.
    Sync { role: Role, op: SyncOp, resource: String, phase: SyncPhase, detail: Option<Detail> },
    /// Scenario programs: everything this process holds now. Sent before it blocks when it took
    /// something without saying so (an uncontended lock is taken quietly, so a busy program is
    /// not slowed by its own reporting); whoever blocks has said what it holds.
    Holding { role: Role, resources: Vec<String> },
    /// Scenario programs: the values of this process's own (not shared) counters.
    Values { role: Role, values: Vec<(String, u64)> },
}

/// What a scenario program's operation adds to its report, as a value: the words are made where
/// it is shown, in the reader's language (`model::say`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "detail", rename_all = "snake_case")]
pub enum Detail {
    /// The robust mutex's owner had died (EOWNERDEAD); this locker made it consistent.
    OwnerDied,
    /// A try-lock: it will not wait.
    TryLock,
    /// A try-lock found `busy` taken: it gives back `gave_back` and pauses before trying again.
    BackOff { gave_back: Vec<String>, pause_millis: u64 },
    /// A process's own counter after its increment.
    OwnCopy { value: u64 },
    /// A shared counter after an atomic add.
    AtomicNow { value: u64 },
    /// A racy increment, done as a read and a write back.
    ReadWroteBack,
    /// A counter's value after an add.
    Now { value: u64 },
    /// The value a racy increment read.
    Read { value: u64 },
    /// The value a racy increment will write.
    WillWrite { value: u64 },
    /// The value a racy increment wrote.
    Wrote { value: u64 },
    /// An exit step's code.
    Code { code: i32 },
    /// Bytes to send or sent.
    Bytes { bytes: u64 },
    /// One message of a queue, of `bytes` bytes.
    OneMessage { bytes: u64 },
    /// A read that reached end of file after `bytes` bytes.
    EndOfFile { bytes: u64 },
    /// Which end of a pipe a close closes.
    End { end: crate::programs::spec::PipeEnd },
    /// Refused by the kernel or the library with `errno` (its name is notation, EDEADLK), in
    /// `call` (a function name, or empty).
    Errno { call: String, errno: i32 },
    /// The robust mutex's owner died and it was not made consistent (ENOTRECOVERABLE).
    NotRecoverable,
    /// A read reached end of file before the bytes it was to read.
    EarlyEof,
    /// A condition-variable wait gives up `mutex` while it sleeps and takes it back after.
    WithMutex { mutex: String },
    /// A condition-variable wait found its predicate already true: it did not sleep.
    AlreadyTrue { value: u64 },
    /// Refused for a reason of this program's own making (a resource it does not have).
    Other { text: String },
}

/// An operation of a scenario program, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOp {
    Lock,
    Unlock,
    Wait,
    Post,
    Barrier,
    /// Write into a pipe.
    Send,
    /// Read from a pipe.
    Recv,
    /// Close one end of a pipe (`detail`: which end).
    Close,
    /// A sleep step: asleep on purpose, not stuck.
    Sleep,
    /// Read a shared counter (the first half of a racy increment, `detail`: the value read).
    Load,
    /// Write a shared counter (the second half, `detail`: the value written).
    Store,
    /// One indivisible increment (an atomic add, or a process's own counter).
    Add,
    /// Wait for another process (named by `resource`) to exit.
    Join,
    /// End the process (a crash, holding what it holds).
    Exit,
    /// Wait on a condition variable (`detail`: the mutex it gives up meanwhile).
    CondWait,
    /// Wake one waiter of a condition variable.
    Signal,
    /// Wake every waiter of a condition variable.
    Broadcast,
}

impl SyncOp {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncOp::Lock => "lock",
            SyncOp::Unlock => "unlock",
            SyncOp::Wait => "wait",
            SyncOp::Post => "post",
            SyncOp::Barrier => "barrier",
            SyncOp::Send => "send",
            SyncOp::Recv => "recv",
            SyncOp::Close => "close",
            SyncOp::Sleep => "sleep",
            SyncOp::Load => "read",
            SyncOp::Store => "write",
            SyncOp::Add => "add 1 to",
            SyncOp::Join => "join",
            SyncOp::Exit => "exit",
            SyncOp::CondWait => "cond_wait",
            SyncOp::Signal => "signal",
            SyncOp::Broadcast => "broadcast",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// With the scheduler on: the process waits at its gate to do this next.
    Next,
    Enter,
    Leave,
    Failed,
}

/// An IPC operation a worker is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Send,
    Recv,
    /// Send the End frame that tells the receiver nothing more comes.
    SendEnd,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Send => "send",
            Op::Recv => "recv",
            Op::SendEnd => "send end",
        }
    }
}

/// Where the other end of a link is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub link: u16,
    pub address: Option<String>,
    pub pid: u32,
}

/// One line of control from the supervisor to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Control {
    /// Complete the connections: for each link, the peer's address (if it listens) and PID.
    Connect { peers: Vec<PeerInfo> },
    /// Start moving data.
    Go,
    /// Finish early (end an endless run): send `End`, report, exit.
    Stop,
    /// Turn the gates on (every role stops before each IPC operation) or off.
    Gate { enabled: bool },
    /// Let `role` through its gate for `ops` operations.
    Step { role: Role, ops: u64 },
}

/// The worker's side of the telemetry channel.
#[derive(Clone)]
pub struct Sink {
    tx: Sender<String>,
    dropped: Arc<AtomicU64>,
}

/// Queue length between the data path and the telemetry writer thread.
pub const SINK_DEPTH: usize = 8192;

impl Sink {
    /// Starts the writer thread over `out` (stdout in a worker).
    pub fn start(out: Box<dyn Write + Send>) -> std::io::Result<(Sink, JoinHandle<()>)> {
        let (tx, rx) = bounded::<String>(SINK_DEPTH);
        let writer = std::thread::Builder::new().name("telemetry".into()).spawn(move || {
            let mut out = std::io::BufWriter::new(out);
            while let Ok(line) = rx.recv() {
                if line.is_empty() {
                    break; // `close`: everything sent before it is written
                }
                if out.write_all(line.as_bytes()).is_err() {
                    return;
                }
                // Flush when the queue runs dry so lifecycle events are seen promptly.
                if rx.is_empty() && out.flush().is_err() {
                    return;
                }
            }
            let _ = out.flush();
        })?;
        Ok((Sink { tx, dropped: Arc::new(AtomicU64::new(0)) }, writer))
    }

    /// From the data path: never blocks; a full queue drops the event and counts it.
    pub fn try_emit(&self, event: &Event) {
        match self.tx.try_send(encode_line(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lifecycle events: waits for room rather than lose them.
    pub fn emit(&self, event: &Event) {
        let _ = self.tx.send(encode_line(event));
    }

    /// Ends the writer thread after what was sent so far, even while other clones live (threads
    /// still blocked on a dead peer when the worker gives up).
    pub fn close(&self) {
        let _ = self.tx.send(String::new());
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn encode_line(event: &Event) -> String {
    let mut line = serde_json::to_string(event)
        .unwrap_or_else(|e| format!(r#"{{"event":"error","role":null,"message":"unencodable telemetry: {e}"}}"#));
    line.push('\n');
    line
}

/// Parses one telemetry line; the error says what was wrong with it.
pub fn parse_event(line: &str) -> Result<Event, String> {
    serde_json::from_str(line).map_err(|e| format!("malformed telemetry line {line:?}: {e}"))
}

/// Parses one control line.
pub fn parse_control(line: &str) -> Result<Control, String> {
    serde_json::from_str(line).map_err(|e| format!("malformed control line {line:?}: {e}"))
}

pub fn encode_control(control: &Control) -> String {
    let mut line = serde_json::to_string(control).expect("control messages are plain data");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_cdf_has_a_point_per_percent_and_the_tail_and_ends_at_the_maximum() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        // 10,000 latencies of 1..=10,000 µs, and one outlier of 1 s.
        for us in 1..=10_000u64 {
            h.record(us * 1000).unwrap();
        }
        h.record(1_000_000_000).unwrap();
        let cdf = latency_cdf(&h);
        assert!(cdf.len() >= 104 && cdf.len() <= 106, "{} points", cdf.len());
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "rising: {cdf:?}");
        assert_eq!(cdf[0], (h.highest_equivalent(1000), 1.0 / 10_001.0), "the smallest value first");
        assert_eq!(*cdf.last().unwrap(), (h.max(), 1.0), "the largest last, with every message at or below it");
        // The median point: the first value with half the messages at or below it.
        let median = cdf.iter().find(|p| p.1 >= 0.5).unwrap();
        assert!((median.0 as f64 - 5_000_000.0).abs() < 5_000.0, "{median:?}");
        assert!(latency_cdf(&hdrhistogram::Histogram::<u64>::new(3).unwrap()).is_empty());
    }

    #[test]
    fn events_round_trip_through_json_lines() {
        let ev = Event::Done { role: Role::Responder, stats: RoleStats { sent: 3, ..Default::default() } };
        let line = encode_line(&ev);
        assert!(line.ends_with('\n'));
        assert_eq!(parse_event(line.trim_end()), Ok(ev));
    }

    #[test]
    fn a_garbled_telemetry_line_is_an_error_not_a_panic() {
        let err = parse_event("{\"event\":\"done\",\"role\":").unwrap_err();
        assert!(err.contains("malformed telemetry line"), "{err}");
    }

    #[test]
    fn a_full_sink_drops_and_counts_instead_of_blocking() {
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                std::thread::park();
                Ok(0)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (sink, _writer) = Sink::start(Box::new(Stuck)).unwrap();
        let ev = Event::Ready { role: Role::Initiator };
        for _ in 0..2 * SINK_DEPTH {
            sink.try_emit(&ev);
        }
        // The writer thread is stuck with what fits in its buffer; the queue holds SINK_DEPTH;
        // the rest were dropped and counted, and this loop never waited.
        assert!(sink.dropped() >= SINK_DEPTH as u64 / 2, "dropped {}", sink.dropped());
    }
}
