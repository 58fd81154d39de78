//! A process-shared pthread condition variable in a [`SyncArea`](super::SyncArea) slot, waited on
//! with one of the area's robust mutexes. A condition variable has no memory: a signal with
//! nobody waiting is lost. So a waiter checks a predicate (shared state guarded by the mutex) in
//! a loop, and waits only while it is false; a waiter that waits without one sleeps through a
//! signal that came first, for ever: the lost wake-up the lesson shows.

use super::{RobustMutex, Slot, SyncError};

pub struct Condvar<'a> {
    slot: &'a Slot,
}

pub(super) fn init(slot: &Slot) -> Result<(), SyncError> {
    let c = slot.cond.get();
    // SAFETY: the attribute lives on this frame for the calls below; the condition variable is in
    // shared memory that outlives every user, initialised once before any worker maps it.
    unsafe {
        let mut attr: libc::pthread_condattr_t = std::mem::zeroed();
        let check = |rc: i32, op| if rc == 0 { Ok(()) } else { Err(SyncError::os(op, rc)) };
        check(libc::pthread_condattr_init(&mut attr), "pthread_condattr_init")?;
        let result = check(
            libc::pthread_condattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
            "pthread_condattr_setpshared",
        )
        .and_then(|()| check(libc::pthread_cond_init(c, &attr), "pthread_cond_init"));
        libc::pthread_condattr_destroy(&mut attr);
        result
    }
}

impl<'a> Condvar<'a> {
    pub(super) fn new(slot: &'a Slot) -> Self {
        Condvar { slot }
    }

    /// Atomically unlocks `mutex` (which the caller holds) and sleeps until signalled, then
    /// locks it again before returning: asleep on a futex in the kernel meanwhile. Says, as a
    /// lock does, whether the mutex's owner died while this process slept (it is recovered).
    pub fn wait(&self, mutex: &RobustMutex<'_>) -> Result<super::Locked, SyncError> {
        // SAFETY: both objects were initialised process-shared in the mapped area; the caller
        // holds the mutex, as pthread_cond_wait requires.
        match unsafe { libc::pthread_cond_wait(self.slot.cond.get(), mutex.raw()) } {
            0 => Ok(super::Locked::Acquired),
            libc::EOWNERDEAD => mutex.make_consistent().map(|()| super::Locked::OwnerDied),
            libc::ENOTRECOVERABLE => Err(SyncError::NotRecoverable),
            rc => Err(SyncError::os("pthread_cond_wait", rc)),
        }
    }

    /// Wakes one waiter, if there is one; with none, the signal is lost.
    pub fn signal(&self) -> Result<(), SyncError> {
        // SAFETY: as in `wait`.
        match unsafe { libc::pthread_cond_signal(self.slot.cond.get()) } {
            0 => Ok(()),
            rc => Err(SyncError::os("pthread_cond_signal", rc)),
        }
    }

    /// Wakes every waiter.
    pub fn broadcast(&self) -> Result<(), SyncError> {
        // SAFETY: as in `wait`.
        match unsafe { libc::pthread_cond_broadcast(self.slot.cond.get()) } {
            0 => Ok(()),
            rc => Err(SyncError::os("pthread_cond_broadcast", rc)),
        }
    }
}
