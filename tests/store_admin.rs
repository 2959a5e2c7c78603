//! The store's admin API through `mailctl store`, across real processes:
//! a store started by `mailctl up` gets mail from `swaks` over LMTP, then
//! is listed, quota-limited (the next delivery gets `452`), snapshotted
//! while serving, reconstructed, restored per user, exported and imported
//! into a second mailstore process, and finally restored and reconstructed
//! offline once stopped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use common::{ServiceBuilder, bin, mailctl_up, stop_mailctl_up, swaks_lmtp};
use mail_store::{MailboxPath, Store, StoreConfig, UidSet};
use nix::sys::signal::Signal;

/// A store's admin API and the operator certificate `mailctl up` issued
/// (both stores take it: mutual TLS with the deployment CA).
struct Admin {
    addr: String,
    pki: PathBuf,
}

/// `mailctl store ARGS` with the admin address and the operator's
/// certificate in the environment.
fn store_cmd(admin: &Admin, args: &[&str]) -> Output {
    Command::new(bin("mailctl"))
        .arg("store")
        .args(args)
        .env("TIERMAIL_STORE_ADMIN", &admin.addr)
        .env("TIERMAIL_GRPC_CA", admin.pki.join("ca.pem"))
        .env("TIERMAIL_GRPC_CERT", admin.pki.join("mailctl.pem"))
        .env("TIERMAIL_GRPC_KEY", admin.pki.join("mailctl.key"))
        .output()
        .expect("run mailctl store")
}

/// Runs `mailctl store ARGS`, asserts success, returns stdout.
fn ok(admin: &Admin, args: &[&str]) -> String {
    let out = store_cmd(admin, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mailctl store {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One message over LMTP with swaks; returns (success, transcript).
fn swaks(lmtp: &str, to: &str, subject: &str) -> (bool, String) {
    let out = swaks_lmtp(lmtp, to, subject, &format!("Body of {subject}."));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn deliver(lmtp: &str, to: &str, subject: &str) {
    let (ok, text) = swaks(lmtp, to, subject);
    assert!(ok, "swaks to {to} failed:\n{text}");
    assert!(text.contains("250 2.0.0"), "{text}");
}

/// The mailbox table rows, without the MODSEQ column (reconstruct may
/// start MODSEQs afresh) and without the totals line.
fn listing(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter(|l| !l.contains("mailbox(es)"))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            format!(
                "{} messages={} bytes={} uidvalidity={} uidnext={}",
                cols[0], cols[1], cols[3], cols[4], cols[5]
            )
        })
        .collect()
}

/// The messages count of `mailbox` in a `mailctl store mailboxes` table.
fn messages_in(table: &str, mailbox: &str) -> u64 {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(mailbox))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {mailbox} row in:\n{table}"))
}

struct Up {
    child: Child,
    log: PathBuf,
    data: PathBuf,
}

impl Up {
    fn start(data: &Path, log: &Path) -> (Up, serde_json::Value) {
        let (child, endpoints) = mailctl_up(data, log, Duration::from_secs(90));
        (
            Up {
                child,
                log: log.to_path_buf(),
                data: data.to_path_buf(),
            },
            endpoints,
        )
    }

    fn stop(&mut self) {
        let status = stop_mailctl_up(&mut self.child);
        assert!(status.success(), "{}", self.log_text());
    }

    fn log_text(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let store_log = self.data.join("log/mailstore.log");
        text.push_str("\n--- mailstore.log ---\n");
        text.push_str(&std::fs::read_to_string(store_log).unwrap_or_default());
        text
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_text());
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                Signal::SIGTERM,
            );
            let _ = self.child.wait();
        }
    }
}

/// A second store with its own directory holding `users`, admin API on.
/// A second store, its admin API on the same CA as `mailctl up`'s (its
/// certificate issued with `mailctl cert issue`).
fn second_store(dir: &Path, pki: &Path, users: &[&str]) -> common::Service {
    let mut data = mail_directory::file::Data {
        domains: vec![mail_directory::Domain {
            name: "example.test".into(),
            aliases: Vec::new(),
        }],
        ..Default::default()
    };
    for u in users {
        data.users.push(mail_directory::file::FileUser {
            uid: u.to_string(),
            mail: format!("{u}@example.test"),
            ..Default::default()
        });
    }
    let directory = dir.join("directory2.toml");
    mail_directory::file::FileDirectory::create(&directory, &data).expect("directory");
    let issued = Command::new(bin("mailctl"))
        .args([
            "cert",
            "issue",
            "store2",
            "--role",
            "store",
            "--host",
            "127.0.0.42",
        ])
        .arg("--ca-dir")
        .arg(pki)
        .arg("--out")
        .arg(dir)
        .output()
        .expect("mailctl cert issue");
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let file = |f: &str| dir.join(f).display().to_string();
    ServiceBuilder::new("mailstore")
        .ip(common::loopback(42))
        .no_defaults()
        .config_top("host = \"store2\"\n")
        .config(&format!(
            "[store]\nsystem_path = {:?}\n[store.partitions]\nprimary = {:?}\n[directory]\nbackend = \"file\"\npath = {:?}\n[lmtp.listener]\nlisten = \"127.0.0.42:0\"\n[admin]\nlisten = \"127.0.0.42:0\"\n[admin.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n[admin.tls.allow]\noperator = [\"mailctl\"]\n",
            dir.join("system2").display().to_string(),
            dir.join("primary2").display().to_string(),
            directory.display().to_string(),
            pki.join("ca.pem").display().to_string(),
            file("store2.pem"),
            file("store2.key"),
        ))
        .start()
}

fn open_store(data: &Path) -> Store {
    let cfg: StoreConfig = toml::from_str(&format!(
        "system_path = {:?}\n[partitions]\nprimary = {:?}\n",
        data.join("data/store/system").display().to_string(),
        data.join("data/store/primary").display().to_string()
    ))
    .expect("store config");
    Store::open(cfg).expect("open store")
}

fn inbox_len(store: &Store, user: &str) -> usize {
    let mb = store
        .open_mailbox(user, &MailboxPath::inbox(user))
        .expect("INBOX");
    store
        .fetch_index(&mb, &UidSet::all(), None)
        .expect("index")
        .len()
}

#[test]
fn mailctl_store_administers_a_running_store_and_moves_a_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("up");
    let (mut up, endpoints) = Up::start(&data, &dir.path().join("mailctl.log"));
    let lmtp = endpoints["lmtp"].as_str().expect("lmtp").to_string();
    let admin = Admin {
        addr: endpoints["store_admin_grpc"]
            .as_str()
            .expect("store_admin_grpc in endpoints.json")
            .to_string(),
        pki: data.join("pki"),
    };

    for i in 1..=3 {
        deliver(&lmtp, "alice@example.test", &format!("alice {i}"));
    }
    deliver(&lmtp, "bob@example.test", "bob 1");

    // Listing and quota report.
    let table = ok(&admin, &["mailboxes", "alice"]);
    assert_eq!(messages_in(&table, "INBOX"), 3, "{table}");
    // INBOX and the five special-use mailboxes of a new account.
    assert!(table.contains("6 mailbox(es), 3 message(s)"), "{table}");
    let missing = store_cmd(&admin, &["mailboxes", "nobody"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let report = ok(&admin, &["quota", "report"]);
    let row = |user: &str| -> Vec<String> {
        report
            .lines()
            .find(|l| l.starts_with(user))
            .unwrap_or_else(|| panic!("no {user} in:\n{report}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(row("alice")[1], "3", "{report}");
    assert_eq!(row("bob")[1], "1", "{report}");

    // A limit set through the admin API holds the next delivery with 452.
    let q = ok(
        &admin,
        &["quota", "set", "alice", "--bytes", "0", "--messages", "3"],
    );
    assert!(q.contains("messages:  3 of 3"), "{q}");
    let (delivered, text) = swaks(&lmtp, "alice@example.test", "over the limit");
    assert!(!delivered, "{text}");
    assert!(text.contains("452 4.2.2"), "{text}");
    let q = ok(&admin, &["quota", "get", "alice"]);
    assert!(q.contains("messages:  3 of 3"), "{q}");
    assert!(q.contains("over for"), "{q}");

    // A snapshot while bob keeps receiving mail.
    let snap = dir.path().join("snap");
    let lmtp2 = lmtp.clone();
    let writer = std::thread::spawn(move || {
        for i in 2..=6 {
            deliver(&lmtp2, "bob@example.test", &format!("bob {i}"));
        }
    });
    let out = ok(&admin, &["snapshot", snap.to_str().expect("utf-8 path")]);
    writer.join().expect("writer");
    assert!(out.contains("snapshot in"), "{out}");
    assert!(snap.join("db").is_dir());
    let again = store_cmd(&admin, &["snapshot", snap.to_str().expect("utf-8 path")]);
    assert!(!again.status.success(), "a snapshot never overwrites");

    // Reconstruct reproduces the listing.
    let before = listing(&ok(&admin, &["mailboxes", "alice"]));
    let out = ok(&admin, &["reconstruct", "alice"]);
    assert!(
        out.contains("reconstructed 1 user(s): 6 mailbox(es), 3 message(s)"),
        "{out}"
    );
    assert_eq!(before, listing(&ok(&admin, &["mailboxes", "alice"])));
    let out = ok(&admin, &["reconstruct", "--all"]);
    assert!(
        out.contains("reconstructed 3 user(s)") || out.contains("reconstructed 2 user(s)"),
        "{out}"
    );
    assert_eq!(before, listing(&ok(&admin, &["mailboxes", "alice"])));

    // Restore one user online: two later messages go away again.
    ok(
        &admin,
        &["quota", "set", "alice", "--bytes", "0", "--messages", "0"],
    );
    deliver(&lmtp, "alice@example.test", "alice 4");
    deliver(&lmtp, "alice@example.test", "alice 5");
    assert_eq!(
        messages_in(&ok(&admin, &["mailboxes", "alice"]), "INBOX"),
        5
    );
    let out = ok(
        &admin,
        &[
            "restore",
            snap.to_str().expect("utf-8 path"),
            "--user",
            "alice",
        ],
    );
    assert!(out.contains("restored alice"), "{out}");
    let table = ok(&admin, &["mailboxes", "alice"]);
    assert_eq!(messages_in(&table, "INBOX"), 3, "{table}");
    let bob_now = messages_in(&ok(&admin, &["mailboxes", "bob"]), "INBOX");
    assert_eq!(bob_now, 6, "other users are untouched");

    // Export from this store, import into a second mailstore process.
    let archive = dir.path().join("alice.export");
    ok(
        &admin,
        &[
            "export",
            "alice",
            "--output",
            archive.to_str().expect("utf-8"),
        ],
    );
    let bytes = std::fs::read(&archive).expect("archive");
    assert!(bytes.starts_with(b"TIERMAIL-EXPORT 1 alice\n"));
    let store2 = second_store(dir.path(), &admin.pki, &["alice", "moved"]);
    let admin2 = Admin {
        addr: store2.port("admin_grpc").to_string(),
        pki: admin.pki.clone(),
    };
    let out = ok(
        &admin2,
        &["import", "--input", archive.to_str().expect("utf-8")],
    );
    assert!(
        out.contains("imported alice (exported as alice): 6 mailbox(es), 3 message(s)"),
        "{out}"
    );
    let out = ok(
        &admin2,
        &[
            "import",
            "--input",
            archive.to_str().expect("utf-8"),
            "--as",
            "moved",
        ],
    );
    assert!(out.contains("imported moved (exported as alice)"), "{out}");
    assert_eq!(
        listing(&ok(&admin, &["mailboxes", "alice"]))
            .iter()
            .map(|l| l
                .split(" uidvalidity")
                .next()
                .unwrap_or_default()
                .to_string())
            .collect::<Vec<_>>(),
        listing(&ok(&admin2, &["mailboxes", "moved"]))
            .iter()
            .map(|l| l
                .split(" uidvalidity")
                .next()
                .unwrap_or_default()
                .to_string())
            .collect::<Vec<_>>(),
    );
    // Byte for byte: the moved user exports to the same archive.
    let back = dir.path().join("moved.export");
    ok(
        &admin2,
        &["export", "moved", "--output", back.to_str().expect("utf-8")],
    );
    let back = std::fs::read(&back).expect("archive");
    assert_eq!(
        back.strip_prefix(b"TIERMAIL-EXPORT 1 moved\n".as_slice()),
        bytes.strip_prefix(b"TIERMAIL-EXPORT 1 alice\n".as_slice())
    );
    // A cut archive is refused, naming the problem.
    let cut = dir.path().join("cut.export");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).expect("write");
    let bad = store_cmd(
        &admin2,
        &[
            "import",
            "--input",
            cut.to_str().expect("utf-8"),
            "--as",
            "moved",
        ],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("truncated") && err.contains("InvalidArgument"),
        "{err}"
    );
    drop(store2);

    // Offline commands refuse a store in use...
    let config = data.join("etc/mailstore.toml");
    let busy = Command::new(bin("mailctl"))
        .args(["store", "reconstruct", "--all", "--config"])
        .arg(&config)
        .output()
        .expect("mailctl");
    assert!(!busy.status.success());
    let err = String::from_utf8_lossy(&busy.stderr);
    assert!(err.contains("is in use"), "{err}");

    // ...and work once it is stopped: the whole store back to the snapshot.
    up.stop();
    let out = Command::new(bin("mailctl"))
        .args(["store", "restore"])
        .arg(&snap)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("mailctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin("mailctl"))
        .args(["store", "reconstruct", "--all", "--config"])
        .arg(&config)
        .output()
        .expect("mailctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = open_store(&data);
    assert_eq!(inbox_len(&store, "alice"), 3);
    let bob = inbox_len(&store, "bob");
    assert!(
        (1..=6).contains(&bob),
        "bob has {bob} messages in the snapshot"
    );
}
