//! CREATE (with RFC 6154 USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.

use mail_imap_proto::response::Code;
use mail_store::SpecialUse;

use crate::session::{Flow, Session};

pub(crate) fn special_use(attr: &str) -> Option<SpecialUse> {
    Some(match attr.to_ascii_lowercase().as_str() {
        "\\all" => SpecialUse::All,
        "\\archive" => SpecialUse::Archive,
        "\\drafts" => SpecialUse::Drafts,
        "\\flagged" => SpecialUse::Flagged,
        "\\junk" => SpecialUse::Junk,
        "\\sent" => SpecialUse::Sent,
        "\\trash" => SpecialUse::Trash,
        _ => return None,
    })
}

impl Session {
    pub(crate) async fn create(&mut self, tag: &str, name: &str, uses: &[String]) -> Flow {
        let user = self.uid();
        let name = name.trim_end_matches('/').to_string();
        if name.is_empty() || self.reserved_name(&name) {
            return self.no(tag, Some(Code::NoPerm), "Cannot create a mailbox there");
        }
        let mut su = None;
        for u in uses {
            match special_use(u) {
                Some(s) if su.is_none() => su = Some(s),
                _ => {
                    return self.no(
                        tag,
                        Some(Code::Other("USEATTR".into())),
                        "Unsupported special-use attribute",
                    );
                }
            }
        }
        let r = self
            .shared
            .store
            .run(move |s| s.create_mailbox(&user, &name, su))
            .await;
        match r {
            Ok(()) => self.ok(tag, None, "CREATE completed"),
            Err(e) => self.store_no(tag, &e, false),
        }
    }

    pub(crate) async fn delete(&mut self, tag: &str, name: &str) -> Flow {
        let user = self.uid();
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        if path.owner != user {
            return self.no(
                tag,
                Some(Code::NoPerm),
                "Only the owner may delete a mailbox",
            );
        }
        let r = self
            .shared
            .store
            .run(move |s| s.delete_mailbox(&user, &path))
            .await;
        match r {
            Ok(()) => self.ok(tag, None, "DELETE completed"),
            Err(e) => self.store_no(tag, &e, false),
        }
    }

    pub(crate) async fn rename(&mut self, tag: &str, from: &str, to: &str) -> Flow {
        let user = self.uid();
        let (Some(fp), Some(tp)) = (self.path_of(from), self.path_of(to)) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        if fp.owner != user || tp.owner != user {
            return self.no(
                tag,
                Some(Code::NoPerm),
                "Mailboxes can only be renamed within your own tree",
            );
        }
        if fp.name == "INBOX" {
            return self.no(tag, Some(Code::Cannot), "Renaming INBOX is not supported");
        }
        let r = self
            .shared
            .store
            .run(move |s| s.rename_mailbox(&user, &fp.name, &tp.name))
            .await;
        match r {
            Ok(()) => self.ok(tag, None, "RENAME completed"),
            Err(e) => self.store_no(tag, &e, false),
        }
    }

    pub(crate) async fn subscribe(&mut self, tag: &str, name: &str, on: bool) -> Flow {
        let user = self.uid();
        let Some(path) = self.path_of(name) else {
            return self.no(tag, Some(Code::NonExistent), "No such mailbox");
        };
        let r = self
            .shared
            .store
            .run(move |s| {
                if on {
                    s.subscribe(&user, &path)
                } else {
                    s.unsubscribe(&user, &path)
                }
            })
            .await;
        match r {
            Ok(()) => self.ok(
                tag,
                None,
                if on {
                    "SUBSCRIBE completed"
                } else {
                    "UNSUBSCRIBE completed"
                },
            ),
            Err(e) => self.store_no(tag, &e, false),
        }
    }
}
