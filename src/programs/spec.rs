//! Scenario programs (issue 4/7): a scenario as data, where each process runs a small program of
//! real operations on shared resources: lock and unlock a robust mutex or an fcntl record lock,
//! wait on and post a semaphore, meet at a barrier, increment a shared counter, sleep, repeat.
//! Built-in scenarios are files in `scenarios/`, compiled in; a file of the same shape runs too.
//! A bad file is an error naming the field (serde's line and column) or the step that is wrong.

use serde::{Deserialize, Serialize};

/// A scenario of processes running programs on shared resources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramScenario {
    pub id: String,
    pub title: String,
    /// What it shows, in a few sentences.
    pub about: String,
    pub resources: Vec<ResourceDecl>,
    pub processes: Vec<ProcessDecl>,
    /// The variant that completes (the fix), if the scenario has one.
    #[serde(default)]
    pub fixed: Option<Vec<ProcessDecl>>,
    /// Other fixes by name (e.g. a race fixed with a mutex, a semaphore or an atomic add).
    #[serde(default)]
    pub variants: std::collections::BTreeMap<String, Vec<ProcessDecl>>,
    /// Counter values a completed run must end with (fixed variant), by resource name.
    #[serde(default)]
    pub expect: std::collections::BTreeMap<String, u64>,
    /// Things to try with you as the scheduler, each won by an outcome.
    #[serde(default)]
    pub challenges: Vec<ChallengeDecl>,
    /// Display text in other languages, by language tag (`zh-CN`), beside the English above.
    /// Names stay the stable ids the steps use; only what people read is translated.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub text: std::collections::BTreeMap<String, ScenarioText>,
}

/// A scenario's words in one language: what people read, never what the steps name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioText {
    pub title: String,
    pub about: String,
    /// Process and resource names (by the id the steps use) as people read them.
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
    /// Variant names ("fixed", "semaphore", ...) as people read them.
    #[serde(default)]
    pub variants: std::collections::BTreeMap<String, String>,
    /// The challenges' texts, in the order of `challenges`.
    #[serde(default)]
    pub challenges: Vec<String>,
}

/// A challenge: run `variant` as the scheduler and bring about `goal`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeDecl {
    /// "" as written, "fixed", or a named variant.
    #[serde(default)]
    pub variant: String,
    pub goal: Goal,
    /// The challenge as the student reads it.
    pub text: String,
}

/// What wins a challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// Bring the processes into a deadlock (the kernel catching one counts).
    Deadlock,
    /// Finish, every process well, without ever deadlocking.
    Complete,
    /// Finish with a counter short of what it should be.
    LostUpdate,
    /// Keep processes busy failing: at least two of them back off again and again
    /// ([`LIVELOCK_BACKOFFS`] times each in a row, none of them getting all it wants between).
    Livelock,
}

/// Back-offs each of two processes must make for a livelock challenge to be won.
pub const LIVELOCK_BACKOFFS: u64 = 3;

impl Goal {
    /// The word scenario and lesson files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Deadlock => "deadlock",
            Goal::Complete => "complete",
            Goal::LostUpdate => "lost-update",
            Goal::Livelock => "livelock",
        }
    }
}

impl std::str::FromStr for Goal {
    type Err = String;
    fn from_str(s: &str) -> Result<Goal, String> {
        match s {
            "deadlock" => Ok(Goal::Deadlock),
            "complete" => Ok(Goal::Complete),
            "lost-update" => Ok(Goal::LostUpdate),
            "livelock" => Ok(Goal::Livelock),
            _ => Err(format!("unknown goal '{s}' (known: deadlock, complete, lost-update, livelock)")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDecl {
    pub name: String,
    pub kind: ResourceKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A robust process-shared mutex.
    Mutex,
    /// A process-shared counting semaphore.
    Semaphore { initial: u32 },
    /// A shared u64 (increments are racy unless a step says atomic).
    Counter,
    /// An fcntl record lock (one byte of the run's lock file).
    FileLock,
    /// A barrier for `parties` arrivals (reusable, round after round).
    Barrier { parties: u32 },
    /// An anonymous pipe. Like children of `fork`, every process starts with both ends open and
    /// closes the ones it does not use (or forgets to: that is a lesson).
    Pipe,
    /// A POSIX message queue holding at most `capacity` messages; `send` puts one message in
    /// (blocking while it is full), `recv` takes one out (blocking while it is empty).
    Queue { capacity: u32 },
    /// A counter in each process's own memory: every process starts with its own copy at 0, as
    /// after `fork`, and an increment changes only the incrementer's copy.
    LocalCounter,
    /// A process-shared condition variable, waited on with a mutex (`cond_wait`), woken by
    /// `signal` or `broadcast`; a signal nobody waits for is lost.
    Condvar,
    /// A fair lock (a ticket lock): taken in the order asked for, so nobody starves.
    FairMutex,
}

impl ResourceKind {
    /// Resources data is sent through (`send`/`recv`).
    pub fn is_link(self) -> bool {
        matches!(self, ResourceKind::Pipe | ResourceKind::Queue { .. })
    }
}

/// The pseudo-resource a process waiting on condition variable `condvar` waits for: a signal,
/// which only processes whose programs signal it can send.
pub fn signal_of(condvar: &str) -> String {
    format!("a signal of {condvar}")
}

/// The pseudo-resource a process waiting to join `process` waits for: its exit, which only it
/// "holds".
pub fn exit_of(process: &str) -> String {
    format!("the exit of {process}")
}

/// The pseudo-resources of a queue: a blocked sender waits for whoever may receive from it, a
/// blocked receiver for whoever may send to it.
pub fn queue_side(queue: &str, receivers: bool) -> String {
    if receivers { format!("a receiver of {queue}") } else { format!("a sender to {queue}") }
}

/// The pseudo-resource a semaphore waiter waits for: a post, which only the processes whose
/// programs post it can make (whether they took a unit first, as with a lock, or only signal,
/// as a producer posts "full slots").
pub fn post_of(semaphore: &str) -> String {
    format!("a post of {semaphore}")
}

/// Largest message a queue step may send (Linux's default `msgsize_max`).
pub const MAX_QUEUE_MESSAGE: u64 = 8192;

/// An end of a pipe (its value indexes a process's pair of ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipeEnd {
    Read = 0,
    Write = 1,
}

/// The pseudo-resource a pipe waiter waits for, for the wait-for graph and its sentence: a reader
/// waits for whoever holds the write end, a blocked writer for whoever holds the read end.
pub fn pipe_end_name(pipe: &str, end: PipeEnd) -> String {
    match end {
        PipeEnd::Read => format!("the read end of {pipe}"),
        PipeEnd::Write => format!("the write end of {pipe}"),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessDecl {
    pub name: String,
    pub steps: Vec<Step>,
}

/// One operation of a program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Lock {
        resource: String,
    },
    Unlock {
        resource: String,
    },
    Wait {
        resource: String,
    },
    Post {
        resource: String,
    },
    Barrier {
        resource: String,
    },
    Increment {
        resource: String,
        #[serde(default)]
        atomic: bool,
    },
    Sleep {
        millis: u64,
    },
    Repeat {
        times: u64,
        steps: Vec<Step>,
    },
    /// End the process here, holding whatever it holds (as a crash would).
    Exit {
        code: i32,
    },
    /// Write `bytes` bytes into a pipe (blocks while it is full).
    Send {
        resource: String,
        bytes: u64,
    },
    /// Read `bytes` bytes from a pipe (blocks while it is empty); with `until_eof`, read until
    /// every write end is closed.
    Recv {
        resource: String,
        #[serde(default)]
        bytes: u64,
        #[serde(default)]
        until_eof: bool,
    },
    /// Close this process's copy of one end of a pipe.
    Close {
        resource: String,
        end: PipeEnd,
    },
    /// Wait until the named process has exited (as `Process.join()` waits for a child).
    Join {
        process: String,
    },
    /// Wait on condition variable `resource`, holding `mutex` (which the wait gives up while
    /// asleep and takes back before it returns). With `until`, only while the shared counter
    /// `until` is below `at_least`, checked in a loop (the predicate that makes the wait safe);
    /// without it, once, whatever the state: a signal sent before the wait is never seen.
    CondWait {
        resource: String,
        mutex: String,
        #[serde(default)]
        until: Option<String>,
        #[serde(default)]
        at_least: u64,
    },
    /// Wake one waiter of condition variable `resource` (or none: then the signal is lost).
    Signal {
        resource: String,
    },
    /// Wake every waiter of condition variable `resource`.
    Broadcast {
        resource: String,
    },
    /// Take every lock listed, or none: when one is busy, give back those taken, pause a random
    /// while of up to `backoff_millis`, and try again (deadlock avoided by never waiting while
    /// holding).
    LockAll {
        resources: Vec<String>,
        #[serde(default = "default_backoff")]
        backoff_millis: u64,
    },
}

fn default_backoff() -> u64 {
    10
}

impl Step {
    /// The resources the step works on (a join names a process, not a resource).
    pub fn resources(&self) -> Vec<&str> {
        match self {
            Step::Lock { resource }
            | Step::Unlock { resource }
            | Step::Wait { resource }
            | Step::Post { resource }
            | Step::Barrier { resource }
            | Step::Increment { resource, .. }
            | Step::Send { resource, .. }
            | Step::Recv { resource, .. }
            | Step::Close { resource, .. }
            | Step::Signal { resource }
            | Step::Broadcast { resource } => vec![resource.as_str()],
            Step::CondWait { resource, mutex, until, .. } => {
                let mut r = vec![resource.as_str(), mutex.as_str()];
                r.extend(until.as_deref());
                r
            }
            Step::LockAll { resources, .. } => resources.iter().map(String::as_str).collect(),
            Step::Sleep { .. } | Step::Repeat { .. } | Step::Exit { .. } | Step::Join { .. } => Vec::new(),
        }
    }

    /// Visits every step, nested ones included.
    pub fn visit<'a>(steps: &'a [Step], f: &mut impl FnMut(&'a Step)) {
        for s in steps {
            f(s);
            if let Step::Repeat { steps, .. } = s {
                Step::visit(steps, f);
            }
        }
    }
}

/// Bounds a scenario must keep (processes per run, nesting, work per process).
pub const MAX_PROCESSES: usize = 9;
const MAX_DEPTH: usize = 4;
const MAX_OPS: u64 = 100_000_000;
const MAX_SLEEP_MILLIS: u64 = 60_000;

impl ProgramScenario {
    pub fn parse(text: &str) -> Result<ProgramScenario, String> {
        let s: ProgramScenario =
            serde_json::from_str(text).map_err(|e| format!("not a valid scenario program: {e}"))?;
        s.validate()?;
        Ok(s)
    }

    /// Every variant with its processes: `""` as written, `"fixed"` if there is a fix, then the
    /// named ones.
    pub fn all_variants(&self) -> Vec<(&str, &[ProcessDecl])> {
        let mut all = vec![("", self.processes.as_slice())];
        all.extend(self.fixed.as_deref().map(|f| ("fixed", f)));
        all.extend(self.variants.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
        all
    }

    /// The processes of a variant: `""` as written, `"fixed"`, or one of `variants` by name.
    pub fn processes(&self, variant: &str) -> Result<&[ProcessDecl], String> {
        match (variant, &self.fixed) {
            ("", _) => Ok(&self.processes),
            ("fixed", Some(f)) => Ok(f),
            (name, _) => self.variants.get(name).map(Vec::as_slice).ok_or_else(|| {
                let known: Vec<&str> =
                    self.all_variants().into_iter().map(|(v, _)| v).filter(|v| !v.is_empty()).collect();
                format!("scenario '{}' has no variant '{name}' (it has: {})", self.id, known.join(", "))
            }),
        }
    }

    /// Operations the variant's processes perform in all (repeats multiplied), at most
    /// `u64::MAX`: a run of many is not reported operation by operation.
    pub fn work(&self, variant: &str) -> u64 {
        fn count(steps: &[Step]) -> u64 {
            steps.iter().fold(0u64, |n, s| {
                n.saturating_add(match s {
                    Step::Repeat { times, steps } => times.saturating_mul(count(steps)),
                    _ => 1,
                })
            })
        }
        self.processes(variant).map_or(0, |ps| ps.iter().fold(0u64, |n, p| n.saturating_add(count(&p.steps))))
    }

    /// The scenario's words in `lang`, when it has them (English is the fields themselves).
    fn words(&self, lang: crate::lessons::Lang) -> Option<&ScenarioText> {
        self.text.get(lang.as_str())
    }

    pub fn title_in(&self, lang: crate::lessons::Lang) -> &str {
        self.words(lang).map_or(&self.title, |t| &t.title)
    }

    pub fn about_in(&self, lang: crate::lessons::Lang) -> &str {
        self.words(lang).map_or(&self.about, |t| &t.about)
    }

    /// A process's or resource's name as people read it in `lang` (its id when untranslated).
    pub fn display_in<'a>(&'a self, id: &'a str, lang: crate::lessons::Lang) -> &'a str {
        self.words(lang).and_then(|t| t.names.get(id)).map_or(id, String::as_str)
    }

    /// A named variant's name in `lang` (its id when untranslated); "" and "fixed" are the
    /// catalog's words, not the file's, unless the file names them.
    pub fn variant_in<'a>(&'a self, variant: &'a str, lang: crate::lessons::Lang) -> Option<&'a str> {
        self.words(lang).and_then(|t| t.variants.get(variant)).map(String::as_str)
    }

    /// Challenge `i`'s text in `lang`.
    pub fn challenge_in(&self, i: usize, lang: crate::lessons::Lang) -> Option<&str> {
        let english = self.challenges.get(i).map(|c| c.text.as_str());
        self.words(lang).and_then(|t| t.challenges.get(i)).map(String::as_str).or(english)
    }

    /// What people would read in English because this file lacks `lang`'s words for it: the
    /// title, a name, a variant, a challenge (empty when complete, and always for English).
    pub fn missing_text(&self, lang: crate::lessons::Lang) -> Vec<String> {
        if lang == crate::lessons::Lang::En {
            return Vec::new();
        }
        let Some(t) = self.words(lang) else { return vec![format!("no {lang} text at all")] };
        let mut missing = Vec::new();
        let mut ids: Vec<&str> = self.resources.iter().map(|r| r.name.as_str()).collect();
        let variants: Vec<&str> = self.all_variants().into_iter().map(|(v, _)| v).filter(|v| !v.is_empty()).collect();
        for (_, procs) in self.all_variants() {
            ids.extend(procs.iter().map(|p| p.name.as_str()));
        }
        ids.sort();
        ids.dedup();
        missing.extend(ids.into_iter().filter(|id| !t.names.contains_key(*id)).map(|id| format!("name '{id}'")));
        missing.extend(variants.into_iter().filter(|v| !t.variants.contains_key(*v)).map(|v| format!("variant '{v}'")));
        if t.challenges.len() != self.challenges.len() {
            missing.push(format!("{} challenge texts for {} challenges", t.challenges.len(), self.challenges.len()));
        }
        missing
    }

    pub fn resource(&self, name: &str) -> Option<(usize, &ResourceDecl)> {
        self.resources.iter().enumerate().find(|(_, r)| r.name == name)
    }

    fn validate(&self) -> Result<(), String> {
        if self.resources.len() > crate::sync::MAX_SLOTS {
            return Err(format!("{} resources, at most {}", self.resources.len(), crate::sync::MAX_SLOTS));
        }
        for (i, r) in self.resources.iter().enumerate() {
            if self.resources[..i].iter().any(|o| o.name == r.name) {
                return Err(format!("two resources are named '{}'", r.name));
            }
            // The wait-for graph names roles with these words; a resource named so would be
            // taken for one.
            let roles = [
                "a post of ",
                "a receiver of ",
                "a sender to ",
                "the exit of ",
                "the read end of ",
                "the write end of ",
                "a signal of ",
            ];
            if r.name.trim().is_empty() || roles.iter().any(|p| r.name.starts_with(p)) {
                return Err(format!(
                    "resource {}: the name '{}' is empty or reads as a role of the wait-for graph",
                    i + 1,
                    r.name
                ));
            }
            if let ResourceKind::Barrier { parties } = r.kind
                && parties == 0
            {
                return Err(format!("barrier '{}' needs at least one party", r.name));
            }
            if let ResourceKind::Queue { capacity } = r.kind
                && !(1..=65536).contains(&capacity)
            {
                return Err(format!("queue '{}' holds 1 to 65536 messages, not {capacity}", r.name));
            }
            if let ResourceKind::Semaphore { initial } = r.kind
                && initial > i32::MAX as u32
            {
                return Err(format!("semaphore '{}' starts at {initial}, above SEM_VALUE_MAX ({})", r.name, i32::MAX));
            }
        }
        for (variant, processes) in self.all_variants() {
            let what = if variant.is_empty() { "processes" } else { variant };
            if processes.is_empty() || processes.len() > MAX_PROCESSES {
                return Err(format!("{what}: 1 to {MAX_PROCESSES} processes, not {}", processes.len()));
            }
            for (i, p) in processes.iter().enumerate() {
                if processes[..i].iter().any(|o| o.name == p.name) {
                    return Err(format!("{what}: two processes are named '{}'", p.name));
                }
                self.check_steps(&p.steps, 0, 1, processes, &p.name)
                    .map_err(|e| format!("{what}: process '{}': {e}", p.name))?;
            }
        }
        for c in &self.challenges {
            self.processes(&c.variant).map_err(|e| format!("challenge '{}': {e}", c.text))?;
            let counts =
                self.expect.keys().any(|n| self.resource(n).is_some_and(|(_, r)| r.kind == ResourceKind::Counter));
            if c.goal == Goal::LostUpdate && !counts {
                return Err(format!("challenge '{}': losing an update needs a shared counter in expect", c.text));
            }
        }
        for name in self.expect.keys() {
            match self.resource(name) {
                Some((_, r)) if matches!(r.kind, ResourceKind::Counter | ResourceKind::LocalCounter) => {}
                _ => return Err(format!("expect names '{name}', which is not a counter")),
            }
        }
        // A translation names only what the file has: a typo would silently show the id.
        for (lang, t) in &self.text {
            let known: crate::lessons::Lang = lang.parse().map_err(|e| format!("text: {e}"))?;
            if known == crate::lessons::Lang::En {
                return Err("text: English is the file's own fields, not a translation".into());
            }
            let is_process = |id: &str| self.all_variants().iter().any(|(_, ps)| ps.iter().any(|p| p.name == id));
            if let Some(id) = t.names.keys().find(|id| self.resource(id).is_none() && !is_process(id)) {
                return Err(format!("text.{lang}.names: '{id}' is neither a resource nor a process"));
            }
            if let Some(v) = t.variants.keys().find(|v| self.processes(v).is_err() || v.is_empty()) {
                return Err(format!("text.{lang}.variants: '{v}' is not a variant"));
            }
            if t.challenges.len() > self.challenges.len() {
                return Err(format!(
                    "text.{lang}.challenges: {} texts for {} challenges",
                    t.challenges.len(),
                    self.challenges.len()
                ));
            }
        }
        Ok(())
    }

    /// Checks each step's resource kind, nesting and total work (`times` multiplies).
    fn check_steps(
        &self,
        steps: &[Step],
        depth: usize,
        times: u64,
        processes: &[ProcessDecl],
        me: &str,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("repeats nest deeper than {MAX_DEPTH}"));
        }
        let kind = |name: &str| self.resource(name).map(|(_, r)| r.kind).ok_or(format!("no resource named '{name}'"));
        for (i, step) in steps.iter().enumerate() {
            let wrong = |what: &str| Err(format!("step {}: {what}", i + 1));
            match step {
                Step::Lock { resource } | Step::Unlock { resource } => {
                    if !matches!(
                        kind(resource)?,
                        ResourceKind::Mutex | ResourceKind::FileLock | ResourceKind::FairMutex
                    ) {
                        return wrong(&format!("'{resource}' is not a mutex, fair mutex or file lock"));
                    }
                }
                Step::LockAll { resources, backoff_millis } => {
                    if resources.is_empty() {
                        return wrong("lock_all names no locks");
                    }
                    if resources.iter().enumerate().any(|(k, r)| resources[..k].contains(r)) {
                        return wrong("lock_all names a lock twice (it would wait for itself)");
                    }
                    for resource in resources {
                        if !matches!(
                            kind(resource)?,
                            ResourceKind::Mutex | ResourceKind::FileLock | ResourceKind::FairMutex
                        ) {
                            return wrong(&format!("'{resource}' is not a mutex, fair mutex or file lock"));
                        }
                    }
                    if *backoff_millis > MAX_SLEEP_MILLIS {
                        return wrong(&format!("a back-off of {backoff_millis} ms is over a minute"));
                    }
                }
                Step::Wait { resource } | Step::Post { resource } => {
                    if !matches!(kind(resource)?, ResourceKind::Semaphore { .. }) {
                        return wrong(&format!("'{resource}' is not a semaphore"));
                    }
                }
                Step::Barrier { resource } => {
                    if !matches!(kind(resource)?, ResourceKind::Barrier { .. }) {
                        return wrong(&format!("'{resource}' is not a barrier"));
                    }
                }
                Step::Increment { resource, atomic } => match kind(resource)? {
                    ResourceKind::Counter => {}
                    ResourceKind::LocalCounter if !atomic => {}
                    ResourceKind::LocalCounter => {
                        return wrong(&format!("'{resource}' is a process's own counter: nobody shares it to race"));
                    }
                    _ => return wrong(&format!("'{resource}' is not a counter")),
                },
                Step::Sleep { millis } if *millis > MAX_SLEEP_MILLIS => {
                    return wrong(&format!("sleep of {millis} ms is over a minute"));
                }
                Step::Sleep { .. } => {}
                Step::Exit { code } if !(0..=255).contains(code) => {
                    return wrong(&format!("exit code {code} is not 0..=255 (the kernel keeps only 8 bits)"));
                }
                Step::Exit { .. } => {}
                Step::Send { resource, bytes } | Step::Recv { resource, bytes, .. } => match kind(resource)? {
                    ResourceKind::Pipe if *bytes > 1 << 30 => return wrong("more than 1 GiB at once"),
                    ResourceKind::Pipe => {}
                    ResourceKind::Queue { .. } => {
                        if let Step::Recv { until_eof: true, .. } = step {
                            return wrong(&format!("'{resource}' is a queue: it has no end of file"));
                        }
                        if matches!(step, Step::Send { .. }) && !(1..=MAX_QUEUE_MESSAGE).contains(bytes) {
                            return wrong(&format!("a queue message is 1 to {MAX_QUEUE_MESSAGE} bytes, not {bytes}"));
                        }
                    }
                    _ => return wrong(&format!("'{resource}' is not a pipe or queue")),
                },
                Step::Join { process } => {
                    if !processes.iter().any(|p| &p.name == process) {
                        return wrong(&format!("no process named '{process}' to join"));
                    }
                    if process == me {
                        return wrong("a process cannot join itself");
                    }
                }
                Step::Close { resource, .. } => {
                    if kind(resource)? != ResourceKind::Pipe {
                        return wrong(&format!("'{resource}' is not a pipe"));
                    }
                }
                Step::Signal { resource } | Step::Broadcast { resource } => {
                    if kind(resource)? != ResourceKind::Condvar {
                        return wrong(&format!("'{resource}' is not a condition variable"));
                    }
                }
                Step::CondWait { resource, mutex, until, .. } => {
                    if kind(resource)? != ResourceKind::Condvar {
                        return wrong(&format!("'{resource}' is not a condition variable"));
                    }
                    if kind(mutex)? != ResourceKind::Mutex {
                        return wrong(&format!("'{mutex}' is not a mutex (a condition variable waits with one)"));
                    }
                    if let Some(c) = until
                        && kind(c)? != ResourceKind::Counter
                    {
                        return wrong(&format!("'{c}' is not a shared counter (the predicate reads one)"));
                    }
                }
                Step::Repeat { times: n, steps } => {
                    let total = times.checked_mul(*n).filter(|t| *t <= MAX_OPS);
                    let Some(total) = total else {
                        return wrong(&format!("repeats more than {MAX_OPS} times in all"));
                    };
                    self.check_steps(steps, depth + 1, total, processes, me)?;
                }
            }
        }
        Ok(())
    }
}

/// The built-in scenario programs, from `scenarios/`: (file name, text).
const BUILTIN: [(&str, &str); 14] = [
    ("deadlock-read-read.json", include_str!("../../scenarios/deadlock-read-read.json")),
    ("deadlock-pipe-full.json", include_str!("../../scenarios/deadlock-pipe-full.json")),
    ("hang-unclosed-write-end.json", include_str!("../../scenarios/hang-unclosed-write-end.json")),
    ("deadlock-lock-order.json", include_str!("../../scenarios/deadlock-lock-order.json")),
    ("deadlock-fcntl.json", include_str!("../../scenarios/deadlock-fcntl.json")),
    ("dining-philosophers.json", include_str!("../../scenarios/dining-philosophers.json")),
    ("race-counter.json", include_str!("../../scenarios/race-counter.json")),
    ("owner-died.json", include_str!("../../scenarios/owner-died.json")),
    ("bounded-buffer.json", include_str!("../../scenarios/bounded-buffer.json")),
    ("deadlock-queue-join.json", include_str!("../../scenarios/deadlock-queue-join.json")),
    ("race-counter-small.json", include_str!("../../scenarios/race-counter-small.json")),
    ("private-counter.json", include_str!("../../scenarios/private-counter.json")),
    ("lost-wakeup.json", include_str!("../../scenarios/lost-wakeup.json")),
    ("starvation.json", include_str!("../../scenarios/starvation.json")),
];

/// Every built-in scenario program, parsed (a bad built-in is a test failure, not a panic).
pub fn builtin() -> Vec<Result<ProgramScenario, String>> {
    BUILTIN.iter().map(|(file, text)| ProgramScenario::parse(text).map_err(|e| format!("{file}: {e}"))).collect()
}

/// The built-ins' named variants (besides "fixed"), by scenario id: what `ipc-lab run --variant`
/// offers, said in its help from here so the help never names one the binary refuses.
pub fn named_variants() -> Vec<(String, Vec<String>)> {
    builtin()
        .into_iter()
        .flatten()
        .map(|s| {
            let names = s.variants.keys().cloned().collect::<Vec<_>>();
            (s.id, names)
        })
        .filter(|(_, names)| !names.is_empty())
        .collect()
}

/// A built-in by id, or a scenario program file.
pub fn resolve(id_or_file: &str) -> Result<ProgramScenario, String> {
    if let Some(s) = builtin().into_iter().flatten().find(|s| s.id == id_or_file) {
        return Ok(s);
    }
    let path = std::path::Path::new(id_or_file);
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return ProgramScenario::parse(&text).map_err(|e| format!("{}: {e}", path.display()));
    }
    let ids: Vec<String> = builtin().into_iter().flatten().map(|s| s.id).collect();
    Err(format!("no scenario '{id_or_file}': not a built-in ({}) and no such file", ids.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_scenario_program_has_chinese_words_for_all_people_read() {
        for s in builtin() {
            let s = s.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.missing_text(crate::lessons::Lang::ZhCn), Vec::<String>::new(), "{}", s.id);
            assert_ne!(s.title_in(crate::lessons::Lang::ZhCn), s.title, "{}", s.id);
        }
    }

    #[test]
    fn a_translation_that_names_what_the_file_lacks_is_refused() {
        let text = include_str!("../../scenarios/deadlock-lock-order.json");
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["text"]["zh-CN"]["names"]["lock C"] = "锁 C".into();
        let err = ProgramScenario::parse(&v.to_string()).unwrap_err();
        assert!(err.contains("'lock C' is neither a resource nor a process"), "{err}");
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["text"]["fr"] = v["text"]["zh-CN"].clone();
        assert!(ProgramScenario::parse(&v.to_string()).unwrap_err().contains("unknown language 'fr'"));
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v.as_object_mut().unwrap().remove("text");
        let s = ProgramScenario::parse(&v.to_string()).expect("a file without Chinese still loads");
        assert_eq!(s.title_in(crate::lessons::Lang::ZhCn), s.title, "and falls back to English");
        assert_eq!(s.missing_text(crate::lessons::Lang::ZhCn), vec!["no zh-CN text at all".to_string()]);
    }

    #[test]
    fn every_builtin_scenario_program_parses_and_has_a_fix() {
        for s in builtin() {
            let s = s.unwrap_or_else(|e| panic!("{e}"));
            assert!(s.fixed.is_some(), "{} has a fixed variant", s.id);
            assert!(!s.about.is_empty());
        }
    }

    #[test]
    fn a_malformed_program_names_what_is_wrong() {
        let base = include_str!("../../scenarios/deadlock-lock-order.json");
        let cases = [
            (base.replace("\"op\": \"lock\"", "\"op\": \"lcok\""), "unknown variant `lcok`"),
            (base.replace("\"resource\": \"lock B\"", "\"resource\": \"lock C\""), "no resource named 'lock C'"),
            (
                base.replacen("\"kind\": \"mutex\"", "\"kind\": \"counter\"", 1),
                "'lock A' is not a mutex, fair mutex or file lock",
            ),
            (base.replace("\"title\"", "\"titel\""), "unknown field `titel`"),
        ];
        for (text, want) in cases {
            let err = ProgramScenario::parse(&text).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
        let err = ProgramScenario::parse("{\"id\": 1}").unwrap_err();
        assert!(err.contains("line 1"), "serde says where: {err}");
    }

    #[test]
    fn endless_work_is_refused() {
        let text = include_str!("../../scenarios/race-counter.json").replace("200000", "100000000000");
        assert!(ProgramScenario::parse(&text).unwrap_err().contains("repeats more than"));
    }
}
