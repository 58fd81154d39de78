//! The worker: what runs inside each child process (`ipc-lab worker SPEC`).
//!
//! A worker opens its endpoint in two steps so start-up needs no sleeps: it binds what it must
//! (a listening socket) and says `listening`; the supervisor then sends `connect` with the peer's
//! address and PID, the worker completes the connection and says `ready`; on `go` it runs its role
//! of the pattern and reports `done` with its numbers. Telemetry goes to stdout, control comes from
//! stdin; when stdin closes (the supervisor is gone) the worker exits at once.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, unbounded};
use serde::{Deserialize, Serialize};

use crate::accounting::SeqTracker;
use crate::mechanism::{self, Channel, Link, LinkError, MechanismId, ShmWait};
use crate::scenario::{Pattern, RunSpec};
use crate::telemetry::{Control, Direction, Event, LatencySummary, Op, Role, RoleStats, Sink, TELEMETRY_VERSION};
use crate::wire::{FrameKind, Header, monotonic_nanos};

/// How a worker reaches its peer; decided by the supervisor, which owns every named resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mechanism", rename_all = "lowercase")]
pub enum EndpointSpec {
    Pipe {
        read_fd: i32,
        write_fd: i32,
    },
    /// `forward` carries initiator→responder, `backward` the reverse.
    Fifo {
        forward: PathBuf,
        backward: PathBuf,
    },
    Unix {
        path: PathBuf,
    },
    Tcp {
        host: String,
    },
    /// The initiator writes ring 0 and reads ring 1.
    Shm {
        name: String,
        wait: ShmWait,
    },
    Mqueue {
        forward: String,
        backward: String,
    },
    Thread,
}

/// Everything a worker process is told on its command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// The roles this process plays: one, or both for the in-process `thread` mechanism.
    pub roles: Vec<Role>,
    pub endpoint: EndpointSpec,
    pub run: RunSpec,
}

/// Exit codes, so the supervisor can tell a worker's own failure from a signal.
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_SPEC: i32 = 2;
pub const EXIT_SUPERVISOR_GONE: i32 = 3;

/// Entry point of `ipc-lab worker`. Returns the process exit code.
pub fn main(spec_json: &str) -> i32 {
    let spec: WorkerSpec = match serde_json::from_str(spec_json) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: worker spec is not valid: {e}");
            return EXIT_BAD_SPEC;
        }
    };
    // Pin before any thread starts, so the telemetry and control threads inherit the placement.
    let pinned = match &spec.run.pin {
        Some(cpus) => pin_to(&process_cpus(cpus, &spec.roles)),
        None => Ok(()),
    };
    let (sink, writer) = match Sink::start(Box::new(std::io::stdout())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: worker cannot start telemetry: {e}");
            return EXIT_FAILED;
        }
    };
    let code = match pinned.and_then(|()| run(&spec, &sink)) {
        Ok(()) => 0,
        Err(message) => {
            sink.emit(&Event::Error { role: single_role(&spec), message });
            EXIT_FAILED
        }
    };
    drop(sink);
    let _ = writer.join();
    code
}

fn single_role(spec: &WorkerSpec) -> Option<Role> {
    (spec.roles.len() == 1).then(|| spec.roles[0])
}

/// Control messages, read on their own thread.
struct ControlIn {
    rx: Receiver<Control>,
    shared: Arc<Shared>,
}

impl ControlIn {
    fn start(gated: bool) -> Result<ControlIn, String> {
        let (tx, rx) = unbounded();
        let shared = Arc::new(Shared { stop: AtomicBool::new(false), gates: Gates::new(gated) });
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                for line in stdin.lock().lines() {
                    let Ok(line) = line else { break };
                    match crate::telemetry::parse_control(&line) {
                        Ok(Control::Stop) => {
                            theirs.stop.store(true, Ordering::Relaxed);
                            theirs.gates.set_enabled(false);
                        }
                        Ok(Control::Gate { enabled }) => theirs.gates.set_enabled(enabled),
                        Ok(Control::Step { role, ops }) => theirs.gates.add_permits(role, ops),
                        Ok(c) => {
                            let _ = tx.send(c);
                        }
                        Err(e) => eprintln!("ipc-lab worker: {e}"),
                    }
                }
                // The supervisor is gone (or closed our control channel): nobody would read our
                // results, and no child may outlive its supervisor.
                std::process::exit(EXIT_SUPERVISOR_GONE);
            })
            .map_err(|e| format!("cannot start control thread: {e}"))?;
        Ok(ControlIn { rx, shared })
    }

    fn expect_connect(&self) -> Result<(Option<String>, u32), String> {
        match self.rx.recv() {
            Ok(Control::Connect { peer_address, peer_pid }) => Ok((peer_address, peer_pid)),
            Ok(other) => Err(format!("expected connect, got {other:?}")),
            Err(_) => Err("control channel closed before connect".into()),
        }
    }

    fn expect_go(&self) -> Result<(), String> {
        match self.rx.recv() {
            Ok(Control::Go) => Ok(()),
            Ok(other) => Err(format!("expected go, got {other:?}")),
            Err(_) => Err("control channel closed before go".into()),
        }
    }
}

fn run(spec: &WorkerSpec, sink: &Sink) -> Result<(), String> {
    let control = ControlIn::start(spec.run.gated)?;
    sink.emit(&Event::Hello { version: TELEMETRY_VERSION, pid: std::process::id(), roles: spec.roles.clone() });

    if spec.run.mechanism == MechanismId::Thread || spec.endpoint == EndpointSpec::Thread {
        return run_threads(spec, sink, &control);
    }
    let &[role] = spec.roles.as_slice() else {
        return Err(format!("a {} worker plays exactly one role", spec.run.mechanism));
    };
    let pending = prepare(&spec.endpoint, role).map_err(|e| e.to_string())?;
    sink.emit(&Event::Listening { role, address: pending.address() });
    let (peer_address, peer_pid) = control.expect_connect()?;
    let link = pending.finish(&spec.endpoint, role, peer_address.as_deref(), peer_pid).map_err(|e| e.to_string())?;
    sink.emit(&Event::Ready { role });
    control.expect_go()?;
    let stats =
        play(role, link, &spec.run, sink, &control.shared, false).map_err(|e| format!("{}: {e}", role.as_str()))?;
    sink.emit(&Event::Done { role, stats });
    Ok(())
}

/// The `thread` baseline: both roles in this one process, over crossbeam channels.
fn run_threads(spec: &WorkerSpec, sink: &Sink, control: &ControlIn) -> Result<(), String> {
    for role in [Role::Initiator, Role::Responder] {
        sink.emit(&Event::Listening { role, address: None });
    }
    control.expect_connect()?;
    let (a, b) = mechanism::thread::pair();
    for role in [Role::Initiator, Role::Responder] {
        sink.emit(&Event::Ready { role });
    }
    control.expect_go()?;
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = [(Role::Initiator, a), (Role::Responder, b)]
            .into_iter()
            .map(|(role, link)| {
                let shared = &*control.shared;
                s.spawn(move || {
                    // sched_setaffinity(0) applies to the calling thread only: each role its CPU.
                    if let Some(cpu) = spec.run.pin.as_deref().and_then(|cpus| role_cpu(cpus, role))
                        && let Err(e) = pin_to(&[cpu])
                    {
                        return (role, Err(e));
                    }
                    (role, play(role, Box::new(link), &spec.run, sink, shared, true))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    let mut first_error = None;
    for joined in results {
        match joined {
            Ok((role, Ok(stats))) => sink.emit(&Event::Done { role, stats }),
            Ok((role, Err(e))) => {
                let message = format!("{}: {e}", role.as_str());
                sink.emit(&Event::Error { role: Some(role), message: message.clone() });
                first_error.get_or_insert(message);
            }
            Err(_) => {
                first_error.get_or_insert_with(|| "a role thread panicked".to_string());
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The CPU a role runs on under `--pin LIST`: the initiator on the first CPU, the responder on the
/// second (or the first again when only one is given), so `--pin 0` puts both on one core and
/// `--pin 0,1` puts them on two.
pub fn role_cpu(cpus: &[usize], role: Role) -> Option<usize> {
    let i = match role {
        Role::Initiator => 0,
        Role::Responder => 1,
    };
    (!cpus.is_empty()).then(|| cpus[i % cpus.len()])
}

/// The CPUs a worker process may use: those of all the roles it plays.
fn process_cpus(cpus: &[usize], roles: &[Role]) -> Vec<usize> {
    let mut set: Vec<usize> = roles.iter().filter_map(|&r| role_cpu(cpus, r)).collect();
    set.sort_unstable();
    set.dedup();
    set
}

#[cfg(target_os = "linux")]
fn pin_to(cpus: &[usize]) -> Result<(), String> {
    use nix::sched::{CpuSet, sched_setaffinity};
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
    }
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(|e| format!("cannot pin to CPUs {cpus:?}: {e}"))
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpus: &[usize]) -> Result<(), String> {
    Err("CPU pinning is only supported on Linux".into())
}

/// An endpoint between `listening` and `ready`.
enum Pending {
    Nothing,
    Unix(mechanism::unix::Listening),
    Tcp(mechanism::tcp::Listening, String),
}

impl Pending {
    fn address(&self) -> Option<String> {
        match self {
            Pending::Tcp(_, addr) => Some(addr.clone()),
            _ => None,
        }
    }

    fn finish(
        self,
        endpoint: &EndpointSpec,
        role: Role,
        peer_address: Option<&str>,
        peer_pid: u32,
    ) -> Result<Box<dyn Link>, LinkError> {
        let initiator = role == Role::Initiator;
        match (self, endpoint) {
            (Pending::Unix(listening), _) => listening.accept(),
            (Pending::Tcp(listening, _), _) => listening.accept(),
            #[cfg(unix)]
            (Pending::Nothing, EndpointSpec::Pipe { read_fd, write_fd }) => mechanism::pipe::open(*read_fd, *write_fd),
            #[cfg(unix)]
            (Pending::Nothing, EndpointSpec::Fifo { forward, backward }) => {
                mechanism::fifo::open(forward, backward, initiator)
            }
            (Pending::Nothing, EndpointSpec::Unix { path }) => mechanism::unix::connect(path),
            (Pending::Nothing, EndpointSpec::Tcp { .. }) => {
                let addr = peer_address.ok_or_else(|| LinkError::PeerGone("no TCP address for the peer".into()))?;
                mechanism::tcp::connect(addr)
            }
            #[cfg(target_os = "linux")]
            (Pending::Nothing, EndpointSpec::Shm { name, wait }) => {
                mechanism::shm::open(name, if initiator { 0 } else { 1 }, *wait)
            }
            #[cfg(target_os = "linux")]
            (Pending::Nothing, EndpointSpec::Mqueue { forward, backward }) => {
                let (tx, rx) = if initiator { (forward, backward) } else { (backward, forward) };
                mechanism::mqueue::open(tx, rx, peer_pid)
            }
            #[allow(unreachable_patterns)]
            (_, other) => Err(LinkError::io(
                "open endpoint",
                std::io::Error::other(format!("{other:?} is not available on this platform")),
            )),
        }
    }
}

/// The responder listens on sockets; every other endpoint is opened in `finish`.
fn prepare(endpoint: &EndpointSpec, role: Role) -> Result<Pending, LinkError> {
    match (endpoint, role) {
        (EndpointSpec::Unix { path }, Role::Responder) => Ok(Pending::Unix(mechanism::unix::listen(path)?)),
        (EndpointSpec::Tcp { host }, Role::Responder) => {
            let (l, addr) = mechanism::tcp::listen(host)?;
            Ok(Pending::Tcp(l, addr))
        }
        _ => Ok(Pending::Nothing),
    }
}

/// CPU seconds used so far by this process (or this thread, for the in-process baseline).
fn cpu_secs(thread_only: bool) -> f64 {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        let who = if thread_only { UsageWho::RUSAGE_THREAD } else { UsageWho::RUSAGE_SELF };
        getrusage(who)
            .map(|u| {
                let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
                t(u.user_time()) + t(u.system_time())
            })
            .unwrap_or(0.0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = thread_only;
        0.0
    }
}

const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// Per-message events per second and direction a worker aims at when messages come faster.
const SAMPLES_PER_SEC: f64 = 400.0;

/// Per-role state of the loop: accounting, latency, progress and per-message telemetry.
struct Meter<'a> {
    role: Role,
    sink: &'a Sink,
    events: bool,
    thread_only: bool,
    tracker: SeqTracker,
    hist: hdrhistogram::Histogram<u64>,
    sent: u64,
    last_progress: Instant,
    measure_start_nanos: Option<u64>,
    measure_end_nanos: u64,
    measured: u64,
    cpu_start: f64,
    /// Report one message in this many (per-message events only); adapted to the rate.
    sample_every: u64,
    since_progress: u64,
}

impl<'a> Meter<'a> {
    fn new(role: Role, sink: &'a Sink, events: bool, thread_only: bool) -> Result<Self, String> {
        let hist = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3).map_err(|e| e.to_string())?;
        Ok(Meter {
            role,
            sink,
            events,
            thread_only,
            tracker: SeqTracker::default(),
            hist,
            sent: 0,
            last_progress: Instant::now(),
            measure_start_nanos: None,
            measure_end_nanos: 0,
            measured: 0,
            cpu_start: 0.0,
            sample_every: 1,
            since_progress: 0,
        })
    }

    fn start_measuring(&mut self, at_nanos: u64) {
        if self.measure_start_nanos.is_none() {
            self.measure_start_nanos = Some(at_nanos);
            self.cpu_start = cpu_secs(self.thread_only);
        }
    }

    fn measured(&mut self, latency_nanos: u64, end_nanos: u64) {
        self.hist.saturating_record(latency_nanos.max(1));
        self.measured += 1;
        self.measure_end_nanos = end_nanos;
    }

    fn on_sent(&mut self, seq: u64, size: usize, ts: u64) {
        self.sent += 1;
        self.since_progress += 1;
        if self.events && seq.is_multiple_of(self.sample_every) {
            self.sink.try_emit(&Event::Message {
                role: self.role,
                direction: Direction::Sent,
                seq,
                size: size as u32,
                send_ts_nanos: ts,
                recv_ts_nanos: None,
                sample_every: self.sample_every,
            });
        }
    }

    fn on_received(&mut self, header: &Header, intact: bool, recv_ts: u64) {
        self.tracker.record(header.seq, intact);
        self.since_progress += 1;
        if self.events && header.seq.is_multiple_of(self.sample_every) {
            self.sink.try_emit(&Event::Message {
                role: self.role,
                direction: Direction::Received,
                seq: header.seq,
                size: header.payload_len,
                send_ts_nanos: header.send_ts_nanos,
                recv_ts_nanos: Some(recv_ts),
                sample_every: self.sample_every,
            });
        }
    }

    fn maybe_progress(&mut self, channel: &Channel) {
        // Reading the clock costs ~25 ns: a bench run looks at it every 64 messages only.
        if (!self.events && !(self.sent + self.tracker.accounting().received).is_multiple_of(64))
            || self.last_progress.elapsed() < PROGRESS_INTERVAL
        {
            return;
        }
        self.last_progress = Instant::now();
        // Keep per-message telemetry near SAMPLES_PER_SEC whatever the message rate; a power of
        // two, so sender and receiver (same rate) pick the same messages.
        let per_sec = self.since_progress as f64 / PROGRESS_INTERVAL.as_secs_f64();
        self.sample_every = ((per_sec / SAMPLES_PER_SEC).max(1.0) as u64).next_power_of_two();
        self.since_progress = 0;
        self.sink.try_emit(&Event::Progress {
            role: self.role,
            sent: self.sent,
            received: self.tracker.accounting().received,
            queued: channel.link().queued(),
            accounting: self.tracker.accounting(),
            // Percentiles walk the histogram (~0.3 ms): only for live views, not for bench runs.
            latency: (self.events && !self.hist.is_empty()).then(|| LatencySummary::from_histogram(&self.hist)),
            sample_every: self.sample_every,
            telemetry_dropped: self.sink.dropped(),
        });
    }

    fn finish(self) -> RoleStats {
        let cpu = if self.measure_start_nanos.is_some() { cpu_secs(self.thread_only) - self.cpu_start } else { 0.0 };
        RoleStats {
            sent: self.sent,
            accounting: self.tracker.accounting(),
            latency: (!self.hist.is_empty()).then(|| LatencySummary::from_histogram(&self.hist)),
            measured_nanos: self.measure_start_nanos.map_or(0, |s| self.measure_end_nanos.saturating_sub(s)),
            measured_messages: self.measured,
            cpu_secs: cpu.max(0.0),
            telemetry_dropped: self.sink.dropped(),
        }
    }
}

/// Runs one role of the pattern over `link` until done, stopped, or failed.
fn play(
    role: Role,
    link: Box<dyn Link>,
    run: &RunSpec,
    sink: &Sink,
    control: &Shared,
    thread_only: bool,
) -> Result<RoleStats, String> {
    let mut ch = Channel::new(link, run.max_payload);
    let mut meter = Meter::new(role, sink, run.per_message_events, thread_only)?;
    let total = run.warmup.saturating_add(run.count);
    let header = |kind, seq| Header {
        kind,
        sender_id: role.wire_id(),
        receiver_id: role.peer().wire_id(),
        seq,
        send_ts_nanos: monotonic_nanos(),
        payload_len: 0,
        payload_crc: 0,
    };
    let gate = |op, seq| control.gates.pass(role, op, seq, sink, &control.stop);
    let stopped = || control.stop.load(Ordering::Relaxed);
    let mut pacer = Pacer::new(run.rate_per_sec);
    let mut payload = vec![0u8; run.size];
    crate::wire::fill_payload(&mut payload, 0);

    match (run.pattern, role) {
        (Pattern::PingPong, Role::Initiator) => {
            for seq in 0..total {
                pacer.wait(&control.stop);
                gate(Op::Send, seq);
                if stopped() {
                    break;
                }
                stamp_seq(&mut payload, seq);
                let h = header(FrameKind::Data, seq);
                if seq == run.warmup {
                    meter.start_measuring(h.send_ts_nanos);
                }
                ch.send(h, &payload).map_err(|e| e.to_string())?;
                meter.on_sent(seq, payload.len(), h.send_ts_nanos);
                gate(Op::Recv, seq);
                let Some(reply) = ch.recv().map_err(|e| e.to_string())? else {
                    return Err(format!("peer ended the channel before replying to message {seq}"));
                };
                let rts = monotonic_nanos();
                let (rh, intact) = (reply.header, reply.intact());
                meter.on_received(&rh, intact, rts);
                if seq >= run.warmup {
                    meter.measured(rts.saturating_sub(h.send_ts_nanos), rts);
                }
                meter.maybe_progress(&ch);
            }
            ch.send(header(FrameKind::End, meter.sent), &[]).map_err(|e| e.to_string())?;
        }
        (Pattern::PingPong, Role::Responder) => loop {
            gate(Op::Recv, meter.tracker.accounting().received);
            let Some(msg) = ch.recv().map_err(|e| e.to_string())? else {
                return Err("peer ended the channel without saying end".into());
            };
            let rh = msg.header;
            if rh.kind == FrameKind::End {
                break;
            }
            // The echo's receive time is only needed for telemetry; skip the clock otherwise.
            let rts = if meter.events || rh.seq == run.warmup { monotonic_nanos() } else { 0 };
            if rh.seq == run.warmup {
                meter.start_measuring(rts);
            }
            gate(Op::Send, rh.seq);
            // Reply first, then check and count: the verification stays off the round trip.
            let h = header(FrameKind::Echo, rh.seq);
            ch.send_last_payload(h, rh.payload_crc).map_err(|e| e.to_string())?;
            let intact = ch.last_payload_intact(&rh);
            meter.on_received(&rh, intact, rts);
            meter.on_sent(rh.seq, rh.payload_len as usize, h.send_ts_nanos);
            if rh.seq >= run.warmup {
                meter.measured += 1;
                meter.measure_end_nanos = h.send_ts_nanos;
            }
            meter.maybe_progress(&ch);
        },
        (Pattern::Stream, Role::Initiator) => {
            for seq in 0..total {
                pacer.wait(&control.stop);
                gate(Op::Send, seq);
                if stopped() {
                    break;
                }
                stamp_seq(&mut payload, seq);
                let h = header(FrameKind::Data, seq);
                if seq == run.warmup {
                    meter.start_measuring(h.send_ts_nanos);
                }
                ch.send(h, &payload).map_err(|e| e.to_string())?;
                meter.on_sent(seq, payload.len(), h.send_ts_nanos);
                if seq >= run.warmup {
                    meter.measured += 1;
                    meter.measure_end_nanos = h.send_ts_nanos;
                }
                meter.maybe_progress(&ch);
            }
            ch.send(header(FrameKind::End, meter.sent), &[]).map_err(|e| e.to_string())?;
        }
        (Pattern::Stream, Role::Responder) => loop {
            gate(Op::Recv, meter.tracker.accounting().received);
            let Some(msg) = ch.recv().map_err(|e| e.to_string())? else {
                return Err("peer ended the channel without saying end".into());
            };
            let rts = monotonic_nanos();
            let (rh, intact) = (msg.header, msg.intact());
            if rh.kind == FrameKind::End {
                break;
            }
            meter.on_received(&rh, intact, rts);
            if rh.seq >= run.warmup {
                meter.start_measuring(rh.send_ts_nanos);
                meter.measured(rts.saturating_sub(rh.send_ts_nanos), rts);
            }
            meter.maybe_progress(&ch);
        },
    }
    Ok(meter.finish())
}

/// Keeps the initiator at or under the run's rate limit.
struct Pacer {
    interval: Option<Duration>,
    next: Instant,
}

impl Pacer {
    fn new(rate_per_sec: Option<f64>) -> Self {
        Pacer { interval: rate_per_sec.map(|r| Duration::from_secs_f64(1.0 / r)), next: Instant::now() }
    }

    fn wait(&mut self, stop: &AtomicBool) {
        let Some(interval) = self.interval else { return };
        let now = Instant::now();
        if self.next > now {
            // Sleep in slices so a stop request is honoured promptly even at 0.1 msgs/s.
            let mut left = self.next - now;
            while left > Duration::ZERO && !stop.load(Ordering::Relaxed) {
                let slice = left.min(Duration::from_millis(50));
                std::thread::sleep(slice);
                left = left.saturating_sub(slice);
            }
        } else {
            self.next = now;
        }
        self.next += interval;
    }
}

/// Step mode: a gate per role in front of every IPC operation, opened by the supervisor.
pub struct Gates {
    enabled: AtomicBool,
    permits: Mutex<[u64; 2]>,
    changed: Condvar,
}

impl Gates {
    fn new(enabled: bool) -> Self {
        Gates { enabled: AtomicBool::new(enabled), permits: Mutex::new([0; 2]), changed: Condvar::new() }
    }

    fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
        let _guard = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        self.changed.notify_all();
    }

    fn add_permits(&self, role: Role, ops: u64) {
        let mut permits = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        permits[role.wire_id() as usize] += ops;
        self.changed.notify_all();
    }

    /// Waits at the gate if gates are on. One relaxed load when they are off.
    fn pass(&self, role: Role, op: Op, seq: u64, sink: &Sink, stop: &AtomicBool) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        sink.emit(&Event::Gate { role, op, seq, passed: false });
        let slot = role.wire_id() as usize;
        let mut permits = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        while self.enabled.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) && permits[slot] == 0 {
            permits = self
                .changed
                .wait_timeout(permits, Duration::from_millis(100))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        if permits[slot] > 0 {
            permits[slot] -= 1;
        }
        drop(permits);
        sink.emit(&Event::Gate { role, op, seq, passed: true });
    }
}

/// State the control thread shares with the roles.
pub struct Shared {
    stop: AtomicBool,
    gates: Gates,
}

/// Writes the sequence number into the payload's first bytes, so each payload is distinct.
fn stamp_seq(payload: &mut [u8], seq: u64) {
    let n = payload.len().min(8);
    payload[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}
