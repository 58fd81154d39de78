//! The Lessons view (issue 5/7): a lesson page rendered from Markdown (egui_commonmark) beside
//! the stage its experiments run on. "Run it" starts real processes (a scenario program on the
//! Programs stage, or a live-stage setup); check questions explain every answer; challenges are
//! won on the scheduler; progress is kept between runs.
//!
//! The keyboard alone drives it (a presenter's clicker sends PageDown / PageUp, sometimes B or
//! period): PageDown and Space scroll the page by a screen and turn to the next lesson at its
//! end, PageUp back; Enter, R or period run the experiment marked "Enter" (the first on screen);
//! Esc or B stops it. A legend under the page says so.

use std::path::PathBuf;

use egui::{Color32, RichText};
use egui_commonmark::{CommonMarkCache, CommonMarkViewer};

use crate::lessons::progress::Progress;
use crate::lessons::{Experiment, Lang, Lesson, Lessons, What};
use crate::tr;

/// A piece of a page: Markdown, or an experiment's "Run it" line.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    Markdown(String),
    /// A fenced block (a diagram, a listing): shown as written, never wrapped.
    Code(String),
    Experiment {
        id: String,
        label: String,
    },
}

/// Splits a page at its experiment links (each on a line of its own: `[label](experiment:ID)`).
pub fn segments(page: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut code: Option<String> = None;
    for line in page.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            match code.take() {
                Some(block) => out.push(Segment::Code(block)),
                None => {
                    if !text.trim().is_empty() {
                        out.push(Segment::Markdown(std::mem::take(&mut text)));
                    }
                    text.clear();
                    code = Some(String::new());
                }
            }
            continue;
        }
        if let Some(block) = code.as_mut() {
            block.push_str(line);
            block.push('\n');
            continue;
        }
        let link = t.strip_prefix('[').and_then(|t| t.strip_suffix(')')).and_then(|t| t.split_once("](experiment:"));
        match link {
            Some((label, id)) => {
                if !text.trim().is_empty() {
                    out.push(Segment::Markdown(std::mem::take(&mut text)));
                }
                text.clear();
                out.push(Segment::Experiment { id: id.to_string(), label: label.to_string() });
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    if let Some(block) = code {
        out.push(Segment::Code(block));
    }
    if !text.trim().is_empty() {
        out.push(Segment::Markdown(text));
    }
    out
}

/// What the Lessons view remembers between frames.
pub struct LessonUi {
    pub lessons: Result<Lessons, String>,
    /// The language of the lessons and of the whole UI (one for the window).
    pub lang: Lang,
    /// The open lesson's id (the same in every language).
    pub current: String,
    /// The open page, measured when it was opened: (id, language, pieces).
    page: Option<(String, Lang, Vec<Segment>)>,
    cache: CommonMarkCache,
    pub progress: Progress,
    progress_path: Option<PathBuf>,
    /// Something to tell the reader (a corrupt progress file, a failed save).
    pub warning: Option<String>,
    /// The experiment last started from a page.
    pub running: Option<String>,
    /// A challenge being tried: (lesson id, challenge index), and the tag of the run started
    /// for it (only that run can win it).
    pub challenge: Option<(String, usize)>,
    pub challenge_tag: Option<u64>,
    /// The page's scroll as of the last frame: offset, visible height, content height.
    pub scroll: (f32, f32, f32),
    /// A scroll the keys asked for, applied at the next frame.
    scroll_to: Option<f32>,
    /// Scroll to the end once the page is measured (after turning back a page).
    scroll_to_end: bool,
    /// The page's width as of the last frame: when it changes (an experiment starts or ends
    /// beside it), the text reflows, and the reader's place is kept as a share of the page.
    page_width: f32,
    reflow_at: Option<f32>,
    /// The experiment Enter runs: the first on screen (after the one last run, if that is on
    /// screen too), else the one after the last run on the page.
    pub enter_runs: Option<String>,
}

/// Which way a key moves through the lessons.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Move {
    /// A line up (-1) or down (+1).
    Line(i32),
    /// A screen: down, or to the next lesson at the page's end; up, or to the previous lesson
    /// at its top.
    Screen(i32),
    Top,
    End,
}

impl LessonUi {
    /// Loads the built-in lessons and the progress at `progress_path` (the default place when
    /// `None`).
    pub fn new(lang: Lang, progress_path: Option<PathBuf>) -> LessonUi {
        let lessons = Lessons::builtin().map_err(|e| e.to_string());
        let progress_path = progress_path.or_else(Progress::default_path);
        let loaded = progress_path.as_deref().map(Progress::load);
        let current =
            lessons.as_ref().ok().and_then(|l| l.in_lang(lang).next().map(|l| l.id.clone())).unwrap_or_default();
        LessonUi {
            lessons,
            lang,
            current,
            page: None,
            cache: CommonMarkCache::default(),
            progress: loaded.as_ref().map(|l| l.progress.clone()).unwrap_or_default(),
            progress_path,
            warning: loaded.and_then(|l| l.warning),
            running: None,
            challenge: None,
            challenge_tag: None,
            scroll: (0.0, 0.0, 0.0),
            scroll_to: None,
            scroll_to_end: false,
            page_width: 0.0,
            reflow_at: None,
            enter_runs: None,
        }
    }

    /// Scrolls the page, or turns it at either end (see [`Move`]).
    pub fn go(&mut self, m: Move) {
        const LINE: f32 = 48.0;
        let (offset, view, content) = self.scroll;
        let max = (content - view).max(0.0);
        let to = |o: f32| Some(o.clamp(0.0, max));
        match m {
            Move::Line(d) => self.scroll_to = to(offset + d as f32 * LINE),
            Move::Screen(d) if d > 0 && offset >= max - 1.0 => self.turn(1),
            Move::Screen(d) if d < 0 && offset <= 1.0 => {
                let before = self.current.clone();
                self.turn(-1);
                self.scroll_to_end = self.current != before;
            }
            // A screen less a few lines, so the reader keeps their place.
            Move::Screen(d) => self.scroll_to = to(offset + d as f32 * (view - 2.0 * LINE).max(LINE)),
            Move::Top => self.scroll_to = Some(0.0),
            Move::End => self.scroll_to = Some(max),
        }
    }

    pub fn lesson(&self) -> Option<&Lesson> {
        self.lessons.as_ref().ok()?.get(&self.current, self.lang)
    }

    fn ids(&self) -> Vec<String> {
        self.lessons.as_ref().map(|l| l.in_lang(self.lang).map(|l| l.id.clone()).collect()).unwrap_or_default()
    }

    /// Opens lesson `id`; false if there is none.
    pub fn open(&mut self, id: &str) -> bool {
        if !self.ids().iter().any(|i| i == id) {
            return false;
        }
        if self.current != id {
            self.scroll = (0.0, 0.0, 0.0);
            self.scroll_to = Some(0.0);
            self.enter_runs = None;
        }
        self.current = id.to_string();
        self.progress.mark_read(id);
        self.save();
        true
    }

    /// Turns the page: +1 next, -1 previous; stays at either end.
    pub fn turn(&mut self, by: i32) {
        let ids = self.ids();
        let at = ids.iter().position(|i| *i == self.current).unwrap_or(0) as i32;
        let to = (at + by).clamp(0, ids.len() as i32 - 1);
        if let Some(id) = ids.get(to as usize).cloned() {
            self.open(&id);
        }
    }

    pub fn experiment(&self, id: &str) -> Option<&Experiment> {
        self.lessons.as_ref().ok()?.experiment(id)
    }

    fn save(&mut self) {
        if let Some(path) = &self.progress_path
            && let Err(e) = self.progress.save(path)
        {
            self.warning = Some(tr!("lessons.not_saved", error = e));
        }
    }

    /// The open page's pieces, measured on this machine when the page opens (not every frame).
    fn pieces(&mut self) -> Vec<Segment> {
        let fresh = self.page.as_ref().is_some_and(|(id, lang, _)| *id == self.current && *lang == self.lang);
        if !fresh {
            let segs = self.lesson().map(|l| segments(&l.page())).unwrap_or_default();
            self.page = Some((self.current.clone(), self.lang, segs));
        }
        self.page.as_ref().map(|(_, _, s)| s.clone()).unwrap_or_default()
    }
}

/// What the page asks the app to do.
pub enum LessonAction {
    /// Start an experiment (its id); with a challenge (lesson id, index) to win on it.
    Run(String, Option<(String, usize)>),
}

/// The language switch (in every view's top row): the lessons' language and the whole UI's.
pub fn language_ui(l: &mut LessonUi, ui: &mut egui::Ui) {
    for lang in Lang::ALL {
        let name = match lang {
            Lang::En => tr!("lang.en"),
            Lang::ZhCn => tr!("lang.zh_cn"),
        };
        if ui.selectable_label(l.lang == lang, name).on_hover_text(tr!("lang.hint")).clicked() && l.lang != lang {
            l.lang = lang;
            // The rest of this frame is drawn in the language it started with; draw the next now.
            crate::i18n::set_lang(lang);
            ui.ctx().request_repaint();
        }
    }
}

/// The navigation row: lesson picker, previous / next, the score.
pub fn nav(l: &mut LessonUi, ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        if ui.button(format!("◀ {}", tr!("lessons.previous"))).on_hover_text(tr!("keys.page_up")).clicked() {
            l.turn(-1);
        }
        let titles: Vec<(String, String)> = l
            .lessons
            .as_ref()
            .map(|ls| ls.in_lang(l.lang).map(|x| (x.id.clone(), format!("{}. {}", x.order, x.title))).collect())
            .unwrap_or_default();
        let current = titles.iter().find(|(id, _)| *id == l.current).map(|(_, t)| t.clone()).unwrap_or_default();
        let mut pick = None;
        let label = ui.label(tr!("lessons.lesson"));
        let combo = egui::ComboBox::from_id_salt("lesson").selected_text(current).width(260.0).show_ui(ui, |ui| {
            for (id, title) in &titles {
                let done = l.progress.lesson(id).is_some_and(|p| p.read);
                let mark = if done { "✓ " } else { "   " };
                if ui.selectable_label(*id == l.current, format!("{mark}{title}")).clicked() {
                    pick = Some(id.clone());
                }
            }
        });
        combo.response.labelled_by(label.id);
        if let Some(id) = pick {
            l.open(&id);
        }
        // The last lesson has no next one (yet): the button says so by being off.
        let last = l.ids().last().is_some_and(|id| *id == l.current);
        if ui
            .add_enabled(!last, egui::Button::new(format!("{} ▶", tr!("lessons.next"))))
            .on_hover_text(tr!("keys.page_down"))
            .clicked()
        {
            l.turn(1);
        }
        if let Some(lesson) = l.lesson() {
            let (answered, total) = l.progress.score(lesson);
            if total > 0 {
                ui.separator();
                ui.label(tr!("lessons.answered", answered = answered, total = total));
            }
        }
    });
    if let Some(warn) = &l.warning {
        ui.colored_label(ui.visuals().warn_fg_color, warn);
    }
    if let Err(e) = &l.lessons {
        ui.colored_label(ui.visuals().error_fg_color, tr!("lessons.not_loaded", error = e));
    }
}

/// The page: Markdown with its experiments as buttons, then the questions and challenges.
/// `won`: the challenge (lesson id, index) the run on the stage has just won, if any.
pub fn page(l: &mut LessonUi, won: Option<(String, usize)>, ui: &mut egui::Ui) -> Vec<LessonAction> {
    let mut actions = Vec::new();
    let pieces = l.pieces();
    let Some(lesson) = l.lesson().cloned() else { return actions };
    // A page shown is a page read: also the first one, open before any was picked.
    if !l.progress.lesson(&lesson.id).is_some_and(|p| p.read) {
        l.progress.mark_read(&lesson.id);
        l.save();
    }
    // Challenges won on the stage since the last frame.
    if let Some((id, i)) = won
        && id == lesson.id
        && !l.progress.won(&lesson, i)
    {
        l.progress.win(&lesson.id, i);
        l.save();
    }
    // The keys, under the page where a presenter can glance at them.
    egui::Panel::bottom("lesson-keys").show(ui, |ui| {
        ui.label(RichText::new(tr!("lessons.keys_legend")).weak().small());
    });
    let width = ui.available_width();
    if l.page_width > 0.0 && (width - l.page_width).abs() > 1.0 && l.scroll.2 > 0.0 && l.scroll_to.is_none() {
        l.reflow_at = Some(l.scroll.0 / l.scroll.2);
    }
    l.page_width = width;
    let mut area =
        egui::ScrollArea::vertical().id_salt(("page", &lesson.id, l.lang.as_str())).auto_shrink([false, false]);
    if let Some(y) = l.scroll_to.take() {
        area = area.vertical_scroll_offset(y);
    }
    // The experiments in page order, and those on screen.
    let mut order: Vec<String> = Vec::new();
    let mut on_screen: Vec<String> = Vec::new();
    let mut above: Option<String> = None;
    let enter_runs = l.enter_runs.clone();
    let out = area.show(ui, |ui| {
        for piece in &pieces {
            match piece {
                Segment::Markdown(md) => {
                    CommonMarkViewer::new().show(ui, &mut l.cache, md);
                }
                Segment::Code(code) => {
                    egui::Frame::new().fill(ui.visuals().extreme_bg_color).inner_margin(6.0).corner_radius(4.0).show(
                        ui,
                        |ui| {
                            egui::ScrollArea::horizontal().id_salt(code.len()).show(ui, |ui| {
                                ui.add(egui::Label::new(RichText::new(code.trim_end()).monospace()).extend());
                            });
                        },
                    );
                }
                Segment::Experiment { id, label } => {
                    let running = l.running.as_deref() == Some(id.as_str());
                    let text = RichText::new(format!("▶ {label}")).strong();
                    let b = ui
                        .horizontal_wrapped(|ui| {
                            let b = ui.add(egui::Button::new(text).selected(running));
                            if enter_runs.as_deref() == Some(id.as_str()) {
                                ui.label(RichText::new(tr!("lessons.enter_runs")).weak().small());
                            }
                            b
                        })
                        .inner;
                    b.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::Button, true, format!("{}: {id}", tr!("lessons.run_it")))
                    });
                    order.push(id.clone());
                    if ui.clip_rect().intersects(b.rect) {
                        on_screen.push(id.clone());
                    } else if b.rect.bottom() < ui.clip_rect().top() {
                        above = Some(id.clone());
                    }
                    if b.clicked() {
                        actions.push(LessonAction::Run(id.clone(), None));
                    }
                }
            }
        }
        if !lesson.questions.is_empty() {
            ui.add_space(8.0);
            ui.heading(tr!("lessons.check_yourself"));
        }
        for (qi, q) in lesson.questions.iter().enumerate() {
            ui.add_space(6.0);
            CommonMarkViewer::new().show(ui, &mut l.cache, &format!("**{}.** {}", qi + 1, q.text));
            let chosen = l.progress.chosen(&lesson, qi);
            for (ai, a) in q.answers.iter().enumerate() {
                if ui.radio(chosen == Some(ai), a.text.replace('`', "")).clicked() {
                    l.progress.answer(&lesson.id, qi, ai);
                    l.save();
                }
            }
            if let Some(ai) = l.progress.chosen(&lesson, qi)
                && let Some(a) = q.answers.get(ai)
            {
                let (mark, color) = if a.right {
                    ("✓", Color32::from_rgb(70, 180, 90))
                } else {
                    ("✗", Color32::from_rgb(225, 80, 80))
                };
                ui.label(RichText::new(format!("{mark} {}", a.why.replace('`', ""))).color(color));
            }
        }
        for (ci, c) in lesson.challenges.iter().enumerate() {
            ui.add_space(8.0);
            ui.heading(tr!("lessons.challenge", goal = super::program_ui::goal_text(c.goal)));
            CommonMarkViewer::new().show(ui, &mut l.cache, &c.text);
            ui.horizontal(|ui| {
                if ui.button(format!("▶ {}", tr!("lessons.try_it"))).clicked() {
                    actions.push(LessonAction::Run(c.experiment.clone(), Some((lesson.id.clone(), ci))));
                }
                if l.progress.won(&lesson, ci) {
                    ui.label(RichText::new(format!("✓ {}", tr!("lessons.won"))).color(Color32::from_rgb(70, 180, 90)));
                }
            });
        }
        ui.add_space(20.0);
    });
    let max = (out.content_size.y - out.inner_rect.height()).max(0.0);
    l.scroll = (out.state.clamped_offset().y.clamp(0.0, max), out.inner_rect.height(), out.content_size.y);
    if std::mem::take(&mut l.scroll_to_end) {
        l.scroll_to = Some(max);
    }
    // The reflowed page is measured now: the same share of it down, from the next frame.
    if let Some(share) = l.reflow_at.take() {
        l.scroll_to = Some((share * out.content_size.y).clamp(0.0, max));
        ui.ctx().request_repaint();
    }
    l.enter_runs = enter_target(&order, &on_screen, above.as_deref(), l.running.as_deref());
    actions
}

/// The experiment Enter runs: the one after the last run while that is on screen, else the first
/// on screen; with none on screen, the last one scrolled past (the one just read about) unless it
/// has just run, then the one after it; at the top of a page, its first.
pub fn enter_target(order: &[String], on_screen: &[String], above: Option<&str>, last: Option<&str>) -> Option<String> {
    let after = |id: &str| order.iter().position(|o| o == id).and_then(|i| order.get(i + 1)).cloned();
    match last {
        Some(last) if on_screen.iter().any(|s| s == last) => after(last).or_else(|| on_screen.first().cloned()),
        _ if !on_screen.is_empty() => on_screen.first().cloned(),
        _ => match above {
            Some(a) if Some(a) == last => after(a),
            Some(a) => Some(a.to_string()),
            None => order.first().cloned(),
        },
    }
}

/// Whether an experiment runs on the Programs stage (a scenario program) or the live stage.
pub fn is_program(e: &Experiment) -> bool {
    matches!(e.what, What::Program { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_splits_at_its_experiment_lines_but_not_inside_code() {
        let page = "# T\n\ntext\n\n[Run it: go](experiment:pipe-full)\n\nmore\n```\n[x](experiment:no)\n```\n";
        let s = segments(page);
        assert_eq!(s.len(), 4, "{s:?}");
        assert_eq!(s[1], Segment::Experiment { id: "pipe-full".into(), label: "Run it: go".into() });
        assert!(matches!(&s[2], Segment::Markdown(m) if m.trim() == "more"));
        assert_eq!(s[3], Segment::Code("[x](experiment:no)\n".into()), "a link in a code block is code");
    }

    #[test]
    fn enter_runs_the_next_experiment_on_screen() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let order = ids(&["a", "b", "c", "d"]);
        let on = ids(&["b", "c"]);
        assert_eq!(enter_target(&order, &on, Some("a"), None).as_deref(), Some("b"), "first on screen");
        assert_eq!(enter_target(&order, &on, Some("a"), Some("b")).as_deref(), Some("c"), "then the next");
        assert_eq!(enter_target(&order, &ids(&["c", "d"]), Some("b"), Some("a")).as_deref(), Some("c"), "scrolled on");
        assert_eq!(enter_target(&order, &ids(&["c", "d"]), None, Some("d")).as_deref(), Some("c"), "at the last");
        assert_eq!(enter_target(&order, &[], Some("c"), Some("a")).as_deref(), Some("c"), "just read about");
        assert_eq!(enter_target(&order, &[], Some("b"), Some("b")).as_deref(), Some("c"), "just run: the next");
        assert_eq!(enter_target(&order, &[], None, None).as_deref(), Some("a"));
        assert_eq!(enter_target(&[], &[], None, None), None);
    }
}
