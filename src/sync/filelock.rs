//! fcntl record locks (`F_SETLKW`) on bytes of a file in the run directory: lock `n` is byte `n`.
//!
//! Record locks belong to a process, and the kernel checks every blocking request against the
//! locks it waits for: when granting the wait would close a cycle of processes each waiting for
//! another, the request fails at once with `EDEADLK`. It is the one lock where Linux detects a
//! deadlock for you. Locks are released when their process closes the file or dies.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::SyncError;

pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Opens (creating if needed) the lock file at `path`.
    pub fn open(path: &Path) -> Result<FileLock, SyncError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| SyncError::os("open lock file", e.raw_os_error().unwrap_or(0)))?;
        Ok(FileLock { file })
    }

    fn fcntl(&self, cmd: i32, kind: i32, byte: u64) -> Result<(), SyncError> {
        self.fcntl_raw(cmd, kind, byte).map_err(|errno| match errno {
            libc::EDEADLK => SyncError::Deadlock,
            errno => SyncError::os("fcntl lock", errno),
        })
    }

    /// The call, retried on EINTR; the errno it failed with.
    fn fcntl_raw(&self, cmd: i32, kind: i32, byte: u64) -> Result<(), i32> {
        // SAFETY: flock is plain data; zeroed is a valid start.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = byte as libc::off_t;
        fl.l_len = 1;
        loop {
            // SAFETY: F_SETLK(W) reads one flock through the pointer; the fd is open.
            if unsafe { libc::fcntl(self.file.as_raw_fd(), cmd, &fl) } == 0 {
                return Ok(());
            }
            match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
                libc::EINTR => {}
                errno => return Err(errno),
            }
        }
    }

    /// Blocks until this process holds lock `byte` (a wait the kernel shows in /proc/locks), or
    /// fails with [`SyncError::Deadlock`] when waiting would close a cycle.
    pub fn lock(&self, byte: u64) -> Result<(), SyncError> {
        self.fcntl(libc::F_SETLKW, libc::F_WRLCK, byte)
    }

    /// Takes the lock if nobody holds it, without sleeping: `false` when another process does.
    pub fn try_lock(&self, byte: u64) -> Result<bool, SyncError> {
        match self.fcntl_raw(libc::F_SETLK, libc::F_WRLCK, byte) {
            Ok(()) => Ok(true),
            Err(libc::EAGAIN | libc::EACCES) => Ok(false),
            Err(errno) => Err(SyncError::os("fcntl lock", errno)),
        }
    }

    pub fn unlock(&self, byte: u64) -> Result<(), SyncError> {
        self.fcntl(libc::F_SETLK, libc::F_UNLCK, byte)
    }
}
