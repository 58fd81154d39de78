//! A few snapshot images guard the look of the stage: idle, and paused mid-run. The paused
//! layout is fed a fixed sequence of model updates (fixed PIDs, timestamps and counts), so the
//! picture is the same on every run; the behaviour tests in `gui.rs` use real processes.

mod common;

use std::sync::Arc;

use common::exe;
use egui_kittest::Harness;
use ipc_lab::app::{AppOptions, IpcLabApp};
use ipc_lab::mechanism::{MechanismId, Queued, QueuedUnit};
use ipc_lab::scenario::RunSpec;
use ipc_lab::session::{Pace, Update};
use ipc_lab::supervisor::RunEvent;
use ipc_lab::telemetry::{Accounting, Direction, Event, LatencySummary, MessageEvent, Role};

fn harness() -> Harness<'static, IpcLabApp> {
    let app = IpcLabApp::new(exe(), Arc::new(|| {}), AppOptions::default()).expect("app");
    Harness::builder().with_size([1280.0, 800.0]).build_ui_state(|ui, app: &mut IpcLabApp| app.ui_root(ui), app)
}

#[test]
fn idle_layout() {
    let mut h = harness();
    h.run_steps(3);
    h.snapshot("idle");
}

fn telemetry(role: Role, event: Event) -> Update {
    Update::Event(RunEvent::Telemetry { worker_id: role.wire_id() as usize, event })
}

#[test]
fn paused_running_layout() {
    let mut h = harness();
    {
        let app = h.state_mut();
        let spec = RunSpec { mechanism: MechanismId::Pipe, ..RunSpec::default() };
        let workers = vec![(0, vec![Role::Initiator], 4242), (1, vec![Role::Responder], 4243)];
        app.model.apply(Update::Started { spec, prefix: "ipc-lab-4241-0".into(), workers, pace: Pace::RealTime }, 0);
        let base = 1_000_000_000u64;
        for seq in 0..40u64 {
            let t = base + seq * 50_000_000;
            for (role, dir, send, recv) in [
                (Role::Initiator, Direction::Sent, t, None),
                (Role::Responder, Direction::Received, t, Some(t + 8_000 + seq * 100)),
                (Role::Responder, Direction::Sent, t + 20_000, None),
                (Role::Initiator, Direction::Received, t + 20_000, Some(t + 29_000 + seq * 50)),
            ] {
                let event = Event::Message(MessageEvent {
                    role,
                    peer: role.peer(),
                    direction: dir,
                    seq,
                    size: 64,
                    send_ts_nanos: send,
                    recv_ts_nanos: recv,
                    sample_every: 1,
                });
                app.model.apply(telemetry(role, event), seq * 1_000);
            }
        }
        for role in [Role::Initiator, Role::Responder] {
            let event = Event::Progress {
                role,
                sent: 40,
                received: 40,
                queues: vec![(0, Queued { amount: 104, unit: QueuedUnit::Bytes, capacity: Some(65536), at_sender: false })],
                accounting: Accounting { received: 40, unique: 40, ..Default::default() },
                latency: Some(LatencySummary {
                    count: 40,
                    min: 28_000,
                    p50: 31_000,
                    p90: 33_000,
                    p99: 35_000,
                    p999: 35_000,
                    max: 35_500,
                    mean: 31_200.0,
                }),
                sample_every: 1,
                telemetry_dropped: 0,
                sending: vec![],
                injected: Default::default(),
            };
            app.model.apply(telemetry(role, event), 40_000);
        }
        app.model.apply(Update::Paced { pace: Pace::RealTime, paused: true }, 40_000);
        app.ui_state.frozen_timeline = Some(app.model.messages.iter().copied().collect());
    }
    h.run_steps(3);
    h.snapshot("paused_running");
}
