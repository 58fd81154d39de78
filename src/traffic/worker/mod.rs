//! The worker: what runs inside each child process (`ipc-lab worker SPEC`).
//!
//! A worker plays one node of the run's topology (all of them, as threads, for the in-process
//! `thread` mechanism) and holds one port per link of that node. It opens its ports in two steps so
//! start-up needs no sleeps: it binds what it must (a listening socket) and says `listening`; the
//! supervisor then sends `connect` with each peer's address and PID, the worker completes the
//! connections in link order (so chains of FIFOs never wait on each other in a cycle) and says
//! `ready`; on `go` each node runs its program and reports `done` with its numbers. Telemetry goes
//! to stdout, control comes from stdin; when stdin closes (the supervisor is gone) the worker exits.

//!
//! Files: this one (spec, handshake, placement); `nodes` (the node loops); `meter` (what a
//! node counts and how progress is reported); `gates` (rate limit and step gates).

mod gates;
mod meter;
mod nodes;

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::channel::{Receiver, unbounded};
use serde::{Deserialize, Serialize};

pub use crate::mechanism::endpoint::EndpointSpec;
use crate::mechanism::endpoint::{Pending, prepare};
use crate::mechanism::{self, Link, MechanismId};
use crate::telemetry::{Control, Event, PeerInfo, Role, Sink, TELEMETRY_VERSION};
use crate::traffic::spec::RunSpec;
use gates::{Gates, Pacer, Shared};
use meter::{NodeCells, start_sampler};
use nodes::play;

/// One end of one link, as a worker holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The node this port belongs to.
    pub role: Role,
    pub link: u16,
    /// This end is the link's upstream end (the sender of data; the pinger in ping-pong).
    pub upstream: bool,
    /// The node at the other end.
    pub peer: Role,
    pub endpoint: EndpointSpec,
}

/// Everything a worker process is told on its command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// The nodes this process plays: one, or all of them for the in-process `thread` mechanism.
    pub roles: Vec<Role>,
    /// Its ends of the links, in link order.
    pub ports: Vec<PortSpec>,
    pub run: RunSpec,
}

impl WorkerSpec {
    /// Checks what a worker is told before it acts on it: the run (see [`RunSpec::validate`]),
    /// and that its roles and ports belong to that run's topology, each port once.
    pub fn validate(&self) -> Result<(), String> {
        self.run.validate()?;
        let topology = self.run.topology();
        if self.roles.is_empty() {
            return Err("a worker must play at least one node".into());
        }
        for role in &self.roles {
            if role.index() >= topology.programs.len() {
                return Err(format!("node {} is not in a topology of {} nodes", role.0, topology.programs.len()));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.ports {
            if !self.roles.contains(&p.role) {
                return Err(format!(
                    "port on link {} belongs to node {}, which this worker does not play",
                    p.link, p.role.0
                ));
            }
            let link = topology.links.iter().find(|l| l.link == p.link).ok_or_else(|| format!("no link {}", p.link))?;
            let (me, peer) = if p.upstream { (link.up, link.down) } else { (link.down, link.up) };
            if me != p.role || peer != p.peer {
                return Err(format!("port on link {} does not match the topology", p.link));
            }
            if !seen.insert((p.link, p.upstream)) {
                return Err(format!(
                    "link {} has two {} ports",
                    p.link,
                    if p.upstream { "upstream" } else { "downstream" }
                ));
            }
            let thread = matches!(p.endpoint, EndpointSpec::Thread);
            if thread != self.run.mechanism.in_process() {
                return Err(format!("port on link {} has an endpoint of another mechanism", p.link));
            }
        }
        Ok(())
    }
}

/// Exit codes, so the supervisor can tell a worker's own failure from a signal.
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_SPEC: i32 = 2;
pub const EXIT_SUPERVISOR_GONE: i32 = 3;

/// Entry point of `ipc-lab worker`. Returns the process exit code.
pub fn main(spec_json: &str) -> i32 {
    let spec: WorkerSpec = match serde_json::from_str(spec_json) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: worker spec is not valid: {e}");
            return EXIT_BAD_SPEC;
        }
    };
    if let Err(e) = spec.validate() {
        eprintln!("error: worker spec is not valid: {e}");
        return EXIT_BAD_SPEC;
    }
    // Pin before any thread starts, so the telemetry and control threads inherit the placement.
    let pinned = match &spec.run.pin {
        Some(cpus) => pin_to(&process_cpus(cpus, &spec.roles)),
        None => Ok(()),
    };
    with_telemetry("worker", single_role(&spec), |sink| pinned.and_then(|()| run(&spec, sink)))
}

/// Runs a child process's body with its telemetry channel on stdout, and returns the exit code:
/// 0, or [`EXIT_FAILED`] after telling the supervisor why (an `error` event for `role`).
/// Shared by the workers and the scenario actors.
pub(crate) fn with_telemetry(what: &str, role: Option<Role>, body: impl FnOnce(&Sink) -> Result<(), String>) -> i32 {
    let (sink, writer) = match Sink::start(Box::new(std::io::stdout())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {what} cannot start telemetry: {e}");
            return EXIT_FAILED;
        }
    };
    let code = match body(&sink) {
        Ok(()) => 0,
        Err(message) => {
            sink.emit(&Event::Error { role, message });
            EXIT_FAILED
        }
    };
    // Other threads may still hold the sink (blocked on a peer that will never answer); close
    // it explicitly so the report is flushed and the process can end.
    sink.close();
    drop(sink);
    let _ = writer.join();
    code
}

fn single_role(spec: &WorkerSpec) -> Option<Role> {
    (spec.roles.len() == 1).then(|| spec.roles[0])
}

/// Control messages, read on their own thread.
struct ControlIn {
    rx: Receiver<Control>,
    shared: Arc<Shared>,
}

impl ControlIn {
    fn start(gated: bool) -> Result<ControlIn, String> {
        let (tx, rx) = unbounded();
        let shared = Arc::new(Shared { stop: AtomicBool::new(false), gates: Gates::new(gated) });
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                for line in stdin.lock().lines() {
                    let Ok(line) = line else { break };
                    match crate::telemetry::parse_control(&line) {
                        Ok(Control::Stop) => {
                            theirs.stop.store(true, Ordering::Relaxed);
                            theirs.gates.set_enabled(false);
                        }
                        Ok(Control::Gate { enabled }) => theirs.gates.set_enabled(enabled),
                        Ok(Control::Step { role, ops }) => theirs.gates.add_permits(role, ops),
                        Ok(c) => {
                            let _ = tx.send(c);
                        }
                        Err(e) => eprintln!("ipc-lab worker: {e}"),
                    }
                }
                // The supervisor is gone (or closed our control channel): nobody would read our
                // results, and no child may outlive its supervisor.
                std::process::exit(EXIT_SUPERVISOR_GONE);
            })
            .map_err(|e| format!("cannot start control thread: {e}"))?;
        Ok(ControlIn { rx, shared })
    }

    fn expect_connect(&self) -> Result<Vec<PeerInfo>, String> {
        match self.rx.recv() {
            Ok(Control::Connect { peers }) => Ok(peers),
            Ok(other) => Err(format!("expected connect, got {other:?}")),
            Err(_) => Err("control channel closed before connect".into()),
        }
    }

    fn expect_go(&self) -> Result<(), String> {
        match self.rx.recv() {
            Ok(Control::Go) => Ok(()),
            Ok(other) => Err(format!("expected go, got {other:?}")),
            Err(_) => Err("control channel closed before go".into()),
        }
    }
}

fn run(spec: &WorkerSpec, sink: &Sink) -> Result<(), String> {
    let control = ControlIn::start(spec.run.gated)?;
    sink.emit(&Event::Hello { version: TELEMETRY_VERSION, pid: std::process::id(), roles: spec.roles.clone() });
    let in_process = spec.run.mechanism == MechanismId::Thread;
    let mut ports: Vec<&PortSpec> = spec.ports.iter().collect();
    ports.sort_by_key(|p| (p.link, p.upstream));

    let mut pending = Vec::with_capacity(ports.len());
    for port in &ports {
        let p = if in_process {
            Pending::Nothing
        } else {
            prepare(&port.endpoint, port.upstream).map_err(|e| e.to_string())?
        };
        sink.emit(&Event::Listening { role: port.role, link: port.link, address: p.address() });
        pending.push(p);
    }
    let peers = control.expect_connect()?;
    let mut opened: Vec<(PortSpec, Box<dyn Link>)> = Vec::with_capacity(ports.len());
    if in_process {
        // Both ends of every link live here: a crossbeam pair per link.
        type Ends = (Option<Box<dyn Link>>, Option<Box<dyn Link>>);
        let mut ends: std::collections::HashMap<u16, Ends> = Default::default();
        for port in &ports {
            ends.entry(port.link).or_insert_with(|| {
                let (up, down) = mechanism::thread::pair();
                (Some(Box::new(up) as Box<dyn Link>), Some(Box::new(down) as Box<dyn Link>))
            });
            let slot = ends.get_mut(&port.link).ok_or("link vanished")?;
            let end = if port.upstream { slot.0.take() } else { slot.1.take() };
            opened.push((
                (*port).clone(),
                end.ok_or_else(|| {
                    format!("link {} has two {} ends", port.link, if port.upstream { "upstream" } else { "downstream" })
                })?,
            ));
        }
    } else {
        for (port, p) in ports.iter().zip(pending) {
            let peer = peers.iter().find(|i| i.link == port.link);
            let link = p
                .finish(
                    &port.endpoint,
                    port.upstream,
                    peer.and_then(|i| i.address.as_deref()),
                    peer.map_or(0, |i| i.pid),
                )
                .map_err(|e| format!("{} link {}: {e}", port.role.as_str(), port.link))?;
            opened.push(((*port).clone(), link));
        }
    }
    for &role in &spec.roles {
        sink.emit(&Event::Ready { role });
    }
    control.expect_go()?;

    // Each node runs its program on its own thread; the first failure ends the worker (threads
    // still blocked on a dead peer end with the process). A sampler reports their progress.
    let (done_tx, done_rx) = unbounded();
    let topology = spec.run.topology();
    let mut nodes = Vec::new();
    for &role in &spec.roles {
        let my_ports: Vec<(PortSpec, Box<dyn Link>)> = {
            let (mine, rest): (Vec<_>, Vec<_>) = opened.into_iter().partition(|(p, _)| p.role == role);
            opened = rest;
            mine
        };
        let program =
            *topology.programs.get(role.index()).ok_or_else(|| format!("{} is not in the topology", role.as_str()))?;
        let cells = NodeCells::new(role, &my_ports, sink);
        nodes.push(cells.clone());
        let (run, shared, done) = (spec.run.clone(), control.shared.clone(), done_tx.clone());
        let pin = spec.run.pin.clone();
        std::thread::Builder::new()
            .name(format!("node-{}", role.0))
            .spawn(move || {
                // sched_setaffinity(0) applies to the calling thread only: each node its CPU.
                let cpu = pin.as_deref().and_then(|cpus| role_cpu(cpus, role)).filter(|_| in_process);
                if let Some(Err(e)) = cpu.map(|c| pin_to(&[c])) {
                    let _ = done.send((role, Err(e)));
                    return;
                }
                let result = play(role, program, my_ports, &run, cells, &shared, in_process);
                let _ = done.send((role, result));
            })
            .map_err(|e| format!("cannot start a node thread: {e}"))?;
    }
    start_sampler(nodes, spec.run.per_message_events)?;
    drop(done_tx);
    for _ in 0..spec.roles.len() {
        match done_rx.recv() {
            Ok((role, Ok(stats))) => sink.emit(&Event::Done { role, stats }),
            Ok((role, Err(e))) => {
                let message = format!("{}: {e}", topology.node_name(role));
                if spec.roles.len() > 1 {
                    sink.emit(&Event::Error { role: Some(role), message: message.clone() });
                }
                return Err(message);
            }
            Err(_) => return Err("a node thread ended without a word".into()),
        }
    }
    Ok(())
}

/// The CPU a role runs on under `--pin LIST`: the initiator on the first CPU, the responder on the
/// second (or the first again when only one is given), so `--pin 0` puts both on one core and
/// `--pin 0,1` puts them on two.
pub fn role_cpu(cpus: &[usize], role: Role) -> Option<usize> {
    (!cpus.is_empty()).then(|| cpus[role.index() % cpus.len()])
}

/// The CPUs a worker process may use: those of all the roles it plays.
fn process_cpus(cpus: &[usize], roles: &[Role]) -> Vec<usize> {
    let mut set: Vec<usize> = roles.iter().filter_map(|&r| role_cpu(cpus, r)).collect();
    set.sort_unstable();
    set.dedup();
    set
}

#[cfg(target_os = "linux")]
fn pin_to(cpus: &[usize]) -> Result<(), String> {
    use nix::sched::{CpuSet, sched_setaffinity};
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
    }
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(|e| format!("cannot pin to CPUs {cpus:?}: {e}"))
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpus: &[usize]) -> Result<(), String> {
    Err("CPU pinning is only supported on Linux".into())
}

/// Writes the sequence number into the payload's first bytes, so each payload is distinct.
#[inline]
fn stamp_seq(payload: &mut [u8], seq: u64) {
    let n = payload.len().min(8);
    payload[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{FaultRule, Faults, Injector};
    use crate::traffic::spec::{ENDLESS, Pattern};
    use proptest::prelude::*;

    fn arb_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(-1.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(1e-300),
            Just(0.5),
            Just(4.0),
            any::<f64>()
        ]
    }

    fn arb_usize() -> impl Strategy<Value = usize> {
        prop_oneof![Just(0usize), Just(1), Just(64), Just(4096), Just(1 << 20), Just(usize::MAX), any::<usize>()]
    }

    fn arb_rule() -> impl Strategy<Value = FaultRule> {
        prop_oneof![
            Just(FaultRule::Never),
            arb_f64().prop_map(FaultRule::Fraction),
            proptest::collection::vec(any::<u64>(), 0..4).prop_map(FaultRule::Seqs),
        ]
    }

    prop_compose! {
        fn arb_run()(
            mechanism in proptest::sample::select(MechanismId::ALL.to_vec()),
            pattern in proptest::sample::select(vec![Pattern::PingPong, Pattern::Stream, Pattern::Pipeline, Pattern::FanOut, Pattern::FanIn]),
            size in arb_usize(), max_payload in arb_usize(),
            count in prop_oneof![Just(0u64), Just(1), Just(ENDLESS), Just(u64::MAX), any::<u64>()],
            warmup in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
            shm_ring_bytes in arb_usize(), mq_depth in arb_usize(), mq_msg_size in arb_usize(),
            pin in proptest::option::of(proptest::collection::vec(arb_usize(), 0..3)),
            nodes in any::<u16>(), rate in proptest::option::of(arb_f64()),
            faults in (arb_rule(), arb_rule(), arb_rule(), arb_rule(), any::<u64>()),
        ) -> RunSpec {
            RunSpec {
                mechanism, pattern, size, max_payload, count, warmup, shm_ring_bytes, mq_depth, mq_msg_size, pin,
                nodes, rate_per_sec: rate,
                faults: Faults { drop: faults.0, duplicate: faults.1, reorder: faults.2, corrupt: faults.3, seed: faults.4, delay: None },
                ..RunSpec::default()
            }
        }
    }

    prop_compose! {
        fn arb_worker_spec()(
            run in arb_run(),
            roles in proptest::collection::vec(any::<u16>().prop_map(Role), 0..3),
            ports in proptest::collection::vec((any::<u16>(), any::<u16>(), any::<bool>(), any::<u16>()), 0..4),
        ) -> WorkerSpec {
            let ports = ports
                .into_iter()
                .map(|(role, link, upstream, peer)| PortSpec {
                    role: Role(role % 20),
                    link: link % 20,
                    upstream,
                    peer: Role(peer % 20),
                    endpoint: EndpointSpec::Thread,
                })
                .collect();
            WorkerSpec { roles, ports, run }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A worker spec from anywhere (a supervisor of another version, a hand-typed command)
        /// is refused with a reason, or every value the worker will act on is in bounds: the
        /// allocations, the pacer, the ring, the pin list, the topology. Never a panic.
        #[test]
        fn random_worker_specs_are_refused_or_safe(spec in arb_worker_spec()) {
            if spec.validate().is_ok() {
                let run = &spec.run;
                prop_assert!(run.size <= run.max_payload && run.max_payload <= crate::traffic::spec::MAX_PAYLOAD_LIMIT);
                let _ = Pacer::new(run.rate_per_sec);
                let topology = run.topology();
                prop_assert!(spec.roles.iter().all(|r| r.index() < topology.programs.len()));
                prop_assert!(run.warmup.checked_add(run.count).is_some());
                if run.mechanism == MechanismId::Shm {
                    prop_assert!(run.shm_ring_bytes.max(4096).checked_next_power_of_two().is_some());
                }
                if let Some(pin) = &run.pin {
                    let cpus = process_cpus(pin, &spec.roles);
                    prop_assert!(cpus.len() <= crate::traffic::spec::MAX_CPUS);
                }
                let _ = Injector::new(&run.faults, 0).map(|mut i| i.decide(0, run.size, false));
            }
        }

        /// The same through JSON text, as the worker receives it: mangled text is an error.
        #[test]
        fn random_worker_spec_text_never_panics(text in "\\PC{0,200}", spec in arb_worker_spec(), cut in any::<prop::sample::Index>()) {
            let _ = serde_json::from_str::<WorkerSpec>(&text).map(|s| s.validate());
            let json = serde_json::to_string(&spec).expect("encode");
            let cut = cut.index(json.len() + 1);
            if let Some(prefix) = json.get(..cut) {
                let _ = serde_json::from_str::<WorkerSpec>(prefix).map(|s| s.validate());
            }
        }
    }

    #[test]
    fn a_spec_with_a_zero_rate_or_a_huge_size_is_refused() {
        let base = WorkerSpec { roles: vec![Role(0)], ports: vec![], run: RunSpec::default() };
        let zero_rate = WorkerSpec { run: RunSpec { rate_per_sec: Some(0.0), ..RunSpec::default() }, ..base.clone() };
        assert!(zero_rate.validate().unwrap_err().contains("rate"));
        let huge = WorkerSpec {
            run: RunSpec { size: usize::MAX / 2, max_payload: usize::MAX, ..RunSpec::default() },
            ..base.clone()
        };
        assert!(huge.validate().unwrap_err().contains("maximum payload"));
        let stranger = WorkerSpec { roles: vec![Role(9)], ..base };
        assert!(stranger.validate().unwrap_err().contains("not in a topology"));
    }
}
