//! One MPI rank of a job: `ipc-lab mpi-rank SPEC`, started by mpirun (never by hand). Rank 0 is
//! the master and reports to the supervisor as `RankLine`s on its stdout; ranks 1..=N are the
//! workers, computing with the same code as our workers (`worker::compute`). Only rank 0 writes
//! to stdout.
//!
//! MPI's fault model is not ours: a rank that fails says why (rank 0 as an `Error` line, a worker
//! on stderr) and aborts every rank with MPI_Abort; nothing is requeued.

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use mpi::Count;
use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::{PROTOCOL, RankLine, RankSpec};
use crate::jobs::compute::{Partial, fill};
use crate::jobs::proto::ChunkResult;
use crate::jobs::spec::{DataSource, JobSpec, Op, Schedule, Ship};
use crate::jobs::worker::{Items, Work, compute, lie};
use crate::wire::monotonic_nanos;

/// Point-to-point tags of the dynamic schedule.
const TAG_ASK: mpi::Tag = 1;
const TAG_TASK: mpi::Tag = 2;
const TAG_ITEMS: mpi::Tag = 3;
const TAG_STOP: mpi::Tag = 4;

/// A static rank with no chunk (more workers than items) receives this chunk id.
const NO_CHUNK: u64 = u64::MAX;

/// A rank on the supervisor's host checks five times a second that the supervisor still runs;
/// once it is gone, the rank kills the mpirun that started it (if it is still there) and ends.
/// mpirun itself is killed when the supervisor dies (PR_SET_PDEATHSIG), which would otherwise
/// leave its ranks running or waiting in MPI_Init. Ranks on other hosts are ended by their
/// daemon when mpirun goes.
fn watch_supervisor(supervisor: Option<(String, u32, u64)>) {
    let Some((host, pid, start)) = supervisor else { return };
    if host != super::host_name() {
        return;
    }
    // The launcher that started this rank; only it is killed, and only while it is still this
    // rank's parent (once it is gone, the parent is whatever adopted the rank).
    // SAFETY: getppid cannot fail.
    let launcher = unsafe { libc::getppid() };
    let _ = std::thread::Builder::new().name("rank-watch".into()).spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if !crate::mechanism::peer_alive(pid, Some(start)) {
                // SAFETY: plain syscalls.
                unsafe {
                    if launcher > 1 && libc::getppid() == launcher {
                        libc::kill(launcher, libc::SIGKILL);
                    }
                    libc::_exit(1);
                }
            }
        }
    });
}

/// `ipc-lab mpi-rank SPEC`: 0 when the job ran; 2 for a spec this build cannot read. A failure
/// inside the job aborts every rank (MPI_Abort) and does not return.
pub fn main(spec_json: &str) -> i32 {
    let spec: RankSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mpi rank: bad spec: {e}");
            return 2;
        }
    };
    if spec.protocol != PROTOCOL {
        eprintln!("mpi rank: protocol {} from the supervisor, {PROTOCOL} here: rebuild both", spec.protocol);
        return 2;
    }
    watch_supervisor(spec.supervisor.clone());
    let Some(universe) = mpi::initialize() else {
        eprintln!("mpi rank: MPI was already initialised");
        return 1;
    };
    let ready_ns = monotonic_nanos();
    let world = universe.world();
    let rank = world.rank();
    let mut out = Out::new();
    let done =
        if rank == 0 { master(&spec.job, &world, ready_ns, &mut out) } else { worker(&spec.job, &world, ready_ns) };
    match done {
        Ok(()) => {
            out.flush();
            0
        }
        Err(why) => {
            if rank == 0 {
                out.line(&RankLine::Error { why });
                out.flush();
            } else {
                eprintln!("mpi rank {rank}: {why}");
            }
            world.abort(1)
        }
    }
}

/// Rank 0's report stream. Lines are flushed every 20 ms (and at the lifecycle lines), so the
/// view is live while the writes cost the master little; what it costs is inside the job's time,
/// as our coordinator's events are.
struct Out {
    w: std::io::BufWriter<std::io::Stdout>,
    flushed: Instant,
}

impl Out {
    fn new() -> Out {
        Out { w: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()), flushed: Instant::now() }
    }

    fn line(&mut self, l: &RankLine) {
        // A supervisor that has gone away is not our error to report: mpirun ends us.
        let _ = serde_json::to_writer(&mut self.w, l);
        let _ = self.w.write_all(b"\n");
        let urgent = !matches!(l, RankLine::Assigned { .. } | RankLine::Sent { .. } | RankLine::Result { .. });
        if urgent || self.flushed.elapsed() >= Duration::from_millis(20) {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let _ = self.w.flush();
        self.flushed = Instant::now();
    }
}

/// Each rank's PID, start time and MPI_Init time, and its host, gathered to rank 0.
fn introduce(world: &SimpleCommunicator, ready_ns: u64) -> Option<Vec<(u64, u64, u64, String)>> {
    let pid = std::process::id();
    let me = [pid as u64, crate::mechanism::process_start_time(pid).unwrap_or(0), ready_ns];
    let root = world.process_at_rank(0);
    let host = mpi::environment::processor_name().unwrap_or_default();
    if world.rank() == 0 {
        let mut all = vec![0u64; 3 * world.size() as usize];
        root.gather_into_root(&me[..], &mut all[..]);
        let hosts = gather_bytes(world, host.as_bytes())?;
        Some(
            all.chunks_exact(3)
                .zip(hosts)
                .map(|(v, h)| (v[0], v[1], v[2], String::from_utf8_lossy(&h).into_owned()))
                .collect(),
        )
    } else {
        root.gather_into(&me[..]);
        gather_bytes(world, host.as_bytes());
        None
    }
}

/// MPI_Gather of each rank's byte count, then MPI_Gatherv of the bytes: rank 0 gets every
/// rank's bytes (its own included), the others `None`.
fn gather_bytes(world: &SimpleCommunicator, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mine = not_in_place(mine);
    let root = world.process_at_rank(0);
    let n = mine.len() as Count;
    if world.rank() != 0 {
        root.gather_into(&n);
        root.gather_varcount_into(mine);
        return None;
    }
    let mut counts = vec![0 as Count; world.size() as usize];
    root.gather_into_root(&n, &mut counts[..]);
    let displs = offsets(&counts);
    let total = counts.iter().map(|&c| c as usize).sum();
    let mut buf = vec![0u8; total];
    {
        let mut part = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
        root.gather_varcount_into_root(mine, &mut part);
    }
    Some(counts.iter().zip(&displs).map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec()).collect())
}

/// An empty byte slice's pointer is 1, which Open MPI reads as MPI_IN_PLACE (`(void *) 1`) and
/// refuses where that has no meaning: an empty slice of real memory instead.
fn not_in_place(b: &[u8]) -> &[u8] {
    static ONE: [u8; 1] = [0];
    if b.is_empty() { &ONE[..0] } else { b }
}

fn offsets(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |at, &c| {
            let here = *at;
            *at += c;
            Some(here)
        })
        .collect()
}

/// All the items, as the master holds them before scattering (made before the clock starts,
/// as our coordinator makes its array).
fn all_items(data: &DataSource) -> Result<Vec<u64>, String> {
    let file = open_file(data)?;
    let mut v = vec![0u64; data.len() as usize];
    fill(data, file.as_ref(), 0, &mut v)?;
    Ok(v)
}

fn open_file(data: &DataSource) -> Result<Option<std::fs::File>, String> {
    match data {
        DataSource::File { path, .. } => {
            std::fs::File::open(path).map(Some).map_err(|e| format!("{}: {e}", path.display()))
        }
        _ => Ok(None),
    }
}

fn master(spec: &JobSpec, world: &SimpleCommunicator, ready_ns: u64, out: &mut Out) -> Result<(), String> {
    let size = world.size() as usize;
    let library = mpi::environment::library_version().unwrap_or_default();
    let library = library.lines().next().unwrap_or("").trim().to_string();
    out.line(&RankLine::Hello { protocol: PROTOCOL, ranks: size as u32, library });
    if size != spec.workers + 1 {
        // Every rank sees the same size and fails the same way; say it once.
        return Err(format!("{size} ranks, not the {} this job needs (one per worker and a master)", spec.workers + 1));
    }
    let ranks = introduce(world, ready_ns).ok_or("no introductions")?;
    for (k, (pid, start, ready, host)) in ranks.into_iter().enumerate().skip(1) {
        let start_time = (start != 0).then_some(start);
        out.line(&RankLine::Up { worker: k as u32, pid: pid as u32, start_time, host, ready_ns: ready });
    }
    let items = if spec.ship == Ship::Data { Some(all_items(&spec.data)?) } else { None };
    world.barrier();
    let t0 = monotonic_nanos();
    out.line(&RankLine::Started { at_ns: t0 });
    let end = match spec.schedule {
        Schedule::Static => master_static(spec, world, items.as_deref(), t0, out)?,
        Schedule::Dynamic => master_dynamic(spec, world, items.as_deref(), out)?,
    };
    out.line(&RankLine::End { elapsed_ns: end.saturating_sub(t0) });
    Ok(())
}

fn worker(spec: &JobSpec, world: &SimpleCommunicator, ready_ns: u64) -> Result<(), String> {
    if world.size() as usize != spec.workers + 1 {
        return Err(format!("{} ranks, not {}", world.size(), spec.workers + 1));
    }
    introduce(world, ready_ns);
    let file = if spec.ship == Ship::Work { open_file(&spec.data)? } else { None };
    let work = Work {
        data: spec.data.clone(),
        op: spec.op,
        work: spec.work,
        wait_ms: spec.wait_ms,
        heartbeat: Duration::from_secs(3600),
    };
    let me = world.rank() as u32;
    let wrong = spec.wrong_worker == Some(me);
    world.barrier();
    match spec.schedule {
        Schedule::Static => worker_static(spec, world, &work, file.as_ref(), wrong),
        Schedule::Dynamic => worker_dynamic(spec, world, &work, file.as_ref(), wrong),
    }
}

/// Computes a task and accounts for it as our workers do.
#[allow(clippy::too_many_arguments)]
fn answer(
    work: &Work,
    chunk: u32,
    start: u64,
    len: u64,
    items: Items<'_>,
    asked_ns: u64,
    task_ns: u64,
    data_ns: u64,
    wrong: bool,
) -> Result<ChunkResult, String> {
    let (acc, waited_ns) = compute(work, start, len, items, &mut |_| {})?;
    let mut partial = acc.partial;
    if wrong {
        lie(&mut partial);
    }
    Ok(ChunkResult {
        chunk,
        partial,
        digest: acc.digest,
        items: len,
        asked_ns,
        task_ns,
        data_ns,
        computed_ns: monotonic_nanos(),
        waited_ns,
        cpu_ns: acc.cpu_ns,
        // Sent with the next request, straight after.
        sent_ns: monotonic_nanos(),
        delay_in_ns: 0,
        delay_out_ns: 0,
    })
}

// --- static: MPI_Scatterv, compute, MPI_Reduce, MPI_Gatherv -------------------------------------

fn master_static(
    spec: &JobSpec,
    world: &SimpleCommunicator,
    items: Option<&[u64]>,
    t0: u64,
    out: &mut Out,
) -> Result<u64, String> {
    let size = world.size() as usize;
    let root = world.process_at_rank(0);
    let chunks = spec.chunks();
    for (c, _) in chunks.iter().enumerate() {
        out.line(&RankLine::Assigned { chunk: c as u32, worker: c as u32 + 1, at_ns: t0 });
    }
    // Chunk c goes to rank c + 1; the master keeps nothing (its count is 0).
    let mut counts = vec![0 as Count; size];
    let mut displs = vec![0 as Count; size];
    let sent: Vec<u64> = match items {
        Some(all) => {
            for (c, &(start, len)) in chunks.iter().enumerate() {
                counts[c + 1] = len as Count;
                displs[c + 1] = start as Count;
            }
            root.scatter_varcount_into_root(&Partition::new(all, &counts[..], &displs[..]), &mut [0u64; 0][..]);
            chunks.iter().map(|&(_, len)| len * 8).collect()
        }
        None => {
            // Shipping work: each rank gets its chunk's description, (chunk, start, len).
            let mut tasks = vec![0u64; 3 * size];
            for k in 1..size {
                let t = chunks.get(k - 1).map_or([NO_CHUNK, 0, 0], |&(s, l)| [(k - 1) as u64, s, l]);
                tasks[3 * k..3 * k + 3].copy_from_slice(&t);
                counts[k] = 3;
                displs[k] = 3 * k as Count;
            }
            root.scatter_varcount_into_root(&Partition::new(&tasks[..], &counts[..], &displs[..]), &mut [0u64; 0][..]);
            chunks.iter().map(|_| 24).collect()
        }
    };
    let sent_ns = monotonic_nanos();
    for (c, bytes) in sent.into_iter().enumerate() {
        out.line(&RankLine::Sent { chunk: c as u32, worker: c as u32 + 1, bytes, at_ns: sent_ns });
    }
    let reduced = reduce(spec.op, world, None);
    let accounts = gather_bytes(world, &[]).ok_or("no accounts")?;
    let arrived_ns = monotonic_nanos();
    let (partial, digest) = reduced.ok_or("no reduction")?;
    out.line(&RankLine::Reduced { partial, digest });
    for (k, bytes) in accounts.iter().enumerate().skip(1).filter(|(_, b)| !b.is_empty()) {
        let result: ChunkResult = serde_json::from_slice(bytes).map_err(|e| format!("rank {k}'s account: {e}"))?;
        out.line(&RankLine::Result { worker: k as u32, result, arrived_ns });
    }
    Ok(arrived_ns)
}

fn worker_static(
    spec: &JobSpec,
    world: &SimpleCommunicator,
    work: &Work,
    file: Option<&std::fs::File>,
    wrong: bool,
) -> Result<(), String> {
    let root = world.process_at_rank(0);
    let me = world.rank() as usize;
    let asked_ns = monotonic_nanos();
    let result = match spec.ship {
        Ship::Data => {
            let (start, len) = spec.chunks().get(me - 1).copied().unwrap_or((0, 0));
            let mut buf = vec![0u64; len as usize];
            root.scatter_varcount_into(&mut buf[..]);
            let data_ns = monotonic_nanos();
            match len {
                0 => None,
                _ => Some(answer(
                    work,
                    me as u32 - 1,
                    start,
                    len,
                    Items::Here(&buf),
                    asked_ns,
                    asked_ns,
                    data_ns,
                    wrong,
                )?),
            }
        }
        _ => {
            let mut task = [0u64; 3];
            root.scatter_varcount_into(&mut task[..]);
            let data_ns = monotonic_nanos();
            let [chunk, start, len] = task;
            match chunk {
                NO_CHUNK => None,
                _ => {
                    Some(answer(work, chunk as u32, start, len, Items::Make(file), asked_ns, asked_ns, data_ns, wrong)?)
                }
            }
        }
    };
    reduce(spec.op, world, result.as_ref().map(|r| (&r.partial, r.digest)));
    let account = match &result {
        Some(r) => serde_json::to_vec(r).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    gather_bytes(world, &account);
    Ok(())
}

/// MPI_Reduce of the partial results to rank 0, with MPI's own operations: a u128 sum as three
/// 32-bit limbs in u64s (each limb's sum over at most 64 workers stays far below 2^64, so the
/// carries are done after), minimum and maximum with MPI_MIN and MPI_MAX, histogram buckets and
/// the digest with MPI_SUM (the digest's wrapping sum is C's unsigned addition). A rank with
/// nothing contributes each operation's identity. Rank 0 gets the whole.
fn reduce(op: Op, world: &SimpleCommunicator, mine: Option<(&Partial, u64)>) -> Option<(Partial, u64)> {
    let root = world.process_at_rank(0);
    let digest = mine.map_or(0, |m| m.1);
    let mut sums: Vec<u64> = match (op, mine.map(|m| m.0)) {
        (Op::Sum, Some(Partial::Sum(s))) => (0..3).map(|k| ((s >> (32 * k)) as u64) & 0xFFFF_FFFF).collect(),
        (Op::Sum, _) => vec![0; 3],
        (Op::Histogram { .. }, Some(Partial::Histogram(b))) => b.clone(),
        (Op::Histogram { buckets }, _) => vec![0; buckets],
        (Op::MinMax, _) => Vec::new(),
    };
    sums.push(digest);
    let (lo, hi) = match mine.map(|m| m.0) {
        Some(Partial::MinMax(Some((lo, hi)))) => (*lo, *hi),
        _ => (u64::MAX, 0),
    };
    if world.rank() != 0 {
        root.reduce_into(&sums[..], SystemOperation::sum());
        if op == Op::MinMax {
            root.reduce_into(&lo, SystemOperation::min());
            root.reduce_into(&hi, SystemOperation::max());
        }
        return None;
    }
    let mut total = vec![0u64; sums.len()];
    root.reduce_into_root(&sums[..], &mut total[..], SystemOperation::sum());
    let digest = total.pop().unwrap_or(0);
    let partial = match op {
        Op::Sum => Partial::Sum(total.iter().enumerate().map(|(k, &l)| (l as u128) << (32 * k)).sum()),
        Op::Histogram { .. } => Partial::Histogram(total),
        Op::MinMax => {
            let (mut l, mut h) = (u64::MAX, 0u64);
            root.reduce_into_root(&lo, &mut l, SystemOperation::min());
            root.reduce_into_root(&hi, &mut h, SystemOperation::max());
            // Any item x gives l <= x <= h, so l > h only when there were none.
            Partial::MinMax((l <= h).then_some((l, h)))
        }
    };
    Some((partial, digest))
}

// --- dynamic: master–worker, point to point ------------------------------------------------------

fn master_dynamic(
    spec: &JobSpec,
    world: &SimpleCommunicator,
    items: Option<&[u64]>,
    out: &mut Out,
) -> Result<u64, String> {
    let chunks = spec.chunks();
    let mut queue: VecDeque<usize> = (0..chunks.len()).collect();
    let mut working = world.size() as usize - 1;
    let mut last_ns = monotonic_nanos();
    while working > 0 {
        // A request: empty the first time, else the previous chunk's answer.
        let (msg, status) = world.any_process().receive_vec_with_tag::<u8>(TAG_ASK);
        let arrived_ns = monotonic_nanos();
        let k = status.source_rank();
        if !msg.is_empty() {
            let result: ChunkResult = serde_json::from_slice(&msg).map_err(|e| format!("rank {k}'s answer: {e}"))?;
            out.line(&RankLine::Result { worker: k as u32, result, arrived_ns });
            last_ns = arrived_ns;
        }
        let to = world.process_at_rank(k);
        match queue.pop_front() {
            Some(c) => {
                let (start, len) = chunks[c];
                out.line(&RankLine::Assigned { chunk: c as u32, worker: k as u32, at_ns: monotonic_nanos() });
                to.send_with_tag(&[c as u64, start, len][..], TAG_TASK);
                let mut bytes = 24;
                if let Some(all) = items {
                    to.send_with_tag(&all[start as usize..(start + len) as usize], TAG_ITEMS);
                    bytes += len * 8;
                }
                out.line(&RankLine::Sent { chunk: c as u32, worker: k as u32, bytes, at_ns: monotonic_nanos() });
            }
            None => {
                to.send_with_tag(&[0u64; 0][..], TAG_STOP);
                working -= 1;
            }
        }
    }
    Ok(last_ns)
}

fn worker_dynamic(
    spec: &JobSpec,
    world: &SimpleCommunicator,
    work: &Work,
    file: Option<&std::fs::File>,
    wrong: bool,
) -> Result<(), String> {
    let root = world.process_at_rank(0);
    let mut previous: Vec<u8> = Vec::new();
    loop {
        let asked_ns = monotonic_nanos();
        root.send_with_tag(not_in_place(&previous), TAG_ASK);
        let (task, status) = root.receive_vec::<u64>();
        let task_ns = monotonic_nanos();
        match (status.tag(), task.as_slice()) {
            (TAG_STOP, _) => return Ok(()),
            (TAG_TASK, &[chunk, start, len]) => {
                let r = match spec.ship {
                    Ship::Data => {
                        let (all, _) = root.receive_vec_with_tag::<u64>(TAG_ITEMS);
                        if all.len() as u64 != len {
                            return Err(format!("chunk {chunk}: {} items, not {len}", all.len()));
                        }
                        let data_ns = monotonic_nanos();
                        answer(work, chunk as u32, start, len, Items::Here(&all), asked_ns, task_ns, data_ns, wrong)?
                    }
                    _ => answer(work, chunk as u32, start, len, Items::Make(file), asked_ns, task_ns, task_ns, wrong)?,
                };
                previous = serde_json::to_vec(&r).map_err(|e| e.to_string())?;
            }
            (tag, t) => return Err(format!("a message with tag {tag} and {} numbers from rank 0", t.len())),
        }
    }
}
