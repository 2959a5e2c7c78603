//! NAMESPACE (RFC 2342) and the mapping between the names a client sees
//! and store paths, for the three namespaces:
//!
//! - personal, `""`: the user's own mailboxes (`INBOX`, `Work/Projects`);
//! - other users, `Other Users/`: mailboxes other users shared through
//!   ACLs (RFC 4314), as `Other Users/<owner>/<name>`;
//! - shared, `Shared/`: when `shared_owner` is configured, the mailboxes
//!   of that account, as `Shared/<name>`. It is the other-users mapping
//!   with the owner implied: the store lists them, checks rights and
//!   opens them exactly as for `Other Users/`, so ACLs on the owner's
//!   mailboxes decide who sees and changes what.

use mail_store::MailboxPath;

use crate::session::{Flow, Session};

/// The namespace prefix under which other users' shared mailboxes appear
/// (RFC 2342): `Other Users/bob/Projects`.
pub const OTHER_USERS: &str = "Other Users";

/// The shared namespace prefix (RFC 2342 5): `Shared/Support`.
pub const SHARED: &str = "Shared";

/// `name` is `prefix` itself or below it.
pub(crate) fn in_namespace(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn inbox_folded(folder: &str) -> &str {
    if folder.eq_ignore_ascii_case("INBOX") {
        "INBOX"
    } else {
        folder
    }
}

/// The store path for a name as `user` sees it; `shared_owner` is the
/// account behind `Shared/`, if configured.
pub(crate) fn to_path(user: &str, shared_owner: Option<&str>, name: &str) -> Option<MailboxPath> {
    if in_namespace(name, OTHER_USERS) {
        let rest = name.strip_prefix(OTHER_USERS)?.strip_prefix('/')?;
        let (owner, folder) = rest.split_once('/')?;
        if owner.is_empty() || folder.is_empty() {
            return None;
        }
        return Some(MailboxPath::new(owner, inbox_folded(folder)));
    }
    if let Some(owner) = shared_owner
        && in_namespace(name, SHARED)
    {
        let folder = name.strip_prefix(SHARED)?.strip_prefix('/')?;
        let folder = folder.trim_end_matches('/');
        if folder.is_empty() {
            return None;
        }
        return Some(MailboxPath::new(owner, inbox_folded(folder)));
    }
    if name.is_empty() {
        return None;
    }
    Some(MailboxPath::new(user, name.trim_end_matches('/')))
}

/// The name `user` sees for a store path.
pub(crate) fn to_name(user: &str, shared_owner: Option<&str>, path: &MailboxPath) -> String {
    if path.owner == user {
        path.name.clone()
    } else if shared_owner == Some(path.owner.as_str()) {
        format!("{SHARED}/{}", path.name)
    } else {
        format!("{OTHER_USERS}/{}/{}", path.owner, path.name)
    }
}

impl Session {
    fn shared_owner(&self) -> Option<&str> {
        self.shared.config.shared_owner.as_deref()
    }

    /// The store path for a name the client sent.
    pub(crate) fn path_of(&self, name: &str) -> Option<MailboxPath> {
        let user = self.user().map_or("", |u| u.uid.as_str());
        to_path(user, self.shared_owner(), name)
    }

    /// The name the client sees for a store path.
    pub(crate) fn name_of(&self, path: &MailboxPath) -> String {
        let user = self.user().map_or("", |u| u.uid.as_str());
        to_name(user, self.shared_owner(), path)
    }

    /// Names that belong to a non-personal namespace (no CREATE there).
    pub(crate) fn reserved_name(&self, name: &str) -> bool {
        in_namespace(name, OTHER_USERS)
            || (self.shared_owner().is_some() && in_namespace(name, SHARED))
    }

    pub(crate) fn namespace(&mut self, tag: &str) -> Flow {
        let shared = if self.shared_owner().is_some() {
            format!("((\"{SHARED}/\" \"/\"))")
        } else {
            "NIL".to_string()
        };
        self.push(
            format!("* NAMESPACE ((\"\" \"/\")) ((\"{OTHER_USERS}/\" \"/\")) {shared}\r\n")
                .as_bytes(),
        );
        self.ok(tag, None, "NAMESPACE completed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_round_trip() {
        let shared = Some("shared");
        for (name, owner, folder) in [
            ("INBOX", "alice", "INBOX"),
            ("Work/Projects", "alice", "Work/Projects"),
            ("Other Users/bob/Lists", "bob", "Lists"),
            ("Other Users/bob/inbox", "bob", "INBOX"),
            ("Shared/Support", "shared", "Support"),
            ("Shared/Support/2026", "shared", "Support/2026"),
        ] {
            let p = to_path("alice", shared, name).expect(name);
            assert_eq!((p.owner.as_str(), p.name.as_str()), (owner, folder));
            if name != "Other Users/bob/inbox" {
                assert_eq!(to_name("alice", shared, &p), name);
            }
        }
        // Roots of the namespaces are not mailboxes.
        for name in ["Shared", "Shared/", "Other Users", "Other Users/bob", ""] {
            assert!(to_path("alice", shared, name).is_none(), "{name}");
        }
        // Without a shared owner, Shared is an ordinary personal name.
        let p = to_path("alice", None, "Shared/x").expect("personal");
        assert_eq!(p.owner, "alice");
        // The shared owner sees its own mailboxes as personal ones.
        let p = MailboxPath::new("shared", "Support");
        assert_eq!(to_name("shared", shared, &p), "Support");
        assert!(in_namespace("Shared", SHARED));
        assert!(!in_namespace("SharedStuff", SHARED));
    }
}
