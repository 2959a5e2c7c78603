//! LIST (RFC 3501 6.3.8 with RFC 5258 LIST-EXTENDED, RFC 5819
//! LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 9051 CHILDREN) and LSUB.

use std::collections::BTreeMap;

use mail_imap_proto::ListCommand;
use mail_imap_proto::response::list_line;
use mail_store::MailboxInfo;

use super::{OTHER_USERS, SHARED};
use crate::session::{Flow, Session};

/// RFC 3501 6.3.8 wildcard matching: `*` matches anything, `%` anything
/// but the delimiter. Iterative with backtracking on the last `*`/`%`,
/// so a hostile pattern costs O(n*m), not exponential time.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // dp over positions: reachable[j] = pattern prefix matches name prefix j.
    let mut reach = vec![false; n.len() + 1];
    reach[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                let mut on = false;
                for j in 0..=n.len() {
                    on |= reach[j];
                    next[j] = on;
                    if j < n.len() && pc == '%' && n[j] == '/' {
                        on = false;
                    }
                }
            }
            c => {
                for j in 0..n.len() {
                    if reach[j] && n[j] == c {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[n.len()]
}

/// Canonical pattern: reference + pattern, with INBOX case-folded.
fn full_pattern(reference: &str, pattern: &str) -> String {
    let p = if pattern.starts_with('/') || reference.is_empty() {
        pattern.to_string()
    } else {
        format!("{reference}{pattern}")
    };
    if p.len() >= 5 && p.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("INBOX")) {
        format!("INBOX{}", &p[5..])
    } else {
        p
    }
}

/// One row of a listing.
#[derive(Debug, Clone, Default)]
struct Row {
    exists: bool,
    has_children: bool,
    subscribed: bool,
    special: Option<&'static str>,
}

impl Session {
    async fn rows(&mut self) -> Result<BTreeMap<String, Row>, mail_store::StoreError> {
        let user = self.uid();
        let u2 = user.clone();
        let (infos, subs): (Vec<MailboxInfo>, _) = self
            .shared
            .store
            .run(move |s| Ok((s.list(&u2)?, s.subscriptions(&u2)?)))
            .await?;
        let mut rows: BTreeMap<String, Row> = BTreeMap::new();
        for i in &infos {
            let name = self.name_of(&i.path);
            let row = rows.entry(name.clone()).or_default();
            row.exists = true;
            row.has_children |= i.has_children;
            row.special = i.special_use.map(|s| s.attribute());
            // Parents that are not mailboxes (other users' trees).
            let mut parent = name.as_str();
            while let Some((p, _)) = parent.rsplit_once('/') {
                rows.entry(p.to_string()).or_default().has_children = true;
                parent = p;
            }
        }
        for p in subs {
            let name = self.name_of(&p);
            // Levels above a subscription, so LSUB and RECURSIVEMATCH can
            // name them even where they are no mailbox.
            let mut parent = name.as_str();
            while let Some((p, _)) = parent.rsplit_once('/') {
                rows.entry(p.to_string()).or_default();
                parent = p;
            }
            rows.entry(name).or_default().subscribed = true;
        }
        // The roots of the other-users and shared namespaces are never
        // mailboxes.
        for root in [OTHER_USERS, SHARED] {
            if let Some(r) = rows.get_mut(root)
                && (root == OTHER_USERS || self.shared.config.shared_owner.is_some())
            {
                r.exists = false;
            }
        }
        Ok(rows)
    }

    pub(crate) async fn list(&mut self, tag: &str, cmd: ListCommand) -> Flow {
        if cmd.patterns.len() == 1 && cmd.patterns[0].is_empty() {
            // RFC 3501: the delimiter and root.
            self.push(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
            return self.ok(tag, None, "LIST completed");
        }
        let rows = match self.rows().await {
            Ok(r) => r,
            Err(e) => return self.store_no(tag, &e, false),
        };
        let patterns: Vec<String> = cmd
            .patterns
            .iter()
            .map(|p| full_pattern(&cmd.reference, p))
            .collect();
        let utf8 = self.utf8();
        let subscribed: Vec<&str> = rows
            .iter()
            .filter(|(_, r)| r.subscribed)
            .map(|(n, _)| n.as_str())
            .collect();
        let mut status_for = Vec::new();
        for (name, row) in &rows {
            if !patterns.iter().any(|p| matches(p, name)) {
                continue;
            }
            // RFC 5258 3.5: with RECURSIVEMATCH a name is also returned,
            // with CHILDINFO, when a descendant meets the selection
            // criteria but does not match the pattern itself.
            let childinfo = cmd.recursive_match
                && cmd.select_subscribed
                && deeper_unmatched(name, &subscribed, &patterns);
            if cmd.select_subscribed && !row.subscribed && !childinfo {
                continue;
            }
            if cmd.select_special_use && row.special.is_none() {
                continue;
            }
            if !row.exists && !row.has_children && !row.subscribed && !childinfo {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
            if !row.exists {
                attrs.push(if row.has_children {
                    "\\Noselect"
                } else {
                    "\\NonExistent"
                });
            }
            attrs.push(if row.has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if (cmd.returns.subscribed || cmd.select_subscribed) && row.subscribed {
                attrs.push("\\Subscribed");
            }
            if let Some(s) = row.special
                && (!cmd.extended || cmd.returns.special_use || cmd.select_special_use)
            {
                attrs.push(s);
            }
            let extra = childinfo.then_some("(\"CHILDINFO\" (\"SUBSCRIBED\"))");
            self.push(&list_line("LIST", &attrs, Some('/'), name, utf8, extra));
            if row.exists && cmd.returns.status.is_some() {
                status_for.push(name.clone());
            }
        }
        if let Some(items) = &cmd.returns.status {
            for name in status_for {
                self.status_untagged(&name, items).await;
            }
        }
        self.ok(tag, None, "LIST completed")
    }

    pub(crate) async fn lsub(&mut self, tag: &str, reference: &str, pattern: &str) -> Flow {
        let rows = match self.rows().await {
            Ok(r) => r,
            Err(e) => return self.store_no(tag, &e, false),
        };
        let pattern = full_pattern(reference, pattern);
        let patterns = [pattern];
        let utf8 = self.utf8();
        let subscribed: Vec<&str> = rows
            .iter()
            .filter(|(_, r)| r.subscribed)
            .map(|(n, _)| n.as_str())
            .collect();
        for (name, row) in &rows {
            if !matches(&patterns[0], name) {
                continue;
            }
            // RFC 3501 6.3.9: with `%`, a name whose subscribed entries lie
            // deeper is returned too, as \Noselect (it is not subscribed
            // itself, whatever it is in LIST).
            let attrs: &[&str] = if row.subscribed && row.exists {
                &[]
            } else if row.subscribed || deeper_unmatched(name, &subscribed, &patterns) {
                &["\\Noselect"]
            } else {
                continue;
            };
            self.push(&list_line("LSUB", attrs, Some('/'), name, utf8, None));
        }
        self.ok(tag, None, "LSUB completed")
    }
}

/// True when some name in `names` lies below `parent` and matches none of
/// `patterns` (so it is not listed in its own right).
fn deeper_unmatched(parent: &str, names: &[&str], patterns: &[String]) -> bool {
    names.iter().any(|n| {
        n.strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with('/'))
            && !patterns.iter().any(|p| matches(p, n))
    })
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "INBOX"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(matches("a*c", "a/b/c"));
        assert!(!matches("a%c", "a/b/c"));
        assert!(matches("", ""));
        // Quadratic at worst, not exponential.
        let long = "a".repeat(2000);
        assert!(!matches(&format!("{}b", "*%".repeat(500)), &long));
    }
}
