//! A fair lock for processes: a ticket lock in a [`SyncArea`](super::SyncArea) slot. Each locker
//! draws a ticket (an atomic add on the slot's counter) and sleeps on a futex until the "now
//! serving" word reaches it; unlocking serves the next ticket. Waiters are let in in the order
//! they came, so no process can overtake another again and again, as it can at a glibc mutex,
//! where whoever unlocks and at once locks again usually wins: that is how a lock starves a
//! process, and this is the fix. (It is not robust: a holder that dies leaves it taken.)

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
        let serving = u64::from(self.slot.round.load(Ordering::SeqCst));
        self.slot.counter.compare_exchange(serving, serving + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// Draws a ticket and sleeps (a futex wait) until it is served.
    pub fn lock(&self) -> Result<(), SyncError> {
        let ticket = self.slot.counter.fetch_add(1, Ordering::SeqCst) as u32;
        loop {
            let serving = self.slot.round.load(Ordering::SeqCst);
            if serving == ticket {
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

    /// Serves the next ticket, waking every waiter (each checks whether it is its turn).
    pub fn unlock(&self) -> Result<(), SyncError> {
        self.slot.round.fetch_add(1, Ordering::SeqCst);
        // SAFETY: FUTEX_WAKE on the shared word.
        unsafe { libc::syscall(libc::SYS_futex, self.slot.round.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
        Ok(())
    }
}
