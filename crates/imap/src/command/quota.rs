//! GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208). Each user has one quota
//! root with STORAGE (KiB) and MESSAGE resources. A user names their own
//! root `""`; quota administrators (`quota_admins` in the config) also
//! name any user's root `user/<uid>`. Limits live in the directory (as
//! for `mailctl store quota set`), usage comes from the store.

use mail_directory::{DirectoryError, UserChange};
use mail_imap_proto::response::{Code, write_astring, write_mailbox};

use crate::session::{Flow, Session};

/// Prefix of the quota roots administrators use for other users.
const USER_ROOT: &str = "user/";

impl Session {
    /// Whether the logged-in user may run SETQUOTA.
    pub(crate) fn is_quota_admin(&self) -> bool {
        self.user()
            .is_some_and(|u| self.shared.config.quota_admins.contains(&u.uid))
    }

    /// The user a quota root belongs to, if this session may see it.
    fn quota_root_owner(&self, root: &str) -> Option<String> {
        let me = self.uid();
        if root.is_empty() {
            return Some(me);
        }
        let uid = root.strip_prefix(USER_ROOT)?;
        if uid.is_empty() || uid.contains('/') {
            return None;
        }
        (uid == me || self.is_quota_admin()).then(|| uid.to_string())
    }

    async fn quota_line(
        &mut self,
        owner: &str,
        root: &str,
    ) -> Result<Vec<u8>, mail_store::StoreError> {
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
        let mut line = b"* QUOTA ".to_vec();
        write_astring(&mut line, root.as_bytes(), self.utf8());
        line.extend_from_slice(format!(" ({})\r\n", res.join(" ")).as_bytes());
        Ok(line)
    }

    pub(crate) async fn get_quota(&mut self, tag: &str, root: &str) -> Flow {
        let Some(owner) = self.quota_root_owner(root) else {
            return self.no(tag, Some(Code::NonExistent), "No such quota root");
        };
        match self.quota_line(&owner, root).await {
            Ok(line) => {
                self.push(&line);
                self.ok(tag, None, "GETQUOTA completed")
            }
            Err(e) => self.store_no(tag, &e, false),
        }
    }

    pub(crate) async fn get_quota_root(&mut self, tag: &str, name: &str) -> Flow {
        let user = self.uid();
        let Some(path) = self.path_of(name) else {
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
            match self.quota_line(&user, "").await {
                Ok(l) => self.push(&l),
                Err(e) => return self.store_no(tag, &e, false),
            }
        }
        self.ok(tag, None, "GETQUOTAROOT completed")
    }

    /// SETQUOTA (RFC 9208 4.1.3): the listed limits replace the root's
    /// limits; a resource left out becomes unlimited.
    pub(crate) async fn set_quota(
        &mut self,
        tag: &str,
        root: &str,
        limits: &[(String, u64)],
    ) -> Flow {
        if !self.is_quota_admin() {
            return self.no(
                tag,
                Some(Code::NoPerm),
                "Only quota administrators may set quotas",
            );
        }
        let Some(owner) = self.quota_root_owner(root) else {
            return self.no(tag, Some(Code::NonExistent), "No such quota root");
        };
        // 0 means "no limit" in the directory, so it cannot mean "nothing".
        let (mut bytes, mut messages) = (0u64, 0u64);
        for (resource, limit) in limits {
            if *limit == 0 {
                return self.no(
                    tag,
                    Some(Code::Cannot),
                    "A limit of 0 is not supported; leave the resource out to remove its limit",
                );
            }
            match resource.to_ascii_uppercase().as_str() {
                "STORAGE" => match limit.checked_mul(1024) {
                    Some(b) => bytes = b,
                    None => return self.no(tag, Some(Code::Cannot), "STORAGE limit too large"),
                },
                "MESSAGE" => messages = *limit,
                _ => {
                    return self.no(
                        tag,
                        Some(Code::Cannot),
                        &format!("Unsupported resource {resource} (STORAGE and MESSAGE only)"),
                    );
                }
            }
        }
        let change = UserChange {
            quota_bytes: Some(bytes),
            quota_messages: Some(messages),
            ..UserChange::default()
        };
        let updated = match self.shared.directory.modify_user(&owner, &change).await {
            Ok(u) => u,
            Err(DirectoryError::NotFound(_)) => {
                return self.no(tag, Some(Code::NonExistent), "No such user");
            }
            Err(e) => {
                tracing::warn!(error = %e, user = %owner, "SETQUOTA: directory update failed");
                let code = if e.is_temporary() {
                    Code::Unavailable
                } else {
                    Code::ServerBug
                };
                return self.no(tag, Some(code), "The directory refused the change");
            }
        };
        tracing::info!(user = %owner, by = %self.uid(), bytes, messages, "quota changed via SETQUOTA");
        if let crate::session::State::Authenticated(u) | crate::session::State::Selected(u, _) =
            &mut self.state
            && u.uid == owner
        {
            u.quota.bytes = updated.quota.bytes;
            u.quota.messages = updated.quota.messages;
        }
        match self.quota_line(&owner, root).await {
            Ok(line) => {
                self.push(&line);
                self.ok(tag, None, "SETQUOTA completed")
            }
            Err(e) => self.store_no(tag, &e, false),
        }
    }
}
