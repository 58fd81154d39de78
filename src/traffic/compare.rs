//! The latency lab's comparison (issue 6/7), without egui: result files (`bench --format json`'s
//! array of runs, or `bench --save`'s file with the date and machine) loaded into series a plot
//! draws: latency percentiles per mechanism at a size, latency and throughput against size, CPU
//! per message, and the thread baseline, "the cost of crossing a process boundary".
//!
//! Every number says what it is: round trip (ping-pong) or one way (the other patterns), which
//! percentile, in microseconds.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::traffic::report::RunReport;

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

/// Where a run's processes were, in the three kinds the views offer (`--placement`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlacementKind {
    /// Every process on one CPU ("both on CPU 0").
    SameCore,
    /// Processes on different CPUs ("pinger on CPU 0, echo on CPU 1").
    CrossCore,
    Unpinned,
}

impl PlacementKind {
    /// The kind of a report's placement text (`report::placement_text`).
    pub fn of(placement: &str) -> Self {
        if placement == "unpinned" {
            PlacementKind::Unpinned
        } else if placement.starts_with("both on CPU ") || placement.starts_with("all on CPU ") {
            PlacementKind::SameCore
        } else {
            PlacementKind::CrossCore
        }
    }
}

/// A line of a plot: (x, y) points in x order, with the placement its runs had (the charts tell
/// placements apart by point shape or line style, so the name leaves it out).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub placement: PlacementKind,
}

/// A run's line name: the mechanism, its shm wake-up, and "+live" for a run with live telemetry.
pub fn line_name(r: &RunReport) -> String {
    let mut name = r.mechanism.clone();
    if let Some(w) = &r.shm_wait {
        name.push_str(&format!(" ({w})"));
    }
    if r.live_telemetry {
        name.push_str(" +live");
    }
    name
}

/// `metric` against payload size, one line per mechanism (and wake-up) and placement, for runs of
/// `pattern`, in name order and then placement order.
pub fn against_size(runs: &[RunReport], pattern: &str, metric: Metric) -> Vec<Series> {
    let mut lines: BTreeMap<(String, PlacementKind), Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.pattern == pattern) {
        if let Some(y) = metric.of(r) {
            let key = (line_name(r), PlacementKind::of(&r.placement));
            lines.entry(key).or_default().push((r.size as f64, y));
        }
    }
    lines
        .into_iter()
        .map(|((name, placement), mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series { name, points, placement }
        })
        .collect()
}

/// p50, p99 and p99.9 (µs) per line and placement at one size, for a bar chart.
pub fn percentiles_at(runs: &[RunReport], pattern: &str, size: usize) -> Vec<(String, PlacementKind, [f64; 3])> {
    runs.iter()
        .filter(|r| r.pattern == pattern && r.size == size)
        .filter_map(|r| {
            let p = [Metric::P50.of(r)?, Metric::P99.of(r)?, Metric::P999.of(r)?];
            Some((line_name(r), PlacementKind::of(&r.placement), p))
        })
        .collect()
}

/// The thread baseline's median at `size` and its placement: what moving a message costs
/// without crossing a process boundary (at one core when it was run there).
pub fn baseline(runs: &[RunReport], pattern: &str, size: usize) -> Option<(f64, PlacementKind)> {
    runs.iter()
        .filter(|r| r.mechanism == "thread" && r.pattern == pattern && r.size == size)
        .min_by_key(|r| PlacementKind::of(&r.placement))
        .and_then(|r| Some((Metric::P50.of(r)?, PlacementKind::of(&r.placement))))
}

/// The latency distributions at `size`, one line per run: (µs, fraction of messages at or below),
/// with its placement kind. Runs saved before distributions were recorded have none and are left
/// out.
pub fn cdf_at(runs: &[RunReport], pattern: &str, size: usize) -> Vec<Series> {
    runs.iter()
        .filter(|r| r.pattern == pattern && r.size == size && !r.latency_cdf.is_empty())
        .map(|r| Series {
            name: line_name(r),
            points: r.latency_cdf.iter().map(|&(ns, f)| (ns as f64 / 1000.0, f)).collect(),
            placement: PlacementKind::of(&r.placement),
        })
        .collect()
}

/// A line's median (µs) at each placement kind, `None` where it was not run there.
pub type PlacementRow = (String, Vec<Option<f64>>);

/// Median latency (µs) at `size` per mechanism (and wake-up) and placement kind: the kinds
/// present, in order, and a row per line.
pub fn by_placement(runs: &[RunReport], pattern: &str, size: usize) -> (Vec<PlacementKind>, Vec<PlacementRow>) {
    let at: Vec<&RunReport> = runs.iter().filter(|r| r.pattern == pattern && r.size == size).collect();
    let placements: Vec<PlacementKind> = at
        .iter()
        .map(|r| PlacementKind::of(&r.placement))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut rows: Vec<PlacementRow> = Vec::new();
    for r in &at {
        let name = line_name(r);
        let column = placements.iter().position(|p| *p == PlacementKind::of(&r.placement)).unwrap_or(0);
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

/// Shared memory's wake-ups side by side at `size`: (line name, placement, CPU µs per message,
/// median µs), the latency each buys and the CPU it burns for it.
pub fn wake_vs_cpu(runs: &[RunReport], pattern: &str, size: usize) -> Vec<(String, PlacementKind, f64, f64)> {
    runs.iter()
        .filter(|r| r.mechanism == "shm" && r.pattern == pattern && r.size == size)
        .filter_map(|r| {
            Some((line_name(r), PlacementKind::of(&r.placement), Metric::CpuPerMessage.of(r)?, Metric::P50.of(r)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = include_str!("../../tests/data/bench-result.json");

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
        assert_eq!(bars[0].2, [2.249, 2.587, 6.391]);
        assert_eq!(baseline(&set.runs, "ping-pong", 64), Some((4.071, PlacementKind::Unpinned)));
        let cpu = against_size(&set.runs, "ping-pong", Metric::CpuPerMessage);
        let want = (0.002377 + 0.00233) * 1e6 / 2000.0;
        assert!((cpu[0].points[0].1 - want).abs() < 1e-6, "{cpu:?}: CPU seconds of both over 2,000 round trips");
        assert_eq!(Metric::P99.label(true), "round trip, p99, µs");
    }

    #[test]
    fn shm_wake_ups_give_their_latency_against_the_cpu_they_burn() {
        let set = ResultSet::parse("shm", include_str!("../../tests/data/shm-wake.json")).expect("loads");
        let points = wake_vs_cpu(&set.runs, "ping-pong", 64);
        let names: Vec<&str> = points.iter().map(|(n, _, _, _)| n.as_str()).collect();
        assert_eq!(names, ["shm (spin)", "shm (futex)", "shm (semaphore)"]);
        // As recorded: spinning answers in 0.643 µs, sleeping on a futex in 61.151 µs.
        assert_eq!((points[0].3, points[1].3), (0.643, 61.151));
        let cpu_spin = (0.00169 + 0.001689) * 1e6 / 2000.0;
        assert!((points[0].2 - cpu_spin).abs() < 1e-6, "{points:?}");
    }

    #[test]
    fn a_recorded_run_at_two_placements_gives_its_distributions_and_medians_side_by_side() {
        let set = ResultSet::parse("placements", include_str!("../../tests/data/placement-cdf.json")).expect("loads");
        use PlacementKind::*;
        let cdfs = cdf_at(&set.runs, "ping-pong", 64);
        let lines: Vec<(&str, PlacementKind)> = cdfs.iter().map(|s| (s.name.as_str(), s.placement)).collect();
        assert_eq!(
            lines,
            [("pipe", SameCore), ("pipe", CrossCore), ("unix", SameCore), ("unix", CrossCore)],
            "each line its placement"
        );
        // As recorded: pipe on one core, its fastest round trip 2.037 µs (0.05 % of 2,000 at or
        // below), its slowest 49.087 µs.
        assert_eq!(cdfs[0].points.first(), Some(&(2.037, 0.0005)));
        assert_eq!(cdfs[0].points.last(), Some(&(49.087, 1.0)));
        assert!(cdfs.iter().all(|s| s.points.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)));
        assert_eq!(PlacementKind::of("producer, relay 2 on CPU 0 · relay 1, consumer on CPU 1"), CrossCore);
        assert_eq!(PlacementKind::of("all on CPU 1"), SameCore);
        // The latency lines carry their placement too, to be drawn apart (in name, then placement
        // order).
        let p50 = against_size(&set.runs, "ping-pong", Metric::P50);
        let lines: Vec<(&str, PlacementKind)> = p50.iter().map(|s| (s.name.as_str(), s.placement)).collect();
        assert_eq!(lines, [("pipe", SameCore), ("pipe", CrossCore), ("unix", SameCore), ("unix", CrossCore)]);
        let (placements, rows) = by_placement(&set.runs, "ping-pong", 64);
        assert_eq!(placements, [SameCore, CrossCore]);
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
    fn a_spinning_thread_shows_in_how_busy_the_machine_is() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let theirs = stop.clone();
        let spinner = std::thread::spawn(move || {
            while !theirs.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let busy = cpu_busy(std::time::Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spinner.join().expect("spinner");
        let busy = busy.expect("/proc/stat reads on Linux");
        assert!(busy >= 0.8 / cpus && busy <= 1.0, "one spinning thread of {cpus} CPUs: {busy}");
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
    /// How busy the machine was with other work just before the first run (share of all CPUs,
    /// 0–1), when it could be read.
    pub busy_before: Option<f64>,
}

/// Share of all CPUs busy over `over` (from /proc/stat; steal counts as busy), or `None` where
/// there is no /proc/stat.
pub fn cpu_busy(over: std::time::Duration) -> Option<f64> {
    fn read() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal
        let idle = v.get(3)? + v.get(4).unwrap_or(&0);
        let total: u64 = v.iter().take(8).sum();
        Some((idle, total))
    }
    let (i0, t0) = read()?;
    std::thread::sleep(over);
    let (i1, t1) = read()?;
    let total = t1.saturating_sub(t0);
    (total > 0).then(|| 1.0 - i1.saturating_sub(i0) as f64 / total as f64)
}

/// How long a comparison waits after each run for the window to be redrawn before the next.
pub const REDRAW_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

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
        specs: Vec<crate::traffic::spec::RunSpec>,
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
            let quiet = |f: &mut dyn FnMut(&mut RunnerState)| f(&mut s.lock().unwrap_or_else(|p| p.into_inner()));
            // The window is redrawn between runs, never during one: drawing a frame (in software
            // under a VM, ~20-30 ms of CPU on every core) preempted the runs' processes and put
            // milliseconds into their p99 across cores. So: news, a repaint, a pause for it.
            let with = |f: &mut dyn FnMut(&mut RunnerState)| {
                quiet(f);
                repaint();
                std::thread::sleep(REDRAW_PAUSE);
            };
            // The click that started us is being drawn (with egui's animations, several frames):
            // let that finish first.
            with(&mut |_| {});
            std::thread::sleep(4 * REDRAW_PAUSE);
            // Then see whether something else keeps the machine busy: it would show in every run.
            let busy = cpu_busy(3 * REDRAW_PAUSE);
            quiet(&mut |st| st.busy_before = busy);
            for spec in &specs {
                if c.load(Ordering::Relaxed) {
                    with(&mut |st| st.cancelled = true);
                    break;
                }
                let label = format!("{} {}", spec.mechanism, crate::traffic::spec::human_bytes(spec.size as u64));
                quiet(&mut |st| {
                    st.current = label.clone();
                    st.sent = 0;
                });
                let result = crate::traffic::bench::run_one(spec, &exe, None, |sent| {
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
