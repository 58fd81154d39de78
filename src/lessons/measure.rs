//! Values a lesson reads from the running machine instead of stating them as fact
//! (`{{measure:NAME}}` in the text, `lessons/FORMAT.md` lists the names): a pipe's capacity from
//! a pipe made for the purpose, limits from /proc, CPUs and page size from sysconf. Sizes come
//! with their unit ("65,536 bytes (64 KiB)"), so the text writes none after a size measure.

use super::Lang;
use crate::i18n::grouped;

/// How a measure starts in the text; it ends with `}}`.
pub const OPEN: &str = "{{measure:";

/// Every name a lesson may measure.
pub const NAMES: [&str; 13] = [
    "shm_after_unlink",
    "shm_shrink",
    "dev_shm_size",
    "false_sharing",
    "pipe_boundary",
    "pipe_capacity",
    "pipe_max_size",
    "mq_msg_max",
    "mq_msgsize_max",
    "mq_queues_max",
    "cpu_count",
    "page_size",
    "kernel",
];

/// The value of measure `name` on this machine, in English.
pub fn measure(name: &str) -> Result<String, String> {
    measure_in(name, Lang::En)
}

/// A probe's result, measured once per process: it runs real processes and takes a fraction of
/// a second, and the machine does not change when the reader reopens the page or switches the
/// language (the words are made from it each time).
macro_rules! once {
    ($t:ty, $probe:expr) => {{
        static RESULT: std::sync::OnceLock<Result<$t, String>> = std::sync::OnceLock::new();
        RESULT.get_or_init(|| $probe).clone()
    }};
}

/// The value of measure `name` on this machine, worded for `lang`.
pub fn measure_in(name: &str, lang: Lang) -> Result<String, String> {
    Ok(match name {
        "pipe_capacity" => bytes(pipe_capacity()?, lang),
        "pipe_max_size" => bytes(read_number("/proc/sys/fs/pipe-max-size")?, lang),
        "mq_msg_max" => grouped(read_number("/proc/sys/fs/mqueue/msg_max")?),
        "mq_msgsize_max" => bytes(read_number("/proc/sys/fs/mqueue/msgsize_max")?, lang),
        "mq_queues_max" => grouped(read_number("/proc/sys/fs/mqueue/queues_max")?),
        "cpu_count" => grouped(sysconf(libc::_SC_NPROCESSORS_ONLN, "online CPUs")?),
        "page_size" => bytes(sysconf(libc::_SC_PAGESIZE, "the page size")?, lang),
        "kernel" => read_text("/proc/sys/kernel/osrelease")?,
        #[cfg(target_os = "linux")]
        "shm_after_unlink" => {
            let r = once!(super::probe::AfterUnlink, super::probe::shm_after_unlink())?;
            let errno = format!("{:?}", nix::errno::Errno::from_raw(r.reopen_errno));
            match lang {
                Lang::En => format!(
                    "after shm_unlink, opening the name again failed with {errno}, and the mapping still read back {}",
                    r.read_back
                ),
                Lang::ZhCn => {
                    format!("shm_unlink 之后，再按这个名字打开以 {errno} 失败，而映射仍然读回了 {}", r.read_back)
                }
            }
        }
        #[cfg(target_os = "linux")]
        "shm_shrink" => match (once!(i32, super::probe::shm_shrink_signal())?, lang) {
            (0, Lang::En) => "it exited normally: no SIGBUS on this machine".into(),
            (0, Lang::ZhCn) => "它正常退出了：这台机器上没有 SIGBUS".into(),
            (sig, Lang::En) => format!("it was killed by signal {sig} ({})", crate::supervisor::signal_name(sig)),
            (sig, Lang::ZhCn) => format!("它被信号 {sig}（{}）杀死了", crate::supervisor::signal_name(sig)),
        },
        #[cfg(target_os = "linux")]
        "dev_shm_size" => bytes(super::probe::dev_shm_size()?, lang),
        "false_sharing" => {
            let f = once!(
                super::probe::FalseSharing,
                Ok::<_, String>(super::probe::false_sharing(std::time::Duration::from_millis(100)))
            )?;
            let (near, far, ratio) = (f.same_line_per_sec, f.apart_per_sec, f.ratio());
            match lang {
                Lang::En => format!(
                    "on one line, {} million atomic increments a second per thread; on separate lines, {} million: {ratio:.1}× as fast apart",
                    grouped((near / 1e6).round() as u64),
                    grouped((far / 1e6).round() as u64)
                ),
                Lang::ZhCn => format!(
                    "在同一缓存行上，每个线程每秒 {} 万次原子加 1；分开在两行上，每秒 {} 万次：分开后快 {ratio:.1} 倍",
                    grouped((near / 1e4).round() as u64),
                    grouped((far / 1e4).round() as u64)
                ),
            }
        }
        #[cfg(target_os = "linux")]
        "pipe_boundary" => {
            let b = once!(super::probe::Boundary, super::probe::pipe_boundary(2000))?;
            let us = crate::i18n::latency_text;
            match lang {
                Lang::En => format!(
                    "on one core, {} between two threads and {} between two processes; across two cores, {} and {}",
                    us(b.threads_same_core),
                    us(b.processes_same_core),
                    us(b.threads_cross_core),
                    us(b.processes_cross_core)
                ),
                Lang::ZhCn => format!(
                    "同一核心上，两个线程之间 {}，两个进程之间 {}；跨两个核心，分别是 {} 和 {}",
                    us(b.threads_same_core),
                    us(b.processes_same_core),
                    us(b.threads_cross_core),
                    us(b.processes_cross_core)
                ),
            }
        }
        _ => return Err(format!("unknown measure '{name}' (known: {})", NAMES.join(", "))),
    })
}

/// The capacity in bytes of a new pipe (F_GETPIPE_SZ on a pipe made and closed here).
pub fn pipe_capacity() -> Result<u64, String> {
    let (read_end, _write_end) = nix::unistd::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let size = nix::fcntl::fcntl(&read_end, nix::fcntl::FcntlArg::F_GETPIPE_SZ)
        .map_err(|e| format!("F_GETPIPE_SZ failed: {e}"))?;
    u64::try_from(size).map_err(|_| format!("F_GETPIPE_SZ said {size}"))
}

/// The Markdown with every `{{measure:NAME}}` replaced by its value, in English. It reads the
/// machine each time it is called.
pub fn substitute(markdown: &str) -> String {
    substitute_in(markdown, Lang::En)
}

/// The Markdown with every `{{measure:NAME}}` replaced by its value worded for `lang`. An
/// unknown name, or a value that cannot be read, shows as a bracketed note on the page instead.
pub fn substitute_in(markdown: &str, lang: Lang) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(i) = rest.find(OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + OPEN.len()..];
        let Some(end) = after.find("}}").filter(|&e| !after[..e].contains('\n')) else {
            // Not a measure after all: keep the text as written.
            out.push_str(OPEN);
            rest = after;
            continue;
        };
        let name = after[..end].trim();
        let value = if NAMES.contains(&name) {
            measure_in(name, lang).unwrap_or_else(|why| match lang {
                Lang::En => format!("[{name}: could not be read: {why}]"),
                Lang::ZhCn => format!("[{name}：读取失败：{why}]"),
            })
        } else {
            match lang {
                Lang::En => format!("[unknown measure {name}]"),
                Lang::ZhCn => format!("[未知的测量项 {name}]"),
            }
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// "65,536 bytes (64 KiB)"; "512 bytes" below a KiB.
fn bytes(n: u64, lang: Lang) -> String {
    let human = crate::traffic::spec::human_bytes(n);
    match (lang, n < 1024) {
        (Lang::En, true) => format!("{} bytes", grouped(n)),
        (Lang::En, false) => format!("{} bytes ({human})", grouped(n)),
        (Lang::ZhCn, true) => format!("{} 字节", grouped(n)),
        (Lang::ZhCn, false) => format!("{} 字节（{human}）", grouped(n)),
    }
}

fn read_text(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(text.trim().to_string())
}

fn read_number(path: &str) -> Result<u64, String> {
    let text = read_text(path)?;
    text.parse().map_err(|_| format!("{path} holds '{text}', not a number"))
}

fn sysconf(name: libc::c_int, what: &str) -> Result<u64, String> {
    // SAFETY: sysconf only reads a system setting.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| format!("sysconf cannot say {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_measure_reads_a_value_here() {
        for name in NAMES {
            let en = measure(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!en.is_empty(), "{name}");
            eprintln!("{name}: {en}");
            assert!(measure_in(name, Lang::ZhCn).is_ok(), "{name}");
        }
        assert!(measure("pipe_capacty").unwrap_err().contains("unknown measure"));
    }

    #[test]
    fn sizes_carry_their_unit_and_digits_are_grouped() {
        assert_eq!(bytes(65_536, Lang::En), "65,536 bytes (64 KiB)");
        assert_eq!(bytes(65_536, Lang::ZhCn), "65,536 字节（64 KiB）");
        assert_eq!(bytes(512, Lang::En), "512 bytes");
        assert_eq!(bytes(1_048_576, Lang::En), "1,048,576 bytes (1 MiB)");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn placeholders_are_replaced_and_unknown_names_show() {
        let capacity = measure("pipe_capacity").unwrap();
        assert_eq!(substitute("holds {{measure:pipe_capacity}}."), format!("holds {capacity}."));
        assert_eq!(substitute("a {{measure:nope}} b"), "a [unknown measure nope] b");
        assert_eq!(substitute("{{measure:kernel"), "{{measure:kernel", "not closed: left as written");
        assert_eq!(substitute("no measures"), "no measures");
        assert!(substitute_in("{{measure:page_size}}", Lang::ZhCn).contains("字节"));
    }
}
