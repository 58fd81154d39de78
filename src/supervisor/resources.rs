//! Named OS resources of a run: created, listed and removed here and nowhere else.
//!
//! Every run gets a prefix `ipc-lab-<supervisor pid>-<n>` and a private directory
//! `$TMPDIR/ipc-lab-<pid>-<n>/` (mode 0700) that holds its FIFOs and socket file and a `manifest`
//! naming the shared-memory segments and message queues, which live outside the directory. Names
//! are removed as soon as both workers hold the resource open (the kernel keeps it alive for them),
//! again when the run ends however it ends, and a run whose supervisor died without cleaning up is
//! swept by the next supervisor to start ([`sweep_stale`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::mechanism::process_alive;

pub const PREFIX: &str = "ipc-lab-";
const MANIFEST: &str = "manifest";

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One named thing a run created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Named {
    /// A FIFO or socket file inside the run directory.
    File(PathBuf),
    /// A POSIX shared-memory name (`/ipc-lab-...`).
    Shm(String),
    /// A POSIX message-queue name (`/ipc-lab-...`).
    Mqueue(String),
}

/// The named resources of one run; dropping it removes them all.
#[derive(Debug)]
pub struct Resources {
    prefix: String,
    dir: PathBuf,
    named: Vec<Named>,
}

impl Resources {
    /// Creates the run's private directory and an empty manifest.
    pub fn create() -> std::io::Result<Resources> {
        // The counter starts from the clock, so a new supervisor that gets a crashed one's PID
        // (common in containers) does not collide with its leftovers.
        static START: std::sync::Once = std::sync::Once::new();
        START.call_once(|| RUN_COUNTER.store(crate::wire::monotonic_nanos() % 1_000_000_000, Ordering::Relaxed));
        let prefix = format!("{PREFIX}{}-{}", std::process::id(), RUN_COUNTER.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(&prefix);
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        fs::write(dir.join(MANIFEST), b"")?;
        Ok(Resources { prefix, dir, named: Vec::new() })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A name for a POSIX object (shm, mqueue) of this run: `/ipc-lab-<pid>-<n>-<what>`.
    pub fn posix_name(&self, what: &str) -> String {
        format!("/{}-{what}", self.prefix)
    }

    /// Records `named` before it is created, so a crash right after leaves a trace to sweep.
    pub fn register(&mut self, named: Named) -> std::io::Result<()> {
        let line = match &named {
            Named::File(_) => None,
            Named::Shm(n) => Some(format!("shm {n}\n")),
            Named::Mqueue(n) => Some(format!("mqueue {n}\n")),
        };
        if let Some(line) = line {
            fs::OpenOptions::new().append(true).open(self.dir.join(MANIFEST))?.write_all(line.as_bytes())?;
        }
        self.named.push(named);
        Ok(())
    }

    /// Removes every registered name; what is open stays usable to those who hold it.
    pub fn unlink_names(&mut self) {
        for named in self.named.drain(..) {
            remove(&named);
        }
    }
}

impl Drop for Resources {
    fn drop(&mut self) {
        self.unlink_names();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn remove(named: &Named) {
    match named {
        Named::File(p) => {
            let _ = fs::remove_file(p);
        }
        #[cfg(target_os = "linux")]
        Named::Shm(n) => {
            let _ = crate::mechanism::shm::unlink(n);
        }
        #[cfg(target_os = "linux")]
        Named::Mqueue(n) => {
            let _ = crate::mechanism::mqueue::unlink(n);
        }
        #[cfg(not(target_os = "linux"))]
        _ => {}
    }
}

/// The supervisor PID in a name `ipc-lab-<pid>-...`.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Whether `name` is a run prefix, `ipc-lab-<pid>-<n>` and nothing else.
fn is_run_prefix(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else { return false };
    let mut parts = rest.split('-');
    let digits = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// Whether a POSIX name from the manifest of run `prefix` is one that run made:
/// `/<prefix>-<what>`, `what` plain letters, digits and dashes.
fn belongs_to(name: &str, prefix: &str) -> bool {
    name.strip_prefix('/')
        .and_then(|n| n.strip_prefix(prefix))
        .and_then(|n| n.strip_prefix('-'))
        .is_some_and(|what| !what.is_empty() && what.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// A run directory we may trust: a real directory (not a link), ours, mode 0700, as
/// [`Resources::create`] makes them. Anything else in /tmp with a look-alike name is left alone.
fn trusted_run_dir(path: &Path) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else { return false };
    if !meta.is_dir() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        meta.uid() == uid && meta.mode() & 0o777 == 0o700
    }
    #[cfg(not(unix))]
    true
}

/// Whether the file at `path` belongs to this user (shm segments and queues of other users
/// are never ours to remove, whatever their name).
fn owned_by_us(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid cannot fail.
        fs::symlink_metadata(path).is_ok_and(|m| m.uid() == unsafe { libc::geteuid() })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

/// Removes what runs of dead supervisors left behind. Runs once per process.
pub fn sweep_stale() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = sweep_now();
    });
}

/// Removes leftovers of dead owners now; returns how many were removed. Only names with our
/// prefix, of a dead owner, are touched: a manifest is followed only in a run directory we own
/// (mode 0700), and only for names of that very run, so a manifest planted in /tmp cannot make
/// a sweep delete anybody's other segments or queues.
pub fn sweep_now() -> std::io::Result<usize> {
    let dead = |name: &str| owner_pid(name).is_some_and(|pid| !process_alive(pid));
    let mut removed = 0;
    for entry in fs::read_dir(std::env::temp_dir())? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_run_prefix(&name) || !dead(&name) || !trusted_run_dir(&entry.path()) {
            continue;
        }
        if let Ok(manifest) = fs::read_to_string(entry.path().join(MANIFEST)) {
            for line in manifest.lines() {
                match line.split_once(' ') {
                    Some(("shm", n)) if belongs_to(n, &name) => remove(&Named::Shm(n.to_string())),
                    Some(("mqueue", n)) if belongs_to(n, &name) => remove(&Named::Mqueue(n.to_string())),
                    _ => {}
                }
            }
        }
        if fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    // Segments whose manifest was lost still carry the owner's PID in their name.
    for dir in ["/dev/shm", "/dev/mqueue"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(PREFIX)
                && dead(&name)
                && owned_by_us(&entry.path())
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Named resources of the run `prefix` that still exist (empty when it cleaned up).
pub fn leftovers(prefix: &str) -> Vec<String> {
    leftovers_listing(prefix, &["/dev/shm", "/dev/mqueue"])
}

/// Every message-queue name (after the run's prefix) a run can make: a traffic or job link's two
/// directions, and a scenario program's queues (by resource index), so that they are found one
/// by one where /dev/mqueue is not mounted.
fn mqueue_suffixes() -> impl Iterator<Item = String> {
    let links = (0..=crate::traffic::spec::MAX_NODES).flat_map(|l| [format!("link{l}-fwd"), format!("link{l}-bwd")]);
    links.chain((0..crate::sync::MAX_SLOTS).map(|i| format!("q{i}")))
}

/// As [`leftovers`], listing only the directories `dirs` (a test leaves /dev/mqueue out, as on
/// a machine where it is not mounted).
fn leftovers_listing(prefix: &str, dirs: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let dir = std::env::temp_dir().join(prefix);
    if dir.exists() {
        found.push(dir.display().to_string());
    }
    for &d in dirs {
        if let Ok(entries) = fs::read_dir(d) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("{prefix}-")) {
                    found.push(format!("{d}/{name}"));
                }
            }
        }
    }
    #[cfg(target_os = "linux")]
    for what in mqueue_suffixes() {
        // /dev/mqueue is often not mounted; ask the kernel directly.
        if found.iter().any(|f| f.ends_with(&format!("/{prefix}-{what}"))) {
            continue; // listed already
        }
        let name = std::ffi::CString::new(format!("/{prefix}-{what}")).unwrap_or_default();
        // SAFETY: a valid C string; opening without O_CREAT reads no variadic arguments.
        let mqd = unsafe { libc::mq_open(name.as_ptr(), libc::O_RDONLY) };
        if mqd != -1 {
            // SAFETY: closing what we just opened.
            unsafe { libc::mq_close(mqd) };
            found.push(format!("mqueue /{prefix}-{what}"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_queues_of_links_and_programs_are_found_without_dev_mqueue() {
        let prefix = format!("ipc-lab-{}-7777", std::process::id());
        for what in ["link1-bwd", "q3"] {
            let name = format!("/{prefix}-{what}");
            let _ = crate::mechanism::mqueue::unlink(&name);
            crate::mechanism::mqueue::create(&name, 1, 64).expect("create a queue");
            let found = leftovers_listing(&prefix, &["/dev/shm"]);
            let _ = crate::mechanism::mqueue::unlink(&name);
            assert_eq!(found, vec![format!("mqueue {name}")], "a run's queue {what} is a leftover");
        }
    }

    #[test]
    fn owner_pid_is_read_from_the_prefix() {
        assert_eq!(owner_pid("ipc-lab-1234-7"), Some(1234));
        assert_eq!(owner_pid("ipc-lab-1234-7-shm"), Some(1234));
        assert_eq!(owner_pid("ipc-lab-x"), None);
        assert_eq!(owner_pid("other"), None);
    }

    #[test]
    fn dropping_resources_removes_the_run_directory() {
        let res = Resources::create().unwrap();
        let prefix = res.prefix().to_string();
        let file = res.dir().join("probe");
        fs::write(&file, b"x").unwrap();
        drop(res);
        assert!(leftovers(&prefix).is_empty());
    }

    /// A run directory as a dead supervisor leaves it: mode 0700, a manifest.
    fn plant(name: &str, mode: u32, manifest: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        fs::write(dir.join(MANIFEST), manifest).unwrap();
        dir
    }

    #[test]
    fn leftovers_of_a_dead_owner_are_swept() {
        // PID 0x7fff_fff0 is far above pid_max, so it cannot be alive.
        let dir = plant("ipc-lab-2147483632-0", 0o700, "");
        sweep_now().unwrap();
        assert!(!dir.exists());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_planted_manifest_cannot_make_the_sweep_delete_other_names() {
        // Somebody's own segment and queue, and one of a run that is not the manifest's.
        let me = std::process::id();
        let victim_shm = format!("/important-data-{me}");
        let victim_mq = format!("/important-queue-{me}");
        let other_run = format!("/ipc-lab-{me}-999-link0-shm");
        for n in [&victim_shm, &other_run] {
            crate::mechanism::shm::create(n, 4096).expect("create a segment");
        }
        crate::mechanism::mqueue::create(&victim_mq, 1, 64).expect("create a queue");
        let manifest = format!("shm {victim_shm}\nmqueue {victim_mq}\nshm {other_run}\nshm /../../etc/passwd\n");
        let dead_run = plant("ipc-lab-2147483632-1", 0o700, &manifest);
        // A look-alike directory that Resources::create would never make (mode 0755): not trusted.
        let loose = plant("ipc-lab-2147483632-2", 0o755, &manifest);
        sweep_now().unwrap();
        let shm_exists = |n: &str| Path::new("/dev/shm").join(n.trim_start_matches('/')).exists();
        assert!(shm_exists(&victim_shm), "the sweep removed a segment that was not a run's");
        assert!(shm_exists(&other_run), "the sweep removed a live run's segment named in a stranger's manifest");
        let c = std::ffi::CString::new(victim_mq.clone()).unwrap();
        // SAFETY: a valid C string; no O_CREAT.
        let mqd = unsafe { libc::mq_open(c.as_ptr(), libc::O_RDONLY) };
        assert!(mqd != -1, "the sweep removed a message queue that was not a run's");
        // SAFETY: closing what we opened.
        unsafe { libc::mq_close(mqd) };
        assert!(!dead_run.exists(), "the dead run's own directory goes");
        assert!(loose.exists(), "a directory with another mode is not ours to remove");
        let _ = fs::remove_dir_all(&loose);
        for n in [&victim_shm, &other_run] {
            let _ = crate::mechanism::shm::unlink(n);
        }
        let _ = crate::mechanism::mqueue::unlink(&victim_mq);
    }

    #[test]
    fn only_exact_run_prefixes_and_their_own_names_qualify() {
        assert!(is_run_prefix("ipc-lab-12-3"));
        assert!(!is_run_prefix("ipc-lab-12-3-x") && !is_run_prefix("ipc-lab-12") && !is_run_prefix("ipc-lab--3"));
        assert!(belongs_to("/ipc-lab-12-3-link0-shm", "ipc-lab-12-3"));
        assert!(!belongs_to("/ipc-lab-12-30-link0-shm", "ipc-lab-12-3"));
        assert!(!belongs_to("/ipc-lab-12-3-", "ipc-lab-12-3"));
        assert!(!belongs_to("/ipc-lab-12-3-../x", "ipc-lab-12-3"));
        assert!(!belongs_to("/home", "ipc-lab-12-3"));
    }
}
