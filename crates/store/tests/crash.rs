//! Crash safety: deliveries run in a child process (this test binary
//! re-executed with `STORE_CRASH_CHILD` set), which prints each message id
//! once `deliver` has returned; the parent SIGKILLs it mid-stream, reopens
//! the store and checks that every acknowledged delivery is there exactly
//! once and that no orphan or dangling file remains. Several rounds, so
//! recovery itself is also recovered from.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mail_store::{DeliverOptions, MailboxPath, Recipient, Store, UidSet};

const ENV: &str = "STORE_CRASH_CHILD";
const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];

fn recipients(n: usize) -> Vec<&'static str> {
    (0..3).map(|k| USERS[(n + k) % USERS.len()]).collect()
}

/// The child: deliver forever from 8 threads, printing `ACK <id> <n>` after each ack.
#[test]
fn crash_child() {
    let Ok(root) = std::env::var(ENV) else { return };
    let round = std::env::var("STORE_CRASH_ROUND").unwrap_or_default();
    let store = common::open(Path::new(&root));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            let round = round.clone();
            std::thread::spawn(move || {
                for n in 0.. {
                    let id = format!("r{round}t{t}n{n}");
                    let rcpts: Vec<Recipient> =
                        recipients(n).into_iter().map(Recipient::new).collect();
                    let body = "line\r\n".repeat(1 + n % 50);
                    let res = store.deliver(
                        &common::message(&id, &body),
                        &rcpts,
                        &DeliverOptions::default(),
                    );
                    if res.iter().all(|r| r.is_ok()) {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "ACK {id} {n}");
                        let _ = out.flush();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

fn run_child_and_kill(root: &Path, round: usize, acks_before_kill: usize) -> Vec<(String, usize)> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV, root)
        .env("STORE_CRASH_ROUND", round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut it = rest.split(' ');
                if let (Some(id), Some(n)) =
                    (it.next(), it.next().and_then(|n| n.parse::<usize>().ok()))
                {
                    let _ = tx.send((id.to_string(), n));
                }
            }
        }
    });
    let mut acks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acks.len() < acks_before_kill {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(a) => acks.push(a),
            Err(_) => break,
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    // Lines printed before death were acknowledged too.
    acks.extend(rx.try_iter());
    assert!(
        acks.len() >= acks_before_kill,
        "child produced only {} acks",
        acks.len()
    );
    eprintln!(
        "round {round}: killed the child after {} acknowledged deliveries",
        acks.len()
    );
    acks
}

fn check(root: &Path, acked: &[(String, usize)]) {
    let started = Instant::now();
    let store: Store = common::open(root);
    let reopen = started.elapsed();
    assert!(reopen < Duration::from_secs(10), "reopen took {reopen:?}");
    eprintln!("reopened in {reopen:?}");

    let primary = root.join("primary");
    assert!(
        common::files_under(&primary.join("tmp")).is_empty(),
        "temp files left"
    );
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    let mut referenced: BTreeMap<std::path::PathBuf, usize> = BTreeMap::new();
    for user in USERS {
        let Ok(inbox) = store.open_mailbox(user, &MailboxPath::inbox(user)) else {
            continue;
        };
        for e in store.fetch_cached(&inbox, &UidSet::all()).unwrap() {
            let subject = e.cache.envelope.subject.clone().unwrap_or_default();
            *counts.entry((user.to_string(), subject)).or_default() += 1;
            let path = store.message_path(&inbox, e.entry.uid).unwrap();
            assert!(path.is_file(), "dangling index row {path:?}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), e.entry.size);
            *referenced.entry(path).or_default() += 1;
        }
    }
    for (id, n) in acked {
        for user in recipients(*n) {
            let c = counts
                .get(&(user.to_string(), format!("test {id}")))
                .copied()
                .unwrap_or(0);
            assert_eq!(c, 1, "acknowledged {id} for {user} present {c} times");
        }
    }
    assert!(counts.values().all(|c| *c == 1), "duplicate delivery");
    let on_disk: BTreeSet<_> = common::message_files(&primary).into_iter().collect();
    let in_index: BTreeSet<_> = referenced.keys().cloned().collect();
    assert_eq!(on_disk, in_index, "orphan message files");
    // Link counts: each inode is referenced by exactly as many rows as it has links.
    let mut by_inode: HashMap<u64, (u64, usize)> = HashMap::new();
    for p in &in_index {
        let md = std::fs::metadata(p).unwrap();
        let e = by_inode.entry(md.ino()).or_insert((md.nlink(), 0));
        e.1 += 1;
    }
    for (ino, (nlink, rows)) in by_inode {
        assert_eq!(
            nlink as usize, rows,
            "inode {ino}: {nlink} links, {rows} rows"
        );
    }
    store.close();
}

#[test]
fn kill_9_loses_no_acknowledged_delivery() {
    if std::env::var(ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (round, n) in [60usize, 150, 25].into_iter().enumerate() {
        all.extend(run_child_and_kill(dir.path(), round, n));
        check(dir.path(), &all);
    }
}
