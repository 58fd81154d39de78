//! The same job at several worker counts (speedup, efficiency, Amdahl's serial share), and as
//! processes, threads and tasks.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::coordinator::{JobOutcome, run};
use super::spec::{JobSpec, WorkerKind};

/// One point of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub workers: usize,
    pub elapsed_ns: u64,
    /// T(1) / T(N), T(1) from the sweep's own one-worker run.
    pub speedup: f64,
    /// Speedup / N.
    pub efficiency: f64,
    pub comm_share: f64,
    pub exact: bool,
    /// More workers than CPUs: they take turns.
    pub oversubscribed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub kind: WorkerKind,
    pub points: Vec<Point>,
    /// Amdahl's serial share s, fitted to 1/S(N) = s + (1 - s)/N by least squares (0..=1).
    pub serial_share: Option<f64>,
    pub cpus: usize,
}

/// Amdahl's law: the speedup with `n` workers of a job whose serial share is `s`.
pub fn amdahl(s: f64, n: f64) -> f64 {
    1.0 / (s + (1.0 - s) / n)
}

/// Least-squares s in 1/S = s(1 - 1/N) + 1/N over the points with N > 1.
pub fn fit_serial_share(points: &[(usize, f64)]) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for &(n, speedup) in points {
        if n <= 1 || speedup <= 0.0 {
            continue;
        }
        let x = 1.0 / n as f64;
        let y = 1.0 / speedup;
        num += (y - x) * (1.0 - x);
        den += (1.0 - x) * (1.0 - x);
    }
    (den > 0.0).then(|| (num / den).clamp(0.0, 1.0))
}

/// Runs per worker count in a sweep; the median is reported.
pub const REPEATS: usize = 3;

pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `spec` at each count in `counts` (1 is added when missing: speedup needs it).
/// `commands`: an Abort ends the sweep within its current run.
pub fn sweep(
    spec: &JobSpec,
    counts: &[usize],
    exe: &Path,
    commands: Option<&crossbeam::channel::Receiver<super::coordinator::JobCommand>>,
    mut each: impl FnMut(&JobOutcome),
) -> Result<Sweep, String> {
    let mut counts = counts.to_vec();
    if !counts.contains(&1) {
        counts.insert(0, 1);
    }
    // Each count REPEATS times, in turns (1, 2, 4, 1, 2, 4, ...) so a burst of other work
    // on the machine spreads over all counts; the median run of each stands for it.
    let mut all: Vec<(usize, JobOutcome)> = Vec::new();
    for _ in 0..REPEATS {
        for &n in &counts {
            let s = JobSpec { workers: n, chunk: spec.chunk, ..spec.clone() };
            let out = run(&s, exe, commands, &mut |_| {})?;
            each(&out);
            all.push((n, out));
        }
    }
    let mut runs = Vec::new();
    for &n in &counts {
        let mut of_n: Vec<JobOutcome> = all.iter().filter(|(m, _)| *m == n).map(|(_, o)| o.clone()).collect();
        of_n.sort_by_key(|o| o.elapsed_ns);
        let exact = of_n.iter().all(|o| o.exact);
        let mut median = of_n.swap_remove(of_n.len() / 2);
        median.exact = exact;
        runs.push((n, median));
    }
    let t1 = runs.iter().find(|(n, _)| *n == 1).map_or(1, |(_, o)| o.elapsed_ns.max(1)) as f64;
    let cpus = cpus();
    let points: Vec<Point> = runs
        .iter()
        .map(|(n, o)| {
            let speedup = t1 / o.elapsed_ns.max(1) as f64;
            Point {
                workers: *n,
                elapsed_ns: o.elapsed_ns,
                speedup,
                efficiency: speedup / *n as f64,
                comm_share: o.comm_share(),
                exact: o.exact,
                oversubscribed: *n > cpus,
            }
        })
        .collect();
    // Fit on the counts the CPUs can run at once: beyond them, turns taken are not serial work.
    // A job that got slower with more workers has no serial share to speak of: no fit.
    Ok(Sweep { kind: spec.kind, serial_share: serial_share_of(&points), points, cpus })
}

/// Amdahl's serial share fitted to the points the CPUs could run at once; none when any of them
/// ran slower than one worker (there is no serial share to speak of then).
pub fn serial_share_of(points: &[Point]) -> Option<f64> {
    let fit: Vec<(usize, f64)> = points.iter().filter(|p| !p.oversubscribed).map(|p| (p.workers, p.speedup)).collect();
    if fit.iter().any(|&(n, s)| n > 1 && s < 1.0) { None } else { fit_serial_share(&fit) }
}

/// One row of the processes / threads / tasks comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindRow {
    pub kind: WorkerKind,
    pub workers: usize,
    pub startup_per_worker_ns: u64,
    /// Processes: mean proportional set size; threads and tasks: the coordinator's growth / N.
    pub memory_per_worker_kib: Option<u64>,
    pub one_worker_ns: u64,
    pub n_workers_ns: u64,
    pub speedup: f64,
    pub comm_share: f64,
    pub exact: bool,
}

/// Runs the job with 1 and with `spec.workers` workers of each kind.
pub fn compare_kinds(
    spec: &JobSpec,
    exe: &Path,
    commands: Option<&crossbeam::channel::Receiver<super::coordinator::JobCommand>>,
) -> Result<Vec<KindRow>, String> {
    let mut rows = Vec::new();
    for kind in WorkerKind::ALL {
        // The mechanism is how processes talk; threads and tasks ignore it.
        let base = JobSpec { kind, faults: Default::default(), ..spec.clone() };
        let one = run(&JobSpec { workers: 1, ..base.clone() }, exe, commands, &mut |_| {})?;
        let many = run(&base, exe, commands, &mut |_| {})?;
        let n = many.workers.len().max(1) as u64;
        let startup = many.workers.iter().map(|w| w.startup_ns).sum::<u64>() / n;
        let memory = match kind {
            WorkerKind::Process => {
                let pss: Vec<u64> = many.workers.iter().filter_map(|w| w.pss_kib).collect();
                (!pss.is_empty()).then(|| pss.iter().sum::<u64>() / pss.len() as u64)
            }
            _ => many.rss_growth_kib.map(|g| g / n),
        };
        rows.push(KindRow {
            kind,
            workers: spec.workers,
            startup_per_worker_ns: startup,
            memory_per_worker_kib: memory,
            one_worker_ns: one.elapsed_ns,
            n_workers_ns: many.elapsed_ns,
            speedup: one.elapsed_ns as f64 / many.elapsed_ns.max(1) as f64,
            comm_share: many.comm_share(),
            exact: one.exact && many.exact,
        });
    }
    Ok(rows)
}

/// The column's own example, timed by Python with the job's sizes (`src/jobs/column.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PythonTimes {
    pub python: String,
    pub start_method: String,
    /// `Process` per part, started and joined: the sums are computed and lost.
    pub as_written_s: f64,
    /// `Pool.map`: the sums come back.
    pub pool_map_s: f64,
    pub pool_map_sum: String,
    /// `sum()` in the one process.
    pub one_process_s: f64,
    pub one_process_sum: String,
}

/// What became of the Python comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Python {
    Ran(PythonTimes),
    Skipped { why: String },
}

const COLUMN_PY: &str = include_str!("column.py");

/// Runs the column's example with `n` items over `workers` processes, if `python3` is here.
pub fn python_column(n: u64, workers: usize) -> Python {
    let skipped = |why: String| Python::Skipped { why };
    let out = match std::process::Command::new("python3")
        .arg("-c")
        .arg(COLUMN_PY)
        .arg(n.to_string())
        .arg(workers.to_string())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return skipped("python3 is not installed".into()),
        Err(e) => return skipped(format!("python3 could not be started: {e}")),
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return skipped(format!("python3 failed: {}", err.lines().last().unwrap_or("no message")));
    }
    match serde_json::from_slice::<PythonTimes>(&out.stdout) {
        Ok(t) => Python::Ran(t),
        Err(e) => skipped(format!("python3 said something unexpected: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_known_serial_share() {
        for s in [0.0, 0.1, 0.5, 0.9] {
            let pts: Vec<(usize, f64)> = [2, 4, 8].iter().map(|&n| (n, amdahl(s, n as f64))).collect();
            let got = fit_serial_share(&pts).unwrap();
            assert!((got - s).abs() < 1e-9, "{s}: {got}");
        }
        assert_eq!(fit_serial_share(&[(1, 1.0)]), None);
    }

    fn point(workers: usize, speedup: f64, oversubscribed: bool) -> Point {
        Point {
            workers,
            elapsed_ns: 1,
            speedup,
            efficiency: speedup / workers as f64,
            comm_share: 0.0,
            exact: true,
            oversubscribed,
        }
    }

    #[test]
    fn no_serial_share_is_fitted_when_more_workers_made_the_job_slower() {
        let slower = [point(1, 1.0, false), point(2, 0.8, false)];
        assert_eq!(serial_share_of(&slower), None);
        let faster = [point(1, 1.0, false), point(2, amdahl(0.25, 2.0), false), point(4, 0.5, true)];
        let s = serial_share_of(&faster).expect("a fit");
        assert!((s - 0.25).abs() < 1e-9, "oversubscribed points stay out of the fit: {s}");
    }
}
