//! The supervisor: starts workers as real child processes, hands them their endpoints, reads their
//! telemetry, signals and reaps them, and owns every named OS resource of a run.
//!
//! Workers are this same executable run as `ipc-lab worker SPEC`. Each gets stdin as its control
//! channel, stdout as its telemetry channel and stderr for last words; data flows only between the
//! workers, over the mechanism, never through this process.
//!
//! No child outlives its supervisor: each is put in the run's process group and asks the kernel
//! for SIGKILL when its parent dies (PR_SET_PDEATHSIG, Linux); a worker whose control channel
//! closes exits by itself too (every platform). PR_SET_PDEATHSIG fires when the *thread* that
//! spawned the child ends, so a [`Run`] must be started and dropped on the same long-lived thread.

#[cfg(target_os = "linux")]
pub mod procfs;
pub mod resources;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::mechanism::MechanismId;
use crate::telemetry::{Control, Event, PeerInfo, Role, RoleStats, TELEMETRY_VERSION, encode_control, parse_event};
use crate::traffic::spec::{LinkSpec, RunSpec};
use crate::traffic::worker::{EndpointSpec, PortSpec, WorkerSpec};
use resources::{Named, Resources};

/// How long a worker may take from spawn to `ready`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a run could not start or finish.
#[derive(Debug, Error)]
pub enum RunError {
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Setup {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("worker {worker} failed during start-up: {why}")]
    Startup { worker: String, why: String },
    #[error("no such worker {0}")]
    NoSuchWorker(usize),
}

pub(crate) fn setup(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Setup { what, source }
}

/// How a worker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(c) => write!(f, "exited with code {c}"),
            ExitKind::Signal(s) => write!(f, "killed by signal {s} ({})", signal_name(*s)),
        }
    }
}

pub fn signal_name(sig: i32) -> String {
    #[cfg(unix)]
    if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
        return s.as_str().to_string();
    }
    format!("signal {sig}")
}

/// Signals the supervisor sends on request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerSignal {
    Kill,
    Stop,
    Continue,
}

/// What the supervisor learns while a run goes on. (Telemetry dwarfs the other variants; they
/// are rare, so their padding costs nothing worth a box per event.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    Telemetry {
        worker_id: usize,
        event: Event,
    },
    /// A line on the telemetry channel that is not valid telemetry.
    BadTelemetry {
        worker_id: usize,
        message: String,
    },
    Exited {
        worker_id: usize,
        exit: ExitKind,
        stderr_tail: String,
    },
}

/// One worker process as the supervisor sees it.
pub struct WorkerProc {
    pub worker_id: usize,
    pub roles: Vec<Role>,
    pub pid: u32,
    ports: Vec<PortSpec>,
    child: Arc<Mutex<Child>>,
    control: Mutex<Option<ChildStdin>>,
    reader: Option<JoinHandle<()>>,
}

/// A worker's end as recorded in a [`RunOutcome`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerExit {
    pub worker_id: usize,
    pub roles: Vec<Role>,
    pub pid: u32,
    pub exit: ExitKind,
    pub stderr_tail: String,
}

/// Everything a finished run reported.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    pub spec: RunSpec,
    pub prefix: String,
    pub stats: BTreeMap<Role, RoleStats>,
    pub errors: Vec<String>,
    pub exits: Vec<WorkerExit>,
}

impl RunOutcome {
    /// `None` when every worker exited 0 and every role reported; otherwise what went wrong,
    /// naming the worker, its PID and how it ended.
    pub fn failure(&self) -> Option<String> {
        let topology = self.spec.topology();
        let mut why = Vec::new();
        for e in &self.exits {
            if e.exit != ExitKind::Code(0) {
                let names: Vec<_> = e.roles.iter().map(|&r| topology.node_name(r)).collect();
                why.push(format!("{} (pid {}) {}", names.join("+"), e.pid, e.exit));
            }
        }
        why.extend(self.errors.iter().cloned());
        for i in 0..topology.programs.len() {
            let role = Role(i as u16);
            if !self.stats.contains_key(&role) && why.is_empty() {
                why.push(format!("{} never reported its results", topology.node_name(role)));
            }
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// A run in progress. Dropping it kills whatever still runs and removes every named resource.
pub struct Run {
    spec: RunSpec,
    workers: Vec<WorkerProc>,
    events: Receiver<RunEvent>,
    resources: Resources,
    /// Events consumed during start-up that the caller may still want (progress, errors).
    early: Vec<RunEvent>,
}

/// Folds run events into a [`RunOutcome`].
pub struct OutcomeBuilder {
    spec: RunSpec,
    prefix: String,
    workers: Vec<(Vec<Role>, u32)>,
    stats: BTreeMap<Role, RoleStats>,
    errors: Vec<String>,
    exits: Vec<WorkerExit>,
}

impl OutcomeBuilder {
    pub fn add(&mut self, ev: &RunEvent) {
        match ev {
            RunEvent::Telemetry { event: Event::Done { role, stats }, .. } => {
                self.stats.insert(*role, stats.clone());
            }
            RunEvent::Telemetry { event: Event::Error { message, .. }, .. } => self.errors.push(message.clone()),
            RunEvent::BadTelemetry { message, .. } => self.errors.push(message.clone()),
            RunEvent::Exited { worker_id, exit, stderr_tail } => {
                let (roles, pid) = self.workers.get(*worker_id).cloned().unwrap_or_default();
                self.exits.push(WorkerExit {
                    worker_id: *worker_id,
                    roles,
                    pid,
                    exit: *exit,
                    stderr_tail: stderr_tail.clone(),
                });
            }
            RunEvent::Telemetry { .. } => {}
        }
    }

    /// Every worker has been reaped.
    pub fn is_complete(&self) -> bool {
        self.exits.len() >= self.workers.len()
    }

    pub fn finish(mut self) -> RunOutcome {
        self.exits.sort_by_key(|e| e.worker_id);
        RunOutcome { spec: self.spec, prefix: self.prefix, stats: self.stats, errors: self.errors, exits: self.exits }
    }
}

impl Run {
    /// Validates `spec`, creates the run's resources, starts its workers from `exe` and returns
    /// once every worker is connected to its peer and has been told to go.
    pub fn start(spec: RunSpec, exe: &Path) -> Result<Run, RunError> {
        spec.validate().map_err(RunError::Invalid)?;
        resources::sweep_stale();
        let mut resources = Resources::create().map_err(setup("creating the run directory"))?;
        let (tx, events) = unbounded();
        let plan = plan_endpoints(&spec, &mut resources)?;
        let mut workers: Vec<WorkerProc> = Vec::new();
        let mut pgid = None;
        for (worker_id, (roles, ports, keep_fds)) in plan.workers.into_iter().enumerate() {
            let wspec = WorkerSpec { roles: roles.clone(), ports, run: spec.clone() };
            let w = spawn_worker(exe, worker_id, &wspec, &keep_fds, pgid, tx.clone())?;
            pgid.get_or_insert(w.pid);
            workers.push(w);
        }
        // Our copies of inherited pipe ends must go, or a reader would never see EOF.
        drop(plan.inherited);
        drop(tx);
        let mut run = Run { spec, workers, events, resources, early: Vec::new() };
        run.handshake()?;
        Ok(run)
    }

    fn handshake(&mut self) -> Result<(), RunError> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut addresses: BTreeMap<(u16, Role), Option<String>> = BTreeMap::new();
        let mut hello = vec![false; self.workers.len()];
        let want_ports: usize = self.workers.iter().map(|w| w.ports.len()).sum();
        let want_roles: usize = self.workers.iter().map(|w| w.roles.len()).sum();
        while addresses.len() < want_ports || hello.iter().any(|h| !h) {
            match self.next_startup_event(deadline)? {
                (w, Event::Hello { version, .. }) if version != TELEMETRY_VERSION => {
                    return Err(self.startup_error(
                        w,
                        format!("speaks telemetry version {version}, expected {TELEMETRY_VERSION}"),
                    ));
                }
                (w, Event::Hello { .. }) => hello[w] = true,
                (_, Event::Listening { role, link, address }) => {
                    addresses.insert((link, role), address);
                }
                (w, other) => self.early.push(RunEvent::Telemetry { worker_id: w, event: other }),
            }
        }
        for w in &self.workers {
            let peers = w
                .ports
                .iter()
                .map(|p| PeerInfo {
                    link: p.link,
                    address: addresses.get(&(p.link, p.peer)).cloned().flatten(),
                    pid: self.workers.iter().find(|o| o.roles.contains(&p.peer)).map_or(0, |o| o.pid),
                })
                .collect();
            self.send_control(w.worker_id, &Control::Connect { peers })?;
        }
        let mut ready = 0;
        while ready < want_roles {
            match self.next_startup_event(deadline)? {
                (_, Event::Ready { .. }) => ready += 1,
                (w, other) => self.early.push(RunEvent::Telemetry { worker_id: w, event: other }),
            }
        }
        // Everyone holds what they need open: the names can go now, so even a crash from here on
        // leaves nothing named behind.
        self.resources.unlink_names();
        for w in 0..self.workers.len() {
            self.send_control(w, &Control::Go)?;
        }
        Ok(())
    }

    fn next_startup_event(&mut self, deadline: Instant) -> Result<(usize, Event), RunError> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(RunEvent::Telemetry { worker_id, event: Event::Error { message, .. } }) => {
                Err(self.startup_error(worker_id, message))
            }
            Ok(RunEvent::Telemetry { worker_id, event }) => Ok((worker_id, event)),
            Ok(RunEvent::BadTelemetry { worker_id, message }) => Err(self.startup_error(worker_id, message)),
            Ok(RunEvent::Exited { worker_id, exit, stderr_tail }) => {
                let tail = stderr_tail.trim();
                let why = if tail.is_empty() { exit.to_string() } else { format!("{exit}: {tail}") };
                Err(self.startup_error(worker_id, why))
            }
            Err(RecvTimeoutError::Timeout) => {
                Err(RunError::Startup { worker: "?".into(), why: format!("not ready within {STARTUP_TIMEOUT:?}") })
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(RunError::Startup { worker: "?".into(), why: "all workers vanished".into() })
            }
        }
    }

    fn startup_error(&self, worker_id: usize, why: String) -> RunError {
        let name = self.workers.get(worker_id).map_or_else(
            || worker_id.to_string(),
            |w| format!("{} (pid {})", w.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("+"), w.pid),
        );
        RunError::Startup { worker: name, why }
    }

    fn send_control(&self, worker_id: usize, control: &Control) -> Result<(), RunError> {
        let w = self.workers.get(worker_id).ok_or(RunError::NoSuchWorker(worker_id))?;
        w.send(control).map_err(setup(format!("sending {control:?} to worker {worker_id}")))
    }

    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    pub fn prefix(&self) -> &str {
        self.resources.prefix()
    }

    pub fn workers(&self) -> &[WorkerProc] {
        &self.workers
    }

    /// The worker playing `role`.
    pub fn worker_for(&self, role: Role) -> Option<&WorkerProc> {
        self.workers.iter().find(|w| w.roles.contains(&role))
    }

    /// The stream of events from here on (start-up events are replayed first by [`Run::wait_with`]).
    pub fn events(&self) -> &Receiver<RunEvent> {
        &self.events
    }

    /// Asks every worker to finish early (endless runs).
    pub fn request_stop(&self) {
        for w in &self.workers {
            let _ = self.send_control(w.worker_id, &Control::Stop);
        }
    }

    /// Turns step mode on (every role stops before each IPC operation) or off.
    pub fn set_gates(&self, enabled: bool) {
        for w in &self.workers {
            let _ = self.send_control(w.worker_id, &Control::Gate { enabled });
        }
    }

    /// Lets `role` through its gate for one operation.
    pub fn step(&self, role: Role) -> Result<(), RunError> {
        let w = self.worker_for(role).ok_or(RunError::NoSuchWorker(usize::MAX))?;
        self.send_control(w.worker_id, &Control::Step { role, ops: 1 })
    }

    /// Sends `signal` to worker `worker_id`, unless it has already been reaped.
    pub fn signal(&self, worker_id: usize, signal: WorkerSignal) -> Result<(), RunError> {
        let w = self.workers.get(worker_id).ok_or(RunError::NoSuchWorker(worker_id))?;
        signal_worker(w, signal).map_err(setup(format!("signalling worker {worker_id}")))
    }

    /// Waits for every worker to end, passing each event to `on_event` as it comes.
    pub fn wait_with(mut self, mut on_event: impl FnMut(&RunEvent)) -> RunOutcome {
        let mut builder = self.outcome_builder();
        for ev in std::mem::take(&mut self.early) {
            on_event(&ev);
            builder.add(&ev);
        }
        while !builder.is_complete() {
            match self.events.recv() {
                Ok(ev) => {
                    on_event(&ev);
                    builder.add(&ev);
                }
                Err(_) => break,
            }
        }
        builder.finish()
    }

    /// Events consumed during start-up, for a caller that reads `events()` itself.
    pub fn take_early_events(&mut self) -> Vec<RunEvent> {
        std::mem::take(&mut self.early)
    }

    /// A builder that folds this run's events into its outcome, for callers that read `events()`.
    pub fn outcome_builder(&self) -> OutcomeBuilder {
        OutcomeBuilder {
            spec: self.spec.clone(),
            prefix: self.prefix().to_string(),
            workers: self.workers.iter().map(|w| (w.roles.clone(), w.pid)).collect(),
            stats: BTreeMap::new(),
            errors: Vec::new(),
            exits: Vec::new(),
        }
    }

    /// Waits for every worker to end.
    pub fn wait(self) -> RunOutcome {
        self.wait_with(|_| {})
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        end_all(&mut self.workers);
        // `resources` drops after this, removing every name and the run directory.
    }
}

impl WorkerProc {
    /// Writes one control line to the worker (nothing once its channel was closed).
    pub(crate) fn send(&self, control: &Control) -> std::io::Result<()> {
        let mut guard = self.control.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(stdin) => stdin.write_all(encode_control(control).as_bytes()).and_then(|()| stdin.flush()),
            None => Ok(()),
        }
    }
}

/// Kills every worker still running, closes their control channels and waits for their readers
/// (which reap them): what ending a run, of any kind, means.
pub(crate) fn end_all(workers: &mut [WorkerProc]) {
    for w in workers.iter() {
        let _ = signal_worker(w, WorkerSignal::Kill);
        // Closing stdin tells a worker that survived the signal (it cannot) to exit.
        w.control.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
    for w in workers.iter_mut() {
        if let Some(reader) = w.reader.take() {
            let _ = reader.join();
        }
    }
}

pub(crate) fn signal_worker(w: &WorkerProc, signal: WorkerSignal) -> std::io::Result<()> {
    let mut child = w.child.lock().unwrap_or_else(|p| p.into_inner());
    // Holding the lock, a child that has not been reaped keeps its PID: no stranger gets signalled.
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use nix::sys::signal::{Signal, kill};
        let sig = match signal {
            WorkerSignal::Kill => Signal::SIGKILL,
            WorkerSignal::Stop => Signal::SIGSTOP,
            WorkerSignal::Continue => Signal::SIGCONT,
        };
        kill(nix::unistd::Pid::from_raw(w.pid as i32), sig).map_err(std::io::Error::from)
    }
    #[cfg(not(unix))]
    match signal {
        WorkerSignal::Kill => child.kill(),
        _ => Err(std::io::Error::other("stop and continue need Unix signals")),
    }
}

/// What each worker gets, plus the pipe ends the supervisor holds until all are spawned.
struct Plan {
    workers: Vec<(Vec<Role>, Vec<PortSpec>, Vec<i32>)>,
    #[cfg(unix)]
    inherited: Vec<std::os::fd::OwnedFd>,
    #[cfg(not(unix))]
    inherited: Vec<()>,
}

fn plan_endpoints(spec: &RunSpec, res: &mut Resources) -> Result<Plan, RunError> {
    let topology = spec.topology();
    let nodes = topology.programs.len();
    let port = |role, link: &LinkSpec, upstream, endpoint| PortSpec {
        role,
        link: link.link,
        upstream,
        peer: if upstream { link.down } else { link.up },
        endpoint,
    };
    if spec.mechanism == MechanismId::Thread {
        let mut ports = Vec::new();
        for l in &topology.links {
            ports.push(port(l.up, l, true, EndpointSpec::Thread));
            ports.push(port(l.down, l, false, EndpointSpec::Thread));
        }
        let roles = (0..nodes as u16).map(Role).collect();
        return Ok(Plan { workers: vec![(roles, ports, vec![])], inherited: Vec::new() });
    }
    let mut plan = Plan {
        workers: (0..nodes as u16).map(|i| (vec![Role(i)], Vec::new(), Vec::new())).collect(),
        inherited: Vec::new(),
    };
    for l in &topology.links {
        let (up, down, up_fds, down_fds) = plan_link(spec, res, l.link, &mut plan.inherited)?;
        let w = &mut plan.workers[l.up.index()];
        w.1.push(port(l.up, l, true, up));
        w.2.extend(up_fds);
        let w = &mut plan.workers[l.down.index()];
        w.1.push(port(l.down, l, false, down));
        w.2.extend(down_fds);
    }
    Ok(plan)
}

/// Creates link `link`'s resources; returns the upstream and downstream ends' endpoints and the
/// descriptors each end's process must inherit.
#[allow(clippy::type_complexity)]
pub(crate) fn plan_link(
    spec: &RunSpec,
    res: &mut Resources,
    link: u16,
    #[allow(unused_variables)] inherited: &mut Vec<std::os::fd::OwnedFd>,
) -> Result<(EndpointSpec, EndpointSpec, Vec<i32>, Vec<i32>), RunError> {
    let same = |ep: EndpointSpec| Ok((ep.clone(), ep, vec![], vec![]));
    match spec.mechanism {
        #[cfg(unix)]
        MechanismId::Pipe => {
            use std::os::fd::AsRawFd;
            let pipe =
                || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| setup("creating a pipe")(e.into()));
            let (fwd_r, fwd_w) = pipe()?;
            let (bwd_r, bwd_w) = pipe()?;
            let (a_read, a_write, b_read, b_write) =
                (bwd_r.as_raw_fd(), fwd_w.as_raw_fd(), fwd_r.as_raw_fd(), bwd_w.as_raw_fd());
            inherited.extend([fwd_r, fwd_w, bwd_r, bwd_w]);
            Ok((
                EndpointSpec::Pipe { read_fd: a_read, write_fd: a_write },
                EndpointSpec::Pipe { read_fd: b_read, write_fd: b_write },
                vec![a_read, a_write],
                vec![b_read, b_write],
            ))
        }
        #[cfg(unix)]
        MechanismId::Fifo => {
            let forward = res.dir().join(format!("link{link}-forward.fifo"));
            let backward = res.dir().join(format!("link{link}-backward.fifo"));
            for p in [&forward, &backward] {
                res.register(Named::File(p.clone())).map_err(setup("recording a FIFO"))?;
                crate::mechanism::fifo::create(p).map_err(setup(format!("mkfifo {}", p.display())))?;
            }
            same(EndpointSpec::Fifo { forward, backward })
        }
        MechanismId::Unix => {
            let path = res.dir().join(format!("link{link}.sock"));
            res.register(Named::File(path.clone())).map_err(setup("recording the socket path"))?;
            same(EndpointSpec::Unix { path })
        }
        MechanismId::Tcp => same(EndpointSpec::Tcp { host: spec.tcp_host.clone() }),
        #[cfg(target_os = "linux")]
        MechanismId::Shm => {
            let name = res.posix_name(&format!("link{link}-shm"));
            res.register(Named::Shm(name.clone())).map_err(setup("recording the shm segment"))?;
            crate::mechanism::shm::create(&name, spec.shm_ring_bytes).map_err(|e| RunError::Setup {
                what: format!("creating shm segment {name}"),
                source: std::io::Error::other(e.to_string()),
            })?;
            same(EndpointSpec::Shm { name, wait: spec.shm_wait })
        }
        #[cfg(target_os = "linux")]
        MechanismId::Mqueue => {
            let (forward, backward) =
                (res.posix_name(&format!("link{link}-fwd")), res.posix_name(&format!("link{link}-bwd")));
            for n in [&forward, &backward] {
                res.register(Named::Mqueue(n.clone())).map_err(setup("recording a message queue"))?;
                crate::mechanism::mqueue::create(n, spec.mq_depth, spec.mq_msg_size).map_err(|e| RunError::Setup {
                    what: format!("creating message queue {n}"),
                    source: std::io::Error::other(e.to_string()),
                })?;
            }
            same(EndpointSpec::Mqueue { forward, backward })
        }
        #[allow(unreachable_patterns)]
        other => Err(RunError::Invalid(format!("mechanism '{other}' is not available on this platform"))),
    }
}

fn spawn_worker(
    exe: &Path,
    worker_id: usize,
    wspec: &WorkerSpec,
    keep_fds: &[i32],
    pgid: Option<u32>,
    events: Sender<RunEvent>,
) -> Result<WorkerProc, RunError> {
    let spec_json =
        serde_json::to_string(wspec).map_err(|e| RunError::Invalid(format!("encoding the worker spec: {e}")))?;
    spawn_child(exe, "worker", &spec_json, worker_id, &wspec.roles, &wspec.ports, keep_fds, pgid, events)
}

/// Starts `exe SUBCOMMAND SPEC` as a child of this run: its own process group (the run's),
/// SIGKILL when this thread ends, the named descriptors inherited, stdin/stdout/stderr piped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_child(
    exe: &Path,
    subcommand: &str,
    spec_json: &str,
    worker_id: usize,
    roles: &[Role],
    ports: &[PortSpec],
    keep_fds: &[i32],
    pgid: Option<u32>,
    events: Sender<RunEvent>,
) -> Result<WorkerProc, RunError> {
    let mut cmd = Command::new(exe);
    cmd.arg(subcommand).arg(spec_json).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(pgid.map_or(0, |p| p as i32));
        let parent = std::process::id() as libc::pid_t;
        let fds = keep_fds.to_vec();
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
        // (prctl, getppid, fcntl) on memory allocated before the fork.
        unsafe {
            cmd.pre_exec(move || {
                #[cfg(target_os = "linux")]
                {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The parent may have died before the prctl took effect.
                    if libc::getppid() != parent {
                        return Err(std::io::Error::other("supervisor died during spawn"));
                    }
                }
                #[cfg(not(target_os = "linux"))]
                let _ = parent;
                for &fd in &fds {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (keep_fds, pgid);
    let mut child = cmd.spawn().map_err(setup(format!("starting worker {} ({})", worker_id, exe.display())))?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let control = child.stdin.take();
    let child = Arc::new(Mutex::new(child));
    let reaper_child = child.clone();
    let reader = std::thread::Builder::new()
        .name(format!("worker-{worker_id}"))
        .spawn(move || read_and_reap(worker_id, pid, stdout, stderr, reaper_child, events))
        .map_err(setup("starting a telemetry reader thread"))?;
    Ok(WorkerProc {
        worker_id,
        roles: roles.to_vec(),
        pid,
        ports: ports.to_vec(),
        child,
        control: Mutex::new(control),
        reader: Some(reader),
    })
}

/// Reads a worker's telemetry until it closes, then waits for the process and reports its end.
fn read_and_reap(
    worker_id: usize,
    pid: u32,
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
    child: Arc<Mutex<Child>>,
    events: Sender<RunEvent>,
) {
    let stderr_reader = stderr.map(|mut err| {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = err.read_to_end(&mut all);
            let text = String::from_utf8_lossy(&all).into_owned();
            let start = text.len().saturating_sub(2000);
            let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
            text[start..].to_string()
        })
    });
    if let Some(out) = stdout {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let ev = match parse_event(&line) {
                Ok(event) => RunEvent::Telemetry { worker_id, event },
                Err(message) => RunEvent::BadTelemetry { worker_id, message },
            };
            let _ = events.send(ev);
        }
    }
    // Wait for the exit without reaping, so a concurrent signal never hits a recycled PID, then reap
    // under the lock.
    #[cfg(target_os = "linux")]
    {
        use nix::sys::wait::{Id, WaitPidFlag, waitid};
        let _ = waitid(Id::Pid(nix::unistd::Pid::from_raw(pid as i32)), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
    let status = child.lock().unwrap_or_else(|p| p.into_inner()).wait();
    let exit = match status {
        Ok(s) => exit_kind(s),
        Err(_) => ExitKind::Code(-1),
    };
    let stderr_tail = stderr_reader.and_then(|h| h.join().ok()).unwrap_or_default();
    let _ = events.send(RunEvent::Exited { worker_id, exit, stderr_tail });
}

fn exit_kind(status: std::process::ExitStatus) -> ExitKind {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return ExitKind::Signal(sig);
        }
    }
    ExitKind::Code(status.code().unwrap_or(-1))
}

/// Runs `spec` to the end with workers from `exe`.
pub fn run_to_end(spec: RunSpec, exe: &Path, on_event: impl FnMut(&RunEvent)) -> Result<RunOutcome, RunError> {
    Ok(Run::start(spec, exe)?.wait_with(on_event))
}
