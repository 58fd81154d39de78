//! The live stage driven through egui_kittest: clicks and keys on the real app, real worker
//! processes behind it, assertions on the model.

mod common;
#[path = "common/ui.rs"]
mod ui;

use std::time::{Duration, Instant};
use ui::{harness, step_until};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use ipc_lab::app::{AppOptions, IpcLabApp};
use ipc_lab::lessons::Lang;
use ipc_lab::mechanism::{MechanismId, process_alive};
use ipc_lab::supervisor::resources::leftovers;
use ipc_lab::traffic::model::{ProcState, RunStatus};
use ipc_lab::traffic::session::Pace;
use ipc_lab::traffic::setup::Setup;

fn unlimited() -> Setup {
    Setup { rate_per_sec: None, ..Setup::default() }
}

#[test]
fn the_language_switch_turns_every_view_chinese_and_back() {
    let mut h = harness(AppOptions::default());
    h.run_steps(2);
    h.get_by_label("Start");
    h.get_by_label("中文").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.lesson.lang, Lang::ZhCn, "one language: the lessons' too");
    assert!(h.query_by_label("Start").is_none(), "no English left on the Start button");
    h.get_by_label("开始");
    h.get_by_label("实时舞台");
    // The other views speak it too.
    h.get_by_label("程序").click();
    h.run_steps(2);
    h.get_by_label("由你调度");
    h.get_by_label("课程").click();
    h.run_steps(2);
    h.get_by_label("下一课 ▶");
    h.get_by_label("English").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.lesson.lang, Lang::En);
    h.get_by_label("Next ▶");
    h.get_by_label("Live stage").click();
    h.run_steps(2);
    h.get_by_label("Start");
}

#[test]
fn the_language_follows_the_options_and_each_window_keeps_its_own() {
    // Two apps side by side on one thread's turn each: a Chinese one does not make the other
    // Chinese (rust-i18n's own locale is one for the process).
    let mut zh = harness(AppOptions { lang: Some(Lang::ZhCn), ..Default::default() });
    let mut en = harness(AppOptions::default());
    zh.run_steps(2);
    en.run_steps(2);
    zh.get_by_label("开始");
    en.get_by_label("Start");
    assert!(en.query_by_label("开始").is_none());
}

#[test]
fn choosing_pipe_and_pressing_start_runs_real_processes() {
    let mut h =
        harness(AppOptions { setup: Some(unlimited()), mechanism: Some(MechanismId::Shm), ..Default::default() });
    h.get_by_role_and_label(egui::Role::ComboBox, "Mechanism").click();
    h.run_steps(2);
    h.get_by_label("pipe").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.setup.mechanism, MechanismId::Pipe);
    h.get_by_label("Start").click();
    step_until(&mut h, Duration::from_secs(15), "100 messages received", |app| app.model.received_total() >= 100);
    let app = h.state();
    assert_eq!(app.model.mechanism(), Some(MechanismId::Pipe));
    assert_eq!(app.model.workers.len(), 2);
    for w in &app.model.workers {
        assert!(process_alive(w.pid), "worker {} is a real, live process", w.pid);
        assert_ne!(w.pid, std::process::id());
    }
    assert_eq!(app.model.accounting().corrupted, 0);
}

#[test]
fn one_step_releases_exactly_one_operation() {
    let scenario = Setup { pace: Pace::Step, rate_per_sec: None, ..Setup::default() };
    let mut h = harness(AppOptions { setup: Some(scenario), autostart: true, ..Default::default() });
    step_until(&mut h, Duration::from_secs(10), "both workers at their gates", |app| {
        app.model.workers.len() == 2 && app.model.workers.iter().all(|w| w.gate.is_some())
    });
    for n in 1..=4 {
        let before = h.state().model.gate_passes;
        h.get_by_label("Step").click();
        step_until(&mut h, Duration::from_secs(5), "one gate pass", |app| app.model.gate_passes > before);
        // Whatever else happens, nothing more passes a gate until the next Step.
        let settle = Instant::now() + Duration::from_millis(300);
        while Instant::now() < settle {
            h.step();
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(h.state().model.gate_passes, before + 1, "step {n} released exactly one operation");
    }
    // Four operations of a ping-pong: send, recv (echo), send (echo), recv: one full round trip.
    step_until(&mut h, Duration::from_secs(5), "the round trip to be reported", |app| {
        app.model.progress.iter().all(|p| p.received >= 1)
    });
}

#[test]
fn keyboard_starts_steps_and_stops() {
    let scenario = Setup { pace: Pace::Step, ..Setup::default() };
    let mut h = harness(AppOptions { setup: Some(scenario), ..Default::default() });
    h.key_press(egui::Key::Space);
    step_until(&mut h, Duration::from_secs(10), "a gate", |app| app.model.workers.iter().any(|w| w.gate.is_some()));
    let before = h.state().model.gate_passes;
    h.key_press(egui::Key::S);
    step_until(&mut h, Duration::from_secs(5), "S to step", |app| app.model.gate_passes == before + 1);
    h.key_press(egui::Key::ArrowRight);
    step_until(&mut h, Duration::from_secs(5), "→ to step", |app| app.model.gate_passes == before + 2);
    h.key_press(egui::Key::Escape);
    step_until(&mut h, Duration::from_secs(10), "Esc to stop the run", |app| !app.model.is_running());
    h.key_press(egui::Key::F5);
    h.run_steps(2);
    assert!(h.state().ui_state.presenter, "F5 toggles presenter mode");
}

#[test]
fn kill_from_the_menu_marks_the_worker_killed_and_the_run_failed() {
    let mut h = harness(AppOptions { setup: Some(unlimited()), autostart: true, ..Default::default() });
    step_until(&mut h, Duration::from_secs(10), "traffic", |app| app.model.received_total() > 50);
    h.get_by_label("echo process").click_secondary();
    h.run_steps(2);
    h.get_by_label("Kill (SIGKILL)").click();
    step_until(&mut h, Duration::from_secs(10), "the run to end", |app| {
        matches!(app.model.status, RunStatus::Finished(_))
    });
    let app = h.state();
    let responder = &app.model.workers[1];
    assert_eq!(responder.state, ProcState::Killed(9));
    match &app.model.status {
        RunStatus::Finished(Err(why)) => assert!(why.contains("killed by signal 9"), "{why}"),
        other => panic!("a killed worker must fail the run, got {other:?}"),
    }
    // The peer saw the real consequence (EPIPE or EOF) and exited with an error.
    assert_eq!(app.model.workers[0].state, ProcState::Exited(1));
}

#[test]
fn nothing_is_left_after_the_harness_is_dropped() {
    let mut h = harness(AppOptions {
        setup: Some(Setup { mechanism: MechanismId::Mqueue, ..unlimited() }),
        autostart: true,
        ..Default::default()
    });
    step_until(&mut h, Duration::from_secs(10), "traffic", |app| app.model.received_total() > 10);
    let pids: Vec<u32> = h.state().model.workers.iter().map(|w| w.pid).collect();
    let prefix = h.state().model.prefix.clone();
    drop(h);
    common::assert_nothing_left(&prefix, &pids);
    assert!(leftovers(&prefix).is_empty());
}

#[test]
fn a_bad_scenario_file_is_a_message_not_a_crash() {
    let path = std::env::temp_dir().join(format!("ipclab-test-bad-scenario-{}.json", std::process::id()));
    std::fs::write(&path, "{\"mechanism\": \"carrier-pigeon\"").unwrap();
    let mut h = harness(AppOptions::default());
    h.get_by_label("Load…").click();
    h.run_steps(2);
    h.state_mut().ui_state.file_path = path.display().to_string();
    h.run_steps(1);
    h.get_by_label("Load").click();
    h.run_steps(2);
    let _ = std::fs::remove_file(&path);
    let (msg, ok) = h.state().ui_state.file_message.clone().expect("a message");
    assert!(!ok && msg.contains("not a valid scenario"), "{msg}");
    assert_eq!(h.state().ui_state.setup, Setup::default(), "the current scenario is kept");
}

/// Lets frames run for `how_long`, checking `each` after every one.
fn run_for(h: &mut Harness<'_, IpcLabApp>, how_long: Duration, mut each: impl FnMut(&IpcLabApp)) {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        h.step();
        each(h.state());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn slow_motion_lets_operations_through_at_the_chosen_rate() {
    let ops_per_sec = 5.0;
    let scenario = Setup { pace: Pace::SlowMotion { ops_per_sec }, rate_per_sec: None, ..Setup::default() };
    let mut h = harness(AppOptions { setup: Some(scenario), autostart: true, ..Default::default() });
    step_until(&mut h, Duration::from_secs(10), "the first operation", |app| app.model.gate_passes >= 1);
    let (start, passes) = (Instant::now(), h.state().model.gate_passes);
    run_for(&mut h, Duration::from_secs(4), |_| {});
    let measured = (h.state().model.gate_passes - passes) as f64 / start.elapsed().as_secs_f64();
    assert!(
        (measured - ops_per_sec).abs() <= ops_per_sec * 0.1,
        "slow motion at {ops_per_sec} ops/s let {measured:.2} ops/s through"
    );
}

#[test]
fn pause_freezes_the_counts_and_resume_continues_them() {
    let scenario = Setup { pattern: ipc_lab::traffic::spec::Pattern::Stream, ..unlimited() };
    let mut h = harness(AppOptions { setup: Some(scenario), autostart: true, ..Default::default() });
    step_until(&mut h, Duration::from_secs(10), "traffic", |app| app.model.received_total() > 1000);
    h.get_by_label("Pause").click();
    step_until(&mut h, Duration::from_secs(5), "the session to pause", |app| app.model.paused);
    // Operations already past their gate finish; then every worker waits at its gate.
    run_for(&mut h, Duration::from_millis(400), |_| {});
    let frozen = h.state().model.counts();
    assert!(frozen.sent > 0);
    run_for(&mut h, Duration::from_millis(600), |app| {
        assert_eq!(app.model.counts(), frozen, "counts moved while paused");
        assert_eq!(app.model.msgs_per_sec(0), 0.0, "no throughput while paused");
    });
    h.get_by_label("Resume").click();
    step_until(&mut h, Duration::from_secs(10), "traffic to continue", |app| {
        app.model.counts().received > frozen.received + 1000
    });
}

#[test]
fn received_never_exceeds_sent_on_any_frame_of_a_fast_stream() {
    let scenario = Setup { pattern: ipc_lab::traffic::spec::Pattern::Stream, ..unlimited() };
    let mut h = harness(AppOptions { setup: Some(scenario), autostart: true, ..Default::default() });
    step_until(&mut h, Duration::from_secs(10), "traffic", |app| app.model.received_total() > 0);
    let mut frames = 0;
    run_for(&mut h, Duration::from_secs(2), |app| {
        let c = app.model.counts();
        assert!(c.received <= c.sent, "frame {frames}: received {} > sent {}", c.received, c.sent);
        assert_eq!(c.not_arrived, c.sent - c.received, "frame {frames}: in flight is sent − received");
        let per_node = app.model.sent_shown();
        assert!(per_node[0] >= app.model.progress[1].accounting.unique, "frame {frames}: producer's sent");
        frames += 1;
    });
    assert!(frames > 20, "only {frames} frames drawn");
    assert!(h.state().model.counts().received > 10_000, "a fast stream");
}

#[test]
fn changing_a_built_in_makes_it_custom_and_the_rate_follows_the_pace() {
    let mut h = harness(AppOptions::default());
    h.run_steps(2);
    assert_eq!(h.state().ui_state.setup.name, "ping-pong");
    h.get_by_label("stream").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.setup.name, "custom");
    let shown = format!("{:?}", h.get_by_role_and_label(egui::Role::ComboBox, "Setup").accesskit_node());
    assert!(shown.contains("custom"), "the scenario box says custom: {shown}");
    assert!(!h.get_by_label("unlimited").accesskit_node().is_disabled(), "a rate limit applies in real time");
    // Picking a built-in restores its name and settings; "step" paces by hand, so the rate
    // limit means nothing and its controls are disabled.
    h.get_by_role_and_label(egui::Role::ComboBox, "Setup").click();
    h.run_steps(2);
    h.get_by_label("step by step").click();
    h.run_steps(2);
    let app = h.state();
    assert_eq!(app.ui_state.setup.name, "step");
    assert_eq!(app.ui_state.setup.pattern, ipc_lab::traffic::spec::Pattern::PingPong);
    assert_eq!(app.ui_state.pace(), Pace::Step);
    assert!(h.get_by_label("unlimited").accesskit_node().is_disabled());
    // Real time is not what "step" is: custom again, and the rate is back.
    h.get_by_label("Real time").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.setup.name, "custom");
    assert!(!h.get_by_label("unlimited").accesskit_node().is_disabled());
}

#[test]
fn saving_names_the_full_path_of_the_file() {
    let name = format!("ipclab-test-save-{}.json", std::process::id());
    let full = std::env::current_dir().expect("cwd").join(&name);
    let mut h = harness(AppOptions::default());
    h.get_by_label("Save…").click();
    h.run_steps(2);
    h.state_mut().ui_state.file_path = name.clone(); // relative: where would it go?
    h.run_steps(1);
    h.get_by_label("Save").click();
    h.run_steps(2);
    let saved = std::fs::read_to_string(&full);
    let _ = std::fs::remove_file(&full);
    let (msg, ok) = h.state().ui_state.file_message.clone().expect("a message");
    assert!(ok && saved.is_ok(), "{msg}");
    assert_eq!(msg, format!("saved to {}", full.display()), "the message names the absolute path");
}

/// Fault injection from the GUI: the Faults menu offers the four faults; a stream run with them
/// shows, beside what the receivers detected, exactly what the producer injected.
#[test]
fn faults_chosen_in_the_gui_are_detected_exactly() {
    use ipc_lab::traffic::spec::Pattern;
    let scenario = Setup { pattern: Pattern::Stream, count: Some(3000), rate_per_sec: None, ..Setup::default() };
    let mut h = harness(AppOptions { setup: Some(scenario), ..Default::default() });
    h.get_by_label("Faults: none").click();
    h.run_steps(2);
    for name in ["drop", "duplicate", "reorder", "corrupt"] {
        assert!(h.query_all_by_label(name).next().is_some(), "a slider for {name}");
    }
    h.state_mut().ui_state.setup.faults = "drop=0.02,dup=0.02,reorder=0.02,corrupt=0.02,seed=11".parse().unwrap();
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert_eq!(h.state().ui_state.setup.name, "custom", "faults change what the scenario does");
    h.get_by_label("Start").click();
    step_until(&mut h, Duration::from_secs(20), "the run to finish", |app| {
        matches!(app.model.status, RunStatus::Finished(_))
    });
    let app = h.state();
    let RunStatus::Finished(Ok(r)) = &app.model.status else { panic!("{:?}", app.model.status) };
    let i = r.injected;
    assert!(i.dropped > 0 && i.duplicated > 0 && i.reordered > 0 && i.corrupted > 0, "{i:?}");
    assert_eq!(
        (r.lost, r.duplicated, r.out_of_order, r.corrupted),
        (i.dropped, i.duplicated, i.reordered, i.corrupted)
    );
    assert_eq!(app.model.injected(), i, "the model's injected counts are the report's");
    h.get_by_label("injected"); // the column is on screen
}

#[test]
fn save_trace_writes_the_stage_run_as_a_chrome_trace() {
    let mut h = harness(AppOptions {
        setup: Some(unlimited()),
        autostart: true,
        lang: Some(ipc_lab::lessons::Lang::En),
        ..Default::default()
    });
    step_until(&mut h, Duration::from_secs(15), "messages on the stage", |app| app.model.messages.len() >= 20);
    h.get_by_label("Save trace").click();
    h.run_steps(2);
    let path = std::path::PathBuf::from(format!("ipc-lab-trace-{}.json", h.state().model.prefix));
    let text = std::fs::read_to_string(&path).expect("the trace was written where the notice says");
    let _ = std::fs::remove_file(&path);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let events = doc["traceEvents"].as_array().expect("events");
    assert_eq!(events.iter().filter(|e| e["name"] == "process_name").count(), 2, "a track per process");
    let flows = events.iter().filter(|e| e["ph"] == "s").count();
    assert!(flows >= 10, "an arrow per message the stage holds: {flows}");
}

/// Presenter mode folds the setup rows behind the Setup toggle (the setup summed up in one line
/// beside the status), and the toggle brings them back.
#[test]
fn presenter_mode_folds_the_setup_rows() {
    let mut h = ui::harness(AppOptions { presenter: true, ..Default::default() });
    h.run_steps(4);
    assert!(h.query_by_label("Mechanism").is_none(), "the setup rows are folded in presenter mode");
    h.get_by_label_contains("ping-pong · pipe");
    h.get_by_label("Setup").click();
    h.run_steps(3);
    h.get_by_label("Mechanism");
}
