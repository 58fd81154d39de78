//! The scenario-program view (issue 4/7): processes running small programs on locks,
//! semaphores, pipes and queues, drawn with the resources they hold and wait for, the cycle of a
//! deadlock in red and said in one sentence, the kernel's state of each process beside it; you
//! may be the scheduler (click a process, or press its number) and kill a victim.

use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, pos2, vec2};

use crate::programs::model::{ProgramModel, Verdict};
use crate::programs::say;
use crate::programs::session::{ProgramCommand, ProgramMessage, ProgramShared};
use crate::programs::spec::{Goal, ProgramScenario, ResourceKind};
use crate::tr;

/// What the program view remembers between frames.
pub struct ProgramUi {
    pub scenarios: Vec<ProgramScenario>,
    /// Index into `scenarios`.
    pub chosen: usize,
    /// "" as written, "fixed", or a named variant.
    pub variant: String,
    /// You are the scheduler.
    pub gated: bool,
    /// Index into the chosen scenario's challenges.
    pub challenge: Option<usize>,
    /// This frame's picture of the run.
    pub shared: ProgramShared,
    /// The tag of the last start, and of the start made with the challenge chosen (a challenge
    /// is won only by the run started for it).
    pub last_tag: u64,
    pub challenge_tag: Option<u64>,
    /// A scenario program file to load or save, and what came of the last try.
    pub file_path: String,
    pub file_message: Option<String>,
}

impl ProgramUi {
    pub fn new() -> ProgramUi {
        let scenarios: Vec<ProgramScenario> = crate::programs::spec::builtin().into_iter().flatten().collect();
        let chosen = scenarios.iter().position(|s| s.id == "deadlock-lock-order").unwrap_or(0);
        ProgramUi {
            scenarios,
            chosen,
            variant: String::new(),
            gated: false,
            challenge: None,
            shared: ProgramShared::default(),
            last_tag: 0,
            challenge_tag: None,
            file_path: "program.json".into(),
            file_message: None,
        }
    }

    pub fn scenario(&self) -> Option<&ProgramScenario> {
        self.scenarios.get(self.chosen)
    }

    /// Picks a scenario by id; false if there is none.
    pub fn choose(&mut self, id: &str) -> bool {
        match self.scenarios.iter().position(|s| s.id == id) {
            Some(i) => {
                self.chosen = i;
                self.variant.clear();
                self.challenge = None;
                true
            }
            None => false,
        }
    }

    /// Picks challenge `c` of the chosen scenario: its variant, and you as the scheduler.
    pub fn choose_challenge(&mut self, c: Option<usize>) {
        self.challenge = c;
        self.challenge_tag = None;
        if let Some(ch) = c.and_then(|c| self.scenario()?.challenges.get(c)) {
            self.variant = ch.variant.clone();
            self.gated = true;
        }
    }

    pub fn start_command(&mut self) -> Option<ProgramCommand> {
        let s = self.scenario()?.clone();
        self.last_tag += 1;
        self.challenge_tag = self.challenge.map(|_| self.last_tag);
        Some(ProgramCommand::Start {
            scenario: Box::new(s),
            variant: self.variant.clone(),
            gated: self.gated,
            tag: self.last_tag,
        })
    }

    /// Whether the run on the stage won challenge `c` of the chosen scenario: the run started
    /// for it (its variant, you scheduling) brought its goal about.
    pub fn won(&self, c: usize) -> bool {
        let (Some(s), Some(m)) = (self.scenario(), self.shared.model.as_ref()) else { return false };
        let Some(ch) = s.challenges.get(c) else { return false };
        self.challenge == Some(c)
            && m.scenario.id == s.id
            && m.variant == ch.variant
            && self.shared.won(self.challenge_tag, ch.goal)
    }

    fn goal(&self) -> Option<(Goal, &str)> {
        let s = self.scenario()?;
        let i = self.challenge?;
        Some((s.challenges.get(i)?.goal, s.challenge_in(i, crate::i18n::lang())?))
    }
}

impl Default for ProgramUi {
    fn default() -> Self {
        Self::new()
    }
}

fn variant_label(s: Option<&ProgramScenario>, v: &str) -> String {
    match (v, s.and_then(|s| s.variant_in(v, crate::i18n::lang()))) {
        ("", _) => tr!("programs.as_written"),
        (_, Some(shown)) => shown.to_string(),
        ("fixed", None) => tr!("programs.fixed"),
        (v, None) => v.to_string(),
    }
}

/// Why the last command was not done, in words.
fn message_text(shared: &ProgramShared) -> Option<String> {
    match (&shared.message, &shared.model) {
        (None, _) => None,
        (Some(ProgramMessage::CannotStart(why)), _) => Some(tr!("programs.cannot_start", why = why)),
        (Some(ProgramMessage::Refused(r)), Some(m)) => Some(say::refusal(m, r)),
        (Some(ProgramMessage::Refused(_)), None) => None,
    }
}

/// A challenge's goal, for people (`Goal::as_str` stays the engine's word).
pub fn goal_text(goal: Goal) -> String {
    match goal {
        Goal::Deadlock => tr!("programs.goal_deadlock"),
        Goal::Complete => tr!("programs.goal_complete"),
        Goal::LostUpdate => tr!("programs.goal_lost_update"),
        Goal::Livelock => tr!("programs.goal_livelock"),
    }
}

/// The controls row of the view: scenario, variant, challenge, scheduler, start and stop.
pub fn controls(p: &mut ProgramUi, ui: &mut egui::Ui, commands: &mut Vec<ProgramCommand>) {
    let running = p.shared.running;
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(
                p.scenario().is_some(),
                egui::Button::new(if running { tr!("programs.restart") } else { tr!("programs.start") }),
            )
            .clicked()
            && let Some(c) = p.start_command()
        {
            commands.push(c);
        }
        if ui
            .add_enabled(running, egui::Button::new(tr!("programs.stop")))
            .on_hover_text(tr!("programs.stop_hint"))
            .clicked()
        {
            commands.push(ProgramCommand::Stop);
        }
        // Stuck, and the scenario has a fix: one click to see it work.
        let stuck = p.shared.model.as_ref().is_some_and(|m| {
            m.variant != "fixed"
                && matches!(
                    m.verdict,
                    Some(
                        Verdict::Deadlock { .. }
                            | Verdict::Hang { .. }
                            | Verdict::Suspected { .. }
                            | Verdict::KernelCaught { .. }
                    )
                )
        });
        if stuck
            && p.scenario().is_some_and(|s| s.fixed.is_some())
            && ui.button(tr!("programs.restart_fix")).on_hover_text(tr!("programs.restart_fix_hint")).clicked()
        {
            p.variant = "fixed".into();
            p.gated = false;
            p.challenge = None;
            if let Some(c) = p.start_command() {
                commands.push(c);
            }
        }
        ui.separator();
        ui.add_enabled_ui(!running, |ui| {
            let label = ui.label(tr!("programs.program"));
            let current = p.scenario().map_or(String::new(), |s| s.title_in(crate::i18n::lang()).to_string());
            let mut pick = None;
            egui::ComboBox::from_id_salt("program")
                .selected_text(current)
                .width(260.0)
                .show_ui(ui, |ui| {
                    let lang = crate::i18n::lang();
                    for (i, s) in p.scenarios.iter().enumerate() {
                        if ui
                            .selectable_label(i == p.chosen, s.title_in(lang))
                            .on_hover_text(s.about_in(lang))
                            .clicked()
                        {
                            pick = Some(s.id.clone());
                        }
                    }
                })
                .response
                .labelled_by(label.id);
            if let Some(id) = pick {
                p.choose(&id);
            }
            let label = ui.label(tr!("programs.variant"));
            let variants: Vec<String> = match p.scenario() {
                Some(s) => s.all_variants().into_iter().map(|(v, _)| v.to_string()).collect(),
                None => vec![String::new()],
            };
            egui::ComboBox::from_id_salt("variant")
                .selected_text(variant_label(p.scenario(), &p.variant))
                .width(110.0)
                .show_ui(ui, |ui| {
                    let chosen = p.scenarios.get(p.chosen).cloned();
                    for v in &variants {
                        ui.selectable_value(&mut p.variant, v.clone(), variant_label(chosen.as_ref(), v));
                    }
                })
                .response
                .labelled_by(label.id);
            ui.checkbox(&mut p.gated, tr!("programs.you_schedule")).on_hover_text(tr!("programs.you_schedule_hint"));
            let challenges: Vec<String> =
                p.scenario().map(|s| s.challenges.iter().map(|c| goal_text(c.goal)).collect()).unwrap_or_default();
            if !challenges.is_empty() {
                let label = ui.label(tr!("programs.challenge"));
                let mut pick = p.challenge;
                egui::ComboBox::from_id_salt("challenge")
                    .selected_text(
                        p.challenge.and_then(|c| challenges.get(c)).cloned().unwrap_or_else(|| tr!("programs.none")),
                    )
                    .width(150.0)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut pick, None, tr!("programs.none"));
                        for (i, c) in challenges.iter().enumerate() {
                            ui.selectable_value(&mut pick, Some(i), c);
                        }
                    })
                    .response
                    .labelled_by(label.id);
                if pick != p.challenge {
                    p.choose_challenge(pick);
                }
            }
            ui.separator();
            // Scenario programs are files: load one (checked, an error names the field), or save
            // the chosen one to start a scenario of your own from.
            let path_label = ui.label(tr!("programs.file"));
            ui.add(egui::TextEdit::singleline(&mut p.file_path).desired_width(120.0)).labelled_by(path_label.id);
            if ui.button(tr!("programs.load")).clicked() {
                p.file_message = Some(match crate::programs::spec::resolve(&p.file_path) {
                    Ok(s) => {
                        let id = s.id.clone();
                        let missing = s.missing_text(crate::i18n::lang());
                        p.scenarios.retain(|o| o.id != id);
                        p.scenarios.push(s);
                        p.choose(&id);
                        if missing.is_empty() {
                            tr!("programs.loaded", id = id)
                        } else {
                            // Said, not refused: the file runs, in English where it lacks words.
                            tr!("programs.loaded_untranslated", id = id, missing = missing.join(", "))
                        }
                    }
                    Err(e) => e,
                });
            }
            if ui.button(tr!("programs.save")).clicked()
                && let Some(s) = p.scenario()
            {
                let text = serde_json::to_string_pretty(s).unwrap_or_default();
                p.file_message = Some(match std::fs::write(&p.file_path, text + "\n") {
                    Ok(()) => tr!("programs.saved", path = p.file_path),
                    Err(e) => tr!("programs.save_failed", why = e.to_string()),
                });
            }
        });
    });
    if let Some(msg) = &p.file_message {
        ui.label(msg);
    }
    if let Some(s) = p.scenario() {
        let lang = crate::i18n::lang();
        if p.shared.model.is_none() {
            ui.label(egui::RichText::new(s.title_in(lang)).strong());
            ui.label(egui::RichText::new(s.about_in(lang)).weak());
        } else {
            ui.label(egui::RichText::new(tr!("programs.hover_about", title = s.title_in(lang))).strong())
                .on_hover_text(s.about_in(lang));
        }
    }
}

/// How the run stands, in a banner: the verdict, the cycle in one sentence, the evidence.
fn banner(p: &ProgramUi, ui: &mut egui::Ui) {
    let Some(m) = &p.shared.model else {
        let text = message_text(&p.shared).unwrap_or_else(|| tr!("programs.press_start"));
        ui.label(egui::RichText::new(text).heading());
        return;
    };
    let red = Color32::from_rgb(225, 60, 60);
    let green = Color32::from_rgb(70, 180, 90);
    let amber = Color32::from_rgb(230, 160, 40);
    let secs = p.shared.elapsed;
    let (word, color, sentence): (String, Color32, Option<String>) = match &m.verdict {
        None if p.shared.running => {
            let who = if m.gated { tr!("programs.waiting_for_you") } else { tr!("programs.running") };
            (tr!("programs.running_for", what = who, secs = format!("{secs:.1}")), ui.visuals().text_color(), None)
        }
        None => (tr!("programs.stopped"), ui.visuals().weak_text_color(), None),
        Some(v) => {
            let color = match v {
                Verdict::Deadlock { .. } => red,
                Verdict::KernelCaught { .. } | Verdict::Suspected { .. } | Verdict::Hang { .. } => amber,
                Verdict::TimedOut { .. } => amber,
                Verdict::Completed | Verdict::Recovered { .. } => green,
                Verdict::Failed { .. } | Verdict::Stopped { .. } => ui.visuals().weak_text_color(),
            };
            (say::verdict_word(v, secs), color, say::verdict_sentence(&m.scenario, v))
        }
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(egui::RichText::new(word).heading().strong().color(color));
        if let Some(lost) = m.lost_updates().filter(|&n| n > 0) {
            let of: u64 = m.scenario.expect.values().sum();
            // "1 of 4 updates lost": the noun follows the total.
            let text = if of == 1 {
                tr!("programs.lost_one", lost = crate::i18n::grouped(lost), of = crate::i18n::grouped(of))
            } else {
                tr!("programs.lost_many", lost = crate::i18n::grouped(lost), of = crate::i18n::grouped(of))
            };
            ui.label(egui::RichText::new(text).heading().color(red));
        }
    });
    if let Some(s) = sentence {
        ui.label(egui::RichText::new(s).color(color));
    }
    // Killing a victim breaks a deadlock; in a hang nothing it holds is what the others wait for.
    if matches!(m.verdict, Some(Verdict::Deadlock { .. })) && p.shared.running {
        ui.label(tr!("programs.kill_a_victim"));
    }
    if let Some(msg) = message_text(&p.shared) {
        ui.colored_label(ui.visuals().warn_fg_color, msg);
    }
}

/// The side panel: the challenge, the values, the kernel's view of each process, the log.
pub fn side(p: &ProgramUi, ui: &mut egui::Ui) {
    let m = p.shared.model.as_ref();
    if let Some((goal, text)) = p.goal() {
        ui.heading(tr!("programs.challenge"));
        ui.label(egui::RichText::new(goal_text(goal)).strong());
        ui.label(text);
        let won = p.challenge.is_some_and(|c| p.won(c));
        if won {
            ui.label(
                egui::RichText::new(tr!("programs.challenge_won")).heading().color(Color32::from_rgb(70, 180, 90)),
            );
        } else if m.is_some_and(|m| !p.shared.running && m.verdict.is_some()) {
            ui.label(tr!("programs.not_this_time"));
        }
        ui.separator();
    }
    let Some(m) = m else { return };
    values(m, ui);
    ui.heading(tr!("programs.kernel_view"));
    egui::Grid::new("kernel")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for pr in &m.procs {
                ui.label(say::name(&m.scenario, &pr.name));
                ui.label(tr!("programs.pid", pid = pr.pid));
                let state = match (&pr.kernel, &pr.exit) {
                    // At its gate a process sleeps until your pick arrives: say so beside the wait.
                    (Some((s, w)), _) if pr.next.is_some() => tr!("programs.for_your_pick", state = s, wchan = w),
                    (Some((s, w)), _) if w.is_empty() || w == "0" => format!("{s} {}", tr!("programs.running")),
                    (Some((s, w)), _) => format!("{s} {w}"),
                    (None, Some(e)) => say::exit(*e),
                    (None, None) => "…".into(),
                };
                // Long wait channels end in … (the whole name on hover), not past the panel.
                ui.add(egui::Label::new(state).truncate());
                ui.end_row();
            }
        })
        .response
        .on_hover_text(tr!("programs.kernel_hint"));
    if !m.file_locks.is_empty() {
        ui.strong(tr!("programs.locks_heading"));
        for l in &m.file_locks {
            let line = say::evidence(&m.scenario, l);
            let line = line.split_once(": ").or_else(|| line.split_once("：")).map_or(line.as_str(), |(_, rest)| rest);
            ui.label(egui::RichText::new(line).small());
        }
    }
    ui.separator();
    log(m, ui);
}

/// The counters and semaphores the run uses, against what they should reach.
fn values(m: &ProgramModel, ui: &mut egui::Ui) {
    let users = m.users();
    let used = |n: &str| m.scenario.resource(n).is_some_and(|(i, _)| !users[i].is_empty());
    let counters: Vec<&(String, u64)> = m.counters.iter().filter(|(n, _)| used(n)).collect();
    let semaphores: Vec<&(String, i32)> = m.semaphores.iter().filter(|(n, _)| used(n)).collect();
    if !counters.is_empty() || !semaphores.is_empty() {
        ui.heading(tr!("programs.values"));
        egui::Grid::new("values").num_columns(2).show(ui, |ui| {
            for (n, v) in counters {
                ui.label(say::name(&m.scenario, n));
                match m.scenario.expect.get(n) {
                    Some(want) if v == want => ui.label(tr!("programs.value_ok", value = crate::i18n::grouped(v))),
                    Some(want) => ui.label(tr!(
                        "programs.should_reach",
                        value = crate::i18n::grouped(v),
                        want = crate::i18n::grouped(want)
                    )),
                    None => ui.label(v.to_string()),
                };
                ui.end_row();
            }
            for (n, v) in semaphores {
                ui.label(say::name(&m.scenario, n));
                ui.label(tr!("programs.semaphore_value", value = v));
                ui.end_row();
            }
        });
        ui.separator();
    }
}

/// "What happened": the run's log, newest at the bottom.
pub fn log(m: &ProgramModel, ui: &mut egui::Ui) {
    ui.heading(tr!("programs.what_happened"));
    egui::ScrollArea::vertical().id_salt("log").stick_to_bottom(true).auto_shrink([false, false]).show(ui, |ui| {
        for (t, entry) in &m.log {
            ui.horizontal_wrapped(|ui| {
                ui.label(egui::RichText::new(tr!("programs.seconds", t = format!("{t:.2}"))).weak());
                ui.label(say::entry(m, entry));
            });
        }
    });
}

/// Under a lesson's stage: the values and the log, as the Programs view shows them beside its own.
pub fn lesson_log(p: &ProgramUi, ui: &mut egui::Ui) {
    let Some(m) = &p.shared.model else { return };
    values(m, ui);
    log(m, ui);
}

/// What the central canvas asks for: a step or a kill.
pub fn canvas(p: &ProgramUi, ui: &mut egui::Ui, commands: &mut Vec<ProgramCommand>) {
    banner(p, ui);
    ui.separator();
    let Some(m) = &p.shared.model else { return };
    let rect = ui.available_rect_before_wrap();
    let (rect, _) = ui.allocate_exact_size(rect.size(), Sense::hover());
    draw_graph(m, p.shared.running, rect, ui, commands);
}

/// Where a waited-for (pseudo) resource is drawn: the real resource it stands for, or, for
/// the exit of a process, that process.
enum Target {
    Resource(usize),
    Process(usize),
}

fn target_of(m: &ProgramModel, waited: &str) -> Option<Target> {
    let strip =
        ["a post of ", "the write end of ", "the read end of ", "a receiver of ", "a sender to ", "a signal of "];
    if let Some(name) = waited.strip_prefix("the exit of ") {
        return m.procs.iter().position(|p| p.name == name).map(Target::Process);
    }
    let base = strip.iter().find_map(|p| waited.strip_prefix(p)).unwrap_or(waited);
    m.scenario.resources.iter().position(|r| r.name == base).map(Target::Resource)
}

fn resource_text(m: &ProgramModel, i: usize) -> String {
    let r = &m.scenario.resources[i];
    let value = |list: &[(String, u64)]| list.iter().find(|(n, _)| *n == r.name).map(|(_, v)| *v);
    match r.kind {
        ResourceKind::Mutex => tr!("programs.mutex"),
        ResourceKind::FileLock => tr!("programs.file_lock"),
        ResourceKind::Semaphore { .. } => match m.semaphores.iter().find(|(n, _)| *n == r.name) {
            Some((_, v)) => tr!("programs.semaphore_is", value = v),
            None => tr!("programs.semaphore"),
        },
        ResourceKind::Counter => match value(&m.counters) {
            Some(v) => tr!("programs.counter_is", value = crate::i18n::grouped(v)),
            None => tr!("programs.counter"),
        },
        ResourceKind::Barrier { parties } => tr!("programs.barrier", parties = parties),
        ResourceKind::Pipe if m.links == crate::mechanism::MechanismId::Unix => tr!("programs.socket_pipe"),
        ResourceKind::Pipe => tr!("programs.pipe"),
        ResourceKind::Queue { capacity } => tr!("programs.mqueue", capacity = capacity),
        ResourceKind::LocalCounter => tr!("programs.own_counter"),
        ResourceKind::Condvar => tr!("programs.condvar"),
        ResourceKind::FairMutex => tr!("programs.fair_mutex"),
    }
}

fn draw_graph(m: &ProgramModel, running: bool, rect: Rect, ui: &mut egui::Ui, commands: &mut Vec<ProgramCommand>) {
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals().clone();
    let text = visuals.text_color();
    let red = Color32::from_rgb(225, 60, 60);
    let amber = Color32::from_rgb(230, 160, 40);
    let blue = Color32::from_rgb(90, 150, 255);
    let font = FontId::proportional(14.0);
    let small = FontId::proportional(12.0);

    let n = m.procs.len().max(1);
    // Resources the variant's processes use, and by whom (a variant may leave one out).
    let users = m.users();
    let shown: Vec<usize> = (0..m.scenario.resources.len())
        .filter(|&i| m.scenario.resources[i].kind != ResourceKind::LocalCounter && !users[i].is_empty())
        .collect();
    // Processes around an ellipse (two face each other, left and right); each resource between
    // the processes that use it, pulled toward the middle; those everyone uses, stacked there.
    let pw = (rect.width() / if n <= 2 { 3.2 } else { 4.6 }).clamp(120.0, 230.0);
    // Name, PID and kernel state, what it does: three lines, one per counter of its own, and
    // one for a wait long enough to notice.
    let noticed = |p: &crate::programs::model::ProcState| p.longest_wait.as_ref().is_some_and(|(s, _)| *s >= 0.01);
    let locals = m.procs.iter().map(|p| p.locals.len() + usize::from(noticed(p))).max().unwrap_or(0) as f32;
    let ph = 64.0 + 15.0 * locals;
    let center = rect.center();
    let (rx, ry) = ((rect.width() - pw) / 2.0 - 6.0, (rect.height() - ph) / 2.0 - 30.0);
    let angle = |p: usize| -> f32 {
        if n == 2 {
            std::f32::consts::PI * (1.0 - p as f32)
        } else {
            -std::f32::consts::FRAC_PI_2 + std::f32::consts::TAU * p as f32 / n as f32
        }
    };
    let proc_rects: Vec<Rect> = (0..n)
        .map(|p| {
            let c = if n == 1 {
                pos2(center.x, rect.top() + ph / 2.0 + 4.0)
            } else {
                center + vec2(rx * angle(p).cos(), ry * angle(p).sin())
            };
            Rect::from_center_size(c, vec2(pw, ph))
        })
        .collect();
    let rw = (rect.width() / 7.0).clamp(90.0, 160.0);
    let rh = 44.0;
    let mut res_rects: Vec<Option<Rect>> = vec![None; m.scenario.resources.len()];
    let mut middle = Vec::new();
    for &i in &shown {
        let (sx, sy) = users[i].iter().fold((0.0f32, 0.0f32), |(x, y), &p| (x + angle(p).cos(), y + angle(p).sin()));
        let k = users[i].len() as f32;
        let (mx, my) = (sx / k, sy / k);
        if n == 1 || (mx * mx + my * my).sqrt() < 0.35 {
            middle.push(i);
        } else {
            let a = my.atan2(mx);
            let mut c = center + vec2(0.5 * rx * a.cos(), 0.5 * ry * a.sin());
            // Two processes face each other across the middle: one's own resources sit below
            // the line between them, out of the way of the edges that cross it.
            if n == 2 {
                c.y += rh + 40.0;
            }
            res_rects[i] = Some(Rect::from_center_size(c, vec2(rw, rh)));
        }
    }
    let stack = middle.len() as f32 * (rh + 12.0) - 12.0;
    let top_y = if n == 1 { proc_rects[0].bottom() + 60.0 } else { center.y - stack / 2.0 };
    for (k, &i) in middle.iter().enumerate() {
        let c = pos2(center.x, top_y + rh / 2.0 + k as f32 * (rh + 12.0));
        res_rects[i] = Some(Rect::from_center_size(c, vec2(rw, rh)));
    }

    // The cycle, once it is decided (a deadlock, or a suspected one).
    let cycle = match &m.verdict {
        Some(Verdict::Deadlock { .. } | Verdict::Suspected { .. }) => m.graph.cycle().unwrap_or_default(),
        _ => Vec::new(),
    };
    let in_cycle = |p: usize| cycle.iter().any(|e| e.proc == p);

    let arrow = |from: Pos2, to: Pos2, color: Color32, width: f32, dashed: bool| {
        let stroke = Stroke::new(width, color);
        if dashed {
            painter.extend(egui::Shape::dashed_line(&[from, to], stroke, 8.0, 5.0));
        } else {
            painter.line_segment([from, to], stroke);
        }
        let dir = (to - from).normalized();
        let side = vec2(-dir.y, dir.x);
        let tip = to;
        painter.add(egui::Shape::convex_polygon(
            vec![tip, tip - dir * 11.0 + side * 5.5, tip - dir * 11.0 - side * 5.5],
            color,
            Stroke::NONE,
        ));
    };

    // Holds: a lock to its holder (mutexes and file locks, where holding means owning).
    for (i, r) in m.scenario.resources.iter().enumerate() {
        if !matches!(r.kind, ResourceKind::Mutex | ResourceKind::FairMutex | ResourceKind::FileLock) {
            continue;
        }
        let Some(rr) = res_rects[i] else { continue };
        for &h in m.graph.holders(&r.name) {
            let red_edge = cycle.iter().enumerate().any(|(k, e)| {
                let next = cycle[(k + 1) % cycle.len()].proc;
                next == h && e.resource == r.name
            });
            let (c, w) = if red_edge { (red, 3.5) } else { (visuals.weak_text_color(), 2.0) };
            let (a, b) = link(rr, proc_rects[h], 6.0);
            arrow(a, b, c, w, false);
            // A short edge keeps its word to the legend: it would sit on a box.
            if a.distance(b) > 110.0 {
                painter.text(
                    a.lerp(b, 0.5) + vec2(0.0, 4.0),
                    Align2::CENTER_TOP,
                    tr!("programs.holds"),
                    small.clone(),
                    c,
                );
            }
        }
    }
    // Waits: a blocked process to what it waits for; in the cycle, on to the process that holds it.
    for (p, _) in m.procs.iter().enumerate() {
        let Some(waited) = m.graph.waits_for(p) else { continue };
        let edge = cycle.iter().position(|e| e.proc == p);
        let (c, w) = if edge.is_some() { (red, 3.5) } else { (amber, 2.5) };
        match target_of(m, waited) {
            Some(Target::Resource(i)) => {
                let Some(rr) = res_rects[i] else { continue };
                let (a, b) = link(proc_rects[p], rr, 6.0);
                arrow(a, b, c, w, true);
                if a.distance(b) > 110.0 {
                    painter.text(
                        a.lerp(b, 0.5) + vec2(0.0, -4.0),
                        Align2::CENTER_BOTTOM,
                        tr!("programs.waits_for"),
                        small.clone(),
                        c,
                    );
                }
                // Through a role (a post, a pipe end, a queue side): on to who plays it.
                if let Some(k) = edge {
                    let next = cycle[(k + 1) % cycle.len()].proc;
                    let real = m.scenario.resources.get(i).is_some_and(|r| r.name == waited);
                    if !real {
                        let (a, b) = link(rr, proc_rects[next], 6.0);
                        arrow(a, b, red, 3.5, false);
                    }
                }
            }
            Some(Target::Process(q)) => {
                // An arc over the top, clear of the resources between the two.
                let (a, b) = (proc_rects[p].center_top(), proc_rects[q].center_top());
                let lift = vec2(0.0, -(70.0 + 0.15 * a.distance(b)));
                let mid = a.lerp(b, 0.5) + lift;
                let points: Vec<Pos2> = (0..=24)
                    .map(|k| {
                        let t = k as f32 / 24.0;
                        let u = 1.0 - t;
                        pos2(
                            u * u * a.x + 2.0 * u * t * mid.x + t * t * b.x,
                            u * u * a.y + 2.0 * u * t * mid.y + t * t * b.y,
                        )
                    })
                    .collect();
                painter.extend(egui::Shape::dashed_line(&points, Stroke::new(w, c), 8.0, 5.0));
                let last = points[points.len() - 2];
                arrow(last, b, c, w, false);
                painter.text(
                    a.lerp(b, 0.5) + lift * 0.5 + vec2(0.0, -4.0),
                    Align2::CENTER_BOTTOM,
                    tr!("programs.joins"),
                    small.clone(),
                    c,
                );
            }
            None => {}
        }
    }

    // Resources.
    for &i in &shown {
        let Some(rr) = res_rects[i] else { continue };
        let hot =
            cycle.iter().any(|e| target_of(m, &e.resource).is_some_and(|t| matches!(t, Target::Resource(j) if j == i)));
        painter.rect(
            rr,
            8.0,
            visuals.extreme_bg_color,
            Stroke::new(if hot { 3.0 } else { 1.5 }, if hot { red } else { visuals.weak_text_color() }),
            StrokeKind::Inside,
        );
        let name = say::name(&m.scenario, &m.scenario.resources[i].name);
        fit_text(&painter, rr.center() - vec2(0.0, 9.0), name.to_string(), &font, text, rr.width() - 8.0);
        fit_text(
            &painter,
            rr.center() + vec2(0.0, 11.0),
            resource_text(m, i),
            &small,
            visuals.weak_text_color(),
            rr.width() - 8.0,
        );
    }

    // Processes: a box each, colored by what it does; click to step it, right-click to kill.
    for (i, pr) in m.procs.iter().enumerate() {
        let r = proc_rects[i];
        let color = if in_cycle(i) {
            red
        } else if let Some(e) = pr.exit {
            if e == crate::supervisor::ExitKind::Code(0) { visuals.weak_text_color() } else { red }
        } else if pr.blocked.is_some() {
            amber
        } else if pr.next.is_some() {
            blue
        } else {
            Color32::from_rgb(70, 180, 90)
        };
        // The box's lines, measured first: the text shrinks (to 70%), then the box grows, so
        // nothing is drawn outside it ("waits for producer to exit", a long exit).
        let key = if m.gated && i < 9 { format!("[{}] ", i + 1) } else { String::new() };
        let kernel = match &pr.kernel {
            Some((s, w)) if w.is_empty() || w == "0" => tr!("programs.on_cpu", state = s),
            Some((s, w)) => format!(" · {s} {w}"),
            None => String::new(),
        };
        // A narrow box leaves the PID to the kernel's view beside the stage.
        let ids = if pw >= 170.0 {
            format!("{}{kernel}", tr!("programs.pid", pid = pr.pid))
        } else {
            kernel.trim_start_matches(" · ").to_string()
        };
        let mut lines: Vec<(String, f32, Color32)> = vec![
            (format!("{key}{}", say::name(&m.scenario, &pr.name)), 16.0, text),
            (ids, small.size, visuals.weak_text_color()),
            (say::doing_short(m, i), small.size, color),
        ];
        for (n, v) in &pr.locals {
            lines.push((tr!("programs.its_own", name = say::name(&m.scenario, n), value = v), small.size, text));
        }
        // A wait long enough to notice: a starved process shows it here.
        if let Some((secs, r)) = pr.longest_wait.as_ref().filter(|(secs, _)| *secs >= 0.01) {
            let what = say::name(&m.scenario, r);
            lines.push((tr!("programs.longest_wait", secs = format!("{secs:.2}"), what = what), small.size, text));
        }
        let measure = |k: f32| -> Vec<std::sync::Arc<egui::Galley>> {
            lines
                .iter()
                .map(|(s, size, c)| painter.layout(s.clone(), FontId::proportional(size * k), *c, r.width() - 10.0))
                .collect()
        };
        let height = |g: &[std::sync::Arc<egui::Galley>]| g.iter().map(|g| g.size().y + 2.0).sum::<f32>() + 8.0;
        let mut galleys = measure(1.0);
        if height(&galleys) > r.height() {
            let k = (r.height() / height(&galleys)).clamp(0.7, 1.0);
            galleys = measure(k);
        }
        let mut r = r;
        r.max.y = r.max.y.max(r.min.y + height(&galleys));
        let resp = ui.interact(r, ui.scope_id().with(("process", i)), Sense::click());
        // Named for screen readers and tests: a click on the box is a step.
        resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, m.gated, pr.name.clone()));
        painter.rect(
            r,
            10.0,
            visuals.faint_bg_color,
            Stroke::new(if in_cycle(i) { 3.5 } else { 2.0 }, color),
            StrokeKind::Inside,
        );
        let mut y = r.top() + 5.0;
        for g in galleys {
            let h = g.size().y;
            painter.galley(pos2(r.center().x - g.size().x / 2.0, y), g, text);
            y += h + 2.0;
        }
        let live = pr.exit.is_none() && running;
        if resp.clicked() && m.gated && live {
            commands.push(ProgramCommand::Step(i));
        }
        resp.context_menu(|ui| {
            if ui
                .add_enabled(
                    live,
                    egui::Button::new(tr!("programs.kill_named_signal", name = say::name(&m.scenario, &pr.name))),
                )
                .clicked()
            {
                commands.push(ProgramCommand::Kill(i));
                ui.close();
            }
        });
        // A Kill button in the box's corner, for those who do not right-click (and for tests);
        // where the box is narrow, only while the pointer is on it, not over the name.
        if live && (pw >= 170.0 || resp.hovered() || ui.rect_contains_pointer(r)) {
            // In a wide box the corner is free; over a narrow one it sits above the box, off
            // its name.
            let corner = if pw >= 170.0 { vec2(-40.0, 3.0) } else { vec2(-37.0, -22.0) };
            let at = Rect::from_min_size(r.right_top() + corner, vec2(37.0, 20.0));
            let kill = ui.put(at, egui::Button::new(egui::RichText::new(tr!("programs.kill")).small()));
            kill.widget_info(|| {
                egui::WidgetInfo::labeled(
                    egui::Role::Button,
                    true,
                    tr!("programs.kill_named", name = say::name(&m.scenario, &pr.name)),
                )
            });
            let kill = kill.on_hover_text(tr!("programs.kill_hint"));
            if kill.clicked() {
                commands.push(ProgramCommand::Kill(i));
            }
        }
    }
    // The legend.
    let scheduler = if m.gated { tr!("programs.legend_scheduler") } else { String::new() };
    let legend = format!("{scheduler}{}", tr!("programs.legend"));
    let galley = painter.layout(legend, small, visuals.weak_text_color(), rect.width() - 12.0);
    let at = rect.left_bottom() + vec2(6.0, -6.0 - galley.size().y);
    painter.galley(at, galley, visuals.weak_text_color());
}

/// `text` centred on `center` within `max_width`: smaller (to 65%) where it is too wide, then
/// wrapped, never past the box it labels.
fn fit_text(painter: &egui::Painter, center: Pos2, text: String, font: &FontId, color: Color32, max_width: f32) {
    let wide = painter.layout_no_wrap(text.clone(), font.clone(), color).size().x;
    let k = if wide > max_width { (max_width / wide).max(0.65) } else { 1.0 };
    let g = painter.layout(text, FontId::new(font.size * k, font.family.clone()), color, max_width.max(10.0));
    painter.galley(center - g.size() / 2.0, g, color);
}

/// The ends of an edge from box `a` to box `b`: where the line between their centres (moved
/// sideways by `offset`, so an edge each way does not overlap) leaves `a` and enters `b`.
fn link(a: Rect, b: Rect, offset: f32) -> (Pos2, Pos2) {
    let d = (b.center() - a.center()).normalized();
    let side = vec2(-d.y, d.x) * offset;
    let from = a.center() + side;
    let to = b.center() + side;
    (border(a, from, to), border(b, to, from))
}

/// Where the segment from `inside` (in `r`) toward `toward` crosses `r`'s border.
fn border(r: Rect, inside: Pos2, toward: Pos2) -> Pos2 {
    let d = toward - inside;
    let tx = if d.x > 0.0 {
        (r.right() - inside.x) / d.x
    } else if d.x < 0.0 {
        (r.left() - inside.x) / d.x
    } else {
        f32::INFINITY
    };
    let ty = if d.y > 0.0 {
        (r.bottom() - inside.y) / d.y
    } else if d.y < 0.0 {
        (r.top() - inside.y) / d.y
    } else {
        f32::INFINITY
    };
    inside + d * tx.min(ty).clamp(0.0, 1.0)
}
