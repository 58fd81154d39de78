//! The top panel: what to run and how fast, and the run buttons.

use std::path::Path;

use egui::RichText;

use super::{IpcLabApp, PaceChoice};
use crate::mechanism::{MechanismId, ShmWait};
use crate::model::RunStatus;
use crate::scenario::{Pattern, human_bytes};
use crate::scenario_file::{Scenario, builtin};

use super::stage_ui::thousands;

const SIZES: [usize; 7] = [0, 64, 1024, 4096, 65536, 1 << 20, 16 << 20];

pub fn controls_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let running = app.model.is_running();
    ui.add_space(4.0);
    // The run buttons lead the first row and keep their place whatever is chosen below.
    ui.horizontal_wrapped(|ui| {
        view_tabs(app, ui);
        ui.separator();
        buttons_ui(app, ui);
        ui.separator();
        pace_ui(app, ui);
        ui.separator();
        if ui.button("Save…").on_hover_text("Save this scenario to a file").clicked()
            || ui.add_enabled(!running, egui::Button::new("Load…")).on_hover_text("Load a scenario file").clicked()
        {
            app.ui_state.show_file_window = true;
        }
        ui.toggle_value(&mut app.ui_state.presenter, "Presenter").on_hover_text("Big text for a projector (F5)");
    });
    // What to run: fixed while a run goes on.
    ui.horizontal_wrapped(|ui| {
        if running {
            ui.disable();
        }
        scenario_ui(app, ui);
    });
    status_ui(app, ui);
    ui.add_space(2.0);
}

/// The views: the live stage, or scenario programs (locks, semaphores, deadlocks).
pub fn view_tabs(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    use super::View;
    ui.selectable_value(&mut app.ui_state.view, View::Stage, "Live stage")
        .on_hover_text("Processes moving messages over a mechanism, timed");
    ui.selectable_value(&mut app.ui_state.view, View::Programs, "Programs")
        .on_hover_text("Processes running programs on locks, semaphores, pipes and queues: races and deadlocks");
    ui.selectable_value(&mut app.ui_state.view, View::Lessons, "Lessons")
        .on_hover_text("Lessons with experiments one click away (PageDown / PageUp turn the page)");
    ui.selectable_value(&mut app.ui_state.view, View::Compare, "Compare")
        .on_hover_text("Race the mechanisms fairly, as ipc-lab bench does, and plot them against each other");
}

fn scenario_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let s = &mut app.ui_state.scenario;
    let label = ui.label("Scenario");
    egui::ComboBox::from_id_salt("scenario")
        .selected_text(s.name.clone())
        .width(96.0)
        .show_ui(ui, |ui| {
            for (id, what, preset) in builtin() {
                if ui.selectable_label(s.name == id, id).on_hover_text(what).clicked() {
                    let mechanism = s.mechanism;
                    *s = Scenario { mechanism, ..preset.clone() };
                    app.ui_state.pace_choice = match preset.pace {
                        crate::session::Pace::RealTime => PaceChoice::RealTime,
                        crate::session::Pace::SlowMotion { .. } => PaceChoice::SlowMotion,
                        crate::session::Pace::Step => PaceChoice::Step,
                    };
                }
            }
        })
        .response
        .labelled_by(label.id);
    let s = &mut app.ui_state.scenario;
    let label = ui.label("Mechanism");
    egui::ComboBox::from_id_salt("mechanism")
        .selected_text(s.mechanism.as_str())
        .width(76.0)
        .show_ui(ui, |ui| {
            for m in MechanismId::ALL {
                let available = m.availability();
                let r = ui.add_enabled(available.is_ok(), egui::Button::selectable(s.mechanism == m, m.as_str()));
                let r = match &available {
                    Ok(()) => r.on_hover_text(m.description()),
                    Err(why) => r.on_disabled_hover_text(format!("unavailable here: {why}")),
                };
                if r.clicked() {
                    s.mechanism = m;
                }
            }
        })
        .response
        .labelled_by(label.id);
    if s.mechanism == MechanismId::Shm {
        egui::ComboBox::from_id_salt("shm-wait")
            .selected_text(format!("wait: {}", s.shm_wait))
            .show_ui(ui, |ui| {
                for w in [ShmWait::Spin, ShmWait::Futex, ShmWait::Semaphore] {
                    ui.selectable_value(&mut s.shm_wait, w, w.to_string());
                }
            })
            .response
            .on_hover_text("How shared memory waits for its peer");
    }
    ui.label("Pattern");
    for p in [Pattern::PingPong, Pattern::Stream, Pattern::Pipeline, Pattern::FanOut, Pattern::FanIn] {
        ui.selectable_value(&mut s.pattern, p, p.as_str());
    }
    if matches!(s.pattern, Pattern::Pipeline | Pattern::FanOut | Pattern::FanIn) {
        let (what, min) = match s.pattern {
            Pattern::Pipeline => (" stages", 2),
            Pattern::FanOut => (" consumers", 1),
            _ => (" producers", 1),
        };
        ui.add(egui::DragValue::new(&mut s.nodes).range(min..=crate::scenario::MAX_NODES).suffix(what))
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::SpinButton, true, what.trim()));
    }
    keep_together(ui, 130.0);
    let label = ui.label("Size");
    egui::ComboBox::from_id_salt("size")
        .selected_text(human_bytes(s.size as u64))
        .width(76.0)
        .show_ui(ui, |ui| {
            for size in SIZES {
                ui.selectable_value(&mut s.size, size, human_bytes(size as u64));
            }
        })
        .response
        .labelled_by(label.id);
    keep_together(ui, 190.0);
    let count_label = ui.label("Count");
    let mut endless = s.count.is_none();
    if ui.checkbox(&mut endless, "endless").changed() {
        s.count = if endless { None } else { Some(1000) };
    }
    if let Some(count) = s.count.as_mut() {
        ui.add(egui::DragValue::new(count).range(1..=100_000_000).speed(10.0)).labelled_by(count_label.id);
    }
    // Slow motion and step mode set the pace themselves; a rate limit only means something in
    // real time.
    let real_time = app.ui_state.pace_choice == PaceChoice::RealTime;
    let why = "Slow motion and step mode set the pace; the rate limit applies in real time";
    keep_together(ui, 200.0);
    let rate_label = ui.add_enabled(real_time, egui::Label::new("Rate")).on_disabled_hover_text(why);
    let mut unlimited = s.rate_per_sec.is_none();
    if ui.add_enabled(real_time, egui::Checkbox::new(&mut unlimited, "unlimited")).on_disabled_hover_text(why).changed()
    {
        s.rate_per_sec = if unlimited { None } else { Some(20.0) };
    }
    if let Some(rate) = s.rate_per_sec.as_mut() {
        ui.add_enabled(real_time, egui::DragValue::new(rate).range(0.1..=1_000_000.0).speed(1.0).suffix(" msg/s"))
            .labelled_by(rate_label.id)
            .on_disabled_hover_text(why);
    }
    placement_ui(s, app.ui_state.cpus, ui);
    faults_ui(s, ui);
}

/// In a wrapping row, starts a new row unless `width` points are left, so a label is not left
/// at the end of one row with its control at the start of the next.
fn keep_together(ui: &mut egui::Ui, width: f32) {
    if ui.available_width() < width {
        ui.end_row();
    }
}

/// Fault injection: the producers drop, duplicate, reorder or corrupt a share of their frames on
/// the real channel, and the statistics show what the receivers detect beside it.
fn faults_ui(s: &mut Scenario, ui: &mut egui::Ui) {
    use crate::faults::FaultRule;
    let one_way = s.pattern != Pattern::PingPong;
    let summary = s.faults.summary();
    {
        // Stays open while sliders are dragged and clicked; a click outside closes it.
        let config =
            egui::containers::menu::MenuConfig::new().close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside);
        egui::containers::menu::MenuButton::new(format!("Faults: {summary}")).config(config).ui(ui, |ui| {
            if !one_way {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    "Faults need a one-way pattern: in ping-pong a dropped ping would leave the pinger waiting forever.",
                );
            }
            ui.label("Each producer damages this share of its frames, on the real channel:");
            let percent = |rule: &FaultRule| match rule {
                FaultRule::Fraction(p) => p * 100.0,
                _ => 0.0,
            };
            let rules = [
                ("drop", &mut s.faults.drop),
                ("duplicate", &mut s.faults.duplicate),
                ("reorder", &mut s.faults.reorder),
                ("corrupt", &mut s.faults.corrupt),
            ];
            for (name, rule) in rules {
                let mut p = percent(rule);
                let r = ui.add(egui::Slider::new(&mut p, 0.0..=25.0).suffix(" %").max_decimals(1).text(name));
                if r.changed() {
                    *rule = if p > 0.0 { FaultRule::Fraction(p / 100.0) } else { FaultRule::Never };
                }
            }
            if s.size == 0 && !matches!(s.faults.corrupt, FaultRule::Never) {
                ui.colored_label(ui.visuals().warn_fg_color, "corrupt needs a payload: pick a size above 0 B");
            }
            if ui.button("No faults").clicked() {
                s.faults = crate::faults::Faults::default();
            }
        })
        .0
        .on_hover_text("Drop, duplicate, reorder or corrupt frames on purpose and see what the receiver detects");
    }
}

/// Where the processes run, like `bench --pin`.
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    Unpinned,
    SameCore,
    AcrossCores,
}

impl Placement {
    fn of(pin: Option<&[usize]>) -> Option<Placement> {
        match pin {
            None => Some(Placement::Unpinned),
            Some([0]) => Some(Placement::SameCore),
            Some([0, 1]) => Some(Placement::AcrossCores),
            Some(_) => None, // a file's own CPU list
        }
    }

    fn pin(self) -> Option<Vec<usize>> {
        match self {
            Placement::Unpinned => None,
            Placement::SameCore => Some(vec![0]),
            Placement::AcrossCores => Some(vec![0, 1]),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Placement::Unpinned => "unpinned",
            Placement::SameCore => "same core",
            Placement::AcrossCores => "across cores",
        }
    }
}

/// CPUs this process may run on (its children inherit the same).
pub fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn placement_ui(s: &mut Scenario, cpus: usize, ui: &mut egui::Ui) {
    keep_together(ui, 220.0);
    let label = ui.label("Placement");
    let current = Placement::of(s.pin.as_deref());
    let text = match (current, &s.pin) {
        (Some(p), _) => p.label().to_string(),
        (None, Some(cpus)) => format!("CPUs {cpus:?}"),
        (None, None) => "unpinned".into(),
    };
    egui::ComboBox::from_id_salt("placement")
        .selected_text(text)
        .width(110.0)
        .show_ui(ui, |ui| {
            for (p, what) in [
                (Placement::Unpinned, "wherever the scheduler puts them"),
                (Placement::SameCore, "every process on CPU 0: they take turns on one core"),
                (Placement::AcrossCores, "alternate CPU 0 and CPU 1: the first node on 0, the next on 1, ..."),
            ] {
                let enabled = p != Placement::AcrossCores || cpus >= 2;
                let r = ui.add_enabled(enabled, egui::Button::selectable(current == Some(p), p.label()));
                let r = r.on_hover_text(what).on_disabled_hover_text("this machine has only one CPU");
                if r.clicked() {
                    s.pin = p.pin();
                }
            }
        })
        .response
        .labelled_by(label.id)
        .on_hover_text("Pin the processes to CPUs, like bench --pin");
}

fn pace_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    ui.label("Pace");
    let before = app.ui_state.pace();
    let choice = &mut app.ui_state.pace_choice;
    ui.selectable_value(choice, PaceChoice::RealTime, "Real time");
    ui.selectable_value(choice, PaceChoice::SlowMotion, "Slow motion");
    ui.selectable_value(choice, PaceChoice::Step, "Step mode");
    if app.ui_state.pace_choice == PaceChoice::SlowMotion {
        ui.add(
            egui::Slider::new(&mut app.ui_state.slow_ops_per_sec, 0.5..=20.0)
                .logarithmic(true)
                .text("ops/s")
                .max_decimals(1),
        );
    }
    let after = app.ui_state.pace();
    if after != before && app.model.is_running() {
        app.pending.push(crate::session::Command::SetPace(after));
    }
}

fn buttons_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let running = app.model.is_running();
    // Fixed widths: "Pause" turning into "Resume" must not push Step and Stop along.
    let size = egui::vec2(68.0, 0.0);
    if ui.add_enabled(!running, egui::Button::new(RichText::new("Start").strong()).min_size(size)).clicked() {
        app.start();
    }
    let pause_label = if app.model.paused { "Resume" } else { "Pause" };
    if ui.add_enabled(running, egui::Button::new(pause_label).min_size(size)).on_hover_text("Space").clicked() {
        app.toggle_pause();
    }
    if ui
        .add(egui::Button::new("Step").min_size(size))
        .on_hover_text("Release exactly one IPC operation (S or →)")
        .clicked()
    {
        app.step();
    }
    if ui.add_enabled(running, egui::Button::new("Stop").min_size(size)).on_hover_text("Esc").clicked() {
        app.stop();
    }
}

fn status_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let (text, color) = match &app.model.status {
        RunStatus::Idle => {
            ("Pick a mechanism and press Start (Space). Step (S) runs one operation at a time.".to_string(), None)
        }
        RunStatus::Starting => ("Starting worker processes…".to_string(), None),
        RunStatus::Running => {
            let m = &app.model;
            let state = if m.paused { "paused" } else { "running" };
            let what = match m.mechanism() {
                Some(mech) if mech.in_process() => {
                    let n = m.topology.as_ref().map_or(2, |t| t.programs.len());
                    let n = if n == 2 { "two".to_string() } else { n.to_string() };
                    format!("{n} threads of one process, talking over an in-process channel (the baseline)")
                }
                Some(mech) => format!("real processes talking over {mech}"),
                None => "real processes".into(),
            };
            (format!("{state}: {what} (run {})", m.prefix), None)
        }
        RunStatus::Finished(Ok(r)) => {
            let c = app.model.counts();
            (
                format!(
                    "finished: {} messages sent, {} received, {} lost, {} corrupted",
                    thousands(c.sent),
                    thousands(c.received),
                    thousands(r.lost),
                    thousands(r.corrupted)
                ),
                None,
            )
        }
        RunStatus::Finished(Err(e)) => (format!("run failed: {e}"), Some(ui.visuals().error_fg_color)),
        RunStatus::StartFailed(e) => (format!("could not start: {e}"), Some(ui.visuals().error_fg_color)),
    };
    ui.horizontal_wrapped(|ui| {
        let mut t = RichText::new(text);
        if let Some(c) = color {
            t = t.color(c);
        }
        ui.label(t);
        if let Some(n) = app.model.notice(app.now_nanos()) {
            ui.label(RichText::new(format!("· {n}")).weak());
        }
    });
}

/// The absolute path of a file, so the user knows which file it was, whatever the working
/// directory.
fn full_path(path: &Path) -> String {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The save/load window: a path and two buttons; errors are shown, never panicked on.
pub fn file_window(app: &mut IpcLabApp, ctx: &egui::Context) {
    let mut open = true;
    egui::Window::new("Scenario file").open(&mut open).collapsible(false).show(ctx, |ui| {
        ui.horizontal(|ui| {
            ui.label("Path");
            ui.text_edit_singleline(&mut app.ui_state.file_path);
        });
        ui.horizontal(|ui| {
            if ui.button("Save").clicked() {
                let path = Path::new(&app.ui_state.file_path);
                app.ui_state.file_message = Some(match app.ui_state.scenario.save(path) {
                    Ok(()) => (format!("saved to {}", full_path(path)), true),
                    Err(e) => (e, false),
                });
            }
            if ui.button("Load").clicked() {
                let path = std::path::PathBuf::from(&app.ui_state.file_path);
                app.ui_state.file_message = Some(match Scenario::load(&path) {
                    Ok(s) => {
                        app.ui_state.set_pace(s.pace);
                        app.ui_state.scenario = s;
                        (format!("loaded {}", full_path(&path)), true)
                    }
                    Err(e) => (e, false),
                });
            }
        });
        if let Some((msg, ok)) = &app.ui_state.file_message {
            let color = if *ok { ui.visuals().text_color() } else { ui.visuals().error_fg_color };
            ui.label(RichText::new(msg).color(color));
        }
    });
    if !open {
        app.ui_state.show_file_window = false;
    }
}
