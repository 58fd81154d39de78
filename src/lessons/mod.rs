//! Lessons (issue 5/7): the texts in `lessons/{en,zh-CN}/NN-id.md`, read into [`Lesson`]s (page
//! Markdown for egui_commonmark, check questions, scheduler challenges, the experiments the page
//! links), the experiments registry of `lessons/experiments/*.json`, values measured on this
//! machine for `{{measure:NAME}}`, and each reader's progress. The format is specified in
//! `lessons/FORMAT.md`. Built-in lessons are compiled in (one explicit list, checked against the
//! directory by a test); authors load a directory with [`Lessons::load_dir`]. A bad file is a
//! [`LessonError`] that names the file and line, never a panic. Both languages must tell the same
//! lesson: same lessons, same experiment links in the same order, same questions with the right
//! answer in the same place, same challenges, so progress and the stage carry over when the
//! reader switches language.

pub mod experiments;
pub mod measure;
mod parse;
pub mod probe;
pub mod progress;

use std::collections::BTreeMap;
use std::path::Path;

pub use experiments::{Expect, Experiment, What};

/// A language lessons are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The tag, which is also the lesson directory's name: `en`, `zh-CN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language a locale name asks for (`zh_CN.UTF-8`, `zh-TW`, `zh` → Chinese; anything
    /// else, including an empty or `C` locale, → English).
    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("zh") { Lang::ZhCn } else { Lang::En }
    }

    /// The user's language from the environment, in POSIX order: `LC_ALL`, `LC_MESSAGES`, then
    /// `LANG` (the first one set and not empty).
    pub fn from_env() -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        Lang::from_locale(&locale)
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s {
            "en" => Ok(Lang::En),
            "zh-CN" | "zh_CN" | "zh-cn" | "zh" => Ok(Lang::ZhCn),
            _ => Err(format!("unknown language '{s}' (known: en, zh-CN)")),
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lesson in one language.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    /// From the front matter; equal to the file name after `NN-`. The same in every language.
    pub id: String,
    /// `NN` of the file name: the lesson's place in the course.
    pub order: u32,
    pub title: String,
    pub lang: Lang,
    /// The page, without front matter and without the question and challenge blocks, ready for
    /// egui_commonmark. `{{measure:NAME}}` is still in it: see [`Lesson::page`].
    pub body_markdown: String,
    pub questions: Vec<Question>,
    pub challenges: Vec<Challenge>,
    /// Ids of the experiments the page links (`[..](experiment:ID)`), in page order.
    pub experiments: Vec<String>,
    /// The line of each link in `experiments`, for messages.
    pub experiment_lines: Vec<usize>,
    /// Where the lesson came from (`lessons/en/02-pipes.md`), for messages.
    pub file: String,
}

impl Lesson {
    /// The page with every `{{measure:NAME}}` replaced by this machine's value, in the lesson's
    /// language. It reads the machine each time: call it once when the page opens, not per frame.
    pub fn page(&self) -> String {
        measure::substitute_in(&self.body_markdown, self.lang)
    }
}

/// A check question: exactly one answer is right, and every answer says why.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    /// Markdown (paragraphs kept; the file's line wrapping undone).
    pub text: String,
    pub answers: Vec<Answer>,
    /// Line of the opening fence, for messages.
    pub line: usize,
}

impl Question {
    /// Index of the right answer (the loader guarantees exactly one).
    pub fn right_answer(&self) -> Option<usize> {
        self.answers.iter().position(|a| a.right)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub text: String,
    pub right: bool,
    /// Why this answer is right or wrong, shown once it is chosen.
    pub why: String,
}

/// A scheduler challenge: run `experiment` with you choosing who goes next, and reach `goal`.
#[derive(Clone, Debug, PartialEq)]
pub struct Challenge {
    pub experiment: String,
    pub goal: Goal,
    pub text: String,
    /// Line of the opening fence, for messages.
    pub line: usize,
}

/// What wins a challenge: the same goals the scenario programs' challenges have.
pub use crate::programs::spec::Goal;

/// What is wrong in a lesson or experiments file, and where: `file:line: what` (`file: what`
/// when it is about the whole file).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {what}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct LessonError {
    pub file: String,
    pub line: Option<usize>,
    pub what: String,
}

impl LessonError {
    pub fn at(file: &str, line: usize, what: impl Into<String>) -> LessonError {
        LessonError { file: file.to_string(), line: Some(line), what: what.into() }
    }

    pub fn file(file: &str, what: impl Into<String>) -> LessonError {
        LessonError { file: file.to_string(), line: None, what: what.into() }
    }
}

/// Every problem found in a set of lesson files, one per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct LoadError(pub Vec<LessonError>);

/// The built-in lesson files, compiled in: (path under `lessons/`, text). A test checks that the
/// directory holds exactly these.
pub const BUILTIN_FILES: [(&str, &str); 28] = [
    ("en/01-processes.md", include_str!("../../lessons/en/01-processes.md")),
    ("en/02-pipes.md", include_str!("../../lessons/en/02-pipes.md")),
    ("en/03-fifos.md", include_str!("../../lessons/en/03-fifos.md")),
    ("en/04-sockets.md", include_str!("../../lessons/en/04-sockets.md")),
    ("en/05-mqueues.md", include_str!("../../lessons/en/05-mqueues.md")),
    ("en/06-shared-memory.md", include_str!("../../lessons/en/06-shared-memory.md")),
    ("en/07-synchronization.md", include_str!("../../lessons/en/07-synchronization.md")),
    ("en/08-deadlocks.md", include_str!("../../lessons/en/08-deadlocks.md")),
    ("en/09-threads-processes-async.md", include_str!("../../lessons/en/09-threads-processes-async.md")),
    ("en/10-measuring.md", include_str!("../../lessons/en/10-measuring.md")),
    ("en/11-distributed.md", include_str!("../../lessons/en/11-distributed.md")),
    ("en/12-across-machines.md", include_str!("../../lessons/en/12-across-machines.md")),
    ("zh-CN/01-processes.md", include_str!("../../lessons/zh-CN/01-processes.md")),
    ("zh-CN/02-pipes.md", include_str!("../../lessons/zh-CN/02-pipes.md")),
    ("zh-CN/03-fifos.md", include_str!("../../lessons/zh-CN/03-fifos.md")),
    ("zh-CN/04-sockets.md", include_str!("../../lessons/zh-CN/04-sockets.md")),
    ("zh-CN/05-mqueues.md", include_str!("../../lessons/zh-CN/05-mqueues.md")),
    ("zh-CN/06-shared-memory.md", include_str!("../../lessons/zh-CN/06-shared-memory.md")),
    ("zh-CN/07-synchronization.md", include_str!("../../lessons/zh-CN/07-synchronization.md")),
    ("zh-CN/08-deadlocks.md", include_str!("../../lessons/zh-CN/08-deadlocks.md")),
    ("zh-CN/09-threads-processes-async.md", include_str!("../../lessons/zh-CN/09-threads-processes-async.md")),
    ("zh-CN/10-measuring.md", include_str!("../../lessons/zh-CN/10-measuring.md")),
    ("zh-CN/11-distributed.md", include_str!("../../lessons/zh-CN/11-distributed.md")),
    ("zh-CN/12-across-machines.md", include_str!("../../lessons/zh-CN/12-across-machines.md")),
    ("experiments/01-05.json", include_str!("../../lessons/experiments/01-05.json")),
    ("experiments/06-10.json", include_str!("../../lessons/experiments/06-10.json")),
    ("experiments/11.json", include_str!("../../lessons/experiments/11.json")),
    ("experiments/12.json", include_str!("../../lessons/experiments/12.json")),
];

/// Every lesson in every language, and the experiments they use: the one registry the GUI, the
/// CLI and the tests read.
#[derive(Clone, Debug)]
pub struct Lessons {
    /// Sorted by language, then order.
    pub lessons: Vec<Lesson>,
    /// In file order (files sorted by name).
    pub experiments: Vec<Experiment>,
}

impl Lessons {
    /// The lessons compiled into this binary.
    pub fn builtin() -> Result<Lessons, LoadError> {
        let files = BUILTIN_FILES.iter().map(|(path, text)| (format!("lessons/{path}"), path.to_string(), *text));
        Lessons::from_files(files.map(|(shown, path, text)| (shown, path, text.to_string())).collect())
    }

    /// Lessons from a directory laid out as `lessons/`: `en/*.md`, `zh-CN/*.md` and
    /// `experiments/*.json` (other files, such as FORMAT.md, are not read).
    pub fn load_dir(dir: &Path) -> Result<Lessons, LoadError> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        let subdirs = Lang::ALL.iter().map(|l| (l.as_str(), "md")).chain([("experiments", "json")]);
        for (sub, ext) in subdirs {
            let path = dir.join(sub);
            let entries = match std::fs::read_dir(&path) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(LessonError::file(&path.display().to_string(), format!("cannot read: {e}")));
                    continue;
                }
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.ends_with(&format!(".{ext}")))
                .collect();
            names.sort();
            for name in names {
                let file = path.join(&name);
                let shown = file.display().to_string();
                match std::fs::read_to_string(&file) {
                    Ok(text) => files.push((shown, format!("{sub}/{name}"), text)),
                    Err(e) => errors.push(LessonError::file(&shown, format!("cannot read: {e}"))),
                }
            }
        }
        match Lessons::from_files(files) {
            Ok(l) if errors.is_empty() => Ok(l),
            Ok(_) => Err(LoadError(errors)),
            Err(LoadError(more)) => Err(LoadError(errors.into_iter().chain(more).collect())),
        }
    }

    /// Parses and cross-checks a set of files: (name shown in messages, path under the lessons
    /// directory such as `en/02-pipes.md`, text).
    fn from_files(files: Vec<(String, String, String)>) -> Result<Lessons, LoadError> {
        let mut errors = Vec::new();
        let mut lessons = Vec::new();
        let mut experiments: Vec<Experiment> = Vec::new();
        for (shown, path, text) in &files {
            let (sub, name) = path.split_once('/').unwrap_or(("", path));
            if sub == "experiments" {
                match experiments::parse_file(shown, text) {
                    Ok(list) => {
                        for e in list {
                            if let Some(first) = experiments.iter().find(|o| o.id == e.id) {
                                errors.push(LessonError::at(
                                    shown,
                                    e.line,
                                    format!(
                                        "experiment '{}' is defined twice (also {}:{})",
                                        e.id, first.file, first.line
                                    ),
                                ));
                            } else {
                                experiments.push(e);
                            }
                        }
                    }
                    Err(e) => errors.push(e),
                }
                continue;
            }
            let Ok(lang) = sub.parse::<Lang>() else {
                errors.push(LessonError::file(shown, format!("'{sub}' is not a lesson language (en, zh-CN)")));
                continue;
            };
            match parse::lesson(shown, name, lang, text) {
                Ok(l) => lessons.push(l),
                Err(e) => errors.push(e),
            }
        }
        lessons.sort_by_key(|l| (l.lang, l.order));
        let set = Lessons { lessons, experiments };
        errors.extend(set.check());
        if errors.is_empty() { Ok(set) } else { Err(LoadError(errors)) }
    }

    /// The lessons of one language, in course order.
    pub fn in_lang(&self, lang: Lang) -> impl Iterator<Item = &Lesson> {
        self.lessons.iter().filter(move |l| l.lang == lang)
    }

    pub fn get(&self, lesson_id: &str, lang: Lang) -> Option<&Lesson> {
        self.lessons.iter().find(|l| l.id == lesson_id && l.lang == lang)
    }

    pub fn experiment(&self, experiment_id: &str) -> Option<&Experiment> {
        self.experiments.iter().find(|e| e.id == experiment_id)
    }

    /// What a set of parsed files must agree on: within a language, unique orders and ids;
    /// every link and challenge names a defined experiment (a challenge one you schedule);
    /// every experiment is used; and the languages tell the same lesson (checked against
    /// English, and reported in the translation's file).
    fn check(&self) -> Vec<LessonError> {
        let mut errors = Vec::new();
        for lang in Lang::ALL {
            let mut seen: BTreeMap<u32, &Lesson> = BTreeMap::new();
            for l in self.in_lang(lang) {
                if let Some(other) = seen.insert(l.order, l) {
                    errors.push(LessonError::file(
                        &l.file,
                        format!("lesson number {:02} is also {}", l.order, other.file),
                    ));
                }
            }
        }
        let mut used = std::collections::BTreeSet::new();
        for l in &self.lessons {
            for (id, line) in l.experiments.iter().zip(&l.experiment_lines) {
                used.insert(id.as_str());
                if self.experiment(id).is_none() {
                    errors.push(LessonError::at(
                        &l.file,
                        *line,
                        format!("links experiment '{id}', which no experiments file defines"),
                    ));
                }
            }
            for c in &l.challenges {
                used.insert(c.experiment.as_str());
                match self.experiment(&c.experiment) {
                    None => errors.push(LessonError::at(
                        &l.file,
                        c.line,
                        format!("challenge names experiment '{}', which no experiments file defines", c.experiment),
                    )),
                    Some(e) if !e.is_scheduled() => errors.push(LessonError::at(
                        &l.file,
                        c.line,
                        format!(
                            "challenge names experiment '{}', which is not a program you schedule (\"step\": true)",
                            c.experiment
                        ),
                    )),
                    Some(_) => {}
                }
            }
        }
        for e in &self.experiments {
            if !used.contains(e.id.as_str()) {
                errors.push(LessonError::at(&e.file, e.line, format!("experiment '{}' is used by no lesson", e.id)));
            }
        }
        let english: Vec<&Lesson> = self.in_lang(Lang::En).collect();
        for lang in Lang::ALL.into_iter().filter(|&l| l != Lang::En) {
            for l in self.in_lang(lang) {
                match english.iter().find(|e| e.id == l.id) {
                    Some(en) => errors.extend(same_lesson(en, l)),
                    None => {
                        errors.push(LessonError::file(&l.file, format!("lesson '{}' has no English original", l.id)))
                    }
                }
            }
            for en in &english {
                if self.get(&en.id, lang).is_none() {
                    errors.push(LessonError::file(&en.file, format!("lesson '{}' has no {lang} translation", en.id)));
                }
            }
        }
        errors
    }
}

/// Where translation `tr` differs from the English `en` in what the app relies on.
fn same_lesson(en: &Lesson, tr: &Lesson) -> Vec<LessonError> {
    let mut errors = Vec::new();
    let file = &tr.file;
    if en.order != tr.order {
        errors.push(LessonError::file(file, format!("is lesson {:02}, but {} is {:02}", tr.order, en.file, en.order)));
    }
    let first_diff = en.experiments.iter().zip(&tr.experiments).position(|(a, b)| a != b);
    if let Some(i) = first_diff {
        errors.push(LessonError::at(
            file,
            tr.experiment_lines[i],
            format!(
                "experiment link {} is '{}', but {}:{} links '{}' there",
                i + 1,
                tr.experiments[i],
                en.file,
                en.experiment_lines[i],
                en.experiments[i]
            ),
        ));
    } else if en.experiments.len() != tr.experiments.len() {
        errors.push(LessonError::file(
            file,
            format!("links {} experiments, but {} links {}", tr.experiments.len(), en.file, en.experiments.len()),
        ));
    }
    if en.questions.len() != tr.questions.len() {
        errors.push(LessonError::file(
            file,
            format!("has {} questions, but {} has {}", tr.questions.len(), en.file, en.questions.len()),
        ));
    }
    for (i, (a, b)) in en.questions.iter().zip(&tr.questions).enumerate() {
        if a.answers.len() != b.answers.len() {
            errors.push(LessonError::at(
                file,
                b.line,
                format!(
                    "question {} has {} answers, but {}:{} has {}",
                    i + 1,
                    b.answers.len(),
                    en.file,
                    a.line,
                    a.answers.len()
                ),
            ));
        } else if a.right_answer() != b.right_answer() {
            let n = |q: &Question| q.right_answer().map_or(0, |r| r + 1);
            errors.push(LessonError::at(
                file,
                b.line,
                format!(
                    "question {}: answer {} is the right one, but in {}:{} answer {} is",
                    i + 1,
                    n(b),
                    en.file,
                    a.line,
                    n(a)
                ),
            ));
        }
    }
    if en.challenges.len() != tr.challenges.len() {
        errors.push(LessonError::file(
            file,
            format!("has {} challenges, but {} has {}", tr.challenges.len(), en.file, en.challenges.len()),
        ));
    }
    for (i, (a, b)) in en.challenges.iter().zip(&tr.challenges).enumerate() {
        if (&a.experiment, a.goal) != (&b.experiment, b.goal) {
            errors.push(LessonError::at(
                file,
                b.line,
                format!(
                    "challenge {} is '{}' to {}, but {}:{} has '{}' to {}",
                    i + 1,
                    b.experiment,
                    b.goal.as_str(),
                    en.file,
                    a.line,
                    a.experiment,
                    a.goal.as_str()
                ),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_lessons_load() {
        let lessons = Lessons::builtin().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lessons.in_lang(Lang::En).count(), lessons.in_lang(Lang::ZhCn).count());
        assert!(lessons.in_lang(Lang::En).count() >= 10);
    }

    #[test]
    fn the_language_follows_the_locale() {
        assert_eq!(Lang::from_locale("zh_CN.UTF-8"), Lang::ZhCn);
        assert_eq!(Lang::from_locale("zh_TW"), Lang::ZhCn);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("C"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
        assert_eq!("zh-CN".parse::<Lang>(), Ok(Lang::ZhCn));
        assert!("fr".parse::<Lang>().unwrap_err().contains("en, zh-CN"));
    }

    #[test]
    fn an_error_names_the_file_and_the_line() {
        let e = LessonError::at("lessons/en/02-pipes.md", 57, "question has two right answers");
        assert_eq!(e.to_string(), "lessons/en/02-pipes.md:57: question has two right answers");
        assert_eq!(LessonError::file("x.json", "cannot read").to_string(), "x.json: cannot read");
    }
}
