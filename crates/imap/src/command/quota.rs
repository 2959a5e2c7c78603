//! GETQUOTA and GETQUOTAROOT (RFC 9208): one quota root per user, named
//! `""`, with STORAGE (in KiB) and MESSAGE resources. SETQUOTA is refused:
//! limits live in the directory.

use mail_imap_proto::response::{Code, write_mailbox};

use super::to_path;
use crate::session::{Flow, Session};

impl Session {
    async fn quota_line(&mut self, owner: &str) -> Result<Vec<u8>, mail_store::StoreError> {
        let limits = self.limits_of(owner).await;
        let o = owner.to_string();
        let usage = self.shared.store.run(move |s| s.quota_usage(&o)).await?;
        let mut res = Vec::new();
        if let Some(b) = limits.bytes {
            res.push(format!(
                "STORAGE {} {}",
                usage.bytes.div_ceil(1024),
                b / 1024
            ));
        }
        if let Some(m) = limits.messages {
            res.push(format!("MESSAGE {} {m}", usage.messages));
        }
        Ok(format!("* QUOTA \"\" ({})\r\n", res.join(" ")).into_bytes())
    }

    pub(crate) async fn get_quota(&mut self, tag: &str, root: &str) -> Flow {
        if !root.is_empty() {
            return self.no(tag, Some(Code::NonExistent), "No such quota root");
        }
        let user = self.uid();
        match self.quota_line(&user).await {
            Ok(line) => {
                self.push(&line);
                self.ok(tag, None, "GETQUOTA completed")
            }
            Err(e) => self.store_no(tag, &e, false),
        }
    }

    pub(crate) async fn get_quota_root(&mut self, tag: &str, name: &str) -> Flow {
        let user = self.uid();
        let Some(path) = to_path(&user, name) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        let mut line = b"* QUOTAROOT ".to_vec();
        write_mailbox(&mut line, name, self.utf8());
        if path.owner == user {
            line.extend_from_slice(b" \"\"");
        }
        line.extend_from_slice(b"\r\n");
        self.push(&line);
        if path.owner == user {
            match self.quota_line(&user).await {
                Ok(l) => self.push(&l),
                Err(e) => return self.store_no(tag, &e, false),
            }
        }
        self.ok(tag, None, "GETQUOTAROOT completed")
    }
}
