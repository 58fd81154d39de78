//! The Lessons view driven through egui_kittest: a lesson page beside its experiment, which
//! runs real processes; PageDown turns the page; progress survives a restart; the Chinese page
//! shows CJK glyphs (snapshot, with the bundled font so the picture is the same everywhere).

mod common;
#[path = "common/ui.rs"]
mod ui;

use std::time::Duration;
use ui::{harness_at, step_until};

use egui_kittest::kittest::Queryable;
use ipc_lab::app::{AppOptions, View};
use ipc_lab::lessons::Lang;
use ipc_lab::mechanism::process_alive;
use ipc_lab::programs::model::Verdict;

fn progress_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ipclab-test-progress-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("progress.json")
}

#[test]
fn lesson_two_runs_its_experiment_on_real_processes_and_page_down_opens_lesson_three() {
    let progress = progress_file("two");
    let options = AppOptions {
        lesson: Some("pipes".into()),
        lang: Some(Lang::En),
        progress_path: Some(progress.clone()),
        ..Default::default()
    };
    let mut h = harness_at(options, [1280.0, 800.0]);
    h.run_steps(3);
    assert_eq!(h.state().ui_state.view, View::Lessons);
    h.get_by_label_contains("Anonymous pipes");
    // "Run it" on the page: the hang of a reader that never sees end of file, for real.
    h.get_by_label("Run it: pipe-eof-hang").click();
    step_until(&mut h, Duration::from_secs(5), "the hang", |app| {
        app.ui_state.program.shared.model.as_ref().is_some_and(|m| matches!(m.verdict, Some(Verdict::Hang { .. })))
    });
    h.run_steps(2);
    let m = h.state().ui_state.program.shared.model.clone().expect("a run");
    assert_eq!(m.scenario.id, "hang-unclosed-write-end");
    let reader = m.procs.iter().find(|p| p.name == "reader").expect("a reader");
    assert!(process_alive(reader.pid), "the reader is a real process, still blocked");
    assert!(reader.kernel.as_ref().is_some_and(|(s, w)| *s == 'S' && w.contains("pipe")), "{:?}", reader.kernel);
    h.get_by_label("HANG");

    h.key_press(egui::Key::PageDown);
    h.run_steps(3);
    assert_eq!(h.state().ui_state.lesson.current, "fifos");
    h.get_by_label_contains("Named pipes");
    h.key_press(egui::Key::PageUp);
    h.run_steps(2);
    assert_eq!(h.state().ui_state.lesson.current, "pipes");

    // Answer the first question; the answer, and the lessons read, outlive the app.
    let q = h.state().ui_state.lesson.lesson().expect("lesson").questions[0].clone();
    let right = q.right_answer().expect("one right answer");
    // Shown without Markdown's backticks.
    let answer = q.answers[right].text.replace('`', "");
    h.get_by_label(&answer).scroll_to_me();
    h.run_steps(3);
    h.get_by_label(&answer).click();
    h.run_steps(3);
    let why: String = q.answers[right].why.replace('`', "").chars().take(30).collect();
    h.get_by_label_contains(&format!("✓ {why}"));
    drop(h);
    let again = harness_at(
        AppOptions { lang: Some(Lang::En), progress_path: Some(progress.clone()), ..Default::default() },
        [1280.0, 800.0],
    );
    let p = &again.state().ui_state.lesson.progress;
    let pipes = p.lessons.get("pipes").expect("kept");
    assert!(pipes.read && p.lessons.get("fifos").is_some_and(|f| f.read));
    assert_eq!(pipes.answers.get(&0), Some(&right));
    let _ = std::fs::remove_dir_all(progress.parent().expect("dir"));
}

#[test]
fn a_challenge_in_a_lesson_is_won_on_the_scheduler_and_kept() {
    let progress = progress_file("challenge");
    let options = AppOptions {
        lesson: Some("deadlocks".into()),
        lang: Some(Lang::En),
        progress_path: Some(progress.clone()),
        ..Default::default()
    };
    let mut h = harness_at(options, [1280.0, 800.0]);
    h.run_steps(3);
    let lesson = h.state().ui_state.lesson.lesson().expect("lesson 8").clone();
    let ci = lesson
        .challenges
        .iter()
        .position(|c| c.goal == ipc_lab::lessons::Goal::Deadlock)
        .expect("a deadlock challenge");
    let id = lesson.challenges[ci].experiment.clone();
    h.state_mut().run_experiment(&id, Some((lesson.id.clone(), ci)));
    // Worker 1 takes lock A, worker 2 lock B, each asks for the other's (keys 1 and 2).
    for who in [0usize, 1, 0, 1] {
        step_until(&mut h, Duration::from_secs(5), "the process at its gate", |app| {
            app.ui_state.program.shared.model.as_ref().is_some_and(|m| m.procs[who].next.is_some())
        });
        h.key_press(if who == 0 { egui::Key::Num1 } else { egui::Key::Num2 });
        h.run_steps(2);
    }
    step_until(&mut h, Duration::from_secs(5), "the challenge won", |app| {
        app.ui_state.lesson.progress.lessons.get("deadlocks").is_some_and(|p| p.challenges_won.contains(&ci))
    });
    let _ = std::fs::remove_dir_all(progress.parent().expect("dir"));
}

#[test]
fn a_chinese_lesson_shows_cjk_glyphs_on_a_projector() {
    let progress = progress_file("zh");
    let options = AppOptions {
        lesson: Some("pipes".into()),
        lang: Some(Lang::ZhCn),
        progress_path: Some(progress.clone()),
        presenter: true,
        bundled_font: true,
        ..Default::default()
    };
    let mut h = harness_at(options, [1024.0, 768.0]);
    h.run_steps(6);
    h.get_by_label("匿名管道");
    h.snapshot("lesson_zh_1024x768");
    let _ = std::fs::remove_dir_all(progress.parent().expect("dir"));
}
