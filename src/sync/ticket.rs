//! A fair lock for processes: a ticket lock in a [`SyncArea`](super::SyncArea) slot. Each locker
//! draws a ticket (an atomic add on the slot's counter) and sleeps on a futex until the "now
//! serving" word reaches it; unlocking serves the next ticket. Waiters are let in in the order
//! they came, so no process can overtake another again and again, as it can at a glibc mutex,
//! where whoever unlocks and at once locks again usually wins: that is how a lock starves a
//! process, and this is the fix. (It is not robust: a holder that dies leaves it taken, and a
//! waiter that dies leaves a ticket nobody will use, so everyone behind it waits for good.)

use std::sync::atomic::Ordering;

use super::{Slot, SyncError};

pub struct TicketLock<'a> {
    slot: &'a Slot,
}

impl<'a> TicketLock<'a> {
    pub(super) fn new(slot: &'a Slot) -> Self {
        TicketLock { slot }
    }

    /// Takes the lock now if nobody holds it or waits for it: `false` otherwise.
    pub fn try_lock(&self) -> bool {
        let next = self.slot.counter.load(Ordering::SeqCst);
        // Tickets and the serving word agree in their low 32 bits (the word wraps with them).
        let free = next as u32 == self.slot.round.load(Ordering::SeqCst);
        let taken =
            free && self.slot.counter.compare_exchange(next, next + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok();
        if taken {
            self.slot.param.store(u64::from(std::process::id()), Ordering::SeqCst);
        }
        taken
    }

    /// Draws a ticket and sleeps (a futex wait) until it is served.
    pub fn lock(&self) -> Result<(), SyncError> {
        let ticket = self.slot.counter.fetch_add(1, Ordering::SeqCst) as u32;
        loop {
            let serving = self.slot.round.load(Ordering::SeqCst);
            if serving == ticket {
                self.slot.param.store(u64::from(std::process::id()), Ordering::SeqCst);
                return Ok(());
            }
            // SAFETY: FUTEX_WAIT on a u32 of shared memory while it still reads `serving`; any
            // outcome (woken, changed, interrupted) reads it again.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.slot.round.as_ptr(),
                    libc::FUTEX_WAIT,
                    serving,
                    std::ptr::null::<libc::timespec>(),
                )
            };
        }
    }

    /// Serves the next ticket, waking every waiter (each checks whether it is its turn). Refused
    /// (EPERM, as a mutex refuses it) to a process that does not hold it.
    pub fn unlock(&self) -> Result<(), SyncError> {
        if self.slot.param.swap(0, Ordering::SeqCst) != u64::from(std::process::id()) {
            return Err(SyncError::os("unlock", libc::EPERM));
        }
        self.slot.round.fetch_add(1, Ordering::SeqCst);
        // SAFETY: FUTEX_WAKE on the shared word.
        unsafe { libc::syscall(libc::SYS_futex, self.slot.round.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
        Ok(())
    }
}
