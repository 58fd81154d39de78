//! A job's worker: asks for a task, computes it (sending heartbeats), returns the result and asks
//! again, until told to stop. As a process (`ipc-lab job-worker SPEC`) it talks over one link of
//! the chosen mechanism; as a thread or a tokio task, over channels. The computing is the same.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::AuthError;
use super::compute::{Accumulator, BLOCK, fill};
use super::proto::{self, ChunkResult, Down, Incoming, Up};
use super::spec::{DataSource, Op};
use crate::faults::{Action, Faults, Injector};
use crate::mechanism::Channel;
use crate::mechanism::endpoint::{EndpointSpec, Pending};
use crate::wire::monotonic_nanos;

/// What a worker process is told on its command line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// 1-based.
    pub worker: u32,
    /// Its link; `None` for a remote worker, which came over its own connection.
    pub endpoint: Option<EndpointSpec>,
    /// The coordinator's listening address (TCP).
    pub peer_address: Option<String>,
    pub coordinator_pid: u32,
    pub data: DataSource,
    /// The shared segment holding the array (`--ship shared`).
    pub shared: Option<String>,
    pub op: Op,
    pub work: u32,
    pub wait_ms: u64,
    pub heartbeat_ms: u64,
    pub faults: Faults,
    /// Answer one more than the truth (`--wrong-worker`, a test of the coordinator's check).
    #[serde(default)]
    pub wrong: bool,
}

/// What a worker needs to compute any task.
#[derive(Clone)]
pub struct Work {
    pub data: DataSource,
    pub op: Op,
    pub work: u32,
    pub wait_ms: u64,
    pub heartbeat: Duration,
}

/// Where a task's items are.
pub enum Items<'a> {
    /// Sent with the task (or, for threads, shared by reference).
    Here(&'a [u64]),
    /// To be made or read by the worker: shipped work.
    Make(Option<&'a std::fs::File>),
}

/// Computes one task; `beat(done)` is called about every heartbeat interval. Returns the
/// partial, the digest and the time spent waiting (`wait_ms`).
pub fn compute(
    w: &Work,
    start: u64,
    len: u64,
    items: Items<'_>,
    beat: &mut dyn FnMut(u64),
) -> Result<(Accumulator, u64), String> {
    let mut acc = Accumulator::new(w.op, w.data.bounds(), w.work);
    let mut last_beat = std::time::Instant::now();
    let mut done = 0u64;
    let mut buf = Vec::new();
    // About a quarter of a million mixing rounds between looks at the clock, so a heartbeat
    // is never late by more than a fraction of a millisecond, whatever --work is.
    let block = (BLOCK as u64).min((1 << 18) / (w.work as u64).max(1)).max(1) as usize;
    let cpu_start = thread_cpu_nanos();
    while done < len {
        let n = block.min((len - done) as usize);
        match &items {
            Items::Here(all) => acc.add(&all[done as usize..done as usize + n]),
            Items::Make(file) => {
                buf.resize(n, 0);
                fill(&w.data, *file, start + done, &mut buf)?;
                acc.add(&buf);
            }
        }
        done += n as u64;
        if last_beat.elapsed() >= w.heartbeat {
            beat(done);
            last_beat = std::time::Instant::now();
        }
    }
    acc.cpu_ns = thread_cpu_nanos().saturating_sub(cpu_start);
    // Waiting (a disk, the network) in slices, still beating.
    let mut waited = 0;
    if w.wait_ms > 0 {
        let t = monotonic_nanos();
        let until = std::time::Instant::now() + Duration::from_millis(w.wait_ms);
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(w.heartbeat));
            beat(done);
        }
        waited = monotonic_nanos() - t;
    }
    Ok((acc, waited))
}

fn thread_cpu_nanos() -> u64 {
    #[cfg(unix)]
    {
        crate::wire::clock_nanos(libc::CLOCK_THREAD_CPUTIME_ID)
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// The child process: `ipc-lab job-worker SPEC`. Exit 0 when told to stop; 1 with a line on
/// stderr when something fails.
pub fn main(spec_json: &str) -> i32 {
    match run_process(spec_json) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("job worker: {e}");
            1
        }
    }
}

fn run_process(spec_json: &str) -> Result<(), String> {
    let spec: WorkerSpec = serde_json::from_str(spec_json).map_err(|e| format!("bad worker spec: {e}"))?;
    let endpoint = spec.endpoint.as_ref().ok_or("a local worker needs its link")?;
    let link = Pending::Nothing
        .finish(endpoint, true, spec.peer_address.as_deref(), spec.coordinator_pid)
        .map_err(|e| format!("opening the link: {e}"))?;
    serve(&spec, Channel::new(link, proto::MAX_PAYLOAD), None, None, Confined::Local).map(|_| ())
}

/// How long a worker whose link broke keeps trying to reach its coordinator again.
pub const REJOIN_FOR: Duration = Duration::from_secs(15);
/// Most times one remote worker joins again before it gives up.
const MAX_REJOINS: u32 = 20;

/// `ipc-lab worker --connect HOST:PORT [--token-file F]`: joins a job on another host. Proves
/// the token (an all-zero one on loopback without a file), is told its part by the coordinator,
/// then works as a local worker process does, over the sealed connection. When the link breaks
/// (the coordinator dropped it after a silence, or the network failed) it connects again for up
/// to [`REJOIN_FOR`], proves the token again and rejoins, saying which worker it was. Exit 0
/// when the job ends (or no longer takes workers); 1 (with one line) when it cannot join.
pub fn remote_main(connect: &str, token_file: Option<&std::path::Path>) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let token = match token_file {
        Some(f) => super::auth::Token::load(f)?,
        None => super::auth::Token::from_bytes([0; super::auth::TOKEN_LEN]),
    };
    let addr = connect
        .to_socket_addrs()
        .map_err(|e| format!("--connect {connect}: {e}"))?
        .next()
        .ok_or_else(|| format!("--connect {connect}: no address"))?;
    if token_file.is_none() && !addr.ip().is_loopback() {
        return Err(format!("{addr} is another host: give --token-file FILE (the coordinator's token)"));
    }
    let host = nix::unistd::gethostname().ok().map(|h| h.to_string_lossy().into_owned());
    let mut was: Option<u32> = None;
    let mut broke = 0;
    loop {
        let (spec, ch) = match was {
            None => join(addr, &token, false).map_err(|e| match e {
                JoinError::Gone => format!("nothing listens on {addr}: start the job there with --listen first"),
                JoinError::Over => format!("the job at {addr} ended before it had work for this worker"),
                e => e.to_string(),
            })?,
            Some(w) => match join(addr, &token, true) {
                Ok(x) => x,
                Err(JoinError::Gone | JoinError::Over) => {
                    eprintln!("w{w}: the coordinator at {addr} no longer takes workers: the job has ended");
                    return Ok(());
                }
                Err(e) => return Err(format!("w{w}: {e}")),
            },
        };
        match was {
            None => eprintln!("joined the job at {addr} as w{}", spec.worker),
            Some(w) => eprintln!("rejoined the job at {addr} as w{} (was w{w})", spec.worker),
        }
        let why = match serve(&spec, ch, host.clone(), was, Confined::Remote) {
            Ok(Ended::Shutdown) => return Ok(()),
            Ok(Ended::Declined(why)) => return Err(format!("w{}: {why}: refused, leaving the job", spec.worker)),
            Ok(Ended::Closed) => "the coordinator closed the connection".to_string(),
            Err(e) => e,
        };
        broke += 1;
        if broke > MAX_REJOINS {
            return Err(format!("w{}: the link to {addr} broke {broke} times: giving up", spec.worker));
        }
        eprintln!("w{}: the link to {addr} broke ({why}): joining again", spec.worker);
        was = Some(spec.worker);
    }
}

#[derive(Debug)]
enum JoinError {
    /// Nothing listens there any more (the connection was refused).
    Gone,
    Unreachable(String),
    /// The connection closed or failed before the handshake ended: the coordinator was busy
    /// with other handshakes, or pausing this address after a failed one. Worth another try.
    Unheard(String),
    /// The coordinator does not accept our token, or is no ipc-lab coordinator: final.
    Refused(String),
    /// The coordinator let us in but closed before sending work: its job was ending.
    Over,
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Gone => write!(f, "nothing listens there"),
            JoinError::Over => write!(f, "the job has ended"),
            JoinError::Unreachable(e) | JoinError::Unheard(e) | JoinError::Refused(e) => write!(f, "{e}"),
        }
    }
}

/// Connects, proves the token and reads the work description: one attempt.
fn join_once(addr: std::net::SocketAddr, token: &super::auth::Token) -> Result<(WorkerSpec, Channel), JoinError> {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            JoinError::Gone
        } else {
            JoinError::Unreachable(format!("cannot reach the coordinator at {addr}: {e}"))
        }
    })?;
    let _ = stream.set_nodelay(true);
    super::auth::keep_alive(&stream);
    let setup = |e: std::io::Error| JoinError::Unreachable(e.to_string());
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(setup)?;
    let sealed = super::auth::worker_handshake(&mut stream, token).map_err(|e| match e {
        AuthError::Truncated | AuthError::Io(_) => JoinError::Unheard(format!("{addr} closed the handshake: {e}")),
        AuthError::Refused if *token == super::auth::Token::from_bytes([0; super::auth::TOKEN_LEN]) => {
            JoinError::Refused(format!("{addr} wants a token: give --token-file FILE, a copy of the coordinator's"))
        }
        e => JoinError::Refused(format!("{addr} refused us: {e}")),
    })?;
    stream.set_read_timeout(None).map_err(setup)?;
    let mut ch = Channel::new(Box::new(super::auth::SealedLink::new(stream, sealed)), proto::MAX_PAYLOAD);
    match proto::recv::<WorkerSpec>(&mut ch) {
        Ok(Incoming::Msg(s)) => Ok((s, ch)),
        Ok(Incoming::Closed) => Err(JoinError::Over),
        Ok(_) => Err(JoinError::Unreachable("the coordinator sent no work description".into())),
        Err(e) => Err(JoinError::Unreachable(format!("reading the work description: {e}"))),
    }
}

/// Joins, retrying a handshake the coordinator closed (busy, or pausing this address) and, when
/// joining again after the link broke, a coordinator that cannot be reached (a network
/// partition), for up to [`REJOIN_FOR`]. A refused token is final.
fn join(
    addr: std::net::SocketAddr,
    token: &super::auth::Token,
    again: bool,
) -> Result<(WorkerSpec, Channel), JoinError> {
    let deadline = std::time::Instant::now() + REJOIN_FOR;
    loop {
        let tried = std::time::Instant::now();
        match join_once(addr, token) {
            Err(JoinError::Unheard(_)) if tried < deadline => {}
            Err(JoinError::Unreachable(_)) if again && tried < deadline => {}
            other => return other,
        }
        std::thread::sleep(Duration::from_millis(500).saturating_sub(tried.elapsed()));
    }
}

/// How a worker's loop ended without an error.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The coordinator said so: the job is over for this worker.
    Shutdown,
    /// The link ended cleanly between frames, with no word.
    Closed,
    /// A remote worker's coordinator asked for what a worker on another host does not do (read
    /// a file of this host, map its shared memory): it declines, leaves, and does not join again.
    Declined(String),
}

/// What a worker may touch on its own host for the coordinator.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Confined {
    /// Started by the coordinator on this host: it reads the job's file or maps its segment.
    Local,
    /// Joined over the network: it computes on items it is sent or makes from a description,
    /// and opens no file or shared-memory segment the coordinator names (a coordinator
    /// elsewhere has no business reading this host's files; an honest one never asks).
    Remote,
}

/// The worker's loop over its open channel: hello, then tasks until the coordinator ends it.
/// A remote worker's hello names its host and, on a rejoin, the worker it was.
fn serve(
    spec: &WorkerSpec,
    mut ch: Channel,
    host: Option<String>,
    rejoins: Option<u32>,
    confined: Confined,
) -> Result<Ended, String> {
    if confined == Confined::Remote && spec.shared.is_some() {
        return Ok(Ended::Declined("the coordinator asked for a shared-memory segment of this host".into()));
    }
    let file = match &spec.data {
        DataSource::File { path, .. } if confined == Confined::Local => {
            Some(std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        _ => None,
    };
    let shared = match &spec.shared {
        Some(name) => Some(SharedArray::open(name)?),
        None => None,
    };
    let work = Work {
        data: spec.data.clone(),
        op: spec.op,
        work: spec.work,
        wait_ms: spec.wait_ms,
        heartbeat: Duration::from_millis(spec.heartbeat_ms),
    };
    let mut injector = Injector::new(&spec.faults, spec.worker as u16);
    // The delay's jitter: splitmix64 over the draws, seeded per worker.
    let (seed, mut draws) = (spec.faults.seed ^ (spec.worker as u64) << 32, 0u64);
    let mut uniform = || {
        draws += 1;
        (super::compute::mix(seed.wrapping_add(draws)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut seq = 0u64;
    proto::send_json(&mut ch, seq, &Up::Hello { worker: spec.worker, pid: std::process::id(), host, rejoins })?;
    let mut asked = monotonic_nanos();
    loop {
        let task = match proto::recv::<Down>(&mut ch)? {
            Incoming::Msg(m) => m,
            Incoming::Closed => return Ok(Ended::Closed),
            Incoming::Corrupt => return Err("a task arrived corrupted".into()),
            Incoming::Items(_) => return Err("items without a task".into()),
        };
        let Down::Task { chunk, start, len, items } = task else { return Ok(Ended::Shutdown) };
        if !items && shared.is_none() && matches!(spec.data, DataSource::File { .. }) && file.is_none() {
            return Ok(Ended::Declined(format!(
                "the coordinator asked this host to read chunk {chunk} from a file of its own"
            )));
        }
        // Distance, one way: the task "arrives" that much later.
        let held = monotonic_nanos();
        if let Some(d) = spec.faults.delay {
            std::thread::sleep(d.wait(uniform()));
        }
        let task_ns = monotonic_nanos();
        let delay_in_ns = if spec.faults.delay.is_some() { task_ns - held } else { 0 };
        let mut received = Vec::new();
        if items {
            while (received.len() as u64) < len {
                match proto::recv::<Down>(&mut ch)? {
                    Incoming::Items(v) => received.extend_from_slice(&v),
                    Incoming::Corrupt => return Err(format!("items of chunk {chunk} arrived corrupted")),
                    _ => return Err(format!("chunk {chunk}: expected {len} items, got {}", received.len())),
                }
            }
        }
        let data_ns = monotonic_nanos();
        let source = if items {
            Items::Here(&received)
        } else if let Some(s) = &shared {
            Items::Here(s.slice(start, len)?)
        } else {
            Items::Make(file.as_ref())
        };
        let mut beat_err = None;
        let (acc, waited_ns) = {
            let mut beat = |done| {
                seq += 1;
                if let Err(e) = proto::send_json(&mut ch, seq, &Up::Heartbeat { chunk, done }) {
                    beat_err.get_or_insert(e);
                }
            };
            compute(&work, start, len, source, &mut beat)?
        };
        if let Some(e) = beat_err {
            return Err(format!("sending a heartbeat: {e}"));
        }
        let cpu_ns = acc.cpu_ns;
        let mut partial = acc.partial;
        if spec.wrong {
            lie(&mut partial);
        }
        let mut result = ChunkResult {
            chunk,
            partial,
            digest: acc.digest,
            items: len,
            asked_ns: asked,
            task_ns,
            data_ns,
            computed_ns: monotonic_nanos(),
            waited_ns,
            cpu_ns,
            sent_ns: monotonic_nanos(),
            delay_in_ns,
            delay_out_ns: 0,
        };
        seq += 1;
        // And back: the result leaves that much later.
        if let Some(d) = spec.faults.delay {
            std::thread::sleep(d.wait(uniform()));
            result.delay_out_ns = monotonic_nanos().saturating_sub(result.sent_ns);
        }
        let result = Up::Result(result);
        asked = monotonic_nanos();
        match injector.as_mut().map(|i| i.decide(seq, 64, false)) {
            Some(Action::Corrupt(at)) => proto::send_json_corrupted(&mut ch, seq, &result, at)?,
            _ => drop(proto::send_json(&mut ch, seq, &result)?),
        }
    }
}

/// One more than the truth, in a way each operation shows.
pub(crate) fn lie(p: &mut super::compute::Partial) {
    use super::compute::Partial;
    match p {
        Partial::Sum(s) => *s += 1,
        Partial::MinMax(Some((lo, _))) => *lo = lo.wrapping_sub(1),
        Partial::MinMax(None) => *p = Partial::MinMax(Some((0, 0))),
        Partial::Histogram(b) => {
            if let Some(first) = b.first_mut() {
                *first += 1;
            }
        }
    }
}

/// The array in a shared-memory segment, mapped read-only (`--ship shared`).
pub struct SharedArray {
    ptr: *const u64,
    items: usize,
}

// SAFETY: the mapping is read-only and lives as long as the value.
unsafe impl Send for SharedArray {}
unsafe impl Sync for SharedArray {}

impl SharedArray {
    #[cfg(unix)]
    pub fn open(name: &str) -> Result<SharedArray, String> {
        use nix::sys::mman::{MapFlags, ProtFlags, mmap, shm_open};
        use nix::sys::stat::{Mode, fstat};
        let fd =
            shm_open(name, nix::fcntl::OFlag::O_RDONLY, Mode::empty()).map_err(|e| format!("shm_open {name}: {e}"))?;
        let size = fstat(&fd).map_err(|e| format!("fstat {name}: {e}"))?.st_size as usize;
        let len = std::num::NonZeroUsize::new(size).ok_or_else(|| format!("{name} is empty"))?;
        // SAFETY: a fresh read-only shared mapping of the whole object.
        let p = unsafe { mmap(None, len, ProtFlags::PROT_READ, MapFlags::MAP_SHARED, &fd, 0) }
            .map_err(|e| format!("mmap {name}: {e}"))?;
        Ok(SharedArray { ptr: p.as_ptr() as *const u64, items: size / 8 })
    }

    #[cfg(not(unix))]
    pub fn open(name: &str) -> Result<SharedArray, String> {
        Err(format!("shared segments need a Unix system ({name})"))
    }

    pub fn slice(&self, start: u64, len: u64) -> Result<&[u64], String> {
        let end = start.checked_add(len).filter(|&e| e as usize <= self.items).ok_or_else(|| {
            format!("items {start}..{} are outside the shared array of {}", start.saturating_add(len), self.items)
        })?;
        // SAFETY: in bounds (checked above) of a mapping that outlives the borrow.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr.add(start as usize), (end - start) as usize) })
    }
}

impl Drop for SharedArray {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: unmapping exactly what `open` mapped.
        unsafe {
            if let Some(p) = std::ptr::NonNull::new(self.ptr as *mut std::ffi::c_void) {
                let _ = nix::sys::mman::munmap(p, self.items * 8);
            }
        }
    }
}

/// A worker thread or task's side of its channels.
pub struct Local {
    pub worker: u32,
    pub up: crossbeam::channel::Sender<(u32, Up)>,
    /// The whole array, shared by reference (threads share memory: nothing is copied).
    pub array: Option<Arc<Vec<u64>>>,
    pub work: Work,
}

impl Local {
    fn result(&self, chunk: u32, len: u64, acc: Accumulator, times: [u64; 3], waited_ns: u64) -> Up {
        let cpu_ns = acc.cpu_ns;
        Up::Result(ChunkResult {
            chunk,
            partial: acc.partial,
            digest: acc.digest,
            items: len,
            asked_ns: times[0],
            task_ns: times[1],
            data_ns: times[2],
            computed_ns: monotonic_nanos(),
            waited_ns,
            cpu_ns,
            sent_ns: monotonic_nanos(),
            delay_in_ns: 0,
            delay_out_ns: 0,
        })
    }

    /// Shipped work: the thread makes (or reads) its items.
    fn compute_task(&self, chunk: u32, start: u64, len: u64) -> Result<(Accumulator, u64), String> {
        let up = self.up.clone();
        let me = self.worker;
        let mut beat = |done| {
            let _ = up.send((me, Up::Heartbeat { chunk, done }));
        };
        let file = match &self.work.data {
            DataSource::File { path, .. } => Some(std::fs::File::open(path).map_err(|e| e.to_string())?),
            _ => None,
        };
        compute(&self.work, start, len, Items::Make(file.as_ref()), &mut beat)
    }
}

// `compute` with `Items::Here` indexes from the slice's start: give it the chunk's own slice.
fn chunk_of(a: &Arc<Vec<u64>>, start: u64, len: u64) -> &[u64] {
    &a[start as usize..(start + len) as usize]
}

/// A worker thread: the same exchange over crossbeam channels.
pub fn run_thread(local: Local, down: crossbeam::channel::Receiver<Down>) {
    let _ = local
        .up
        .send((local.worker, Up::Hello { worker: local.worker, pid: std::process::id(), host: None, rejoins: None }));
    let mut asked = monotonic_nanos();
    while let Ok(Down::Task { chunk, start, len, .. }) = down.recv() {
        let task_ns = monotonic_nanos();
        let out = match &local.array {
            Some(a) => {
                let up = local.up.clone();
                let me = local.worker;
                let mut beat = |done| {
                    let _ = up.send((me, Up::Heartbeat { chunk, done }));
                };
                compute(&local.work, 0, len, Items::Here(chunk_of(a, start, len)), &mut beat)
            }
            None => local.compute_task(chunk, start, len),
        };
        let Ok((acc, waited)) = out else { return };
        let msg = local.result(chunk, len, acc, [asked, task_ns, task_ns], waited);
        asked = monotonic_nanos();
        if local.up.send((local.worker, msg)).is_err() {
            return;
        }
    }
}

/// A worker task: the same exchange; waiting is `tokio::time::sleep`, so waiting tasks overlap
/// even on one thread, while computing holds the thread until the chunk is done.
pub async fn run_task(local: Local, mut down: tokio::sync::mpsc::UnboundedReceiver<Down>) {
    let _ = local
        .up
        .send((local.worker, Up::Hello { worker: local.worker, pid: std::process::id(), host: None, rejoins: None }));
    let mut asked = monotonic_nanos();
    let no_wait = Work { wait_ms: 0, ..local.work.clone() };
    while let Some(Down::Task { chunk, start, len, .. }) = down.recv().await {
        let task_ns = monotonic_nanos();
        let up = local.up.clone();
        let me = local.worker;
        let mut beat = |done| {
            let _ = up.send((me, Up::Heartbeat { chunk, done }));
        };
        let out = match &local.array {
            Some(a) => compute(&no_wait, 0, len, Items::Here(chunk_of(a, start, len)), &mut beat),
            None => {
                let file = match &no_wait.data {
                    DataSource::File { path, .. } => std::fs::File::open(path).ok(),
                    _ => None,
                };
                compute(&no_wait, start, len, Items::Make(file.as_ref()), &mut beat)
            }
        };
        let Ok((acc, _)) = out else { return };
        let mut waited = 0;
        if local.work.wait_ms > 0 {
            let t = monotonic_nanos();
            let until = tokio::time::Instant::now() + Duration::from_millis(local.work.wait_ms);
            while tokio::time::Instant::now() < until {
                tokio::time::sleep_until(until.min(tokio::time::Instant::now() + local.work.heartbeat)).await;
                let _ = local.up.send((me, Up::Heartbeat { chunk, done: len }));
            }
            waited = monotonic_nanos() - t;
        }
        let msg = local.result(chunk, len, acc, [asked, task_ns, task_ns], waited);
        asked = monotonic_nanos();
        if local.up.send((local.worker, msg)).is_err() {
            return;
        }
    }
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Local(w{})", self.worker)
    }
}
