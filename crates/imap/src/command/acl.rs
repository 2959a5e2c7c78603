//! GETACL, SETACL, DELETEACL, LISTRIGHTS, MYRIGHTS (RFC 4314).

use mail_imap_proto::response::{Code, write_astring, write_mailbox};
use mail_store::Rights;

use crate::session::{Flow, Session};

/// Every right the store knows, in RFC 4314 order.
const ALL_RIGHTS: &str = "lrswipkxtea";

impl Session {
    fn acl_prefix(&self, verb: &str, name: &str) -> Vec<u8> {
        let mut line = format!("* {verb} ").into_bytes();
        write_mailbox(&mut line, name, self.utf8());
        line
    }

    pub(crate) async fn get_acl(&mut self, tag: &str, name: &str) -> Flow {
        let user = self.uid();
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        let owner = path.owner.clone();
        let r = self
            .shared
            .store
            .run(move |s| s.get_acl(&user, &path))
            .await;
        match r {
            Ok(acl) => {
                let mut line = self.acl_prefix("ACL", name);
                line.push(b' ');
                write_astring(&mut line, owner.as_bytes(), self.utf8());
                line.extend_from_slice(format!(" {ALL_RIGHTS}").as_bytes());
                for (who, rights) in acl {
                    line.push(b' ');
                    write_astring(&mut line, who.as_bytes(), self.utf8());
                    line.push(b' ');
                    write_astring(&mut line, rights.to_string().as_bytes(), self.utf8());
                }
                line.extend_from_slice(b"\r\n");
                self.push(&line);
                self.ok(tag, None, "GETACL completed")
            }
            Err(e) => self.store_no(tag, &e, false),
        }
    }

    /// SETACL (`rights` with an optional `+`/`-` prefix) or DELETEACL (`None`).
    pub(crate) async fn set_acl(
        &mut self,
        tag: &str,
        name: &str,
        who: &str,
        rights: Option<&str>,
    ) -> Flow {
        let user = self.uid();
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        let who = who.to_string();
        let rights = rights.map(str::to_string);
        let r = self
            .shared
            .store
            .run(move |s| {
                let new = match rights.as_deref() {
                    None => None,
                    Some(r) => {
                        let (op, letters) = match r.as_bytes().first() {
                            Some(b'+') => (1, &r[1..]),
                            Some(b'-') => (-1, &r[1..]),
                            _ => (0, r),
                        };
                        let given = Rights::parse(letters)?;
                        let current = s
                            .get_acl(&user, &path)?
                            .get(&who)
                            .copied()
                            .unwrap_or(Rights::parse("")?);
                        Some(match op {
                            1 => current.union(given),
                            -1 => {
                                let kept: String = current
                                    .to_string()
                                    .chars()
                                    .filter(|c| !given.has(*c))
                                    .collect();
                                Rights::parse(&kept)?
                            }
                            _ => given,
                        })
                    }
                };
                s.set_acl(&user, &path, &who, new)
            })
            .await;
        match r {
            Ok(()) => self.ok(tag, None, "ACL updated"),
            Err(e) => self.store_no(tag, &e, false),
        }
    }

    pub(crate) async fn list_rights(&mut self, tag: &str, name: &str, who: &str) -> Flow {
        let user = self.uid();
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        let r = self
            .shared
            .store
            .run(move |s| s.my_rights(&user, &path))
            .await;
        match r {
            Ok(mine) if mine.has('a') => {
                let mut line = self.acl_prefix("LISTRIGHTS", name);
                line.push(b' ');
                write_astring(&mut line, who.as_bytes(), self.utf8());
                line.extend_from_slice(b" \"\"");
                for c in ALL_RIGHTS.chars() {
                    line.extend_from_slice(format!(" {c}").as_bytes());
                }
                line.extend_from_slice(b"\r\n");
                self.push(&line);
                self.ok(tag, None, "LISTRIGHTS completed")
            }
            Ok(_) => self.no(tag, Some(Code::NoPerm), "Administer right (a) needed"),
            Err(e) => self.store_no(tag, &e, false),
        }
    }

    pub(crate) async fn my_rights(&mut self, tag: &str, name: &str) -> Flow {
        let user = self.uid();
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        let r = self
            .shared
            .store
            .run(move |s| s.my_rights(&user, &path))
            .await;
        match r {
            Ok(rights) => {
                let mut line = self.acl_prefix("MYRIGHTS", name);
                line.push(b' ');
                write_astring(&mut line, rights.to_string().as_bytes(), self.utf8());
                line.extend_from_slice(b"\r\n");
                self.push(&line);
                self.ok(tag, None, "MYRIGHTS completed")
            }
            Err(e) => self.store_no(tag, &e, false),
        }
    }
}
