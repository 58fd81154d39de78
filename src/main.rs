//! `ipc-lab`: the command line. One binary with three faces: the GUI (2/6), headless commands that
//! share all engine code with it, and the hidden `worker` the supervisor starts as child processes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use ipc_lab::mechanism::{MechanismId, ShmWait};
use ipc_lab::traffic::bench::{self, Format};
use ipc_lab::traffic::spec::{RunSpec, parse_bytes};

#[derive(Parser)]
#[command(name = "ipc-lab", version, about = "Inter-process communication, done for real and measured")]
// With no command the GUI opens, so its options work without `gui` too (`ipc-lab --presenter`);
// they cannot be mixed with another command.
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    gui: GuiArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open the live stage (the default when no command is given).
    Gui(GuiArgs),
    /// Run real child processes over each mechanism and size, and report latency, throughput,
    /// CPU cost and the delivery accounting.
    Bench(Box<BenchArgs>),
    /// List what this build knows.
    List {
        #[command(subcommand)]
        what: ListWhat,
    },
    /// List the built-in setups of the live stage.
    #[command(hide = true)]
    Scenarios,
    /// Join a job on another host as a worker: `ipc-lab worker --connect HOST:PORT --token-file
    /// F` (the coordinator runs `ipc-lab job ... --listen ADDR:PORT --token-file F`). Exit 0 when
    /// the job ends, 1 when it cannot join.
    Worker {
        /// Internal: the spec of a child process the supervisor starts.
        #[arg(hide = true)]
        spec: Option<String>,
        /// The coordinator's address.
        #[arg(long, value_name = "HOST:PORT")]
        connect: Option<String>,
        /// The coordinator's token (not needed on loopback).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Internal: one process of a scenario program.
    #[command(hide = true)]
    Actor { spec: String },
    /// Run a scenario program (deadlocks, races) headless and say how it ended: exit 0
    /// completed, 3 deadlock, 4 hang, 1 failed or timed out, 2 bad input.
    Run(RunArgs),
    /// Scatter an array to worker processes, compute, gather, check: exit 0 when the result is
    /// exact, 1 when it is wrong or the job failed, 2 for bad input.
    #[cfg(target_os = "linux")]
    Job(Box<ipc_lab::jobs::spec::JobArgs>),
    /// Internal: one worker of a job.
    #[command(hide = true)]
    JobWorker { spec: String },
    /// Internal: one rank of a job under mpirun (`job --engine mpi`).
    #[cfg(feature = "mpi")]
    #[command(hide = true)]
    MpiRank { spec: String },
    /// Lessons for authors.
    Lesson {
        #[command(subcommand)]
        what: LessonCmd,
    },
    /// The shared secret that lets workers on other hosts join a job.
    Token {
        #[command(subcommand)]
        what: TokenCmd,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Write a new token to FILE: 32 random bytes as 64 hex digits, readable by you only (mode
    /// 0600). Copy it to each worker's host; anyone holding it can join your jobs. An existing
    /// file is not overwritten.
    New { file: PathBuf },
}

#[derive(Subcommand)]
enum LessonCmd {
    /// Check lesson files (a directory laid out as lessons/: en/, zh-CN/, experiments/; the
    /// built-in lessons without DIR) and name every problem by file and line: exit 0 when all
    /// is well, 2 otherwise. Scenario programs and experiments without Chinese text are named
    /// as warnings (they show in English).
    Check { dir: Option<PathBuf> },
}

#[derive(clap::Args, Default)]
struct GuiArgs {
    #[arg(long, value_name = "ID|FILE", help = setup_help(), alias = "scenario")]
    setup: Option<String>,
    /// Mechanism to start with.
    #[arg(long, short)]
    mechanism: Option<String>,
    /// Start the run as soon as the window opens.
    #[arg(long)]
    autostart: bool,
    /// Big text and shapes for a projector (toggle with F5).
    #[arg(long)]
    presenter: bool,
    /// Print frame CPU time, fps and memory to stderr every SECS seconds.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "10")]
    frame_stats: Option<f64>,
    /// Open the Programs view with this scenario program (see `ipc-lab list scenarios`).
    #[arg(long, value_name = "ID", conflicts_with = "setup")]
    program: Option<String>,
    /// With --program: the variant to run ("fixed", or a named one).
    #[arg(long, value_name = "NAME", requires = "program")]
    variant: Option<String>,
    /// With --program: you are the scheduler (each operation waits until you pick the process).
    #[arg(long, requires = "program")]
    schedule: bool,
    /// Open the Distributed view set up as this job (the options of `ipc-lab job`, quoted as one
    /// argument: --job "--workers 4 --schedule dynamic"); with --autostart it starts.
    #[cfg(target_os = "linux")]
    #[arg(long, value_name = "ARGS", conflicts_with_all = ["program", "setup"], allow_hyphen_values = true)]
    job: Option<String>,
    /// Open the Lessons view at this lesson (see `ipc-lab list lessons`).
    #[arg(long, value_name = "ID", conflicts_with_all = ["program", "setup"])]
    lesson: Option<String>,
    /// Language of the lessons: en or zh-CN (default: from LC_ALL, LC_MESSAGES, LANG).
    #[arg(long, value_name = "LANG")]
    lang: Option<String>,
}

/// The --setup help, listing the built-ins from the one registry.
fn setup_help() -> String {
    let ids: Vec<&str> = ipc_lab::traffic::setup::builtin().iter().map(|(id, _, _)| *id).collect();
    format!("A built-in stage setup ({}) or a setup file (JSON)", ids.join(", "))
}

#[derive(Subcommand)]
enum ListWhat {
    /// Mechanism ids, what each is, and whether this platform has it.
    Mechanisms {
        /// en or zh-CN (default: from LC_ALL, LC_MESSAGES or LANG: zh* is zh-CN, else en).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Scenario programs (ipc-lab run ID) and the live stage's setups (ipc-lab --setup ID).
    Scenarios {
        /// en or zh-CN (default: from LC_ALL, LC_MESSAGES or LANG: zh* is zh-CN, else en).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Lessons, in course order: id and title.
    Lessons {
        /// en or zh-CN (default: from LC_ALL, LC_MESSAGES or LANG: zh* is zh-CN, else en).
        #[arg(long)]
        lang: Option<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A built-in scenario program (see `ipc-lab list scenarios`) or a scenario program file.
    scenario: String,
    /// Run the variant with the fix.
    #[arg(long, conflicts_with = "variant")]
    fixed: bool,
    /// Run a named variant (the built-ins' are listed in `--help`, from the scenario registry).
    #[arg(long, value_name = "NAME")]
    variant: Option<String>,
    /// Give up (and end every process) after SECS seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    timeout: f64,
    /// text or json.
    #[arg(long, short, default_value = "text")]
    format: String,
    /// What the scenario's pipes are made of: pipe, or unix (a socket pair).
    #[arg(long, short, default_value = "pipe")]
    mechanism: String,
    /// Language of the text output: en or zh-CN (default: from LC_ALL, LC_MESSAGES or LANG).
    /// JSON output is the same in every language.
    #[arg(long, value_name = "LANG")]
    lang: Option<String>,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Comma-separated mechanism ids, or "all".
    #[arg(long, short, default_value = "all", value_name = "LIST")]
    mechanism: String,
    /// Comma-separated payload sizes (64, 4k, 1MiB), or "sweep": 8 B to 1 MiB, a factor of 4 apart.
    #[arg(long, short, default_value = "64,4k", value_name = "LIST")]
    size: String,
    /// Measured messages per run (round trips in ping-pong).
    #[arg(long, short, default_value_t = 20_000, value_name = "N")]
    count: u64,
    /// Messages exchanged before measuring.
    #[arg(long, default_value_t = 2_000, value_name = "N")]
    warmup: u64,
    /// ping-pong, stream, pipeline, fan-out or fan-in.
    #[arg(long, short, default_value = "ping-pong")]
    pattern: String,
    /// Pipeline stages, fan-out consumers or fan-in producers.
    #[arg(long, default_value_t = 3, value_name = "N")]
    nodes: u16,
    /// How shm waits for its peer: spin, futex or semaphore; a comma-separated list runs each.
    #[arg(long, default_value = "futex", value_name = "LIST")]
    shm_wait: String,
    /// Pin every process of a run to these CPUs (e.g. 0, or 0,1).
    #[arg(long, value_name = "CPU-LIST", conflicts_with = "placement")]
    pin: Option<String>,
    /// Placements to run each combination at: same-core, cross-core, unpinned (a list).
    #[arg(long, value_name = "LIST")]
    placement: Option<String>,
    /// Run each combination twice, live per-message telemetry off and on, and print how much
    /// the observing costs.
    #[arg(long)]
    observer: bool,
    /// Also save a result file (the runs in --format json's schema, with the date and the
    /// machine: CPU model, CPUs, kernel, virtualized), for later comparison.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// table, json or csv.
    #[arg(long, short, default_value = "table")]
    format: String,
    /// Write the results to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Largest payload a channel accepts.
    #[arg(long, default_value = "16MiB", value_name = "BYTES")]
    max_size: String,
    /// Capacity of each shm ring.
    #[arg(long, default_value = "2MiB", value_name = "BYTES")]
    shm_ring: String,
    /// Messages per POSIX message queue.
    #[arg(long, default_value_t = ipc_lab::mechanism::mqueue::DEFAULT_DEPTH, value_name = "N")]
    mq_depth: usize,
    /// Bytes per POSIX queue message; larger frames are fragmented.
    #[arg(long, default_value = "8192", value_name = "BYTES")]
    mq_msg_size: String,
    /// Faults the producers inject on purpose, to see what the receivers detect: a fraction of
    /// frames (0.01 or 1%) or given sequence numbers (seq:5:17) per kind, e.g.
    /// drop=0.01,dup=0.01,reorder=seq:7,corrupt=1%,seed=3. One-way patterns only.
    #[arg(long, value_name = "FAULTS")]
    inject: Option<String>,
    /// Also write the runs as a Chrome trace (open it in ui.perfetto.dev): a track per process,
    /// an arrow from each send to its receive, buffer fill; messages sampled at high rates.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

/// `run --variant`'s help names the built-ins' variants as the registry has them (a list
/// written by hand once offered one the binary refused).
fn variant_help() -> String {
    let listed: Vec<String> = ipc_lab::programs::spec::named_variants()
        .into_iter()
        .map(|(id, names)| format!("{id}: {}", names.join(", ")))
        .collect();
    format!("Run a named variant ({}); --fixed runs the fix", listed.join("; "))
}

fn main() -> ExitCode {
    let command = Cli::command().mut_subcommand("run", |c| c.mut_arg("variant", |a| a.help(variant_help())));
    let cli = Cli::from_arg_matches_mut(&mut command.get_matches()).unwrap_or_else(|e| e.exit());
    match cli.command {
        Some(Cmd::Worker { spec: Some(spec), connect: None, token_file: None }) => {
            ExitCode::from(ipc_lab::traffic::worker::main(&spec) as u8)
        }
        #[cfg(target_os = "linux")]
        Some(Cmd::Worker { spec: None, connect: Some(addr), token_file }) => {
            match ipc_lab::jobs::worker::remote_main(&addr, token_file.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Cmd::Worker { .. }) => {
            eprintln!("error: ipc-lab worker takes --connect HOST:PORT (and --token-file FILE for another host)");
            ExitCode::from(2)
        }
        #[cfg(target_os = "linux")]
        Some(Cmd::Actor { spec }) => ExitCode::from(ipc_lab::programs::actor::main(&spec) as u8),
        #[cfg(target_os = "linux")]
        Some(Cmd::JobWorker { spec }) => ExitCode::from(ipc_lab::jobs::worker::main(&spec) as u8),
        #[cfg(feature = "mpi")]
        Some(Cmd::MpiRank { spec }) => ExitCode::from(ipc_lab::jobs::mpi::rank::main(&spec) as u8),
        command => match dispatch(command, cli.gui) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn dispatch(command: Option<Cmd>, gui: GuiArgs) -> anyhow::Result<ExitCode> {
    match command {
        Some(Cmd::Bench(args)) => bench_cmd(*args),
        Some(Cmd::Run(args)) => run_cmd(args),
        Some(Cmd::List { what: ListWhat::Scenarios { lang } }) => {
            let lang = cli_lang(lang.as_deref())?;
            #[cfg(target_os = "linux")]
            for s in ipc_lab::programs::spec::builtin() {
                let s = s.map_err(anyhow::Error::msg)?;
                println!("{:<22} {}", s.id, s.title_in(lang));
            }
            let _ = lang;
            for (id, _, _) in ipc_lab::traffic::setup::builtin() {
                println!("{id:<22} {}", ipc_lab::traffic::setup::list_line(id));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::List { what: ListWhat::Lessons { lang } }) => list_lessons(lang.as_deref()),
        Some(Cmd::Lesson { what: LessonCmd::Check { dir } }) => lesson_check(dir.as_deref()),
        Some(Cmd::Token { what: TokenCmd::New { file } }) => {
            ipc_lab::jobs::auth::Token::create_file(&file).map_err(anyhow::Error::msg)?;
            println!(
                "wrote a new token to {} (mode 0600): copy it to each host whose workers may join",
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::List { what: ListWhat::Mechanisms { lang } }) => {
            cli_lang(lang.as_deref())?;
            for line in ipc_lab::mechanism::listing() {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(target_os = "linux")]
        Some(Cmd::Job(args)) => job_cmd(*args),
        Some(Cmd::Worker { .. } | Cmd::Actor { .. } | Cmd::JobWorker { .. }) => {
            bail!("internal commands are started by the supervisor")
        }
        #[cfg(feature = "mpi")]
        Some(Cmd::MpiRank { .. }) => bail!("internal commands are started by the supervisor"),
        Some(Cmd::Gui(args)) => gui_cmd(args),
        None => gui_cmd(gui),
        Some(Cmd::Scenarios) => {
            for (id, what, _) in ipc_lab::traffic::setup::builtin() {
                println!("{id:<10} {what}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `ipc-lab list lessons`: one line per lesson, in course order.
/// The language of a command's text output: `--lang`, else the locale; `tr!` on this thread
/// speaks it from now on.
fn cli_lang(lang: Option<&str>) -> anyhow::Result<ipc_lab::lessons::Lang> {
    let lang = match lang {
        Some(l) => l.parse::<ipc_lab::lessons::Lang>().map_err(anyhow::Error::msg)?,
        None => ipc_lab::lessons::Lang::from_env(),
    };
    ipc_lab::i18n::set_lang(lang);
    Ok(lang)
}

fn list_lessons(lang: Option<&str>) -> anyhow::Result<ExitCode> {
    #[cfg(target_os = "linux")]
    {
        use ipc_lab::lessons::Lessons;
        let lang = cli_lang(lang)?;
        let lessons = Lessons::builtin().context("the built-in lessons")?;
        for l in lessons.in_lang(lang) {
            println!("{:<26} {}", l.id, l.title);
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = lang;
        bail!("lessons need Linux (their experiments run scenario programs)")
    }
}

/// `ipc-lab lesson check [DIR]`: every problem, by file and line, on stderr.
fn lesson_check(dir: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    #[cfg(target_os = "linux")]
    {
        use ipc_lab::lessons::{Lang, Lessons};
        let loaded = match dir {
            Some(d) => Lessons::load_dir(d),
            None => Lessons::builtin(),
        };
        match loaded {
            Ok(l) => {
                let per_lang: Vec<String> =
                    Lang::ALL.iter().map(|&lang| format!("{} {lang}", l.in_lang(lang).count())).collect();
                println!("lessons: {}; {} experiments: all well", per_lang.join(", "), l.experiments.len());
                for warning in untranslated(&l) {
                    eprintln!("warning: {warning}");
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                for problem in &e.0 {
                    eprintln!("error: {problem}");
                }
                eprintln!("{} problem(s)", e.0.len());
                Ok(ExitCode::from(2))
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        bail!("lessons need Linux (their experiments run scenario programs)")
    }
}

/// What a Chinese reader would see in English: scenario programs and stage experiments lacking
/// words in zh-CN.
#[cfg(target_os = "linux")]
fn untranslated(lessons: &ipc_lab::lessons::Lessons) -> Vec<String> {
    let mut out = Vec::new();
    for e in &lessons.experiments {
        if let ipc_lab::lessons::experiments::What::Stage(s) = &e.what
            && !s.text.contains_key("zh-CN")
        {
            out.push(format!("{}:{}: experiment {}: no zh-CN name (shown in English)", e.file, e.line, e.id));
        }
    }
    for s in ipc_lab::programs::spec::builtin().into_iter().flatten() {
        for lang in ipc_lab::lessons::Lang::ALL {
            for m in s.missing_text(lang) {
                out.push(format!("scenario {}: {m} in {lang} (shown in English)", s.id));
            }
        }
    }
    out
}

/// `ipc-lab run`: exit 0 completed, 3 deadlock (the kernel's EDEADLK too), 4 hang, 1 failed or
/// timed out, 2 bad input.
fn run_cmd(a: RunArgs) -> anyhow::Result<ExitCode> {
    #[cfg(target_os = "linux")]
    {
        use ipc_lab::programs::run::Verdict;
        cli_lang(a.lang.as_deref())?;
        let scenario = ipc_lab::programs::spec::resolve(&a.scenario).map_err(anyhow::Error::msg)?;
        if !(a.timeout > 0.0 && a.timeout <= 3600.0) {
            bail!("--timeout needs seconds above 0 and at most an hour, not {}", a.timeout);
        }
        let json = match a.format.as_str() {
            "text" => false,
            "json" => true,
            other => bail!("unknown format '{other}' (known: text, json)"),
        };
        let exe = std::env::current_exe().context("finding the ipc-lab executable")?;
        let variant = match (&a.variant, a.fixed) {
            (Some(v), _) => v.clone(),
            (None, true) => "fixed".to_string(),
            (None, false) => String::new(),
        };
        scenario.processes(&variant).map_err(anyhow::Error::msg)?;
        let timeout = std::time::Duration::from_secs_f64(a.timeout);
        let links: MechanismId = a.mechanism.parse().map_err(anyhow::Error::msg)?;
        if !matches!(links, MechanismId::Pipe | MechanismId::Unix) {
            bail!("--mechanism for a scenario program is pipe or unix (its pipes made of a socket pair), not {links}");
        }
        let outcome = ipc_lab::programs::run::run_over(&scenario, &variant, &exe, timeout, links)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        } else {
            for line in ipc_lab::programs::say::outcome(&scenario, &outcome) {
                println!("{line}");
            }
        }
        Ok(ExitCode::from(match outcome.verdict {
            Verdict::Completed if outcome.unexpected.is_empty() => 0,
            Verdict::Deadlock { .. } | Verdict::KernelCaught { .. } => 3,
            Verdict::Hang { .. } | Verdict::Suspected { .. } => 4,
            _ => 1,
        }))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = a;
        bail!("scenario programs need Linux (robust process-shared mutexes, fcntl deadlock detection)")
    }
}

/// `println!` that does not panic when stdout is closed (`ipc-lab job | head`): the job goes on
/// to its end and cleans up, its report simply unread.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `ipc-lab job`: one job, a sweep over worker counts, or the kinds of worker compared.
#[cfg(target_os = "linux")]
fn job_cmd(a: ipc_lab::jobs::spec::JobArgs) -> anyhow::Result<ExitCode> {
    use ipc_lab::jobs::{coordinator, say, spec::JobSpec, sweep};
    cli_lang(a.lang.as_deref())?;
    let json = match a.format.as_str() {
        "text" => false,
        "json" => true,
        f => bail!("--format is text or json, not '{f}'"),
    };
    let spec = JobSpec::from_args(&a).map_err(anyhow::Error::msg)?;
    let counts =
        a.sweep_workers.as_deref().map(ipc_lab::jobs::spec::parse_sweep).transpose().map_err(anyhow::Error::msg)?;
    let exe = std::env::current_exe().context("finding this executable")?;
    if let Some(counts) = counts {
        let s = sweep::sweep(&spec, &counts, &exe, None, |o| {
            if !json {
                eprintln!(
                    "  {} × {}: {}",
                    o.workers.len(),
                    say::kind(o.spec.kind, o.workers.len()),
                    say::millis(o.elapsed_ns)
                );
            }
        })
        .map_err(anyhow::Error::msg)?;
        if json {
            outln!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            let counts: Vec<String> = s.points.iter().map(|p| p.workers.to_string()).collect();
            outln!("{} (swept over {} workers)", say::headline(&spec), counts.join(", "));
            outln!("workers  median of {}   speedup  efficiency  communication  exact", sweep::REPEATS);
            for p in &s.points {
                outln!(
                    "{:>7} {:>9} {:>8.2}× {:>10.0}% {:>13.0}%  {}{}",
                    p.workers,
                    say::millis(p.elapsed_ns),
                    p.speedup,
                    p.efficiency * 100.0,
                    p.comm_share * 100.0,
                    p.exact,
                    if p.oversubscribed { format!("  (more workers than the {} CPUs)", s.cpus) } else { String::new() }
                );
            }
            let slower = s.points.iter().any(|p| p.workers > 1 && p.speedup < 1.0 && !p.oversubscribed);
            match s.serial_share {
                Some(f) if f > 0.0 => outln!(
                    "Amdahl fit: serial share {:.1}% (speedup at most {:.1}× with any number of workers)",
                    f * 100.0,
                    1.0 / f
                ),
                Some(_) => outln!("Amdahl fit: serial share 0% (no limit seen within these counts)"),
                None if slower => outln!(
                    "no Amdahl fit: with more workers the job got slower (communication-bound, or the machine is busy)"
                ),
                None => outln!("Amdahl fit: needs a point with 2 or more workers within the CPUs"),
            }
        }
        let exact = s.points.iter().all(|p| p.exact);
        return Ok(if exact { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    if a.compare_as {
        let rows = sweep::compare_kinds(&spec, &exe, None).map_err(anyhow::Error::msg)?;
        if json {
            let python = if matches!(spec.data, ipc_lab::jobs::spec::DataSource::Range { .. }) {
                sweep::python_column(spec.data.len(), spec.workers)
            } else {
                sweep::Python::Skipped { why: "the column's example sums the numbers 1 to N (range data)".into() }
            };
            outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "kinds": rows, "python": python }))?);
        } else {
            outln!("{}", say::headline(&spec));
            outln!(
                "as          start-up/worker  memory/worker  1 worker   {} workers  speedup  communication",
                spec.workers
            );
            for r in &rows {
                outln!(
                    "{:<10} {:>15} {:>14} {:>9} {:>11} {:>7.2}× {:>13.0}%",
                    r.kind.as_str(),
                    format!("{:.2} ms", r.startup_per_worker_ns as f64 / 1e6),
                    r.memory_per_worker_kib.map_or("-".into(), |k| if k == 0 {
                        "< 4 KiB".into()
                    } else {
                        format!("{k} KiB")
                    }),
                    say::millis(r.one_worker_ns),
                    say::millis(r.n_workers_ns),
                    r.speedup,
                    r.comm_share * 100.0
                );
            }
            outln!(
                "memory: a process's proportional set size (shared pages split); threads and tasks: the coordinator's growth divided by the workers"
            );
            outln!(
                "async-1: all tasks take turns on one thread, and a task computing holds it until its chunk is done, so computing never overlaps; waiting does (try --wait-ms)"
            );
            // The column's own example, when Python is here: the same items and workers.
            if matches!(spec.data, ipc_lab::jobs::spec::DataSource::Range { .. }) {
                match sweep::python_column(spec.data.len(), spec.workers) {
                    sweep::Python::Ran(t) => {
                        outln!(
                            "Python {} ({}), the column's example (a plain sum: compare with --work 0) with the same items and {} processes:",
                            t.python,
                            t.start_method,
                            spec.workers
                        );
                        outln!(
                            "  Process per part, as the column writes it: {:.1} ms, and the sums are lost",
                            t.as_written_s * 1e3
                        );
                        outln!("  Pool.map, the fix: {:.1} ms, sum {}", t.pool_map_s * 1e3, t.pool_map_sum);
                        outln!("  sum() in one process: {:.1} ms, sum {}", t.one_process_s * 1e3, t.one_process_sum);
                    }
                    sweep::Python::Skipped { why } => outln!("Python comparison skipped: {why}"),
                }
            }
        }
        let exact = rows.iter().all(|r| r.exact);
        return Ok(if exact { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    if !json {
        outln!("{}", say::headline(&spec));
    }
    let mut t0 = 0;
    let outcome = ipc_lab::jobs::run(&spec, &exe, None, &mut |e| {
        if let coordinator::JobEvent::Started { at_ns } = &e {
            t0 = *at_ns;
        }
        // Where to join, who joined: on stderr in every format (json's stdout stays one document).
        if let coordinator::JobEvent::Remote { note, .. } = &e {
            eprintln!("{}", say::remote(note));
        } else if let coordinator::JobEvent::Listening { addr, dial, token, .. } = &e {
            eprintln!("{}", say::listening(addr, dial, *token));
        } else if let coordinator::JobEvent::Node { .. } = &e {
            eprintln!("{}", say::event(&e, t0).unwrap_or_default());
        } else if !json && let Some(line) = say::event(&e, t0) {
            outln!("{line}");
        }
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(why) => {
            eprintln!("error: the job failed: {why}");
            return Ok(ExitCode::from(1));
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        for line in say::report(&outcome) {
            outln!("{line}");
        }
    }
    Ok(if outcome.exact { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn gui_cmd(a: GuiArgs) -> anyhow::Result<ExitCode> {
    ipc_lab::app::run(gui_options(a)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Checks the GUI's options and turns them into the app's, before any window opens.
fn gui_options(a: GuiArgs) -> anyhow::Result<ipc_lab::app::AppOptions> {
    let scenario =
        a.setup.as_deref().map(ipc_lab::traffic::setup::Setup::resolve).transpose().map_err(anyhow::Error::msg)?;
    let mechanism = a.mechanism.as_deref().map(str::parse::<MechanismId>).transpose().map_err(anyhow::Error::msg)?;
    if let Some(m) = mechanism {
        m.availability().map_err(|why| anyhow::anyhow!("mechanism '{m}' is not available on this platform: {why}"))?;
    }
    let frame_stats = match a.frame_stats {
        Some(secs) if secs > 0.0 && secs <= 86_400.0 => Some(std::time::Duration::from_secs_f64(secs)),
        Some(secs) => bail!("--frame-stats needs a number of seconds above 0 and at most a day (86400), not {secs}"),
        None => None,
    };
    let lang = a.lang.as_deref().map(str::parse::<ipc_lab::lessons::Lang>).transpose().map_err(anyhow::Error::msg)?;
    if let Some(id) = &a.lesson {
        let lessons = ipc_lab::lessons::Lessons::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
        let l = lang.unwrap_or_else(ipc_lab::lessons::Lang::from_env);
        if lessons.get(id, l).is_none() {
            let ids: Vec<String> = lessons.in_lang(l).map(|x| x.id.clone()).collect();
            bail!("no lesson '{id}' (known: {})", ids.join(", "));
        }
    }
    if let Some(line) = &a.job {
        ipc_lab::app::jobs_ui::JobsUi::from_line(line).map_err(|e| anyhow::anyhow!("--job: {e}"))?;
    }
    if let Some(id) = &a.program {
        let p = ipc_lab::programs::spec::builtin()
            .into_iter()
            .flatten()
            .find(|s| &s.id == id)
            .ok_or_else(|| anyhow::anyhow!("no built-in scenario program '{id}' (see: ipc-lab list scenarios)"))?;
        p.processes(a.variant.as_deref().unwrap_or("")).map_err(anyhow::Error::msg)?;
    }
    Ok(ipc_lab::app::AppOptions {
        setup: scenario,
        mechanism,
        autostart: a.autostart,
        presenter: a.presenter,
        frame_stats,
        animate: true,
        program: a.program,
        variant: a.variant.unwrap_or_default(),
        schedule: a.schedule,
        lesson: a.lesson,
        job: a.job,
        lang,
        progress_path: None,
        bundled_font: false,
    })
}

fn bench_cmd(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let out = a.out.clone();
    let trace_file = a.trace.clone();
    let save = a.save.clone();
    let plan = bench_plan(a)?;
    let exe = std::env::current_exe().context("finding the ipc-lab executable")?;
    let mut trace = trace_file.as_ref().map(|_| ipc_lab::traffic::trace::TraceBuilder::new());
    let (reports, failures) = bench::run_all(&plan.specs, &exe, trace.as_mut());
    let mut text = bench::render(&reports, plan.format);
    if plan.format == Format::Table {
        text.push_str(&bench::render_observer(&bench::observer_effect(&reports)));
    }
    bench::emit(&text, out.as_deref()).context("writing the results")?;
    if let Some(path) = save {
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        std::fs::write(&path, bench::result_file(&reports, &command))
            .with_context(|| format!("saving the results to {}", path.display()))?;
    }
    if let (Some(path), Some(t)) = (trace_file, trace) {
        std::fs::write(&path, t.finish()).with_context(|| format!("writing the trace to {}", path.display()))?;
    }
    for f in &failures {
        eprintln!("error: run failed: {f}");
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What `bench` will run, every combination checked before any process starts.
struct BenchPlan {
    specs: Vec<RunSpec>,
    format: Format,
}

fn bench_plan(a: BenchArgs) -> anyhow::Result<BenchPlan> {
    let mechanisms = bench::parse_mechanisms(&a.mechanism).map_err(anyhow::Error::msg)?;
    let sizes = if a.size.trim() == "sweep" {
        bench::SWEEP.to_vec()
    } else {
        a.size.split(',').map(|s| parse_bytes(s).map_err(anyhow::Error::msg)).collect::<anyhow::Result<Vec<_>>>()?
    };
    let format: Format = a.format.parse().map_err(anyhow::Error::msg)?;
    let pattern: ipc_lab::traffic::spec::Pattern = a.pattern.parse().map_err(anyhow::Error::msg)?;
    let shm_waits = a
        .shm_wait
        .split(',')
        .map(|w| w.trim().parse::<ShmWait>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let shm_wait = *shm_waits.first().ok_or_else(|| anyhow::anyhow!("--shm-wait names no wake-up"))?;
    let placements = match &a.placement {
        Some(list) => bench::parse_placements(list).map_err(anyhow::Error::msg)?,
        None => vec![None],
    };
    let pin = a.pin.as_deref().map(bench::parse_cpu_list).transpose().map_err(anyhow::Error::msg)?;
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    let base = RunSpec {
        pattern,
        count: a.count,
        warmup: a.warmup,
        max_payload: parse_bytes(&a.max_size).map_err(anyhow::Error::msg).context("--max-size")?,
        shm_wait,
        shm_ring_bytes: parse_bytes(&a.shm_ring).map_err(anyhow::Error::msg).context("--shm-ring")?,
        mq_depth: a.mq_depth,
        mq_msg_size: parse_bytes(&a.mq_msg_size).map_err(anyhow::Error::msg).context("--mq-msg-size")?,
        pin,
        nodes: a.nodes,
        faults: a
            .inject
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--inject")?
            .unwrap_or_default(),
        ..RunSpec::default()
    };
    let placements = if a.placement.is_some() { placements } else { vec![base.pin.clone()] };
    let specs = bench::combinations(&base, &mechanisms, &sizes, &placements, &shm_waits, a.observer);
    // Refuse bad input before any process starts, naming the first problem.
    for spec in &specs {
        spec.validate().map_err(anyhow::Error::msg)?;
    }
    Ok(BenchPlan { specs, format })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gui_program_options_are_checked_before_a_window_opens() {
        let opts = |args: &[&str]| gui_options(Cli::try_parse_from(args).expect("parses").gui);
        let o = opts(&["ipc-lab", "--program", "race-counter-small", "--schedule", "--autostart"]).expect("valid");
        assert_eq!(o.program.as_deref(), Some("race-counter-small"));
        assert!(o.schedule && o.autostart);
        let o = opts(&["ipc-lab", "--program", "deadlock-lock-order", "--variant", "back-off"]).expect("valid");
        assert_eq!(o.variant, "back-off");
        let err = opts(&["ipc-lab", "--program", "no-such"]).unwrap_err().to_string();
        assert!(err.contains("no built-in scenario program 'no-such'"), "{err}");
        let err = opts(&["ipc-lab", "--program", "deadlock-lock-order", "--variant", "nope"]).unwrap_err().to_string();
        assert!(err.contains("has no variant 'nope'"), "{err}");
        assert!(Cli::try_parse_from(["ipc-lab", "--schedule"]).is_err(), "--schedule needs --program");
    }

    #[test]
    fn gui_options_work_without_the_gui_command_but_not_with_another() {
        let cli = Cli::try_parse_from(["ipc-lab", "--presenter", "--setup", "fan-out"]).expect("top-level gui flags");
        assert!(cli.command.is_none() && cli.gui.presenter);
        assert_eq!(cli.gui.setup.as_deref(), Some("fan-out"));
        assert!(Cli::try_parse_from(["ipc-lab", "gui", "--presenter"]).is_ok());
        assert!(Cli::try_parse_from(["ipc-lab", "bench", "--presenter"]).is_err());
        assert!(Cli::try_parse_from(["ipc-lab", "--presenter", "bench"]).is_err());
        assert!(Cli::try_parse_from(["ipc-lab", "bench", "-m", "pipe"]).is_ok());
    }

    /// Random argument lists, from the words the CLI knows and values that break naive code:
    /// parsing and every check before a process starts or a window opens give an error or a
    /// plan; never a panic. (Running a plan is the engine's business, tested elsewhere.)
    mod random_arguments {
        use super::*;
        use proptest::prelude::*;

        fn word() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(vec![
                    "bench",
                    "gui",
                    "list",
                    "mechanisms",
                    "worker",
                    "scenarios",
                    "lessons",
                    "lesson",
                    "check",
                    "--lang",
                    "zh-CN",
                    "-m",
                    "--mechanism",
                    "-s",
                    "--size",
                    "-c",
                    "--count",
                    "--warmup",
                    "-p",
                    "--pattern",
                    "--nodes",
                    "--shm-wait",
                    "--pin",
                    "-f",
                    "--format",
                    "--max-size",
                    "--shm-ring",
                    "--mq-depth",
                    "--mq-msg-size",
                    "--inject",
                    "--setup",
                    "--presenter",
                    "--autostart",
                    "--frame-stats",
                    "all",
                    "pipe,shm",
                    "64,4k",
                    "1MiB",
                    "16MiB",
                    "4GiB",
                    "0",
                    "1",
                    "-1",
                    "0-1",
                    "0-18446744073709551615",
                    "18446744073709551615",
                    "1e308",
                    "NaN",
                    "stream",
                    "ping-pong",
                    "pipeline",
                    "fan-in",
                    "spin",
                    "json",
                    "drop=0.1",
                    "drop=seq:1:2",
                    "corrupt=2",
                    "=",
                    ",",
                    "",
                    "step",
                    "/nonexistent.json",
                    "{}",
                ])
                .prop_map(str::to_string),
                "\\PC{0,12}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            #[test]
            fn never_panic(words in proptest::collection::vec(word(), 0..8)) {
                let args = std::iter::once("ipc-lab".to_string()).chain(words);
                let Ok(cli) = Cli::try_parse_from(args) else { return Ok(()) };
                match cli.command {
                    Some(Cmd::Bench(a)) => {
                        let _ = bench_plan(*a);
                    }
                    Some(Cmd::Gui(a)) => {
                        let _ = gui_options(a);
                    }
                    None => {
                        let _ = gui_options(cli.gui);
                    }
                    Some(Cmd::Worker { spec, .. }) => {
                        let spec = spec.unwrap_or_default();
                        let _ = serde_json::from_str::<ipc_lab::traffic::worker::WorkerSpec>(&spec).map(|s| s.validate());
                    }
                    Some(Cmd::Job(a)) => {
                        let _ = ipc_lab::jobs::spec::JobSpec::from_args(&a);
                    }
                    Some(Cmd::JobWorker { spec }) => {
                        let _ = serde_json::from_str::<ipc_lab::jobs::worker::WorkerSpec>(&spec);
                    }
                    #[cfg(feature = "mpi")]
                    Some(Cmd::MpiRank { .. }) => {}
                    Some(
                        Cmd::List { .. } | Cmd::Scenarios | Cmd::Run(_) | Cmd::Actor { .. } | Cmd::Lesson { .. } | Cmd::Token { .. },
                    ) => {}
                }
            }
        }
    }

    /// Found by `random_arguments`: 1e308 seconds once panicked converting to a Duration.
    #[test]
    fn absurd_frame_stats_periods_are_refused() {
        for secs in ["1e308", "18446744073709551615", "NaN", "inf", "0", "-0.5"] {
            let cli = Cli::try_parse_from(["ipc-lab", &format!("--frame-stats={secs}")]).expect("a number parses");
            let err = gui_options(cli.gui).err().unwrap_or_else(|| panic!("{secs} accepted"));
            assert!(err.to_string().contains("--frame-stats"), "{err}");
        }
    }

    #[test]
    fn the_setup_help_lists_every_built_in() {
        let help = setup_help();
        for (id, _, _) in ipc_lab::traffic::setup::builtin() {
            assert!(help.contains(id), "{id} missing from: {help}");
        }
    }
}
