//! The session behind the GUI, without the GUI: step mode carries a run to its end in every
//! topology, one released operation at a time, over real processes.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::exe;
use ipc_lab::mechanism::MechanismId;
use ipc_lab::traffic::session::{Command, Pace, Session, Update};
use ipc_lab::traffic::spec::{Pattern, RunSpec};

fn step_to_the_end(pattern: Pattern, mechanism: MechanismId) {
    let session = Session::start(exe(), Arc::new(|| {})).expect("session");
    let spec = RunSpec { mechanism, pattern, nodes: 3, count: 2, warmup: 0, ..RunSpec::default() };
    session.send(Command::Start { spec, pace: Pace::Step });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut steps = 0;
    loop {
        assert!(Instant::now() < deadline, "{pattern} over {mechanism} stalled after {steps} steps");
        match session.updates().recv_timeout(Duration::from_millis(30)) {
            Ok(Update::Finished { report }) => {
                let r = report.unwrap_or_else(|e| panic!("{pattern} over {mechanism}: {e}"));
                assert_eq!((r.lost, r.duplicated, r.corrupted), (0, 0, 0));
                assert!(steps > 0, "step mode must need steps");
                return;
            }
            Ok(Update::StartFailed(e)) => panic!("{e}"),
            Ok(_) => {}
            Err(_) => {
                session.send(Command::Step);
                steps += 1;
            }
        }
    }
}

#[test]
fn step_mode_finishes_every_topology() {
    for pattern in [Pattern::PingPong, Pattern::Stream, Pattern::Pipeline, Pattern::FanOut, Pattern::FanIn] {
        step_to_the_end(pattern, MechanismId::Pipe);
    }
    step_to_the_end(Pattern::FanIn, MechanismId::Thread);
}

/// At every step gate a worker reports its counts first, and they are exact: a student who
/// steps sees "about to send #n" beside n sent, never the count of one operation ago.
#[test]
fn counts_are_exact_at_every_step_gate() {
    use ipc_lab::supervisor::RunEvent;
    use ipc_lab::telemetry::{Event, Op, Role};
    for pattern in [Pattern::PingPong, Pattern::Stream] {
        let session = Session::start(exe(), Arc::new(|| {})).expect("session");
        let spec = RunSpec { mechanism: MechanismId::Pipe, pattern, count: 4, warmup: 0, ..RunSpec::default() };
        session.send(Command::Start { spec, pace: Pace::Step });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last: std::collections::HashMap<Role, (u64, u64)> = Default::default();
        let mut gates = 0;
        loop {
            assert!(Instant::now() < deadline, "{pattern}: stalled after {gates} gates");
            match session.updates().recv_timeout(Duration::from_millis(30)) {
                Ok(Update::Event(RunEvent::Telemetry {
                    event: Event::Progress { role, sent, received, .. }, ..
                })) => {
                    last.insert(role, (sent, received));
                }
                Ok(Update::Event(RunEvent::Telemetry {
                    event: Event::Gate { role, op, seq, passed: false }, ..
                })) => {
                    gates += 1;
                    let got = last.get(&role).copied();
                    // (sent, received) a node must have reported on reaching this gate.
                    let want = match (pattern, role, op) {
                        (Pattern::PingPong, Role(0), Op::Send) => (seq, seq),
                        (Pattern::PingPong, Role(0), Op::Recv) => (seq + 1, seq),
                        (Pattern::PingPong, _, Op::Recv) => (seq, seq),
                        (Pattern::PingPong, _, Op::Send) => (seq, seq + 1),
                        (_, Role(0), Op::Send) => (seq, 0),
                        (_, _, Op::Recv) => (0, seq),
                        (_, _, Op::SendEnd) => (seq, last.get(&role).map_or(0, |c| c.1)),
                        other => panic!("unexpected gate {other:?}"),
                    };
                    assert_eq!(got, Some(want), "{pattern}: {} at its {op:?} gate #{seq}", role.as_str());
                }
                Ok(Update::Finished { report }) => {
                    let r = report.unwrap_or_else(|e| panic!("{pattern}: {e}"));
                    assert_eq!(r.lost, 0);
                    assert!(gates >= 8, "{pattern}: only {gates} gates for 4 messages");
                    break;
                }
                Ok(Update::StartFailed(e)) => panic!("{e}"),
                Ok(_) => {}
                Err(_) => session.send(Command::Step),
            }
        }
    }
}

/// A session running an endless stream over `mechanism` at `pace`, with an optional rate limit.
fn endless_stream(mechanism: MechanismId, rate_per_sec: Option<f64>, pace: Pace) -> Session {
    let session = Session::start(exe(), Arc::new(|| {})).expect("session");
    let spec = RunSpec {
        mechanism,
        pattern: Pattern::Stream,
        count: ipc_lab::traffic::spec::ENDLESS,
        rate_per_sec,
        ..RunSpec::default()
    };
    session.send(Command::Start { spec, pace });
    session
}

/// Stop with the consumer SIGSTOPped: it is let run again to hear the stop, so the run ends
/// promptly and cleanly (it used to be killed after the grace and the run read as failed).
#[test]
fn stop_ends_promptly_with_a_sigstopped_worker() {
    use ipc_lab::supervisor::{ExitKind, RunEvent, WorkerSignal};
    use ipc_lab::telemetry::Role;
    use ipc_lab::traffic::session::STOP_GRACE;
    let session = endless_stream(MechanismId::Fifo, None, Pace::RealTime);
    let mut consumer = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while consumer.is_none() {
        assert!(Instant::now() < deadline, "never started");
        if let Ok(Update::Started { workers, .. }) = session.updates().recv_timeout(Duration::from_secs(1)) {
            consumer = workers.iter().find(|w| w.1.contains(&Role(1))).map(|w| w.0);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    session.send(Command::Signal { role: Role(1), signal: WorkerSignal::Stop });
    std::thread::sleep(Duration::from_millis(100));
    let stop_at = Instant::now();
    session.send(Command::Stop);
    let mut consumer_exit = None;
    let report;
    loop {
        let left = (STOP_GRACE + Duration::from_secs(3)).saturating_sub(stop_at.elapsed());
        match session.updates().recv_timeout(left) {
            Ok(Update::Event(RunEvent::Exited { worker_id, exit, .. })) if Some(worker_id) == consumer => {
                consumer_exit = Some((exit, stop_at.elapsed()));
            }
            Ok(Update::Finished { report: r }) => {
                report = Some(r);
                break;
            }
            Ok(_) => {}
            Err(_) => panic!("the run did not end within the grace plus 3 s"),
        }
    }
    let (exit, after) = consumer_exit.expect("the stopped consumer's end is reported");
    assert_eq!(exit, ExitKind::Code(0), "Stop lets a SIGSTOPped worker run again and end on its own");
    assert!(after < STOP_GRACE / 2, "ended {after:?} after Stop: not promptly (the grace is {STOP_GRACE:?})");
    assert!(matches!(report, Some(Ok(_))), "a run the user stopped is not a failed run: {report:?}");
}

/// A rate limit is for real time; in slow motion the session sets the pace, and a lower rate
/// limit left in the scenario must not slow the run below it.
#[test]
fn slow_motion_is_not_held_back_by_a_real_time_rate_limit() {
    use ipc_lab::supervisor::RunEvent;
    use ipc_lab::telemetry::Event;
    let session = endless_stream(MechanismId::Pipe, Some(1.0), Pace::SlowMotion { ops_per_sec: 10.0 });
    let mut passes = 0;
    let mut first_pass = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while first_pass.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(2)) {
        assert!(Instant::now() < deadline, "no gate passes");
        if let Ok(Update::Event(RunEvent::Telemetry { event: Event::Gate { passed: true, .. }, .. })) =
            session.updates().recv_timeout(Duration::from_millis(100))
        {
            first_pass.get_or_insert_with(Instant::now);
            passes += 1;
        }
    }
    // 10 operations a second for 2 s (a 1 msg/s limit would allow about 4: a send and a receive
    // a second).
    assert!(passes >= 15, "{passes} operations in 2 s of slow motion at 10 ops/s");
    session.send(Command::Stop);
}

/// At full speed the workers sample per-message events from the first burst on, so the live
/// view does not start by dropping thousands of them (it once dropped ~20,000 in a TCP stream's
/// first 100 ms).
#[test]
fn a_full_speed_stream_drops_next_to_no_telemetry() {
    for mechanism in [MechanismId::Tcp, MechanismId::Shm] {
        let session = Session::start(exe(), Arc::new(|| {})).expect("session");
        let spec = RunSpec { mechanism, pattern: Pattern::Stream, count: 300_000, warmup: 0, ..RunSpec::default() };
        session.send(Command::Start { spec, pace: Pace::RealTime });
        let deadline = Instant::now() + Duration::from_secs(60);
        let report = loop {
            assert!(Instant::now() < deadline, "{mechanism}: the run did not finish");
            match session.updates().recv_timeout(Duration::from_millis(200)) {
                Ok(Update::Finished { report }) => break report.unwrap_or_else(|e| panic!("{mechanism}: {e}")),
                Ok(Update::StartFailed(e)) => panic!("{e}"),
                _ => {}
            }
        };
        assert!(report.telemetry_dropped < 1_000, "{mechanism}: {} events dropped", report.telemetry_dropped);
    }
}
