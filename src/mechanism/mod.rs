//! The seven IPC mechanisms, one file each, behind one transport contract.
//!
//! # The contract
//!
//! A mechanism provides a [`Link`]: one endpoint of a bidirectional byte path between two peers.
//! Every mechanism's link must satisfy all of this, and the generic suite in `tests/contract.rs`
//! checks it for each one over real child processes:
//!
//! 1. **Order and integrity.** Bytes given to [`Link::send_bytes`] arrive at the peer's
//!    [`Link::recv_bytes`] complete, unaltered and in order. Message-oriented mechanisms (shm,
//!    mqueue, thread) may cut a frame into pieces; the receiver sees one byte stream all the same.
//! 2. **Any frame size.** A frame of any length up to `HEADER_LEN + max payload` (16 MiB by default)
//!    is carried. Mechanisms with small units fragment: mqueue sends a frame as several messages of
//!    at most `mq_msgsize` bytes; shm publishes a frame at once when it fits in a chunk (128 KiB) and streams it
//!    through the ring in pieces when it does not.
//! 3. **Clean end.** When the peer drops its link, `recv_bytes` returns `Ok(0)` once the bytes already
//!    sent are read.
//! 4. **Dead peer is an error within a bound, never a hang.** When the peer process dies (even by
//!    SIGKILL, with no chance to say goodbye), a blocked `send_bytes` or `recv_bytes` returns within
//!    about [`PEER_CHECK_INTERVAL`] plus the time the kernel takes to notice: stream mechanisms see
//!    EOF or EPIPE from the kernel; shm and mqueue have no such notice, so shm waits and mqueue
//!    sends time out every `PEER_CHECK_INTERVAL` and check the peer's PID, and an mqueue receive
//!    is woken by a marker its peer watcher (a pidfd) posts when the peer dies.
//! 5. **Stopped peer is back-pressure, not an error.** A SIGSTOPped peer blocks the sender once the
//!    buffer is full and the run continues after SIGCONT.
//! 6. **No named leftovers.** Named OS resources are created and removed by the supervisor
//!    (`supervisor::resources`); a link only opens them.
//!
//! Framing ([`Channel`]) sits on top of a link and is written once for all mechanisms.

pub mod endpoint;
pub mod fifo;
pub mod mqueue;
pub mod pipe;
pub mod shm;
pub mod stream;
pub mod tcp;
pub mod thread;
pub mod unix;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::wire::{DecodeError, HEADER_LEN, Header};

/// How often a blocked shm or mqueue endpoint checks that its peer still lives.
pub const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The mechanisms, with the ids used everywhere (CLI, files, UI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum MechanismId {
    Pipe,
    Fifo,
    Unix,
    Tcp,
    Shm,
    Mqueue,
    Thread,
}

impl MechanismId {
    pub const ALL: [MechanismId; 7] = [
        MechanismId::Pipe,
        MechanismId::Fifo,
        MechanismId::Unix,
        MechanismId::Tcp,
        MechanismId::Shm,
        MechanismId::Mqueue,
        MechanismId::Thread,
    ];

    /// What the mechanism is, in this thread's language (the window's, or the CLI's `--lang`).
    pub fn described(self) -> String {
        match self {
            MechanismId::Pipe => crate::tr!("mechanism.pipe"),
            MechanismId::Fifo => crate::tr!("mechanism.fifo"),
            MechanismId::Unix => crate::tr!("mechanism.unix"),
            MechanismId::Tcp => crate::tr!("mechanism.tcp"),
            MechanismId::Shm => crate::tr!("mechanism.shm"),
            MechanismId::Mqueue => crate::tr!("mechanism.mqueue"),
            MechanismId::Thread => crate::tr!("mechanism.thread"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MechanismId::Pipe => "pipe",
            MechanismId::Fifo => "fifo",
            MechanismId::Unix => "unix",
            MechanismId::Tcp => "tcp",
            MechanismId::Shm => "shm",
            MechanismId::Mqueue => "mqueue",
            MechanismId::Thread => "thread",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            MechanismId::Pipe => "anonymous pipes inherited by the child, one per direction",
            MechanismId::Fifo => "named pipes (mkfifo) in a private per-run directory",
            MechanismId::Unix => "Unix domain stream socket (interprocess local socket)",
            MechanismId::Tcp => "TCP over loopback with TCP_NODELAY",
            MechanismId::Shm => "ring buffer in shared memory, spin/futex/semaphore wake-up",
            MechanismId::Mqueue => "POSIX message queues (mq_open), one per direction",
            MechanismId::Thread => "two threads in one process over a crossbeam channel (baseline)",
        }
    }

    /// `Ok(())` when this platform has the mechanism, or why not. The environment variable
    /// `IPC_LAB_UNAVAILABLE` (a comma-separated list of ids) makes a mechanism unavailable, to try
    /// out how a platform without it behaves.
    pub fn availability(self) -> Result<(), String> {
        if let Ok(list) = std::env::var("IPC_LAB_UNAVAILABLE")
            && list.split(',').any(|id| id.trim() == self.as_str())
        {
            return Err("disabled by IPC_LAB_UNAVAILABLE".into());
        }
        match self {
            MechanismId::Thread | MechanismId::Tcp => Ok(()),
            MechanismId::Pipe | MechanismId::Fifo | MechanismId::Unix => {
                if cfg!(unix) {
                    Ok(())
                } else {
                    Err("needs a Unix platform".into())
                }
            }
            MechanismId::Shm => shm::availability(),
            MechanismId::Mqueue => mqueue::availability(),
        }
    }

    /// Whether the two peers are threads of one process rather than two processes.
    pub fn in_process(self) -> bool {
        self == MechanismId::Thread
    }
}

impl fmt::Display for MechanismId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MechanismId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MechanismId::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            let known: Vec<_> = MechanismId::ALL.iter().map(|m| m.as_str()).collect();
            format!("unknown mechanism '{s}' (known: {})", known.join(", "))
        })
    }
}

/// How a shared-memory reader or writer waits for its peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShmWait {
    /// Busy-wait on the ring indices: lowest latency, burns a core while waiting.
    Spin,
    /// Sleep on a futex word in the segment (Linux); the default: blocks like every other
    /// mechanism, so CPU cost stays comparable, and works whatever the core placement.
    #[default]
    Futex,
    /// Sleep on a process-shared POSIX semaphore in the segment.
    Semaphore,
}

impl FromStr for ShmWait {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spin" => Ok(ShmWait::Spin),
            "futex" => Ok(ShmWait::Futex),
            "semaphore" => Ok(ShmWait::Semaphore),
            _ => Err(format!("unknown shm wait strategy '{s}' (known: spin, futex, semaphore)")),
        }
    }
}

impl fmt::Display for ShmWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShmWait::Spin => "spin",
            ShmWait::Futex => "futex",
            ShmWait::Semaphore => "semaphore",
        })
    }
}

/// `ipc-lab list mechanisms`: a header, then each mechanism's id, whether this platform has it,
/// and what it is, in this thread's language (ids and the platform's reason stay as they are).
pub fn listing() -> Vec<String> {
    let mut lines = vec![format!("{:<8} {:<10} {}", "id", crate::tr!("cli.available"), crate::tr!("cli.description"))];
    for m in MechanismId::ALL {
        let avail = match m.availability() {
            Ok(()) => crate::tr!("cli.yes"),
            Err(why) => crate::tr!("cli.no_because", why = why),
        };
        lines.push(format!("{:<8} {:<10} {}", m.as_str(), avail, m.described()));
    }
    lines
}

/// Errors of a link operation.
#[derive(Debug, Error)]
pub enum LinkError {
    #[error("peer is gone ({0})")]
    PeerGone(String),
    #[error("{op} failed: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted by a stop request")]
    Stopped,
}

impl LinkError {
    pub fn io(op: &'static str, source: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        match source.kind() {
            BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof => {
                LinkError::PeerGone(format!("{op}: {source}"))
            }
            _ => LinkError::Io { op, source },
        }
    }
}

/// One endpoint of a bidirectional byte path. See the module docs for the contract.
pub trait Link: Send {
    /// Writes all of `parts`, in order, as the bytes of one frame.
    fn send_bytes(&mut self, parts: &[&[u8]]) -> Result<(), LinkError>;
    /// Reads at least one byte into `buf` (whose length is at least [`Link::min_read_len`]);
    /// `Ok(0)` means the peer ended cleanly.
    fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<usize, LinkError>;
    /// The smallest buffer `recv_bytes` accepts (a message queue's message size).
    fn min_read_len(&self) -> usize {
        1
    }
    /// A handle that reads this endpoint's buffer fill from any thread, for as long as the process
    /// runs (it holds its own references: duplicated descriptors, the mapping), so a sampler can
    /// report the fill on a timer while the node's thread is blocked in a send or receive.
    fn gauge(&self) -> Option<std::sync::Arc<dyn Gauge>> {
        None
    }
}

/// Reads the fill of one endpoint's buffers. See [`Link::gauge`].
pub trait Gauge: Send + Sync {
    /// The buffer this end receives from: FIONREAD for pipes and sockets, `mq_curmsgs`, ring
    /// occupancy.
    fn receiving(&self) -> Option<Queued>;
    /// The buffer this end sends into, read from this end: for pipes, queues and rings the very
    /// buffer its peer reads (so it stays current while the peer is stopped); for sockets this
    /// end's own send queue (SIOCOUTQ), marked `at_sender`.
    fn sending(&self) -> Option<Queued>;
}

/// A reading of the receive buffer's fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub amount: u64,
    pub unit: QueuedUnit,
    /// Capacity in the same unit, where the mechanism has a fixed one.
    pub capacity: Option<u64>,
    /// A socket sender's own send queue (SIOCOUTQ), a different buffer from the receiver's.
    #[serde(default)]
    pub at_sender: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueuedUnit {
    Bytes,
    Messages,
}

/// Errors of receiving a frame.
#[derive(Debug, Error)]
pub enum RecvError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("corrupt frame: {0}")]
    Corrupt(#[from] DecodeError),
}

/// Errors of sending a frame.
#[derive(Debug, Error)]
pub enum SendError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("payload of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge { len: usize, max: usize },
}

/// A frame as received: its header, whether the payload matched its checksum, and the payload.
pub struct Received<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

impl Received<'_> {
    /// Whether the payload matches its checksum. Computed on demand, so a caller can take its
    /// timestamp or send its reply first and keep the check off the latency path.
    pub fn intact(&self) -> bool {
        crate::wire::payload_crc(self.payload) == self.header.payload_crc
    }
}

/// Frames over a [`Link`]: the one framing layer every mechanism shares.
pub struct Channel {
    link: Box<dyn Link>,
    max_payload: usize,
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Where the payload of the last received frame sits in `rbuf`, for `send_last_payload`.
    last_payload: (usize, usize),
}

impl Channel {
    pub fn new(link: Box<dyn Link>, max_payload: usize) -> Self {
        let initial = (64 * 1024).max(link.min_read_len() * 2);
        Channel { link, max_payload, rbuf: vec![0; initial], start: 0, end: 0, last_payload: (0, 0) }
    }

    pub fn link(&self) -> &dyn Link {
        &*self.link
    }

    /// Sends one frame; the header's length and checksum fields are filled in here.
    pub fn send(&mut self, mut header: Header, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > self.max_payload {
            return Err(SendError::TooLarge { len: payload.len(), max: self.max_payload });
        }
        header.payload_len = payload.len() as u32;
        header.payload_crc = crate::wire::payload_crc(payload);
        write_frame(&mut *self.link, &header, payload)
    }

    /// Sends one frame with a checksum computed by the caller: fault injection corrupts a payload
    /// after computing its checksum, as a damaged channel would.
    pub fn send_with_crc(&mut self, mut header: Header, payload: &[u8], payload_crc: u32) -> Result<(), SendError> {
        if payload.len() > self.max_payload {
            return Err(SendError::TooLarge { len: payload.len(), max: self.max_payload });
        }
        header.payload_len = payload.len() as u32;
        header.payload_crc = payload_crc;
        write_frame(&mut *self.link, &header, payload)
    }

    /// Sends the payload of the frame received last back out under `header` without copying it
    /// first: an echo costs what it costs in C. The checksum is the one that arrived with it
    /// (already verified by `recv`), so a corrupted payload is reported as corrupted both ways.
    pub fn send_last_payload(&mut self, mut header: Header, payload_crc: u32) -> Result<(), SendError> {
        let payload = &self.rbuf[self.last_payload.0..self.last_payload.1];
        header.payload_len = payload.len() as u32;
        header.payload_crc = payload_crc;
        write_frame(&mut *self.link, &header, payload)
    }

    /// Sends `header` (length and checksum as they are) with the payload `from` received last:
    /// a relay passes a frame on without copying it twice or recomputing its checksum.
    pub fn forward_last_payload_of(&mut self, from: &Channel, header: Header) -> Result<(), SendError> {
        write_frame(&mut *self.link, &header, from.last_payload())
    }

    /// The payload of the frame received last (valid until the next `recv`).
    fn last_payload(&self) -> &[u8] {
        &self.rbuf[self.last_payload.0..self.last_payload.1]
    }

    /// Whether the payload of the frame received last matches `header`'s checksum (valid until
    /// the next `recv`).
    pub fn last_payload_intact(&self, header: &Header) -> bool {
        crate::wire::payload_crc(self.last_payload()) == header.payload_crc
    }

    /// Receives the next frame; `Ok(None)` when the peer ended cleanly between frames.
    pub fn recv(&mut self) -> Result<Option<Received<'_>>, RecvError> {
        if !self.fill_to(HEADER_LEN)? {
            return Ok(None);
        }
        let header = Header::decode(&self.rbuf[self.start..self.end], self.max_payload)?;
        let frame_len = header.frame_len();
        if !self.fill_to(frame_len)? {
            return Err(LinkError::PeerGone("channel closed in the middle of a frame".into()).into());
        }
        let at = self.start;
        self.start += frame_len;
        self.last_payload = (at + HEADER_LEN, at + frame_len);
        let payload = &self.rbuf[at + HEADER_LEN..at + frame_len];
        Ok(Some(Received { header, payload }))
    }

    /// Makes at least `want` unread bytes available; `Ok(false)` on a clean end with fewer
    /// (an error if some bytes of a frame had arrived, which the caller reports).
    fn fill_to(&mut self, want: usize) -> Result<bool, LinkError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        while self.end - self.start < want {
            let min_read = self.link.min_read_len();
            if self.rbuf.len() - self.start < want + min_read {
                // Compact and grow so the whole frame fits with room for one more read.
                self.rbuf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                let need = want + min_read;
                if self.rbuf.len() < need {
                    self.rbuf.resize(need.next_power_of_two(), 0);
                }
            } else if self.rbuf.len() - self.end < min_read {
                self.rbuf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = self.link.recv_bytes(&mut self.rbuf[self.end..])?;
            if n == 0 {
                if self.end == self.start {
                    return Ok(false);
                }
                return Err(LinkError::PeerGone(format!(
                    "channel closed in the middle of a frame ({} of {want} bytes)",
                    self.end - self.start
                )));
            }
            self.end += n;
        }
        Ok(true)
    }
}

/// When the process `pid` started, in clock ticks since boot (`/proc/PID/stat` field 22): with the
/// PID, it names one process even after the PID is reused.
pub fn process_start_time(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        // Fields after the command name start at field 3 (state); field 22 is the 20th of them.
        rest.split_whitespace().nth(19)?.parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Whether the peer that was process `pid`, started at `start` (if known), still runs: a dead
/// peer whose PID now belongs to another process counts as dead.
pub fn peer_alive(pid: u32, start: Option<u64>) -> bool {
    process_alive(pid) && start.is_none_or(|s| process_start_time(pid) == Some(s))
}

/// An absolute CLOCK_REALTIME deadline `after` from now, for the timed POSIX waits
/// (`mq_timed*`, `sem_timedwait`). The coarse clock is plenty for the 50 ms peer checks (it may
/// end a wait a few ms early; the waiters re-check the time) and costs no time-stamp counter read.
#[cfg(target_os = "linux")]
pub(crate) fn realtime_deadline(after: Duration) -> libc::timespec {
    let at = crate::wire::clock_nanos(libc::CLOCK_REALTIME_COARSE) + after.as_nanos() as u64;
    libc::timespec { tv_sec: (at / 1_000_000_000) as libc::time_t, tv_nsec: (at % 1_000_000_000) as libc::c_long }
}

/// Encodes `header` and writes it with `payload` as one frame: the one place frames leave.
fn write_frame(link: &mut dyn Link, header: &Header, payload: &[u8]) -> Result<(), SendError> {
    let mut raw = [0u8; HEADER_LEN];
    header.encode(&mut raw);
    link.send_bytes(&[&raw, payload])?;
    Ok(())
}

/// Whether the process with `pid` still runs (a zombie counts as dead).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                // The state follows the parenthesised command name, which may hold spaces.
                let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
                !matches!(state, Some('Z') | Some('X') | None)
            }
            Err(_) => false,
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{FrameKind, fill_payload, payload_crc};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// An in-memory link that hands out at most `chunk` bytes per read, to exercise reassembly.
    struct MemLink {
        queue: Arc<Mutex<VecDeque<u8>>>,
        chunk: usize,
        flip_byte: Option<usize>,
        written: usize,
    }

    impl Link for MemLink {
        fn send_bytes(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
            let mut q = self.queue.lock().unwrap();
            for part in parts {
                for &b in *part {
                    let b = if Some(self.written) == self.flip_byte { b ^ 1 } else { b };
                    q.push_back(b);
                    self.written += 1;
                }
            }
            Ok(())
        }
        fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
            let mut q = self.queue.lock().unwrap();
            let n = buf.len().min(self.chunk).min(q.len());
            for slot in buf.iter_mut().take(n) {
                *slot = q.pop_front().unwrap();
            }
            Ok(n)
        }
    }

    fn pair(chunk: usize, flip_byte: Option<usize>) -> (Channel, Channel) {
        let q = Arc::new(Mutex::new(VecDeque::new()));
        let tx = MemLink { queue: q.clone(), chunk, flip_byte, written: 0 };
        let rx = MemLink { queue: q, chunk, flip_byte: None, written: 0 };
        (Channel::new(Box::new(tx), 1 << 20), Channel::new(Box::new(rx), 1 << 20))
    }

    fn header(seq: u64, payload: &[u8]) -> Header {
        Header {
            kind: FrameKind::Data,
            sender_id: 0,
            receiver_id: 1,
            seq,
            send_ts_nanos: 0,
            payload_len: payload.len() as u32,
            payload_crc: payload_crc(payload),
        }
    }

    #[test]
    fn frames_survive_being_read_one_byte_at_a_time() {
        let (mut tx, mut rx) = pair(1, None);
        for (seq, len) in [(0u64, 0usize), (1, 1), (2, 64), (3, 70_000)] {
            let mut payload = vec![0; len];
            fill_payload(&mut payload, seq);
            tx.send(header(seq, &payload), &payload).unwrap();
        }
        for (seq, len) in [(0u64, 0usize), (1, 1), (2, 64), (3, 70_000)] {
            let got = rx.recv().unwrap().unwrap();
            assert_eq!(got.header.seq, seq);
            assert_eq!(got.payload.len(), len);
            assert!(got.intact());
        }
        assert!(rx.recv().unwrap().is_none());
    }

    #[test]
    fn a_flipped_payload_bit_is_reported_not_intact() {
        let (mut tx, mut rx) = pair(4096, Some(HEADER_LEN + 10));
        let mut payload = vec![0; 64];
        fill_payload(&mut payload, 7);
        tx.send(header(7, &payload), &payload).unwrap();
        let got = rx.recv().unwrap().unwrap();
        assert_eq!(got.header.seq, 7);
        assert!(!got.intact());
    }

    #[test]
    fn a_flipped_header_bit_is_a_decode_error() {
        let (mut tx, mut rx) = pair(4096, Some(13));
        tx.send(header(1, &[]), &[]).unwrap();
        assert!(matches!(rx.recv(), Err(RecvError::Corrupt(_))));
    }

    #[test]
    fn a_stream_cut_mid_frame_is_an_error() {
        let q = Arc::new(Mutex::new(VecDeque::new()));
        let mut raw = [0u8; HEADER_LEN];
        header(1, &[0; 10]).encode(&mut raw);
        q.lock().unwrap().extend(raw.iter().copied().chain([0u8; 3]));
        let mut rx = Channel::new(Box::new(MemLink { queue: q, chunk: 64, flip_byte: None, written: 0 }), 1024);
        assert!(rx.recv().is_err());
    }

    #[test]
    fn oversized_send_is_refused() {
        let (mut tx, _rx) = pair(64, None);
        let payload = vec![0; (1 << 20) + 1];
        assert!(matches!(tx.send(header(0, &payload), &payload), Err(SendError::TooLarge { .. })));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_reused_pid_is_not_taken_for_the_peer() {
        let me = std::process::id();
        let start = process_start_time(me).expect("own start time");
        assert!(peer_alive(me, Some(start)));
        assert!(!peer_alive(me, Some(start + 1)), "same PID, another start time: another process");
        assert!(!peer_alive(u32::MAX - 1, None));
    }

    #[test]
    fn mechanism_ids_parse_and_reject_unknown_names() {
        for m in MechanismId::ALL {
            assert_eq!(m.as_str().parse::<MechanismId>(), Ok(m));
        }
        let err = "carrier-pigeon".parse::<MechanismId>().unwrap_err();
        assert!(err.contains("unknown mechanism 'carrier-pigeon'"), "{err}");
    }
}
