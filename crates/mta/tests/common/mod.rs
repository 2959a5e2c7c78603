//! Test support: simple policy doubles, a server on 127.0.0.1:0 with a
//! spool in a temporary directory, a raw line client, and runners for the
//! real clients (swaks and Python's smtplib).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mail_core::Shutdown;
use mail_core::listener::{ListenerConfig, TlsMode};
use mail_mta::{
    AuthVerdict, Authenticator, ClientInfo, ContentFilter, Credentials, FilterInput, FilterVerdict,
    Hooks, Lookup, OwnAddressOnly, RecipientLookup, RelayPolicy, Route, SmtpConfig, SmtpServer,
};
use mail_queue::{ContentRef, Envelope, QueueNotifier, Spool, SpoolConfig};
use mail_smtp_proto::{Address, Reply};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// example.org is hosted: alice, bob, jörg exist (lmtp to store1);
/// carol lives on store2; flaky's lookup fails; others are unknown.
/// Any other domain is remote (tcp_local, host = the domain).
pub struct Directory;

#[async_trait]
impl RecipientLookup for Directory {
    async fn lookup(&self, rcpt: &Address) -> Lookup {
        if rcpt.is_bare_postmaster() {
            return Lookup::Hosted(Route::new("lmtp", "store1"));
        }
        if !rcpt.domain().eq_ignore_ascii_case("example.org") {
            return Lookup::Remote(Route::new("tcp_local", rcpt.domain().to_lowercase()));
        }
        match rcpt.local_part().to_lowercase().as_str() {
            "alice" | "bob" | "jörg" | "postmaster" => {
                Lookup::Hosted(Route::new("lmtp", "store1"))
            }
            "carol" => Lookup::Hosted(Route::new("lmtp", "store2")),
            "dave" => Lookup::Hosted(Route {
                address: Some("dave.jones@example.org".into()),
                ..Route::new("lmtp", "store1")
            }),
            "flaky" => Lookup::TempFail("directory unreachable".into()),
            "disabled" => Lookup::Reject(Reply::with_status(550, (5, 2, 1), "Mailbox disabled")),
            _ => Lookup::HostedUnknown,
        }
    }
}

/// alice@example.org / secret; "down" makes the directory fail.
pub struct Passwords;

#[async_trait]
impl Authenticator for Passwords {
    async fn authenticate(&self, _: &ClientInfo, c: &Credentials) -> AuthVerdict {
        match (c.username.as_str(), c.password.as_str()) {
            ("alice@example.org", "secret") => AuthVerdict::Accept {
                identity: "alice@example.org".into(),
            },
            ("down", _) => AuthVerdict::TempFail("directory down".into()),
            _ => AuthVerdict::Reject,
        }
    }
}

/// Refuses content with "EICAR-VIRUS", tempfails "TEMPFAIL-ME", adds a
/// header otherwise.
pub struct Filter;

#[async_trait]
impl ContentFilter for Filter {
    async fn check(&self, input: FilterInput<'_>) -> FilterVerdict {
        let bytes = match input.content {
            ContentRef::Bytes(b) => b.to_vec(),
            ContentRef::File(p) => std::fs::read(p).expect("read content"),
        };
        let has = |n: &[u8]| bytes.windows(n.len()).any(|w| w == n);
        if has(b"EICAR-VIRUS") {
            FilterVerdict::Reject(Reply::with_status(554, (5, 7, 0), "Virus found"))
        } else if has(b"TEMPFAIL-ME") {
            FilterVerdict::TempFail(Reply::with_status(451, (4, 7, 0), "Scanner busy"))
        } else {
            FilterVerdict::AcceptWithHeaders(vec!["X-Filter: clean".into()])
        }
    }
}

/// Remembers what it was told.
#[derive(Default)]
pub struct Notes(pub Mutex<Vec<Envelope>>);

#[async_trait]
impl QueueNotifier for Notes {
    async fn queued(&self, entries: &[Envelope]) {
        self.0.lock().expect("lock").extend_from_slice(entries);
    }
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub spool: Spool,
    pub notes: Arc<Notes>,
    pub shutdown: Shutdown,
    pub dir: tempfile::TempDir,
    pub ca: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl Server {
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Every queue file, by channel directory.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for ch in std::fs::read_dir(self.dir.path().join("spool")).expect("spool") {
            let ch = ch.expect("entry").path();
            let name = ch.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            for f in std::fs::read_dir(&ch).expect("channel") {
                out.push(f.expect("file").path());
            }
        }
        out.sort();
        out
    }

    /// Files left in the temporary directory.
    pub fn temp_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.path().join("spool/.tmp"))
            .expect("tmp")
            .map(|e| e.expect("entry").path())
            .collect()
    }

    /// Every entry with its data, oldest first.
    pub async fn entries(&self) -> Vec<(Envelope, Vec<u8>)> {
        let mut out = Vec::new();
        for e in self.spool.scan().await.expect("scan").entries {
            out.push(self.spool.read(&e.channel, &e.id).await.expect("read"));
        }
        out
    }

    pub fn notes(&self) -> Vec<Envelope> {
        self.notes.0.lock().expect("lock").clone()
    }
}

/// What a test wants from its server.
#[derive(Default)]
pub struct Options {
    pub tls: Option<TlsMode>,
    pub submission: bool,
    pub trusted: Vec<mail_mta::Cidr>,
}

/// A config on 127.0.0.1:0 with defaults, adjusted by `tune`.
pub fn config(tune: impl FnOnce(&mut SmtpConfig)) -> SmtpConfig {
    let mut cfg = SmtpConfig::new(ListenerConfig::plain("127.0.0.1:0".parse().expect("addr")));
    cfg.hostname = "mx.test".into();
    tune(&mut cfg);
    cfg
}

pub async fn start_with(mut cfg: SmtpConfig, opts: Options) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(&SpoolConfig::new(dir.path().join("spool"))).expect("spool");
    let notes = Arc::new(Notes::default());
    let lookup: Arc<dyn RecipientLookup> = Arc::new(Directory);
    let mut hooks = Hooks::new(Arc::new(RelayPolicy::new(lookup, opts.trusted)))
        .with_filter(Arc::new(Filter))
        .with_notifier(notes.clone())
        .with_authenticator(Arc::new(Passwords));
    if opts.submission {
        hooks = hooks.with_senders(Arc::new(OwnAddressOnly));
        cfg.require_auth = true;
    }
    let (tls, ca) = match opts.tls {
        None => (None, None),
        Some(mode) => {
            let files = mail_core::tls::generate_self_signed(dir.path(), &["localhost".into()])
                .expect("certificate");
            cfg.listener.tls = mode;
            (
                Some(mail_core::tls::server_config(&files).expect("tls")),
                Some(files.cert),
            )
        }
    };
    let shutdown = Shutdown::new();
    let addr = SmtpServer::new(cfg, spool.clone(), hooks)
        .serve(tls, &shutdown)
        .await
        .expect("bind");
    Server {
        addr,
        spool,
        notes,
        shutdown,
        dir,
        ca,
    }
}

pub async fn start(tune: impl FnOnce(&mut SmtpConfig)) -> Server {
    start_with(config(tune), Options::default()).await
}

/// A reply as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireReply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl WireReply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// A raw SMTP client for inputs no real client sends.
pub struct Raw {
    stream: BufReader<TcpStream>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let mut raw = Raw::open(addr).await;
        assert_eq!(raw.reply().await.code, 220, "greeting");
        raw
    }

    /// Connects without reading the greeting.
    pub async fn open(addr: SocketAddr) -> Raw {
        let tcp = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timeout")
            .expect("connect");
        Raw {
            stream: BufReader::new(tcp),
        }
    }

    /// Connects and says EHLO.
    pub async fn ready(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr).await;
        raw.cmd("EHLO client.test", 250).await;
        raw
    }

    /// Connects, says EHLO and opens a transaction to alice.
    pub async fn envelope(addr: SocketAddr, mail_params: &str) -> Raw {
        let mut raw = Raw::ready(addr).await;
        raw.cmd(&format!("MAIL FROM:<bob@example.net>{mail_params}"), 250)
            .await;
        raw.cmd("RCPT TO:<alice@example.org>", 250).await;
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.get_mut().write_all(bytes))
            .await
            .expect("write timeout")
            .expect("write");
    }

    /// Sends, reporting whether the server still reads.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        matches!(
            tokio::time::timeout(WAIT, self.stream.get_mut().write_all(bytes)).await,
            Ok(Ok(()))
        )
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn reply(&mut self) -> WireReply {
        self.try_reply()
            .await
            .expect("connection closed while waiting for a reply")
    }

    /// One reply, or `None` at end of stream.
    pub async fn try_reply(&mut self) -> Option<WireReply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, self.stream.read_line(&mut line))
                .await
                .expect("reply timeout")
                .ok()?;
            if n == 0 {
                return None;
            }
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .expect("reply code");
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").trim_end().to_string());
            if !more {
                return Some(WireReply { code, lines });
            }
        }
    }

    /// Sends a command line and checks the reply code.
    pub async fn cmd(&mut self, line: &str, code: u16) -> WireReply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        let r = self.reply().await;
        assert_eq!(r.code, code, "{line} -> {r:?}");
        r
    }

    /// True when the server closed the connection (EOF, or a reset).
    pub async fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(WAIT, self.stream.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// Asserts that `r` has `code` and its text starts with `status`.
pub fn assert_reply(r: &WireReply, code: u16, status: &str) {
    assert_eq!(r.code, code, "{r:?}");
    assert!(r.text().starts_with(status), "expected {status}: {r:?}");
}

fn client_script() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR, set by cargo test"))
        .join("tests/smtp_client.py")
}

/// Runs the Python smtplib client scenario and parses its JSON.
pub async fn python(args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = run(
        "python3",
        &[&[client_script().to_str().expect("path")], args].concat(),
    )
    .await;
    assert!(ok, "python failed\nstdout:\n{out}\nstderr:\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from client ({e}): {out}"))
}

/// Runs a program with a timeout: (success, stdout, stderr).
pub async fn run(program: &str, args: &[&str]) -> (bool, String, String) {
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
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Runs swaks against the server; returns (success, transcript).
pub async fn swaks(server: &Server, args: &[&str]) -> (bool, String) {
    let target = format!("127.0.0.1:{}", server.port());
    let mut all = vec![
        "--server",
        target.as_str(),
        "--helo",
        "client.test",
        "--timeout",
        "15",
    ];
    all.extend_from_slice(args);
    let (ok, out, err) = run("swaks", &all).await;
    (ok, format!("{out}{err}"))
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
