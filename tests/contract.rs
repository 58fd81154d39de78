//! The transport contract (see `src/mechanism/mod.rs`), written once and instantiated for every
//! mechanism, over real child processes started from the real binary.

mod common;

use std::time::Duration;

use common::*;
use ipc_lab::mechanism::MechanismId;
use ipc_lab::report::RunReport;
use ipc_lab::scenario::Pattern;
use ipc_lab::supervisor::{ExitKind, Run, WorkerSignal};
use ipc_lab::telemetry::Role;

const SIZES: [usize; 6] = [0, 1, 64, 4096, 65537, 1 << 20];

fn count_for(size: usize) -> u64 {
    if size >= 1 << 20 {
        20
    } else if size >= 65537 {
        100
    } else {
        500
    }
}

/// Every frame arrives once, in order, intact, at every size, in both patterns.
fn delivers_every_frame_in_order(mechanism: MechanismId) {
    for pattern in [Pattern::Stream, Pattern::PingPong] {
        for size in SIZES {
            let count = count_for(size);
            let outcome = ipc_lab::supervisor::run_to_end(spec(mechanism, pattern, size, count), &exe(), |_| {})
                .unwrap_or_else(|e| panic!("{mechanism} {pattern} {size} B did not start: {e}"));
            let report = RunReport::from_outcome(&outcome)
                .unwrap_or_else(|e| panic!("{mechanism} {pattern} {size} B failed: {e}"));
            let what = format!("{mechanism} {pattern} {size} B");
            let warm = count.min(10);
            let expected_sent = if pattern == Pattern::PingPong { 2 * (count + warm) } else { count + warm };
            assert_eq!(report.sent, expected_sent, "{what}: sent");
            assert_eq!(report.received, report.sent, "{what}: received");
            assert_eq!(
                (report.lost, report.duplicated, report.out_of_order, report.corrupted),
                (0, 0, 0, 0),
                "{what}: lost/dup/ooo/corrupt"
            );
            let latency = report.rtt_ns.or(report.one_way_ns).expect("latency measured");
            assert!(latency.p50 > 0 && latency.max >= latency.p50, "{what}: latency {latency:?}");
            assert_nothing_left(&outcome.prefix, &pids(&outcome));
        }
    }
}

/// Killing one end mid-stream makes the other end fail promptly instead of hanging.
fn dead_peer_is_an_error_not_a_hang(mechanism: MechanismId) {
    for victim in [Role::Responder, Role::Initiator] {
        let run = Run::start(spec(mechanism, Pattern::Stream, 4096, 1 << 40), &exe()).expect("start");
        let prefix = run.prefix().to_string();
        wait_for_progress(&run, Role::Responder, 1000, Duration::from_secs(10));
        let worker = run.worker_for(victim).expect("victim").worker_id;
        run.signal(worker, WorkerSignal::Kill).expect("kill");
        let (outcome, took) = wait_within(run, Duration::from_secs(5));
        let what = format!("{mechanism}, {} killed", victim.as_str());
        let killed = outcome.exits.iter().find(|e| e.worker_id == worker).expect("victim exit");
        assert_eq!(killed.exit, ExitKind::Signal(9), "{what}");
        if !mechanism.in_process() {
            let survivor = outcome.exits.iter().find(|e| e.worker_id != worker).expect("survivor exit");
            assert_eq!(survivor.exit, ExitKind::Code(1), "{what}: the survivor must fail, not finish: {outcome:?}");
            assert!(!outcome.errors.is_empty(), "{what}: the survivor says why");
        }
        assert!(took < Duration::from_secs(3), "{what}: took {took:?}");
        assert!(outcome.failure().is_some(), "{what}: the run must count as failed");
        assert_nothing_left(&prefix, &pids(&outcome));
    }
}

/// A stopped peer is back-pressure: the run stalls, then completes intact after SIGCONT.
fn stopped_peer_resumes_without_loss(mechanism: MechanismId) {
    if mechanism.in_process() {
        return; // both roles live in one process; stopping it stops the whole run, not a peer
    }
    let run = Run::start(spec(mechanism, Pattern::Stream, 64, 1 << 40), &exe()).expect("start");
    wait_for_progress(&run, Role::Responder, 100, Duration::from_secs(10));
    let consumer = run.worker_for(Role::Responder).expect("responder").worker_id;
    run.signal(consumer, WorkerSignal::Stop).expect("stop");
    std::thread::sleep(Duration::from_millis(200));
    run.signal(consumer, WorkerSignal::Continue).expect("continue");
    wait_for_progress(&run, Role::Responder, 100, Duration::from_secs(10));
    // An endless run ends on request: the producer says End, the consumer reports.
    run.request_stop();
    let (outcome, _) = wait_within(run, Duration::from_secs(30));
    let report = RunReport::from_outcome(&outcome).unwrap_or_else(|e| panic!("{mechanism}: {e}"));
    assert_eq!((report.lost, report.duplicated, report.out_of_order, report.corrupted), (0, 0, 0, 0));
    assert_nothing_left(&outcome.prefix, &pids(&outcome));
}

/// Pipelines and fans deliver every frame on every link, once, in order, intact.
fn topologies_deliver_every_frame(mechanism: MechanismId) {
    for (pattern, nodes, links) in [(Pattern::Pipeline, 4, 3u64), (Pattern::FanOut, 3, 3), (Pattern::FanIn, 3, 3)] {
        for size in [0, 64, 65537] {
            let count = 200;
            let s = ipc_lab::scenario::RunSpec { nodes, ..spec(mechanism, pattern, size, count) };
            let outcome = ipc_lab::supervisor::run_to_end(s, &exe(), |_| {})
                .unwrap_or_else(|e| panic!("{mechanism} {pattern} did not start: {e}"));
            let what = format!("{mechanism} {pattern} of {nodes}, {size} B");
            let report = RunReport::from_outcome(&outcome).unwrap_or_else(|e| panic!("{what} failed: {e}"));
            assert_eq!(report.sent, links * (count + count.min(10)), "{what}: every link carries every frame");
            assert_eq!(report.received, report.sent, "{what}");
            assert_eq!(
                (report.lost, report.duplicated, report.out_of_order, report.corrupted),
                (0, 0, 0, 0),
                "{what}: lost/dup/ooo/corrupt"
            );
            assert!(report.one_way_ns.is_some_and(|l| l.p50 > 0), "{what}: end-to-end latency measured");
            assert_nothing_left(&outcome.prefix, &pids(&outcome));
        }
    }
}

/// Killing the middle of a pipeline fails both its neighbours promptly.
fn a_dead_relay_fails_its_neighbours(mechanism: MechanismId) {
    if mechanism.in_process() {
        return; // one process holds every node
    }
    let s = ipc_lab::scenario::RunSpec { nodes: 3, ..spec(mechanism, Pattern::Pipeline, 64, 1 << 40) };
    let run = Run::start(s, &exe()).expect("start");
    let prefix = run.prefix().to_string();
    wait_for_progress(&run, ipc_lab::telemetry::Role(2), 100, Duration::from_secs(10));
    let relay = run.worker_for(ipc_lab::telemetry::Role(1)).expect("relay").worker_id;
    run.signal(relay, WorkerSignal::Kill).expect("kill");
    let (outcome, took) = wait_within(run, Duration::from_secs(5));
    assert!(took < Duration::from_secs(3), "{mechanism}: took {took:?}");
    for e in &outcome.exits {
        let expected = if e.worker_id == relay { ExitKind::Signal(9) } else { ExitKind::Code(1) };
        assert_eq!(e.exit, expected, "{mechanism}: worker {} {outcome:?}", e.worker_id);
    }
    assert_nothing_left(&prefix, &pids(&outcome));
}

macro_rules! contract_suite {
    ($($name:ident => $mech:expr),* $(,)?) => {$(
        mod $name {
            use super::MechanismId;
            #[test]
            fn delivers_every_frame_in_order_at_every_size() {
                super::delivers_every_frame_in_order($mech);
            }
            #[test]
            fn dead_peer_is_an_error_within_a_bound() {
                super::dead_peer_is_an_error_not_a_hang($mech);
            }
            #[test]
            fn stopped_peer_resumes_without_loss() {
                super::stopped_peer_resumes_without_loss($mech);
            }
            #[test]
            fn pipelines_and_fans_deliver_every_frame() {
                super::topologies_deliver_every_frame($mech);
            }
            #[test]
            fn a_dead_relay_fails_its_neighbours() {
                super::a_dead_relay_fails_its_neighbours($mech);
            }
        }
    )*};
}

contract_suite! {
    pipe => MechanismId::Pipe,
    fifo => MechanismId::Fifo,
    unix => MechanismId::Unix,
    tcp => MechanismId::Tcp,
    shm => MechanismId::Shm,
    mqueue => MechanismId::Mqueue,
    thread => MechanismId::Thread,
}

/// The shm wake-up strategies all keep the contract.
#[test]
fn every_shm_wait_strategy_delivers_intact() {
    use ipc_lab::mechanism::ShmWait;
    for wait in [ShmWait::Spin, ShmWait::Futex, ShmWait::Semaphore] {
        for size in [64, 1 << 20, 3 << 20] {
            let spec =
                ipc_lab::scenario::RunSpec { shm_wait: wait, ..spec(MechanismId::Shm, Pattern::PingPong, size, 50) };
            let outcome = ipc_lab::supervisor::run_to_end(spec, &exe(), |_| {}).expect("start");
            let report = RunReport::from_outcome(&outcome).unwrap_or_else(|e| panic!("{wait} {size}: {e}"));
            assert_eq!((report.lost, report.corrupted, report.received), (0, 0, report.sent), "{wait} {size} B");
            assert_nothing_left(&outcome.prefix, &pids(&outcome));
        }
    }
}

/// A 16 MiB payload (the default maximum) crosses the mechanisms with the smallest units.
#[test]
fn the_largest_payload_crosses_mqueue_and_shm() {
    for mechanism in [MechanismId::Mqueue, MechanismId::Shm, MechanismId::Pipe] {
        let outcome = ipc_lab::supervisor::run_to_end(
            spec(mechanism, Pattern::Stream, ipc_lab::wire::DEFAULT_MAX_PAYLOAD, 3),
            &exe(),
            |_| {},
        )
        .expect("start");
        let report = RunReport::from_outcome(&outcome).unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        assert_eq!((report.lost, report.corrupted), (0, 0), "{mechanism}");
        assert_nothing_left(&outcome.prefix, &pids(&outcome));
    }
}
