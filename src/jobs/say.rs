//! A job's values in words, from the catalog, in the language of the thread that asks: the
//! Distributed view's log and `ipc-lab job`'s report.

use crate::tr;

use super::compute::Partial;
use super::coordinator::{JobEvent, JobOutcome, Lost, RemoteNote, Sig, Step};
use super::spec::{JobSpec, Schedule, Ship, WorkerKind};

/// What `n` workers of kind `k` are, in words ("1 worker process", "2 worker processes").
pub fn kind(k: WorkerKind, n: usize) -> String {
    match (k, n == 1) {
        (WorkerKind::Process, false) => tr!("jobs.as_process"),
        (WorkerKind::Thread, false) => tr!("jobs.as_thread"),
        (WorkerKind::Async, false) => tr!("jobs.as_async"),
        (WorkerKind::AsyncOne, false) => tr!("jobs.as_async_one"),
        (WorkerKind::Process, true) => tr!("jobs.as_process_1"),
        (WorkerKind::Thread, true) => tr!("jobs.as_thread_1"),
        (WorkerKind::Async, true) => tr!("jobs.as_async_1"),
        (WorkerKind::AsyncOne, true) => tr!("jobs.as_async_one_1"),
    }
}

/// The data in words: the numbers 1 to N, N random numbers, a file.
pub fn data(d: &super::spec::DataSource) -> String {
    use crate::i18n::grouped;
    match d {
        super::spec::DataSource::Range { n } => tr!("jobs.data_range", n = grouped(n)),
        super::spec::DataSource::Random { n, seed } => tr!("jobs.data_random", n = grouped(n), seed = seed),
        super::spec::DataSource::File { path, n, .. } => {
            tr!("jobs.data_file", path = path.display().to_string(), n = grouped(n))
        }
    }
}

/// The operation's name in words.
pub fn op(o: super::spec::Op) -> String {
    match o {
        super::spec::Op::Sum => tr!("jobs.op_sum"),
        super::spec::Op::MinMax => tr!("jobs.op_minmax"),
        super::spec::Op::Histogram { buckets } => tr!("jobs.op_histogram_k", k = buckets),
    }
}

/// The job in one line: what, over what, how scheduled and shipped.
pub fn headline(s: &JobSpec) -> String {
    let how = match (s.engine, s.kind) {
        (super::spec::Engine::Mpi, _) => tr!("mpi.how"),
        (_, WorkerKind::Process) => format!("{} ({})", kind(s.kind, s.workers), s.mechanism),
        (_, k) => kind(k, s.workers),
    };
    tr!(
        "jobs.headline",
        op = op(s.op),
        data = data(&s.data),
        n = s.workers,
        how = how,
        schedule = match s.schedule {
            Schedule::Static => tr!("jobs.static"),
            Schedule::Dynamic => tr!("jobs.dynamic", chunk = s.chunk),
        },
        ship = match s.ship {
            Ship::Data => tr!("jobs.ship_data"),
            Ship::Work => tr!("jobs.ship_work"),
            Ship::Shared => tr!("jobs.ship_shared"),
        },
        work = s.work
    )
}

/// The signals and additions the job plays on itself (--kill-worker ...), or "".
pub fn scripted(s: &JobSpec) -> String {
    let mut timed: Vec<(f64, String)> = Vec::new();
    for (list, sig) in [(&s.kills, "SIGKILL"), (&s.stops, "SIGSTOP"), (&s.continues, "SIGCONT")] {
        for t in list {
            timed.push((t.at_secs, tr!("jobs.scripted_signal", sig = sig, w = t.worker, s = t.at_secs)));
        }
    }
    for at in &s.add_at {
        timed.push((*at, tr!("jobs.scripted_add", s = at)));
    }
    // In the order they happen, after what holds all along (faults injected on every message).
    timed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut parts: Vec<String> = Vec::new();
    if let Some(d) = &s.faults.delay {
        parts.push(if d.jitter_ms > 0.0 {
            tr!("jobs.scripted_delay_jitter", ms = d.ms, jitter = d.jitter_ms)
        } else {
            tr!("jobs.scripted_delay", ms = d.ms)
        });
    }
    match &s.faults.corrupt {
        crate::faults::FaultRule::Never => {}
        crate::faults::FaultRule::Fraction(p) => {
            parts.push(tr!("jobs.scripted_corrupt", pct = format!("{:.0}", p * 100.0)))
        }
        crate::faults::FaultRule::Seqs(v) => parts.push(tr!("jobs.scripted_corrupt_seqs", n = v.len())),
    }
    parts.extend(timed.into_iter().map(|(_, p)| p));
    if parts.is_empty() { String::new() } else { tr!("jobs.scripted", what = parts.join(tr!("say.list_sep").as_str())) }
}

fn ms(at_ns: u64, t0_ns: u64) -> String {
    format!("{:.1}", at_ns.saturating_sub(t0_ns) as f64 / 1e6)
}

/// An exit as the coordinator wrote it ("killed by signal 9 (SIGKILL)", its English `Display`,
/// maybe with the stderr tail after ": "), in the reader's language.
fn exit_words(text: &str) -> String {
    use crate::supervisor::ExitKind;
    let (exit, tail) = text.split_once(": ").map_or((text, None), |(a, b)| (a, Some(b)));
    let number = |prefix: &str| exit.strip_prefix(prefix).and_then(|r| r.split(' ').next()?.parse::<i32>().ok());
    let kind =
        number("killed by signal ").map(ExitKind::Signal).or_else(|| number("exited with code ").map(ExitKind::Code));
    match (kind, tail) {
        (Some(k), Some(t)) => format!("{}: {t}", crate::programs::say::exit(k)),
        (Some(k), None) => crate::programs::say::exit(k),
        (None, _) => text.to_string(),
    }
}

/// A log line for the events a person should see (not every assignment or heartbeat).
pub fn event(e: &JobEvent, t0_ns: u64) -> Option<String> {
    Some(match e {
        JobEvent::WorkerUp { worker, replaces: Some(old), .. } => tr!("jobs.log_replaces", w = worker, old = old),
        JobEvent::Lost { worker, how: Lost::Died { noticed }, at_ns } => {
            let how = match noticed.as_str() {
                "eof" => tr!("jobs.noticed_eof"),
                n if n.starts_with("reaped: ") => {
                    tr!("jobs.noticed_reaped", what = exit_words(&n["reaped: ".len()..]))
                }
                n => tr!("jobs.noticed_error", what = n),
            };
            tr!("jobs.log_died", t = ms(*at_ns, t0_ns), w = worker, how = how)
        }
        JobEvent::Lost { worker, how: Lost::Silent { after_ms, state }, at_ns } => {
            let state = match state {
                Some('T') => tr!("jobs.state_stopped"),
                Some(c) => tr!("jobs.state_other", state = c),
                None => tr!("jobs.state_unknown"),
            };
            tr!("jobs.log_silent", t = ms(*at_ns, t0_ns), w = worker, after = after_ms, state = state)
        }
        JobEvent::Requeued { chunk, from, at_ns } => {
            tr!("jobs.log_requeued", t = ms(*at_ns, t0_ns), chunk = chunk, w = from)
        }
        JobEvent::WorkerUp { worker, replaces: None, at_ns, .. } if t0_ns != 0 && *at_ns >= t0_ns => {
            tr!("jobs.log_added", t = ms(*at_ns, t0_ns), w = worker)
        }
        JobEvent::Duplicate { chunk, worker, at_ns, .. } => {
            tr!("jobs.log_duplicate", t = ms(*at_ns, t0_ns), chunk = chunk, w = worker)
        }
        JobEvent::Corrupt { chunk, worker, at_ns } => tr!(
            "jobs.log_corrupt",
            t = ms(*at_ns, t0_ns),
            w = worker,
            chunk = chunk.map_or("?".to_string(), |c| c.to_string())
        ),
        JobEvent::Back { worker, at_ns } => tr!("jobs.log_back", t = ms(*at_ns, t0_ns), w = worker),
        JobEvent::Signalled { worker, signal, at_ns } => {
            let sig = match signal {
                Sig::Kill => "SIGKILL",
                Sig::Stop => "SIGSTOP",
                Sig::Continue => "SIGCONT",
            };
            tr!("jobs.log_signal", t = ms(*at_ns, t0_ns), w = worker, sig = sig)
        }
        JobEvent::Refused { worker, why } => tr!("jobs.log_refused", w = worker, why = why),
        JobEvent::Remote { note, at_ns } => tr!("jobs.log_remote", t = ms(*at_ns, t0_ns), what = remote(note)),
        JobEvent::Listening { addr, dial, token, at_ns } => {
            tr!("jobs.log_remote", t = ms(*at_ns, t0_ns), what = listening(addr, dial, *token))
        }
        JobEvent::Node { worker, host, addr, rejoins } => {
            let host = host.as_deref().unwrap_or("?");
            match rejoins {
                Some(r) => tr!("jobs.log_node_again", w = worker, host = host, addr = addr, was = r),
                None => tr!("jobs.log_node", w = worker, host = host, addr = addr),
            }
        }
        JobEvent::Failed { why } => tr!("jobs.log_failed", why = why),
        _ => return None,
    })
}

/// Sorted chunk ids as ranges ("0–3, 7, 9–10"), at most `most` of them, then "…".
pub fn ranges(ids: &[u32], most: usize) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &i in ids {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    let mut out: Vec<String> =
        runs.iter().take(most).map(|&(a, b)| if a == b { format!("{a}") } else { format!("{a}–{b}") }).collect();
    if runs.len() > most {
        out.push("…".into());
    }
    out.join(", ")
}

/// The command a worker on another host runs to join a job listening on `addr`, proving the
/// token in `token_file` when the job wants one.
pub fn worker_command(addr: &str, token_file: Option<&str>) -> String {
    let with = token_file.map_or(String::new(), |f| format!(" --token-file {f}"));
    format!("ipc-lab worker --connect {addr}{with}")
}

/// Where the job takes workers, and how they join (at the first address of this host another
/// one can dial, `dial`, not 0.0.0.0).
pub fn listening(addr: &str, dial: &[String], token: bool) -> String {
    let here = dial.first().map_or(addr, |d| d.as_str());
    tr!("jobs.listening", addr = addr, cmd = worker_command(here, token.then_some("FILE")))
}

/// A chunk's history as one line: assigned to w2 at 0.1 ms, requeued from w2 at 310 ms, ...
pub fn history(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Assigned { worker, at_ms } => tr!("jobs.h_assigned", w = worker, t = format!("{at_ms:.1}")),
            Step::Requeued { from, at_ms } => tr!("jobs.h_requeued", w = from, t = format!("{at_ms:.1}")),
            Step::Done { worker, at_ms } => tr!("jobs.h_done", w = worker, t = format!("{at_ms:.1}")),
            Step::Duplicate { worker, at_ms } => tr!("jobs.h_duplicate", w = worker, t = format!("{at_ms:.1}")),
            Step::Corrupt { worker, at_ms } => tr!("jobs.h_corrupt", w = worker, t = format!("{at_ms:.1}")),
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

/// How the result was checked.
pub fn check(o: &JobOutcome) -> String {
    // The formula serves a range's sum whenever the digest is not recomputed (see `expected`).
    let formula = matches!((&o.spec.data, o.spec.op), (super::spec::DataSource::Range { .. }, super::spec::Op::Sum))
        && (o.spec.work == 0 || o.expected_digest.is_none());
    let by = if formula { tr!("jobs.by_formula") } else { tr!("jobs.by_own") };
    if o.exact {
        tr!("jobs.check_exact", expected = o.expected.show(), by = by)
    } else if o.wrong_chunks.is_empty() {
        tr!("jobs.check_wrong", expected = o.expected.show(), by = by)
    } else {
        let list: Vec<String> = o.wrong_chunks.iter().take(8).map(|c| c.to_string()).collect();
        tr!("jobs.check_wrong_chunks", expected = o.expected.show(), by = by, chunks = list.join(", "))
    }
}

/// What happened to a worker from another host, in the reader's language.
pub fn remote(note: &RemoteNote) -> String {
    match note {
        RemoteNote::Joined { worker, peer } => tr!("jobs.remote_joined", w = worker, peer = peer),
        RemoteNote::Rejoined { worker, was } => tr!("jobs.remote_rejoined", w = worker, was = was),
        RemoteNote::Dropped { worker, after_ms } => tr!("jobs.remote_dropped", w = worker, after = after_ms),
        RemoteNote::Refused { peer, why } => tr!("jobs.remote_refused", peer = peer, why = why),
        RemoteNote::Full { peer, max } => tr!("jobs.remote_full", peer = peer, max = max),
        RemoteNote::LeftEarly { peer, why } => tr!("jobs.remote_lost", peer = peer, why = why),
    }
}

pub fn result(p: &Partial) -> String {
    p.show()
}

/// A worker's end in words: the coordinator records "exited", "killed (SIGKILL)", "died",
/// "ended", or the exit as the supervisor words it.
pub fn fate(f: &str) -> String {
    match f {
        "exited" => tr!("jobs.fate_exited"),
        "killed (SIGKILL)" => tr!("jobs.w_killed"),
        "died" => tr!("jobs.fate_died"),
        "ended" | "running" => tr!("jobs.w_gone"),
        "dropped (silent)" => tr!("jobs.fate_dropped"),
        other => other.to_string(),
    }
}

pub fn bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

pub fn millis(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// The job's rate against one thread summing the same array in memory.
pub fn rate(o: &JobOutcome) -> String {
    let gb = |b: f64| format!("{:.2}", b / 1e9);
    match o.in_memory_bytes_per_sec() {
        Some(mem) => tr!(
            "jobs.rate_vs_memory",
            rate = gb(o.rate_bytes_per_sec()),
            mem = gb(mem),
            ratio = format!("{:.1}", mem / o.rate_bytes_per_sec().max(1.0))
        ),
        None => tr!("jobs.rate", rate = gb(o.rate_bytes_per_sec())),
    }
}

/// The report `ipc-lab job` prints.
pub fn report(o: &JobOutcome) -> Vec<String> {
    let mut out = vec![
        tr!("jobs.result_line", result = o.result.show()),
        check(o),
        tr!(
            "jobs.digest_line",
            digest = format!("{:016x}", o.digest),
            checked =
                if o.expected_digest.is_some() { tr!("jobs.digest_checked") } else { tr!("jobs.digest_unchecked") }
        ),
        tr!(
            "jobs.time_line",
            time = millis(o.elapsed_ns),
            bytes = bytes(o.bytes_moved),
            share = format!("{:.0}", o.comm_share() * 100.0),
            requeued = o.requeued,
            duplicates = o.duplicates
        ),
        rate(o),
        tr!("jobs.table_head"),
    ];
    for w in &o.workers {
        out.push(format!(
            "w{:<4} {:>8} {:>9} {:>6} {:>11} {:>10} {:>10} {:>10} {:>10} {:>9}  {}",
            w.worker,
            w.pid.map_or("-".into(), |p| p.to_string()),
            millis(w.startup_ns),
            w.chunks,
            w.items,
            millis(w.compute_ns),
            millis(w.comm_ns),
            millis(w.idle_ns),
            millis(w.wait_ns),
            w.pss_kib.map_or("-".into(), |k| format!("{k} KiB")),
            fate(&w.fate)
        ));
    }
    let eventful: Vec<_> = o.chunks.iter().filter(|c| c.steps.len() > 2).collect();
    if !eventful.is_empty() {
        out.push(tr!("jobs.histories"));
        for c in eventful.iter().take(20) {
            out.push(format!("  #{} [{}..{}): {}", c.chunk, c.start, c.start + c.len, history(&c.steps)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_exit_reads_in_the_readers_language() {
        crate::i18n::set_lang(crate::lessons::Lang::ZhCn);
        let zh = super::exit_words("killed by signal 9 (SIGKILL)");
        crate::i18n::set_lang(crate::lessons::Lang::En);
        assert!(!zh.contains("killed by") && zh.contains("SIGKILL"), "{zh}");
        assert_eq!(super::exit_words("exited with code 3: boom"), "exited with code 3: boom");
        assert_eq!(super::exit_words("something else"), "something else");
    }

    /// The log lines about other hosts' workers are words of the reader's language, not the
    /// coordinator's English (the CLI tests read the English ones).
    #[test]
    fn a_remote_workers_news_reads_in_the_readers_language() {
        use super::RemoteNote;
        let notes = [
            RemoteNote::Joined { worker: 2, peer: "10.0.0.2:5000".into() },
            RemoteNote::Rejoined { worker: 3, was: 2 },
            RemoteNote::Dropped { worker: 2, after_ms: 530 },
        ];
        crate::i18n::set_lang(crate::lessons::Lang::ZhCn);
        let zh: Vec<String> = notes.iter().map(super::remote).collect();
        crate::i18n::set_lang(crate::lessons::Lang::En);
        let en: Vec<String> = notes.iter().map(super::remote).collect();
        assert_eq!(
            en,
            [
                "w2 joined from 10.0.0.2:5000",
                "w3 is w2 joining again",
                "w2 dropped: silent for 530 ms; it may join again"
            ]
        );
        for z in &zh {
            assert!(!z.contains("join") && !z.contains("silent") && z.contains("w2"), "{z}");
        }
        assert_eq!(super::fate("dropped (silent)"), "dropped (silent)");
    }
}
