//! Runs a scenario program (issue 4/7): creates its resources, starts one actor process per
//! program, and decides from what the actors report and what the kernel shows how it ended:
//! completed; **deadlocked** (a cycle in the wait-for graph that persists while every process in
//! it is asleep in the kernel on the kind of wait the graph says); **caught by the kernel** (an
//! fcntl lock refused with EDEADLK); or **hung** (everyone asleep, nothing moving, no cycle).
//! Whatever the verdict, every actor ends and every name is removed.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam::channel::{RecvTimeoutError, unbounded};
use serde::Serialize;

use super::procfs::{proc_stat, proc_wchan};
use super::resources::{Named, Resources};
use super::{ExitKind, RunError, RunEvent, WorkerProc, end_all, setup, spawn_child};
use crate::actor::ActorSpec;
use crate::model::waitfor::WaitFor;
use crate::program::{PipeEnd, ProgramScenario, ResourceKind, pipe_end_name};
use crate::sync::{SyncArea, SyncError, SyncKind};
use crate::telemetry::{Control, Event, Role, SyncOp, SyncPhase};

/// How a scenario program ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Completed,
    /// The cycle in one sentence, and each process's kernel state as evidence.
    Deadlock {
        cycle: String,
        evidence: Vec<String>,
    },
    /// The kernel refused a lock that would have closed a cycle (EDEADLK).
    KernelCaught {
        what: String,
    },
    /// Everyone asleep, nothing moving, and no cycle to blame.
    Hang {
        evidence: Vec<String>,
    },
    /// The processes report a cycle the kernel does not confirm (not every process of it is
    /// asleep on that kind of wait): suspected, not called a deadlock.
    Suspected {
        cycle: String,
        evidence: Vec<String>,
    },
    Failed {
        why: String,
    },
    TimedOut {
        after_secs: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgramOutcome {
    pub scenario: String,
    /// "" as written, "fixed", or a named variant.
    pub variant: String,
    pub verdict: Verdict,
    /// Final counter values, by resource name.
    pub counters: Vec<(String, u64)>,
    /// Counters that did not end at the value the scenario expects: (name, expected, got).
    pub unexpected: Vec<(String, u64, u64)>,
    /// What the processes were told on the way (e.g. a mutex handed over by a dead owner).
    pub notes: Vec<String>,
    /// What processes said when they failed, and the kernel's EDEADLK if it refused a lock,
    /// whatever the verdict.
    pub errors: Vec<String>,
    pub prefix: String,
    pub pids: Vec<u32>,
    pub took_secs: f64,
}

/// A cycle must hold this long, every process in it asleep, before it is called a deadlock.
const DEADLOCK_PERSISTS: Duration = Duration::from_millis(300);
/// Everyone asleep with nothing reported for this long, and no cycle: a hang.
const HANG_AFTER: Duration = Duration::from_secs(1);
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

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

/// Runs `variant` of `scenario` ("" as written, "fixed", or a named one) with actors from `exe`,
/// for at most `timeout`.
pub fn run(
    scenario: &ProgramScenario,
    variant: &str,
    exe: &Path,
    timeout: Duration,
) -> Result<ProgramOutcome, RunError> {
    let processes = scenario.processes(variant).map_err(RunError::Invalid)?;
    let fixed = !variant.is_empty();
    super::resources::sweep_stale();
    let mut res = Resources::create().map_err(setup("creating the run directory"))?;
    let prefix = res.prefix().to_string();
    let area_name = res.posix_name("sync");
    res.register(Named::Shm(area_name.clone())).map_err(setup("recording the sync area"))?;
    // One slot per resource, in order; a file lock's slot stays unused (its lock is a file byte).
    let kinds: Vec<SyncKind> = scenario
        .resources
        .iter()
        .map(|r| match r.kind {
            ResourceKind::Mutex => SyncKind::Mutex,
            ResourceKind::Semaphore { initial } => SyncKind::Semaphore { initial },
            ResourceKind::Counter | ResourceKind::FileLock | ResourceKind::Pipe => SyncKind::Counter,
            ResourceKind::Barrier { parties } => SyncKind::Barrier { parties },
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

    // Pipes, made here and inherited by every actor (as children of fork inherit them); this
    // process's copies close once all actors run, or a reader would never see end of file.
    let mut pipe_fds: Vec<Option<(i32, i32)>> = Vec::new();
    let mut our_copies: Vec<std::os::fd::OwnedFd> = Vec::new();
    for r in &scenario.resources {
        if r.kind == ResourceKind::Pipe {
            use std::os::fd::AsRawFd;
            let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| RunError::Setup { what: "creating a pipe".into(), source: e.into() })?;
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
    for (i, p) in processes.iter().enumerate() {
        let spec = ActorSpec {
            role: Role(i as u16),
            area: area_name.clone(),
            lock_file: lock_file.clone(),
            resources: scenario.resources.clone(),
            steps: p.steps.clone(),
            pipes: pipe_fds.clone(),
        };
        let json = serde_json::to_string(&spec).map_err(|e| RunError::Invalid(format!("encoding an actor: {e}")))?;
        let w = spawn_child(exe, "actor", &json, i, &[Role(i as u16)], &[], &keep_fds, pgid, tx.clone())?;
        pgid.get_or_insert(w.pid);
        actors.workers.push(w);
    }
    drop(tx);
    drop(our_copies);
    let pids: Vec<u32> = actors.workers.iter().map(|w| w.pid).collect();

    // Start-up: every actor maps the area and opens the lock file, then says hello.
    let deadline = Instant::now() + super::STARTUP_TIMEOUT;
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
            Err(_) => return Err(RunError::Startup { worker: "?".into(), why: "actors not ready in time".into() }),
        }
    }
    actors._resources.unlink_names();
    for w in &actors.workers {
        let _ = w.send(&Control::Go);
    }

    let started = Instant::now();
    let name = |i: usize| processes.get(i).map_or_else(|| format!("process {i}"), |p| p.name.clone());
    let mut graph = WaitFor::default();
    // Every actor starts holding both ends of every pipe.
    for r in scenario.resources.iter().filter(|r| r.kind == ResourceKind::Pipe) {
        for i in 0..processes.len() {
            graph.acquired(i, &pipe_end_name(&r.name, PipeEnd::Read));
            graph.acquired(i, &pipe_end_name(&r.name, PipeEnd::Write));
        }
    }
    let mut exits: Vec<Option<ExitKind>> = vec![None; processes.len()];
    let mut errors = Vec::new();
    let mut kernel_caught: Option<String> = None;
    let mut notes = Vec::new();
    let mut last_activity = Instant::now();
    let mut cycle_since: Option<Instant> = None;
    let mut suspect_since: Option<Instant> = None;
    let mut sleeping = vec![false; processes.len()];
    let mut next_sample = Instant::now();
    let kind_of = |r: &str| scenario.resource(r).map(|(_, d)| d.kind);
    let verdict = loop {
        if exits.iter().all(Option::is_some) {
            break match (&kernel_caught, exits.iter().all(|e| *e == Some(ExitKind::Code(0)))) {
                (Some(what), _) => Verdict::KernelCaught { what: what.clone() },
                (None, true) => Verdict::Completed,
                (None, false) => Verdict::Failed { why: errors.join("; ") },
            };
        }
        if started.elapsed() > timeout {
            break Verdict::TimedOut { after_secs: timeout.as_secs_f64() };
        }
        match events.recv_timeout(SAMPLE_EVERY.min(Duration::from_millis(50))) {
            Ok(RunEvent::Telemetry { worker_id, event: Event::Sync { op, resource, phase, detail, .. } }) => {
                last_activity = Instant::now();
                if let (SyncPhase::Leave, Some(d), false) = (phase, &detail, op == SyncOp::Close) {
                    notes.push(format!("{}: {} {resource}: {d}", name(worker_id), op.as_str()));
                }
                match (op, phase) {
                    (SyncOp::Sleep, SyncPhase::Enter) => sleeping[worker_id] = true,
                    (SyncOp::Sleep, _) => sleeping[worker_id] = false,
                    // A reader waits for whoever holds the write end; a writer for the read end.
                    (SyncOp::Recv, SyncPhase::Enter) => {
                        graph.blocked_on(worker_id, &pipe_end_name(&resource, PipeEnd::Write))
                    }
                    (SyncOp::Send, SyncPhase::Enter) => {
                        graph.blocked_on(worker_id, &pipe_end_name(&resource, PipeEnd::Read))
                    }
                    (SyncOp::Send | SyncOp::Recv, SyncPhase::Leave) => graph.unblocked(worker_id),
                    (SyncOp::Close, _) => {
                        let end = if detail.as_deref() == Some("read") { PipeEnd::Read } else { PipeEnd::Write };
                        graph.released(worker_id, &pipe_end_name(&resource, end));
                    }
                    (SyncOp::Lock | SyncOp::Wait | SyncOp::Barrier, SyncPhase::Enter) => {
                        graph.blocked_on(worker_id, &resource)
                    }
                    (SyncOp::Lock | SyncOp::Wait, SyncPhase::Leave) => graph.acquired(worker_id, &resource),
                    (SyncOp::Barrier, SyncPhase::Leave) => graph.unblocked(worker_id),
                    (SyncOp::Unlock | SyncOp::Post, SyncPhase::Leave) => graph.released(worker_id, &resource),
                    (_, SyncPhase::Failed) => {
                        graph.unblocked(worker_id);
                        let why = detail.unwrap_or_default();
                        if why.contains("EDEADLK") {
                            let mut holders: Vec<String> = graph.holders(&resource).iter().map(|&h| name(h)).collect();
                            holders.dedup();
                            let held =
                                if holders.is_empty() { "another process".to_string() } else { holders.join(", ") };
                            kernel_caught = Some(format!(
                                "{} asked for {resource}, held by {held}, which waits (directly or through others) for \
                                 what {} holds: the kernel refused with EDEADLK instead of letting them sleep forever",
                                name(worker_id),
                                name(worker_id)
                            ));
                        }
                    }
                    _ => {}
                }
            }
            Ok(RunEvent::Telemetry { event: Event::Error { message, .. }, .. }) => errors.push(message),
            Ok(RunEvent::Exited { worker_id, exit, .. }) => {
                last_activity = Instant::now();
                graph.gone(worker_id);
                if let Some(s) = sleeping.get_mut(worker_id) {
                    *s = false;
                }
                if let Some(e) = exits.get_mut(worker_id) {
                    *e = Some(exit);
                }
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                break Verdict::Failed { why: "every actor's channel closed".into() };
            }
        }
        if Instant::now() < next_sample {
            continue;
        }
        next_sample = Instant::now() + SAMPLE_EVERY;
        // The kernel's side: each live actor's state and wait channel.
        let kernel: Vec<Option<(char, String)>> = actors
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| if exits[i].is_some() { None } else { kernel_state(w.pid) })
            .collect();
        let evidence = |who: &mut dyn Iterator<Item = usize>| -> Vec<String> {
            who.filter_map(|i| {
                kernel[i].as_ref().map(|(s, w)| format!("{} (pid {}): state {s}, asleep in {w}", name(i), pids[i]))
            })
            .collect()
        };
        let live: Vec<usize> = (0..processes.len()).filter(|&i| exits[i].is_none()).collect();
        // A barrier is "held" by the live parties not waiting at it yet: they are what it waits for.
        for r in scenario.resources.iter().filter(|r| matches!(r.kind, ResourceKind::Barrier { .. })) {
            let waiting_here = live.iter().any(|&p| graph.waits_for(p) == Some(r.name.as_str()));
            let not_there = live.iter().copied().filter(|&p| graph.waits_for(p) != Some(r.name.as_str()));
            // Nobody waiting at it: it holds nobody up (and is nobody's to "hold" in a sentence).
            graph.set_holders(&r.name, if waiting_here { not_there.collect() } else { Vec::new() });
        }
        // Asleep on the kind of wait the graph says: a futex for mutexes, semaphores and barriers,
        // a pipe wait for pipes, a record-lock wait for fcntl locks (its wchan names vary between
        // kernels: fcntl_setlk, locks_lock_inode_wait, ...).
        let asleep_on = |p: usize, resource: &str| match (&kernel[p], kind_of(resource)) {
            (Some((s, w)), None) if resource.starts_with("the ") => matches!(s, 'S' | 'D') && w.contains("pipe"),
            (Some((s, w)), Some(ResourceKind::FileLock)) => {
                matches!(s, 'S' | 'D') && (w.contains("lock") || w.contains("setlk"))
            }
            (Some((s, w)), Some(_)) => matches!(s, 'S' | 'D') && w.contains("futex"),
            _ => false,
        };
        let blocked = |p: usize| !sleeping[p] && graph.waits_for(p).is_some_and(|r| asleep_on(p, r));
        if let Some(cycle) = graph.cycle() {
            // The cycle is genuine only if nobody outside it can break it: every holder of a
            // resource with several holders (a semaphore unit, a pipe end, a barrier) is itself
            // blocked, and for a semaphore, which anyone may post, every live process is.
            let genuine = cycle.iter().all(|e| match kind_of(&e.resource) {
                Some(ResourceKind::Mutex | ResourceKind::FileLock) => true,
                Some(ResourceKind::Semaphore { .. }) => live.iter().all(|&p| blocked(p)),
                _ => graph.holders(&e.resource).iter().all(|&h| blocked(h)),
            });
            let agrees = cycle.iter().all(|e| asleep_on(e.proc, &e.resource));
            if genuine && agrees {
                suspect_since = None;
                let since = *cycle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= DEADLOCK_PERSISTS {
                    break Verdict::Deadlock {
                        cycle: graph.describe(&cycle, name),
                        evidence: evidence(&mut cycle.iter().map(|e| e.proc)),
                    };
                }
            } else if genuine {
                // What the processes say and what the kernel shows disagree: say so, not "deadlock".
                cycle_since = None;
                let since = *suspect_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= HANG_AFTER && last_activity.elapsed() >= HANG_AFTER {
                    break Verdict::Suspected {
                        cycle: graph.describe(&cycle, name),
                        evidence: evidence(&mut cycle.iter().map(|e| e.proc)),
                    };
                }
            } else {
                cycle_since = None;
                suspect_since = None;
            }
        } else {
            cycle_since = None;
            suspect_since = None;
        }
        // Nobody running, nobody sleeping on purpose, nothing reported for a while: a hang.
        let all_stuck = !live.is_empty()
            && live.iter().all(|&p| !sleeping[p] && kernel[p].as_ref().is_some_and(|(s, _)| matches!(s, 'S' | 'D')));
        if cycle_since.is_none() && suspect_since.is_none() && all_stuck && last_activity.elapsed() >= HANG_AFTER {
            break Verdict::Hang { evidence: evidence(&mut live.iter().copied()) };
        }
    };
    let counters: Vec<(String, u64)> = scenario
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == ResourceKind::Counter)
        .filter_map(|(i, r)| area.counter(i).ok().map(|c| (r.name.clone(), c.load())))
        .collect();
    let unexpected = if verdict == Verdict::Completed && fixed {
        scenario
            .expect
            .iter()
            .filter_map(|(n, &want)| {
                let got = counters.iter().find(|(c, _)| c == n).map_or(0, |(_, v)| *v);
                (got != want).then(|| (n.clone(), want, got))
            })
            .collect()
    } else {
        Vec::new()
    };
    // The kernel's refusal is the verdict when everything then ended; otherwise it is news.
    let kernel_caught_note = kernel_caught.filter(|_| !matches!(verdict, Verdict::KernelCaught { .. }));
    drop(actors); // kills what still runs, removes every name
    Ok(ProgramOutcome {
        scenario: scenario.id.clone(),
        variant: variant.to_string(),
        verdict,
        counters,
        unexpected,
        notes,
        errors: errors.into_iter().chain(kernel_caught_note).collect(),
        prefix,
        pids,
        took_secs: started.elapsed().as_secs_f64(),
    })
}

/// State letter and wait channel of the actor (it runs its steps on its main thread, whose
/// /proc entry is the process's).
fn kernel_state(pid: u32) -> Option<(char, String)> {
    let dir = format!("/proc/{pid}");
    proc_stat(&dir).map(|(state, _)| (state, proc_wchan(&dir)))
}
