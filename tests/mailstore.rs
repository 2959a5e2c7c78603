//! The `mailstore` service end to end: LMTP delivery from real clients
//! (`swaks`) into a store started by `mailctl up`, and SIGKILL in the middle
//! of a stream of deliveries losing nothing that was acknowledged.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::{ServiceBuilder, loopback, mailctl_up, stop_mailctl_up, swaks_lmtp, wait_for};
use mail_store::{MailboxPath, Store, StoreConfig, UidSet};
use nix::sys::signal::Signal;

/// Every message in `user`'s INBOX, as bytes.
fn inbox(store: &Store, user: &str) -> Vec<Vec<u8>> {
    let Ok(mb) = store.open_mailbox(user, &MailboxPath::inbox(user)) else {
        return Vec::new();
    };
    let rows = store.fetch_index(&mb, &UidSet::all(), None).expect("index");
    rows.iter()
        .map(|r| store.read_message(&mb, r.uid).expect("message file"))
        .collect()
}

fn open_store(system: &Path, primary: &Path) -> Store {
    let cfg: StoreConfig = toml::from_str(&format!(
        "system_path = {:?}\n[partitions]\nprimary = {:?}\n",
        system.display().to_string(),
        primary.display().to_string()
    ))
    .expect("store config");
    Store::open(cfg).expect("open store")
}

#[test]
fn swaks_delivers_over_lmtp_into_the_store_started_by_mailctl_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("up");
    let log = dir.path().join("mailctl.log");
    let (mut up, endpoints) = mailctl_up(&data, &log, Duration::from_secs(60));
    let show = || std::fs::read_to_string(&log).unwrap_or_default();
    let lmtp = endpoints["lmtp"]
        .as_str()
        .expect("lmtp endpoint")
        .to_string();
    let alice = endpoints["users"][0]["address"]
        .as_str()
        .expect("a user")
        .to_string();

    let swaks = |to: &str| swaks_lmtp(&lmtp, to, "delivered by swaks", "Hello over LMTP.");
    let ok = swaks(&alice);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "swaks failed:\n{text}\n{}", show());
    assert!(
        text.contains("<-  250 2.0.0 <alice@example.test> delivered"),
        "{text}"
    );
    let unknown = swaks("nobody@example.test");
    let text = String::from_utf8_lossy(&unknown.stdout);
    assert!(!unknown.status.success());
    assert!(text.contains("550 5.1.1"), "{text}");

    let status = stop_mailctl_up(&mut up);
    assert!(status.success(), "{}", show());
    let store = open_store(
        &data.join("data/store/system"),
        &data.join("data/store/primary"),
    );
    let uid = alice.split('@').next().expect("local part");
    let msgs = inbox(&store, uid);
    assert_eq!(msgs.len(), 1, "one message in {uid}'s INBOX");
    let text = String::from_utf8_lossy(&msgs[0]);
    assert!(text.contains("Subject: delivered by swaks"), "{text}");
    assert!(text.contains("Hello over LMTP."), "{text}");
}

/// A minimal LMTP client that sends one message to `rcpts` and returns
/// which recipients got 250 after DATA. `None` when the connection broke.
fn lmtp_send(addr: SocketAddr, rcpts: &[&str], id: &str) -> Option<Vec<String>> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut w = s.try_clone().ok()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut reply = |r: &mut BufReader<TcpStream>| -> Option<String> {
        loop {
            line.clear();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line.clone());
            }
        }
    };
    reply(&mut r)?;
    write!(w, "LHLO crash-test\r\n").ok()?;
    reply(&mut r)?;
    write!(w, "MAIL FROM:<sender@example.net>\r\n").ok()?;
    reply(&mut r)?;
    let mut accepted = Vec::new();
    for rc in rcpts {
        write!(w, "RCPT TO:<{rc}>\r\n").ok()?;
        if reply(&mut r)?.starts_with("250") {
            accepted.push(rc.to_string());
        }
    }
    write!(w, "DATA\r\n").ok()?;
    reply(&mut r)?;
    write!(
        w,
        "Subject: crash test\r\nMessage-ID: <{id}@test>\r\n\r\nbody of {id}\r\n{}\r\n.\r\n",
        "x".repeat(3000)
    )
    .ok()?;
    let mut delivered = Vec::new();
    for rc in accepted {
        if reply(&mut r)?.starts_with("250") {
            delivered.push(rc);
        }
    }
    let _ = write!(w, "QUIT\r\n");
    Some(delivered)
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_delivery_and_duplicates_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = ["u1", "u2", "u3"];
    let mut data = mail_directory::file::Data {
        domains: vec![mail_directory::Domain {
            name: "example.test".into(),
            aliases: Vec::new(),
        }],
        ..Default::default()
    };
    for u in users {
        data.users.push(mail_directory::file::FileUser {
            uid: u.into(),
            mail: format!("{u}@example.test"),
            ..Default::default()
        });
    }
    let directory = dir.path().join("directory.toml");
    mail_directory::file::FileDirectory::create(&directory, &data).expect("directory");
    let system = dir.path().join("system");
    let primary = dir.path().join("primary");
    let mut svc = ServiceBuilder::new("mailstore")
        .ip(loopback(40))
        .no_defaults()
        .config(&format!(
            "[store]\nsystem_path = {:?}\n[store.partitions]\nprimary = {:?}\n[directory]\nbackend = \"file\"\npath = {:?}\n[lmtp.listener]\nlisten = \"127.0.0.40:0\"\n",
            system.display().to_string(),
            primary.display().to_string(),
            directory.display().to_string()
        ))
        .config_top("host = \"localhost\"\n")
        .start();
    let lmtp = svc.port("lmtp");
    let rcpts: Vec<String> = users.iter().map(|u| format!("{u}@example.test")).collect();

    // Four clients deliver until the store dies; each records what was
    // acknowledged, per recipient.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::<String, Vec<String>>::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let acked = acked.clone();
        let rcpts = rcpts.clone();
        clients.push(std::thread::spawn(move || {
            let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
            for n in 0..2000 {
                let id = format!("c{c}-m{n}");
                match lmtp_send(lmtp, &refs, &id) {
                    Some(ok) => {
                        acked.lock().expect("lock").insert(id, ok);
                    }
                    None => return,
                }
            }
        }));
    }
    wait_for("some deliveries", Duration::from_secs(60), || {
        (acked.lock().expect("lock").len() >= 40).then_some(())
    });
    svc.signal(Signal::SIGKILL);
    svc.wait_exit(Duration::from_secs(10));
    for c in clients {
        c.join().expect("client thread");
    }
    drop(svc);

    let acked = acked.lock().expect("lock").clone();
    let store = open_store(&system, &primary);
    for u in users {
        let msgs = inbox(&store, u);
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for m in &msgs {
            let text = String::from_utf8_lossy(m);
            let id = text
                .split("Message-ID: <")
                .nth(1)
                .and_then(|t| t.split('@').next())
                .expect("message id")
                .to_string();
            *count.entry(id).or_default() += 1;
        }
        for (id, n) in &count {
            assert_eq!(*n, 1, "{u} has {id} {n} times");
        }
        let addr = format!("{u}@example.test");
        for (id, ok) in &acked {
            if ok.contains(&addr) {
                assert!(count.contains_key(id), "{u} lost acknowledged message {id}");
            }
        }
    }
    assert!(acked.len() >= 40);
}
