//! What the Distributed view shows, folded from a job's events: each chunk's state, each
//! worker's lane of segments (idle, receiving, computing, sending, as the workers measured
//! them), the running total, the log. No egui and no I/O; memory bounded.

use std::collections::VecDeque;

use super::compute::Partial;
use super::coordinator::{JobEvent, JobOutcome, Lost, NodeStats};
use super::sweep::Sweep;

/// Most segments kept per lane (the oldest go first).
pub const MAX_SEGMENTS: usize = 2000;
/// Most log events kept.
pub const MAX_LOG: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkState {
    Waiting,
    /// Assigned; its task (and items) on the way.
    Sent {
        worker: u32,
    },
    Computing {
        worker: u32,
    },
    Done {
        worker: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChunkView {
    pub start: u64,
    pub len: u64,
    pub state: ChunkState,
    /// Taken back from a worker at least once.
    pub requeued: bool,
    /// A late copy of its result was ignored.
    pub duplicate: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegKind {
    Idle,
    Receive,
    Compute,
    Wait,
    Send,
    /// Silent (stopped, or stuck) past the deadline, until it spoke again.
    Stopped,
    /// Work in hand when the worker died: lost.
    Lost,
    /// Work whose result came too late and was ignored.
    Wasted,
    /// A task or result held on its way by an injected delay (`--inject delay`): distance.
    Transit,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub kind: SegKind,
    pub from_ns: u64,
    pub to_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    Starting,
    Idle,
    Busy {
        chunk: u32,
    },
    /// No heartbeat for the limit; `stopped` when the kernel showed state T.
    Silent {
        stopped: bool,
    },
    Gone,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WorkerView {
    pub id: u32,
    pub pid: Option<u32>,
    pub state: WorkerState,
    pub replaces: Option<u32>,
    pub segments: VecDeque<Segment>,
    /// The chunk in hand: since when, how far (from heartbeats).
    pub busy_since_ns: Option<u64>,
    pub done_items: u64,
    pub chunks: u64,
    pub items: u64,
    /// When its previous result arrived: its next idle segment starts no earlier.
    pub last_arrived_ns: u64,
    /// Since when it has been silent (for the stopped segment).
    pub silent_since_ns: Option<u64>,
    /// Killed by SIGKILL (sent, or as its exit said).
    pub killed: bool,
    /// Sent SIGSTOP (and not SIGCONT since) from here.
    pub stop_sent: bool,
    /// A worker from another host: where it is and its clock (best round trip, offset).
    pub node: Option<NodeStats>,
    /// The latest round trip measured to it.
    pub last_rtt_ns: Option<u64>,
}

impl WorkerView {
    fn push(&mut self, kind: SegKind, from_ns: u64, to_ns: u64) {
        if to_ns > from_ns {
            if self.segments.len() == MAX_SEGMENTS {
                self.segments.pop_front();
            }
            self.segments.push_back(Segment { kind, from_ns, to_ns });
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct JobModel {
    pub chunks: Vec<ChunkView>,
    pub workers: Vec<WorkerView>,
    pub t0_ns: Option<u64>,
    pub total: Option<Partial>,
    pub chunks_done: usize,
    pub bytes: u64,
    pub log: VecDeque<JobEvent>,
    pub outcome: Option<JobOutcome>,
    pub failed: Option<String>,
    pub sweep: Option<Sweep>,
    /// Sweep runs finished so far: (workers, elapsed ns, exact).
    pub sweep_runs: Vec<(usize, u64, bool)>,
    /// Processes, threads and tasks compared (`None` until asked).
    pub kinds: Option<Vec<super::sweep::KindRow>>,
    /// A comparison of kinds is running.
    pub kinds_running: bool,
    /// Where the job takes workers from other hosts, the addresses they dial, and whether they
    /// need the token file.
    pub listening: Option<(String, Vec<String>, bool)>,
}

impl JobModel {
    pub fn is_running(&self) -> bool {
        !self.chunks.is_empty() && self.outcome.is_none() && self.failed.is_none()
    }

    pub fn items(&self) -> u64 {
        self.chunks.iter().map(|c| c.len).sum()
    }

    fn worker(&mut self, id: u32) -> Option<&mut WorkerView> {
        self.workers.iter_mut().find(|w| w.id == id)
    }

    fn ensure_worker(&mut self, id: u32) -> &mut WorkerView {
        if !self.workers.iter().any(|w| w.id == id) {
            self.workers.push(WorkerView {
                id,
                pid: None,
                state: WorkerState::Starting,
                replaces: None,
                segments: VecDeque::new(),
                busy_since_ns: None,
                done_items: 0,
                chunks: 0,
                items: 0,
                last_arrived_ns: 0,
                silent_since_ns: None,
                killed: false,
                stop_sent: false,
                node: None,
                last_rtt_ns: None,
            });
            self.workers.sort_by_key(|w| w.id);
        }
        self.workers.iter_mut().find(|w| w.id == id).expect("just added")
    }

    fn log(&mut self, e: &JobEvent) {
        if self.log.len() == MAX_LOG {
            self.log.pop_front();
        }
        self.log.push_back(e.clone());
    }

    pub fn apply(&mut self, e: JobEvent) {
        match &e {
            JobEvent::Planned { chunks, .. } => {
                *self = JobModel { sweep_runs: std::mem::take(&mut self.sweep_runs), ..JobModel::default() };
                self.chunks = chunks
                    .iter()
                    .map(|&(start, len)| ChunkView {
                        start,
                        len,
                        state: ChunkState::Waiting,
                        requeued: false,
                        duplicate: false,
                    })
                    .collect();
            }
            JobEvent::WorkerUp { worker, pid, replaces, .. } => {
                let started = self.t0_ns.is_some();
                let w = self.ensure_worker(*worker);
                w.pid = *pid;
                w.replaces = *replaces;
                w.state = WorkerState::Idle;
                if replaces.is_some() || started {
                    self.log(&e);
                }
            }
            JobEvent::Started { at_ns } => self.t0_ns = Some(*at_ns),
            JobEvent::Assigned { chunk, worker, at_ns } => {
                if let Some(c) = self.chunks.get_mut(*chunk as usize) {
                    c.state = ChunkState::Sent { worker: *worker };
                }
                let w = self.ensure_worker(*worker);
                w.state = WorkerState::Busy { chunk: *chunk };
                w.busy_since_ns = Some(*at_ns);
                w.done_items = 0;
            }
            JobEvent::Sent { chunk, worker, bytes, .. } => {
                self.bytes += bytes;
                if let Some(c) = self.chunks.get_mut(*chunk as usize)
                    && c.state == (ChunkState::Sent { worker: *worker })
                {
                    c.state = ChunkState::Computing { worker: *worker };
                }
            }
            JobEvent::Progress { worker, chunk, done, .. } => {
                if let Some(c) = self.chunks.get_mut(*chunk as usize)
                    && c.state == (ChunkState::Sent { worker: *worker })
                {
                    c.state = ChunkState::Computing { worker: *worker };
                }
                if let Some(w) = self.worker(*worker) {
                    w.done_items = *done;
                }
            }
            JobEvent::Done { worker, result, arrived_ns, total } => {
                if let Some(c) = self.chunks.get_mut(result.chunk as usize) {
                    c.state = ChunkState::Done { worker: *worker };
                }
                self.chunks_done += 1;
                self.total = Some(total.clone());
                let t0 = self.t0_ns.unwrap_or(0);
                let w = self.ensure_worker(*worker);
                w.chunks += 1;
                w.items = w.items.saturating_add(result.items);
                let idle_from = result.asked_ns.max(w.last_arrived_ns).max(t0);
                w.last_arrived_ns = *arrived_ns;
                w.state = WorkerState::Idle;
                w.busy_since_ns = None;
                let compute_end = result.computed_ns.saturating_sub(result.waited_ns);
                // Injected distance is drawn as such: the task's way in before it arrived, the
                // result's way back before it arrived here.
                let arrived_task = result.task_ns.saturating_sub(result.delay_in_ns).max(idle_from);
                let left_result = arrived_ns.saturating_sub(result.delay_out_ns).max(result.computed_ns);
                for (kind, from, to) in [
                    (SegKind::Idle, idle_from, arrived_task),
                    (SegKind::Transit, arrived_task, result.task_ns),
                    (SegKind::Receive, result.task_ns, result.data_ns),
                    (SegKind::Compute, result.data_ns, compute_end),
                    (SegKind::Wait, compute_end, result.computed_ns),
                    (SegKind::Send, result.computed_ns, left_result),
                    (SegKind::Transit, left_result, *arrived_ns),
                ] {
                    w.push(kind, from, to);
                }
            }
            JobEvent::Duplicate { chunk, worker, at_ns, result } => {
                if let Some(c) = self.chunks.get_mut(*chunk as usize) {
                    c.duplicate = true;
                }
                if let Some(w) = self.worker(*worker) {
                    if let Some(since) = w.busy_since_ns {
                        let from = result.as_ref().map_or(since, |r| r.task_ns).max(since);
                        // Its silence, if it was stopped, shows as such; the rest went for nothing.
                        if let Some(s) = w.silent_since_ns.take() {
                            w.push(SegKind::Stopped, s, *at_ns);
                        }
                        w.push(SegKind::Wasted, from, *at_ns);
                    }
                    w.state = WorkerState::Idle;
                    w.busy_since_ns = None;
                    w.last_arrived_ns = *at_ns;
                }
                self.log(&e);
            }
            JobEvent::Corrupt { worker, .. } => {
                if let Some(w) = self.worker(*worker) {
                    w.state = WorkerState::Idle;
                    w.busy_since_ns = None;
                }
                self.log(&e);
            }
            JobEvent::Requeued { chunk, .. } => {
                if let Some(c) = self.chunks.get_mut(*chunk as usize) {
                    c.state = ChunkState::Waiting;
                    c.requeued = true;
                }
                self.log(&e);
            }
            JobEvent::Lost { worker, how, at_ns } => {
                let state = match how {
                    Lost::Died { .. } => WorkerState::Gone,
                    Lost::Silent { state, .. } => WorkerState::Silent { stopped: *state == Some('T') },
                };
                if let Some(w) = self.worker(*worker) {
                    w.state = state;
                    if state == WorkerState::Gone {
                        // What it had in hand is lost.
                        if let Some(since) = w.busy_since_ns.take() {
                            w.push(SegKind::Lost, since, *at_ns);
                        }
                        w.silent_since_ns = None;
                    } else {
                        w.silent_since_ns = Some(*at_ns);
                    }
                }
                self.log(&e);
            }
            JobEvent::Back { worker, at_ns } => {
                if let Some(w) = self.worker(*worker)
                    && let Some(since) = w.silent_since_ns.take()
                {
                    w.push(SegKind::Stopped, since, *at_ns);
                }
                if let Some(w) = self.worker(*worker)
                    && matches!(w.state, WorkerState::Silent { .. })
                {
                    w.state = match w.busy_since_ns {
                        Some(_) => WorkerState::Busy { chunk: u32::MAX },
                        None => WorkerState::Idle,
                    };
                }
                self.log(&e);
            }
            JobEvent::Exited { worker, exit, at_ns } => {
                if let Some(w) = self.worker(*worker) {
                    w.state = WorkerState::Gone;
                    w.killed |= exit.contains("signal 9");
                    if let Some(since) = w.busy_since_ns.take() {
                        w.push(SegKind::Lost, since, *at_ns);
                    }
                }
            }
            JobEvent::Signalled { worker, signal, .. } => {
                if let Some(w) = self.worker(*worker) {
                    match signal {
                        super::coordinator::Sig::Kill => w.killed = true,
                        super::coordinator::Sig::Stop => w.stop_sent = true,
                        super::coordinator::Sig::Continue => w.stop_sent = false,
                    }
                }
                self.log(&e);
            }
            JobEvent::Refused { .. } | JobEvent::Remote { .. } => self.log(&e),
            JobEvent::Listening { addr, dial, token, .. } => {
                self.listening = Some((addr.clone(), dial.clone(), *token));
                self.log(&e);
            }
            JobEvent::Node { worker, host, addr, rejoins } => {
                let node =
                    NodeStats { host: host.clone(), addr: addr.clone(), rejoins: *rejoins, ..Default::default() };
                // The table says it; the log has the join.
                self.ensure_worker(*worker).node = Some(node);
            }
            JobEvent::Clock { worker, rtt_ns, best_rtt_ns, offset_ns } => {
                if let Some(w) = self.worker(*worker) {
                    w.last_rtt_ns = Some(*rtt_ns);
                    if let Some(n) = &mut w.node {
                        n.rtt_ns = Some(*best_rtt_ns);
                        n.offset_ns = Some(*offset_ns);
                    }
                }
            }
            JobEvent::Finished(o) => {
                self.outcome = Some((**o).clone());
                for w in &mut self.workers {
                    if w.state != WorkerState::Gone {
                        w.state = WorkerState::Gone;
                    }
                    w.busy_since_ns = None;
                }
            }
            JobEvent::Failed { why } => {
                self.failed = Some(why.clone());
                self.log(&e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::proto::ChunkResult;

    #[test]
    fn a_requeued_chunk_goes_back_to_waiting_and_is_marked() {
        let mut m = JobModel::default();
        m.apply(JobEvent::Planned { chunks: vec![(0, 10), (10, 10)], workers: 2 });
        m.apply(JobEvent::WorkerUp { worker: 1, pid: Some(7), startup_ns: 1, replaces: None, at_ns: 1 });
        m.apply(JobEvent::Assigned { chunk: 0, worker: 1, at_ns: 2 });
        assert_eq!(m.chunks[0].state, ChunkState::Sent { worker: 1 });
        m.apply(JobEvent::Lost { worker: 1, how: Lost::Died { noticed: "eof".into() }, at_ns: 3 });
        m.apply(JobEvent::Requeued { chunk: 0, from: 1, at_ns: 3 });
        assert_eq!(m.chunks[0].state, ChunkState::Waiting);
        assert!(m.chunks[0].requeued);
        assert_eq!(m.workers[0].state, WorkerState::Gone);
        let r = ChunkResult {
            chunk: 0,
            partial: Partial::Sum(55),
            digest: 0,
            items: 10,
            asked_ns: 10,
            task_ns: 12,
            data_ns: 15,
            computed_ns: 20,
            waited_ns: 0,
            cpu_ns: 5,
            sent_ns: 20,
            delay_in_ns: 0,
            delay_out_ns: 0,
        };
        m.apply(JobEvent::Done { worker: 2, result: r, arrived_ns: 21, total: Partial::Sum(55) });
        assert_eq!(m.chunks[0].state, ChunkState::Done { worker: 2 });
        let lane: Vec<SegKind> = m.workers[1].segments.iter().map(|s| s.kind).collect();
        assert_eq!(lane, [SegKind::Idle, SegKind::Receive, SegKind::Compute, SegKind::Send]);
    }

    /// An injected delay shows as distance on both ways, not as idling or sending.
    #[test]
    fn injected_distance_is_drawn_as_transit_both_ways() {
        let mut m = JobModel::default();
        m.apply(JobEvent::Planned { chunks: vec![(0, 10)], workers: 1 });
        m.apply(JobEvent::WorkerUp { worker: 1, pid: Some(7), startup_ns: 1, replaces: None, at_ns: 1 });
        let ms = 1_000_000;
        let r = ChunkResult {
            chunk: 0,
            partial: Partial::Sum(55),
            digest: 0,
            items: 10,
            asked_ns: 10 * ms,
            task_ns: 32 * ms,
            data_ns: 33 * ms,
            computed_ns: 40 * ms,
            waited_ns: 0,
            cpu_ns: 7 * ms,
            sent_ns: 40 * ms,
            delay_in_ns: 20 * ms,
            delay_out_ns: 20 * ms,
        };
        m.apply(JobEvent::Done { worker: 1, result: r, arrived_ns: 61 * ms, total: Partial::Sum(55) });
        let lane: Vec<(SegKind, u64)> =
            m.workers[0].segments.iter().map(|s| (s.kind, (s.to_ns - s.from_ns) / ms)).collect();
        assert_eq!(
            lane,
            [
                (SegKind::Idle, 2),
                (SegKind::Transit, 20),
                (SegKind::Receive, 1),
                (SegKind::Compute, 7),
                (SegKind::Send, 1),
                (SegKind::Transit, 20)
            ]
        );
    }
}
