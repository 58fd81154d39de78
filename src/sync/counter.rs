//! A counter shared by processes, for the lost-update race: [`Counter::racy_increment`] reads,
//! waits a moment, and writes back (two separate memory operations, as `counter.value += 1` in
//! Python's `multiprocessing.Value` without its lock), so increments of concurrent processes get
//! lost; [`Counter::atomic_add`] is one indivisible read-modify-write and loses none.

use std::sync::atomic::Ordering;

use super::Slot;

pub struct Counter<'a> {
    slot: &'a Slot,
}

impl<'a> Counter<'a> {
    pub(super) fn new(slot: &'a Slot) -> Self {
        Counter { slot }
    }

    pub fn load(&self) -> u64 {
        self.slot.counter.load(Ordering::SeqCst)
    }

    /// Load, spin `window` times (the gap in which another process's update gets lost), store
    /// the value plus one. Each access is atomic, so this is well defined; the increment is not.
    pub fn racy_increment(&self, window: u32) {
        let v = self.slot.counter.load(Ordering::Relaxed);
        for _ in 0..window {
            std::hint::spin_loop();
        }
        self.slot.counter.store(v.wrapping_add(1), Ordering::Relaxed);
    }

    /// Writes `v` (the second half of an increment split in two).
    pub fn store(&self, v: u64) {
        self.slot.counter.store(v, Ordering::SeqCst);
    }

    /// One indivisible increment (a `lock xadd` on x86).
    pub fn atomic_add(&self, n: u64) -> u64 {
        self.slot.counter.fetch_add(n, Ordering::SeqCst)
    }
}
