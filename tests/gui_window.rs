//! The real window, under Xvfb: SIGTERM to the GUI ends every worker and removes every named
//! resource. (`.ci/run` installs xvfb; the behaviour tests in `gui.rs` need no display at all.)

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{children_of, exe};
use ipc_lab::mechanism::process_alive;

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

#[test]
fn sigterm_to_the_window_ends_every_worker_and_removes_every_name() {
    let exe = exe();
    let mut xvfb = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(&exe)
        .args(["gui", "--scenario", "pipeline", "--mechanism", "fifo", "--autostart"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xvfb-run is needed for this test (apt-get install xvfb xauth)");
    // Find the GUI process and wait for its run's four workers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (gui, workers) = loop {
        assert!(Instant::now() < deadline, "the GUI never started its workers");
        let gui = descendants(xvfb.id())
            .into_iter()
            .find(|&p| cmdline(p).contains(" gui ") && cmdline(p).contains("ipc-lab"));
        if let Some(gui) = gui {
            let workers: Vec<u32> = children_of(gui).into_iter().filter(|&p| cmdline(p).contains(" worker ")).collect();
            if workers.len() == 4 {
                break (gui, workers);
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
    assert!(!run_dirs().is_empty(), "a running run has its directory");
    eprintln!("gui {gui}, workers {workers:?}, run {:?}", run_dirs());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(gui as i32), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while workers.iter().any(|&w| process_alive(w)) || process_alive(gui) {
        assert!(Instant::now() < deadline, "workers or the GUI outlived SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(run_dirs().is_empty(), "the run directory is removed: {:?}", run_dirs());
    let _ = xvfb.wait();
}
