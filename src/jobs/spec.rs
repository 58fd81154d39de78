//! What a job is: its data, its operation, its workers and how chunks reach them, and the faults
//! to play on it. `JobArgs` is the command line (`ipc-lab job ...`, and the strings lessons keep
//! for their experiments); `JobSpec` is the checked form. Every refusal names the option.

use std::path::PathBuf;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::mechanism::MechanismId;

/// Most workers a job starts (and adds) in all.
pub const MAX_WORKERS: usize = 64;
/// Most items a job holds: 2^28 u64s, 2 GiB in memory.
pub const MAX_ITEMS: u64 = 1 << 28;
/// Most rounds of the mixing function per item.
pub const MAX_WORK: u32 = 1_000_000;
/// Most chunks a job is cut into (each is a round trip and a history).
pub const MAX_CHUNKS: u64 = 1 << 20;
/// Most histogram buckets.
pub const MAX_BUCKETS: usize = 4096;

/// The command line of `ipc-lab job`.
#[derive(Parser, Clone, Debug, Default)]
#[command(name = "job", no_binary_name = false)]
pub struct JobArgs {
    /// Worker processes (or threads, or tasks), 1 to 64.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub workers: usize,
    /// How chunks and results travel between the coordinator and each worker process.
    #[arg(long, short, value_name = "pipe|fifo|unix|tcp|shm|mqueue")]
    pub mechanism: Option<String>,
    /// What a worker is: a process (over the mechanism), a thread (crossbeam channels), a tokio
    /// task on a multi-thread runtime (async) or on one thread (async-1).
    #[arg(long = "as", default_value = "process", value_name = "process|thread|async|async-1")]
    pub kind: String,
    /// static: equal chunks, one per worker, scattered once (MPI_Scatter); dynamic: a task
    /// queue, each worker pulls the next chunk when it returns a result.
    #[arg(long, default_value = "static", value_name = "static|dynamic")]
    pub schedule: String,
    /// Items per chunk for the dynamic schedule (default: a sixteenth of each worker's share).
    #[arg(long, value_name = "ITEMS")]
    pub chunk: Option<u64>,
    /// range:N (the items 1..=N), random:N:SEED (splitmix64), file:PATH (little-endian u64s).
    #[arg(long, default_value = "range:1000000", value_name = "SPEC")]
    pub data: String,
    /// sum (exact, 128-bit), minmax, or histogram:K (K equal buckets over the data's range).
    #[arg(long, default_value = "sum", value_name = "OP")]
    pub op: String,
    /// Rounds of a cheap mixing function per item, folded into a digest: compute per item.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub work: u32,
    /// Each chunk also waits this long, as if on a disk or the network: wait-bound work.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub wait_ms: u64,
    /// data: the chunk's items travel to the worker; work: only its description, and the worker
    /// makes or reads the items itself; shared: the array sits in a shared-memory segment and
    /// only indices travel.
    #[arg(long, default_value = "data", value_name = "data|work|shared")]
    pub ship: String,
    /// SIGKILL worker I after S seconds (repeatable).
    #[arg(long = "kill-worker", value_name = "I@S")]
    pub kill: Vec<String>,
    /// SIGSTOP worker I after S seconds (repeatable).
    #[arg(long = "stop-worker", value_name = "I@S")]
    pub stop: Vec<String>,
    /// SIGCONT worker I after S seconds (repeatable).
    #[arg(long = "continue-worker", value_name = "I@S")]
    pub cont: Vec<String>,
    /// Start a replacement when a worker dies.
    #[arg(long)]
    pub respawn: bool,
    /// Add a worker after S seconds (repeatable).
    #[arg(long = "add-worker-at", value_name = "S")]
    pub add_at: Vec<f64>,
    /// A computing worker reports every this often; silent for five of them, it is declared
    /// unresponsive and its chunk requeued.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub heartbeat_ms: u64,
    /// Corrupt a fraction (or given sequence numbers) of the workers' result frames, e.g.
    /// corrupt=0.05,seed=3: the coordinator sees the checksum fail and computes the chunk again.
    /// Or delay=MS[:JITTER]: every task reaches a worker, and every result leaves it, MS ms later
    /// (± JITTER), distance on one machine.
    #[arg(long, value_name = "FAULTS")]
    pub inject: Option<String>,
    /// Run the job once per worker count (e.g. 1,2,4,8): speedup, efficiency, Amdahl's serial share.
    #[arg(long, value_name = "LIST")]
    pub sweep_workers: Option<String>,
    /// Run the job as processes, threads, async tasks and async tasks on one thread, with 1 and
    /// with --workers each: start-up, memory, speedup, communication share.
    #[arg(long)]
    pub compare_as: bool,
    /// A fault for tests and demonstrations: worker I answers one more than the truth (its frames
    /// intact), which the coordinator's check must catch.
    #[arg(long, value_name = "I", hide = true)]
    pub wrong_worker: Option<u32>,
    /// Also take workers from other hosts: listen on ADDR:PORT (port 0: any free one) for
    /// `ipc-lab worker --connect`. Needs the dynamic schedule; any address but loopback needs
    /// --token-file.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The shared secret a remote worker must prove it holds (`ipc-lab token new FILE`).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// ours: our coordinator and worker processes over a mechanism; mpi: the same job under
    /// mpirun (N+1 ranks: rank 0 the master), MPI_Scatterv and MPI_Reduce for static,
    /// point-to-point master–worker for dynamic (a build with --features mpi).
    #[arg(long, default_value = "ours", value_name = "ours|mpi")]
    pub engine: String,
    /// With --engine mpi: the hosts to run the ranks on (mpirun --hostfile; the binary at the
    /// same path on every host, ssh between them without a password).
    #[arg(long, value_name = "FILE")]
    pub hostfile: Option<PathBuf>,
    /// text or json.
    #[arg(long, short, default_value = "text", value_name = "FORMAT")]
    pub format: String,
    /// Words in this language: en or zh-CN (default: the locale).
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
}

impl JobArgs {
    /// Parses an argument string as a lesson keeps it (`--workers 2 --op sum`).
    pub fn parse_line(line: &str) -> Result<JobArgs, String> {
        let words = std::iter::once("job").chain(line.split_whitespace());
        JobArgs::try_parse_from(words)
            .map_err(|e| e.to_string().lines().next().unwrap_or("bad job arguments").to_string())
    }
}

/// What a worker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerKind {
    Process,
    Thread,
    /// Tokio tasks on a multi-thread runtime (one thread per CPU).
    Async,
    /// Tokio tasks on a current-thread runtime: all of them take turns on one thread.
    #[serde(rename = "async-1")]
    AsyncOne,
}

impl WorkerKind {
    pub const ALL: [WorkerKind; 4] = [WorkerKind::Process, WorkerKind::Thread, WorkerKind::Async, WorkerKind::AsyncOne];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::Process => "process",
            WorkerKind::Thread => "thread",
            WorkerKind::Async => "async",
            WorkerKind::AsyncOne => "async-1",
        }
    }
}

impl std::str::FromStr for WorkerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        WorkerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("--as is process, thread, async or async-1, not '{s}'"))
    }
}

/// Which engine runs the job: our coordinator, or MPI under mpirun (`jobs::mpi`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[default]
    Ours,
    Mpi,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Ours => "ours",
            Engine::Mpi => "mpi",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Static,
    Dynamic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ship {
    Data,
    Work,
    Shared,
}

/// Where the items come from. Every source can make any item from its index, so a worker that is
/// shipped work makes (or reads) exactly the items the coordinator would have sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DataSource {
    /// The items 1..=n.
    Range { n: u64 },
    /// Item i is splitmix64(seed + (i + 1) * 0x9E3779B97F4A7C15), the whole u64 range.
    Random { n: u64, seed: u64 },
    /// Little-endian u64s; `lo`/`hi` are the smallest and largest, read when the file was checked.
    File { path: PathBuf, n: u64, lo: u64, hi: u64 },
}

impl DataSource {
    pub fn len(&self) -> u64 {
        match self {
            DataSource::Range { n } | DataSource::Random { n, .. } | DataSource::File { n, .. } => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest and largest value an item can have: the histogram's range.
    pub fn bounds(&self) -> (u64, u64) {
        match self {
            DataSource::Range { n } => (1, (*n).max(1)),
            DataSource::Random { .. } => (0, u64::MAX),
            DataSource::File { lo, hi, .. } => (*lo, *hi),
        }
    }

    /// As written on the command line.
    pub fn label(&self) -> String {
        match self {
            DataSource::Range { n } => format!("range:{n}"),
            DataSource::Random { n, seed } => format!("random:{n}:{seed}"),
            DataSource::File { path, .. } => format!("file:{}", path.display()),
        }
    }

    fn parse(s: &str) -> Result<DataSource, String> {
        let count = |t: &str| -> Result<u64, String> {
            let n: u64 = t.replace('_', "").parse().map_err(|_| format!("--data: '{t}' is not a number of items"))?;
            if n == 0 || n > MAX_ITEMS {
                return Err(format!("--data: the number of items is 1 to {MAX_ITEMS}, not {n}"));
            }
            Ok(n)
        };
        match s.split_once(':') {
            Some(("range", n)) => Ok(DataSource::Range { n: count(n)? }),
            Some(("random", rest)) => {
                let (n, seed) = rest
                    .split_once(':')
                    .ok_or_else(|| format!("--data random needs N:SEED (random:1000:7), not '{s}'"))?;
                let seed = seed.parse().map_err(|_| format!("--data: seed '{seed}' is not a whole number"))?;
                Ok(DataSource::Random { n: count(n)?, seed })
            }
            Some(("file", path)) => read_file_source(PathBuf::from(path)),
            _ => Err(format!("--data is range:N, random:N:SEED or file:PATH, not '{s}'")),
        }
    }
}

/// Checks a data file: whole u64s, at least one, at most MAX_ITEMS; finds its smallest and largest.
fn read_file_source(path: PathBuf) -> Result<DataSource, String> {
    let bytes = std::fs::read(&path).map_err(|e| format!("--data file {}: {e}", path.display()))?;
    if bytes.is_empty() || !bytes.len().is_multiple_of(8) {
        return Err(format!(
            "--data file {} has {} bytes, not a whole number of little-endian u64s (a multiple of 8, at least 8)",
            path.display(),
            bytes.len()
        ));
    }
    let n = (bytes.len() / 8) as u64;
    if n > MAX_ITEMS {
        return Err(format!("--data file {} holds {n} items, more than {MAX_ITEMS}", path.display()));
    }
    let (mut lo, mut hi) = (u64::MAX, 0);
    for c in bytes.chunks_exact(8) {
        let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        lo = lo.min(v);
        hi = hi.max(v);
    }
    Ok(DataSource::File { path, n, lo, hi })
}

/// What the job computes over the items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    Sum,
    MinMax,
    Histogram { buckets: usize },
}

impl Op {
    pub fn label(&self) -> String {
        match self {
            Op::Sum => "sum".into(),
            Op::MinMax => "minmax".into(),
            Op::Histogram { buckets } => format!("histogram:{buckets}"),
        }
    }

    fn parse(s: &str) -> Result<Op, String> {
        match s {
            "sum" => Ok(Op::Sum),
            "minmax" | "min/max" => Ok(Op::MinMax),
            _ => match s.strip_prefix("histogram:") {
                Some(k) => match k.parse::<usize>() {
                    Ok(k) if (1..=MAX_BUCKETS).contains(&k) => Ok(Op::Histogram { buckets: k }),
                    _ => Err(format!("--op histogram:K needs K from 1 to {MAX_BUCKETS}, not '{k}'")),
                },
                None => Err(format!("--op is sum, minmax or histogram:K, not '{s}'")),
            },
        }
    }
}

/// A signal sent to a worker at a time into the job.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timed {
    /// 1-based, as shown (w1, w2, ...).
    pub worker: u32,
    pub at_secs: f64,
}

/// A checked job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub workers: usize,
    pub mechanism: MechanismId,
    pub kind: WorkerKind,
    pub schedule: Schedule,
    /// Items per chunk (the dynamic schedule's); the static schedule cuts one chunk per worker.
    pub chunk: u64,
    pub data: DataSource,
    pub op: Op,
    pub work: u32,
    pub wait_ms: u64,
    pub ship: Ship,
    pub kills: Vec<Timed>,
    pub stops: Vec<Timed>,
    pub continues: Vec<Timed>,
    pub respawn: bool,
    pub add_at: Vec<f64>,
    pub heartbeat_ms: u64,
    pub faults: Faults,
    /// The worker that answers wrong on purpose (`--wrong-worker`).
    #[serde(default)]
    pub wrong_worker: Option<u32>,
    /// Where remote workers join (`--listen`), and the token file they must prove (`None` on
    /// loopback: an all-zero token, so the handshake and the MACs still run).
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    /// Our coordinator, or MPI (`--engine`); absent in older specs: ours.
    #[serde(default)]
    pub engine: Engine,
    /// The hosts of an MPI job (`--hostfile`, passed to mpirun).
    #[serde(default)]
    pub hostfile: Option<PathBuf>,
}

impl JobSpec {
    /// Checks every option; an error names it.
    pub fn from_args(a: &JobArgs) -> Result<JobSpec, String> {
        if !(1..=MAX_WORKERS).contains(&a.workers) {
            return Err(format!("--workers is 1 to {MAX_WORKERS}, not {}", a.workers));
        }
        let mechanism: MechanismId = a.mechanism.as_deref().unwrap_or("pipe").parse()?;
        if mechanism == MechanismId::Thread {
            return Err("--mechanism thread is the stage's baseline; for a job, say --as thread".into());
        }
        let kind: WorkerKind = a.kind.parse()?;
        if a.mechanism.is_some() && kind != WorkerKind::Process {
            return Err(format!(
                "--mechanism is how worker processes talk; --as {} workers share memory and use channels",
                kind.as_str()
            ));
        }
        if kind == WorkerKind::Process {
            mechanism.availability().map_err(|why| format!("--mechanism {mechanism} is not available here: {why}"))?;
        }
        let schedule = match a.schedule.as_str() {
            "static" => Schedule::Static,
            "dynamic" => Schedule::Dynamic,
            s => return Err(format!("--schedule is static or dynamic, not '{s}'")),
        };
        let ship = match a.ship.as_str() {
            "data" => Ship::Data,
            "work" => Ship::Work,
            "shared" => Ship::Shared,
            s => return Err(format!("--ship is data, work or shared, not '{s}'")),
        };
        let data = DataSource::parse(&a.data)?;
        let op = Op::parse(&a.op)?;
        if a.work > MAX_WORK {
            return Err(format!("--work is at most {MAX_WORK} rounds per item, not {}", a.work));
        }
        if a.wait_ms > 60_000 {
            return Err(format!("--wait-ms is at most 60000 per chunk, not {}", a.wait_ms));
        }
        if !(1..=10_000).contains(&a.heartbeat_ms) {
            return Err(format!("--heartbeat-ms is 1 to 10000, not {}", a.heartbeat_ms));
        }
        let chunk = match (a.chunk, schedule) {
            (Some(_), Schedule::Static) => {
                return Err("--chunk sizes the dynamic schedule's chunks; static cuts one chunk per worker".into());
            }
            (Some(0), _) => return Err("--chunk must be at least 1 item".into()),
            (Some(c), _) => c.min(data.len()),
            (None, Schedule::Dynamic) => (data.len() / (a.workers as u64 * 16)).max(1),
            // Static: the largest of the equal chunks, as reported.
            (None, Schedule::Static) => data.len().div_ceil(a.workers as u64),
        };
        if schedule == Schedule::Dynamic && data.len().div_ceil(chunk) > MAX_CHUNKS {
            return Err(format!(
                "--chunk {chunk} cuts {} items into more than {MAX_CHUNKS} chunks; take larger chunks",
                data.len()
            ));
        }
        let timed = |list: &[String], flag: &str| -> Result<Vec<Timed>, String> {
            list.iter()
                .map(|t| {
                    let (w, s) =
                        t.split_once('@').ok_or_else(|| format!("--{flag} is I@SECONDS (2@0.5), not '{t}'"))?;
                    let worker: u32 = w.parse().map_err(|_| format!("--{flag}: '{w}' is not a worker number"))?;
                    let at_secs: f64 = s.parse().map_err(|_| format!("--{flag}: '{s}' is not a number of seconds"))?;
                    if worker == 0 || worker as usize > MAX_WORKERS {
                        return Err(format!("--{flag}: workers are numbered 1 to {MAX_WORKERS}, not {worker}"));
                    }
                    if !(0.0..=3600.0).contains(&at_secs) {
                        return Err(format!("--{flag}: the time is 0 to 3600 seconds, not {at_secs}"));
                    }
                    Ok(Timed { worker, at_secs })
                })
                .collect()
        };
        let (kills, stops, continues) =
            (timed(&a.kill, "kill-worker")?, timed(&a.stop, "stop-worker")?, timed(&a.cont, "continue-worker")?);
        // Without --respawn the workers are the first ones and the added ones, numbered in order.
        let known = a.workers + a.add_at.len();
        if !a.respawn
            && let Some(t) = kills.iter().chain(&stops).chain(&continues).find(|t| t.worker as usize > known)
        {
            return Err(format!("there is no worker {} to signal: the job has {known} (w1 to w{known})", t.worker));
        }
        if kind != WorkerKind::Process && !(kills.is_empty() && stops.is_empty() && continues.is_empty()) {
            return Err(format!(
                "only processes can be killed or stopped; --as {} runs threads or tasks",
                kind.as_str()
            ));
        }
        for s in &a.add_at {
            if !(0.0..=3600.0).contains(s) {
                return Err(format!("--add-worker-at: the time is 0 to 3600 seconds, not {s}"));
            }
        }
        if a.workers + a.add_at.len() > MAX_WORKERS {
            return Err(format!("at most {MAX_WORKERS} workers in all, with the added ones"));
        }
        let faults: Faults = match &a.inject {
            Some(f) => f.parse().map_err(|e: String| format!("--inject: {e}"))?,
            None => Faults::default(),
        };
        // A worker sleeping out the distance sends no heartbeat meanwhile: both ways must fit
        // well inside the silence limit, or every worker would be taken for lost.
        if let Some(d) = &faults.delay {
            let limit = a.heartbeat_ms * 5;
            if 2.0 * (d.ms + d.jitter_ms) >= limit as f64 {
                return Err(format!(
                    "--inject delay: a task and its result wait up to {} ms in all, which the silence limit ({limit} ms, 5 heartbeats) \
                     cannot tell from a lost worker: raise --heartbeat-ms above {}",
                    2.0 * (d.ms + d.jitter_ms),
                    ((2.0 * (d.ms + d.jitter_ms)) / 5.0).floor() as u64
                ));
            }
        }
        if !(faults.drop.is_never() && faults.duplicate.is_never() && faults.reorder.is_never()) {
            return Err("--inject for a job corrupts result frames (corrupt=...) or delays messages (delay=MS[:JITTER]) \
                        only: a dropped or doubled result would break the one-reply-per-request exchange the workers keep"
                .into());
        }
        let listen = match &a.listen {
            None => None,
            Some(s) => {
                let addr: std::net::SocketAddr =
                    s.parse().map_err(|_| format!("--listen takes ADDR:PORT (e.g. 0.0.0.0:7000), not '{s}'"))?;
                if schedule != Schedule::Dynamic {
                    return Err(
                        "--listen needs --schedule dynamic: workers that join later take chunks from the queue".into(),
                    );
                }
                if ship == Ship::Shared {
                    return Err(
                        "--listen cannot take --ship shared: a worker on another host cannot map this host's memory"
                            .into(),
                    );
                }
                if matches!(data, DataSource::File { .. }) && ship != Ship::Data {
                    return Err("--listen with file data needs --ship data: the file is on this host only".into());
                }
                if !addr.ip().is_loopback() && a.token_file.is_none() {
                    return Err(format!(
                        "--listen {addr} lets other hosts in: give --token-file FILE (make one with `ipc-lab token new FILE`)"
                    ));
                }
                Some(addr)
            }
        };
        if let Some(f) = &a.token_file {
            super::auth::Token::load(f).map_err(|e| format!("--token-file: {e}"))?;
        }
        if !faults.is_none() && kind != WorkerKind::Process {
            return Err(
                "--inject needs worker processes: threads and tasks share memory, with no frames to damage".into()
            );
        }
        let engine = match a.engine.as_str() {
            "ours" => Engine::Ours,
            "mpi" => Engine::Mpi,
            e => return Err(format!("--engine is ours or mpi, not '{e}'")),
        };
        if engine == Engine::Mpi {
            mpi_refusals(a, kind, ship)?;
        } else if a.hostfile.is_some() {
            return Err(
                "--hostfile places MPI ranks (--engine mpi); our workers join from other hosts with --listen".into()
            );
        }
        Ok(JobSpec {
            workers: a.workers,
            mechanism,
            kind,
            schedule,
            chunk,
            data,
            op,
            work: a.work,
            wait_ms: a.wait_ms,
            ship,
            kills,
            stops,
            continues,
            respawn: a.respawn,
            add_at: a.add_at.clone(),
            heartbeat_ms: a.heartbeat_ms,
            faults,
            wrong_worker: a.wrong_worker,
            listen,
            token_file: a.token_file.clone(),
            engine,
            hostfile: a.hostfile.clone(),
        })
    }

    /// The chunks as (start, len): one per worker for static, `chunk` items each for dynamic.
    pub fn chunks(&self) -> Vec<(u64, u64)> {
        let n = self.data.len();
        match self.schedule {
            Schedule::Static => {
                let w = self.workers as u64;
                (0..w)
                    .map(|i| {
                        let (a, b) = (n * i / w, n * (i + 1) / w);
                        (a, b - a)
                    })
                    .filter(|&(_, len)| len > 0)
                    .collect()
            }
            Schedule::Dynamic => {
                let c = self.chunk.max(1);
                (0..n.div_ceil(c)).map(|i| (i * c, c.min(n - i * c))).collect()
            }
        }
    }

    /// How long a silent worker is given before its chunk is requeued.
    pub fn silence_limit_ms(&self) -> u64 {
        self.heartbeat_ms * 5
    }
}

/// What MPI cannot do of a job's options, refused by name rather than ignored; then whether
/// this build and machine can run MPI at all.
fn mpi_refusals(a: &JobArgs, kind: WorkerKind, ship: Ship) -> Result<(), String> {
    let refuse = |what: &str, why: &str| Err(format!("--engine mpi cannot take {what}: {why}"));
    if kind != WorkerKind::Process {
        return refuse(&format!("--as {}", kind.as_str()), "MPI's ranks are processes");
    }
    if a.mechanism.is_some() {
        return refuse("--mechanism", "MPI picks its own transport (shared memory on one host, TCP between hosts)");
    }
    if ship == Ship::Shared {
        return refuse("--ship shared", "the ranks share no segment with the coordinator; ship data or work");
    }
    let scripted = [
        (!a.kill.is_empty(), "--kill-worker"),
        (!a.stop.is_empty(), "--stop-worker"),
        (!a.cont.is_empty(), "--continue-worker"),
        (a.respawn, "--respawn"),
        (!a.add_at.is_empty(), "--add-worker-at"),
    ];
    if let Some((_, flag)) = scripted.iter().find(|(on, _)| *on) {
        return refuse(flag, "MPI_COMM_WORLD is fixed when mpirun starts, and one rank's death aborts the whole job");
    }
    if a.inject.is_some() {
        return refuse("--inject", "MPI's messages are not our frames, so there is nothing of ours to damage or delay");
    }
    if a.listen.is_some() || a.token_file.is_some() {
        return refuse("--listen or --token-file", "MPI places its ranks on hosts with --hostfile");
    }
    if a.heartbeat_ms != 100 {
        return refuse("--heartbeat-ms", "MPI ranks send no heartbeats (a stopped rank stalls the job)");
    }
    if a.sweep_workers.is_some() || a.compare_as {
        return refuse("--sweep-workers or --compare-as", "they run our engine; run the MPI job once per worker count");
    }
    if let Some(h) = &a.hostfile {
        std::fs::metadata(h).map_err(|e| format!("--hostfile {}: {e}", h.display()))?;
    }
    super::mpi::availability().map(|_| ()).map_err(|e| format!("--engine mpi: {e}"))
}

/// Parses a --sweep-workers list: distinct counts from 1 to 64, in order.
pub fn parse_sweep(list: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for t in list.split(',') {
        let n: usize = t.trim().parse().map_err(|_| format!("--sweep-workers: '{t}' is not a worker count"))?;
        if !(1..=MAX_WORKERS).contains(&n) {
            return Err(format!("--sweep-workers: counts are 1 to {MAX_WORKERS}, not {n}"));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out.sort_unstable();
    if out.is_empty() {
        return Err("--sweep-workers needs at least one count".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(line: &str) -> Result<JobSpec, String> {
        JobSpec::from_args(&JobArgs::parse_line(line)?)
    }

    #[test]
    fn bad_job_options_are_refused_by_name() {
        for (line, says) in [
            ("--workers 0", "--workers"),
            ("--workers 65", "--workers"),
            ("--chunk 0 --schedule dynamic", "--chunk"),
            ("--op median", "--op"),
            ("--op histogram:0", "histogram"),
            ("--data range:0", "--data"),
            ("--data ranged:5", "--data"),
            ("--data random:5", "random"),
            ("--kill-worker 2", "--kill-worker"),
            ("--kill-worker 0@1", "numbered"),
            ("--as fiber", "--as"),
            ("--as thread --kill-worker 1@1", "only processes"),
            ("--inject drop=0.1", "corrupt"),
            ("--mechanism carrier-pigeon", "carrier-pigeon"),
            ("--engine warp", "--engine"),
            ("--hostfile /etc/hosts", "--hostfile"),
            ("--engine mpi --as thread", "--as thread"),
            ("--engine mpi --kill-worker 1@1", "--kill-worker"),
        ] {
            let err = spec(line).expect_err(line);
            assert!(err.contains(says), "{line}: {err}");
        }
    }

    #[test]
    fn a_data_file_that_is_not_whole_u64s_is_refused() {
        let dir = std::env::temp_dir().join(format!("ipc-lab-jobspec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let odd = dir.join("odd.bin");
        std::fs::write(&odd, [1u8; 12]).unwrap();
        let err = spec(&format!("--data file:{}", odd.display())).expect_err("12 bytes");
        assert!(err.contains("12 bytes"), "{err}");
        let good = dir.join("good.bin");
        std::fs::write(&good, [5u64, 3, 9].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()).unwrap();
        let s = spec(&format!("--data file:{}", good.display())).expect("24 bytes");
        assert_eq!(s.data.bounds(), (3, 9));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn chunks_cover_every_item_once() {
        for line in [
            "--data range:10 --workers 3",
            "--data range:10 --schedule dynamic --chunk 3",
            "--data range:2 --workers 4",
        ] {
            let s = spec(line).unwrap();
            let mut next = 0;
            for (start, len) in s.chunks() {
                assert_eq!(start, next, "{line}");
                assert!(len > 0);
                next += len;
            }
            assert_eq!(next, s.data.len(), "{line}");
        }
    }
}
