//! Helpers shared by the integration tests: the real binary, run specs, and checks that nothing
//! (process or named resource) is left behind.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipc_lab::mechanism::{MechanismId, process_alive};
use ipc_lab::supervisor::resources::leftovers;
use ipc_lab::supervisor::{Run, RunEvent, RunOutcome};
use ipc_lab::telemetry::{Event, Role};
use ipc_lab::traffic::spec::{Pattern, RunSpec};

pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ipc-lab"))
}

pub fn spec(mechanism: MechanismId, pattern: Pattern, size: usize, count: u64) -> RunSpec {
    RunSpec { mechanism, pattern, size, count, warmup: count.min(10), ..RunSpec::default() }
}

/// Asserts that the run `prefix` left no named resource and none of `pids` still runs.
pub fn assert_nothing_left(prefix: &str, pids: &[u32]) {
    let left = leftovers(prefix);
    assert!(left.is_empty(), "named resources left behind: {left:?}");
    let deadline = Instant::now() + Duration::from_secs(2);
    for &pid in pids {
        while process_alive(pid) {
            assert!(Instant::now() < deadline, "worker process {pid} outlived its run");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

pub fn pids(outcome: &RunOutcome) -> Vec<u32> {
    outcome.exits.iter().map(|e| e.pid).collect()
}

/// Reads events until `role` reports progress with more than `at_least` messages moved (sent or
/// received), or panics after `within`.
pub fn wait_for_progress(run: &Run, role: Role, at_least: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match run.events().recv_timeout(left) {
            Ok(RunEvent::Telemetry { event: Event::Progress { role: r, sent, received, .. }, .. })
                if r == role && sent.max(received) > at_least =>
            {
                return;
            }
            Ok(RunEvent::Exited { worker_id, exit, stderr_tail }) => {
                panic!("worker {worker_id} {exit} before making progress: {stderr_tail}")
            }
            Ok(_) => {}
            Err(_) => panic!("no progress from the {} within {within:?}", role.as_str()),
        }
    }
}

/// Waits for the run to end on another thread, failing the test if it takes longer than `bound`.
pub fn wait_within(run: Run, bound: Duration) -> (RunOutcome, Duration) {
    let start = Instant::now();
    let (tx, rx) = crossbeam::channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(run.wait());
    });
    match rx.recv_timeout(bound) {
        Ok(outcome) => (outcome, start.elapsed()),
        Err(_) => panic!("the run did not end within {bound:?}: a hang"),
    }
}

/// PIDs of the processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return kids };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) && fields.first() != Some(&"Z") {
            kids.push(pid);
        }
    }
    kids
}
