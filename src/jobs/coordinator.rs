//! The coordinator: cuts the array into chunks, hands them to workers as they ask, gathers the
//! partial results and checks the whole. It runs in the process that asked for the job (the
//! `ipc-lab job` command, or the Distributed view's session thread); workers are child processes
//! over one link each, threads, or tokio tasks.
//!
//! Fault tolerance: a worker's death is noticed as the end of its link (or its exit, whichever
//! comes first); a stopped or stuck worker by its silence (no heartbeat for five intervals). Its
//! unfinished chunk goes back to the front of the queue. Results are kept by chunk id, so a late
//! answer for a chunk already done is counted once and said to be a duplicate. Every chunk keeps
//! its history.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, unbounded};
use serde::{Deserialize, Serialize};

use super::compute::Partial;
use super::proto::{self, ChunkResult, Down, Incoming, Up};
use super::spec::{DataSource, JobSpec, Schedule, Ship, WorkerKind};
use super::worker::{Local, Work, WorkerSpec};
use crate::mechanism::Channel;
use crate::mechanism::endpoint::{EndpointSpec, prepare};
use crate::supervisor::resources::{Named, Resources};
use crate::supervisor::{ExitKind, RunEvent, WorkerProc, WorkerSignal};
use crate::wire::monotonic_nanos;

/// What the coordinator reports as the job goes; times are CLOCK_MONOTONIC nanoseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum JobEvent {
    Planned {
        chunks: Vec<(u64, u64)>,
        workers: usize,
    },
    WorkerUp {
        worker: u32,
        pid: Option<u32>,
        startup_ns: u64,
        replaces: Option<u32>,
        at_ns: u64,
    },
    /// Every first worker has asked for work: the clock of the job starts.
    Started {
        at_ns: u64,
    },
    Assigned {
        chunk: u32,
        worker: u32,
        at_ns: u64,
    },
    Sent {
        chunk: u32,
        worker: u32,
        bytes: u64,
        at_ns: u64,
    },
    Progress {
        worker: u32,
        chunk: u32,
        done: u64,
        at_ns: u64,
    },
    Done {
        worker: u32,
        result: ChunkResult,
        arrived_ns: u64,
        total: Partial,
    },
    /// A result for a chunk already done: ignored (with the worker's timings, to show the
    /// work that went for nothing).
    Duplicate {
        chunk: u32,
        worker: u32,
        at_ns: u64,
        result: Option<ChunkResult>,
    },
    /// A result whose frame failed its checksum: the chunk is computed again.
    Corrupt {
        chunk: Option<u32>,
        worker: u32,
        at_ns: u64,
    },
    Lost {
        worker: u32,
        how: Lost,
        at_ns: u64,
    },
    Requeued {
        chunk: u32,
        from: u32,
        at_ns: u64,
    },
    /// A silent worker spoke again.
    Back {
        worker: u32,
        at_ns: u64,
    },
    Exited {
        worker: u32,
        exit: String,
        at_ns: u64,
    },
    Signalled {
        worker: u32,
        signal: Sig,
        at_ns: u64,
    },
    Refused {
        worker: u32,
        why: String,
    },
    /// About workers from other hosts: who joined, who was refused, who was dropped.
    Remote {
        note: RemoteNote,
        at_ns: u64,
    },
    /// The job takes workers from other hosts on `addr` (the address bound: with 0.0.0.0, any of
    /// this host's); `token` says whether they must prove a token file's secret.
    Listening {
        addr: String,
        /// The addresses another host dials to reach it (this host's own, for 0.0.0.0 or [::]),
        /// looked up once, when the job starts listening.
        #[serde(default)]
        dial: Vec<String>,
        token: bool,
        at_ns: u64,
    },
    /// A worker from another host said hello: its host name and address, and the worker it was
    /// before its link broke, if it rejoins.
    Node {
        worker: u32,
        host: Option<String>,
        addr: String,
        rejoins: Option<u32>,
    },
    /// A remote worker's clock, measured from one task and its result (NTP's four times): the
    /// round trip less the worker's own time (`rtt_ns`), the best (shortest) round trip so far,
    /// and the worker clock's offset from ours measured on that best round trip, which the
    /// coordinator subtracts from the worker's times before it uses them.
    Clock {
        worker: u32,
        rtt_ns: u64,
        best_rtt_ns: u64,
        offset_ns: i64,
    },
    Finished(Box<JobOutcome>),
    Failed {
        why: String,
    },
}

/// What happened to a worker from another host, as data, so each front end words it in its own
/// language (`say::remote`). `why` details are the error's own text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteNote {
    /// A worker proved the token (or needed none) and is now `w{worker}`.
    Joined { worker: u32, peer: String },
    /// `w{worker}` says it is `w{was}` come back after its link was dropped.
    Rejoined { worker: u32, was: u32 },
    /// `w{worker}` sent nothing for `after_ms`: its connection is closed, its chunk requeued.
    Dropped { worker: u32, after_ms: u64 },
    /// A connection from `peer` failed the handshake.
    Refused { peer: String, why: String },
    /// The job already has `max` workers.
    Full { peer: String, max: usize },
    /// The peer passed the handshake but went before its work could be sent, or no thread could
    /// be started to serve it.
    LeftEarly { peer: String, why: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sig {
    Kill,
    Stop,
    Continue,
}

/// How the coordinator learned a worker was gone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Lost {
    /// Its link ended (`eof`) or failed (the error), or its process was reaped first.
    Died { noticed: String },
    /// No word for `after_ms`; `state` is the kernel's (T: stopped, R: running, S: asleep).
    Silent { after_ms: u64, state: Option<char> },
}

/// What the GUI (or a test) may ask while the job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobCommand {
    Signal { worker: u32, signal: Sig },
    AddWorker,
    Abort,
}

/// One step of a chunk's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "lowercase")]
pub enum Step {
    Assigned { worker: u32, at_ms: f64 },
    Requeued { from: u32, at_ms: f64 },
    Done { worker: u32, at_ms: f64 },
    Duplicate { worker: u32, at_ms: f64 },
    Corrupt { worker: u32, at_ms: f64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkHistory {
    pub chunk: u32,
    pub start: u64,
    pub len: u64,
    pub steps: Vec<Step>,
}

/// One worker's account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub worker: u32,
    pub pid: Option<u32>,
    /// From being started to asking for its first task.
    pub startup_ns: u64,
    pub chunks: u64,
    pub items: u64,
    /// Measured by the worker: computing, receiving its tasks and sending its results, waiting
    /// for work, and waiting inside a task (`--wait-ms`).
    pub compute_ns: u64,
    pub comm_ns: u64,
    pub idle_ns: u64,
    pub wait_ns: u64,
    /// Computing's wall time not spent on a CPU: stopped, or waiting for a CPU.
    pub stalled_ns: u64,
    /// Proportional set size at the end (processes), KiB.
    pub pss_kib: Option<u64>,
    pub fate: String,
    /// A worker from another host: where, and its clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeStats>,
}

/// A remote worker's host, address and clock as the coordinator measured them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    pub host: Option<String>,
    pub addr: String,
    /// The shortest round trip measured (task out, result back, less the worker's own time).
    pub rtt_ns: Option<u64>,
    /// The worker clock's offset from the coordinator's, measured on that round trip.
    pub offset_ns: Option<i64>,
    /// The worker it was before its link broke and it joined again.
    pub rejoins: Option<u32>,
}

impl WorkerStats {
    /// Adds one result's times as the worker measured them: idle from `idle_from` to the task,
    /// receiving, computing (its CPU time; the rest of that stretch stalled), waiting, and
    /// sending until it `arrived_ns`.
    pub fn account(&mut self, r: &ChunkResult, idle_from: u64, arrived_ns: u64) {
        // A task held on its way in by an injected delay is in transit, which is communication,
        // not the worker idling (the way back already falls between computed and arrived).
        let arrived_task = r.task_ns.saturating_sub(r.delay_in_ns).max(idle_from);
        self.idle_ns = self.idle_ns.saturating_add(arrived_task.saturating_sub(idle_from));
        self.comm_ns = self
            .comm_ns
            .saturating_add(r.task_ns.saturating_sub(arrived_task))
            .saturating_add(r.data_ns.saturating_sub(r.task_ns))
            .saturating_add(arrived_ns.saturating_sub(r.computed_ns));
        self.wait_ns = self.wait_ns.saturating_add(r.waited_ns);
        // Computing is the CPU time the worker measured; the rest of that stretch it was stopped
        // or waiting for a CPU (a stopped worker's stop is not computing).
        let wall = r.computed_ns.saturating_sub(r.data_ns).saturating_sub(r.waited_ns);
        let cpu = if r.cpu_ns > 0 { r.cpu_ns.min(wall) } else { wall };
        self.compute_ns = self.compute_ns.saturating_add(cpu);
        self.stalled_ns = self.stalled_ns.saturating_add(wall - cpu);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub spec: JobSpec,
    pub result: Partial,
    pub digest: u64,
    pub expected: Partial,
    /// `None` when recomputing every round here would take too long (items × work above 2e8).
    pub expected_digest: Option<u64>,
    pub exact: bool,
    /// Chunks whose answer differs from the coordinator's own.
    pub wrong_chunks: Vec<u32>,
    /// From the first task to the last result.
    pub elapsed_ns: u64,
    /// Bytes of frames sent to workers (tasks and their items).
    pub bytes_moved: u64,
    pub duplicates: u64,
    pub requeued: u64,
    pub workers: Vec<WorkerStats>,
    pub chunks: Vec<ChunkHistory>,
    /// The coordinator's resident memory growth from starting the workers (threads and tasks).
    pub rss_growth_kib: Option<u64>,
    /// One thread of the coordinator summing the same array in memory, after the job (when it
    /// holds the array): the yardstick for the job's own rate.
    pub in_memory_sum_ns: Option<u64>,
    /// The prefix of every name the job created (shm, queues, FIFOs, sockets): all removed.
    pub resource_prefix: Option<String>,
}

impl JobOutcome {
    /// Items per second as bytes (8 each), from the first task to the last result.
    pub fn rate_bytes_per_sec(&self) -> f64 {
        self.spec.data.len() as f64 * 8.0 / (self.elapsed_ns.max(1) as f64 / 1e9)
    }

    /// The same for one thread summing the array in memory, when measured.
    pub fn in_memory_bytes_per_sec(&self) -> Option<f64> {
        self.in_memory_sum_ns.map(|ns| self.spec.data.len() as f64 * 8.0 / (ns.max(1) as f64 / 1e9))
    }

    /// Of the time workers were busy, the share spent moving data rather than computing.
    pub fn comm_share(&self) -> f64 {
        let comm: u64 = self.workers.iter().map(|w| w.comm_ns).sum();
        let comp: u64 = self.workers.iter().map(|w| w.compute_ns + w.wait_ns).sum();
        if comm + comp == 0 { 0.0 } else { comm as f64 / (comm + comp) as f64 }
    }
}

/// What a worker's proxy thread or channel brings in.
enum In {
    /// A worker from another host proved the token (`--listen`); `stream` is a handle on its
    /// connection, to drop it.
    Joined {
        link: Box<crate::jobs::auth::SealedLink<std::net::TcpStream>>,
        stream: std::net::TcpStream,
        peer: String,
    },
    /// A connection that did not.
    Refused {
        peer: String,
        why: String,
    },
    Up {
        worker: u32,
        msg: Up,
        at_ns: u64,
    },
    Corrupt {
        worker: u32,
        at_ns: u64,
    },
    Gone {
        worker: u32,
        why: String,
    },
    /// A chunk's items are still going out to `worker`, and moving.
    Moving {
        worker: u32,
    },
    /// A task and its items went out; the task frame left at `task_ns`.
    Sent {
        worker: u32,
        chunk: u32,
        bytes: u64,
        task_ns: u64,
    },
}

enum Reply {
    Channel(Sender<Down>),
    Task(tokio::sync::mpsc::UnboundedSender<Down>),
}

impl Reply {
    fn send(&self, d: Down) -> bool {
        match self {
            Reply::Channel(s) => s.send(d).is_ok(),
            Reply::Task(s) => s.send(d).is_ok(),
        }
    }
}

struct Wk {
    id: u32,
    pid: Option<u32>,
    reply: Option<Reply>,
    proc_index: Option<usize>,
    spawned: Instant,
    hello: bool,
    pending: bool,
    chunk: Option<u32>,
    last_heard: Instant,
    silent: bool,
    gone: bool,
    stats: WorkerStats,
    /// The coordinator's end of a worker process's link and the address it listens on, to
    /// unblock the proxy's open if the worker never connects.
    unblock: Option<(EndpointSpec, Option<String>)>,
    /// When its previous result arrived: its idle time starts no earlier.
    last_arrived_ns: u64,
    /// A worker from another host: its connection and clock.
    remote: Option<RemoteLink>,
}

/// The coordinator's hold on a remote worker's connection, and what it measured of its clock.
struct RemoteLink {
    peer: String,
    stream: std::net::TcpStream,
    /// The chunk last sent and when its task frame left (our clock).
    task_sent: Option<(u32, u64)>,
    /// The shortest round trip so far and the offset measured on it.
    best: Option<(u64, i64)>,
}

impl RemoteLink {
    /// One sample from a task sent at `t1` (ours), received at `t2` (the worker's), its result
    /// sent at `t3` (the worker's) and arrived at `t4` (ours): the round trip less the worker's
    /// time, and the offset `((t2 - t1) + (t3 - t4)) / 2`. The best sample is the shortest
    /// round trip: the one least delayed on either leg, so its offset is the least wrong (off by
    /// at most half its round trip).
    fn sample(&mut self, t1: u64, t2: u64, t3: u64, t4: u64) -> (u64, u64, i64) {
        let (rtt, offset) = ntp(t1, t2, t3, t4);
        if self.best.is_none_or(|(b, _)| rtt < b) {
            self.best = Some((rtt, offset));
        }
        let (best, offset) = self.best.expect("set");
        (rtt, best, offset)
    }
}

/// NTP's round trip and offset from four times (`t1`, `t4` ours; `t2`, `t3` the worker's).
fn ntp(t1: u64, t2: u64, t3: u64, t4: u64) -> (u64, i64) {
    let (t1, t2, t3, t4) = (t1 as i128, t2 as i128, t3 as i128, t4 as i128);
    let rtt = ((t4 - t1) - (t3 - t2)).max(0) as u64;
    let offset = (((t2 - t1) + (t3 - t4)) / 2) as i64;
    (rtt, offset)
}

/// A worker's time on the coordinator's clock, given its clock's offset.
fn ours(t: u64, offset_ns: i64) -> u64 {
    if t == 0 { 0 } else { (t as i128 - offset_ns as i128).clamp(0, u64::MAX as i128) as u64 }
}

struct Chunk {
    start: u64,
    len: u64,
    done: bool,
    queued: bool,
    history: Vec<Step>,
    /// Results for it that failed their checksum.
    corrupt: u32,
}

/// Runs `spec` to the end; `emit` sees every event (the last is `Finished` or `Failed`).
pub fn run(
    spec: &JobSpec,
    exe: &Path,
    commands: Option<&Receiver<JobCommand>>,
    emit: &mut dyn FnMut(JobEvent),
) -> Result<JobOutcome, String> {
    let mut c = Coordinator::new(spec, exe)?;
    let out = c.run(commands, emit);
    let fates = c.shutdown();
    match out {
        Ok(mut o) => {
            // Measured with every worker gone, so nothing else shares the CPUs.
            o.in_memory_sum_ns = c.in_memory_sum_ns();
            for w in &mut o.workers {
                if let Some(f) = fates.get(&w.worker) {
                    w.fate = f.clone();
                } else if w.fate == "running" {
                    w.fate = "ended".into();
                }
            }
            emit(JobEvent::Finished(Box::new(o.clone())));
            Ok(o)
        }
        Err(why) => {
            emit(JobEvent::Failed { why: why.clone() });
            Err(why)
        }
    }
}

struct Coordinator {
    spec: JobSpec,
    exe: PathBuf,
    resources: Option<Resources>,
    array: Option<Arc<Vec<u64>>>,
    shared: Option<String>,
    in_tx: Sender<In>,
    in_rx: Receiver<In>,
    run_tx: Sender<RunEvent>,
    run_rx: Receiver<RunEvent>,
    /// Threads and tasks speak straight into this inbox.
    local_tx: Sender<(u32, Up)>,
    local_rx: Receiver<(u32, Up)>,
    replaces: BTreeMap<u32, Option<u32>>,
    /// Each done chunk's answer, for the check.
    results: BTreeMap<u32, (Partial, u64)>,
    procs: Vec<WorkerProc>,
    proxies: Vec<std::thread::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    runtime: Option<(tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
    rt_handle: Option<tokio::runtime::Handle>,
    workers: Vec<Wk>,
    chunks: Vec<Chunk>,
    queue: VecDeque<u32>,
    /// Static schedule: the chunk each first worker is given.
    own: BTreeMap<u32, u32>,
    t0: Option<Instant>,
    t0_ns: u64,
    total: Partial,
    digest: u64,
    bytes: u64,
    duplicates: u64,
    requeued: u64,
    pgid: Option<u32>,
    rss_before: Option<u64>,
    /// A replacement or an added worker could not be started.
    respawn_failed: bool,
    /// The thread taking workers from other hosts, and its stop flag.
    listener: Option<(Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Coordinator {
    fn new(spec: &JobSpec, exe: &Path) -> Result<Coordinator, String> {
        crate::supervisor::resources::sweep_stale();
        let (in_tx, in_rx) = unbounded();
        let (run_tx, run_rx) = unbounded();
        let (local_tx, local_rx) = unbounded();
        let array = match (spec.kind, spec.ship) {
            (WorkerKind::Process, Ship::Work) => None,
            (WorkerKind::Process, _) | (_, Ship::Data | Ship::Shared) => Some(Arc::new(make_array(&spec.data)?)),
            _ => None,
        };
        let resources = if spec.kind == WorkerKind::Process {
            Some(Resources::create().map_err(|e| format!("creating the job's directory: {e}"))?)
        } else {
            None
        };
        let chunks: Vec<Chunk> = spec
            .chunks()
            .into_iter()
            .map(|(start, len)| Chunk { start, len, done: false, queued: false, history: Vec::new(), corrupt: 0 })
            .collect();
        Ok(Coordinator {
            spec: spec.clone(),
            exe: exe.to_path_buf(),
            resources,
            array,
            shared: None,
            in_tx,
            in_rx,
            run_tx,
            run_rx,
            local_tx,
            local_rx,
            replaces: BTreeMap::new(),
            results: BTreeMap::new(),
            procs: Vec::new(),
            proxies: Vec::new(),
            threads: Vec::new(),
            runtime: None,
            rt_handle: None,
            workers: Vec::new(),
            chunks,
            queue: VecDeque::new(),
            own: BTreeMap::new(),
            t0: None,
            // Until the job starts, times count from the coordinator's start.
            t0_ns: monotonic_nanos(),
            total: Partial::empty(spec.op),
            digest: 0,
            bytes: 0,
            duplicates: 0,
            requeued: 0,
            pgid: None,
            rss_before: None,
            respawn_failed: false,
            listener: None,
        })
    }

    fn in_memory_sum_ns(&self) -> Option<u64> {
        self.array.as_ref().map(|a| {
            let t = Instant::now();
            let mut acc: u128 = 0;
            for &x in std::hint::black_box(&a[..]) {
                acc += x as u128;
            }
            std::hint::black_box(acc);
            t.elapsed().as_nanos() as u64
        })
    }

    fn ms(&self, at_ns: u64) -> f64 {
        at_ns.saturating_sub(self.t0_ns) as f64 / 1e6
    }

    fn run(
        &mut self,
        commands: Option<&Receiver<JobCommand>>,
        emit: &mut dyn FnMut(JobEvent),
    ) -> Result<JobOutcome, String> {
        let plan: Vec<(u64, u64)> = self.chunks.iter().map(|c| (c.start, c.len)).collect();
        emit(JobEvent::Planned { chunks: plan, workers: self.spec.workers });
        if self.spec.ship == Ship::Shared && self.spec.kind == WorkerKind::Process {
            self.make_shared()?;
        }
        match self.spec.kind {
            WorkerKind::Async | WorkerKind::AsyncOne => self.start_runtime()?,
            _ => {}
        }
        self.rss_before = rss_kib();
        match self.spec.schedule {
            Schedule::Static => {
                for (i, _) in self.chunks.iter().enumerate() {
                    self.own.insert(i as u32 + 1, i as u32);
                }
            }
            Schedule::Dynamic => {
                self.queue = (0..self.chunks.len() as u32).collect();
                for c in &mut self.chunks {
                    c.queued = true;
                }
            }
        }
        for _ in 0..self.spec.workers {
            self.add_worker(None, emit)?;
        }
        if let Some(addr) = self.spec.listen {
            self.listen(addr, emit)?;
        }
        let mut timed: Vec<(f64, Option<(u32, Sig)>)> = Vec::new();
        timed.extend(self.spec.kills.iter().map(|t| (t.at_secs, Some((t.worker, Sig::Kill)))));
        timed.extend(self.spec.stops.iter().map(|t| (t.at_secs, Some((t.worker, Sig::Stop)))));
        timed.extend(self.spec.continues.iter().map(|t| (t.at_secs, Some((t.worker, Sig::Continue)))));
        timed.extend(self.spec.add_at.iter().map(|&s| (s, None)));
        timed.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut timed: VecDeque<_> = timed.into();
        let startup_deadline = Instant::now() + crate::supervisor::STARTUP_TIMEOUT;
        let tick = Duration::from_millis(self.spec.heartbeat_ms.clamp(5, 50));
        let never = crossbeam::channel::never();
        let commands = commands.unwrap_or(&never);
        loop {
            if let Some(t0) = self.t0 {
                let now = t0.elapsed().as_secs_f64();
                while timed.front().is_some_and(|(at, _)| *at <= now) {
                    match timed.pop_front().and_then(|(_, what)| what) {
                        Some((w, sig)) => self.signal(w, sig, emit),
                        None => self.add_worker(None, emit)?,
                    }
                }
                self.check_silence(emit);
                self.dispatch(emit);
            }
            if self.chunks.iter().all(|c| c.done) {
                break;
            }
            if self.t0.is_none() {
                if self.workers.iter().all(|w| w.hello || w.gone) && self.workers.iter().any(|w| w.hello) {
                    self.t0 = Some(Instant::now());
                    self.t0_ns = monotonic_nanos();
                    emit(JobEvent::Started { at_ns: self.t0_ns });
                    continue;
                } else if Instant::now() > startup_deadline {
                    return Err(format!("workers did not start within {:?}", crate::supervisor::STARTUP_TIMEOUT));
                }
            }
            if self.workers.iter().all(|w| w.gone) {
                if !self.spec.respawn {
                    return Err("every worker is gone and nobody will replace them (try --respawn)".into());
                }
                if self.respawn_failed {
                    return Err("every worker is gone and no replacement could be started".into());
                }
            }
            crossbeam::select! {
                recv(self.in_rx) -> m => if let Ok(m) = m { self.inbound(m, emit)? },
                recv(self.run_rx) -> e => if let Ok(e) = e { self.run_event(e, emit)? },
                recv(self.local_rx) -> m => if let Ok((worker, msg)) = m {
                    self.inbound(In::Up { worker, msg, at_ns: monotonic_nanos() }, emit)?
                },
                recv(commands) -> c => match c {
                    Ok(JobCommand::Signal { worker, signal }) => self.signal(worker, signal, emit),
                    Ok(JobCommand::AddWorker) => self.add_worker(None, emit)?,
                    Ok(JobCommand::Abort) => return Err("stopped before the end".into()),
                    Err(_) => {}
                },
                default(tick) => {}
            }
        }
        let elapsed_ns = self.t0.map_or(0, |t| t.elapsed().as_nanos() as u64);
        self.finish(elapsed_ns)
    }

    fn make_shared(&mut self) -> Result<(), String> {
        use std::io::Write;
        let res = self.resources.as_mut().ok_or("no resources")?;
        let name = res.posix_name("array");
        res.register(Named::Shm(name.clone())).map_err(|e| format!("recording {name}: {e}"))?;
        let fd = nix::sys::mman::shm_open(
            name.as_str(),
            nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL | nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| format!("shm_open {name}: {e}"))?;
        let mut f = std::fs::File::from(fd);
        let array = self.array.as_ref().ok_or("no array")?;
        let mut bytes = Vec::with_capacity(array.len() * 8);
        for x in array.iter() {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        f.write_all(&bytes).map_err(|e| format!("filling {name}: {e}"))?;
        self.shared = Some(name);
        Ok(())
    }

    fn start_runtime(&mut self) -> Result<(), String> {
        let rt = match self.spec.kind {
            WorkerKind::AsyncOne => tokio::runtime::Builder::new_current_thread().enable_time().build(),
            _ => tokio::runtime::Builder::new_multi_thread().enable_time().build(),
        }
        .map_err(|e| format!("starting the tokio runtime: {e}"))?;
        let handle = rt.handle().clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        // A current-thread runtime runs its tasks only inside `Runtime::block_on`: this thread
        // owns the runtime and drives it until the job ends.
        let t = std::thread::Builder::new()
            .name("job-runtime".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| e.to_string())?;
        self.rt_handle = Some(handle);
        self.runtime = Some((stop_tx, t));
        Ok(())
    }

    fn work(&self) -> Work {
        Work {
            data: self.spec.data.clone(),
            op: self.spec.op,
            work: self.spec.work,
            wait_ms: self.spec.wait_ms,
            heartbeat: Duration::from_millis(self.spec.heartbeat_ms),
        }
    }

    fn add_worker(&mut self, replaces: Option<u32>, emit: &mut dyn FnMut(JobEvent)) -> Result<(), String> {
        if self.workers.len() >= super::spec::MAX_WORKERS {
            self.respawn_failed = true;
            emit(JobEvent::Refused { worker: 0, why: format!("at most {} workers", super::spec::MAX_WORKERS) });
            return Ok(());
        }
        let id = self.workers.len() as u32 + 1;
        let spawned = Instant::now();
        let mut unblock = None;
        let (reply, pid, proc_index) = match self.spec.kind {
            WorkerKind::Process => {
                let (reply, pid, i, u) = self.spawn_process(id)?;
                unblock = Some(u);
                (reply, Some(pid), Some(i))
            }
            WorkerKind::Thread => {
                let (tx, rx) = unbounded();
                let local = self.local(id);
                let t = std::thread::Builder::new()
                    .name(format!("job-w{id}"))
                    .spawn(move || super::worker::run_thread(local, rx))
                    .map_err(|e| format!("starting thread w{id}: {e}"))?;
                self.threads.push(t);
                (Reply::Channel(tx), None, None)
            }
            WorkerKind::Async | WorkerKind::AsyncOne => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let local = self.local(id);
                self.rt_handle.as_ref().ok_or("no runtime")?.spawn(super::worker::run_task(local, rx));
                (Reply::Task(tx), None, None)
            }
        };
        self.push_worker(id, pid, reply, proc_index, spawned, unblock, replaces);
        Ok(())
    }

    /// Counts worker `id` in, whatever it is (a process, thread, task, or a remote one).
    #[allow(clippy::too_many_arguments)]
    fn push_worker(
        &mut self,
        id: u32,
        pid: Option<u32>,
        reply: Reply,
        proc_index: Option<usize>,
        spawned: Instant,
        unblock: Option<(EndpointSpec, Option<String>)>,
        replaces: Option<u32>,
    ) {
        self.workers.push(Wk {
            id,
            pid,
            reply: Some(reply),
            proc_index,
            spawned,
            hello: false,
            pending: false,
            chunk: None,
            last_heard: Instant::now(),
            silent: false,
            gone: false,
            stats: WorkerStats { worker: id, pid, fate: "running".into(), ..WorkerStats::default() },
            unblock,
            last_arrived_ns: 0,
            remote: None,
        });
        self.replaces.insert(id, replaces);
    }

    /// Takes workers from other hosts on `addr`: each connection must prove the token within 5 s
    /// (an all-zero token on loopback without a file); refusals are logged, and the refused
    /// address's next connections are closed unheard for a while (100 ms doubling to 5 s), so
    /// guessing is slow. At most 16 handshakes at once, 4 from one address.
    fn listen(&mut self, addr: std::net::SocketAddr, emit: &mut dyn FnMut(JobEvent)) -> Result<(), String> {
        use crate::jobs::auth::{TOKEN_LEN, Token};
        use std::collections::HashMap;
        use std::sync::atomic::{AtomicBool, Ordering};
        let token = match &self.spec.token_file {
            Some(f) => Token::load(f)?,
            None => Token::from_bytes([0; TOKEN_LEN]),
        };
        let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("--listen {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, flag) = (self.in_tx.clone(), stop.clone());
        let t = std::thread::Builder::new()
            .name("job-listen".into())
            .spawn(move || {
                let token = Arc::new(token);
                // Per address: failed handshakes so far, and until when its next connection is
                // closed unheard (100 ms doubling to 5 s), so guessing is slow for that host
                // alone. Each handshake runs on its own thread (at most MAX_HANDSHAKES at once),
                // so one slow or silent peer holds up nobody else.
                let penalty = Arc::new(std::sync::Mutex::new(HashMap::<std::net::IpAddr, (u32, Instant)>::new()));
                // Handshakes under way, per address (their sum is bounded too).
                let busy = Arc::new(std::sync::Mutex::new(HashMap::<std::net::IpAddr, usize>::new()));
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, peer)) => {
                            let ip = peer.ip();
                            let admitted = match (penalty.lock(), busy.lock()) {
                                (Ok(mut p), Ok(mut b)) => {
                                    // Pauses that ended are forgotten, so the table stays small.
                                    let now = Instant::now();
                                    p.retain(|_, &mut (_, until)| until + Duration::from_secs(60) > now);
                                    let waiting = p.get(&ip).is_some_and(|&(_, until)| now < until);
                                    let all: usize = b.values().sum();
                                    let here = b.entry(ip).or_insert(0);
                                    let ok = !waiting && all < MAX_HANDSHAKES && *here < MAX_HANDSHAKES_PER_ADDRESS;
                                    if ok {
                                        *here += 1;
                                    } else if *here == 0 {
                                        b.remove(&ip);
                                    }
                                    ok
                                }
                                _ => false,
                            };
                            if !admitted {
                                drop(s);
                                continue;
                            }
                            let (tx, token, penalty, busy2) =
                                (tx.clone(), token.clone(), penalty.clone(), busy.clone());
                            let done = move |b: &std::sync::Mutex<HashMap<std::net::IpAddr, usize>>| {
                                if let Ok(mut b) = b.lock()
                                    && let Some(n) = b.get_mut(&ip)
                                {
                                    *n -= 1;
                                    if *n == 0 {
                                        b.remove(&ip);
                                    }
                                }
                            };
                            let spawned = std::thread::Builder::new().name("job-handshake".into()).spawn(move || {
                                handshake(s, peer, &token, &tx, &penalty);
                                done(&busy2);
                            });
                            if spawned.is_err() {
                                done(&busy);
                                std::thread::sleep(Duration::from_millis(200));
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(200)),
                    }
                }
            })
            .map_err(|e| format!("starting the listener: {e}"))?;
        self.listener = Some((stop, t));
        emit(JobEvent::Listening {
            addr: local.to_string(),
            dial: reachable(&local.to_string()),
            token: self.spec.token_file.is_some(),
            at_ns: monotonic_nanos(),
        });
        Ok(())
    }

    /// A worker from another host that proved the token: tell it its part, then treat it as any
    /// worker process (a proxy thread owns the coordinator's end of its connection).
    fn join(
        &mut self,
        link: Box<crate::jobs::auth::SealedLink<std::net::TcpStream>>,
        stream: std::net::TcpStream,
        peer: String,
        emit: &mut dyn FnMut(JobEvent),
    ) {
        let at_ns = monotonic_nanos();
        if self.workers.len() >= super::spec::MAX_WORKERS {
            let note = RemoteNote::Full { peer, max: super::spec::MAX_WORKERS };
            emit(JobEvent::Remote { note, at_ns });
            return;
        }
        let id = self.workers.len() as u32 + 1;
        let mut ch = Channel::new(link, proto::MAX_PAYLOAD);
        let wspec = WorkerSpec {
            worker: id,
            endpoint: None,
            peer_address: None,
            coordinator_pid: std::process::id(),
            data: self.spec.data.clone(),
            shared: None,
            op: self.spec.op,
            work: self.spec.work,
            wait_ms: self.spec.wait_ms,
            heartbeat_ms: self.spec.heartbeat_ms,
            faults: self.spec.faults.clone(),
            wrong: self.spec.wrong_worker == Some(id),
        };
        if let Err(e) = proto::send_json(&mut ch, 0, &wspec) {
            emit(JobEvent::Remote { note: RemoteNote::LeftEarly { peer, why: e.to_string() }, at_ns });
            return;
        }
        let (tx, rx) = unbounded::<Down>();
        let in_tx = self.in_tx.clone();
        let array = if self.spec.ship == Ship::Data { self.array.clone() } else { None };
        let spawned =
            std::thread::Builder::new().name(format!("job-proxy-w{id}")).spawn(move || proxy(id, ch, in_tx, rx, array));
        match spawned {
            Ok(t) => self.proxies.push(t),
            Err(e) => {
                let why = format!("no proxy thread: {e}");
                emit(JobEvent::Remote { note: RemoteNote::LeftEarly { peer, why }, at_ns });
                return;
            }
        }
        self.push_worker(id, None, Reply::Channel(tx), None, Instant::now(), None, None);
        self.workers.last_mut().expect("pushed").remote =
            Some(RemoteLink { peer: peer.clone(), stream, task_sent: None, best: None });
        emit(JobEvent::Remote { note: RemoteNote::Joined { worker: id, peer }, at_ns });
    }

    fn local(&self, id: u32) -> Local {
        Local {
            worker: id,
            up: self.local_tx.clone(),
            array: if self.spec.ship == Ship::Work { None } else { self.array.clone() },
            work: self.work(),
        }
    }
}

impl Coordinator {
    /// Starts worker process `id` with its own link: the worker opens the upstream end, the
    /// coordinator (in a proxy thread) the downstream one, which listens for sockets.
    #[allow(clippy::type_complexity)]
    fn spawn_process(&mut self, id: u32) -> Result<(Reply, u32, usize, (EndpointSpec, Option<String>)), String> {
        let run_spec = crate::traffic::spec::RunSpec { mechanism: self.spec.mechanism, ..Default::default() };
        let res = self.resources.as_mut().ok_or("no resources")?;
        let mut inherited = Vec::new();
        let (up, down, up_fds, down_fds) = crate::supervisor::plan_link(&run_spec, res, id as u16, &mut inherited)
            .map_err(|e| format!("setting up w{id}'s link: {e}"))?;
        let pending = prepare(&down, false).map_err(|e| format!("w{id}'s link: {e}"))?;
        let wspec = WorkerSpec {
            worker: id,
            endpoint: Some(up),
            peer_address: pending.address(),
            coordinator_pid: std::process::id(),
            data: self.spec.data.clone(),
            shared: self.shared.clone(),
            op: self.spec.op,
            work: self.spec.work,
            wait_ms: self.spec.wait_ms,
            heartbeat_ms: self.spec.heartbeat_ms,
            faults: self.spec.faults.clone(),
            wrong: self.spec.wrong_worker == Some(id),
        };
        let unblock = (down.clone(), pending.address());
        let json = serde_json::to_string(&wspec).map_err(|e| e.to_string())?;
        let proc = crate::supervisor::spawn_child(
            &self.exe,
            "job-worker",
            &json,
            id as usize,
            &[],
            &[],
            &up_fds,
            self.pgid,
            self.run_tx.clone(),
        )
        .map_err(|e| format!("starting w{id}: {e}"))?;
        let pid = proc.pid;
        self.pgid.get_or_insert(pid);
        // Keep our own pipe ends (the link adopts them); close the worker's copies.
        #[cfg(unix)]
        for fd in inherited {
            use std::os::fd::{AsRawFd, IntoRawFd};
            if down_fds.contains(&fd.as_raw_fd()) {
                let _ = fd.into_raw_fd();
            }
        }
        let (tx, rx) = unbounded::<Down>();
        let in_tx = self.in_tx.clone();
        let array = if self.spec.ship == Ship::Data { self.array.clone() } else { None };
        let t = std::thread::Builder::new()
            .name(format!("job-proxy-w{id}"))
            .spawn(move || {
                let link = match pending.finish(&down, false, None, pid) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = in_tx.send(In::Gone { worker: id, why: e.to_string() });
                        return;
                    }
                };
                proxy(id, Channel::new(link, proto::MAX_PAYLOAD), in_tx, rx, array)
            })
            .map_err(|e| format!("starting w{id}'s proxy thread: {e}"))?;
        self.proxies.push(t);
        self.procs.push(proc);
        Ok((Reply::Channel(tx), pid, self.procs.len() - 1, unblock))
    }

    fn worker(&mut self, id: u32) -> Option<&mut Wk> {
        self.workers.get_mut(id.checked_sub(1)? as usize)
    }

    fn inbound(&mut self, m: In, emit: &mut dyn FnMut(JobEvent)) -> Result<(), String> {
        match m {
            In::Joined { link, stream, peer } => self.join(link, stream, peer, emit),
            In::Refused { peer, why } => {
                emit(JobEvent::Remote { note: RemoteNote::Refused { peer, why }, at_ns: monotonic_nanos() })
            }
            In::Up { worker, msg, at_ns } => {
                let Some(w) = self.worker(worker) else { return Ok(()) };
                if w.gone {
                    return Ok(());
                }
                w.last_heard = Instant::now();
                if std::mem::take(&mut w.silent) {
                    emit(JobEvent::Back { worker, at_ns });
                }
                match msg {
                    Up::Hello { pid, host, rejoins, .. } => {
                        // A rejoining worker names a remote worker that is gone (and no other).
                        let rejoins = rejoins
                            .filter(|&r| r < worker && self.worker(r).is_some_and(|o| o.gone && o.remote.is_some()));
                        let w = self.worker(worker).expect("known");
                        w.hello = true;
                        w.pending = true;
                        // Threads and tasks say the coordinator's own PID: not theirs to show.
                        let _ = pid;
                        w.stats.startup_ns = w.spawned.elapsed().as_nanos() as u64;
                        let (startup_ns, pid) = (w.stats.startup_ns, w.pid);
                        let node = w.remote.as_ref().map(|r| r.peer.clone());
                        if let Some(addr) = node {
                            let h = host
                                .as_ref()
                                .map(|h| h.chars().filter(|c| !c.is_control()).take(64).collect::<String>());
                            w.stats.node =
                                Some(NodeStats { host: h.clone(), addr: addr.clone(), rejoins, ..Default::default() });
                            emit(JobEvent::Node { worker, host: h, addr, rejoins });
                        }
                        let replaces = self.replaces.get(&worker).copied().flatten().or(rejoins);
                        if let Some(r) = rejoins {
                            emit(JobEvent::Remote { note: RemoteNote::Rejoined { worker, was: r }, at_ns });
                        }
                        emit(JobEvent::WorkerUp { worker, pid, startup_ns, replaces, at_ns });
                    }
                    Up::Heartbeat { chunk, done } => emit(JobEvent::Progress { worker, chunk, done, at_ns }),
                    Up::Result(r) => self.result(worker, r, at_ns, emit)?,
                }
            }
            In::Corrupt { worker, at_ns } => {
                let at_ms = self.ms(at_ns);
                let Some(w) = self.worker(worker) else { return Ok(()) };
                if w.gone {
                    return Ok(());
                }
                w.last_heard = Instant::now();
                w.last_arrived_ns = at_ns;
                if std::mem::take(&mut w.silent) {
                    emit(JobEvent::Back { worker, at_ns });
                }
                // The frame was this worker's answer (and its request for more): which chunk it
                // was for is known here, not from the damaged bytes.
                let w = self.worker(worker).expect("known");
                let chunk = w.chunk.take();
                w.pending = true;
                emit(JobEvent::Corrupt { chunk, worker, at_ns });
                if let Some(c) = chunk {
                    let ch = &mut self.chunks[c as usize];
                    ch.history.push(Step::Corrupt { worker, at_ms });
                    ch.corrupt += 1;
                    if ch.corrupt >= MAX_CORRUPT {
                        return Err(format!("chunk {c}'s result arrived corrupted {MAX_CORRUPT} times: giving up"));
                    }
                    self.requeue(c, worker, at_ns, emit);
                }
            }
            In::Gone { worker, why } => self.lost(worker, Lost::Died { noticed: why }, emit),
            In::Moving { worker } => {
                if let Some(w) = self.worker(worker) {
                    w.last_heard = Instant::now();
                }
            }
            In::Sent { worker, chunk, bytes, task_ns } => {
                self.bytes += bytes;
                // The silence clock restarts once the worker has its items (while they go, the
                // proxy's `Moving` keeps it from running out): receiving sends nothing back.
                if let Some(w) = self.worker(worker) {
                    w.last_heard = Instant::now();
                    if let Some(r) = &mut w.remote {
                        r.task_sent = Some((chunk, task_ns));
                    }
                }
                emit(JobEvent::Sent { chunk, worker, bytes, at_ns: monotonic_nanos() });
            }
        }
        Ok(())
    }

    fn result(
        &mut self,
        worker: u32,
        mut r: ChunkResult,
        arrived_ns: u64,
        emit: &mut dyn FnMut(JobEvent),
    ) -> Result<(), String> {
        self.on_our_clock(worker, &mut r, arrived_ns, emit);
        let at_ms = self.ms(arrived_ns);
        let t0_ns = if self.t0.is_some() { self.t0_ns } else { 0 };
        // Not our protocol: an answer for a chunk that does not exist, that this worker was
        // never given, or of another kind than the job's. The worker is no longer trusted with
        // work (it may be a remote host that passed the handshake); the job goes on without it.
        let distrust = match self.chunks.get(r.chunk as usize) {
            None => Some(format!("answered for chunk {}, which does not exist", r.chunk)),
            Some(c) if !c.history.iter().any(|s| matches!(s, Step::Assigned { worker: w, .. } if *w == worker)) => {
                Some(format!("answered for chunk {}, which it was never given", r.chunk))
            }
            // A first answer is folded into the total here (a partial of another kind leaves
            // the total as it was); nothing below can fail.
            Some(c) if !c.done => {
                self.total.combine(&r.partial).err().map(|e| format!("answered chunk {} wrongly: {e}", r.chunk))
            }
            Some(_) => None,
        };
        if let Some(noticed) = distrust {
            if let Some(i) = self.worker(worker).and_then(|w| w.proc_index) {
                let _ = crate::supervisor::signal_worker(&self.procs[i], WorkerSignal::Kill);
            }
            self.lost(worker, Lost::Died { noticed }, emit);
            return Ok(());
        }
        let w = self.worker(worker).expect("known");
        if w.chunk == Some(r.chunk) {
            w.chunk = None;
        }
        w.pending = true;
        // Idle from when it asked, but not before its previous result had arrived (sending that
        // is communication) nor before the job started.
        let idle_from = r.asked_ns.max(w.last_arrived_ns).max(t0_ns);
        w.last_arrived_ns = arrived_ns;
        w.stats.account(&r, idle_from, arrived_ns);
        let c = &mut self.chunks[r.chunk as usize];
        if c.done {
            c.history.push(Step::Duplicate { worker, at_ms });
            self.duplicates += 1;
            emit(JobEvent::Duplicate { chunk: r.chunk, worker, at_ns: arrived_ns, result: Some(r) });
            return Ok(());
        }
        c.done = true;
        c.history.push(Step::Done { worker, at_ms });
        if c.queued {
            c.queued = false;
            self.queue.retain(|&q| q != r.chunk);
        }
        self.digest = self.digest.wrapping_add(r.digest);
        let s = &mut self.workers[worker as usize - 1].stats;
        s.chunks += 1;
        s.items = s.items.saturating_add(r.items);
        self.results.insert(r.chunk, (r.partial.clone(), r.digest));
        emit(JobEvent::Done { worker, result: r, arrived_ns, total: self.total.clone() });
        Ok(())
    }

    /// A remote worker's result: measures its round trip and clock offset from this exchange,
    /// then puts the worker's times on our clock (another host's monotonic clock counts from its
    /// own boot, so its raw times mean nothing here).
    fn on_our_clock(&mut self, worker: u32, r: &mut ChunkResult, arrived_ns: u64, emit: &mut dyn FnMut(JobEvent)) {
        let Some(w) = self.worker(worker) else { return };
        let Some(link) = &mut w.remote else { return };
        let sent = link.task_sent.filter(|&(c, _)| c == r.chunk).map(|(_, t)| t);
        let measured = match sent {
            Some(t1) if r.sent_ns >= r.task_ns && r.task_ns > 0 => {
                Some(link.sample(t1, r.task_ns, r.sent_ns, arrived_ns))
            }
            _ => None,
        };
        let offset = link.best.map_or(0, |(_, o)| o);
        if let Some((rtt_ns, best_rtt_ns, offset_ns)) = measured {
            if let Some(n) = &mut w.stats.node {
                n.rtt_ns = Some(best_rtt_ns);
                n.offset_ns = Some(offset_ns);
            }
            emit(JobEvent::Clock { worker, rtt_ns, best_rtt_ns, offset_ns });
        }
        for t in [&mut r.asked_ns, &mut r.task_ns, &mut r.data_ns, &mut r.computed_ns, &mut r.sent_ns] {
            *t = ours(*t, offset);
        }
    }

    /// A remote worker silent too long: its chunk is requeued (by `lost`), and its connection
    /// dropped, so a worker that is still there notices and joins again with the token.
    fn drop_remote(&mut self, worker: u32, after_ms: u64, emit: &mut dyn FnMut(JobEvent)) {
        let Some(w) = self.worker(worker) else { return };
        let Some(link) = &w.remote else { return };
        let _ = link.stream.shutdown(std::net::Shutdown::Both);
        w.stats.fate = "dropped (silent)".into();
        let at_ns = monotonic_nanos();
        emit(JobEvent::Remote { note: RemoteNote::Dropped { worker, after_ms }, at_ns });
        self.lost(worker, Lost::Died { noticed: "its connection was dropped".into() }, emit);
    }

    fn requeue(&mut self, chunk: u32, from: u32, at_ns: u64, emit: &mut dyn FnMut(JobEvent)) {
        let at_ms = self.ms(at_ns);
        let c = &mut self.chunks[chunk as usize];
        if c.done || c.queued {
            return;
        }
        c.queued = true;
        c.history.push(Step::Requeued { from, at_ms });
        self.queue.push_front(chunk);
        self.requeued += 1;
        emit(JobEvent::Requeued { chunk, from, at_ns });
    }

    fn lost(&mut self, worker: u32, how: Lost, emit: &mut dyn FnMut(JobEvent)) {
        let at_ns = monotonic_nanos();
        let died = matches!(how, Lost::Died { .. });
        let Some(w) = self.worker(worker) else { return };
        if w.gone || (!died && w.silent) {
            return;
        }
        if died {
            w.gone = true;
            w.pending = false;
            w.reply = None;
            // This end of a remote worker's connection is held here too (to drop it on a
            // silence), so its proxy ending does not close it: close it now, or a worker whose
            // frame we refused would wait on a connection nobody reads until the job ends.
            if let Some(link) = &w.remote {
                let _ = link.stream.shutdown(std::net::Shutdown::Both);
            }
            if w.stats.fate == "running" {
                w.stats.fate = "died".into();
            }
        } else {
            w.silent = true;
        }
        let chunk = if died { w.chunk.take() } else { w.chunk };
        // A static worker that never got its own chunk leaves it for the others.
        let own = if died && self.spec.schedule == Schedule::Static { self.own.remove(&worker) } else { None };
        emit(JobEvent::Lost { worker, how, at_ns });
        for c in chunk.into_iter().chain(own) {
            self.requeue(c, worker, at_ns, emit);
        }
        if died
            && self.spec.respawn
            && !self.chunks.iter().all(|c| c.done)
            && let Err(e) = self.add_worker(Some(worker), emit)
        {
            self.respawn_failed = true;
            emit(JobEvent::Refused { worker, why: e });
        }
    }

    fn run_event(&mut self, e: RunEvent, emit: &mut dyn FnMut(JobEvent)) -> Result<(), String> {
        if let RunEvent::Exited { worker_id, exit, stderr_tail } = e {
            let worker = worker_id as u32;
            let tail = stderr_tail.trim();
            let text = if tail.is_empty() { exit.to_string() } else { format!("{exit}: {tail}") };
            if let Some(w) = self.worker(worker) {
                w.stats.fate = fate(exit);
            }
            emit(JobEvent::Exited { worker, exit: text.clone(), at_ns: monotonic_nanos() });
            self.lost(worker, Lost::Died { noticed: format!("reaped: {text}") }, emit);
        }
        Ok(())
    }

    fn signal(&mut self, worker: u32, signal: Sig, emit: &mut dyn FnMut(JobEvent)) {
        let Some(w) = self.workers.get(worker.wrapping_sub(1) as usize) else {
            emit(JobEvent::Refused { worker, why: format!("there is no w{worker}") });
            return;
        };
        let Some(i) = w.proc_index else {
            emit(JobEvent::Refused { worker, why: "threads and tasks cannot be signalled one by one".into() });
            return;
        };
        if w.gone {
            emit(JobEvent::Refused { worker, why: format!("w{worker} has already ended") });
            return;
        }
        let s = match signal {
            Sig::Kill => WorkerSignal::Kill,
            Sig::Stop => WorkerSignal::Stop,
            Sig::Continue => WorkerSignal::Continue,
        };
        match crate::supervisor::signal_worker(&self.procs[i], s) {
            Ok(()) => emit(JobEvent::Signalled { worker, signal, at_ns: monotonic_nanos() }),
            Err(e) => emit(JobEvent::Refused { worker, why: e.to_string() }),
        }
    }

    fn check_silence(&mut self, emit: &mut dyn FnMut(JobEvent)) {
        // Only processes (here or on other hosts) can be stopped or stuck on their own: a thread
        // or task that does not beat is waiting for a CPU its siblings hold (on one async
        // thread, always).
        let processes = self.spec.kind == WorkerKind::Process;
        let limit = Duration::from_millis(self.spec.silence_limit_ms());
        let silent: Vec<(u32, u64, Option<u32>, bool)> = self
            .workers
            .iter()
            .filter(|w| (processes || w.remote.is_some()) && !w.gone && !w.silent && w.chunk.is_some())
            .filter(|w| w.last_heard.elapsed() > limit)
            .map(|w| (w.id, w.last_heard.elapsed().as_millis() as u64, w.pid, w.remote.is_some()))
            .collect();
        for (worker, after_ms, pid, remote) in silent {
            let state = pid.and_then(|p| crate::supervisor::procfs::proc_stat(&format!("/proc/{p}")).map(|s| s.0));
            self.lost(worker, Lost::Silent { after_ms, state }, emit);
            // A process here may be stopped and go on; a silent host is a broken link as far
            // as we can tell: drop it, and let it join again.
            if remote {
                self.drop_remote(worker, after_ms, emit);
            }
        }
    }

    /// Answers waiting requests with the next chunk.
    fn dispatch(&mut self, emit: &mut dyn FnMut(JobEvent)) {
        for i in 0..self.workers.len() {
            let w = &self.workers[i];
            if !w.pending || w.gone || w.silent {
                continue;
            }
            let id = w.id;
            let next = match self.own.remove(&id) {
                Some(c) if !self.chunks[c as usize].done => Some(c),
                _ => loop {
                    match self.queue.pop_front() {
                        Some(c) if self.chunks[c as usize].done => continue,
                        Some(c) => {
                            self.chunks[c as usize].queued = false;
                            break Some(c);
                        }
                        None => break None,
                    }
                },
            };
            let Some(c) = next else { continue };
            let at_ns = monotonic_nanos();
            let at_ms = self.ms(at_ns);
            let (start, len) = (self.chunks[c as usize].start, self.chunks[c as usize].len);
            self.chunks[c as usize].history.push(Step::Assigned { worker: id, at_ms });
            let items = self.spec.kind == WorkerKind::Process && self.spec.ship == Ship::Data;
            let w = &mut self.workers[i];
            w.pending = false;
            let previous = w.chunk.replace(c);
            w.last_heard = Instant::now();
            let ok = w.reply.as_ref().is_some_and(|r| r.send(Down::Task { chunk: c, start, len, items }));
            emit(JobEvent::Assigned { chunk: c, worker: id, at_ns });
            if let Some(p) = previous.filter(|&p| p != c) {
                self.requeue(p, id, at_ns, emit);
            }
            if !ok {
                self.lost(id, Lost::Died { noticed: "its channel is closed".into() }, emit);
            } else if self.spec.kind != WorkerKind::Process {
                // A thread or task has its items at once: they are shared, not sent.
                emit(JobEvent::Sent { chunk: c, worker: id, bytes: 0, at_ns });
            }
        }
    }

    fn finish(&mut self, elapsed_ns: u64) -> Result<JobOutcome, String> {
        // A worker left waiting for work at the end was idle from its last result (or the
        // start) to the end: static's early finisher, or a worker with nothing to do.
        let end_ns = self.t0_ns + elapsed_ns;
        for w in &mut self.workers {
            if w.pending && !w.gone && w.hello {
                let from = w.last_arrived_ns.max(self.t0_ns);
                w.stats.idle_ns = w.stats.idle_ns.saturating_add(end_ns.saturating_sub(from));
            }
        }
        // Memory before anyone leaves.
        for w in &mut self.workers {
            if !w.gone {
                w.stats.pss_kib = w.pid.filter(|_| self.spec.kind == WorkerKind::Process).and_then(pss_kib);
            }
        }
        let rss_growth_kib = match self.spec.kind {
            WorkerKind::Process => None,
            _ => rss_kib().zip(self.rss_before).map(|(a, b)| a.saturating_sub(b)),
        };
        let array = self.array.clone();
        let plan: Vec<(u64, u64)> = self.chunks.iter().map(|c| (c.start, c.len)).collect();
        let super::compute::Check { expected: expected_total, expected_digest, wrong_chunks: wrong, exact } =
            super::compute::check(
                &self.spec,
                &plan,
                &self.results,
                &self.total,
                self.digest,
                array.as_deref().map(|v| &v[..]),
            )?;
        Ok(JobOutcome {
            spec: self.spec.clone(),
            result: self.total.clone(),
            digest: self.digest,
            expected: expected_total,
            expected_digest,
            exact,
            wrong_chunks: wrong,
            elapsed_ns,
            bytes_moved: self.bytes,
            duplicates: self.duplicates,
            requeued: self.requeued,
            workers: self.workers.iter().map(|w| w.stats.clone()).collect(),
            chunks: self
                .chunks
                .iter()
                .enumerate()
                .map(|(i, c)| ChunkHistory { chunk: i as u32, start: c.start, len: c.len, steps: c.history.clone() })
                .collect(),
            rss_growth_kib,
            in_memory_sum_ns: None,
            resource_prefix: self.resources.as_ref().map(|r| r.prefix().to_string()),
        })
    }

    /// Tells every worker to stop; kills the processes that cannot hear it (stopped, or busy
    /// with a chunk someone else finished) and reaps them all. Nothing is left behind.
    fn shutdown(&mut self) -> BTreeMap<u32, String> {
        if let Some((stop, t)) = self.listener.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = t.join();
        }
        for w in &mut self.workers {
            // A stopped process cannot read its Shutdown.
            let stopped = w
                .pid
                .filter(|_| w.proc_index.is_some())
                .and_then(|p| crate::supervisor::procfs::proc_stat(&format!("/proc/{p}")))
                .is_some_and(|(state, _)| state == 'T');
            if let Some(r) = w.reply.take() {
                if w.pending && !w.gone && !stopped {
                    r.send(Down::Shutdown);
                } else if let Some(i) = w.proc_index.filter(|_| !w.gone) {
                    let _ = crate::supervisor::signal_worker(&self.procs[i], WorkerSignal::Kill);
                } else if let Some(link) = &w.remote {
                    // Busy with a chunk someone else finished: its proxy waits on the
                    // connection; end it (the worker finds nobody listening and leaves).
                    let _ = link.stream.shutdown(std::net::Shutdown::Both);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for p in &self.procs {
            while crate::mechanism::process_alive(p.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        crate::supervisor::end_all(&mut self.procs);
        let mut fates: BTreeMap<u32, String> =
            self.workers.iter().filter(|w| w.stats.fate != "running").map(|w| (w.id, w.stats.fate.clone())).collect();
        for e in self.run_rx.try_iter() {
            if let RunEvent::Exited { worker_id, exit, .. } = e {
                fates.entry(worker_id as u32).or_insert_with(|| fate(exit));
            }
        }
        // A worker that never connected leaves its proxy waiting in accept() or a FIFO's open():
        // complete that rendezvous ourselves, so the proxy sees its peer gone and ends.
        for w in self.workers.iter().filter(|w| !w.hello) {
            if let Some((endpoint, address)) = &w.unblock {
                unblock(endpoint, address.as_deref());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for t in self.proxies.drain(..) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            // One still stuck (it cannot be after the above) is left behind, not waited for.
            if t.is_finished() {
                let _ = t.join();
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some((stop, t)) = self.runtime.take() {
            let _ = stop.send(());
            let _ = t.join();
        }
        self.resources.take();
        fates
    }
}

/// Most times one chunk's result may arrive corrupted before the job gives up.
const MAX_CORRUPT: u32 = 5;

/// Completes the rendezvous a proxy waits in when its worker never came: connects to its
/// listening socket, or opens both FIFOs for a moment.
/// Most handshakes with would-be workers under way at once, and from one address; more
/// connections are closed unheard (the worker tries again).
const MAX_HANDSHAKES: usize = 16;
const MAX_HANDSHAKES_PER_ADDRESS: usize = 4;
/// The whole handshake, however its bytes trickle in.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(5);
/// Items a proxy sends between two reports that the link is moving (eight frames).
const SEND_PIECE: usize = 8 * proto::ITEMS_PER_FRAME;

/// One connection to `--listen`: the handshake (all of it within 5 s), then the joined link to
/// the coordinator, or a refusal that puts its address in the penalty box for a while.
#[allow(clippy::type_complexity)]
fn handshake(
    mut s: std::net::TcpStream,
    peer: std::net::SocketAddr,
    token: &crate::jobs::auth::Token,
    tx: &Sender<In>,
    penalty: &std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (u32, Instant)>>,
) {
    use crate::jobs::auth::{SealedLink, coordinator_handshake};
    let ready = s.set_nonblocking(false).is_ok()
        && s.set_write_timeout(Some(HANDSHAKE_WITHIN)).is_ok()
        && s.set_nodelay(true).is_ok();
    let proved = coordinator_handshake(&mut Within { s: &mut s, until: Instant::now() + HANDSHAKE_WITHIN }, token);
    match proved {
        Ok(sealed) if ready && s.set_read_timeout(None).is_ok() && s.set_write_timeout(None).is_ok() => {
            crate::jobs::auth::keep_alive(&s);
            if let Ok(mut p) = penalty.lock() {
                p.remove(&peer.ip());
            }
            if let Ok(stream) = s.try_clone() {
                let link = Box::new(SealedLink::new(s, sealed));
                let _ = tx.send(In::Joined { link, stream, peer: peer.to_string() });
            }
        }
        Ok(_) => {}
        Err(e) => {
            if let Ok(mut p) = penalty.lock() {
                let e = p.entry(peer.ip()).or_insert((0, Instant::now()));
                e.0 += 1;
                e.1 = Instant::now() + Duration::from_millis(100 << (e.0 - 1).min(6)).min(Duration::from_secs(5));
            }
            let _ = tx.send(In::Refused { peer: peer.to_string(), why: e.to_string() });
        }
    }
}

/// The addresses other hosts reach a job bound to `addr` on: this host's own (not loopback) when
/// it listens on every address, else `addr` itself.
pub fn reachable(addr: &str) -> Vec<String> {
    let Ok(a) = addr.parse::<std::net::SocketAddr>() else { return vec![addr.to_string()] };
    if !a.ip().is_unspecified() {
        return vec![addr.to_string()];
    }
    let mut out = Vec::new();
    #[cfg(unix)]
    if let Ok(ifs) = nix::ifaddrs::getifaddrs() {
        for i in ifs {
            // [::] takes IPv4 as well on Linux (dual stack); link-local IPv6 needs an interface
            // name to be dialled, so it is left out.
            let v4 = i.address.as_ref().and_then(|s| s.as_sockaddr_in().map(|v4| std::net::IpAddr::V4(v4.ip())));
            let v6 = i
                .address
                .as_ref()
                .and_then(|s| s.as_sockaddr_in6().map(|v6| v6.ip()))
                .filter(|ip| a.is_ipv6() && !ip.is_unicast_link_local());
            let ip = v4.or(v6.map(std::net::IpAddr::V6));
            if let Some(ip) = ip.filter(|ip| !ip.is_loopback()) {
                let s = std::net::SocketAddr::new(ip, a.port()).to_string();
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    if out.is_empty() {
        out.push(addr.to_string());
    }
    out
}

/// A stream whose reads all end by `until`: a peer that trickles its handshake a byte at a time
/// is cut off with the rest.
struct Within<'a> {
    s: &'a mut std::net::TcpStream,
    until: Instant,
}

impl std::io::Read for Within<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the handshake took over 5 s"));
        }
        self.s.set_read_timeout(Some(left))?;
        std::io::Read::read(self.s, buf)
    }
}

impl std::io::Write for Within<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::Write::write(self.s, buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(self.s)
    }
}

fn unblock(endpoint: &EndpointSpec, address: Option<&str>) {
    match endpoint {
        EndpointSpec::Tcp { .. } => {
            if let Some(a) = address.and_then(|a| a.parse().ok()) {
                let _ = std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200));
            }
        }
        EndpointSpec::Unix { path } => {
            let _ = std::os::unix::net::UnixStream::connect(path);
        }
        EndpointSpec::Fifo { forward, backward } => {
            use std::os::unix::fs::OpenOptionsExt;
            let open =
                |p: &Path| std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_NONBLOCK).open(p);
            let held = (open(forward), open(backward));
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        }
        _ => {}
    }
}

fn fate(exit: ExitKind) -> String {
    match exit {
        ExitKind::Code(0) => "exited".into(),
        ExitKind::Signal(9) => "killed (SIGKILL)".into(),
        other => other.to_string(),
    }
}

/// The coordinator's side of one worker process's link: forwards what the worker says, and
/// answers each request with the coordinator's reply (a task and its items, or shutdown).
fn proxy(worker: u32, mut ch: Channel, inbox: Sender<In>, replies: Receiver<Down>, array: Option<Arc<Vec<u64>>>) {
    let mut seq = 0u64;
    loop {
        let (is_request, msg) = match proto::recv::<Up>(&mut ch) {
            Ok(Incoming::Msg(m)) => {
                (!matches!(m, Up::Heartbeat { .. }), In::Up { worker, msg: m, at_ns: monotonic_nanos() })
            }
            Ok(Incoming::Corrupt) => (true, In::Corrupt { worker, at_ns: monotonic_nanos() }),
            Ok(Incoming::Closed) => {
                let _ = inbox.send(In::Gone { worker, why: "eof".into() });
                return;
            }
            Ok(Incoming::Items(_)) => {
                let _ = inbox.send(In::Gone { worker, why: "sent items, which workers never send".into() });
                return;
            }
            Err(e) => {
                let _ = inbox.send(In::Gone { worker, why: e });
                return;
            }
        };
        if inbox.send(msg).is_err() {
            return;
        }
        if !is_request {
            continue;
        }
        let Ok(reply) = replies.recv() else { return };
        seq += 1;
        let task_ns = monotonic_nanos();
        let sent = match &reply {
            Down::Task { chunk, start, len, items } => {
                // Every byte of every frame sent to the worker counts: the task and its items.
                // A large chunk over a slow link takes a while: bytes that keep leaving are news
                // that the worker is there, so its silence clock does not run out meanwhile
                // (a stopped or cut-off worker stops taking them, and the clock runs).
                let r = proto::send_json(&mut ch, seq, &reply).and_then(|task| match (items, &array) {
                    (true, Some(a)) => {
                        let mut bytes = task;
                        let mut told = Instant::now();
                        for part in a[*start as usize..(*start + *len) as usize].chunks(SEND_PIECE) {
                            bytes += proto::send_items(&mut ch, &mut seq, part)?;
                            if told.elapsed() >= Duration::from_millis(50) {
                                let _ = inbox.send(In::Moving { worker });
                                told = Instant::now();
                            }
                        }
                        Ok(bytes)
                    }
                    _ => Ok(task),
                });
                r.map(|bytes| Some((*chunk, bytes)))
            }
            Down::Shutdown => {
                let _ = proto::send_json(&mut ch, seq, &reply);
                return;
            }
        };
        match sent {
            Ok(Some((chunk, bytes))) => {
                let _ = inbox.send(In::Sent { worker, chunk, bytes, task_ns });
            }
            Ok(None) => {}
            Err(e) => {
                let _ = inbox.send(In::Gone { worker, why: e });
                return;
            }
        }
    }
}

/// The whole array in memory, as the coordinator holds it before scattering.
fn make_array(data: &DataSource) -> Result<Vec<u64>, String> {
    let mut v = vec![0u64; data.len() as usize];
    let file = match data {
        DataSource::File { path, .. } => {
            Some(std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        _ => None,
    };
    super::compute::fill(data, file.as_ref(), 0, &mut v)?;
    Ok(v)
}

fn status_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's resident set, KiB.
pub fn rss_kib() -> Option<u64> {
    status_kib("/proc/self/status", "VmRSS:")
}

/// A process's proportional set size (shared pages split among their users), KiB.
fn pss_kib(pid: u32) -> Option<u64> {
    status_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

#[cfg(test)]
mod tests {
    use super::{ntp, ours};

    /// Lesson 12's example: the worker's clock 4 s ahead, each trip 0.4 ms, 50 ms of work.
    #[test]
    fn the_lessons_four_seconds_ahead_are_measured_and_taken_off() {
        let ms = |x: f64| (x * 1e6).round() as u64;
        let (rtt, offset) = ntp(ms(1_000.0), ms(5_000.4), ms(5_050.4), ms(1_050.8));
        assert_eq!(rtt, ms(0.8));
        assert_eq!(offset, 4_000_000_000);
        // The worker's stamps, on our clock: when the task arrived and the result left.
        assert_eq!(ours(ms(5_000.4), offset), ms(1_000.4));
        assert_eq!(ours(ms(5_050.4), offset), ms(1_050.4));
        // A clock behind ours works the same way, the other sign.
        let (_, behind) = ntp(ms(5_000.0), ms(1_000.4), ms(1_050.4), ms(5_050.8));
        assert_eq!(behind, -4_000_000_000);
        assert_eq!(ours(ms(1_000.4), behind), ms(5_000.4));
        // Unequal trips (0.1 ms out, 0.7 ms back): wrong by half the difference, within RTT/2.
        let (rtt, off) = ntp(ms(1_000.0), ms(5_000.1), ms(5_050.1), ms(1_050.8));
        assert_eq!(off, 4_000_000_000 - 300_000);
        assert!((off - 4_000_000_000).unsigned_abs() <= rtt / 2);
    }
}
