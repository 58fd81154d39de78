//! Hosts on one machine: four network namespaces, a coordinator's "host", two workers' "hosts"
//! and a "switch" whose bridge joins them by veth pairs, so workers from other hosts run over a
//! real (if virtual) network: their own addresses, routing, a link that can go down. The real
//! binary runs in each: `ipc-lab job --listen` on one, `ipc-lab worker --connect` on the others.
//! What holds: the result is exact with both remote workers, a killed one's chunk is requeued, a
//! wrong token is refused on both sides, a relay that flips a bit either way is caught by the
//! end it reaches, a link down for 2 s is noticed and the worker rejoins, and nothing is left
//! behind (no namespace, no process).
//!
//! Network namespaces need root: without it (or where the kernel refuses them) each test says
//! why in one line and passes. The root namespace's network is never touched.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{assert_nothing_left, exe};
use ipc_lab::mechanism::process_alive;
use serde_json::Value;

/// The hosts' addresses on the switch's 10.77.0.0/24.
const COORDINATOR: &str = "10.77.0.1";
const HOST_A: &str = "10.77.0.2";
const HOST_B: &str = "10.77.0.3";
/// The switch's own address (on its bridge), where a relay can sit between a worker and the
/// coordinator.
const SWITCH: &str = "10.77.0.254";
const PORT: u16 = 7000;

/// How long anything this test waits for may take before it is a failure (generous: two busy
/// cores).
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Host {
    Switch,
    Coordinator,
    A,
    B,
}

impl Host {
    fn suffix(self) -> &'static str {
        match self {
            Host::Switch => "sw",
            Host::Coordinator => "coord",
            Host::A => "a",
            Host::B => "b",
        }
    }
}

/// One process started in a namespace: its stderr line by line as it comes, its stdout whole.
struct Proc {
    what: String,
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    status: Option<ExitStatus>,
}

/// A relay run by this test process inside a namespace.
struct Relay {
    stop: Arc<AtomicBool>,
    /// Every socket it holds, to shut down at the end (they hold the namespace).
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Set once the byte is flipped.
    flipped: Arc<AtomicBool>,
}

/// The four namespaces and everything started in them. Dropping it (a test that panics too)
/// kills every process it started and deletes the namespaces; [`Net::finish`] also checks that
/// nothing had to be.
struct Net {
    prefix: String,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    relays: Vec<Relay>,
    dir: PathBuf,
    token: PathBuf,
    torn_down: bool,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn must(args: &[&str]) -> String {
    ip(args).unwrap_or_else(|e| panic!("{e}"))
}

impl Net {
    /// The network, or why this machine cannot make one (then the test passes, saying so).
    fn up() -> Result<Net, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("network namespaces need root (.ci/run runs this test as root)".into());
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Err("iproute2's `ip` is not installed (.ci/run installs it)".into());
        }
        let prefix = format!("ipc-lab-netns-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for the token");
        let token = dir.join("token");
        ipc_lab::jobs::auth::Token::create_file(&token).expect("a token");
        let mut net =
            Net { prefix, namespaces: Vec::new(), procs: Vec::new(), relays: Vec::new(), dir, token, torn_down: false };
        for h in [Host::Switch, Host::Coordinator, Host::A, Host::B] {
            let name = net.ns(h);
            match ip(&["netns", "add", &name]) {
                Ok(_) => net.namespaces.push(name),
                Err(e) if net.namespaces.is_empty() && (e.contains("not permitted") || e.contains("denied")) => {
                    return Err(format!("this machine refuses network namespaces ({e})"));
                }
                Err(e) => panic!("{e}"),
            }
        }
        // The switch: a bridge with an address of its own, and one port per host.
        let sw = net.ns(Host::Switch);
        must(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        must(&["-n", &sw, "addr", "add", &format!("{SWITCH}/24"), "dev", "br0"]);
        must(&["-n", &sw, "link", "set", "br0", "up"]);
        for (h, addr) in [(Host::Coordinator, COORDINATOR), (Host::A, HOST_A), (Host::B, HOST_B)] {
            let (ns, port) = (net.ns(h), net.port(h));
            // Made inside the namespaces: the root namespace never holds either end.
            must(&["-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns]);
            must(&["-n", &sw, "link", "set", &port, "master", "br0"]);
            must(&["-n", &sw, "link", "set", &port, "up"]);
            must(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
            must(&["-n", &ns, "link", "set", "eth0", "up"]);
            must(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        Ok(net)
    }

    fn ns(&self, h: Host) -> String {
        format!("{}-{}", self.prefix, h.suffix())
    }

    /// The switch's port for host `h` (the other end is that host's eth0).
    fn port(&self, h: Host) -> String {
        format!("to-{}", h.suffix())
    }

    /// Starts `ipc-lab ARGS` in host `h`'s network namespace (only that: same files, same
    /// /dev/shm); it dies with this test's thread.
    fn start(&mut self, h: Host, what: &str, args: &[&str]) -> usize {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.ns(h))).expect("the namespace's file");
        let fd = ns.as_raw_fd();
        let mut cmd = Command::new(exe());
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // SAFETY: between fork and exec only async-signal-safe calls (setns, prctl) on an open fd.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {what}: {e}"));
        drop(ns);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (lines, err) = (stderr.clone(), child.stderr.take().expect("stderr"));
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                let Ok(l) = l else { break };
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(l);
            }
        });
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        self.procs.push(Proc { what: what.into(), child, stderr, stdout: Some(stdout), status: None });
        self.procs.len() - 1
    }

    /// The coordinator on its host: a job taking workers on 10.77.0.1:7000 with the token, one
    /// local worker, its result as JSON; returns once it listens.
    fn coordinator(&mut self, job: &str) -> usize {
        self.coordinator_as("json", job)
    }

    /// The same, its result in `format` (text also logs how each worker was lost).
    fn coordinator_as(&mut self, format: &str, job: &str) -> usize {
        let token = self.token.display().to_string();
        let listen = format!("{COORDINATOR}:{PORT}");
        // English, as the lines below are matched.
        let mut args = vec!["job", "--format", format, "--lang", "en", "--workers", "1", "--schedule", "dynamic"];
        args.extend(job.split_whitespace());
        args.extend(["--listen", &listen, "--token-file", &token]);
        let c = self.start(Host::Coordinator, "the coordinator", &args);
        self.line(c, |l| l.contains(&format!("listening on {listen}")));
        c
    }

    /// A worker on host `h` joining through `connect` with `token`; returns once it joined, with
    /// its worker id.
    fn worker(&mut self, h: Host, connect: &str) -> (usize, u32) {
        let w = self.worker_with(h, connect, &self.token.display().to_string());
        let joined = self.line(w, |l| l.starts_with("joined the job"));
        (w, worker_id(&joined))
    }

    fn worker_with(&mut self, h: Host, connect: &str, token: &str) -> usize {
        self.start(h, &format!("the worker on {h:?}"), &["worker", "--connect", connect, "--token-file", token])
    }

    fn stderr(&self, p: usize) -> Vec<String> {
        self.procs[p].stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for a line on `p`'s stderr that `pred` accepts.
    fn line(&self, p: usize, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(l) = self.stderr(p).into_iter().find(|l| pred(l)) {
                return l;
            }
            assert!(Instant::now() < deadline, "{} never said it: {:?}", self.procs[p].what, self.stderr(p));
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `p`'s exit, if it ends within `within`.
    fn wait(&mut self, p: usize, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        let proc = &mut self.procs[p];
        loop {
            if proc.status.is_none() {
                proc.status = proc.child.try_wait().expect("try_wait");
            }
            if proc.status.is_some() || Instant::now() >= deadline {
                return proc.status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The job's JSON result once the coordinator ends, which it must, successfully.
    fn result(&mut self, c: usize) -> Value {
        serde_json::from_str(&self.output(c)).expect("the job's JSON")
    }

    /// The coordinator's stdout once it ends, which it must, successfully (with an exact result:
    /// its exit code says so).
    fn output(&mut self, c: usize) -> String {
        let status = self.wait(c, PATIENCE).unwrap_or_else(|| panic!("the job did not end: {:?}", self.stderr(c)));
        let out = self.procs[c].stdout.take().expect("stdout").join().expect("stdout reader");
        let out = String::from_utf8_lossy(&out).into_owned();
        assert!(status.success(), "the job failed ({status}): {:?}\n{out}", self.stderr(c));
        out
    }

    fn kill(&mut self, p: usize) {
        // The child is not reaped yet, so its PID is still its own.
        self.procs[p].child.kill().expect("kill");
        self.wait(p, PATIENCE);
    }

    /// A relay inside `h`'s namespace: accepts on `listen`, connects each connection to
    /// `upstream` (the coordinator), and passes every byte both ways, except that on the first
    /// connection it flips one bit in the second sealed frame going `toward` one end (the first
    /// frame each way, the worker's part and its hello, lets it join).
    fn tampering_relay(&mut self, h: Host, listen: SocketAddr, upstream: SocketAddr, toward: Toward) -> usize {
        let relay = Relay {
            stop: Arc::new(AtomicBool::new(false)),
            sockets: Arc::new(Mutex::new(Vec::new())),
            threads: Arc::new(Mutex::new(Vec::new())),
            flipped: Arc::new(AtomicBool::new(false)),
        };
        let path = format!("/run/netns/{}", self.ns(h));
        let (stop, sockets, threads, flipped) =
            (relay.stop.clone(), relay.sockets.clone(), relay.threads.clone(), relay.flipped.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            // A socket belongs to the namespace of the thread that makes it: this thread moves
            // there for good, and ends with the test.
            let entered = std::fs::File::open(&path)
                .map_err(|e| e.to_string())
                .and_then(|f| nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string()));
            let listener = match entered.and_then(|_| TcpListener::bind(listen).map_err(|e| e.to_string())) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = listener.set_nonblocking(true);
            let _ = ready_tx.send(Ok(()));
            let mut first = true;
            while !stop.load(Ordering::Relaxed) {
                let down = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    Err(_) => break,
                };
                let _ = down.set_nonblocking(false);
                let Ok(up) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else { continue };
                let clones = [down.try_clone(), up.try_clone(), down.try_clone(), up.try_clone()];
                let [Ok(d1), Ok(u1), Ok(d2), Ok(u2)] = clones else { continue };
                sockets.lock().unwrap_or_else(|p| p.into_inner()).extend([d2, u2]);
                let tamper = |t: Toward| (first && t == toward).then(|| (t, flipped.clone()));
                let (to_worker, to_coordinator) = (tamper(Toward::Worker), tamper(Toward::Coordinator));
                first = false;
                let mut ts = threads.lock().unwrap_or_else(|p| p.into_inner());
                ts.push(std::thread::spawn(move || pump(up, d1, to_worker)));
                ts.push(std::thread::spawn(move || pump(down, u1, to_coordinator)));
            }
        });
        relay.threads.lock().unwrap_or_else(|p| p.into_inner()).push(t);
        match ready_rx.recv_timeout(PATIENCE) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the relay in {h:?} could not listen on {listen}: {e}"),
            Err(_) => panic!("the relay in {h:?} never started"),
        }
        self.relays.push(relay);
        self.relays.len() - 1
    }

    /// Kills and reaps everything started here, stops the relays, deletes the namespaces.
    /// Returns what had to be killed, and what still ran in a namespace after that.
    fn tear_down(&mut self) -> (Vec<String>, Vec<u32>) {
        if std::mem::replace(&mut self.torn_down, true) {
            return (Vec::new(), Vec::new());
        }
        let mut killed = Vec::new();
        for p in &mut self.procs {
            if p.status.is_none() && matches!(p.child.try_wait(), Ok(None)) {
                killed.push(format!("{} (pid {}): {:?}", p.what, p.child.id(), p.stderr.lock().map(|l| l.clone())));
                let _ = p.child.kill();
            }
            let _ = p.child.wait();
        }
        for r in &self.relays {
            r.stop.store(true, Ordering::Relaxed);
            for s in r.sockets.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        for r in &self.relays {
            // The acceptor first: it may add pumps until it sees the flag.
            let mut ts = r.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
            if !ts.is_empty() {
                let _ = ts.remove(0).join();
            }
            ts.extend(r.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default());
            for s in r.sockets.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            for t in ts {
                let _ = t.join();
            }
        }
        // Whatever still runs in our namespaces was started by something of ours (the
        // coordinator's local worker): it goes too.
        let mut stayed = Vec::new();
        for ns in &self.namespaces {
            for pid in ip(&["netns", "pids", ns]).unwrap_or_default().split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    stayed.push(pid as u32);
                    // SAFETY: a plain signal to a process in a namespace only this test uses.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while stayed.iter().any(|&p| process_alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for ns in self.namespaces.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        (killed, stayed)
    }

    /// The end of a test: every process started here must have ended by itself within a few
    /// seconds of the job's end, nothing else may run in the namespaces, and once they are
    /// deleted none of ours is listed and no process of ours is alive.
    fn finish(mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for p in 0..self.procs.len() {
            self.wait(p, deadline.saturating_duration_since(Instant::now()));
        }
        let pids: Vec<u32> = self.procs.iter().map(|p| p.child.id()).collect();
        let (killed, stayed) = self.tear_down();
        let listed = must(&["netns", "list"]);
        assert!(!listed.contains(&self.prefix), "namespaces left behind: {listed}");
        let alive: Vec<u32> = pids.iter().chain(&stayed).copied().filter(|&p| process_alive(p)).collect();
        assert!(alive.is_empty(), "processes of ours still alive: {alive:?}");
        assert!(killed.is_empty(), "these had to be killed at the end: {killed:?}");
        assert!(stayed.is_empty(), "processes still ran in our namespaces after the job: {stayed:?}");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.tear_down();
    }
}

/// Which way a relay's flipped bit goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Toward {
    Worker,
    Coordinator,
}

/// Copies `from` to `to` until either ends. With `tamper`, after the handshake's messages that
/// way and the first sealed frame, one bit of the second frame's payload is flipped.
fn pump(mut from: TcpStream, mut to: TcpStream, tamper: Option<(Toward, Arc<AtomicBool>)>) {
    let passed = match tamper {
        Some((toward, flipped)) => flip_second_frame(&mut from, &mut to, toward, &flipped),
        None => Ok(()),
    };
    if passed.is_ok() {
        let _ = std::io::copy(&mut from, &mut to);
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn flip_second_frame(
    from: &mut TcpStream,
    to: &mut TcpStream,
    toward: Toward,
    flipped: &AtomicBool,
) -> std::io::Result<()> {
    use ipc_lab::jobs::auth::{NONCE_LEN, TAG_LEN};
    // Each handshake message is "IPCA", version, kind, then its body: the coordinator's hello (a
    // nonce) and proof (a MAC), passed one at a time as the worker answers in between; the
    // worker's answer (a nonce and a MAC).
    let bodies = match toward {
        Toward::Worker => vec![NONCE_LEN, TAG_LEN],
        Toward::Coordinator => vec![NONCE_LEN + TAG_LEN],
    };
    for body in bodies {
        let mut message = vec![0u8; 6 + body];
        from.read_exact(&mut message)?;
        to.write_all(&message)?;
    }
    for frame in 0..2 {
        // A sealed frame: length (u32 LE), sequence number (u64 LE), payload, MAC.
        let mut head = [0u8; 12];
        from.read_exact(&mut head)?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let mut rest = vec![0u8; len + TAG_LEN];
        from.read_exact(&mut rest)?;
        if frame == 1 {
            rest[len / 2] ^= 0x04;
            flipped.store(true, Ordering::Relaxed);
        }
        to.write_all(&head)?;
        to.write_all(&rest)?;
    }
    Ok(())
}

/// "joined the job at ADDR as w3" → 3; "rejoined the job at ADDR as w5 (was w3)" → 5.
fn worker_id(joined: &str) -> u32 {
    let n = joined.split_once(" as w").map(|(_, n)| n.split(' ').next().unwrap_or(n));
    n.and_then(|n| n.trim().parse().ok()).unwrap_or_else(|| panic!("{joined}"))
}

/// The network, or `None` after one line saying why not.
fn net_or_skip(test: &str) -> Option<Net> {
    match Net::up() {
        Ok(n) => Some(n),
        Err(why) => {
            println!("{test}: skipped: {why}");
            None
        }
    }
}

fn worker_of(v: &Value, id: u32) -> &Value {
    v["workers"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["worker"] == id))
        .unwrap_or_else(|| panic!("no w{id}: {v}"))
}

fn chunks_of(v: &Value, id: u32) -> u64 {
    worker_of(v, id)["chunks"].as_u64().unwrap_or(0)
}

/// Chunks that went back to the queue from worker `id`.
fn requeued_from(v: &Value, id: u32) -> usize {
    v["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .filter(|c| c["steps"].as_array().is_some_and(|h| h.iter().any(|s| s["what"] == "requeued" && s["from"] == id)))
        .count()
}

/// The job's own checks: exact, every item once, and its named resources and local worker gone.
fn assert_exact(v: &Value, items: u64) {
    assert_eq!(v["exact"], Value::Bool(true), "not exact: {v}");
    let counted: u64 = v["workers"].as_array().expect("workers").iter().filter_map(|w| w["items"].as_u64()).sum();
    assert_eq!(counted, items, "every item counted once: {v}");
    let local: Vec<u32> =
        v["workers"].as_array().expect("workers").iter().filter_map(|w| w["pid"].as_u64()).map(|p| p as u32).collect();
    assert_nothing_left(v["resource_prefix"].as_str().unwrap_or("ipc-lab-none-"), &local);
}

/// Two workers on two other hosts join the job over the switch, from their own addresses, and
/// both compute chunks; the result is exact and every process ends by itself.
#[test]
fn two_workers_on_two_other_hosts_share_the_job_and_the_result_is_exact() {
    let Some(mut net) = net_or_skip("two_workers_on_two_other_hosts") else { return };
    let c = net.coordinator("--chunk 1000 --data range:40000 --wait-ms 50");
    let to = format!("{COORDINATOR}:{PORT}");
    let (a, wa) = net.worker(Host::A, &to);
    let (b, wb) = net.worker(Host::B, &to);
    let v = net.result(c);
    assert_exact(&v, 40_000);
    assert_eq!(v["workers"].as_array().map(|w| w.len()), Some(3), "the local worker and the two remote ones: {v}");
    for (id, host) in [(wa, HOST_A), (wb, HOST_B)] {
        net.line(c, |l| l.contains(&format!("w{id} joined from {host}:")));
        assert!(worker_of(&v, id)["pid"].is_null(), "a remote worker has no PID here: {v}");
        assert!(chunks_of(&v, id) > 0, "w{id} on {host} computed: {v}");
    }
    for w in [a, b] {
        let status = net.wait(w, PATIENCE).expect("the worker ends with the job");
        assert!(status.success(), "{status}: {:?}", net.stderr(w));
    }
    net.finish();
}

/// A remote worker SIGKILLed mid-job: its connection ends, the chunk it held goes back to the
/// queue, and the result is exact.
#[test]
fn a_remote_worker_killed_mid_job_has_its_chunk_requeued() {
    let Some(mut net) = net_or_skip("a_remote_worker_killed_mid_job") else { return };
    let c = net.coordinator("--chunk 1000 --data range:60000 --wait-ms 100");
    let to = format!("{COORDINATOR}:{PORT}");
    let (a, wa) = net.worker(Host::A, &to);
    let (b, wb) = net.worker(Host::B, &to);
    // Chunks take 100 ms and a worker asks again at once: it is killed holding one.
    std::thread::sleep(Duration::from_millis(450));
    net.kill(b);
    let v = net.result(c);
    assert_exact(&v, 60_000);
    assert!(requeued_from(&v, wb) >= 1, "w{wb}'s chunk was requeued: {}", v["chunks"]);
    assert_eq!(worker_of(&v, wb)["fate"], "died", "{v}");
    assert!(chunks_of(&v, wa) > 0, "{v}");
    assert!(net.wait(a, PATIENCE).is_some_and(|s| s.success()), "{:?}", net.stderr(a));
    net.finish();
}

/// A worker with another token is refused: one line on its side, one on the coordinator's, and
/// it never becomes a worker; the job ends exact with the local worker and a right one.
#[test]
fn a_worker_with_the_wrong_token_is_refused_on_both_sides_and_computes_nothing() {
    let Some(mut net) = net_or_skip("a_worker_with_the_wrong_token") else { return };
    let wrong = net.dir.join("wrong-token");
    ipc_lab::jobs::auth::Token::create_file(&wrong).expect("another token");
    let c = net.coordinator("--chunk 1000 --data range:40000 --wait-ms 50");
    let to = format!("{COORDINATOR}:{PORT}");
    let (a, wa) = net.worker(Host::A, &to);
    let b = net.worker_with(Host::B, &to, &wrong.display().to_string());
    let status = net.wait(b, PATIENCE).expect("the refused worker ends");
    assert_eq!(status.code(), Some(1), "{:?}", net.stderr(b));
    let said = net.stderr(b);
    assert!(
        said.len() == 1 && said[0].contains("refused") && said[0].contains("token") && said[0].contains(&to),
        "one clear line: {said:?}"
    );
    let v = net.result(c);
    assert_exact(&v, 40_000);
    let lines = net.stderr(c);
    let about_b: Vec<&String> = lines.iter().filter(|l| l.contains(HOST_B)).collect();
    assert!(
        about_b.len() == 1 && about_b[0].contains("refused") && about_b[0].contains("token"),
        "one clear line on the coordinator's side: {lines:?}"
    );
    assert_eq!(v["workers"].as_array().map(|w| w.len()), Some(2), "only the local worker and w{wa}: {v}");
    assert!(chunks_of(&v, wa) > 0, "{v}");
    assert!(net.wait(a, PATIENCE).is_some_and(|s| s.success()), "{:?}", net.stderr(a));
    net.finish();
}

/// A relay on the switch between one worker and the coordinator flips one bit of the first task
/// after the handshake: the worker finds the frame's MAC wrong and says so, its connection is
/// dropped, the coordinator requeues that task, and the honest workers finish the job exactly.
/// The worker joins again (through the relay, honest from then on) as a new worker.
#[test]
fn a_relay_that_flips_a_byte_toward_the_worker_is_caught_there() {
    let Some(mut net) = net_or_skip("a_relay_that_flips_a_byte_toward_the_worker") else { return };
    let coordinator: SocketAddr = format!("{COORDINATOR}:{PORT}").parse().expect("address");
    let relay_at: SocketAddr = format!("{SWITCH}:{PORT}").parse().expect("address");
    let c = net.coordinator("--chunk 1000 --data range:40000 --wait-ms 50");
    let relay = net.tampering_relay(Host::Switch, relay_at, coordinator, Toward::Worker);
    let (a, wa) = net.worker(Host::A, &coordinator.to_string());
    // Through the relay the handshake and the first frame pass: the worker joins.
    let (b, wb) = net.worker(Host::B, &relay_at.to_string());
    net.line(c, |l| l.contains(&format!("w{wb} joined from {SWITCH}:")));
    let broken = net.line(b, |l| l.contains("altered"));
    assert!(broken.starts_with(&format!("w{wb}: the link to {relay_at} broke")), "{broken}");
    assert!(net.relays[relay].flipped.load(Ordering::Relaxed), "the relay flipped its bit");
    let again = net.line(b, |l| l.starts_with("rejoined the job"));
    assert!(again.ends_with(&format!("(was w{wb})")), "{again}");
    let v = net.result(c);
    assert_exact(&v, 40_000);
    assert_eq!(net.stderr(b).iter().filter(|l| l.contains("altered")).count(), 1, "one line: {broken}");
    assert!(requeued_from(&v, wb) >= 1, "the task it never opened was requeued: {}", v["chunks"]);
    assert_eq!(chunks_of(&v, wb), 0, "nothing of the tampered link counted: {v}");
    assert_eq!(worker_of(&v, wb)["fate"], "died", "{v}");
    assert!(chunks_of(&v, wa) > 0, "{v}");
    for w in [a, b] {
        assert!(net.wait(w, PATIENCE).is_some_and(|s| s.success()), "{:?}", net.stderr(w));
    }
    net.finish();
}

/// The same relay flipping one bit the other way, in the worker's first heartbeat: the
/// coordinator finds the MAC wrong and drops the link (its log says why), the chunk goes back to
/// the queue, and the job ends exact; the worker only sees its connection end, and joins again.
#[test]
fn a_relay_that_flips_a_byte_toward_the_coordinator_is_caught_there() {
    let Some(mut net) = net_or_skip("a_relay_that_flips_a_byte_toward_the_coordinator") else { return };
    let coordinator: SocketAddr = format!("{COORDINATOR}:{PORT}").parse().expect("address");
    let relay_at: SocketAddr = format!("{SWITCH}:{PORT}").parse().expect("address");
    // Chunks wait 150 ms and beat every 100 ms: the frame after the hello is a heartbeat.
    let c = net.coordinator_as("text", "--chunk 1000 --data range:40000 --wait-ms 150 --heartbeat-ms 100");
    let relay = net.tampering_relay(Host::Switch, relay_at, coordinator, Toward::Coordinator);
    let (a, wa) = net.worker(Host::A, &coordinator.to_string());
    let (b, wb) = net.worker(Host::B, &relay_at.to_string());
    let broke = net.line(b, |l| l.starts_with(&format!("w{wb}: the link to {relay_at} broke")));
    assert!(!broke.contains("altered"), "the worker sent the frame; the coordinator caught it: {broke}");
    assert!(net.relays[relay].flipped.load(Ordering::Relaxed), "the relay flipped its bit");
    let out = net.output(c);
    let gone = format!("w{wb} is gone: its link failed (");
    assert!(out.lines().any(|l| l.contains(&gone) && l.contains("altered")), "the coordinator says why:\n{out}");
    assert!(out.lines().any(|l| l.ends_with(&format!("requeued (it was with w{wb})"))), "{out}");
    assert!(out.lines().any(|l| l.starts_with("exact: ")), "{out}");
    // The report's table: worker, pid, start-up ("1.2 ms"), chunks, ...
    let chunks = |w: u32| {
        let row = out.lines().find(|l| l.starts_with(&format!("w{w} "))).unwrap_or_else(|| panic!("no w{w}:\n{out}"));
        row.split_whitespace().nth(4).and_then(|n| n.parse::<u64>().ok()).unwrap_or_else(|| panic!("{row}"))
    };
    assert!(chunks(wa) > 0, "{out}");
    assert_eq!(chunks(wb), 0, "nothing of the tampered link counted:\n{out}");
    for w in [a, b] {
        assert!(net.wait(w, PATIENCE).is_some_and(|s| s.success()), "{:?}", net.stderr(w));
    }
    net.finish();
}

/// Host B's cable is pulled for 2 s (its switch port set down) while it computes: the
/// coordinator notices the silence after five heartbeats, requeues its chunk and drops the
/// connection; once the link is back the worker learns its connection is gone, connects again,
/// proves the token and rejoins as a new worker naming the old one, and computes again; the
/// result is exact.
#[test]
fn a_link_down_for_two_seconds_is_noticed_and_the_worker_rejoins() {
    let Some(mut net) = net_or_skip("a_link_down_for_two_seconds") else { return };
    let c = net.coordinator("--chunk 1000 --data range:60000 --wait-ms 200 --heartbeat-ms 100");
    let to = format!("{COORDINATOR}:{PORT}");
    let (b, wb) = net.worker(Host::B, &to);
    // Chunks take 200 ms and a worker asks again at once: the link goes down mid-chunk.
    std::thread::sleep(Duration::from_millis(500));
    let (sw, port) = (net.ns(Host::Switch), net.port(Host::B));
    must(&["-n", &sw, "link", "set", &port, "down"]);
    let down = Instant::now();
    let dropped = net.line(c, |l| l.starts_with(&format!("w{wb} dropped: silent")));
    assert!(down.elapsed() < Duration::from_secs(2), "noticed while the link was down: {dropped}");
    std::thread::sleep(Duration::from_secs(2).saturating_sub(down.elapsed()));
    must(&["-n", &sw, "link", "set", &port, "up"]);
    let again = net.line(b, |l| l.starts_with("rejoined the job"));
    let wn = worker_id(&again);
    assert!(again.ends_with(&format!("(was w{wb})")), "{again}");
    net.line(c, |l| l == format!("w{wn} is w{wb} joining again"));
    net.line(c, |l| {
        l.starts_with(&format!("w{wn} is on host "))
            && l.contains(HOST_B)
            && l.ends_with(&format!("w{wb} joining again"))
    });
    let v = net.result(c);
    assert_exact(&v, 60_000);
    assert!(requeued_from(&v, wb) >= 1, "w{wb}'s chunk was requeued: {}", v["chunks"]);
    assert_eq!(worker_of(&v, wb)["fate"], "dropped (silent)", "{v}");
    assert_eq!(worker_of(&v, wn)["node"]["rejoins"], wb, "{v}");
    assert!(chunks_of(&v, wn) > 0, "w{wn}, back, computed again: {v}");
    assert!(net.wait(b, PATIENCE).is_some_and(|s| s.success()), "{:?}", net.stderr(b));
    net.finish();
}
