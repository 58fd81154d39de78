//! The process-shared synchronization objects, across real processes (forked children that
//! only make the calls under test and `_exit`): a robust mutex recovers from its owner's death, a
//! semaphore does not, a racy counter loses updates and an atomic one does not, and the kernel
//! catches an fcntl lock-order deadlock with EDEADLK; a condition variable wakes a waiter in another
//! process and keeps no signal nobody waited for.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use ipc_lab::sync::{Locked, SyncArea, SyncError, SyncKind};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// A fresh area under a name no other test uses; removed when dropped.
struct Named(String);

impl Named {
    fn new(what: &str, kinds: &[SyncKind]) -> (Named, SyncArea) {
        let name = format!("/ipc-lab-test-{}-{what}", std::process::id());
        let _ = ipc_lab::sync::unlink(&name);
        SyncArea::create(&name, kinds).expect("create the area");
        let area = SyncArea::open(&name).expect("open the area");
        (Named(name), area)
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = ipc_lab::sync::unlink(&self.0);
    }
}

/// Runs `child` in a forked process and returns its exit code. The child must not allocate
/// (the test harness has other threads): it makes the calls under test and `_exit`s.
fn in_child(child: impl FnOnce() -> i32) -> Pid {
    // SAFETY: the child only runs `child` (no allocation, no locks of this process) and _exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = child();
            // SAFETY: ends the child at once, without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    }
}

fn exit_code(pid: Pid) -> i32 {
    match waitpid(pid, None).expect("waitpid") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("child ended as {other:?}"),
    }
}

#[test]
fn a_robust_mutex_whose_owner_died_is_handed_to_the_next_locker() {
    let (_name, area) = Named::new("robust", &[SyncKind::Mutex]);
    let m = area.mutex(0).expect("mutex");
    // The child takes the mutex and dies holding it.
    let child = in_child(|| if m.lock() == Ok(Locked::Acquired) { 0 } else { 1 });
    assert_eq!(exit_code(child), 0);
    assert_eq!(m.lock(), Ok(Locked::OwnerDied), "the next locker learns the owner died");
    m.make_consistent().expect("repair");
    m.unlock().expect("unlock");
    assert_eq!(m.lock(), Ok(Locked::Acquired), "repaired, it works as before");
    m.unlock().expect("unlock");
}

#[test]
fn a_robust_mutex_not_made_consistent_can_never_be_locked_again() {
    let (_name, area) = Named::new("unrecoverable", &[SyncKind::Mutex]);
    let m = area.mutex(0).expect("mutex");
    let child = in_child(|| if m.lock().is_ok() { 0 } else { 1 });
    assert_eq!(exit_code(child), 0);
    assert_eq!(m.lock(), Ok(Locked::OwnerDied));
    m.unlock().expect("unlock without repair");
    assert_eq!(m.lock(), Err(SyncError::NotRecoverable));
}

#[test]
fn a_semaphore_unit_taken_by_a_dead_process_is_gone_for_good() {
    let (_name, area) = Named::new("sem", &[SyncKind::Semaphore { initial: 1 }]);
    let s = area.semaphore(0).expect("semaphore");
    let child = in_child(|| if s.wait().is_ok() { 0 } else { 1 });
    assert_eq!(exit_code(child), 0);
    assert_eq!(s.value(), Ok(0), "nobody gives the dead process's unit back");
    // A waiter now blocks for good; post from here releases it.
    let waiter = in_child(|| if s.wait().is_ok() { 0 } else { 1 });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(nix::sys::wait::waitpid(waiter, Some(nix::sys::wait::WaitPidFlag::WNOHANG)), Ok(WaitStatus::StillAlive));
    s.post().expect("post");
    assert_eq!(exit_code(waiter), 0, "a post wakes the waiter in another process");
}

#[test]
fn racy_increments_lose_updates_and_atomic_ones_do_not() {
    const PER_CHILD: u64 = 200_000;
    let (_name, area) = Named::new("counter", &[SyncKind::Counter, SyncKind::Counter]);
    let (racy, atomic) = (area.counter(0).expect("counter"), area.counter(1).expect("counter"));
    // Lost updates need the two processes truly overlapping; a busy machine may serialise one
    // run, so try a few before calling the race absent.
    let mut lost = 0;
    for _ in 0..5 {
        racy.atomic_add(0u64.wrapping_sub(racy.load())); // back to 0
        let start = atomic.load();
        let kids: Vec<Pid> = (0..2)
            .map(|_| {
                in_child(|| {
                    for _ in 0..PER_CHILD {
                        racy.racy_increment(50);
                        atomic.atomic_add(1);
                    }
                    0
                })
            })
            .collect();
        kids.into_iter().for_each(|k| assert_eq!(exit_code(k), 0));
        assert_eq!(atomic.load() - start, 2 * PER_CHILD, "atomic increments are all there");
        lost = 2 * PER_CHILD - racy.load();
        if lost > 0 {
            break;
        }
    }
    assert!(lost > 0, "two processes incrementing racily lost no update in five tries");
}

#[test]
fn the_kernel_catches_an_fcntl_lock_order_deadlock() {
    let path = std::env::temp_dir().join(format!("ipc-lab-test-{}-locks", std::process::id()));
    let a = ipc_lab::sync::FileLock::open(&path).expect("lock file");
    a.lock(0).expect("parent holds lock 0");
    // Opened here so the child allocates nothing; record locks belong to the process that takes
    // them, so the child's locks through this descriptor are its own.
    let b = ipc_lab::sync::FileLock::open(&path).expect("lock file");
    // The child holds lock 1, then asks for lock 0 (held here): it waits.
    let child = in_child(|| {
        if b.lock(1).is_err() {
            return 11;
        }
        match b.lock(0) {
            Ok(()) => 0,
            Err(SyncError::Deadlock) => 3,
            Err(_) => 12,
        }
    });
    // Wait until the child is asleep in the lock wait (its lock on byte 1 is visible).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        if locks.lines().any(|l| l.contains(&format!(" {} ", child.as_raw())) && l.contains("-> ")) {
            break;
        }
        assert!(Instant::now() < deadline, "the child never waited for lock 0:\n{locks}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Now this process asks for lock 1, held by the child, which waits for us: a cycle.
    assert_eq!(a.lock(1), Err(SyncError::Deadlock), "the kernel refuses the wait that closes the cycle");
    a.unlock(0).expect("release lock 0");
    assert_eq!(exit_code(child), 0, "released, the child gets lock 0");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_condition_variable_wakes_a_waiter_in_another_process_and_forgets_a_signal_nobody_waited_for() {
    let (_name, area) = Named::new("condvar", &[SyncKind::Mutex, SyncKind::Condvar, SyncKind::Counter]);
    let (m, cv, flag) =
        (area.mutex(0).expect("mutex"), area.condvar(1).expect("condvar"), area.counter(2).expect("counter"));
    // A child waits, in a loop on the flag, as the fix does; this process sets it and signals.
    let child = in_child(|| {
        if m.lock().is_err() {
            return 1;
        }
        while flag.load() == 0 {
            if cv.wait(&m).is_err() {
                return 2;
            }
        }
        if m.unlock().is_err() { 3 } else { 0 }
    });
    std::thread::sleep(Duration::from_millis(50));
    m.lock().expect("lock");
    flag.store(1);
    cv.signal().expect("signal");
    m.unlock().expect("unlock");
    assert_eq!(exit_code(child), 0, "the waiter in another process was woken");

    // A signal sent with nobody waiting is gone: a waiter that comes later and does not look at
    // the flag sleeps through it (the lost wake-up). It is still asleep 300 ms on.
    cv.signal().expect("a signal nobody waits for");
    let late = in_child(|| {
        if m.lock().is_err() {
            return 1;
        }
        flag.store(2); // under the mutex: about to wait
        let _ = cv.wait(&m);
        let _ = m.unlock();
        0
    });
    // Once the flag says 2 and the mutex can be taken, the child is inside its wait (only the
    // wait gives the mutex up).
    let deadline = Instant::now() + Duration::from_secs(10);
    while flag.load() != 2 {
        assert!(Instant::now() < deadline, "the late child never got to its wait");
        std::thread::sleep(Duration::from_millis(5));
    }
    m.lock().expect("lock");
    m.unlock().expect("unlock");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        nix::sys::wait::waitpid(late, Some(nix::sys::wait::WaitPidFlag::WNOHANG)).expect("waitpid"),
        WaitStatus::StillAlive,
        "the earlier signal did not wake the late waiter"
    );
    // A broadcast now does; the waiter takes the mutex back and ends.
    loop {
        cv.broadcast().expect("broadcast");
        match nix::sys::wait::waitpid(late, Some(nix::sys::wait::WaitPidFlag::WNOHANG)).expect("waitpid") {
            WaitStatus::Exited(_, code) => break assert_eq!(code, 0),
            _ => {
                assert!(Instant::now() < deadline, "the broadcast never woke the late waiter");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
