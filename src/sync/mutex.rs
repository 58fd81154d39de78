//! A robust, process-shared pthread mutex in a [`SyncArea`](super::SyncArea) slot.
//!
//! Robust means the kernel keeps a list of the robust mutexes each thread holds: when the thread
//! dies holding one, the next `pthread_mutex_lock` returns `EOWNERDEAD` and hands the mutex over,
//! so the survivor can repair what it guards and call [`RobustMutex::make_consistent`]. Unlocking
//! without that makes the mutex unusable (`ENOTRECOVERABLE`), which is what the lesson shows.

use super::{Slot, SyncError};

/// How a lock was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locked {
    Acquired,
    /// The previous owner died holding it (EOWNERDEAD): the caller owns it now, and the data it
    /// guards may be half-updated.
    OwnerDied,
}

pub struct RobustMutex<'a> {
    slot: &'a Slot,
}

pub(super) fn init(slot: &Slot) -> Result<(), SyncError> {
    let m = slot.mutex.get();
    // SAFETY: the attribute object lives on this stack frame for the calls below; the mutex is
    // in shared memory that outlives every user, initialised once before any worker maps it.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        let check = |rc: i32, op| if rc == 0 { Ok(()) } else { Err(SyncError::os(op, rc)) };
        check(libc::pthread_mutexattr_init(&mut attr), "pthread_mutexattr_init")?;
        let result = check(
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
            "pthread_mutexattr_setpshared",
        )
        .and_then(|()| {
            check(
                libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST),
                "pthread_mutexattr_setrobust",
            )
        })
        .and_then(|()| check(libc::pthread_mutex_init(m, &attr), "pthread_mutex_init"));
        libc::pthread_mutexattr_destroy(&mut attr);
        result
    }
}

impl<'a> RobustMutex<'a> {
    pub(super) fn new(slot: &'a Slot) -> Self {
        RobustMutex { slot }
    }

    pub(super) fn raw(&self) -> *mut libc::pthread_mutex_t {
        self.slot.mutex.get()
    }

    /// Blocks until this thread holds the mutex (a futex wait in the kernel while it waits).
    pub fn lock(&self) -> Result<Locked, SyncError> {
        // SAFETY: a mutex initialised by `init` in shared memory mapped for as long as `self`.
        match unsafe { libc::pthread_mutex_lock(self.raw()) } {
            0 => Ok(Locked::Acquired),
            libc::EOWNERDEAD => Ok(Locked::OwnerDied),
            libc::ENOTRECOVERABLE => Err(SyncError::NotRecoverable),
            libc::EDEADLK => Err(SyncError::Deadlock),
            rc => Err(SyncError::os("pthread_mutex_lock", rc)),
        }
    }

    /// Marks a mutex obtained with [`Locked::OwnerDied`] as repaired, so it stays usable.
    /// Takes the mutex if it is free, without sleeping: `None` when another holds it.
    pub fn try_lock(&self) -> Result<Option<Locked>, SyncError> {
        match unsafe { libc::pthread_mutex_trylock(self.raw()) } {
            0 => Ok(Some(Locked::Acquired)),
            libc::EBUSY => Ok(None),
            libc::EOWNERDEAD => Ok(Some(Locked::OwnerDied)),
            libc::ENOTRECOVERABLE => Err(SyncError::NotRecoverable),
            rc => Err(SyncError::os("pthread_mutex_trylock", rc)),
        }
    }

    pub fn make_consistent(&self) -> Result<(), SyncError> {
        // SAFETY: as in `lock`; the caller holds the mutex.
        match unsafe { libc::pthread_mutex_consistent(self.raw()) } {
            0 => Ok(()),
            rc => Err(SyncError::os("pthread_mutex_consistent", rc)),
        }
    }

    pub fn unlock(&self) -> Result<(), SyncError> {
        // SAFETY: as in `lock`; the caller holds the mutex.
        match unsafe { libc::pthread_mutex_unlock(self.raw()) } {
            0 => Ok(()),
            rc => Err(SyncError::os("pthread_mutex_unlock", rc)),
        }
    }
}
