//! `mqueue`: POSIX message queues, one per direction.
//!
//! The supervisor creates both queues (`mq_open` with `O_CREAT | O_EXCL`) with the configured depth
//! and message size, and removes their names once both workers hold them open. A frame larger than
//! one message is **fragmented**: it goes out as consecutive messages of at most `mq_msgsize` bytes,
//! each frame starting a new message, and the receiver reassembles the byte stream. A zero-length
//! message marks a clean close. Queues have no notion of a dead peer. A receive blocks with no
//! timeout (a timed wait arms a kernel timer on every blocking receive, ~70 ns a message here):
//! a watcher thread waits on a pidfd of the peer and, when the peer dies, posts a *peer gone*
//! marker into the queue we read. Data travels at priority 1 and the close and the marker at
//! priority 0, so both are read only after every message the peer sent; the close is empty, the
//! marker one byte. Sends are non-blocking; on a full queue the sender polls for room and checks
//! the peer's PID every [`PEER_CHECK_INTERVAL`](super::PEER_CHECK_INTERVAL). Without pidfds
//! (Linux before 5.3) receives time out and check the PID as well.

use super::{Gauge, Link, LinkError, Queued, QueuedUnit, peer_alive, process_start_time};

/// Linux's default per-queue limits for unprivileged users (`/proc/sys/fs/mqueue/`).
pub const DEFAULT_DEPTH: usize = 10;
pub const DEFAULT_MSG_SIZE: usize = 8192;

pub fn availability() -> Result<(), String> {
    if cfg!(target_os = "linux") {
        Ok(())
    } else {
        Err("POSIX message queues with timed send/receive are only wired up for Linux".into())
    }
}

#[cfg(target_os = "linux")]
fn cname(name: &str) -> Result<std::ffi::CString, LinkError> {
    std::ffi::CString::new(name).map_err(|_| LinkError::io("mq name", std::io::Error::other("name holds a NUL byte")))
}

/// Reads a limit under /proc/sys/fs/mqueue, for error messages.
fn proc_limit(file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/fs/mqueue/{file}")).ok()?.trim().parse().ok()
}

/// Creates the queue `name` (starting with '/') with `depth` messages of `msg_size` bytes.
#[cfg(target_os = "linux")]
pub fn create(name: &str, depth: usize, msg_size: usize) -> Result<(), LinkError> {
    let cname = cname(name)?;
    // SAFETY: mq_attr is plain data; zeroed is a valid starting value.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = depth as libc::c_long;
    attr.mq_msgsize = msg_size as libc::c_long;
    // SAFETY: a valid C string and attribute pointer; the mode is passed as the variadic argument.
    let mqd = unsafe {
        libc::mq_open(
            cname.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
            0o600 as libc::mode_t,
            &attr as *const libc::mq_attr,
        )
    };
    if mqd == -1 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINVAL) || err.raw_os_error() == Some(libc::EMFILE) {
            return Err(LinkError::io(
                "mq_open",
                std::io::Error::other(format!(
                    "{err}: depth {depth} × {msg_size} B is over this system's limits (msg_max {}, msgsize_max {}, RLIMIT_MSGQUEUE)",
                    proc_limit("msg_max").map_or("?".into(), |v| v.to_string()),
                    proc_limit("msgsize_max").map_or("?".into(), |v| v.to_string()),
                )),
            ));
        }
        return Err(LinkError::io("mq_open", err));
    }
    // SAFETY: closing the descriptor we just opened.
    unsafe { libc::mq_close(mqd) };
    Ok(())
}

#[cfg(target_os = "linux")]
pub fn unlink(name: &str) -> std::io::Result<()> {
    let cname = cname(name).map_err(|e| std::io::Error::other(e.to_string()))?;
    // SAFETY: a valid C string.
    if unsafe { libc::mq_unlink(cname.as_ptr()) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(target_os = "linux")]
pub struct MqLink {
    tx: libc::mqd_t,
    rx: libc::mqd_t,
    msg_size: usize,
    depth: u64,
    peer_pid: u32,
    /// The peer's start time read at open, so a reused PID is not taken for the peer.
    peer_start: Option<u64>,
    chunk: Vec<u8>,
    /// The watcher thread's stop flag, when one watches the peer (receives then block untimed).
    watcher: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The watcher's marker has been read: every later receive fails at once (no second marker).
    peer_gone: bool,
}

/// Priority of data messages; the close and the *peer gone* marker go at 0, behind all data.
#[cfg(target_os = "linux")]
const DATA_PRIORITY: u32 = 1;
/// Length of the *peer gone* marker (the clean close is empty).
#[cfg(target_os = "linux")]
const PEER_GONE_MARKER: &[u8] = b"x";

/// Starts a thread that posts [`PEER_GONE_MARKER`] into `rx` (the queue this process reads) when
/// process `pid` exits. Returns its stop flag, or `None` when pidfds are not available.
#[cfg(target_os = "linux")]
fn watch_peer(rx: libc::mqd_t, pid: u32, start: Option<u64>) -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    if pid == 0 {
        return None;
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if raw < 0 {
        return None;
    }
    // SAFETY: pidfd_open returned a descriptor we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    // The thread writes through its own duplicate of rx, so it never uses a descriptor the link
    // has closed. SAFETY: rx is open (the link holds it).
    let queue = unsafe { BorrowedFd::borrow_raw(rx) }.try_clone_to_owned().ok()?;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let theirs = stop.clone();
    let spawned = std::thread::Builder::new().name("mq-peer-watch".into()).spawn(move || {
        // The pidfd names the process alive at open; only a reused PID (another start time)
        // means ours was already gone. A failed /proc read proves nothing: trust the pidfd.
        let reused = matches!((start, super::process_start_time(pid)), (Some(a), Some(b)) if a != b);
        let mut gone = reused;
        while !gone && !theirs.load(Ordering::Relaxed) {
            let mut fds = [libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
            // SAFETY: one valid pollfd. The timeout only lets the thread end after the link.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, 200) };
            gone = rc > 0 && fds[0].revents != 0;
        }
        // Post the marker once there is room (the reader may still be draining a full queue).
        while gone && !theirs.load(Ordering::Relaxed) {
            let dl = super::realtime_deadline(super::PEER_CHECK_INTERVAL);
            let marker = PEER_GONE_MARKER;
            // SAFETY: a valid buffer and deadline; the queue descriptor is ours.
            let rc = unsafe { libc::mq_timedsend(queue.as_raw_fd(), marker.as_ptr().cast(), marker.len(), 0, &dl) };
            let retry = rc != 0
                && matches!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ETIMEDOUT | libc::EINTR));
            if !retry {
                break;
            }
        }
    });
    spawned.ok().map(|_| stop)
}

/// Opens the existing queues `tx_name` (to write) and `rx_name` (to read).
#[cfg(target_os = "linux")]
pub fn open(tx_name: &str, rx_name: &str, peer_pid: u32) -> Result<Box<dyn Link>, LinkError> {
    let open = |name: &str, flags| -> Result<libc::mqd_t, LinkError> {
        let c = cname(name)?;
        // SAFETY: a valid C string; no O_CREAT, so no variadic arguments are read.
        let mqd = unsafe { libc::mq_open(c.as_ptr(), flags) };
        if mqd == -1 { Err(LinkError::io("mq_open", std::io::Error::last_os_error())) } else { Ok(mqd) }
    };
    // Non-blocking: a send that finds room (the common case) is one system call with no deadline
    // to compute and copy in; a full queue is waited out with poll (see send_message).
    let tx = open(tx_name, libc::O_WRONLY | libc::O_NONBLOCK)?;
    // Read and write: the peer watcher posts its marker through a duplicate of this descriptor.
    let rx = match open(rx_name, libc::O_RDWR) {
        Ok(rx) => rx,
        Err(e) => {
            // SAFETY: closing the descriptor opened just above.
            unsafe { libc::mq_close(tx) };
            return Err(e);
        }
    };
    // SAFETY: mq_attr is plain data filled by mq_getattr.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: rx is an open queue descriptor.
    unsafe { libc::mq_getattr(rx, &mut attr) };
    let msg_size = attr.mq_msgsize.max(1) as usize;
    let peer_start = process_start_time(peer_pid);
    Ok(Box::new(MqLink {
        tx,
        rx,
        msg_size,
        depth: attr.mq_maxmsg as u64,
        peer_pid,
        peer_start,
        chunk: Vec::with_capacity(msg_size),
        watcher: watch_peer(rx, peer_pid, peer_start),
        peer_gone: false,
    }))
}

#[cfg(target_os = "linux")]
impl MqLink {
    fn send_message(&self, msg: &[u8]) -> Result<(), LinkError> {
        let mut waiting_since: Option<std::time::Instant> = None;
        loop {
            // The raw system call, not the C library's cancellation-point wrapper (see
            // StreamLink::write_some); tx is non-blocking, so a full queue says EAGAIN.
            // SAFETY: msg is a valid buffer of msg.len() <= mq_msgsize bytes; tx is open for writing.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_mq_timedsend,
                    self.tx,
                    msg.as_ptr(),
                    msg.len(),
                    DATA_PRIORITY,
                    std::ptr::null::<libc::timespec>(),
                )
            };
            if rc == 0 {
                return Ok(());
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN) => {
                    // Full: wait for room (a queue descriptor polls writable when it has some),
                    // and check the peer every PEER_CHECK_INTERVAL of waiting.
                    let since = *waiting_since.get_or_insert_with(std::time::Instant::now);
                    let left = super::PEER_CHECK_INTERVAL.saturating_sub(since.elapsed());
                    let mut fds = [libc::pollfd { fd: self.tx, events: libc::POLLOUT, revents: 0 }];
                    // SAFETY: one valid pollfd on our open queue descriptor.
                    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, left.as_millis().max(1) as libc::c_int) };
                    if ready == 0 && since.elapsed() >= super::PEER_CHECK_INTERVAL {
                        self.check_peer()?;
                        waiting_since = Some(std::time::Instant::now());
                    }
                }
                Some(libc::EINTR) => {}
                _ => return Err(LinkError::io("mq_send", err)),
            }
        }
    }

    fn check_peer(&self) -> Result<(), LinkError> {
        if self.peer_pid != 0 && !peer_alive(self.peer_pid, self.peer_start) {
            return Err(LinkError::PeerGone(format!("peer process {} died", self.peer_pid)));
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
impl Link for MqLink {
    fn send_bytes(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.clear();
        let mut result = Ok(());
        'parts: for part in parts {
            let mut rest = *part;
            while !rest.is_empty() {
                let take = rest.len().min(self.msg_size - chunk.len());
                chunk.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if chunk.len() == self.msg_size {
                    result = self.send_message(&chunk);
                    chunk.clear();
                    if result.is_err() {
                        break 'parts;
                    }
                }
            }
        }
        if result.is_ok() && !chunk.is_empty() {
            result = self.send_message(&chunk);
        }
        self.chunk = chunk;
        result
    }

    fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        if self.peer_gone {
            return Err(LinkError::PeerGone(format!("peer process {} died", self.peer_pid)));
        }
        loop {
            // With a watcher, block untimed: the watcher's marker ends the wait if the peer dies.
            let dl = self.watcher.is_none().then(|| super::realtime_deadline(super::PEER_CHECK_INTERVAL));
            let dl_ptr = dl.as_ref().map_or(std::ptr::null(), |d| d as *const libc::timespec);
            let mut prio: libc::c_uint = 0;
            // SAFETY: buf holds at least mq_msgsize bytes (min_read_len); rx is open for reading.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_mq_timedreceive,
                    self.rx,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut prio as *mut _,
                    dl_ptr,
                )
            };
            if n >= 0 {
                if prio == DATA_PRIORITY {
                    return Ok(n as usize);
                }
                if n == 0 {
                    // The peer's clean close.
                    return Ok(0);
                }
                // The watcher's marker: the peer is gone and every message it sent has been read.
                self.peer_gone = true;
                return Err(LinkError::PeerGone(format!("peer process {} died", self.peer_pid)));
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ETIMEDOUT) => self.check_peer()?,
                Some(libc::EINTR) => {}
                _ => return Err(LinkError::io("mq_receive", err)),
            }
        }
    }

    fn min_read_len(&self) -> usize {
        self.msg_size
    }

    fn gauge(&self) -> Option<std::sync::Arc<dyn Gauge>> {
        use std::os::fd::BorrowedFd;
        // On Linux a message-queue descriptor is a file descriptor: duplicate both so the gauge
        // never reads one the link has closed. SAFETY: both are open while the link lives.
        let dup = |fd| unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned().ok();
        Some(std::sync::Arc::new(MqGauge { tx: dup(self.tx)?, rx: dup(self.rx)?, depth: self.depth }))
    }
}

#[cfg(target_os = "linux")]
struct MqGauge {
    tx: std::os::fd::OwnedFd,
    rx: std::os::fd::OwnedFd,
    depth: u64,
}

#[cfg(target_os = "linux")]
impl MqGauge {
    fn fill(&self, fd: &std::os::fd::OwnedFd) -> Option<Queued> {
        use std::os::fd::AsRawFd;
        // SAFETY: mq_attr is plain data filled by mq_getattr on an open descriptor.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::mq_getattr(fd.as_raw_fd(), &mut attr) };
        (rc == 0).then_some(Queued {
            amount: attr.mq_curmsgs as u64,
            unit: QueuedUnit::Messages,
            capacity: Some(self.depth),
            at_sender: false,
        })
    }
}

#[cfg(target_os = "linux")]
impl Gauge for MqGauge {
    fn receiving(&self) -> Option<Queued> {
        self.fill(&self.rx)
    }
    fn sending(&self) -> Option<Queued> {
        self.fill(&self.tx)
    }
}

#[cfg(target_os = "linux")]
impl Drop for MqLink {
    fn drop(&mut self) {
        if let Some(stop) = &self.watcher {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        // Say goodbye with an empty message if there is room (tx is non-blocking); a full queue
        // means the reader is not reading, and it learns of our end when we exit, from its
        // watcher's marker (or its PID check).
        // SAFETY: both descriptors are open and owned by this link.
        unsafe {
            libc::mq_send(self.tx, [].as_ptr(), 0, 0);
            libc::mq_close(self.tx);
            libc::mq_close(self.rx);
        }
    }
}
