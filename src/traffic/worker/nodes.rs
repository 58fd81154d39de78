//! The node programs: pinger, echo, producer (with fault injection), relay and consumer (one
//! link, or several on a thread each for fan-in), each a loop of real sends and receives with a
//! step gate before every operation.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crossbeam::channel::unbounded;

use super::meter::{Meter, NodeCells, cpu_secs};
use super::{Pacer, PortSpec, Shared, stamp_seq};
use crate::faults::Action;
use crate::mechanism::{Channel, Link};
use crate::telemetry::{Op, Role, RoleStats};
use crate::traffic::spec::{Program, RunSpec};
use crate::wire::{FrameKind, Header, monotonic_nanos};

#[inline]
pub(super) fn header(role: Role, peer: Role, kind: FrameKind, seq: u64) -> Header {
    Header {
        kind,
        sender_id: role.wire_id(),
        receiver_id: peer.wire_id(),
        seq,
        send_ts_nanos: monotonic_nanos(),
        payload_len: 0,
        payload_crc: 0,
    }
}

/// Runs one node's program over its ports until done, stopped, or failed.
pub(super) fn play(
    role: Role,
    program: Program,
    ports: Vec<(PortSpec, Box<dyn Link>)>,
    run: &RunSpec,
    cells: Arc<NodeCells>,
    control: &Arc<Shared>,
    thread_only: bool,
) -> Result<RoleStats, String> {
    let specs: Vec<PortSpec> = ports.iter().map(|(p, _)| p.clone()).collect();
    let mut meter = Meter::new(role, &specs, run, cells.clone(), control.clone(), thread_only)?;
    let mut channels: Vec<Channel> = ports.into_iter().map(|(_, link)| Channel::new(link, run.max_payload)).collect();
    let total = run.warmup.saturating_add(run.count);
    let gate = |op, seq: &dyn Fn() -> u64| control.gates.pass(role, op, seq, &cells, &control.stop);
    let stopped = || control.stop.load(Ordering::Relaxed);
    let mut pacer = Pacer::new(run.rate_per_sec);
    let mut payload = Vec::new();
    payload.try_reserve_exact(run.size).map_err(|e| format!("cannot hold a payload of {} bytes: {e}", run.size))?;
    payload.resize(run.size, 0);
    crate::wire::fill_payload(&mut payload, 0);
    let need = |n: usize, what: &str| {
        if channels.len() == n { Ok(()) } else { Err(format!("a {what} needs {n} link(s), has {}", channels.len())) }
    };

    match program {
        Program::Pinger => {
            need(1, "pinger")?;
            let (ch, peer) = (&mut channels[0], specs[0].peer);
            for seq in 0..total {
                pacer.wait(&control.stop, control.gates.enabled());
                gate(Op::Send, &|| seq);
                if stopped() {
                    break;
                }
                stamp_seq(&mut payload, seq);
                // The checksum is computed before the clock is read: a round trip starts when the
                // frame is handed to the mechanism, as in the C ping-pong it is compared with.
                let crc = crate::wire::payload_crc(&payload);
                let h = header(role, peer, FrameKind::Data, seq);
                if seq == run.warmup {
                    meter.start_measuring(h.send_ts_nanos);
                }
                ch.send_with_crc(h, &payload, crc).map_err(|e| e.to_string())?;
                meter.on_sent(0, seq, payload.len(), h.send_ts_nanos);
                meter.after_op();
                gate(Op::Recv, &|| seq);
                let Some(reply) = ch.recv().map_err(|e| e.to_string())? else {
                    return Err(format!("peer ended the channel before replying to message {seq}"));
                };
                let rts = monotonic_nanos();
                let (rh, intact) = (reply.header, reply.intact());
                meter.on_received(0, &rh, intact, rts);
                if seq >= run.warmup {
                    meter.measured(rts.saturating_sub(h.send_ts_nanos), rts);
                }
                meter.after_op();
            }
            let sent = meter.sent();
            gate(Op::SendEnd, &|| sent);
            ch.send(header(role, peer, FrameKind::End, sent), &[]).map_err(|e| e.to_string())?;
        }
        Program::Echo => {
            need(1, "echo")?;
            let (ch, peer) = (&mut channels[0], specs[0].peer);
            loop {
                gate(Op::Recv, &|| meter.received());
                let Some(msg) = ch.recv().map_err(|e| e.to_string())? else {
                    return Err("peer ended the channel without saying end".into());
                };
                let rh = msg.header;
                if rh.kind == FrameKind::End {
                    break;
                }
                // The echo's receive time is only needed for telemetry; skip the clock otherwise.
                let rts = if meter.events || rh.seq == run.warmup { monotonic_nanos() } else { 0 };
                if rh.seq == run.warmup {
                    meter.start_measuring(rts);
                }
                // Count the receive before the gate of the reply, so a student stepping sees it.
                let count_now = meter.events && control.gates.enabled();
                if count_now {
                    let intact = ch.last_payload_intact(&rh);
                    meter.on_received(0, &rh, intact, rts);
                    meter.after_op();
                }
                gate(Op::Send, &|| rh.seq);
                // Reply first, then check and count: the verification stays off the round trip.
                let h = header(role, peer, FrameKind::Echo, rh.seq);
                ch.send_last_payload(h, rh.payload_crc).map_err(|e| e.to_string())?;
                if !count_now {
                    let intact = ch.last_payload_intact(&rh);
                    meter.on_received(0, &rh, intact, rts);
                }
                meter.on_sent(0, rh.seq, rh.payload_len as usize, h.send_ts_nanos);
                if rh.seq >= run.warmup {
                    meter.counted(h.send_ts_nanos);
                }
                meter.after_op();
            }
        }
        Program::Producer => {
            if channels.is_empty() {
                return Err("a producer needs at least one link".into());
            }
            // A frame held back per link by a reorder fault, sent right after the next one.
            let mut held: Vec<Option<(Header, Vec<u8>)>> = vec![None; channels.len()];
            // Every link carries warmup + count frames; with several links they are dealt in turn.
            'send: for seq in 0..total {
                for (i, ch) in channels.iter_mut().enumerate() {
                    pacer.wait(&control.stop, control.gates.enabled());
                    gate(Op::Send, &|| seq);
                    if stopped() {
                        break 'send;
                    }
                    stamp_seq(&mut payload, seq);
                    // Checksum first, then the clock (as the pinger does): one-way latency starts
                    // when the frame is handed to the mechanism.
                    let crc = crate::wire::payload_crc(&payload);
                    let h = header(role, specs[i].peer, FrameKind::Data, seq);
                    if seq == run.warmup && i == 0 {
                        meter.start_measuring(h.send_ts_nanos);
                    }
                    let action = match meter.ports[i].injector.as_mut() {
                        None => Action::Send,
                        Some(inj) => inj.decide(seq, payload.len(), seq + 1 == total),
                    };
                    match action {
                        Action::Send => {
                            ch.send_with_crc(h, &payload, crc).map_err(|e| e.to_string())?;
                            if let Some((hh, p)) = held[i].take() {
                                // This frame overtook the held one: now the held one, late
                                // (through a gate of its own: in step mode one send per step).
                                gate(Op::Send, &|| hh.seq);
                                ch.send(hh, &p).map_err(|e| e.to_string())?;
                                meter.on_injected(i, Action::Reorder);
                            }
                        }
                        Action::Drop => {}
                        Action::Duplicate => {
                            ch.send_with_crc(h, &payload, crc).map_err(|e| e.to_string())?;
                            gate(Op::Send, &|| seq);
                            ch.send_with_crc(h, &payload, crc).map_err(|e| e.to_string())?;
                        }
                        Action::Reorder => held[i] = Some((h, payload.clone())),
                        Action::Corrupt(at) => {
                            payload[at] ^= 0xA5;
                            let sent = ch.send_with_crc(h, &payload, crc);
                            payload[at] ^= 0xA5;
                            sent.map_err(|e| e.to_string())?;
                        }
                    }
                    if !matches!(action, Action::Send | Action::Reorder) {
                        meter.on_injected(i, action);
                    }
                    // A dropped frame was sent as far as the application knows: the channel lost it.
                    meter.on_sent(i, seq, payload.len(), h.send_ts_nanos);
                    if seq >= run.warmup {
                        meter.counted(h.send_ts_nanos);
                    }
                    meter.after_op();
                }
            }
            for (i, ch) in channels.iter_mut().enumerate() {
                // Stopped before a held frame was overtaken: it goes out in order after all.
                if let Some((hh, p)) = held[i].take() {
                    gate(Op::Send, &|| hh.seq);
                    ch.send(hh, &p).map_err(|e| e.to_string())?;
                }
                let sent = meter.ports[i].sent;
                gate(Op::SendEnd, &|| sent);
                ch.send(header(role, specs[i].peer, FrameKind::End, sent), &[]).map_err(|e| e.to_string())?;
            }
        }
        Program::Relay => {
            need(2, "relay")?;
            let inbound = specs.iter().position(|p| !p.upstream).ok_or("a relay needs an inbound link")?;
            let outbound = 1 - inbound;
            let (first, second) = channels.split_at_mut(1);
            let (inc, out) =
                if inbound == 0 { (&mut first[0], &mut second[0]) } else { (&mut second[0], &mut first[0]) };
            let out_peer = specs[outbound].peer;
            loop {
                gate(Op::Recv, &|| meter.received());
                let Some(msg) = inc.recv().map_err(|e| e.to_string())? else {
                    return Err("upstream ended the channel without saying end".into());
                };
                let rts = monotonic_nanos();
                let rh = msg.header;
                if rh.kind == FrameKind::End {
                    let sent = meter.ports[outbound].sent;
                    gate(Op::SendEnd, &|| sent);
                    out.send(header(role, out_peer, FrameKind::End, sent), &[]).map_err(|e| e.to_string())?;
                    break;
                }
                let intact = msg.intact();
                let unique_before = meter.ports[inbound].tracker.accounting().unique;
                meter.on_received(inbound, &rh, intact, rts);
                let distinct = meter.ports[inbound].tracker.accounting().unique > unique_before;
                if rh.seq >= run.warmup {
                    meter.start_measuring(rh.send_ts_nanos);
                    meter.measured(rts.saturating_sub(rh.send_ts_nanos), rts);
                }
                meter.after_op();
                gate(Op::Send, &|| rh.seq);
                // Pass it on unchanged: same sequence number, the producer's send time (so the
                // consumer measures end to end) and the checksum it came with.
                let fwd = Header { sender_id: role.wire_id(), receiver_id: out_peer.wire_id(), ..rh };
                // Only telemetry reads this hop's send time: no clock read when nobody watches.
                let forwarded_at = if meter.events { monotonic_nanos() } else { 0 };
                out.forward_last_payload_of(inc, fwd).map_err(|e| e.to_string())?;
                // Telemetry gets this hop's own send time; the frame keeps the producer's.
                meter.on_sent_counted(outbound, rh.seq, rh.payload_len as usize, forwarded_at, distinct);
                meter.after_op();
            }
        }
        Program::Consumer => {
            if channels.len() == 1 {
                consume(0, &mut channels[0], &mut meter, run, &gate)?;
            } else {
                return consume_many(role, channels, meter, run, control, thread_only);
            }
        }
    }
    Ok(meter.finish())
}

/// A consumer's loop over one port.
pub(super) fn consume(
    port: usize,
    ch: &mut Channel,
    meter: &mut Meter,
    run: &RunSpec,
    gate: &dyn Fn(Op, &dyn Fn() -> u64),
) -> Result<(), String> {
    loop {
        gate(Op::Recv, &|| meter.ports[port].tracker.accounting().received);
        let Some(msg) = ch.recv().map_err(|e| e.to_string())? else {
            return Err("peer ended the channel without saying end".into());
        };
        let rts = monotonic_nanos();
        let (rh, intact) = (msg.header, msg.intact());
        if rh.kind == FrameKind::End {
            return Ok(());
        }
        meter.on_received(port, &rh, intact, rts);
        if rh.seq >= run.warmup {
            meter.start_measuring(rh.send_ts_nanos);
            meter.measured(rts.saturating_sub(rh.send_ts_nanos), rts);
        }
        meter.after_op();
    }
}

/// A consumer with several inbound links (fan-in): one thread per link, one shared meter. The
/// first link to fail fails the node; threads blocked on live producers end with the process.
pub(super) fn consume_many(
    role: Role,
    channels: Vec<Channel>,
    meter: Meter,
    run: &RunSpec,
    control: &Arc<Shared>,
    thread_only: bool,
) -> Result<RoleStats, String> {
    let cells = meter.cells.clone();
    let mut meter = meter;
    // Per-thread CPU (the thread baseline): the link threads below do the work and count it.
    meter.cpu_own = !thread_only;
    let meter = Arc::new(Mutex::new(meter));
    let (done_tx, done_rx) = unbounded();
    let n = channels.len();
    for (port, mut ch) in channels.into_iter().enumerate() {
        let (meter, run, control, done, cells) =
            (meter.clone(), run.clone(), control.clone(), done_tx.clone(), cells.clone());
        std::thread::Builder::new()
            .name(format!("node-{}-link-{port}", role.0))
            .spawn(move || {
                let gate = |op, seq: &dyn Fn() -> u64| control.gates.pass(role, op, seq, &cells, &control.stop);
                let lock = || meter.lock().unwrap_or_else(|p| p.into_inner());
                // In the thread baseline the node's CPU is these threads' own (RUSAGE_THREAD).
                let mut cpu_start: Option<f64> = None;
                let result = loop {
                    gate(Op::Recv, &|| lock().ports[port].tracker.accounting().received);
                    let msg = match ch.recv() {
                        Ok(Some(m)) => m,
                        Ok(None) => break Err("peer ended the channel without saying end".to_string()),
                        Err(e) => break Err(e.to_string()),
                    };
                    let rts = monotonic_nanos();
                    let (rh, intact) = (msg.header, msg.intact());
                    if rh.kind == FrameKind::End {
                        break Ok(());
                    }
                    let mut m = lock();
                    m.on_received(port, &rh, intact, rts);
                    if rh.seq >= run.warmup {
                        if thread_only && cpu_start.is_none() {
                            cpu_start = Some(cpu_secs(true));
                        }
                        m.start_measuring(rh.send_ts_nanos);
                        m.measured(rts.saturating_sub(rh.send_ts_nanos), rts);
                    }
                    m.after_op();
                };
                if let Some(c0) = cpu_start {
                    lock().cpu_extra += cpu_secs(true) - c0;
                }
                // Let go of the meter before saying done, so the last one out can take it back.
                drop(meter);
                let _ = done.send(result);
            })
            .map_err(|e| format!("cannot start a consumer thread: {e}"))?;
    }
    drop(done_tx);
    for _ in 0..n {
        match done_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("a consumer thread ended without a word".into()),
        }
    }
    let meter = Arc::try_unwrap(meter).map_err(|_| "consumer threads still hold the meter")?;
    Ok(meter.into_inner().unwrap_or_else(|p| p.into_inner()).finish())
}
