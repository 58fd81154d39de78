//! The actor: one process of a scenario program (`ipc-lab actor SPEC`, started by the
//! supervisor). It maps the run's synchronization area and opens its lock file, says hello, waits
//! for `go`, then performs its steps, each a real call on a real resource, reporting every
//! blocking operation as it enters and leaves it (and what refused it) on its telemetry channel.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::programs::spec::{PipeEnd, ResourceDecl, ResourceKind, Step};
use crate::sync::{FileLock, Locked, SyncArea, SyncError};
use crate::telemetry::{Control, Detail, Event, Role, Sink, SyncOp, SyncPhase, TELEMETRY_VERSION};

/// What an actor is told on its command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSpec {
    pub role: Role,
    /// The shm name of the run's synchronization area.
    pub area: String,
    /// The run's lock file (fcntl record locks: resource `i` is byte `i`).
    pub lock_file: PathBuf,
    pub resources: Vec<ResourceDecl>,
    pub steps: Vec<Step>,
    /// Per resource, for pipes: the inherited (read, write) descriptors, both open at start.
    #[serde(default)]
    pub pipes: Vec<Option<(i32, i32)>>,
    /// Per resource, for queues: the message queue's name (opened before hello).
    #[serde(default)]
    pub queues: Vec<Option<String>>,
    /// You as the scheduler: before each operation, say what comes next and wait for a permit
    /// (`Control::Step`). Every operation is then reported, quiet ones included.
    #[serde(default)]
    pub gated: bool,
    /// Report every operation, uncontended ones too (for a run someone watches; a busy
    /// program would be slowed by it).
    #[serde(default)]
    pub verbose: bool,
    /// The names of every process of the run, by index (for `join`).
    #[serde(default)]
    pub process_names: Vec<String>,
}

/// Entry point of `ipc-lab actor`. Returns the process exit code.
pub fn main(spec_json: &str) -> i32 {
    let spec: ActorSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: actor spec is not valid: {e}");
            return crate::traffic::worker::EXIT_BAD_SPEC;
        }
    };
    crate::traffic::worker::with_telemetry("actor", Some(spec.role), |sink| run(&spec, sink))
}

struct Actor<'a> {
    spec: &'a ActorSpec,
    sink: &'a Sink,
    area: SyncArea,
    locks: FileLock,
    /// Per resource: this process's copies of a pipe's (read, write) ends, `None` once closed.
    pipes: RefCell<Vec<PipeEnds>>,
    /// Per resource: the queue's descriptor.
    queues: Vec<Option<Queue>>,
    /// PIDs of the other processes, by index (for `join`).
    pids: Vec<u32>,
    /// Permits from the scheduler (gated runs).
    permits: crossbeam::channel::Receiver<()>,
    /// What this process holds (a name per unit: a semaphore may be held twice) ...
    held: RefCell<Vec<String>>,
    /// ... and what the supervisor has been told it holds.
    told: RefCell<Vec<String>>,
    /// This process's own counters, by resource index.
    locals: RefCell<std::collections::BTreeMap<usize, u64>>,
    /// The semaphores this process's program posts (a unit it takes of those, it holds).
    posts: std::collections::BTreeSet<String>,
}

/// An open POSIX message queue, closed on drop.
struct Queue {
    mqd: libc::mqd_t,
    msg_size: usize,
}

impl Queue {
    fn open(name: &str) -> Result<Queue, String> {
        let c = std::ffi::CString::new(name).map_err(|_| format!("queue name {name:?} holds a NUL"))?;
        // SAFETY: a valid C string; no O_CREAT, so no variadic arguments.
        let mqd = unsafe { libc::mq_open(c.as_ptr(), libc::O_RDWR) };
        if mqd == -1 {
            return Err(format!("mq_open {name}: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: mq_attr is plain data; mqd is open.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        unsafe { libc::mq_getattr(mqd, &mut attr) };
        Ok(Queue { mqd, msg_size: attr.mq_msgsize.max(1) as usize })
    }

    /// Puts one message in, sleeping while the queue is full.
    fn send(&self, bytes: usize) -> Result<(), SyncError> {
        let buf = vec![0x5Au8; bytes.min(self.msg_size)];
        loop {
            // SAFETY: buf is valid for its length; mqd is open.
            if unsafe { libc::mq_send(self.mqd, buf.as_ptr().cast(), buf.len(), 0) } == 0 {
                return Ok(());
            }
            match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
                libc::EINTR => {}
                errno => return Err(SyncError::os("mq_send", errno)),
            }
        }
    }

    /// Takes one message out, sleeping while the queue is empty; its length.
    fn recv(&self) -> Result<usize, SyncError> {
        let mut buf = vec![0u8; self.msg_size];
        loop {
            // SAFETY: buf holds msg_size bytes, the queue's message size.
            let n = unsafe { libc::mq_receive(self.mqd, buf.as_mut_ptr().cast(), buf.len(), std::ptr::null_mut()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
                libc::EINTR => {}
                errno => return Err(SyncError::os("mq_receive", errno)),
            }
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: closing our own descriptor once.
        unsafe { libc::mq_close(self.mqd) };
    }
}

/// Sleeps until process `pid` has exited (a pidfd becomes readable then); at once if it is gone.
fn join(pid: u32) -> Result<(), SyncError> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
            libc::ESRCH => Ok(()),
            errno => Err(SyncError::os("pidfd_open", errno)),
        };
    }
    use std::os::fd::FromRawFd;
    // SAFETY: a descriptor we just opened and own.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, -1) } >= 0 {
            return Ok(());
        }
        match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
            libc::EINTR => {}
            errno => return Err(SyncError::os("poll pidfd", errno)),
        }
    }
}

/// A process's copies of one pipe's ends, indexed by [`PipeEnd`]; `None` once closed (or not a
/// pipe).
type PipeEnds = [Option<File>; 2];

/// Takes ownership of the pipe ends this process inherited.
fn adopt_pipes(spec: &ActorSpec) -> Result<Vec<PipeEnds>, String> {
    use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
    let adopt = |fd: i32| -> Result<File, String> {
        // Only descriptors that are open are adopted: never a stranger's number.
        nix::fcntl::fcntl(unsafe { BorrowedFd::borrow_raw(fd) }, nix::fcntl::FcntlArg::F_GETFD)
            .map_err(|e| format!("pipe descriptor {fd} is not open: {e}"))?;
        // SAFETY: the supervisor passed this open descriptor to this process for its sole use.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    };
    spec.pipes
        .iter()
        .map(|p| match p {
            Some((r, w)) => Ok([Some(adopt(*r)?), Some(adopt(*w)?)]),
            None => Ok([None, None]),
        })
        .collect()
}

fn run(spec: &ActorSpec, sink: &Sink) -> Result<(), String> {
    let area = SyncArea::open(&spec.area).map_err(|e| e.to_string())?;
    let locks = FileLock::open(&spec.lock_file).map_err(|e| e.to_string())?;
    let pipes = RefCell::new(adopt_pipes(spec)?);
    let queues =
        spec.queues.iter().map(|q| q.as_deref().map(Queue::open).transpose()).collect::<Result<Vec<_>, _>>()?;
    sink.emit(&Event::Hello { version: TELEMETRY_VERSION, pid: std::process::id(), roles: vec![spec.role] });
    // Wait for the others' PIDs and go; a closed control channel means the supervisor is gone.
    let mut line = String::new();
    let stdin = std::io::stdin();
    let mut pids = Vec::new();
    loop {
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => std::process::exit(crate::traffic::worker::EXIT_SUPERVISOR_GONE),
            Ok(_) => {}
        }
        match crate::telemetry::parse_control(line.trim_end()) {
            Ok(Control::Go) => break,
            Ok(Control::Connect { peers }) => pids = peers.iter().map(|p| p.pid).collect(),
            _ => {}
        }
    }
    // From here the supervisor's closing the channel (it gave up on the run) ends us too; a
    // permit from the scheduler lets the next operation go.
    let (permit_tx, permits) = crossbeam::channel::unbounded();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for l in std::io::stdin().lock().lines() {
                let Ok(l) = l else { break };
                if let Ok(Control::Step { ops, .. }) = crate::telemetry::parse_control(&l) {
                    for _ in 0..ops.min(1 << 20) {
                        let _ = permit_tx.send(());
                    }
                }
            }
            std::process::exit(crate::traffic::worker::EXIT_SUPERVISOR_GONE);
        })
        .map_err(|e| format!("cannot start the control thread: {e}"))?;
    let actor = Actor {
        spec,
        sink,
        area,
        locks,
        pipes,
        queues,
        pids,
        permits,
        held: RefCell::default(),
        told: RefCell::default(),
        locals: RefCell::default(),
        posts: {
            let mut posts = std::collections::BTreeSet::new();
            Step::visit(&spec.steps, &mut |s| {
                if let Step::Post { resource } = s {
                    posts.insert(resource.clone());
                }
            });
            posts
        },
    };
    let result = actor.steps(&spec.steps);
    if result.is_ok() {
        actor.report_locals();
    }
    // Never unmap the area before the process ends: a robust mutex still held at exit is handed
    // to its next locker (EOWNERDEAD) by the kernel walking this process's robust list, which
    // points into the mapping. Unmapped first, the walk finds nothing and the waiter hangs.
    std::mem::forget(actor);
    result
}

impl Actor<'_> {
    fn index(&self, name: &str) -> Result<(usize, ResourceKind), String> {
        self.spec
            .resources
            .iter()
            .enumerate()
            .find(|(_, r)| r.name == name)
            .map(|(i, r)| (i, r.kind))
            .ok_or_else(|| format!("no resource named '{name}'"))
    }

    fn report(&self, op: SyncOp, resource: &str, phase: SyncPhase, detail: Option<Detail>) {
        // Lifecycle-like: these are few and the graph depends on every one.
        self.sink.emit(&Event::Sync { role: self.spec.role, op, resource: resource.to_string(), phase, detail });
    }

    /// With the scheduler on: says what comes next and waits for the permit to do it.
    fn gate(&self, op: SyncOp, resource: &str, detail: Option<Detail>) {
        if self.spec.gated {
            self.report(op, resource, SyncPhase::Next, detail);
            if self.permits.recv().is_err() {
                std::process::exit(crate::traffic::worker::EXIT_SUPERVISOR_GONE);
            }
        }
    }

    /// Before blocking: if this process took something quietly, it says all it holds, so that
    /// whoever the supervisor finds blocked has told it the truth.
    fn tell_holding(&self) {
        let held = self.held.borrow();
        let mut told = self.told.borrow_mut();
        let mut a = held.clone();
        let mut b = told.clone();
        a.sort();
        b.sort();
        if a != b {
            self.sink.emit(&Event::Holding { role: self.spec.role, resources: a });
            *told = held.clone();
        }
    }

    fn report_locals(&self) {
        let locals = self.locals.borrow();
        if !locals.is_empty() {
            let values = locals.iter().map(|(&i, &v)| (self.spec.resources[i].name.clone(), v)).collect();
            self.sink.emit(&Event::Values { role: self.spec.role, values });
        }
    }

    /// Performs `op` on `resource`, reported as entered and then left or refused.
    fn blocking(
        &self,
        op: SyncOp,
        resource: &str,
        call: impl FnOnce() -> Result<Option<Detail>, SyncError>,
    ) -> Result<Option<Detail>, String> {
        self.tell_holding();
        self.report(op, resource, SyncPhase::Enter, None);
        match call() {
            Ok(detail) => {
                self.report(op, resource, SyncPhase::Leave, detail.clone());
                Ok(detail)
            }
            Err(e) => {
                self.report(op, resource, SyncPhase::Failed, Some(refusal(&e)));
                Err(format!("{} on '{resource}': {e}", op.as_str()))
            }
        }
    }

    /// Takes a unit of `resource`: first without sleeping (quietly, unless the scheduler is on),
    /// and only if that fails, as a reported blocking operation.
    fn acquire(
        &self,
        op: SyncOp,
        resource: &str,
        try_now: impl FnOnce() -> Result<Option<Option<Detail>>, SyncError>,
        call: impl FnOnce() -> Result<Option<Detail>, SyncError>,
    ) -> Result<(), String> {
        self.gate(op, resource, None);
        // A lock is held; a semaphore unit is held only by a process that gives it back (a
        // lock's use): a consumer's "full slots" unit is used up, not held.
        let holds = op == SyncOp::Lock || self.posts.contains(resource);
        let hold = |told: bool| {
            if holds {
                self.held.borrow_mut().push(resource.to_string());
                if told {
                    self.told.borrow_mut().push(resource.to_string());
                }
            }
        };
        // First without sleeping: only a process that really has to wait says it entered a wait
        // (so the scheduler, and the wait-for graph, see a wait only where there is one).
        match try_now() {
            Ok(Some(detail)) => {
                if self.spec.gated || self.spec.verbose || detail.is_some() {
                    self.tell_holding();
                    self.report(op, resource, SyncPhase::Enter, None);
                    self.report(op, resource, SyncPhase::Leave, detail);
                    hold(true);
                } else {
                    hold(false);
                }
                return Ok(());
            }
            Ok(None) => {}
            Err(e) => {
                self.report(op, resource, SyncPhase::Failed, Some(refusal(&e)));
                return Err(format!("{} on '{resource}': {e}", op.as_str()));
            }
        }
        self.blocking(op, resource, call)?;
        hold(true);
        Ok(())
    }

    /// Gives back a unit of `resource`; reported when the supervisor knows this process held it
    /// (or the scheduler is on), quiet otherwise.
    fn release(
        &self,
        op: SyncOp,
        resource: &str,
        call: impl FnOnce() -> Result<Option<Detail>, SyncError>,
    ) -> Result<(), String> {
        self.gate(op, resource, None);
        let take = |v: &RefCell<Vec<String>>| {
            let mut v = v.borrow_mut();
            v.iter().position(|r| r == resource).map(|i| v.remove(i)).is_some()
        };
        take(&self.held);
        let told = take(&self.told);
        let result = call();
        // Giving back never waits: it is reported done (or refused), never as entered.
        match &result {
            Err(e) => self.report(op, resource, SyncPhase::Failed, Some(refusal(e))),
            Ok(detail) if told || self.spec.gated || self.spec.verbose => {
                self.report(op, resource, SyncPhase::Leave, detail.clone())
            }
            Ok(_) => {}
        }
        result.map(|_| ()).map_err(|e| format!("{} on '{resource}': {e}", op.as_str()))
    }

    /// Runs `f` on this process's copy of `end` of pipe `i`; EBADF once that end is closed.
    fn with_end<T>(
        &self,
        i: usize,
        end: PipeEnd,
        f: impl FnOnce(&mut File) -> Result<T, SyncError>,
    ) -> Result<T, SyncError> {
        let mut pipes = self.pipes.borrow_mut();
        let file =
            pipes.get_mut(i).and_then(|p| p[end as usize].as_mut()).ok_or(SyncError::os("end closed", libc::EBADF))?;
        f(file)
    }

    fn queue(&self, i: usize) -> Result<&Queue, SyncError> {
        self.queues.get(i).and_then(Option::as_ref).ok_or(SyncError::os("queue not open", libc::EBADF))
    }

    fn owner_died(m: &crate::sync::RobustMutex<'_>, locked: Locked) -> Result<Option<Detail>, SyncError> {
        match locked {
            Locked::Acquired => Ok(None),
            Locked::OwnerDied => {
                m.make_consistent()?;
                Ok(Some(Detail::OwnerDied))
            }
        }
    }

    fn unlock(&self, resource: &str) -> Result<(), String> {
        let (i, kind) = self.index(resource)?;
        self.release(SyncOp::Unlock, resource, || match kind {
            ResourceKind::FileLock => self.locks.unlock(i as u64).map(|()| None),
            ResourceKind::FairMutex => self.area.ticket_lock(i)?.unlock().map(|()| None),
            _ => self.area.mutex(i)?.unlock().map(|()| None),
        })
    }

    /// All or none: tries each lock in turn without sleeping; when one is busy, gives back those
    /// taken, sleeps a random while (up to `backoff` ms) and starts again. Nobody sleeps holding
    /// a lock while waiting for another, so no cycle of waits can form (a livelock could, if
    /// everyone backed off in step forever; the random pause makes that vanishingly unlikely).
    fn lock_all(&self, resources: &[String], backoff: u64) -> Result<(), String> {
        let mut rng = fastrand::Rng::with_seed(u64::from(std::process::id()));
        loop {
            let mut taken: Vec<&str> = Vec::new();
            let mut busy = None;
            for r in resources {
                let (i, kind) = self.index(r)?;
                self.gate(SyncOp::Lock, r, Some(Detail::TryLock));
                let got = match kind {
                    ResourceKind::FileLock => self.locks.try_lock(i as u64).map(|ok| ok.then_some(None)),
                    ResourceKind::FairMutex => self.area.ticket_lock(i).map(|t| t.try_lock().then_some(None)),
                    _ => {
                        let m = self.area.mutex(i).map_err(|e| e.to_string())?;
                        m.try_lock().and_then(|l| l.map(|l| Self::owner_died(&m, l)).transpose())
                    }
                };
                match got.map_err(|e| format!("lock on '{r}': {e}"))? {
                    Some(detail) => {
                        self.held.borrow_mut().push(r.clone());
                        if self.spec.gated || self.spec.verbose || detail.is_some() {
                            self.report(SyncOp::Lock, r, SyncPhase::Enter, None);
                            self.report(SyncOp::Lock, r, SyncPhase::Leave, detail);
                            self.told.borrow_mut().push(r.clone());
                        }
                        taken.push(r);
                    }
                    None => {
                        busy = Some(r);
                        break;
                    }
                }
            }
            let Some(busy) = busy else { return Ok(()) };
            let pause = rng.u64(1..=backoff.max(1));
            self.report(
                SyncOp::Lock,
                busy,
                SyncPhase::Failed,
                Some(Detail::BackOff { gave_back: taken.iter().map(|r| r.to_string()).collect(), pause_millis: pause }),
            );
            for r in taken.iter().rev() {
                self.unlock(r)?;
            }
            self.report(SyncOp::Sleep, "", SyncPhase::Enter, None);
            std::thread::sleep(std::time::Duration::from_millis(pause));
            self.report(SyncOp::Sleep, "", SyncPhase::Leave, None);
        }
    }

    /// Waits on condition variable `resource` with `mutex` held: with a predicate (`until` at
    /// least `at_least`), in a loop while it is false (and not at all when it is already true);
    /// without one, once. While asleep the mutex is not held (pthread_cond_wait gives it up), so
    /// the wait-for graph is told, through each report's detail, which mutex comes and goes.
    fn cond_wait(&self, resource: &str, mutex: &str, until: Option<&str>, at_least: u64) -> Result<(), String> {
        let (ci, _) = self.index(resource)?;
        let (mi, _) = self.index(mutex)?;
        if !self.held.borrow().iter().any(|h| h == mutex) {
            return Err(format!("cond_wait on '{resource}' without holding '{mutex}': lock it first"));
        }
        let cv = self.area.condvar(ci).map_err(|e| e.to_string())?;
        let m = self.area.mutex(mi).map_err(|e| e.to_string())?;
        let counter = match until {
            Some(c) => Some(self.area.counter(self.index(c)?.0).map_err(|e| e.to_string())?),
            None => None,
        };
        let with = || Some(Detail::WithMutex { mutex: mutex.to_string() });
        self.gate(SyncOp::CondWait, resource, with());
        if let Some(c) = &counter
            && c.load() >= at_least
        {
            // The predicate holds: the signal came first, and the loop never sleeps.
            self.report(SyncOp::CondWait, resource, SyncPhase::Leave, Some(Detail::AlreadyTrue { value: c.load() }));
            return Ok(());
        }
        loop {
            self.tell_holding();
            for list in [&self.held, &self.told] {
                let mut l = list.borrow_mut();
                if let Some(k) = l.iter().position(|h| h == mutex) {
                    l.remove(k);
                }
            }
            self.report(SyncOp::CondWait, resource, SyncPhase::Enter, with());
            let woke = match cv.wait(&m) {
                Ok(locked) => locked,
                Err(e) => {
                    self.report(SyncOp::CondWait, resource, SyncPhase::Failed, Some(refusal(&e)));
                    return Err(format!("cond_wait on '{resource}': {e}"));
                }
            };
            // Held again only now the wait has returned with it.
            self.held.borrow_mut().push(mutex.to_string());
            self.told.borrow_mut().push(mutex.to_string());
            self.report(SyncOp::CondWait, resource, SyncPhase::Leave, with());
            // A mutex whose owner died while this one slept is recovered by the wait itself
            // (made consistent); the scenarios that teach EOWNERDEAD use a plain lock.
            let _ = woke;
            match &counter {
                // Woken, but what it waits for may not hold yet (another waiter took it, or
                // the wake-up was spurious): check again, as `while (!ready) wait` does.
                Some(c) if c.load() < at_least => continue,
                _ => return Ok(()),
            }
        }
    }

    fn steps(&self, steps: &[Step]) -> Result<(), String> {
        for step in steps {
            match step {
                Step::Lock { resource } => {
                    let (i, kind) = self.index(resource)?;
                    if kind == ResourceKind::FileLock {
                        self.acquire(
                            SyncOp::Lock,
                            resource,
                            || Ok(self.locks.try_lock(i as u64)?.then_some(None)),
                            || self.locks.lock(i as u64).map(|()| None),
                        )?;
                    } else if kind == ResourceKind::FairMutex {
                        let t = self.area.ticket_lock(i).map_err(|e| e.to_string())?;
                        self.acquire(
                            SyncOp::Lock,
                            resource,
                            || Ok(t.try_lock().then_some(None)),
                            || t.lock().map(|()| None),
                        )?;
                    } else {
                        let m = self.area.mutex(i).map_err(|e| e.to_string())?;
                        self.acquire(
                            SyncOp::Lock,
                            resource,
                            || m.try_lock()?.map(|l| Self::owner_died(&m, l)).transpose(),
                            || Self::owner_died(&m, m.lock()?),
                        )?;
                    }
                }
                Step::Unlock { resource } => self.unlock(resource)?,
                Step::LockAll { resources, backoff_millis } => self.lock_all(resources, *backoff_millis)?,
                Step::Wait { resource } => {
                    let (i, _) = self.index(resource)?;
                    let sem = self.area.semaphore(i).map_err(|e| e.to_string())?;
                    self.acquire(
                        SyncOp::Wait,
                        resource,
                        || Ok(sem.try_wait()?.then_some(None)),
                        || sem.wait().map(|()| None),
                    )?;
                }
                Step::Post { resource } => {
                    let (i, _) = self.index(resource)?;
                    self.release(SyncOp::Post, resource, || self.area.semaphore(i)?.post().map(|()| None))?;
                }
                Step::Barrier { resource } => {
                    let (i, _) = self.index(resource)?;
                    self.gate(SyncOp::Barrier, resource, None);
                    self.blocking(SyncOp::Barrier, resource, || self.area.barrier_wait(i).map(|()| None))?;
                }
                Step::Increment { resource, atomic } => {
                    let (i, kind) = self.index(resource)?;
                    if kind == ResourceKind::LocalCounter {
                        self.gate(SyncOp::Add, resource, None);
                        let v = {
                            let mut locals = self.locals.borrow_mut();
                            let v = locals.entry(i).or_insert(0);
                            *v += 1;
                            *v
                        };
                        if self.spec.gated || self.spec.verbose {
                            self.report(SyncOp::Add, resource, SyncPhase::Leave, Some(Detail::OwnCopy { value: v }));
                            self.report_locals();
                        }
                        continue;
                    }
                    let c = self.area.counter(i).map_err(|e| e.to_string())?;
                    match (self.spec.gated, *atomic) {
                        (false, true) => {
                            let v = c.atomic_add(1) + 1;
                            if self.spec.verbose {
                                self.report(
                                    SyncOp::Add,
                                    resource,
                                    SyncPhase::Leave,
                                    Some(Detail::AtomicNow { value: v }),
                                );
                            }
                        }
                        (false, false) => {
                            c.racy_increment(50);
                            if self.spec.verbose {
                                self.report(SyncOp::Add, resource, SyncPhase::Leave, Some(Detail::ReadWroteBack));
                            }
                        }
                        (true, true) => {
                            self.gate(SyncOp::Add, resource, None);
                            let v = c.atomic_add(1) + 1;
                            self.report(SyncOp::Add, resource, SyncPhase::Leave, Some(Detail::Now { value: v }));
                        }
                        // The scheduler sees the two halves of `counter += 1` apart, and may put
                        // another process's increment between them.
                        (true, false) => {
                            self.gate(SyncOp::Load, resource, None);
                            let v = c.load();
                            self.report(SyncOp::Load, resource, SyncPhase::Leave, Some(Detail::Read { value: v }));
                            self.gate(SyncOp::Store, resource, Some(Detail::WillWrite { value: v + 1 }));
                            c.store(v + 1);
                            self.report(
                                SyncOp::Store,
                                resource,
                                SyncPhase::Leave,
                                Some(Detail::Wrote { value: v + 1 }),
                            );
                        }
                    }
                }
                Step::Sleep { millis } => {
                    // Reported, so a sleeping process is not taken for a stuck one.
                    self.gate(SyncOp::Sleep, "", None);
                    self.report(SyncOp::Sleep, "", SyncPhase::Enter, None);
                    std::thread::sleep(std::time::Duration::from_millis(*millis));
                    self.report(SyncOp::Sleep, "", SyncPhase::Leave, None);
                }
                // A crash, holding what it holds: no unlock, no goodbye (the telemetry thread may
                // not even get to write).
                Step::Exit { code } => {
                    self.gate(SyncOp::Exit, "", Some(Detail::Code { code: *code }));
                    std::process::exit(*code)
                }
                Step::Send { resource, bytes } => {
                    let (i, kind) = self.index(resource)?;
                    self.gate(SyncOp::Send, resource, Some(Detail::Bytes { bytes: *bytes }));
                    if kind == ResourceKind::Pipe {
                        // In pieces of 64 KiB: a send of a gigabyte needs no gigabyte of memory.
                        let chunk = [0x5Au8; 65536];
                        self.blocking(SyncOp::Send, resource, || {
                            self.with_end(i, PipeEnd::Write, |w| {
                                let mut left = *bytes;
                                while left > 0 {
                                    let n = left.min(chunk.len() as u64) as usize;
                                    w.write_all(&chunk[..n])
                                        .map_err(|e| SyncError::os("write", e.raw_os_error().unwrap_or(0)))?;
                                    left -= n as u64;
                                }
                                Ok(None)
                            })
                        })?;
                    } else {
                        self.blocking(SyncOp::Send, resource, || self.queue(i)?.send(*bytes as usize).map(|()| None))?;
                    }
                }
                Step::Recv { resource, bytes, until_eof } => {
                    let (i, kind) = self.index(resource)?;
                    self.gate(SyncOp::Recv, resource, None);
                    if kind != ResourceKind::Pipe {
                        self.blocking(SyncOp::Recv, resource, || {
                            self.queue(i)?.recv().map(|n| Some(Detail::OneMessage { bytes: n as u64 }))
                        })?;
                        continue;
                    }
                    self.blocking(SyncOp::Recv, resource, || {
                        self.with_end(i, PipeEnd::Read, |r| {
                            let mut buf = [0u8; 65536];
                            let mut got: u64 = 0;
                            while *until_eof || got < *bytes {
                                let want =
                                    if *until_eof { buf.len() } else { ((*bytes - got) as usize).min(buf.len()) };
                                match r.read(&mut buf[..want]) {
                                    Ok(0) if *until_eof => return Ok(Some(Detail::EndOfFile { bytes: got })),
                                    Ok(0) => return Err(SyncError::EndOfFile),
                                    Ok(n) => got += n as u64,
                                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                                    Err(e) => return Err(SyncError::os("read", e.raw_os_error().unwrap_or(0))),
                                }
                            }
                            Ok(None)
                        })
                    })?;
                }
                Step::Close { resource, end } => {
                    let (i, _) = self.index(resource)?;
                    self.gate(SyncOp::Close, resource, Some(Detail::End { end: *end }));
                    if let Some(p) = self.pipes.borrow_mut().get_mut(i) {
                        drop(p[*end as usize].take());
                    }
                    self.report(SyncOp::Close, resource, SyncPhase::Leave, Some(Detail::End { end: *end }));
                }
                Step::CondWait { resource, mutex, until, at_least } => {
                    self.cond_wait(resource, mutex, until.as_deref(), *at_least)?
                }
                Step::Signal { resource } | Step::Broadcast { resource } => {
                    let (i, _) = self.index(resource)?;
                    let cv = self.area.condvar(i).map_err(|e| e.to_string())?;
                    let op = if matches!(step, Step::Signal { .. }) { SyncOp::Signal } else { SyncOp::Broadcast };
                    self.gate(op, resource, None);
                    let woke = if op == SyncOp::Signal { cv.signal() } else { cv.broadcast() };
                    match woke {
                        Err(e) => {
                            self.report(op, resource, SyncPhase::Failed, Some(refusal(&e)));
                            return Err(format!("{} on '{resource}': {e}", op.as_str()));
                        }
                        Ok(()) if self.spec.gated || self.spec.verbose => {
                            self.report(op, resource, SyncPhase::Leave, None)
                        }
                        Ok(()) => {}
                    }
                }
                Step::Join { process } => {
                    let who = self.spec.process_names.iter().position(|n| n == process);
                    let pid = who
                        .and_then(|i| self.pids.get(i).copied())
                        .ok_or_else(|| format!("no PID for process '{process}'"))?;
                    self.gate(SyncOp::Join, process, None);
                    self.blocking(SyncOp::Join, process, || join(pid).map(|()| None))?;
                }
                Step::Repeat { times, steps } => {
                    for _ in 0..*times {
                        self.steps(steps)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A refused operation's reason, as a value for its report.
fn refusal(e: &SyncError) -> Detail {
    match e {
        SyncError::Deadlock => Detail::Errno { call: String::new(), errno: libc::EDEADLK },
        SyncError::NotRecoverable => Detail::NotRecoverable,
        SyncError::Os { op, errno } => Detail::Errno { call: (*op).to_string(), errno: *errno },
        SyncError::EndOfFile => Detail::EarlyEof,
        other => Detail::Other { text: other.to_string() },
    }
}
