//! The real window, under Xvfb: SIGTERM to the GUI ends every worker and removes every named
//! resource, over FIFOs, shared memory and message queues. (`.ci/run` installs xvfb; the
//! behaviour tests in `gui.rs` need no display at all.)

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{children_of, exe};
use ipc_lab::mechanism::process_alive;
use ipc_lab::supervisor::resources::leftovers;

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// All descendants of `pid`, breadth first.
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for c in children_of(p) {
            all.push(c);
            frontier.push(c);
        }
    }
    all
}

/// One real window at a time: `xvfb-run -a` picks a free display racily.
static ONE_WINDOW: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Opens the GUI under Xvfb running `scenario` over `mechanism`, waits for its `workers`, sends
/// SIGTERM to the GUI and checks that every worker ended and every named resource of the run
/// (run directory, FIFOs, sockets, shm segments, message queues) is gone.
fn sigterm_ends_the_run(scenario: &str, mechanism: &str, workers: usize) {
    let _one = ONE_WINDOW.lock().unwrap_or_else(|p| p.into_inner());
    let exe = exe();
    let mut xvfb = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(&exe)
        .args(["gui", "--setup", scenario, "--mechanism", mechanism, "--autostart"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xvfb-run is needed for this test (apt-get install xvfb xauth)");
    // Find the GUI process and wait for its run's workers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (gui, pids) = loop {
        assert!(Instant::now() < deadline, "the GUI never started its {workers} workers");
        let gui = descendants(xvfb.id())
            .into_iter()
            .find(|&p| cmdline(p).contains(" gui ") && cmdline(p).contains("ipc-lab"));
        if let Some(gui) = gui {
            let pids: Vec<u32> = children_of(gui).into_iter().filter(|&p| cmdline(p).contains(" worker ")).collect();
            if pids.len() == workers {
                break (gui, pids);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let run_dirs = || -> Vec<String> {
        std::fs::read_dir(std::env::temp_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&format!("ipc-lab-{gui}-")))
                    .collect()
            })
            .unwrap_or_default()
    };
    // The run directory is named by the run's prefix, `ipc-lab-<gui pid>-<n>`.
    let prefixes = run_dirs();
    assert_eq!(prefixes.len(), 1, "one run, one directory: {prefixes:?}");
    let prefix = prefixes[0].clone();
    eprintln!("gui {gui}, workers {pids:?}, run {prefix}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(gui as i32), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&w| process_alive(w)) || process_alive(gui) {
        assert!(Instant::now() < deadline, "workers or the GUI outlived SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(run_dirs().is_empty(), "the run directory is removed: {:?}", run_dirs());
    let left = leftovers(&prefix);
    assert!(left.is_empty(), "named resources outlived SIGTERM: {left:?}");
    let _ = xvfb.wait();
}

#[test]
fn sigterm_to_the_window_ends_every_worker_and_removes_every_name() {
    sigterm_ends_the_run("pipeline", "fifo", 4);
}

#[test]
fn sigterm_to_the_window_removes_shared_memory() {
    sigterm_ends_the_run("ping-pong", "shm", 2);
}

#[test]
fn sigterm_to_the_window_removes_message_queues() {
    sigterm_ends_the_run("fan-out", "mqueue", 4);
}
