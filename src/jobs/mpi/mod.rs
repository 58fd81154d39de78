//! The same job on MPI, the engine clusters use: `ipc-lab job --engine mpi`.
//!
//! `run` is the supervisor's side (in the `ipc-lab job` process, or the Distributed view's
//! session thread). It starts `mpirun -n N+1 <this executable> mpi-rank SPEC`: rank 0 is the
//! master and ranks 1..=N the workers (rank k is shown as wk). The ranks (`rank.rs`, built with
//! `--features mpi`) run the job with MPI's own calls: static as MPI_Scatterv of the items (or of
//! the chunks' descriptions when shipping work), MPI_Reduce of the total and MPI_Gatherv of each
//! worker's account; dynamic as master–worker point-to-point, each worker's request carrying its
//! previous result and answered by a task (and its items) or stop. Same data, operations and
//! computing as our engine (`compute`, `worker::compute`).
//!
//! Rank 0 reports as `RankLine`s, JSON lines on its stdout, which mpirun forwards to us from
//! whichever host rank 0 runs on. This side folds them into the same `JobEvent`s and `JobOutcome`
//! as our coordinator, and checks every chunk itself (`compute::check`): MPI's word, its reduced
//! total included, is compared, not trusted.
//!
//! Clocks: every time a rank reports is its host's CLOCK_MONOTONIC (`wire::monotonic_nanos`), as
//! our workers' are, so on one machine they compare with each other and with ours. Across hosts
//! they do not: each host's monotonic clock starts at its own boot, so lanes of ranks on other
//! hosts would be offset by the difference (and startup is not measured for them). MPI_Wtime
//! would not help: it is synchronised across ranks only where MPI_WTIME_IS_GLOBAL is true, which
//! Open MPI does not promise; an honest cross-host view needs measured offsets (as remote workers'
//! RTT and clock offset are measured).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, unbounded};
use serde::{Deserialize, Serialize};

use super::compute::{Partial, check};
use super::coordinator::{ChunkHistory, JobCommand, JobEvent, JobOutcome, Step, WorkerStats};
use super::proto::ChunkResult;
use super::spec::JobSpec;
use super::spec::Schedule;
use crate::wire::monotonic_nanos;

#[cfg(feature = "mpi")]
pub mod rank;

/// The version of `RankSpec` and `RankLine`: a rank of another build is refused by it.
pub const PROTOCOL: u32 = 1;

/// How long mpirun may take to start every rank (over ssh to other hosts it is slow).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What every rank is told on its command line (`ipc-lab mpi-rank SPEC`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RankSpec {
    pub protocol: u32,
    pub job: JobSpec,
    /// The supervisor: its host, PID and start time. Ranks on its host end themselves and the
    /// mpirun above them once it is gone (see `rank::watch_supervisor`).
    #[serde(default)]
    pub supervisor: Option<(String, u32, u64)>,
}

/// What rank 0 reports, one JSON line each; times are its host's CLOCK_MONOTONIC nanoseconds.
// Externally tagged: an internally tagged enum is buffered by serde, which loses u128 sums.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankLine {
    /// First: the protocol, MPI_COMM_WORLD's size and the MPI library.
    Hello {
        protocol: u32,
        ranks: u32,
        library: String,
    },
    /// Worker rank `worker` is up: its PID and start time (so that only it is ever signalled),
    /// its host, and when MPI_Init returned in it.
    Up {
        worker: u32,
        pid: u32,
        start_time: Option<u64>,
        host: String,
        ready_ns: u64,
    },
    /// Every rank is past the barrier after MPI_Init: the job's clock starts.
    Started {
        at_ns: u64,
    },
    Assigned {
        chunk: u32,
        worker: u32,
        at_ns: u64,
    },
    /// The chunk's task and items are out of rank 0 (the collective or the send returned).
    Sent {
        chunk: u32,
        worker: u32,
        bytes: u64,
        at_ns: u64,
    },
    /// A chunk's answer, with the worker's own account of its time, as it reached rank 0.
    Result {
        worker: u32,
        result: ChunkResult,
        arrived_ns: u64,
    },
    /// The static schedule's MPI_Reduce: the total and digest as MPI combined them.
    Reduced {
        partial: Partial,
        digest: u64,
    },
    /// The last result is in: first task to last result.
    End {
        elapsed_ns: u64,
    },
    /// Rank 0 could not go on; it aborts every rank after saying so.
    Error {
        why: String,
    },
}

/// Why the MPI engine cannot run here: the way a platform that lacks a mechanism says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error(
        "this build has no MPI engine: build it with `cargo build --release --features mpi` \
         (on Debian that needs the packages openmpi-bin libopenmpi-dev libclang-dev)"
    )]
    NotBuilt,
    #[error("no mpirun on PATH: install MPI (Debian: apt-get install openmpi-bin)")]
    NoMpirun,
}

/// The mpirun to start, or why there is none.
pub fn availability() -> Result<PathBuf, Unavailable> {
    if !cfg!(feature = "mpi") {
        return Err(Unavailable::NotBuilt);
    }
    find_on_path("mpirun").ok_or(Unavailable::NoMpirun)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// This host's name as MPI_Get_processor_name gives it on Linux (gethostname).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The mpirun command line for `spec`'s ranks.
pub fn mpirun_command(mpirun: &Path, spec: &JobSpec, exe: &Path, spec_json: &str) -> Command {
    let mut cmd = Command::new(mpirun);
    cmd.arg("-n").arg((spec.workers + 1).to_string());
    // More ranks than cores is allowed (rank 0 mostly waits, and 2-core machines are common);
    // no binding, so the kernel places ranks as it places our workers.
    cmd.args(["--oversubscribe", "--bind-to", "none"]);
    // Open MPI refuses root unless told; in a container or CI we are root.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--allow-run-as-root");
    }
    if let Some(h) = &spec.hostfile {
        cmd.arg("--hostfile").arg(h);
    }
    cmd.arg(exe).arg("mpi-rank").arg(spec_json);
    cmd
}

/// mpirun as our child, with the ranks it reported; ending it ends them.
struct Mpirun {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// Ranks on this host: PID and start time, checked before any signal.
    local_ranks: Vec<(u32, Option<u64>)>,
    status: Option<ExitStatus>,
}

impl Mpirun {
    fn start(spec: &JobSpec, exe: &Path) -> Result<Mpirun, String> {
        let mpirun = availability().map_err(|e| e.to_string())?;
        let me = std::process::id();
        let supervisor = crate::mechanism::process_start_time(me).map(|t| (host_name(), me, t));
        let json = serde_json::to_string(&RankSpec { protocol: PROTOCOL, job: spec.clone(), supervisor })
            .map_err(|e| format!("encoding the ranks' spec: {e}"))?;
        let mut cmd = mpirun_command(&mpirun, spec, exe, &json);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        {
            use std::os::unix::process::CommandExt;
            // Its own process group, away from a terminal's ^C, which we handle; SIGKILL when
            // this thread's process dies. Not SIGTERM: Open MPI 4.1's mpirun, told to stop while
            // still starting its ranks, was seen to hang for good. The ranks on this host see
            // the supervisor gone and end themselves (`rank::watch_supervisor`); those on other
            // hosts are ended by their daemon when mpirun's connection drops.
            cmd.process_group(0);
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: between fork and exec, only async-signal-safe calls (prctl, getppid).
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    if libc::getppid() != parent {
                        return Err(std::io::Error::other("the supervisor died during spawn"));
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("starting {}: {e}", mpirun.display()))?;
        let (tx, lines) = unbounded();
        let out = child.stdout.take().ok_or("mpirun has no stdout")?;
        std::thread::Builder::new()
            .name("mpirun-out".into())
            .spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("starting mpirun's reader: {e}"))?;
        let mut err = child.stderr.take().ok_or("mpirun has no stderr")?;
        let stderr = std::thread::Builder::new()
            .name("mpirun-err".into())
            .spawn(move || {
                let mut all = Vec::new();
                let _ = err.read_to_end(&mut all);
                let text = String::from_utf8_lossy(&all).into_owned();
                let start = text.len().saturating_sub(2000);
                let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
                text[start..].trim().to_string()
            })
            .map_err(|e| format!("starting mpirun's stderr reader: {e}"))?;
        Ok(Mpirun { child, lines, stderr: Some(stderr), local_ranks: Vec::new(), status: None })
    }

    /// Waits up to `within` for mpirun to exit by itself.
    fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while self.status.is_none() {
            match self.child.try_wait() {
                Ok(Some(s)) => self.status = Some(s),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => break,
            }
        }
        self.status
    }

    /// Ends mpirun and every rank: SIGTERM to mpirun (it ends its ranks), SIGKILL after 3 s,
    /// then any rank of ours still running. Returns mpirun's exit.
    fn end(&mut self) -> Option<ExitStatus> {
        if self.wait(Duration::ZERO).is_none() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if self.wait(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                self.status = self.child.wait().ok();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for &(pid, start) in &self.local_ranks {
            while crate::mechanism::peer_alive(pid, start) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            // Still there (mpirun was killed before it could end it): the same process, by
            // its start time, and only then.
            if crate::mechanism::peer_alive(pid, start) {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            }
        }
        self.status
    }

    fn stderr_tail(&mut self) -> String {
        self.stderr.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Mpirun {
    fn drop(&mut self) {
        self.end();
    }
}

/// Runs `spec` under mpirun to the end; `emit` sees every event (the last is `Finished` or
/// `Failed`), as `coordinator::run`'s do.
pub fn run(
    spec: &JobSpec,
    exe: &Path,
    commands: Option<&Receiver<JobCommand>>,
    emit: &mut dyn FnMut(JobEvent),
) -> Result<JobOutcome, String> {
    let mut fold = Fold::new(spec);
    let out = fold.run(exe, commands, emit);
    match out {
        Ok(o) => {
            emit(JobEvent::Finished(Box::new(o.clone())));
            Ok(o)
        }
        Err(why) => {
            emit(JobEvent::Failed { why: why.clone() });
            Err(why)
        }
    }
}

/// The job as the supervisor sees it, folded from rank 0's lines.
struct Fold {
    spec: JobSpec,
    plan: Vec<(u64, u64)>,
    histories: Vec<Vec<Step>>,
    done: Vec<bool>,
    results: BTreeMap<u32, (Partial, u64)>,
    total: Partial,
    digest: u64,
    bytes: u64,
    duplicates: u64,
    workers: Vec<WorkerStats>,
    last_arrived_ns: Vec<u64>,
    launched_ns: u64,
    t0_ns: Option<u64>,
    reduced: Option<(Partial, u64)>,
    elapsed_ns: Option<u64>,
    rank_error: Option<String>,
    /// Lines mpirun printed that are not rank 0's reports (its own warnings), the last few.
    other: Vec<String>,
    host: String,
}

impl Fold {
    fn new(spec: &JobSpec) -> Fold {
        let plan = spec.chunks();
        Fold {
            spec: spec.clone(),
            histories: vec![Vec::new(); plan.len()],
            done: vec![false; plan.len()],
            plan,
            results: BTreeMap::new(),
            total: Partial::empty(spec.op),
            digest: 0,
            bytes: 0,
            duplicates: 0,
            workers: (1..=spec.workers as u32)
                .map(|worker| WorkerStats { worker, fate: "running".into(), ..WorkerStats::default() })
                .collect(),
            last_arrived_ns: vec![0; spec.workers],
            launched_ns: monotonic_nanos(),
            t0_ns: None,
            reduced: None,
            elapsed_ns: None,
            rank_error: None,
            other: Vec::new(),
            host: host_name(),
        }
    }

    fn ms(&self, at_ns: u64) -> f64 {
        at_ns.saturating_sub(self.t0_ns.unwrap_or(self.launched_ns)) as f64 / 1e6
    }

    fn run(
        &mut self,
        exe: &Path,
        commands: Option<&Receiver<JobCommand>>,
        emit: &mut dyn FnMut(JobEvent),
    ) -> Result<JobOutcome, String> {
        emit(JobEvent::Planned { chunks: self.plan.clone(), workers: self.spec.workers });
        self.launched_ns = monotonic_nanos();
        let mut mpirun = Mpirun::start(&self.spec, exe)?;
        let startup_deadline = Instant::now() + STARTUP_TIMEOUT;
        let never = crossbeam::channel::never();
        let commands = commands.unwrap_or(&never);
        loop {
            crossbeam::select! {
                recv(mpirun.lines) -> l => match l {
                    Ok(line) => {
                        if let Some((pid, start)) = self.line(&line, emit)? {
                            mpirun.local_ranks.push((pid, start));
                        }
                    }
                    // mpirun closed its output: every rank has ended.
                    Err(_) => break,
                },
                recv(commands) -> c => match c {
                    Ok(JobCommand::Abort) => return Err("stopped before the end".into()),
                    Ok(JobCommand::Signal { worker, .. }) => emit(JobEvent::Refused {
                        worker,
                        why: "an MPI rank is not signalled alone: one rank's death aborts every rank".into(),
                    }),
                    Ok(JobCommand::AddWorker) => emit(JobEvent::Refused {
                        worker: 0,
                        why: "an MPI job's ranks are fixed when mpirun starts (MPI_COMM_WORLD)".into(),
                    }),
                    Err(_) => {}
                },
                default(Duration::from_millis(100)) => {
                    if self.t0_ns.is_none() && Instant::now() > startup_deadline {
                        return Err(format!("the MPI ranks did not start within {STARTUP_TIMEOUT:?}"));
                    }
                }
            }
        }
        let status = mpirun.wait(Duration::from_secs(5));
        let tail = mpirun.stderr_tail();
        if let Some(why) = &self.rank_error {
            return Err(format!("rank 0: {why}"));
        }
        let ended_well = status.is_some_and(|s| s.success());
        let Some(elapsed_ns) = self.elapsed_ns.filter(|_| ended_well) else {
            let exit = status.map_or("did not exit".to_string(), |s| s.to_string());
            let said = if tail.is_empty() { self.other.join(" / ") } else { tail };
            return Err(format!("mpirun {exit} before the job's end: {said}"));
        };
        self.finish(elapsed_ns)
    }

    /// Folds one line of mpirun's output; returns a local rank's PID and start time when one
    /// comes up.
    fn line(&mut self, line: &str, emit: &mut dyn FnMut(JobEvent)) -> Result<Option<(u32, Option<u64>)>, String> {
        if !line.starts_with('{') {
            // mpirun's own words (a warning, a help text): kept for an error.
            if self.other.len() == 20 {
                self.other.remove(0);
            }
            self.other.push(line.to_string());
            return Ok(None);
        }
        let msg: RankLine = serde_json::from_str(line).map_err(|e| format!("rank 0 said '{line}': {e}"))?;
        match msg {
            RankLine::Hello { protocol, ranks, .. } => {
                if protocol != PROTOCOL {
                    return Err(format!("rank 0 speaks protocol {protocol}, this build {PROTOCOL}"));
                }
                if ranks as usize != self.spec.workers + 1 {
                    return Err(format!("mpirun started {ranks} ranks, not {}", self.spec.workers + 1));
                }
            }
            RankLine::Up { worker, pid, start_time, host, ready_ns } => {
                let local = host == self.host;
                let launched_ns = self.launched_ns;
                let Some(w) = self.worker(worker) else { return Err(format!("rank 0 named a worker {worker}")) };
                // Another host's PID and clock mean nothing here.
                w.pid = local.then_some(pid);
                w.startup_ns = if local { ready_ns.saturating_sub(launched_ns) } else { 0 };
                let startup_ns = w.startup_ns;
                emit(JobEvent::WorkerUp {
                    worker,
                    pid: local.then_some(pid),
                    startup_ns,
                    replaces: None,
                    at_ns: ready_ns,
                });
                return Ok(local.then_some((pid, start_time)));
            }
            RankLine::Started { at_ns } => {
                self.t0_ns = Some(at_ns);
                emit(JobEvent::Started { at_ns });
            }
            RankLine::Assigned { chunk, worker, at_ns } => {
                let at_ms = self.ms(at_ns);
                let h = self.histories.get_mut(chunk as usize).ok_or(format!("rank 0 assigned a chunk {chunk}"))?;
                h.push(Step::Assigned { worker, at_ms });
                emit(JobEvent::Assigned { chunk, worker, at_ns });
            }
            RankLine::Sent { chunk, worker, bytes, at_ns } => {
                self.bytes += bytes;
                emit(JobEvent::Sent { chunk, worker, bytes, at_ns });
            }
            RankLine::Result { worker, result, arrived_ns } => self.result(worker, result, arrived_ns, emit)?,
            RankLine::Reduced { partial, digest } => self.reduced = Some((partial, digest)),
            RankLine::End { elapsed_ns } => self.elapsed_ns = Some(elapsed_ns),
            RankLine::Error { why } => self.rank_error = Some(why),
        }
        Ok(None)
    }

    fn worker(&mut self, worker: u32) -> Option<&mut WorkerStats> {
        self.workers.get_mut(worker.checked_sub(1)? as usize)
    }

    /// Counts a chunk's answer once, by chunk id, as the coordinator does.
    fn result(
        &mut self,
        worker: u32,
        r: ChunkResult,
        arrived_ns: u64,
        emit: &mut dyn FnMut(JobEvent),
    ) -> Result<(), String> {
        let at_ms = self.ms(arrived_ns);
        let c = r.chunk as usize;
        if c >= self.plan.len() {
            return Err(format!("w{worker} answered for chunk {c}, which does not exist"));
        }
        let t0 = self.t0_ns.unwrap_or(0);
        let last =
            self.last_arrived_ns.get_mut(worker.wrapping_sub(1) as usize).ok_or(format!("no worker {worker}"))?;
        let idle_from = r.asked_ns.max(*last).max(t0);
        *last = arrived_ns;
        let w = self.worker(worker).ok_or(format!("no worker {worker}"))?;
        w.account(&r, idle_from, arrived_ns);
        if self.done[c] {
            self.histories[c].push(Step::Duplicate { worker, at_ms });
            self.duplicates += 1;
            emit(JobEvent::Duplicate { chunk: r.chunk, worker, at_ns: arrived_ns, result: Some(r) });
            return Ok(());
        }
        self.done[c] = true;
        self.histories[c].push(Step::Done { worker, at_ms });
        self.total.combine(&r.partial).map_err(|e| format!("w{worker}'s answer for chunk {c}: {e}"))?;
        self.digest = self.digest.wrapping_add(r.digest);
        let w = self.worker(worker).ok_or(format!("no worker {worker}"))?;
        w.chunks += 1;
        w.items = w.items.saturating_add(r.items);
        self.results.insert(r.chunk, (r.partial.clone(), r.digest));
        emit(JobEvent::Done { worker, result: r, arrived_ns, total: self.total.clone() });
        Ok(())
    }

    fn finish(&mut self, elapsed_ns: u64) -> Result<JobOutcome, String> {
        let t0 = self.t0_ns.unwrap_or(self.launched_ns);
        let end_ns = t0 + elapsed_ns;
        // After its last result a worker waited for the others (in the collective, or for its
        // stop): idle to the end.
        for (w, &last) in self.workers.iter_mut().zip(&self.last_arrived_ns) {
            w.idle_ns = w.idle_ns.saturating_add(end_ns.saturating_sub(last.max(t0)));
            w.fate = "exited".into();
        }
        let c = check(&self.spec, &self.plan, &self.results, &self.total, self.digest, None)?;
        // MPI_Reduce's total must be the whole the answers make: a reduction that lost or doubled
        // a part would show here.
        // A static job always reduces (rank 0 reports it); a dynamic one has no collective.
        let reduce_agrees = match (&self.reduced, self.spec.schedule) {
            (Some((p, d)), _) => *p == self.total && *d == self.digest,
            (None, Schedule::Static) => false,
            (None, Schedule::Dynamic) => true,
        };
        Ok(JobOutcome {
            spec: self.spec.clone(),
            result: self.total.clone(),
            digest: self.digest,
            expected: c.expected,
            expected_digest: c.expected_digest,
            exact: c.exact && reduce_agrees,
            wrong_chunks: c.wrong_chunks,
            elapsed_ns,
            bytes_moved: self.bytes,
            duplicates: self.duplicates,
            requeued: 0,
            workers: self.workers.clone(),
            chunks: self
                .plan
                .iter()
                .zip(&self.histories)
                .enumerate()
                .map(|(i, (&(start, len), steps))| ChunkHistory { chunk: i as u32, start, len, steps: steps.clone() })
                .collect(),
            rss_growth_kib: None,
            in_memory_sum_ns: None,
            resource_prefix: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rank's answer for `chunk`, with made-up times.
    fn answer(chunk: u32, partial: Partial, digest: u64, items: u64) -> ChunkResult {
        ChunkResult {
            chunk,
            partial,
            digest,
            items,
            asked_ns: 1,
            task_ns: 2,
            data_ns: 3,
            computed_ns: 4,
            waited_ns: 0,
            cpu_ns: 1,
            sent_ns: 4,
            delay_in_ns: 0,
            delay_out_ns: 0,
        }
    }

    #[test]
    fn rank_lines_survive_the_trip() {
        let r = answer(3, Partial::Sum(u128::from(u64::MAX) * 5), 9, 10);
        for l in [
            RankLine::Hello { protocol: PROTOCOL, ranks: 3, library: "Open MPI".into() },
            RankLine::Result { worker: 2, result: r, arrived_ns: 5 },
            RankLine::Reduced { partial: Partial::Sum(u128::from(u64::MAX) * 3), digest: 7 },
            RankLine::Reduced { partial: Partial::MinMax(Some((1, 2))), digest: 7 },
        ] {
            let text = serde_json::to_string(&l).unwrap();
            assert!(!text.contains('\n'));
            assert_eq!(serde_json::from_str::<RankLine>(&text).unwrap(), l);
        }
    }

    /// The supervisor checks MPI_Reduce's total against the answers it folded: a reduction
    /// that disagrees, or a static job's that never came, is not exact.
    #[test]
    fn a_reduction_that_disagrees_or_is_missing_is_not_exact() {
        let args = super::super::spec::JobArgs::parse_line("--workers 2 --data range:1000").expect("args");
        let spec = JobSpec::from_args(&args).expect("spec");
        let run = |reduced: &dyn Fn(Partial) -> Option<Partial>| {
            let mut f = Fold::new(&spec);
            let (mut total, mut digest) = (Partial::empty(spec.op), 0u64);
            for (c, &(start, len)) in spec.chunks().iter().enumerate() {
                let (partial, d) = super::super::compute::expected(&spec.data, spec.op, spec.work, start, len, None);
                total.combine(&partial).expect("same kind");
                digest = digest.wrapping_add(d);
                f.result(c as u32 + 1, answer(c as u32, partial, d, len), 5, &mut |_| {}).expect("folded");
            }
            f.reduced = reduced(total).map(|p| (p, digest));
            f.finish(1_000).expect("finished").exact
        };
        assert!(run(&Some), "the reduction agrees with the answers");
        assert!(!run(&|_| None), "a static job's reduction never came");
        assert!(
            !run(&|t| {
                let mut more = t;
                crate::jobs::worker::lie(&mut more);
                Some(more)
            }),
            "a reduction one off"
        );
    }

    #[cfg(not(feature = "mpi"))]
    #[test]
    fn a_build_without_the_feature_says_how_to_get_it() {
        let why = availability().unwrap_err().to_string();
        assert!(why.contains("cargo build --release --features mpi") && why.contains("libopenmpi-dev"), "{why}");
    }
}
