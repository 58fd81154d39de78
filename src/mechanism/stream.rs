//! The byte-stream link shared by the kernel stream mechanisms (pipe, fifo, unix, tcp).
//!
//! Each of them hands us a reader and a writer over file descriptors; sending is one `writev` of
//! header and payload (one system call for a small frame), receiving is a plain `read` into the
//! channel's buffer, which usually brings a whole small frame in one call.

use std::io::{IoSlice, Read, Write};

use super::{Gauge, Link, LinkError, Queued, QueuedUnit};

/// Frames up to this size are sent with one write() of a contiguous copy; larger ones with writev().
const SMALL_FRAME: usize = 1024;

pub struct StreamLink {
    scratch: Vec<u8>,
    /// Own the descriptors (closing them on drop); on Unix the bytes move through rustix system
    /// calls on `read_fd` and `write_fd` instead.
    #[cfg_attr(unix, allow(dead_code))]
    reader: Box<dyn Read + Send>,
    #[cfg_attr(unix, allow(dead_code))]
    writer: Box<dyn Write + Send>,
    #[cfg(unix)]
    read_fd: std::os::fd::RawFd,
    #[cfg(unix)]
    write_fd: std::os::fd::RawFd,
    /// A pipe (both ends see one buffer) rather than a socket (a buffer at each end).
    pipe: bool,
}

impl StreamLink {
    /// `read_fd` and `write_fd` are the descriptors behind `reader` and `writer` (one socket may
    /// be both); `pipe` says whether they are pipe ends.
    #[cfg(unix)]
    pub fn new(
        reader: Box<dyn Read + Send>,
        writer: Box<dyn Write + Send>,
        read_fd: std::os::fd::RawFd,
        write_fd: std::os::fd::RawFd,
        pipe: bool,
    ) -> Self {
        StreamLink { scratch: Vec::with_capacity(SMALL_FRAME), reader, writer, read_fd, write_fd, pipe }
    }

    #[cfg(not(unix))]
    pub fn new(reader: Box<dyn Read + Send>, writer: Box<dyn Write + Send>) -> Self {
        StreamLink { scratch: Vec::with_capacity(SMALL_FRAME), reader, writer, pipe: false }
    }
}

impl StreamLink {
    /// One write(2). On Linux a raw system call (rustix): the C library's wrapper is a cancellation point,
    /// which in a multithreaded process (every worker is one) costs two extra atomic updates per
    /// call, measurable on a 2 µs round trip.
    fn write_some(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        {
            // SAFETY: write_fd is open for as long as this link lives (its writer owns it).
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.write_fd) };
            rustix::io::write(fd, bytes).map_err(std::io::Error::from)
        }
        #[cfg(not(unix))]
        self.writer.write(bytes)
    }

    /// One writev(2), raw on Linux like [`StreamLink::write_some`].
    fn writev_some(&mut self, slices: &[IoSlice<'_>]) -> std::io::Result<usize> {
        #[cfg(unix)]
        {
            // SAFETY: as in write_some.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.write_fd) };
            rustix::io::writev(fd, slices).map_err(std::io::Error::from)
        }
        #[cfg(not(unix))]
        self.writer.write_vectored(slices)
    }

    /// One read(2), raw on Linux like [`StreamLink::write_some`].
    fn read_some(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        {
            // SAFETY: read_fd is open for as long as this link lives (its reader owns it).
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.read_fd) };
            rustix::io::read(fd, buf).map_err(std::io::Error::from)
        }
        #[cfg(not(unix))]
        self.reader.read(buf)
    }
}

impl Link for StreamLink {
    fn send_bytes(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total <= SMALL_FRAME {
            // Copying a small frame into one buffer and calling write() is cheaper than having the
            // kernel import an iovec for writev().
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            for p in parts {
                scratch.extend_from_slice(p);
            }
            let mut at = 0;
            let mut result = Ok(());
            while at < scratch.len() {
                match self.write_some(&scratch[at..]) {
                    Ok(0) => {
                        result = Err(LinkError::PeerGone("write returned 0".into()));
                        break;
                    }
                    Ok(n) => at += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        result = Err(LinkError::io("write", e));
                        break;
                    }
                }
            }
            self.scratch = scratch;
            return result;
        }
        let mut slices = [IoSlice::new(&[]); 4];
        let mut used = 0;
        for p in parts.iter().filter(|p| !p.is_empty()) {
            if used == slices.len() {
                return Err(LinkError::io("write", std::io::Error::other("a frame has at most four parts")));
            }
            slices[used] = IoSlice::new(p);
            used += 1;
        }
        let mut slices = &mut slices[..used];
        while !slices.is_empty() {
            match self.writev_some(slices) {
                Ok(0) => return Err(LinkError::PeerGone("write returned 0".into())),
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::io("write", e)),
            }
        }
        Ok(())
    }

    fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        loop {
            match self.read_some(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::io("read", e)),
            }
        }
    }

    #[cfg(unix)]
    fn gauge(&self) -> Option<std::sync::Arc<dyn Gauge>> {
        use std::os::fd::BorrowedFd;
        // SAFETY: both descriptors are open for as long as this link lives, which is now.
        let dup = |fd| unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned().ok();
        let pipe_capacity = self.pipe.then(|| pipe_capacity(self.read_fd));
        let gauge = StreamGauge { read: dup(self.read_fd)?, write: dup(self.write_fd)?, pipe_capacity };
        Some(std::sync::Arc::new(gauge))
    }
}

/// Reads a stream's fill through descriptors of its own (duplicates), so it never touches a
/// descriptor the link has closed. They live in the same process as the link, so they do not
/// keep a dead peer's channel open.
#[cfg(unix)]
struct StreamGauge {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
    /// A pipe's capacity (F_GETPIPE_SZ, both ends see one buffer), read once; `None` for a socket.
    pipe_capacity: Option<Option<u64>>,
}

/// The request type of ioctl(2) differs between C libraries.
#[cfg(target_os = "linux")]
type IoctlRequest = libc::Ioctl;
#[cfg(all(unix, not(target_os = "linux")))]
type IoctlRequest = libc::c_ulong;

#[cfg(unix)]
fn ioctl_int(fd: &std::os::fd::OwnedFd, request: IoctlRequest) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD and SIOCOUTQ write one c_int through the pointer; the fd is open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, &mut n) };
    (rc == 0 && n >= 0).then_some(n as u64)
}

#[cfg(unix)]
impl Gauge for StreamGauge {
    fn receiving(&self) -> Option<Queued> {
        let amount = ioctl_int(&self.read, libc::FIONREAD)?;
        let capacity = self.pipe_capacity.flatten();
        Some(Queued { amount, unit: QueuedUnit::Bytes, capacity, at_sender: false })
    }

    fn sending(&self) -> Option<Queued> {
        if let Some(capacity) = self.pipe_capacity {
            // FIONREAD works on either end of a pipe: the bytes the reader has not read yet.
            let amount = ioctl_int(&self.write, libc::FIONREAD)?;
            return Some(Queued { amount, unit: QueuedUnit::Bytes, capacity, at_sender: false });
        }
        #[cfg(target_os = "linux")]
        {
            let amount = ioctl_int(&self.write, libc::TIOCOUTQ)?; // SIOCOUTQ
            Some(Queued { amount, unit: QueuedUnit::Bytes, capacity: None, at_sender: true })
        }
        #[cfg(not(target_os = "linux"))]
        None
    }
}

/// Capacity of the pipe behind `fd` (Linux F_GETPIPE_SZ).
#[cfg(unix)]
pub fn pipe_capacity(fd: std::os::fd::RawFd) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: F_GETPIPE_SZ takes no argument and only reads the fd's state.
        let rc = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
        (rc > 0).then_some(rc as u64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        None
    }
}
