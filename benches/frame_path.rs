//! Cost of the per-message work every mechanism shares (framing, checksums, clock, accounting),
//! without any IPC: `cargo bench --bench frame_path`. What a round trip costs beyond this is the
//! mechanism's own.

use std::hint::black_box;
use std::time::Instant;

use ipc_lab::accounting::SeqTracker;
use ipc_lab::wire::{FrameKind, HEADER_LEN, Header, fill_payload, monotonic_nanos, payload_crc};

fn time(name: &str, iters: u64, mut f: impl FnMut(u64)) {
    for i in 0..iters / 10 {
        f(i);
    }
    let t = Instant::now();
    for i in 0..iters {
        f(i);
    }
    println!("{name:<40} {:>8.1} ns", t.elapsed().as_nanos() as f64 / iters as f64);
}

fn main() {
    let n = 2_000_000;
    for size in [64usize, 4096] {
        let mut payload = vec![0u8; size];
        fill_payload(&mut payload, 1);
        time(&format!("payload crc32, {size} B"), n, |_| {
            black_box(payload_crc(black_box(&payload)));
        });
    }
    let header = Header {
        kind: FrameKind::Data,
        sender_id: 0,
        receiver_id: 1,
        seq: 7,
        send_ts_nanos: 1,
        payload_len: 64,
        payload_crc: 3,
    };
    let mut raw = [0u8; HEADER_LEN];
    time("header encode", n, |i| {
        let h = Header { seq: i, ..header };
        h.encode(black_box(&mut raw));
    });
    time("header decode", n, |_| {
        black_box(Header::decode(black_box(&raw), 1 << 24).ok());
    });
    time("clock_gettime(CLOCK_MONOTONIC)", n, |_| {
        black_box(monotonic_nanos());
    });
    let mut tracker = SeqTracker::default();
    time("sequence accounting", n, |i| tracker.record(i, true));
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
    time("histogram record", n, |i| hist.saturating_record(400 + (i & 255)));
}
