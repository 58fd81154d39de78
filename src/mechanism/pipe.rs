//! `pipe`: anonymous pipes inherited by the child, one per direction.
//!
//! The supervisor creates both pipes (close-on-exec), clears close-on-exec on exactly the two ends
//! each child needs just before `exec`, and closes its own copies once both children run, so the
//! only holders of each end are the two workers and EOF means the peer is gone.

#[cfg(unix)]
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::stream::StreamLink;
use super::{Link, LinkError};

/// Wraps the inherited pipe ends `read_fd` and `write_fd` (both owned by this process from now on).
#[cfg(unix)]
pub fn open(read_fd: RawFd, write_fd: RawFd) -> Result<Box<dyn Link>, LinkError> {
    for fd in [read_fd, write_fd] {
        // Reject numbers that are not open descriptors rather than adopting a stranger's fd.
        nix::fcntl::fcntl(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, nix::fcntl::FcntlArg::F_GETFD)
            .map_err(|e| LinkError::io("inherit pipe fd", e.into()))?;
    }
    // SAFETY: the supervisor passed these descriptors to this process for its sole use, and they
    // were just checked to be open.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(read_fd), OwnedFd::from_raw_fd(write_fd)) };
    Ok(Box::new(StreamLink::new(
        Box::new(std::fs::File::from(reader)),
        Box::new(std::fs::File::from(writer)),
        read_fd,
        write_fd,
        true,
    )))
}
