//! The work itself: making items, the mixing function, the operations and how partial results
//! combine. The same code runs in worker processes, threads and tasks, and in the coordinator
//! when it checks their answer.

use serde::{Deserialize, Serialize};

use super::spec::{DataSource, Op};

/// Items made or scanned at a time; between blocks a worker may send a heartbeat.
pub const BLOCK: usize = 4096;

/// splitmix64's finaliser: a cheap, well-mixed step. `--work K` applies it K times per item.
#[inline]
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Item `i` (0-based) of a generated source; `None` for a file (read, not made).
#[inline]
pub fn item(data: &DataSource, i: u64) -> Option<u64> {
    match data {
        DataSource::Range { .. } => Some(i + 1),
        DataSource::Random { seed, .. } => Some(mix(seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))),
        DataSource::File { .. } => None,
    }
}

/// Fills `out` with items `start..start + out.len()` of `data`; a file is read at its offset.
pub fn fill(data: &DataSource, file: Option<&std::fs::File>, start: u64, out: &mut [u64]) -> Result<(), String> {
    match data {
        DataSource::File { path, .. } => {
            let f = file.ok_or_else(|| format!("{} is not open", path.display()))?;
            let mut bytes = vec![0u8; out.len() * 8];
            read_exact_at(f, &mut bytes, start * 8).map_err(|e| format!("reading {}: {e}", path.display()))?;
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                *o = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            }
            Ok(())
        }
        _ => {
            for (k, o) in out.iter_mut().enumerate() {
                *o = item(data, start + k as u64).expect("generated source");
            }
            Ok(())
        }
    }
}

#[cfg(unix)]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(not(unix))]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = f.try_clone()?;
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}

/// An operation's result over some items; partial results combine into the whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partial {
    /// Exact: 2^28 items of at most 2^64 - 1 fit in 128 bits.
    Sum(u128),
    /// `None` over no items.
    MinMax(Option<(u64, u64)>),
    Histogram(Vec<u64>),
}

impl Partial {
    pub fn empty(op: Op) -> Partial {
        match op {
            Op::Sum => Partial::Sum(0),
            Op::MinMax => Partial::MinMax(None),
            Op::Histogram { buckets } => Partial::Histogram(vec![0; buckets]),
        }
    }

    /// Folds `other` in; partials of different operations do not combine (a worker that answers
    /// the wrong question is caught by the check, not hidden here).
    pub fn combine(&mut self, other: &Partial) -> Result<(), String> {
        match (self, other) {
            (Partial::Sum(a), Partial::Sum(b)) => *a = a.saturating_add(*b),
            (Partial::MinMax(a), Partial::MinMax(b)) => {
                *a = match (*a, *b) {
                    (None, x) | (x, None) => x,
                    (Some((l1, h1)), Some((l2, h2))) => Some((l1.min(l2), h1.max(h2))),
                }
            }
            (Partial::Histogram(a), Partial::Histogram(b)) if a.len() == b.len() => {
                for (x, y) in a.iter_mut().zip(b) {
                    *x = x.saturating_add(*y);
                }
            }
            (a, b) => return Err(format!("cannot combine {a:?} with {b:?}")),
        }
        Ok(())
    }

    /// The value as a person reads it: the exact sum, "min 1 · max 9", or the bucket counts.
    pub fn show(&self) -> String {
        match self {
            Partial::Sum(s) => crate::i18n::grouped(s),
            Partial::MinMax(Some((l, h))) => format!("min {l} · max {h}"),
            Partial::MinMax(None) => "—".into(),
            Partial::Histogram(b) => {
                let shown: Vec<String> = b.iter().take(16).map(|c| c.to_string()).collect();
                let more = if b.len() > 16 { format!(" … ({} buckets)", b.len()) } else { String::new() };
                format!("[{}]{more}", shown.join(", "))
            }
        }
    }
}

/// Folds items into a partial result and a digest.
pub struct Accumulator {
    op: Op,
    /// The histogram's range: lowest value and width (hi - lo + 1, up to 2^64).
    lo: u64,
    width: u128,
    work: u32,
    pub partial: Partial,
    /// Wrapping sum of mix^work(item): depends on every item and every round, in any order.
    pub digest: u64,
    /// CPU time the computing thread spent on it (not the wall time: a stopped worker's
    /// stop is not computing).
    pub cpu_ns: u64,
}

impl Accumulator {
    pub fn new(op: Op, bounds: (u64, u64), work: u32) -> Accumulator {
        Accumulator {
            op,
            lo: bounds.0,
            width: bounds.1 as u128 - bounds.0 as u128 + 1,
            work,
            partial: Partial::empty(op),
            digest: 0,
            cpu_ns: 0,
        }
    }

    pub fn add(&mut self, items: &[u64]) {
        let mut digest = self.digest;
        if self.work == 0 {
            for &x in items {
                digest = digest.wrapping_add(x);
            }
        } else {
            for &x in items {
                let mut h = x;
                for _ in 0..self.work {
                    h = mix(h);
                }
                digest = digest.wrapping_add(h);
            }
        }
        self.digest = std::hint::black_box(digest);
        match (&mut self.partial, self.op) {
            (Partial::Sum(s), _) => {
                // u64 lanes cannot overflow for one block of BLOCK items below 2^52; larger items
                // go straight to u128.
                let mut acc: u128 = 0;
                for &x in items {
                    acc += x as u128;
                }
                *s += acc;
            }
            (Partial::MinMax(m), _) => {
                for &x in items {
                    *m = Some(match *m {
                        None => (x, x),
                        Some((l, h)) => (l.min(x), h.max(x)),
                    });
                }
            }
            (Partial::Histogram(b), Op::Histogram { buckets }) => {
                for &x in items {
                    let off = x.saturating_sub(self.lo) as u128;
                    let k = ((off * buckets as u128) / self.width).min(buckets as u128 - 1) as usize;
                    b[k] += 1;
                }
            }
            _ => {}
        }
    }
}

/// The expected answer for items `start..start+len`: by formula where there is one (the sum of a
/// range, with no work the digest too), else by going over the items here.
pub fn expected(data: &DataSource, op: Op, work: u32, start: u64, len: u64, items: Option<&[u64]>) -> (Partial, u64) {
    if let (DataSource::Range { .. }, Op::Sum, 0) = (data, op, work) {
        // Sum of a+1 ..= a+len.
        let (a, n) = (start as u128, len as u128);
        let s = n * (2 * a + n + 1) / 2;
        return (Partial::Sum(s), s as u64);
    }
    let mut acc = Accumulator::new(op, data.bounds(), work);
    if let Some(items) = items {
        for block in items[start as usize..(start + len) as usize].chunks(BLOCK) {
            acc.add(block);
        }
    } else {
        let file = match data {
            DataSource::File { path, .. } => std::fs::File::open(path).ok(),
            _ => None,
        };
        let mut buf = vec![0u64; BLOCK];
        let mut at = start;
        while at < start + len {
            let n = BLOCK.min((start + len - at) as usize);
            if fill(data, file.as_ref(), at, &mut buf[..n]).is_err() {
                break;
            }
            acc.add(&buf[..n]);
            at += n as u64;
        }
    }
    (acc.partial, acc.digest)
}

/// The coordinator's own verdict on a job's gathered answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The whole, combined from the coordinator's own answer for each chunk.
    pub expected: Partial,
    /// `None` when recomputing every round would take too long (items × work above 2e8).
    pub expected_digest: Option<u64>,
    /// Chunks whose gathered answer differs from the coordinator's (or that none answered).
    pub wrong_chunks: Vec<u32>,
    pub exact: bool,
}

/// Checks gathered answers (`results` by chunk id, their combined `total` and `digest`) against
/// the coordinator's own: every chunk recomputed here; the chunks must tile the items, and the
/// whole must agree with one pass over all of them (or the formula), so a chunking mistake
/// cannot hide in both sides at once. `array` is the items when the caller holds them.
pub fn check(
    spec: &super::spec::JobSpec,
    chunks: &[(u64, u64)],
    results: &std::collections::BTreeMap<u32, (Partial, u64)>,
    total: &Partial,
    digest: u64,
    array: Option<&[u64]>,
) -> Result<Check, String> {
    let (data, op) = (&spec.data, spec.op);
    let check_digest = (data.len() as u128 * spec.work.max(1) as u128) <= 200_000_000;
    let work = if check_digest { spec.work } else { 0 };
    let mut expected_total = Partial::empty(op);
    let mut expected_digest = 0u64;
    let mut wrong = Vec::new();
    for (i, &(start, len)) in chunks.iter().enumerate() {
        let (p, d) = expected(data, op, work, start, len, array);
        let got = results.get(&(i as u32));
        let digest_ok = !check_digest || got.is_some_and(|g| g.1 == d);
        if got.map(|g| &g.0) != Some(&p) || !digest_ok {
            wrong.push(i as u32);
        }
        expected_total.combine(&p)?;
        expected_digest = expected_digest.wrapping_add(d);
    }
    let expected_digest = check_digest.then_some(expected_digest);
    let n = data.len();
    let tiles = chunks.iter().try_fold(0u64, |next, &(start, len)| (start == next).then_some(next + len)) == Some(n);
    let (whole, whole_digest) = expected(data, op, work, 0, n, array);
    let exact = tiles
        && wrong.is_empty()
        && *total == expected_total
        && *total == whole
        && expected_digest.is_none_or(|d| d == digest && d == whole_digest);
    Ok(Check { expected: expected_total, expected_digest, wrong_chunks: wrong, exact })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_formula_agrees_with_adding_up() {
        let data = DataSource::Range { n: 1000 };
        for (start, len) in [(0, 1000), (17, 300), (999, 1)] {
            let items: Vec<u64> = (0..1000).map(|i| i + 1).collect();
            let by_formula = expected(&data, Op::Sum, 0, start, len, None);
            let mut acc = Accumulator::new(Op::Sum, data.bounds(), 0);
            acc.add(&items[start as usize..(start + len) as usize]);
            assert_eq!(by_formula, (acc.partial, acc.digest), "{start}+{len}");
        }
    }

    #[test]
    fn partials_combine_to_the_whole_for_every_op() {
        let data = DataSource::Random { n: 10_000, seed: 7 };
        let mut items = vec![0; 10_000];
        fill(&data, None, 0, &mut items).unwrap();
        for op in [Op::Sum, Op::MinMax, Op::Histogram { buckets: 7 }] {
            let (whole, whole_digest) = expected(&data, op, 3, 0, 10_000, Some(&items));
            let mut parts = Partial::empty(op);
            let mut digest = 0u64;
            for (s, l) in [(0, 3333), (3333, 3333), (6666, 3334)] {
                let (p, d) = expected(&data, op, 3, s, l, None);
                parts.combine(&p).unwrap();
                digest = digest.wrapping_add(d);
            }
            assert_eq!((parts, digest), (whole, whole_digest), "{op:?}");
        }
    }

    #[test]
    fn work_changes_the_digest_not_the_result() {
        let data = DataSource::Range { n: 100 };
        let (p0, d0) = expected(&data, Op::MinMax, 0, 0, 100, None);
        let (p5, d5) = expected(&data, Op::MinMax, 5, 0, 100, None);
        assert_eq!(p0, p5);
        assert_ne!(d0, d5);
        assert_eq!(p0, Partial::MinMax(Some((1, 100))));
    }

    #[test]
    fn a_histogram_of_a_range_is_flat() {
        let data = DataSource::Range { n: 100 };
        let (p, _) = expected(&data, Op::Histogram { buckets: 4 }, 0, 0, 100, None);
        assert_eq!(p, Partial::Histogram(vec![25; 4]));
    }
}
