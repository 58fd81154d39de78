//! A run exported as a Chrome trace: it parses, holds a track per process (and per node of a
//! threaded worker), and one flow arrow per sampled message, from its sender to its receiver.

mod common;

use std::collections::BTreeMap;

use common::exe;
use ipc_lab::mechanism::MechanismId;
use ipc_lab::supervisor::{Run, RunEvent};
use ipc_lab::telemetry::{Direction, Event};
use ipc_lab::traffic::spec::{Pattern, RunSpec};
use ipc_lab::traffic::trace::TraceBuilder;
use serde_json::Value;

fn parse(text: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(text).expect("the trace is JSON");
    doc["traceEvents"].as_array().expect("traceEvents").clone()
}

/// Every arrow (flow start to flow end) is as long as its receive's measured latency, starts at
/// its send mark and ends at its receive mark, and no mark is before the trace's zero. A message
/// is drawn as four events in a row: send mark, receive mark, flow start, flow end. Returns how
/// many arrows were checked.
fn arrows_are_their_latencies(events: &[Value]) -> usize {
    let mut checked = 0;
    for (i, s) in events.iter().enumerate().filter(|(_, e)| e["ph"] == "s") {
        let (send, recv, f) = (&events[i - 2], &events[i - 1], &events[i + 1]);
        let name = |e: &Value| e["name"].as_str().unwrap_or("").to_string();
        assert!(name(send).starts_with("send #") && name(recv).starts_with("receive #") && f["ph"] == "f");
        assert_eq!(f["id"], s["id"]);
        let ts = |e: &Value| e["ts"].as_f64().expect("a ts in µs");
        let latency_micros = recv["args"]["latency_ns"].as_u64().expect("latency_ns") as f64 / 1000.0;
        assert!(ts(send) >= 0.0 && ts(recv) >= 0.0);
        assert_eq!((ts(s), ts(f)), (ts(send), ts(recv)), "{}: the arrow joins the marks", name(recv));
        assert!(
            (ts(f) - ts(s) - latency_micros).abs() < 0.002,
            "{}: an arrow of {} µs for a latency of {latency_micros} µs",
            name(recv),
            ts(f) - ts(s)
        );
        checked += 1;
    }
    checked
}

#[test]
fn a_traced_run_has_a_track_per_process_and_a_flow_per_sampled_message() {
    for mechanism in [MechanismId::Pipe, MechanismId::Thread] {
        let spec = RunSpec {
            mechanism,
            pattern: Pattern::Stream,
            count: 500,
            warmup: 0,
            per_message_events: true,
            ..RunSpec::default()
        };
        let mut trace = TraceBuilder::new();
        trace.begin_run("test", &spec.topology());
        let run = Run::start(spec, &exe()).expect("start");
        let workers: Vec<(u32, Vec<ipc_lab::telemetry::Role>)> =
            run.workers().iter().map(|w| (w.pid, w.roles.clone())).collect();
        trace.processes(&workers);
        let mut received = 0;
        let outcome = run.wait_with(|ev| {
            if let RunEvent::Telemetry { event: Event::Message(m), .. } = ev
                && m.direction == Direction::Received
                && m.recv_ts_nanos.is_some()
            {
                received += 1;
            }
            trace.add(ev);
        });
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        assert!(received > 0, "{mechanism}: messages were reported");
        let events = parse(&trace.finish());
        let named = |ph: &str, what: &str| events.iter().filter(|e| e["ph"] == ph && e["name"] == what).count();
        let processes = workers.len();
        assert_eq!(named("M", "process_name"), processes, "{mechanism}: a track per process");
        assert_eq!(named("M", "thread_name"), 2, "{mechanism}: a track per node");
        let flows = |ph: &str| -> BTreeMap<u64, &Value> {
            events.iter().filter(|e| e["ph"] == ph).map(|e| (e["id"].as_u64().expect("id"), e)).collect()
        };
        let (starts, ends) = (flows("s"), flows("f"));
        assert_eq!(starts.len(), received, "{mechanism}: one flow per sampled message");
        assert_eq!(ends.len(), received);
        let (producer, consumer) = (workers[0].0, workers.last().expect("a worker").0);
        for (id, s) in &starts {
            let f = ends[id];
            assert!(f["ts"].as_f64() >= s["ts"].as_f64(), "an arrow never goes back in time");
            assert_eq!((s["pid"].as_u64(), s["tid"].as_u64()), (Some(producer as u64), Some(0)));
            assert_eq!((f["pid"].as_u64(), f["tid"].as_u64()), (Some(consumer as u64), Some(1)));
        }
    }
}

#[test]
fn bench_writes_a_trace_perfetto_can_open() {
    let path = std::env::temp_dir().join(format!("ipclab-test-trace-{}.json", std::process::id()));
    let out = std::process::Command::new(exe())
        .args(["bench", "-m", "pipe", "-s", "64", "-c", "200", "--warmup", "0", "--trace"])
        .arg(&path)
        .output()
        .expect("bench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&path).expect("the trace file");
    let _ = std::fs::remove_file(&path);
    let events = parse(&text);
    assert_eq!(events.iter().filter(|e| e["name"] == "process_name").count(), 2);
    // Ping-pong: each round trip is two messages, both drawn.
    assert_eq!(events.iter().filter(|e| e["ph"] == "s").count(), 400);
    assert_eq!(arrows_are_their_latencies(&events), 400);
}

#[test]
fn every_arrow_of_a_bench_trace_is_as_long_as_its_latency() {
    // Enough messages that the two workers' reports interleave: the echo's early receives are
    // folded after the pinger's later ones, whose send stamps are later.
    let path = std::env::temp_dir().join(format!("ipclab-test-trace-lat-{}.json", std::process::id()));
    let out = std::process::Command::new(exe())
        .args(["bench", "-m", "pipe", "-s", "64", "-c", "100000", "--warmup", "0", "--trace"])
        .arg(&path)
        .output()
        .expect("bench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&path).expect("the trace file");
    let _ = std::fs::remove_file(&path);
    assert!(arrows_are_their_latencies(&parse(&text)) > 0);
}

#[test]
fn every_arrow_of_a_bench_trace_is_as_long_as_its_latency_whatever_order_the_reports_come_in() {
    // What bench folds, in an order a real run gives now and then (the one above cannot force
    // it): the pinger's report of the first echo before the echo's report of the first ping,
    // whose send stamp is earlier, and no progress tick before either.
    use ipc_lab::telemetry::{MessageEvent, Role};
    let spec = RunSpec { mechanism: MechanismId::Pipe, pattern: Pattern::PingPong, ..RunSpec::default() };
    let mut trace = TraceBuilder::new();
    trace.begin_run("pipe 64 B ping-pong", &spec.topology());
    trace.processes(&[(4242, vec![Role::Initiator]), (4243, vec![Role::Responder])]);
    let received = |to: Role, from: Role, send: u64, latency: u64| RunEvent::Telemetry {
        worker_id: to.wire_id() as usize,
        event: Event::Message(MessageEvent {
            role: to,
            peer: from,
            direction: Direction::Received,
            seq: 0,
            size: 64,
            send_ts_nanos: send,
            recv_ts_nanos: Some(send + latency),
            sample_every: 1,
        }),
    };
    let ping_sent = 7_000_000_000u64;
    trace.add(&received(Role::Initiator, Role::Responder, ping_sent + 40_000, 9_000));
    trace.add(&received(Role::Responder, Role::Initiator, ping_sent, 34_500));
    assert_eq!(arrows_are_their_latencies(&parse(&trace.finish())), 2);
}

#[test]
fn every_arrow_of_the_stages_saved_trace_is_as_long_as_its_latency() {
    use ipc_lab::telemetry::{MessageEvent, Role};
    use ipc_lab::traffic::model::Model;
    use ipc_lab::traffic::session::{Pace, Update};
    let spec = RunSpec { mechanism: MechanismId::Pipe, pattern: Pattern::PingPong, ..RunSpec::default() };
    let mut model = Model::default();
    let workers = vec![(0, vec![Role::Initiator], 4242), (1, vec![Role::Responder], 4243)];
    model.apply(Update::Started { spec, prefix: "ipc-lab-4241-0".into(), workers, pace: Pace::RealTime }, 0);
    // The pinger's reports come in first, then the echo's: the model holds the messages in the
    // order they were reported, not the order they were sent.
    let base = 5_000_000_000u64;
    let hop = |from: Role, to: Role, seq: u64, send: u64, latency: u64| {
        Update::Event(RunEvent::Telemetry {
            worker_id: to.wire_id() as usize,
            event: Event::Message(MessageEvent {
                role: to,
                peer: from,
                direction: Direction::Received,
                seq,
                size: 64,
                send_ts_nanos: send,
                recv_ts_nanos: Some(send + latency),
                sample_every: 1,
            }),
        })
    };
    for seq in 0..5u64 {
        let t = base + seq * 100_000;
        model.apply(hop(Role::Responder, Role::Initiator, seq, t + 40_000, 30_000 + seq * 7), seq);
    }
    for seq in 0..5u64 {
        let t = base + seq * 100_000;
        model.apply(hop(Role::Initiator, Role::Responder, seq, t, 34_500 + seq * 11), 10 + seq);
    }
    assert_eq!(model.messages.len(), 10, "the model keeps them all");
    let text = ipc_lab::traffic::trace::from_model(&model).expect("a trace");
    assert_eq!(arrows_are_their_latencies(&parse(&text)), 10);
}
