//! The lessons (issue 5/7) hold what they promise: every file parses in both languages and the
//! two tell the same lesson; every question has one right answer and says why for each; every
//! experiment a lesson links exists and, run for real, ends the way the lesson says; every
//! challenge can be won; a measured value is what the machine really does; and a broken lesson
//! file is named by file and line.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{assert_nothing_left, exe, pids, wait_within};
use ipc_lab::lessons::measure::{self, NAMES};
use ipc_lab::lessons::{BUILTIN_FILES, Expect, Experiment, Goal, Lang, Lesson, Lessons, What};
use ipc_lab::programs::run::{ProgramRun, Verdict, run};
use ipc_lab::supervisor::Run;
use ipc_lab::traffic::report::RunReport;
use ipc_lab::traffic::spec::{Pattern, RunSpec};

/// Tests that start processes take turns: a deadlock verdict waits for the kernel to show every
/// process asleep, and a race needs both racers running, which two cores shared with a spinning
/// stage run would blur.
static PROCESSES: Mutex<()> = Mutex::new(());

fn processes_turn() -> std::sync::MutexGuard<'static, ()> {
    PROCESSES.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lessons() -> Lessons {
    Lessons::builtin().unwrap_or_else(|e| panic!("the built-in lessons do not load:\n{e}"))
}

fn lessons_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons")
}

#[test]
fn the_compiled_in_lessons_are_exactly_the_files_in_the_lessons_directory() {
    let mut on_disk = BTreeSet::new();
    for sub in ["en", "zh-CN", "experiments"] {
        for entry in std::fs::read_dir(lessons_dir().join(sub)).expect("lessons/ subdirectory") {
            let name = entry.expect("entry").file_name().into_string().expect("utf-8 name");
            on_disk.insert(format!("{sub}/{name}"));
        }
    }
    let compiled: BTreeSet<String> = BUILTIN_FILES.iter().map(|(path, _)| path.to_string()).collect();
    assert_eq!(compiled, on_disk, "BUILTIN_FILES in src/lessons/mod.rs must list every lesson file");
    for (path, text) in BUILTIN_FILES {
        assert_eq!(std::fs::read_to_string(lessons_dir().join(path)).expect("read"), text, "{path}");
    }
    // Loading the directory, as an author does, gives the same lessons.
    let from_dir = Lessons::load_dir(&lessons_dir()).unwrap_or_else(|e| panic!("{e}"));
    let strip = |l: &Lesson| Lesson { file: String::new(), ..l.clone() };
    let built_in = lessons();
    assert_eq!(
        from_dir.lessons.iter().map(strip).collect::<Vec<_>>(),
        built_in.lessons.iter().map(strip).collect::<Vec<_>>()
    );
    let ids = |l: &Lessons| l.experiments.iter().map(|e| (e.id.clone(), e.what.clone(), e.expect)).collect::<Vec<_>>();
    assert_eq!(ids(&from_dir), ids(&built_in));
}

#[test]
fn every_lesson_parses_in_both_languages_and_both_tell_the_same_lesson() {
    let all = lessons();
    let en: Vec<&Lesson> = all.in_lang(Lang::En).collect();
    let zh: Vec<&Lesson> = all.in_lang(Lang::ZhCn).collect();
    assert_eq!(en.len(), 12, "lessons 1-12");
    assert_eq!(en.iter().map(|l| l.order).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
    assert_eq!(en.iter().map(|l| &l.id).collect::<Vec<_>>(), zh.iter().map(|l| &l.id).collect::<Vec<_>>());
    for (a, b) in en.iter().zip(&zh) {
        let what = &a.id;
        assert!(!a.title.is_empty() && !b.title.is_empty() && a.title != b.title, "{what}: a title in each language");
        assert_eq!(a.experiments, b.experiments, "{what}: the same experiment links in the same order");
        assert_eq!(a.questions.len(), b.questions.len(), "{what}: questions");
        for (qa, qb) in a.questions.iter().zip(&b.questions) {
            assert_eq!(qa.answers.len(), qb.answers.len(), "{what}: answers of {}:{}", b.file, qb.line);
            assert_eq!(qa.right_answer(), qb.right_answer(), "{what}: the right answer of {}:{}", b.file, qb.line);
        }
        let challenges = |l: &Lesson| l.challenges.iter().map(|c| (c.experiment.clone(), c.goal)).collect::<Vec<_>>();
        assert_eq!(challenges(a), challenges(b), "{what}: challenges");
        for l in [a, b] {
            assert!(l.body_markdown.starts_with("# "), "{}: the page starts with its title", l.file);
            assert!(
                !l.body_markdown.contains("```question") && !l.body_markdown.contains("```challenge"),
                "{}",
                l.file
            );
            assert!(!l.questions.is_empty(), "{}: every lesson has check questions", l.file);
        }
    }
}

#[test]
fn every_question_has_exactly_one_right_answer_and_every_answer_says_why() {
    for l in &lessons().lessons {
        for q in &l.questions {
            let at = format!("{}:{}", l.file, q.line);
            assert!(!q.text.is_empty(), "{at}");
            assert!(q.answers.len() >= 2, "{at}: at least two answers");
            assert_eq!(q.answers.iter().filter(|a| a.right).count(), 1, "{at}: exactly one right answer");
            for a in &q.answers {
                assert!(!a.text.is_empty() && !a.why.is_empty(), "{at}: '{}' says why", a.text);
            }
        }
    }
}

#[test]
fn every_experiment_link_and_challenge_resolves_and_every_experiment_is_used() {
    let all = lessons();
    let mut used = BTreeSet::new();
    for l in &all.lessons {
        assert!(!l.experiments.is_empty(), "{}: a lesson without an experiment", l.file);
        for id in &l.experiments {
            assert!(all.experiment(id).is_some(), "{}: '{id}'", l.file);
            used.insert(id.clone());
        }
        for c in &l.challenges {
            let e = all.experiment(&c.experiment).unwrap_or_else(|| panic!("{}:{}", l.file, c.line));
            assert!(e.is_scheduled(), "{}:{}: a challenge is scheduled by you", l.file, c.line);
            used.insert(c.experiment.clone());
        }
    }
    let defined: BTreeSet<String> = all.experiments.iter().map(|e| e.id.clone()).collect();
    assert_eq!(defined.len(), all.experiments.len(), "ids are unique");
    assert_eq!(used, defined, "every experiment is used, and only defined ones");
}

#[test]
fn every_lesson_measures_only_known_names_and_every_page_shows_a_value() {
    for (path, text) in BUILTIN_FILES.iter().filter(|(p, _)| p.ends_with(".md")) {
        for piece in text.split(measure::OPEN).skip(1) {
            let name = piece.split("}}").next().unwrap_or("");
            assert!(NAMES.contains(&name), "{path}: unknown measure '{name}'");
        }
    }
    for l in &lessons().lessons {
        let page = l.page();
        assert!(!page.contains(measure::OPEN), "{}: a measure left on the page", l.file);
        assert!(!page.contains("[unknown measure") && !page.contains("could not be read"), "{}", l.file);
    }
}

/// Lesson 2 says how much a new pipe holds, from F_GETPIPE_SZ: a pipe filled without blocking
/// takes exactly that many bytes, and the page shows that number.
#[test]
fn the_pipe_capacity_lesson_2_states_is_what_a_new_pipe_holds() {
    use nix::errno::Errno;
    let (_read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).expect("pipe");
    // Writes of PIPE_BUF bytes are all or nothing, and each fills one page of the pipe.
    let chunk = [7u8; 4096];
    let mut filled = 0u64;
    loop {
        match nix::unistd::write(&write_end, &chunk) {
            Ok(n) => filled += n as u64,
            Err(Errno::EAGAIN) => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    assert_eq!(nix::unistd::write(&write_end, &[1]), Err(Errno::EAGAIN), "full: not even one more byte");
    assert_eq!(measure::pipe_capacity(), Ok(filled));
    let shown = measure::measure("pipe_capacity").expect("measured");
    let digits: String = shown.chars().take_while(|c| c.is_ascii_digit() || *c == ',').filter(|c| *c != ',').collect();
    assert_eq!(digits, filled.to_string(), "{shown}");
    let page = lessons().get("pipes", Lang::En).expect("lesson 2").page();
    assert!(page.contains(&format!("A new pipe on this machine holds {shown}.")), "{page}");
}

/// Lesson 5 says IPC Lab's queues are 10 messages deep, 8192 bytes each, and that a stopped
/// consumer's gauge stops at 10 of 10: the shape every run uses.
#[test]
fn the_queue_shape_lesson_5_states_is_the_one_runs_use() {
    let spec = RunSpec::default();
    assert_eq!((spec.mq_depth, spec.mq_msg_size), (10, 8192));
    let en = lessons().get("mqueues", Lang::En).expect("lesson 5").body_markdown.clone();
    assert!(en.contains("10 messages deep with 8192 bytes per message") && en.contains("10 of 10 messages"));
}

/// Runs a program experiment, un-scheduled, to its verdict; says what went wrong, if anything.
fn run_program_experiment(e: &Experiment) -> Result<(), String> {
    let What::Program { scenario, variant, step: false } = &e.what else { unreachable!("{}", e.id) };
    // A race is a race: the racy counter may, once in a while, lose nothing.
    let tries = if e.expect == Expect::LostUpdates { 5 } else { 1 };
    let mut last = String::new();
    for _ in 0..tries {
        let o =
            run(scenario, variant, &exe(), Duration::from_secs(20)).map_err(|err| format!("did not start: {err}"))?;
        assert_nothing_left(&o.prefix, &o.pids);
        let lost = o.lost_updates.unwrap_or(0);
        let kept = match (e.expect, &o.verdict) {
            (Expect::Completes, Verdict::Completed) => o.unexpected.is_empty() && lost == 0,
            (Expect::LostUpdates, Verdict::Completed) => lost > 0,
            (Expect::Deadlock, Verdict::Deadlock { .. }) => true,
            (Expect::KernelCaught, Verdict::KernelCaught { .. }) => true,
            (Expect::Hang, Verdict::Hang { .. }) => true,
            _ => false,
        };
        if kept {
            return Ok(());
        }
        last = format!("{:?}, {lost} updates lost, unexpected {:?}, errors {:?}", o.verdict, o.unexpected, o.errors);
    }
    Err(last)
}

#[test]
fn every_program_experiment_ends_as_its_lesson_promises() {
    let all = lessons();
    let mut failures = Vec::new();
    let mut ran = 0;
    for e in all.experiments.iter().filter(|e| matches!(e.what, What::Program { step: false, .. })) {
        let _turn = processes_turn();
        ran += 1;
        if let Err(why) = run_program_experiment(e) {
            failures.push(format!("{} ({}:{}) should be '{}': {why}", e.id, e.file, e.line, e.expect.as_str()));
        }
    }
    assert!(ran >= 20, "only {ran} program experiments");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_job_experiment_ends_exact_with_nothing_left_behind() {
    use ipc_lab::jobs::{coordinator, spec::parse_sweep, sweep};
    let all = lessons();
    let mut ran = 0;
    for e in all.experiments.iter() {
        let What::Job(line) = &e.what else { continue };
        let _turn = processes_turn();
        ran += 1;
        assert_eq!(e.expect, Expect::Exact, "{}", e.id);
        let spec = ipc_lab::lessons::experiments::check_job(line).unwrap_or_else(|why| panic!("{}: {why}", e.id));
        let args = ipc_lab::jobs::spec::JobArgs::parse_line(line).expect("checked");
        match args.sweep_workers.as_deref().map(parse_sweep) {
            Some(counts) => {
                let s = sweep::sweep(&spec, &counts.expect("checked"), &exe(), None, |o| {
                    let pids: Vec<u32> = o.workers.iter().filter_map(|w| w.pid).collect();
                    assert_nothing_left(o.resource_prefix.as_deref().unwrap_or("none"), &pids);
                })
                .unwrap_or_else(|why| panic!("{}: {why}", e.id));
                assert!(s.points.iter().all(|p| p.exact), "{}: {:?}", e.id, s.points);
            }
            None => {
                let o =
                    coordinator::run(&spec, &exe(), None, &mut |_| {}).unwrap_or_else(|why| panic!("{}: {why}", e.id));
                assert!(o.exact, "{} ({}:{}): {:?} against {:?}", e.id, e.file, e.line, o.result, o.expected);
                let pids: Vec<u32> = o.workers.iter().filter_map(|w| w.pid).collect();
                assert_nothing_left(o.resource_prefix.as_deref().unwrap_or("none"), &pids);
            }
        }
    }
    assert!(ran >= 5, "only {ran} job experiments");
}

/// For each experiment you schedule, and each challenge: an order of who goes next (process
/// indexes) that reaches the promise. The GUI's scheduler releases one operation per pick, as
/// `ProgramRun::step` does; a racy increment is two operations (read, then write).
const SCHEDULES: &[(&str, Goal, &[usize])] = &[
    // adder 1 reads 0, adder 2 reads 0 and writes 1, adder 1 writes 1: one update lost.
    ("race-scheduler", Goal::LostUpdate, &[0, 1, 1, 0, 0, 0, 1, 1]),
    // worker 1 takes lock A, worker 2 lock B, each asks for the other's.
    ("lock-order-scheduler", Goal::Deadlock, &[0, 1, 0, 1]),
    // worker 1 takes both and gives both back before worker 2 starts.
    ("lock-order-scheduler", Goal::Complete, &[0, 0, 0, 0, 1, 1, 1, 1]),
    // Both meet at the barrier; then, three times over, each takes its first lock, finds its
    // second busy, backs off and gives the first back: busy, and never any further.
    ("lock-order-backoff-scheduler", Goal::Livelock, &[0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]),
    // Worker 1 takes both (two tries), eats, gives both back; then worker 2 does the same.
    ("lock-order-backoff-scheduler", Goal::Complete, &[0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
];

fn goal_of(expect: Expect) -> Option<Goal> {
    match expect {
        Expect::Deadlock => Some(Goal::Deadlock),
        Expect::Completes => Some(Goal::Complete),
        Expect::LostUpdates => Some(Goal::LostUpdate),
        _ => None,
    }
}

/// Drives `experiment` with you as the scheduler through `order`, and checks it reaches `goal`.
fn schedule_to(e: &Experiment, goal: Goal, order: &[usize]) -> Result<(), String> {
    let What::Program { scenario, variant, step: true } = &e.what else { return Err("not scheduled".into()) };
    let mut run =
        ProgramRun::start(scenario, variant, &exe(), true, false).map_err(|err| format!("did not start: {err}"))?;
    let result = (|| {
        for (n, &i) in order.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while run.model().procs.get(i).ok_or(format!("no process {i}"))?.next.is_none() {
                if Instant::now() > deadline {
                    return Err(format!(
                        "pick {}: process {i} never reached its gate: {}",
                        n + 1,
                        ipc_lab::programs::say::doing(run.model(), i)
                    ));
                }
                run.poll(Duration::from_millis(10));
            }
            run.step(i)
                .map_err(|why| format!("pick {}: {}", n + 1, ipc_lab::programs::say::refusal(run.model(), &why)))?;
            // Until the operation is done (next gate, blocked, or gone), or the next pick could
            // overtake it and the interleaving would not be the one written.
            loop {
                let p = &run.model().procs[i];
                if p.next.is_some() || p.blocked.is_some() || !p.live() {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("pick {}: process {i} never finished its operation", n + 1));
                }
                run.poll(Duration::from_millis(10));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let reached = match (goal, run.poll(Duration::from_millis(20))) {
                (Goal::Deadlock, Some(Verdict::Deadlock { .. })) => true,
                (Goal::Complete, Some(Verdict::Completed)) => run.model().lost_updates().unwrap_or(0) == 0,
                (Goal::LostUpdate, Some(Verdict::Completed)) => run.model().lost_updates().unwrap_or(0) > 0,
                (Goal::Livelock, _) => run.model().achieved(Goal::Livelock),
                _ => false,
            };
            if reached {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "ended as {:?}, not {}; log: {:?}",
                    run.model().verdict,
                    goal.as_str(),
                    run.model().log
                ));
            }
        }
    })();
    let o = run.finish(None);
    assert_nothing_left(&o.prefix, &o.pids);
    result
}

#[test]
fn every_scheduled_experiment_and_every_challenge_reaches_its_goal_in_a_known_order() {
    let all = lessons();
    let mut wanted: Vec<(String, Goal, String)> = Vec::new();
    for e in all.experiments.iter().filter(|e| e.is_scheduled()) {
        let goal = goal_of(e.expect)
            .unwrap_or_else(|| panic!("{}: a scheduled experiment cannot promise {:?}", e.id, e.expect));
        wanted.push((e.id.clone(), goal, format!("{}:{}", e.file, e.line)));
    }
    for l in &all.lessons {
        for c in &l.challenges {
            wanted.push((c.experiment.clone(), c.goal, format!("{}:{}", l.file, c.line)));
        }
    }
    wanted.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
    wanted.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    assert!(wanted.len() >= 3, "{wanted:?}");
    let mut failures = Vec::new();
    for (id, goal, at) in &wanted {
        let Some((_, _, order)) = SCHEDULES.iter().find(|(sid, g, _)| sid == id && g == goal) else {
            failures.push(format!("{at}: no order in SCHEDULES that takes '{id}' to {}", goal.as_str()));
            continue;
        };
        let e = all.experiment(id).expect("resolved by the loader");
        let _turn = processes_turn();
        if let Err(why) = schedule_to(e, *goal, order) {
            failures.push(format!("{at}: '{id}' to {}: {why}", goal.as_str()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each live-stage experiment, run headless for 200 messages at full speed, delivers every one
/// of them once, in order and intact.
#[test]
fn every_stage_experiment_delivers_every_message() {
    let all = lessons();
    let mut ran = 0;
    for e in &all.experiments {
        let What::Stage(stage) = &e.what else { continue };
        let _turn = processes_turn();
        ran += 1;
        let spec = RunSpec { count: 200, warmup: 0, rate_per_sec: None, ..stage.run_spec() };
        let run = Run::start(spec.clone(), &exe()).unwrap_or_else(|err| panic!("{}: did not start: {err}", e.id));
        let prefix = run.prefix().to_string();
        let (outcome, _) = wait_within(run, Duration::from_secs(30));
        assert_nothing_left(&prefix, &pids(&outcome));
        let report = RunReport::from_outcome(&outcome).unwrap_or_else(|why| panic!("{}: {why}", e.id));
        let per_message = if spec.pattern == Pattern::PingPong { 2 } else { 1 };
        assert_eq!(report.sent, per_message * 200, "{}: sent", e.id);
        assert_eq!(report.received, report.sent, "{}: received", e.id);
        assert_eq!(
            (report.lost, report.duplicated, report.out_of_order, report.corrupted),
            (0, 0, 0, 0),
            "{}: lost/duplicated/out of order/corrupted",
            e.id
        );
    }
    assert!(ran >= 10, "only {ran} stage experiments");
}

/// A copy of `lessons/` in a fresh temporary directory, to break.
fn copy_of_lessons(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ipclab-test-lessons-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in BUILTIN_FILES {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }
    dir
}

/// Replaces the first `from` in `dir/path` with `to`; returns the line it was on.
fn break_file(dir: &Path, path: &str, from: &str, to: &str) -> usize {
    let file = dir.join(path);
    let text = std::fs::read_to_string(&file).expect("read");
    let at = text.find(from).unwrap_or_else(|| panic!("'{from}' not in {path}"));
    std::fs::write(&file, text.replacen(from, to, 1)).expect("write");
    text[..at].matches('\n').count() + 1
}

#[test]
fn a_broken_lesson_file_is_named_by_file_and_line() {
    type Break = fn(&Path) -> (String, usize, &'static str);
    let cases: [(&str, Break); 7] = [
        ("two-right", |d| {
            let line = break_file(
                d,
                "en/02-pipes.md",
                "- [ ] The parent reads three lines",
                "- [x] The parent reads three lines",
            );
            // The second right answer is two lines down.
            ("en/02-pipes.md".into(), line + 2, "question has two right answers")
        }),
        ("no-why", |d| {
            let line =
                break_file(d, "en/04-sockets.md", "  > No: a stream socket keeps no boundaries between sends.\n", "");
            ("en/04-sockets.md".into(), line - 1, "answer has no explanation")
        }),
        ("unknown-link", |d| {
            let line = break_file(d, "zh-CN/03-fifos.md", "(experiment:fifo-stream)", "(experiment:fifo-steam)");
            ("zh-CN/03-fifos.md".into(), line, "links experiment 'fifo-steam', which no experiments file defines")
        }),
        ("moved-right-answer", |d| {
            let line = break_file(d, "zh-CN/01-processes.md", "```question", "```question");
            break_file(d, "zh-CN/01-processes.md", "- [ ] ", "- [X] ");
            break_file(d, "zh-CN/01-processes.md", "- [x] ", "- [ ] ");
            ("zh-CN/01-processes.md".into(), line, "question 1: answer 1 is the right one, but in")
        }),
        ("unknown-measure", |d| {
            let line = break_file(d, "en/06-shared-memory.md", "measure:page_size", "measure:page_sise");
            ("en/06-shared-memory.md".into(), line, "unknown measure 'page_sise'")
        }),
        ("unknown-variant", |d| {
            let line =
                break_file(d, "experiments/06-10.json", "\"variant\": \"four-seats\"", "\"variant\": \"three-seats\"");
            ("experiments/06-10.json".into(), line, "has no variant 'three-seats'")
        }),
        ("bad-goal", |d| {
            let line = break_file(d, "en/07-synchronization.md", "goal: lost-update", "goal: lost-updates");
            ("en/07-synchronization.md".into(), line, "unknown goal 'lost-updates'")
        }),
    ];
    for (name, case) in cases {
        let dir = copy_of_lessons(name);
        let (path, line, what) = case(&dir);
        let err = Lessons::load_dir(&dir).expect_err(name).to_string();
        let want = format!("{}:{line}: ", dir.join(&path).display());
        assert!(
            err.lines().any(|l| l.starts_with(&want) && l.contains(what)),
            "{name}: want a line '{want}...{what}...', got:\n{err}"
        );
        // The author's command says the same, and fails.
        let out = Command::new(exe()).args(["lesson", "check"]).arg(&dir).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&want) && stderr.contains(what), "{name}: {stderr}");
        let _ = std::fs::remove_dir_all(dir);
    }
    // A stage experiment without a Chinese name still loads (shown as written) and the author's
    // command says so, naming it.
    let dir = copy_of_lessons("untranslated");
    let line = break_file(&dir, "experiments/06-10.json", ", \"text\": { \"zh-CN\": \"线程乒乓\" }", "") - 1;
    assert!(Lessons::load_dir(&dir).is_ok(), "a missing display name is no error");
    let out = Command::new(exe()).args(["lesson", "check"]).arg(&dir).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("06-10.json:{line}: experiment cost-thread-pingpong: no zh-CN name")), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    // A missing translation, and a directory that is not a lessons directory.
    let dir = copy_of_lessons("missing");
    std::fs::remove_file(dir.join("zh-CN/10-measuring.md")).expect("remove");
    let err = Lessons::load_dir(&dir).expect_err("missing").to_string();
    assert!(err.contains("10-measuring.md: lesson 'measuring' has no zh-CN translation"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let err = Lessons::load_dir(&dir).expect_err("gone").to_string();
    assert!(err.contains("cannot read"), "{err}");
}

fn ipc_lab(args: &[&str], lang: Option<&str>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(exe());
    cmd.args(args).env_remove("LC_ALL").env_remove("LC_MESSAGES").env_remove("LANG");
    if let Some(l) = lang {
        cmd.env("LANG", l);
    }
    let out = cmd.output().expect("run ipc-lab");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn list_lessons_prints_one_line_per_lesson_in_the_chosen_language() {
    let all = lessons();
    let expected = |lang: Lang| all.in_lang(lang).map(|l| format!("{:<26} {}", l.id, l.title)).collect::<Vec<_>>();
    let (code, out, err) = ipc_lab(&["list", "lessons"], None);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), expected(Lang::En));
    let (_, out, _) = ipc_lab(&["list", "lessons"], Some("zh_CN.UTF-8"));
    assert_eq!(out.lines().collect::<Vec<_>>(), expected(Lang::ZhCn), "LANG=zh_CN picks Chinese");
    let (_, out, _) = ipc_lab(&["list", "lessons", "--lang", "en"], Some("zh_CN.UTF-8"));
    assert_eq!(out.lines().collect::<Vec<_>>(), expected(Lang::En), "--lang wins over LANG");
    let (_, out, _) = ipc_lab(&["list", "lessons", "--lang", "zh-CN"], None);
    assert_eq!(out.lines().collect::<Vec<_>>(), expected(Lang::ZhCn));
    let (code, out, err) = ipc_lab(&["list", "lessons", "--lang", "fr"], None);
    assert_eq!(code, Some(2));
    assert!(out.is_empty() && err.starts_with("error: unknown language 'fr'"), "{err}");
    let (code, out, err) = ipc_lab(&["lesson", "check"], None);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("12 en, 12 zh-CN") && out.contains("all well"), "{out}");
}

/// Lesson 2's capacity is where its pipe-full experiment blocks: run the experiment to its
/// deadlock, then look into each actor's pipes through /proc/PID/fd (the same pipe, opened
/// anew) and ask the kernel how much each holds (FIONREAD): exactly the capacity the page states.
#[test]
fn the_pipe_full_experiment_blocks_with_its_pipes_holding_the_capacity_lesson_2_states() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;

    use ipc_lab::programs::run::ProgramRun;
    let e = lessons().experiment("pipe-full").expect("lesson 2's experiment").clone();
    let What::Program { scenario, variant, .. } = &e.what else { panic!("a program") };
    let mut run = ProgramRun::start(scenario, variant, &exe(), false, false).expect("start");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !matches!(run.poll(Duration::from_millis(50)), Some(ipc_lab::programs::run::Verdict::Deadlock { .. })) {
        assert!(std::time::Instant::now() < deadline, "no deadlock: {:?}", run.model().log);
    }
    let capacity = measure::pipe_capacity().expect("measured");
    let mut pipes = std::collections::BTreeMap::new();
    for p in &run.model().procs {
        for fd in std::fs::read_dir(format!("/proc/{}/fd", p.pid)).expect("its descriptors").flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let target = target.to_string_lossy().to_string();
            if !target.starts_with("pipe:") || pipes.contains_key(&target) {
                continue;
            }
            // Opening the /proc link of a pipe opens that pipe (read side, not blocking).
            let Ok(f) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(fd.path()) else {
                continue;
            };
            let mut queued: libc::c_int = 0;
            // SAFETY: FIONREAD writes an int into `queued`; `f` is an open pipe.
            assert_eq!(unsafe { libc::ioctl(f.as_raw_fd(), libc::FIONREAD, &mut queued) }, 0);
            pipes.insert(target, queued as u64);
        }
    }
    // The two data pipes (the telemetry and control pipes are nearly empty) are full.
    let full: Vec<u64> = pipes.values().copied().filter(|&q| q > 4096).collect();
    assert_eq!(full, vec![capacity, capacity], "{pipes:?}");
    let o = run.finish(None);
    assert_nothing_left(&o.prefix, &o.pids);
}
