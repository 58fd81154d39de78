//! The session behind the GUI, without the GUI: step mode carries a run to its end in every
//! topology, one released operation at a time, over real processes.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::exe;
use ipc_lab::mechanism::MechanismId;
use ipc_lab::scenario::{Pattern, RunSpec};
use ipc_lab::session::{Command, Pace, Session, Update};

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
