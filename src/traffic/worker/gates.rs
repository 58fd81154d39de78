//! Pacing: the rate limit of real time and the step gates of slow motion and step mode.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::meter::NodeCells;
use crate::telemetry::{Event, Op, Role};
use crate::traffic::spec::MAX_NODES;

/// Keeps the initiator at or under the run's rate limit.
pub(super) struct Pacer {
    pub(super) interval: Option<Duration>,
    pub(super) next: Instant,
}

impl Pacer {
    pub(super) fn new(rate_per_sec: Option<f64>) -> Self {
        Pacer { interval: rate_per_sec.map(|r| Duration::from_secs_f64(1.0 / r)), next: Instant::now() }
    }

    /// Waits for the next slot. With the gates on (slow motion, step) the session sets the pace,
    /// and a rate limit meant for real time would only slow it further: no wait then.
    #[inline]
    pub(super) fn wait(&mut self, stop: &AtomicBool, gated: bool) {
        let Some(interval) = self.interval else { return };
        let now = Instant::now();
        if gated {
            self.next = now;
            return;
        }
        if self.next > now {
            // Sleep in slices so a stop request is honoured promptly even at 0.1 msgs/s.
            let mut left = self.next - now;
            while left > Duration::ZERO && !stop.load(Ordering::Relaxed) {
                let slice = left.min(Duration::from_millis(50));
                std::thread::sleep(slice);
                left = left.saturating_sub(slice);
            }
        } else {
            self.next = now;
        }
        self.next += interval;
    }
}

/// Step mode: a gate per role in front of every IPC operation, opened by the supervisor.
pub(super) struct Gates {
    pub(super) enabled: AtomicBool,
    /// Permits per node.
    pub(super) permits: Mutex<Vec<u64>>,
    pub(super) changed: Condvar,
}

impl Gates {
    pub(super) fn new(enabled: bool) -> Self {
        Gates {
            enabled: AtomicBool::new(enabled),
            permits: Mutex::new(vec![0; MAX_NODES as usize + 1]),
            changed: Condvar::new(),
        }
    }

    pub(super) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
        let mut permits = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        if !enabled {
            // A Step that arrives as gates go off must not let an operation through later.
            permits.iter_mut().for_each(|p| *p = 0);
        }
        self.changed.notify_all();
    }

    pub(super) fn add_permits(&self, role: Role, ops: u64) {
        let mut permits = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = permits.get_mut(role.index()) {
            *p += ops;
        }
        self.changed.notify_all();
    }

    #[inline]
    pub(super) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Waits at the gate if gates are on. One relaxed load when they are off: the sequence number
    /// for the telemetry is only worked out when someone is watching. Arriving, the node reports
    /// its progress first, so the counts a student sees at a gate are exact.
    #[inline]
    pub(super) fn pass(&self, role: Role, op: Op, seq: &dyn Fn() -> u64, cells: &NodeCells, stop: &AtomicBool) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let seq = seq();
        let sink = &cells.sink;
        cells.emit_progress(true, None);
        sink.emit(&Event::Gate { role, op, seq, passed: false });
        let slot = role.index().min(MAX_NODES as usize);
        let mut permits = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        while self.enabled.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) && permits[slot] == 0 {
            permits = self
                .changed
                .wait_timeout(permits, Duration::from_millis(100))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        if permits[slot] > 0 {
            permits[slot] -= 1;
        }
        drop(permits);
        sink.emit(&Event::Gate { role, op, seq, passed: true });
    }
}

/// State the control thread shares with the roles.
pub(super) struct Shared {
    pub(super) stop: AtomicBool,
    pub(super) gates: Gates,
}
