//! Test support: a real store in a temporary directory, a file directory
//! with two users, the IMAP server on 127.0.0.1:0, a raw line client, and
//! a runner for the real clients (Python's imaplib, curl).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mail_core::Shutdown;
use mail_core::listener::{ListenerConfig, TlsMode};
use mail_directory::{Directory, Quota, UserSpec};
use mail_imap::{ImapConfig, ImapServer};
use mail_store::{DeliverOptions, Recipient, Store, StoreConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

pub const ALICE: (&str, &str) = ("alice", "alice-secret");
pub const BOB: (&str, &str) = ("bob", "bob-secret");

pub struct Server {
    pub addr: SocketAddr,
    pub store: Store,
    pub directory: Arc<dyn Directory>,
    pub shutdown: Shutdown,
    pub dir: tempfile::TempDir,
    pub tls: Option<mail_core::tls::TlsFiles>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A server with plaintext login allowed (no TLS), changed by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut ImapConfig)) -> Server {
    start_with(false, tweak).await
}

pub async fn start_with(tls: bool, tweak: impl FnOnce(&mut ImapConfig)) -> Server {
    start_full(
        tls,
        tweak,
        |_| mail_imap::LoginPolicy::default(),
        Vec::new(),
    )
    .await
}

/// A server with a login policy (made once the temp dir exists, for
/// secret files) and more users besides alice and bob.
pub async fn start_full(
    tls: bool,
    tweak: impl FnOnce(&mut ImapConfig),
    policy: impl FnOnce(&Path) -> mail_imap::LoginPolicy,
    extra: Vec<UserSpec>,
) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_file = dir.path().join("directory.toml");
    std::fs::write(
        &dir_file,
        "base_dn = \"dc=example,dc=test\"\n[[domains]]\nname = \"example.test\"\n",
    )
    .expect("write directory");
    let directory: Arc<dyn Directory> =
        Arc::new(mail_directory::file::FileDirectory::open(&dir_file).expect("open directory"));
    for (uid, pw) in [ALICE, BOB] {
        directory
            .add_user(&UserSpec {
                uid: uid.into(),
                address: format!("{uid}@example.test"),
                password: Some(pw.into()),
                quota: Quota {
                    bytes: Some(50 * 1024 * 1024),
                    messages: Some(10_000),
                },
                ..Default::default()
            })
            .await
            .expect("add user");
    }
    for spec in extra {
        directory.add_user(&spec).await.expect("add user");
    }
    let policy = policy(dir.path());
    let store = Store::open(StoreConfig::single(dir.path().join("store"))).expect("open store");
    let mut listener = ListenerConfig::plain("127.0.0.1:0".parse().expect("addr"));
    let mut files = None;
    let server_tls = if tls {
        listener.tls = TlsMode::Starttls;
        let f =
            mail_core::tls::generate_self_signed(dir.path(), &["localhost".into()]).expect("cert");
        let cfg = mail_core::tls::server_config(&f).expect("tls config");
        files = Some(f);
        Some(cfg)
    } else {
        None
    };
    let mut config = ImapConfig::new(listener);
    config.allow_plaintext_login = !tls;
    config.auth_failure_delay = Duration::from_millis(200);
    tweak(&mut config);
    let shutdown = Shutdown::new();
    let server = ImapServer::new(config, store.clone(), directory.clone()).with_policy(policy);
    let addr = server.serve(server_tls, &shutdown).await.expect("serve");
    Server {
        addr,
        store,
        directory,
        shutdown,
        dir,
        tls: files,
    }
}

impl Server {
    /// Delivers a message to `user`'s INBOX through the store (as LMTP does).
    pub fn deliver(&self, user: &str, subject: &str, body: &str) {
        let msg = format!(
            "From: Sender <sender@example.org>\r\nTo: {user}@example.test\r\nSubject: {subject}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}-{}@example.org>\r\n\r\n{body}\r\n",
            subject.len()
        );
        let r = self.store.deliver(
            msg.as_bytes(),
            &[Recipient::new(user)],
            &DeliverOptions::default(),
        );
        assert!(r[0].is_ok(), "delivery failed: {:?}", r[0]);
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

/// A line-level client for bad-input tests.
pub struct Raw {
    pub stream: BufReader<TcpStream>,
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
        assert!(greeting.starts_with("* OK"), "greeting {greeting}");
        raw
    }

    pub async fn login(addr: SocketAddr, user: (&str, &str)) -> Raw {
        let mut raw = Raw::connect(addr).await;
        let r = raw.cmd("l1", &format!("LOGIN {} {}", user.0, user.1)).await;
        assert!(r.last().is_some_and(|l| l.starts_with("l1 OK")), "{r:?}");
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.get_mut().write_all(bytes))
            .await
            .expect("write timeout")
            .expect("write");
    }

    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.stream.read_line(&mut line))
            .await
            .expect("read timeout")
            .expect("read");
        assert!(n > 0, "connection closed");
        line
    }

    /// Reads lines until the tagged response for `tag`, following literals.
    pub async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = self.line().await;
            // A literal: read its bytes into the same logical line.
            while let Some(n) = literal_len(&line) {
                let mut buf = vec![0u8; n];
                tokio::time::timeout(WAIT, self.stream.read_exact(&mut buf))
                    .await
                    .expect("literal timeout")
                    .expect("literal");
                line.push_str(&String::from_utf8_lossy(&buf));
                line.push_str(&self.line().await);
            }
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line.trim_end().to_string());
            if done {
                return lines;
            }
        }
    }

    pub async fn cmd(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until_tagged(tag).await
    }

    /// True when the server closed the connection.
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest)).await,
            Ok(Ok(_)) | Ok(Err(_))
        )
    }
}

fn literal_len(line: &str) -> Option<usize> {
    let t = line.trim_end();
    let t = t.strip_suffix('}')?;
    let open = t.rfind('{')?;
    t[open + 1..].trim_end_matches('+').parse().ok()
}

fn client_script() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR, set by cargo test"))
        .join("tests/imap_client.py")
}

/// A JSON array of strings from the client script's output (empty if absent).
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// [`strings`] as one text, one per line.
pub fn joined(v: &serde_json::Value) -> String {
    strings(v).join("\n")
}

/// Runs a scenario of the Python imaplib client and parses its JSON.
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
    let out = tokio::time::timeout(WAIT * 3, child)
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
