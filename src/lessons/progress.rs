//! A reader's progress through the lessons: which lessons were read, the answer chosen for each
//! check question, the challenges won. Kept by lesson id, question and challenge index, which
//! are the same in every language (the loader checks that), so switching language keeps it.
//! Stored as JSON in `$XDG_STATE_HOME/ipc-lab/progress.json` (`~/.local/state/ipc-lab/` when
//! XDG_STATE_HOME is unset). A missing file is a fresh start; an unreadable or corrupt one is a
//! fresh start too, with a warning to show, and the bad file is kept beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Lesson;

/// The format's version, written into the file; a file of another version starts fresh.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub version: u32,
    /// By lesson id.
    pub lessons: BTreeMap<String, LessonProgress>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { version: VERSION, lessons: BTreeMap::new() }
    }
}

/// One lesson's progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LessonProgress {
    pub read: bool,
    /// The answer chosen (index) for each question answered (index).
    pub answers: BTreeMap<usize, usize>,
    /// Indexes of the challenges won.
    pub challenges_won: BTreeSet<usize>,
}

/// Progress as loaded, and what to tell the reader about it (a corrupt file, say).
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub progress: Progress,
    pub warning: Option<String>,
}

impl Progress {
    /// Where progress is kept: `$XDG_STATE_HOME/ipc-lab/progress.json`, or
    /// `~/.local/state/ipc-lab/progress.json`. `None` when neither variable says where (no HOME).
    pub fn default_path() -> Option<PathBuf> {
        path_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
    }

    /// Loads progress from `path`. Never fails: a missing file is a fresh start; a file that
    /// cannot be read or parsed is a fresh start with a warning, and a corrupt file is renamed
    /// to `progress.json.bad` so the next save does not destroy it.
    pub fn load(path: &Path) -> Loaded {
        let fresh = |warning: String| Loaded { progress: Progress::default(), warning: Some(warning) };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Loaded { progress: Progress::default(), warning: None };
            }
            Err(e) => return fresh(format!("cannot read your progress from {}: {e}; starting fresh", path.display())),
        };
        let why = match serde_json::from_str::<Progress>(&text) {
            Ok(p) if p.version == VERSION => return Loaded { progress: p, warning: None },
            Ok(p) => format!("it is version {} and this build reads version {VERSION}", p.version),
            Err(e) => format!("it is not valid: {e}"),
        };
        let mut bad = path.as_os_str().to_owned();
        bad.push(".bad");
        let bad = PathBuf::from(bad);
        let kept = match std::fs::rename(path, &bad) {
            Ok(()) => format!("the old file is kept as {}", bad.display()),
            Err(e) => format!("the old file could not be set aside ({e}) and will be replaced"),
        };
        fresh(format!("your progress in {} could not be used ({why}); starting fresh, {kept}", path.display()))
    }

    /// Writes progress to `path` (creating its directory), through a temporary file and a
    /// rename, so a crash mid-write leaves the old file whole.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())? + "\n";
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot replace {}: {e}", path.display())
        })
    }

    pub fn lesson(&self, lesson_id: &str) -> Option<&LessonProgress> {
        self.lessons.get(lesson_id)
    }

    fn entry(&mut self, lesson_id: &str) -> &mut LessonProgress {
        self.lessons.entry(lesson_id.to_string()).or_default()
    }

    pub fn mark_read(&mut self, lesson_id: &str) {
        self.entry(lesson_id).read = true;
    }

    /// Records the answer chosen for a question (a later choice replaces it).
    pub fn answer(&mut self, lesson_id: &str, question: usize, answer: usize) {
        self.entry(lesson_id).answers.insert(question, answer);
    }

    pub fn win(&mut self, lesson_id: &str, challenge: usize) {
        self.entry(lesson_id).challenges_won.insert(challenge);
    }

    /// The answer chosen for a question of `lesson`, if it is still one of its answers.
    pub fn chosen(&self, lesson: &Lesson, question: usize) -> Option<usize> {
        let a = *self.lesson(&lesson.id)?.answers.get(&question)?;
        (a < lesson.questions.get(question)?.answers.len()).then_some(a)
    }

    /// Questions of `lesson` answered right, and how many it has.
    pub fn score(&self, lesson: &Lesson) -> (usize, usize) {
        let right = (0..lesson.questions.len())
            .filter(|&q| self.chosen(lesson, q).is_some_and(|a| lesson.questions[q].answers[a].right))
            .count();
        (right, lesson.questions.len())
    }

    /// Whether challenge `challenge` of `lesson` was won.
    pub fn won(&self, lesson: &Lesson, challenge: usize) -> bool {
        challenge < lesson.challenges.len()
            && self.lesson(&lesson.id).is_some_and(|p| p.challenges_won.contains(&challenge))
    }
}

/// The progress file's path given XDG_STATE_HOME and HOME (the XDG spec ignores an empty or
/// relative XDG_STATE_HOME).
fn path_from(xdg_state_home: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>) -> Option<PathBuf> {
    let state = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".local").join("state")))?;
    Some(state.join("ipc-lab").join("progress.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ipclab-test-progress-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn progress_survives_a_save_and_a_load() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("state").join("progress.json");
        let mut p = Progress::default();
        p.mark_read("pipes");
        p.answer("pipes", 0, 1);
        p.answer("pipes", 0, 2);
        p.win("deadlocks", 1);
        p.save(&path).unwrap();
        let loaded = Progress::load(&path);
        assert_eq!(loaded, Loaded { progress: p.clone(), warning: None });
        assert_eq!(loaded.progress.lesson("pipes").unwrap().answers.get(&0), Some(&2), "the later choice");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_file_lives_under_xdg_state_home_or_else_local_state() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(path_from(os("/s"), os("/h")), Some(PathBuf::from("/s/ipc-lab/progress.json")));
        assert_eq!(path_from(None, os("/h")), Some(PathBuf::from("/h/.local/state/ipc-lab/progress.json")));
        assert_eq!(path_from(os(""), os("/h")), Some(PathBuf::from("/h/.local/state/ipc-lab/progress.json")));
        assert_eq!(path_from(os("rel"), os("/h")), Some(PathBuf::from("/h/.local/state/ipc-lab/progress.json")));
        assert_eq!(path_from(None, None), None);
    }

    #[test]
    fn a_missing_file_is_a_quiet_fresh_start() {
        let loaded = Progress::load(&temp_dir("missing").join("progress.json"));
        assert_eq!(loaded, Loaded { progress: Progress::default(), warning: None });
    }

    #[test]
    fn a_corrupt_file_is_a_fresh_start_with_a_warning_and_is_kept() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("progress.json");
        for text in ["{ not json", "{\"version\": 99, \"lessons\": {}}", "[1, 2]", "\u{0}\u{1}"] {
            std::fs::write(&path, text).unwrap();
            let loaded = Progress::load(&path);
            assert_eq!(loaded.progress, Progress::default());
            let warning = loaded.warning.unwrap_or_else(|| panic!("no warning for {text:?}"));
            assert!(warning.contains("starting fresh") && warning.contains("progress.json.bad"), "{warning}");
            assert_eq!(std::fs::read_to_string(dir.join("progress.json.bad")).unwrap(), text);
        }
        // A directory where the file should be cannot be read: a warning, not a panic.
        let _ = std::fs::remove_file(&path);
        std::fs::create_dir_all(&path).unwrap();
        assert!(Progress::load(&path).warning.is_some_and(|w| w.contains("cannot read")));
        assert!(Progress::default().save(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn indexes_a_lesson_no_longer_has_are_ignored() {
        let lessons = crate::lessons::Lessons::builtin().unwrap();
        let lesson = lessons.get("pipes", crate::lessons::Lang::En).unwrap();
        let mut p = Progress::default();
        p.answer("pipes", 0, 1); // right
        p.answer("pipes", 1, 0); // wrong
        p.answer("pipes", 99, 0);
        p.answer("pipes", 2, 99);
        p.win("pipes", 7);
        assert_eq!(p.chosen(lesson, 0), Some(1));
        assert_eq!(p.chosen(lesson, 2), None);
        assert_eq!(p.score(lesson), (1, lesson.questions.len()));
        assert!(!p.won(lesson, 7));
    }
}
