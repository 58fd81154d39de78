//! `ipc-lab bench`: every combination of mechanism and size, with real child processes, reported
//! as a table, JSON or CSV.
//!
//! Fair by construction: every mechanism gets the same payload, the same reply size, the same
//! warm-up and the same framing and checksums; CPU time of both processes is reported so a spinning
//! shm reader is not mistaken for free; the placement (pinned or not) is printed with every row.

use std::io::Write;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::mechanism::MechanismId;
use crate::supervisor::RunEvent;
use crate::telemetry::{Event, Role};
use crate::traffic::report::RunReport;
use crate::traffic::spec::{MAX_CPUS, RunSpec, human_bytes};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            _ => Err(format!("unknown format '{s}' (known: table, json, csv)")),
        }
    }
}

/// The size sweep: 8 B to 1 MiB, a factor of 4 apart (and 1 MiB itself at the top).
pub const SWEEP: [usize; 10] = [8, 32, 128, 512, 2048, 8192, 32768, 131_072, 524_288, 1 << 20];

/// Where a run's processes go: `same-core` (all on CPU 0), `cross-core` (alternating between
/// CPUs 0 and 1), `unpinned` (the scheduler's choice), as a `--pin` list.
pub fn parse_placements(list: &str) -> Result<Vec<Option<Vec<usize>>>, String> {
    let mut out = Vec::new();
    for p in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let pin = match p {
            "same-core" => Some(vec![0]),
            "cross-core" => Some(vec![0, 1]),
            "unpinned" => None,
            other => return Err(format!("unknown placement '{other}' (known: same-core, cross-core, unpinned)")),
        };
        if !out.contains(&pin) {
            out.push(pin);
        }
    }
    if out.is_empty() {
        return Err("no placement given".into());
    }
    Ok(out)
}

/// Every combination to run: mechanism × size × placement × (for shm) wake-up, in that order;
/// with `observer`, each once with live per-message telemetry off and once on.
pub fn combinations(
    base: &RunSpec,
    mechanisms: &[MechanismId],
    sizes: &[usize],
    placements: &[Option<Vec<usize>>],
    shm_waits: &[crate::mechanism::ShmWait],
    observer: bool,
) -> Vec<RunSpec> {
    let mut out = Vec::new();
    for &mechanism in mechanisms {
        for &size in sizes {
            for pin in placements {
                let waits: &[crate::mechanism::ShmWait] =
                    if mechanism == MechanismId::Shm { shm_waits } else { &shm_waits[..1.min(shm_waits.len())] };
                for &shm_wait in waits {
                    for live in if observer { &[false, true][..] } else { &[false][..] } {
                        out.push(RunSpec {
                            mechanism,
                            size,
                            pin: pin.clone(),
                            shm_wait,
                            per_message_events: *live,
                            ..base.clone()
                        });
                    }
                }
            }
        }
    }
    out
}

/// The observer effect: for each pair of runs alike but for live telemetry (off, then on), how
/// much slower the median round trip (or one-way latency) and the throughput got, in percent.
pub fn observer_effect(reports: &[RunReport]) -> Vec<(String, f64, f64)> {
    let mut out = Vec::new();
    for pair in reports.windows(2) {
        let (off, on) = (&pair[0], &pair[1]);
        let alike = !off.live_telemetry
            && on.live_telemetry
            && (off.mechanism.as_str(), off.size, &off.placement, &off.shm_wait)
                == (on.mechanism.as_str(), on.size, &on.placement, &on.shm_wait);
        if !alike {
            continue;
        }
        let p50 = |r: &RunReport| r.rtt_ns.as_ref().or(r.one_way_ns.as_ref()).map(|l| l.p50 as f64);
        if let (Some(a), Some(b)) = (p50(off), p50(on))
            && a > 0.0
            && off.msgs_per_sec > 0.0
        {
            let wait = off.shm_wait.as_deref().map(|w| format!(" ({w})")).unwrap_or_default();
            let what = format!("{}{wait} {}, {}", off.mechanism, human_bytes(off.size as u64), off.placement);
            out.push((what, (b / a - 1.0) * 100.0, (1.0 - on.msgs_per_sec / off.msgs_per_sec) * 100.0));
        }
    }
    out
}

/// The observer effect as lines under the table.
pub fn render_observer(effects: &[(String, f64, f64)]) -> String {
    let mut s = String::new();
    if !effects.is_empty() {
        s.push_str(
            "observer effect: the same run with live per-message telemetry on (as the stage runs) against off \
             (one run each: a few % either way is within run-to-run noise; repeat before trusting it)\n",
        );
    }
    for (what, latency, throughput) in effects {
        s.push_str(&format!("  {what}: median latency {latency:+.1}%, throughput {:+.1}%\n", -throughput));
    }
    s
}

/// What this machine is, for a saved result: CPU model, CPUs, kernel, virtualized or not.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let virtualized =
        cpuinfo.lines().any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"));
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default();
    // SAFETY: sysconf only reads a system setting.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
    serde_json::json!({ "cpu_model": model, "cpus": cpus, "kernel": kernel, "virtualized": virtualized })
}

/// A result file: when, where, what was run, and the runs in `bench --format json`'s schema.
pub fn result_file(reports: &[RunReport], command: &str) -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let doc = serde_json::json!({
        "ipc_lab_results": 1,
        "date_unix": secs,
        "machine": machine(),
        "command": command,
        "runs": reports,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Parses "all" or a comma-separated list of mechanism ids.
pub fn parse_mechanisms(list: &str) -> Result<Vec<MechanismId>, String> {
    if list.trim() == "all" {
        return Ok(MechanismId::ALL.to_vec());
    }
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let m: MechanismId = item.parse()?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err("no mechanism given".into());
    }
    Ok(out)
}

/// Parses a CPU list such as "0", "0,1" or "0-3". Ranges are checked before they are expanded,
/// so a list can never ask for more memory than [`MAX_CPUS`] numbers.
/// `c`, if this machine has that CPU; otherwise an error that says which it has.
pub fn cpu_exists(c: usize) -> Result<usize, String> {
    // SAFETY: sysconf only reads a system setting.
    #[cfg(unix)]
    let configured = match unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) } {
        n if n > 0 => (n as usize).min(MAX_CPUS),
        _ => MAX_CPUS,
    };
    #[cfg(not(unix))]
    let configured = MAX_CPUS;
    if c < configured {
        Ok(c)
    } else {
        Err(format!("CPU {c} does not exist (this machine has CPUs 0-{})", configured - 1))
    }
}

pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("invalid CPU list '{list}' (examples: 0, 0,1, 0-3)");
    let exists = cpu_exists;
    let mut cpus = Vec::new();
    for item in list.split(',').map(str::trim) {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(exists(a)?..=exists(b)?);
            }
            None => cpus.push(exists(item.parse().map_err(|_| bad())?)?),
        }
        if cpus.len() > MAX_CPUS {
            return Err(format!("a CPU list names at most {MAX_CPUS} CPUs"));
        }
    }
    Ok(cpus)
}

/// Runs every spec in `specs`, in order, one report per run. A run that fails is reported as an
/// error line and the others still run. With `trace`, every run reports its messages (sampled at
/// high rates) and they go into it: that costs the runs some speed, which the trace's numbers
/// then include.
pub fn run_all(
    specs: &[RunSpec],
    exe: &Path,
    mut trace: Option<&mut crate::traffic::trace::TraceBuilder>,
) -> (Vec<RunReport>, Vec<String>) {
    let total_runs = specs.len() as u64;
    let per_run = specs.first().map_or(0, |s| s.warmup + s.count);
    let bar = ProgressBar::new(total_runs * per_run);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {wide_bar} {pos}/{len} msgs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (mechanism, size) = (spec.mechanism, spec.size);
        let done_before = i as u64 * per_run;
        bar.set_message(format!("{mechanism} {}", human_bytes(size as u64)));
        bar.set_position(done_before);
        match run_one(spec, exe, trace.as_deref_mut(), |sent| bar.set_position(done_before + sent.min(per_run))) {
            Ok(r) => reports.push(r),
            Err(e) => failures.push(format!("{mechanism} {}: {e}", human_bytes(size as u64))),
        }
    }
    bar.finish_and_clear();
    (reports, failures)
}

/// Runs one spec to its report; `on_sent` hears how many messages the first node has sent.
pub fn run_one(
    spec: &RunSpec,
    exe: &Path,
    mut trace: Option<&mut crate::traffic::trace::TraceBuilder>,
    mut on_sent: impl FnMut(u64),
) -> Result<RunReport, String> {
    let spec = RunSpec { per_message_events: spec.per_message_events || trace.is_some(), ..spec.clone() };
    if let Some(t) = trace.as_deref_mut() {
        let label = format!("{} {} {}", spec.mechanism, human_bytes(spec.size as u64), spec.pattern.as_str());
        t.begin_run(&label, &spec.topology());
    }
    let live = spec.per_message_events;
    let run = crate::supervisor::Run::start(spec, exe).map_err(|e| e.to_string())?;
    if let Some(t) = trace.as_deref_mut() {
        let workers: Vec<(u32, Vec<Role>)> = run.workers().iter().map(|w| (w.pid, w.roles.clone())).collect();
        t.processes(&workers);
    }
    let outcome = run.wait_with(|ev: &RunEvent| {
        if let RunEvent::Telemetry { event: Event::Progress { role: Role::Initiator, sent, .. }, .. } = ev {
            on_sent(*sent);
        }
        if let Some(t) = trace.as_deref_mut() {
            t.add(ev);
        }
    });
    let mut r = RunReport::from_outcome(&outcome)?;
    r.live_telemetry = live;
    Ok(r)
}

fn micros(nanos: u64) -> String {
    format!("{:.2}", nanos as f64 / 1000.0)
}

/// Renders reports in `format`.
pub fn render(reports: &[RunReport], format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(reports).unwrap_or_else(|e| format!("[] // {e}")) + "\n",
        Format::Csv => render_csv(reports),
        Format::Table => render_table(reports),
    }
}

fn render_table(reports: &[RunReport]) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let any_injected = reports.iter().any(|r| !r.injected.is_zero());
    // Runs at several placements say theirs in a column; otherwise the first line says it once.
    let mixed_placement = reports.iter().any(|r| r.placement != reports[0].placement);
    let lat_label = match reports.first().map(|r| r.pattern.as_str()) {
        Some("ping-pong") | None => "rtt",
        Some(_) => "one-way (end to end, slowest consumer)",
    };
    rows.push(
        [
            "mechanism",
            "size",
            "count",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "mean",
            // In ping-pong a message is a round trip, as the JSON's msgs_per_sec says.
            if lat_label == "rtt" { "round trips/s" } else { "msgs/s" },
            "MB/s",
            "cpu init",
            "cpu resp",
            "lost",
            "dup",
            "ooo",
            "corrupt",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(any_injected.then(|| "injected drop/dup/reorder/corrupt".to_string()))
        .collect(),
    );
    if mixed_placement {
        rows[0].insert(2, "placement".into());
    }
    for r in reports {
        let lat = r.rtt_ns.or(r.one_way_ns);
        let cell =
            |f: fn(&crate::traffic::report::LatencyNanos) -> u64| lat.as_ref().map_or("-".into(), |l| micros(f(l)));
        let mech0 = match &r.shm_wait {
            Some(w) => format!("{} ({w})", r.mechanism),
            None => r.mechanism.clone(),
        };
        let mech = if r.live_telemetry { format!("{mech0} +live") } else { mech0 };
        rows.push(vec![
            mech,
            human_bytes(r.size as u64),
            r.count.to_string(),
            cell(|l| l.p50),
            cell(|l| l.p90),
            cell(|l| l.p99),
            cell(|l| l.p999),
            cell(|l| l.max),
            lat.map_or("-".into(), |l| format!("{:.2}", l.mean / 1000.0)),
            format!("{:.0}", r.msgs_per_sec),
            format!("{:.1}", r.bytes_per_sec / 1e6),
            format!("{:.3}s", r.cpu_parent_secs),
            format!("{:.3}s", r.cpu_child_secs),
            r.lost.to_string(),
            r.duplicated.to_string(),
            r.out_of_order.to_string(),
            r.corrupted.to_string(),
        ]);
        let last = rows.len() - 1;
        if any_injected {
            let i = r.injected;
            rows[last].push(format!("{}/{}/{}/{}", i.dropped, i.duplicated, i.reordered, i.corrupted));
        }
        if mixed_placement {
            rows[last].insert(2, r.placement.clone());
        }
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    if let Some(r) = reports.first() {
        out.push_str(&format!(
            "{} latency in µs (p50..mean), {}, {} warm-up messages; cpu = CPU seconds of the first node (pinger, producer) / of all the others\n",
            lat_label,
            if mixed_placement { "placement per row" } else { r.placement.as_str() },
            r.warmup
        ));
        if r.faults != "none" {
            out.push_str(&format!("faults injected by the producers: {}\n", r.faults));
        }
    }
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == 0 || (mixed_placement && c == 2) {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    out
}

fn render_csv(reports: &[RunReport]) -> String {
    let mut out = String::from(
        "mechanism,shm_wait,size,pattern,count,warmup,placement,latency,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,mean_ns,msgs_per_sec,bytes_per_sec,cpu_parent_secs,cpu_child_secs,sent,received,lost,duplicated,out_of_order,corrupted,telemetry_dropped,injected_dropped,injected_duplicated,injected_reordered,injected_corrupted\n",
    );
    for r in reports {
        let (kind, lat) = match (r.rtt_ns, r.one_way_ns) {
            (Some(l), _) => ("rtt", Some(l)),
            (None, Some(l)) => ("one_way", Some(l)),
            _ => ("", None),
        };
        let l = |f: fn(&crate::traffic::report::LatencyNanos) -> String| lat.as_ref().map_or(String::new(), f);
        out.push_str(&format!(
            "{},{},{},{},{},{},\"{}\",{},{},{},{},{},{},{},{:.1},{:.1},{:.6},{:.6},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.mechanism,
            r.shm_wait.as_deref().unwrap_or(""),
            r.size,
            r.pattern,
            r.count,
            r.warmup,
            r.placement,
            kind,
            l(|l| l.p50.to_string()),
            l(|l| l.p90.to_string()),
            l(|l| l.p99.to_string()),
            l(|l| l.p999.to_string()),
            l(|l| l.max.to_string()),
            l(|l| format!("{:.1}", l.mean)),
            r.msgs_per_sec,
            r.bytes_per_sec,
            r.cpu_parent_secs,
            r.cpu_child_secs,
            r.sent,
            r.received,
            r.lost,
            r.duplicated,
            r.out_of_order,
            r.corrupted,
            r.telemetry_dropped,
            r.injected.dropped,
            r.injected.duplicated,
            r.injected.reordered,
            r.injected.corrupted
        ));
    }
    out
}

/// Writes `text` to `out` (a file) or stdout.
pub fn emit(text: &str, out: Option<&Path>) -> std::io::Result<()> {
    match out {
        Some(path) => std::fs::write(path, text),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_and_huge_ranges_are_refused_before_they_are_expanded() {
        assert_eq!(parse_cpu_list("0"), Ok(vec![0]));
        assert_eq!(parse_cpu_list("0,1"), Ok(vec![0, 1]));
        assert_eq!(parse_cpu_list("0-1"), Ok(vec![0, 1]));
        assert_eq!(parse_cpu_list(" 1 - 1 "), Ok(vec![1]));
        for bad in ["", "x", "1-0", "-", "0-", "0,,1", "1.5"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} must be refused");
        }
        // These once allocated (or overflowed) before checking: now they are refused at once.
        for huge in ["0-18446744073709551615", "0-400000000000", "18446744073709551615"] {
            assert!(parse_cpu_list(huge).unwrap_err().contains("does not exist"), "{huge}");
        }
    }
}
