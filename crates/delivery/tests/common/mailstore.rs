//! The real store behind the real LMTP server, in-process (as the
//! `mailstore` binary runs them), with users from a file directory.

use std::net::SocketAddr;
use std::sync::Arc;

use mail_core::shutdown::Shutdown;
use mail_directory::file::{Data, FileDirectory, FileUser};
use mail_store::{MailboxPath, Store};

pub const DOMAIN: &str = "example.test";

pub struct Mailstore {
    pub addr: SocketAddr,
    pub store: Store,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

impl Drop for Mailstore {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl Mailstore {
    /// Users `(uid, quota_bytes)`, each `uid@example.test`.
    pub async fn start(users: &[(&str, Option<u64>)]) -> Mailstore {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_path = dir.path().join("directory.toml");
        let data = Data {
            base_dn: "dc=example,dc=test".into(),
            domains: vec![mail_directory::Domain {
                name: DOMAIN.into(),
                aliases: Vec::new(),
            }],
            users: users
                .iter()
                .map(|(uid, quota)| FileUser {
                    uid: uid.to_string(),
                    mail: format!("{uid}@{DOMAIN}"),
                    quota_bytes: *quota,
                    ..FileUser::default()
                })
                .collect(),
            ..Data::default()
        };
        FileDirectory::create(&data_path, &data).expect("directory");
        let dir_cfg: mail_directory::DirectoryConfig = toml::from_str(&format!(
            "backend = \"file\"\npath = \"{}\"\n",
            data_path.display()
        ))
        .expect("directory config");
        let lmtp_cfg: mail_lmtp::LmtpConfig = toml::from_str(&format!(
            "spool_dir = \"{}\"\n\n[listener]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().display()
        ))
        .expect("lmtp config");
        let store =
            Store::open(mail_store::StoreConfig::single(dir.path().join("store"))).expect("store");
        // Mailboxes exist before the first delivery, as after provisioning.
        for (uid, _) in users {
            store.ensure_user(uid, None).expect("ensure user");
        }
        let directory = mail_directory::open(&dir_cfg)
            .await
            .expect("open directory");
        let mailboxes = Arc::new(mail_mailstore::StoreMailboxes::new(
            store.clone(),
            directory,
            "localhost".into(),
            false,
        ));
        let shutdown = Shutdown::new();
        let addr = mail_lmtp::LmtpServer::new(lmtp_cfg, mailboxes)
            .serve(None, &shutdown)
            .await
            .expect("lmtp");
        Mailstore {
            addr,
            store,
            shutdown,
            _dir: dir,
        }
    }

    /// Subjects of the test messages in `uid`'s INBOX (quota warnings and
    /// other notices left out), in UID order.
    pub fn subjects(&self, uid: &str) -> Vec<String> {
        let Ok(h) = self.store.open_mailbox(uid, &MailboxPath::inbox(uid)) else {
            return Vec::new();
        };
        let Ok(st) = self.store.status(&h) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for n in 1..st.uidnext {
            if let Ok(m) = self.store.read_message(&h, n) {
                let text = String::from_utf8_lossy(&m);
                if let Some(s) = text.lines().find_map(|l| l.strip_prefix("Subject: test ")) {
                    out.push(s.trim().to_string());
                }
            }
        }
        out
    }

    /// Raw messages of `uid`'s INBOX.
    pub fn messages(&self, uid: &str) -> Vec<String> {
        let Ok(h) = self.store.open_mailbox(uid, &MailboxPath::inbox(uid)) else {
            return Vec::new();
        };
        let Ok(st) = self.store.status(&h) else {
            return Vec::new();
        };
        (1..st.uidnext)
            .filter_map(|n| self.store.read_message(&h, n).ok())
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .collect()
    }
}
