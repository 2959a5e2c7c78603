//! Test support: in-memory `Authenticator` and `Maildrops` doubles, a
//! server on 127.0.0.1:0, a raw line client, and runners for the real
//! clients (Python's poplib, curl).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_core::Shutdown;
use mail_core::listener::{ListenerConfig, TlsMode};
use mail_pop3::{
    Account, AuthFailure, Authenticator, Error, Maildrop, Maildrops, MessageContent, MessageInfo,
    Pop3Config, Pop3Server,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// Message 1: dot lines to stuff. CRLF already.
pub const MSG1: &[u8] = b"From: sender@example.net\r\nTo: alice@example.org\r\nSubject: one\r\n\r\nHello Alice.\r\n.leading dot\r\n..two dots\r\n.\r\nline 5\r\n";
/// Message 2: bare LF line ends (the server must send CRLF), served as a
/// stream.
pub const MSG2: &[u8] =
    b"From: sender@example.net\nSubject: two\n\nfirst body line\nsecond body line\n.third\n";

/// Message 3: large (over the server's 64 KiB write threshold), streamed.
pub fn msg3() -> Vec<u8> {
    let mut m = b"From: bulk@example.net\r\nSubject: three\r\n\r\n".to_vec();
    for i in 0..4000 {
        m.extend_from_slice(
            format!("line {i:05} ......................................\r\n").as_bytes(),
        );
    }
    m
}

/// The content with every line end as CRLF: what the client receives
/// before byte-stuffing, hence the size LIST reports.
pub fn crlf(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 16);
    let mut prev = 0u8;
    for &b in content {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

#[derive(Debug, Clone)]
struct Stored {
    key: u64,
    content: Vec<u8>,
    stream: bool,
}

/// Users: alice/secret (3 messages), bob/"correct horse" (1 message),
/// carol/pw (empty maildrop), disabled/pw (Inactive), flaky (directory
/// down, Temporary); anything else BadCredentials. `broken` in a maildrop
/// name makes open fail with Unavailable.
#[derive(Debug, Default)]
pub struct MemoryStore {
    boxes: Mutex<HashMap<String, Vec<Stored>>>,
    locks: Mutex<HashSet<String>>,
    /// (account, deleted uids) per commit.
    pub commits: Mutex<Vec<(String, Vec<String>)>>,
    /// Fails commit for this account.
    pub fail_commit: Mutex<Option<String>>,
}

impl MemoryStore {
    pub fn new() -> Arc<Self> {
        let store = MemoryStore::default();
        {
            let mut boxes = store.boxes.lock().expect("lock");
            boxes.insert(
                "u-alice".into(),
                vec![
                    Stored {
                        key: 101,
                        content: MSG1.to_vec(),
                        stream: false,
                    },
                    Stored {
                        key: 102,
                        content: MSG2.to_vec(),
                        stream: true,
                    },
                    Stored {
                        key: 103,
                        content: msg3(),
                        stream: true,
                    },
                ],
            );
            boxes.insert(
                "u-bob".into(),
                vec![Stored {
                    key: 7,
                    content: MSG1.to_vec(),
                    stream: false,
                }],
            );
            boxes.insert("u-carol".into(), Vec::new());
        }
        Arc::new(store)
    }

    /// UIDLs currently in `account`'s maildrop.
    pub fn uids(&self, account: &str) -> Vec<String> {
        self.boxes
            .lock()
            .expect("lock")
            .get(account)
            .map(|v| v.iter().map(|m| uid(m.key)).collect())
            .unwrap_or_default()
    }

    pub fn is_locked(&self, account: &str) -> bool {
        self.locks.lock().expect("lock").contains(account)
    }

    pub fn commits(&self) -> Vec<(String, Vec<String>)> {
        self.commits.lock().expect("lock").clone()
    }
}

pub fn uid(key: u64) -> String {
    format!("1700000000.{key}")
}

/// The directory double.
#[derive(Debug, Default)]
pub struct MemoryDirectory;

impl Authenticator for MemoryDirectory {
    async fn authenticate(&self, login: &str, password: &str) -> Result<Account, AuthFailure> {
        let account = |id: &str| Account {
            id: id.into(),
            name: login.into(),
        };
        match (login, password) {
            ("alice", "secret") => Ok(account("u-alice")),
            ("bob", "correct horse") => Ok(account("u-bob")),
            ("carol", "pw") => Ok(account("u-carol")),
            ("broken", "pw") => Ok(account("u-broken")),
            ("disabled", "pw") => Err(AuthFailure::Inactive),
            ("elsewhere", "pw") => Err(AuthFailure::HomedElsewhere("store2.test".into())),
            ("flaky", _) => Err(AuthFailure::Temporary(
                "ldap://dir: connection refused".into(),
            )),
            _ => Err(AuthFailure::BadCredentials),
        }
    }

    async fn authorize(&self, user: &str) -> Result<Account, AuthFailure> {
        let account = |id: &str| Account {
            id: id.into(),
            name: user.into(),
        };
        match user {
            "alice" => Ok(account("u-alice")),
            "disabled" => Err(AuthFailure::Inactive),
            "elsewhere" => Err(AuthFailure::HomedElsewhere("store2.test".into())),
            _ => Err(AuthFailure::BadCredentials),
        }
    }
}

/// An open maildrop; the lock goes when it is dropped.
pub struct MemoryMaildrop {
    store: Arc<MemoryStore>,
    account: String,
    messages: Vec<MessageInfo>,
    contents: HashMap<u64, Stored>,
}

impl Drop for MemoryMaildrop {
    fn drop(&mut self) {
        self.store.locks.lock().expect("lock").remove(&self.account);
    }
}

impl Maildrop for MemoryMaildrop {
    fn messages(&self) -> &[MessageInfo] {
        &self.messages
    }

    async fn read(&self, msg: &MessageInfo) -> Result<MessageContent, Error> {
        let stored = self.contents.get(&msg.key).ok_or_else(|| Error::Message {
            uid: msg.uid.clone(),
            reason: "gone".into(),
        })?;
        Ok(if stored.stream {
            MessageContent::Stream(Box::pin(std::io::Cursor::new(stored.content.clone())))
        } else {
            MessageContent::Bytes(stored.content.clone())
        })
    }

    async fn commit(self, deleted: Vec<MessageInfo>) -> Result<(), Error> {
        if self.store.fail_commit.lock().expect("lock").as_deref() == Some(self.account.as_str()) {
            return Err(Error::Unavailable("disk full".into()));
        }
        let keys: HashSet<u64> = deleted.iter().map(|m| m.key).collect();
        if let Some(v) = self
            .store
            .boxes
            .lock()
            .expect("lock")
            .get_mut(&self.account)
        {
            v.retain(|m| !keys.contains(&m.key));
        }
        self.store.commits.lock().expect("lock").push((
            self.account.clone(),
            deleted.iter().map(|m| m.uid.clone()).collect(),
        ));
        Ok(())
    }
}

/// The store side: `Maildrops` over [`MemoryStore`].
pub struct MemoryMaildrops(pub Arc<MemoryStore>);

impl Maildrops for MemoryMaildrops {
    type Maildrop = MemoryMaildrop;

    async fn open(&self, account: &Account) -> Result<MemoryMaildrop, Error> {
        if account.id == "u-broken" {
            return Err(Error::Unavailable("index corrupt".into()));
        }
        if !self
            .0
            .locks
            .lock()
            .expect("lock")
            .insert(account.id.clone())
        {
            return Err(Error::InUse);
        }
        let stored = self
            .0
            .boxes
            .lock()
            .expect("lock")
            .get(&account.id)
            .cloned()
            .unwrap_or_default();
        Ok(MemoryMaildrop {
            store: self.0.clone(),
            account: account.id.clone(),
            messages: stored
                .iter()
                .map(|m| MessageInfo {
                    key: m.key,
                    uid: uid(m.key),
                    size: crlf(&m.content).len() as u64,
                })
                .collect(),
            contents: stored.into_iter().map(|m| (m.key, m)).collect(),
        })
    }
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub store: Arc<MemoryStore>,
    pub shutdown: Shutdown,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A config on 127.0.0.1:0 for tests: plaintext logins allowed (tests of
/// the refusal turn it off), a short failed-login delay.
pub fn config(tune: impl FnOnce(&mut Pop3Config)) -> Pop3Config {
    let mut cfg = Pop3Config::new(ListenerConfig::plain("127.0.0.1:0".parse().expect("addr")));
    cfg.hostname = "store.test".into();
    // STLS is offered only when start_with is given a certificate.
    cfg.listener.tls = TlsMode::Starttls;
    cfg.plaintext_auth_without_tls = true;
    cfg.auth_failure_delay = Duration::from_millis(200);
    tune(&mut cfg);
    cfg
}

/// Starts a server with `cfg` (and a TLS config for STLS).
pub async fn start_with(cfg: Pop3Config, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let store = MemoryStore::new();
    let shutdown = Shutdown::new();
    let addr = Pop3Server::new(
        cfg,
        Arc::new(MemoryDirectory),
        Arc::new(MemoryMaildrops(store.clone())),
    )
    .serve(tls, &shutdown)
    .await
    .expect("bind");
    Server {
        addr,
        store,
        shutdown,
    }
}

/// Starts a server that accepts the proxies `proxies` (trusted-proxy
/// logins and XCLIENT).
pub async fn start_proxied(proxies: mail_core::trusted_proxy::TrustedProxies) -> Server {
    let store = MemoryStore::new();
    let shutdown = Shutdown::new();
    let addr = Pop3Server::new(
        config(|_| {}),
        Arc::new(MemoryDirectory),
        Arc::new(MemoryMaildrops(store.clone())),
    )
    .with_proxies(proxies)
    .serve(None, &shutdown)
    .await
    .expect("bind");
    Server {
        addr,
        store,
        shutdown,
    }
}

/// Starts a server counting failed logins in `throttle`.
pub async fn start_throttled(throttle: Arc<mail_core::login_throttle::LoginThrottle>) -> Server {
    let store = MemoryStore::new();
    let shutdown = Shutdown::new();
    let addr = Pop3Server::new(
        config(|_| {}),
        Arc::new(MemoryDirectory),
        Arc::new(MemoryMaildrops(store.clone())),
    )
    .with_throttle(throttle)
    .serve(None, &shutdown)
    .await
    .expect("bind");
    Server {
        addr,
        store,
        shutdown,
    }
}

/// Starts a server counting logged-in sessions per account in `limit`.
pub async fn start_limited(limit: Arc<mail_core::conn_limit::ConnLimit<String>>) -> Server {
    let store = MemoryStore::new();
    let shutdown = Shutdown::new();
    let addr = Pop3Server::new(
        config(|_| {}),
        Arc::new(MemoryDirectory),
        Arc::new(MemoryMaildrops(store.clone())),
    )
    .with_sessions_per_user(limit)
    .serve(None, &shutdown)
    .await
    .expect("bind");
    Server {
        addr,
        store,
        shutdown,
    }
}

pub async fn start(tune: impl FnOnce(&mut Pop3Config)) -> Server {
    start_with(config(tune), None).await
}

/// A self-signed certificate for "localhost" and the server TLS config.
pub fn tls() -> (tempfile::TempDir, PathBuf, Arc<rustls::ServerConfig>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = mail_core::tls::generate_self_signed(dir.path(), &["localhost".into()])
        .expect("generate certificate");
    let server = mail_core::tls::server_config(&files).expect("server config");
    let cert = files.cert.clone();
    (dir, cert, server)
}

/// A raw POP3 client for inputs no real client sends.
pub struct Raw {
    stream: BufReader<TcpStream>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let tcp = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timeout")
            .expect("connect");
        let mut raw = Raw {
            stream: BufReader::new(tcp),
        };
        let greeting = raw.line().await;
        assert!(greeting.starts_with("+OK "), "greeting: {greeting}");
        raw
    }

    /// Connects and logs in with USER/PASS.
    pub async fn login(addr: SocketAddr, user: &str, pass: &str) -> Raw {
        let mut raw = Raw::connect(addr).await;
        raw.ok(&format!("USER {user}")).await;
        raw.ok(&format!("PASS {pass}")).await;
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.get_mut().write_all(bytes))
            .await
            .expect("write timeout")
            .expect("write");
    }

    /// One line without CRLF; panics at end of stream.
    pub async fn line(&mut self) -> String {
        self.try_line()
            .await
            .expect("connection closed while waiting for a line")
    }

    /// One line, or `None` at end of stream (or reset).
    pub async fn try_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(WAIT, self.stream.read_until(b'\n', &mut buf))
            .await
            .expect("line timeout")
            .ok()?;
        if n == 0 {
            return None;
        }
        assert!(buf.ends_with(b"\r\n"), "line without CRLF: {buf:?}");
        buf.truncate(buf.len() - 2);
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The raw bytes of a multi-line body up to and including ".\r\n".
    pub async fn body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(WAIT, self.stream.read_until(b'\n', &mut line))
                .await
                .expect("body timeout")
                .expect("read");
            assert!(n > 0, "connection closed inside a multi-line response");
            out.extend_from_slice(&line);
            if line == b".\r\n" {
                return out;
            }
        }
    }

    /// Sends a command and returns the status line.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.line().await
    }

    /// Sends a command and expects `+OK`.
    pub async fn ok(&mut self, line: &str) -> String {
        let r = self.cmd(line).await;
        assert!(r.starts_with("+OK"), "{line} -> {r}");
        r
    }

    /// Sends a command and expects `-ERR`.
    pub async fn err(&mut self, line: &str) -> String {
        let r = self.cmd(line).await;
        assert!(r.starts_with("-ERR"), "{line} -> {r}");
        r
    }

    /// True when the server closed the connection (EOF, or a reset).
    pub async fn closed(&mut self) -> bool {
        let mut buf = Vec::new();
        matches!(
            tokio::time::timeout(WAIT, self.stream.read_until(b'\n', &mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// Undoes byte-stuffing and drops the terminator of a multi-line body.
pub fn unstuff(body: &[u8]) -> Vec<u8> {
    let body = body.strip_suffix(b".\r\n").expect("terminator");
    let mut out = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

fn client_script() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR, set by cargo test"))
        .join("tests/pop3_client.py")
}

/// Runs the Python poplib scenario and parses its JSON.
pub async fn python(args: &[&str]) -> serde_json::Value {
    let out = run(
        "python3",
        &[&[client_script().to_str().expect("path")], args].concat(),
    )
    .await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from client ({e}): {out}"))
}

/// Runs a program with a timeout; returns (success, stdout, stderr).
pub async fn run_status(program: &str, args: &[&str]) -> (bool, Vec<u8>, String) {
    let child = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT, child)
        .await
        .unwrap_or_else(|_| panic!("{program} timed out"))
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a program with a timeout, returns stdout, panics on failure.
pub async fn run(program: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_status(program, args).await;
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        ok,
        "{program} {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// Polls `f` until it is true or the wait runs out.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}
