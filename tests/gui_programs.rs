//! The Programs view driven through egui_kittest: scenario programs run by real actor
//! processes, a deadlock seen and broken by killing a victim from the UI, and a scheduler
//! challenge won by clicking the processes in the fatal order.

mod common;
#[path = "common/ui.rs"]
mod ui;

use std::time::{Duration, Instant};
use ui::{harness, step_until};

use egui_kittest::kittest::Queryable;
use ipc_lab::app::{AppOptions, IpcLabApp};
use ipc_lab::mechanism::process_alive;
use ipc_lab::programs::model::Verdict;
use ipc_lab::supervisor::ExitKind;

fn verdict(app: &IpcLabApp) -> Option<Verdict> {
    app.ui_state.program.shared.model.as_ref().and_then(|m| m.verdict.clone())
}

fn pids(app: &IpcLabApp) -> Vec<u32> {
    app.ui_state.program.shared.model.as_ref().map(|m| m.procs.iter().map(|p| p.pid).collect()).unwrap_or_default()
}

#[test]
fn lock_order_started_from_the_ui_deadlocks_shows_the_cycle_and_a_killed_victim_frees_the_other() {
    let mut h = harness(AppOptions::default());
    h.get_by_label("Programs").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.program.scenario().map(|s| s.id.as_str()), Some("deadlock-lock-order"));
    h.get_by_label("Start").click();
    step_until(&mut h, Duration::from_secs(5), "the deadlock", |app| {
        matches!(verdict(app), Some(Verdict::Deadlock { .. }))
    });
    h.run_steps(2);
    // On screen: the verdict, the cycle in one sentence, the kernel's evidence.
    h.get_by_label("DEADLOCK");
    h.get_by_label_contains("worker 1 holds lock A and waits for lock B, which worker 2 holds");
    assert!(h.query_all_by_label_contains("futex").count() >= 2, "each process's wait channel is shown");
    // A short program reports every operation, uncontended ones too, for the log beside it.
    let log = &h.state().ui_state.program.shared.model.as_ref().expect("a run").log;
    let m = h.state().ui_state.program.shared.model.as_ref().expect("a run");
    assert!(log.iter().any(|(_, l)| ipc_lab::programs::say::entry(m, l) == "worker 1 locked lock A"), "{log:?}");
    let started = pids(h.state());
    assert!(started.iter().all(|&p| process_alive(p)), "real, live processes");

    h.get_by_label("Kill worker 2").click();
    step_until(&mut h, Duration::from_secs(5), "worker 1 to finish", |app| {
        matches!(verdict(app), Some(Verdict::Recovered { .. }))
    });
    h.run_steps(2);
    let m = h.state().ui_state.program.shared.model.clone().expect("the last picture");
    assert_eq!(m.procs[0].exit, Some(ExitKind::Code(0)), "worker 1 got lock B from the dead owner and finished");
    assert_eq!(m.procs[1].exit, Some(ExitKind::Signal(9)));
    assert!(m.notes.iter().any(|n| n.detail == ipc_lab::telemetry::Detail::OwnerDied), "{:?}", m.notes);
    h.get_by_label("recovered");
    h.get_by_label_contains("worker 2 killed, the rest finished");
    let deadline = Instant::now() + Duration::from_secs(2);
    while started.iter().any(|&p| process_alive(p)) {
        assert!(Instant::now() < deadline, "no process outlives its run");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn as_the_scheduler_clicking_the_processes_in_the_fatal_order_deadlocks_them_and_wins_the_challenge() {
    let mut h = harness(AppOptions { program: Some("deadlock-lock-order".into()), ..Default::default() });
    h.get_by_role_and_label(egui::Role::ComboBox, "Challenge").click();
    h.run_steps(2);
    h.get_by_label("make them deadlock").click();
    h.run_steps(2);
    let p = &h.state().ui_state.program;
    assert!(p.gated && p.variant == "no-barrier", "the challenge sets the variant and you as the scheduler");
    h.get_by_label("Start").click();
    // worker 1 takes lock A, worker 2 lock B, then each asks for the other's.
    for who in [0usize, 1, 0, 1] {
        step_until(&mut h, Duration::from_secs(5), "the process at its gate", |app| {
            app.ui_state.program.shared.model.as_ref().is_some_and(|m| m.procs[who].next.is_some())
        });
        h.get_by_role_and_label(egui::Role::Button, &format!("worker {}", who + 1)).click();
        h.run_steps(2);
    }
    step_until(&mut h, Duration::from_secs(5), "the deadlock", |app| {
        matches!(verdict(app), Some(Verdict::Deadlock { .. }))
    });
    h.run_steps(2);
    h.get_by_label("DEADLOCK");
    h.get_by_label("Challenge won!");
    // A blocked process cannot be stepped: the view says why instead.
    h.key_press(egui::Key::Num1);
    step_until(&mut h, Duration::from_secs(2), "the refusal", |app| app.ui_state.program.shared.message.is_some());
    h.run_steps(2);
    h.get_by_label("worker 1 is not waiting for you: waits to take lock B (held by worker 2)");
}

#[test]
fn finishing_without_deadlock_wins_the_other_challenge_from_the_keyboard() {
    let mut h = harness(AppOptions { program: Some("deadlock-lock-order".into()), ..Default::default() });
    h.get_by_role_and_label(egui::Role::ComboBox, "Challenge").click();
    h.run_steps(2);
    h.get_by_label("finish without deadlock").click();
    h.run_steps(2);
    h.get_by_label("Start").click();
    // Keys 1 and 2 step the processes: worker 1 does all four operations, then worker 2.
    for who in [0usize, 0, 0, 0, 1, 1, 1, 1] {
        step_until(&mut h, Duration::from_secs(5), "the process at its gate", |app| {
            app.ui_state.program.shared.model.as_ref().is_some_and(|m| m.procs[who].next.is_some())
        });
        h.key_press(if who == 0 { egui::Key::Num1 } else { egui::Key::Num2 });
        h.run_steps(2);
    }
    step_until(&mut h, Duration::from_secs(5), "both to finish", |app| verdict(app) == Some(Verdict::Completed));
    h.run_steps(2);
    h.get_by_label("Challenge won!");
    step_until(&mut h, Duration::from_secs(2), "the run to end", |app| !app.ui_state.program.shared.running);
}

#[test]
fn restart_with_the_fix_runs_the_variant_that_completes() {
    let mut h =
        harness(AppOptions { program: Some("dining-philosophers".into()), autostart: true, ..Default::default() });
    step_until(&mut h, Duration::from_secs(5), "the deadlock", |app| {
        matches!(verdict(app), Some(Verdict::Deadlock { .. }))
    });
    h.run_steps(2);
    let stuck = pids(h.state());
    h.get_by_label("Restart with the fix").click();
    step_until(&mut h, Duration::from_secs(5), "the fix to complete", |app| {
        verdict(app) == Some(Verdict::Completed) && !pids(app).is_empty() && pids(app) != stuck
    });
    assert_eq!(h.state().ui_state.program.variant, "fixed");
    assert!(stuck.iter().all(|&p| !process_alive(p)), "the deadlocked processes were ended");
}

#[test]
fn a_program_saved_from_the_ui_edited_and_loaded_back_runs_and_a_bad_one_says_which_field() {
    let mut h = harness(AppOptions { program: Some("deadlock-lock-order".into()), ..Default::default() });
    let path = std::env::temp_dir().join(format!("ipclab-test-program-{}.json", std::process::id()));
    h.state_mut().ui_state.program.file_path = path.to_str().expect("utf-8").into();
    h.get_by_label("Save").click();
    h.run_steps(2);
    let text = std::fs::read_to_string(&path).expect("saved");
    std::fs::write(&path, text.replace("\"deadlock-lock-order\"", "\"my-lock-order\"")).expect("edit");
    h.get_by_label("Load").click();
    h.run_steps(2);
    assert_eq!(h.state().ui_state.program.scenario().map(|s| s.id.as_str()), Some("my-lock-order"));
    h.get_by_label("Start").click();
    step_until(&mut h, Duration::from_secs(5), "the deadlock", |app| {
        matches!(verdict(app), Some(Verdict::Deadlock { .. }))
    });
    // Loading waits for the run to end (the choices are fixed while processes run).
    h.key_press(egui::Key::Escape);
    step_until(&mut h, Duration::from_secs(5), "the run to end", |app| !app.ui_state.program.shared.running);
    std::fs::write(&path, text.replace("\"op\": \"lock\"", "\"op\": \"lcok\"")).expect("break");
    h.get_by_label("Load").click();
    h.run_steps(2);
    let msg = h.state().ui_state.program.file_message.clone().unwrap_or_default();
    assert!(msg.contains("unknown variant `lcok`") && msg.contains("line"), "{msg}");
    let _ = std::fs::remove_file(&path);
}
