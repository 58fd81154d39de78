//! The thread behind the Distributed view: it runs one job (or a sweep) through the
//! coordinator, passes the view's commands in and the job's events out, and wakes the UI.
//! Dropping it aborts the job, which ends and reaps every worker.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam::channel::{Receiver, Sender, unbounded};

use super::coordinator::{JobCommand, JobEvent};
use super::spec::JobSpec;
use super::sweep::{Sweep, sweep};

pub enum Update {
    Event(JobEvent),
    /// One run of a sweep ended: workers, time, exact.
    SweepRun(usize, u64, bool),
    Sweep(Sweep),
    SweepFailed(String),
    /// Processes, threads and tasks compared.
    Kinds(Vec<super::sweep::KindRow>),
}

pub struct JobSession {
    commands: Sender<JobCommand>,
    updates: Receiver<Update>,
    thread: Option<JoinHandle<()>>,
}

impl JobSession {
    /// Starts `spec` in the background.
    pub fn start(spec: JobSpec, exe: PathBuf, repaint: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<JobSession> {
        let (commands, cmd_rx) = unbounded();
        let (tx, updates) = unbounded();
        let thread = std::thread::Builder::new().name("job-session".into()).spawn(move || {
            let _ = super::run(&spec, &exe, Some(&cmd_rx), &mut |e| {
                let _ = tx.send(Update::Event(e));
                repaint();
            });
        })?;
        Ok(JobSession { commands, updates, thread: Some(thread) })
    }

    /// Runs `spec` at each worker count; each run's events are not shown, its time is.
    pub fn sweep(
        spec: JobSpec,
        counts: Vec<usize>,
        exe: PathBuf,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<JobSession> {
        let (commands, cmd_rx) = unbounded();
        let (tx, updates) = unbounded();
        let thread = std::thread::Builder::new().name("job-sweep".into()).spawn(move || {
            let out = sweep(&spec, &counts, &exe, Some(&cmd_rx), |o| {
                let _ = tx.send(Update::SweepRun(o.spec.workers, o.elapsed_ns, o.exact));
                repaint();
            });
            let _ = tx.send(match out {
                Ok(s) => Update::Sweep(s),
                Err(e) => Update::SweepFailed(e),
            });
            repaint();
        })?;
        Ok(JobSession { commands, updates, thread: Some(thread) })
    }

    /// Runs `spec` as processes, threads, tasks and tasks on one thread, with 1 and N workers.
    pub fn compare_kinds(
        spec: JobSpec,
        exe: PathBuf,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<JobSession> {
        let (commands, cmd_rx) = unbounded();
        let (tx, updates) = unbounded();
        let thread = std::thread::Builder::new().name("job-kinds".into()).spawn(move || {
            let _ = tx.send(match super::sweep::compare_kinds(&spec, &exe, Some(&cmd_rx)) {
                Ok(rows) => Update::Kinds(rows),
                Err(e) => Update::SweepFailed(e),
            });
            repaint();
        })?;
        Ok(JobSession { commands, updates, thread: Some(thread) })
    }

    pub fn command(&self, c: JobCommand) {
        let _ = self.commands.send(c);
    }

    pub fn updates(&self) -> impl Iterator<Item = Update> + '_ {
        self.updates.try_iter()
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for JobSession {
    fn drop(&mut self) {
        let _ = self.commands.send(JobCommand::Abort);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
