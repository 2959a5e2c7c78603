//! LMTP delivery throughput and latency: Tiermail's mailstore against
//! Dovecot's LMTP, side by side in one run.
//!
//! ```text
//! cargo run --release -p mail-mailstore --example lmtp_bench -- [SECONDS] [CONNECTIONS] [DIR]
//! ```
//! Defaults: 10 s per scenario, 20 connections, data under /var/tmp (a
//! real disk: tmpfs would hide the fsync cost this measures).
//!
//! For each server it delivers 4 KiB messages with 1 and with 10
//! recipients (users testuser1..10), each connection reusing its LMTP
//! session and pipelining MAIL/RCPT/DATA, and prints messages/s,
//! recipient deliveries/s and p50/p99 latency (MAIL sent to the last
//! per-recipient reply). Tiermail runs in this process (the LMTP server and
//! store the `mailstore` binary runs, on its own runtime); Dovecot runs as
//! a child from a private configuration on a loopback port, Maildir, its
//! default fsync settings. Without `/usr/sbin/dovecot` (Debian
//! `dovecot-lmtpd`) only Tiermail is measured.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_testkit::dovecot::{Dovecot, DovecotConfig, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USERS: usize = 10;
const DOMAIN: &str = "example.test";
const MESSAGE_SIZE: usize = 4096;

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let connections: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let base = PathBuf::from(args.next().unwrap_or_else(|| "/var/tmp".into()));
    let run_for = Duration::from_secs(seconds.max(1));

    let work = tempfile::Builder::new()
        .prefix("lmtp-bench-")
        .tempdir_in(&base)?;
    let tiermail = Tiermail::start(&work.path().join("tiermail"))?;
    let dovecot_config = DovecotConfig::new("tiermail-bench")
        .protocol(Protocol::Lmtp)
        .test_users(USERS)
        .domain(DOMAIN);
    let dovecot = match Dovecot::start(&work.path().join("dovecot"), &dovecot_config) {
        Ok(d) => Some(d),
        Err(e) => {
            println!("dovecot: not measured ({e})");
            None
        }
    };

    let client = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "LMTP benchmark: {MESSAGE_SIZE}-octet messages, {connections} connections, {}s per run, data in {}",
        run_for.as_secs(),
        base.display()
    );
    println!(
        "{:<10} {:>5} {:>10} {:>12} {:>9} {:>9}",
        "server", "rcpts", "msgs/s", "deliveries/s", "p50 ms", "p99 ms"
    );
    for rcpts in [1, 10] {
        let mut targets = vec![("tiermail", tiermail.addr)];
        if let Some(addr) = dovecot.as_ref().and_then(|d| d.addr(Protocol::Lmtp)) {
            targets.push(("dovecot", addr));
        }
        for (name, addr) in targets {
            let r = client.block_on(load(addr, connections, rcpts, run_for))?;
            println!(
                "{name:<10} {rcpts:>5} {:>10.0} {:>12.0} {:>9.1} {:>9.1}",
                r.rate,
                r.rate * rcpts as f64,
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3
            );
        }
    }
    drop(dovecot);
    tiermail.stop();
    Ok(())
}

/// A 4 KiB message with headers that differ per message, as mail does.
fn message(n: u64) -> Vec<u8> {
    let mut m = format!(
        "From: Bench <bench@example.org>\r\nTo: users@{DOMAIN}\r\nSubject: bench {n}\r\nMessage-ID: <{n}.{}@bench.example.org>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n",
        std::process::id()
    )
    .into_bytes();
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do.\r\n";
    while m.len() + line.len() <= MESSAGE_SIZE {
        m.extend_from_slice(line);
    }
    m.resize(MESSAGE_SIZE - 2, b'x');
    m.extend_from_slice(b"\r\n");
    m
}

struct Report {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(
    addr: SocketAddr,
    connections: usize,
    rcpts: usize,
    run_for: Duration,
) -> Result<Report, BoxError> {
    let deadline = Instant::now() + run_for;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| tokio::spawn(connection(addr, c, rcpts, deadline)))
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if latencies.is_empty() {
        return Err("no message was delivered".into());
    }
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok(Report {
        rate: latencies.len() as f64 / elapsed,
        p50: pick(0.50),
        p99: pick(0.99),
    })
}

/// One LMTP session delivering until `deadline`; returns each message's
/// latency. Any reply other than success ends the run with an error: a
/// benchmark that counts refusals would flatter a failing server.
async fn connection(
    addr: SocketAddr,
    id: usize,
    rcpts: usize,
    deadline: Instant,
) -> Result<Vec<Duration>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    expect(&mut r, "220").await?;
    w.write_all(b"LHLO bench.example.org\r\n").await?;
    expect(&mut r, "250").await?;
    let mut latencies = Vec::new();
    let mut n = (id as u64) << 32;
    while Instant::now() < deadline {
        let mut cmds = String::from("MAIL FROM:<bench@example.org>\r\n");
        for k in 0..rcpts {
            let user = (id + k + n as usize) % USERS + 1;
            cmds.push_str(&format!("RCPT TO:<testuser{user}@{DOMAIN}>\r\n"));
        }
        cmds.push_str("DATA\r\n");
        let t = Instant::now();
        w.write_all(cmds.as_bytes()).await?;
        for _ in 0..=rcpts {
            expect(&mut r, "250").await?;
        }
        expect(&mut r, "354").await?;
        let mut body = message(n);
        body.extend_from_slice(b".\r\n");
        w.write_all(&body).await?;
        for _ in 0..rcpts {
            expect(&mut r, "250").await?;
        }
        latencies.push(t.elapsed());
        n += 1;
    }
    w.write_all(b"QUIT\r\n").await?;
    Ok(latencies)
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, code: &str) -> Result<(), BoxError> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(format!("connection closed while waiting for {code}").into());
        }
        if !line.starts_with(code) {
            return Err(format!("expected {code}, got {}", line.trim_end()).into());
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

/// The mailstore's LMTP server and store, on a runtime of their own.
struct Tiermail {
    addr: SocketAddr,
    shutdown: mail_core::shutdown::Shutdown,
    thread: std::thread::JoinHandle<()>,
}

impl Tiermail {
    fn start(dir: &Path) -> Result<Self, BoxError> {
        use mail_directory::file::{Data, FileDirectory, FileUser};
        std::fs::create_dir_all(dir)?;
        let data_path = dir.join("directory.toml");
        let data = Data::single_domain(
            DOMAIN,
            (1..=USERS)
                .map(|i| FileUser {
                    uid: format!("testuser{i}"),
                    mail: format!("testuser{i}@{DOMAIN}"),
                    ..FileUser::default()
                })
                .collect(),
        );
        FileDirectory::create(&data_path, &data)?;
        let dir_cfg: mail_directory::DirectoryConfig = toml::from_str(&format!(
            "backend = \"file\"\npath = \"{}\"\n",
            data_path.display()
        ))?;
        let lmtp_cfg: mail_lmtp::LmtpConfig = toml::from_str(&format!(
            "spool_dir = \"{}\"\n[listener]\nlisten = \"127.0.0.1:0\"\nmax_connections = 1000\n",
            dir.display()
        ))?;
        let store_cfg = mail_store::StoreConfig::single(dir.join("store"));
        let shutdown = mail_core::shutdown::Shutdown::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(BoxError::from(e)));
                    return;
                }
            };
            rt.block_on(async move {
                let started = async {
                    let directory = mail_directory::open(&dir_cfg).await?;
                    let store = mail_store::Store::open(store_cfg)?;
                    // One delivery straight into the store first: a store
                    // that refuses mail should say why, not just 554.
                    for r in store.deliver(
                        &message(0),
                        &[mail_store::Recipient::new("testuser1")],
                        &mail_store::DeliverOptions::default(),
                    ) {
                        r?;
                    }
                    let mailboxes = Arc::new(mail_mailstore::StoreMailboxes::new(
                        store.clone(),
                        directory,
                        "localhost".into(),
                        false,
                    ));
                    let addr = mail_lmtp::LmtpServer::new(lmtp_cfg, mailboxes)
                        .serve(None, &stop)
                        .await?;
                    Ok::<_, BoxError>((addr, store))
                }
                .await;
                match started {
                    Ok((addr, store)) => {
                        let _ = tx.send(Ok(addr));
                        stop.triggered().await;
                        store.close();
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        let addr = rx.recv()??;
        Ok(Self {
            addr,
            shutdown,
            thread,
        })
    }

    fn stop(self) {
        self.shutdown.trigger();
        let _ = self.thread.join();
    }
}
