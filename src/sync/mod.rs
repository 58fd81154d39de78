//! Process-shared synchronization, real and observable: the resources scenario programs lock,
//! wait on and race over (issue 4/7). Everything here is a kernel or libc object shared between
//! processes, never a simulation:
//!
//! - [`mutex`]: a robust, process-shared pthread mutex: when its owner dies, the next locker
//!   gets `EOWNERDEAD` and can recover it.
//! - [`semaphore`]: a process-shared POSIX counting semaphore: a dead holder's unit is never given
//!   back.
//! - [`condvar`]: a process-shared pthread condition variable, waited on with one of the mutexes:
//!   a signal nobody waits for is lost.
//! - [`counter`]: a u64 shared by processes, incremented racily (load, then store) or atomically.
//! - [`filelock`]: an fcntl record lock (`F_SETLKW`): the one lock where Linux detects a deadlock
//!   itself and answers `EDEADLK`.
//!
//! The first three live in one shared-memory segment, a [`SyncArea`]: created and named by the
//! supervisor (which records, removes and sweeps the name like every other), mapped by each worker.

pub mod condvar;
pub mod counter;
pub mod filelock;
pub mod mutex;
pub mod semaphore;
pub mod ticket;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use thiserror::Error;

pub use condvar::Condvar;
pub use counter::Counter;
pub use filelock::FileLock;
pub use mutex::{Locked, RobustMutex};
pub use semaphore::Semaphore;
pub use ticket::TicketLock;

/// What a slot of a [`SyncArea`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    Mutex,
    Semaphore {
        initial: u32,
    },
    Counter,
    /// Meeting point for `parties` processes, reusable round after round.
    Barrier {
        parties: u32,
    },
    /// A condition variable.
    Condvar,
    /// A fair (ticket) lock.
    TicketLock,
}

/// Errors of a synchronization operation.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SyncError {
    #[error(
        "the kernel detected a deadlock (EDEADLK): this lock waits, directly or through others, for a lock its own process holds"
    )]
    Deadlock,
    #[error("the mutex's owner died and it was not made consistent: it can never be locked again (ENOTRECOVERABLE)")]
    NotRecoverable,
    #[error("{op} failed: {}", errno_words(*errno))]
    Os { op: &'static str, errno: i32 },
    #[error("end of file before the bytes came")]
    EndOfFile,
    #[error("no {what} at index {index} in this area")]
    NoSuchResource { what: &'static str, index: usize },
    #[error("not an ipc-lab synchronization area: {0}")]
    BadArea(String),
}

/// An errno as its symbol and what it means: "EPIPE (broken pipe: no process has the read end
/// open)", not "32".
pub fn errno_words(n: i32) -> String {
    let e = nix::errno::Errno::from_raw(n);
    let what = match e {
        nix::errno::Errno::EPIPE => "broken pipe: no process has the read end open any more".to_string(),
        _ => e.desc().to_lowercase(),
    };
    format!("{e:?} ({what})")
}

impl SyncError {
    pub(crate) fn os(op: &'static str, errno: i32) -> Self {
        SyncError::Os { op, errno }
    }
}

const AREA_MAGIC: u64 = u64::from_le_bytes(*b"IPCLSYN1");
/// Most slots one area holds.
pub const MAX_SLOTS: usize = 64;

/// One resource: room for any of the kinds, on its own cache lines.
#[repr(C, align(64))]
pub(crate) struct Slot {
    pub(crate) kind: AtomicU32,
    /// Written by libc through raw pointers from several processes: interior mutability.
    pub(crate) mutex: std::cell::UnsafeCell<libc::pthread_mutex_t>,
    pub(crate) sem: std::cell::UnsafeCell<libc::sem_t>,
    pub(crate) cond: std::cell::UnsafeCell<libc::pthread_cond_t>,
    /// A barrier's round number, a u32 word to sleep on (futex).
    pub(crate) round: AtomicU32,
    pub(crate) counter: AtomicU64,
    /// A kind's fixed parameter (a barrier's parties).
    pub(crate) param: AtomicU64,
}

#[repr(C)]
struct AreaHeader {
    magic: AtomicU64,
    slots: AtomicU64,
}

const KIND_MUTEX: u32 = 1;
const KIND_SEMAPHORE: u32 = 2;
const KIND_COUNTER: u32 = 3;
const KIND_BARRIER: u32 = 4;
const KIND_CONDVAR: u32 = 5;
const KIND_TICKET: u32 = 6;

fn slots_offset() -> usize {
    std::mem::size_of::<AreaHeader>().next_multiple_of(std::mem::align_of::<Slot>())
}

fn area_len(slots: usize) -> usize {
    slots_offset() + slots * std::mem::size_of::<Slot>()
}

/// A mapped area of process-shared resources.
pub struct SyncArea {
    base: *mut u8,
    len: usize,
    slots: usize,
}

// SAFETY: the mapping is shared memory; every access goes through atomics or through the
// process-shared pthread/semaphore objects, which are made for concurrent use.
unsafe impl Send for SyncArea {}
// SAFETY: as above.
unsafe impl Sync for SyncArea {}

impl SyncArea {
    /// Creates the segment `name` (a `/name` for shm_open) holding `kinds`, each initialised as a
    /// process-shared object. The caller records the name for removal first.
    #[cfg(target_os = "linux")]
    pub fn create(name: &str, kinds: &[SyncKind]) -> Result<(), SyncError> {
        if kinds.len() > MAX_SLOTS {
            return Err(SyncError::BadArea(format!("{} resources, at most {MAX_SLOTS}", kinds.len())));
        }
        let area = Self::map(name, Some(area_len(kinds.len())))?;
        for (i, kind) in kinds.iter().enumerate() {
            let slot = area.slot(i).ok_or(SyncError::NoSuchResource { what: "slot", index: i })?;
            match kind {
                SyncKind::Mutex => mutex::init(slot)?,
                SyncKind::Semaphore { initial } => semaphore::init(slot, *initial)?,
                SyncKind::Counter => slot.counter.store(0, Ordering::Relaxed),
                SyncKind::Barrier { parties } => {
                    slot.counter.store(0, Ordering::Relaxed);
                    slot.param.store(u64::from((*parties).max(1)), Ordering::Relaxed);
                }
                SyncKind::Condvar => condvar::init(slot)?,
                SyncKind::TicketLock => {
                    slot.counter.store(0, Ordering::Relaxed);
                    slot.round.store(0, Ordering::Relaxed);
                }
            }
            let k = match kind {
                SyncKind::Mutex => KIND_MUTEX,
                SyncKind::Semaphore { .. } => KIND_SEMAPHORE,
                SyncKind::Counter => KIND_COUNTER,
                SyncKind::Barrier { .. } => KIND_BARRIER,
                SyncKind::Condvar => KIND_CONDVAR,
                SyncKind::TicketLock => KIND_TICKET,
            };
            slot.kind.store(k, Ordering::Release);
        }
        area.header().slots.store(kinds.len() as u64, Ordering::Release);
        area.header().magic.store(AREA_MAGIC, Ordering::Release);
        Ok(())
    }

    /// Maps the existing area `name`.
    #[cfg(target_os = "linux")]
    pub fn open(name: &str) -> Result<SyncArea, SyncError> {
        let mut area = Self::map(name, None)?;
        if area.header().magic.load(Ordering::Acquire) != AREA_MAGIC {
            return Err(SyncError::BadArea(format!("{name} is not initialised")));
        }
        let slots = area.header().slots.load(Ordering::Acquire) as usize;
        if slots > MAX_SLOTS || area_len(slots) > area.len {
            return Err(SyncError::BadArea(format!("{name} says {slots} slots in {} bytes", area.len)));
        }
        area.slots = slots;
        Ok(area)
    }

    #[cfg(target_os = "linux")]
    fn map(name: &str, create_len: Option<usize>) -> Result<SyncArea, SyncError> {
        use nix::fcntl::OFlag;
        use nix::sys::mman::{MapFlags, ProtFlags, mmap, shm_open};
        use nix::sys::stat::Mode;
        let errno = |op| move |e: nix::Error| SyncError::os(op, e as i32);
        let flags = if create_len.is_some() { OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL } else { OFlag::O_RDWR };
        let fd = shm_open(name, flags, Mode::from_bits_truncate(0o600)).map_err(errno("shm_open"))?;
        let len = match create_len {
            Some(len) => {
                nix::unistd::ftruncate(&fd, len as i64).map_err(errno("ftruncate"))?;
                len
            }
            None => nix::sys::stat::fstat(&fd).map_err(errno("fstat"))?.st_size as usize,
        };
        if len < slots_offset() {
            return Err(SyncError::BadArea(format!("{name} holds {len} bytes")));
        }
        let size = std::num::NonZeroUsize::new(len).ok_or(SyncError::BadArea("empty".into()))?;
        // SAFETY: a fresh shared mapping of a segment we opened; nothing aliases it yet.
        let ptr =
            unsafe { mmap(None, size, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, &fd, 0) }
                .map_err(errno("mmap"))?;
        let slots = create_len.map_or(0, |l| (l - slots_offset()) / std::mem::size_of::<Slot>());
        Ok(SyncArea { base: ptr.as_ptr().cast(), len, slots })
    }

    fn header(&self) -> &AreaHeader {
        // SAFETY: the mapping is at least `slots_offset()` bytes, page-aligned; atomics only.
        unsafe { &*(self.base as *const AreaHeader) }
    }

    pub(crate) fn slot(&self, i: usize) -> Option<&Slot> {
        // SAFETY: `i < slots` and the mapping holds `area_len(slots)` bytes; each slot is aligned.
        (i < self.slots)
            .then(|| unsafe { &*(self.base.add(slots_offset() + i * std::mem::size_of::<Slot>()) as *const Slot) })
    }

    fn slot_of(&self, i: usize, kind: u32, what: &'static str) -> Result<&Slot, SyncError> {
        self.slot(i)
            .filter(|s| s.kind.load(Ordering::Acquire) == kind)
            .ok_or(SyncError::NoSuchResource { what, index: i })
    }

    /// The robust mutex in slot `i`.
    pub fn mutex(&self, i: usize) -> Result<RobustMutex<'_>, SyncError> {
        self.slot_of(i, KIND_MUTEX, "mutex").map(RobustMutex::new)
    }

    /// The semaphore in slot `i`.
    pub fn semaphore(&self, i: usize) -> Result<Semaphore<'_>, SyncError> {
        self.slot_of(i, KIND_SEMAPHORE, "semaphore").map(Semaphore::new)
    }

    /// The barrier in slot `i`: each arrival waits until `parties` have arrived in its round,
    /// asleep on a futex (the kernel shows it waiting, like a mutex or semaphore waiter).
    pub fn barrier_wait(&self, i: usize) -> Result<(), SyncError> {
        let slot = self.slot_of(i, KIND_BARRIER, "barrier")?;
        let parties = slot.param.load(Ordering::Relaxed).max(1);
        let ticket = slot.counter.fetch_add(1, Ordering::SeqCst);
        let round_done = (ticket / parties + 1) * parties;
        if ticket + 1 == round_done {
            // The count first, then the word waiters sleep on: a waiter that reads the word
            // before it checks the count cannot miss this round's end.
            slot.round.fetch_add(1, Ordering::SeqCst);
            // SAFETY: FUTEX_WAKE on a u32 in shared memory; wakes every waiter of the round.
            unsafe { libc::syscall(libc::SYS_futex, slot.round.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
            return Ok(());
        }
        loop {
            // The word is read afresh before each check of the count, never once before the
            // ticket: a waiter that left the previous round between its last arrival's two
            // updates and came straight back would otherwise have read the old word, which the
            // second update then changed, and every FUTEX_WAIT would return at once (a spin in
            // state R, not a sleep, until this round ends).
            let seen = slot.round.load(Ordering::SeqCst);
            if slot.counter.load(Ordering::SeqCst) >= round_done {
                return Ok(());
            }
            let t = libc::timespec { tv_sec: 0, tv_nsec: 100_000_000 };
            // SAFETY: FUTEX_WAIT on the shared round word while it still reads `seen`; any
            // outcome (woken, changed, timed out, interrupted) re-checks the count.
            unsafe {
                libc::syscall(libc::SYS_futex, slot.round.as_ptr(), libc::FUTEX_WAIT, seen, &t as *const libc::timespec)
            };
        }
    }

    /// The condition variable in slot `i`.
    pub fn condvar(&self, i: usize) -> Result<Condvar<'_>, SyncError> {
        self.slot_of(i, KIND_CONDVAR, "condition variable").map(Condvar::new)
    }

    /// The fair (ticket) lock in slot `i`.
    pub fn ticket_lock(&self, i: usize) -> Result<TicketLock<'_>, SyncError> {
        self.slot_of(i, KIND_TICKET, "fair lock").map(TicketLock::new)
    }

    /// The counter in slot `i`.
    pub fn counter(&self, i: usize) -> Result<Counter<'_>, SyncError> {
        self.slot_of(i, KIND_COUNTER, "counter").map(Counter::new)
    }
}

impl Drop for SyncArea {
    fn drop(&mut self) {
        // SAFETY: base/len come from a successful mmap; no borrow outlives `self`.
        unsafe {
            let _ = nix::sys::mman::munmap(std::ptr::NonNull::new_unchecked(self.base.cast()), self.len);
        }
    }
}

/// Removes the area's name; mappings stay valid until unmapped.
#[cfg(target_os = "linux")]
pub fn unlink(name: &str) -> std::io::Result<()> {
    nix::sys::mman::shm_unlink(name).map_err(Into::into)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn thread_cpu() -> std::time::Duration {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: writes one timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    #[test]
    fn a_barrier_wait_begun_between_the_last_arrivals_two_updates_sleeps_instead_of_spinning() {
        let name = format!("/ipc-lab-unit-{}-barrier", std::process::id());
        let _ = unlink(&name);
        SyncArea::create(&name, &[SyncKind::Barrier { parties: 2 }]).expect("create");
        let area = SyncArea::open(&name).expect("open");
        let _ = unlink(&name);
        let slot = area.slot(0).expect("slot 0");
        // Round 0's last arrival between its two updates: both tickets taken, the round word not
        // yet moved. Its other party saw the count (a timed-out wait), left, and comes back.
        slot.counter.store(2, Ordering::SeqCst);
        std::thread::scope(|s| {
            let back = s.spawn(|| {
                let before = thread_cpu();
                area.barrier_wait(0).map(|()| thread_cpu() - before)
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            // The last arrival's second update and its wake-up.
            slot.round.fetch_add(1, Ordering::SeqCst);
            // SAFETY: FUTEX_WAKE on the shared round word.
            unsafe { libc::syscall(libc::SYS_futex, slot.round.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
            std::thread::sleep(std::time::Duration::from_millis(500));
            area.barrier_wait(0).expect("the second party of round 1");
            let cpu = back.join().expect("the waiter").expect("its wait");
            assert!(
                cpu < std::time::Duration::from_millis(100),
                "waited 550 ms using {cpu:?} of CPU: it spun instead of sleeping on the futex"
            );
        });
    }
}
