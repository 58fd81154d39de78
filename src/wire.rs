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
    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        out[4] = PROTOCOL_VERSION;
        out[5] = self.kind as u8;
        out[6..8].copy_from_slice(&self.sender_id.to_le_bytes());
        out[8..10].copy_from_slice(&self.receiver_id.to_le_bytes());
        out[10..12].copy_from_slice(&0u16.to_le_bytes());
        out[12..20].copy_from_slice(&self.seq.to_le_bytes());
        out[20..28].copy_from_slice(&self.send_ts_nanos.to_le_bytes());
        out[28..32].copy_from_slice(&self.payload_len.to_le_bytes());
        out[32..36].copy_from_slice(&self.payload_crc.to_le_bytes());
        let header_crc = header_check(&out[0..36]);
        out[36..40].copy_from_slice(&header_crc.to_le_bytes());
    }

    /// Decodes a header from the start of `bytes`, rejecting payloads above `max_payload`.
    pub fn decode(bytes: &[u8], max_payload: usize) -> Result<Header, DecodeError> {
        let Some(raw) = bytes.get(..HEADER_LEN) else {
            return Err(DecodeError::Truncated { got: bytes.len() });
        };
        let u32_at = |at: usize| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let u16_at = |at: usize| u16::from_le_bytes([raw[at], raw[at + 1]]);
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let magic = u32_at(0);
        if magic != MAGIC {
            return Err(DecodeError::BadMagic { found: magic });
        }
        if raw[4] != PROTOCOL_VERSION {
            return Err(DecodeError::BadVersion { found: raw[4] });
        }
        let stored = u32_at(36);
        let computed = header_check(&raw[0..36]);
        if stored != computed {
            return Err(DecodeError::HeaderCorrupt { stored, computed });
        }
        let kind = FrameKind::from_u8(raw[5]).ok_or(DecodeError::BadKind { found: raw[5] })?;
        let payload_len = u32_at(28);
        if payload_len as usize > max_payload {
            return Err(DecodeError::TooLarge { len: payload_len.into(), max: max_payload });
        }
        Ok(Header {
            kind,
            sender_id: u16_at(6),
            receiver_id: u16_at(8),
            seq: u64_at(12),
            send_ts_nanos: u64_at(20),
            payload_len,
            payload_crc: u32_at(32),
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
fn header_check(bytes: &[u8]) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let mut h: u64 = 0x1234_5678_9ABC_DEF1;
    for at in [0, 8, 16, 24] {
        h = (h ^ word(at)).wrapping_mul(K);
        h ^= h >> 29;
    }
    let tail = u32::from_le_bytes([bytes[32], bytes[33], bytes[34], bytes[35]]) as u64;
    h = (h ^ tail).wrapping_mul(K);
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
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec; CLOCK_MONOTONIC cannot fail on a supported
        // kernel (and a zero would show up as a glaring outlier, not a plausible number).
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
    #[cfg(not(unix))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
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

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Header::decode(&bytes, DEFAULT_MAX_PAYLOAD);
        }

        #[test]
        fn any_single_bit_flip_in_the_header_is_detected(byte in 0usize..HEADER_LEN, bit in 0u8..8) {
            let mut buf = [0u8; HEADER_LEN];
            sample().encode(&mut buf);
            buf[byte] ^= 1 << bit;
            prop_assert!(Header::decode(&buf, DEFAULT_MAX_PAYLOAD).is_err());
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
