//! The MPI engine (`ipc-lab job --engine mpi`) over the real mpirun and the real binary: exact
//! for static and dynamic with 1, 2 and 4 workers, with the items shipped or made by the ranks;
//! a wrong rank caught by the supervisor's own check; the run folded into the Distributed view's
//! model through the same session; and no rank or mpirun left behind, whether the job ends, is
//! stopped, or its supervisor is killed. Needs `--features mpi` and mpirun on PATH (`.ci/run`
//! installs Open MPI and runs this target).
#![cfg(feature = "mpi")]

mod common;
#[path = "common/ui.rs"]
mod ui;

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::exe;
use ipc_lab::jobs::coordinator::JobEvent;
use ipc_lab::jobs::spec::{JobArgs, JobSpec};

/// One MPI job at a time: each is N+1 processes on a machine of two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// PIDs of processes whose command line has `mpi-rank` and `marker` (a job's unique data seed):
/// its ranks, and mpirun, which carries the same command line.
fn ranks_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("mpi-rank") && cmd.contains(marker) {
            out.push(pid);
        }
    }
    out
}

/// Waits up to 5 s for every rank of the job marked `marker` to be gone.
fn assert_no_rank_left(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = ranks_with(marker);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "ranks left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A seed no other test uses, so that its ranks can be found by their command line.
fn marker() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::process::id() as u64 * 1000 + 700_000_000 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Runs `ipc-lab job --engine mpi LINE --format json`: exit code, the outcome, stderr.
fn mpi_job(line: &str) -> (i32, serde_json::Value, String) {
    let (code, json, stderr, _) = mpi_job_text(line);
    (code, json, stderr)
}

/// `mpi_job` with the JSON's text too (`serde_json::Value` cannot hold a u128 sum exactly).
fn mpi_job_text(line: &str) -> (i32, serde_json::Value, String, String) {
    let args: Vec<&str> = line.split_whitespace().collect();
    let out = Command::new(exe())
        .args(["job", "--engine", "mpi", "--format", "json"])
        .args(&args)
        .output()
        .expect("run ipc-lab");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn static_and_dynamic_are_exact_with_one_two_and_four_workers() {
    let _one = one_at_a_time();
    for schedule in ["static", "dynamic"] {
        for workers in [1, 2, 4] {
            for (op, ship) in [("sum", "data"), ("histogram:6", "work"), ("minmax", "data")] {
                let seed = marker();
                let line = format!(
                    "--workers {workers} --schedule {schedule} --op {op} --ship {ship} --data random:120000:{seed} --work 2"
                );
                let (code, o, stderr) = mpi_job(&line);
                assert_eq!(code, 0, "{line}: {stderr}");
                assert_eq!(o["exact"], true, "{line}: {} against {}", o["result"], o["expected"]);
                assert_eq!(o["spec"]["engine"], "mpi");
                let w = o["workers"].as_array().expect("workers");
                assert_eq!(w.len(), workers, "{line}");
                let items: u64 = w.iter().map(|w| w["items"].as_u64().unwrap()).sum();
                assert_eq!(items, 120_000, "{line}: every item once");
                let chunks = o["chunks"].as_array().expect("chunks");
                assert!(chunks.iter().all(|c| c["steps"].as_array().unwrap().iter().any(|s| s["what"] == "done")));
                if schedule == "static" {
                    assert_eq!(chunks.len(), workers, "{line}: one chunk per worker");
                } else {
                    assert!(chunks.len() > workers, "{line}: a queue of chunks");
                }
                // The items travelled only when shipped.
                let bytes = o["bytes_moved"].as_u64().unwrap();
                if ship == "data" {
                    assert!(bytes >= 120_000 * 8, "{line}: {bytes} bytes");
                } else {
                    assert!(bytes < 120_000, "{line}: {bytes} bytes");
                }
                assert_no_rank_left(&seed.to_string());
            }
        }
    }
}

#[test]
fn a_data_file_is_scattered_and_summed_exactly() {
    let _one = one_at_a_time();
    let path = std::env::temp_dir().join(format!("ipc-lab-mpi-data-{}.bin", std::process::id()));
    let values: Vec<u64> = (0..30_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    std::fs::write(&path, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let sum: u128 = values.iter().map(|&v| v as u128).sum();
    for schedule in ["static", "dynamic"] {
        let line = format!("--workers 3 --schedule {schedule} --data file:{}", path.display());
        let (code, o, stderr, text) = mpi_job_text(&line);
        assert_eq!(code, 0, "{line}: {stderr}");
        assert_eq!(o["exact"], true, "{line}");
        assert!(text.contains(&format!("\"sum\": {sum}")), "{line}: a sum beyond 64 bits, exact: {}", o["result"]);
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_rank_that_answers_wrong_is_caught_by_the_supervisors_own_check() {
    let _one = one_at_a_time();
    for schedule in ["static", "dynamic"] {
        let line = format!("--workers 2 --schedule {schedule} --data range:100000 --wrong-worker 2");
        let (code, o, stderr) = mpi_job(&line);
        assert_eq!(code, 1, "{line}: {stderr}");
        assert_eq!(o["exact"], false, "{line}");
        let wrong = o["wrong_chunks"].as_array().expect("wrong chunks");
        assert!(!wrong.is_empty(), "{line}: the wrong chunks are named");
        // Every wrong chunk is one w2 answered.
        for c in wrong {
            let steps = o["chunks"][c.as_u64().unwrap() as usize]["steps"].as_array().unwrap();
            assert!(steps.iter().any(|s| s["what"] == "done" && s["worker"] == 2), "{line}: {steps:?}");
        }
    }
}

#[test]
fn the_text_report_is_ours_and_names_the_engine() {
    let _one = one_at_a_time();
    let out = Command::new(exe())
        .args(["job", "--engine", "mpi", "--workers", "2", "--data", "range:50000"])
        .output()
        .expect("run ipc-lab");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().next().is_some_and(|l| l.contains("MPI")), "{text}");
    assert!(text.contains("result: 1,250,025,000") && text.contains("exact"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("w2 ")), "{text}");
}

#[test]
fn an_mpi_run_folds_into_the_views_model_through_the_session() {
    use ipc_lab::jobs::model::{ChunkState, JobModel, SegKind};
    use ipc_lab::jobs::session::{JobSession, Update};
    let _one = one_at_a_time();
    let spec = JobSpec::from_args(
        &JobArgs::parse_line("--engine mpi --workers 2 --schedule dynamic --chunk 20000 --data range:200000 --work 5")
            .unwrap(),
    )
    .unwrap();
    let s = JobSession::start(spec, exe(), std::sync::Arc::new(|| {})).expect("session");
    let mut model = JobModel::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while model.outcome.is_none() && model.failed.is_none() {
        assert!(Instant::now() < deadline, "the MPI job did not end");
        for u in s.updates() {
            if let Update::Event(e) = u {
                model.apply(e);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(model.failed, None);
    let o = model.outcome.as_ref().expect("an outcome");
    assert!(o.exact);
    assert_eq!(model.chunks.len(), 10);
    assert!(model.chunks.iter().all(|c| matches!(c.state, ChunkState::Done { .. })), "the chunk strip is all done");
    assert_eq!(model.workers.len(), 2, "a lane per worker rank");
    for w in &model.workers {
        assert!(w.pid.is_some(), "a local rank shows its PID");
        assert!(w.segments.iter().any(|s| s.kind == SegKind::Compute), "w{} has computing in its lane", w.id);
        assert!(w.segments.iter().any(|s| s.kind == SegKind::Receive), "w{} received its items", w.id);
    }
    let pids: Vec<u32> = model.workers.iter().filter_map(|w| w.pid).collect();
    drop(s);
    for pid in pids {
        assert!(!ipc_lab::mechanism::process_alive(pid), "rank {pid} outlived its job");
    }
}

#[test]
fn stopping_an_mpi_job_ends_every_rank() {
    use ipc_lab::jobs::session::{JobSession, Update};
    let _one = one_at_a_time();
    let seed = marker();
    let line = format!("--engine mpi --workers 2 --data random:50000000:{seed} --work 400 --ship work");
    let spec = JobSpec::from_args(&JobArgs::parse_line(&line).unwrap()).unwrap();
    let s = JobSession::start(spec, exe(), std::sync::Arc::new(|| {})).expect("session");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut started = false;
    while !started {
        assert!(Instant::now() < deadline, "the MPI job did not start");
        started = s.updates().any(|u| matches!(u, Update::Event(JobEvent::Started { .. })));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!ranks_with(&seed.to_string()).is_empty(), "the ranks run");
    let t = Instant::now();
    drop(s);
    assert!(t.elapsed() < Duration::from_secs(5), "stopping took {:?}", t.elapsed());
    assert_no_rank_left(&seed.to_string());
}

/// Starts a supervisor of a long MPI job, kills it once `up` of its processes (mpirun and
/// ranks) run, and checks that none is left.
fn kill_the_supervisor_once(up: usize) {
    let seed = marker();
    let data = format!("random:50000000:{seed}");
    let mut sup = Command::new(exe())
        .args(["job", "--engine", "mpi", "--workers", "2", "--work", "400", "--ship", "work", "--data", &data])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ipc-lab");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ranks_with(&seed.to_string()).len() < up {
        assert!(Instant::now() < deadline, "only {} of {up} processes started", ranks_with(&seed.to_string()).len());
        std::thread::sleep(Duration::from_millis(1));
    }
    sup.kill().unwrap();
    sup.wait().unwrap();
    assert_no_rank_left(&seed.to_string());
}

#[test]
fn killing_the_supervisor_takes_mpirun_and_every_rank_with_it() {
    let _one = one_at_a_time();
    kill_the_supervisor_once(3);
}

/// The supervisor killed at any moment of the start, even while mpirun is still launching the
/// ranks (a moment when a signalled mpirun was seen to hang for good): nothing is left.
#[test]
fn killing_the_supervisor_while_mpirun_starts_leaves_nothing() {
    let _one = one_at_a_time();
    for up in [1, 2, 3] {
        kill_the_supervisor_once(up);
    }
}

#[test]
fn a_hostfile_places_the_ranks() {
    let _one = one_at_a_time();
    let path = std::env::temp_dir().join(format!("ipc-lab-mpi-hosts-{}", std::process::id()));
    std::fs::write(&path, "localhost slots=8\n").unwrap();
    let line = format!("--workers 2 --data range:100000 --hostfile {}", path.display());
    let (code, o, stderr) = mpi_job(&line);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 0, "{line}: {stderr}");
    assert_eq!(o["exact"], true);
}

#[test]
fn options_mpi_cannot_honour_are_refused_by_name() {
    for (line, says) in [
        ("--as thread", "--as thread"),
        ("--mechanism shm", "--mechanism"),
        ("--ship shared", "--ship shared"),
        ("--kill-worker 1@0.1", "--kill-worker"),
        ("--respawn", "--respawn"),
        ("--add-worker-at 0.1", "--add-worker-at"),
        ("--inject corrupt=0.1", "--inject"),
        ("--heartbeat-ms 50", "--heartbeat-ms"),
        ("--sweep-workers 1,2", "--sweep-workers"),
    ] {
        let (code, _, stderr) = mpi_job(line);
        assert_eq!(code, 2, "{line}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{line}: one line: {stderr}");
        assert!(stderr.contains(says) && stderr.contains("--engine mpi"), "{line}: {stderr}");
    }
}

#[test]
fn the_view_shows_the_same_job_on_both_engines_side_by_side() {
    use egui_kittest::kittest::{NodeT, Queryable};
    let _one = one_at_a_time();
    let mut h = ui::harness(ipc_lab::app::AppOptions {
        job: Some("--workers 2 --schedule dynamic --data range:1000000 --work 5".into()),
        ..Default::default()
    });
    h.run_steps(2);
    for (engine, word) in [("mpi", "MPI"), ("ours", "ours")] {
        h.get_by_label(word).click();
        h.run_steps(2);
        assert_eq!(h.state().ui_state.jobs.args.engine, engine);
        // A sweep, a comparison of kinds and workers from other hosts are our engine's alone:
        // with MPI chosen they are not offered (a sweep ran ours under MPI's name).
        let mpi = engine == "mpi";
        for button in ["Sweep 1, 2, 4 workers", "Processes, threads, tasks", "Workers from other hosts"] {
            let enabled = !h.get_by_label(button).accesskit_node().is_disabled();
            assert_eq!(enabled, !mpi, "{button} with the {engine} engine");
        }
        h.get_by_label("Start job").click();
        ui::step_until(&mut h, Duration::from_secs(60), "the job to end", |app| {
            let m = &app.ui_state.jobs.model;
            !app.ui_state.jobs.is_running() && (m.outcome.is_some() || m.failed.is_some())
        });
        let m = &h.state().ui_state.jobs.model;
        assert!(m.outcome.as_ref().is_some_and(|o| o.exact && o.spec.engine.as_str() == engine), "{:?}", m.failed);
    }
    h.run_steps(2);
    h.get_by_label("The same job on each engine (last run of each)");
    let times = &h.state().ui_state.jobs.engines;
    let spec = h.state().ui_state.jobs.spec().unwrap();
    let rows: Vec<&str> = times.of(&spec).iter().map(|r| r.engine.as_str()).collect();
    assert_eq!(rows, ["ours", "mpi"], "ours first, then MPI");
    assert!(times.of(&spec).iter().all(|r| r.exact && r.elapsed_ns > 0));
}
