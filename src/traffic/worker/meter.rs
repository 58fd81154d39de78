//! Metering: what a node counts (accounting per port, latency, CPU, injected faults), the
//! counters it publishes after every operation (`NodeCells`), and the sampler thread that
//! reports them every 100 ms at the same ticks in every worker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{PortSpec, Shared};
use crate::accounting::SeqTracker;
use crate::faults::{Action, FaultCounts, Injector};
use crate::mechanism::{Gauge, Link, Queued};
use crate::telemetry::{Accounting, Direction, Event, LatencySummary, LinkStats, MessageEvent, Role, RoleStats, Sink};
use crate::traffic::spec::RunSpec;
use crate::wire::{Header, monotonic_nanos};

/// CPU seconds used so far by this process (or this thread, for the in-process baseline).
pub(super) fn cpu_secs(thread_only: bool) -> f64 {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        let who = if thread_only { UsageWho::RUSAGE_THREAD } else { UsageWho::RUSAGE_SELF };
        getrusage(who)
            .map(|u| {
                let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
                t(u.user_time()) + t(u.system_time())
            })
            .unwrap_or(0.0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = thread_only;
        0.0
    }
}

pub(super) const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// Per-message events per second and direction a worker aims at when messages come faster.
pub(super) const SAMPLES_PER_SEC: f64 = 400.0;

/// One port's counts as the node thread last published them.
#[derive(Default)]
pub(super) struct PortCells {
    pub(super) sent: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) unique: AtomicU64,
    pub(super) duplicated: AtomicU64,
    pub(super) out_of_order: AtomicU64,
    pub(super) corrupted: AtomicU64,
    pub(super) injected: [AtomicU64; 4],
}

impl PortCells {
    /// Stores the node thread's accounting for the sampler (the inverse of `accounting`).
    #[inline]
    pub(super) fn publish(&self, a: &Accounting) {
        let w = |cell: &AtomicU64, v| cell.store(v, Ordering::Relaxed);
        w(&self.received, a.received);
        w(&self.unique, a.unique);
        w(&self.duplicated, a.duplicated);
        w(&self.out_of_order, a.out_of_order);
        w(&self.corrupted, a.corrupted);
    }

    pub(super) fn accounting(&self) -> Accounting {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Accounting {
            received: r(&self.received),
            unique: r(&self.unique),
            duplicated: r(&self.duplicated),
            out_of_order: r(&self.out_of_order),
            corrupted: r(&self.corrupted),
        }
    }

    pub(super) fn injected(&self) -> FaultCounts {
        let r = |i: usize| self.injected[i].load(Ordering::Relaxed);
        FaultCounts { dropped: r(0), duplicated: r(1), reordered: r(2), corrupted: r(3) }
    }
}

/// A node's counters, shared between its thread (which publishes after every operation, a few
/// relaxed stores) and whoever reports progress: the sampler thread on a timer, and the node's
/// own step gate when it arrives. So progress stays current while the node is blocked in a send
/// or a receive, and the buffer fill is read from the ends that still run.
pub(super) struct NodeCells {
    pub(super) role: Role,
    pub(super) links: Vec<u16>,
    pub(super) ports: Vec<PortCells>,
    pub(super) gauges: Vec<Option<Arc<dyn Gauge>>>,
    pub(super) latency: Mutex<Option<LatencySummary>>,
    pub(super) sample_every: AtomicU64,
    /// Set once the node has its final numbers: no progress after them.
    pub(super) finished: AtomicBool,
    /// One report at a time, so a report read earlier is never sent after a newer one.
    pub(super) emit: Mutex<()>,
    pub(super) sink: Sink,
}

impl NodeCells {
    pub(super) fn new(role: Role, ports: &[(PortSpec, Box<dyn Link>)], sink: &Sink) -> Arc<NodeCells> {
        Arc::new(NodeCells {
            role,
            links: ports.iter().map(|(p, _)| p.link).collect(),
            ports: ports.iter().map(|_| PortCells::default()).collect(),
            gauges: ports.iter().map(|(_, l)| l.gauge()).collect(),
            latency: Mutex::new(None),
            sample_every: AtomicU64::new(1),
            finished: AtomicBool::new(false),
            emit: Mutex::new(()),
            sink: sink.clone(),
        })
    }

    /// Reports this node's counts and buffer fill now. From the sampler a full telemetry queue
    /// drops the report (and counts it); at a step gate (`wait`) the report waits for room, so
    /// the counts beside the gate are never older than the gate.
    pub(super) fn emit_progress(&self, wait: bool, tick: Option<u64>) {
        let _one_at_a_time = self.emit.lock().unwrap_or_else(|p| p.into_inner());
        if self.finished.load(Ordering::Relaxed) {
            return;
        }
        let per_port: Vec<Accounting> = self.ports.iter().map(PortCells::accounting).collect();
        let mut injected = FaultCounts::default();
        self.ports.iter().for_each(|p| injected.add(&p.injected()));
        let readings = |read: fn(&dyn Gauge) -> Option<Queued>| -> Vec<(u16, Queued)> {
            self.links
                .iter()
                .zip(&self.gauges)
                .filter_map(|(&link, g)| g.as_deref().and_then(read).map(|q| (link, q)))
                .collect()
        };
        let event = Event::Progress {
            role: self.role,
            sent: self.ports.iter().map(|p| p.sent.load(Ordering::Relaxed)).sum(),
            received: per_port.iter().map(|a| a.received).sum(),
            queues: readings(|g| g.receiving()),
            sending: readings(|g| g.sending()),
            accounting: crate::telemetry::Accounting::sum(&per_port),
            latency: *self.latency.lock().unwrap_or_else(|p| p.into_inner()),
            sample_every: self.sample_every.load(Ordering::Relaxed),
            telemetry_dropped: self.sink.dropped(),
            injected,
            tick,
            sampled_at_nanos: monotonic_nanos(),
        };
        if wait { self.sink.emit(&event) } else { self.sink.try_emit(&event) }
    }

    pub(super) fn finish(&self) {
        let _one_at_a_time = self.emit.lock().unwrap_or_else(|p| p.into_inner());
        self.finished.store(true, Ordering::Relaxed);
    }
}

/// Reports every node's progress every [`PROGRESS_INTERVAL`] for as long as the worker runs.
/// With `aligned` (a live view is watching) every worker samples at the same ticks of
/// CLOCK_MONOTONIC (multiples of the interval), so the counts of different processes are read
/// within scheduling jitter of each other, not up to a whole interval apart. A bench run has no
/// live view and its samplers wake whenever they like: all of them waking at once, on the CPUs the
/// measured processes are pinned to, measurably slowed a short ping-pong (median +5%).
pub(super) fn start_sampler(nodes: Vec<Arc<NodeCells>>, aligned: bool) -> Result<(), String> {
    let interval = PROGRESS_INTERVAL.as_nanos() as u64;
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            loop {
                let now = monotonic_nanos();
                let tick = now / interval + 1;
                let nap = if aligned { tick * interval - now } else { interval };
                std::thread::sleep(Duration::from_nanos(nap));
                if nodes.iter().all(|n| n.finished.load(Ordering::Relaxed)) {
                    return;
                }
                nodes.iter().for_each(|n| n.emit_progress(false, Some(tick)));
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the sampler thread: {e}"))
}

/// One port's counts, kept by the node thread.
pub(super) struct PortCount {
    pub(super) peer: Role,
    pub(super) sent: u64,
    pub(super) tracker: SeqTracker,
    pub(super) injector: Option<Injector>,
}

/// Per-node state of the loop: accounting per port, latency, and per-message telemetry.
pub(super) struct Meter {
    pub(super) role: Role,
    pub(super) sink: Sink,
    pub(super) cells: Arc<NodeCells>,
    pub(super) control: Arc<Shared>,
    pub(super) events: bool,
    pub(super) thread_only: bool,
    pub(super) ports: Vec<PortCount>,
    pub(super) hist: hdrhistogram::Histogram<u64>,
    pub(super) last_progress: Instant,
    pub(super) measure_start_nanos: Option<u64>,
    pub(super) measure_end_nanos: u64,
    pub(super) measured: u64,
    pub(super) cpu_start: f64,
    /// CPU of helper threads (a thread-baseline fan-in consumer's link readers).
    pub(super) cpu_extra: f64,
    /// Whether this thread's own CPU is the node's (false when helper threads do its work and
    /// CPU is per thread: then `cpu_extra` is all of it).
    pub(super) cpu_own: bool,
    /// Report one message in this many (per-message events only); adapted to the rate.
    pub(super) sample_every: u64,
    pub(super) since_progress: u64,
}

impl Meter {
    pub(super) fn new(
        role: Role,
        ports: &[PortSpec],
        run: &RunSpec,
        cells: Arc<NodeCells>,
        control: Arc<Shared>,
        thread_only: bool,
    ) -> Result<Self, String> {
        let hist = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3).map_err(|e| e.to_string())?;
        Ok(Meter {
            role,
            sink: cells.sink.clone(),
            cells,
            control,
            events: run.per_message_events,
            thread_only,
            ports: ports
                .iter()
                .map(|p| PortCount {
                    peer: p.peer,
                    sent: 0,
                    tracker: SeqTracker::default(),
                    // Only data a node produces gets faults; relays pass on what they get.
                    injector: p.upstream.then(|| Injector::new(&run.faults, p.link)).flatten(),
                })
                .collect(),
            hist,
            last_progress: Instant::now(),
            measure_start_nanos: None,
            measure_end_nanos: 0,
            measured: 0,
            cpu_start: 0.0,
            cpu_extra: 0.0,
            cpu_own: true,
            sample_every: 1,
            since_progress: 0,
        })
    }

    #[inline]
    pub(super) fn sent(&self) -> u64 {
        self.ports.iter().map(|p| p.sent).sum()
    }

    #[inline]
    pub(super) fn received(&self) -> u64 {
        self.ports.iter().map(|p| p.tracker.accounting().received).sum()
    }

    #[inline]
    pub(super) fn start_measuring(&mut self, at_nanos: u64) {
        if self.measure_start_nanos.is_none() {
            self.measure_start_nanos = Some(at_nanos);
            self.cpu_start = cpu_secs(self.thread_only);
        }
    }

    #[inline]
    pub(super) fn measured(&mut self, latency_nanos: u64, end_nanos: u64) {
        self.hist.saturating_record(latency_nanos.max(1));
        self.counted(end_nanos);
    }

    /// One more measured message (a side that measures no latency: the echo, the producer).
    #[inline]
    pub(super) fn counted(&mut self, end_nanos: u64) {
        self.measured += 1;
        self.measure_end_nanos = end_nanos;
    }

    #[inline]
    pub(super) fn on_sent(&mut self, port: usize, seq: u64, size: usize, ts: u64) {
        self.on_sent_counted(port, seq, size, ts, true);
    }

    /// `distinct`: a new message rather than another copy of one sent before (a relay passing on
    /// a duplicate it received). `sent` counts distinct messages, so loss (sent − distinct
    /// received) on a relay's outbound link is not inflated by duplicates it forwards.
    #[inline]
    pub(super) fn on_sent_counted(&mut self, port: usize, seq: u64, size: usize, ts: u64, distinct: bool) {
        let p = &mut self.ports[port];
        if distinct {
            p.sent += 1;
            self.cells.ports[port].sent.store(p.sent, Ordering::Relaxed);
        }
        self.since_progress += 1;
        if self.events && seq.is_multiple_of(self.sample_every) {
            self.sink.try_emit(&Event::Message(MessageEvent {
                role: self.role,
                peer: p.peer,
                direction: Direction::Sent,
                seq,
                size: size as u32,
                send_ts_nanos: ts,
                recv_ts_nanos: None,
                sample_every: self.sample_every,
            }));
        }
    }

    #[inline]
    pub(super) fn on_received(&mut self, port: usize, header: &Header, intact: bool, recv_ts: u64) {
        let p = &mut self.ports[port];
        p.tracker.record(header.seq, intact);
        self.cells.ports[port].publish(&p.tracker.accounting());
        self.since_progress += 1;
        if self.events && header.seq.is_multiple_of(self.sample_every) {
            self.sink.try_emit(&Event::Message(MessageEvent {
                role: self.role,
                peer: p.peer,
                direction: Direction::Received,
                seq: header.seq,
                size: header.payload_len,
                send_ts_nanos: header.send_ts_nanos,
                recv_ts_nanos: Some(recv_ts),
                sample_every: self.sample_every,
            }));
        }
    }

    #[inline]
    pub(super) fn on_injected(&mut self, port: usize, action: Action) {
        let Some(inj) = self.ports[port].injector.as_mut() else { return };
        let (i, n) = match action {
            Action::Drop => (0, &mut inj.counts.dropped),
            Action::Duplicate => (1, &mut inj.counts.duplicated),
            Action::Reorder => (2, &mut inj.counts.reordered),
            Action::Corrupt(_) => (3, &mut inj.counts.corrupted),
            Action::Send => return,
        };
        *n += 1;
        self.cells.ports[port].injected[i].store(*n, Ordering::Relaxed);
    }

    /// After each operation: the latency summary and the message sampling for live views. The
    /// counts were published as they changed; progress itself is reported by the sampler thread
    /// and at each step gate. A bench run (no live view) skips all of it.
    #[inline]
    pub(super) fn after_op(&mut self) {
        if !self.events {
            return;
        }
        let gated = self.control.gates.enabled();
        let elapsed = self.last_progress.elapsed();
        // A burst (the first messages of a fast stream) adapts the sampling at once, not after
        // PROGRESS_INTERVAL: otherwise it floods the telemetry queue and events are dropped.
        let burst = self.since_progress >= 2 * SAMPLES_PER_SEC as u64 * self.sample_every;
        if !gated && !burst && elapsed < PROGRESS_INTERVAL {
            return;
        }
        let secs = elapsed.as_secs_f64().max(1e-4);
        self.last_progress = Instant::now();
        if !gated {
            // Keep per-message telemetry near SAMPLES_PER_SEC whatever the message rate; a power
            // of two, so sender and receiver (same rate) pick the same messages.
            let per_sec = self.since_progress as f64 / secs;
            self.sample_every = ((per_sec / SAMPLES_PER_SEC).max(1.0) as u64).next_power_of_two();
        } else {
            self.sample_every = 1;
        }
        self.since_progress = 0;
        self.cells.sample_every.store(self.sample_every, Ordering::Relaxed);
        // Percentiles walk the histogram (~0.3 ms): ten times a second at most, or once per step.
        if (gated || elapsed >= PROGRESS_INTERVAL) && !self.hist.is_empty() {
            *self.cells.latency.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(LatencySummary::from_histogram(&self.hist));
        }
    }

    pub(super) fn finish(self) -> RoleStats {
        let cpu = if self.measure_start_nanos.is_some() && self.cpu_own {
            cpu_secs(self.thread_only) - self.cpu_start
        } else {
            0.0
        };
        let per_port: Vec<_> = self.ports.iter().map(|p| p.tracker.accounting()).collect();
        let accounting = crate::telemetry::Accounting::sum(&per_port);
        self.cells.finish();
        RoleStats {
            links: self
                .ports
                .iter()
                .zip(&self.cells.links)
                .map(|(p, &link)| LinkStats {
                    link,
                    sent: p.sent,
                    accounting: p.tracker.accounting(),
                    injected: p.injector.as_ref().map(|i| i.counts).unwrap_or_default(),
                })
                .collect(),
            sent: self.sent(),
            accounting,
            latency: (!self.hist.is_empty()).then(|| LatencySummary::from_histogram(&self.hist)),
            latency_cdf: crate::telemetry::latency_cdf(&self.hist),
            measured_nanos: self.measure_start_nanos.map_or(0, |s| self.measure_end_nanos.saturating_sub(s)),
            measured_messages: self.measured,
            cpu_secs: (cpu + self.cpu_extra).max(0.0),
            telemetry_dropped: self.sink.dropped(),
        }
    }
}
