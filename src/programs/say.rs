//! Words for what a scenario program's run makes as values — its verdict, its log, what its
//! processes are doing, why a step was refused — from the catalog, in the language of the thread
//! that asks (`i18n`: the window's on the UI thread, `--lang` or the locale in the CLI). Process
//! and resource names are the scenario file's display names in that language (its ids when it
//! has none). The model and the engine never make a sentence; everything people read of a
//! program run is made here.

use super::model::{Caught, Evidence, Failure, LogEntry, Note, ProgramModel, Release, Verdict};
use super::waitfor::{CycleStep, Held, Waited};
use crate::programs::spec::{PipeEnd, ProgramScenario};
use crate::supervisor::ExitKind;
use crate::telemetry::{Detail, SyncOp};
use crate::tr;

/// Chinese text without the spaces a template leaves between two Chinese characters (a space
/// sits between Chinese and Latin or digits, never between two Chinese characters).
fn tidy(text: String) -> String {
    if crate::i18n::lang() != crate::lessons::Lang::ZhCn || !text.contains(' ') {
        return text;
    }
    let wide = |c: char| {
        ('\u{2e80}'..='\u{9fff}').contains(&c)
            || ('\u{ff00}'..='\u{ffef}').contains(&c)
            || ('\u{3000}'..='\u{303f}').contains(&c)
            || ('\u{2018}'..='\u{201f}').contains(&c)
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let between = c == ' ' && i > 0 && i + 1 < chars.len() && wide(chars[i - 1]) && wide(chars[i + 1]);
        if !between {
            out.push(c);
        }
    }
    out
}

/// A process's or resource's name as people read it in this thread's language.
pub fn name<'a>(s: &'a ProgramScenario, id: &'a str) -> &'a str {
    s.display_in(id, crate::i18n::lang())
}

fn names(s: &ProgramScenario, ids: &[String]) -> String {
    ids.iter().map(|id| name(s, id)).collect::<Vec<_>>().join(&tr!("say.list_sep"))
}

/// How a process ended: "exited with code 0", "killed by signal 9 (SIGKILL)".
pub fn exit(e: ExitKind) -> String {
    match e {
        ExitKind::Code(code) => tr!("say.exited_code", code = code),
        ExitKind::Signal(signal) => {
            tr!("say.killed_by", signal = signal, name = crate::supervisor::signal_name(signal))
        }
    }
}

/// An operation's name, for "next: take fork 1".
pub fn op(op: SyncOp) -> String {
    match op {
        SyncOp::Lock => tr!("say.op_lock"),
        SyncOp::Unlock => tr!("say.op_unlock"),
        SyncOp::Wait => tr!("say.op_wait"),
        SyncOp::Post => tr!("say.op_post"),
        SyncOp::Barrier => tr!("say.op_barrier"),
        SyncOp::Send => tr!("say.op_send"),
        SyncOp::Recv => tr!("say.op_recv"),
        SyncOp::Close => tr!("say.op_close"),
        SyncOp::Sleep => tr!("say.op_sleep"),
        SyncOp::Load => tr!("say.op_load"),
        SyncOp::Store => tr!("say.op_store"),
        SyncOp::Add => tr!("say.op_add"),
        SyncOp::Join => tr!("say.op_join"),
        SyncOp::Exit => tr!("say.op_exit"),
        SyncOp::CondWait => tr!("say.op_cond_wait"),
        SyncOp::Signal => tr!("say.op_signal"),
        SyncOp::Broadcast => tr!("say.op_broadcast"),
    }
}

/// The errno's symbol (notation: EDEADLK) and what it means here, in words.
fn errno(n: i32) -> (String, String) {
    let symbol = format!("{:?}", nix::errno::Errno::from_raw(n));
    let meaning = match n {
        libc::EDEADLK => tr!("say.e_deadlk"),
        libc::EBADF => tr!("say.e_badf"),
        libc::EPIPE => tr!("say.e_pipe"),
        libc::EAGAIN => tr!("say.e_again"),
        libc::EINTR => tr!("say.e_intr"),
        libc::EINVAL => tr!("say.e_inval"),
        libc::ENOMEM => tr!("say.e_nomem"),
        libc::ECONNRESET => tr!("say.e_connreset"),
        libc::ETIMEDOUT => tr!("say.e_timedout"),
        libc::EOWNERDEAD => tr!("say.e_ownerdead"),
        libc::ENOTRECOVERABLE => tr!("say.e_notrecoverable"),
        _ => tr!("say.e_other", n = n),
    };
    (symbol, meaning)
}

/// A report's detail in words: "its owner had died (EOWNERDEAD): recovered".
pub fn detail(s: &ProgramScenario, d: &Detail) -> String {
    match d {
        Detail::OwnerDied => tr!("say.d_owner_died"),
        Detail::TryLock => tr!("say.d_try"),
        Detail::BackOff { gave_back, pause_millis } if gave_back.is_empty() => {
            tr!("say.d_backoff", ms = pause_millis)
        }
        Detail::BackOff { gave_back, pause_millis } => {
            tr!("say.d_backoff_gave", gave = names(s, gave_back), ms = pause_millis)
        }
        Detail::OwnCopy { value } => tr!("say.d_own_copy", value = value),
        Detail::AtomicNow { value } => tr!("say.d_atomic", value = value),
        Detail::ReadWroteBack => tr!("say.d_read_wrote"),
        Detail::Now { value } => tr!("say.d_now", value = value),
        Detail::Read { value } => tr!("say.d_read", value = value),
        Detail::WillWrite { value } => tr!("say.d_will_write", value = value),
        Detail::Wrote { value } => tr!("say.d_wrote", value = value),
        Detail::Code { code } => tr!("say.d_code", code = code),
        Detail::Bytes { bytes } => tr!("say.d_bytes", bytes = bytes),
        Detail::OneMessage { bytes } => tr!("say.d_one_message", bytes = bytes),
        Detail::EndOfFile { bytes } => tr!("say.d_eof", bytes = bytes),
        Detail::End { end: PipeEnd::Read } => tr!("say.d_end_read"),
        Detail::End { end: PipeEnd::Write } => tr!("say.d_end_write"),
        Detail::Errno { call, errno: n } => {
            let (symbol, meaning) = errno(*n);
            if call.is_empty() {
                tr!("say.d_errno", errno = symbol, meaning = meaning)
            } else {
                tr!("say.d_errno_in", call = call, errno = symbol, meaning = meaning)
            }
        }
        Detail::NotRecoverable => tr!("say.d_not_recoverable"),
        Detail::EarlyEof => tr!("say.d_early_eof"),
        Detail::WithMutex { mutex } => tr!("say.d_with_mutex", mutex = name(s, mutex)),
        Detail::AlreadyTrue { value } => tr!("say.d_already_true", value = value),
        Detail::Other { text } => text.clone(),
    }
}

/// What `who` does while blocked in `op` on `what` (display names): "worker 1 waits to take lock B".
fn waiting(who: &str, op: SyncOp, what: &str) -> String {
    match op {
        SyncOp::Lock => tr!("say.waits_lock", who = who, what = what),
        SyncOp::Wait => tr!("say.waits_unit", who = who, what = what),
        SyncOp::Barrier => tr!("say.waits_at", who = who, what = what),
        SyncOp::Send => tr!("say.waits_send", who = who, what = what),
        SyncOp::Recv => tr!("say.waits_recv", who = who, what = what),
        SyncOp::Join => tr!("say.waits_exit", who = who, what = what),
        SyncOp::CondWait => tr!("say.waits_signal", who = who, what = what),
        other => tr!("say.waits_in", who = who, op = self::op(other), what = what),
    }
}

/// What `who` did: "worker 1 locked lock A".
fn did(s: &ProgramScenario, who: &str, o: SyncOp, what: &str, d: Option<&Detail>) -> String {
    match (o, d) {
        (SyncOp::Lock, _) => tr!("say.did_lock", who = who, what = what),
        (SyncOp::Unlock, _) => tr!("say.did_unlock", who = who, what = what),
        (SyncOp::Wait, _) => tr!("say.did_wait", who = who, what = what),
        (SyncOp::Post, _) => tr!("say.did_post", who = who, what = what),
        (SyncOp::Barrier, _) => tr!("say.did_barrier", who = who, what = what),
        (SyncOp::Send, Some(Detail::Bytes { bytes })) => {
            tr!("say.did_send_bytes", who = who, what = what, bytes = bytes)
        }
        (SyncOp::Send, _) => tr!("say.did_send", who = who, what = what),
        (SyncOp::Recv, _) => tr!("say.did_recv", who = who, what = what),
        (SyncOp::Close, Some(Detail::End { end: PipeEnd::Read })) => tr!("say.did_close_read", who = who, what = what),
        (SyncOp::Close, _) => tr!("say.did_close_write", who = who, what = what),
        (SyncOp::Sleep, _) => tr!("say.did_sleep", who = who),
        (SyncOp::Load, _) => tr!("say.did_load", who = who, what = what),
        (SyncOp::Store, _) => tr!("say.did_store", who = who, what = what),
        (SyncOp::Add, _) => tr!("say.did_add", who = who, what = what),
        (SyncOp::Join, _) => tr!("say.did_join", who = who, what = what),
        (SyncOp::Exit, _) => tr!("say.did_exit", who = who),
        (SyncOp::CondWait, Some(Detail::AlreadyTrue { .. })) => tr!("say.did_cond_true", who = who, what = what),
        (SyncOp::CondWait, _) => tr!("say.did_cond_wait", who = who, what = what),
        (SyncOp::Signal, _) => tr!("say.did_signal", who = who, what = what),
        (SyncOp::Broadcast, _) => tr!("say.did_broadcast", who = who, what = what),
    }
    .to_string()
        + &match d.filter(|d| !matches!(d, Detail::End { .. } | Detail::Bytes { .. } | Detail::WithMutex { .. })) {
            Some(d) => tr!("say.detail_after", detail = detail(s, d)),
            None => String::new(),
        }
}

/// What the kernel does with what a killed process held.
pub fn release(s: &ProgramScenario, r: &Release) -> String {
    tidy(release_words(s, r))
}

fn release_words(s: &ProgramScenario, r: &Release) -> String {
    match r {
        Release::RobustMutex(what) => tr!("say.release_mutex", what = name(s, what)),
        Release::FileLock(what) => tr!("say.release_file_lock", what = name(s, what)),
        Release::SemaphoreUnits { resource, units } => {
            tr!("say.release_units", what = name(s, resource), units = units)
        }
        Release::PipeEnds(what) => tr!("say.release_pipe", what = name(s, what)),
    }
}

/// Process `i`'s name as people read it (its number when the run has no such process).
fn process_name(m: &ProgramModel, i: usize) -> String {
    m.procs.get(i).map_or_else(|| (i + 1).to_string(), |p| name(&m.scenario, &p.name).to_string())
}

/// "worker 2: lock record A refused: EDEADLK ...", for the log and for a failure alike.
fn refused(s: &ProgramScenario, who: &str, o: SyncOp, resource: &str, d: Option<&Detail>) -> String {
    let detail = d.map_or_else(String::new, |d| self::detail(s, d));
    tr!("say.refused", who = who, op = op(o), what = name(s, resource), detail = detail)
}

/// "next: take fork 1", for a process at its gate.
fn next_phrase(s: &ProgramScenario, o: SyncOp, resource: &str) -> String {
    if resource.is_empty() {
        tr!("doing.next", op = op(o))
    } else {
        tr!("doing.next_on", op = op(o), name = name(s, resource))
    }
}

/// One line of the log.
pub fn entry(m: &ProgramModel, e: &LogEntry) -> String {
    tidy(entry_words(m, e))
}

fn entry_words(m: &ProgramModel, e: &LogEntry) -> String {
    let s = &m.scenario;
    let who = |i: usize| process_name(m, i);
    match e {
        LogEntry::Waits { process, op, resource } => waiting(&who(*process), *op, name(s, resource)),
        LogEntry::Did { process, op, resource, detail } => {
            did(s, &who(*process), *op, name(s, resource), detail.as_ref())
        }
        LogEntry::Refused { process, op, resource, detail } => {
            refused(s, &who(*process), *op, resource, detail.as_ref())
        }
        LogEntry::Said { process, message } => tr!("say.said", who = who(*process), message = message),
        LogEntry::Exited { process, exit: e } => tr!("say.ended", who = who(*process), how = exit(*e)),
        LogEntry::Killed { process, releases } => {
            let what = if releases.is_empty() {
                tr!("say.held_nothing")
            } else {
                releases.iter().map(|r| release(s, r)).collect::<Vec<_>>().join(&tr!("say.list_sep"))
            };
            tr!("say.killed", who = who(*process), releases = what)
        }
    }
}

/// A deadlock's cycle in one sentence: "worker 1 holds lock A and waits for lock B, which
/// worker 2 holds; ...".
pub fn cycle(s: &ProgramScenario, steps: &[CycleStep]) -> String {
    tidy(cycle_words(s, steps))
}

fn cycle_words(s: &ProgramScenario, steps: &[CycleStep]) -> String {
    let parts: Vec<String> = steps
        .iter()
        .map(|c| {
            let by = name(s, &c.held_by);
            let waits = match &c.waits {
                Waited::Resource(r) => tr!("say.w_resource", what = name(s, r), by = by),
                Waited::Data(r) => tr!("say.w_data", what = name(s, r), by = by),
                Waited::Room(r) => tr!("say.w_room", what = name(s, r), by = by),
                Waited::QueueRoom(r) => tr!("say.w_queue_room", what = name(s, r), by = by),
                Waited::QueueMessage(r) => tr!("say.w_queue_msg", what = name(s, r), by = by),
                Waited::Post(r) => tr!("say.w_post", what = name(s, r), by = by),
                Waited::Exit(_) => tr!("say.w_exit", by = by),
                Waited::Signal(r) => tr!("say.w_signal", what = name(s, r), by = by),
            };
            let who = name(s, &c.process);
            let held: Vec<String> = c
                .holds
                .iter()
                .map(|h| match h {
                    Held::Resource(r) => name(s, r).to_string(),
                    Held::WriteEnd(p) => tr!("say.held_write_end", what = name(s, p)),
                    Held::ReadEnd(p) => tr!("say.held_read_end", what = name(s, p)),
                })
                .collect();
            if held.is_empty() {
                tr!("say.c_step", who = who, waits = waits)
            } else {
                tr!("say.c_step_holds", who = who, held = held.join(&tr!("say.list_sep")), waits = waits)
            }
        })
        .collect();
    tr!("say.c_sentence", steps = parts.join(&tr!("say.c_sep")))
}

/// One piece of the kernel's evidence.
pub fn evidence(s: &ProgramScenario, e: &Evidence) -> String {
    tidy(evidence_words(s, e))
}

fn evidence_words(s: &ProgramScenario, e: &Evidence) -> String {
    match e {
        Evidence::Asleep { process, pid, state, wchan } => {
            tr!("say.ev_asleep", who = name(s, process), pid = pid, state = state, wchan = wchan)
        }
        Evidence::FileLock { process, pid, waits, mode, byte, resource } => {
            let mode = if mode == "read" { tr!("say.lock_read") } else { tr!("say.lock_write") };
            let on = match resource {
                Some(r) => tr!("say.byte_of", n = byte, what = name(s, r)),
                None => tr!("say.byte", n = byte),
            };
            if *waits {
                tr!("say.ev_lock_waits", who = name(s, process), pid = pid, mode = mode, on = on)
            } else {
                tr!("say.ev_lock_holds", who = name(s, process), pid = pid, mode = mode, on = on)
            }
        }
    }
}

/// The kernel's EDEADLK, in a sentence.
pub fn caught(s: &ProgramScenario, c: &Caught) -> String {
    tidy(caught_words(s, c))
}

fn caught_words(s: &ProgramScenario, c: &Caught) -> String {
    let holders = if c.holders.is_empty() { tr!("say.another_process") } else { names(s, &c.holders) };
    tr!("say.caught", who = name(s, &c.process), what = name(s, &c.resource), holders = holders)
}

/// Why a run failed, one reason.
pub fn failure(s: &ProgramScenario, f: &Failure) -> String {
    tidy(failure_words(s, f))
}

fn failure_words(s: &ProgramScenario, f: &Failure) -> String {
    match f {
        Failure::Exited { process, exit: e } => tr!("say.ended", who = name(s, process), how = exit(*e)),
        Failure::Refused { process, op, resource, detail } => {
            refused(s, name(s, process), *op, resource, detail.as_ref())
        }
        Failure::Said { process, message } => tr!("say.said", who = name(s, process), message = message),
        Failure::ChannelsClosed => tr!("say.channels_closed"),
        Failure::NoVerdict => tr!("say.no_verdict"),
    }
}

/// What a process was told on the way.
pub fn note(s: &ProgramScenario, n: &Note) -> String {
    tidy(note_words(s, n))
}

fn note_words(s: &ProgramScenario, n: &Note) -> String {
    tr!(
        "say.note",
        who = name(s, &n.process),
        op = op(n.op),
        what = name(s, &n.resource),
        detail = detail(s, &n.detail)
    )
}

/// The verdict's headline word(s): "DEADLOCK", "completed in 0.05 s".
pub fn verdict_word(v: &Verdict, secs: f64) -> String {
    match v {
        Verdict::Completed => tr!("programs.completed", secs = format!("{secs:.2}")),
        Verdict::Deadlock { .. } => tr!("programs.deadlock"),
        Verdict::KernelCaught { .. } => tr!("programs.kernel_caught"),
        Verdict::Hang { .. } => tr!("programs.hang"),
        Verdict::Suspected { .. } => tr!("programs.suspected"),
        Verdict::Failed { .. } => tr!("programs.ended"),
        Verdict::TimedOut { after_secs } => tr!("programs.timed_out", secs = after_secs),
        Verdict::Recovered { .. } => tr!("programs.recovered_word"),
        Verdict::Stopped { .. } => tr!("programs.stopped"),
    }
}

/// The verdict's sentence, when it has one: the cycle, the kernel's refusal, what ended it.
pub fn verdict_sentence(s: &ProgramScenario, v: &Verdict) -> Option<String> {
    verdict_sentence_words(s, v).map(tidy)
}

fn verdict_sentence_words(s: &ProgramScenario, v: &Verdict) -> Option<String> {
    match v {
        Verdict::Completed | Verdict::TimedOut { .. } => None,
        Verdict::Deadlock { cycle: c, .. } => Some(cycle(s, c)),
        Verdict::KernelCaught { caught: c } => Some(caught(s, c)),
        Verdict::Suspected { cycle: c, .. } => Some(tr!("programs.suspected_why", cycle = cycle(s, c))),
        Verdict::Hang { .. } => Some(tr!("programs.hang_why")),
        Verdict::Failed { why } => {
            Some(why.iter().map(|f| failure(s, f)).collect::<Vec<_>>().join(&tr!("say.list_sep")))
        }
        Verdict::Recovered { victims } => Some(tr!("programs.recovered", victims = names(s, victims))),
        Verdict::Stopped { before: None } => Some(tr!("say.stopped")),
        Verdict::Stopped { before: Some(b) } => {
            let during = match verdict_sentence(s, b).filter(|_| matches!(**b, Verdict::Deadlock { .. })) {
                Some(sentence) => tr!("say.during_sentence", word = verdict_word(b, 0.0), sentence = sentence),
                None => verdict_word(b, 0.0),
            };
            Some(tr!("say.stopped_during", during = during))
        }
    }
}

/// The verdict's evidence from the kernel, a line each.
pub fn verdict_evidence(s: &ProgramScenario, v: &Verdict) -> Vec<String> {
    match v {
        Verdict::Deadlock { evidence: e, .. }
        | Verdict::Suspected { evidence: e, .. }
        | Verdict::Hang { evidence: e } => e.iter().map(|e| evidence(s, e)).collect(),
        _ => Vec::new(),
    }
}

/// What process `i` is doing in a few words, for its box on the stage ("waits for fork 1",
/// "next: take fork 1", "exited with code 0").
pub fn doing_short(m: &ProgramModel, i: usize) -> String {
    tidy(doing_short_words(m, i))
}

fn doing_short_words(m: &ProgramModel, i: usize) -> String {
    let s = &m.scenario;
    let p = &m.procs[i];
    if let Some(e) = p.exit {
        return exit(e);
    }
    if let Some((op, r)) = &p.blocked {
        let r = name(s, r);
        return match op {
            SyncOp::Join => tr!("doing.waits_exit", name = r),
            SyncOp::Send => tr!("doing.waits_send", name = r),
            SyncOp::Recv => tr!("doing.waits_recv", name = r),
            SyncOp::Barrier => tr!("doing.waits_at", name = r),
            _ => tr!("doing.waits_for", name = r),
        };
    }
    if p.sleeping {
        return tr!("doing.sleeping");
    }
    if let Some((o, r, _)) = &p.next {
        return next_phrase(s, *o, r);
    }
    tr!("doing.running")
}

/// What process `i` is doing, and whom it waits for.
pub fn doing(m: &ProgramModel, i: usize) -> String {
    tidy(doing_words(m, i))
}

fn doing_words(m: &ProgramModel, i: usize) -> String {
    let s = &m.scenario;
    let p = &m.procs[i];
    if let Some(e) = p.exit {
        return exit(e);
    }
    if let Some((o, r)) = &p.blocked {
        // Said of the process itself ("waits to take lock B"), after its name elsewhere.
        let phrase = waiting("", *o, name(s, r)).trim_start().to_string();
        let waits = m.graph.waits_for(i).unwrap_or("");
        let mut holders: Vec<String> = m
            .graph
            .holders(waits)
            .iter()
            .filter(|&&h| h != i)
            .map(|&h| name(s, &m.procs[h].name).to_string())
            .collect();
        holders.dedup();
        // A reader that still holds its own copy of the write end waits for itself: the
        // lesson of the pipe that never ends.
        if waits.starts_with("the write end of ") && m.graph.holders(waits).contains(&i) {
            return tr!("say.by_own_write_end", waits = phrase);
        }
        if holders.is_empty() || *o == SyncOp::Join {
            return phrase;
        }
        let by = holders.join(&tr!("say.list_sep"));
        return match Waited::of(waits) {
            Waited::Post(_) => tr!("say.by_post", waits = phrase, who = by),
            Waited::Signal(_) => tr!("say.by_signal", waits = phrase, who = by),
            Waited::QueueRoom(_) => tr!("say.by_empty", waits = phrase, who = by),
            Waited::QueueMessage(_) => tr!("say.by_fill", waits = phrase, who = by),
            Waited::Data(_) | Waited::Room(_) => tr!("say.by_other_end", waits = phrase, who = by),
            _ => tr!("say.by_held", waits = phrase, who = by),
        };
    }
    if p.sleeping {
        return tr!("doing.sleeping");
    }
    if let Some((o, r, d)) = &p.next {
        let next = next_phrase(s, *o, r);
        return match d {
            Some(d) => tr!("say.with_detail", line = next, detail = detail(s, d)),
            None => next,
        };
    }
    tr!("doing.running")
}

/// Why a step or a kill was not done.
pub fn refusal(m: &ProgramModel, r: &crate::programs::run::Refusal) -> String {
    tidy(refusal_words(m, r))
}

fn refusal_words(m: &ProgramModel, r: &crate::programs::run::Refusal) -> String {
    use crate::programs::run::Refusal;
    let who = |i: usize| process_name(m, i);
    match r {
        Refusal::NoProcess(i) => tr!("say.no_process", n = i + 1),
        Refusal::NotWaiting(i) => tr!("say.not_waiting", who = who(*i), doing = doing(m, *i)),
        Refusal::PickedAlready(i) => tr!("say.picked_already", who = who(*i)),
        Refusal::AlreadyExited(i) => tr!("say.already_exited", who = who(*i)),
        Refusal::Signal(why) => why.clone(),
    }
}

/// `ipc-lab run`'s text report of a run: the verdict, the kernel's evidence, the counters,
/// what the processes were told, why they failed.
pub fn outcome(s: &ProgramScenario, o: &crate::programs::run::ProgramOutcome) -> Vec<String> {
    let mut lines = Vec::new();
    let title = match o.variant.as_str() {
        "" => o.scenario.clone(),
        v => {
            let shown = s.variant_in(v, crate::i18n::lang()).unwrap_or(v);
            tr!("cli.scenario_variant", scenario = o.scenario, variant = shown)
        }
    };
    let word = verdict_word(&o.verdict, o.took_secs);
    lines.push(match verdict_sentence(s, &o.verdict) {
        Some(sentence) => tr!("cli.verdict_sentence", title = title, word = word, sentence = sentence),
        None => tr!("cli.verdict", title = title, word = word),
    });
    for e in verdict_evidence(s, &o.verdict) {
        lines.push(format!("  {}", tr!("cli.kernel", evidence = e)));
    }
    for (counter, value) in &o.counters {
        let shown = name(s, counter);
        lines.push(match s.expect.get(counter) {
            Some(&want) if o.lost_updates.is_some() && *value < want => {
                format!("  {}", tr!("cli.lost", name = shown, value = value, lost = want - value, want = want))
            }
            _ => format!("  {shown} = {value}"),
        });
    }
    for (process, values) in &o.locals {
        for (counter, value) in values {
            let (counter, process) = (name(s, counter), name(s, process));
            lines.push(format!("  {}", tr!("cli.own_copy", name = counter, value = value, process = process)));
        }
    }
    // Waits long enough to notice (a starved process's shows here).
    for (process, secs, resource) in o.longest_waits.iter().filter(|(_, secs, _)| *secs >= 0.01) {
        let (process, resource) = (name(s, process), name(s, resource));
        lines.push(format!(
            "  {}",
            tr!("cli.longest_wait", who = process, secs = format!("{secs:.2}"), what = resource)
        ));
    }
    lines.extend(o.notes.iter().map(|n| format!("  {}", note(s, n))));
    if let Some(c) = o.kernel_caught.as_ref() {
        lines.push(format!("  {}", caught(s, c)));
    }
    if !matches!(o.verdict, Verdict::Failed { .. }) {
        lines.extend(o.errors.iter().map(|e| format!("  {}", failure(s, e))));
    }
    for (counter, want, got) in &o.unexpected {
        lines.push(format!("  {}", tr!("cli.unexpected", name = name(s, counter), want = want, got = got)));
    }
    lines
}
