//! The supervisor with real processes: crashes are reported for what they are, no child outlives
//! its supervisor, and starting and stopping runs over and over never hangs or leaks.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ipc_lab::mechanism::{MechanismId, process_alive};
use ipc_lab::supervisor::{ExitKind, Run, WorkerSignal, resources};
use ipc_lab::telemetry::Role;
use ipc_lab::traffic::spec::Pattern;

#[test]
fn killed_worker_is_reported_as_killed_by_signal_9() {
    let run = Run::start(spec(MechanismId::Pipe, Pattern::Stream, 64, 1 << 40), &exe()).expect("start");
    let prefix = run.prefix().to_string();
    wait_for_progress(&run, Role::Initiator, 1000, Duration::from_secs(10));
    let victim = run.worker_for(Role::Responder).expect("responder");
    let (victim_id, victim_pid) = (victim.worker_id, victim.pid);
    run.signal(victim_id, WorkerSignal::Kill).expect("kill");
    let (outcome, _) = wait_within(run, Duration::from_secs(5));
    let exit = outcome.exits.iter().find(|e| e.worker_id == victim_id).expect("victim reported");
    assert_eq!(exit.exit, ExitKind::Signal(9));
    let why = outcome.failure().expect("a run with a killed worker has failed");
    assert!(why.contains(&format!("consumer (pid {victim_pid}) killed by signal 9 (SIGKILL)")), "{why}");
    assert_nothing_left(&prefix, &pids(&outcome));
}

#[test]
fn bench_exits_non_zero_when_a_worker_is_killed() {
    let bench = Command::new(exe())
        .args(["bench", "--mechanism", "unix", "--size", "64", "--count", "1000000000", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bench");
    let workers = wait_for_children(bench.id(), 2);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(workers[0] as i32), nix::sys::signal::Signal::SIGKILL)
        .expect("kill worker");
    let out = bench.wait_with_output().expect("bench output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("killed by signal 9"), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

/// Waits until `parent` has `n` live children and returns their PIDs.
fn wait_for_children(parent: u32, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kids = children_of(parent);
        if kids.len() >= n {
            // Let the run get past start-up so the workers are moving data.
            std::thread::sleep(Duration::from_millis(300));
            return children_of(parent);
        }
        assert!(Instant::now() < deadline, "{parent} never started {n} workers");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn killing_the_supervisor_with_sigkill_leaves_no_orphan() {
    for mechanism in ["pipe", "shm", "mqueue"] {
        let mut bench = Command::new(exe())
            .args(["bench", "--mechanism", mechanism, "--size", "64", "--count", "1000000000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bench");
        let workers = wait_for_children(bench.id(), 2);
        assert_eq!(workers.len(), 2, "{mechanism}: {workers:?}");
        bench.kill().expect("kill -9 the supervisor");
        let _ = bench.wait();
        let killed_at = Instant::now();
        for pid in workers {
            while process_alive(pid) {
                assert!(killed_at.elapsed() < Duration::from_secs(1), "{mechanism}: worker {pid} outlived its parent");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    // What the dead supervisors left (their shm names were already unlinked once the workers
    // were connected; their run directories remain) is swept by the next one.
    resources::sweep_now().expect("sweep");
}

#[test]
fn stale_resources_of_a_dead_supervisor_are_swept() {
    let mut bench = Command::new(exe())
        .args(["bench", "--mechanism", "fifo", "--size", "64", "--count", "1000000000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bench");
    wait_for_children(bench.id(), 2);
    let dead_pid = bench.id();
    let dir_prefix = format!("ipc-lab-{dead_pid}-");
    let left = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&dir_prefix))
            .count()
    };
    // Checked while its owner lives, when no sweep (this test's or a parallel test's) may take it.
    assert!(left() > 0, "a running bench has its run directory");
    bench.kill().expect("kill -9");
    let _ = bench.wait();
    // From here a parallel test's sweep may get there first; either way a sweep removes it.
    resources::sweep_now().expect("sweep");
    assert_eq!(left(), 0, "the sweep removes it");
}

#[test]
fn two_hundred_back_to_back_runs_per_mechanism_never_hang() {
    for mechanism in MechanismId::ALL {
        let started = Instant::now();
        for i in 0..200 {
            let (tx, rx) = crossbeam::channel::bounded(1);
            let s = spec(mechanism, Pattern::PingPong, 64, 5);
            // Alternate between runs that finish and runs that are torn down mid-way.
            let handle = std::thread::spawn(move || {
                let run = Run::start(s, &exe()).expect("start");
                let prefix = run.prefix().to_string();
                if i % 2 == 0 {
                    let outcome = run.wait();
                    assert!(outcome.failure().is_none(), "{:?}", outcome.failure());
                    let _ = tx.send((prefix, pids(&outcome)));
                } else {
                    let pids: Vec<u32> = run.workers().iter().map(|w| w.pid).collect();
                    drop(run);
                    let _ = tx.send((prefix, pids));
                }
            });
            let (prefix, pids) =
                rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{mechanism}: run {i} hung"));
            handle.join().expect("run thread");
            assert_nothing_left(&prefix, &pids);
        }
        eprintln!("{mechanism}: 200 runs in {:?}", started.elapsed());
    }
}

#[test]
fn stop_and_continue_reach_the_worker() {
    let run = Run::start(spec(MechanismId::Tcp, Pattern::Stream, 64, 1 << 40), &exe()).expect("start");
    wait_for_progress(&run, Role::Responder, 100, Duration::from_secs(10));
    let w = run.worker_for(Role::Responder).expect("responder");
    let state = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')').and_then(|(_, r)| r.trim_start().chars().next())
    };
    run.signal(w.worker_id, WorkerSignal::Stop).expect("stop");
    let deadline = Instant::now() + Duration::from_secs(2);
    while state(w.pid) != Some('T') {
        assert!(Instant::now() < deadline, "worker never stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    run.signal(w.worker_id, WorkerSignal::Continue).expect("continue");
    let deadline = Instant::now() + Duration::from_secs(2);
    while state(w.pid) == Some('T') {
        assert!(Instant::now() < deadline, "worker never continued");
        std::thread::sleep(Duration::from_millis(5));
    }
    run.request_stop();
    let (outcome, _) = wait_within(run, Duration::from_secs(10));
    assert!(outcome.failure().is_none(), "{:?}", outcome.failure());
}

/// In the thread baseline every node is a thread, and CPU is per thread (RUSAGE_THREAD): a fan-in
/// consumer's work happens on its link threads, so its CPU is theirs, not its idle node thread's.
#[test]
fn thread_fan_in_consumer_cpu_is_its_reader_threads() {
    let s = ipc_lab::traffic::spec::RunSpec { nodes: 3, ..spec(MechanismId::Thread, Pattern::FanIn, 4096, 100_000) };
    let outcome = ipc_lab::supervisor::run_to_end(s, &exe(), |_| {}).expect("start");
    let report = ipc_lab::traffic::report::RunReport::from_outcome(&outcome).expect("report");
    let cpu = &report.cpu_secs_per_node;
    let producers = cpu[..3].iter().sum::<f64>() / 3.0;
    let consumer = cpu[3];
    assert!(producers > 0.0, "{cpu:?}");
    // The consumer reads and checks three producers' frames: comparable work, not ~0.
    assert!(consumer > 0.3 * producers, "consumer CPU {consumer} s against {producers} s per producer: {cpu:?}");
}

/// A worker's PID is free for anybody once it is reaped: signalling a worker that has ended (the
/// GUI's Kill on a process that just exited) sends nothing, so it can never hit the stranger that
/// may have that PID now. (Without the check under the reaper's lock, `kill` would reach
/// whatever holds the PID: here nobody yet, so it fails with ESRCH.)
#[test]
fn signalling_a_reaped_worker_sends_nothing() {
    let run = Run::start(spec(MechanismId::Pipe, Pattern::Stream, 64, 50), &exe()).expect("start");
    let mut exited = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while exited.len() < run.workers().len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if let ipc_lab::supervisor::RunEvent::Exited { worker_id, .. } =
            run.events().recv_timeout(left).expect("the run ends")
        {
            exited.push(worker_id);
        }
    }
    for w in run.workers() {
        assert!(!process_alive(w.pid), "worker {} reaped", w.worker_id);
        for signal in [WorkerSignal::Kill, WorkerSignal::Stop, WorkerSignal::Continue] {
            assert!(run.signal(w.worker_id, signal).is_ok(), "{signal:?} to reaped worker {} is a no-op", w.worker_id);
        }
    }
    let prefix = run.prefix().to_string();
    let pids: Vec<u32> = run.workers().iter().map(|w| w.pid).collect();
    drop(run);
    assert_nothing_left(&prefix, &pids);
}
