//! The command line: machine-readable output has what it promises, and bad input gets one clear
//! error line and a non-zero exit, never a panic.

mod common;

use std::process::Command;

use common::exe;

fn ipc_lab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(exe()).args(args).output().expect("run ipc-lab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn bench_json_is_one_array_with_the_promised_keys() {
    let (code, stdout, stderr) =
        ipc_lab(&["bench", "--mechanism", "pipe,shm,thread", "--size", "64,4k", "--count", "300", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let runs: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    let runs = runs.as_array().expect("an array");
    assert_eq!(runs.len(), 6);
    for run in runs {
        for key in [
            "mechanism",
            "size",
            "pattern",
            "count",
            "rtt_ns",
            "msgs_per_sec",
            "bytes_per_sec",
            "cpu_parent_secs",
            "cpu_child_secs",
            "lost",
            "duplicated",
            "out_of_order",
            "corrupted",
        ] {
            assert!(run.get(key).is_some(), "missing {key} in {run}");
        }
        for p in ["p50", "p90", "p99", "p999", "max", "mean"] {
            assert!(run["rtt_ns"][p].as_f64().is_some_and(|v| v > 0.0), "rtt_ns.{p} in {run}");
        }
        assert_eq!(run["lost"], 0);
        assert!(run["msgs_per_sec"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bench_stream_reports_one_way_latency_and_csv_has_a_row_per_run() {
    let (code, stdout, stderr) =
        ipc_lab(&["bench", "-m", "fifo,mqueue", "--pattern", "stream", "--count", "500", "--format", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 4, "{stdout}");
    assert!(lines[0].starts_with("mechanism,"));
    assert!(lines[1..].iter().all(|l| l.contains(",stream,") && l.contains(",one_way,")), "{stdout}");
}

#[test]
fn bench_table_shows_units_and_placement() {
    let (code, stdout, stderr) = ipc_lab(&["bench", "-m", "pipe", "-s", "64", "-c", "200", "--pin", "0"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("µs"), "{stdout}");
    assert!(stdout.contains("both on CPU 0"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("pipe")), "{stdout}");
}

#[test]
fn bench_writes_to_a_file_with_out() {
    let path = std::env::temp_dir().join(format!("ipclab-test-out-{}.json", std::process::id()));
    let p = path.to_string_lossy().to_string();
    let (code, stdout, stderr) = ipc_lab(&["bench", "-m", "tcp", "-c", "100", "-f", "json", "--out", &p]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&path).expect("results file");
    let _ = std::fs::remove_file(&path);
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
}

fn assert_clear_error(args: &[&str], expect: &str) {
    let (code, stdout, stderr) = ipc_lab(args);
    assert_ne!(code, 0, "{args:?} should fail");
    assert!(stdout.is_empty(), "{args:?}: nothing on stdout, got {stdout}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{args:?}: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error:") && first.contains(expect), "{args:?}: {stderr}");
}

#[test]
fn bad_input_gets_one_clear_error_line() {
    assert_clear_error(&["bench", "--mechanism", "carrier-pigeon"], "unknown mechanism 'carrier-pigeon'");
    assert_clear_error(&["bench", "--size", "32MiB"], "exceeds the maximum payload 16 MiB");
    assert_clear_error(&["bench", "--size", "12 parsecs"], "invalid size");
    assert_clear_error(&["bench", "--count", "0"], "--count must be at least 1");
    assert_clear_error(&["bench", "--format", "yaml"], "unknown format 'yaml'");
    assert_clear_error(&["bench", "--pattern", "telepathy"], "unknown pattern");
    assert_clear_error(&["bench", "--shm-wait", "pray"], "unknown shm wait strategy");
    assert_clear_error(&["bench", "--pin", "4096"], "CPU 4096 does not exist");
    assert_clear_error(&["bench", "--count", "many"], "invalid value 'many'");
    assert_clear_error(&["bench", "--frobnicate"], "unexpected argument");
    assert_clear_error(&["worker", "{not json"], "worker spec is not valid");
    assert_clear_error(&["worker", r#"{"roles":[],"ports":[],"run":{"rate_per_sec":0.0}}"#], "rate must be between");
    assert_clear_error(&["bench", "--pin", "0-18446744073709551615"], "does not exist");
    assert_clear_error(&["bench", "--pin", "0-400000000000"], "does not exist");
    assert_clear_error(&["bench", "--pin", "1-0"], "invalid CPU list");
    assert_clear_error(&["bench", "--max-size", "4GiB"], "maximum payload");
    assert_clear_error(&["bench", "-m", "shm", "--shm-ring", "16"], "shm ring must be between");
    assert_clear_error(&["bench", "-p", "stream", "--inject", "drop=2"], "--inject");
    assert_clear_error(&["bench", "-p", "stream", "--inject", "smash=0.1"], "unknown fault 'smash'");
    assert_clear_error(&["bench", "--inject", "drop=0.1"], "faults need a one-way pattern");
    assert_clear_error(&["bench", "-p", "stream", "-s", "0", "--inject", "corrupt=0.5"], "needs a payload");
}

#[test]
fn bench_reports_injected_faults_beside_what_was_detected() {
    let (code, stdout, stderr) = ipc_lab(&[
        "bench",
        "-m",
        "pipe,mqueue",
        "-p",
        "stream",
        "-c",
        "2000",
        "-f",
        "json",
        "--inject",
        "drop=0.01,dup=0.01,reorder=0.01,corrupt=0.01,seed=5",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let runs: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    for run in runs.as_array().expect("an array") {
        let inj = &run["injected"];
        for (detected, injected) in [
            ("lost", "dropped"),
            ("duplicated", "duplicated"),
            ("out_of_order", "reordered"),
            ("corrupted", "corrupted"),
        ] {
            assert!(inj[injected].as_u64().is_some_and(|n| n > 0), "{injected} in {run}");
            assert_eq!(run[detected], inj[injected], "{detected} vs injected {injected}: {run}");
        }
        assert_eq!(run["faults"], "drop=0.01,dup=0.01,reorder=0.01,corrupt=0.01", "the rules beside the counts");
        let link = &run["links"][0];
        assert_eq!((link["from"].as_str(), link["to"].as_str()), (Some("producer"), Some("consumer")), "{run}");
        assert_eq!(link["injected"], *inj);
    }
    let (code, stdout, stderr) =
        ipc_lab(&["bench", "-m", "fifo", "-p", "stream", "-c", "500", "--inject", "drop=seq:3:4"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("faults injected by the producers: drop=seq:3:4"), "{stdout}");
    let row = stdout.lines().find(|l| l.starts_with("fifo")).expect("a fifo row");
    assert!(row.ends_with("2/0/0/0"), "the table shows what was injected: {row}");
}

#[test]
fn an_unavailable_mechanism_is_listed_and_refused() {
    let out = Command::new(exe()).args(["list", "mechanisms"]).env("IPC_LAB_UNAVAILABLE", "mqueue").output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.lines().any(|l| l.starts_with("mqueue") && l.contains("no: disabled")), "{listing}");
    assert!(listing.lines().any(|l| l.starts_with("pipe") && l.contains("yes")), "{listing}");
    let out =
        Command::new(exe()).args(["bench", "-m", "mqueue"]).env("IPC_LAB_UNAVAILABLE", "mqueue").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.starts_with("error: mechanism 'mqueue' is not available on this platform"), "{stderr}");
}

#[test]
fn list_mechanisms_names_all_seven() {
    let (code, stdout, _) = ipc_lab(&["list", "mechanisms"]);
    assert_eq!(code, 0);
    for id in ["pipe", "fifo", "unix", "tcp", "shm", "mqueue", "thread"] {
        assert!(stdout.lines().any(|l| l.starts_with(id)), "{id} missing from {stdout}");
    }
}

/// The latency lab's sweep, headless: sizes 8 B to 1 MiB a factor of 4 apart, each placement,
/// each shm wake-up, the observer effect, and a result file with the machine it ran on.
#[test]
fn bench_sweeps_sizes_placements_and_wakeups_and_saves_a_result_file() {
    let (code, stdout, stderr) =
        ipc_lab(&["bench", "-m", "pipe", "-s", "sweep", "-c", "40", "--warmup", "0", "-f", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let runs: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    let sizes: Vec<u64> = runs.as_array().expect("array").iter().map(|r| r["size"].as_u64().expect("size")).collect();
    assert_eq!(sizes, ipc_lab::traffic::bench::SWEEP.iter().map(|&s| s as u64).collect::<Vec<_>>());

    let save = std::env::temp_dir().join(format!("ipclab-test-save-{}.json", std::process::id()));
    let (code, _, stderr) = ipc_lab(&[
        "bench",
        "-m",
        "shm",
        "--shm-wait",
        "spin,futex",
        "--placement",
        "same-core,unpinned",
        "-c",
        "200",
        "-f",
        "json",
        "--save",
        save.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&save).expect("saved")).expect("valid JSON");
    let _ = std::fs::remove_file(&save);
    assert_eq!(saved["ipc_lab_results"], 1);
    for key in ["cpu_model", "cpus", "kernel", "virtualized"] {
        assert!(!saved["machine"][key].is_null(), "the machine's {key} is recorded");
    }
    let combos: std::collections::BTreeSet<(String, String)> = saved["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| (r["shm_wait"].as_str().unwrap_or("").to_string(), r["placement"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(combos.len(), 4, "2 wake-ups × 2 placements: {combos:?}");
    // Each run carries its latency distribution, ending at its maximum with every message at or below.
    for r in saved["runs"].as_array().expect("runs") {
        let cdf = r["latency_cdf"].as_array().expect("a latency CDF");
        let last = cdf.last().expect("points");
        assert_eq!((last[0].as_u64(), last[1].as_f64()), (r["rtt_ns"]["max"].as_u64(), Some(1.0)), "{r}");
    }
    // A table of several placements says each row's, not the first run's for all.
    let (code, stdout, stderr) =
        ipc_lab(&["bench", "-m", "pipe", "-s", "64", "-c", "200", "--placement", "same-core,unpinned"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().next().is_some_and(|l| l.contains("placement per row")), "{stdout}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("pipe")).collect();
    assert!(rows.len() == 2 && rows[0].contains("both on CPU 0") && rows[1].contains("unpinned"), "{stdout}");

    let (code, stdout, stderr) = ipc_lab(&["bench", "-m", "pipe", "-s", "64", "-c", "2000", "--observer"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("pipe +live") && stdout.contains("observer effect"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.contains("median latency") && l.contains('%') && l.contains("throughput")),
        "{stdout}"
    );

    assert_clear_error(&["bench", "--placement", "nowhere"], "unknown placement 'nowhere'");
}

/// `run --help` offers exactly the variants the scenario registry has, each of which `run`
/// accepts (a list written by hand once offered race-counter's "mutex", which it refused).
#[test]
fn run_help_names_the_variants_the_registry_has() {
    let (code, help, stderr) = ipc_lab(&["run", "--help"]);
    assert_eq!(code, 0, "{stderr}");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let at = help.find("--variant <NAME>").expect("--variant in the help");
    let rest = &help[at..];
    let (open, close) = (rest.find('(').expect("a list"), rest.find(')').expect("a list's end"));
    let offered: Vec<(String, Vec<String>)> = rest[open + 1..close]
        .split("; ")
        .map(|group| {
            let (id, names) = group.split_once(": ").unwrap_or_else(|| panic!("'{group}' is not 'id: names'"));
            (id.to_string(), names.split(", ").map(str::to_string).collect())
        })
        .collect();
    let registry: Vec<(String, Vec<String>)> = ipc_lab::programs::spec::builtin()
        .into_iter()
        .map(|s| s.expect("a built-in parses"))
        .map(|s| (s.id.clone(), s.all_variants().into_iter().map(|(v, _)| v.to_string()).collect::<Vec<_>>()))
        .map(|(id, v)| (id, v.into_iter().filter(|v| !v.is_empty() && v != "fixed").collect::<Vec<_>>()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    assert_eq!(offered, registry, "the help's variants are the registry's");
    for (id, names) in &offered {
        let scenario = ipc_lab::programs::spec::resolve(id).expect("a built-in");
        for name in names {
            assert!(scenario.processes(name).is_ok(), "{id} has no variant {name}, yet the help offers it");
        }
    }
}

/// `token new` writes 64 hex digits readable by its owner only, and never overwrites a token.
#[test]
fn token_new_writes_a_private_token_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ipclab-cli-token-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("job.token");
    let path = file.to_str().unwrap();
    let (code, out, err) = ipc_lab(&["token", "new", path]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.trim().len() == 64 && text.trim().chars().all(|c| c.is_ascii_hexdigit()), "{text:?}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let again = std::fs::read_to_string(&file).unwrap();
    assert_clear_error(&["token", "new", path], "cannot create");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), again, "the first token is kept");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without the `mpi` feature, the MPI engine is one line that says how to get it, and exit 2.
#[cfg(not(feature = "mpi"))]
#[test]
fn engine_mpi_without_the_feature_says_how_to_build_it() {
    let (code, stdout, stderr) = ipc_lab(&["job", "--engine", "mpi", "--workers", "2"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cargo build --release --features mpi"), "{stderr}");
    assert!(stderr.contains("openmpi-bin") && stderr.contains("libopenmpi-dev"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
}
