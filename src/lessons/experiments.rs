//! The experiments lessons link to, from `lessons/experiments/*.json`: a scenario program (by
//! id and variant, perhaps with you as the scheduler) or a live-stage setup, and what it is
//! promised to do. Each is checked when loaded as the GUI and `ipc-lab run` would check it: the
//! program and its variant must exist, a stage setup must pass the checks of a scenario file.
//! An error names the file, the line and the field.

use serde::{Deserialize, Serialize};

use super::LessonError;
use super::parse::valid_id;
use crate::programs::spec::ProgramScenario;
use crate::traffic::setup::Setup;

/// One experiment, as a lesson links it.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    pub id: String,
    pub what: What,
    /// What it does when run; the tests run every experiment and hold it to this.
    pub expect: Expect,
    /// Where it is defined, for messages.
    pub file: String,
    pub line: usize,
}

impl Experiment {
    /// A scenario program run with you as the scheduler (what a challenge needs).
    pub fn is_scheduled(&self) -> bool {
        matches!(self.what, What::Program { step: true, .. })
    }
}

/// What an experiment runs.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A built-in scenario program (`scenarios/*.json`), run by actor processes: `variant` is
    /// `""` as written, `"fixed"`, or a named variant; `step`: you choose who goes next.
    Program { scenario: ProgramScenario, variant: String, step: bool },
    /// A live-stage setup, as the GUI's scenario files hold it.
    Stage(Setup),
    /// A job for the Distributed view: the arguments of `ipc-lab job` (checked when loaded).
    Job(String),
}

/// What an experiment is promised to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Every process finishes.
    Completes,
    /// A deadlock, confirmed by the kernel's evidence.
    Deadlock,
    /// The kernel refuses the lock that would close a cycle (EDEADLK).
    KernelCaught,
    /// Everyone asleep, nothing moving, no cycle.
    Hang,
    /// Completes, with a counter short of what it should be.
    LostUpdates,
    /// A live-stage run that delivers every message.
    Runs,
    /// A job (or every job of a sweep) ends with the exact, checked result.
    Exact,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Completes => "completes",
            Expect::Deadlock => "deadlock",
            Expect::KernelCaught => "kernel-caught",
            Expect::Hang => "hang",
            Expect::LostUpdates => "lost-updates",
            Expect::Runs => "runs",
            Expect::Exact => "exact",
        }
    }
}

/// An entry as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    program: Option<String>,
    variant: Option<String>,
    step: Option<bool>,
    stage: Option<Setup>,
    job: Option<String>,
    expect: Expect,
}

/// Parses one experiments file (a JSON list); `shown` names it in messages.
pub(super) fn parse_file(shown: &str, text: &str) -> Result<Vec<Experiment>, LessonError> {
    let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| {
        // serde's message ends "at line L column C"; the line goes where every message has it.
        let message = e.to_string();
        let what = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m);
        LessonError::at(shown, e.line().max(1), format!("{what} (column {})", e.column()))
    })?;
    // Built-ins only: an experiment is part of the course, not a path on this machine.
    let programs: Vec<ProgramScenario> = crate::programs::spec::builtin().into_iter().flatten().collect();
    entries.into_iter().map(|e| experiment(shown, text, &programs, e)).collect()
}

fn experiment(shown: &str, text: &str, programs: &[ProgramScenario], e: Entry) -> Result<Experiment, LessonError> {
    let line = line_of_id(text, &e.id);
    let line_no = line;
    let err = |what: String| LessonError::at(shown, line, format!("experiment '{}': {what}", e.id));
    if !valid_id(&e.id) {
        return Err(err("an id is lowercase letters, digits and dashes".into()));
    }
    if let Some(line) = e.job {
        if e.program.is_some() || e.stage.is_some() || e.variant.is_some() || e.step.is_some() {
            return Err(err("a 'job' runs alone: no 'program', 'stage', 'variant' or 'step' beside it".into()));
        }
        check_job(&line).map_err(|why| err(format!("job: {why}")))?;
        if e.expect != Expect::Exact {
            return Err(err(format!("expect: a job ends exact ('exact'), it cannot be '{}'", e.expect.as_str())));
        }
        return Ok(Experiment {
            id: e.id,
            what: What::Job(line),
            expect: e.expect,
            file: shown.to_string(),
            line: line_no,
        });
    }
    if e.expect == Expect::Exact {
        return Err(err("expect: 'exact' is for a job".into()));
    }
    let what = match (e.program, e.stage) {
        (Some(_), Some(_)) => return Err(err("has both 'program' and 'stage'; it runs one of them".into())),
        (None, None) => {
            return Err(err("needs 'program' (a scenario program), 'stage' (a live-stage setup) or 'job'".into()));
        }
        (Some(id), None) => {
            let scenario = programs.iter().find(|s| s.id == id).cloned().ok_or_else(|| {
                let known: Vec<&str> = programs.iter().map(|s| s.id.as_str()).collect();
                err(format!("program: no built-in scenario program '{id}' (known: {})", known.join(", ")))
            })?;
            let variant = e.variant.unwrap_or_default();
            scenario.processes(&variant).map_err(|why| err(format!("variant: {why}")))?;
            if e.expect == Expect::Runs {
                return Err(err("expect: 'runs' is for a stage; a program completes, deadlocks, hangs ...".into()));
            }
            if e.expect == Expect::LostUpdates && scenario.expect.is_empty() {
                return Err(err(format!(
                    "expect: lost updates are counted against the counter values a scenario expects, and \
                     '{id}' expects none"
                )));
            }
            What::Program { scenario, variant, step: e.step.unwrap_or(false) }
        }
        (None, Some(stage)) => {
            if e.variant.is_some() || e.step.is_some() {
                return Err(err("'variant' and 'step' belong to a program, not a stage".into()));
            }
            stage.validate().map_err(|why| err(format!("stage: {why}")))?;
            if e.expect != Expect::Runs {
                return Err(err(format!("expect: a stage runs ('runs'), it cannot be '{}'", e.expect.as_str())));
            }
            What::Stage(stage)
        }
    };
    Ok(Experiment { id: e.id, what, expect: e.expect, file: shown.to_string(), line })
}

/// A job line as the Distributed view runs it: options `ipc-lab job` accepts, range data, and
/// a sweep's counts when it sweeps.
pub fn check_job(line: &str) -> Result<crate::jobs::spec::JobSpec, String> {
    let args = crate::jobs::spec::JobArgs::parse_line(line)?;
    let spec = crate::jobs::spec::JobSpec::from_args(&args)?;
    if !matches!(spec.data, crate::jobs::spec::DataSource::Range { .. }) {
        return Err("the Distributed view computes range:N data".into());
    }
    if let Some(list) = &args.sweep_workers {
        crate::jobs::spec::parse_sweep(list)?;
    }
    Ok(spec)
}

/// The line of `"id": "ID"` in the file (1 if it cannot be found).
fn line_of_id(text: &str, id: &str) -> usize {
    let quoted = format!("\"{id}\"");
    text.match_indices(&quoted)
        .find(|(i, _)| {
            let before = text[..*i].trim_end();
            before.strip_suffix(':').is_some_and(|b| b.trim_end().ends_with("\"id\""))
        })
        .map_or(1, |(i, _)| text[..i].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Experiment>, String> {
        parse_file("experiments/x.json", text).map_err(|e| e.to_string())
    }

    #[test]
    fn programs_and_stages_are_read_and_resolved() {
        let list = parse(
            r#"[
  { "id": "pipe-full", "program": "deadlock-pipe-full", "variant": "", "expect": "deadlock", "step": false },
  { "id": "race", "program": "race-counter-small", "expect": "lost-updates", "step": true },
  { "id": "pipe-stream", "stage": { "name": "s", "pattern": "stream", "mechanism": "pipe" }, "expect": "runs" }
]"#,
        )
        .unwrap();
        assert_eq!(list.len(), 3);
        assert!(matches!(&list[0].what, What::Program { scenario, variant, step: false }
            if scenario.id == "deadlock-pipe-full" && variant.is_empty()));
        assert!(list[1].is_scheduled() && !list[0].is_scheduled());
        assert_eq!((list[1].line, list[2].line), (3, 4));
        assert!(matches!(&list[2].what, What::Stage(s) if s.mechanism == crate::mechanism::MechanismId::Pipe));
    }

    #[test]
    fn a_bad_entry_is_named_by_file_line_and_field() {
        let cases = [
            (
                r#"[{ "id": "a", "program": "deadlock-pipe-full", "expect": "deadlock", "colour": 1 }]"#,
                "unknown field `colour`",
            ),
            (
                r#"[{ "id": "a", "program": "nope", "expect": "deadlock" }]"#,
                "program: no built-in scenario program 'nope'",
            ),
            (
                r#"[{ "id": "a", "program": "deadlock-lock-order", "variant": "x", "expect": "deadlock" }]"#,
                "variant: scenario 'deadlock-lock-order' has no variant 'x'",
            ),
            (r#"[{ "id": "a", "program": "deadlock-pipe-full", "expect": "fails" }]"#, "unknown variant `fails`"),
            (r#"[{ "id": "a", "program": "deadlock-pipe-full", "expect": "runs" }]"#, "'runs' is for a stage"),
            (r#"[{ "id": "a", "program": "deadlock-pipe-full", "expect": "lost-updates" }]"#, "expects none"),
            (r#"[{ "id": "a", "expect": "runs" }]"#, "needs 'program'"),
            (r#"[{ "id": "a", "stage": { "size": 999999999999 }, "expect": "runs" }]"#, "stage: size"),
            (
                r#"[{ "id": "a", "stage": { "mechanism": "carrier-pigeon" }, "expect": "runs" }]"#,
                "unknown variant `carrier-pigeon`",
            ),
            (r#"[{ "id": "a", "stage": {}, "step": true, "expect": "runs" }]"#, "belong to a program"),
            (r#"[{ "id": "a", "stage": {}, "expect": "deadlock" }]"#, "a stage runs"),
            (r#"[{ "id": "A b", "stage": {}, "expect": "runs" }]"#, "lowercase letters"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with("experiments/x.json:1: ") && e.contains(want), "want {want:?}, got {e:?}");
        }
        let e = parse("[\n{ \"id\": \"a\",\n  \"stage\": { \"pin\": [] }, \"expect\": \"runs\" }]").unwrap_err();
        assert!(e.starts_with("experiments/x.json:2: experiment 'a': stage: a CPU list"), "{e}");
        let e = parse("[\n  { \"id\": \"a\" \"x\" }]").unwrap_err();
        assert!(e.starts_with("experiments/x.json:2: expected") && e.contains("column"), "{e}");
    }
}
