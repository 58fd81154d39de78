//! `fifo`: named pipes (mkfifo) in a private per-run directory, one per direction.
//!
//! Opening a FIFO blocks until the other side opens it too; that rendezvous is the start-up
//! handshake. The two peers open the two FIFOs in the same order (initiator→responder first), so
//! neither waits on a FIFO the other has not reached yet.

use std::fs::OpenOptions;
use std::path::Path;

use super::stream::StreamLink;
use super::{Link, LinkError};

/// Opens the FIFO pair. `initiator` is the side that writes `forward` and reads `backward`.
#[cfg(unix)]
pub fn open(forward: &Path, backward: &Path, initiator: bool) -> Result<Box<dyn Link>, LinkError> {
    use std::os::fd::AsRawFd;
    let open_read =
        |p: &Path| OpenOptions::new().read(true).open(p).map_err(|e| LinkError::io("open fifo for reading", e));
    let open_write =
        |p: &Path| OpenOptions::new().write(true).open(p).map_err(|e| LinkError::io("open fifo for writing", e));
    let (reader, writer) = if initiator {
        let w = open_write(forward)?;
        (open_read(backward)?, w)
    } else {
        let r = open_read(forward)?;
        (r, open_write(backward)?)
    };
    let (rfd, wfd) = (reader.as_raw_fd(), writer.as_raw_fd());
    Ok(Box::new(StreamLink::new(Box::new(reader), Box::new(writer), rfd, wfd, true)))
}

/// Creates a FIFO at `path` readable and writable by the owner only.
#[cfg(unix)]
pub fn create(path: &Path) -> std::io::Result<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(Into::into)
}
