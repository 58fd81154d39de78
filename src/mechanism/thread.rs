//! `thread`: two threads of one process over crossbeam channels, the baseline.
//!
//! It does everything the other mechanisms do (frames, checksums, copies into the receiver's
//! buffer) except cross a process boundary, so the difference in a bench table is that crossing.

use crossbeam::channel::{Receiver, Sender, bounded};

use super::{Gauge, Link, LinkError, Queued, QueuedUnit};

/// Frames in flight per direction before the sender blocks, like a pipe's buffer.
pub const DEPTH: usize = 1024;

pub struct ThreadLink {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    pending_at: usize,
}

/// Two connected ends.
pub fn pair() -> (ThreadLink, ThreadLink) {
    let (a_tx, b_rx) = bounded(DEPTH);
    let (b_tx, a_rx) = bounded(DEPTH);
    let end = |tx, rx| ThreadLink { tx, rx, pending: Vec::new(), pending_at: 0 };
    (end(a_tx, a_rx), end(b_tx, b_rx))
}

impl Link for ThreadLink {
    fn send_bytes(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
        let mut msg = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        for p in parts {
            msg.extend_from_slice(p);
        }
        self.tx.send(msg).map_err(|_| LinkError::PeerGone("receiving thread ended".into()))
    }

    fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        if self.pending_at == self.pending.len() {
            match self.rx.recv() {
                Ok(msg) => {
                    self.pending = msg;
                    self.pending_at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len() - self.pending_at);
        buf[..n].copy_from_slice(&self.pending[self.pending_at..self.pending_at + n]);
        self.pending_at += n;
        Ok(n)
    }

    fn gauge(&self) -> Option<std::sync::Arc<dyn Gauge>> {
        Some(std::sync::Arc::new(ThreadGauge { tx: self.tx.clone(), rx: self.rx.clone() }))
    }
}

/// Channel lengths. It holds clones of both ends, so a thread waiting for the other to hang up
/// would wait for the gauge too; no node does (every run ends with an End frame).
struct ThreadGauge {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
}

impl Gauge for ThreadGauge {
    fn receiving(&self) -> Option<Queued> {
        let amount = self.rx.len() as u64;
        Some(Queued { amount, unit: QueuedUnit::Messages, capacity: Some(DEPTH as u64), at_sender: false })
    }
    fn sending(&self) -> Option<Queued> {
        let amount = self.tx.len() as u64;
        Some(Queued { amount, unit: QueuedUnit::Messages, capacity: Some(DEPTH as u64), at_sender: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_peer_ends_the_stream_and_fails_sends() {
        let (mut a, b) = pair();
        drop(b);
        let mut buf = [0u8; 8];
        assert_eq!(a.recv_bytes(&mut buf).unwrap(), 0);
        assert!(matches!(a.send_bytes(&[b"x"]), Err(LinkError::PeerGone(_))));
    }
}
