//! What to run: mechanism, pattern, sizes and counts. Plain serde data, shared by the CLI, the
//! supervisor and (later) scenario files and the GUI.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::mechanism::{MechanismId, ShmWait, mqueue, shm};
use crate::wire::DEFAULT_MAX_PAYLOAD;

/// How the two roles exchange frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// Send SIZE bytes, get SIZE bytes back, record the round trip.
    PingPong,
    /// One direction as fast as possible; the receiver checks order and checksums.
    Stream,
    /// A producer, `nodes - 2` relays that pass each message on, and a consumer.
    Pipeline,
    /// One producer dealing messages round-robin to `nodes` consumers.
    FanOut,
    /// `nodes` producers, one consumer reading them all.
    FanIn,
}

/// What a node's program does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Program {
    Pinger,
    Echo,
    Producer,
    Relay,
    Consumer,
}

impl Program {
    pub fn as_str(self) -> &'static str {
        match self {
            Program::Pinger => "pinger",
            Program::Echo => "echo",
            Program::Producer => "producer",
            Program::Relay => "relay",
            Program::Consumer => "consumer",
        }
    }
}

/// A channel between two nodes; data flows from `up` to `down` (and back, in ping-pong).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSpec {
    pub link: u16,
    pub up: crate::telemetry::Role,
    pub down: crate::telemetry::Role,
}

/// The nodes of a run and the links between them.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    pub programs: Vec<Program>,
    pub links: Vec<LinkSpec>,
}

impl Topology {
    /// The links `role` is an end of, in link order.
    pub fn links_of(&self, role: crate::telemetry::Role) -> impl Iterator<Item = &LinkSpec> {
        self.links.iter().filter(move |l| l.up == role || l.down == role)
    }

    /// A node's program, and its number among the nodes that run the same program (`None` when
    /// it is the only one): what its name is made of, in any language.
    pub fn node_parts(&self, role: crate::telemetry::Role) -> Option<(Program, Option<usize>)> {
        let &program = self.programs.get(role.index())?;
        let same = self.programs.iter().filter(|&&p| p == program).count();
        let nth = self.programs[..role.index()].iter().filter(|&&p| p == program).count() + 1;
        Some((program, (same > 1).then_some(nth)))
    }

    /// "producer", "relay 2", "consumer 1", "pinger"...: a node's name, in English (the CLI's,
    /// and trace files'); the window says it in its language (`app::stage_ui::node_label`).
    pub fn node_name(&self, role: crate::telemetry::Role) -> String {
        match self.node_parts(role) {
            Some((program, Some(nth))) => format!("{} {nth}", program.as_str()),
            Some((program, None)) => program.as_str().to_string(),
            None => role.as_str(),
        }
    }
}

impl Pattern {
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::PingPong => "ping-pong",
            Pattern::Stream => "stream",
            Pattern::Pipeline => "pipeline",
            Pattern::FanOut => "fan-out",
            Pattern::FanIn => "fan-in",
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ping-pong" | "pingpong" => Ok(Pattern::PingPong),
            "stream" => Ok(Pattern::Stream),
            "pipeline" => Ok(Pattern::Pipeline),
            "fan-out" | "fanout" => Ok(Pattern::FanOut),
            "fan-in" | "fanin" => Ok(Pattern::FanIn),
            _ => Err(format!("unknown pattern '{s}' (known: ping-pong, stream, pipeline, fan-out, fan-in)")),
        }
    }
}

/// One run: two roles over one mechanism.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSpec {
    pub mechanism: MechanismId,
    pub pattern: Pattern,
    /// Payload bytes per message (both directions in ping-pong).
    pub size: usize,
    /// Measured messages (round trips in ping-pong).
    pub count: u64,
    /// Messages exchanged before measuring starts.
    pub warmup: u64,
    pub max_payload: usize,
    pub shm_wait: ShmWait,
    pub shm_ring_bytes: usize,
    pub mq_depth: usize,
    pub mq_msg_size: usize,
    /// CPUs the workers are pinned to (`None`: wherever the scheduler likes).
    pub pin: Option<Vec<usize>>,
    /// Ask workers for one telemetry event per message (for the live stage).
    pub per_message_events: bool,
    pub tcp_host: String,
    /// Pipeline: stages in all (at least 2); fan-out: consumers; fan-in: producers.
    pub nodes: u16,
    /// Most messages per second each producer sends (`None`: as fast as it can).
    pub rate_per_sec: Option<f64>,
    /// Start with the gates on: every role waits before each IPC operation (step mode).
    pub gated: bool,
    /// Faults the producers inject on purpose (drop, duplicate, reorder, corrupt).
    pub faults: crate::faults::Faults,
}

/// A count so large that a run goes on until it is asked to stop.
pub const ENDLESS: u64 = 1 << 62;

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            mechanism: MechanismId::Pipe,
            pattern: Pattern::PingPong,
            size: 64,
            count: 10_000,
            warmup: 1_000,
            max_payload: DEFAULT_MAX_PAYLOAD,
            shm_wait: ShmWait::default(),
            shm_ring_bytes: shm::DEFAULT_RING_BYTES,
            mq_depth: mqueue::DEFAULT_DEPTH,
            mq_msg_size: mqueue::DEFAULT_MSG_SIZE,
            pin: None,
            per_message_events: false,
            tcp_host: "127.0.0.1".into(),
            rate_per_sec: None,
            gated: false,
            nodes: 3,
            faults: crate::faults::Faults::default(),
        }
    }
}

/// Most nodes a pipeline or fan may have.
pub const MAX_NODES: u16 = 16;
/// Largest `max_payload` a run may ask for: every worker allocates a buffer of this size.
pub const MAX_PAYLOAD_LIMIT: usize = 256 << 20;
/// Bounds of an shm ring (each direction), and of a message queue's shape.
pub const SHM_RING_RANGE: std::ops::RangeInclusive<usize> = 4096..=(1 << 30);
pub const MQ_DEPTH_MAX: usize = 65_536;
pub const MQ_MSG_SIZE_MAX: usize = 16 << 20;
/// CPUs a pin list may name (the size of the kernel's default cpu_set_t).
pub const MAX_CPUS: usize = 1024;

impl RunSpec {
    /// The nodes and links this run's pattern makes.
    pub fn topology(&self) -> Topology {
        use crate::telemetry::Role;
        let n = self.nodes.clamp(1, MAX_NODES);
        let link = |i: usize, up: u16, down: u16| LinkSpec { link: i as u16, up: Role(up), down: Role(down) };
        match self.pattern {
            Pattern::PingPong => {
                Topology { programs: vec![Program::Pinger, Program::Echo], links: vec![link(0, 0, 1)] }
            }
            Pattern::Stream => {
                Topology { programs: vec![Program::Producer, Program::Consumer], links: vec![link(0, 0, 1)] }
            }
            Pattern::Pipeline => {
                let n = n.max(2);
                let mut programs = vec![Program::Producer];
                programs.extend(std::iter::repeat_n(Program::Relay, n as usize - 2));
                programs.push(Program::Consumer);
                Topology { programs, links: (0..n - 1).map(|i| link(i as usize, i, i + 1)).collect() }
            }
            Pattern::FanOut => {
                let mut programs = vec![Program::Producer];
                programs.extend(std::iter::repeat_n(Program::Consumer, n as usize));
                Topology { programs, links: (1..=n).map(|i| link(i as usize - 1, 0, i)).collect() }
            }
            Pattern::FanIn => {
                let mut programs = vec![Program::Producer; n as usize];
                programs.push(Program::Consumer);
                Topology { programs, links: (0..n).map(|i| link(i as usize, i, n)).collect() }
            }
        }
    }

    /// Checks everything that can be checked before a process starts. Every process boundary
    /// (CLI, scenario file, worker spec) goes through here, so no value that passes can make a
    /// worker panic or allocate without bound.
    pub fn validate(&self) -> Result<(), String> {
        let min = if self.pattern == Pattern::Pipeline { 2 } else { 1 };
        if !(min..=MAX_NODES).contains(&self.nodes) {
            return Err(format!("a {} needs between {min} and {MAX_NODES} nodes, not {}", self.pattern, self.nodes));
        }
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        if self.count > ENDLESS || self.warmup > ENDLESS {
            return Err(format!("count and warm-up must be at most {ENDLESS}"));
        }
        if let Some(rate) = self.rate_per_sec
            && !(1e-3..=1e9).contains(&rate)
        {
            return Err(format!("rate must be between 0.001 and 1e9 messages per second, not {rate}"));
        }
        if self.max_payload > MAX_PAYLOAD_LIMIT {
            return Err(format!(
                "maximum payload {} is above the {} every worker could be asked to hold",
                human_bytes(self.max_payload as u64),
                human_bytes(MAX_PAYLOAD_LIMIT as u64)
            ));
        }
        if self.size > self.max_payload {
            return Err(format!(
                "size {} exceeds the maximum payload {} (raise it with --max-size)",
                human_bytes(self.size as u64),
                human_bytes(self.max_payload as u64)
            ));
        }
        self.mechanism
            .availability()
            .map_err(|why| format!("mechanism '{}' is not available on this platform: {why}", self.mechanism))?;
        if self.mechanism == MechanismId::Mqueue
            && !((1..=MQ_DEPTH_MAX).contains(&self.mq_depth) && (1..=MQ_MSG_SIZE_MAX).contains(&self.mq_msg_size))
        {
            return Err(format!(
                "message queue depth must be 1..={MQ_DEPTH_MAX} and message size 1..={MQ_MSG_SIZE_MAX} bytes"
            ));
        }
        if self.mechanism == MechanismId::Shm && !SHM_RING_RANGE.contains(&self.shm_ring_bytes) {
            return Err(format!(
                "shm ring must be between {} and {}, not {}",
                human_bytes(*SHM_RING_RANGE.start() as u64),
                human_bytes(*SHM_RING_RANGE.end() as u64),
                human_bytes(self.shm_ring_bytes as u64)
            ));
        }
        if let Some(pin) = &self.pin {
            if pin.is_empty() || pin.len() > MAX_CPUS {
                return Err(format!("a CPU list names 1 to {MAX_CPUS} CPUs"));
            }
            if let Some(c) = pin.iter().find(|&&c| c >= MAX_CPUS) {
                return Err(format!("CPU {c} is beyond the {MAX_CPUS} CPUs a pin list may name"));
            }
        }
        if self.mechanism == MechanismId::Tcp && self.tcp_host.trim().is_empty() {
            return Err("TCP needs a host to listen on".into());
        }
        self.faults.validate(self.size)?;
        if self.faults.delay.is_some() {
            return Err(
                "delay= is for jobs (ipc-lab job --inject delay=MS): the stage's latency is the mechanism's own".into(),
            );
        }
        if !self.faults.is_none() && self.pattern == Pattern::PingPong {
            return Err("faults need a one-way pattern (stream, pipeline, fan-out, fan-in): in ping-pong the \
                        pinger would wait forever for the echo of a dropped ping"
                .into());
        }
        Ok(())
    }
}

/// "64 B", "4 KiB", "1.5 MiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v.fract() == 0.0 { format!("{v} {}", UNITS[unit]) } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// Parses "64", "4k", "4KiB", "1M", "16MiB" (binary multiples).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("invalid size '{s}' (examples: 64, 4k, 1MiB)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!("invalid size unit in '{s}' (use B, KiB, MiB or GiB)"));
        }
    };
    n.checked_mul(mult).ok_or_else(|| format!("size '{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("64"), Ok(64));
        assert_eq!(parse_bytes("4k"), Ok(4096));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("").is_err());
    }

    #[test]
    fn count_zero_and_oversize_are_refused() {
        let spec = RunSpec { count: 0, ..Default::default() };
        assert!(spec.validate().unwrap_err().contains("count"));
        let spec = RunSpec { size: DEFAULT_MAX_PAYLOAD + 1, ..Default::default() };
        assert!(spec.validate().unwrap_err().contains("exceeds the maximum payload"));
    }

    #[test]
    fn topologies_have_the_promised_shape() {
        use crate::telemetry::Role;
        let t = RunSpec { pattern: Pattern::Pipeline, nodes: 4, ..Default::default() }.topology();
        assert_eq!(t.programs, vec![Program::Producer, Program::Relay, Program::Relay, Program::Consumer]);
        assert_eq!(t.links.len(), 3);
        assert_eq!(t.node_name(Role(2)), "relay 2");
        let t = RunSpec { pattern: Pattern::FanOut, nodes: 3, ..Default::default() }.topology();
        assert_eq!(t.programs.len(), 4);
        assert!(t.links.iter().all(|l| l.up == Role(0)));
        let t = RunSpec { pattern: Pattern::FanIn, nodes: 3, ..Default::default() }.topology();
        assert!(t.links.iter().all(|l| l.down == Role(3)));
        assert_eq!(t.node_name(Role(3)), "consumer");
        let bad = RunSpec { pattern: Pattern::Pipeline, nodes: 1, ..Default::default() };
        assert!(bad.validate().unwrap_err().contains("between 2 and 16"));
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(64), "64 B");
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(16 << 20), "16 MiB");
    }
}
