//! `unix`: a Unix domain stream socket, through `interprocess` local sockets.
//!
//! The responder binds a socket file in the run's private directory and reports "listening"; the
//! supervisor then tells the initiator to connect. The listener is dropped after the one accept.

use std::path::Path;

use interprocess::local_socket::{GenericFilePath, ListenerOptions, Stream, ToFsName, prelude::*};

use super::stream::StreamLink;
use super::{Link, LinkError};

pub struct Listening(interprocess::local_socket::Listener);

pub fn listen(path: &Path) -> Result<Listening, LinkError> {
    let name = path.to_fs_name::<GenericFilePath>().map_err(|e| LinkError::io("socket name", e))?;
    let listener = ListenerOptions::new()
        .name(name)
        .reclaim_name(false)
        .create_sync()
        .map_err(|e| LinkError::io("bind unix socket", e))?;
    Ok(Listening(listener))
}

impl Listening {
    pub fn accept(self) -> Result<Box<dyn Link>, LinkError> {
        let stream = self.0.accept().map_err(|e| LinkError::io("accept", e))?;
        wrap(stream)
    }
}

pub fn connect(path: &Path) -> Result<Box<dyn Link>, LinkError> {
    let name = path.to_fs_name::<GenericFilePath>().map_err(|e| LinkError::io("socket name", e))?;
    let stream = Stream::connect(name).map_err(|e| LinkError::io("connect unix socket", e))?;
    wrap(stream)
}

fn wrap(stream: Stream) -> Result<Box<dyn Link>, LinkError> {
    let Stream::UdSocket(inner) = stream;
    let std_stream = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(inner));
    let reader = std_stream.try_clone().map_err(|e| LinkError::io("clone socket", e))?;
    use std::os::fd::AsRawFd;
    let fd = reader.as_raw_fd();
    Ok(Box::new(StreamLink::new(Box::new(reader), Box::new(std_stream), fd, fd, false)))
}
