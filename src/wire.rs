//! Frames: the only bytes that cross a process boundary for data.
//!
//! Every message on every mechanism is one frame: a fixed 40-byte little-endian header followed by
//! the payload. The header carries what the receiver needs to account for the message without
//! trusting anyone: a sequence number (loss, duplication, order), the sender's CLOCK_MONOTONIC send
//! time (latency; comparable across processes on one host), the payload length and a CRC-32 of the
//! payload (corruption). The header has its own CRC so a damaged header is told apart from a
//! damaged payload: the first loses the framing of the byte stream, the second only one message.
//!
//! Decoding never panics: every malformed input maps to a [`DecodeError`] that says what was wrong.

use thiserror::Error;

/// Bumped whenever the header layout or the meaning of a field changes.
pub const PROTOCOL_VERSION: u8 = 1;
/// "IPCL" read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"IPCL");
/// Size of the encoded header in bytes.
pub const HEADER_LEN: usize = 40;
/// Default largest payload a channel accepts: 16 MiB.
pub const DEFAULT_MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// What a frame is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// A measured message (ping, or one message of a stream).
    Data = 1,
    /// The reply to a `Data` frame in ping-pong; same sequence number and payload size.
    Echo = 2,
    /// The sender has nothing more to send; the receiver ends cleanly.
    End = 3,
}

impl FrameKind {
    fn from_u8(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(Self::Data),
            2 => Some(Self::Echo),
            3 => Some(Self::End),
            _ => None,
        }
    }
}

/// The decoded header of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: FrameKind,
    pub sender_id: u16,
    pub receiver_id: u16,
    pub seq: u64,
    /// CLOCK_MONOTONIC at the moment the sender handed the frame to the mechanism.
    pub send_ts_nanos: u64,
    pub payload_len: u32,
    /// CRC-32 (IEEE) of the payload bytes.
    pub payload_crc: u32,
}

/// Why a byte sequence is not a valid frame header.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated frame header: {got} of {HEADER_LEN} bytes")]
    Truncated { got: usize },
    #[error("bad magic {found:#010x} (expected {MAGIC:#010x}): not an ipc-lab frame or the stream lost its framing")]
    BadMagic { found: u32 },
    #[error("unsupported protocol version {found} (this build speaks {PROTOCOL_VERSION})")]
    BadVersion { found: u8 },
    #[error("frame header check mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    HeaderCorrupt { stored: u32, computed: u32 },
    #[error("unknown frame kind {found}")]
    BadKind { found: u8 },
    #[error("payload of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge { len: u64, max: usize },
}

impl Header {
    /// The header's first 36 bytes as the little-endian words the layout puts there (bytes 0..8,
    /// 8..16, 16..24, 24..32 and 32..36), built from the fields in registers. Encoding writes
    /// these words whole and checks them without reading back bytes it just stored (a load
    /// spanning several smaller stores cannot be forwarded and stalls the CPU).
    fn words(&self) -> ([u64; 4], u32) {
        let w0 =
            MAGIC as u64 | (PROTOCOL_VERSION as u64) << 32 | (self.kind as u64) << 40 | (self.sender_id as u64) << 48;
        let w1 = self.receiver_id as u64 | (self.seq & 0xFFFF_FFFF) << 32;
        let w2 = (self.seq >> 32) | (self.send_ts_nanos & 0xFFFF_FFFF) << 32;
        let w3 = (self.send_ts_nanos >> 32) | (self.payload_len as u64) << 32;
        ([w0, w1, w2, w3], self.payload_crc)
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        let (words, tail) = self.words();
        for (i, w) in words.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out[32..36].copy_from_slice(&tail.to_le_bytes());
        out[36..40].copy_from_slice(&header_check(words, tail).to_le_bytes());
    }

    /// Decodes a header from the start of `bytes`, rejecting payloads above `max_payload`.
    pub fn decode(bytes: &[u8], max_payload: usize) -> Result<Header, DecodeError> {
        let Some(raw) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(DecodeError::Truncated { got: bytes.len() });
        };
        let u32_at = |at: usize| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let words = [u64_at(0), u64_at(8), u64_at(16), u64_at(24)];
        let tail = u32_at(32);
        let magic = words[0] as u32;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic { found: magic });
        }
        let version = (words[0] >> 32) as u8;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::BadVersion { found: version });
        }
        let stored = u32_at(36);
        let computed = header_check(words, tail);
        if stored != computed {
            return Err(DecodeError::HeaderCorrupt { stored, computed });
        }
        let kind_raw = (words[0] >> 40) as u8;
        let kind = FrameKind::from_u8(kind_raw).ok_or(DecodeError::BadKind { found: kind_raw })?;
        let payload_len = (words[3] >> 32) as u32;
        if payload_len as usize > max_payload {
            return Err(DecodeError::TooLarge { len: payload_len.into(), max: max_payload });
        }
        Ok(Header {
            kind,
            sender_id: (words[0] >> 48) as u16,
            receiver_id: words[1] as u16,
            seq: (words[1] >> 32) | (words[2] << 32),
            send_ts_nanos: (words[2] >> 32) | (words[3] << 32),
            payload_len,
            payload_crc: tail,
        })
    }

    /// Total encoded size of the frame this header describes.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }
}

/// Check value of the first 36 header bytes: a multiply-xorshift mix of its words. Cheaper than a
/// CRC on the per-message path (the payload keeps its CRC-32); every single-bit flip changes it,
/// which the property tests below check exhaustively for the header.
fn header_check(words: [u64; 4], tail: u32) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0x1234_5678_9ABC_DEF1;
    for w in words {
        h = (h ^ w).wrapping_mul(K);
        h ^= h >> 29;
    }
    h = (h ^ tail as u64).wrapping_mul(K);
    h ^= h >> 32;
    h as u32
}

/// CRC-32 of a payload, as stored in [`Header::payload_crc`].
pub fn payload_crc(payload: &[u8]) -> u32 {
    crc32fast::hash(payload)
}

/// Fills `payload` with a pattern that depends on `seq`, so that a frame delivered with another
/// frame's payload is caught by the checksum as well as a flipped bit is.
pub fn fill_payload(payload: &mut [u8], seq: u64) {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in payload.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

/// Nanoseconds on CLOCK_MONOTONIC: the clock every process on one host shares.
pub fn monotonic_nanos() -> u64 {
    #[cfg(unix)]
    {
        clock_nanos(libc::CLOCK_MONOTONIC)
    }
    #[cfg(not(unix))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Nanoseconds on `clock` (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, CLOCK_REALTIME_COARSE...).
#[cfg(unix)]
pub fn clock_nanos(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec; the clocks used here cannot fail on a supported
    // kernel (and a zero would show up as a glaring outlier, not a plausible number).
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Header {
        Header {
            kind: FrameKind::Data,
            sender_id: 1,
            receiver_id: 2,
            seq: 42,
            send_ts_nanos: 123_456_789,
            payload_len: 64,
            payload_crc: 0xDEAD_BEEF,
        }
    }

    #[test]
    fn header_round_trips() {
        let mut buf = [0u8; HEADER_LEN];
        sample().encode(&mut buf);
        assert_eq!(Header::decode(&buf, DEFAULT_MAX_PAYLOAD), Ok(sample()));
    }

    #[test]
    fn truncated_header_is_an_error() {
        let mut buf = [0u8; HEADER_LEN];
        sample().encode(&mut buf);
        assert_eq!(Header::decode(&buf[..39], 1024), Err(DecodeError::Truncated { got: 39 }));
    }

    #[test]
    fn oversized_payload_is_rejected() {
        let mut buf = [0u8; HEADER_LEN];
        sample().encode(&mut buf);
        assert_eq!(Header::decode(&buf, 63), Err(DecodeError::TooLarge { len: 64, max: 63 }));
    }

    #[test]
    fn flipped_header_bit_is_caught() {
        let mut buf = [0u8; HEADER_LEN];
        sample().encode(&mut buf);
        buf[14] ^= 0x10;
        assert!(matches!(Header::decode(&buf, 1024), Err(DecodeError::HeaderCorrupt { .. })));
    }

    #[test]
    fn every_single_bit_flip_in_the_header_is_detected() {
        let mut buf = [0u8; HEADER_LEN];
        sample().encode(&mut buf);
        for byte in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut bad = buf;
                bad[byte] ^= 1 << bit;
                assert!(
                    Header::decode(&bad, DEFAULT_MAX_PAYLOAD).is_err(),
                    "flip of byte {byte} bit {bit} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn payload_pattern_differs_between_sequence_numbers() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        fill_payload(&mut a, 1);
        fill_payload(&mut b, 2);
        assert_ne!(payload_crc(&a), payload_crc(&b));
    }

    fn arb_header() -> impl Strategy<Value = Header> {
        (1u8..=3, any::<u16>(), any::<u16>(), any::<u64>(), any::<u64>(), 0u32..=16 << 20, any::<u32>()).prop_map(
            |(kind, sender_id, receiver_id, seq, send_ts_nanos, payload_len, payload_crc)| Header {
                kind: FrameKind::from_u8(kind).expect("1..=3 are kinds"),
                sender_id,
                receiver_id,
                seq,
                send_ts_nanos,
                payload_len,
                payload_crc,
            },
        )
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Header::decode(&bytes, DEFAULT_MAX_PAYLOAD);
        }

        /// Random headers, and a random change to one byte of each (any of its 255 other
        /// values, not only one bit): the header check catches it. (Its 32-bit check could in
        /// principle miss one change in 2^32; a failure here would be that, or a real bug.)
        #[test]
        fn any_change_to_one_byte_of_a_random_header_is_detected(
            h in arb_header(), byte in 0usize..HEADER_LEN, mask in 1u8..=255,
        ) {
            let mut buf = [0u8; HEADER_LEN];
            h.encode(&mut buf);
            prop_assert_eq!(Header::decode(&buf, DEFAULT_MAX_PAYLOAD), Ok(h));
            buf[byte] ^= mask;
            prop_assert!(Header::decode(&buf, DEFAULT_MAX_PAYLOAD).is_err());
        }

        /// Random payloads with up to four bytes changed anywhere: the CRC-32 catches it (it
        /// detects every burst of up to 32 bits, and other patterns but for one in 2^32).
        #[test]
        fn payload_changes_are_caught_by_the_checksum(
            payload in proptest::collection::vec(any::<u8>(), 1..2048),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        ) {
            let crc = payload_crc(&payload);
            let mut bad = payload.clone();
            for (at, mask) in &flips {
                let i = at.index(bad.len());
                bad[i] ^= mask;
            }
            prop_assume!(bad != payload); // two flips of one byte can cancel
            prop_assert_ne!(payload_crc(&bad), crc);
        }

        /// Whatever bytes arrive where a header should be, decoding says what is wrong or gives
        /// a header that describes at most `max` payload bytes; it never panics.
        #[test]
        fn decoding_random_headers_with_random_limits_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..64), max in any::<usize>(),
        ) {
            if let Ok(h) = Header::decode(&bytes, max) {
                prop_assert!(h.payload_len as usize <= max);
            }
        }

        #[test]
        fn encoded_headers_round_trip(seq in any::<u64>(), ts in any::<u64>(), len in 0u32..=16 << 20,
                                      crc in any::<u32>(), kind in 1u8..=3, s in any::<u16>(), r in any::<u16>()) {
            let h = Header { kind: FrameKind::from_u8(kind).unwrap(), sender_id: s, receiver_id: r, seq,
                             send_ts_nanos: ts, payload_len: len, payload_crc: crc };
            let mut buf = [0u8; HEADER_LEN];
            h.encode(&mut buf);
            prop_assert_eq!(Header::decode(&buf, DEFAULT_MAX_PAYLOAD), Ok(h));
        }
    }
}
