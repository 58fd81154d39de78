//! Bad files and bad reports get an error value, never a panic: scenario-program files (broken
//! JSON, and real programs with values changed to anything), the actors' reports folded into a
//! `ProgramModel` in any order, Compare's result files, and lesson files through the lessons
//! loader. `bad_input.rs` does the same for setup files, telemetry lines and frames.

use std::time::Duration;

use ipc_lab::programs::model::ProgramModel;
use ipc_lab::programs::say;
use ipc_lab::programs::spec::{Goal, PipeEnd, ProgramScenario, builtin};
use ipc_lab::supervisor::ExitKind;
use ipc_lab::telemetry::{Detail, Event, Role, SyncOp, SyncPhase};
use proptest::prelude::*;
use serde_json::{Value, json};

/// JSON values of every shape, with the numbers and words that break naive code.
fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(json!(0)),
            Just(json!(-1)),
            Just(json!(1)),
            Just(json!(2)),
            Just(json!(u32::MAX)),
            Just(json!(u64::MAX)),
            Just(json!(i64::MIN)),
            Just(json!(1e300)),
            Just(json!(-0.5)),
            any::<u64>().prop_map(|n| json!(n)),
        ],
        prop_oneof![
            Just("mutex"),
            Just("semaphore"),
            Just("barrier"),
            Just("pipe"),
            Just("queue"),
            Just("counter"),
            Just("local_counter"),
            Just("lock"),
            Just("repeat"),
            Just("fixed"),
            Just("lock A"),
            Just("worker 1"),
            Just(""),
            Just("中文"),
            Just("\u{0}"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("op".to_string()),
                    Just("resource".to_string()),
                    Just("times".to_string()),
                    Just("steps".to_string()),
                    Just("name".to_string()),
                    Just("kind".to_string()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer into `v` (the root too).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
        Value::Object(o) => {
            o.iter().for_each(|(k, x)| pointers(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out))
        }
        _ => {}
    }
    out.push(at);
}

/// A built-in program's JSON with up to three of its values (anywhere, whole subtrees too)
/// replaced.
fn mutated_program(which: usize, edits: &[(usize, Value)]) -> String {
    let programs: Vec<ProgramScenario> = builtin().into_iter().map(|s| s.expect("a built-in parses")).collect();
    let mut doc = serde_json::to_value(&programs[which % programs.len()]).expect("a program serializes");
    for (at, value) in edits {
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let p = &all[at % all.len()];
        if let Some(slot) = doc.pointer_mut(p) {
            *slot = value.clone();
        }
    }
    doc.to_string()
}

/// What people read of a program, and what a run makes of it, asked of every variant: none of
/// it may panic for a program the loader let through.
fn use_program(s: &ProgramScenario) {
    for (variant, processes) in s.all_variants() {
        let _ = s.work(variant);
        let mut m = ProgramModel::new(s, variant, false, processes);
        for i in 0..processes.len() {
            let _ = say::doing(&m, i);
        }
        m.sample(vec![Some(('S', "futex_wait_queue".into())); processes.len()], vec![], vec![], Duration::from_secs(2));
        if let Some(v) = m.verdict.clone() {
            let _ = (say::verdict_sentence(s, &v), say::verdict_evidence(s, &v));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// A real program with values changed to anything is refused with a reason, or it is a
    /// program every part of the engine can use.
    #[test]
    fn changed_scenario_programs_are_refused_with_a_reason_or_usable(
        which in 0usize..64,
        edits in proptest::collection::vec((any::<usize>(), arb_value()), 1..4),
    ) {
        let text = mutated_program(which, &edits);
        match ProgramScenario::parse(&text) {
            Ok(s) => use_program(&s),
            Err(e) => prop_assert!(e.len() > 10, "a reason, not '{e}'"),
        }
    }

    /// Broken JSON (a program cut anywhere, or any text) is refused with a reason.
    #[test]
    fn broken_scenario_program_text_is_refused_with_a_reason(
        which in 0usize..64,
        cut in any::<prop::sample::Index>(),
        noise in "\\PC{0,40}",
    ) {
        let whole = mutated_program(which, &[]);
        let cut_at = (0..=cut.index(whole.len())).rev().find(|&i| whole.is_char_boundary(i)).unwrap_or(0);
        for text in [&whole[..cut_at], noise.as_str(), &format!("{}{noise}", &whole[..cut_at])] {
            match ProgramScenario::parse(text) {
                Ok(s) => use_program(&s),
                Err(e) => prop_assert!(e.contains("not a valid scenario program") || e.len() > 10, "{e}"),
            }
        }
    }

    /// The actors' reports, any of them in any order from any process (an actor that lies,
    /// or one this model did not start), with the kernel's samples and exits between, never
    /// panic the model or the words made from it.
    #[test]
    fn any_actor_reports_fold_into_the_program_model(
        which in 0usize..64,
        variant in any::<prop::sample::Index>(),
        steps in proptest::collection::vec(
            (0usize..6, 0u8..8, any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0u8..4, 0u8..12, any::<u64>()),
            0..60,
        ),
    ) {
        let programs: Vec<ProgramScenario> = builtin().into_iter().map(|s| s.expect("a built-in parses")).collect();
        let s = &programs[which % programs.len()];
        let variants = s.all_variants();
        let (name, processes) = variants[variant.index(variants.len())];
        let gated = which % 2 == 0;
        let mut m = ProgramModel::new(s, name, gated, processes);
        let n = processes.len();
        let mut names: Vec<String> = s.resources.iter().map(|r| r.name.clone()).collect();
        for r in s.resources.iter().map(|r| r.name.clone()).collect::<Vec<_>>() {
            names.extend([format!("a post of {r}"), format!("the write end of {r}"), format!("a receiver of {r}")]);
        }
        names.extend(["".to_string(), "nothing of ours".to_string(), processes[0].name.clone()]);
        let ops = [
            SyncOp::Lock, SyncOp::Unlock, SyncOp::Wait, SyncOp::Post, SyncOp::Barrier, SyncOp::Send, SyncOp::Recv,
            SyncOp::Close, SyncOp::Sleep, SyncOp::Load, SyncOp::Store, SyncOp::Add, SyncOp::Join, SyncOp::Exit,
            SyncOp::CondWait, SyncOp::Signal, SyncOp::Broadcast,
        ];
        let phases = [SyncPhase::Next, SyncPhase::Enter, SyncPhase::Leave, SyncPhase::Failed];
        let mut now = Duration::ZERO;
        for (who, kind, op, resource, phase, detail, number) in steps {
            let i = who % (n + 2); // now and then a process the model does not have
            let role = Role(i as u16);
            let resource = names[resource.index(names.len())].clone();
            let detail = match detail {
                0 => None,
                1 => Some(Detail::OwnerDied),
                2 => Some(Detail::TryLock),
                3 => Some(Detail::BackOff { gave_back: vec![resource.clone()], pause_millis: number }),
                4 => Some(Detail::OwnCopy { value: number }),
                5 => Some(Detail::Read { value: number }),
                6 => Some(Detail::Wrote { value: number }),
                7 => Some(Detail::Code { code: number as i32 }),
                8 => Some(Detail::End { end: if number % 2 == 0 { PipeEnd::Read } else { PipeEnd::Write } }),
                9 => Some(Detail::Errno { call: "fcntl".into(), errno: number as i32 }),
                10 => Some(Detail::WithMutex { mutex: resource.clone() }),
                _ => Some(Detail::Other { text: "?".into() }),
            };
            now += Duration::from_millis(number % 700);
            match kind {
                0..=2 => {
                    let event = Event::Sync { role, op: ops[op.index(ops.len())], resource, phase: phases[phase as usize], detail };
                    m.event(i, &event, now);
                }
                3 => m.event(i, &Event::Holding { role, resources: vec![resource.clone(), resource] }, now),
                4 => m.event(i, &Event::Values { role, values: vec![(resource, number)] }, now),
                5 => m.event(i, &Event::Error { role: Some(role), message: "no".into() }, now),
                6 => {
                    if i < n {
                        let exit = if number % 3 == 0 { ExitKind::Signal(9) } else { ExitKind::Code((number % 256) as i32) };
                        if number % 5 == 0 { m.victim(i, now) } else { m.exited(i, exit, now) }
                    }
                }
                _ => {
                    let states = ['R', 'S', 'D', 'T', 'Z'];
                    let wchans = ["futex_wait_queue", "pipe_read", "do_sys_poll", "fcntl_setlk", "wq_sleep", "0"];
                    let kernel = (0..n)
                        .map(|p| !(p as u64).wrapping_add(number).is_multiple_of(7))
                        .enumerate()
                        .map(|(p, alive)| alive.then(|| {
                            let k = (number as usize).wrapping_add(p);
                            (states[k % states.len()], wchans[k % wchans.len()].to_string())
                        }))
                        .collect();
                    let counters = s.resources.iter().map(|r| (r.name.clone(), number)).collect();
                    m.sample(kernel, counters, vec![(resource, number as i32)], now);
                }
            }
        }
        for i in 0..n {
            let _ = (say::doing(&m, i), say::doing_short(&m, i), m.what_dies_with(i));
        }
        for (_, e) in &m.log {
            let _ = say::entry(&m, e);
        }
        if let Some(v) = m.verdict.clone() {
            let _ = (say::verdict_word(&v, 1.0), say::verdict_sentence(s, &v), say::verdict_evidence(s, &v));
        }
        let _ = (m.unexpected(), m.wrong_values(), m.lost_updates(), m.graph.cycle());
        for goal in [Goal::Deadlock, Goal::Complete, Goal::LostUpdate, Goal::Livelock] {
            let _ = m.achieved(goal);
        }
    }
}

/// A saved bench result, as Compare reads it.
fn result_file() -> Value {
    let text = include_str!("data/bench-result.json");
    serde_json::from_str(text).expect("the sample result file is JSON")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A result file with values changed to anything, or cut anywhere, is refused with a reason
    /// or gives series every Compare plot can draw.
    #[test]
    fn changed_result_files_are_refused_with_a_reason_or_plotted(
        edits in proptest::collection::vec((any::<usize>(), arb_value()), 0..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        as_runs in any::<bool>(),
    ) {
        use ipc_lab::traffic::compare::{self, Metric, ResultSet};
        let mut doc = result_file();
        if as_runs {
            doc = doc["runs"].clone(); // bench --format json: the runs alone
        }
        for (at, value) in &edits {
            let mut all = Vec::new();
            pointers(&doc, String::new(), &mut all);
            let p = &all[at % all.len()];
            if let Some(slot) = doc.pointer_mut(p) {
                *slot = value.clone();
            }
        }
        let mut text = doc.to_string();
        if let Some(cut) = cut {
            let at = (0..=cut.index(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text.truncate(at);
        }
        match ResultSet::parse("fuzzed.json", &text) {
            Ok(set) => {
                let runs = &set.runs;
                let patterns: Vec<String> = runs.iter().map(|r| r.pattern.clone()).chain(["ping-pong".to_string()]).collect();
                let sizes: Vec<usize> = runs.iter().map(|r| r.size).chain([64]).collect();
                for pattern in &patterns {
                    for metric in [Metric::P50, Metric::P99, Metric::P999, Metric::Throughput, Metric::CpuPerMessage] {
                        let _ = compare::against_size(runs, pattern, metric);
                        let _ = metric.label(true);
                    }
                    for &size in &sizes {
                        let _ = compare::percentiles_at(runs, pattern, size);
                        let _ = compare::baseline(runs, pattern, size);
                        let _ = compare::cdf_at(runs, pattern, size);
                        let _ = compare::by_placement(runs, pattern, size);
                        let _ = compare::wake_vs_cpu(runs, pattern, size);
                    }
                }
                for r in runs {
                    let _ = compare::line_name(r);
                }
            }
            Err(e) => prop_assert!(e.starts_with("fuzzed.json: "), "the error names the file: {e}"),
        }
    }
}

/// Lines that mean something to the lesson format, and some that break naive parsers.
const LESSON_LINES: [&str; 22] = [
    "---",
    "",
    "id: deadlocks",
    "title:",
    "order: 99999999999999999999",
    "```question",
    "```challenge",
    "```",
    "- [x] Yes.",
    "- [ ] No.",
    "  > Because.",
    "[Run it](experiment:nope)",
    "[Run it](experiment:)",
    "{{measure:nope}}",
    "{{measure:",
    "goal: deadlock",
    "experiment: lock-order",
    "# ",
    "\u{0}",
    "中文：阻塞",
    "    ```",
    "[{\"id\": \"x\", \"program\": \"nope\", \"variant\": \"\", \"expect\": \"completes\"}]",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The lessons directory with one file changed (lines replaced, inserted or dropped, or the
    /// file cut short) loads, or is refused with every problem named by file: never a panic.
    #[test]
    fn changed_lesson_files_are_refused_by_file_or_load(
        file in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((0u8..4, any::<prop::sample::Index>(), 0usize..LESSON_LINES.len()), 1..6),
    ) {
        use ipc_lab::lessons::Lessons;
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
        let dir = std::env::temp_dir().join(format!("ipc-lab-fuzz-lessons-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut files = Vec::new();
        for sub in ["en", "zh-CN", "experiments"] {
            std::fs::create_dir_all(dir.join(sub)).expect("a temporary directory");
            let mut names: Vec<_> = std::fs::read_dir(source.join(sub)).expect("the lessons").flatten().map(|e| e.file_name()).collect();
            names.sort();
            for name in names {
                let to = dir.join(sub).join(&name);
                std::fs::copy(source.join(sub).join(&name), &to).expect("a copy");
                files.push(to);
            }
        }
        let target = &files[file.index(files.len())];
        let text = std::fs::read_to_string(target).expect("a lesson file");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (kind, at, what) in edits {
            let i = at.index(lines.len().max(1));
            let line = LESSON_LINES[what].to_string();
            match kind {
                0 if i < lines.len() => lines[i] = line,
                1 => lines.insert(i.min(lines.len()), line),
                2 if i < lines.len() => { lines.remove(i); }
                _ => lines.truncate(i),
            }
        }
        std::fs::write(target, lines.join("\n")).expect("the changed file");
        let loaded = Lessons::load_dir(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = loaded {
            let said = e.to_string();
            prop_assert!(!said.trim().is_empty(), "an error says what");
            prop_assert!(said.contains(&dir.display().to_string()), "every problem is named by its file: {said}");
        }
    }
}

/// The property tests start from real programs and results: unchanged, each loads (else they
/// would only ever test refusals).
#[test]
fn the_unchanged_starting_points_load() {
    for which in 0..builtin().len() {
        let text = mutated_program(which, &[]);
        let s = ProgramScenario::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        use_program(&s);
    }
    let text = result_file().to_string();
    assert!(ipc_lab::traffic::compare::ResultSet::parse("r.json", &text).is_ok_and(|r| !r.runs.is_empty()));
}
