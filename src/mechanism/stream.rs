//! The byte-stream link shared by the kernel stream mechanisms (pipe, fifo, unix, tcp).
//!
//! Each of them hands us a reader and a writer over file descriptors; sending is one `writev` of
//! header and payload (one system call for a small frame), receiving is a plain `read` into the
//! channel's buffer, which usually brings a whole small frame in one call.

use std::io::{IoSlice, Read, Write};

use super::{Link, LinkError, Queued, QueuedUnit};

/// Frames up to this size are sent with one write() of a contiguous copy; larger ones with writev().
const SMALL_FRAME: usize = 1024;

pub struct StreamLink {
    scratch: Vec<u8>,
    reader: Box<dyn Read + Send>,
    writer: Box<dyn Write + Send>,
    #[cfg(unix)]
    read_fd: std::os::fd::RawFd,
    /// Kernel buffer capacity of the read side, where it is known (a pipe's F_GETPIPE_SZ).
    capacity: Option<u64>,
}

impl StreamLink {
    #[cfg(unix)]
    pub fn new(
        reader: Box<dyn Read + Send>,
        writer: Box<dyn Write + Send>,
        read_fd: std::os::fd::RawFd,
        capacity: Option<u64>,
    ) -> Self {
        StreamLink { scratch: Vec::with_capacity(SMALL_FRAME), reader, writer, read_fd, capacity }
    }

    #[cfg(not(unix))]
    pub fn new(reader: Box<dyn Read + Send>, writer: Box<dyn Write + Send>) -> Self {
        StreamLink { reader, writer, capacity: None }
    }
}

impl Link for StreamLink {
    fn send_bytes(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total <= SMALL_FRAME {
            // Copying a small frame into one buffer and calling write() is cheaper than having the
            // kernel import an iovec for writev().
            self.scratch.clear();
            for p in parts {
                self.scratch.extend_from_slice(p);
            }
            let mut at = 0;
            while at < self.scratch.len() {
                match self.writer.write(&self.scratch[at..]) {
                    Ok(0) => return Err(LinkError::PeerGone("write returned 0".into())),
                    Ok(n) => at += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(LinkError::io("write", e)),
                }
            }
            return Ok(());
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
            match self.writer.write_vectored(slices) {
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
            match self.reader.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::io("read", e)),
            }
        }
    }

    fn queued(&self) -> Option<Queued> {
        #[cfg(unix)]
        {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD writes one c_int through the pointer; the fd is owned by `reader`.
            let rc = unsafe { libc::ioctl(self.read_fd, libc::FIONREAD, &mut n) };
            (rc == 0).then_some(Queued { amount: n as u64, unit: QueuedUnit::Bytes, capacity: self.capacity })
        }
        #[cfg(not(unix))]
        {
            None
        }
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
