//! Receiver-side accounting: what arrived, judged only by sequence numbers and checksums.
//!
//! Nothing here is assumed from the sender's intentions: a frame counts as received when it is
//! decoded, as a duplicate when its sequence number was already seen, as out of order when it
//! fills a gap left earlier, and as corrupted when its payload fails the checksum. Loss is what
//! the sender says it sent minus the distinct sequence numbers seen here; the supervisor computes
//! it once both sides have reported.

use std::collections::BTreeSet;

use crate::telemetry::Accounting;

/// Largest gap remembered seq by seq; beyond it the missing numbers are only counted, so a
/// wildly wrong sequence number cannot make the tracker allocate without bound.
const MAX_TRACKED_GAP: u64 = 1 << 20;

#[derive(Debug, Default)]
pub struct SeqTracker {
    next_expected: u64,
    missing: BTreeSet<u64>,
    acc: Accounting,
}

impl SeqTracker {
    pub fn record(&mut self, seq: u64, intact: bool) {
        self.acc.received += 1;
        if !intact {
            self.acc.corrupted += 1;
        }
        if seq == self.next_expected {
            self.next_expected += 1;
            self.acc.unique += 1;
        } else if seq > self.next_expected {
            let gap_end = seq.min(self.next_expected.saturating_add(MAX_TRACKED_GAP));
            self.missing.extend(self.next_expected..gap_end);
            self.next_expected = seq + 1;
            self.acc.unique += 1;
        } else if self.missing.remove(&seq) {
            self.acc.unique += 1;
            self.acc.out_of_order += 1;
        } else {
            self.acc.duplicated += 1;
        }
    }

    pub fn accounting(&self) -> Accounting {
        self.acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[(u64, bool)]) -> Accounting {
        let mut t = SeqTracker::default();
        for &(s, ok) in seqs {
            t.record(s, ok);
        }
        t.accounting()
    }

    #[test]
    fn in_order_stream_is_clean() {
        let a = run(&[(0, true), (1, true), (2, true)]);
        assert_eq!(a, Accounting { received: 3, unique: 3, ..Default::default() });
    }

    #[test]
    fn duplicates_reordering_and_corruption_are_counted() {
        let a = run(&[(0, true), (2, true), (1, true), (2, true), (3, false)]);
        assert_eq!(a, Accounting { received: 5, unique: 4, duplicated: 1, out_of_order: 1, corrupted: 1 });
    }

    #[test]
    fn a_gap_that_never_fills_shows_as_fewer_unique() {
        let a = run(&[(0, true), (5, true)]);
        assert_eq!(a.unique, 2);
        assert_eq!(a.out_of_order, 0);
    }
}
