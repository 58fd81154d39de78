//! The worker: what runs inside each child process (`ipc-lab worker SPEC`).
//!
//! A worker plays one node of the run's topology (all of them, as threads, for the in-process
//! `thread` mechanism) and holds one port per link of that node. It opens its ports in two steps so
//! start-up needs no sleeps: it binds what it must (a listening socket) and says `listening`; the
//! supervisor then sends `connect` with each peer's address and PID, the worker completes the
//! connections in link order (so chains of FIFOs never wait on each other in a cycle) and says
//! `ready`; on `go` each node runs its program and reports `done` with its numbers. Telemetry goes
//! to stdout, control comes from stdin; when stdin closes (the supervisor is gone) the worker exits.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, unbounded};
use serde::{Deserialize, Serialize};

use std::sync::atomic::AtomicU64;

use crate::accounting::SeqTracker;
use crate::faults::{Action, FaultCounts, Injector};
use crate::mechanism::{self, Channel, Gauge, Link, LinkError, MechanismId, Queued, ShmWait};
use crate::scenario::{MAX_NODES, Program, RunSpec};
use crate::telemetry::{
    Accounting, Control, Direction, Event, LatencySummary, LinkStats, MessageEvent, Op, PeerInfo, Role, RoleStats,
    Sink, TELEMETRY_VERSION,
};
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

/// One end of one link, as a worker holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The node this port belongs to.
    pub role: Role,
    pub link: u16,
    /// This end is the link's upstream end (the sender of data; the pinger in ping-pong).
    pub upstream: bool,
    /// The node at the other end.
    pub peer: Role,
    pub endpoint: EndpointSpec,
}

/// Everything a worker process is told on its command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// The nodes this process plays: one, or all of them for the in-process `thread` mechanism.
    pub roles: Vec<Role>,
    /// Its ends of the links, in link order.
    pub ports: Vec<PortSpec>,
    pub run: RunSpec,
}

impl WorkerSpec {
    /// Checks what a worker is told before it acts on it: the run (see [`RunSpec::validate`]),
    /// and that its roles and ports belong to that run's topology, each port once.
    pub fn validate(&self) -> Result<(), String> {
        self.run.validate()?;
        let topology = self.run.topology();
        if self.roles.is_empty() {
            return Err("a worker must play at least one node".into());
        }
        for role in &self.roles {
            if role.index() >= topology.programs.len() {
                return Err(format!("node {} is not in a topology of {} nodes", role.0, topology.programs.len()));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.ports {
            if !self.roles.contains(&p.role) {
                return Err(format!(
                    "port on link {} belongs to node {}, which this worker does not play",
                    p.link, p.role.0
                ));
            }
            let link = topology.links.iter().find(|l| l.link == p.link).ok_or_else(|| format!("no link {}", p.link))?;
            let (me, peer) = if p.upstream { (link.up, link.down) } else { (link.down, link.up) };
            if me != p.role || peer != p.peer {
                return Err(format!("port on link {} does not match the topology", p.link));
            }
            if !seen.insert((p.link, p.upstream)) {
                return Err(format!(
                    "link {} has two {} ports",
                    p.link,
                    if p.upstream { "upstream" } else { "downstream" }
                ));
            }
            let thread = matches!(p.endpoint, EndpointSpec::Thread);
            if thread != self.run.mechanism.in_process() {
                return Err(format!("port on link {} has an endpoint of another mechanism", p.link));
            }
        }
        Ok(())
    }
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
    if let Err(e) = spec.validate() {
        eprintln!("error: worker spec is not valid: {e}");
        return EXIT_BAD_SPEC;
    }
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
    // Other threads may still hold the sink (blocked on a peer that will never answer); close
    // it explicitly so the report is flushed and the process can end.
    sink.close();
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

    fn expect_connect(&self) -> Result<Vec<PeerInfo>, String> {
        match self.rx.recv() {
            Ok(Control::Connect { peers }) => Ok(peers),
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
    let in_process = spec.run.mechanism == MechanismId::Thread;
    let mut ports: Vec<&PortSpec> = spec.ports.iter().collect();
    ports.sort_by_key(|p| (p.link, p.upstream));

    let mut pending = Vec::with_capacity(ports.len());
    for port in &ports {
        let p = if in_process {
            Pending::Nothing
        } else {
            prepare(&port.endpoint, port.upstream).map_err(|e| e.to_string())?
        };
        sink.emit(&Event::Listening { role: port.role, link: port.link, address: p.address() });
        pending.push(p);
    }
    let peers = control.expect_connect()?;
    let mut opened: Vec<(PortSpec, Box<dyn Link>)> = Vec::with_capacity(ports.len());
    if in_process {
        // Both ends of every link live here: a crossbeam pair per link.
        type Ends = (Option<Box<dyn Link>>, Option<Box<dyn Link>>);
        let mut ends: std::collections::HashMap<u16, Ends> = Default::default();
        for port in &ports {
            ends.entry(port.link).or_insert_with(|| {
                let (up, down) = mechanism::thread::pair();
                (Some(Box::new(up) as Box<dyn Link>), Some(Box::new(down) as Box<dyn Link>))
            });
            let slot = ends.get_mut(&port.link).ok_or("link vanished")?;
            let end = if port.upstream { slot.0.take() } else { slot.1.take() };
            opened.push((
                (*port).clone(),
                end.ok_or_else(|| {
                    format!("link {} has two {} ends", port.link, if port.upstream { "upstream" } else { "downstream" })
                })?,
            ));
        }
    } else {
        for (port, p) in ports.iter().zip(pending) {
            let peer = peers.iter().find(|i| i.link == port.link);
            let link = p
                .finish(
                    &port.endpoint,
                    port.upstream,
                    peer.and_then(|i| i.address.as_deref()),
                    peer.map_or(0, |i| i.pid),
                )
                .map_err(|e| format!("{} link {}: {e}", port.role.as_str(), port.link))?;
            opened.push(((*port).clone(), link));
        }
    }
    for &role in &spec.roles {
        sink.emit(&Event::Ready { role });
    }
    control.expect_go()?;

    // Each node runs its program on its own thread; the first failure ends the worker (threads
    // still blocked on a dead peer end with the process). A sampler reports their progress.
    let (done_tx, done_rx) = unbounded();
    let topology = spec.run.topology();
    let mut nodes = Vec::new();
    for &role in &spec.roles {
        let my_ports: Vec<(PortSpec, Box<dyn Link>)> = {
            let (mine, rest): (Vec<_>, Vec<_>) = opened.into_iter().partition(|(p, _)| p.role == role);
            opened = rest;
            mine
        };
        let program =
            *topology.programs.get(role.index()).ok_or_else(|| format!("{} is not in the topology", role.as_str()))?;
        let cells = NodeCells::new(role, &my_ports, sink);
        nodes.push(cells.clone());
        let (run, shared, done) = (spec.run.clone(), control.shared.clone(), done_tx.clone());
        let pin = spec.run.pin.clone();
        std::thread::Builder::new()
            .name(format!("node-{}", role.0))
            .spawn(move || {
                // sched_setaffinity(0) applies to the calling thread only: each node its CPU.
                let cpu = pin.as_deref().and_then(|cpus| role_cpu(cpus, role)).filter(|_| in_process);
                if let Some(Err(e)) = cpu.map(|c| pin_to(&[c])) {
                    let _ = done.send((role, Err(e)));
                    return;
                }
                let result = play(role, program, my_ports, &run, cells, &shared, in_process);
                let _ = done.send((role, result));
            })
            .map_err(|e| format!("cannot start a node thread: {e}"))?;
    }
    start_sampler(nodes)?;
    drop(done_tx);
    for _ in 0..spec.roles.len() {
        match done_rx.recv() {
            Ok((role, Ok(stats))) => sink.emit(&Event::Done { role, stats }),
            Ok((role, Err(e))) => {
                let message = format!("{}: {e}", topology.node_name(role));
                if spec.roles.len() > 1 {
                    sink.emit(&Event::Error { role: Some(role), message: message.clone() });
                }
                return Err(message);
            }
            Err(_) => return Err("a node thread ended without a word".into()),
        }
    }
    Ok(())
}

/// The CPU a role runs on under `--pin LIST`: the initiator on the first CPU, the responder on the
/// second (or the first again when only one is given), so `--pin 0` puts both on one core and
/// `--pin 0,1` puts them on two.
pub fn role_cpu(cpus: &[usize], role: Role) -> Option<usize> {
    (!cpus.is_empty()).then(|| cpus[role.index() % cpus.len()])
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
        initiator: bool,
        peer_address: Option<&str>,
        peer_pid: u32,
    ) -> Result<Box<dyn Link>, LinkError> {
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

/// The downstream end listens on sockets; every other endpoint is opened in `finish`.
fn prepare(endpoint: &EndpointSpec, upstream: bool) -> Result<Pending, LinkError> {
    match (endpoint, upstream) {
        (EndpointSpec::Unix { path }, false) => Ok(Pending::Unix(mechanism::unix::listen(path)?)),
        (EndpointSpec::Tcp { host }, false) => {
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

/// One port's counts as the node thread last published them.
#[derive(Default)]
struct PortCells {
    sent: AtomicU64,
    received: AtomicU64,
    unique: AtomicU64,
    duplicated: AtomicU64,
    out_of_order: AtomicU64,
    corrupted: AtomicU64,
    injected: [AtomicU64; 4],
}

impl PortCells {
    fn accounting(&self) -> Accounting {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Accounting {
            received: r(&self.received),
            unique: r(&self.unique),
            duplicated: r(&self.duplicated),
            out_of_order: r(&self.out_of_order),
            corrupted: r(&self.corrupted),
        }
    }

    fn injected(&self) -> FaultCounts {
        let r = |i: usize| self.injected[i].load(Ordering::Relaxed);
        FaultCounts { dropped: r(0), duplicated: r(1), reordered: r(2), corrupted: r(3) }
    }
}

/// A node's counters, shared between its thread (which publishes after every operation, a few
/// relaxed stores) and whoever reports progress: the sampler thread on a timer, and the node's
/// own step gate when it arrives. So progress stays current while the node is blocked in a send
/// or a receive, and the buffer fill is read from the ends that still run.
pub struct NodeCells {
    role: Role,
    links: Vec<u16>,
    ports: Vec<PortCells>,
    gauges: Vec<Option<Arc<dyn Gauge>>>,
    latency: Mutex<Option<LatencySummary>>,
    sample_every: AtomicU64,
    /// Set once the node has its final numbers: no progress after them.
    finished: AtomicBool,
    /// One report at a time, so a report read earlier is never sent after a newer one.
    emit: Mutex<()>,
    sink: Sink,
}

impl NodeCells {
    fn new(role: Role, ports: &[(PortSpec, Box<dyn Link>)], sink: &Sink) -> Arc<NodeCells> {
        Arc::new(NodeCells {
            role,
            links: ports.iter().map(|(p, _)| p.link).collect(),
            ports: ports.iter().map(|_| PortCells::default()).collect(),
            gauges: ports.iter().map(|(_, l)| l.gauge()).collect(),
            latency: Mutex::new(None),
            sample_every: AtomicU64::new(1),
            finished: AtomicBool::new(false),
            emit: Mutex::new(()),
            sink: sink.clone(),
        })
    }

    /// Reports this node's counts and buffer fill now. From the sampler a full telemetry queue
    /// drops the report (and counts it); at a step gate (`wait`) the report waits for room, so
    /// the counts beside the gate are never older than the gate.
    fn emit_progress(&self, wait: bool, tick: Option<u64>) {
        let _one_at_a_time = self.emit.lock().unwrap_or_else(|p| p.into_inner());
        if self.finished.load(Ordering::Relaxed) {
            return;
        }
        let per_port: Vec<Accounting> = self.ports.iter().map(PortCells::accounting).collect();
        let mut injected = FaultCounts::default();
        self.ports.iter().for_each(|p| injected.add(&p.injected()));
        let readings = |read: fn(&dyn Gauge) -> Option<Queued>| -> Vec<(u16, Queued)> {
            self.links
                .iter()
                .zip(&self.gauges)
                .filter_map(|(&link, g)| g.as_deref().and_then(read).map(|q| (link, q)))
                .collect()
        };
        let event = Event::Progress {
            role: self.role,
            sent: self.ports.iter().map(|p| p.sent.load(Ordering::Relaxed)).sum(),
            received: per_port.iter().map(|a| a.received).sum(),
            queues: readings(|g| g.receiving()),
            sending: readings(|g| g.sending()),
            accounting: crate::telemetry::Accounting::sum(&per_port),
            latency: *self.latency.lock().unwrap_or_else(|p| p.into_inner()),
            sample_every: self.sample_every.load(Ordering::Relaxed),
            telemetry_dropped: self.sink.dropped(),
            injected,
            tick,
        };
        if wait { self.sink.emit(&event) } else { self.sink.try_emit(&event) }
    }

    fn finish(&self) {
        let _one_at_a_time = self.emit.lock().unwrap_or_else(|p| p.into_inner());
        self.finished.store(true, Ordering::Relaxed);
    }
}

/// Reports every node's progress every [`PROGRESS_INTERVAL`] for as long as the worker runs, at
/// the same ticks of CLOCK_MONOTONIC in every worker (multiples of the interval), so that the
/// counts of different processes are read within scheduling jitter of each other, not up to a
/// whole interval apart.
fn start_sampler(nodes: Vec<Arc<NodeCells>>) -> Result<(), String> {
    let interval = PROGRESS_INTERVAL.as_nanos() as u64;
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            loop {
                let now = monotonic_nanos();
                let tick = now / interval + 1;
                std::thread::sleep(Duration::from_nanos(tick * interval - now));
                if nodes.iter().all(|n| n.finished.load(Ordering::Relaxed)) {
                    return;
                }
                nodes.iter().for_each(|n| n.emit_progress(false, Some(tick)));
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the sampler thread: {e}"))
}

/// One port's counts, kept by the node thread.
struct PortCount {
    peer: Role,
    sent: u64,
    tracker: SeqTracker,
    injector: Option<Injector>,
}

/// Per-node state of the loop: accounting per port, latency, and per-message telemetry.
struct Meter {
    role: Role,
    sink: Sink,
    cells: Arc<NodeCells>,
    control: Arc<Shared>,
    events: bool,
    thread_only: bool,
    ports: Vec<PortCount>,
    hist: hdrhistogram::Histogram<u64>,
    last_progress: Instant,
    measure_start_nanos: Option<u64>,
    measure_end_nanos: u64,
    measured: u64,
    cpu_start: f64,
    /// CPU of helper threads (a thread-baseline fan-in consumer's link readers).
    cpu_extra: f64,
    /// Whether this thread's own CPU is the node's (false when helper threads do its work and
    /// CPU is per thread: then `cpu_extra` is all of it).
    cpu_own: bool,
    /// Report one message in this many (per-message events only); adapted to the rate.
    sample_every: u64,
    since_progress: u64,
}

impl Meter {
    fn new(
        role: Role,
        ports: &[PortSpec],
        run: &RunSpec,
        cells: Arc<NodeCells>,
        control: Arc<Shared>,
        thread_only: bool,
    ) -> Result<Self, String> {
        let hist = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3).map_err(|e| e.to_string())?;
        Ok(Meter {
            role,
            sink: cells.sink.clone(),
            cells,
            control,
            events: run.per_message_events,
            thread_only,
            ports: ports
                .iter()
                .map(|p| PortCount {
                    peer: p.peer,
                    sent: 0,
                    tracker: SeqTracker::default(),
                    // Only data a node produces gets faults; relays pass on what they get.
                    injector: p.upstream.then(|| Injector::new(&run.faults, p.link)).flatten(),
                })
                .collect(),
            hist,
            last_progress: Instant::now(),
            measure_start_nanos: None,
            measure_end_nanos: 0,
            measured: 0,
            cpu_start: 0.0,
            cpu_extra: 0.0,
            cpu_own: true,
            sample_every: 1,
            since_progress: 0,
        })
    }

    fn sent(&self) -> u64 {
        self.ports.iter().map(|p| p.sent).sum()
    }

    fn received(&self) -> u64 {
        self.ports.iter().map(|p| p.tracker.accounting().received).sum()
    }

    fn start_measuring(&mut self, at_nanos: u64) {
        if self.measure_start_nanos.is_none() {
            self.measure_start_nanos = Some(at_nanos);
            self.cpu_start = cpu_secs(self.thread_only);
        }
    }

    fn measured(&mut self, latency_nanos: u64, end_nanos: u64) {
        self.hist.saturating_record(latency_nanos.max(1));
        self.counted(end_nanos);
    }

    /// One more measured message (a side that measures no latency: the echo, the producer).
    fn counted(&mut self, end_nanos: u64) {
        self.measured += 1;
        self.measure_end_nanos = end_nanos;
    }

    fn on_sent(&mut self, port: usize, seq: u64, size: usize, ts: u64) {
        self.on_sent_counted(port, seq, size, ts, true);
    }

    /// `distinct`: a new message rather than another copy of one sent before (a relay passing on
    /// a duplicate it received). `sent` counts distinct messages, so loss (sent − distinct
    /// received) on a relay's outbound link is not inflated by duplicates it forwards.
    fn on_sent_counted(&mut self, port: usize, seq: u64, size: usize, ts: u64, distinct: bool) {
        let p = &mut self.ports[port];
        if distinct {
            p.sent += 1;
            self.cells.ports[port].sent.store(p.sent, Ordering::Relaxed);
        }
        self.since_progress += 1;
        if self.events && seq.is_multiple_of(self.sample_every) {
            self.sink.try_emit(&Event::Message(MessageEvent {
                role: self.role,
                peer: p.peer,
                direction: Direction::Sent,
                seq,
                size: size as u32,
                send_ts_nanos: ts,
                recv_ts_nanos: None,
                sample_every: self.sample_every,
            }));
        }
    }

    fn on_received(&mut self, port: usize, header: &Header, intact: bool, recv_ts: u64) {
        let p = &mut self.ports[port];
        p.tracker.record(header.seq, intact);
        let a = p.tracker.accounting();
        let c = &self.cells.ports[port];
        for (cell, v) in [
            (&c.received, a.received),
            (&c.unique, a.unique),
            (&c.duplicated, a.duplicated),
            (&c.out_of_order, a.out_of_order),
            (&c.corrupted, a.corrupted),
        ] {
            cell.store(v, Ordering::Relaxed);
        }
        self.since_progress += 1;
        if self.events && header.seq.is_multiple_of(self.sample_every) {
            self.sink.try_emit(&Event::Message(MessageEvent {
                role: self.role,
                peer: p.peer,
                direction: Direction::Received,
                seq: header.seq,
                size: header.payload_len,
                send_ts_nanos: header.send_ts_nanos,
                recv_ts_nanos: Some(recv_ts),
                sample_every: self.sample_every,
            }));
        }
    }

    fn on_injected(&mut self, port: usize, action: Action) {
        let Some(inj) = self.ports[port].injector.as_mut() else { return };
        let (i, n) = match action {
            Action::Drop => (0, &mut inj.counts.dropped),
            Action::Duplicate => (1, &mut inj.counts.duplicated),
            Action::Reorder => (2, &mut inj.counts.reordered),
            Action::Corrupt(_) => (3, &mut inj.counts.corrupted),
            Action::Send => return,
        };
        *n += 1;
        self.cells.ports[port].injected[i].store(*n, Ordering::Relaxed);
    }

    /// After each operation: the latency summary and the message sampling for live views. The
    /// counts were published as they changed; progress itself is reported by the sampler thread
    /// and at each step gate. A bench run (no live view) skips all of it.
    fn after_op(&mut self) {
        if !self.events {
            return;
        }
        let gated = self.control.gates.enabled();
        let elapsed = self.last_progress.elapsed();
        // A burst (the first messages of a fast stream) adapts the sampling at once, not after
        // PROGRESS_INTERVAL: otherwise it floods the telemetry queue and events are dropped.
        let burst = self.since_progress >= 2 * SAMPLES_PER_SEC as u64 * self.sample_every;
        if !gated && !burst && elapsed < PROGRESS_INTERVAL {
            return;
        }
        let secs = elapsed.as_secs_f64().max(1e-4);
        self.last_progress = Instant::now();
        if !gated {
            // Keep per-message telemetry near SAMPLES_PER_SEC whatever the message rate; a power
            // of two, so sender and receiver (same rate) pick the same messages.
            let per_sec = self.since_progress as f64 / secs;
            self.sample_every = ((per_sec / SAMPLES_PER_SEC).max(1.0) as u64).next_power_of_two();
        } else {
            self.sample_every = 1;
        }
        self.since_progress = 0;
        self.cells.sample_every.store(self.sample_every, Ordering::Relaxed);
        // Percentiles walk the histogram (~0.3 ms): ten times a second at most, or once per step.
        if (gated || elapsed >= PROGRESS_INTERVAL) && !self.hist.is_empty() {
            *self.cells.latency.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(LatencySummary::from_histogram(&self.hist));
        }
    }

    fn finish(self) -> RoleStats {
        let cpu = if self.measure_start_nanos.is_some() && self.cpu_own {
            cpu_secs(self.thread_only) - self.cpu_start
        } else {
            0.0
        };
        let per_port: Vec<_> = self.ports.iter().map(|p| p.tracker.accounting()).collect();
        let accounting = crate::telemetry::Accounting::sum(&per_port);
        self.cells.finish();
        RoleStats {
            links: self
                .ports
                .iter()
                .zip(&self.cells.links)
                .map(|(p, &link)| LinkStats {
                    link,
                    sent: p.sent,
                    accounting: p.tracker.accounting(),
                    injected: p.injector.as_ref().map(|i| i.counts).unwrap_or_default(),
                })
                .collect(),
            sent: self.sent(),
            accounting,
            latency: (!self.hist.is_empty()).then(|| LatencySummary::from_histogram(&self.hist)),
            measured_nanos: self.measure_start_nanos.map_or(0, |s| self.measure_end_nanos.saturating_sub(s)),
            measured_messages: self.measured,
            cpu_secs: (cpu + self.cpu_extra).max(0.0),
            telemetry_dropped: self.sink.dropped(),
        }
    }
}

fn header(role: Role, peer: Role, kind: FrameKind, seq: u64) -> Header {
    Header {
        kind,
        sender_id: role.wire_id(),
        receiver_id: peer.wire_id(),
        seq,
        send_ts_nanos: monotonic_nanos(),
        payload_len: 0,
        payload_crc: 0,
    }
}

/// Runs one node's program over its ports until done, stopped, or failed.
fn play(
    role: Role,
    program: Program,
    ports: Vec<(PortSpec, Box<dyn Link>)>,
    run: &RunSpec,
    cells: Arc<NodeCells>,
    control: &Arc<Shared>,
    thread_only: bool,
) -> Result<RoleStats, String> {
    let specs: Vec<PortSpec> = ports.iter().map(|(p, _)| p.clone()).collect();
    let mut meter = Meter::new(role, &specs, run, cells.clone(), control.clone(), thread_only)?;
    let mut channels: Vec<Channel> = ports.into_iter().map(|(_, link)| Channel::new(link, run.max_payload)).collect();
    let total = run.warmup.saturating_add(run.count);
    let gate = |op, seq: &dyn Fn() -> u64| control.gates.pass(role, op, seq, &cells, &control.stop);
    let stopped = || control.stop.load(Ordering::Relaxed);
    let mut pacer = Pacer::new(run.rate_per_sec);
    let mut payload = Vec::new();
    payload.try_reserve_exact(run.size).map_err(|e| format!("cannot hold a payload of {} bytes: {e}", run.size))?;
    payload.resize(run.size, 0);
    crate::wire::fill_payload(&mut payload, 0);
    let need = |n: usize, what: &str| {
        if channels.len() == n { Ok(()) } else { Err(format!("a {what} needs {n} link(s), has {}", channels.len())) }
    };

    match program {
        Program::Pinger => {
            need(1, "pinger")?;
            let (ch, peer) = (&mut channels[0], specs[0].peer);
            for seq in 0..total {
                pacer.wait(&control.stop, control.gates.enabled());
                gate(Op::Send, &|| seq);
                if stopped() {
                    break;
                }
                stamp_seq(&mut payload, seq);
                let h = header(role, peer, FrameKind::Data, seq);
                if seq == run.warmup {
                    meter.start_measuring(h.send_ts_nanos);
                }
                ch.send(h, &payload).map_err(|e| e.to_string())?;
                meter.on_sent(0, seq, payload.len(), h.send_ts_nanos);
                meter.after_op();
                gate(Op::Recv, &|| seq);
                let Some(reply) = ch.recv().map_err(|e| e.to_string())? else {
                    return Err(format!("peer ended the channel before replying to message {seq}"));
                };
                let rts = monotonic_nanos();
                let (rh, intact) = (reply.header, reply.intact());
                meter.on_received(0, &rh, intact, rts);
                if seq >= run.warmup {
                    meter.measured(rts.saturating_sub(h.send_ts_nanos), rts);
                }
                meter.after_op();
            }
            let sent = meter.sent();
            gate(Op::SendEnd, &|| sent);
            ch.send(header(role, peer, FrameKind::End, sent), &[]).map_err(|e| e.to_string())?;
        }
        Program::Echo => {
            need(1, "echo")?;
            let (ch, peer) = (&mut channels[0], specs[0].peer);
            loop {
                gate(Op::Recv, &|| meter.received());
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
                // Count the receive before the gate of the reply, so a student stepping sees it.
                let count_now = meter.events && control.gates.enabled();
                if count_now {
                    let intact = ch.last_payload_intact(&rh);
                    meter.on_received(0, &rh, intact, rts);
                    meter.after_op();
                }
                gate(Op::Send, &|| rh.seq);
                // Reply first, then check and count: the verification stays off the round trip.
                let h = header(role, peer, FrameKind::Echo, rh.seq);
                ch.send_last_payload(h, rh.payload_crc).map_err(|e| e.to_string())?;
                if !count_now {
                    let intact = ch.last_payload_intact(&rh);
                    meter.on_received(0, &rh, intact, rts);
                }
                meter.on_sent(0, rh.seq, rh.payload_len as usize, h.send_ts_nanos);
                if rh.seq >= run.warmup {
                    meter.counted(h.send_ts_nanos);
                }
                meter.after_op();
            }
        }
        Program::Producer => {
            if channels.is_empty() {
                return Err("a producer needs at least one link".into());
            }
            // A frame held back per link by a reorder fault, sent right after the next one.
            let mut held: Vec<Option<(Header, Vec<u8>)>> = vec![None; channels.len()];
            // Every link carries warmup + count frames; with several links they are dealt in turn.
            'send: for seq in 0..total {
                for (i, ch) in channels.iter_mut().enumerate() {
                    pacer.wait(&control.stop, control.gates.enabled());
                    gate(Op::Send, &|| seq);
                    if stopped() {
                        break 'send;
                    }
                    stamp_seq(&mut payload, seq);
                    let h = header(role, specs[i].peer, FrameKind::Data, seq);
                    if seq == run.warmup && i == 0 {
                        meter.start_measuring(h.send_ts_nanos);
                    }
                    let action = match meter.ports[i].injector.as_mut() {
                        None => Action::Send,
                        Some(inj) => inj.decide(seq, payload.len(), seq + 1 == total),
                    };
                    match action {
                        Action::Send => {
                            ch.send(h, &payload).map_err(|e| e.to_string())?;
                            if let Some((hh, p)) = held[i].take() {
                                // This frame overtook the held one: now the held one, late
                                // (through a gate of its own: in step mode one send per step).
                                gate(Op::Send, &|| hh.seq);
                                ch.send(hh, &p).map_err(|e| e.to_string())?;
                                meter.on_injected(i, Action::Reorder);
                            }
                        }
                        Action::Drop => {}
                        Action::Duplicate => {
                            ch.send(h, &payload).map_err(|e| e.to_string())?;
                            gate(Op::Send, &|| seq);
                            ch.send(h, &payload).map_err(|e| e.to_string())?;
                        }
                        Action::Reorder => held[i] = Some((h, payload.clone())),
                        Action::Corrupt(at) => {
                            let crc = crate::wire::payload_crc(&payload);
                            payload[at] ^= 0xA5;
                            let sent = ch.send_with_crc(h, &payload, crc);
                            payload[at] ^= 0xA5;
                            sent.map_err(|e| e.to_string())?;
                        }
                    }
                    if !matches!(action, Action::Send | Action::Reorder) {
                        meter.on_injected(i, action);
                    }
                    // A dropped frame was sent as far as the application knows: the channel lost it.
                    meter.on_sent(i, seq, payload.len(), h.send_ts_nanos);
                    if seq >= run.warmup {
                        meter.counted(h.send_ts_nanos);
                    }
                    meter.after_op();
                }
            }
            for (i, ch) in channels.iter_mut().enumerate() {
                // Stopped before a held frame was overtaken: it goes out in order after all.
                if let Some((hh, p)) = held[i].take() {
                    gate(Op::Send, &|| hh.seq);
                    ch.send(hh, &p).map_err(|e| e.to_string())?;
                }
                let sent = meter.ports[i].sent;
                gate(Op::SendEnd, &|| sent);
                ch.send(header(role, specs[i].peer, FrameKind::End, sent), &[]).map_err(|e| e.to_string())?;
            }
        }
        Program::Relay => {
            need(2, "relay")?;
            let inbound = specs.iter().position(|p| !p.upstream).ok_or("a relay needs an inbound link")?;
            let outbound = 1 - inbound;
            let (first, second) = channels.split_at_mut(1);
            let (inc, out) =
                if inbound == 0 { (&mut first[0], &mut second[0]) } else { (&mut second[0], &mut first[0]) };
            let out_peer = specs[outbound].peer;
            loop {
                gate(Op::Recv, &|| meter.received());
                let Some(msg) = inc.recv().map_err(|e| e.to_string())? else {
                    return Err("upstream ended the channel without saying end".into());
                };
                let rts = monotonic_nanos();
                let rh = msg.header;
                if rh.kind == FrameKind::End {
                    let sent = meter.ports[outbound].sent;
                    gate(Op::SendEnd, &|| sent);
                    out.send(header(role, out_peer, FrameKind::End, sent), &[]).map_err(|e| e.to_string())?;
                    break;
                }
                let intact = msg.intact();
                let unique_before = meter.ports[inbound].tracker.accounting().unique;
                meter.on_received(inbound, &rh, intact, rts);
                let distinct = meter.ports[inbound].tracker.accounting().unique > unique_before;
                if rh.seq >= run.warmup {
                    meter.start_measuring(rh.send_ts_nanos);
                    meter.measured(rts.saturating_sub(rh.send_ts_nanos), rts);
                }
                meter.after_op();
                gate(Op::Send, &|| rh.seq);
                // Pass it on unchanged: same sequence number, the producer's send time (so the
                // consumer measures end to end) and the checksum it came with.
                let fwd = Header { sender_id: role.wire_id(), receiver_id: out_peer.wire_id(), ..rh };
                // Only telemetry reads this hop's send time: no clock read when nobody watches.
                let forwarded_at = if meter.events { monotonic_nanos() } else { 0 };
                out.forward_last_payload_of(inc, fwd).map_err(|e| e.to_string())?;
                // Telemetry gets this hop's own send time; the frame keeps the producer's.
                meter.on_sent_counted(outbound, rh.seq, rh.payload_len as usize, forwarded_at, distinct);
                meter.after_op();
            }
        }
        Program::Consumer => {
            if channels.len() == 1 {
                consume(0, &mut channels[0], &mut meter, run, &gate)?;
            } else {
                return consume_many(role, channels, meter, run, control, thread_only);
            }
        }
    }
    Ok(meter.finish())
}

/// A consumer's loop over one port.
fn consume(
    port: usize,
    ch: &mut Channel,
    meter: &mut Meter,
    run: &RunSpec,
    gate: &dyn Fn(Op, &dyn Fn() -> u64),
) -> Result<(), String> {
    loop {
        gate(Op::Recv, &|| meter.ports[port].tracker.accounting().received);
        let Some(msg) = ch.recv().map_err(|e| e.to_string())? else {
            return Err("peer ended the channel without saying end".into());
        };
        let rts = monotonic_nanos();
        let (rh, intact) = (msg.header, msg.intact());
        if rh.kind == FrameKind::End {
            return Ok(());
        }
        meter.on_received(port, &rh, intact, rts);
        if rh.seq >= run.warmup {
            meter.start_measuring(rh.send_ts_nanos);
            meter.measured(rts.saturating_sub(rh.send_ts_nanos), rts);
        }
        meter.after_op();
    }
}

/// A consumer with several inbound links (fan-in): one thread per link, one shared meter. The
/// first link to fail fails the node; threads blocked on live producers end with the process.
fn consume_many(
    role: Role,
    channels: Vec<Channel>,
    meter: Meter,
    run: &RunSpec,
    control: &Arc<Shared>,
    thread_only: bool,
) -> Result<RoleStats, String> {
    let cells = meter.cells.clone();
    let mut meter = meter;
    // Per-thread CPU (the thread baseline): the link threads below do the work and count it.
    meter.cpu_own = !thread_only;
    let meter = Arc::new(Mutex::new(meter));
    let (done_tx, done_rx) = unbounded();
    let n = channels.len();
    for (port, mut ch) in channels.into_iter().enumerate() {
        let (meter, run, control, done, cells) =
            (meter.clone(), run.clone(), control.clone(), done_tx.clone(), cells.clone());
        std::thread::Builder::new()
            .name(format!("node-{}-link-{port}", role.0))
            .spawn(move || {
                let gate = |op, seq: &dyn Fn() -> u64| control.gates.pass(role, op, seq, &cells, &control.stop);
                let lock = || meter.lock().unwrap_or_else(|p| p.into_inner());
                // In the thread baseline the node's CPU is these threads' own (RUSAGE_THREAD).
                let mut cpu_start: Option<f64> = None;
                let result = loop {
                    gate(Op::Recv, &|| lock().ports[port].tracker.accounting().received);
                    let msg = match ch.recv() {
                        Ok(Some(m)) => m,
                        Ok(None) => break Err("peer ended the channel without saying end".to_string()),
                        Err(e) => break Err(e.to_string()),
                    };
                    let rts = monotonic_nanos();
                    let (rh, intact) = (msg.header, msg.intact());
                    if rh.kind == FrameKind::End {
                        break Ok(());
                    }
                    let mut m = lock();
                    m.on_received(port, &rh, intact, rts);
                    if rh.seq >= run.warmup {
                        if thread_only && cpu_start.is_none() {
                            cpu_start = Some(cpu_secs(true));
                        }
                        m.start_measuring(rh.send_ts_nanos);
                        m.measured(rts.saturating_sub(rh.send_ts_nanos), rts);
                    }
                    m.after_op();
                };
                if let Some(c0) = cpu_start {
                    lock().cpu_extra += cpu_secs(true) - c0;
                }
                // Let go of the meter before saying done, so the last one out can take it back.
                drop(meter);
                let _ = done.send(result);
            })
            .map_err(|e| format!("cannot start a consumer thread: {e}"))?;
    }
    drop(done_tx);
    for _ in 0..n {
        match done_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("a consumer thread ended without a word".into()),
        }
    }
    let meter = Arc::try_unwrap(meter).map_err(|_| "consumer threads still hold the meter")?;
    Ok(meter.into_inner().unwrap_or_else(|p| p.into_inner()).finish())
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

    /// Waits for the next slot. With the gates on (slow motion, step) the session sets the pace,
    /// and a rate limit meant for real time would only slow it further: no wait then.
    fn wait(&mut self, stop: &AtomicBool, gated: bool) {
        let Some(interval) = self.interval else { return };
        let now = Instant::now();
        if gated {
            self.next = now;
            return;
        }
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
    /// Permits per node.
    permits: Mutex<Vec<u64>>,
    changed: Condvar,
}

impl Gates {
    fn new(enabled: bool) -> Self {
        Gates {
            enabled: AtomicBool::new(enabled),
            permits: Mutex::new(vec![0; MAX_NODES as usize + 1]),
            changed: Condvar::new(),
        }
    }

    fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
        let mut permits = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        if !enabled {
            // A Step that arrives as gates go off must not let an operation through later.
            permits.iter_mut().for_each(|p| *p = 0);
        }
        self.changed.notify_all();
    }

    fn add_permits(&self, role: Role, ops: u64) {
        let mut permits = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = permits.get_mut(role.index()) {
            *p += ops;
        }
        self.changed.notify_all();
    }

    fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Waits at the gate if gates are on. One relaxed load when they are off: the sequence number
    /// for the telemetry is only worked out when someone is watching. Arriving, the node reports
    /// its progress first, so the counts a student sees at a gate are exact.
    fn pass(&self, role: Role, op: Op, seq: &dyn Fn() -> u64, cells: &NodeCells, stop: &AtomicBool) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let seq = seq();
        let sink = &cells.sink;
        cells.emit_progress(true, None);
        sink.emit(&Event::Gate { role, op, seq, passed: false });
        let slot = role.index().min(MAX_NODES as usize);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{FaultRule, Faults};
    use crate::scenario::{ENDLESS, Pattern};
    use proptest::prelude::*;

    fn arb_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(-1.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(1e-300),
            Just(0.5),
            Just(4.0),
            any::<f64>()
        ]
    }

    fn arb_usize() -> impl Strategy<Value = usize> {
        prop_oneof![Just(0usize), Just(1), Just(64), Just(4096), Just(1 << 20), Just(usize::MAX), any::<usize>()]
    }

    fn arb_rule() -> impl Strategy<Value = FaultRule> {
        prop_oneof![
            Just(FaultRule::Never),
            arb_f64().prop_map(FaultRule::Fraction),
            proptest::collection::vec(any::<u64>(), 0..4).prop_map(FaultRule::Seqs),
        ]
    }

    prop_compose! {
        fn arb_run()(
            mechanism in proptest::sample::select(MechanismId::ALL.to_vec()),
            pattern in proptest::sample::select(vec![Pattern::PingPong, Pattern::Stream, Pattern::Pipeline, Pattern::FanOut, Pattern::FanIn]),
            size in arb_usize(), max_payload in arb_usize(),
            count in prop_oneof![Just(0u64), Just(1), Just(ENDLESS), Just(u64::MAX), any::<u64>()],
            warmup in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
            shm_ring_bytes in arb_usize(), mq_depth in arb_usize(), mq_msg_size in arb_usize(),
            pin in proptest::option::of(proptest::collection::vec(arb_usize(), 0..3)),
            nodes in any::<u16>(), rate in proptest::option::of(arb_f64()),
            faults in (arb_rule(), arb_rule(), arb_rule(), arb_rule(), any::<u64>()),
        ) -> RunSpec {
            RunSpec {
                mechanism, pattern, size, max_payload, count, warmup, shm_ring_bytes, mq_depth, mq_msg_size, pin,
                nodes, rate_per_sec: rate,
                faults: Faults { drop: faults.0, duplicate: faults.1, reorder: faults.2, corrupt: faults.3, seed: faults.4 },
                ..RunSpec::default()
            }
        }
    }

    prop_compose! {
        fn arb_worker_spec()(
            run in arb_run(),
            roles in proptest::collection::vec(any::<u16>().prop_map(Role), 0..3),
            ports in proptest::collection::vec((any::<u16>(), any::<u16>(), any::<bool>(), any::<u16>()), 0..4),
        ) -> WorkerSpec {
            let ports = ports
                .into_iter()
                .map(|(role, link, upstream, peer)| PortSpec {
                    role: Role(role % 20),
                    link: link % 20,
                    upstream,
                    peer: Role(peer % 20),
                    endpoint: EndpointSpec::Thread,
                })
                .collect();
            WorkerSpec { roles, ports, run }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A worker spec from anywhere (a supervisor of another version, a hand-typed command)
        /// is refused with a reason, or every value the worker will act on is in bounds: the
        /// allocations, the pacer, the ring, the pin list, the topology. Never a panic.
        #[test]
        fn random_worker_specs_are_refused_or_safe(spec in arb_worker_spec()) {
            if spec.validate().is_ok() {
                let run = &spec.run;
                prop_assert!(run.size <= run.max_payload && run.max_payload <= crate::scenario::MAX_PAYLOAD_LIMIT);
                let _ = Pacer::new(run.rate_per_sec);
                let topology = run.topology();
                prop_assert!(spec.roles.iter().all(|r| r.index() < topology.programs.len()));
                prop_assert!(run.warmup.checked_add(run.count).is_some());
                if run.mechanism == MechanismId::Shm {
                    prop_assert!(run.shm_ring_bytes.max(4096).checked_next_power_of_two().is_some());
                }
                if let Some(pin) = &run.pin {
                    let cpus = process_cpus(pin, &spec.roles);
                    prop_assert!(cpus.len() <= crate::scenario::MAX_CPUS);
                }
                let _ = Injector::new(&run.faults, 0).map(|mut i| i.decide(0, run.size, false));
            }
        }

        /// The same through JSON text, as the worker receives it: mangled text is an error.
        #[test]
        fn random_worker_spec_text_never_panics(text in "\\PC{0,200}", spec in arb_worker_spec(), cut in any::<prop::sample::Index>()) {
            let _ = serde_json::from_str::<WorkerSpec>(&text).map(|s| s.validate());
            let json = serde_json::to_string(&spec).expect("encode");
            let cut = cut.index(json.len() + 1);
            if let Some(prefix) = json.get(..cut) {
                let _ = serde_json::from_str::<WorkerSpec>(prefix).map(|s| s.validate());
            }
        }
    }

    #[test]
    fn a_spec_with_a_zero_rate_or_a_huge_size_is_refused() {
        let base = WorkerSpec { roles: vec![Role(0)], ports: vec![], run: RunSpec::default() };
        let zero_rate = WorkerSpec { run: RunSpec { rate_per_sec: Some(0.0), ..RunSpec::default() }, ..base.clone() };
        assert!(zero_rate.validate().unwrap_err().contains("rate"));
        let huge = WorkerSpec {
            run: RunSpec { size: usize::MAX / 2, max_payload: usize::MAX, ..RunSpec::default() },
            ..base.clone()
        };
        assert!(huge.validate().unwrap_err().contains("maximum payload"));
        let stranger = WorkerSpec { roles: vec![Role(9)], ..base };
        assert!(stranger.validate().unwrap_err().contains("not in a topology"));
    }
}
