//! `tcp`: TCP over loopback with TCP_NODELAY.
//!
//! The responder binds an ephemeral port and reports the address; the supervisor forwards it to
//! the initiator. Nagle's algorithm is off on both ends so a small frame leaves at once.

use std::net::{TcpListener, TcpStream};

use super::stream::StreamLink;
use super::{Link, LinkError};

pub struct Listening(TcpListener);

/// Binds `host:0` and returns the listener with the address it got.
pub fn listen(host: &str) -> Result<(Listening, String), LinkError> {
    let listener = TcpListener::bind((host, 0)).map_err(|e| LinkError::io("bind tcp", e))?;
    let addr = listener.local_addr().map_err(|e| LinkError::io("tcp local address", e))?;
    Ok((Listening(listener), addr.to_string()))
}

impl Listening {
    pub fn accept(self) -> Result<Box<dyn Link>, LinkError> {
        let (stream, _) = self.0.accept().map_err(|e| LinkError::io("accept", e))?;
        wrap(stream)
    }
}

pub fn connect(addr: &str) -> Result<Box<dyn Link>, LinkError> {
    let stream = TcpStream::connect(addr).map_err(|e| LinkError::io("connect tcp", e))?;
    wrap(stream)
}

fn wrap(stream: TcpStream) -> Result<Box<dyn Link>, LinkError> {
    stream.set_nodelay(true).map_err(|e| LinkError::io("set TCP_NODELAY", e))?;
    let reader = stream.try_clone().map_err(|e| LinkError::io("clone socket", e))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let fd = reader.as_raw_fd();
        Ok(Box::new(StreamLink::new(Box::new(reader), Box::new(stream), fd, fd, false)))
    }
    #[cfg(not(unix))]
    Ok(Box::new(StreamLink::new(Box::new(reader), Box::new(stream))))
}
