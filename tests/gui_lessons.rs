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

/// The app at lesson `lesson` in English, in a window of `size` points, with its own progress
/// file (`name`).
fn lesson_at(
    name: &str,
    lesson: &str,
    size: [f32; 2],
    presenter: bool,
) -> (egui_kittest::Harness<'static, ipc_lab::app::IpcLabApp>, std::path::PathBuf) {
    let progress = progress_file(name);
    let options = AppOptions {
        lesson: Some(lesson.into()),
        lang: Some(Lang::En),
        progress_path: Some(progress.clone()),
        presenter,
        ..Default::default()
    };
    (harness_at(options, size), progress)
}

#[test]
fn lesson_two_runs_its_experiment_on_real_processes_and_page_down_opens_lesson_three() {
    let (mut h, progress) = lesson_at("two", "pipes", [1280.0, 800.0], false);
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

    // PageDown at the page's end turns it; PageUp at the next one's top turns back.
    h.key_press(egui::Key::End);
    h.run_steps(3);
    h.key_press(egui::Key::PageDown);
    h.run_steps(3);
    assert_eq!(h.state().ui_state.lesson.current, "fifos");
    h.get_by_label_contains("Named pipes");
    h.key_press(egui::Key::PageUp);
    h.run_steps(2);
    assert_eq!(h.state().ui_state.lesson.current, "pipes");
    h.key_press(egui::Key::Home);
    h.run_steps(3);

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

/// An instructor with a clicker: a whole lesson walked with keys only. PageDown scrolls the page a
/// screen at a time and turns it only at the end; Enter runs the experiment on screen, Esc stops
/// it; turning the page stops the one still running and clears the stage.
#[test]
fn a_lesson_is_walked_with_keys_alone() {
    let (mut h, progress) = lesson_at("keys", "pipes", [1024.0, 768.0], true);
    h.run_steps(6);
    h.get_by_label_contains("Keys: PageDown");
    // ↓ scrolls a line, Home goes back to the top.
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(4);
    assert!(h.state().ui_state.lesson.scroll.0 > 10.0, "↓ scrolls: {:?}", h.state().ui_state.lesson.scroll);
    h.key_press(egui::Key::Home);
    h.run_steps(4);
    assert_eq!(h.state().ui_state.lesson.scroll.0, 0.0);

    // Enter runs the experiment marked for it (the first on screen), Esc stops it.
    let first = h.state().ui_state.lesson.enter_runs.clone().expect("an experiment for Enter");
    h.get_by_label_contains("◀ Enter");
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    assert_eq!(h.state().ui_state.lesson.running.as_deref(), Some(first.as_str()));
    step_until(&mut h, Duration::from_secs(5), "processes on the stage", |app| {
        app.ui_state.program.shared.model.as_ref().is_some_and(|m| m.procs.iter().any(|p| p.pid > 0))
    });
    h.get_by_label("Stop");
    // The program's log shows under the stage, as in the Programs view.
    h.run_steps(2);
    h.get_by_label("What happened");
    h.key_press(egui::Key::Escape);
    step_until(&mut h, Duration::from_secs(5), "the run stopped", |app| !app.ui_state.program.shared.running);

    // Run it again, then walk the page: a screen at a time, the lesson kept until its end.
    h.key_press(egui::Key::Enter);
    step_until(&mut h, Duration::from_secs(5), "the second run's processes", |app| {
        app.ui_state.program.shared.running
            && app.ui_state.program.shared.model.as_ref().is_some_and(|m| m.procs.iter().any(|p| p.pid > 0))
    });
    let pids: Vec<u32> =
        h.state().ui_state.program.shared.model.as_ref().expect("a run").procs.iter().map(|p| p.pid).collect();
    let mut offsets = vec![h.state().ui_state.lesson.scroll.0];
    for _ in 0..60 {
        h.key_press(egui::Key::PageDown);
        h.run_steps(3);
        if h.state().ui_state.lesson.current != "pipes" {
            break;
        }
        offsets.push(h.state().ui_state.lesson.scroll.0);
    }
    assert_eq!(h.state().ui_state.lesson.current, "fifos", "PageDown reaches the next lesson");
    assert!(offsets.len() >= 4, "the page took several screens before turning: {offsets:?}");
    assert!(
        offsets.windows(2).all(|w| w[1] > w[0]) || offsets.windows(2).rev().skip(1).all(|w| w[1] > w[0]),
        "each PageDown scrolled on until the end: {offsets:?}"
    );
    // The experiment left with its lesson: stopped, its processes gone, the stage cleared.
    step_until(&mut h, Duration::from_secs(5), "the last lesson's run ended", |app| {
        !app.ui_state.program.shared.running && app.ui_state.lesson.running.is_none()
    });
    for pid in pids.into_iter().filter(|p| *p > 0) {
        assert!(!process_alive(pid), "pid {pid} outlived its lesson");
    }
    h.get_by_label_contains("the experiment runs here");
    let _ = std::fs::remove_dir_all(progress.parent().expect("dir"));
}

/// Lesson 1 is open before any lesson is picked; reading it counts.
#[test]
fn the_first_lesson_shown_is_marked_read() {
    let progress = progress_file("first");
    let options = AppOptions { lang: Some(Lang::En), progress_path: Some(progress.clone()), ..Default::default() };
    let mut h = harness_at(options, [1280.0, 800.0]);
    h.state_mut().ui_state.view = View::Lessons;
    h.run_steps(4);
    let first = h.state().ui_state.lesson.current.clone();
    assert_eq!(first, "processes");
    drop(h);
    let saved = ipc_lab::lessons::progress::Progress::load(&progress);
    assert!(saved.progress.lessons.get(&first).is_some_and(|l| l.read), "{:?}", saved.progress);
    let _ = std::fs::remove_dir_all(progress.parent().expect("dir"));
}

#[test]
fn a_challenge_in_a_lesson_is_won_on_the_scheduler_and_kept() {
    let (mut h, progress) = lesson_at("challenge", "deadlocks", [1280.0, 800.0], false);
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

/// A run started in the Stage view after a lesson's experiment is the Stage's: turning a lesson
/// page later leaves it running.
#[test]
fn a_page_turn_leaves_a_run_started_elsewhere_alone() {
    let (mut h, progress) = lesson_at("elsewhere", "pipes", [1280.0, 800.0], false);
    h.run_steps(3);
    h.state_mut().run_experiment("pipe-stream", None);
    step_until(&mut h, Duration::from_secs(5), "the lesson's stream", |app| app.model.is_running());
    h.state_mut().stop();
    step_until(&mut h, Duration::from_secs(5), "it stopped", |app| !app.model.is_running());
    h.state_mut().ui_state.view = View::Stage;
    h.run_steps(2);
    h.state_mut().start();
    step_until(&mut h, Duration::from_secs(5), "the stage's own run", |app| app.model.is_running());
    h.state_mut().ui_state.view = View::Lessons;
    h.run_steps(2);
    h.key_press(egui::Key::End);
    h.run_steps(2);
    h.key_press(egui::Key::PageDown);
    h.run_steps(4);
    assert_eq!(h.state().ui_state.lesson.current, "fifos");
    h.run_steps(4);
    assert!(h.state().model.is_running(), "the Stage's run was stopped by a lesson's page turn");
    h.state_mut().stop();
    step_until(&mut h, Duration::from_secs(5), "stopped at the end", |app| !app.model.is_running());
    let _ = std::fs::remove_dir_all(progress.parent().expect("dir"));
}

/// A focused button scrolled out of sight gives up the focus, so Enter runs the experiment
/// marked for it, not the hidden button, and no ring floats over other panels.
#[test]
fn a_focused_button_scrolled_away_gives_up_the_focus() {
    let (mut h, progress) = lesson_at("focus", "pipes", [1280.0, 800.0], false);
    h.run_steps(3);
    h.get_by_label("Run it: pipe-eof-hang").focus();
    h.run_steps(2);
    assert!(h.ctx.memory(|m| m.focused()).is_some(), "the button has the focus");
    h.key_press(egui::Key::End);
    h.run_steps(6);
    assert!(h.ctx.memory(|m| m.focused()).is_none(), "the hidden button kept the focus");
    let _ = std::fs::remove_dir_all(progress.parent().expect("dir"));
}

/// Starting an experiment narrows the page beside it and the text reflows; the reader keeps
/// their place (the same share of the page down) instead of landing a section earlier.
#[test]
fn the_page_keeps_its_place_when_an_experiment_narrows_it() {
    let (mut h, _progress) = lesson_at("reflow", "across-machines", [1280.0, 800.0], false);
    h.run_steps(3);
    for _ in 0..6 {
        h.key_press(egui::Key::PageDown);
        h.run_steps(2);
    }
    let (offset, _, content) = h.state().ui_state.lesson.scroll;
    assert!(offset > 0.0 && content > 0.0);
    h.key_press(egui::Key::Enter);
    h.run_steps(6);
    assert!(h.state().ui_state.lesson.running.is_some(), "Enter ran the experiment on screen");
    let (offset2, _, content2) = h.state().ui_state.lesson.scroll;
    assert!(content2 > content * 1.1, "the narrower page is longer: {content} → {content2}");
    let (was, now) = (offset / content, offset2 / content2);
    assert!((now - was).abs() < 0.01, "the place moved from {was:.3} to {now:.3} of the page");
    h.key_press(egui::Key::Escape);
    h.run_steps(3);
}
