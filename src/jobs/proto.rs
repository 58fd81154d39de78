//! What crosses between a job's coordinator and its workers. Over a mechanism every message is a
//! `wire` frame (checksummed, counted like any other): a control message is a frame whose
//! payload is `J` and JSON; a chunk's items follow their task as frames of `I` and raw
//! little-endian u64s. Threads and tasks pass the same messages over channels.
//!
//! The exchange is request and reply: a worker's `Hello` and each `Result` ask for the next
//! task, and the coordinator answers each with exactly one `Task` or `Shutdown` (it may hold the
//! answer back while there is nothing to give). `Heartbeat`s, sent while computing, need none.

use serde::{Deserialize, Serialize};

use super::compute::Partial;
use crate::mechanism::{Channel, RecvError};
use crate::wire::{FrameKind, Header};

/// Items per frame when a chunk's data travels: 256 KiB.
pub const ITEMS_PER_FRAME: usize = 32 * 1024;
/// Largest frame payload a job's channel accepts.
pub const MAX_PAYLOAD: usize = ITEMS_PER_FRAME * 8 + 1;

/// Worker → coordinator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Up {
    /// Ready for work (the first request); `pid` of the worker's process. A worker from another
    /// host also says its host name, and, when it joins again after its link broke, which worker
    /// it was (`rejoins`).
    Hello {
        worker: u32,
        pid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rejoins: Option<u32>,
    },
    /// Still computing `chunk`; `done` items so far.
    Heartbeat { chunk: u32, done: u64 },
    /// A chunk's answer, and the request for the next.
    Result(ChunkResult),
}

/// One chunk's answer with the worker's own account of its time (CLOCK_MONOTONIC nanoseconds,
/// one clock for every process on the machine).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkResult {
    pub chunk: u32,
    pub partial: Partial,
    pub digest: u64,
    pub items: u64,
    /// When the worker began to wait for this task (its previous request went out).
    pub asked_ns: u64,
    /// When the task arrived; when all its items had arrived; when the computing ended.
    pub task_ns: u64,
    pub data_ns: u64,
    pub computed_ns: u64,
    /// Of computing, the part spent waiting (`--wait-ms`).
    pub waited_ns: u64,
    /// CPU time the computing took (thread CPU clock); the rest of the wall time between
    /// `data_ns` and `computed_ns`, less waiting, the worker was stopped or not scheduled.
    #[serde(default)]
    pub cpu_ns: u64,
    /// When the result left the worker (before any injected delay): with `task_ns`, the
    /// coordinator's send and arrival times give the round trip and the worker clock's offset.
    #[serde(default)]
    pub sent_ns: u64,
    /// Injected distance (`--inject delay`): how long the task was held on its way in (before
    /// `task_ns`) and the result on its way out (after `sent_ns`). Zero on a real network, whose
    /// time in transit no worker can see.
    #[serde(default)]
    pub delay_in_ns: u64,
    #[serde(default)]
    pub delay_out_ns: u64,
}

/// Coordinator → worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Down {
    /// Compute items `start..start+len`; with `items`, that many item frames follow.
    Task {
        chunk: u32,
        start: u64,
        len: u64,
        items: bool,
    },
    Shutdown,
}

fn header(seq: u64) -> Header {
    Header {
        kind: FrameKind::Data,
        sender_id: 0,
        receiver_id: 0,
        seq,
        send_ts_nanos: crate::wire::monotonic_nanos(),
        payload_len: 0,
        payload_crc: 0,
    }
}

/// Sends one control message as a `J` frame; returns the frame's size in bytes.
pub fn send_json<T: Serialize>(ch: &mut Channel, seq: u64, msg: &T) -> Result<u64, String> {
    let mut payload = vec![b'J'];
    serde_json::to_writer(&mut payload, msg).map_err(|e| e.to_string())?;
    ch.send(header(seq), &payload).map_err(|e| e.to_string())?;
    Ok((payload.len() + crate::wire::HEADER_LEN) as u64)
}

/// Sends a control message whose payload's byte at `flip` is flipped after the checksum
/// (fault injection: the receiver must see the checksum fail).
pub fn send_json_corrupted<T: Serialize>(ch: &mut Channel, seq: u64, msg: &T, flip: usize) -> Result<(), String> {
    let mut payload = vec![b'J'];
    serde_json::to_writer(&mut payload, msg).map_err(|e| e.to_string())?;
    let crc = crate::wire::payload_crc(&payload);
    let at = flip % payload.len();
    payload[at] ^= 0x20;
    ch.send_with_crc(header(seq), &payload, crc).map_err(|e| e.to_string())
}

/// Sends items as `I` frames of at most ITEMS_PER_FRAME each; returns the bytes sent.
pub fn send_items(ch: &mut Channel, seq: &mut u64, items: &[u64]) -> Result<u64, String> {
    let mut bytes = 0;
    let mut payload = Vec::with_capacity(ITEMS_PER_FRAME * 8 + 1);
    for part in items.chunks(ITEMS_PER_FRAME) {
        payload.clear();
        payload.push(b'I');
        for x in part {
            payload.extend_from_slice(&x.to_le_bytes());
        }
        *seq += 1;
        ch.send(header(*seq), &payload).map_err(|e| e.to_string())?;
        bytes += (payload.len() + crate::wire::HEADER_LEN) as u64;
    }
    Ok(bytes)
}

/// One received frame, as far as it could be read.
pub enum Incoming<T> {
    Msg(T),
    Items(Vec<u64>),
    /// The frame arrived but its checksum failed.
    Corrupt,
    /// The peer ended cleanly between frames.
    Closed,
}

/// Receives one frame and decodes it; a frame that is neither `J` with valid JSON nor `I` with
/// whole u64s is an error naming what was wrong.
pub fn recv<T: for<'de> Deserialize<'de>>(ch: &mut Channel) -> Result<Incoming<T>, String> {
    let r = match ch.recv() {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(Incoming::Closed),
        Err(RecvError::Link(e)) => return Err(e.to_string()),
        Err(e) => return Err(e.to_string()),
    };
    if !r.intact() {
        return Ok(Incoming::Corrupt);
    }
    match r.payload.split_first() {
        Some((b'J', json)) => serde_json::from_slice(json).map(Incoming::Msg).map_err(|e| format!("bad message: {e}")),
        Some((b'I', raw)) if raw.len().is_multiple_of(8) => {
            Ok(Incoming::Items(raw.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect()))
        }
        _ => Err(format!("a frame of {} bytes that is neither a message nor whole items", r.payload.len())),
    }
}
