//! What the kernel says about a worker, from /proc: its state letter, CPU ticks and wait
//! channel. Read by the live session (for the stage) and by scenario runs (as evidence).

/// State letter and user+system CPU ticks of the process or thread at `dir` (/proc/PID[/task/TID]).
pub fn proc_stat(dir: &str) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // After the command name: state is field 3 of the line, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((state, utime + stime))
}

/// Where in the kernel the process or thread at `dir` sleeps (`pipe_read`, `futex_do_wait`...).
/// The compiler's suffix on a cloned function (`poll_schedule_timeout.constprop.0`) is dropped:
/// the function is what a reader looks up.
pub fn proc_wchan(dir: &str) -> String {
    let w = std::fs::read_to_string(format!("{dir}/wchan")).unwrap_or_default();
    w.trim().split('.').next().unwrap_or_default().to_string()
}
