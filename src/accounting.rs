//! Receiver-side accounting: what arrived, judged only by sequence numbers and checksums.
//!
//! Nothing here is assumed from the sender's intentions: a frame counts as received when it is
//! decoded, as a duplicate when its sequence number was already seen, as out of order when it
//! fills a gap left earlier (it arrived after a later one), and as corrupted when its payload fails
//! the checksum. Loss is what the sender says it sent minus the distinct sequence numbers seen
//! here; the supervisor computes it once both sides have reported.
//!
//! Gaps are remembered as ranges, so a jump of any size costs one entry. Memory is bounded by
//! [`MAX_GAPS`]: past it, the oldest gap is forgotten. A frame that later lands below the newest
//! forgotten gap's end and in no remembered gap is then ambiguous (late, or a very old repeat);
//! it is counted as late (unique, out of order), the likelier of the two. That takes more than
//! 4096 gaps never filled: a lossy run (each dropped frame leaves one) gets there, and from then
//! on only a frame older than the 4096 newest gaps is judged this way; recent duplicates and late
//! frames, the ones a channel produces, are still told apart exactly.

use std::collections::BTreeMap;

use crate::telemetry::Accounting;

/// Most gaps remembered at once; each is one map entry whatever its length.
pub const MAX_GAPS: usize = 4096;

#[derive(Debug, Default)]
pub struct SeqTracker {
    /// One past the highest sequence number seen (u128: `u64::MAX` itself can be seen).
    next_expected: u128,
    /// Gaps not yet filled: start → end, both inclusive.
    missing: BTreeMap<u64, u64>,
    /// Everything below this was either seen or lies in a gap that was forgotten.
    forgotten_below: u64,
    acc: Accounting,
}

impl SeqTracker {
    pub fn record(&mut self, seq: u64, intact: bool) {
        self.acc.received += 1;
        if !intact {
            self.acc.corrupted += 1;
        }
        let s = seq as u128;
        if s >= self.next_expected {
            if s > self.next_expected {
                // A jump: remember the gap as one range.
                self.missing.insert(self.next_expected as u64, seq - 1);
                if self.missing.len() > MAX_GAPS
                    && let Some((_, end)) = self.missing.pop_first()
                {
                    self.forgotten_below = self.forgotten_below.max(end.saturating_add(1));
                }
            }
            self.next_expected = s + 1;
            self.acc.unique += 1;
        } else if self.fill(seq) || seq < self.forgotten_below {
            self.acc.unique += 1;
            self.acc.out_of_order += 1;
        } else {
            self.acc.duplicated += 1;
        }
    }

    /// Takes `seq` out of the gap that holds it; false when no remembered gap does.
    fn fill(&mut self, seq: u64) -> bool {
        let Some((&start, &end)) = self.missing.range(..=seq).next_back() else { return false };
        if seq > end {
            return false;
        }
        self.missing.remove(&start);
        if start < seq {
            self.missing.insert(start, seq - 1);
        }
        if seq < end {
            self.missing.insert(seq + 1, end);
        }
        true
    }

    pub fn accounting(&self) -> Accounting {
        self.acc
    }

    /// Gaps currently remembered (for the memory bound).
    pub fn gaps(&self) -> usize {
        self.missing.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

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

    #[test]
    fn a_late_frame_far_behind_a_huge_jump_is_out_of_order_not_a_duplicate() {
        // The old tracker remembered at most 2^20 numbers of a gap and called the rest duplicates.
        let a = run(&[(0, true), (10_000_000, true), (5, true), (9_999_999, true), (5, true)]);
        assert_eq!(a, Accounting { received: 5, unique: 4, duplicated: 1, out_of_order: 2, corrupted: 0 });
    }

    #[test]
    fn the_largest_sequence_number_does_not_overflow() {
        let a = run(&[(u64::MAX - 1, true), (u64::MAX, true), (u64::MAX, true), (3, true)]);
        assert_eq!(a, Accounting { received: 4, unique: 3, duplicated: 1, out_of_order: 1, corrupted: 0 });
    }

    #[test]
    fn memory_stays_bounded_under_repeated_jumps() {
        let mut t = SeqTracker::default();
        for i in 0..(4 * MAX_GAPS as u64) {
            t.record(i * (1 << 20), true); // every frame opens a gap of a million numbers
        }
        assert!(t.gaps() <= MAX_GAPS, "{} gaps remembered", t.gaps());
        // A frame in a forgotten gap is still new: late, not a duplicate.
        t.record(1, true);
        assert_eq!(t.accounting().duplicated, 0);
        assert_eq!(t.accounting().out_of_order, 1);
    }

    #[test]
    fn recent_duplicates_and_late_frames_stay_exact_after_many_losses() {
        let mut t = SeqTracker::default();
        // 10,000 frames with every other one lost: 5,000 gaps, more than are remembered.
        for seq in (0..20_000u64).step_by(2) {
            t.record(seq, true);
        }
        assert!(t.gaps() <= MAX_GAPS);
        t.record(19_998, true); // a duplicate of the newest
        t.record(19_997, true); // a late frame filling a recent gap
        t.record(19_997, true); // and its duplicate
        let a = t.accounting();
        assert_eq!((a.duplicated, a.out_of_order), (2, 1));
    }

    proptest! {
        /// Against a reference that remembers every number it saw: the same counts, whatever the
        /// order, repeats and gaps (fewer gaps than the bound, so nothing is forgotten).
        #[test]
        fn counts_match_a_tracker_with_unbounded_memory(
            seqs in proptest::collection::vec((0u64..200, any::<bool>()), 0..400),
            offset in prop_oneof![Just(0u64), Just(u64::MAX - 300), any::<u64>().prop_map(|x| x / 2)],
        ) {
            let mut t = SeqTracker::default();
            let mut seen = HashSet::new();
            let mut highest: Option<u64> = None;
            let mut want = Accounting::default();
            for &(s, ok) in &seqs {
                let s = s.saturating_add(offset);
                t.record(s, ok);
                want.received += 1;
                want.corrupted += u64::from(!ok);
                if !seen.insert(s) {
                    want.duplicated += 1;
                } else {
                    want.unique += 1;
                    // Late: a higher number was seen first.
                    if highest.is_some_and(|h| s < h) {
                        want.out_of_order += 1;
                    }
                }
                highest = highest.max(Some(s));
            }
            prop_assert_eq!(t.accounting(), want);
        }
    }
}
