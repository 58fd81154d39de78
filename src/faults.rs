//! Fault injection: the sending worker drops, duplicates, reorders or corrupts frames on purpose,
//! on the real channel, so that what the receiver detects can be checked against what was done.
//!
//! Only producers inject (stream, pipeline, fan-out, fan-in); relays pass on what they get. Each
//! frame gets at most one fault, so the receiver's counts are exact: a dropped frame shows as lost,
//! a duplicated one as one duplicate, a reordered one (sent after the frame that followed it) as
//! one out of order, a corrupted one (a payload byte flipped after its CRC-32 was computed) as one
//! corrupted. Choices are made with a PRNG seeded from the spec, so a run can be repeated.
//! Ping-pong refuses faults: a pinger whose ping was dropped would wait for its echo forever.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which frames get one kind of fault.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultRule {
    #[default]
    Never,
    /// This fraction of frames (0..=1), chosen at random.
    Fraction(f64),
    /// Exactly the frames with these sequence numbers.
    Seqs(Vec<u64>),
}

impl FaultRule {
    fn fraction(&self) -> f64 {
        match self {
            FaultRule::Fraction(p) => *p,
            _ => 0.0,
        }
    }

    fn lists(&self, seq: u64) -> bool {
        matches!(self, FaultRule::Seqs(s) if s.contains(&seq))
    }

    pub fn is_never(&self) -> bool {
        match self {
            FaultRule::Never => true,
            FaultRule::Fraction(p) => *p == 0.0,
            FaultRule::Seqs(s) => s.is_empty(),
        }
    }
}

/// Most sequence numbers one rule may list (the list is searched per frame).
pub const MAX_LISTED: usize = 1024;

/// The faults a run injects, per link, at its producers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub drop: FaultRule,
    /// `dup` in files too, as on the command line.
    #[serde(alias = "dup")]
    pub duplicate: FaultRule,
    pub reorder: FaultRule,
    pub corrupt: FaultRule,
    /// Seed of the random choices (each link mixes in its number).
    pub seed: u64,
    /// Distance on one machine: each message a job worker sends or receives waits this long
    /// first (`delay=MS` or `delay=MS:JITTER`, jitter uniform in ±JITTER), since netem is not
    /// available everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
}

/// See [`Faults::delay`]; milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Delay {
    pub ms: f64,
    pub jitter_ms: f64,
}

impl Delay {
    /// One wait: `ms` ± up to `jitter_ms`, from `x` uniform in [0, 1).
    pub fn wait(&self, x: f64) -> std::time::Duration {
        let ms = (self.ms + self.jitter_ms * (2.0 * x - 1.0)).max(0.0);
        std::time::Duration::from_secs_f64(ms / 1e3)
    }
}

impl Faults {
    pub fn is_none(&self) -> bool {
        [&self.drop, &self.duplicate, &self.reorder, &self.corrupt].iter().all(|r| r.is_never()) && self.delay.is_none()
    }

    /// Checks the rules; `size` is the payload size (a corrupt fault needs a payload byte).
    pub fn validate(&self, size: usize) -> Result<(), String> {
        let mut total = 0.0;
        for (name, rule) in self.rules() {
            match rule {
                FaultRule::Fraction(p) if !(0.0..=1.0).contains(p) => {
                    return Err(format!("{name} fraction must be between 0 and 1, not {p}"));
                }
                FaultRule::Fraction(p) => total += p,
                FaultRule::Seqs(s) if s.len() > MAX_LISTED => {
                    return Err(format!("{name} lists {} sequence numbers; at most {MAX_LISTED}", s.len()));
                }
                _ => {}
            }
        }
        if total > 1.0 + 1e-9 {
            return Err(format!("fault fractions add up to {total}, more than every frame (1.0)"));
        }
        // The frame after a reordered one overtakes it and must go out clean; a list that asks
        // for a fault there would be silently ignored, so it is refused.
        if let FaultRule::Seqs(held) = &self.reorder {
            for (name, rule) in self.rules() {
                if let FaultRule::Seqs(listed) = rule
                    && let Some(s) = held.iter().find(|&&s| s.checked_add(1).is_some_and(|n| listed.contains(&n)))
                {
                    return Err(format!(
                        "frame {} overtakes reordered frame {s} and goes out clean: it cannot also be listed for {name}",
                        s + 1
                    ));
                }
            }
        }
        if size == 0 && !self.corrupt.is_never() {
            return Err("corrupt needs a payload to corrupt: use a size of at least 1 byte".into());
        }
        Ok(())
    }

    fn rules(&self) -> [(&'static str, &FaultRule); 4] {
        [("drop", &self.drop), ("dup", &self.duplicate), ("reorder", &self.reorder), ("corrupt", &self.corrupt)]
    }
}

impl FromStr for Faults {
    type Err = String;

    /// `drop=0.01,dup=0.02,reorder=1%,corrupt=seq:5:17,seed=7`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut f = Faults::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}' is not KIND=VALUE (e.g. drop=0.01, corrupt=seq:5:17)"))?;
            let value = value.trim();
            if key.trim() == "seed" {
                f.seed = value.parse().map_err(|_| format!("seed '{value}' is not a whole number"))?;
                continue;
            }
            if key.trim() == "delay" {
                let bad = || format!("delay '{value}' is not MS or MS:JITTER (milliseconds, 0 to 10000)");
                let (ms, jitter) = value.split_once(':').unwrap_or((value, "0"));
                let (ms, jitter_ms): (f64, f64) =
                    (ms.trim().parse().map_err(|_| bad())?, jitter.trim().parse().map_err(|_| bad())?);
                if !(0.0..=10_000.0).contains(&ms) || !(0.0..=ms).contains(&jitter_ms) {
                    return Err(format!("{} (and the jitter at most the delay)", bad()));
                }
                f.delay = Some(Delay { ms, jitter_ms });
                continue;
            }
            let rule = parse_rule(value).map_err(|e| format!("{key}: {e}"))?;
            match key.trim() {
                "drop" => f.drop = rule,
                "dup" | "duplicate" => f.duplicate = rule,
                "reorder" => f.reorder = rule,
                "corrupt" => f.corrupt = rule,
                other => {
                    return Err(format!("unknown fault '{other}' (known: drop, dup, reorder, corrupt, delay, seed)"));
                }
            }
        }
        Ok(f)
    }
}

fn parse_rule(v: &str) -> Result<FaultRule, String> {
    if let Some(list) = v.strip_prefix("seq:") {
        let seqs: Result<Vec<u64>, _> = list.split(':').map(|n| n.trim().parse::<u64>()).collect();
        let seqs = seqs.map_err(|_| format!("'{v}' is not seq:N[:N...] with whole numbers"))?;
        if seqs.len() > MAX_LISTED {
            return Err(format!("at most {MAX_LISTED} sequence numbers"));
        }
        return Ok(FaultRule::Seqs(seqs));
    }
    let (num, scale) = match v.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (v, 1.0),
    };
    let p: f64 = num.trim().parse().map_err(|_| format!("'{v}' is not a fraction (0.01, 1%) or seq:N:N"))?;
    let p = p / scale;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("'{v}' is not a fraction between 0 and 1"));
    }
    Ok(FaultRule::Fraction(p))
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, rule) in self.rules() {
            match rule {
                FaultRule::Never => {}
                FaultRule::Fraction(p) if *p == 0.0 => {}
                FaultRule::Fraction(p) => parts.push(format!("{name}={p}")),
                FaultRule::Seqs(s) => {
                    parts.push(format!("{name}=seq:{}", s.iter().map(u64::to_string).collect::<Vec<_>>().join(":")))
                }
            }
        }
        if parts.is_empty() { f.write_str("none") } else { f.write_str(&parts.join(",")) }
    }
}

impl Faults {
    /// For people: "drop 5%, dup 1%" or "corrupt 2 listed", or "none".
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .rules()
            .into_iter()
            .filter_map(|(name, rule)| match rule {
                FaultRule::Fraction(p) if *p > 0.0 => Some(format!("{name} {}%", (p * 1000.0).round() / 10.0)),
                FaultRule::Seqs(v) if !v.is_empty() => Some(format!("{name} {} listed", v.len())),
                _ => None,
            })
            .collect();
        if parts.is_empty() { "none".to_string() } else { parts.join(", ") }
    }
}

/// Faults injected on one link, as the sender counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
}

impl FaultCounts {
    pub fn add(&mut self, o: &FaultCounts) {
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.corrupted += o.corrupted;
    }

    pub fn is_zero(&self) -> bool {
        *self == FaultCounts::default()
    }
}

/// What to do with one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Send,
    Drop,
    Duplicate,
    /// Hold it back and send it after the next frame.
    Reorder,
    /// Flip the payload byte at this offset after the checksum is computed.
    Corrupt(usize),
}

/// The per-link decision maker in a producer.
pub struct Injector {
    faults: Faults,
    rng: fastrand::Rng,
    /// The next frame must go out clean (it overtakes a held frame).
    next_clean: bool,
    pub counts: FaultCounts,
}

impl Injector {
    /// `None` when the run injects nothing: the data path then pays one branch per frame.
    pub fn new(faults: &Faults, link: u16) -> Option<Injector> {
        (!faults.is_none()).then(|| Injector {
            faults: faults.clone(),
            rng: fastrand::Rng::with_seed(faults.seed ^ (link as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            next_clean: false,
            counts: FaultCounts::default(),
        })
    }

    /// Decides the fate of frame `seq` of `size` bytes; `last` is true for the final data frame
    /// (which cannot be reordered: nothing follows it to overtake it).
    pub fn decide(&mut self, seq: u64, size: usize, last: bool) -> Action {
        if std::mem::take(&mut self.next_clean) {
            return Action::Send;
        }
        let f = &self.faults;
        let listed = if f.drop.lists(seq) {
            Some(Action::Drop)
        } else if f.duplicate.lists(seq) {
            Some(Action::Duplicate)
        } else if f.reorder.lists(seq) {
            Some(Action::Reorder)
        } else if f.corrupt.lists(seq) {
            Some(Action::Corrupt(0))
        } else {
            None
        };
        let action = listed.unwrap_or_else(|| {
            let u = self.rng.f64();
            let mut edge = 0.0;
            let mut pick = Action::Send;
            for (p, a) in [
                (f.drop.fraction(), Action::Drop),
                (f.duplicate.fraction(), Action::Duplicate),
                (f.reorder.fraction(), Action::Reorder),
                (f.corrupt.fraction(), Action::Corrupt(0)),
            ] {
                edge += p;
                if u < edge {
                    pick = a;
                    break;
                }
            }
            pick
        });
        match action {
            Action::Reorder if last => Action::Send,
            Action::Reorder => {
                self.next_clean = true;
                Action::Reorder
            }
            Action::Corrupt(_) if size == 0 => Action::Send,
            Action::Corrupt(_) => Action::Corrupt(self.rng.usize(..size)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_delay_parses_with_its_jitter_and_stays_in_bounds() {
        let f: Faults = "delay=20:5".parse().unwrap();
        let d = f.delay.unwrap();
        assert_eq!((d.ms, d.jitter_ms), (20.0, 5.0));
        assert!(!f.is_none());
        assert_eq!(d.wait(0.0).as_secs_f64(), 0.015);
        assert!(d.wait(0.999_999).as_secs_f64() < 0.025 + 1e-6);
        assert!("delay=5:6".parse::<Faults>().is_err(), "jitter beyond the delay");
        assert!("delay=-1".parse::<Faults>().is_err() && "delay=x".parse::<Faults>().is_err());
    }

    use super::*;

    #[test]
    fn inject_lists_parse_and_print() {
        let f: Faults = "drop=0.01,dup=2%,reorder=seq:5:17,corrupt=0,seed=9".parse().unwrap();
        assert_eq!(f.drop, FaultRule::Fraction(0.01));
        assert_eq!(f.duplicate, FaultRule::Fraction(0.02));
        assert_eq!(f.reorder, FaultRule::Seqs(vec![5, 17]));
        assert_eq!(f.seed, 9);
        assert_eq!(f.to_string(), "drop=0.01,dup=0.02,reorder=seq:5:17");
        for bad in [
            "drop",
            "drop=2",
            "drop=-0.1",
            "smash=0.1",
            "drop=seq:x",
            "drop=0.6,dup=0.6",
            "reorder=seq:4,corrupt=seq:5",
            "reorder=seq:4:5",
        ] {
            let parsed = bad.parse::<Faults>();
            assert!(parsed.is_err() || parsed.unwrap().validate(64).is_err(), "{bad} must be refused");
        }
        let from_file: Faults =
            serde_json::from_str(r#"{"dup":{"fraction":0.5}}"#).expect("dup, as on the command line");
        assert_eq!(from_file.duplicate, FaultRule::Fraction(0.5));
        assert_eq!(f.summary(), "drop 1%, dup 2%, reorder 2 listed");
        assert_eq!(Faults::default().summary(), "none");
        let corrupt: Faults = "corrupt=0.5".parse().unwrap();
        assert!(corrupt.validate(0).unwrap_err().contains("payload"));
    }

    #[test]
    fn listed_frames_get_exactly_their_fault_and_the_overtaker_goes_clean() {
        let f: Faults = "drop=seq:1,dup=seq:2,reorder=seq:4:5,corrupt=seq:7".parse().unwrap();
        let mut inj = Injector::new(&f, 0).unwrap();
        let got: Vec<Action> = (0..9).map(|s| inj.decide(s, 64, s == 8)).collect();
        use Action::*;
        assert_eq!(&got[..7], &[Send, Drop, Duplicate, Send, Reorder, Send, Send]);
        assert!(matches!(got[7], Corrupt(at) if at < 64));
    }

    #[test]
    fn the_last_frame_is_never_held_back() {
        let f: Faults = "reorder=1".parse().unwrap();
        let mut inj = Injector::new(&f, 0).unwrap();
        assert_eq!(inj.decide(9, 8, true), Action::Send);
    }

    #[test]
    fn fractions_land_near_their_share() {
        let f: Faults = "drop=0.1,dup=0.1,corrupt=0.1".parse().unwrap();
        let mut inj = Injector::new(&f, 3).unwrap();
        let n = 100_000;
        let drops = (0..n).filter(|&s| inj.decide(s, 8, false) == Action::Drop).count();
        assert!((9_000..11_000).contains(&drops), "{drops}");
    }
}
