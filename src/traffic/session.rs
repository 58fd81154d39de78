//! The live session: a long-lived supervisor thread that runs what the GUI asks for.
//!
//! The GUI never spawns or talks to processes itself. It sends [`Command`]s; this thread owns the
//! [`Run`], paces step mode (releasing one gated operation at a time), samples each worker's state
//! and CPU use from /proc, and sends [`Update`]s back over a crossbeam channel, asking for a repaint
//! after each batch. No egui here: the repaint request is a plain callback.
//!
//! This thread starts and drops every `Run`, which PR_SET_PDEATHSIG requires (it follows the
//! spawning thread); dropping the [`Session`] stops the thread, which kills what still runs and
//! removes every named resource.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Select, Sender, unbounded};

use crate::supervisor::procfs::{proc_stat, proc_wchan};
use crate::supervisor::{OutcomeBuilder, Run, RunEvent, WorkerSignal};
use crate::telemetry::{Event, Role};
use crate::traffic::report::RunReport;
use crate::traffic::spec::RunSpec;

/// How the run is paced.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// Gates off: as fast as the mechanism (and the rate limit) allows.
    RealTime,
    /// Gates on; the session releases one operation every `1 / ops_per_sec` seconds.
    SlowMotion { ops_per_sec: f64 },
    /// Gates on; only Step releases an operation.
    Step,
}

impl Pace {
    pub fn gated(self) -> bool {
        !matches!(self, Pace::RealTime)
    }
}

/// What the GUI asks of the session. (A handful a second at most: the size of `Start` does
/// not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Start {
        spec: RunSpec,
        pace: Pace,
    },
    /// Ask the workers to finish; kill them if they have not within [`STOP_GRACE`].
    Stop,
    SetPace(Pace),
    /// Pause holds every worker at its next gate; resume lets them go at the current pace.
    SetPaused(bool),
    /// Release exactly one operation: the one that has waited longest at its gate.
    Step,
    Signal {
        role: Role,
        signal: WorkerSignal,
    },
}

/// A worker's state as read from /proc.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcSample {
    pub worker_id: usize,
    /// The node whose thread this is (a `thread` run has all its nodes in one process).
    pub role: Role,
    /// The kernel's state letter: R running, S sleeping, T stopped, Z zombie...
    pub state: char,
    /// Where in the kernel it sleeps (`/proc/PID/wchan`), e.g. `pipe_read`.
    pub wchan: String,
    pub cpu_percent: f64,
}

/// What the session tells the GUI.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    Started {
        spec: RunSpec,
        prefix: String,
        workers: Vec<(usize, Vec<Role>, u32)>,
        pace: Pace,
    },
    StartFailed(String),
    Event(RunEvent),
    Proc(ProcSample),
    Paced {
        pace: Pace,
        paused: bool,
    },
    /// Step pressed with no operation waiting at a gate.
    NothingToStep,
    Finished {
        report: Result<RunReport, String>,
    },
}

/// How long Stop waits for workers to finish before killing them.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// The GUI's handle on the session thread.
pub struct Session {
    commands: Sender<Command>,
    updates: Receiver<Update>,
    thread: Option<JoinHandle<()>>,
}

impl Session {
    /// Starts the session thread; workers run from `exe`; `repaint` is called after updates.
    pub fn start(exe: PathBuf, repaint: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<Session> {
        let (commands, command_rx) = unbounded();
        let (update_tx, updates) = unbounded();
        let thread = std::thread::Builder::new()
            .name("session".into())
            .spawn(move || SessionThread::new(exe, command_rx, update_tx, repaint).run())?;
        Ok(Session { commands, updates, thread: Some(thread) })
    }

    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    pub fn updates(&self) -> &Receiver<Update> {
        &self.updates
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing the command channel ends the thread, which drops (kills and cleans) the run.
        let (dead, _) = unbounded();
        self.commands = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Active {
    run: Run,
    outcome: OutcomeBuilder,
    pace: Pace,
    paused: bool,
    /// Gate arrivals not yet let through, longest first; a role appears once per thread waiting
    /// (a fan-in consumer waits on every link).
    waiting: VecDeque<Role>,
    /// Per role: permits sent whose `passed` event has not come back yet.
    released: std::collections::HashMap<Role, u32>,
    next_release: Instant,
    stop_deadline: Option<Instant>,
    cpu_prev: Vec<Option<(u64, Instant)>>,
}

struct SessionThread {
    exe: PathBuf,
    commands: Receiver<Command>,
    updates: Sender<Update>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    active: Option<Active>,
    next_sample: Instant,
}

impl SessionThread {
    fn new(
        exe: PathBuf,
        commands: Receiver<Command>,
        updates: Sender<Update>,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        SessionThread { exe, commands, updates, repaint, active: None, next_sample: Instant::now() }
    }

    fn send(&self, update: Update) {
        let _ = self.updates.send(update);
    }

    fn run(mut self) {
        loop {
            let deadline = self.next_deadline();
            let commands = self.commands.clone();
            let events = self.active.as_ref().map(|a| a.run.events().clone());
            let mut sel = Select::new();
            let cmd_index = sel.recv(&commands);
            let ev_index = events.as_ref().map(|rx| sel.recv(rx));
            let op = match deadline {
                Some(d) => sel.select_deadline(d).ok(),
                None => Some(sel.select()),
            };
            match op {
                Some(op) if op.index() == cmd_index => match op.recv(&commands) {
                    Ok(cmd) => self.handle(cmd),
                    Err(_) => break, // the GUI is gone
                },
                Some(op) if Some(op.index()) == ev_index => {
                    let rx = events.as_ref().expect("selected receiver exists");
                    match op.recv(rx) {
                        Ok(ev) => self.on_event(ev),
                        Err(_) => self.finish(),
                    }
                    // Drain what else is queued, so one repaint covers a burst.
                    while let Some(ev) = self.active.as_ref().and_then(|a| a.run.events().try_recv().ok()) {
                        self.on_event(ev);
                    }
                }
                _ => {}
            }
            self.on_tick();
            (self.repaint)();
        }
        // Dropping the active run kills its workers and removes its resources.
        self.active = None;
    }

    fn next_deadline(&self) -> Option<Instant> {
        let a = self.active.as_ref()?;
        let mut d = self.next_sample;
        if let Pace::SlowMotion { .. } = a.pace
            && !a.paused
        {
            d = d.min(a.next_release);
        }
        if let Some(stop) = a.stop_deadline {
            d = d.min(stop);
        }
        Some(d)
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Start { spec, pace } => {
                self.active = None;
                let spec = RunSpec { gated: pace.gated(), per_message_events: true, ..spec };
                match Run::start(spec.clone(), &self.exe) {
                    Ok(mut run) => {
                        let outcome = run.outcome_builder();
                        let early = run.take_early_events();
                        let workers = run.workers().iter().map(|w| (w.worker_id, w.roles.clone(), w.pid)).collect();
                        let n = run.workers().len();
                        self.send(Update::Started { spec, prefix: run.prefix().to_string(), workers, pace });
                        let active = Active {
                            run,
                            outcome,
                            pace,
                            paused: false,
                            waiting: VecDeque::new(),
                            released: Default::default(),
                            next_release: Instant::now(),
                            stop_deadline: None,
                            cpu_prev: vec![None; n],
                        };
                        self.active = Some(active);
                        for ev in early {
                            self.on_event(ev);
                        }
                    }
                    Err(e) => self.send(Update::StartFailed(e.to_string())),
                }
            }
            Command::Stop => {
                if let Some(a) = self.active.as_mut() {
                    // A SIGSTOPped worker cannot hear Stop: let it run again to end cleanly
                    // (else it is killed at the deadline and the run reads as failed).
                    for w in a.run.workers() {
                        let _ = a.run.signal(w.worker_id, WorkerSignal::Continue);
                    }
                    a.run.request_stop();
                    a.stop_deadline.get_or_insert(Instant::now() + STOP_GRACE);
                }
            }
            Command::SetPace(pace) => {
                if let Some(a) = self.active.as_mut() {
                    a.pace = pace;
                    if !a.paused {
                        a.run.set_gates(pace.gated());
                    }
                    a.next_release = Instant::now();
                    let paused = a.paused;
                    self.send(Update::Paced { pace, paused });
                }
            }
            Command::SetPaused(paused) => {
                if let Some(a) = self.active.as_mut() {
                    a.paused = paused;
                    a.run.set_gates(paused || a.pace.gated());
                    let pace = a.pace;
                    self.send(Update::Paced { pace, paused });
                }
            }
            Command::Step => {
                let released = self.active.as_mut().map(release_one).unwrap_or(false);
                if !released {
                    self.send(Update::NothingToStep);
                }
            }
            Command::Signal { role, signal } => {
                if let Some(a) = self.active.as_ref()
                    && let Some(w) = a.run.worker_for(role)
                {
                    let _ = a.run.signal(w.worker_id, signal);
                }
            }
        }
    }

    fn on_event(&mut self, ev: RunEvent) {
        let Some(a) = self.active.as_mut() else { return };
        if let RunEvent::Telemetry { event: Event::Gate { role, passed, .. }, .. } = &ev {
            if *passed {
                // A pass we asked for was already taken off the queue; any other (gates turned
                // off, a stop) takes one arrival of that role off.
                match a.released.get_mut(role) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => {
                        if let Some(i) = a.waiting.iter().position(|r| r == role) {
                            a.waiting.remove(i);
                        }
                    }
                }
            } else {
                a.waiting.push_back(*role);
            }
        }
        a.outcome.add(&ev);
        let complete = a.outcome.is_complete();
        self.send(Update::Event(ev));
        if complete {
            self.finish();
        }
    }

    fn finish(&mut self) {
        if let Some(a) = self.active.take() {
            let outcome = a.outcome.finish();
            let report = RunReport::from_outcome(&outcome);
            self.send(Update::Finished { report });
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let Some(a) = self.active.as_mut() else { return };
        if let Some(d) = a.stop_deadline
            && now >= d
        {
            // Workers that did not finish in time (stopped, or blocked on a stopped peer).
            for w in a.run.workers() {
                let _ = a.run.signal(w.worker_id, WorkerSignal::Kill);
            }
            a.stop_deadline = None;
        }
        if let Pace::SlowMotion { ops_per_sec } = a.pace
            && !a.paused
            && now >= a.next_release
        {
            release_one(a);
            // A pace from a file is validated; a NaN from anywhere else must not panic here.
            let gap =
                Duration::try_from_secs_f64(1.0 / ops_per_sec.clamp(0.05, 1000.0)).unwrap_or(Duration::from_secs(1));
            a.next_release = now + gap;
        }
        if now >= self.next_sample {
            self.next_sample = now + SAMPLE_INTERVAL;
            let mut samples: Vec<ProcSample> = Vec::new();
            for w in a.run.workers() {
                // CPU for the whole process; state and wait channel from the thread that runs
                // each node's IPC (the main thread only waits for it). A `thread` run has every
                // node in one process: each gets its own thread's state.
                let Some((process_state, ticks)) = proc_stat(&format!("/proc/{}", w.pid)) else { continue };
                let Some(prev) = a.cpu_prev.get_mut(w.worker_id) else { continue };
                let cpu_percent = match *prev {
                    Some((t0, at)) => {
                        let secs = now.duration_since(at).as_secs_f64().max(1e-3);
                        100.0 * (ticks.saturating_sub(t0)) as f64 / clock_ticks_per_sec() / secs
                    }
                    None => 0.0,
                };
                *prev = Some((ticks, now));
                for &role in &w.roles {
                    let task = node_task(w.pid, role);
                    let (state, wchan) = match &task {
                        Some(t) => (proc_stat(t).map_or(process_state, |s| s.0), proc_wchan(t)),
                        None => (process_state, proc_wchan(&format!("/proc/{}", w.pid))),
                    };
                    // A stopped process shows as stopped whatever its threads were doing.
                    let state = if matches!(process_state, 'T' | 't') { process_state } else { state };
                    samples.push(ProcSample { worker_id: w.worker_id, role, state, wchan, cpu_percent });
                }
            }
            for s in samples {
                self.send(Update::Proc(s));
            }
        }
    }
}

/// Releases the operation that has waited longest at its gate.
fn release_one(a: &mut Active) -> bool {
    match a.waiting.pop_front() {
        Some(role) => {
            *a.released.entry(role).or_default() += 1;
            a.run.step(role).is_ok()
        }
        None => false,
    }
}

/// The /proc directory of the thread doing `role`'s IPC in process `pid`: named `node-N`, or for
/// a consumer reading several links, its first `node-N-link-K` thread.
fn node_task(pid: u32, role: Role) -> Option<String> {
    let name = format!("node-{}", role.0);
    let mut best: Option<(bool, String)> = None;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if comm == name || comm.starts_with(&format!("{name}-link-")) {
            let is_link = comm != name;
            if best.as_ref().is_none_or(|(b, _)| is_link && !b) {
                best = Some((is_link, dir.display().to_string()));
            }
        }
    }
    best.map(|(_, d)| d)
}

fn clock_ticks_per_sec() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads a system setting.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            return t as f64;
        }
    }
    100.0
}
