//! The Distributed view: a job's array as a strip of chunks coloured by state, a task stream
//! with a lane per worker (idle, receiving, computing, waiting, sending, as the workers measured
//! them), the running total and its check, the log; right-click a worker to kill, stop or
//! continue it. After a sweep: speedup and efficiency against workers with Amdahl's curve.

use std::path::Path;
use std::sync::Arc;

use egui::{Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::jobs::coordinator::{JobCommand, Sig};
use crate::jobs::model::{ChunkState, JobModel, SegKind, WorkerState};
use crate::jobs::say;
use crate::jobs::session::{JobSession, Update};
use crate::jobs::spec::{JobArgs, JobSpec};
use crate::jobs::sweep::amdahl;
use crate::tr;

/// What the view remembers: the job's settings as the command line has them, the session, the
/// model.
pub struct JobsUi {
    pub args: JobArgs,
    /// The mechanism chosen for worker processes (kept while threads or tasks are picked).
    pub mechanism: String,
    /// The dynamic schedule's chunk (kept while static is picked).
    pub chunk: u64,
    /// Items, as a choice (the `--data range:N` of the job).
    pub items: u64,
    pub session: Option<JobSession>,
    pub model: JobModel,
    pub message: Option<String>,
    /// Take workers from other hosts (`--listen`), on this address, proving this token file
    /// (empty: none, which only loopback allows).
    pub listen: bool,
    pub listen_addr: String,
    pub token_path: String,
    /// Workers started from here to join over TCP ("a worker from this machine"), reaped as
    /// they end and killed with the view.
    pub joiners: Joiners,
    /// The last time of each job on each engine, shown side by side.
    pub engines: super::jobs_engine_ui::EngineTimes,
}

/// Worker processes started from the view to join a job over TCP: killed and reaped with it.
#[derive(Default)]
pub struct Joiners(pub Vec<std::process::Child>);

impl Drop for Joiners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Default for JobsUi {
    fn default() -> Self {
        JobsUi {
            args: JobArgs {
                workers: 2,
                mechanism: None,
                kind: "process".into(),
                schedule: "dynamic".into(),
                chunk: None,
                data: String::new(),
                op: "sum".into(),
                work: 30,
                wait_ms: 0,
                ship: "data".into(),
                heartbeat_ms: 100,
                engine: "ours".into(),
                format: "text".into(),
                ..JobArgs::default()
            },
            mechanism: "pipe".into(),
            chunk: 500_000,
            items: 20_000_000,
            session: None,
            model: JobModel::default(),
            message: None,
            listen: false,
            listen_addr: "127.0.0.1:0".into(),
            token_path: String::new(),
            joiners: Joiners::default(),
            engines: Default::default(),
        }
    }
}

/// Done chunks: a quiet grey, unlike any worker's colour.
const DONE: Color32 = Color32::from_gray(150);

/// The stage's node colours: worker k looks like node k does there.
pub fn worker_colour(id: u32) -> Color32 {
    super::stage_ui::PALETTE[(id.saturating_sub(1) as usize) % super::stage_ui::PALETTE.len()]
}

impl JobsUi {
    /// The view set up as an `ipc-lab job` argument line (its data a range, which the view
    /// offers); an error says what is wrong with the line.
    pub fn from_line(line: &str) -> Result<JobsUi, String> {
        let args = JobArgs::parse_line(line)?;
        let spec = JobSpec::from_args(&args)?;
        let crate::jobs::spec::DataSource::Range { n } = spec.data else {
            return Err("the Distributed view computes range:N data; use ipc-lab job for other data".into());
        };
        let mechanism = args.mechanism.clone().unwrap_or_else(|| "pipe".into());
        let chunk = args.chunk.unwrap_or(spec.chunk);
        let d = JobsUi::default();
        let listen = args.listen.is_some();
        let listen_addr = args.listen.clone().unwrap_or(d.listen_addr.clone());
        let token_path = args.token_file.as_ref().map_or(String::new(), |p| p.display().to_string());
        Ok(JobsUi { args, mechanism, chunk, items: n, listen, listen_addr, token_path, ..d })
    }

    pub fn spec(&self) -> Result<JobSpec, String> {
        // MPI's ranks are processes over MPI's own transport: the kind and mechanism chosen for
        // our engine are kept for when it is picked again.
        let mpi = self.args.engine == "mpi";
        let process = self.args.kind == "process" || mpi;
        let dynamic = self.args.schedule == "dynamic";
        let token = self.token_path.trim();
        let args = JobArgs {
            data: format!("range:{}", self.items),
            mechanism: (process && !mpi).then(|| self.mechanism.clone()),
            kind: if mpi { "process".into() } else { self.args.kind.clone() },
            chunk: dynamic.then_some(self.chunk),
            listen: self.listen.then(|| self.listen_addr.trim().to_string()),
            token_file: (self.listen && !token.is_empty()).then(|| token.into()),
            ..self.args.clone()
        };
        JobSpec::from_args(&args)
    }

    /// Starts a worker process on this machine that joins the running job over TCP, as one on
    /// another host would (through the handshake and sealed frames).
    pub fn start_joiner(&mut self, exe: &Path) {
        let Some((addr, _, token)) = self.model.listening.clone() else { return };
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["worker", "--connect", &here(&addr)]).stdin(std::process::Stdio::null());
        cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        if token {
            cmd.arg("--token-file").arg(self.token_path.trim());
        }
        match cmd.spawn() {
            Ok(c) => self.joiners.0.push(c),
            Err(e) => self.message = Some(format!("{}: {e}", exe.display())),
        }
    }

    /// Makes a token file where the field says (or in the user's config directory), unless one
    /// is there already, and puts its path in the field.
    pub fn make_token(&mut self) {
        let path = match self.token_path.trim() {
            "" => default_token_path(),
            p => std::path::PathBuf::from(p),
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let made = if path.exists() {
            crate::jobs::auth::Token::load(&path).map(|_| tr!("jobs.token_kept", path = path.display()))
        } else {
            crate::jobs::auth::Token::create_file(&path).map(|_| tr!("jobs.token_made", path = path.display()))
        };
        match made {
            Ok(m) => {
                self.token_path = path.display().to_string();
                self.message = Some(m);
            }
            Err(e) => self.message = Some(e),
        }
    }

    /// Ends whatever ran and starts `make(spec)` in the background, the view showing `model`.
    fn launch(&mut self, model: JobModel, make: impl FnOnce(JobSpec) -> std::io::Result<JobSession>) {
        self.session = None;
        match self.spec() {
            Ok(spec) => match make(spec) {
                Ok(s) => {
                    self.model = model;
                    self.session = Some(s);
                    self.message = None;
                }
                Err(e) => self.message = Some(e.to_string()),
            },
            Err(e) => self.message = Some(e),
        }
    }

    pub fn start(&mut self, exe: &Path, repaint: &Arc<dyn Fn() + Send + Sync>) {
        let (exe, repaint) = (exe.to_path_buf(), repaint.clone());
        self.launch(JobModel::default(), |spec| JobSession::start(spec, exe, repaint));
    }

    pub fn sweep(&mut self, exe: &Path, repaint: &Arc<dyn Fn() + Send + Sync>) {
        let (exe, repaint, counts) = (exe.to_path_buf(), repaint.clone(), self.sweep_counts());
        self.launch(JobModel::default(), |spec| JobSession::sweep(spec, counts, exe, repaint));
    }

    pub fn compare_kinds(&mut self, exe: &Path, repaint: &Arc<dyn Fn() + Send + Sync>) {
        let (exe, repaint) = (exe.to_path_buf(), repaint.clone());
        let model = JobModel { kinds_running: true, ..JobModel::default() };
        self.launch(model, |spec| JobSession::compare_kinds(spec, exe, repaint));
    }

    /// The line's --sweep-workers, else 1, 2, 4 (the button's).
    pub fn sweep_counts(&self) -> Vec<usize> {
        self.args.sweep_workers.as_deref().and_then(|l| crate::jobs::spec::parse_sweep(l).ok()).unwrap_or(vec![1, 2, 4])
    }

    /// Runs what the line says: its sweep, or the job.
    pub fn run(&mut self, exe: &Path, repaint: &Arc<dyn Fn() + Send + Sync>) {
        if self.args.sweep_workers.is_some() {
            self.sweep(exe, repaint);
        } else {
            self.start(exe, repaint);
        }
    }

    pub fn command(&self, c: JobCommand) {
        if let Some(s) = &self.session {
            s.command(c);
        }
    }

    /// Folds what the session reported.
    pub fn drain(&mut self) {
        self.joiners.0.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        let Some(s) = &self.session else { return };
        for u in s.updates() {
            match u {
                Update::Event(e) => {
                    if let crate::jobs::coordinator::JobEvent::Finished(o) = &e {
                        self.engines.record(o);
                    }
                    self.model.apply(e)
                }
                Update::SweepRun(n, ns, exact) => self.model.sweep_runs.push((n, ns, exact)),
                Update::Sweep(sw) => self.model.sweep = Some(sw),
                Update::SweepFailed(why) => {
                    self.model.kinds_running = false;
                    self.message = Some(why);
                }
                Update::Kinds(rows) => {
                    self.model.kinds_running = false;
                    self.model.kinds = Some(rows);
                }
            }
        }
    }

    /// Ends the job (or sweep, or comparison) early; its workers are ended and reaped.
    pub fn stop(&self) {
        if self.is_running() {
            self.command(JobCommand::Abort);
        }
    }

    pub fn is_running(&self) -> bool {
        self.session.as_ref().is_some_and(|s| !s.is_finished())
    }
}

/// Where a worker on this machine connects to reach a job bound to `addr`: the same port on
/// loopback when the job listens on every address.
fn here(addr: &str) -> String {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
        _ => addr.to_string(),
    }
}

/// `~/.config/ipc-lab/token` (or under `$XDG_CONFIG_HOME`).
fn default_token_path() -> std::path::PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ipc-lab").join("token")
}

fn choice(ui: &mut egui::Ui, id: &str, label: String, value: &mut String, options: &[(&str, String)], enabled: bool) {
    let l = ui.label(label);
    ui.add_enabled_ui(enabled, |ui| {
        let shown = options.iter().find(|(v, _)| v == value).map_or(value.clone(), |(_, s)| s.clone());
        egui::ComboBox::from_id_salt(id)
            .selected_text(shown)
            .show_ui(ui, |ui| {
                for (v, s) in options {
                    ui.selectable_value(value, v.to_string(), s.clone());
                }
            })
            .response
            .labelled_by(l.id);
    });
}

pub fn jobs_ui(j: &mut JobsUi, exe: &Path, repaint: &Arc<dyn Fn() + Send + Sync>, ui: &mut egui::Ui) {
    j.drain();
    let running = j.is_running();
    ui.horizontal_wrapped(|ui| {
        let l = ui.label(tr!("jobs.workers"));
        ui.add_enabled(!running, egui::DragValue::new(&mut j.args.workers).range(1..=16)).labelled_by(l.id);
        super::jobs_engine_ui::engine_ui(ui, &mut j.args.engine, !running);
        let ours = j.args.engine != "mpi";
        choice(
            ui,
            "job-as",
            tr!("jobs.as"),
            &mut j.args.kind,
            &[
                ("process", tr!("jobs.as_process_short")),
                ("thread", tr!("jobs.as_thread_short")),
                ("async", tr!("jobs.as_async_short")),
                ("async-1", tr!("jobs.as_async_one_short")),
            ],
            !running && ours,
        );
        let mechanisms: Vec<(&str, String)> =
            ["pipe", "fifo", "unix", "tcp", "shm", "mqueue"].iter().map(|m| (*m, m.to_string())).collect();
        choice(
            ui,
            "job-mech",
            tr!("jobs.mechanism"),
            &mut j.mechanism,
            &mechanisms,
            !running && ours && j.args.kind == "process",
        );
        choice(
            ui,
            "job-schedule",
            tr!("jobs.schedule"),
            &mut j.args.schedule,
            &[("static", tr!("jobs.static_short")), ("dynamic", tr!("jobs.dynamic_short"))],
            !running,
        );
        if j.args.schedule == "dynamic" {
            let l = ui.label(tr!("jobs.chunk"));
            ui.add_enabled(!running, egui::DragValue::new(&mut j.chunk).range(1000..=j.items).speed(10_000))
                .labelled_by(l.id);
        }
    });
    ui.horizontal_wrapped(|ui| {
        let l = ui.label(tr!("jobs.items"));
        ui.add_enabled_ui(!running, |ui| {
            egui::ComboBox::from_id_salt("job-items")
                .selected_text(crate::i18n::grouped(j.items))
                .show_ui(ui, |ui| {
                    for n in [1_000_000u64, 5_000_000, 20_000_000, 50_000_000] {
                        ui.selectable_value(&mut j.items, n, crate::i18n::grouped(n));
                    }
                })
                .response
                .labelled_by(l.id);
        });
        choice(
            ui,
            "job-op",
            tr!("jobs.op"),
            &mut j.args.op,
            &[
                ("sum", tr!("jobs.op_sum")),
                ("minmax", tr!("jobs.op_minmax")),
                ("histogram:8", tr!("jobs.op_histogram")),
            ],
            !running,
        );
        let l = ui.label(tr!("jobs.work"));
        ui.add_enabled(!running, egui::DragValue::new(&mut j.args.work).range(0..=1000)).labelled_by(l.id);
        choice(
            ui,
            "job-ship",
            tr!("jobs.ship"),
            &mut j.args.ship,
            &[
                ("data", tr!("jobs.ship_data_short")),
                ("work", tr!("jobs.ship_work_short")),
                ("shared", tr!("jobs.ship_shared_short")),
            ],
            !running,
        );
    });
    ui.horizontal_wrapped(|ui| {
        let ours = j.args.engine != "mpi";
        if !ours {
            j.listen = false;
        }
        ui.add_enabled(!running && ours, egui::Checkbox::new(&mut j.listen, tr!("jobs.listen")))
            .on_hover_text(tr!("jobs.listen_hint"))
            .on_disabled_hover_text(tr!("jobs.ours_only"));
        if j.listen {
            ui.add_enabled(!running, egui::TextEdit::singleline(&mut j.listen_addr).desired_width(150.0))
                .on_hover_text(tr!("jobs.listen_addr_hint"));
            let l = ui.label(tr!("jobs.token_file"));
            ui.add_enabled(
                !running,
                egui::TextEdit::singleline(&mut j.token_path).desired_width(220.0).hint_text(tr!("jobs.token_none")),
            )
            .labelled_by(l.id)
            .on_hover_text(tr!("jobs.token_hint"));
            if ui.add_enabled(!running, egui::Button::new(tr!("jobs.token_new"))).clicked() {
                j.make_token();
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        if ui.add_enabled(!running, egui::Button::new(tr!("jobs.start"))).clicked() {
            j.start(exe, repaint);
        }
        if ui.add_enabled(running, egui::Button::new(tr!("jobs.stop"))).clicked() {
            j.session = None;
            j.message = Some(tr!("jobs.stopped"));
        }
        // Sweeps, comparisons and added workers are our engine's: MPI runs one job of fixed size.
        let ours = j.args.engine != "mpi";
        let can_add = running && j.model.is_running() && ours;
        if ui.add_enabled(can_add, egui::Button::new(tr!("jobs.add_worker"))).clicked() {
            j.command(JobCommand::AddWorker);
        }
        if ui
            .add_enabled(!running && ours, egui::Button::new(tr!("jobs.sweep")))
            .on_hover_text(tr!("jobs.sweep_hint"))
            .on_disabled_hover_text(tr!("jobs.ours_only"))
            .clicked()
        {
            j.sweep(exe, repaint);
        }
        if ui
            .add_enabled(!running && ours, egui::Button::new(tr!("jobs.compare_kinds")))
            .on_hover_text(tr!("jobs.compare_kinds_hint"))
            .on_disabled_hover_text(tr!("jobs.ours_only"))
            .clicked()
        {
            j.compare_kinds(exe, repaint);
        }
        if let Some(m) = &j.message {
            ui.colored_label(Color32::from_rgb(230, 160, 60), m);
        }
    });
    ui.separator();
    job_stage(j, Some(exe), ui);
}

/// What the job does, without the controls: the lesson page draws this beside its text. `exe`
/// starts a worker that joins over TCP, when the job listens.
pub fn job_stage(j: &mut JobsUi, exe: Option<&Path>, ui: &mut egui::Ui) {
    j.drain();
    if j.model.kinds.is_some() || j.model.kinds_running {
        kinds_ui(&j.model, ui);
        return;
    }
    if j.model.sweep.is_some()
        || (!j.model.sweep_runs.is_empty() && j.model.chunks.is_empty())
        || (j.is_running() && j.args.sweep_workers.is_some())
    {
        sweep_ui(&j.model, ui);
        return;
    }
    if j.model.chunks.is_empty() {
        ui.add_space(20.0);
        ui.vertical_centered(|ui| ui.label(egui::RichText::new(tr!("jobs.empty")).size(18.0)));
        return;
    }
    if let Ok(spec) = j.spec() {
        ui.label(egui::RichText::new(say::headline(&spec)).weak());
        let scripted = say::scripted(&spec);
        if !scripted.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label(egui::RichText::new(scripted).weak());
                if ui.add_enabled(!j.is_running(), egui::Button::new(tr!("jobs.scripted_clear")).small()).clicked() {
                    j.args.kill.clear();
                    j.args.stop.clear();
                    j.args.cont.clear();
                    j.args.add_at.clear();
                    j.args.inject = None;
                }
            });
        }
    }
    strip_ui(&j.model, ui);
    if j.model.listening.is_some() {
        remote_ui(j, exe, ui);
    }
    ui.add_space(6.0);
    let now = crate::wire::monotonic_nanos();
    let mut asked = None;
    let total_h = ui.available_height();
    let log_h = (total_h * 0.32).clamp(80.0, 220.0);
    let lanes = j.model.workers.len().max(1) as f32;
    let lane_h = ((total_h - log_h - 60.0) / lanes - 8.0).clamp(28.0, 64.0);
    egui::ScrollArea::vertical().id_salt("lanes").max_height(total_h - log_h).show(ui, |ui| {
        asked = lanes_ui(&j.model, now, lane_h, ui);
    });
    if let Some(c) = asked {
        j.command(c);
    }
    ui.separator();
    // What is left of the height: the result, the log and the engines' times scroll in it
    // rather than run off the bottom of a small screen.
    let spec = j.spec().ok();
    let mpi = j.args.engine == "mpi";
    egui::ScrollArea::vertical().id_salt("job-result").auto_shrink([false, true]).show(ui, |ui| {
        result_ui(&j.model, mpi, ui);
        super::jobs_engine_ui::engine_times_ui(&j.engines, spec.as_ref(), ui);
    });
    if j.model.is_running() {
        ui.ctx().request_repaint_after(std::time::Duration::from_millis(33));
    }
}

fn chunk_colour(state: ChunkState) -> Color32 {
    match state {
        ChunkState::Waiting => Color32::from_gray(70),
        ChunkState::Sent { worker } => worker_colour(worker).gamma_multiply(0.45),
        ChunkState::Computing { worker } => worker_colour(worker),
        ChunkState::Done { .. } => DONE,
    }
}

fn strip_ui(m: &JobModel, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(tr!("jobs.array")).strong());
        ui.label(tr!(
            "jobs.array_count",
            done = m.chunks_done,
            n = m.chunks.len(),
            items = crate::i18n::grouped(m.items())
        ));
    });
    let width = ui.available_width();
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, 30.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let items = m.items().max(1) as f32;
    for (i, c) in m.chunks.iter().enumerate() {
        let x0 = rect.left() + rect.width() * c.start as f32 / items;
        let x1 = rect.left() + rect.width() * (c.start + c.len) as f32 / items;
        let r = Rect::from_min_max(Pos2::new(x0, rect.top()), Pos2::new(x1.max(x0 + 1.0), rect.bottom()));
        painter.rect_filled(r.shrink2(Vec2::new(0.5, 0.0)), 1.0, chunk_colour(c.state));
        if c.requeued {
            painter.rect_stroke(r.shrink(1.0), 1.0, Stroke::new(3.0, Color32::WHITE), StrokeKind::Inside);
        }
        if c.duplicate {
            painter.circle_filled(Pos2::new(r.center().x, r.bottom() - 7.0), 5.0, Color32::WHITE);
            painter.circle_filled(Pos2::new(r.center().x, r.bottom() - 7.0), 2.5, Color32::BLACK);
        }
        if r.width() > 22.0 {
            let ink = if matches!(c.state, ChunkState::Done { .. }) { Color32::BLACK } else { Color32::WHITE };
            painter.text(r.center(), egui::Align2::CENTER_CENTER, i.to_string(), egui::FontId::monospace(12.0), ink);
        }
    }
    ui.horizontal_wrapped(|ui| {
        for (colour, key, text) in [
            (Color32::from_gray(70), "legend_waiting", tr!("jobs.legend_waiting")),
            (worker_colour(1).gamma_multiply(0.45), "legend_sent", tr!("jobs.legend_sent")),
            (worker_colour(1), "legend_computing", tr!("jobs.legend_computing")),
            (DONE, "legend_done", tr!("jobs.legend_done")),
            (Color32::WHITE, "legend_requeued", tr!("jobs.legend_requeued")),
            (Color32::WHITE, "legend_duplicate", tr!("jobs.legend_duplicate")),
        ] {
            let (r, _) = ui.allocate_exact_size(Vec2::splat(14.0), Sense::hover());
            match key {
                // Drawn as the strip draws them: an outline, a dot.
                "legend_requeued" => {
                    ui.painter().rect_filled(r, 2.0, Color32::from_gray(70));
                    ui.painter().rect_stroke(r, 2.0, Stroke::new(2.5, colour), StrokeKind::Inside);
                }
                "legend_duplicate" => {
                    ui.painter().rect_filled(r, 2.0, Color32::from_gray(70));
                    ui.painter().circle_filled(r.center(), 5.0, colour);
                    ui.painter().circle_filled(r.center(), 2.5, Color32::BLACK);
                }
                _ => {
                    ui.painter().rect_filled(r, 2.0, colour);
                }
            }
            ui.label(text);
        }
    });
}

fn seg_colour(kind: SegKind, worker: u32) -> Color32 {
    match kind {
        SegKind::Idle => Color32::from_gray(45),
        SegKind::Receive => Color32::from_rgb(150, 200, 255),
        SegKind::Compute => worker_colour(worker),
        SegKind::Wait => worker_colour(worker).gamma_multiply(0.4),
        SegKind::Send => Color32::from_rgb(255, 235, 120),
        SegKind::Stopped => Color32::from_gray(120),
        SegKind::Lost => Color32::from_rgb(235, 40, 40),
        SegKind::Wasted => worker_colour(worker).gamma_multiply(0.25),
        SegKind::Transit => Color32::from_rgb(170, 120, 220),
    }
}

/// One lane per worker; returns a command asked for by right-click.
fn lanes_ui(m: &JobModel, now: u64, lane_h: f32, ui: &mut egui::Ui) -> Option<JobCommand> {
    let mut asked = None;
    let t0 = m.t0_ns.unwrap_or(now);
    let end = m.outcome.as_ref().map_or(now, |o| t0 + o.elapsed_ns).max(t0 + 1_000_000);
    let label_w = (ui.available_width() * 0.2).clamp(240.0, 360.0);
    ui.horizontal_wrapped(|ui| {
        ui.label(egui::RichText::new(tr!("jobs.task_stream")).strong());
        for (kind, key) in [
            (SegKind::Receive, tr!("jobs.seg_receive")),
            (SegKind::Compute, tr!("jobs.seg_compute")),
            (SegKind::Wait, tr!("jobs.seg_wait")),
            (SegKind::Send, tr!("jobs.seg_send")),
            (SegKind::Idle, tr!("jobs.seg_idle")),
            (SegKind::Stopped, tr!("jobs.seg_stopped")),
            (SegKind::Lost, tr!("jobs.seg_lost")),
            (SegKind::Wasted, tr!("jobs.seg_wasted")),
            (SegKind::Transit, tr!("jobs.seg_transit")),
        ] {
            // Distance appears only where a delay was injected.
            if kind == SegKind::Transit && !m.workers.iter().any(|w| w.segments.iter().any(|s| s.kind == kind)) {
                continue;
            }
            let (r, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
            ui.painter().rect_filled(r, 2.0, seg_colour(kind, 1));
            ui.label(key);
        }
    });
    for w in &m.workers {
        ui.horizontal(|ui| {
            let state = match w.state {
                WorkerState::Starting => tr!("jobs.w_starting"),
                WorkerState::Idle => tr!("jobs.w_idle"),
                WorkerState::Busy { .. } => tr!("jobs.w_busy"),
                WorkerState::Silent { stopped: true } => tr!("jobs.w_stopped"),
                WorkerState::Silent { stopped: false } => tr!("jobs.w_silent"),
                WorkerState::Gone if w.killed => tr!("jobs.w_killed"),
                WorkerState::Gone => tr!("jobs.w_gone"),
            };
            let pid = match (&w.node, w.pid) {
                (Some(n), _) => format!(" · {}", n.host.as_deref().unwrap_or(&n.addr)),
                (None, Some(p)) => format!(" · PID {p}"),
                (None, None) => String::new(),
            };
            // Once the job is over, the worker's own account of its time.
            let times = m.outcome.as_ref().and_then(|o| o.workers.iter().find(|s| s.worker == w.id)).map(|s| {
                format!(
                    "\n{}",
                    tr!(
                        "jobs.w_times",
                        compute = say::millis(s.compute_ns),
                        comm = say::millis(s.comm_ns),
                        idle = say::millis(s.idle_ns)
                    )
                )
            });
            let text = egui::RichText::new(format!(
                "w{}{pid}\n{state} · {}{}",
                w.id,
                tr!("jobs.w_chunks", n = w.chunks),
                times.unwrap_or_default()
            ))
            .color(worker_colour(w.id));
            let min_h = if m.outcome.is_some() { 52.0 } else { 36.0 };
            let (rect, resp) = ui.allocate_exact_size(Vec2::new(label_w, lane_h.max(min_h)), Sense::click());
            ui.put(rect, egui::Label::new(text).selectable(false));
            let lane_name = format!("w{}", w.id);
            resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &lane_name));
            let alive = !matches!(w.state, WorkerState::Gone | WorkerState::Starting) && w.pid.is_some();
            resp.on_hover_text(tr!("jobs.lane_hint")).context_menu(|ui| {
                ui.label(format!("w{}{pid}", w.id));
                ui.separator();
                let stopped = matches!(w.state, WorkerState::Silent { .. }) || w.stop_sent;
                for (what, signal) in [
                    (tr!("stage.kill"), Sig::Kill),
                    (tr!("stage.stop"), Sig::Stop),
                    (tr!("stage.continue"), Sig::Continue),
                ] {
                    // Stopping a stopped worker or continuing a running one would do nothing.
                    let fits = match signal {
                        Sig::Kill => true,
                        Sig::Stop => !stopped,
                        Sig::Continue => stopped,
                    };
                    if ui.add_enabled(alive && fits && m.is_running(), egui::Button::new(what)).clicked() {
                        asked = Some(JobCommand::Signal { worker: w.id, signal });
                        ui.close();
                    }
                }
            });
            let width = ui.available_width().max(50.0);
            let (lane, _) = ui.allocate_exact_size(Vec2::new(width, lane_h), Sense::hover());
            let painter = ui.painter_at(lane);
            painter.rect_filled(lane, 2.0, Color32::from_gray(25));
            let x = |ns: u64| lane.left() + lane.width() * (ns.saturating_sub(t0) as f32 / (end - t0) as f32);
            for s in &w.segments {
                if s.to_ns < t0 {
                    continue;
                }
                let r = Rect::from_min_max(
                    Pos2::new(x(s.from_ns), lane.top() + 3.0),
                    Pos2::new(x(s.to_ns).max(x(s.from_ns) + 1.0), lane.bottom() - 3.0),
                );
                painter.rect_filled(r, 1.0, seg_colour(s.kind, w.id));
            }
            if let Some(since) = w.busy_since_ns {
                // The chunk in hand, as far as it has gone; grey from when it fell silent.
                let until = now.min(end);
                let silent_from = w.silent_since_ns.unwrap_or(until).max(since);
                let busy = Rect::from_min_max(
                    Pos2::new(x(since), lane.top() + 3.0),
                    Pos2::new(x(silent_from).max(x(since) + 1.0), lane.bottom() - 3.0),
                );
                painter.rect_filled(busy, 1.0, worker_colour(w.id).gamma_multiply(0.7));
                if silent_from < until {
                    let r = Rect::from_min_max(
                        Pos2::new(x(silent_from), lane.top() + 3.0),
                        Pos2::new(x(until), lane.bottom() - 3.0),
                    );
                    painter.rect_filled(r, 1.0, seg_colour(SegKind::Stopped, w.id));
                }
            }
        });
    }
    ui.horizontal(|ui| {
        ui.add_space(label_w);
        ui.label(egui::RichText::new(tr!("jobs.axis", ms = format!("{:.0}", (end - t0) as f64 / 1e6))).weak());
    });
    asked
}

/// Workers from other hosts: the command that joins one (and a button that starts one here),
/// and a row per remote node: its host and address, the round trip and clock offset measured,
/// and the chunks it computed.
fn remote_ui(j: &mut JobsUi, exe: Option<&Path>, ui: &mut egui::Ui) {
    let Some((_, dial, token)) = j.model.listening.clone() else { return };
    let running = j.model.is_running();
    ui.horizontal_wrapped(|ui| {
        ui.label(egui::RichText::new(tr!("jobs.join_with")).strong());
        // The token file's path here: where a worker's copy most likely sits too.
        let file = token.then(|| j.token_path.trim().to_string()).filter(|f| !f.is_empty());
        let file = file.as_deref().or(token.then_some("FILE"));
        let cmds: Vec<String> = dial.iter().map(|a| say::worker_command(a, file)).collect();
        for c in &cmds {
            ui.code(c);
        }
        if ui.button(tr!("jobs.copy_command")).clicked() {
            ui.ctx().copy_text(cmds.join("\n"));
        }
        if let Some(exe) = exe
            && ui
                .add_enabled(running, egui::Button::new(tr!("jobs.join_here")))
                .on_hover_text(tr!("jobs.join_here_hint"))
                .clicked()
        {
            j.start_joiner(exe);
        }
    });
    let m = &j.model;
    let nodes: Vec<_> = m.workers.iter().filter_map(|w| w.node.as_ref().map(|n| (w, n))).collect();
    ui.label(egui::RichText::new(tr!("jobs.nodes_title")).strong()).on_hover_text(tr!("jobs.nodes_hint"));
    if nodes.is_empty() {
        ui.label(egui::RichText::new(tr!("jobs.nodes_none")).weak());
        return;
    }
    // A wide table scrolls sideways rather than widening the stage (or the lesson page's panel).
    egui::ScrollArea::horizontal().id_salt("remote-nodes-scroll").show(ui, |ui| {
        egui::Grid::new("remote-nodes").striped(true).spacing([18.0, 2.0]).show(ui, |ui| {
            for (h, hint) in [
                (tr!("jobs.node_worker"), None),
                (tr!("jobs.node_host"), None),
                (tr!("jobs.node_addr"), None),
                (tr!("jobs.node_rtt"), None),
                (tr!("jobs.node_offset"), Some(tr!("jobs.node_offset_hint"))),
                (tr!("jobs.node_chunks"), None),
            ] {
                let l = ui.label(egui::RichText::new(h).strong());
                if let Some(hint) = hint {
                    l.on_hover_text(hint);
                }
            }
            ui.end_row();
            for (w, n) in nodes {
                let state =
                    if w.state == WorkerState::Gone { format!(" ({})", tr!("jobs.w_gone")) } else { String::new() };
                let again = n.rejoins.map_or(String::new(), |r| format!(" ← w{r}"));
                ui.colored_label(worker_colour(w.id), format!("w{}{again}{state}", w.id));
                ui.label(n.host.as_deref().unwrap_or("?"));
                ui.label(&n.addr);
                ui.label(match (n.rtt_ns, w.last_rtt_ns) {
                    (Some(best), Some(last)) => tr!(
                        "jobs.node_rtt_value",
                        best = crate::i18n::latency_text(best as f64),
                        last = crate::i18n::latency_text(last as f64)
                    ),
                    _ => "–".into(),
                });
                ui.label(n.offset_ns.map_or("–".into(), |o| {
                    let sign = if o < 0 { "−" } else { "+" };
                    format!("{sign}{}", crate::i18n::latency_text(o.unsigned_abs() as f64))
                }));
                let done: Vec<u32> = m
                    .chunks
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.state == ChunkState::Done { worker: w.id })
                    .map(|(i, _)| i as u32)
                    .collect();
                ui.label(format!("{} · {}", done.len(), say::ranges(&done, 3)))
                    .on_hover_text(say::ranges(&done, usize::MAX));
                ui.end_row();
            }
        });
    });
}

fn result_ui(m: &JobModel, mpi: bool, ui: &mut egui::Ui) {
    ui.columns(2, |cols| {
        let ui = &mut cols[0];
        match (&m.outcome, &m.total) {
            (Some(o), _) => {
                ui.label(egui::RichText::new(say::result(&o.result)).size(20.0).strong());
                let colour = if o.exact { Color32::from_rgb(90, 200, 110) } else { Color32::from_rgb(230, 80, 80) };
                ui.colored_label(colour, say::check(o));
                ui.label(tr!(
                    "jobs.summary",
                    time = say::millis(o.elapsed_ns),
                    bytes = say::bytes(o.bytes_moved),
                    share = format!("{:.0}", o.comm_share() * 100.0)
                ))
                .on_hover_text(tr!("jobs.summary_hint"));
                ui.label(tr!("jobs.counts", requeued = o.requeued, duplicates = o.duplicates));
                ui.label(say::rate(o));
            }
            (None, Some(total)) => {
                ui.label(egui::RichText::new(say::result(total)).size(20.0));
                ui.label(tr!(
                    "jobs.running_total",
                    done = m.chunks_done,
                    n = m.chunks.len(),
                    bytes = say::bytes(m.bytes)
                ));
            }
            (None, None) => {
                ui.label(tr!("jobs.starting"));
            }
        }
        if let Some(why) = &m.failed {
            ui.colored_label(Color32::from_rgb(230, 80, 80), tr!("jobs.log_failed", why = why));
        }
        let ui = &mut cols[1];
        ui.label(egui::RichText::new(tr!("jobs.log")).strong());
        egui::ScrollArea::vertical().id_salt("job-log").max_height(200.0).stick_to_bottom(true).show(ui, |ui| {
            let t0 = m.t0_ns.unwrap_or(0);
            for e in &m.log {
                if let Some(line) = say::event(e, t0) {
                    ui.label(line);
                }
            }
            if m.log.is_empty() {
                let hint = if mpi { tr!("jobs.log_empty_mpi") } else { tr!("jobs.log_empty") };
                ui.label(egui::RichText::new(hint).weak());
            }
        });
    });
}

/// Processes, threads, tasks and tasks on one thread: speedup bars, and what each costs.
fn kinds_ui(m: &JobModel, ui: &mut egui::Ui) {
    use egui_plot::{Bar, BarChart, Plot};
    ui.label(egui::RichText::new(tr!("jobs.kinds_title")).strong());
    let Some(rows) = &m.kinds else {
        // No spinner: an animation would take a CPU from the runs being measured.
        ui.label(tr!("jobs.kinds_running"));
        return;
    };
    let name = |k: crate::jobs::spec::WorkerKind| match k {
        crate::jobs::spec::WorkerKind::Process => tr!("jobs.as_process_short"),
        crate::jobs::spec::WorkerKind::Thread => tr!("jobs.as_thread_short"),
        crate::jobs::spec::WorkerKind::Async => tr!("jobs.as_async_short"),
        crate::jobs::spec::WorkerKind::AsyncOne => tr!("jobs.as_async_one_short"),
    };
    egui::Grid::new("kinds").striped(true).num_columns(6).show(ui, |ui| {
        for h in [
            tr!("jobs.as"),
            tr!("jobs.k_startup"),
            tr!("jobs.k_memory"),
            tr!("jobs.k_one"),
            tr!("jobs.k_n", n = rows.first().map_or(0, |r| r.workers)),
            tr!("jobs.k_speedup"),
        ] {
            ui.label(egui::RichText::new(h).strong());
        }
        ui.end_row();
        for (i, r) in rows.iter().enumerate() {
            ui.horizontal(|ui| {
                let (sw, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
                ui.painter().rect_filled(sw, 2.0, worker_colour(i as u32 + 1));
                ui.label(name(r.kind));
            });
            ui.label(format!("{:.2} ms", r.startup_per_worker_ns as f64 / 1e6));
            ui.label(
                r.memory_per_worker_kib
                    .map_or("—".into(), |k| if k == 0 { "< 4 KiB".into() } else { format!("{k} KiB") }),
            );
            ui.label(say::millis(r.one_worker_ns));
            ui.label(say::millis(r.n_workers_ns));
            ui.label(format!("{:.2}×", r.speedup));
            ui.end_row();
        }
    });
    ui.label(egui::RichText::new(tr!("jobs.kinds_why")).weak());
    let bars: Vec<Bar> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Bar::new(i as f64, r.speedup).name(name(r.kind)).fill(worker_colour(i as u32 + 1)).width(0.6))
        .collect();
    Plot::new("kinds-speedup")
        .y_axis_label(tr!("jobs.k_speedup"))
        .include_y(0.0)
        .include_y(rows.first().map_or(2, |r| r.workers) as f64)
        .show_x(false)
        .x_axis_formatter(move |_, _| String::new())
        .height(ui.available_height() - 10.0)
        .show(ui, |p| p.bar_chart(BarChart::new(tr!("jobs.k_speedup"), bars)));
}

fn sweep_ui(m: &JobModel, ui: &mut egui::Ui) {
    use egui_plot::{Legend, Line, Plot, PlotPoints, Points};
    ui.label(egui::RichText::new(tr!("jobs.sweep_title")).strong());
    for (n, ns, exact) in &m.sweep_runs {
        ui.label(tr!("jobs.sweep_run", n = n, time = say::millis(*ns), exact = if *exact { "✓" } else { "✗" }));
    }
    let Some(s) = &m.sweep else {
        // No spinner: an animation would take a CPU from the runs being measured.
        return;
    };
    let max_n = s.points.iter().map(|p| p.workers).max().unwrap_or(1) as f64;
    match s.serial_share {
        Some(f) => ui.label(tr!("jobs.amdahl", share = format!("{:.1}", f * 100.0), cpus = s.cpus)),
        None => ui.colored_label(Color32::from_rgb(230, 160, 60), tr!("jobs.sweep_no_fit")),
    };
    Plot::new("speedup")
        .legend(Legend::default().position(egui_plot::Corner::LeftTop))
        .x_axis_label(tr!("jobs.axis_workers"))
        .y_axis_label(tr!("jobs.axis_speedup"))
        .include_x(0.0)
        .include_y(0.0)
        .include_x(max_n + 0.5)
        .include_y(max_n + 0.5)
        .height(ui.available_height() - 10.0)
        .show(ui, |p| {
            p.line(
                Line::new(tr!("jobs.ideal"), PlotPoints::new(vec![[1.0, 1.0], [max_n, max_n]])).color(Color32::GRAY),
            );
            if let Some(f) = s.serial_share {
                let pts: Vec<[f64; 2]> =
                    (0..=40).map(|i| 1.0 + (max_n - 1.0) * i as f64 / 40.0).map(|n| [n, amdahl(f, n)]).collect();
                p.line(Line::new(tr!("jobs.amdahl_line"), PlotPoints::new(pts)).color(Color32::from_rgb(240, 170, 40)));
            }
            let pts: Vec<[f64; 2]> = s.points.iter().map(|q| [q.workers as f64, q.speedup]).collect();
            p.points(Points::new(tr!("jobs.measured"), PlotPoints::new(pts)).radius(6.0).color(worker_colour(1)));
            let eff: Vec<[f64; 2]> = s.points.iter().map(|q| [q.workers as f64, q.efficiency]).collect();
            p.line(Line::new(tr!("jobs.efficiency"), PlotPoints::new(eff)).color(worker_colour(3)));
            p.vline(egui_plot::VLine::new(tr!("jobs.cpus_line"), s.cpus as f64).color(Color32::from_gray(90)));
        });
}
