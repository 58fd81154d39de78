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
use crate::report::RunReport;
use crate::scenario::{MAX_CPUS, RunSpec, human_bytes};
use crate::supervisor::RunEvent;
use crate::telemetry::{Event, Role};

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
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("invalid CPU list '{list}' (examples: 0, 0,1, 0-3)");
    // SAFETY: sysconf only reads a system setting.
    #[cfg(unix)]
    let configured = match unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) } {
        n if n > 0 => (n as usize).min(MAX_CPUS),
        _ => MAX_CPUS,
    };
    #[cfg(not(unix))]
    let configured = MAX_CPUS;
    let exists = |c: usize| {
        if c < configured {
            Ok(c)
        } else {
            Err(format!("CPU {c} does not exist (this machine has CPUs 0-{})", configured - 1))
        }
    };
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

/// Runs every (mechanism, size) combination of `base` and returns one report per run, in order.
/// A run that fails is reported as an error line and the others still run.
/// With `trace`, every run reports its messages (sampled at high rates) and they go into it:
/// that costs the runs some speed, which the trace's numbers then include.
pub fn run_all(
    base: &RunSpec,
    mechanisms: &[MechanismId],
    sizes: &[usize],
    exe: &Path,
    mut trace: Option<&mut crate::trace::TraceBuilder>,
) -> (Vec<RunReport>, Vec<String>) {
    let total_runs = (mechanisms.len() * sizes.len()) as u64;
    let per_run = base.warmup + base.count;
    let bar = ProgressBar::new(total_runs * per_run);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {wide_bar} {pos}/{len} msgs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (i, &mechanism) in mechanisms.iter().enumerate() {
        for (j, &size) in sizes.iter().enumerate() {
            let done_before = (i * sizes.len() + j) as u64 * per_run;
            bar.set_message(format!("{mechanism} {}", human_bytes(size as u64)));
            bar.set_position(done_before);
            let spec = RunSpec { mechanism, size, per_message_events: trace.is_some(), ..base.clone() };
            if let Some(t) = trace.as_deref_mut() {
                let label = format!("{mechanism} {} {}", human_bytes(size as u64), spec.pattern.as_str());
                t.begin_run(&label, &spec.topology());
            }
            let result = crate::supervisor::Run::start(spec, exe)
                .map(|run| {
                    if let Some(t) = trace.as_deref_mut() {
                        let workers: Vec<(u32, Vec<Role>)> =
                            run.workers().iter().map(|w| (w.pid, w.roles.clone())).collect();
                        t.processes(&workers);
                    }
                    run.wait_with(|ev: &RunEvent| {
                        if let RunEvent::Telemetry {
                            event: Event::Progress { role: Role::Initiator, sent, .. }, ..
                        } = ev
                        {
                            bar.set_position(done_before + sent.min(&per_run));
                        }
                        if let Some(t) = trace.as_deref_mut() {
                            t.add(ev);
                        }
                    })
                })
                .map_err(|e| e.to_string())
                .and_then(|o| RunReport::from_outcome(&o));
            match result {
                Ok(r) => reports.push(r),
                Err(e) => failures.push(format!("{mechanism} {}: {e}", human_bytes(size as u64))),
            }
        }
    }
    bar.finish_and_clear();
    (reports, failures)
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
    for r in reports {
        let lat = r.rtt_ns.or(r.one_way_ns);
        let cell = |f: fn(&crate::report::LatencyNanos) -> u64| lat.as_ref().map_or("-".into(), |l| micros(f(l)));
        let mech = match &r.shm_wait {
            Some(w) => format!("{} ({w})", r.mechanism),
            None => r.mechanism.clone(),
        };
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
        if any_injected {
            let i = r.injected;
            let last = rows.len() - 1;
            rows[last].push(format!("{}/{}/{}/{}", i.dropped, i.duplicated, i.reordered, i.corrupted));
        }
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    if let Some(r) = reports.first() {
        out.push_str(&format!(
            "{} latency in µs (p50..mean), {}, {} warm-up messages; cpu = CPU seconds of the first node (pinger, producer) / of all the others\n",
            lat_label, r.placement, r.warmup
        ));
        if r.faults != "none" {
            out.push_str(&format!("faults injected by the producers: {}\n", r.faults));
        }
    }
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(
                |(c, cell)| {
                    if c == 0 { format!("{cell:<w$}", w = widths[c]) } else { format!("{cell:>w$}", w = widths[c]) }
                },
            )
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
        let l = |f: fn(&crate::report::LatencyNanos) -> String| lat.as_ref().map_or(String::new(), f);
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
