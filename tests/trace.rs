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
}
