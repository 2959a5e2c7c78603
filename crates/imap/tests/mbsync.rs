//! A full client from Debian (isync's `mbsync`) syncing hundreds of
//! messages in several folders both ways with the server.

mod common;

use std::path::Path;

use common::{ALICE, run, start};
use mail_store::{Flags, MailboxPath, QuotaLimits, UidSet};

fn count(dir: &Path) -> usize {
    ["cur", "new"]
        .iter()
        .map(|d| std::fs::read_dir(dir.join(d)).map_or(0, |r| r.count()))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn mbsync_syncs_folders_both_ways() {
    // scripts/test installs isync; a missing mbsync is a failure, not a skip.
    let version = std::process::Command::new("mbsync")
        .arg("--version")
        .output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "mbsync is not installed (Debian package isync, installed by scripts/test)"
    );
    let s = start(|_| {}).await;
    let store = s.store.clone();
    let folders = [("INBOX", 120u32), ("Lists", 60), ("Archive/2025", 40)];
    tokio::task::spawn_blocking(move || {
        store.ensure_user("alice", None).expect("user");
        for (name, n) in folders {
            if name != "INBOX" {
                store.create_mailbox("alice", name, None).expect("create");
            }
            let h = store.open_mailbox("alice", &MailboxPath::new("alice", name)).expect("open");
            for i in 0..n {
                let msg = format!(
                    "From: list{i}@example.org\r\nTo: alice@example.test\r\nSubject: {name} message {i}\r\nMessage-ID: <{i}.{}@example.org>\r\n\r\nbody of {i}\r\n",
                    name.replace('/', ".")
                );
                store.append(&h, msg.as_bytes(), &Flags::new(), None, &QuotaLimits::default()).expect("append");
            }
        }
    })
    .await
    .expect("populate");

    let local = s.dir.path().join("maildir");
    std::fs::create_dir_all(&local).expect("maildir");
    let cfg = s.dir.path().join("mbsyncrc");
    std::fs::write(
        &cfg,
        format!(
            "IMAPAccount test\nHost 127.0.0.1\nPort {port}\nUser {user}\nPass {pass}\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {dir}/\nInbox {dir}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            port = s.port(),
            user = ALICE.0,
            pass = ALICE.1,
            dir = local.display()
        ),
    )
    .expect("config");
    let cfg = cfg.to_str().expect("path").to_string();
    run("mbsync", &["-c", &cfg, "-a"]).await;
    assert_eq!(count(&local.join("INBOX")), 120);
    assert_eq!(count(&local.join("Lists")), 60);
    assert_eq!(count(&local.join("Archive/2025")), 40);

    // Local changes go back: new messages, a new folder, a flag.
    for i in 0..5 {
        let name = local.join(format!("Lists/new/170000000{i}.local{i}.host"));
        std::fs::write(
            name,
            format!("From: me@example.test\r\nSubject: local {i}\r\n\r\nwritten offline\r\n"),
        )
        .expect("write");
    }
    let mine = local.join("Mine");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(mine.join(d)).expect("dir");
    }
    for i in 0..3 {
        std::fs::write(
            mine.join(format!("new/170000001{i}.mine{i}.host")),
            format!("Subject: mine {i}\r\n\r\nx\r\n"),
        )
        .expect("write");
    }
    // Flag one INBOX message locally (Maildir info ":2,F" in cur/).
    let first = ["cur", "new"]
        .iter()
        .filter_map(|d| std::fs::read_dir(local.join("INBOX").join(d)).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .expect("a message in INBOX");
    let base = first
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let base = base.split(":2,").next().unwrap_or(&base).to_string();
    let flagged = local.join("INBOX/cur").join(format!("{base}:2,F"));
    std::fs::rename(&first, &flagged).expect("flag locally");
    run("mbsync", &["-c", &cfg, "-a"]).await;

    let store = s.store.clone();
    let (lists, mine_count, flagged) = tokio::task::spawn_blocking(move || {
        let status = |name: &str| {
            let h = store
                .open_mailbox("alice", &MailboxPath::new("alice", name))
                .expect("open");
            store.status(&h).expect("status").messages
        };
        let h = store
            .open_mailbox("alice", &MailboxPath::inbox("alice"))
            .expect("inbox");
        let flagged = store
            .fetch_index(&h, &UidSet::all(), None)
            .expect("index")
            .iter()
            .filter(|e| e.flags.contains("\\Flagged"))
            .count();
        (status("Lists"), status("Mine"), flagged)
    })
    .await
    .expect("check");
    assert_eq!(lists, 65);
    assert_eq!(mine_count, 3);
    assert_eq!(flagged, 1);
}
