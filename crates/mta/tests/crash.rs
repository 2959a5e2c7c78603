//! Crash safety of the queue: the SMTP server runs in a child process
//! (this test binary re-executed with `MTA_CRASH_CHILD` set) while four
//! clients in the parent send a stream of messages, each to two stores
//! (two queue files per message), some large enough to be received into a
//! temporary file first. The parent SIGKILLs the child after a number of
//! `250`s, restarts it on the same spool, and after several rounds checks
//! that every message a client got `250` for is queued exactly once per
//! store with intact bytes, that no message is queued twice, that no
//! half-written file is visible, and that no temporary file survives a
//! restart.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mail_core::Shutdown;
use mail_mta::{Hooks, RecipientLookup, RelayPolicy, SmtpServer};
use mail_queue::{Spool, SpoolConfig};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const ENV: &str = "MTA_CRASH_CHILD";

/// The child: serve SMTP on the spool until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let spool = Spool::open(&SpoolConfig::new(&dir)).expect("spool");
        let lookup: Arc<dyn RecipientLookup> = Arc::new(common::Directory);
        let hooks = Hooks::new(Arc::new(RelayPolicy::new(lookup, Vec::new())));
        let cfg = common::config(|c| c.memory_threshold = 4096);
        let shutdown = Shutdown::new();
        let addr = SmtpServer::new(cfg, spool, hooks)
            .serve(None, &shutdown)
            .await
            .expect("bind");
        println!("PORT {}", addr.port());
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

/// The content of message `marker`: sizes from 100 octets to ~20 KiB.
fn content(marker: &str, n: usize) -> Vec<u8> {
    let mut m = format!("Subject: crash test\r\nX-Marker: {marker}\r\n\r\n").into_bytes();
    let line = format!("{marker} line of text with some length to it ........\r\n");
    // Every fourth message is large (0.5-1 MiB): written from a
    // temporary file in many pieces, which widens the window in which a
    // kill would catch a queue file half-written.
    let lines = if n % 4 == 3 {
        8000 + (n * 131) % 8000
    } else {
        1 + (n * 37) % 300
    };
    for _ in 0..lines {
        m.extend_from_slice(line.as_bytes());
    }
    m
}

async fn expect(r: &mut BufReader<TcpStream>, code: &str) -> Option<()> {
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(common::WAIT, r.read_line(&mut line))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    }
    line.starts_with(code).then_some(())
}

async fn send(r: &mut BufReader<TcpStream>, b: Vec<u8>) -> Option<()> {
    r.get_mut().write_all(&b).await.ok()
}

/// One client: sends messages until the connection breaks; reports each
/// acknowledged marker.
async fn client(
    addr: SocketAddr,
    round: usize,
    t: usize,
    acks: mpsc::UnboundedSender<(String, usize)>,
) {
    let Ok(tcp) = TcpStream::connect(addr).await else {
        return;
    };
    let mut r = BufReader::new(tcp);
    if expect(&mut r, "220").await.is_none() {
        return;
    }
    if send(&mut r, b"EHLO crash.test\r\n".to_vec())
        .await
        .is_none()
        || expect(&mut r, "250").await.is_none()
    {
        return;
    }
    for n in 0.. {
        let marker = format!("r{round}t{t}n{n}");
        let mut msg = b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n".to_vec();
        if send(&mut r, std::mem::take(&mut msg)).await.is_none() {
            return;
        }
        for code in ["250", "250", "250", "354"] {
            if expect(&mut r, code).await.is_none() {
                return;
            }
        }
        let mut body = content(&marker, n);
        body.extend_from_slice(b".\r\n");
        if send(&mut r, body).await.is_none() {
            return;
        }
        if expect(&mut r, "250").await.is_none() {
            return;
        }
        if acks.send((marker, n)).is_err() {
            return;
        }
    }
}

/// Starts the child, streams messages at it, kills it with SIGKILL after
/// `kill_after` acknowledgements; returns every acknowledged message.
async fn round(dir: &std::path::Path, round: usize, kill_after: usize) -> Vec<(String, usize)> {
    let exe = std::env::current_exe().expect("exe");
    let mut child = tokio::process::Command::new(exe)
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV, dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let port: u16 = loop {
        let line = tokio::time::timeout(common::WAIT, lines.next_line())
            .await
            .expect("child start timeout")
            .expect("read")
            .expect("child exited before listening");
        // The harness prints "test crash_child ... " on the same line.
        if let Some(i) = line.find("PORT ") {
            break line[i + 5..].trim().parse().expect("port");
        }
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let clients: Vec<_> = (0..4)
        .map(|t| tokio::spawn(client(addr, round, t, tx.clone())))
        .collect();
    drop(tx);
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        match tokio::time::timeout(common::WAIT, rx.recv()).await {
            Ok(Some(a)) => acked.push(a),
            _ => break,
        }
    }
    // Vary the moment of the kill relative to the writes in progress.
    tokio::time::sleep(Duration::from_micros((round as u64 * 1777) % 3000)).await;
    let pid = Pid::from_raw(child.id().expect("pid") as i32);
    kill(pid, Signal::SIGKILL).expect("SIGKILL");
    let _ = child.wait().await;
    for c in clients {
        let _ = c.await;
    }
    // 250s read after the kill were acknowledged too.
    while let Ok(a) = rx.try_recv() {
        acked.push(a);
    }
    assert!(
        acked.len() >= kill_after,
        "round {round}: only {} acks",
        acked.len()
    );
    eprintln!(
        "round {round}: SIGKILL after {} acknowledged messages",
        acked.len()
    );
    acked
}

async fn check(dir: &std::path::Path, acked: &[(String, usize)]) {
    let spool = Spool::open(&SpoolConfig::new(dir)).expect("reopen");
    let tmp: Vec<_> = std::fs::read_dir(dir.join(".tmp")).expect("tmp").collect();
    assert!(tmp.is_empty(), "temporary files survive a restart");
    let scan = spool.scan().await.expect("scan");
    assert!(
        scan.corrupt.is_empty(),
        "half-written queue files: {:?}",
        scan.corrupt
    );
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut data: HashMap<(String, String), Vec<u8>> = HashMap::new();
    for e in &scan.entries {
        let (env, bytes) = spool.read(&e.channel, &e.id).await.expect("read");
        let text = String::from_utf8_lossy(&bytes);
        let marker = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Marker: "))
            .expect("marker")
            .to_string();
        *seen.entry((marker.clone(), env.host.clone())).or_default() += 1;
        data.insert((marker, env.host.clone()), bytes);
    }
    assert!(seen.values().all(|c| *c == 1), "a message is queued twice");
    for (marker, n) in acked {
        for host in ["store1", "store2"] {
            let key = (marker.clone(), host.to_string());
            assert_eq!(
                seen.get(&key).copied().unwrap_or(0),
                1,
                "acknowledged {marker} missing for {host}"
            );
            let bytes = &data[&key];
            assert!(bytes.starts_with(b"Received: from crash.test"), "{marker}");
            assert!(
                bytes.ends_with(&content(marker, *n)),
                "{marker}: content damaged"
            );
        }
    }
    spool.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_message() {
    if std::env::var(ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let spool = dir.path().join("spool");
    let mut all = Vec::new();
    for (i, n) in [40usize, 120, 15, 70].into_iter().enumerate() {
        all.extend(round(&spool, i, n).await);
        check(&spool, &all).await;
    }
}
