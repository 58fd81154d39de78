//! Who may join a job from another host, and that nothing on the wire is altered (issue 17).
//!
//! Both ends hold the same 32-byte secret, a token file (`ipc-lab token new F`). The secret never
//! crosses the wire: a mutual HMAC-SHA256 challenge–response with a fresh nonce from each side
//! proves each end knows it, and derives a session key from both nonces. After the handshake
//! every frame carries its sequence number and an HMAC under that key, so a frame altered,
//! dropped, reordered or replayed is detected and the connection dropped.
//!
//! What this protects: who may join, and integrity. Not confidentiality: the data itself crosses
//! in the clear.
//!
//! ```text
//! coordinator                                   worker
//!   hello(nonce_c)                     ──────▶
//!                                      ◀──────   answer(nonce_w, HMAC(K, "worker" ‖ nonce_c ‖ nonce_w))
//!   proof(HMAC(K, "coordinator" ‖ nonce_w ‖ nonce_c)) ──▶
//! session key = HMAC(K, "session" ‖ nonce_c ‖ nonce_w)
//! ```
//!
//! Every handshake message has a fixed size, and a frame's length is checked against
//! [`MAX_FRAME`] before anything is allocated.

use std::io::{Read, Write};
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bytes of the shared secret, of each nonce and of each MAC.
pub const TOKEN_LEN: usize = 32;
pub const NONCE_LEN: usize = 32;
pub const TAG_LEN: usize = 32;
/// The largest frame payload a sealed link accepts: one of the job's frames (its header and
/// largest payload). A forged length cannot make either end reserve more.
pub const MAX_FRAME: usize = crate::wire::HEADER_LEN + super::proto::MAX_PAYLOAD;

const MAGIC: &[u8; 4] = b"IPCA";
const VERSION: u8 = 1;
const HELLO: u8 = 1;
const ANSWER: u8 = 2;
const PROOF: u8 = 3;
/// The coordinator's last word to a worker whose answer did not match: no body, then it hangs
/// up. It tells the worker nothing it did not know, but lets it say so in one clear line.
const REFUSED: u8 = 4;

/// Why a handshake or a sealed frame failed: one clear line each.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the peer does not know the token (its proof does not match)")]
    WrongToken,
    #[error("our token is not the coordinator's: check --token-file")]
    Refused,
    #[error("not an ipc-lab peer, or another version (bad handshake header)")]
    NotAPeer,
    #[error("the connection ended during the handshake")]
    Truncated,
    #[error("the connection ended in the middle of a frame")]
    CutOff,
    /// The peer closed the connection cleanly, between frames.
    #[error("the connection ended")]
    Closed,
    #[error("a frame of {0} bytes is larger than the {MAX_FRAME} allowed")]
    TooLarge(u64),
    #[error("a frame was altered on the wire (its MAC does not match): connection dropped")]
    Tampered,
    #[error("frame {got} arrived where {want} was due (replayed, dropped or reordered): connection dropped")]
    OutOfSequence { got: u64, want: u64 },
    #[error("{0}")]
    Io(String),
}

fn io(e: std::io::Error) -> AuthError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof { AuthError::Truncated } else { AuthError::Io(e.to_string()) }
}

/// The shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token([u8; TOKEN_LEN]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)") // never printed
    }
}

impl Token {
    pub fn from_bytes(b: [u8; TOKEN_LEN]) -> Token {
        Token(b)
    }

    /// 32 bytes from the operating system's random source.
    pub fn random() -> Result<Token, String> {
        let mut b = [0u8; TOKEN_LEN];
        getrandom::fill(&mut b).map_err(|e| format!("no random bytes from the system: {e}"))?;
        Ok(Token(b))
    }

    /// Writes a new token to `path` as 64 hex digits, readable by its owner only (mode 0600);
    /// an existing file is not overwritten.
    pub fn create_file(path: &Path) -> Result<Token, String> {
        let t = Token::random()?;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        writeln!(f, "{}", t.hex()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(t)
    }

    /// Reads a token file; refuses one that others may read (the secret would not be one).
    pub fn load(path: &Path) -> Result<Token, String> {
        let shown = path.display();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{shown} can be read by others (mode {:o}): chmod 600 {shown}, or make a new one with `ipc-lab token new FILE`",
                    mode & 0o777
                ));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        Token::parse(text.trim()).map_err(|e| format!("{shown}: {e}"))
    }

    /// 64 hex digits.
    pub fn parse(hex: &str) -> Result<Token, String> {
        let bad = || "not a token (64 hex digits, as `ipc-lab token new` writes)".to_string();
        if hex.len() != 2 * TOKEN_LEN || !hex.is_ascii() {
            return Err(bad());
        }
        let mut b = [0u8; TOKEN_LEN];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Token(b))
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self, label: &[u8], parts: &[&[u8]]) -> [u8; TAG_LEN] {
        mac(&self.0, label, parts)
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

fn mac(key: &[u8], label: &[u8], parts: &[&[u8]]) -> [u8; TAG_LEN] {
    let mut m = hmac(key);
    m.update(label);
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Compares `tag` with the MAC of `label ‖ parts` in constant time.
fn verify(key: &[u8], label: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut m = hmac(key);
    m.update(label);
    for p in parts {
        m.update(p);
    }
    m.verify_slice(tag).is_ok()
}

fn nonce() -> Result<[u8; NONCE_LEN], AuthError> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::fill(&mut n).map_err(|e| AuthError::Io(format!("no random bytes from the system: {e}")))?;
    Ok(n)
}

/// One handshake message: magic, version, kind, then `body` (fixed size per kind).
fn send(w: &mut impl Write, kind: u8, body: &[&[u8]]) -> Result<(), AuthError> {
    let mut m = Vec::with_capacity(6 + body.iter().map(|b| b.len()).sum::<usize>());
    m.extend_from_slice(MAGIC);
    m.push(VERSION);
    m.push(kind);
    for b in body {
        m.extend_from_slice(b);
    }
    w.write_all(&m).and_then(|_| w.flush()).map_err(io)
}

fn receive<const N: usize>(r: &mut impl Read, kind: u8) -> Result<[u8; N], AuthError> {
    let mut head = [0u8; 6];
    r.read_exact(&mut head).map_err(io)?;
    if &head[..4] == MAGIC && head[4] == VERSION && head[5] == REFUSED && kind != REFUSED {
        return Err(AuthError::Refused);
    }
    if &head[..4] != MAGIC || head[4] != VERSION || head[5] != kind {
        return Err(AuthError::NotAPeer);
    }
    let mut body = [0u8; N];
    r.read_exact(&mut body).map_err(io)?;
    Ok(body)
}

/// A connection both ends have proved: its frames are sealed with the session key.
pub struct Sealed {
    key: [u8; TAG_LEN],
    /// Which end this is (frames are bound to their direction: one end's frame replayed back to
    /// it does not open).
    coordinator: bool,
    sent: u64,
    received: u64,
}

/// The coordinator's side of the handshake on a fresh connection.
pub fn coordinator_handshake(s: &mut (impl Read + Write), token: &Token) -> Result<Sealed, AuthError> {
    let nonce_c = nonce()?;
    send(s, HELLO, &[&nonce_c])?;
    let answer: [u8; NONCE_LEN + TAG_LEN] = receive(s, ANSWER)?;
    let (nonce_w, tag_w) = answer.split_at(NONCE_LEN);
    if !verify(&token.0, b"ipc-lab worker", &[&nonce_c, nonce_w], tag_w) {
        let _ = send(s, REFUSED, &[]);
        return Err(AuthError::WrongToken);
    }
    send(s, PROOF, &[&token.mac(b"ipc-lab coordinator", &[nonce_w, &nonce_c])])?;
    Ok(Sealed { key: token.mac(b"ipc-lab session", &[&nonce_c, nonce_w]), coordinator: true, sent: 0, received: 0 })
}

/// The worker's side: answer the coordinator's challenge, then check its proof.
pub fn worker_handshake(s: &mut (impl Read + Write), token: &Token) -> Result<Sealed, AuthError> {
    let nonce_c: [u8; NONCE_LEN] = receive(s, HELLO)?;
    let nonce_w = nonce()?;
    send(s, ANSWER, &[&nonce_w, &token.mac(b"ipc-lab worker", &[&nonce_c, &nonce_w])])?;
    let proof: [u8; TAG_LEN] = receive(s, PROOF)?;
    if !verify(&token.0, b"ipc-lab coordinator", &[&nonce_w, &nonce_c], &proof) {
        return Err(AuthError::WrongToken);
    }
    Ok(Sealed { key: token.mac(b"ipc-lab session", &[&nonce_c, &nonce_w]), coordinator: false, sent: 0, received: 0 })
}

impl Sealed {
    fn direction(&self, outgoing: bool) -> &'static [u8] {
        if outgoing == self.coordinator { b"to worker" } else { b"to coordinator" }
    }

    /// One frame: length (u32 LE), sequence number (u64 LE), payload, MAC of all three and the
    /// direction under the session key.
    pub fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        if payload.len() > MAX_FRAME {
            return Err(AuthError::TooLarge(payload.len() as u64));
        }
        let len = (payload.len() as u32).to_le_bytes();
        let seq = self.sent.to_le_bytes();
        let tag = mac(&self.key, self.direction(true), &[&len, &seq, payload]);
        self.sent += 1;
        let mut out = Vec::with_capacity(12 + payload.len() + TAG_LEN);
        out.extend_from_slice(&len);
        out.extend_from_slice(&seq);
        out.extend_from_slice(payload);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    pub fn write_frame(&mut self, w: &mut impl Write, payload: &[u8]) -> Result<(), AuthError> {
        let f = self.seal(payload)?;
        w.write_all(&f).and_then(|_| w.flush()).map_err(io)
    }

    /// Reads and opens the next frame; any error means the connection must be dropped.
    pub fn read_frame(&mut self, r: &mut impl Read) -> Result<Vec<u8>, AuthError> {
        let mut head = [0u8; 12];
        let mut got = 0;
        while got < head.len() {
            match r.read(&mut head[got..]) {
                Ok(0) if got == 0 => return Err(AuthError::Closed),
                Ok(0) => return Err(AuthError::CutOff),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as u64;
        // Checked before a byte is allocated for it.
        if len > MAX_FRAME as u64 {
            return Err(AuthError::TooLarge(len));
        }
        let mut rest = vec![0u8; len as usize + TAG_LEN];
        r.read_exact(&mut rest).map_err(|e| match io(e) {
            AuthError::Truncated => AuthError::CutOff,
            e => e,
        })?;
        self.open(&head, rest)
    }

    /// Opens a frame whose 12-byte head and the rest (payload, MAC) were read.
    fn open(&mut self, head: &[u8; 12], mut rest: Vec<u8>) -> Result<Vec<u8>, AuthError> {
        let tag = rest.split_off(rest.len().saturating_sub(TAG_LEN));
        if tag.len() != TAG_LEN {
            return Err(AuthError::CutOff);
        }
        if !verify(&self.key, self.direction(false), &[&head[..4], &head[4..], &rest], &tag) {
            return Err(AuthError::Tampered);
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&head[4..]);
        let got = u64::from_le_bytes(seq);
        if got != self.received {
            return Err(AuthError::OutOfSequence { got, want: self.received });
        }
        self.received += 1;
        Ok(rest)
    }

    /// Opens one whole frame held in `bytes` (for tests and fuzzing the decoder).
    pub fn open_bytes(&mut self, bytes: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.read_frame(&mut &bytes[..])
    }
}

/// A [`crate::mechanism::Link`] over a stream both ends have proved: each `send_bytes` is one
/// sealed frame, and `recv_bytes` hands out the payloads of frames that opened. A frame that does
/// not open ends the link with the reason (the connection is to be dropped).
pub struct SealedLink<S: Read + Write + Send> {
    stream: S,
    sealed: Sealed,
    /// The opened payload not yet handed out, and how much of it was.
    inbox: Vec<u8>,
    at: usize,
}

impl<S: Read + Write + Send> SealedLink<S> {
    pub fn new(stream: S, sealed: Sealed) -> SealedLink<S> {
        SealedLink { stream, sealed, inbox: Vec::new(), at: 0 }
    }
}

impl<S: Read + Write + Send> crate::mechanism::Link for SealedLink<S> {
    fn send_bytes(&mut self, parts: &[&[u8]]) -> Result<(), crate::mechanism::LinkError> {
        let payload = parts.concat();
        self.sealed
            .write_frame(&mut self.stream, &payload)
            .map_err(|e| crate::mechanism::LinkError::PeerGone(format!("sealed send: {e}")))
    }

    fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<usize, crate::mechanism::LinkError> {
        while self.at == self.inbox.len() {
            match self.sealed.read_frame(&mut self.stream) {
                Ok(p) => {
                    self.inbox = p;
                    self.at = 0;
                }
                // A clean end between frames is the peer leaving.
                Err(AuthError::Closed) => return Ok(0),
                Err(e) => return Err(crate::mechanism::LinkError::PeerGone(format!("sealed receive: {e}"))),
            }
        }
        let n = buf.len().min(self.inbox.len() - self.at);
        buf[..n].copy_from_slice(&self.inbox[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Both ends of a remote worker's connection notice a peer that vanished, even while nothing
/// is due: TCP keepalive probes after 2 s of quiet, every second; Linux ends the connection when
/// probes or data stay unacknowledged for 20 s (TCP_USER_TIMEOUT, which then overrides the probe
/// count), so a worker waiting for work, or a proxy blocked writing a chunk to a cut-off host,
/// finds out.
pub fn keep_alive(stream: &std::net::TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        let _ = setsockopt(stream, sockopt::KeepAlive, &true);
        let _ = setsockopt(stream, sockopt::TcpKeepIdle, &2);
        let _ = setsockopt(stream, sockopt::TcpKeepInterval, &1);
        let _ = setsockopt(stream, sockopt::TcpKeepCount, &5);
        let _ = setsockopt(stream, sockopt::TcpUserTimeout, &20_000);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn token(b: u8) -> Token {
        Token::from_bytes([b; TOKEN_LEN])
    }

    /// Both ends over a real socket pair, the worker on a thread.
    fn pair(coordinator: Token, worker: Token) -> (Result<Sealed, AuthError>, Result<Sealed, AuthError>) {
        let (mut a, mut b) = UnixStream::pair().expect("pair");
        let w = std::thread::spawn(move || {
            let r = worker_handshake(&mut b, &worker);
            drop(b);
            r
        });
        let c = coordinator_handshake(&mut a, &coordinator);
        drop(a);
        (c, w.join().expect("worker thread"))
    }

    #[test]
    fn the_same_token_joins_and_frames_cross_both_ways() {
        let (c, w) = pair(token(7), token(7));
        let (mut c, mut w) = (c.expect("coordinator"), w.expect("worker"));
        let f = c.seal(b"chunk 3").expect("seal");
        assert_eq!(w.open_bytes(&f).expect("open"), b"chunk 3");
        let back = w.seal(b"sum 42").expect("seal");
        assert_eq!(c.open_bytes(&back).expect("open"), b"sum 42");
        // The secret is never on the wire: nothing sent contains it.
        assert!(!f.windows(TOKEN_LEN).any(|x| x == [7u8; TOKEN_LEN]));
    }

    #[test]
    fn a_wrong_token_is_refused_on_both_sides() {
        let (c, w) = pair(token(1), token(2));
        assert_eq!(c.err(), Some(AuthError::WrongToken));
        // The worker is told, and hears no proof.
        assert_eq!(w.err(), Some(AuthError::Refused));
    }

    #[test]
    fn a_replayed_answer_does_not_join() {
        // Record a worker's answer to one challenge, replay it against a fresh coordinator.
        let t = token(9);
        let nonce_c = [1u8; NONCE_LEN];
        let nonce_w = [2u8; NONCE_LEN];
        let mut answer = Vec::new();
        send(&mut answer, ANSWER, &[&nonce_w, &t.mac(b"ipc-lab worker", &[&nonce_c, &nonce_w])]).unwrap();
        let (coordinator, heard) = replay(&t, answer);
        assert_eq!(coordinator, Some(AuthError::WrongToken));
        let mut refused = Vec::new();
        send(&mut refused, REFUSED, &[]).unwrap();
        assert_eq!(heard, refused, "no proof goes to a replayer, only the refusal");
    }

    /// A fresh coordinator (token `t`) challenged, and answered with `answer` whatever its
    /// challenge: how its handshake ended, and all the replayer heard after the challenge.
    fn replay(t: &Token, answer: Vec<u8>) -> (Option<AuthError>, Vec<u8>) {
        let (mut a, mut b) = UnixStream::pair().expect("pair");
        let replayer = std::thread::spawn(move || {
            let _hello: [u8; NONCE_LEN] = receive(&mut b, HELLO).expect("hello");
            b.write_all(&answer).expect("replay");
            let mut rest = Vec::new();
            let _ = b.read_to_end(&mut rest);
            rest
        });
        let ended = coordinator_handshake(&mut a, t).err();
        drop(a);
        (ended, replayer.join().expect("replayer"))
    }

    /// A worker's answer recorded from a real session, replayed to the next coordinator, does
    /// not join: the coordinator's nonce is fresh each time, and so is the session key.
    #[test]
    fn a_recorded_sessions_answer_replayed_does_not_join() {
        struct Recorder(UnixStream, Vec<u8>);
        impl Read for Recorder {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                self.0.read(b)
            }
        }
        impl Write for Recorder {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.1.extend_from_slice(b);
                self.0.write(b)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                self.0.flush()
            }
        }
        let t = token(6);
        let (mut a, b) = UnixStream::pair().expect("pair");
        let w = std::thread::spawn(move || {
            let mut rec = Recorder(b, Vec::new());
            let sealed = worker_handshake(&mut rec, &token(6)).expect("worker");
            (sealed, rec.1)
        });
        let first = coordinator_handshake(&mut a, &t).expect("coordinator");
        let (worker_side, answer) = w.join().expect("worker thread");
        assert_eq!(first.key, worker_side.key);
        assert_eq!(answer.len(), 6 + NONCE_LEN + TAG_LEN, "the worker sent its answer and nothing else");

        let (coordinator, heard) = replay(&t, answer);
        assert_eq!(coordinator, Some(AuthError::WrongToken));
        let mut refused = Vec::new();
        send(&mut refused, REFUSED, &[]).unwrap();
        assert_eq!(heard, refused);
        let (again, _) = pair(token(6), token(6));
        assert_ne!(again.expect("coordinator").key, first.key, "each session has its own key");
    }

    /// A clean end between frames is the peer leaving; an end inside one is not; a length one
    /// past the largest frame is refused before anything is read or allocated for it.
    #[test]
    fn frames_cut_off_or_too_long_are_told_from_a_clean_end() {
        let (c, w) = pair(token(4), token(4));
        let (mut c, mut w) = (c.unwrap(), w.unwrap());
        assert_eq!(w.open_bytes(&[]).err(), Some(AuthError::Closed));
        let f = c.seal(b"a whole frame").unwrap();
        for cut in [1, 11, 12, f.len() - 1] {
            let mut fresh = Sealed { key: w.key, coordinator: false, sent: 0, received: 0 };
            assert_eq!(fresh.open_bytes(&f[..cut]).err(), Some(AuthError::CutOff), "cut at {cut}");
        }
        assert_eq!(w.open_bytes(&f).unwrap(), b"a whole frame");
        let head = |len: usize| [&(len as u32).to_le_bytes()[..], &1u64.to_le_bytes()].concat();
        assert_eq!(w.open_bytes(&head(MAX_FRAME + 1)).err(), Some(AuthError::TooLarge(MAX_FRAME as u64 + 1)));
        assert_eq!(w.open_bytes(&head(MAX_FRAME)).err(), Some(AuthError::CutOff), "the largest frame is allowed");
        assert!(c.seal(&vec![0u8; MAX_FRAME + 1]).is_err() && c.seal(&vec![0u8; MAX_FRAME]).is_ok());
    }

    #[test]
    fn truncated_oversized_and_foreign_handshakes_are_clear_errors() {
        let t = token(3);
        let mut short = Vec::new();
        send(&mut short, HELLO, &[&[0u8; 10]]).unwrap();
        let mut rw = std::io::Cursor::new(short);
        assert_eq!(worker_handshake(&mut rw, &t).err(), Some(AuthError::Truncated));
        let mut http = std::io::Cursor::new(b"GET / HTTP/1.1\r\n\r\n".to_vec());
        assert_eq!(worker_handshake(&mut http, &t).err(), Some(AuthError::NotAPeer));
        let (c, _) = pair(token(4), token(4));
        let mut c = c.unwrap();
        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&0u64.to_le_bytes());
        assert_eq!(c.open_bytes(&huge).err(), Some(AuthError::TooLarge(u32::MAX as u64)));
    }

    #[test]
    fn an_altered_replayed_or_reflected_frame_is_detected() {
        let (c, w) = pair(token(5), token(5));
        let (mut c, mut w) = (c.unwrap(), w.unwrap());
        let f = c.seal(b"the payload").unwrap();
        for i in 0..f.len() {
            let mut bad = f.clone();
            bad[i] ^= 0x01;
            let mut fresh = Sealed { key: w.key, coordinator: false, sent: 0, received: 0 };
            assert!(fresh.open_bytes(&bad).is_err(), "a flipped bit at byte {i} went unnoticed");
        }
        assert_eq!(w.open_bytes(&f).unwrap(), b"the payload");
        assert!(matches!(w.open_bytes(&f), Err(AuthError::OutOfSequence { got: 0, want: 1 })), "replay");
        // The coordinator's own frame sent back to it does not open (directions differ).
        let mine = c.seal(b"x").unwrap();
        assert_eq!(c.open_bytes(&mine).err(), Some(AuthError::Tampered));
    }

    #[test]
    fn token_files_are_private_and_parsed_strictly() {
        let dir = std::env::temp_dir().join(format!("ipclab-token-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("t");
        let _ = std::fs::remove_file(&path);
        let t = Token::create_file(&path).expect("created");
        assert_eq!(Token::load(&path).expect("loads"), t);
        assert!(Token::create_file(&path).is_err(), "an existing token is not overwritten");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Token::load(&path).unwrap_err().contains("chmod 600"));
        assert!(Token::parse("zz").is_err() && Token::parse(&"g".repeat(64)).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The wire's own frames (header, checksum) cross a sealed TCP connection intact, both ways;
    /// a relay that flips one byte makes the receiving end drop the link.
    #[test]
    fn the_wire_protocol_runs_over_a_sealed_tcp_link_and_a_flipped_byte_drops_it() {
        use crate::mechanism::Channel;
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let worker = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).expect("connect");
            let sealed = worker_handshake(&mut s, &token(8)).expect("worker joins");
            let mut ch = Channel::new(Box::new(SealedLink::new(s, sealed)), 1 << 20);
            crate::jobs::proto::send_json(&mut ch, 1, &"hello from the worker").expect("send");
            match crate::jobs::proto::recv::<String>(&mut ch).expect("recv") {
                crate::jobs::proto::Incoming::Msg(m) => m,
                _ => panic!("not a message"),
            }
        });
        let (mut s, _) = listener.accept().expect("accept");
        let sealed = coordinator_handshake(&mut s, &token(8)).expect("coordinator");
        let mut ch = Channel::new(Box::new(SealedLink::new(s, sealed)), 1 << 20);
        match crate::jobs::proto::recv::<String>(&mut ch).expect("recv") {
            crate::jobs::proto::Incoming::Msg(m) => assert_eq!(m, "hello from the worker"),
            _ => panic!("not a message"),
        }
        crate::jobs::proto::send_json(&mut ch, 1, &"task 1".to_string()).expect("send");
        assert_eq!(worker.join().unwrap(), "task 1");

        // A tampering relay: every byte passes, except one flipped in the first sealed frame.
        let (mut a, b) = UnixStream::pair().unwrap();
        let (c, w) = pair(token(6), token(6));
        let (mut c, w) = (c.unwrap(), w.unwrap());
        let mut frame = c.seal(b"a chunk's items").unwrap();
        frame[14] ^= 0x20;
        a.write_all(&frame).unwrap();
        drop(a);
        let mut link = SealedLink::new(b, w);
        let mut buf = [0u8; 64];
        let e = crate::mechanism::Link::recv_bytes(&mut link, &mut buf).expect_err("the altered frame is refused");
        assert!(e.to_string().contains("altered"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut s = Sealed { key: [0u8; TAG_LEN], coordinator: true, sent: 0, received: 0 };
            let _ = s.open_bytes(&bytes);
            let mut rw = std::io::Cursor::new(bytes.clone());
            let _ = worker_handshake(&mut rw, &token(1));
            let mut rw = std::io::Cursor::new(bytes);
            let _ = coordinator_handshake(&mut rw, &token(1));
        }
    }
}
