//! The latency lab's comparison (issue 6/7), without egui: result files (`bench --format json`'s
//! array of runs, or `bench --save`'s file with the date and machine) loaded into series a plot
//! draws: latency percentiles per mechanism at a size, latency and throughput against size, CPU
//! per message, and the thread baseline, "the cost of crossing a process boundary".
//!
//! Every number says what it is: round trip (ping-pong) or one way (the other patterns), which
//! percentile, in microseconds.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::report::RunReport;

/// What a result file says about the machine it ran on.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Machine {
    #[serde(default)]
    pub cpu_model: String,
    #[serde(default)]
    pub cpus: u64,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub virtualized: bool,
}

/// One result file's runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSet {
    /// Where it came from, for the legend (a file name, "this run").
    pub label: String,
    pub date_unix: Option<u64>,
    pub machine: Option<Machine>,
    pub runs: Vec<RunReport>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    Saved { ipc_lab_results: u32, date_unix: Option<u64>, machine: Option<Machine>, runs: Vec<RunReport> },
    Runs(Vec<RunReport>),
}

impl ResultSet {
    /// Reads `bench --format json` output or a `bench --save` file; a bad file is an error that
    /// says what serde found wrong, never a panic.
    pub fn parse(label: &str, text: &str) -> Result<ResultSet, String> {
        match serde_json::from_str::<File>(text) {
            Ok(File::Saved { ipc_lab_results: 1, date_unix, machine, runs }) => {
                Ok(ResultSet { label: label.into(), date_unix, machine, runs })
            }
            Ok(File::Saved { ipc_lab_results, .. }) => {
                Err(format!("{label}: a result file of version {ipc_lab_results}, this program reads version 1"))
            }
            Ok(File::Runs(runs)) => Ok(ResultSet { label: label.into(), date_unix: None, machine: None, runs }),
            Err(e) => Err(format!("{label}: not a result file of ipc-lab bench: {e}")),
        }
    }

    pub fn load(path: &std::path::Path) -> Result<ResultSet, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let label = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
        ResultSet::parse(&label, &text)
    }
}

/// A number a plot can show per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    P50,
    P99,
    P999,
    /// Messages (round trips in ping-pong) per second.
    Throughput,
    /// CPU microseconds of all processes per message (round trip in ping-pong): a spinning
    /// reader is not free.
    CpuPerMessage,
}

impl Metric {
    /// The metric's value for `r`, in the unit `label` names (µs for latencies and CPU).
    pub fn of(self, r: &RunReport) -> Option<f64> {
        let lat = r.rtt_ns.as_ref().or(r.one_way_ns.as_ref());
        match self {
            Metric::P50 => lat.map(|l| l.p50 as f64 / 1000.0),
            Metric::P99 => lat.map(|l| l.p99 as f64 / 1000.0),
            Metric::P999 => lat.map(|l| l.p999 as f64 / 1000.0),
            Metric::Throughput => Some(r.msgs_per_sec),
            Metric::CpuPerMessage => {
                (r.count > 0).then(|| (r.cpu_parent_secs + r.cpu_child_secs) * 1e6 / r.count as f64)
            }
        }
    }

    /// What the number is, for an axis: which percentile of what, in which unit.
    pub fn label(self, round_trip: bool) -> String {
        let what = if round_trip { "round trip" } else { "one-way latency" };
        match self {
            Metric::P50 => format!("{what}, median (p50), µs"),
            Metric::P99 => format!("{what}, p99, µs"),
            Metric::P999 => format!("{what}, p99.9, µs"),
            Metric::Throughput => {
                if round_trip {
                    "round trips per second".into()
                } else {
                    "messages per second".into()
                }
            }
            Metric::CpuPerMessage => {
                format!("CPU µs per {}, all processes", if round_trip { "round trip" } else { "message" })
            }
        }
    }
}

/// A line of a plot: (x, y) points in x order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A run's line name: the mechanism, its shm wake-up, its placement when runs differ in it.
pub fn line_name(r: &RunReport, with_placement: bool) -> String {
    let mut name = r.mechanism.clone();
    if let Some(w) = &r.shm_wait {
        name.push_str(&format!(" ({w})"));
    }
    if with_placement {
        name.push_str(&format!(", {}", r.placement));
    }
    if r.live_telemetry {
        name.push_str(" +live");
    }
    name
}

/// `metric` against payload size, one line per mechanism (and wake-up, and placement where the
/// runs have several), for runs of `pattern`.
pub fn against_size(runs: &[RunReport], pattern: &str, metric: Metric) -> Vec<Series> {
    let placements: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.placement.as_str()).collect();
    let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.pattern == pattern) {
        if let Some(y) = metric.of(r) {
            lines.entry(line_name(r, placements.len() > 1)).or_default().push((r.size as f64, y));
        }
    }
    lines
        .into_iter()
        .map(|(name, mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series { name, points }
        })
        .collect()
}

/// p50, p99 and p99.9 (µs) per line at one size, for a bar chart.
pub fn percentiles_at(runs: &[RunReport], pattern: &str, size: usize) -> Vec<(String, [f64; 3])> {
    let placements: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.placement.as_str()).collect();
    runs.iter()
        .filter(|r| r.pattern == pattern && r.size == size)
        .filter_map(|r| {
            let p = [Metric::P50.of(r)?, Metric::P99.of(r)?, Metric::P999.of(r)?];
            Some((line_name(r, placements.len() > 1), p))
        })
        .collect()
}

/// The thread baseline's median at `size`: what moving a message costs without crossing a
/// process boundary.
pub fn baseline(runs: &[RunReport], pattern: &str, size: usize) -> Option<f64> {
    runs.iter()
        .find(|r| r.mechanism == "thread" && r.pattern == pattern && r.size == size)
        .and_then(|r| Metric::P50.of(r))
}

/// The latency distributions at `size`, one line per run: (µs, fraction of messages at or below),
/// each with its run's placement (to draw placements apart). Runs saved before distributions
/// were recorded have none and are left out.
pub fn cdf_at(runs: &[RunReport], pattern: &str, size: usize) -> Vec<(Series, String)> {
    let placements: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.placement.as_str()).collect();
    runs.iter()
        .filter(|r| r.pattern == pattern && r.size == size && !r.latency_cdf.is_empty())
        .map(|r| {
            let series = Series {
                name: line_name(r, placements.len() > 1),
                points: r.latency_cdf.iter().map(|&(ns, f)| (ns as f64 / 1000.0, f)).collect(),
            };
            (series, r.placement.clone())
        })
        .collect()
}

/// Placements in the order charts give them styles: everything on one CPU first, unpinned last,
/// the rest (one process per core) between, each group in name order.
pub fn placement_order(placements: &mut [String]) {
    let group = |p: &str| {
        if p == "unpinned" {
            2
        } else if p.starts_with("both on CPU ") || p.starts_with("all on CPU ") {
            0
        } else {
            1
        }
    };
    placements.sort_by(|a, b| group(a).cmp(&group(b)).then_with(|| a.cmp(b)));
}

/// A line's median (µs) at each placement, `None` where it was not run there.
pub type PlacementRow = (String, Vec<Option<f64>>);

/// Median latency (µs) at `size` per mechanism (and wake-up) and placement: the placements in
/// the order first met, and a row per line.
pub fn by_placement(runs: &[RunReport], pattern: &str, size: usize) -> (Vec<String>, Vec<PlacementRow>) {
    let at: Vec<&RunReport> = runs.iter().filter(|r| r.pattern == pattern && r.size == size).collect();
    let mut placements: Vec<String> = Vec::new();
    for r in &at {
        if !placements.contains(&r.placement) {
            placements.push(r.placement.clone());
        }
    }
    let mut rows: Vec<PlacementRow> = Vec::new();
    for r in &at {
        let name = line_name(r, false);
        let column = placements.iter().position(|p| *p == r.placement).unwrap_or(0);
        let i = match rows.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                rows.push((name, vec![None; placements.len()]));
                rows.len() - 1
            }
        };
        rows[i].1[column] = Metric::P50.of(r);
    }
    (placements, rows)
}

/// Shared memory's wake-ups side by side at `size`: (line name, CPU µs per message, median µs),
/// the latency each buys and the CPU it burns for it.
pub fn wake_vs_cpu(runs: &[RunReport], pattern: &str, size: usize) -> Vec<(String, f64, f64)> {
    let placements: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.placement.as_str()).collect();
    runs.iter()
        .filter(|r| r.mechanism == "shm" && r.pattern == pattern && r.size == size)
        .filter_map(|r| Some((line_name(r, placements.len() > 1), Metric::CpuPerMessage.of(r)?, Metric::P50.of(r)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = include_str!("../tests/data/bench-result.json");

    #[test]
    fn a_recorded_result_file_gives_the_expected_series() {
        let set = ResultSet::parse("recorded", RECORDED).expect("loads");
        let m = set.machine.as_ref().expect("the machine is recorded");
        assert_eq!((m.cpus, m.kernel.as_str()), (2, "6.18.44-fc-v769"));
        let p50 = against_size(&set.runs, "ping-pong", Metric::P50);
        let names: Vec<&str> = p50.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["pipe", "thread"]);
        // pipe's medians at 64 B and 4 KiB, as recorded, in µs.
        assert_eq!(p50[0].points, vec![(64.0, 2.249), (4096.0, 2.669)]);
        let bars = percentiles_at(&set.runs, "ping-pong", 64);
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].1, [2.249, 2.587, 6.391]);
        assert_eq!(baseline(&set.runs, "ping-pong", 64), Some(4.071));
        let cpu = against_size(&set.runs, "ping-pong", Metric::CpuPerMessage);
        let want = (0.002377 + 0.00233) * 1e6 / 2000.0;
        assert!((cpu[0].points[0].1 - want).abs() < 1e-6, "{cpu:?}: CPU seconds of both over 2,000 round trips");
        assert_eq!(Metric::P99.label(true), "round trip, p99, µs");
    }

    #[test]
    fn shm_wake_ups_give_their_latency_against_the_cpu_they_burn() {
        let set = ResultSet::parse("shm", include_str!("../tests/data/shm-wake.json")).expect("loads");
        let points = wake_vs_cpu(&set.runs, "ping-pong", 64);
        let names: Vec<&str> = points.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["shm (spin)", "shm (futex)", "shm (semaphore)"]);
        // As recorded: spinning answers in 0.643 µs, sleeping on a futex in 61.151 µs.
        assert_eq!((points[0].2, points[1].2), (0.643, 61.151));
        let cpu_spin = (0.00169 + 0.001689) * 1e6 / 2000.0;
        assert!((points[0].1 - cpu_spin).abs() < 1e-6, "{points:?}");
    }

    #[test]
    fn a_recorded_run_at_two_placements_gives_its_distributions_and_medians_side_by_side() {
        let set = ResultSet::parse("placements", include_str!("../tests/data/placement-cdf.json")).expect("loads");
        let (cdfs, placements): (Vec<Series>, Vec<String>) = cdf_at(&set.runs, "ping-pong", 64).into_iter().unzip();
        let names: Vec<&str> = cdfs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pipe, both on CPU 0",
                "pipe, pinger on CPU 0, echo on CPU 1",
                "unix, both on CPU 0",
                "unix, pinger on CPU 0, echo on CPU 1"
            ]
        );
        // As recorded: pipe on one core, its fastest round trip 2.037 µs (0.05 % of 2,000 at or
        // below), its slowest 49.087 µs.
        assert_eq!(cdfs[0].points.first(), Some(&(2.037, 0.0005)));
        assert_eq!(cdfs[0].points.last(), Some(&(49.087, 1.0)));
        assert!(cdfs.iter().all(|s| s.points.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)));
        assert_eq!(placements[..2], ["both on CPU 0", "pinger on CPU 0, echo on CPU 1"], "each line its placement");
        let mut order =
            vec!["unpinned".to_string(), "pinger on CPU 0, echo on CPU 1".to_string(), "both on CPU 0".to_string()];
        placement_order(&mut order);
        assert_eq!(order, ["both on CPU 0", "pinger on CPU 0, echo on CPU 1", "unpinned"], "one core, two, unpinned");
        let (placements, rows) = by_placement(&set.runs, "ping-pong", 64);
        assert_eq!(placements, ["both on CPU 0", "pinger on CPU 0, echo on CPU 1"]);
        assert_eq!(
            rows,
            [
                ("pipe".to_string(), vec![Some(2.505), Some(62.911)]),
                ("unix".to_string(), vec![Some(3.759), Some(55.551)])
            ]
        );
        // A file saved before distributions were kept has none to draw.
        let old = ResultSet::parse("recorded", RECORDED).expect("loads");
        assert!(cdf_at(&old.runs, "ping-pong", 64).is_empty());
    }

    #[test]
    fn a_bare_array_loads_and_a_bad_file_says_why() {
        let set = ResultSet::parse("recorded", RECORDED).expect("loads");
        let array = serde_json::to_string(&set.runs).expect("runs");
        let bare = ResultSet::parse("bare", &array).expect("a bench --format json array loads");
        assert_eq!((bare.runs.len(), bare.machine), (set.runs.len(), None));
        let err = ResultSet::parse("bad.json", "{\"runs\": 3}").unwrap_err();
        assert!(err.starts_with("bad.json: not a result file"), "{err}");
        let err = ResultSet::parse("v2.json", &RECORDED.replace("\"ipc_lab_results\": 1", "\"ipc_lab_results\": 2"))
            .unwrap_err();
        assert!(err.contains("version 2"), "{err}");
    }
}

/// Where finished comparisons are kept: `$XDG_STATE_HOME/ipc-lab/results/` (or
/// `~/.local/state/ipc-lab/results/`).
pub fn results_dir() -> Option<std::path::PathBuf> {
    crate::lessons::progress::Progress::default_path().and_then(|p| p.parent().map(|d| d.join("results")))
}

/// How a comparison run stands, for the view.
#[derive(Clone, Debug, Default)]
pub struct RunnerState {
    pub total: usize,
    pub done: usize,
    /// The combination running now ("pipe 64 B").
    pub current: String,
    /// Messages the current run has sent, of how many.
    pub sent: u64,
    pub per_run: u64,
    pub reports: Vec<RunReport>,
    pub failures: Vec<String>,
    pub running: bool,
    pub cancelled: bool,
}

/// A comparison running in the background, one combination after another, through the same
/// code as `ipc-lab bench`; cancelled between combinations (the one running finishes its few
/// thousand messages first).
pub struct Runner {
    state: std::sync::Arc<std::sync::Mutex<RunnerState>>,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    pub fn start(
        specs: Vec<crate::scenario::RunSpec>,
        exe: std::path::PathBuf,
        repaint: std::sync::Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Runner> {
        use std::sync::atomic::Ordering;
        let per_run = specs.first().map_or(0, |s| s.warmup + s.count);
        let state = std::sync::Arc::new(std::sync::Mutex::new(RunnerState {
            total: specs.len(),
            per_run,
            running: true,
            ..RunnerState::default()
        }));
        let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, c) = (state.clone(), cancel.clone());
        let thread = std::thread::Builder::new().name("compare".into()).spawn(move || {
            let with = |f: &mut dyn FnMut(&mut RunnerState)| {
                f(&mut s.lock().unwrap_or_else(|p| p.into_inner()));
                repaint();
            };
            for spec in &specs {
                if c.load(Ordering::Relaxed) {
                    with(&mut |st| st.cancelled = true);
                    break;
                }
                let label = format!("{} {}", spec.mechanism, crate::scenario::human_bytes(spec.size as u64));
                with(&mut |st| {
                    st.current = label.clone();
                    st.sent = 0;
                });
                let result = crate::bench::run_one(spec, &exe, None, |sent| {
                    s.lock().unwrap_or_else(|p| p.into_inner()).sent = sent;
                });
                with(&mut |st| {
                    st.done += 1;
                    match &result {
                        Ok(r) => st.reports.push(r.clone()),
                        Err(e) => st.failures.push(format!("{label}: {e}")),
                    }
                });
            }
            with(&mut |st| st.running = false);
        })?;
        Ok(Runner { state, cancel, thread: Some(thread) })
    }

    pub fn state(&self) -> RunnerState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn cancel(&self) {
        self.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
