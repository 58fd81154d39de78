//! How a process reaches its peer over one link: the endpoint a supervisor decides (which fds,
//! paths, names or address) and the two steps of opening it. The side that listens (a socket's
//! downstream end) binds in `prepare`, before its peer is started or told the address; every
//! endpoint is completed in `Pending::finish`. Traffic workers and job workers open their links
//! here, and so does a job's coordinator for its end.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Link, LinkError, ShmWait};
use crate::mechanism;

/// How a worker reaches its peer; decided by the supervisor, which owns every named resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mechanism", rename_all = "lowercase")]
pub enum EndpointSpec {
    Pipe {
        read_fd: i32,
        write_fd: i32,
    },
    /// `forward` carries initiator→responder, `backward` the reverse.
    Fifo {
        forward: PathBuf,
        backward: PathBuf,
    },
    Unix {
        path: PathBuf,
    },
    Tcp {
        host: String,
    },
    /// The initiator writes ring 0 and reads ring 1.
    Shm {
        name: String,
        wait: ShmWait,
    },
    Mqueue {
        forward: String,
        backward: String,
    },
    Thread,
}

/// An endpoint between `listening` and `ready`.
pub enum Pending {
    Nothing,
    Unix(mechanism::unix::Listening),
    Tcp(mechanism::tcp::Listening, String),
}

impl Pending {
    pub fn address(&self) -> Option<String> {
        match self {
            Pending::Tcp(_, addr) => Some(addr.clone()),
            _ => None,
        }
    }

    pub fn finish(
        self,
        endpoint: &EndpointSpec,
        initiator: bool,
        peer_address: Option<&str>,
        peer_pid: u32,
    ) -> Result<Box<dyn Link>, LinkError> {
        match (self, endpoint) {
            (Pending::Unix(listening), _) => listening.accept(),
            (Pending::Tcp(listening, _), _) => listening.accept(),
            #[cfg(unix)]
            (Pending::Nothing, EndpointSpec::Pipe { read_fd, write_fd }) => mechanism::pipe::open(*read_fd, *write_fd),
            #[cfg(unix)]
            (Pending::Nothing, EndpointSpec::Fifo { forward, backward }) => {
                mechanism::fifo::open(forward, backward, initiator)
            }
            (Pending::Nothing, EndpointSpec::Unix { path }) => mechanism::unix::connect(path),
            (Pending::Nothing, EndpointSpec::Tcp { .. }) => {
                let addr = peer_address.ok_or_else(|| LinkError::PeerGone("no TCP address for the peer".into()))?;
                mechanism::tcp::connect(addr)
            }
            #[cfg(target_os = "linux")]
            (Pending::Nothing, EndpointSpec::Shm { name, wait }) => {
                mechanism::shm::open_expecting(name, if initiator { 0 } else { 1 }, *wait, peer_pid)
            }
            #[cfg(target_os = "linux")]
            (Pending::Nothing, EndpointSpec::Mqueue { forward, backward }) => {
                let (tx, rx) = if initiator { (forward, backward) } else { (backward, forward) };
                mechanism::mqueue::open(tx, rx, peer_pid)
            }
            #[allow(unreachable_patterns)]
            (_, other) => Err(LinkError::io(
                "open endpoint",
                std::io::Error::other(format!("{other:?} is not available on this platform")),
            )),
        }
    }
}

/// The downstream end listens on sockets; every other endpoint is opened in `finish`.
pub fn prepare(endpoint: &EndpointSpec, upstream: bool) -> Result<Pending, LinkError> {
    match (endpoint, upstream) {
        (EndpointSpec::Unix { path }, false) => Ok(Pending::Unix(mechanism::unix::listen(path)?)),
        (EndpointSpec::Tcp { host }, false) => {
            let (l, addr) = mechanism::tcp::listen(host)?;
            Ok(Pending::Tcp(l, addr))
        }
        _ => Ok(Pending::Nothing),
    }
}
