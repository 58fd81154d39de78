//! The thread behind the GUI's scenario-program view: it owns the [`ProgramRun`] (the actor
//! processes), takes [`ProgramCommand`]s, and publishes the folded [`ProgramModel`] for the UI to
//! draw. As with the live stage's session, the UI never touches a process itself.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, unbounded};

use crate::programs::model::{ProgramModel, Verdict};
use crate::programs::run::{ProgramRun, Refusal};
use crate::programs::spec::ProgramScenario;

pub enum ProgramCommand {
    /// Start `variant` of `scenario` (ending a run that goes on); `gated`: you schedule.
    /// `tag` names this start, so the UI knows which run a picture is of.
    Start { scenario: Box<ProgramScenario>, variant: String, gated: bool, tag: u64 },
    /// Let process `i` do the operation it waits at its gate to do.
    Step(usize),
    /// Kill process `i` (a victim to break a deadlock).
    Kill(usize),
    /// End the run: kill what still runs, remove every name.
    Stop,
}

/// Why the last command was not done, as a value (the UI says it in its language).
#[derive(Clone, Debug, PartialEq)]
pub enum ProgramMessage {
    /// The run could not start: the engine's reason.
    CannotStart(String),
    /// A step or kill was refused.
    Refused(Refusal),
}

/// What the UI reads each frame.
#[derive(Clone, Debug, Default)]
pub struct ProgramShared {
    /// The run's state, kept after it ends so its last picture stays on screen.
    pub model: Option<ProgramModel>,
    /// Processes are alive (a run that deadlocked still is, until you kill or stop it).
    pub running: bool,
    /// Seconds since the run started.
    pub elapsed: f64,
    /// Why a start, step or kill was refused, for the status line.
    pub message: Option<ProgramMessage>,
    /// Counts the pictures published: the UI copies one only when it is new.
    pub generation: u64,
    /// The tag of the start the picture is of.
    pub tag: u64,
}

impl ProgramShared {
    /// Whether the run pictured is the one started with `tag`, run with you scheduling, and has
    /// brought `goal` about: how a challenge is won, in the Programs view and in a lesson.
    pub fn won(&self, tag: Option<u64>, goal: crate::programs::spec::Goal) -> bool {
        tag == Some(self.tag) && self.model.as_ref().is_some_and(|m| m.gated && m.achieved(goal))
    }
}

pub struct ProgramSession {
    tx: Sender<ProgramCommand>,
    shared: Arc<Mutex<ProgramShared>>,
    thread: Option<JoinHandle<()>>,
}

impl ProgramSession {
    pub fn start(exe: PathBuf, repaint: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<ProgramSession> {
        let (tx, rx) = unbounded();
        let shared = Arc::new(Mutex::new(ProgramShared::default()));
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("program-session".into())
            .spawn(move || session_loop(exe, rx, s, repaint))?;
        Ok(ProgramSession { tx, shared, thread: Some(thread) })
    }

    pub fn send(&self, c: ProgramCommand) {
        let _ = self.tx.send(c);
    }

    /// The picture, if it is newer than `generation`.
    pub fn snapshot_since(&self, generation: u64) -> Option<ProgramShared> {
        let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        (s.generation != generation).then(|| s.clone())
    }
}

impl Drop for ProgramSession {
    fn drop(&mut self) {
        let _ = self.tx.send(ProgramCommand::Stop);
        // Closing the channel ends the loop once it has stopped the run.
        let (dead, _) = unbounded();
        self.tx = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs of at most this many operations report each one.
const VERBOSE_UP_TO: u64 = 10_000;

/// How often the published picture is refreshed while a run goes on.
const PUBLISH_EVERY: Duration = Duration::from_millis(30);

fn session_loop(
    exe: PathBuf,
    rx: Receiver<ProgramCommand>,
    shared: Arc<Mutex<ProgramShared>>,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    let mut run: Option<ProgramRun> = None;
    let publish = |run: &Option<ProgramRun>, message: Option<Option<ProgramMessage>>| {
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = run {
            s.model = Some(r.model().clone());
            s.running = true;
            s.elapsed = r.elapsed().as_secs_f64();
        } else {
            s.running = false;
        }
        if let Some(m) = message {
            s.message = m;
        }
        s.generation += 1;
        drop(s);
        repaint();
    };
    loop {
        let command = if run.is_some() {
            match rx.try_recv() {
                Ok(c) => Some(c),
                Err(crossbeam::channel::TryRecvError::Empty) => None,
                Err(crossbeam::channel::TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv_timeout(Duration::from_secs(3600)) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        match command {
            Some(ProgramCommand::Start { scenario, variant, gated, tag }) => {
                drop(run.take()); // ends the run before, if any
                shared.lock().unwrap_or_else(|p| p.into_inner()).tag = tag;
                // Someone watches: report every operation, unless there are so many that
                // reporting them would be the run (the 400,000 increments of a race).
                let verbose = scenario.work(&variant) <= VERBOSE_UP_TO;
                match ProgramRun::start(&scenario, &variant, &exe, gated, verbose) {
                    Ok(r) => {
                        run = Some(r);
                        publish(&run, Some(None));
                    }
                    Err(e) => {
                        shared.lock().unwrap_or_else(|p| p.into_inner()).model = None;
                        publish(&None, Some(Some(ProgramMessage::CannotStart(e.to_string()))));
                    }
                }
            }
            Some(ProgramCommand::Step(i)) => {
                if let Some(r) = run.as_mut() {
                    let refused = r.step(i).err().map(ProgramMessage::Refused);
                    publish(&run, Some(refused));
                }
            }
            Some(ProgramCommand::Kill(i)) => {
                if let Some(r) = run.as_mut() {
                    let refused = r.kill(i).err().map(ProgramMessage::Refused);
                    publish(&run, Some(refused));
                }
            }
            Some(ProgramCommand::Stop) => {
                if let Some(r) = run.take() {
                    let mut last = r.model().clone();
                    let _ = r.finish(None);
                    if !last.all_exited() {
                        // What it had come to stays said, with how it ended.
                        let before = last.verdict.take().map(Box::new);
                        last.verdict = Some(Verdict::Stopped { before });
                    }
                    shared.lock().unwrap_or_else(|p| p.into_inner()).model = Some(last);
                    publish(&None, Some(None));
                }
            }
            None => {}
        }
        if let Some(r) = run.as_mut() {
            r.poll(PUBLISH_EVERY);
            let ended = r.model().all_exited() && r.model().verdict.is_some();
            publish(&run, None);
            if ended {
                // Every process has exited: read the last values, end the run, keep its picture.
                let r = run.take().expect("a run");
                let mut last = r.model().clone();
                let outcome = r.finish(None);
                last.counters = outcome.counters;
                shared.lock().unwrap_or_else(|p| p.into_inner()).model = Some(last);
                publish(&None, None);
            }
        }
    }
}
