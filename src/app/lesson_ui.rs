//! The Lessons view (issue 5/7): a lesson page rendered from Markdown (egui_commonmark) beside
//! the stage its experiments run on. "Run it" starts real processes (a scenario program on the
//! Programs stage, or a live-stage setup); check questions explain every answer; challenges are
//! won on the scheduler; progress is kept between runs. PageDown / PageUp turn the pages (a
//! presenter's clicker sends those).

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
    // Challenges won on the stage since the last frame.
    if let Some((id, i)) = won
        && id == lesson.id
        && !l.progress.won(&lesson, i)
    {
        l.progress.win(&lesson.id, i);
        l.save();
    }
    egui::ScrollArea::vertical().id_salt(("page", &lesson.id, l.lang.as_str())).auto_shrink([false, false]).show(
        ui,
        |ui| {
            for piece in &pieces {
                match piece {
                    Segment::Markdown(md) => {
                        CommonMarkViewer::new().show(ui, &mut l.cache, md);
                    }
                    Segment::Code(code) => {
                        egui::Frame::new()
                            .fill(ui.visuals().extreme_bg_color)
                            .inner_margin(6.0)
                            .corner_radius(4.0)
                            .show(ui, |ui| {
                                egui::ScrollArea::horizontal().id_salt(code.len()).show(ui, |ui| {
                                    ui.add(egui::Label::new(RichText::new(code.trim_end()).monospace()).extend());
                                });
                            });
                    }
                    Segment::Experiment { id, label } => {
                        let running = l.running.as_deref() == Some(id.as_str());
                        let text = RichText::new(format!("▶ {label}")).strong();
                        let b = ui.add(egui::Button::new(text).selected(running));
                        b.widget_info(|| {
                            egui::WidgetInfo::labeled(
                                egui::Role::Button,
                                true,
                                format!("{}: {id}", tr!("lessons.run_it")),
                            )
                        });
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
                        ui.label(
                            RichText::new(format!("✓ {}", tr!("lessons.won"))).color(Color32::from_rgb(70, 180, 90)),
                        );
                    }
                });
            }
            ui.add_space(20.0);
        },
    );
    actions
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
}
