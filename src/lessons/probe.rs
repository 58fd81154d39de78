//! Small real experiments a lesson page runs on this machine when it opens, for the facts a
//! student should see rather than be told (`{{measure:NAME}}`, like the limits in `measure`):
//! a shared-memory mapping outlives its name; shrinking the object under a mapping kills the
//! process that touches the lost page with SIGBUS; two counters on one cache line slow each
//! other down across cores (false sharing); a pipe between two threads costs about what it costs
//! between two processes, and what changes the time is whether they share a core. Each returns
//! numbers, never words; `measure` words them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What happened to a mapping after its name was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfterUnlink {
    /// `shm_open` of the name again failed with this errno (ENOENT: the name is gone).
    pub reopen_errno: i32,
    /// The value written through the mapping after the unlink, read back through it.
    pub read_back: u64,
}

/// Creates a shared-memory object, maps it, removes its name, and uses the mapping.
#[cfg(target_os = "linux")]
pub fn shm_after_unlink() -> Result<AfterUnlink, String> {
    use nix::fcntl::OFlag;
    use nix::sys::mman::{shm_open, shm_unlink};
    use nix::sys::stat::Mode;
    let name = probe_name("unlink");
    let fd = shm_open(name.as_str(), OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL, Mode::from_bits_truncate(0o600))
        .map_err(|e| format!("shm_open: {e}"))?;
    let map = Mapping::new(&fd, 4096);
    // The name goes first, whatever happens next: nothing is left behind.
    let _ = shm_unlink(name.as_str());
    let map = map?;
    map.word(0).store(42, Ordering::SeqCst);
    let reopen_errno = match shm_open(name.as_str(), OFlag::O_RDWR, Mode::empty()) {
        Ok(_) => 0,
        Err(e) => e as i32,
    };
    Ok(AfterUnlink { reopen_errno, read_back: map.word(0).load(Ordering::SeqCst) })
}

/// How a child that touched a page its object no longer has ended: the signal that killed it
/// (SIGBUS), or 0 if it exited.
#[cfg(target_os = "linux")]
pub fn shm_shrink_signal() -> Result<i32, String> {
    use nix::fcntl::OFlag;
    use nix::sys::mman::{shm_open, shm_unlink};
    use nix::sys::stat::Mode;
    use nix::sys::wait::{WaitStatus, waitpid};
    let name = probe_name("shrink");
    let fd = shm_open(name.as_str(), OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL, Mode::from_bits_truncate(0o600))
        .map_err(|e| format!("shm_open: {e}"))?;
    let _ = shm_unlink(name.as_str());
    let page = page_size();
    let map = Mapping::new(&fd, 2 * page)?;
    map.word(0).store(1, Ordering::SeqCst);
    // The object shrinks to one page under a two-page mapping.
    nix::unistd::ftruncate(&fd, page as i64).map_err(|e| format!("ftruncate: {e}"))?;
    let second = map.word(page / 8);
    // SAFETY: the child only touches the mapping and _exits (no allocation, no locks: this
    // process may have other threads); the parent waits for it.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        nix::unistd::ForkResult::Child => {
            second.store(7, Ordering::SeqCst);
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => match waitpid(child, None).map_err(|e| format!("waitpid: {e}"))? {
            WaitStatus::Signaled(_, signal, _) => Ok(signal as i32),
            WaitStatus::Exited(_, _) => Ok(0),
            other => Err(format!("the child ended as {other:?}")),
        },
    }
}

/// /dev/shm's size in bytes: a tmpfs, limited (by default half of RAM).
#[cfg(target_os = "linux")]
pub fn dev_shm_size() -> Result<u64, String> {
    let s = nix::sys::statvfs::statvfs("/dev/shm").map_err(|e| format!("statvfs /dev/shm: {e}"))?;
    Ok(s.blocks() as u64 * s.fragment_size() as u64)
}

/// Atomic increments per second per thread, two threads on two CPUs each bumping its own counter, with
/// the counters on one cache line and on two.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FalseSharing {
    pub same_line_per_sec: f64,
    pub apart_per_sec: f64,
}

impl FalseSharing {
    /// How many times faster the counters go on separate lines.
    pub fn ratio(&self) -> f64 {
        self.apart_per_sec / self.same_line_per_sec.max(1.0)
    }
}

#[repr(C, align(128))]
struct Lines {
    /// Two counters side by side: one cache line.
    near: [AtomicU64; 2],
    _pad: [u8; 112],
    /// A counter on a line (two, with the prefetcher's pair) of its own.
    far: AtomicU64,
}

/// Runs the two placements on CPUs 0 and 1 (or wherever the scheduler puts the threads when the
/// machine has one CPU), `run` each.
pub fn false_sharing(run: Duration) -> FalseSharing {
    let lines = Lines { near: [AtomicU64::new(0), AtomicU64::new(0)], _pad: [0; 112], far: AtomicU64::new(0) };
    let rate = |a: &AtomicU64, b: &AtomicU64| {
        let stop = AtomicBool::new(false);
        let stop = &stop;
        let count = |counter: &AtomicU64, cpu: usize| {
            pin_this_thread(cpu);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..1024 {
                    // An atomic increment, as a shared counter takes: it needs the line to
                    // itself. (A plain read and write hides in the store buffer: measured here
                    // 1.1x apart against 4.4x for this.)
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                n += 1024;
            }
            n
        };
        let (na, nb) = std::thread::scope(|s| {
            let count = &count;
            let ta = s.spawn(move || count(a, 0));
            let tb = s.spawn(move || count(b, 1));
            std::thread::sleep(run);
            stop.store(true, Ordering::Relaxed);
            (ta.join().unwrap_or(0), tb.join().unwrap_or(0))
        });
        (na + nb) as f64 / 2.0 / run.as_secs_f64()
    };
    FalseSharing {
        same_line_per_sec: rate(&lines.near[0], &lines.near[1]),
        apart_per_sec: rate(&lines.near[0], &lines.far),
    }
}

/// Median round trip, in nanoseconds, of a one-byte ping-pong over two pipes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Boundary {
    pub threads_same_core: f64,
    pub processes_same_core: f64,
    pub threads_cross_core: f64,
    pub processes_cross_core: f64,
}

/// The same pipe ping-pong between two threads of this process and between this process and a
/// forked child, both ends on CPU 0, then on CPUs 0 and 1: what crossing a process boundary
/// costs, apart from how the ends wake each other.
#[cfg(target_os = "linux")]
pub fn pipe_boundary(round_trips: u32) -> Result<Boundary, String> {
    let mut out = [0.0; 4];
    for (k, (process, cpus)) in
        [(false, (0, 0)), (true, (0, 0)), (false, (0, 1)), (true, (0, 1))].into_iter().enumerate()
    {
        out[k] = ping_pong(round_trips, process, cpus)?;
    }
    Ok(Boundary {
        threads_same_core: out[0],
        processes_same_core: out[1],
        threads_cross_core: out[2],
        processes_cross_core: out[3],
    })
}

#[cfg(target_os = "linux")]
fn ping_pong(round_trips: u32, process: bool, (mine, theirs): (usize, usize)) -> Result<f64, String> {
    use std::os::fd::AsRawFd;
    // Close-on-exec: a worker another thread starts meanwhile must not keep an end open (the echo
    // would then never see end of file).
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
    let (to_r, to_w) = pipe()?;
    let (back_r, back_w) = pipe()?;
    let (rx, tx) = (to_r.as_raw_fd(), back_w.as_raw_fd());
    // The echo: reads a byte, writes it back, until end of file. Raw calls only (it also runs
    // in a forked child, which must not allocate).
    let echo = move || {
        let mut b = [0u8; 1];
        // SAFETY: plain read/write on descriptors that stay open for the echo's life.
        unsafe {
            while libc::read(rx, b.as_mut_ptr().cast(), 1) == 1 {
                if libc::write(tx, b.as_ptr().cast(), 1) != 1 {
                    break;
                }
            }
        }
    };
    let before = affinity();
    pin_this_thread(mine);
    let run = |w: &std::os::fd::OwnedFd, r: &std::os::fd::OwnedFd| -> Result<f64, String> {
        let mut b = [1u8; 1];
        let (w, r) = (w.as_raw_fd(), r.as_raw_fd());
        let ping = |b: &mut [u8; 1]| {
            // SAFETY: as above, on this side's ends.
            unsafe { libc::write(w, b.as_ptr().cast(), 1) == 1 && libc::read(r, b.as_mut_ptr().cast(), 1) == 1 }
        };
        for _ in 0..round_trips / 10 {
            if !ping(&mut b) {
                return Err("the echo went away".into());
            }
        }
        // The median round trip: one preempted trip on a busy machine moves a mean, not this.
        let mut trips = Vec::with_capacity(round_trips as usize);
        for _ in 0..round_trips.max(1) {
            let t = Instant::now();
            if !ping(&mut b) {
                return Err("the echo went away".into());
            }
            trips.push(t.elapsed().as_nanos() as u64);
        }
        trips.sort_unstable();
        Ok(trips[trips.len() / 2] as f64)
    };
    let result = if process {
        // SAFETY: the child pins itself and runs the echo (raw calls, no allocation), then _exits.
        match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
            nix::unistd::ForkResult::Child => {
                pin_this_thread(theirs);
                drop(to_w);
                drop(back_r);
                echo();
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                // The echo's ends are the child's: a dead echo is then end of file here.
                drop(to_r);
                drop(back_w);
                let r = run(&to_w, &back_r);
                drop(to_w);
                let _ = nix::sys::wait::waitpid(child, None);
                r
            }
        }
    } else {
        std::thread::scope(|s| {
            s.spawn(|| {
                pin_this_thread(theirs);
                echo();
            });
            let r = run(&to_w, &back_r);
            drop(to_w);
            r
        })
    };
    restore_affinity(before);
    result
}

fn page_size() -> usize {
    // SAFETY: sysconf only reads a setting.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// A name for a probe's object, with the prefix the sweep knows (`ipc-lab-<pid>-`), removed at
/// once; numbered, so two probes running at once never share one.
fn probe_name(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("/ipc-lab-{}-probe-{what}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A shared mapping of `len` bytes of `fd`, unmapped when dropped.
struct Mapping {
    base: std::ptr::NonNull<std::ffi::c_void>,
    len: usize,
}

impl Mapping {
    #[cfg(target_os = "linux")]
    fn new(fd: &std::os::fd::OwnedFd, len: usize) -> Result<Mapping, String> {
        use nix::sys::mman::{MapFlags, ProtFlags, mmap};
        nix::unistd::ftruncate(fd, len as i64).map_err(|e| format!("ftruncate: {e}"))?;
        let size = std::num::NonZeroUsize::new(len).ok_or("an empty mapping")?;
        // SAFETY: a fresh shared mapping of an object this process just sized; only atomics
        // touch it.
        let base =
            unsafe { mmap(None, size, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, fd, 0) }
                .map_err(|e| format!("mmap: {e}"))?;
        Ok(Mapping { base, len })
    }

    /// The `i`th u64 of the mapping.
    fn word(&self, i: usize) -> &AtomicU64 {
        assert!((i + 1) * 8 <= self.len, "a word inside the mapping");
        // SAFETY: in bounds (checked), aligned (page-aligned base), alive as long as `self`.
        unsafe { &*(self.base.as_ptr().cast::<AtomicU64>().add(i)) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base and len come from mmap; no borrow of the words outlives `self`.
        unsafe {
            let _ = nix::sys::mman::munmap(self.base, self.len);
        }
    }
}

#[cfg(target_os = "linux")]
fn affinity() -> Option<nix::sched::CpuSet> {
    nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()
}

#[cfg(target_os = "linux")]
fn restore_affinity(set: Option<nix::sched::CpuSet>) {
    if let Some(set) = set {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// Pins the calling thread to `cpu` when the machine has it (with one CPU, both ends share it).
fn pin_this_thread(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        let mut set = nix::sched::CpuSet::new();
        if set.set(cpu).is_ok() {
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Probe objects of this process still in /dev/shm (each probe removes its name at once).
    fn leftovers() -> bool {
        let prefix = format!("ipc-lab-{}-probe-", std::process::id());
        std::fs::read_dir("/dev/shm")
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&prefix)))
            .unwrap_or(false)
    }

    #[test]
    fn a_mapping_outlives_its_name() {
        let r = shm_after_unlink().expect("the probe runs");
        assert_eq!(r, AfterUnlink { reopen_errno: libc::ENOENT, read_back: 42 });
        assert!(!leftovers(), "nothing left");
    }

    #[test]
    fn touching_a_page_the_object_lost_is_sigbus() {
        assert_eq!(shm_shrink_signal(), Ok(libc::SIGBUS));
        assert!(!leftovers(), "nothing left");
    }

    #[test]
    fn dev_shm_is_a_filesystem_of_limited_size() {
        assert!(dev_shm_size().expect("statvfs") > 0);
    }

    #[test]
    fn counters_on_one_cache_line_slow_each_other_down_across_cores() {
        // Across two CPUs the line moves between them on every increment; best of five, so a
        // run preempted by the other tests on a busy machine does not decide.
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            panic!("this check needs two CPUs, as the lesson's claim does");
        }
        let best = (0..5).map(|_| false_sharing(Duration::from_millis(100)).ratio()).fold(0.0, f64::max);
        assert!(best > 1.3, "separate lines only {best:.2}x faster");
    }

    #[test]
    fn the_pipe_ping_pong_runs_between_threads_and_between_processes() {
        let b = pipe_boundary(500).expect("the probe runs");
        for v in [b.threads_same_core, b.processes_same_core, b.threads_cross_core, b.processes_cross_core] {
            assert!(v > 100.0 && v < 10_000_000.0, "a round trip of {v} ns: {b:?}");
        }
    }
}
