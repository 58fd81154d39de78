//! Bad input from anywhere gets an error value, never a panic: random scenario files, random
//! telemetry lines (and what the model makes of the ones that parse), random frames. The CLI's
//! own random-argument test is in `cli.rs`.

use ipc_lab::supervisor::RunEvent;
use ipc_lab::telemetry::{Role, parse_event};
use ipc_lab::traffic::model::Model;
use ipc_lab::traffic::session::{Pace, ProcSample, Update};
use ipc_lab::traffic::setup::Setup;
use ipc_lab::traffic::spec::{Pattern, RunSpec};
use proptest::prelude::*;

/// JSON values of every shape, with the numbers that break naive code.
fn arb_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(json!(0)),
            Just(json!(-1)),
            Just(json!(1)),
            Just(json!(64)),
            Just(json!(u64::MAX)),
            Just(json!(i64::MIN)),
            Just(json!(1e300)),
            Just(json!(0.5)),
            Just(json!(1e-9)),
            any::<u64>().prop_map(|n| json!(n)),
        ],
        prop_oneof![
            Just("pipe"),
            Just("shm"),
            Just("stream"),
            Just("ping-pong"),
            Just("fan-in"),
            Just("step"),
            Just("real_time"),
            Just("spin"),
            Just(""),
            Just("never")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("ops_per_sec".to_string()),
                    Just("fraction".to_string()),
                    Just("seqs".to_string()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const SCENARIO_FIELDS: [&str; 11] =
    ["name", "pattern", "mechanism", "size", "count", "rate_per_sec", "pace", "shm_wait", "nodes", "pin", "faults"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// A scenario file with any fields set to anything is refused with a message, or it is a
    /// scenario whose run is valid: loading never panics and never lets a bad run through.
    #[test]
    fn random_scenario_files_are_refused_or_valid(
        fields in proptest::collection::btree_map(proptest::sample::select(SCENARIO_FIELDS.to_vec()), arb_value(), 0..8),
    ) {
        let obj: serde_json::Map<String, serde_json::Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let text = serde_json::Value::Object(obj).to_string();
        match Setup::parse(&text) {
            Ok(s) => prop_assert!(s.run_spec().validate().is_ok(), "{text} parsed but its run is invalid"),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    /// Any text on the telemetry channel parses or says why; whatever parses, the model folds in
    /// without panicking, whatever roles, counts or sequence numbers it names.
    #[test]
    fn random_telemetry_lines_never_panic_the_model(
        text in "\\PC{0,120}",
        template in 0usize..TEMPLATES.len(),
        numbers in proptest::collection::vec(prop_oneof![
            Just("0".to_string()), Just("1".to_string()), Just("17".to_string()), Just("65535".to_string()),
            Just("4294967295".to_string()), Just("18446744073709551615".to_string()), Just("-1".to_string()),
            Just("1e300".to_string()), any::<u32>().prop_map(|n| n.to_string()),
        ], 16),
        pattern in proptest::sample::select(vec![Pattern::PingPong, Pattern::Stream, Pattern::Pipeline, Pattern::FanOut, Pattern::FanIn]),
        worker_id in 0usize..20,
        proc_state in proptest::sample::select(vec!['R', 'S', 'T', 'Z', 'D', '?']),
    ) {
        let mut model = Model::default();
        let spec = RunSpec { pattern, nodes: 3, ..RunSpec::default() };
        let nodes = spec.topology().programs.len();
        let workers = (0..nodes).map(|i| (i, vec![Role(i as u16)], 1000 + i as u32)).collect();
        model.apply(Update::Started { spec, prefix: "p".into(), workers, pace: Pace::RealTime }, 0);
        let _ = parse_event(&text);
        let mut line = TEMPLATES[template].to_string();
        for n in &numbers {
            line = line.replacen("#", n, 1);
        }
        if let Ok(event) = parse_event(&line) {
            model.apply(Update::Event(RunEvent::Telemetry { worker_id, event }), 1_000);
        }
        model.apply(Update::Proc(ProcSample { worker_id, role: Role(worker_id as u16), state: proc_state, wchan: "pipe_read".into(), cpu_percent: 1e300 }), 2_000);
        let _ = (model.sent_total(), model.received_total(), model.not_arrived(), model.latency(), model.msgs_per_sec(3_000));
    }
}

/// Telemetry lines with numbers in every field a worker reports (`#` is replaced at random).
const TEMPLATES: [&str; 6] = [
    r#"{"event":"progress","role":#,"sent":#,"received":#,"queues":[[#,{"amount":#,"unit":"bytes","capacity":#}]],"accounting":{"received":#,"unique":#,"duplicated":0,"out_of_order":0,"corrupted":0},"latency":null,"sample_every":#,"telemetry_dropped":#}"#,
    r#"{"event":"message","role":#,"peer":#,"direction":"received","seq":#,"size":#,"send_ts_nanos":#,"recv_ts_nanos":#,"sample_every":#}"#,
    r#"{"event":"message","role":#,"peer":#,"direction":"sent","seq":#,"size":#,"send_ts_nanos":#,"recv_ts_nanos":null,"sample_every":#}"#,
    r#"{"event":"gate","role":#,"op":"send","seq":#,"passed":false}"#,
    r#"{"event":"done","role":#,"stats":{"links":[{"link":#,"sent":#,"accounting":{"received":#,"unique":#,"duplicated":#,"out_of_order":0,"corrupted":0}}],"sent":#,"accounting":{"received":#,"unique":#,"duplicated":0,"out_of_order":0,"corrupted":0},"latency":null,"measured_nanos":0,"measured_messages":0,"cpu_secs":0.0,"telemetry_dropped":0}}"#,
    r#"{"event":"progress","role":#,"sent":#,"received":#,"queues":[],"accounting":{"received":#,"unique":#,"duplicated":#,"out_of_order":#,"corrupted":#},"latency":{"count":#,"min":#,"p50":#,"p90":#,"p99":#,"p999":#,"max":#,"mean":1.0},"sample_every":0,"telemetry_dropped":0}"#,
];

#[test]
fn the_templates_are_valid_telemetry_when_filled_with_small_numbers() {
    for t in TEMPLATES {
        assert!(t.matches('#').count() <= 16, "the property test fills at most 16 numbers: {t}");
        let line = t.replace('#', "1");
        assert!(parse_event(&line).is_ok(), "{line}: {:?}", parse_event(&line));
    }
}
