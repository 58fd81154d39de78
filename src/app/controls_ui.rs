//! The top panel: what to run and how fast, and the run buttons.

use std::path::Path;

use egui::RichText;

use super::{IpcLabApp, PaceChoice};
use crate::mechanism::{MechanismId, ShmWait};
use crate::model::RunStatus;
use crate::scenario::{Pattern, human_bytes};
use crate::scenario_file::{Scenario, builtin};

const SIZES: [usize; 7] = [0, 64, 1024, 4096, 65536, 1 << 20, 16 << 20];

pub fn controls_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let running = app.model.is_running();
    ui.add_space(4.0);
    ui.horizontal_wrapped(|ui| {
        ui.add_enabled_ui(!running, |ui| scenario_ui(app, ui));
    });
    ui.horizontal_wrapped(|ui| {
        pace_ui(app, ui);
        ui.separator();
        buttons_ui(app, ui);
        ui.separator();
        if ui.button("Save…").on_hover_text("Save this scenario to a file").clicked()
            || ui.add_enabled(!running, egui::Button::new("Load…")).on_hover_text("Load a scenario file").clicked()
        {
            app.ui_state.show_file_window = true;
        }
        ui.toggle_value(&mut app.ui_state.presenter, "Presenter").on_hover_text("Big text for a projector (F5)");
    });
    status_ui(app, ui);
    ui.add_space(2.0);
}

fn scenario_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let s = &mut app.ui_state.scenario;
    let label = ui.label("Scenario");
    egui::ComboBox::from_id_salt("scenario")
        .selected_text(s.name.clone())
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
        ui.add(egui::DragValue::new(&mut s.nodes).range(min..=crate::scenario::MAX_NODES).suffix(what));
    }
    let label = ui.label("Size");
    egui::ComboBox::from_id_salt("size")
        .selected_text(human_bytes(s.size as u64))
        .show_ui(ui, |ui| {
            for size in SIZES {
                ui.selectable_value(&mut s.size, size, human_bytes(size as u64));
            }
        })
        .response
        .labelled_by(label.id);
    ui.label("Count");
    let mut endless = s.count.is_none();
    if ui.checkbox(&mut endless, "endless").changed() {
        s.count = if endless { None } else { Some(1000) };
    }
    if let Some(count) = s.count.as_mut() {
        ui.add(egui::DragValue::new(count).range(1..=100_000_000).speed(10.0));
    }
    ui.label("Rate");
    let mut unlimited = s.rate_per_sec.is_none();
    if ui.checkbox(&mut unlimited, "unlimited").changed() {
        s.rate_per_sec = if unlimited { None } else { Some(20.0) };
    }
    if let Some(rate) = s.rate_per_sec.as_mut() {
        ui.add(egui::DragValue::new(rate).range(0.1..=1_000_000.0).speed(1.0).suffix(" msg/s"));
    }
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
                .suffix(" ops/s")
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
    if ui.add_enabled(!running, egui::Button::new(RichText::new("Start").strong())).clicked() {
        app.start();
    }
    let pause_label = if app.model.paused { "Resume" } else { "Pause" };
    if ui.add_enabled(running, egui::Button::new(pause_label)).on_hover_text("Space").clicked() {
        app.toggle_pause();
    }
    if ui.button("Step").on_hover_text("Release exactly one IPC operation (S or →)").clicked() {
        app.step();
    }
    if ui.add_enabled(running, egui::Button::new("Stop")).on_hover_text("Esc").clicked() {
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
            let mech = m.mechanism().map_or("?", |m| m.as_str());
            let state = if m.paused { "paused" } else { "running" };
            (format!("{state}: real processes talking over {mech} (run {})", m.prefix), None)
        }
        RunStatus::Finished(Ok(r)) => (
            format!(
                "finished: {} messages sent, {} received, {} lost, {} corrupted",
                r.sent, r.received, r.lost, r.corrupted
            ),
            None,
        ),
        RunStatus::Finished(Err(e)) => (format!("run failed: {e}"), Some(ui.visuals().error_fg_color)),
        RunStatus::StartFailed(e) => (format!("could not start: {e}"), Some(ui.visuals().error_fg_color)),
    };
    ui.horizontal_wrapped(|ui| {
        let mut t = RichText::new(text);
        if let Some(c) = color {
            t = t.color(c);
        }
        ui.label(t);
        if let Some(n) = &app.model.notice {
            ui.label(RichText::new(format!("· {n}")).weak());
        }
    });
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
                    Ok(()) => (format!("saved to {}", path.display()), true),
                    Err(e) => (e, false),
                });
            }
            if ui.button("Load").clicked() {
                let path = std::path::PathBuf::from(&app.ui_state.file_path);
                app.ui_state.file_message = Some(match Scenario::load(&path) {
                    Ok(s) => {
                        app.ui_state.set_pace(s.pace);
                        app.ui_state.scenario = s;
                        (format!("loaded {}", path.display()), true)
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
