//! Runs a scenario program (issue 4/7): creates its resources, starts one actor process per
//! program, and decides from what the actors report and what the kernel shows how it ended:
//! completed; **deadlocked** (a cycle in the wait-for graph that persists while every process in
//! it is asleep in the kernel on the kind of wait the graph says); **caught by the kernel** (an
//! fcntl lock refused with EDEADLK); or **hung** (everyone asleep, nothing moving, no cycle).
//! Whatever the verdict, every actor ends and every name is removed.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, unbounded};
use serde::Serialize;

use crate::mechanism::MechanismId;
use crate::programs::actor::ActorSpec;
use crate::programs::model::ProgramModel;
use crate::programs::spec::{ProgramScenario, ResourceKind, Step};
use crate::supervisor::procfs::{proc_stat, proc_wchan};
use crate::supervisor::resources::{Named, Resources};
use crate::supervisor::{RunError, RunEvent, WorkerProc, end_all, setup, spawn_child};
use crate::sync::{SyncArea, SyncError, SyncKind};
use crate::telemetry::{Control, Event, PeerInfo, Role};

pub use crate::programs::model::Verdict;
use crate::programs::model::{Caught, Evidence, Failure, Note};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgramOutcome {
    pub scenario: String,
    /// "" as written, "fixed", or a named variant.
    pub variant: String,
    pub verdict: Verdict,
    /// Final counter values, by resource name.
    pub counters: Vec<(String, u64)>,
    /// Each process's own counters (`local_counter`), by process name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locals: Vec<(String, Vec<(String, u64)>)>,
    /// Each process's longest wait in one blocking operation, as it reported them: (process,
    /// seconds, resource); only processes that waited.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub longest_waits: Vec<(String, f64, String)>,
    /// Updates a racy run lost: how far its counters ended short of what the scenario expects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_updates: Option<u64>,
    /// Counters a completed run got wrong, in every variant (`ProgramModel::wrong_values`):
    /// (name, expected, got).
    pub unexpected: Vec<(String, u64, u64)>,
    /// What the processes were told on the way (e.g. a mutex handed over by a dead owner).
    pub notes: Vec<Note>,
    /// Why processes failed.
    pub errors: Vec<Failure>,
    /// The kernel's EDEADLK, if it refused a lock, whatever the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_caught: Option<Caught>,
    pub prefix: String,
    pub pids: Vec<u32>,
    pub took_secs: f64,
}

const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Why a step or a kill was not done (said in words by `model::say::refusal`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No process with this index.
    NoProcess(usize),
    /// It is not at its gate (blocked, asleep, gone or running).
    NotWaiting(usize),
    /// It is picked already; its operation comes after the one before it.
    PickedAlready(usize),
    AlreadyExited(usize),
    /// The signal could not be sent.
    Signal(String),
}

/// The actors of a run; dropping it kills what still runs and removes every name.
struct Actors {
    workers: Vec<WorkerProc>,
    _resources: Resources,
}

impl Drop for Actors {
    fn drop(&mut self) {
        end_all(&mut self.workers);
    }
}

/// A scenario program running: its actors, their events, and the model folded from them.
/// `ipc-lab run` polls it to a verdict; the GUI's stage polls it, steps it and kills victims.
pub struct ProgramRun {
    model: ProgramModel,
    actors: Actors,
    events: Receiver<RunEvent>,
    area: SyncArea,
    started: Instant,
    next_sample: Instant,
    prefix: String,
    /// You as the scheduler: the process last let through, until it has done that operation,
    /// and the picks made meanwhile, in order (so no pick overtakes the one before it).
    released: Option<usize>,
    queued: std::collections::VecDeque<usize>,
}

impl ProgramRun {
    /// Starts `variant` of `scenario` ("" as written, "fixed", or a named one) with actors from
    /// `exe`; `gated`: you are the scheduler (each operation waits for [`ProgramRun::step`]);
    /// `verbose`: every operation is reported, uncontended ones too (for someone watching).
    pub fn start(
        scenario: &ProgramScenario,
        variant: &str,
        exe: &Path,
        gated: bool,
        verbose: bool,
    ) -> Result<ProgramRun, RunError> {
        Self::start_over(scenario, variant, exe, gated, verbose, MechanismId::Pipe)
    }

    /// As [`ProgramRun::start`], with the scenario's pipes made of `links`: `pipe` (pipe(2)) or
    /// `unix` (a connected pair of Unix stream sockets, socketpair(2): one end writes, the other
    /// reads, and a reader sees end of file once every copy of the writing end is closed).
    pub fn start_over(
        scenario: &ProgramScenario,
        variant: &str,
        exe: &Path,
        gated: bool,
        verbose: bool,
        links: MechanismId,
    ) -> Result<ProgramRun, RunError> {
        if !matches!(links, MechanismId::Pipe | MechanismId::Unix) {
            return Err(RunError::Invalid(format!(
                "a scenario program's pipes can be made of pipe or unix (socketpair), not {links}"
            )));
        }
        let processes = scenario.processes(variant).map_err(RunError::Invalid)?.to_vec();
        crate::supervisor::resources::sweep_stale();
        let mut res = Resources::create().map_err(setup("creating the run directory"))?;
        let prefix = res.prefix().to_string();
        let area_name = res.posix_name("sync");
        res.register(Named::Shm(area_name.clone())).map_err(setup("recording the sync area"))?;
        // One slot per resource, in order; the slot of a resource that lives elsewhere (a file
        // byte, a pipe, a queue, each process's own memory) stays unused.
        let kinds: Vec<SyncKind> = scenario
            .resources
            .iter()
            .map(|r| match r.kind {
                ResourceKind::Mutex => SyncKind::Mutex,
                ResourceKind::Semaphore { initial } => SyncKind::Semaphore { initial },
                ResourceKind::Barrier { parties } => SyncKind::Barrier { parties },
                ResourceKind::Condvar => SyncKind::Condvar,
                ResourceKind::FairMutex => SyncKind::TicketLock,
                _ => SyncKind::Counter,
            })
            .collect();
        let sync_err = |what: &str| {
            let what = what.to_string();
            move |e: SyncError| RunError::Setup { what, source: std::io::Error::other(e.to_string()) }
        };
        SyncArea::create(&area_name, &kinds).map_err(sync_err("creating the sync area"))?;
        let area = SyncArea::open(&area_name).map_err(sync_err("mapping the sync area"))?;
        let lock_file = res.dir().join("locks");
        res.register(Named::File(lock_file.clone())).map_err(setup("recording the lock file"))?;
        std::fs::write(&lock_file, b"").map_err(setup("creating the lock file"))?;

        // Queues: created here, each sized for the largest message sent to it.
        let mut queues: Vec<Option<String>> = Vec::new();
        for (i, r) in scenario.resources.iter().enumerate() {
            let ResourceKind::Queue { capacity } = r.kind else {
                queues.push(None);
                continue;
            };
            let mut largest = 1;
            for p in &processes {
                Step::visit(&p.steps, &mut |s| {
                    if let Step::Send { resource, bytes } = s
                        && *resource == r.name
                    {
                        largest = largest.max(*bytes as usize);
                    }
                });
            }
            let name = res.posix_name(&format!("q{i}"));
            res.register(Named::Mqueue(name.clone())).map_err(setup("recording a queue"))?;
            crate::mechanism::mqueue::create(&name, capacity as usize, largest).map_err(|e| RunError::Setup {
                what: format!("creating queue '{}'", r.name),
                source: std::io::Error::other(e.to_string()),
            })?;
            queues.push(Some(name));
        }

        // Pipes, made here and inherited by every actor (as children of fork inherit them); this
        // process's copies close once all actors run, or a reader would never see end of file.
        let mut pipe_fds: Vec<Option<(i32, i32)>> = Vec::new();
        let mut our_copies: Vec<std::os::fd::OwnedFd> = Vec::new();
        for r in &scenario.resources {
            if r.kind == ResourceKind::Pipe {
                use std::os::fd::AsRawFd;
                let (rd, wr) = if links == MechanismId::Unix {
                    use std::os::fd::{FromRawFd, OwnedFd};
                    let mut fds = [0i32; 2];
                    // SAFETY: socketpair writes two new descriptors into the array we pass.
                    let rc = unsafe {
                        libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
                    };
                    if rc != 0 {
                        let source = std::io::Error::last_os_error();
                        return Err(RunError::Setup { what: "creating a socket pair".into(), source });
                    }
                    // SAFETY: both descriptors are new and ours alone.
                    let (wr, rd) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
                    (rd, wr)
                } else {
                    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                        .map_err(|e| RunError::Setup { what: "creating a pipe".into(), source: e.into() })?
                };
                pipe_fds.push(Some((rd.as_raw_fd(), wr.as_raw_fd())));
                our_copies.extend([rd, wr]);
            } else {
                pipe_fds.push(None);
            }
        }
        let keep_fds: Vec<i32> = pipe_fds.iter().flatten().flat_map(|&(r, w)| [r, w]).collect();
        let (tx, events) = unbounded();
        // Built before the first spawn, so a failed spawn still kills and reaps those started.
        let mut actors = Actors { workers: Vec::new(), _resources: res };
        let mut pgid = None;
        let process_names: Vec<String> = processes.iter().map(|p| p.name.clone()).collect();
        for (i, p) in processes.iter().enumerate() {
            let spec = ActorSpec {
                role: Role(i as u16),
                area: area_name.clone(),
                lock_file: lock_file.clone(),
                resources: scenario.resources.clone(),
                steps: p.steps.clone(),
                pipes: pipe_fds.clone(),
                queues: queues.clone(),
                gated,
                verbose,
                process_names: process_names.clone(),
            };
            let json =
                serde_json::to_string(&spec).map_err(|e| RunError::Invalid(format!("encoding an actor: {e}")))?;
            let w = spawn_child(exe, "actor", &json, i, &[Role(i as u16)], &[], &keep_fds, pgid, tx.clone())?;
            pgid.get_or_insert(w.pid);
            actors.workers.push(w);
        }
        drop(tx);
        drop(our_copies);

        // Start-up: every actor maps the area, opens the lock file and its queues, says hello.
        let deadline = Instant::now() + crate::supervisor::STARTUP_TIMEOUT;
        let mut hello = vec![false; processes.len()];
        while hello.iter().any(|h| !h) {
            match events.recv_deadline(deadline) {
                Ok(RunEvent::Telemetry { worker_id, event: Event::Hello { .. } }) => hello[worker_id] = true,
                Ok(RunEvent::Exited { worker_id, exit, stderr_tail }) => {
                    return Err(RunError::Startup {
                        worker: processes[worker_id].name.clone(),
                        why: format!("{exit}: {stderr_tail}"),
                    });
                }
                Ok(RunEvent::Telemetry { worker_id, event: Event::Error { message, .. } }) => {
                    return Err(RunError::Startup { worker: processes[worker_id].name.clone(), why: message });
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(RunError::Startup { worker: "?".into(), why: "actors not ready in time".into() });
                }
            }
        }
        actors._resources.unlink_names();
        let peers: Vec<PeerInfo> = actors
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| PeerInfo { link: i as u16, address: None, pid: w.pid })
            .collect();
        for w in &actors.workers {
            let _ = w.send(&Control::Connect { peers: peers.clone() });
            let _ = w.send(&Control::Go);
        }
        let mut model = ProgramModel::new(scenario, variant, gated, &processes);
        model.links = links;
        for (p, w) in model.procs.iter_mut().zip(&actors.workers) {
            p.pid = w.pid;
        }
        Ok(ProgramRun {
            model,
            actors,
            events,
            area,
            started: Instant::now(),
            next_sample: Instant::now(),
            prefix,
            released: None,
            queued: std::collections::VecDeque::new(),
        })
    }

    pub fn model(&self) -> &ProgramModel {
        &self.model
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Folds what the actors report for up to `wait`, samples the kernel every 100 ms, and
    /// returns how the run stands (`None` while it runs undecided).
    pub fn poll(&mut self, wait: Duration) -> Option<&Verdict> {
        let until = Instant::now() + wait;
        loop {
            let now = Instant::now();
            let slice = until.min(self.next_sample).saturating_duration_since(now);
            match self.events.recv_timeout(slice) {
                Ok(RunEvent::Telemetry { worker_id, event }) => {
                    self.model.event(worker_id, &event, self.started.elapsed())
                }
                Ok(RunEvent::Exited { worker_id, exit, .. }) => {
                    self.model.exited(worker_id, exit, self.started.elapsed());
                    self.next_sample = Instant::now();
                    if self.model.all_exited() {
                        // Everything has ended: decide now, not at the end of the wait.
                        self.drain();
                        self.sample();
                        return self.model.verdict.as_ref();
                    }
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if !self.model.all_exited() {
                        self.model.verdict = Some(Verdict::Failed { why: vec![Failure::ChannelsClosed] });
                        return self.model.verdict.as_ref();
                    }
                    std::thread::sleep(until.saturating_duration_since(Instant::now()).min(SAMPLE_EVERY));
                }
            }
            self.release_queued();
            if Instant::now() >= self.next_sample {
                self.next_sample = Instant::now() + SAMPLE_EVERY;
                // What is already reported first, so the kernel's picture is not compared with
                // an older one of the processes'.
                self.drain();
                self.sample();
            }
            if Instant::now() >= until {
                return self.model.verdict.as_ref();
            }
        }
    }

    /// Folds every report already waiting.
    fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            match e {
                RunEvent::Telemetry { worker_id, event } => self.model.event(worker_id, &event, self.started.elapsed()),
                RunEvent::Exited { worker_id, exit, .. } => self.model.exited(worker_id, exit, self.started.elapsed()),
                _ => {}
            }
        }
    }

    /// The kernel's side: each live actor's state and wait channel; counters and semaphores.
    fn sample(&mut self) {
        let kernel: Vec<Option<(char, String)>> = self
            .actors
            .workers
            .iter()
            .zip(&self.model.procs)
            .map(|(w, p)| if p.live() { kernel_state(w.pid) } else { None })
            .collect();
        let scenario = &self.model.scenario;
        let counters = scenario
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == ResourceKind::Counter)
            .filter_map(|(i, r)| self.area.counter(i).ok().map(|c| (r.name.clone(), c.load())))
            .collect();
        let semaphores = scenario
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.kind, ResourceKind::Semaphore { .. }))
            .filter_map(|(i, r)| self.area.semaphore(i).ok()?.value().ok().map(|v| (r.name.clone(), v)))
            .collect();
        if scenario.resources.iter().any(|r| r.kind == ResourceKind::FileLock) {
            let pids: Vec<u32> = self.model.procs.iter().map(|p| p.pid).collect();
            self.model.file_locks = proc_locks(&pids, &self.model);
        }
        self.model.sample(kernel, counters, semaphores, self.started.elapsed());
    }

    /// You as the scheduler: lets process `i` do the operation it waits at its gate to do, once
    /// the operation let through before it is done (it is at its next gate, blocked, asleep or
    /// gone), so operations happen in the order picked. Refused (with why) when `i` is not
    /// waiting there: blocked, asleep, gone, running, or picked already.
    pub fn step(&mut self, i: usize) -> Result<(), Refusal> {
        let p = self.model.procs.get(i).ok_or(Refusal::NoProcess(i))?;
        if p.next.is_none() {
            return Err(Refusal::NotWaiting(i));
        }
        if self.queued.contains(&i) {
            return Err(Refusal::PickedAlready(i));
        }
        self.queued.push_back(i);
        self.release_queued();
        Ok(())
    }

    /// Lets the next picked process through if the one before it has done its operation.
    fn release_queued(&mut self) {
        let settled =
            |p: &crate::programs::model::ProcState| p.next.is_some() || p.blocked.is_some() || p.sleeping || !p.live();
        if let Some(r) = self.released
            && !settled(&self.model.procs[r])
        {
            return;
        }
        self.released = None;
        while let Some(i) = self.queued.pop_front() {
            if self.model.procs[i].next.is_none() {
                continue; // killed meanwhile
            }
            let sent = self.actors.workers[i].send(&Control::Step { role: Role(i as u16), ops: 1 });
            if sent.is_ok() {
                self.model.procs[i].next = None;
                self.released = Some(i);
                return;
            }
        }
    }

    /// Kills process `i` with SIGKILL (the victim that breaks a deadlock); what it held is
    /// released by the kernel as for any dead process.
    pub fn kill(&mut self, i: usize) -> Result<(), Refusal> {
        let w = self.actors.workers.get(i).ok_or(Refusal::NoProcess(i))?;
        if self.model.procs[i].exit.is_some() {
            return Err(Refusal::AlreadyExited(i));
        }
        crate::supervisor::signal_worker(w, crate::supervisor::WorkerSignal::Kill)
            .map_err(|e| Refusal::Signal(e.to_string()))?;
        self.model.victim(i, self.started.elapsed());
        Ok(())
    }

    /// Ends the run (kills what still runs, removes every name) and says how it went.
    pub fn finish(mut self, timed_out: Option<Duration>) -> ProgramOutcome {
        self.sample();
        let mut verdict = self.model.verdict.clone();
        if let Some(t) = timed_out
            && verdict.is_none()
        {
            verdict = Some(Verdict::TimedOut { after_secs: t.as_secs_f64() });
        }
        let verdict = verdict.unwrap_or(Verdict::Failed { why: vec![Failure::NoVerdict] });
        let m = &self.model;
        let unexpected = if verdict == Verdict::Completed { m.wrong_values() } else { Vec::new() };
        let lost_updates = m.lost_updates().filter(|&n| n > 0);
        // The kernel's refusal is the verdict when everything then ended; otherwise it is news.
        let kernel_caught_note = m.kernel_caught.clone().filter(|_| !matches!(verdict, Verdict::KernelCaught { .. }));
        let outcome = ProgramOutcome {
            scenario: m.scenario.id.clone(),
            variant: m.variant.clone(),
            verdict,
            counters: m.counters.clone(),
            locals: m.procs.iter().map(|p| (p.name.clone(), p.locals.clone())).filter(|(_, l)| !l.is_empty()).collect(),
            longest_waits: m
                .procs
                .iter()
                .filter_map(|p| p.longest_wait.as_ref().map(|(secs, r)| (p.name.clone(), *secs, r.clone())))
                .collect(),
            lost_updates,
            unexpected,
            notes: m.notes.clone(),
            errors: m.errors.clone(),
            kernel_caught: kernel_caught_note,
            prefix: self.prefix.clone(),
            pids: m.procs.iter().map(|p| p.pid).collect(),
            took_secs: self.started.elapsed().as_secs_f64(),
        };
        drop(self); // kills what still runs, removes every name
        outcome
    }
}

/// Runs `variant` of `scenario` ("" as written, "fixed", or a named one) with actors from `exe`,
/// for at most `timeout`, to its first verdict.
pub fn run(
    scenario: &ProgramScenario,
    variant: &str,
    exe: &Path,
    timeout: Duration,
) -> Result<ProgramOutcome, RunError> {
    run_over(scenario, variant, exe, timeout, MechanismId::Pipe)
}

/// As [`run`], with the scenario's pipes made of `links` (see [`ProgramRun::start_over`]).
pub fn run_over(
    scenario: &ProgramScenario,
    variant: &str,
    exe: &Path,
    timeout: Duration,
    links: MechanismId,
) -> Result<ProgramOutcome, RunError> {
    let mut run = ProgramRun::start_over(scenario, variant, exe, false, false, links)?;
    while run.elapsed() < timeout {
        if run.poll(Duration::from_millis(50)).is_some() {
            return Ok(run.finish(None));
        }
    }
    Ok(run.finish(Some(timeout)))
}

/// State letter and wait channel of the actor (it runs its steps on its main thread, whose
/// /proc entry is the process's).
fn kernel_state(pid: u32) -> Option<(char, String)> {
    let dir = format!("/proc/{pid}");
    proc_stat(&dir).map(|(state, _)| (state, proc_wchan(&dir)))
}

/// The kernel's own list of record locks (/proc/locks), the lines of this run's processes, in
/// words: "worker 1 (pid 12) holds a write lock on byte 0 (lock A)", "worker 2 (pid 13) waits
/// for a write lock on byte 0 (lock A)". A waiter's line starts with "->" in the file.
fn proc_locks(pids: &[u32], model: &ProgramModel) -> Vec<Evidence> {
    let text = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        f.remove(0); // "12:"
        let waits = f.first() == Some(&"->");
        if waits {
            f.remove(0);
        }
        // POSIX ADVISORY WRITE pid maj:min:inode start end
        let (Some(kind), Some(pid), Some(start)) = (f.get(2), f.get(3).and_then(|p| p.parse::<u32>().ok()), f.get(5))
        else {
            continue;
        };
        let Some(i) = pids.iter().position(|&p| p == pid) else { continue };
        let Ok(byte) = start.parse::<u64>() else { continue };
        let resource = usize::try_from(byte).ok().and_then(|b| model.scenario.resources.get(b)).map(|r| r.name.clone());
        out.push(Evidence::FileLock { process: model.name(i), pid, waits, mode: kind.to_lowercase(), byte, resource });
    }
    out
}
