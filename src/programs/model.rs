//! The state of a scenario program's run (issue 4/7), folded from what its actor processes report
//! and what the kernel shows: each process's state (at its gate, blocked on what, asleep on
//! purpose, exited), the wait-for graph, counter and semaphore values, and the verdict. Pure: no
//! I/O, no egui; time comes in as the duration since the run began. The headless `ipc-lab run`
//! and the GUI's stage fold the same events through this, so they decide the same way.
//!
//! **How a deadlock is decided**: a cycle in the wait-for graph (each process waits for a
//! resource the next holds), genuine (no holder outside the cycle could break it), that has held
//! for [`DEADLOCK_PERSISTS`] while every process in it is asleep in the kernel on the kind of wait
//! the graph names (a futex for mutexes, semaphores and barriers; a pipe wait; a record-lock wait;
//! a queue wait; a poll on a pidfd for a join). When the processes report a cycle the kernel does
//! not confirm, it is only **suspected**. Everyone asleep with nothing moving and no cycle is a
//! **hang**.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use super::waitfor::WaitFor;
pub use super::waitfor::{CycleStep, Held, Waited};
use crate::programs::spec::{
    PipeEnd, ProcessDecl, ProgramScenario, ResourceKind, Step, exit_of, pipe_end_name, post_of, queue_side, signal_of,
};
use crate::supervisor::ExitKind;
use crate::telemetry::{Detail, Event, SyncOp, SyncPhase};

/// How a scenario program ended (or, while it runs, how it stands), as values: processes and
/// resources by the scenario's ids. `model::say` puts it in words, in the reader's language.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Completed,
    /// The cycle, a step per process, and each process's kernel state as evidence.
    Deadlock {
        cycle: Vec<CycleStep>,
        evidence: Vec<Evidence>,
    },
    /// The kernel refused a lock that would have closed a cycle (EDEADLK).
    KernelCaught {
        caught: Caught,
    },
    /// Everyone asleep, nothing moving, and no cycle to blame.
    Hang {
        evidence: Vec<Evidence>,
    },
    /// The processes report a cycle the kernel does not confirm (not every process of it is
    /// asleep on that kind of wait): suspected, not called a deadlock.
    Suspected {
        cycle: Vec<CycleStep>,
        evidence: Vec<Evidence>,
    },
    Failed {
        why: Vec<Failure>,
    },
    TimedOut {
        after_secs: f64,
    },
    /// Every process ended, the survivors well, after you killed the ones named (the victims
    /// that broke a deadlock).
    Recovered {
        victims: Vec<String>,
    },
    /// You stopped the run before it ended (every process killed); how it stood then.
    Stopped {
        before: Option<Box<Verdict>>,
    },
}

/// The kernel's side of a verdict, per process or per lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// /proc/PID/stat and /proc/PID/wchan: its state letter and where it sleeps.
    Asleep { process: String, pid: u32, state: char, wchan: String },
    /// A line of /proc/locks: `process` holds (or waits for) a `mode` record lock on `byte`
    /// (resource `resource`, when the byte is one of the run's).
    FileLock { process: String, pid: u32, waits: bool, mode: String, byte: u64, resource: Option<String> },
}

/// The kernel's EDEADLK: `process` asked for `resource`, held by `holders`, which wait
/// (directly or through others) for what `process` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Caught {
    pub process: String,
    pub resource: String,
    pub holders: Vec<String>,
}

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// A process ended otherwise than with code 0.
    Exited { process: String, exit: ExitKind },
    /// An operation was refused.
    Refused { process: String, op: SyncOp, resource: String, detail: Option<Detail> },
    /// A process failed and said why in its own words (the engine's, in English).
    Said { process: String, message: String },
    /// Every actor's channel closed before every process was seen to exit.
    ChannelsClosed,
    /// The run ended before any verdict.
    NoVerdict,
}

/// What a process was told on the way (a mutex handed over by a dead owner), kept for the end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Note {
    pub process: String,
    pub op: SyncOp,
    pub resource: String,
    pub detail: Detail,
}

/// One line of the run's log, as a value (processes by index into the run's processes).
#[derive(Clone, Debug, PartialEq)]
pub enum LogEntry {
    /// Entered a blocking operation.
    Waits {
        process: usize,
        op: SyncOp,
        resource: String,
    },
    /// Finished an operation.
    Did {
        process: usize,
        op: SyncOp,
        resource: String,
        detail: Option<Detail>,
    },
    /// An operation was refused (or a try-lock found the lock busy).
    Refused {
        process: usize,
        op: SyncOp,
        resource: String,
        detail: Option<Detail>,
    },
    /// A process failed, in its own words.
    Said {
        process: usize,
        message: String,
    },
    Exited {
        process: usize,
        exit: ExitKind,
    },
    /// You killed it; what the kernel then does with what it held.
    Killed {
        process: usize,
        releases: Vec<Release>,
    },
}

/// What the kernel does with something a killed process held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Release {
    /// A robust mutex: its next locker gets it with EOWNERDEAD.
    RobustMutex(String),
    /// The kernel drops a dead process's fcntl locks.
    FileLock(String),
    /// Units of a semaphore stay taken: it has no owner to give them back.
    SemaphoreUnits { resource: String, units: usize },
    /// Its ends of a pipe close: a reader may see end of file, a writer EPIPE.
    PipeEnds(String),
}

/// Per resource, the processes (by index) whose programs use it.
fn users_of(scenario: &ProgramScenario, processes: &[ProcessDecl]) -> Vec<Vec<usize>> {
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); scenario.resources.len()];
    for (p, decl) in processes.iter().enumerate() {
        Step::visit(&decl.steps, &mut |step| {
            for (i, _) in step.resources().into_iter().filter_map(|r| scenario.resource(r)) {
                if !users[i].contains(&p) {
                    users[i].push(p);
                }
            }
        });
    }
    users
}

/// A cycle must hold this long, every process in it asleep, before it is called a deadlock.
pub const DEADLOCK_PERSISTS: Duration = Duration::from_millis(300);
/// Everyone asleep with nothing reported for this long, and no cycle: a hang.
pub const HANG_AFTER: Duration = Duration::from_secs(1);
/// Lines of the operation log kept.
const LOG_LINES: usize = 200;

/// One process of the run, as its reports and the kernel show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcState {
    pub name: String,
    pub pid: u32,
    /// With the scheduler on: the operation it waits at its gate to do next.
    pub next: Option<(SyncOp, String, Option<Detail>)>,
    /// The blocking operation it is in.
    pub blocked: Option<(SyncOp, String)>,
    /// In a sleep step: asleep on purpose, not stuck.
    pub sleeping: bool,
    pub exit: Option<ExitKind>,
    /// The kernel's state letter and wait channel, sampled.
    pub kernel: Option<(char, String)>,
    /// Its own counters (`local_counter`), as last reported.
    pub locals: Vec<(String, u64)>,
    /// Operations reported done (quiet ones are not counted).
    pub ops: u64,
    /// Times in a row a try-lock found its lock busy and the process backed off to try again
    /// (back to 0 once it gets all it wanted and gives a lock back of its own accord).
    pub backoffs: u64,
    /// Backing off: it gave up after a busy try and has not taken a lock since.
    pub backing_off: bool,
    /// Since when it has been in the blocking operation it is in (time since the run began).
    pub waiting_since: Option<Duration>,
    /// Its longest wait in one blocking operation so far: seconds, and the resource.
    pub longest_wait: Option<(f64, String)>,
}

impl ProcState {
    pub fn live(&self) -> bool {
        self.exit.is_none()
    }
}

/// The run of one scenario program.
#[derive(Clone, Debug)]
pub struct ProgramModel {
    pub scenario: ProgramScenario,
    pub variant: String,
    pub gated: bool,
    pub procs: Vec<ProcState>,
    pub graph: WaitFor,
    /// Shared counters and semaphore values, by resource name, as last sampled.
    pub counters: Vec<(String, u64)>,
    pub semaphores: Vec<(String, i32)>,
    /// What the processes were told on the way (a mutex handed over by a dead owner ...).
    pub notes: Vec<Note>,
    /// Why processes failed.
    pub errors: Vec<Failure>,
    /// The kernel's EDEADLK refusal.
    pub kernel_caught: Option<Caught>,
    /// The latest operations, oldest first: (seconds since start, entry).
    pub log: VecDeque<(f64, LogEntry)>,
    /// How the run stands now: `None` while it runs undecided. A deadlock broken by killing a
    /// victim goes back to `None`.
    pub verdict: Option<Verdict>,
    /// A deadlock was seen at some point of the run (a challenge to make one is won).
    pub deadlocked_once: bool,
    /// Processes you killed (victims chosen to break a deadlock), by index.
    pub victims: Vec<usize>,
    /// A hang was seen at some point of the run.
    pub hung_once: bool,
    /// Per resource, the processes whose programs in this variant use it (fixed for the run).
    users: Vec<Vec<usize>>,
    /// The last report was an operation refused (its error event then repeats it).
    refused: bool,
    hang_since: Option<Duration>,
    /// The kernel's record locks of this run's processes (/proc/locks, in words), sampled with
    /// the rest: evidence for a cycle through a file lock.
    pub file_locks: Vec<Evidence>,
    /// What the scenario's pipes are made of: `pipe`, or `unix` (a socket pair).
    pub links: crate::mechanism::MechanismId,
    last_activity: Duration,
    cycle_since: Option<Duration>,
    suspect_since: Option<Duration>,
}

impl ProgramModel {
    pub fn new(scenario: &ProgramScenario, variant: &str, gated: bool, processes: &[ProcessDecl]) -> Self {
        let mut graph = WaitFor::default();
        for (i, p) in processes.iter().enumerate() {
            // Every process starts holding both ends of every pipe (as children of fork do),
            // its own exit, and the receiving or sending side of each queue its program uses.
            for r in scenario.resources.iter().filter(|r| r.kind == ResourceKind::Pipe) {
                graph.acquired(i, &pipe_end_name(&r.name, PipeEnd::Read));
                graph.acquired(i, &pipe_end_name(&r.name, PipeEnd::Write));
            }
            graph.acquired(i, &exit_of(&p.name));
            let mut sides = Vec::new();
            Step::visit(&p.steps, &mut |s| match s {
                Step::Send { resource, .. } => sides.push(queue_side(resource, false)),
                Step::Recv { resource, .. } => sides.push(queue_side(resource, true)),
                Step::Post { resource } => sides.push(post_of(resource)),
                Step::Signal { resource } | Step::Broadcast { resource } => sides.push(signal_of(resource)),
                _ => {}
            });
            sides.sort();
            sides.dedup();
            for r in sides.iter().filter(|side| {
                let q = side.trim_start_matches("a receiver of ").trim_start_matches("a sender to ");
                side.starts_with("a post of ")
                    || side.starts_with("a signal of ")
                    || matches!(scenario.resource(q).map(|(_, d)| d.kind), Some(ResourceKind::Queue { .. }))
            }) {
                graph.acquired(i, r);
            }
        }
        ProgramModel {
            scenario: scenario.clone(),
            variant: variant.to_string(),
            gated,
            procs: processes.iter().map(|p| ProcState { name: p.name.clone(), ..ProcState::default() }).collect(),
            graph,
            counters: Vec::new(),
            semaphores: Vec::new(),
            notes: Vec::new(),
            errors: Vec::new(),
            kernel_caught: None,
            log: VecDeque::new(),
            verdict: None,
            deadlocked_once: false,
            victims: Vec::new(),
            hung_once: false,
            users: users_of(scenario, processes),
            refused: false,
            hang_since: None,
            links: crate::mechanism::MechanismId::Pipe,
            file_locks: Vec::new(),
            last_activity: Duration::ZERO,
            cycle_since: None,
            suspect_since: None,
        }
    }

    /// Per resource, the processes (by index) whose program in this variant uses it.
    pub fn users(&self) -> &[Vec<usize>] {
        &self.users
    }

    pub fn name(&self, i: usize) -> String {
        self.procs.get(i).map_or_else(|| format!("process {i}"), |p| p.name.clone())
    }

    fn kind_of(&self, resource: &str) -> Option<ResourceKind> {
        self.scenario.resource(resource).map(|(_, d)| d.kind)
    }

    fn say(&mut self, now: Duration, line: LogEntry) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back((now.as_secs_f64(), line));
    }

    /// Folds one report of process `i`.
    pub fn event(&mut self, i: usize, event: &Event, now: Duration) {
        if i >= self.procs.len() {
            return;
        }
        match event {
            Event::Sync { op, resource, phase, detail, .. } => {
                self.last_activity = now;
                self.fold_sync(i, *op, resource, *phase, detail.as_ref(), now);
            }
            Event::Holding { resources, .. } => {
                self.last_activity = now;
                let lockable: Vec<String> = self
                    .scenario
                    .resources
                    .iter()
                    .filter(|r| {
                        matches!(
                            r.kind,
                            ResourceKind::Mutex
                                | ResourceKind::FairMutex
                                | ResourceKind::FileLock
                                | ResourceKind::Semaphore { .. }
                        )
                    })
                    .map(|r| r.name.clone())
                    .collect();
                self.graph.set_held(i, resources, |r| lockable.iter().any(|l| l == r));
            }
            Event::Values { values, .. } => self.procs[i].locals = values.clone(),
            // A refused operation was said as it happened; its error repeats it.
            Event::Error { message, .. } if !std::mem::take(&mut self.refused) => {
                self.say(now, LogEntry::Said { process: i, message: message.clone() });
                self.errors.push(Failure::Said { process: self.name(i), message: message.clone() });
            }
            _ => {}
        }
    }

    fn fold_sync(
        &mut self,
        i: usize,
        op: SyncOp,
        resource: &str,
        phase: SyncPhase,
        detail: Option<&Detail>,
        now: Duration,
    ) {
        let who = self.name(i);
        let posts = self.posters(resource).contains(&i);
        if phase != SyncPhase::Next {
            self.procs[i].next = None;
        }
        match phase {
            SyncPhase::Next => {
                self.procs[i].next = Some((op, resource.to_string(), detail.cloned()));
                return;
            }
            SyncPhase::Enter => {
                if op != SyncOp::Sleep {
                    self.procs[i].waiting_since = Some(now);
                    self.procs[i].blocked = Some((op, resource.to_string()));
                    self.say(now, LogEntry::Waits { process: i, op, resource: resource.to_string() });
                }
            }
            SyncPhase::Leave => {
                self.procs[i].blocked = None;
                // Progress, for a livelock's count: a lock taken ends a back-off; a lock given
                // back outside one means the process had all it wanted.
                match op {
                    SyncOp::Lock => self.procs[i].backing_off = false,
                    SyncOp::Unlock if !self.procs[i].backing_off => self.procs[i].backoffs = 0,
                    _ => {}
                }
                if let Some(since) = self.procs[i].waiting_since.take() {
                    let waited = now.saturating_sub(since).as_secs_f64();
                    if self.procs[i].longest_wait.as_ref().is_none_or(|(w, _)| waited > *w) {
                        self.procs[i].longest_wait = Some((waited, resource.to_string()));
                    }
                }
                self.procs[i].ops += 1;
                self.say(
                    now,
                    LogEntry::Did { process: i, op, resource: resource.to_string(), detail: detail.cloned() },
                );
                if let Some(d @ (Detail::OwnerDied | Detail::EndOfFile { .. })) = detail {
                    self.notes.push(Note {
                        process: who.clone(),
                        op,
                        resource: resource.to_string(),
                        detail: d.clone(),
                    });
                }
            }
            SyncPhase::Failed => {
                self.procs[i].blocked = None;
                self.say(
                    now,
                    LogEntry::Refused { process: i, op, resource: resource.to_string(), detail: detail.cloned() },
                );
                // A try-lock that found its lock busy goes on; anything else is the process's
                // failure, and its error event repeats it.
                if matches!(detail, Some(Detail::BackOff { .. })) {
                    self.procs[i].backoffs += 1;
                    self.procs[i].backing_off = true;
                } else {
                    self.refused = true;
                    self.errors.push(Failure::Refused {
                        process: who.clone(),
                        op,
                        resource: resource.to_string(),
                        detail: detail.cloned(),
                    });
                }
            }
        }
        let queue = matches!(self.kind_of(resource), Some(ResourceKind::Queue { .. }));
        match (op, phase) {
            (SyncOp::Sleep, SyncPhase::Enter) => self.procs[i].sleeping = true,
            (SyncOp::Sleep, _) => self.procs[i].sleeping = false,
            // A reader waits for whoever holds the write end (a queue's: whoever sends to it);
            // a writer for the read end (whoever receives).
            (SyncOp::Recv, SyncPhase::Enter) if queue => self.graph.blocked_on(i, &queue_side(resource, false)),
            (SyncOp::Send, SyncPhase::Enter) if queue => self.graph.blocked_on(i, &queue_side(resource, true)),
            (SyncOp::Recv, SyncPhase::Enter) => self.graph.blocked_on(i, &pipe_end_name(resource, PipeEnd::Write)),
            (SyncOp::Send, SyncPhase::Enter) => self.graph.blocked_on(i, &pipe_end_name(resource, PipeEnd::Read)),
            (SyncOp::Join, SyncPhase::Enter) => self.graph.blocked_on(i, &exit_of(resource)),
            // Asleep on a condition variable: waiting for a signal, the mutex given up meanwhile.
            (SyncOp::CondWait, SyncPhase::Enter) => {
                if let Some(Detail::WithMutex { mutex }) = detail {
                    self.graph.released(i, mutex);
                }
                self.graph.blocked_on(i, &signal_of(resource));
            }
            (SyncOp::CondWait, SyncPhase::Leave) => {
                self.graph.unblocked(i);
                if let Some(Detail::WithMutex { mutex }) = detail {
                    self.graph.acquired(i, mutex);
                }
            }
            (SyncOp::Send | SyncOp::Recv | SyncOp::Join, SyncPhase::Leave) => self.graph.unblocked(i),
            (SyncOp::Close, _) => {
                let end = match detail {
                    Some(Detail::End { end }) => *end,
                    _ => PipeEnd::Write,
                };
                self.graph.released(i, &pipe_end_name(resource, end));
            }
            (SyncOp::Wait, SyncPhase::Enter) => self.graph.blocked_on(i, &post_of(resource)),
            (SyncOp::Lock | SyncOp::Barrier, SyncPhase::Enter) => self.graph.blocked_on(i, resource),
            (SyncOp::Lock, SyncPhase::Leave) => self.graph.acquired(i, resource),
            // A unit taken by a process that gives it back (a lock's use) is held; one taken as a
            // signal (a consumer's "full slots") is consumed, not held.
            (SyncOp::Wait, SyncPhase::Leave) if posts => self.graph.acquired(i, resource),
            (SyncOp::Wait, SyncPhase::Leave) => self.graph.unblocked(i),
            (SyncOp::Barrier, SyncPhase::Leave) => self.graph.unblocked(i),
            (SyncOp::Unlock | SyncOp::Post, SyncPhase::Leave) => self.graph.released(i, resource),
            (_, SyncPhase::Failed) => {
                self.graph.unblocked(i);
                if matches!(detail, Some(Detail::Errno { errno, .. }) if *errno == libc::EDEADLK) {
                    let mut holders: Vec<String> = self.graph.holders(resource).iter().map(|&h| self.name(h)).collect();
                    holders.dedup();
                    self.kernel_caught = Some(Caught { process: who, resource: resource.to_string(), holders });
                }
            }
            _ => {}
        }
    }

    /// Process `i` ended: it holds and waits for nothing any more (what it held is, for robust
    /// mutexes, handed on when the next locker reports; for a semaphore, lost).
    pub fn exited(&mut self, i: usize, exit: ExitKind, now: Duration) {
        let Some(p) = self.procs.get_mut(i) else { return };
        self.last_activity = now;
        p.exit = Some(exit);
        p.sleeping = false;
        p.blocked = None;
        p.next = None;
        p.kernel = None;
        self.graph.gone(i);
        self.say(now, LogEntry::Exited { process: i, exit });
    }

    /// You chose process `i` as the victim (its kill is on the way).
    pub fn victim(&mut self, i: usize, now: Duration) {
        if i < self.procs.len() && !self.victims.contains(&i) {
            self.victims.push(i);
            let releases = self.what_dies_with(i);
            self.say(now, LogEntry::Killed { process: i, releases });
        }
    }

    /// What the kernel does with what process `i` holds when it dies.
    pub fn what_dies_with(&self, i: usize) -> Vec<Release> {
        let mut said = Vec::new();
        let held = self.graph.held_by(i);
        for r in self.scenario.resources.iter() {
            let units = held.iter().filter(|h| **h == r.name).count();
            let pipe_end = held.iter().any(|h| {
                h.strip_prefix("the read end of ").or_else(|| h.strip_prefix("the write end of "))
                    == Some(r.name.as_str())
            });
            match r.kind {
                ResourceKind::Mutex if units > 0 => said.push(Release::RobustMutex(r.name.clone())),
                ResourceKind::FileLock if units > 0 => said.push(Release::FileLock(r.name.clone())),
                ResourceKind::Semaphore { .. } if units > 0 => {
                    said.push(Release::SemaphoreUnits { resource: r.name.clone(), units })
                }
                ResourceKind::Pipe if pipe_end => said.push(Release::PipeEnds(r.name.clone())),
                _ => {}
            }
        }
        said
    }

    pub fn all_exited(&self) -> bool {
        self.procs.iter().all(|p| !p.live())
    }

    /// How the run ended once every process has: completed, caught by the kernel, or failed.
    fn ending(&self) -> Verdict {
        let survivors_well =
            self.procs.iter().enumerate().all(|(i, p)| p.exit == Some(ExitKind::Code(0)) || self.victims.contains(&i));
        match (&self.kernel_caught, self.procs.iter().all(|p| p.exit == Some(ExitKind::Code(0)))) {
            (Some(caught), _) => Verdict::KernelCaught { caught: caught.clone() },
            (None, true) => Verdict::Completed,
            (None, false) if survivors_well && (self.deadlocked_once || self.hung_once) => {
                Verdict::Recovered { victims: self.victims.iter().map(|&i| self.name(i)).collect() }
            }
            (None, false) => {
                let died = self.procs.iter().filter_map(|p| match p.exit {
                    Some(ExitKind::Code(0)) | None => None,
                    Some(exit) => Some(Failure::Exited { process: p.name.clone(), exit }),
                });
                let why = if self.errors.is_empty() { died.collect() } else { self.errors.clone() };
                Verdict::Failed { why }
            }
        }
    }

    /// Updates the kernel's side (per process: state letter and wait channel, `None` if gone)
    /// and the shared values, then decides how the run stands.
    pub fn sample(
        &mut self,
        kernel: Vec<Option<(char, String)>>,
        counters: Vec<(String, u64)>,
        semaphores: Vec<(String, i32)>,
        now: Duration,
    ) {
        for (p, k) in self.procs.iter_mut().zip(kernel) {
            p.kernel = if p.live() { k } else { None };
        }
        self.counters = counters;
        self.semaphores = semaphores;
        self.verdict = self.decide(now);
        if matches!(self.verdict, Some(Verdict::Deadlock { .. } | Verdict::KernelCaught { .. })) {
            self.deadlocked_once = true;
        }
        if matches!(self.verdict, Some(Verdict::Hang { .. } | Verdict::Suspected { .. })) {
            self.hung_once = true;
        }
    }

    fn decide(&mut self, now: Duration) -> Option<Verdict> {
        if self.all_exited() {
            return Some(self.ending());
        }
        if self.kernel_caught.is_some() {
            self.deadlocked_once = true;
        }
        let live: Vec<usize> = (0..self.procs.len()).filter(|&i| self.procs[i].live()).collect();
        // A barrier is "held" by the live parties not waiting at it yet: they are what it waits for.
        for (bi, r) in self.scenario.resources.iter().enumerate() {
            if !matches!(r.kind, ResourceKind::Barrier { .. }) {
                continue;
            }
            let waiting_here = live.iter().any(|&p| self.graph.waits_for(p) == Some(r.name.as_str()));
            // Only its users can arrive: a process that never meets at it holds nobody up.
            let not_there: Vec<usize> = live
                .iter()
                .copied()
                .filter(|&p| self.users[bi].contains(&p) && self.graph.waits_for(p) != Some(r.name.as_str()))
                .collect();
            // Nobody waiting at it: it holds nobody up (and is nobody's to "hold" in a sentence).
            self.graph.set_holders(&r.name, if waiting_here { not_there } else { Vec::new() });
        }
        let evidence = |who: &mut dyn Iterator<Item = usize>| -> Vec<Evidence> {
            who.filter_map(|i| {
                let p = &self.procs[i];
                p.kernel.as_ref().map(|(s, w)| Evidence::Asleep {
                    process: p.name.clone(),
                    pid: p.pid,
                    state: *s,
                    wchan: w.clone(),
                })
            })
            .collect()
        };
        if let Some(cycle) = self.graph.cycle() {
            // Genuine if, by the processes' reports, nobody can break it: no process of it can
            // ever move again (none waits for something a process that can still move may
            // release). Confirmed if it stays so with the kernel's word added: every process
            // counted as blocked is asleep on that kind of wait. Asked of the reports alone
            // first, or a cycle the kernel does not confirm would never be one at all (a
            // process not asleep on its wait is free), and could only be called a hang.
            let reported = self.free(&live, false);
            let confirmed = self.free(&live, true);
            let genuine = cycle.iter().all(|e| !reported[e.proc]);
            let agrees = cycle.iter().all(|e| !confirmed[e.proc]);
            let sentence = self.graph.steps(
                &cycle,
                |i| self.name(i),
                |r| !matches!(self.kind_of(r), Some(ResourceKind::Semaphore { .. })),
            );
            if genuine && agrees {
                self.suspect_since = None;
                let since = *self.cycle_since.get_or_insert(now);
                if now.saturating_sub(since) >= DEADLOCK_PERSISTS {
                    let mut evidence = evidence(&mut cycle.iter().map(|e| e.proc));
                    // Through a file lock, the kernel's lock table says who holds and who waits.
                    if cycle.iter().any(|e| self.kind_of(&e.resource) == Some(ResourceKind::FileLock)) {
                        evidence.extend(self.file_locks.iter().cloned());
                    }
                    return Some(Verdict::Deadlock { cycle: sentence, evidence });
                }
                return None;
            } else if genuine {
                // What the processes say and what the kernel shows disagree: say so, not "deadlock".
                self.cycle_since = None;
                let since = *self.suspect_since.get_or_insert(now);
                if now.saturating_sub(since) >= HANG_AFTER && now.saturating_sub(self.last_activity) >= HANG_AFTER {
                    return Some(Verdict::Suspected {
                        cycle: sentence,
                        evidence: evidence(&mut cycle.iter().map(|e| e.proc)),
                    });
                }
                return None;
            }
        }
        self.cycle_since = None;
        self.suspect_since = None;
        // Nobody running, nobody asleep on purpose or waiting for the scheduler, nothing
        // reported for a while: a hang.
        let all_stuck = !live.is_empty()
            && live.iter().all(|&p| {
                let s = &self.procs[p];
                !s.sleeping && s.next.is_none() && s.kernel.as_ref().is_some_and(|(k, _)| matches!(k, 'S' | 'D'))
            });
        if !all_stuck {
            self.hang_since = None;
            return None;
        }
        let since = *self.hang_since.get_or_insert(now);
        if now.saturating_sub(since) >= HANG_AFTER && now.saturating_sub(self.last_activity) >= HANG_AFTER {
            return Some(Verdict::Hang { evidence: evidence(&mut live.iter().copied()) });
        }
        None
    }

    /// Which processes may still move (by index): those that wait for nothing (with `kernel`,
    /// also those not asleep in the kernel on what they say they wait for), and, to a fixed
    /// point, those waiting for something a process that may move could release (or for a lock
    /// whose holder is not known: it was taken quietly, by a process that was running).
    fn free(&self, live: &[usize], kernel: bool) -> Vec<bool> {
        let n = self.procs.len();
        let mut free: Vec<bool> = (0..n)
            .map(|p| {
                let s = &self.procs[p];
                s.live()
                    && (s.sleeping
                        || s.next.is_some()
                        || !self.graph.waits_for(p).is_some_and(|r| !kernel || self.asleep_on(p, r)))
            })
            .collect();
        loop {
            let mut changed = false;
            for &p in live {
                if free[p] {
                    continue;
                }
                let Some(r) = self.graph.waits_for(p) else { continue };
                let holders: Vec<usize> =
                    self.graph.holders(r).iter().copied().filter(|&h| h != p && self.procs[h].live()).collect();
                // A role (a post, a queue side, an exit) nobody live plays is never coming.
                let role = ["a post of ", "a receiver of ", "a sender to ", "the exit of ", "a signal of "]
                    .iter()
                    .any(|x| r.starts_with(x));
                if holders.iter().any(|&h| free[h]) || (holders.is_empty() && !role) {
                    free[p] = true;
                    changed = true;
                }
            }
            if !changed {
                return free;
            }
        }
    }

    /// The processes whose programs post semaphore `name` (by index).
    fn posters(&self, name: &str) -> Vec<usize> {
        self.graph.holders(&post_of(name)).to_vec()
    }

    /// Asleep in the kernel on the kind of wait the graph says: a futex for mutexes, semaphores
    /// and barriers, a pipe wait for pipes, a record-lock wait for fcntl locks (its wchan names
    /// vary between kernels: fcntl_setlk, locks_lock_inode_wait, ...), a queue wait, a poll.
    fn asleep_on(&self, p: usize, resource: &str) -> bool {
        let Some((s, w)) = &self.procs[p].kernel else { return false };
        if !matches!(s, 'S' | 'D') {
            return false;
        }
        if resource.starts_with("the write end of ") || resource.starts_with("the read end of ") {
            // A pipe's wait (pipe_read, pipe_write), or a stream socket's (unix_stream_read_generic,
            // sock_alloc_send_pskb, ...) when the pipes are socket pairs.
            return w.contains("pipe") || w.contains("unix") || w.contains("sock");
        }
        if resource.starts_with("the exit of ") {
            return w.contains("poll");
        }
        if resource.starts_with("a post of ") || resource.starts_with("a signal of ") {
            return w.contains("futex");
        }
        if let Some(q) = resource.strip_prefix("a receiver of ").or_else(|| resource.strip_prefix("a sender to ")) {
            return matches!(self.kind_of(q), Some(ResourceKind::Queue { .. }))
                && (w.contains("mq") || w.contains("wq_sleep"));
        }
        match self.kind_of(resource) {
            Some(ResourceKind::FileLock) => w.contains("lock") || w.contains("setlk"),
            Some(_) => w.contains("futex"),
            None => false,
        }
    }

    /// Updates lost by a completed racy run: for each counter the scenario expects, how far short
    /// it ended (`None` before the end, or with nothing to compare).
    pub fn lost_updates(&self) -> Option<u64> {
        if self.verdict != Some(Verdict::Completed) || self.scenario.expect.is_empty() {
            return None;
        }
        Some(
            self.scenario
                .expect
                .iter()
                .filter_map(|(n, &want)| {
                    self.counters.iter().find(|(c, _)| c == n).map(|(_, got)| want.saturating_sub(*got))
                })
                .sum(),
        )
    }

    /// Whether this run has brought about `goal`.
    pub fn achieved(&self, goal: crate::programs::spec::Goal) -> bool {
        use crate::programs::spec::Goal;
        match goal {
            Goal::Deadlock => self.deadlocked_once || self.kernel_caught.is_some(),
            Goal::Complete => self.verdict == Some(Verdict::Completed) && !self.deadlocked_once,
            Goal::LostUpdate => self.lost_updates().is_some_and(|n| n > 0),
            Goal::Livelock => {
                self.procs.iter().filter(|p| p.backoffs >= crate::programs::spec::LIVELOCK_BACKOFFS).count() >= 2
            }
        }
    }

    /// The values a completed run got wrong, whatever its variant: every process's own counter,
    /// and the shared counters, except a shared counter that fell short in the program as written
    /// (a race there is what the scenario shows; the shortfall is said as lost updates).
    pub fn wrong_values(&self) -> Vec<(String, u64, u64)> {
        let as_written = self.variant.is_empty();
        self.unexpected()
            .into_iter()
            .filter(|(n, want, got)| {
                let shared = !matches!(self.kind_of(n), Some(ResourceKind::LocalCounter)) && self.kind_of(n).is_some();
                !(as_written && shared && got < want)
            })
            .collect()
    }

    /// Counters that did not end at the value the scenario expects: (name, expected, got); a
    /// process's own counter is checked in every process.
    pub fn unexpected(&self) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        let users = self.users();
        for (n, &want) in &self.scenario.expect {
            match self.kind_of(n) {
                Some(ResourceKind::LocalCounter) => {
                    let ri = self.scenario.resource(n).map_or(0, |(i, _)| i);
                    // Every process that counts with it; one that never touches it has no count.
                    for p in self.procs.iter().enumerate().filter(|(pi, _)| users[ri].contains(pi)).map(|(_, p)| p) {
                        let got = p.locals.iter().find(|(c, _)| c == n).map_or(0, |(_, v)| *v);
                        if got != want {
                            out.push((format!("{} of {}", n, p.name), want, got));
                        }
                    }
                }
                _ => {
                    let got = self.counters.iter().find(|(c, _)| c == n).map_or(0, |(_, v)| *v);
                    if got != want {
                        out.push((n.clone(), want, got));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Role;

    fn lock_order() -> (ProgramScenario, Vec<ProcessDecl>) {
        let s = crate::programs::spec::resolve("deadlock-lock-order").unwrap();
        let p = s.processes("").unwrap().to_vec();
        (s, p)
    }

    fn sync(i: u16, op: SyncOp, r: &str, phase: SyncPhase) -> Event {
        Event::Sync { role: Role(i), op, resource: r.into(), phase, detail: None }
    }

    fn futex() -> Option<(char, String)> {
        Some(('S', "futex_wait_queue".into()))
    }

    #[test]
    fn a_cycle_is_a_deadlock_only_once_it_persists_with_the_kernel_agreeing() {
        let (s, p) = lock_order();
        let mut m = ProgramModel::new(&s, "", false, &p);
        let t = Duration::from_millis;
        m.event(0, &sync(0, SyncOp::Lock, "lock A", SyncPhase::Enter), t(0));
        m.event(0, &sync(0, SyncOp::Lock, "lock A", SyncPhase::Leave), t(1));
        m.event(1, &sync(1, SyncOp::Lock, "lock B", SyncPhase::Enter), t(1));
        m.event(1, &sync(1, SyncOp::Lock, "lock B", SyncPhase::Leave), t(2));
        m.event(0, &sync(0, SyncOp::Lock, "lock B", SyncPhase::Enter), t(3));
        m.event(1, &sync(1, SyncOp::Lock, "lock A", SyncPhase::Enter), t(4));
        // The kernel shows one of them running: not even suspected yet.
        m.sample(vec![futex(), Some(('R', "0".into()))], vec![], vec![], t(10));
        assert_eq!(m.verdict, None);
        m.sample(vec![futex(), futex()], vec![], vec![], t(100));
        assert_eq!(m.verdict, None, "a cycle must persist");
        m.sample(vec![futex(), futex()], vec![], vec![], t(450));
        match &m.verdict {
            Some(Verdict::Deadlock { cycle, evidence }) => {
                assert_eq!(cycle[0].process, "worker 1");
                assert_eq!(cycle[0].holds, vec![Held::Resource("lock A".into())]);
                assert_eq!(cycle[0].waits, Waited::Resource("lock B".into()));
                assert_eq!(cycle[0].held_by, "worker 2");
                assert_eq!(evidence.len(), 2);
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(super::super::say::doing(&m, 0), "waits to take lock B (held by worker 2)");
        // Kill a victim: the cycle is gone, the run goes on.
        m.exited(1, ExitKind::Signal(9), t(500));
        m.sample(vec![futex(), None], vec![], vec![], t(600));
        assert_eq!(m.verdict, None);
        assert!(m.deadlocked_once);
    }

    #[test]
    fn a_cycle_the_kernel_does_not_confirm_is_suspected_not_a_hang() {
        let (s, p) = lock_order();
        let mut m = ProgramModel::new(&s, "", false, &p);
        let t = Duration::from_millis;
        m.event(0, &sync(0, SyncOp::Lock, "lock A", SyncPhase::Leave), t(1));
        m.event(1, &sync(1, SyncOp::Lock, "lock B", SyncPhase::Leave), t(2));
        m.event(0, &sync(0, SyncOp::Lock, "lock B", SyncPhase::Enter), t(3));
        m.event(1, &sync(1, SyncOp::Lock, "lock A", SyncPhase::Enter), t(4));
        // Both say they wait for the other's lock; the kernel shows worker 2 running, for longer
        // than a hang takes, with nothing reported meanwhile.
        let running = Some(('R', "0".into()));
        m.sample(vec![futex(), running.clone()], vec![], vec![], t(10));
        assert_eq!(m.verdict, None, "not yet: it must last");
        m.sample(vec![futex(), running.clone()], vec![], vec![], t(1500));
        match &m.verdict {
            Some(Verdict::Suspected { cycle, evidence }) => {
                assert_eq!(cycle.iter().map(|c| c.process.as_str()).collect::<Vec<_>>(), ["worker 1", "worker 2"]);
                assert!(evidence.iter().any(|e| matches!(e, Evidence::Asleep { state: 'R', .. })), "{evidence:?}");
            }
            v => panic!("a cycle the kernel does not confirm is suspected, not {v:?}"),
        }
        assert!(m.hung_once && !m.deadlocked_once);
        // Asleep, but on something else than a lock's futex: still not confirmed.
        m.sample(vec![futex(), Some(('S', "pipe_read".into()))], vec![], vec![], t(2600));
        assert!(matches!(m.verdict, Some(Verdict::Suspected { .. })), "{:?}", m.verdict);
        // Once the kernel agrees, it is a deadlock after it persists.
        m.sample(vec![futex(), futex()], vec![], vec![], t(2700));
        m.sample(vec![futex(), futex()], vec![], vec![], t(3100));
        assert!(matches!(m.verdict, Some(Verdict::Deadlock { .. })), "{:?}", m.verdict);
    }

    #[test]
    fn quietly_taken_locks_are_known_once_the_holder_blocks() {
        let (s, p) = lock_order();
        let mut m = ProgramModel::new(&s, "", false, &p);
        let t = Duration::from_millis;
        // Each took its first lock without a word, then says what it holds before blocking.
        m.event(0, &Event::Holding { role: Role(0), resources: vec!["lock A".into()] }, t(1));
        m.event(0, &sync(0, SyncOp::Lock, "lock B", SyncPhase::Enter), t(2));
        m.event(1, &Event::Holding { role: Role(1), resources: vec!["lock B".into()] }, t(1));
        m.event(1, &sync(1, SyncOp::Lock, "lock A", SyncPhase::Enter), t(2));
        m.sample(vec![futex(), futex()], vec![], vec![], t(10));
        m.sample(vec![futex(), futex()], vec![], vec![], t(400));
        assert!(matches!(m.verdict, Some(Verdict::Deadlock { .. })), "{:?}", m.verdict);
        // Holding never drops what is not a lock (the exit each process holds).
        assert!(m.graph.held_by(0).contains(&"the exit of worker 1"));
    }

    #[test]
    fn a_reader_that_keeps_its_own_write_end_is_told_so() {
        let s = crate::programs::spec::resolve("hang-unclosed-write-end").unwrap();
        let p = s.processes("").unwrap().to_vec();
        let reader = p.iter().position(|d| d.name == "reader").expect("a reader");
        let pipe = s.resources[0].name.clone();
        let mut m = ProgramModel::new(&s, "", false, &p);
        m.event(reader, &sync(reader as u16, SyncOp::Recv, &pipe, SyncPhase::Enter), Duration::ZERO);
        let doing = super::super::say::doing(&m, reader);
        assert!(doing.ends_with("(its own copy of the write end is still open)"), "{doing}");
    }

    #[test]
    fn backing_off_in_step_is_a_livelock_but_backing_off_then_finishing_is_not() {
        let (s, p) = lock_order();
        let backoff = |i: u16, r: &str| Event::Sync {
            role: Role(i),
            op: SyncOp::Lock,
            resource: r.into(),
            phase: SyncPhase::Failed,
            detail: Some(Detail::BackOff { gave_back: vec![], pause_millis: 5 }),
        };
        let t = Duration::from_millis;
        let mut m = ProgramModel::new(&s, "back-off", true, &p);
        for round in 0..3 {
            for (i, first, second) in [(0u16, "lock A", "lock B"), (1, "lock B", "lock A")] {
                m.event(i as usize, &sync(i, SyncOp::Lock, first, SyncPhase::Leave), t(round));
                m.event(i as usize, &backoff(i, second), t(round));
                m.event(i as usize, &sync(i, SyncOp::Unlock, first, SyncPhase::Leave), t(round));
            }
        }
        assert!(m.achieved(crate::programs::spec::Goal::Livelock), "three back-offs each, in step");
        // One that then gets both and gives them back has made progress: its count starts over.
        let mut m = ProgramModel::new(&s, "back-off", true, &p);
        for round in 0..3 {
            m.event(1, &sync(1, SyncOp::Lock, "lock B", SyncPhase::Leave), t(round));
            m.event(1, &backoff(1, "lock A"), t(round));
            m.event(1, &sync(1, SyncOp::Unlock, "lock B", SyncPhase::Leave), t(round));
            m.event(0, &sync(0, SyncOp::Lock, "lock A", SyncPhase::Leave), t(round));
            m.event(0, &backoff(0, "lock B"), t(round));
            m.event(0, &sync(0, SyncOp::Unlock, "lock A", SyncPhase::Leave), t(round));
        }
        m.event(0, &sync(0, SyncOp::Lock, "lock A", SyncPhase::Leave), t(10));
        m.event(0, &sync(0, SyncOp::Lock, "lock B", SyncPhase::Leave), t(11));
        m.event(0, &sync(0, SyncOp::Unlock, "lock B", SyncPhase::Leave), t(12));
        assert!(!m.achieved(crate::programs::spec::Goal::Livelock), "worker 1 got both: no livelock");
    }

    #[test]
    fn waiting_for_the_scheduler_is_not_a_hang() {
        let (s, p) = lock_order();
        let mut m = ProgramModel::new(&s, "", true, &p);
        let t = Duration::from_millis;
        m.event(0, &sync(0, SyncOp::Lock, "lock A", SyncPhase::Next), t(0));
        m.event(1, &sync(1, SyncOp::Lock, "lock B", SyncPhase::Next), t(0));
        let stdin_wait = Some(('S', "pipe_read".into()));
        m.sample(vec![stdin_wait.clone(), stdin_wait], vec![], vec![], t(5000));
        assert_eq!(m.verdict, None);
        assert_eq!(super::super::say::doing(&m, 0), "next: take lock A");
    }

    #[test]
    fn everyone_asleep_without_a_cycle_is_a_hang_and_a_completed_race_counts_lost_updates() {
        let s = crate::programs::spec::resolve("race-counter").unwrap();
        let p = s.processes("").unwrap().to_vec();
        let mut m = ProgramModel::new(&s, "", false, &p);
        let t = Duration::from_millis;
        m.exited(0, ExitKind::Code(0), t(1));
        m.exited(1, ExitKind::Code(0), t(2));
        let want = s.expect["counter"];
        m.sample(vec![None, None], vec![("counter".into(), want - 7)], vec![], t(3));
        assert_eq!(m.verdict, Some(Verdict::Completed));
        assert_eq!(m.lost_updates(), Some(7));
        assert_eq!(m.unexpected(), vec![("counter".to_string(), want, want - 7)]);
        assert_eq!(m.wrong_values(), vec![], "as written it races: the shortfall is said as lost updates");
        // The fix must be exact: there a shortfall is a wrong value.
        let mut m = ProgramModel::new(&s, "fixed", false, &p);
        m.exited(0, ExitKind::Code(0), t(1));
        m.exited(1, ExitKind::Code(0), t(2));
        m.sample(vec![None, None], vec![("counter".into(), want - 7)], vec![], t(3));
        assert_eq!(m.wrong_values(), vec![("counter".to_string(), want, want - 7)]);
    }

    #[test]
    fn every_processs_own_count_is_checked_in_every_variant() {
        let s = crate::programs::spec::resolve("private-counter").unwrap();
        let p = s.processes("").unwrap().to_vec();
        let mut m = ProgramModel::new(&s, "", false, &p);
        let t = Duration::from_millis;
        let own = |n: u64| Event::Values { role: Role(0), values: vec![("my count".into(), n)] };
        m.event(0, &own(5), t(1));
        m.event(1, &Event::Values { role: Role(1), values: vec![("my count".into(), 4)] }, t(1));
        m.exited(0, ExitKind::Code(0), t(2));
        m.exited(1, ExitKind::Code(0), t(2));
        let shared = s.expect["shared count"];
        m.sample(vec![None, None], vec![("shared count".into(), shared)], vec![], t(3));
        assert_eq!(m.verdict, Some(Verdict::Completed));
        assert_eq!(m.wrong_values(), vec![("my count of process B".to_string(), 5, 4)]);
    }
}
