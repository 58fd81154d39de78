//! `shm`: a single-producer single-consumer ring buffer in POSIX shared memory, one per direction.
//!
//! The supervisor creates the segment (`shm_open` under a per-run name), sizes it and initialises
//! both rings, including their process-shared semaphores; each worker maps it and takes one ring to
//! write and the other to read. The ring is a byte stream of frames: a frame up to a chunk (128 KiB,
//! at most a 16th of the ring) is published at once with one commit word, so the reader sees it
//! whole; a larger frame (up to 16 MiB) streams through in chunks, the reader copying one out while
//! the writer fills the next.
//!
//! Waiting for data (reader) or space (writer) uses the wake-up strategy chosen at run start:
//! - `spin`: busy-wait on the index, yielding the CPU every few thousand spins so a run pinned to
//!   one core still progresses; no wake-up call at all on the writer's side.
//! - `futex`: sleep in `FUTEX_WAIT` on a sequence word in the segment; the writer calls
//!   `FUTEX_WAKE` only when the reader has said it is about to sleep.
//! - `semaphore`: the same protocol with a process-shared POSIX semaphore (`sem_post`/`sem_timedwait`).
//!
//! Nothing tells a sleeper that its peer died, so every sleep times out after
//! [`PEER_CHECK_INTERVAL`](super::PEER_CHECK_INTERVAL) and checks the peer's PID, which each side
//! writes into the ring control block when it attaches.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::Instant;

use crossbeam::utils::CachePadded;

use super::{Gauge, Link, LinkError, PEER_CHECK_INTERVAL, Queued, QueuedUnit, ShmWait, peer_alive};

/// Default capacity of each ring: sixteen 128 KiB chunks.
pub const DEFAULT_RING_BYTES: usize = 2 * 1024 * 1024;
const SEGMENT_MAGIC: u64 = u64::from_le_bytes(*b"IPCLSHM1");
const PAGE: usize = 4096;

pub fn availability() -> Result<(), String> {
    if cfg!(target_os = "linux") {
        Ok(())
    } else {
        Err("shared-memory rings here use Linux futexes and process-shared semaphores".into())
    }
}

#[repr(C)]
struct Event {
    seq: AtomicU32,
    armed: AtomicU32,
    #[cfg(target_os = "linux")]
    sem: libc::sem_t,
}

#[repr(C)]
struct RingCtl {
    tail: CachePadded<AtomicU64>,
    head: CachePadded<AtomicU64>,
    /// The reader sleeps here waiting for data.
    data: CachePadded<Event>,
    /// The writer sleeps here waiting for space.
    space: CachePadded<Event>,
    producer_pid: AtomicU32,
    consumer_pid: AtomicU32,
    /// Start times of the two processes, so a reused PID is not taken for the peer.
    producer_start: AtomicU64,
    consumer_start: AtomicU64,
    producer_closed: AtomicU32,
    consumer_closed: AtomicU32,
    capacity: AtomicU64,
}

#[repr(C)]
struct SegmentHeader {
    magic: AtomicU64,
    ring_bytes: AtomicU64,
}

fn ctl_span() -> usize {
    std::mem::size_of::<RingCtl>().div_ceil(PAGE) * PAGE
}

fn segment_len(ring_bytes: usize) -> usize {
    PAGE + 2 * (ctl_span() + ring_bytes)
}

fn ring_offset(ring: usize, ring_bytes: usize) -> usize {
    PAGE + ring * (ctl_span() + ring_bytes)
}

/// A mapping of the whole segment.
struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all cross-thread access goes through atomics in the
// control blocks, and each ring's data area is written by one side and read by the other in the
// ranges the indices hand over.
unsafe impl Send for Mapping {}
// SAFETY: shared access goes through the atomics of the control blocks only (see above).
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len come from a successful mmap and nothing borrows the mapping any more.
        unsafe {
            let _ = nix::sys::mman::munmap(std::ptr::NonNull::new_unchecked(self.base.cast()), self.len);
        }
    }
}

#[cfg(target_os = "linux")]
fn map(name: &str, create_len: Option<usize>) -> Result<Mapping, LinkError> {
    use nix::fcntl::OFlag;
    use nix::sys::mman::{MapFlags, ProtFlags, mmap, shm_open};
    use nix::sys::stat::Mode;
    let flags = if create_len.is_some() { OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL } else { OFlag::O_RDWR };
    let fd = shm_open(name, flags, Mode::from_bits_truncate(0o600)).map_err(|e| LinkError::io("shm_open", e.into()))?;
    let len = match create_len {
        Some(len) => {
            nix::unistd::ftruncate(&fd, len as i64).map_err(|e| LinkError::io("ftruncate shm", e.into()))?;
            len
        }
        None => nix::sys::stat::fstat(&fd).map_err(|e| LinkError::io("fstat shm", e.into()))?.st_size as usize,
    };
    if len < segment_len(0) {
        return Err(LinkError::io("map shm", std::io::Error::other(format!("segment of {len} bytes is too small"))));
    }
    let size = std::num::NonZeroUsize::new(len)
        .ok_or_else(|| LinkError::io("map shm", std::io::Error::other("empty segment")))?;
    // SAFETY: a fresh shared mapping of a file we opened; no Rust reference aliases it yet.
    let ptr = unsafe { mmap(None, size, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, &fd, 0) }
        .map_err(|e| LinkError::io("mmap shm", e.into()))?;
    Ok(Mapping { base: ptr.as_ptr().cast(), len })
}

impl Mapping {
    fn header(&self) -> &SegmentHeader {
        // SAFETY: the segment is at least one page, page-aligned, and SegmentHeader is atomics only.
        unsafe { &*(self.base as *const SegmentHeader) }
    }
    fn ring_bytes(&self) -> usize {
        self.header().ring_bytes.load(Ordering::Acquire) as usize
    }
    fn ctl(&self, ring: usize) -> &RingCtl {
        let off = ring_offset(ring, self.ring_bytes());
        // SAFETY: `off` lies inside the mapping (checked against the length at attach time) and is
        // page-aligned; RingCtl holds atomics and a sem_t that only libc touches.
        unsafe { &*(self.base.add(off) as *const RingCtl) }
    }
    fn data(&self, ring: usize) -> *mut u8 {
        // SAFETY: the data area follows the control span inside the mapping.
        unsafe { self.base.add(ring_offset(ring, self.ring_bytes()) + ctl_span()) }
    }
}

/// Creates and initialises the segment `name` (a `/name` for shm_open) with two rings.
#[cfg(target_os = "linux")]
pub fn create(name: &str, ring_bytes: usize) -> Result<(), LinkError> {
    let ring_bytes = ring_bytes.max(PAGE).next_power_of_two();
    let map = map(name, Some(segment_len(ring_bytes)))?;
    map.header().ring_bytes.store(ring_bytes as u64, Ordering::Release);
    for ring in 0..2 {
        let ctl = map.ctl(ring);
        ctl.capacity.store(ring_bytes as u64, Ordering::Relaxed);
        for ev in [&*ctl.data, &*ctl.space] {
            // SAFETY: the semaphore lives in shared memory that outlives every user; pshared = 1.
            let rc = unsafe { libc::sem_init(&ev.sem as *const libc::sem_t as *mut libc::sem_t, 1, 0) };
            if rc != 0 {
                return Err(LinkError::io("sem_init", std::io::Error::last_os_error()));
            }
        }
    }
    map.header().magic.store(SEGMENT_MAGIC, Ordering::Release);
    Ok(())
}

/// Removes the segment's name; mappings stay valid until unmapped.
#[cfg(target_os = "linux")]
pub fn unlink(name: &str) -> std::io::Result<()> {
    nix::sys::mman::shm_unlink(name).map_err(Into::into)
}

pub struct ShmLink {
    map: std::sync::Arc<Mapping>,
    tx: usize,
    rx: usize,
    wait: ShmWait,
    cap: u64,
    /// Writer side: stream position of the next chunk, chunks written, last head seen.
    tail: u64,
    tx_chunks: u64,
    cached_head: u64,
    /// Reader side: stream position of the current chunk, chunks read, and how much of the
    /// current chunk (`rx_len` bytes, `None` when waiting for the next) has been handed out.
    head: u64,
    rx_chunks: u64,
    rx_len: Option<u64>,
    rx_off: u64,
}

/// Each chunk starts on a cache line with an 8-byte commit word: the chunk's tag (its index + 1,
/// 40 bits) and length (24 bits). The reader spins on the word where the next chunk will start,
/// so one cache-line transfer brings it both the signal and the first 56 bytes of data.
const LINE: u64 = 64;
const WORD: u64 = 8;
const LEN_BITS: u32 = 24;
const MAX_CHUNK: u64 = (1 << LEN_BITS) - 1;
/// Largest chunk the writer publishes at once (and at most a 16th of the ring): 128 KiB keeps a
/// chunk in the caches, and a 1 MiB frame in eight pieces the reader copies out while the writer
/// fills the next. Measured (`bench -m shm --shm-wait spin --pin 0,1`, 2 MiB ring): 1 MiB ping-pong
/// 217 → 157 µs, 256 KiB 51 → 41 µs, a 1 MiB stream 7.2 → 8.7 GB/s against whole-frame chunks.
const CHUNK_MAX: u64 = 128 * 1024;

fn chunk_span(len: u64) -> u64 {
    (WORD + len).div_ceil(LINE) * LINE
}

fn commit_word(chunk: u64, len: u64) -> u64 {
    ((chunk + 1) << LEN_BITS) | len
}

/// Attaches to segment `name` as `open` does, and records `peer_pid` as the other side until the
/// peer attaches and records itself: a peer that dies before attaching is then noticed too.
#[cfg(target_os = "linux")]
pub fn open_expecting(name: &str, tx_ring: usize, wait: ShmWait, peer_pid: u32) -> Result<Box<dyn Link>, LinkError> {
    let link = open(name, tx_ring, wait)?;
    if peer_pid != 0 {
        let map = map(name, None)?;
        let (tx, rx) = (tx_ring & 1, (tx_ring + 1) & 1);
        let _ = map.ctl(rx).producer_pid.compare_exchange(0, peer_pid, Ordering::AcqRel, Ordering::Relaxed);
        let _ = map.ctl(tx).consumer_pid.compare_exchange(0, peer_pid, Ordering::AcqRel, Ordering::Relaxed);
    }
    Ok(link)
}

/// Attaches to segment `name`, writing ring `tx_ring` and reading the other.
#[cfg(target_os = "linux")]
pub fn open(name: &str, tx_ring: usize, wait: ShmWait) -> Result<Box<dyn Link>, LinkError> {
    let map = map(name, None)?;
    if map.header().magic.load(Ordering::Acquire) != SEGMENT_MAGIC {
        return Err(LinkError::io("attach shm", std::io::Error::other("segment is not an initialised ipc-lab ring")));
    }
    let ring_bytes = map.ring_bytes();
    if !ring_bytes.is_power_of_two() || segment_len(ring_bytes) > map.len {
        return Err(LinkError::io("attach shm", std::io::Error::other("segment header disagrees with its size")));
    }
    let (tx, rx) = (tx_ring & 1, (tx_ring + 1) & 1);
    let pid = std::process::id();
    let start = super::process_start_time(pid).unwrap_or(0);
    map.ctl(tx).producer_start.store(start, Ordering::Relaxed);
    map.ctl(rx).consumer_start.store(start, Ordering::Relaxed);
    map.ctl(tx).producer_pid.store(pid, Ordering::Release);
    map.ctl(rx).consumer_pid.store(pid, Ordering::Release);
    Ok(Box::new(ShmLink {
        map: std::sync::Arc::new(map),
        tx,
        rx,
        wait,
        cap: ring_bytes as u64,
        tail: 0,
        tx_chunks: 0,
        cached_head: 0,
        head: 0,
        rx_chunks: 0,
        rx_len: None,
        rx_off: 0,
    }))
}

/// Which side of a ring a waiter is on, to know whose death to watch for.
#[derive(Clone, Copy)]
enum Side {
    Writer,
    Reader,
}

impl ShmLink {
    /// Waits until `ready()` holds, sleeping on `event` per the wake-up strategy. Returns an error
    /// when the peer closed or died while we waited.
    fn wait_until(&self, ring: usize, side: Side, mut ready: impl FnMut() -> bool) -> Result<(), LinkError> {
        let ctl = self.map.ctl(ring);
        let event = match side {
            Side::Writer => &*ctl.space,
            Side::Reader => &*ctl.data,
        };
        // The clock starts when the wait turns into sleeping (or after the first few thousand
        // spins), so the peer is checked PEER_CHECK_INTERVAL after the wait began, not after
        // the first sleep ended: a dead peer is noticed within the interval. A spinning reader
        // that finds data within a few thousand spins never reads the clock.
        let mut waiting_since: Option<Instant> = None;
        let mut spins: u32 = 0;
        loop {
            if ready() {
                return Ok(());
            }
            match self.wait {
                ShmWait::Spin => {
                    std::hint::spin_loop();
                    spins = spins.wrapping_add(1);
                    if !spins.is_multiple_of(4096) {
                        continue;
                    }
                    std::thread::yield_now();
                }
                ShmWait::Futex | ShmWait::Semaphore => {
                    let seen = event.seq.load(Ordering::Acquire);
                    event.armed.store(1, Ordering::SeqCst);
                    fence(Ordering::SeqCst);
                    if ready() {
                        event.armed.store(0, Ordering::Relaxed);
                        return Ok(());
                    }
                    let since = *waiting_since.get_or_insert_with(Instant::now);
                    let left = PEER_CHECK_INTERVAL.saturating_sub(since.elapsed());
                    sleep_on(event, seen, self.wait, left.max(std::time::Duration::from_millis(1)));
                }
            }
            let since = *waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= PEER_CHECK_INTERVAL {
                waiting_since = Some(Instant::now());
                self.check_peer(ctl, side)?;
            } else if matches!(side, Side::Writer) && ctl.consumer_closed.load(Ordering::Acquire) != 0 {
                return Err(LinkError::PeerGone("reader closed the ring".into()));
            }
        }
    }

    fn check_peer(&self, ctl: &RingCtl, side: Side) -> Result<(), LinkError> {
        let (pid, start, closed) = match side {
            Side::Writer => (
                ctl.consumer_pid.load(Ordering::Acquire),
                ctl.consumer_start.load(Ordering::Relaxed),
                ctl.consumer_closed.load(Ordering::Acquire),
            ),
            Side::Reader => (ctl.producer_pid.load(Ordering::Acquire), ctl.producer_start.load(Ordering::Relaxed), 0),
        };
        if closed != 0 {
            return Err(LinkError::PeerGone("reader closed the ring".into()));
        }
        if pid != 0 && pid != std::process::id() && !peer_alive(pid, (start != 0).then_some(start)) {
            return Err(LinkError::PeerGone(format!("peer process {pid} died")));
        }
        Ok(())
    }

    fn notify(&self, event: &Event) {
        if self.wait == ShmWait::Spin {
            return;
        }
        event.seq.fetch_add(1, Ordering::Release);
        fence(Ordering::SeqCst);
        if event.armed.swap(0, Ordering::SeqCst) == 1 {
            wake(event, self.wait);
        }
    }

    /// Copies `src` into the ring's data area at stream position `pos`, wrapping at the end.
    fn copy_in(&self, ring: usize, pos: u64, src: &[u8]) {
        let data = self.map.data(ring);
        let at = (pos & (self.cap - 1)) as usize;
        let first = src.len().min(self.cap as usize - at);
        // SAFETY: the writer owns [tail, head + cap) of the stream, which the caller checked holds
        // `src.len()` bytes; both copies stay inside the data area.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), data.add(at), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), data, src.len() - first);
        }
    }

    fn copy_out(&self, ring: usize, pos: u64, dst: &mut [u8]) {
        let data = self.map.data(ring);
        let at = (pos & (self.cap - 1)) as usize;
        let first = dst.len().min(self.cap as usize - at);
        // SAFETY: the reader owns [head, tail) of the stream, which the caller checked holds
        // `dst.len()` bytes; both copies stay inside the data area.
        unsafe {
            std::ptr::copy_nonoverlapping(data.add(at), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(data, dst.as_mut_ptr().add(first), dst.len() - first);
        }
    }
}

impl ShmLink {
    fn word(&self, ring: usize, pos: u64) -> &AtomicU64 {
        // SAFETY: chunk positions are multiples of LINE and the capacity is a power of two of at
        // least a page, so the word is 8-byte aligned and inside the data area.
        unsafe { &*(self.map.data(ring).add((pos & (self.cap - 1)) as usize) as *const AtomicU64) }
    }
}

impl Link for ShmLink {
    fn send_bytes(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
        let ctl = self.map.ctl(self.tx);
        let mut remaining: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let (mut part, mut offset) = (0usize, 0usize);
        // A frame up to a chunk goes out whole; a larger one in chunks, so the reader drains one
        // while the writer fills the next (even within one frame of a ping-pong).
        let whole = (self.cap / 16).min(CHUNK_MAX) - WORD;
        let piece = whole;
        while remaining > 0 {
            let len = if remaining <= whole { remaining } else { piece };
            let span = chunk_span(len);
            // Room for the chunk and for the next chunk's commit word, which is cleared before
            // this one is committed: the reader never mistakes old bytes there for a commit.
            let need = span + WORD;
            if self.tail + need - self.cached_head > self.cap {
                let (cap, tail) = (self.cap, self.tail);
                let head_ref = &ctl.head;
                let mut head = self.cached_head;
                self.wait_until(self.tx, Side::Writer, || {
                    head = head_ref.load(Ordering::Acquire);
                    tail + need - head <= cap
                })?;
                self.cached_head = head;
            }
            let mut pos = self.tail + WORD;
            let mut n = len;
            while n > 0 {
                let src = &parts[part][offset..];
                let take = src.len().min(n as usize);
                self.copy_in(self.tx, pos, &src[..take]);
                pos += take as u64;
                n -= take as u64;
                offset += take;
                if offset == parts[part].len() {
                    part += 1;
                    offset = 0;
                }
            }
            self.word(self.tx, self.tail + span).store(0, Ordering::Relaxed);
            self.word(self.tx, self.tail).store(commit_word(self.tx_chunks, len), Ordering::Release);
            self.tail += span;
            self.tx_chunks += 1;
            remaining -= len;
            // Occupancy for `queued()`; readers of data never look at it.
            ctl.tail.store(self.tail, Ordering::Release);
            self.notify(&ctl.data);
        }
        Ok(())
    }

    fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        let ctl = self.map.ctl(self.rx);
        let len = match self.rx_len {
            Some(len) => len,
            None => {
                let tag = self.rx_chunks + 1;
                let word = self.word(self.rx, self.head);
                let closed = &ctl.producer_closed;
                let mut seen = 0u64;
                let mut ended = false;
                self.wait_until(self.rx, Side::Reader, || {
                    seen = word.load(Ordering::Acquire);
                    if seen >> LEN_BITS == tag {
                        return true;
                    }
                    ended = closed.load(Ordering::Acquire) != 0;
                    // The writer may have committed and closed between the two loads.
                    if ended {
                        seen = word.load(Ordering::Acquire);
                    }
                    ended
                })?;
                if seen >> LEN_BITS != tag {
                    return Ok(0);
                }
                let len = seen & MAX_CHUNK;
                self.rx_len = Some(len);
                self.rx_off = 0;
                len
            }
        };
        let n = (len - self.rx_off).min(buf.len() as u64) as usize;
        self.copy_out(self.rx, self.head + WORD + self.rx_off, &mut buf[..n]);
        self.rx_off += n as u64;
        if self.rx_off == len {
            self.head += chunk_span(len);
            self.rx_chunks += 1;
            self.rx_len = None;
            ctl.head.store(self.head, Ordering::Release);
            self.notify(&ctl.space);
        }
        Ok(n)
    }

    fn gauge(&self) -> Option<std::sync::Arc<dyn Gauge>> {
        Some(std::sync::Arc::new(ShmGauge { map: self.map.clone(), tx: self.tx, rx: self.rx, cap: self.cap }))
    }
}

/// Ring occupancy, read from the control blocks both sides see.
struct ShmGauge {
    map: std::sync::Arc<Mapping>,
    tx: usize,
    rx: usize,
    cap: u64,
}

impl ShmGauge {
    fn fill(&self, ring: usize) -> Queued {
        let ctl = self.map.ctl(ring);
        let amount = ctl.tail.load(Ordering::Acquire).saturating_sub(ctl.head.load(Ordering::Acquire));
        Queued { amount: amount.min(self.cap), unit: QueuedUnit::Bytes, capacity: Some(self.cap), at_sender: false }
    }
}

impl Gauge for ShmGauge {
    fn receiving(&self) -> Option<Queued> {
        Some(self.fill(self.rx))
    }
    fn sending(&self) -> Option<Queued> {
        Some(self.fill(self.tx))
    }
}

impl Drop for ShmLink {
    fn drop(&mut self) {
        let tx = self.map.ctl(self.tx);
        tx.producer_closed.store(1, Ordering::Release);
        let rx = self.map.ctl(self.rx);
        rx.consumer_closed.store(1, Ordering::Release);
        // Wake a sleeper on either ring whatever the strategy, so it sees the close at once.
        if self.wait != ShmWait::Spin {
            self.notify(&tx.data);
            self.notify(&rx.space);
        }
    }
}

/// Sleeps until woken or `timeout` passes; any outcome (woken, timed out, interrupted, the
/// word already changed) sends the caller round its loop.
#[cfg(target_os = "linux")]
fn sleep_on(event: &Event, seen: u32, wait: ShmWait, timeout: std::time::Duration) {
    match wait {
        ShmWait::Futex => {
            let t = libc::timespec {
                tv_sec: timeout.as_secs() as libc::time_t,
                tv_nsec: timeout.subsec_nanos() as libc::c_long,
            };
            // SAFETY: FUTEX_WAIT on a u32 in shared memory (so not FUTEX_PRIVATE), with a relative
            // timeout.
            unsafe {
                libc::syscall(libc::SYS_futex, event.seq.as_ptr(), libc::FUTEX_WAIT, seen, &t as *const libc::timespec);
            }
        }
        ShmWait::Semaphore => {
            let deadline = super::realtime_deadline(timeout);
            // SAFETY: a semaphore initialised with pshared = 1 by `create`; a valid deadline.
            unsafe {
                libc::sem_timedwait(&event.sem as *const libc::sem_t as *mut libc::sem_t, &deadline);
            }
        }
        ShmWait::Spin => {}
    }
}

#[cfg(target_os = "linux")]
fn wake(event: &Event, wait: ShmWait) {
    match wait {
        // SAFETY: FUTEX_WAKE on the shared word; wakes at most the one reader or writer.
        ShmWait::Futex => unsafe {
            libc::syscall(libc::SYS_futex, event.seq.as_ptr(), libc::FUTEX_WAKE, 1);
        },
        // SAFETY: posting a process-shared semaphore initialised by `create`.
        ShmWait::Semaphore => unsafe {
            libc::sem_post(&event.sem as *const libc::sem_t as *mut libc::sem_t);
        },
        ShmWait::Spin => {}
    }
}
