//! The eframe application: the live stage. It draws the [`Model`] and turns clicks and keys into
//! [`Command`]s for the session; it never spawns or talks to a process itself.
//!
//! Panels: `controls_ui` (top), `timeline_ui` (bottom), `stats_ui` (right), `stage_ui` (centre).
//! Commands collected during a frame are sent after it, in one place.

pub mod compare_ui;
mod controls_ui;
pub mod fonts;
mod frame_stats;
pub mod jobs_engine_ui;
pub mod jobs_ui;
pub mod lesson_ui;
pub mod program_ui;
mod stage_ui;
mod stats_ui;
mod timeline_ui;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mechanism::MechanismId;
use crate::programs::session::{ProgramCommand, ProgramSession};
use crate::supervisor::WorkerSignal;
use crate::telemetry::Role;
use crate::tr;
use crate::traffic::model::{Model, RunStatus};
use crate::traffic::session::{Command, Pace, Session, Update};
use crate::traffic::setup::Setup;
use egui::RichText;

pub use frame_stats::FrameStats;

/// How the GUI was asked to open.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    pub setup: Option<Setup>,
    pub mechanism: Option<MechanismId>,
    pub autostart: bool,
    pub presenter: bool,
    /// Print frame-time and memory figures to stderr every this often.
    pub frame_stats: Option<Duration>,
    /// Draw packets moving (off in tests, for deterministic frames).
    pub animate: bool,
    /// Open the scenario-program view with this program (id) chosen.
    pub program: Option<String>,
    /// With `program`: its variant ("" as written).
    pub variant: String,
    /// With `program`: you are the scheduler.
    pub schedule: bool,
    /// Open the Lessons view at this lesson (id).
    pub lesson: Option<String>,
    /// Open the Distributed view set up as this `ipc-lab job` argument line.
    pub job: Option<String>,
    /// The language of the UI and the lessons; `None` follows the locale (LC_ALL, LC_MESSAGES,
    /// LANG).
    pub lang: Option<crate::lessons::Lang>,
    /// Where reading progress is kept; `None` is the default place.
    pub progress_path: Option<PathBuf>,
    /// Use the bundled CJK font even if the system has one (a picture that is the same
    /// everywhere, for tests).
    pub bundled_font: bool,
}

/// Which view fills the window below the top row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Two or more processes moving messages over a mechanism.
    Stage,
    /// Processes running small programs on locks, semaphores, pipes and queues.
    Programs,
    /// A lesson page beside the stage its experiments run on.
    Lessons,
    /// The latency lab: the mechanisms raced, plotted against each other.
    Compare,
    /// Distributed computing on one machine: an array scattered to workers, gathered.
    Jobs,
}

/// The pace the user picked, with the slow-motion rate kept while another pace is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PaceChoice {
    RealTime,
    SlowMotion,
    Step,
}

/// What the UI remembers between frames (not run state: that is the model).
pub struct UiState {
    pub setup: Setup,
    pub pace_choice: PaceChoice,
    pub slow_ops_per_sec: f64,
    pub presenter: bool,
    pub animate: bool,
    pub file_path: String,
    pub file_message: Option<(String, bool)>,
    pub show_file_window: bool,
    /// The live stage's setup rows shown or folded by the user: (in presenter mode?, shown).
    /// Otherwise, and after presenter mode is switched, folded in presenter mode only.
    pub setup_open: Option<(bool, bool)>,
    /// The timeline as it was when Pause was pressed.
    pub frozen_timeline: Option<Vec<crate::traffic::model::Message>>,
    /// CPUs this machine lets us use (the stage says the GUI shares them; tests fix it).
    pub cpus: usize,
    pub view: View,
    pub program: program_ui::ProgramUi,
    pub lesson: lesson_ui::LessonUi,
    pub compare: compare_ui::CompareUi,
    pub jobs: jobs_ui::JobsUi,
}

impl UiState {
    pub fn pace(&self) -> Pace {
        match self.pace_choice {
            PaceChoice::RealTime => Pace::RealTime,
            PaceChoice::SlowMotion => Pace::SlowMotion { ops_per_sec: self.slow_ops_per_sec },
            PaceChoice::Step => Pace::Step,
        }
    }

    pub fn set_pace(&mut self, pace: Pace) {
        match pace {
            Pace::RealTime => self.pace_choice = PaceChoice::RealTime,
            Pace::SlowMotion { ops_per_sec } => {
                self.pace_choice = PaceChoice::SlowMotion;
                self.slow_ops_per_sec = ops_per_sec;
            }
            Pace::Step => self.pace_choice = PaceChoice::Step,
        }
    }
}

pub struct IpcLabApp {
    /// Shared with the SIGTERM handler, which takes and drops it (ending every worker).
    session: Arc<Mutex<Option<Session>>>,
    /// The scenario-program view's session (its actor processes); also ended on SIGTERM.
    program_session: Arc<Mutex<Option<ProgramSession>>>,
    program_pending: Vec<ProgramCommand>,
    pub model: Model,
    pub ui_state: UiState,
    started: Instant,
    pending: Vec<Command>,
    frame_stats: Option<FrameStats>,
    /// The zoom presenter mode currently adds (1.0 when off).
    presenter_factor: f32,
    /// A zoom asked for that has not taken effect yet, and frames since.
    zoom_asked: Option<(f32, u8)>,
    /// The lesson (id, language) the Lessons view showed last frame.
    lesson_shown: Option<(String, crate::lessons::Lang)>,
    /// Fonts with Chinese glyphs go in at the first frame; whether to take the bundled one.
    fonts: Option<bool>,
    /// For the compare view's runs: the executable and the UI's wake-up.
    exe: PathBuf,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl IpcLabApp {
    /// Starts the session thread; workers run from `exe`; `repaint` wakes the UI on news.
    pub fn new(exe: PathBuf, repaint: Arc<dyn Fn() + Send + Sync>, options: AppOptions) -> std::io::Result<Self> {
        let (exe_for_compare, repaint_for_compare) = (exe.clone(), repaint.clone());
        let session = Session::start(exe.clone(), repaint.clone())?;
        let program_session = ProgramSession::start(exe, repaint)?;
        let mut scenario = options.setup.unwrap_or_default();
        if let Some(m) = options.mechanism {
            scenario.mechanism = m;
        }
        let mut ui_state = UiState {
            setup: scenario.clone(),
            pace_choice: PaceChoice::RealTime,
            slow_ops_per_sec: 2.0,
            presenter: options.presenter,
            animate: options.animate,
            file_path: "scenario.json".into(),
            file_message: None,
            show_file_window: false,
            setup_open: None,
            frozen_timeline: None,
            cpus: controls_ui::usable_cpus(),
            view: View::Stage,
            program: program_ui::ProgramUi::new(),
            lesson: lesson_ui::LessonUi::new(
                options.lang.unwrap_or_else(crate::lessons::Lang::from_env),
                options.progress_path.clone(),
            ),
            compare: compare_ui::CompareUi::default(),
            jobs: jobs_ui::JobsUi::default(),
        };
        if let Some(id) = &options.lesson {
            ui_state.view = View::Lessons;
            ui_state.lesson.open(id);
        }
        if let Some(line) = &options.job {
            ui_state.view = View::Jobs;
            match jobs_ui::JobsUi::from_line(line) {
                Ok(j) => ui_state.jobs = j,
                Err(e) => ui_state.jobs.message = Some(e),
            }
        }
        if let Some(id) = &options.program {
            ui_state.view = View::Programs;
            ui_state.program.choose(id);
            ui_state.program.variant = options.variant.clone();
            ui_state.program.gated = options.schedule;
        }
        ui_state.set_pace(scenario.pace);
        let mut app = IpcLabApp {
            session: Arc::new(Mutex::new(Some(session))),
            program_session: Arc::new(Mutex::new(Some(program_session))),
            program_pending: Vec::new(),
            model: Model::default(),
            ui_state,
            started: Instant::now(),
            pending: Vec::new(),
            frame_stats: options.frame_stats.map(FrameStats::new),
            presenter_factor: 1.0,
            zoom_asked: None,
            lesson_shown: None,
            fonts: Some(options.bundled_font),
            exe: exe_for_compare,
            repaint: repaint_for_compare,
        };
        if options.autostart {
            match app.ui_state.view {
                View::Stage => app.start(),
                View::Programs => app.program_start(),
                View::Jobs => {
                    let (exe, repaint) = (app.exe.clone(), app.repaint.clone());
                    app.ui_state.jobs.start(&exe, &repaint);
                }
                View::Lessons | View::Compare => {}
            }
        }
        Ok(app)
    }

    /// The handle the SIGTERM handler uses to end the session.
    pub fn session_handle(&self) -> Arc<Mutex<Option<Session>>> {
        self.session.clone()
    }

    pub fn program_session_handle(&self) -> Arc<Mutex<Option<ProgramSession>>> {
        self.program_session.clone()
    }

    /// Starts (or restarts) the chosen scenario program.
    pub fn program_start(&mut self) {
        self.leave_lesson_unless_there();
        if let Some(c) = self.ui_state.program.start_command() {
            self.program_pending.push(c);
        }
    }

    /// You as the scheduler: lets process `i` do its next operation.
    pub fn program_step(&mut self, i: usize) {
        self.program_pending.push(ProgramCommand::Step(i));
    }

    pub fn program_kill(&mut self, i: usize) {
        self.program_pending.push(ProgramCommand::Kill(i));
    }

    pub(crate) fn now_nanos(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    pub fn start(&mut self) {
        self.leave_lesson_unless_there();
        let spec = self.ui_state.setup.run_spec();
        if let Err(e) = spec.validate() {
            self.model.status = RunStatus::StartFailed(e);
            return;
        }
        self.ui_state.frozen_timeline = None;
        self.model.status = RunStatus::Starting;
        self.pending.push(Command::Start { spec, pace: self.ui_state.pace() });
    }

    pub fn toggle_pause(&mut self) {
        if !self.model.is_running() {
            self.start();
            return;
        }
        let paused = !self.model.paused;
        self.ui_state.frozen_timeline =
            paused.then(|| self.model.messages.iter().rev().take(300).rev().copied().collect());
        self.model.paused = paused;
        self.pending.push(Command::SetPaused(paused));
    }

    pub fn step(&mut self) {
        if !self.model.is_running() {
            // Step from idle starts the run in step mode.
            self.ui_state.pace_choice = PaceChoice::Step;
            self.start();
            return;
        }
        if !self.model.pace.gated() && !self.model.paused {
            self.ui_state.pace_choice = PaceChoice::Step;
            self.pending.push(Command::SetPace(Pace::Step));
        }
        self.pending.push(Command::Step);
    }

    pub fn stop(&mut self) {
        if self.model.is_running() {
            self.model.stop_asked = true;
            self.pending.push(Command::Stop);
        }
    }

    pub fn signal(&mut self, role: Role, signal: WorkerSignal) {
        self.pending.push(Command::Signal { role, signal });
    }

    fn drain_updates(&mut self) {
        let now = self.now_nanos();
        let guard = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let Some(session) = guard.as_ref() else { return };
        // Bounded per frame so a flood of telemetry can never stall drawing.
        for _ in 0..20_000 {
            match session.updates().try_recv() {
                Ok(u) => self.model.apply(u, now),
                Err(crossbeam::channel::TryRecvError::Empty) => break,
                Err(crossbeam::channel::TryRecvError::Disconnected) => {
                    if self.model.is_running() {
                        self.model.apply(Update::Finished { report: Err("the session thread ended".into()) }, now);
                    }
                    break;
                }
            }
        }
        if !self.model.is_running() {
            // A run that ended (or never started) leaves no frozen timeline behind.
            self.ui_state.frozen_timeline = None;
        }
    }

    fn send_pending(&mut self) {
        let guard = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = guard.as_ref() {
            for c in self.pending.drain(..) {
                session.send(c);
            }
        }
        let guard = self.program_session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = guard.as_ref() {
            for c in self.program_pending.drain(..) {
                session.send(c);
            }
        }
    }

    /// This frame's picture of the scenario program's run.
    fn read_program(&mut self) {
        let guard = self.program_session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = guard.as_ref()
            && let Some(shared) = session.snapshot_since(self.ui_state.program.shared.generation)
        {
            self.ui_state.program.shared = shared;
        }
    }

    fn keyboard(&mut self, ui: &mut egui::Ui) {
        use egui::Key;
        // Only typing keeps the keys: a focused button (Tab) does not stop PageDown or Esc.
        if ui.ctx().text_edit_focused() {
            return;
        }
        if self.ui_state.view == View::Programs {
            self.program_keyboard(ui);
            return;
        }
        if self.ui_state.view == View::Lessons {
            self.lesson_keyboard(ui);
            return;
        }
        // Space presses a focused button (Tab), as everywhere.
        let focused = ui.ctx().memory(|m| m.focused()).is_some();
        let (space, step, esc, presenter, page) = ui.input_mut(|i| {
            (
                !focused && i.consume_key(egui::Modifiers::NONE, Key::Space),
                i.consume_key(egui::Modifiers::NONE, Key::ArrowRight) || i.consume_key(egui::Modifiers::NONE, Key::S),
                i.consume_key(egui::Modifiers::NONE, Key::Escape),
                i.consume_key(egui::Modifiers::NONE, Key::F5) || i.consume_key(egui::Modifiers::NONE, Key::F11),
                i.consume_key(egui::Modifiers::NONE, Key::PageDown)
                    || i.consume_key(egui::Modifiers::NONE, Key::PageUp),
            )
        });
        if space {
            self.toggle_pause();
        }
        if step {
            self.step();
        }
        if esc {
            self.stop();
        }
        if presenter {
            self.ui_state.presenter = !self.ui_state.presenter;
        }
        if page {
            let now = self.now_nanos();
            self.model.set_notice(tr!("top.pages_soon"), now);
        }
    }

    /// The Lessons view's keys (shown in a legend under the page): PageDown / Space scroll a
    /// screen and turn to the next lesson at the page's end, PageUp / Shift+Space back; ↓ ↑ a line,
    /// Home / End; Enter, R or period run the experiment marked "Enter"; Esc or B stop it; 1–9 step
    /// a scheduled program; F5 presenter. While a button has the focus (Tab), Enter and Space are
    /// its own.
    fn lesson_keyboard(&mut self, ui: &mut egui::Ui) {
        use egui::{Key, Modifiers};
        use lesson_ui::Move;
        const DIGITS: [Key; 9] =
            [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7, Key::Num8, Key::Num9];
        let focused = ui.ctx().memory(|m| m.focused()).is_some();
        let (moves, run, stop, digit, presenter) = ui.input_mut(|i| {
            let mut key = |m: Modifiers, k: Key| i.consume_key(m, k);
            let mut moves = Vec::new();
            for (m, k, to) in [
                (Modifiers::NONE, Key::PageDown, Move::Screen(1)),
                (Modifiers::NONE, Key::PageUp, Move::Screen(-1)),
                (Modifiers::NONE, Key::ArrowDown, Move::Line(1)),
                (Modifiers::NONE, Key::ArrowUp, Move::Line(-1)),
                (Modifiers::NONE, Key::Home, Move::Top),
                (Modifiers::NONE, Key::End, Move::End),
            ] {
                if key(m, k) {
                    moves.push(to);
                }
            }
            if !focused {
                if key(Modifiers::SHIFT, Key::Space) {
                    moves.push(Move::Screen(-1));
                }
                if key(Modifiers::NONE, Key::Space) {
                    moves.push(Move::Screen(1));
                }
            }
            let run = (!focused && key(Modifiers::NONE, Key::Enter))
                || key(Modifiers::NONE, Key::R)
                || key(Modifiers::NONE, Key::Period);
            let stop = key(Modifiers::NONE, Key::Escape) || key(Modifiers::NONE, Key::B);
            let digit = DIGITS.iter().position(|&k| key(Modifiers::NONE, k));
            let presenter = key(Modifiers::NONE, Key::F5) || key(Modifiers::NONE, Key::F11);
            (moves, run, stop, digit, presenter)
        });
        for m in moves {
            self.ui_state.lesson.go(m);
        }
        if run && let Some(id) = self.ui_state.lesson.enter_runs.clone() {
            self.run_experiment(&id, None);
        }
        if let Some(d) = digit
            && self.ui_state.program.shared.running
        {
            self.program_step(d);
        }
        if stop {
            self.stop_every_run();
        }
        if presenter {
            self.ui_state.presenter = !self.ui_state.presenter;
        }
    }

    /// A run started from another view is that view's, not the lesson's experiment any more: a
    /// later page turn must not stop it.
    fn leave_lesson_unless_there(&mut self) {
        if self.ui_state.view != View::Lessons {
            self.ui_state.lesson.running = None;
            self.ui_state.lesson.challenge = None;
        }
    }

    /// Whether the experiment beside the lesson still runs (on whichever stage it uses).
    fn experiment_running(&self) -> bool {
        self.ui_state.lesson.running.is_some()
            && (self.model.is_running() || self.ui_state.program.shared.running || self.ui_state.jobs.is_running())
    }

    /// Stops whatever runs (stage, program, job), leaving each stage as it ended: a lesson's Stop, a page turn, a comparison starting.
    fn stop_every_run(&mut self) {
        self.stop();
        if self.ui_state.program.shared.running {
            self.program_pending.push(ProgramCommand::Stop);
        }
        self.ui_state.jobs.stop();
    }

    /// Starts experiment `id` of the lessons beside the page: a scenario program on the Programs
    /// stage (you scheduling it if it says so), or a live-stage setup. With a challenge to win.
    pub fn run_experiment(&mut self, id: &str, challenge: Option<(String, usize)>) {
        let Some(e) = self.ui_state.lesson.experiment(id).cloned() else {
            self.ui_state.lesson.warning = Some(tr!("lessons.no_experiment", id = id));
            return;
        };
        self.ui_state.lesson.running = Some(id.to_string());
        self.ui_state.lesson.challenge = challenge;
        match e.what {
            crate::lessons::What::Program { scenario, variant, step } => {
                self.stop();
                let p = &mut self.ui_state.program;
                if !p.choose(&scenario.id) {
                    p.scenarios.push(scenario.clone());
                    p.choose(&scenario.id);
                }
                p.variant = variant;
                p.gated = step;
                self.program_start();
                self.ui_state.lesson.challenge_tag = Some(self.ui_state.program.last_tag);
            }
            crate::lessons::What::Stage(s) => {
                if self.ui_state.program.shared.running {
                    self.program_pending.push(ProgramCommand::Stop);
                }
                self.ui_state.jobs.session = None;
                self.ui_state.set_pace(s.pace);
                self.ui_state.setup = s.named_as_is();
                self.start();
            }
            crate::lessons::What::Job(line) => {
                self.stop();
                if self.ui_state.program.shared.running {
                    self.program_pending.push(ProgramCommand::Stop);
                }
                match jobs_ui::JobsUi::from_line(&line) {
                    Ok(j) => {
                        self.ui_state.jobs = j;
                        let (exe, repaint) = (self.exe.clone(), self.repaint.clone());
                        self.ui_state.jobs.run(&exe, &repaint);
                    }
                    Err(e) => self.ui_state.lesson.warning = Some(e),
                }
            }
        }
    }

    /// The program view's keys: 1–9 step that process (you as the scheduler), Space starts,
    /// Esc stops, F5 presenter.
    fn program_keyboard(&mut self, ui: &mut egui::Ui) {
        use egui::Key;
        const DIGITS: [Key; 9] =
            [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7, Key::Num8, Key::Num9];
        let focused = ui.ctx().memory(|m| m.focused()).is_some();
        let (digit, space, esc, presenter) = ui.input_mut(|i| {
            (
                DIGITS.iter().position(|&k| i.consume_key(egui::Modifiers::NONE, k)),
                !focused && i.consume_key(egui::Modifiers::NONE, Key::Space),
                i.consume_key(egui::Modifiers::NONE, Key::Escape),
                i.consume_key(egui::Modifiers::NONE, Key::F5) || i.consume_key(egui::Modifiers::NONE, Key::F11),
            )
        });
        let running = self.ui_state.program.shared.running;
        if let Some(d) = digit
            && running
        {
            self.program_step(d);
        }
        if space && !running {
            self.program_start();
        }
        if esc && running {
            self.program_pending.push(ProgramCommand::Stop);
        }
        if presenter {
            self.ui_state.presenter = !self.ui_state.presenter;
        }
    }

    /// Presenter mode enlarges everything by a factor that suits the window: 1.5 where there is
    /// room (1280 pixels wide and up), less on a 1024×768 projector so the stage, the numbers and
    /// the timeline still fit. It follows the window as it is resized; the user's own zoom
    /// (Ctrl+= / Ctrl+-) is kept underneath.
    fn apply_presenter(&mut self, ctx: &egui::Context) {
        let zoom = ctx.zoom_factor();
        if let Some((asked, frames)) = self.zoom_asked.as_mut() {
            // A new zoom takes effect at the next pass; until then the sizes are the old ones.
            *frames += 1;
            if (zoom - *asked).abs() > 1e-3 && *frames < 4 {
                return;
            }
            self.zoom_asked = None;
        }
        let user_zoom = zoom / self.presenter_factor;
        // Window size in points at the user's zoom: independent of the zoom presenter adds.
        let window = ctx.content_rect().size() * zoom / user_zoom;
        let wanted = if self.ui_state.presenter { presenter_factor(window) } else { 1.0 };
        if (wanted - self.presenter_factor).abs() > 0.01 {
            let new_zoom = (user_zoom * wanted).clamp(0.5, 4.0);
            ctx.set_zoom_factor(new_zoom);
            self.zoom_asked = Some((new_zoom, 0));
            self.presenter_factor = wanted;
        }
    }

    /// Draws one frame into `ui` (the whole window).
    pub fn ui_root(&mut self, ui: &mut egui::Ui) {
        let frame_start = frame_stats::thread_cpu_nanos();
        // This window's language for every word drawn this frame (see `i18n`).
        crate::i18n::set_lang(self.ui_state.lesson.lang);
        self.drain_updates();
        self.read_program();
        self.keyboard(ui);
        focus_ring(ui.ctx());
        self.apply_presenter(ui.ctx());
        if let Some(bundled_only) = self.fonts.take() {
            fonts::install_cjk(ui.ctx(), bundled_only);
        }
        let now = self.now_nanos();
        if self.ui_state.view == View::Compare {
            self.top_panel(ui, |_, _| {});
            let (exe, repaint) = (self.exe.clone(), self.repaint.clone());
            egui::CentralPanel::default()
                .show(ui, |ui| compare_ui::compare_ui(&mut self.ui_state.compare, &exe, &repaint, ui));
            // A comparison measures alone: a stage, program or job run left going elsewhere
            // would take CPU from it (and repaint every 30 ms), so it is ended, and the view
            // says so.
            let comparing = self.ui_state.compare.runner.as_ref().is_some_and(|r| r.state().running);
            let others =
                self.model.is_running() || self.ui_state.program.shared.running || self.ui_state.jobs.is_running();
            if comparing && others {
                self.stop_every_run();
                self.ui_state.compare.message = Some(tr!("compare.stopped_others"));
            }
            self.send_pending();
            return;
        }
        if self.ui_state.view == View::Jobs {
            self.top_panel(ui, |_, _| {});
            let (exe, repaint) = (self.exe.clone(), self.repaint.clone());
            egui::CentralPanel::default().show(ui, |ui| jobs_ui::jobs_ui(&mut self.ui_state.jobs, &exe, &repaint, ui));
            self.send_pending();
            return;
        }
        if self.ui_state.view == View::Lessons {
            self.lessons_root(ui, now);
            self.send_pending();
            if self.ui_state.animate && self.model.is_running() {
                ui.ctx().request_repaint_after(Duration::from_millis(16));
            }
            return;
        }
        if self.ui_state.view == View::Programs {
            self.programs_root(ui);
            self.send_pending();
            if let Some(stats) = self.frame_stats.as_mut() {
                stats.record(frame_stats::thread_cpu_nanos().saturating_sub(frame_start));
                ui.ctx().request_repaint_after(Duration::from_millis(16));
            }
            return;
        }

        egui::Panel::top("controls").show(ui, |ui| controls_ui::controls_ui(self, ui));
        // The edit above may have changed what the scenario is; its name must follow.
        self.ui_state.setup.pace = self.ui_state.pace();
        if !self.model.is_running() {
            self.ui_state.setup.mark_custom_if_changed();
        }
        // Side and bottom panels take a share of the window, so the stage keeps the rest at
        // every size; the user may still drag their edges.
        let window = ui.ctx().content_rect().size();
        let lanes = self.model.topology.as_ref().map_or(2, |t| t.programs.len()) as f32;
        let timeline_min = (lanes * 24.0 + 70.0).min(window.y * 0.45);
        egui::Panel::bottom("timeline")
            .resizable(true)
            .default_size((window.y * 0.27).max(timeline_min))
            .size_range(timeline_min..=window.y * 0.6)
            .show(ui, |ui| {
                let frozen = self.ui_state.frozen_timeline.as_deref();
                timeline_ui::timeline_ui(&self.model, frozen, ui)
            });
        // The numbers panel is a fixed share of the width (it used to keep the width of the
        // window it was first drawn in, taking half a smaller one).
        egui::Panel::right("stats").resizable(false).exact_size((window.x * 0.27).clamp(275.0, 520.0)).show(ui, |ui| {
            stats_ui::stats_ui(&self.model, now, ui);
        });
        let mut actions = Vec::new();
        egui::CentralPanel::default().show(ui, |ui| {
            actions = stage_ui::stage_ui(&self.model, &self.ui_state, now, ui);
        });
        for (role, signal) in actions {
            self.signal(role, signal);
        }
        if self.ui_state.show_file_window {
            controls_ui::file_window(self, ui.ctx());
        }
        self.send_pending();

        // Keep drawing while packets move: during a run, and after it while the last received
        // ones finish crossing.
        if self.ui_state.animate && (self.model.is_running() || !self.model.packets(now, true).is_empty()) {
            ui.ctx().request_repaint_after(Duration::from_millis(16));
        }
        // A notice fades on its own.
        if self.model.notice(now).is_some() {
            ui.ctx().request_repaint_after(Duration::from_millis(500));
        }
        if let Some(stats) = self.frame_stats.as_mut() {
            stats.record(frame_stats::thread_cpu_nanos().saturating_sub(frame_start));
            ui.ctx().request_repaint_after(Duration::from_millis(16));
        }
    }

    /// The scenario-program view: its controls, the side panel, the graph.
    fn programs_root(&mut self, ui: &mut egui::Ui) {
        let mut commands = Vec::new();
        self.top_panel(ui, |app, ui| program_ui::controls(&mut app.ui_state.program, ui, &mut commands));
        let window = ui.ctx().content_rect().size();
        egui::Panel::right("program-side").resizable(false).exact_size((window.x * 0.27).clamp(260.0, 480.0)).show(
            ui,
            |ui| {
                program_ui::side(&self.ui_state.program, ui);
            },
        );
        egui::CentralPanel::default().show(ui, |ui| {
            program_ui::canvas(&self.ui_state.program, ui, &mut commands);
        });
        self.program_pending.extend(commands);
    }

    /// The Lessons view: the page, and beside it the stage its experiment runs on.
    fn lessons_root(&mut self, ui: &mut egui::Ui, now: u64) {
        self.top_panel(ui, |app, ui| lesson_ui::nav(&mut app.ui_state.lesson, ui));
        // A new lesson stops the last one's experiment and clears the stage beside it.
        let shown = (self.ui_state.lesson.current.clone(), self.ui_state.lesson.lang);
        if self.lesson_shown.as_ref().is_some_and(|s| s.0 != shown.0) && self.ui_state.lesson.running.is_some() {
            self.stop_every_run();
            self.ui_state.lesson.running = None;
            self.ui_state.lesson.challenge = None;
        }
        self.lesson_shown = Some(shown);
        let window = ui.ctx().content_rect().size();
        let running = self.ui_state.lesson.running.clone();
        let program =
            running.as_deref().and_then(|id| self.ui_state.lesson.experiment(id)).is_some_and(lesson_ui::is_program);
        let job = running
            .as_deref()
            .and_then(|id| self.ui_state.lesson.experiment(id))
            .is_some_and(|e| matches!(e.what, crate::lessons::What::Job(_)));
        let mut commands = Vec::new();
        let mut signals = Vec::new();
        // The page keeps most of the room until an experiment runs beside it.
        let share = if running.is_some() { 0.5 } else { 0.3 };
        let experiment_running = self.experiment_running();
        let mut stop = false;
        egui::Panel::right("lesson-stage").resizable(false).exact_size(window.x * share).show(ui, |ui| {
            if running.is_some() {
                ui.horizontal(|ui| {
                    let b = ui
                        .add_enabled(experiment_running, egui::Button::new(tr!("lessons.stop")))
                        .on_hover_text(tr!("keys.esc"));
                    stop = b.clicked();
                });
            }
            match (&running, program) {
                (Some(_), _) if job => jobs_ui::job_stage(&mut self.ui_state.jobs, Some(&self.exe), ui),
                (None, _) => {
                    ui.add_space(40.0);
                    ui.vertical_centered(|ui| {
                        ui.label(RichText::new(tr!("lessons.run_here")).weak());
                    });
                }
                (Some(_), true) => {
                    // What happened, under the stage (the Programs view has it beside its own).
                    let h = ui.available_height();
                    egui::Panel::bottom("lesson-log")
                        .resizable(true)
                        .default_size(h * 0.3)
                        .size_range(h * 0.15..=h * 0.6)
                        .show(ui, |ui| program_ui::lesson_log(&self.ui_state.program, ui));
                    program_ui::canvas(&self.ui_state.program, ui, &mut commands)
                }
                (Some(_), false) => {
                    status_line(&self.model, ui);
                    signals = stage_ui::stage_ui(&self.model, &self.ui_state, now, ui);
                }
            }
        });
        let mut actions = Vec::new();
        // The challenge being tried, if the run on the stage has brought its goal about.
        let l = &self.ui_state.lesson;
        let won = l.challenge.clone().filter(|(lesson, ci)| {
            let goal =
                l.lessons.as_ref().ok().and_then(|ls| ls.get(lesson, l.lang)?.challenges.get(*ci)).map(|c| c.goal);
            goal.is_some_and(|g| self.ui_state.program.shared.won(l.challenge_tag, g))
        });
        egui::CentralPanel::default().show(ui, |ui| {
            actions = lesson_ui::page(&mut self.ui_state.lesson, won, ui);
        });
        self.program_pending.extend(commands);
        for (role, signal) in signals {
            self.signal(role, signal);
        }
        if stop {
            self.stop_every_run();
        }
        for a in actions {
            let lesson_ui::LessonAction::Run(id, challenge) = a;
            self.run_experiment(&id, challenge);
        }
    }

    /// The top row of the Programs, Lessons and Compare views (the views, presenter mode, the
    /// language), then what the view puts under it.
    fn top_panel(&mut self, ui: &mut egui::Ui, below: impl FnOnce(&mut Self, &mut egui::Ui)) {
        egui::Panel::top("controls").show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                controls_ui::view_tabs(self, ui);
                ui.separator();
                controls_ui::presenter_and_language(self, ui);
            });
            below(self, ui);
            ui.add_space(2.0);
        });
    }

    fn shutdown(&mut self) {
        // A comparison's runs end too (its Drop cancels and waits for the one running).
        self.ui_state.compare.runner = None;
        self.session.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.program_session.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.ui_state.jobs.session = None;
    }
}

impl eframe::App for IpcLabApp {
    /// Runs every frame, also while the window is hidden or minimized (when `ui` does not):
    /// updates are folded here so they never pile up unread.
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain_updates();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.ui_root(ui);
    }

    fn on_exit(&mut self) {
        // Closing the window ends every worker and removes every named resource.
        self.shutdown();
    }
}

impl Drop for IpcLabApp {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The widget with the keyboard focus (Tab moves it) wears a ring a projector shows: egui's own
/// focus look is the hover look, too faint to follow from the back of a room.
fn focus_ring(ctx: &egui::Context) {
    let Some(id) = ctx.memory(|m| m.focused()) else { return };
    // A widget scrolled out of sight gives its focus up: the ring would float over other panels,
    // and Enter or Space would press a button nobody sees.
    let visible = ctx.read_response(id).filter(|r| r.interact_rect.area() > 0.0 && r.rect.intersects(r.interact_rect));
    let Some(r) = visible else {
        ctx.memory_mut(|m| m.surrender_focus(id));
        return;
    };
    let painter = ctx
        .layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("focus-ring")))
        .with_clip_rect(r.interact_rect.expand(4.0));
    let stroke = egui::Stroke::new(2.5, egui::Color32::from_rgb(255, 200, 60));
    painter.rect_stroke(r.rect.expand(3.0), 4.0, stroke, egui::StrokeKind::Outside);
}

/// One line over the live stage beside a lesson: what runs and how it stands.
fn status_line(model: &Model, ui: &mut egui::Ui) {
    let text = match &model.status {
        RunStatus::Idle => tr!("lessons.status_idle"),
        RunStatus::Starting => tr!("lessons.status_starting"),
        RunStatus::Running => tr!("lessons.status_running", n = model.received_total()),
        RunStatus::Finished(_) if model.stop_asked => tr!("lessons.status_stopped", n = model.received_total()),
        RunStatus::Finished(_) => tr!("lessons.status_finished", n = model.received_total()),
        RunStatus::StartFailed(e) => tr!("lessons.status_failed", error = e),
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(text).strong());
        // The numbers a lesson asks you to note: the median and p99 as they stand.
        if let Some((l, _)) = model.latency() {
            let us = |n: u64| crate::i18n::latency_text(n as f64);
            let round_trip = model.spec.as_ref().is_some_and(|s| s.pattern == crate::traffic::spec::Pattern::PingPong);
            let what = if round_trip { tr!("lessons.round_trip") } else { tr!("lessons.one_way") };
            ui.label(RichText::new(format!("· {what}: p50 {} · p99 {}", us(l.p50), us(l.p99))).strong());
        }
    });
}

/// Presenter zoom for a window of `size` points (at the user's zoom): 1.5 from 1280 wide and
/// 800 high, down to 1.15 at 1024×768.
fn presenter_factor(size: egui::Vec2) -> f32 {
    (size.x / 850.0).min(size.y / 530.0).clamp(1.15, 1.5)
}

/// Opens the window and runs until it closes (or SIGTERM/SIGINT arrives).
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("IPC Lab")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([900.0, 600.0]),
        ..Default::default()
    };
    eframe::run_native(
        "IPC Lab",
        native,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let repaint: Arc<dyn Fn() + Send + Sync> =
                Arc::new(move || ctx.request_repaint_after(Duration::from_millis(15)));
            let app = IpcLabApp::new(exe, repaint, AppOptions { animate: true, ..options })?;
            end_on_termination(app.session_handle(), app.program_session_handle(), cc.egui_ctx.clone())?;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// On SIGTERM or SIGINT: end the session (killing workers, removing resources), then close.
fn end_on_termination(
    session: Arc<Mutex<Option<Session>>>,
    programs: Arc<Mutex<Option<ProgramSession>>>,
    ctx: egui::Context,
) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
        std::thread::Builder::new().name("signals".into()).spawn(move || {
            if signals.forever().next().is_some() {
                session.lock().unwrap_or_else(|p| p.into_inner()).take();
                programs.lock().unwrap_or_else(|p| p.into_inner()).take();
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                // If the event loop does not get to close the window, leave anyway.
                std::thread::sleep(Duration::from_secs(2));
                std::process::exit(0);
            }
        })?;
    }
    Ok(())
}
