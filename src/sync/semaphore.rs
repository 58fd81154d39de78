//! A process-shared POSIX counting semaphore in a [`SyncArea`](super::SyncArea) slot.
//!
//! Unlike the robust mutex, a semaphore has no owner: when a process that took a unit dies, the
//! unit is simply gone, and everyone waiting for it waits forever. That difference is a lesson.

use super::{Slot, SyncError};

pub struct Semaphore<'a> {
    slot: &'a Slot,
}

pub(super) fn init(slot: &Slot, initial: u32) -> Result<(), SyncError> {
    // SAFETY: the semaphore lives in shared memory that outlives every user; pshared = 1.
    let rc = unsafe { libc::sem_init(slot.sem.get(), 1, initial) };
    if rc == 0 {
        Ok(())
    } else {
        Err(SyncError::os("sem_init", std::io::Error::last_os_error().raw_os_error().unwrap_or(0)))
    }
}

impl<'a> Semaphore<'a> {
    pub(super) fn new(slot: &'a Slot) -> Self {
        Semaphore { slot }
    }

    fn raw(&self) -> *mut libc::sem_t {
        self.slot.sem.get()
    }

    /// Takes one unit, blocking (a futex wait in the kernel) while there is none.
    pub fn wait(&self) -> Result<(), SyncError> {
        loop {
            // SAFETY: a semaphore initialised by `init`, mapped for as long as `self`.
            if unsafe { libc::sem_wait(self.raw()) } == 0 {
                return Ok(());
            }
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            if errno != libc::EINTR {
                return Err(SyncError::os("sem_wait", errno));
            }
        }
    }

    /// Gives one unit back, waking one waiter.
    /// Takes a unit if one is there, without sleeping: `false` when the count is zero.
    pub fn try_wait(&self) -> Result<bool, SyncError> {
        loop {
            if unsafe { libc::sem_trywait(self.raw()) } == 0 {
                return Ok(true);
            }
            match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
                libc::EINTR => {}
                libc::EAGAIN => return Ok(false),
                errno => return Err(SyncError::os("sem_trywait", errno)),
            }
        }
    }

    pub fn post(&self) -> Result<(), SyncError> {
        // SAFETY: as in `wait`.
        if unsafe { libc::sem_post(self.raw()) } == 0 {
            Ok(())
        } else {
            Err(SyncError::os("sem_post", std::io::Error::last_os_error().raw_os_error().unwrap_or(0)))
        }
    }

    /// Units available now (what the stage draws).
    pub fn value(&self) -> Result<i32, SyncError> {
        let mut v = 0;
        // SAFETY: as in `wait`; sem_getvalue writes one int.
        if unsafe { libc::sem_getvalue(self.raw(), &mut v) } == 0 {
            Ok(v)
        } else {
            Err(SyncError::os("sem_getvalue", std::io::Error::last_os_error().raw_os_error().unwrap_or(0)))
        }
    }
}
