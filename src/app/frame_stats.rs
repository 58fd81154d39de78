//! `--frame-stats`: how much CPU each frame costs the UI thread, frames per second and resident
//! memory, printed to stderr at a fixed interval so a long run can be judged afterwards.

use std::time::{Duration, Instant};

pub struct FrameStats {
    every: Duration,
    started: Instant,
    window_start: Instant,
    frames: Vec<u64>,
}

impl FrameStats {
    pub fn new(every: Duration) -> Self {
        let now = Instant::now();
        FrameStats { every, started: now, window_start: now, frames: Vec::with_capacity(4096) }
    }

    /// Records one frame's CPU time and prints a line when the interval is over.
    pub fn record(&mut self, cpu_nanos: u64) {
        self.frames.push(cpu_nanos);
        let elapsed = self.window_start.elapsed();
        if elapsed < self.every {
            return;
        }
        let mut f = std::mem::take(&mut self.frames);
        f.sort_unstable();
        let pct = |q: f64| f.get(((f.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0) as f64 / 1e6;
        eprintln!(
            "frame-stats: t={:.0}s frames={} fps={:.1} frame_cpu_ms p50={:.2} p99={:.2} max={:.2} rss_mib={:.1}",
            self.started.elapsed().as_secs_f64(),
            f.len(),
            f.len() as f64 / elapsed.as_secs_f64(),
            pct(0.5),
            pct(0.99),
            pct(1.0),
            rss_bytes() as f64 / (1024.0 * 1024.0)
        );
        self.window_start = Instant::now();
        f.clear();
        self.frames = f;
    }
}

/// CPU time of the calling thread (the UI thread), in nanoseconds.
pub fn thread_cpu_nanos() -> u64 {
    #[cfg(unix)]
    {
        crate::wire::clock_nanos(libc::CLOCK_THREAD_CPUTIME_ID)
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Resident set size of this process.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}
