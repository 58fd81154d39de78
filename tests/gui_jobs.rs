//! The Distributed view driven as a user would: start a job, kill a worker from its lane's
//! right-click menu, and see its chunk reassigned and the result exact; a sweep draws its points.

mod common;
#[path = "common/ui.rs"]
mod ui;

use std::time::Duration;

use egui_kittest::kittest::{NodeT, Queryable};

use ipc_lab::app::{AppOptions, View};
use ipc_lab::jobs::coordinator::Step;
use ipc_lab::jobs::model::{ChunkState, WorkerState};
use ui::{harness, step_until};

fn jobs_view() -> egui_kittest::Harness<'static, ipc_lab::app::IpcLabApp> {
    let mut h = harness(AppOptions::default());
    h.get_by_label("Distributed").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.view, View::Jobs);
    h
}

#[test]
fn a_worker_killed_from_its_lane_has_its_chunk_reassigned_and_the_result_stays_exact() {
    let mut h = jobs_view();
    {
        // A job long enough to reach for the menu: 40 chunks of 500,000 items, 60 rounds each.
        let j = &mut h.state_mut().ui_state.jobs;
        j.items = 20_000_000;
        j.args.work = 60;
        j.args.workers = 2;
    }
    h.get_by_label("Start job").click();
    step_until(&mut h, Duration::from_secs(20), "w1 computing", |app| {
        let m = &app.ui_state.jobs.model;
        m.chunks_done >= 1 && m.workers.iter().any(|w| w.id == 1 && matches!(w.state, WorkerState::Busy { .. }))
    });
    h.get_by_label("w1").click_secondary();
    h.run_steps(2);
    h.get_by_label("Kill (SIGKILL)").click();
    step_until(&mut h, Duration::from_secs(60), "the job to end", |app| app.ui_state.jobs.model.outcome.is_some());
    let m = &h.state().ui_state.jobs.model;
    let out = m.outcome.as_ref().expect("finished");
    assert!(out.exact, "{:?} against {:?}", out.result, out.expected);
    assert!(out.requeued >= 1, "w1's chunk went back to the queue");
    assert!(m.chunks.iter().any(|c| c.requeued), "the strip marks the reassigned chunk");
    assert!(m.chunks.iter().all(|c| matches!(c.state, ChunkState::Done { .. })));
    let reassigned = out.chunks.iter().find(|c| c.steps.iter().any(|s| matches!(s, Step::Requeued { from: 1, .. })));
    let reassigned = reassigned.expect("a chunk taken from w1");
    assert!(reassigned.steps.iter().any(|s| matches!(s, Step::Done { worker: 2, .. })), "{reassigned:?}");
    assert_eq!(out.workers[0].fate, "killed (SIGKILL)");
    h.run_steps(2);
    // The check is on screen.
    let shown = format!("{:?}", h.get_by_label_contains("exact: equals 200,000,010,000,000").accesskit_node());
    assert!(shown.contains("formula"), "{shown}");
}

#[test]
fn a_sweep_plots_speedup_against_workers() {
    let mut h = jobs_view();
    {
        let j = &mut h.state_mut().ui_state.jobs;
        j.items = 1_000_000;
        j.args.work = 5;
    }
    h.get_by_label("Sweep 1, 2, 4 workers").click();
    step_until(&mut h, Duration::from_secs(60), "the sweep to end", |app| app.ui_state.jobs.model.sweep.is_some());
    let s = h.state().ui_state.jobs.model.sweep.clone().expect("swept");
    assert_eq!(s.points.iter().map(|p| p.workers).collect::<Vec<_>>(), [1, 2, 4]);
    assert!(s.points.iter().all(|p| p.exact));
    h.run_steps(2);
    assert_eq!(
        h.get_all_by_label_contains("4 × workers:").count(),
        ipc_lab::jobs::sweep::REPEATS,
        "each run of 4 is listed"
    );
}

#[test]
fn processes_threads_and_tasks_are_compared_from_the_view() {
    let mut h = jobs_view();
    {
        let j = &mut h.state_mut().ui_state.jobs;
        j.items = 1_000_000;
        j.args.work = 20;
    }
    h.get_by_label("Processes, threads, tasks").click();
    step_until(&mut h, Duration::from_secs(60), "the comparison", |app| app.ui_state.jobs.model.kinds.is_some());
    let rows = h.state().ui_state.jobs.model.kinds.clone().expect("compared");
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["process", "thread", "async", "async-1"]);
    assert!(rows.iter().all(|r| r.exact && r.one_worker_ns > 0 && r.n_workers_ns > 0));
    h.run_steps(2);
    let _ = h.get_by_label("async tasks, one thread");
}

/// Workers from other hosts, from the view: the job listens on loopback, the view shows the
/// command that joins it, "Start a worker here" starts a real `ipc-lab worker --connect` that
/// proves the (all-zero loopback) token, and the Remote nodes table shows it with its host,
/// address, a measured round trip and chunks; the result is exact and the worker has ended.
#[test]
fn a_worker_started_from_the_view_joins_over_tcp_and_shows_as_a_remote_node() {
    let mut h = jobs_view();
    {
        let j = &mut h.state_mut().ui_state.jobs;
        j.items = 20_000_000;
        j.args.work = 40;
        j.args.workers = 1;
        j.args.wait_ms = 40;
    }
    h.get_by_label("Workers from other hosts").click();
    h.run_steps(2);
    h.get_by_label("Start job").click();
    step_until(&mut h, Duration::from_secs(20), "the job to listen", |app| {
        app.ui_state.jobs.model.listening.is_some() && app.ui_state.jobs.model.chunks_done >= 1
    });
    let (addr, _, token) = h.state().ui_state.jobs.model.listening.clone().expect("listening");
    assert!(addr.starts_with("127.0.0.1:") && !token, "{addr}");
    h.get_by_label(&format!("ipc-lab worker --connect {addr}"));
    h.get_by_label("Start a worker here").click();
    step_until(&mut h, Duration::from_secs(30), "the remote node's first result", |app| {
        app.ui_state.jobs.model.workers.iter().any(|w| w.node.as_ref().is_some_and(|n| n.rtt_ns.is_some()))
    });
    h.run_steps(2);
    h.get_by_label("Remote nodes");
    h.get_by_label("round trip (best / latest)");
    let node = h.state().ui_state.jobs.model.workers.iter().find_map(|w| w.node.clone()).expect("a node");
    h.get_by_label(&node.addr);
    step_until(&mut h, Duration::from_secs(90), "the job to end", |app| app.ui_state.jobs.model.outcome.is_some());
    let out = h.state().ui_state.jobs.model.outcome.clone().expect("finished");
    assert!(out.exact, "{:?} against {:?}", out.result, out.expected);
    let remote = out.workers.iter().find(|w| w.node.is_some()).expect("the remote worker in the outcome");
    assert!(remote.chunks > 0, "it computed: {remote:?}");
    step_until(&mut h, Duration::from_secs(10), "the joined worker to end", |app| {
        app.ui_state.jobs.joiners.0.is_empty()
    });
}

/// A build without the MPI engine shows the choice, disabled, with the reason on hover: how a
/// mechanism this platform lacks is reported.
#[cfg(not(feature = "mpi"))]
#[test]
fn the_mpi_engine_is_shown_disabled_with_how_to_get_it() {
    let mut h = jobs_view();
    assert!(h.get_by_label("MPI").accesskit_node().is_disabled(), "MPI is not offered by this build");
    assert!(!h.get_by_label("ours").accesskit_node().is_disabled());
    h.get_by_label("MPI").hover();
    for _ in 0..60 {
        h.step();
    }
    h.get_by_label_contains("cargo build --release --features mpi");
    h.get_by_label("MPI").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.jobs.args.engine, "ours", "a disabled choice cannot be taken");
}
