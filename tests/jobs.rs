//! Jobs over real processes: the gathered result is exact over every mechanism and every kind of
//! worker; killed and stopped workers are noticed, their chunks requeued, late results counted
//! once; nothing is left behind; bad input is refused with exit code 2.

mod common;

use std::process::Command;
use std::sync::Mutex;

use common::{assert_nothing_left, exe};
use crossbeam::channel::unbounded;
use ipc_lab::jobs::coordinator::{JobCommand, JobEvent, JobOutcome, Lost, Sig, Step, run};
use ipc_lab::jobs::spec::{JobArgs, JobSpec};

/// One job at a time: they time themselves and the machine has two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn job(line: &str) -> (JobOutcome, Vec<JobEvent>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    job_alone(line)
}

/// `job` for a caller that already holds the lock (a measurement of several runs).
fn job_alone(line: &str) -> (JobOutcome, Vec<JobEvent>) {
    let spec = JobSpec::from_args(&JobArgs::parse_line(line).expect(line)).expect(line);
    let mut events = Vec::new();
    let out = run(&spec, &exe(), None, &mut |e| events.push(e)).unwrap_or_else(|e| panic!("{line}: {e}"));
    check_clean(&out);
    (out, events)
}

fn check_clean(out: &JobOutcome) {
    let pids: Vec<u32> = out.workers.iter().filter_map(|w| w.pid).filter(|&p| p != std::process::id()).collect();
    assert_nothing_left(out.resource_prefix.as_deref().unwrap_or("ipc-lab-none-"), &pids);
}

#[test]
fn every_mechanism_gathers_the_exact_result() {
    for m in ["pipe", "fifo", "unix", "tcp", "shm", "mqueue"] {
        for (schedule, op) in [("static", "sum"), ("dynamic --chunk 7777", "histogram:5"), ("dynamic", "minmax")] {
            let line = format!("--mechanism {m} --workers 3 --schedule {schedule} --op {op} --data random:200000:9");
            let (out, _) = job(&line);
            assert!(
                out.exact,
                "{line}: {:?} against {:?}, wrong chunks {:?}",
                out.result, out.expected, out.wrong_chunks
            );
            assert!(out.bytes_moved >= 200_000 * 8, "{line}: the items travelled ({} bytes)", out.bytes_moved);
            assert_eq!(out.workers.iter().map(|w| w.items).sum::<u64>(), 200_000, "{line}: every item once");
        }
    }
}

#[test]
fn threads_and_tasks_gather_the_exact_result_too() {
    for kind in ["thread", "async", "async-1"] {
        for ship in ["data", "work"] {
            let line =
                format!("--as {kind} --workers 4 --schedule dynamic --ship {ship} --data range:1000003 --work 3");
            let (out, _) = job(&line);
            assert!(out.exact, "{line}: {:?}", out.result);
            assert_eq!(out.result, ipc_lab::jobs::compute::Partial::Sum(1_000_003u128 * 1_000_004 / 2));
        }
    }
}

#[test]
fn shipping_work_or_a_shared_segment_moves_no_items() {
    let (data, _) = job("--workers 2 --mechanism shm --ship data --data range:300000");
    let (work, _) = job("--workers 2 --mechanism shm --ship work --data range:300000");
    let (shared, _) = job("--workers 2 --mechanism shm --ship shared --data range:300000");
    for o in [&data, &work, &shared] {
        assert!(o.exact);
    }
    assert!(data.bytes_moved >= 300_000 * 8);
    assert!(work.bytes_moved < 4096 && shared.bytes_moved < 4096, "{} {}", work.bytes_moved, shared.bytes_moved);
}

#[test]
fn a_data_file_is_summed_exactly() {
    let path = std::env::temp_dir().join(format!("ipc-lab-job-data-{}.bin", std::process::id()));
    let values: Vec<u64> = (0..50_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    std::fs::write(&path, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    for ship in ["data", "work"] {
        let (out, _) = job(&format!("--workers 3 --ship {ship} --data file:{}", path.display()));
        assert_eq!(out.result, ipc_lab::jobs::compute::Partial::Sum(values.iter().map(|&v| v as u128).sum()));
        assert!(out.exact);
    }
    std::fs::remove_file(&path).unwrap();
    for fits in ["--inject delay=249", "--inject delay=200:49", "--inject delay=250 --heartbeat-ms 101"] {
        assert!(JobSpec::from_args(&JobArgs::parse_line(fits).unwrap()).is_ok(), "{fits}");
    }
}

#[test]
fn a_worker_killed_while_computing_loses_nothing() {
    let (out, events) = job(
        "--workers 2 --schedule dynamic --chunk 200000 --data range:6000000 --work 40 --ship work --kill-worker 1@0.15",
    );
    assert!(out.exact, "{:?} against {:?}", out.result, out.expected);
    assert!(out.requeued >= 1, "the dead worker's chunk went back to the queue");
    assert!(
        events.iter().any(|e| matches!(e, JobEvent::Lost { worker: 1, how: Lost::Died { .. }, .. })),
        "w1's death was noticed"
    );
    assert_eq!(out.workers[0].fate, "killed (SIGKILL)");
    let told: Vec<&Step> = out.chunks.iter().flat_map(|c| &c.steps).collect();
    assert!(told.iter().any(|s| matches!(s, Step::Requeued { from: 1, .. })), "a chunk's history says so");
}

#[test]
fn a_worker_killed_while_its_items_are_sent_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // Two chunks of 8 million items (64 MiB each) through a pipe: w1 is killed as soon as its
    // chunk is assigned, while the coordinator writes its items.
    let spec = JobSpec::from_args(&JobArgs::parse_line("--workers 2 --data range:16000000 --mechanism pipe").unwrap())
        .unwrap();
    let (tx, rx) = unbounded();
    let mut events = Vec::new();
    let out = run(&spec, &exe(), Some(&rx), &mut |e| {
        if matches!(e, JobEvent::Assigned { worker: 1, .. }) {
            tx.send(JobCommand::Signal { worker: 1, signal: Sig::Kill }).unwrap();
        }
        events.push(e);
    })
    .expect("the job ends");
    check_clean(&out);
    assert!(out.exact);
    let sent_to_w1 = events.iter().any(|e| matches!(e, JobEvent::Sent { worker: 1, .. }));
    assert!(!sent_to_w1, "w1 died before its 64 MiB had all gone through the pipe");
    assert!(out.chunks[0].steps.iter().any(|s| matches!(s, Step::Requeued { from: 1, .. })), "{:?}", out.chunks[0]);
    assert!(out.chunks[0].steps.iter().any(|s| matches!(s, Step::Done { worker: 2, .. })), "{:?}", out.chunks[0]);
}

#[test]
fn a_stopped_worker_is_noticed_by_its_silence_and_its_late_result_counted_once() {
    let (out, events) =
        job("--workers 2 --schedule dynamic --chunk 500000 --data range:20000000 --work 40 --ship work \
         --heartbeat-ms 50 --stop-worker 1@0.2 --continue-worker 1@1.5");
    assert!(out.exact, "{:?}", out.result);
    let silent = events.iter().find_map(|e| match e {
        JobEvent::Lost { worker: 1, how: Lost::Silent { after_ms, state }, .. } => Some((*after_ms, *state)),
        _ => None,
    });
    let (after_ms, state) = silent.expect("w1's silence was noticed");
    assert!(after_ms >= 250, "not before five heartbeats: {after_ms} ms");
    assert_eq!(state, Some('T'), "the kernel showed it stopped");
    assert!(out.duplicates >= 1, "w1's late result came back and was ignored");
    assert!(events.iter().any(|e| matches!(e, JobEvent::Duplicate { worker: 1, .. })));
    // Counted once: every chunk done exactly once, every item once.
    for c in &out.chunks {
        assert_eq!(c.steps.iter().filter(|s| matches!(s, Step::Done { .. })).count(), 1, "{c:?}");
    }
}

#[test]
fn respawned_and_added_workers_join_the_job() {
    let (out, events) =
        job("--workers 2 --schedule dynamic --chunk 100000 --data range:4000000 --work 40 --ship work \
         --kill-worker 2@0.1 --respawn --add-worker-at 0.2");
    assert!(out.exact);
    assert!(out.workers.len() >= 4, "w3 replaces w2 and w4 is added: {}", out.workers.len());
    assert!(events.iter().any(|e| matches!(e, JobEvent::WorkerUp { replaces: Some(2), .. })));
    assert!(out.workers[2..].iter().any(|w| w.chunks > 0), "the newcomers computed chunks");
}

#[test]
fn corrupted_results_are_computed_again() {
    let (out, _) = job("--workers 2 --schedule dynamic --chunk 5000 --data range:400000 --inject corrupt=0.2,seed=4");
    assert!(out.exact);
    let corrupt = out.chunks.iter().flat_map(|c| &c.steps).filter(|s| matches!(s, Step::Corrupt { .. })).count();
    assert!(corrupt >= 1, "one in five results arrives damaged and is caught");
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(exe()).arg("job").args(args).output().expect("runs")
}

#[test]
fn the_cli_says_what_is_wrong_and_exits_2() {
    let path = std::env::temp_dir().join(format!("ipc-lab-job-odd-{}.bin", std::process::id()));
    std::fs::write(&path, [0u8; 20]).unwrap();
    let file = format!("file:{}", path.display());
    for (args, says) in [
        (vec!["--workers", "0"], "--workers"),
        (vec!["--schedule", "dynamic", "--chunk", "0"], "--chunk"),
        (vec!["--data", file.as_str()], "20 bytes"),
        (vec!["--op", "median"], "--op"),
        // Both ways, 500 ms: the silence limit (5 × 100 ms) could not tell it from a lost worker.
        (vec!["--inject", "delay=250"], "raise --heartbeat-ms above 100"),
        (vec!["--inject", "delay=200:50"], "raise --heartbeat-ms above 100"),
    ] {
        let out = cli(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(says), "{args:?}: {err}");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn the_cli_json_holds_the_result_the_check_and_the_histories() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = cli(&["--workers", "2", "--data", "range:100000", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["result"]["sum"].as_u64(), Some(5_000_050_000));
    assert_eq!(v["expected"]["sum"].as_u64(), Some(5_000_050_000));
    assert_eq!(v["exact"], true);
    assert_eq!(v["workers"].as_array().map(Vec::len), Some(2));
    assert!(v["workers"][0]["compute_ns"].is_u64());
    assert_eq!(v["chunks"].as_array().map(Vec::len), Some(2));
    assert!(v["chunks"][0]["steps"].as_array().is_some_and(|s| s.len() == 2));
}

#[test]
fn a_worker_that_answers_wrong_fails_the_check_and_is_named() {
    let (out, _) = job("--workers 2 --schedule dynamic --chunk 100000 --data range:1000000 --wrong-worker 2");
    assert!(!out.exact, "w2 adds one to every answer: {:?} against {:?}", out.result, out.expected);
    let by_w2: Vec<u32> = out
        .chunks
        .iter()
        .filter(|c| c.steps.iter().any(|s| matches!(s, Step::Done { worker: 2, .. })))
        .map(|c| c.chunk)
        .collect();
    assert!(!by_w2.is_empty());
    assert_eq!(out.wrong_chunks, by_w2, "exactly the chunks w2 answered are named");
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let cli = cli(&["--workers", "2", "--data", "range:1000", "--wrong-worker", "1"]);
    assert_eq!(cli.status.code(), Some(1), "a wrong result exits 1");
    assert!(String::from_utf8_lossy(&cli.stdout).contains("WRONG"));
}

#[test]
fn a_long_chunk_that_keeps_beating_is_never_taken_for_silent() {
    // One chunk per worker that computes for about a second, against a silence limit of 250 ms.
    let (out, events) = job("--workers 2 --data range:2000 --wait-ms 1000 --heartbeat-ms 50");
    assert!(out.exact);
    assert!(!events.iter().any(|e| matches!(e, JobEvent::Lost { .. })), "heartbeats kept both in");
    assert_eq!(out.requeued, 0);
}

#[test]
fn workers_that_die_before_connecting_do_not_hang_the_job_on_any_mechanism() {
    // w3 is added and killed at once, before it reaches its socket, FIFO or segment: the
    // coordinator's end still waits for it when the job ends, and must not wait forever.
    for m in ["unix", "tcp", "fifo", "shm", "mqueue"] {
        // The kill races the worker's start: try until it wins once (it almost always does).
        let mut killed_early = false;
        for _ in 0..5 {
            if killed_early {
                break;
            }
            let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
            let line =
                format!("--mechanism {m} --workers 2 --schedule dynamic --chunk 50000 --data range:400000 --work 20");
            let spec = JobSpec::from_args(&JobArgs::parse_line(&line).unwrap()).unwrap();
            let (tx, rx) = unbounded();
            let mut events = Vec::new();
            let start = std::time::Instant::now();
            let out = run(&spec, &exe(), Some(&rx), &mut |e| {
                if matches!(e, JobEvent::Started { .. }) {
                    tx.send(JobCommand::AddWorker).unwrap();
                    tx.send(JobCommand::Signal { worker: 3, signal: Sig::Kill }).unwrap();
                }
                events.push(e);
            })
            .expect("the job ends");
            check_clean(&out);
            assert!(out.exact, "{m}");
            assert!(start.elapsed() < std::time::Duration::from_secs(20), "{m}: {:?}", start.elapsed());
            assert!(
                events.iter().any(|e| matches!(e, JobEvent::Signalled { worker: 3, signal: Sig::Kill, .. })),
                "{m}"
            );
            killed_early = !events.iter().any(|e| matches!(e, JobEvent::WorkerUp { worker: 3, .. }));
        }
        assert!(killed_early, "{m}: w3 was never killed before it connected");
    }
}

// The README's figures, at the bounds it states. Medians of three, each run alone (the lock).

fn median_of_3(mut f: impl FnMut() -> f64) -> f64 {
    let mut v = [f(), f(), f()];
    v.sort_by(f64::total_cmp);
    v[1]
}

#[test]
fn two_workers_over_shm_compute_a_compute_bound_job_at_least_1_8_times_as_fast_as_one() {
    let speedup = median_of_3(|| {
        let (one, _) =
            job("--workers 1 --mechanism shm --schedule dynamic --chunk 125000 --data range:2000000 --work 100");
        let (two, _) =
            job("--workers 2 --mechanism shm --schedule dynamic --chunk 125000 --data range:2000000 --work 100");
        assert!(one.exact && two.exact);
        one.elapsed_ns as f64 / two.elapsed_ns as f64
    });
    assert!(speedup >= 1.8, "speedup {speedup:.2}× on {} CPUs", ipc_lab::jobs::sweep::cpus());
}

/// Small chunks cost a round trip each. With the items shipped, both sizes spend most of their
/// busy time moving data (the items travel either way), so the README claims only the time there;
/// with only descriptions shipped, the round trips are all that is left to communicate.
#[test]
fn small_chunks_cost_round_trips_that_large_ones_do_not() {
    let line = |chunk: u32, ship: &str| {
        format!("--workers 2 --schedule dynamic --chunk {chunk} --data range:8000000 --ship {ship}")
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let ratio = median_of_3(|| {
        let (s, _) = job_alone(&line(2000, "data"));
        let (l, _) = job_alone(&line(1_000_000, "data"));
        assert!(s.exact && l.exact);
        s.elapsed_ns as f64 / l.elapsed_ns as f64
    });
    assert!(ratio >= 1.5, "shipped: 2,000-item chunks took only {ratio:.2}× as long as 1,000,000-item ones");
    // Each figure the median of three, as the README's are.
    let (mut shares_small, mut shares_large) = (Vec::new(), Vec::new());
    let ratio = median_of_3(|| {
        let (s, _) = job_alone(&line(2000, "work"));
        let (l, _) = job_alone(&line(1_000_000, "work"));
        assert!(s.exact && l.exact);
        shares_small.push(s.comm_share());
        shares_large.push(l.comm_share());
        s.elapsed_ns as f64 / l.elapsed_ns as f64
    });
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[1]
    };
    let (s, l) = (median(&mut shares_small), median(&mut shares_large));
    assert!(ratio >= 5.0, "--ship work: 2,000-item chunks took only {ratio:.1}× as long as 1,000,000-item ones");
    assert!(
        s >= 0.5 && l <= 0.5,
        "--ship work: communication {s:.3} of busy time with small chunks, {l:.3} with large"
    );
}

#[test]
fn shipping_the_data_through_a_pipe_is_slower_than_one_thread_summing_it_in_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let ratio = median_of_3(|| {
        let (o, _) = job_alone("--workers 2 --mechanism pipe --data range:8000000");
        assert!(o.exact);
        o.in_memory_bytes_per_sec().expect("measured") / o.rate_bytes_per_sec()
    });
    assert!(ratio >= 2.0, "in memory only {ratio:.1}× the shipped rate");
}

#[test]
fn processes_threads_and_tasks_are_compared_and_python_runs_the_columns_example_or_says_why_not() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = cli(&[
        "--compare-as",
        "--workers",
        "2",
        "--schedule",
        "dynamic",
        "--data",
        "range:400000",
        "--work",
        "100",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let kinds = v["kinds"].as_array().expect("rows");
    let names: Vec<&str> = kinds.iter().filter_map(|k| k["kind"].as_str()).collect();
    assert_eq!(names, ["process", "thread", "async", "async-1"]);
    assert!(kinds.iter().all(|k| k["exact"] == true));
    // One thread runs one task at a time: computing does not overlap there.
    let one_thread = kinds[3]["speedup"].as_f64().expect("a speedup");
    assert!(one_thread < 1.3, "async-1 sped a compute-bound job up {one_thread:.2}×");
    let has_python = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if has_python {
        assert_eq!(v["python"]["ran"]["pool_map_sum"], "80000200000", "Pool.map brings the sums back: {}", v["python"]);
        assert!(v["python"]["ran"]["as_written_s"].as_f64().is_some());
    } else {
        let why = v["python"]["skipped"]["why"].as_str().expect("a reason");
        assert!(why.contains("python3"), "{why}");
    }
}

/// A job of `n` items in chunks of 1,000 that take 20 ms each, through one local worker, taking
/// workers from loopback.
fn remote_job(n: u64) -> String {
    format!("--workers 1 --schedule dynamic --chunk 1000 --data range:{n} --wait-ms 20 --listen 127.0.0.1:0")
}

/// The job's JSON result, once it ends (successfully).
fn result_of(coordinator: std::process::Child) -> serde_json::Value {
    let out = coordinator.wait_with_output().expect("coordinator");
    assert!(out.status.success(), "the job failed");
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The coordinator with `--listen`: its address line on stderr, and the process, reading stdout
/// to the end (the JSON result) and stderr.
fn listening_job(line: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(exe())
        .args(["job", "--format", "json"])
        .args(line.split_whitespace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("coordinator");
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("the listening line");
    let addr = line.split_whitespace().find(|w| w.starts_with("127.0.0.1:")).expect(&line).to_string();
    // Keep reading stderr so the coordinator never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    (child, addr)
}

/// A worker from "another host" (here loopback, over TCP, through the handshake and sealed
/// frames) joins a running job, takes chunks from the queue, and the result is exact; both
/// processes end.
#[test]
fn a_remote_worker_joins_over_tcp_and_the_result_is_exact() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (coordinator, addr) = listening_job(&remote_job(40000));
    let worker = Command::new(exe()).args(["worker", "--connect", &addr]).output().expect("remote worker");
    assert!(worker.status.success(), "{}", String::from_utf8_lossy(&worker.stderr));
    let v = result_of(coordinator);
    assert_eq!(v["exact"], serde_json::Value::Bool(true), "{v}");
    let workers = v["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2, "{v}");
    let remote = &workers[1];
    assert!(
        remote["pid"].is_null() && remote["chunks"].as_u64().is_some_and(|c| c > 0),
        "the remote one computed: {remote}"
    );
}

/// A worker with the wrong token is refused on both sides, and computes nothing; the job still
/// ends exact with its own worker.
#[test]
fn a_remote_worker_with_the_wrong_token_is_refused() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("ipclab-remote-token-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (ours, theirs) = (dir.join("ours"), dir.join("theirs"));
    ipc_lab::jobs::auth::Token::create_file(&ours).unwrap();
    ipc_lab::jobs::auth::Token::create_file(&theirs).unwrap();
    let (coordinator, addr) = listening_job(&format!("{} --token-file {}", remote_job(60000), ours.display()));
    let worker = Command::new(exe())
        .args(["worker", "--connect", &addr, "--token-file", theirs.to_str().unwrap()])
        .output()
        .expect("remote worker");
    assert_eq!(worker.status.code(), Some(1));
    let said = String::from_utf8_lossy(&worker.stderr);
    assert!(said.lines().count() == 1 && said.contains("refused"), "one clear line: {said}");
    // Right after (while that address is paused, so it is closed unheard once and tries again),
    // a worker with no token file is told what it lacks.
    let bare = Command::new(exe()).args(["worker", "--connect", &addr]).output().expect("remote worker");
    assert_eq!(bare.status.code(), Some(1));
    let said = String::from_utf8_lossy(&bare.stderr);
    assert!(said.lines().count() == 1 && said.contains("wants a token: give --token-file"), "{said}");
    let v = result_of(coordinator);
    assert_eq!(v["exact"], serde_json::Value::Bool(true));
    assert_eq!(v["workers"].as_array().map(|w| w.len()), Some(1), "nobody joined: {v}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let out =
        Command::new(exe()).args(["job", "--schedule", "dynamic", "--listen", "0.0.0.0:0"]).output().expect("job");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error:") && err.contains("--token-file") && err.contains("token new"), "{err}");
}

/// A coordinator that passed the handshake (here a hostile one, on loopback where the token is
/// all zeros) cannot make a remote worker read a file of its host or map a segment of it: the
/// worker refuses, answers nothing, and leaves for good (exit 1, no rejoin).
#[test]
fn a_remote_worker_reads_no_file_and_maps_no_segment_for_its_coordinator() {
    use ipc_lab::jobs::auth::{SealedLink, TOKEN_LEN, Token, coordinator_handshake};
    use ipc_lab::jobs::proto::{self, Down, Incoming, Up};
    use ipc_lab::jobs::spec::DataSource;
    use ipc_lab::jobs::worker::WorkerSpec;
    use ipc_lab::mechanism::Channel;
    let secret = std::env::temp_dir().join(format!("ipc-lab-secret-{}", std::process::id()));
    std::fs::write(&secret, 42u64.to_le_bytes()).expect("file");
    for shared in [None, Some("/ipc-lab-not-yours".to_string())] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let worker = Command::new(exe())
            .args(["worker", "--connect", &addr])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("worker");
        let (mut s, _) = listener.accept().expect("the worker connects");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let sealed = coordinator_handshake(&mut s, &Token::from_bytes([0; TOKEN_LEN])).expect("handshake");
        let mut ch = Channel::new(Box::new(SealedLink::new(s, sealed)), proto::MAX_PAYLOAD);
        let spec = WorkerSpec {
            worker: 1,
            endpoint: None,
            peer_address: None,
            coordinator_pid: std::process::id(),
            data: DataSource::File { path: secret.clone(), n: 1, lo: 0, hi: u64::MAX },
            shared: shared.clone(),
            op: ipc_lab::jobs::spec::Op::Sum,
            work: 0,
            wait_ms: 0,
            heartbeat_ms: 100,
            faults: Default::default(),
            wrong: false,
        };
        proto::send_json(&mut ch, 0, &spec).expect("work description");
        if shared.is_none() {
            assert!(matches!(proto::recv::<Up>(&mut ch), Ok(Incoming::Msg(Up::Hello { .. }))), "hello");
            proto::send_json(&mut ch, 1, &Down::Task { chunk: 0, start: 0, len: 1, items: false }).expect("task");
        }
        let answer = proto::recv::<Up>(&mut ch);
        assert!(!matches!(answer, Ok(Incoming::Msg(Up::Result(_)))), "the worker answered from the file");
        drop(listener);
        let out = worker.wait_with_output().expect("worker ends");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("refused, leaving the job") && !err.contains("joining again"), "{err}");
    }
    let _ = std::fs::remove_file(&secret);
}

/// A peer that trickles a well-formed handshake a byte at a time is cut off when its 5 s are up
/// (not 5 s per byte), and a worker that joins meanwhile is not held up by it.
#[test]
fn a_trickled_handshake_is_cut_off_at_5_s_and_holds_up_nobody() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (coordinator, addr) = listening_job(&remote_job(800_000));
    let start = Instant::now();
    let mut slow = std::net::TcpStream::connect(&addr).expect("connect");
    let mut hello = [0u8; 6 + 32];
    slow.read_exact(&mut hello).expect("the coordinator's challenge");
    let worker = Command::new(exe())
        .args(["worker", "--connect", &addr])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("remote worker");
    // An answer's header (magic, version, kind), then its body, a byte every 400 ms.
    let answer: Vec<u8> = [&b"IPCA"[..], &[1, 2], &[0u8; 64]].concat();
    slow.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let mut cut = None;
    for b in &answer {
        std::thread::sleep(Duration::from_millis(400));
        let write_failed = slow.write_all(&[*b]).is_err();
        // A read that times out means the connection is still open.
        let ended = match slow.read(&mut [0u8; 1]) {
            Ok(n) => n == 0,
            Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        };
        if write_failed || ended {
            cut = Some(start.elapsed());
            break;
        }
    }
    let cut = cut.expect("the trickling peer was never cut off");
    assert!(cut >= Duration::from_millis(4_900) && cut < Duration::from_millis(6_500), "cut off after {cut:?}");
    let v = result_of(coordinator);
    let _ = worker.wait_with_output();
    assert_eq!(v["exact"], serde_json::Value::Bool(true), "{v}");
    let joined = &v["workers"].as_array().expect("workers")[1];
    assert!(joined["chunks"].as_u64().unwrap_or(0) > 0, "the real worker joined and computed: {joined}");
}

/// A worker started before its job (or at the wrong port) says where it looked and what to do.
#[test]
fn a_worker_with_nobody_to_join_says_where_it_looked() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr").to_string();
    drop(free);
    let out = Command::new(exe()).args(["worker", "--connect", &addr]).output().expect("worker");
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("nothing listens on {addr}")) && err.contains("--listen"), "{err}");
}

/// A remote worker killed mid-job: its connection ends, its chunk goes back to the queue, and
/// the result is exact.
#[test]
fn a_remote_worker_killed_mid_job_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (coordinator, addr) = listening_job(&remote_job(60000));
    let mut worker = Command::new(exe())
        .args(["worker", "--connect", &addr])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("remote worker");
    std::thread::sleep(std::time::Duration::from_millis(300));
    worker.kill().expect("kill");
    let _ = worker.wait();
    let v = result_of(coordinator);
    assert_eq!(v["exact"], serde_json::Value::Bool(true), "{v}");
    let workers = v["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2, "{v}");
    let requeued =
        v["chunks"].as_array().expect("chunks").iter().any(|c| {
            c["steps"].as_array().is_some_and(|h| h.iter().any(|s| s["what"] == "requeued" && s["from"] == 2))
        });
    let remote_done = workers[1]["chunks"].as_u64().unwrap_or(0);
    assert!(remote_done > 0 || requeued, "the remote worker took part before it died: {v}");
    assert!(requeued, "its chunk in hand was requeued: {}", v["chunks"]);
}

/// `--inject delay=MS` stands for distance on one machine: each task reaches the worker and each
/// result leaves it that much later, so ten chunks through one worker take at least 10 × 2 × MS;
/// the result stays exact.
#[test]
fn injected_delay_adds_its_distance_to_every_chunk_both_ways() {
    let (out, _) = job("--workers 1 --schedule dynamic --chunk 10000 --data range:100000 --inject delay=10:2");
    assert!(out.exact);
    let ms = out.elapsed_ns as f64 / 1e6;
    assert!(ms >= 10.0 * 2.0 * 8.0, "10 chunks with 10±2 ms each way took only {ms:.1} ms");
    // The distance is communication, not idling: at least 8 ms each way for each of 10 chunks.
    let w = &out.workers[0];
    assert!(w.comm_ns >= 10 * 2 * 8_000_000, "communication {} ms", w.comm_ns / 1_000_000);
    assert!(w.idle_ns < 10 * 8_000_000, "idle {} ms: the way in counted as idling", w.idle_ns / 1_000_000);
}

/// A remote node's round trip and clock offset are measured from each task and its result (NTP's
/// four times). With 10 ms of injected delay each way, the best round trip is at least 20 ms;
/// on one machine the two clocks are one, so the offset measured is within half a round trip of
/// zero, and the node says its host name and address.
#[test]
fn a_remote_nodes_round_trip_and_clock_offset_are_measured() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (coordinator, addr) = listening_job(&format!("{} --inject delay=10", remote_job(20000)));
    let worker = Command::new(exe()).args(["worker", "--connect", &addr]).output().expect("remote worker");
    assert!(worker.status.success(), "{}", String::from_utf8_lossy(&worker.stderr));
    let v = result_of(coordinator);
    assert_eq!(v["exact"], serde_json::Value::Bool(true), "{v}");
    let node = &v["workers"][1]["node"];
    let rtt = node["rtt_ns"].as_u64().expect("a round trip") as f64 / 1e6;
    let offset = node["offset_ns"].as_i64().expect("an offset") as f64 / 1e6;
    assert!(rtt >= 20.0, "10 ms each way, yet a round trip of {rtt:.2} ms");
    assert!(rtt < 200.0, "a round trip of {rtt:.2} ms on loopback with 20 ms of delay");
    assert!(offset.abs() <= rtt / 2.0, "one clock, yet an offset of {offset:.3} ms (round trip {rtt:.2} ms)");
    assert!(node["addr"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")), "{node}");
    assert!(node["host"].as_str().is_some_and(|h| !h.is_empty()), "{node}");
    assert!(v["workers"][0]["node"].is_null(), "a local worker is no node: {v}");
}

/// A remote worker stopped past the silence limit is dropped and its chunk requeued; continued,
/// it finds its link broken, proves the token again and rejoins as a new worker that names the
/// one it was; it computes again, and the result is exact.
#[test]
fn a_remote_worker_dropped_after_a_silence_joins_again() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (coordinator, addr) = listening_job(&format!("{} --heartbeat-ms 50", remote_job(200000)));
    let worker = Command::new(exe())
        .args(["worker", "--connect", &addr])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("remote worker");
    let pid = Pid::from_raw(worker.id() as i32);
    std::thread::sleep(std::time::Duration::from_millis(400));
    kill(pid, Signal::SIGSTOP).expect("stop");
    // Five heartbeat intervals are 250 ms.
    std::thread::sleep(std::time::Duration::from_millis(700));
    kill(pid, Signal::SIGCONT).expect("continue");
    let out = worker.wait_with_output().expect("remote worker");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("joining again") && said.contains("(was w2)"), "{said}");
    let v = result_of(coordinator);
    assert_eq!(v["exact"], serde_json::Value::Bool(true), "{v}");
    let workers = v["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 3, "w1 here, w2 dropped, w3 the same worker again: {v}");
    assert!(workers[1]["fate"].as_str().is_some_and(|f| f.starts_with("dropped")), "{}", workers[1]);
    assert_eq!(workers[2]["node"]["rejoins"], 2, "{}", workers[2]);
    assert!(workers[2]["chunks"].as_u64().is_some_and(|c| c > 0), "it computed again: {}", workers[2]);
    let requeued_from_2 =
        v["chunks"].as_array().expect("chunks").iter().any(|c| {
            c["steps"].as_array().is_some_and(|h| h.iter().any(|s| s["what"] == "requeued" && s["from"] == 2))
        });
    assert!(requeued_from_2, "its chunk in hand was requeued: {}", v["chunks"]);
}

/// The silence limit for a remote worker is five heartbeats, not fewer: a worker stopped for
/// 700 ms with 50 ms heartbeats is declared silent after at least 250 ms of quiet.
#[test]
fn a_remote_worker_is_taken_for_silent_after_five_heartbeats_not_sooner() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::time::Duration;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let line = format!("{} --heartbeat-ms 50", remote_job(200000));
    let spec = JobSpec::from_args(&JobArgs::parse_line(&line).expect("args")).expect("spec");
    let (tx, rx) = unbounded();
    let job = std::thread::spawn(move || {
        let mut events = Vec::new();
        let out = run(&spec, &exe(), None, &mut |e| {
            if let JobEvent::Listening { addr, .. } = &e {
                let _ = tx.send(addr.clone());
            }
            events.push(e);
        });
        (out, events)
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("the job listens");
    let worker = Command::new(exe())
        .args(["worker", "--connect", &addr])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("remote worker");
    let pid = Pid::from_raw(worker.id() as i32);
    std::thread::sleep(Duration::from_millis(400));
    kill(pid, Signal::SIGSTOP).expect("stop");
    std::thread::sleep(Duration::from_millis(700));
    kill(pid, Signal::SIGCONT).expect("continue");
    let _ = worker.wait_with_output();
    let (out, events) = job.join().expect("job thread");
    let out = out.expect("the job ends");
    assert!(out.exact);
    check_clean(&out);
    let silent: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Lost { worker: 2, how: Lost::Silent { after_ms, .. }, .. } => Some(*after_ms),
            _ => None,
        })
        .collect();
    assert_eq!(silent.len(), 1, "w2 was taken for silent once: {silent:?}");
    assert!((250..700).contains(&silent[0]), "after {} ms of quiet (five heartbeats are 250 ms)", silent[0]);
}

/// Failed handshakes slow that address down: right after a wrong answer its next connection is
/// closed unheard (no challenge at all), and once the pause (100 ms after one failure) has
/// passed it is challenged again.
#[test]
fn failed_handshakes_slow_that_address_down() {
    use ipc_lab::jobs::auth::{AuthError, TOKEN_LEN, Token, worker_handshake};
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (coordinator, addr) = listening_job(&remote_job(60000));
    let wrong = Token::from_bytes([7; TOKEN_LEN]);
    let attempt = || {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        worker_handshake(&mut s, &wrong).err()
    };
    assert_eq!(attempt(), Some(AuthError::Refused), "challenged and refused");
    assert_eq!(attempt(), Some(AuthError::Truncated), "closed unheard during the pause");
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(attempt(), Some(AuthError::Refused), "challenged again after the pause");
    let v = result_of(coordinator);
    assert_eq!(v["exact"], serde_json::Value::Bool(true));
    assert_eq!(v["workers"].as_array().map(|w| w.len()), Some(1), "nobody joined: {v}");
}
