//! A few snapshot images guard the look of the stage: idle, paused mid-run at the default size,
//! a pipeline on a 1024×768 projector in presenter mode, and a large 1920×1080 screen. The running
//! layouts are fed a fixed sequence of model updates (fixed PIDs, timestamps and counts), so the
//! picture is the same on every run; the behaviour tests in `gui.rs` use real processes.

mod common;

use std::sync::Arc;

use common::exe;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ipc_lab::app::{AppOptions, IpcLabApp};
use ipc_lab::lessons::Lang;
use ipc_lab::mechanism::MechanismId;
use ipc_lab::supervisor::RunEvent;
use ipc_lab::telemetry::{Accounting, Direction, Event, LatencySummary, MessageEvent, Role};
use ipc_lab::traffic::session::{Pace, Update};
use ipc_lab::traffic::spec::{Pattern, RunSpec};

/// A harness drawing `size` points at `pixels_per_point` (the image is their product), in English.
fn harness_at(size: [f32; 2], pixels_per_point: f32) -> Harness<'static, IpcLabApp> {
    harness_in(Lang::En, size, pixels_per_point)
}

/// The same in `lang`. Chinese glyphs (the language switch shows 中文 in every language) come
/// from the bundled font, so the picture is the same on every machine.
fn harness_in(lang: Lang, size: [f32; 2], pixels_per_point: f32) -> Harness<'static, IpcLabApp> {
    let options = AppOptions { lang: Some(lang), bundled_font: true, ..Default::default() };
    let mut app = IpcLabApp::new(exe(), Arc::new(|| {}), options).expect("app");
    app.ui_state.cpus = 2; // what the stage says about this machine, fixed for the picture
    Harness::builder()
        .with_size(size)
        .with_pixels_per_point(pixels_per_point)
        .build_ui_state(|ui, app: &mut IpcLabApp| app.ui_root(ui), app)
}

fn harness() -> Harness<'static, IpcLabApp> {
    harness_at([1280.0, 800.0], 1.0)
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

/// Feeds a fixed, paused run of `spec` into the app: 40 messages over every hop (and back in
/// ping-pong), then each node's progress.
fn paused_run(app: &mut IpcLabApp, spec: RunSpec) {
    // The controls show what this run is (they would have started it).
    app.ui_state.setup = ipc_lab::traffic::setup::Setup {
        name: spec.pattern.as_str().into(),
        pattern: spec.pattern,
        mechanism: spec.mechanism,
        nodes: spec.nodes,
        shm_wait: spec.shm_wait,
        ..Default::default()
    };
    let topology = spec.topology();
    let ping_pong = spec.pattern == Pattern::PingPong;
    let n = topology.programs.len();
    let workers = (0..n).map(|i| (i, vec![Role(i as u16)], 4242 + i as u32)).collect();
    app.model.apply(Update::Started { spec, prefix: "ipc-lab-4241-0".into(), workers, pace: Pace::RealTime }, 0);
    let base = 1_000_000_000u64;
    let mut hops: Vec<(Role, Role)> = topology.links.iter().map(|l| (l.up, l.down)).collect();
    if ping_pong {
        hops.push((Role::Responder, Role::Initiator));
    }
    for seq in 0..40u64 {
        let t = base + seq * 50_000_000;
        for (hop, &(from, to)) in hops.iter().enumerate() {
            let send = t + hop as u64 * 20_000;
            let recv = send + 8_000 + seq * 100;
            for (role, peer, direction, recv_ts) in
                [(from, to, Direction::Sent, None), (to, from, Direction::Received, Some(recv))]
            {
                let event = Event::Message(MessageEvent {
                    role,
                    peer,
                    direction,
                    seq,
                    size: 64,
                    send_ts_nanos: send,
                    recv_ts_nanos: recv_ts,
                    sample_every: 1,
                });
                app.model.apply(telemetry(role, event), seq * 1_000);
            }
        }
    }
    for i in 0..n {
        let role = Role(i as u16);
        let sends = hops.iter().filter(|h| h.0 == role).count() as u64 * 40;
        let gets = hops.iter().filter(|h| h.1 == role).count() as u64 * 40;
        let fill = serde_json::json!({ "amount": 104, "unit": "bytes", "capacity": 65536 });
        let queues: Vec<(u16, serde_json::Value)> = topology
            .links
            .iter()
            .filter(|l| l.down == role || (ping_pong && l.up == role))
            .map(|l| (l.link, fill.clone()))
            .collect();
        let latency = LatencySummary {
            count: 40,
            min: 28_000,
            p50: 31_000,
            p90: 33_000,
            p99: 35_000,
            p999: 35_000,
            max: 35_500,
            mean: 31_200.0,
        };
        // Built through its wire form, so fields the engine adds later (with serde defaults)
        // need no change here.
        let event: Event = serde_json::from_value(serde_json::json!({
            "event": "progress",
            "role": role,
            "sent": sends,
            "received": gets,
            "queues": queues,
            "accounting": Accounting { received: gets, unique: gets, ..Default::default() },
            "latency": (gets > 0).then_some(latency),
            "sample_every": 1,
            "telemetry_dropped": 0,
        }))
        .expect("a progress event");
        app.model.apply(telemetry(role, event), 40_000);
    }
    app.model.apply(Update::Paced { pace: Pace::RealTime, paused: true }, 40_000);
    app.ui_state.frozen_timeline = Some(app.model.messages.iter().copied().collect());
}

#[test]
fn paused_running_layout() {
    let mut h = harness();
    paused_run(h.state_mut(), RunSpec { mechanism: MechanismId::Pipe, ..RunSpec::default() });
    h.run_steps(3);
    h.snapshot("paused_running");
}

/// Presenter mode on a 1024×768 projector: the app zooms by 1.2 there, so the layout has
/// 853×640 points drawn at 1.2 pixels each. (The harness's screen is fixed in points, so the
/// zoom is given as its pixel density rather than left to the presenter toggle.)
#[test]
fn presenter_1024x768_layout() {
    let mut h = harness_at([1024.0 / 1.2, 768.0 / 1.2], 1.2);
    paused_run(
        h.state_mut(),
        RunSpec { mechanism: MechanismId::Unix, pattern: Pattern::Pipeline, nodes: 4, ..RunSpec::default() },
    );
    // Presenter mode folds the setup rows (the toggle is not used here: see above).
    h.state_mut().ui_state.setup_open = Some((false, false));
    h.run_steps(3);
    h.snapshot("presenter_1024x768");
}

/// The same projector in Chinese: every word from the zh-CN catalog, and it still fits.
#[test]
fn presenter_1024x768_layout_in_chinese() {
    let mut h = harness_in(Lang::ZhCn, [1024.0 / 1.2, 768.0 / 1.2], 1.2);
    paused_run(
        h.state_mut(),
        RunSpec { mechanism: MechanismId::Unix, pattern: Pattern::Pipeline, nodes: 4, ..RunSpec::default() },
    );
    // Presenter mode folds the setup rows (the toggle is not used here: see above).
    h.state_mut().ui_state.setup_open = Some((false, false));
    h.run_steps(3);
    h.get_by_label("开始");
    h.snapshot("presenter_1024x768_zh");
}

#[test]
fn large_screen_1920x1080_layout() {
    let mut h = harness_at([1920.0, 1080.0], 1.0);
    paused_run(
        h.state_mut(),
        RunSpec { mechanism: MechanismId::Shm, pattern: Pattern::FanOut, nodes: 3, ..RunSpec::default() },
    );
    // A consumer stopped (SIGSTOP) for 5 s and continued: its message's latency is beyond the
    // histogram's last decade, which must keep its axis (1 µs .. 1 s) and labels.
    let stalled = Event::Message(MessageEvent {
        role: Role(3),
        peer: Role(0),
        direction: Direction::Received,
        seq: 40,
        size: 64,
        send_ts_nanos: 3_000_000_000,
        recv_ts_nanos: Some(8_000_000_000),
        sample_every: 1,
    });
    h.state_mut().model.apply(telemetry(Role(3), stalled), 41_000);
    h.run_steps(3);
    h.snapshot("large_1920x1080");
}

/// The Programs view with dining philosophers deadlocked, fed a fixed sequence of reports (fixed
/// PIDs and kernel states), at the default size and on a projector.
fn deadlocked_philosophers(app: &mut IpcLabApp) {
    use std::time::Duration;

    use ipc_lab::programs::model::ProgramModel;
    use ipc_lab::telemetry::{SyncOp, SyncPhase};
    app.ui_state.view = ipc_lab::app::View::Programs;
    app.ui_state.program.choose("dining-philosophers");
    let scenario = app.ui_state.program.scenario().expect("built-in").clone();
    let processes = scenario.processes("").expect("as written").to_vec();
    let mut m = ProgramModel::new(&scenario, "", false, &processes);
    let t = Duration::from_millis;
    let sync = |i: usize, op, r: &str, phase| Event::Sync {
        role: Role(i as u16),
        op,
        resource: r.into(),
        phase,
        detail: None,
    };
    for i in 0..5 {
        m.procs[i].pid = 5100 + i as u32;
        let left = format!("fork {}", i + 1);
        m.event(i, &sync(i, SyncOp::Lock, &left, SyncPhase::Enter), t(i as u64));
        m.event(i, &sync(i, SyncOp::Lock, &left, SyncPhase::Leave), t(i as u64));
        m.event(i, &sync(i, SyncOp::Barrier, "all seated", SyncPhase::Enter), t(10));
    }
    for i in 0..5 {
        m.event(i, &sync(i, SyncOp::Barrier, "all seated", SyncPhase::Leave), t(20));
        m.event(i, &sync(i, SyncOp::Lock, &format!("fork {}", (i + 1) % 5 + 1), SyncPhase::Enter), t(21));
    }
    let kernel = || (0..5).map(|_| Some(('S', "futex_do_wait".to_string()))).collect();
    m.sample(kernel(), vec![], vec![("seats".into(), 4)], t(100));
    m.sample(kernel(), vec![], vec![("seats".into(), 4)], t(500));
    assert!(matches!(m.verdict, Some(ipc_lab::programs::model::Verdict::Deadlock { .. })));
    app.ui_state.program.shared =
        ipc_lab::programs::session::ProgramShared { model: Some(m), running: true, elapsed: 0.5, ..Default::default() };
}

#[test]
fn programs_deadlock_layout() {
    let mut h = harness();
    deadlocked_philosophers(h.state_mut());
    h.run_steps(3);
    h.snapshot("programs_deadlock");
}

#[test]
fn programs_deadlock_presenter_1024x768_layout() {
    let mut h = harness_at([1024.0, 768.0], 1.0);
    h.state_mut().ui_state.presenter = true;
    deadlocked_philosophers(h.state_mut());
    h.run_steps(6);
    h.snapshot("programs_deadlock_presenter_1024x768");
}

/// The philosophers deadlocked on a projector, in Chinese: the banner, the graph's words, the
/// kernel's view. (The cycle sentence and the log are the model's and stay English.)
#[test]
fn programs_deadlock_presenter_1024x768_layout_in_chinese() {
    let mut h = harness_in(Lang::ZhCn, [1024.0, 768.0], 1.0);
    h.state_mut().ui_state.presenter = true;
    deadlocked_philosophers(h.state_mut());
    h.run_steps(6);
    h.get_by_label("死锁");
    h.snapshot("programs_deadlock_presenter_1024x768_zh");
}
