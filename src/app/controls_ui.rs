//! The top panel: what to run and how fast, and the run buttons.

use std::path::Path;

use egui::RichText;

use super::{IpcLabApp, PaceChoice};
use crate::mechanism::{MechanismId, ShmWait};
use crate::tr;
use crate::traffic::model::RunStatus;
use crate::traffic::setup::{Setup, builtin};
use crate::traffic::spec::{Pattern, human_bytes};

use super::stage_ui::thousands;

const SIZES: [usize; 7] = [0, 64, 1024, 4096, 65536, 1 << 20, 16 << 20];

pub fn controls_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let running = app.model.is_running();
    ui.add_space(4.0);
    // The setup's rows fold away: folded by default in presenter mode, where a projector's room
    // is for the stage; the run buttons lead the first row and keep their place.
    let presenter = app.ui_state.presenter;
    let mut open = match app.ui_state.setup_open {
        Some((p, shown)) if p == presenter => shown,
        _ => !presenter,
    };
    ui.horizontal_wrapped(|ui| {
        view_tabs(app, ui);
        ui.separator();
        buttons_ui(app, ui);
        ui.separator();
        if ui
            .toggle_value(&mut open, tr!("controls.setup_toggle"))
            .on_hover_text(tr!("controls.setup_toggle_hint"))
            .clicked()
        {
            app.ui_state.setup_open = Some((presenter, open));
        }
        presenter_and_language(app, ui);
    });
    if open {
        ui.horizontal_wrapped(|ui| {
            pace_ui(app, ui);
            ui.separator();
            if ui.button(tr!("controls.save_dots")).on_hover_text(tr!("controls.save_hint")).clicked()
                || ui
                    .add_enabled(!running, egui::Button::new(tr!("controls.load_dots")))
                    .on_hover_text(tr!("controls.load_hint"))
                    .clicked()
            {
                app.ui_state.show_file_window = true;
            }
            let has_messages = !app.model.messages.is_empty();
            if ui
                .add_enabled(has_messages, egui::Button::new(tr!("controls.save_trace")))
                .on_hover_text(tr!("controls.save_trace_hint"))
                .clicked()
            {
                save_trace(app);
            }
        });
        // What to run: fixed while a run goes on.
        ui.horizontal_wrapped(|ui| {
            if running {
                ui.disable();
            }
            scenario_ui(app, ui);
        });
    }
    status_ui(app, ui, !open);
    ui.add_space(2.0);
}

/// The setup in one line, for the folded toolbar: "ping-pong · pipe · 64 B · endless · 4 msg/s ·
/// real time · unpinned".
pub fn setup_summary(app: &IpcLabApp) -> String {
    let s = &app.ui_state.setup;
    let mechanism = match s.mechanism {
        crate::mechanism::MechanismId::Shm => format!("shm ({})", s.shm_wait),
        m => m.as_str().to_string(),
    };
    let mut parts = vec![s.shown_name(), mechanism, pattern_label(s.pattern)];
    parts.push(human_bytes(s.size as u64));
    parts.push(match s.count {
        Some(n) => tr!("controls.count_n", n = thousands(n)),
        None => tr!("controls.endless"),
    });
    if app.ui_state.pace_choice == PaceChoice::RealTime {
        parts.push(match s.rate_per_sec {
            Some(r) => format!("{r} {}", tr!("controls.msg_per_sec")),
            None => tr!("controls.unlimited"),
        });
    }
    parts.push(match app.ui_state.pace_choice {
        PaceChoice::RealTime => tr!("controls.real_time"),
        PaceChoice::SlowMotion => tr!("controls.slow_motion"),
        PaceChoice::Step => tr!("controls.step_mode"),
    });
    parts.push(match (Placement::of(s.pin.as_deref()), &s.pin) {
        (Some(p), _) => p.label(),
        (None, Some(cpus)) => tr!("controls.cpus_list", list = format!("{cpus:?}")),
        (None, None) => tr!("controls.unpinned"),
    });
    if !s.faults.is_none() {
        parts.push(tr!("controls.faults_on"));
    }
    let mut seen = Vec::new();
    parts.retain(|p| {
        !seen.contains(p) && {
            seen.push(p.clone());
            true
        }
    });
    parts.join(" · ")
}

/// The views: the live stage, or scenario programs (locks, semaphores, deadlocks).
pub fn view_tabs(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    use super::View;
    ui.selectable_value(&mut app.ui_state.view, View::Stage, tr!("view.stage")).on_hover_text(tr!("view.stage_hint"));
    ui.selectable_value(&mut app.ui_state.view, View::Programs, tr!("view.programs"))
        .on_hover_text(tr!("view.programs_hint"));
    ui.selectable_value(&mut app.ui_state.view, View::Lessons, tr!("view.lessons"))
        .on_hover_text(tr!("view.lessons_hint"));
    ui.selectable_value(&mut app.ui_state.view, View::Compare, tr!("view.compare"))
        .on_hover_text(tr!("view.compare_hint"));
    ui.selectable_value(&mut app.ui_state.view, View::Jobs, tr!("view.jobs")).on_hover_text(tr!("view.jobs_hint"));
}

/// Presenter mode and the language, at the end of every view's top row. The language is the
/// whole window's: the lessons, and every word of the UI from the next frame on.
pub fn presenter_and_language(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    ui.toggle_value(&mut app.ui_state.presenter, tr!("top.presenter")).on_hover_text(tr!("top.presenter_hint"));
    ui.separator();
    super::lesson_ui::language_ui(&mut app.ui_state.lesson, ui);
}

fn scenario_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let s = &mut app.ui_state.setup;
    let label = ui.label(tr!("controls.scenario"));
    egui::ComboBox::from_id_salt("scenario")
        .selected_text(s.shown_name())
        .width(96.0)
        .show_ui(ui, |ui| {
            for (id, _, preset) in builtin() {
                if ui
                    .selectable_label(s.name == id, crate::traffic::setup::label(id))
                    .on_hover_text(crate::traffic::setup::about(id))
                    .clicked()
                {
                    let mechanism = s.mechanism;
                    *s = Setup { mechanism, ..preset.clone() };
                    app.ui_state.pace_choice = match preset.pace {
                        crate::traffic::session::Pace::RealTime => PaceChoice::RealTime,
                        crate::traffic::session::Pace::SlowMotion { .. } => PaceChoice::SlowMotion,
                        crate::traffic::session::Pace::Step => PaceChoice::Step,
                    };
                }
            }
        })
        .response
        .labelled_by(label.id);
    let s = &mut app.ui_state.setup;
    let label = ui.label(tr!("controls.mechanism"));
    egui::ComboBox::from_id_salt("mechanism")
        .selected_text(s.mechanism.as_str())
        .width(76.0)
        .show_ui(ui, |ui| {
            for m in MechanismId::ALL {
                let available = m.availability();
                let r = ui.add_enabled(available.is_ok(), egui::Button::selectable(s.mechanism == m, m.as_str()));
                let r = match &available {
                    Ok(()) => r.on_hover_text(mechanism_description(m)),
                    Err(why) => r.on_disabled_hover_text(tr!("controls.unavailable", why = why)),
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
            .selected_text(tr!("controls.shm_wait", how = shm_wait_label(s.shm_wait)))
            .show_ui(ui, |ui| {
                for w in [ShmWait::Spin, ShmWait::Futex, ShmWait::Semaphore] {
                    ui.selectable_value(&mut s.shm_wait, w, shm_wait_label(w));
                }
            })
            .response
            .on_hover_text(tr!("controls.shm_wait_hint"));
    }
    ui.label(tr!("controls.pattern"));
    for p in [Pattern::PingPong, Pattern::Stream, Pattern::Pipeline, Pattern::FanOut, Pattern::FanIn] {
        ui.selectable_value(&mut s.pattern, p, pattern_label(p));
    }
    if matches!(s.pattern, Pattern::Pipeline | Pattern::FanOut | Pattern::FanIn) {
        let (what, min) = match s.pattern {
            Pattern::Pipeline => (tr!("controls.stages"), 2),
            Pattern::FanOut => (tr!("controls.consumers"), 1),
            _ => (tr!("controls.producers"), 1),
        };
        // The word before the number ("consumers 1", never "1 consumers").
        let l = ui.label(&what);
        ui.add(egui::DragValue::new(&mut s.nodes).range(min..=crate::traffic::spec::MAX_NODES))
            .labelled_by(l.id)
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::SpinButton, true, &what));
    }
    keep_together(ui, 130.0);
    let label = ui.label(tr!("controls.size"));
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
    let count_label = ui.label(tr!("controls.count"));
    let mut endless = s.count.is_none();
    if ui.checkbox(&mut endless, tr!("controls.endless")).changed() {
        s.count = if endless { None } else { Some(1000) };
    }
    if let Some(count) = s.count.as_mut() {
        ui.add(egui::DragValue::new(count).range(1..=100_000_000).speed(10.0)).labelled_by(count_label.id);
    }
    // Slow motion and step mode set the pace themselves; a rate limit only means something in
    // real time.
    let real_time = app.ui_state.pace_choice == PaceChoice::RealTime;
    let why = tr!("controls.rate_why");
    keep_together(ui, 200.0);
    let rate_label = ui.add_enabled(real_time, egui::Label::new(tr!("controls.rate"))).on_disabled_hover_text(&why);
    let mut unlimited = s.rate_per_sec.is_none();
    if ui
        .add_enabled(real_time, egui::Checkbox::new(&mut unlimited, tr!("controls.unlimited")))
        .on_disabled_hover_text(&why)
        .changed()
    {
        s.rate_per_sec = if unlimited { None } else { Some(20.0) };
    }
    if let Some(rate) = s.rate_per_sec.as_mut() {
        ui.add_enabled(
            real_time,
            egui::DragValue::new(rate)
                .range(0.1..=1_000_000.0)
                .speed(1.0)
                .suffix(format!(" {}", tr!("controls.msg_per_sec"))),
        )
        .labelled_by(rate_label.id)
        .on_disabled_hover_text(&why);
    }
    placement_ui(s, app.ui_state.cpus, ui);
    faults_ui(s, ui);
}

/// In a wrapping row, starts a new row unless `width` points are left, so a label is not left
/// at the end of one row with its control at the start of the next.
fn keep_together(ui: &mut egui::Ui, width: f32) {
    // What is left of this row: a wrapping row's available width is not that.
    let left = ui.max_rect().right() - ui.cursor().left();
    if left < width {
        ui.end_row();
    }
}

/// Fault injection: the producers drop, duplicate, reorder or corrupt a share of their frames on
/// the real channel, and the statistics show what the receivers detect beside it.
fn faults_ui(s: &mut Setup, ui: &mut egui::Ui) {
    use crate::faults::FaultRule;
    let one_way = s.pattern != Pattern::PingPong;
    let summary = if s.faults.is_none() { tr!("controls.faults_none") } else { s.faults.summary() };
    {
        // Stays open while sliders are dragged and clicked; a click outside closes it.
        let config =
            egui::containers::menu::MenuConfig::new().close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside);
        egui::containers::menu::MenuButton::new(tr!("controls.faults", summary = summary))
            .config(config)
            .ui(ui, |ui| {
                if !one_way {
                    ui.colored_label(ui.visuals().warn_fg_color, tr!("controls.faults_need_one_way"));
                }
                ui.label(tr!("controls.faults_share"));
                let percent = |rule: &FaultRule| match rule {
                    FaultRule::Fraction(p) => p * 100.0,
                    _ => 0.0,
                };
                let rules = [
                    (tr!("controls.fault_drop"), &mut s.faults.drop),
                    (tr!("controls.fault_duplicate"), &mut s.faults.duplicate),
                    (tr!("controls.fault_reorder"), &mut s.faults.reorder),
                    (tr!("controls.fault_corrupt"), &mut s.faults.corrupt),
                ];
                for (name, rule) in rules {
                    let mut p = percent(rule);
                    let r = ui.add(egui::Slider::new(&mut p, 0.0..=25.0).suffix(" %").max_decimals(1).text(name));
                    if r.changed() {
                        *rule = if p > 0.0 { FaultRule::Fraction(p / 100.0) } else { FaultRule::Never };
                    }
                }
                if s.size == 0 && !matches!(s.faults.corrupt, FaultRule::Never) {
                    ui.colored_label(ui.visuals().warn_fg_color, tr!("controls.faults_corrupt_needs_payload"));
                }
                if ui.button(tr!("controls.no_faults")).clicked() {
                    s.faults = crate::faults::Faults::default();
                }
            })
            .0
            .on_hover_text(tr!("controls.faults_hint"));
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

    fn label(self) -> String {
        match self {
            Placement::Unpinned => tr!("controls.unpinned"),
            Placement::SameCore => tr!("controls.same_core"),
            Placement::AcrossCores => tr!("controls.across_cores"),
        }
    }
}

/// CPUs this process may run on (its children inherit the same).
pub fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn placement_ui(s: &mut Setup, cpus: usize, ui: &mut egui::Ui) {
    // The label and its list on one row (the list is as wide as its longest choice).
    keep_together(ui, 330.0);
    let label = ui.label(tr!("controls.placement"));
    let current = Placement::of(s.pin.as_deref());
    let text = match (current, &s.pin) {
        (Some(p), _) => p.label(),
        (None, Some(cpus)) => tr!("controls.cpus_list", list = format!("{cpus:?}")),
        (None, None) => tr!("controls.unpinned"),
    };
    egui::ComboBox::from_id_salt("placement")
        .selected_text(text)
        .width(110.0)
        .show_ui(ui, |ui| {
            for (p, what) in [
                (Placement::Unpinned, tr!("controls.unpinned_hint")),
                (Placement::SameCore, tr!("controls.same_core_hint")),
                (Placement::AcrossCores, tr!("controls.across_cores_hint")),
            ] {
                let enabled = p != Placement::AcrossCores || cpus >= 2;
                let r = ui.add_enabled(enabled, egui::Button::selectable(current == Some(p), p.label()));
                let r = r.on_hover_text(what).on_disabled_hover_text(tr!("controls.one_cpu"));
                if r.clicked() {
                    s.pin = p.pin();
                }
            }
        })
        .response
        .labelled_by(label.id)
        .on_hover_text(tr!("controls.placement_hint"));
}

fn pace_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    ui.label(tr!("controls.pace"));
    let before = app.ui_state.pace();
    let choice = &mut app.ui_state.pace_choice;
    ui.selectable_value(choice, PaceChoice::RealTime, tr!("controls.real_time"));
    ui.selectable_value(choice, PaceChoice::SlowMotion, tr!("controls.slow_motion"));
    ui.selectable_value(choice, PaceChoice::Step, tr!("controls.step_mode"));
    // Always there (off unless slow motion), so picking slow motion does not reflow the row.
    ui.add_enabled(
        app.ui_state.pace_choice == PaceChoice::SlowMotion,
        egui::Slider::new(&mut app.ui_state.slow_ops_per_sec, 0.5..=20.0)
            .logarithmic(true)
            .text(tr!("controls.ops_per_sec"))
            .max_decimals(1),
    );
    let after = app.ui_state.pace();
    if after != before && app.model.is_running() {
        app.pending.push(crate::traffic::session::Command::SetPace(after));
    }
}

fn buttons_ui(app: &mut IpcLabApp, ui: &mut egui::Ui) {
    let running = app.model.is_running();
    // Fixed widths: "Pause" turning into "Resume" must not push Step and Stop along.
    let size = egui::vec2(68.0, 0.0);
    if ui
        .add_enabled(!running, egui::Button::new(RichText::new(tr!("controls.start")).strong()).min_size(size))
        .clicked()
    {
        app.start();
    }
    let pause_label = if app.model.paused { tr!("controls.resume") } else { tr!("controls.pause") };
    if ui.add_enabled(running, egui::Button::new(pause_label).min_size(size)).on_hover_text(tr!("keys.space")).clicked()
    {
        app.toggle_pause();
    }
    if ui.add(egui::Button::new(tr!("controls.step")).min_size(size)).on_hover_text(tr!("controls.step_hint")).clicked()
    {
        app.step();
    }
    if ui
        .add_enabled(running, egui::Button::new(tr!("controls.stop")).min_size(size))
        .on_hover_text(tr!("keys.esc"))
        .clicked()
    {
        app.stop();
    }
}

/// The run's state in one line; `with_setup`: led by the setup's summary (the toolbar is folded).
fn status_ui(app: &mut IpcLabApp, ui: &mut egui::Ui, with_setup: bool) {
    let (text, color) = match &app.model.status {
        RunStatus::Idle => (tr!("status.idle"), None),
        RunStatus::Starting => (tr!("status.starting"), None),
        RunStatus::Running => {
            let m = &app.model;
            let state = if m.stop_asked {
                tr!("status.stopping")
            } else if m.paused {
                tr!("status.paused")
            } else {
                tr!("status.running")
            };
            let what = match m.mechanism() {
                Some(mech) if mech.in_process() => {
                    let n = m.topology.as_ref().map_or(2, |t| t.programs.len());
                    if n == 2 { tr!("status.threads_two") } else { tr!("status.threads", n = n) }
                }
                Some(mech) => tr!("status.processes_over", mechanism = mech),
                None => tr!("status.processes"),
            };
            (tr!("status.line", state = state, what = what, prefix = m.prefix), None)
        }
        RunStatus::Finished(Ok(r)) => {
            let c = app.model.counts();
            let (sent, received, lost, corrupted) =
                (thousands(c.sent), thousands(c.received), thousands(r.lost), thousands(r.corrupted));
            let text = if app.model.stop_asked {
                tr!("status.stopped", sent = sent, received = received, lost = lost, corrupted = corrupted)
            } else {
                tr!("status.finished", sent = sent, received = received, lost = lost, corrupted = corrupted)
            };
            (text, None)
        }
        RunStatus::Finished(Err(e)) => (tr!("status.run_failed", error = e), Some(ui.visuals().error_fg_color)),
        RunStatus::StartFailed(e) => (tr!("status.could_not_start", error = e), Some(ui.visuals().error_fg_color)),
    };
    ui.horizontal_wrapped(|ui| {
        if with_setup {
            ui.label(RichText::new(setup_summary(app)).strong());
            ui.separator();
        }
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
    egui::Window::new(tr!("file.title")).open(&mut open).collapsible(false).show(ctx, |ui| {
        ui.horizontal(|ui| {
            ui.label(tr!("file.path"));
            ui.text_edit_singleline(&mut app.ui_state.file_path);
        });
        ui.horizontal(|ui| {
            if ui.button(tr!("file.save")).clicked() {
                let path = Path::new(&app.ui_state.file_path);
                app.ui_state.file_message = Some(match app.ui_state.setup.save(path) {
                    Ok(()) => (tr!("file.saved_to", path = full_path(path)), true),
                    Err(e) => (e, false),
                });
            }
            if ui.button(tr!("file.load")).clicked() {
                let path = std::path::PathBuf::from(&app.ui_state.file_path);
                app.ui_state.file_message = Some(match Setup::load(&path) {
                    Ok(s) => {
                        app.ui_state.set_pace(s.pace);
                        app.ui_state.setup = s;
                        (tr!("file.loaded", path = full_path(&path)), true)
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

/// A pattern's name for people (the CLI and scenario files keep `Pattern::as_str`).
pub fn pattern_label(p: Pattern) -> String {
    match p {
        Pattern::PingPong => tr!("controls.pattern_ping_pong"),
        Pattern::Stream => tr!("controls.pattern_stream"),
        Pattern::Pipeline => tr!("controls.pattern_pipeline"),
        Pattern::FanOut => tr!("controls.pattern_fan_out"),
        Pattern::FanIn => tr!("controls.pattern_fan_in"),
    }
}

/// What a mechanism is, for people (the CLI keeps `MechanismId::description`).
pub fn mechanism_description(m: MechanismId) -> String {
    m.described()
}

/// Writes the run's recent messages as a Chrome trace (Perfetto) into the current directory and
/// says where, or why not.
fn save_trace(app: &mut IpcLabApp) {
    let now = app.now_nanos();
    let Some(text) = crate::traffic::trace::from_model(&app.model) else { return };
    let prefix = if app.model.prefix.is_empty() { "run" } else { app.model.prefix.as_str() };
    let name = format!("ipc-lab-trace-{prefix}.json");
    let notice = match std::fs::write(&name, text) {
        Ok(()) => tr!("controls.trace_saved", path = name),
        Err(e) => tr!("controls.trace_failed", why = e.to_string()),
    };
    app.model.set_notice(notice, now);
}

/// How shm waits for its peer, in the window's language (the CLI and files keep `ShmWait`'s id).
pub fn shm_wait_label(w: ShmWait) -> String {
    match w {
        ShmWait::Spin => tr!("controls.wait_spin"),
        ShmWait::Futex => tr!("controls.wait_futex"),
        ShmWait::Semaphore => tr!("controls.wait_semaphore"),
    }
}
