//! Scenarios as the GUI offers them: built-in ones by id, and user files (JSON) saved and loaded
//! from the UI or named on the command line. A bad file is an error that says what is wrong.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::mechanism::{MechanismId, ShmWait};
use crate::traffic::session::Pace;
use crate::traffic::spec::{ENDLESS, Pattern, RunSpec};

/// What the live stage runs, as a user sets it up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Setup {
    pub name: String,
    pub pattern: Pattern,
    pub mechanism: MechanismId,
    pub size: usize,
    /// Measured messages; `None` runs until Stop.
    pub count: Option<u64>,
    /// Messages per second at most; `None` is unlimited.
    pub rate_per_sec: Option<f64>,
    pub pace: Pace,
    pub shm_wait: ShmWait,
    /// Pipeline stages, fan-out consumers or fan-in producers.
    pub nodes: u16,
    /// CPUs to pin the nodes to, as `bench --pin`: `[0]` all on one core, `[0, 1]` alternating
    /// between two; `None` leaves placement to the scheduler.
    pub pin: Option<Vec<usize>>,
    /// Faults the producers inject on purpose (one-way patterns).
    #[serde(skip_serializing_if = "crate::faults::Faults::is_none")]
    pub faults: crate::faults::Faults,
    /// The name in other languages, by language tag (`zh-CN`), for people; `name` stays the id.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub text: std::collections::BTreeMap<String, String>,
    /// For a setup that is not a built-in (a file, a lesson's): its settings as it came, so a
    /// change (the mechanism too: "fifo ping-pong" run over a pipe) renames it custom.
    #[serde(skip)]
    pub as_named: AsNamed,
}

/// [`Setup::as_named`]: a memory of the setup, not part of its value (two setups with the same
/// settings are equal whatever they remember).
#[derive(Clone, Debug, Default)]
pub struct AsNamed(Option<Box<Setup>>);

impl PartialEq for AsNamed {
    fn eq(&self, _: &AsNamed) -> bool {
        true
    }
}

impl Setup {
    /// The name as people read it in this thread's language: the file's words for that
    /// language, a built-in's catalog name, or the name as written.
    pub fn shown_name(&self) -> String {
        match self.text.get(crate::i18n::lang().as_str()) {
            Some(name) => name.clone(),
            None => label(&self.name),
        }
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            name: "ping-pong".into(),
            pattern: Pattern::PingPong,
            mechanism: MechanismId::Pipe,
            size: 64,
            count: None,
            rate_per_sec: Some(4.0),
            pace: Pace::RealTime,
            shm_wait: ShmWait::default(),
            nodes: 3,
            pin: None,
            faults: crate::faults::Faults::default(),
            text: Default::default(),
            as_named: AsNamed(None),
        }
    }
}

/// What a scenario's name says when its settings no longer match the built-in it was named after.
pub const CUSTOM: &str = "custom";

/// Built-in scenarios: (id, what it shows, the scenario).
pub fn builtin() -> Vec<(&'static str, &'static str, Setup)> {
    vec![
        ("ping-pong", "send a message, wait for the echo; 4 round trips a second so you can watch", Setup::default()),
        (
            "stream",
            "one direction as fast as it goes; watch the buffer fill",
            Setup { name: "stream".into(), pattern: Pattern::Stream, rate_per_sec: None, ..Setup::default() },
        ),
        (
            "pipeline",
            "a producer, relays that pass each message on, and a consumer",
            Setup {
                name: "pipeline".into(),
                pattern: Pattern::Pipeline,
                nodes: 4,
                rate_per_sec: Some(4.0),
                ..Setup::default()
            },
        ),
        (
            "fan-out",
            "one producer deals messages to three consumers in turn",
            Setup {
                name: "fan-out".into(),
                pattern: Pattern::FanOut,
                nodes: 3,
                rate_per_sec: Some(6.0),
                ..Setup::default()
            },
        ),
        (
            "fan-in",
            "three producers, one consumer reading them all",
            Setup {
                name: "fan-in".into(),
                pattern: Pattern::FanIn,
                nodes: 3,
                rate_per_sec: Some(2.0),
                ..Setup::default()
            },
        ),
        (
            "step",
            "ping-pong one operation at a time: press Step (or S, or →)",
            Setup { name: "step".into(), pace: Pace::Step, rate_per_sec: None, ..Setup::default() },
        ),
    ]
}

impl Setup {
    /// The engine's run spec for this scenario.
    pub fn run_spec(&self) -> RunSpec {
        RunSpec {
            mechanism: self.mechanism,
            pattern: self.pattern,
            size: self.size,
            count: self.count.unwrap_or(ENDLESS),
            warmup: 0,
            shm_wait: self.shm_wait,
            rate_per_sec: self.rate_per_sec,
            nodes: self.nodes,
            pin: self.pin.clone(),
            faults: self.faults.clone(),
            ..RunSpec::default()
        }
    }

    /// The built-in this scenario is named after, if any.
    pub fn builtin_named(&self) -> Option<Setup> {
        builtin().into_iter().find(|(id, _, _)| *id == self.name).map(|(_, _, s)| s)
    }

    /// Whether the settings that make a built-in what it is (pattern, size, count, rate, pace,
    /// nodes) still match the built-in this scenario is named after. Where it runs (mechanism,
    /// shm wait, placement) is a separate choice and keeps the name.
    pub fn matches_its_builtin(&self) -> bool {
        if self.builtin_named().is_none()
            && let Some(n) = &self.as_named.0
        {
            return (n.pattern, n.mechanism, n.size, n.count, n.rate_per_sec, n.pace, n.nodes, n.shm_wait, &n.pin)
                == (
                    self.pattern,
                    self.mechanism,
                    self.size,
                    self.count,
                    self.rate_per_sec,
                    self.pace,
                    self.nodes,
                    self.shm_wait,
                    &self.pin,
                )
                && n.faults == self.faults;
        }
        self.builtin_named().is_none_or(|b| {
            (b.pattern, b.size, b.count, b.rate_per_sec, b.pace, b.nodes)
                == (self.pattern, self.size, self.count, self.rate_per_sec, self.pace, self.nodes)
                && self.faults.is_none()
        })
    }

    /// Renames a changed built-in to [`CUSTOM`], so the name on screen never claims settings
    /// the scenario no longer has. Returns whether it renamed.
    /// Remembers the settings as they are now as the ones its name stands for.
    pub fn named_as_is(mut self) -> Setup {
        self.as_named = AsNamed(None);
        self.as_named = AsNamed(Some(Box::new(self.clone())));
        self
    }

    pub fn mark_custom_if_changed(&mut self) -> bool {
        if self.matches_its_builtin() {
            return false;
        }
        self.name = CUSTOM.into();
        true
    }

    /// A built-in scenario by id, or a scenario file.
    pub fn resolve(id_or_file: &str) -> Result<Setup, String> {
        if let Some((_, _, s)) = builtin().into_iter().find(|(id, _, _)| *id == id_or_file) {
            return Ok(s);
        }
        let path = Path::new(id_or_file);
        if path.exists() {
            return Setup::load(path);
        }
        let ids: Vec<_> = builtin().iter().map(|(id, _, _)| *id).collect();
        Err(format!("no setup '{id_or_file}': not a built-in ({}) and no such file", ids.join(", ")))
    }

    pub fn load(path: &Path) -> Result<Setup, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let s = Setup::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?.named_as_is();
        // A file is for this machine: its CPUs are checked now, not at Start (as `bench --pin`).
        for &c in s.pin.iter().flatten() {
            crate::traffic::bench::cpu_exists(c).map_err(|e| format!("{}: pin: {e}", path.display()))?;
        }
        Ok(s)
    }

    pub fn parse(text: &str) -> Result<Setup, String> {
        let s: Setup = serde_json::from_str(text).map_err(|e| format!("not a valid scenario: {e}"))?;
        s.validate()?;
        Ok(s)
    }

    /// What a scenario file must pass beyond its shape (a scenario embedded in another file,
    /// such as a lesson's experiment, is checked the same way).
    pub fn validate(&self) -> Result<(), String> {
        self.run_spec().validate()?;
        if let Pace::SlowMotion { ops_per_sec } = self.pace
            && !(ops_per_sec > 0.0 && ops_per_sec <= 1000.0)
        {
            return Err(format!(
                "slow-motion pace must be between 0 and 1000 operations per second, not {ops_per_sec}"
            ));
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// A built-in stage scenario's name for people (files and `--scenario` keep the id); a file's
/// own name is shown as the file wrote it.
pub fn label(id: &str) -> String {
    match id {
        "ping-pong" => crate::tr!("stage_scenarios.ping_pong"),
        "stream" => crate::tr!("stage_scenarios.stream"),
        "pipeline" => crate::tr!("stage_scenarios.pipeline"),
        "fan-out" => crate::tr!("stage_scenarios.fan_out"),
        "fan-in" => crate::tr!("stage_scenarios.fan_in"),
        "step" => crate::tr!("stage_scenarios.step"),
        CUSTOM => crate::tr!("stage_scenarios.custom"),
        other => other.to_string(),
    }
}

/// What a built-in stage scenario shows, for its hover text.
pub fn about(id: &str) -> String {
    match id {
        "ping-pong" => crate::tr!("stage_scenarios.ping_pong_about"),
        "stream" => crate::tr!("stage_scenarios.stream_about"),
        "pipeline" => crate::tr!("stage_scenarios.pipeline_about"),
        "fan-out" => crate::tr!("stage_scenarios.fan_out_about"),
        "fan-in" => crate::tr!("stage_scenarios.fan_in_about"),
        "step" => crate::tr!("stage_scenarios.step_about"),
        _ => String::new(),
    }
}

/// A built-in stage scenario as `ipc-lab list scenarios` says it, after its id.
pub fn list_line(id: &str) -> String {
    crate::tr!("cli.live_stage", id = id, name = label(id), about = about(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_round_trip_through_files() {
        let path = std::env::temp_dir().join(format!("ipclab-test-scenario-{}.json", std::process::id()));
        let s =
            Setup { mechanism: MechanismId::Shm, pace: Pace::SlowMotion { ops_per_sec: 2.0 }, ..Default::default() };
        s.save(&path).unwrap();
        assert_eq!(Setup::load(&path), Ok(s));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_malformed_scenario_is_a_clear_error() {
        assert!(Setup::parse("{\"mechanism\": \"carrier-pigeon\"}").unwrap_err().contains("not a valid scenario"));
        assert!(Setup::parse("{\"size\": 999999999999}").unwrap_err().contains("exceeds the maximum payload"));
        assert!(Setup::parse("{\"count\": 0}").unwrap_err().contains("count"));
        assert!(Setup::parse("not json").is_err());
        assert!(Setup::resolve("no-such-thing").unwrap_err().contains("no setup 'no-such-thing'"));
    }

    #[test]
    fn a_changed_builtin_is_named_custom_and_placement_keeps_the_name() {
        let mut s = Setup { mechanism: MechanismId::Tcp, pin: Some(vec![0]), ..Default::default() };
        assert!(!s.mark_custom_if_changed(), "mechanism and placement are not the scenario");
        assert_eq!(s.name, "ping-pong");
        s.pattern = Pattern::Stream;
        assert!(s.mark_custom_if_changed());
        assert_eq!(s.name, CUSTOM);
        assert_eq!(s.run_spec().pin, Some(vec![0]), "placement reaches the run");
        assert!(Setup::parse("{\"pin\": [0, 1]}").is_ok_and(|s| s.pin == Some(vec![0, 1])));
        let file = std::env::temp_dir().join(format!("ipclab-pin-{}.json", std::process::id()));
        std::fs::write(&file, "{\"pin\": [99]}").expect("write");
        let e = Setup::load(&file).expect_err("CPU 99 is refused when the file loads");
        // A named setup that is not a built-in is renamed custom when its mechanism changes.
        let mut named =
            Setup { name: "fifo ping-pong".into(), mechanism: MechanismId::Fifo, ..Setup::default() }.named_as_is();
        assert!(!named.mark_custom_if_changed());
        named.mechanism = MechanismId::Pipe;
        assert!(named.mark_custom_if_changed(), "still called 'fifo ping-pong' over a pipe");
        assert!(e.contains("pin: CPU 99 does not exist"), "{e}");
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn every_builtin_scenario_is_valid() {
        for (id, _, s) in builtin() {
            assert!(s.run_spec().validate().is_ok(), "{id}");
            assert_eq!(Setup::resolve(id).as_ref(), Ok(&s));
        }
    }
}
