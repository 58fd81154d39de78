//! One language per window: with the UI in Chinese, every word painted on the screen — labels,
//! the stage's boxes, the Programs view's graph, the deadlock's sentence, the log, the lesson
//! page, the Compare charts — is Chinese, except notation (PIDs, p50, futex, SIGKILL, EDEADLK,
//! file and function names, units, code). The text is collected from what egui paints, so words
//! drawn straight onto a canvas count as much as widgets.

mod common;
#[path = "common/ui.rs"]
mod ui;

use std::collections::BTreeSet;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ipc_lab::app::{AppOptions, IpcLabApp, View};
use ipc_lab::lessons::Lang;
use ipc_lab::programs::model::Verdict;
use ui::{harness_at, step_until};

/// Latin words a Chinese screen may show: notation, not English.
const NOTATION: &[&str] = &[
    // units and percentiles
    "ns",
    "us",
    "ms",
    "s",
    "B",
    "KiB",
    "MiB",
    "GiB",
    "GB",
    "MB",
    "KB",
    "p50",
    "p90",
    "p99",
    "p999",
    // the names of keys, as printed on them
    "Home",
    "End",
    "Esc",
    "Tab",
    // the kernel's and the libraries' names, and the mechanisms' ids (what `-m` takes)
    "futex",
    "fcntl",
    "pid",
    "wchan",
    "shm",
    "mqueue",
    "pipe",
    "fifo",
    "unix",
    "tcp",
    "thread",
    "crossbeam",
    "hdrhistogram",
    "egui",
    "pthread",
    "errno",
    "mpirun",
    "Nagle",
    "GIL",
    "Perfetto",
    "Chrome",
    // Python's names, which the lessons connect to
    "Python",
    "multiprocessing",
    "Pipe",
    "Queue",
    "Value",
    "Array",
    "Lock",
    "Semaphore",
    "Pool",
    "Process",
    "Condition",
    "Event",
    "Manager",
    "asyncio",
    "Linux",
    "pickle",
    "ctypes",
    // system calls a Chinese text names bare, as the man pages do
    "bench",
    "fork",
    "exec",
    "execve",
    "mmap",
    "munmap",
    "ftruncate",
    "poll",
    "epoll",
    "select",
    "ioctl",
    // names of languages and of CPUs (the machine's own words)
    "shell",
    "Lab",
    "Coffman",
    "Dijkstra",
    "tokio",
    "Spark",
    "MapReduce",
    "Dask",
    "OpenMP",
    "Gustafson",
    "Karp",
    "Flatt",
    "Amdahl",
    "Lamport",
    "nonce",
    "root",
    "Wi",
    "Fi",
    "Alice",
    "Bob",
    "Windows",
    "macOS",
    "English",
    "Intel",
    "Xeon",
    "Processor",
    "AMD",
    "EPYC",
    "Ryzen",
    "Core",
    "ARM",
    "Neoverse",
];

/// Every text egui painted in the last frame, but code (monospace: commands, identifiers).
fn painted_words(h: &Harness<'_, IpcLabApp>) -> Vec<String> {
    fn walk(shape: &egui::Shape, out: &mut Vec<String>) {
        match shape {
            egui::Shape::Text(t) => {
                let text = t.galley.text();
                for section in &t.galley.job.sections {
                    if section.format.font_id.family != egui::FontFamily::Monospace {
                        out.push(text[section.byte_range.start.0..section.byte_range.end.0].to_string());
                    }
                }
            }
            egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| walk(s, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for clipped in &h.output().shapes {
        walk(&clipped.shape, &mut out);
    }
    out
}

/// The English words in `texts`: runs of Latin letters that are not notation. A word with an
/// underscore, a digit or a capital after its first letter is an identifier or an acronym
/// (futex_do_wait, SIGKILL, EDEADLK, p50); a word followed by `(` is a function; a path
/// (/proc/locks), a host or file name (ui.perfetto.dev) and a run's name (ipc-lab-123-4) are
/// names; a gloss in full-width brackets right after the Chinese word (套接字（Socket）) is the
/// term's English name, given once for the reader to look it up.
fn english(texts: &[String]) -> BTreeSet<String> {
    let allowed: BTreeSet<&str> = NOTATION.iter().copied().collect();
    let mut found = BTreeSet::new();
    for text in texts {
        // Glosses out: （…） holding no Chinese.
        let mut text = text.clone();
        while let Some(open) = text.find('（') {
            let Some(len) = text[open..].find('）') else { break };
            let inner = &text[open + '（'.len_utf8()..open + len];
            let cut =
                if inner.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) { None } else { Some(inner.len()) };
            match cut {
                Some(n) => text.replace_range(open..open + '（'.len_utf8() + n + '）'.len_utf8(), " "),
                None => text.replace_range(open..open + '（'.len_utf8(), " "),
            }
        }
        let text = &text;
        for token in text.split(|c: char| c.is_whitespace() || (!c.is_ascii() && !c.is_alphanumeric())) {
            let dotted = token.contains('.') && token.split('.').filter(|p| !p.is_empty()).count() > 1;
            let run_name = token.starts_with("ipc-lab");
            if token.starts_with('/') || token.contains("://") || dotted || run_name {
                continue; // a path, a link, a file or host name, the program's or a run's name
            }
            let mut rest = token;
            while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                let tail = &rest[start..];
                let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
                let word = &tail[..end];
                let function = tail[end..].starts_with('(');
                rest = &tail[end..];
                if function {
                    continue;
                }
                let letters = word.chars().filter(|c| c.is_ascii_alphabetic()).count();
                if letters == 0 {
                    continue;
                }
                let identifier = word.contains('_')
                    || word.chars().any(|c| c.is_ascii_digit())
                    || word.chars().skip(1).any(|c| c.is_ascii_uppercase())
                    || (word.len() == 1 && word.chars().all(|c| c.is_ascii_uppercase()));
                if identifier || allowed.contains(word) || allowed.contains(word.to_lowercase().as_str()) {
                    continue;
                }
                found.insert(format!("{word}  ← {}", text.chars().take(80).collect::<String>()));
            }
        }
    }
    found
}

fn zh(options: AppOptions, size: [f32; 2]) -> Harness<'static, IpcLabApp> {
    harness_at(AppOptions { lang: Some(Lang::ZhCn), bundled_font: true, ..options }, size)
}

fn assert_chinese(h: &Harness<'_, IpcLabApp>, screen: &str) {
    let words = painted_words(h);
    assert!(
        words.iter().any(|w| w.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))),
        "{screen}: no Chinese at all"
    );
    let english = english(&words);
    assert!(
        english.is_empty(),
        "{screen}: English words on a Chinese screen:\n{}",
        english.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_finds_english_and_lets_notation_through() {
    let texts = vec![
        "哲学家 1 等待 chopstick 2".to_string(),
        "状态 S，阻塞在 futex_do_wait 里（pid 5100，p50 3 µs，SIGKILL）".into(),
    ];
    let found = english(&texts);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found.iter().next().is_some_and(|w| w.starts_with("chopstick")), "{found:?}");
    let texts = vec!["worker 1 holds lock A".to_string()];
    assert!(english(&texts).iter().any(|w| w.starts_with("worker")), "{:?}", english(&texts));
    let notation = vec!["套接字（Socket）、read() 与 /proc/locks，运行 ipc-lab-7-1，见 ui.perfetto.dev".to_string()];
    assert_eq!(english(&notation), BTreeSet::new());
    assert_eq!(english(&["（先 read 再 write）".to_string()]).len(), 2, "a bracket with Chinese is no gloss");
}

#[test]
fn the_stage_running_is_chinese() {
    let mut h = zh(AppOptions { autostart: true, ..Default::default() }, [1280.0, 800.0]);
    step_until(&mut h, Duration::from_secs(10), "messages to flow", |app| app.model.received_total() > 10);
    h.run_steps(3);
    assert_eq!(h.state().ui_state.view, View::Stage);
    assert_chinese(&h, "live stage, running");
}

#[test]
fn programs_deadlocked_and_recovered_are_chinese() {
    let mut h = zh(AppOptions { program: Some("dining-philosophers".into()), ..Default::default() }, [1280.0, 800.0]);
    h.run_steps(2);
    assert_chinese(&h, "Programs, before a run");
    let start = ipc_lab::i18n::lookup("programs.start", Lang::ZhCn).expect("a key");
    h.get_by_label(&start).click();
    step_until(&mut h, Duration::from_secs(5), "the deadlock", |app| {
        app.ui_state.program.shared.model.as_ref().is_some_and(|m| matches!(m.verdict, Some(Verdict::Deadlock { .. })))
    });
    h.run_steps(3);
    assert_chinese(&h, "Programs, deadlocked");
    // Kill a victim with its button, as a student would.
    let m = h.state().ui_state.program.shared.model.clone().expect("a run");
    let victim = m.scenario.display_in(&m.procs[0].name, Lang::ZhCn).to_string();
    let kill = ipc_lab::i18n::lookup("programs.kill_named", Lang::ZhCn).expect("a key").replace("%{name}", &victim);
    h.get_by_label(&kill).click();
    step_until(&mut h, Duration::from_secs(5), "the rest to finish", |app| {
        app.ui_state.program.shared.model.as_ref().is_some_and(|m| matches!(m.verdict, Some(Verdict::Recovered { .. })))
    });
    h.run_steps(3);
    assert_chinese(&h, "Programs, recovered");
}

#[test]
fn every_lesson_page_is_chinese() {
    let lessons = ipc_lab::lessons::Lessons::builtin().expect("lessons");
    let ids: Vec<String> = lessons.in_lang(Lang::ZhCn).map(|l| l.id.clone()).collect();
    let mut wrong = Vec::new();
    for id in ids {
        let mut h = zh(AppOptions { lesson: Some(id.clone()), ..Default::default() }, [1280.0, 4000.0]);
        h.run_steps(3);
        let words = painted_words(&h);
        wrong.extend(english(&words).into_iter().map(|w| format!("{id}: {w}")));
    }
    assert!(wrong.is_empty(), "English words on Chinese lesson pages:\n{}", wrong.join("\n"));
}

#[test]
fn compare_with_results_is_chinese() {
    let mut h = zh(AppOptions::default(), [1280.0, 800.0]);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/placement-cdf.json");
    let set = ipc_lab::traffic::compare::ResultSet::load(&path).expect("a result file");
    h.state_mut().ui_state.view = View::Compare;
    h.state_mut().ui_state.compare.sets.push(set);
    h.run_steps(3);
    assert_chinese(&h, "Compare, a result file loaded");
}

#[test]
fn a_pipe_deadlock_and_a_lost_wake_up_are_chinese() {
    // Pipe ends and condition variables have words of their own in the cycle, the log and the
    // boxes: each said in Chinese.
    for (program, verdict_is) in [
        ("deadlock-read-read", (|v: &Verdict| matches!(v, Verdict::Deadlock { .. })) as fn(&Verdict) -> bool),
        ("lost-wakeup", |v: &Verdict| matches!(v, Verdict::Hang { .. })),
    ] {
        let mut h = zh(AppOptions { program: Some(program.into()), ..Default::default() }, [1280.0, 800.0]);
        h.run_steps(2);
        let start = ipc_lab::i18n::lookup("programs.start", Lang::ZhCn).expect("a key");
        h.get_by_label(&start).click();
        step_until(&mut h, Duration::from_secs(8), program, |app| {
            app.ui_state.program.shared.model.as_ref().and_then(|m| m.verdict.as_ref()).is_some_and(verdict_is)
        });
        h.run_steps(3);
        assert_chinese(&h, program);
    }
}

#[test]
fn a_job_with_a_killed_and_a_stopped_worker_is_chinese() {
    // The Distributed view through a job's whole story: a worker stopped and continued (its
    // late result ignored), another killed (its chunk reassigned), the check, the log.
    let line = "--workers 3 --schedule dynamic --chunk 250000 --data range:6000000 --work 30 \
                --heartbeat-ms 20 --stop-worker 1@0.1 --continue-worker 1@0.6 --kill-worker 2@0.2";
    let mut h = zh(AppOptions { job: Some(line.into()), autostart: true, ..Default::default() }, [1280.0, 800.0]);
    step_until(&mut h, Duration::from_secs(60), "the job to end", |app| app.ui_state.jobs.model.outcome.is_some());
    h.run_steps(3);
    assert_eq!(h.state().ui_state.view, View::Jobs);
    assert!(h.state().ui_state.jobs.model.log.len() >= 3, "the log has the story");
    assert_chinese(&h, "Distributed, a job with failures");
}
