//! Test support: an in-memory `Mailboxes` double, a server on
//! 127.0.0.1:0, a raw line client, and runners for the real clients
//! (Python's smtplib.LMTP and swaks).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_core::Shutdown;
use mail_core::listener::ListenerConfig;
use mail_lmtp::{
    DeliveryResult, Envelope, IncomingMessage, LmtpConfig, LmtpServer, Mailboxes, RcptVerdict,
    Recipient, Target,
};
use mail_smtp_proto::Reply;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// One delivered message as the double saw it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub envelope: Envelope,
    pub body: Vec<u8>,
    pub targets: Vec<Target>,
    pub spooled: bool,
}

/// Users at example.org: alice, bob (accept); full (accepted, then
/// 452 4.2.2 at delivery); gone (accepted, then 552 5.2.2); moved
/// (homed elsewhere); disabled (inactive); flaky (lookup fails);
/// anything else unknown.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub delivered: Mutex<Vec<Delivered>>,
}

impl MemoryStore {
    pub fn deliveries(&self) -> Vec<Delivered> {
        self.delivered.lock().expect("lock").clone()
    }
}

impl Mailboxes for MemoryStore {
    async fn check_recipient(&self, rcpt: &Recipient) -> RcptVerdict {
        if !rcpt.address.domain().eq_ignore_ascii_case("example.org") {
            return RcptVerdict::Unknown;
        }
        match rcpt.user.to_lowercase().as_str() {
            "alice" | "bob" | "full" | "gone" | "jörg" => {
                RcptVerdict::Accept(Target::new(rcpt, rcpt.user.to_lowercase()))
            }
            "moved" => RcptVerdict::HomedElsewhere {
                host: "store2.example.org".into(),
            },
            "disabled" => RcptVerdict::Inactive,
            "flaky" => RcptVerdict::TempFail("directory unreachable".into()),
            _ => RcptVerdict::Unknown,
        }
    }

    async fn deliver(&self, msg: IncomingMessage, rcpts: &[Target]) -> Vec<DeliveryResult> {
        let body = msg.body.read_all().await.expect("read message");
        let results = rcpts
            .iter()
            .map(|t| match t.account.as_str() {
                "full" => {
                    DeliveryResult::TempFail(Reply::with_status(452, (4, 2, 2), "Mailbox full"))
                }
                "gone" => DeliveryResult::PermFail(Reply::with_status(
                    552,
                    (5, 2, 2),
                    "Mailbox full, over quota grace period",
                )),
                _ => DeliveryResult::Delivered,
            })
            .collect();
        self.delivered.lock().expect("lock").push(Delivered {
            envelope: msg.envelope,
            spooled: msg.body.path().is_some(),
            body,
            targets: rcpts.to_vec(),
        });
        results
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

/// A config on 127.0.0.1:0 with defaults, adjusted by `tune`.
pub fn config(tune: impl FnOnce(&mut LmtpConfig)) -> LmtpConfig {
    let mut cfg = LmtpConfig::new(ListenerConfig::plain("127.0.0.1:0".parse().expect("addr")));
    cfg.hostname = "store.test".into();
    tune(&mut cfg);
    cfg
}

/// Starts a server with `cfg` (and a TLS config for STARTTLS).
pub async fn start_with(cfg: LmtpConfig, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let store = Arc::new(MemoryStore::default());
    let shutdown = Shutdown::new();
    let addr = LmtpServer::new(cfg, store.clone())
        .serve(tls, &shutdown)
        .await
        .expect("bind");
    Server {
        addr,
        store,
        shutdown,
    }
}

pub async fn start(tune: impl FnOnce(&mut LmtpConfig)) -> Server {
    start_with(config(tune), None).await
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

/// A raw LMTP client for inputs no real client sends.
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
        assert_eq!(raw.reply().await.code, 220, "greeting");
        raw
    }

    /// Connects and says LHLO.
    pub async fn ready(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr).await;
        raw.cmd("LHLO client.test", 250).await;
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.get_mut().write_all(bytes))
            .await
            .expect("write timeout")
            .expect("write");
    }

    /// Sends, and tells whether the write went through (false once the
    /// server has closed the connection).
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

fn client_script() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR, set by cargo test"))
        .join("tests/lmtp_client.py")
}

/// Runs the Python smtplib.LMTP client scenario and parses its JSON.
pub async fn python(args: &[&str]) -> serde_json::Value {
    let out = run(
        "python3",
        &[&[client_script().to_str().expect("path")], args].concat(),
    )
    .await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from client ({e}): {out}"))
}

/// Runs a program with a timeout, returns stdout, panics on failure.
pub async fn run(program: &str, args: &[&str]) -> String {
    let child = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT, child)
        .await
        .unwrap_or_else(|_| panic!("{program} timed out"))
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
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
