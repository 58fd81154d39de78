//! The actor: one process of a scenario program (`ipc-lab actor SPEC`, started by the
//! supervisor). It maps the run's synchronization area and opens its lock file, says hello, waits
//! for `go`, then performs its steps, each a real call on a real resource, reporting every
//! blocking operation as it enters and leaves it (and what refused it) on its telemetry channel.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::program::{PipeEnd, ResourceDecl, ResourceKind, Step};
use crate::sync::{FileLock, Locked, SyncArea, SyncError};
use crate::telemetry::{Control, Event, Role, Sink, SyncOp, SyncPhase, TELEMETRY_VERSION};

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
}

/// Entry point of `ipc-lab actor`. Returns the process exit code.
pub fn main(spec_json: &str) -> i32 {
    let spec: ActorSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: actor spec is not valid: {e}");
            return crate::worker::EXIT_BAD_SPEC;
        }
    };
    crate::worker::with_telemetry("actor", Some(spec.role), |sink| run(&spec, sink))
}

struct Actor<'a> {
    spec: &'a ActorSpec,
    sink: &'a Sink,
    area: SyncArea,
    locks: FileLock,
    /// Per resource: this process's copies of a pipe's (read, write) ends, `None` once closed.
    pipes: RefCell<Vec<PipeEnds>>,
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
    sink.emit(&Event::Hello { version: TELEMETRY_VERSION, pid: std::process::id(), roles: vec![spec.role] });
    // Wait for go; a closed control channel means the supervisor is gone.
    let mut line = String::new();
    let stdin = std::io::stdin();
    loop {
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => std::process::exit(crate::worker::EXIT_SUPERVISOR_GONE),
            Ok(_) => {}
        }
        if let Ok(Control::Go) = crate::telemetry::parse_control(line.trim_end()) {
            break;
        }
    }
    // From here the supervisor's closing the channel (it gave up on the run) ends us too.
    std::thread::Builder::new()
        .name("control".into())
        .spawn(|| {
            for l in std::io::stdin().lock().lines() {
                if l.is_err() {
                    break;
                }
            }
            std::process::exit(crate::worker::EXIT_SUPERVISOR_GONE);
        })
        .map_err(|e| format!("cannot start the control thread: {e}"))?;
    let actor = Actor { spec, sink, area, locks, pipes };
    let result = actor.steps(&spec.steps);
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

    fn report(&self, op: SyncOp, resource: &str, phase: SyncPhase, detail: Option<String>) {
        // Lifecycle-like: these are few and the graph depends on every one.
        self.sink.emit(&Event::Sync { role: self.spec.role, op, resource: resource.to_string(), phase, detail });
    }

    /// Performs `op` on `resource`, reported as entered and then left or refused.
    fn blocking(
        &self,
        op: SyncOp,
        resource: &str,
        call: impl FnOnce() -> Result<Option<String>, SyncError>,
    ) -> Result<(), String> {
        self.report(op, resource, SyncPhase::Enter, None);
        match call() {
            Ok(detail) => {
                self.report(op, resource, SyncPhase::Leave, detail);
                Ok(())
            }
            Err(e) => {
                let why = e.to_string();
                self.report(op, resource, SyncPhase::Failed, Some(why.clone()));
                Err(format!("{} on '{resource}': {why}", op.as_str()))
            }
        }
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

    fn steps(&self, steps: &[Step]) -> Result<(), String> {
        for step in steps {
            match step {
                Step::Lock { resource } => {
                    let (i, kind) = self.index(resource)?;
                    self.blocking(SyncOp::Lock, resource, || match kind {
                        ResourceKind::FileLock => self.locks.lock(i as u64).map(|()| None),
                        _ => {
                            let m = self.area.mutex(i)?;
                            match m.lock()? {
                                Locked::Acquired => Ok(None),
                                Locked::OwnerDied => {
                                    m.make_consistent()?;
                                    Ok(Some("its owner had died (EOWNERDEAD): recovered".into()))
                                }
                            }
                        }
                    })?;
                }
                Step::Unlock { resource } => {
                    let (i, kind) = self.index(resource)?;
                    self.blocking(SyncOp::Unlock, resource, || match kind {
                        ResourceKind::FileLock => self.locks.unlock(i as u64).map(|()| None),
                        _ => self.area.mutex(i)?.unlock().map(|()| None),
                    })?;
                }
                Step::Wait { resource } => {
                    let (i, _) = self.index(resource)?;
                    self.blocking(SyncOp::Wait, resource, || self.area.semaphore(i)?.wait().map(|()| None))?;
                }
                Step::Post { resource } => {
                    let (i, _) = self.index(resource)?;
                    self.blocking(SyncOp::Post, resource, || self.area.semaphore(i)?.post().map(|()| None))?;
                }
                Step::Barrier { resource } => {
                    let (i, _) = self.index(resource)?;
                    self.blocking(SyncOp::Barrier, resource, || self.area.barrier_wait(i).map(|()| None))?;
                }
                Step::Increment { resource, atomic } => {
                    let (i, _) = self.index(resource)?;
                    let c = self.area.counter(i).map_err(|e| e.to_string())?;
                    if *atomic {
                        c.atomic_add(1);
                    } else {
                        c.racy_increment(50);
                    }
                }
                Step::Sleep { millis } => {
                    // Reported, so a sleeping process is not taken for a stuck one.
                    self.report(SyncOp::Sleep, "", SyncPhase::Enter, None);
                    std::thread::sleep(std::time::Duration::from_millis(*millis));
                    self.report(SyncOp::Sleep, "", SyncPhase::Leave, None);
                }
                // A crash, holding what it holds: no unlock, no goodbye (the telemetry thread may
                // not even get to write).
                Step::Exit { code } => std::process::exit(*code),
                Step::Send { resource, bytes } => {
                    let (i, _) = self.index(resource)?;
                    let buf = vec![0x5Au8; (*bytes).min(1 << 30) as usize];
                    self.blocking(SyncOp::Send, resource, || {
                        self.with_end(i, PipeEnd::Write, |w| {
                            w.write_all(&buf)
                                .map(|()| None)
                                .map_err(|e| SyncError::os("write", e.raw_os_error().unwrap_or(0)))
                        })
                    })?;
                }
                Step::Recv { resource, bytes, until_eof } => {
                    let (i, _) = self.index(resource)?;
                    self.blocking(SyncOp::Recv, resource, || {
                        self.with_end(i, PipeEnd::Read, |r| {
                            let mut buf = [0u8; 65536];
                            let mut got: u64 = 0;
                            while *until_eof || got < *bytes {
                                let want =
                                    if *until_eof { buf.len() } else { ((*bytes - got) as usize).min(buf.len()) };
                                match r.read(&mut buf[..want]) {
                                    Ok(0) if *until_eof => return Ok(Some(format!("end of file after {got} bytes"))),
                                    Ok(0) => return Err(SyncError::os("read: end of file before the bytes came", 0)),
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
                    if let Some(p) = self.pipes.borrow_mut().get_mut(i) {
                        drop(p[*end as usize].take());
                    }
                    let which = match end {
                        PipeEnd::Read => "read",
                        PipeEnd::Write => "write",
                    };
                    self.report(SyncOp::Close, resource, SyncPhase::Leave, Some(which.into()));
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
