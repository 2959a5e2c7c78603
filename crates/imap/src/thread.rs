//! The THREAD algorithms of RFC 5256, on plain data so that they can be
//! tested without a store: ORDEREDSUBJECT (section 3) and REFERENCES
//! (section 4, after Jamie Zawinski's threading), plus the base subject
//! (section 2.1) that SORT SUBJECT also uses.
//!
//! Everything here is iterative: a hostile mailbox can hold a reply chain
//! thousands of messages deep, and recursion would exhaust the stack of a
//! runtime thread.

use std::collections::HashMap;

/// One message to thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreadMsg {
    /// What the response shows: sequence number or UID.
    pub(crate) id: u32,
    /// Mailbox order, the tie-breaker for equal dates (RFC 5256 2.2).
    pub(crate) seq: u32,
    /// Sent date (RFC 5256 2.2: Date:, else the internal date), Unix time.
    pub(crate) date: i64,
    /// Decoded Subject:.
    pub(crate) subject: String,
    /// Message-ID, with or without angle brackets.
    pub(crate) message_id: Option<String>,
    /// The References: field as it appeared (may be empty).
    pub(crate) references: String,
    /// The In-Reply-To: field as it appeared (may be empty).
    pub(crate) in_reply_to: String,
}

/// RFC 5256 2.1: the base subject, and whether the subject said it was a
/// reply or forward (`Re:`, `Fwd:`, `(fwd)`, `[fwd: ...]`). Compared
/// case-insensitively, so the result is lower case.
pub(crate) fn base_subject(subject: &str) -> (String, bool) {
    // (1) Tabs and continuations become spaces, runs of spaces one space
    // (only these: other Unicode spaces are text).
    let mut s: String = subject
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    s = s.to_lowercase();
    let mut reply = false;
    loop {
        // (2) Trailing "(fwd)" and white space.
        loop {
            let t = s.trim_end_matches(' ');
            if let Some(rest) = t.strip_suffix("(fwd)") {
                s = rest.to_string();
                reply = true;
            } else {
                s = t.to_string();
                break;
            }
        }
        // (3) and (4): leaders ("re:", "fwd:", "[blob] re:") and blobs.
        loop {
            let before = s.len();
            loop {
                let t = s.trim_start_matches(' ');
                match strip_refwd(t) {
                    Some(rest) => {
                        s = rest.to_string();
                        reply = true;
                    }
                    None => {
                        s = t.to_string();
                        break;
                    }
                }
            }
            if let Some(rest) = strip_blob(&s)
                && !rest.trim_matches(' ').is_empty()
            {
                s = rest.to_string();
            }
            if s.len() == before {
                break;
            }
        }
        // (5) "[fwd: ...]".
        if s.starts_with("[fwd:") && s.ends_with(']') {
            s = s["[fwd:".len()..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        return (s.trim_matches(' ').to_string(), reply);
    }
}

/// `subj-blob`: `[` no brackets `]` and white space.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find(['[', ']'])?;
    rest[end..]
        .strip_prefix(']')
        .map(|r| r.trim_start_matches([' ', '\t']))
}

/// `subj-refwd` after any number of blobs: `re`/`fw`/`fwd`, white space,
/// an optional blob, `:`.
fn strip_refwd(s: &str) -> Option<&str> {
    let mut t = s;
    while let Some(rest) = strip_blob(t) {
        t = rest;
    }
    let t = t
        .strip_prefix("re")
        .or_else(|| t.strip_prefix("fwd"))
        .or_else(|| t.strip_prefix("fw"))?;
    let mut t = t.trim_start_matches([' ', '\t']);
    if let Some(rest) = strip_blob(t) {
        t = rest;
    }
    t.strip_prefix(':')
}

/// The message ids (`<...>`) in a References: or In-Reply-To: field,
/// without brackets; folded white space inside an id is dropped.
pub(crate) fn message_ids(field: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = field;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(['>', '<']) else {
            break;
        };
        if rest.as_bytes()[close] == b'>' {
            let id: String = rest[..close].split_whitespace().collect();
            if !id.is_empty() {
                out.push(id);
            }
            rest = &rest[close + 1..];
        } else {
            rest = &rest[close..];
        }
    }
    out
}

/// The id of the Message-ID field: its first `<...>`; a value without
/// brackets (rows cached before the field was kept as sent) is the id.
fn own_id(m: &ThreadMsg) -> Option<String> {
    let raw = m.message_id.as_deref()?.trim();
    if raw.contains('<') {
        return message_ids(raw).into_iter().next();
    }
    let id: String = raw.split_whitespace().collect();
    (!id.is_empty()).then_some(id)
}

/// One container of the threading: a message or a dummy.
#[derive(Debug, Default)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The forest being built.
struct Forest<'a> {
    msgs: &'a [ThreadMsg],
    nodes: Vec<Node>,
}

impl<'a> Forest<'a> {
    fn new(msgs: &'a [ThreadMsg]) -> Self {
        Self {
            msgs,
            nodes: Vec::with_capacity(msgs.len()),
        }
    }

    fn add(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node {
            msg,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    /// `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        // A node without children is nobody's ancestor: this keeps the
        // usual case (a new message) O(1) instead of a walk up the chain.
        if self.nodes[a].children.is_empty() {
            return a == b;
        }
        let mut cur = Some(b);
        while let Some(c) = cur {
            if c == a {
                return true;
            }
            cur = self.nodes[c].parent;
        }
        false
    }

    /// Makes `child` a child of `parent`, leaving its old parent; refused
    /// (false) if that would make a loop.
    fn link(&mut self, parent: usize, child: usize) -> bool {
        if self.is_ancestor(child, parent) {
            return false;
        }
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
        true
    }

    fn unlink(&mut self, child: usize) {
        if let Some(old) = self.nodes[child].parent.take() {
            self.nodes[old].children.retain(|&c| c != child);
        }
    }

    /// Every node below `roots`, children before their parents.
    fn post_order(&self, roots: &[usize]) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<usize> = roots.to_vec();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().copied());
        }
        out.reverse();
        out
    }

    /// The message that stands for a node: itself, or a dummy's first child.
    fn representative(&self, n: usize) -> Option<usize> {
        let mut cur = n;
        for _ in 0..self.nodes.len() + 1 {
            match self.nodes[cur].msg {
                Some(m) => return Some(m),
                None => cur = *self.nodes[cur].children.first()?,
            }
        }
        None
    }

    fn key(&self, n: usize) -> (i64, u32) {
        self.representative(n).map_or((i64::MAX, u32::MAX), |m| {
            (self.msgs[m].date, self.msgs[m].seq)
        })
    }

    /// Sorts every sibling list below `roots` and `roots` by sent date
    /// (RFC 5256 4 step 7; dummies by their first child).
    fn sort(&mut self, roots: &mut [usize]) {
        for n in self.post_order(roots) {
            let mut kids = std::mem::take(&mut self.nodes[n].children);
            kids.sort_by_key(|&k| self.key(k));
            self.nodes[n].children = kids;
        }
        roots.sort_by_key(|&r| self.key(r));
    }

    /// The THREAD response data: `(1 2 (3)(4))(5)`.
    fn render(&self, roots: &[usize]) -> String {
        enum Step {
            Node(usize),
            Open,
            Close,
            Space,
        }
        let mut out = String::new();
        for &r in roots {
            let mut stack = vec![Step::Close, Step::Node(r), Step::Open];
            while let Some(step) = stack.pop() {
                match step {
                    Step::Open => out.push('('),
                    Step::Close => out.push(')'),
                    Step::Space => out.push(' '),
                    Step::Node(n) => {
                        let kids = &self.nodes[n].children;
                        let nested = |stack: &mut Vec<Step>| {
                            for &k in kids.iter().rev() {
                                stack.extend([Step::Close, Step::Node(k), Step::Open]);
                            }
                        };
                        match self.nodes[n].msg {
                            Some(m) => {
                                out.push_str(&self.msgs[m].id.to_string());
                                match kids.len() {
                                    0 => {}
                                    1 => stack.extend([Step::Node(kids[0]), Step::Space]),
                                    _ => {
                                        nested(&mut stack);
                                        stack.push(Step::Space);
                                    }
                                }
                            }
                            None => nested(&mut stack),
                        }
                    }
                }
            }
        }
        out
    }
}

/// RFC 5256 3 ORDEREDSUBJECT: messages grouped by base subject, each
/// group a flat thread under its earliest message, groups in date order.
pub(crate) fn ordered_subject(msgs: &[ThreadMsg]) -> String {
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by_key(|&i| (msgs[i].date, msgs[i].seq));
    let mut f = Forest::new(msgs);
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut roots = Vec::new();
    for i in order {
        let n = f.add(Some(i));
        let (subject, _) = base_subject(&msgs[i].subject);
        match first.get(&subject) {
            Some(&root) => {
                f.link(root, n);
            }
            None => {
                first.insert(subject, n);
                roots.push(n);
            }
        }
    }
    f.render(&roots)
}

/// RFC 5256 4 REFERENCES.
pub(crate) fn references(msgs: &[ThreadMsg]) -> String {
    let mut f = Forest::new(msgs);
    // Step 1: containers by Message-ID, linked by References (or the first
    // In-Reply-To id when References has none).
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        let mut refs = message_ids(&m.references);
        if refs.is_empty() {
            refs = message_ids(&m.in_reply_to).into_iter().take(1).collect();
        }
        // 1.A: link the references in order, keeping existing links.
        let mut prev: Option<usize> = None;
        for r in refs {
            let c = match by_id.get(&r) {
                Some(&c) => c,
                None => {
                    let c = f.add(None);
                    by_id.insert(r, c);
                    c
                }
            };
            if let Some(p) = prev
                && f.nodes[c].parent.is_none()
            {
                f.link(p, c);
            }
            prev = Some(c);
        }
        // 1.B: the message's own container; a duplicate or missing
        // Message-ID gets a container of its own.
        let me = match own_id(m) {
            Some(id) => match by_id.get(&id) {
                Some(&c) if f.nodes[c].msg.is_none() => {
                    f.nodes[c].msg = Some(i);
                    c
                }
                Some(_) => f.add(Some(i)),
                None => {
                    let c = f.add(Some(i));
                    by_id.insert(id, c);
                    c
                }
            },
            None => f.add(Some(i)),
        };
        // 1.B: the last reference is the parent, replacing a parent
        // guessed from a truncated References field; never a loop. With
        // no references the message has no parent, whatever an earlier
        // message's References said.
        match prev {
            Some(p) if p != me && f.nodes[me].parent != Some(p) => {
                f.link(p, me);
            }
            Some(_) => {}
            None => f.unlink(me),
        }
    }
    // Steps 2 and 3: the roots; the id table is no longer needed.
    drop(by_id);
    let roots: Vec<usize> = (0..f.nodes.len())
        .filter(|&n| f.nodes[n].parent.is_none())
        .collect();
    // Step 4: prune dummies.
    let mut roots = prune(&mut f, roots);
    // Step 5: sort the roots (dummies by their first child).
    f.sort(&mut roots);
    // Step 6: merge roots with the same base subject.
    let mut roots = group_by_subject(&mut f, roots);
    // Step 7: sort every sibling list.
    f.sort(&mut roots);
    f.render(&roots)
}

/// RFC 5256 4 step 4: dummies without children go; a dummy's children
/// take its place, except at the root where a dummy with several children
/// stays (it holds a thread whose first message is missing).
fn prune(f: &mut Forest<'_>, roots: Vec<usize>) -> Vec<usize> {
    for n in f.post_order(&roots) {
        let kids = std::mem::take(&mut f.nodes[n].children);
        let mut kept = Vec::with_capacity(kids.len());
        for k in kids {
            if f.nodes[k].msg.is_some() {
                kept.push(k);
                continue;
            }
            for g in std::mem::take(&mut f.nodes[k].children) {
                f.nodes[g].parent = Some(n);
                kept.push(g);
            }
            f.nodes[k].parent = None;
        }
        f.nodes[n].children = kept;
    }
    let mut out = Vec::with_capacity(roots.len());
    for r in roots {
        if f.nodes[r].msg.is_some() {
            out.push(r);
            continue;
        }
        match f.nodes[r].children.len() {
            0 => {}
            1 => {
                let c = f.nodes[r].children[0];
                f.nodes[r].children.clear();
                f.nodes[c].parent = None;
                out.push(c);
            }
            _ => out.push(r),
        }
    }
    out
}

/// RFC 5256 4 step 6: roots whose (first) message has the same base
/// subject become one thread.
fn group_by_subject(f: &mut Forest<'_>, roots: Vec<usize>) -> Vec<usize> {
    let subject_of = |f: &Forest<'_>, n: usize| {
        f.representative(n)
            .map(|m| base_subject(&f.msgs[m].subject))
            .unwrap_or_default()
    };
    // 6.A/B: per subject, the most interesting root: a dummy over a
    // message, a message without "Re:" over a reply.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &roots {
        let (subject, reply) = subject_of(f, r);
        if subject.is_empty() {
            continue;
        }
        let replace = match table.get(&subject) {
            None => true,
            Some(&t) => {
                let (t_dummy, r_dummy) = (f.nodes[t].msg.is_none(), f.nodes[r].msg.is_none());
                match (t_dummy, r_dummy) {
                    (false, true) => true,
                    (false, false) => subject_of(f, t).1 && !reply,
                    _ => false,
                }
            }
        };
        if replace {
            table.insert(subject, r);
        }
    }
    // 6.C: merge every other root into the table's.
    let mut root_of: Vec<Option<usize>> = roots.iter().map(|&r| Some(r)).collect();
    let slot: HashMap<usize, usize> = roots.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    for (i, &r) in roots.iter().enumerate() {
        if root_of[i] != Some(r) {
            continue;
        }
        let (subject, reply) = subject_of(f, r);
        if subject.is_empty() {
            continue;
        }
        let Some(&t) = table.get(&subject) else {
            continue;
        };
        if t == r {
            continue;
        }
        let t_slot = slot.get(&t).copied();
        let (t_dummy, r_dummy) = (f.nodes[t].msg.is_none(), f.nodes[r].msg.is_none());
        let t_reply = subject_of(f, t).1;
        if t_dummy && r_dummy {
            for c in std::mem::take(&mut f.nodes[r].children) {
                f.nodes[c].parent = None;
                f.link(t, c);
            }
            root_of[i] = None;
        } else if t_dummy {
            f.link(t, r);
            root_of[i] = None;
        } else if r_dummy {
            f.link(r, t);
            if let Some(ts) = t_slot {
                root_of[ts] = None;
            }
            table.insert(subject, r);
        } else if !t_reply && reply {
            f.link(t, r);
            root_of[i] = None;
        } else {
            let d = f.add(None);
            f.link(d, t);
            f.link(d, r);
            root_of[i] = None;
            if let Some(ts) = t_slot {
                root_of[ts] = Some(d);
            }
            table.insert(subject, d);
        }
    }
    root_of.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message: id (also seq and date order), Message-ID, References,
    /// subject.
    fn m(id: u32, mid: &str, refs: &str, subject: &str) -> ThreadMsg {
        ThreadMsg {
            id,
            seq: id,
            date: i64::from(id) * 60,
            subject: subject.into(),
            message_id: (!mid.is_empty()).then(|| format!("<{mid}>")),
            references: refs.into(),
            in_reply_to: String::new(),
        }
    }

    #[test]
    fn base_subjects() {
        for (raw, base, reply) in [
            ("Hello", "hello", false),
            ("Re: Hello", "hello", true),
            ("RE: re: Fwd: Hello", "hello", true),
            ("Re[2]: Hello", "hello", true),
            ("[list] Re: Hello", "hello", true),
            ("[list] Hello", "hello", false),
            ("Hello (fwd)", "hello", true),
            ("[Fwd: Re: Hello]", "hello", true),
            ("  Hello   world  ", "hello world", false),
            ("[only a blob]", "[only a blob]", false),
            ("Re:", "", true),
            ("", "", false),
        ] {
            assert_eq!(base_subject(raw), (base.to_string(), reply), "{raw}");
        }
    }

    /// RFC 5256 2.1, each step on its own: (1) only tabs, continuations
    /// and runs of spaces collapse (other Unicode spaces are text); (2)
    /// trailing `(fwd)` and spaces, repeatedly; (3) leaders: blobs then
    /// `re`/`fw`/`fwd`, spaces, an optional blob, `:`; (4) a leading blob
    /// only if something is left; (5) repeat; (6) `[fwd: ...]` then again
    /// from (2). A reply or forward is one where (2), (3) or (6) removed
    /// something.
    #[test]
    fn base_subject_steps_of_rfc5256_2_1() {
        for (raw, base, reply) in [
            ("x\u{a0}\u{a0}y", "x\u{a0}\u{a0}y", false),
            ("\u{3000}x", "\u{3000}x", false),
            ("Re:\tHello\r\n  World", "hello world", true),
            ("x (fwd) (fwd)", "x", true),
            ("x(fwd)", "x", true),
            ("Re [2]: x", "x", true),
            ("Fwd : x", "x", true),
            ("fw:x", "x", true),
            ("Rex: x", "rex: x", false),
            ("[a][b] Re: x", "x", true),
            ("[a] [b]", "[b]", false),
            ("[a] [b] x", "x", false),
            ("Re: [fwd: Re: x] (fwd)", "x", true),
            ("[fwd: x]", "x", true),
            ("[fwd: [list] x]", "x", true),
        ] {
            assert_eq!(base_subject(raw), (base.to_string(), reply), "{raw:?}");
        }
    }

    /// RFC 5256 3 REFERENCES step 1.B: a message without references has
    /// no parent, even when an earlier message's References put it under
    /// another id; that id's dummy then holds one thread only.
    #[test]
    fn a_message_without_references_leaves_its_guessed_parent() {
        let msgs = vec![
            m(1, "1", "<x> <2>", "a"),
            m(2, "2", "", "b"),
            m(3, "3", "<x>", "c"),
        ];
        assert_eq!(references(&msgs), "(2 1)(3)");
    }

    /// RFC 3501 7.4.2 keeps Message-ID as sent; the id is its `<...>`.
    #[test]
    fn the_message_id_is_taken_from_the_field_as_sent() {
        let mut first = m(1, "", "", "a");
        first.message_id = Some("<same@x> (relayed)".into());
        let msgs = vec![first, m(2, "2", "<same@x>", "b")];
        assert_eq!(references(&msgs), "(1 2)");
    }

    #[test]
    fn message_id_lists() {
        assert_eq!(
            message_ids("<a@x> <b@x>\r\n\t<c@\r\n x> junk <> <d@x"),
            vec!["a@x", "b@x", "c@x"]
        );
        assert!(message_ids("").is_empty());
    }

    /// The shape of RFC 5256's example `(3 6 (4 23)(44 7 96))` (section
    /// 4's response format), built from References.
    #[test]
    fn rfc_example_shape() {
        let msgs = vec![
            m(3, "3", "", "a"),
            m(4, "4", "<3> <6>", "Re: a"),
            m(6, "6", "<3>", "Re: a"),
            m(7, "7", "<3> <6> <44>", "Re: a"),
            m(23, "23", "<3> <6> <4>", "Re: a"),
            m(44, "44", "<3> <6>", "Re: a"),
            m(96, "96", "<3> <6> <44> <7>", "Re: a"),
            m(2, "2", "", "b"),
        ];
        // Message 2 is dated first (date = id * 60).
        assert_eq!(references(&msgs), "(2)(3 6 (4 23)(44 7 96))");
    }

    /// RFC 5256 4 step 4: a thread whose first message is missing keeps a
    /// dummy root: `((3)(5))`.
    #[test]
    fn missing_parent_gives_a_dummy_root() {
        let msgs = vec![m(3, "3", "<gone>", "x"), m(5, "5", "<gone>", "y")];
        assert_eq!(references(&msgs), "((3)(5))");
        // With a single child the dummy goes and the child is a root.
        let msgs = vec![m(3, "3", "<gone>", "x"), m(5, "5", "<3>", "y")];
        assert_eq!(references(&msgs), "(3 5)");
        // A missing message in the middle of a chain is skipped.
        let msgs = vec![m(1, "1", "", "x"), m(2, "2", "<1> <gone>", "y")];
        assert_eq!(references(&msgs), "(1 2)");
    }

    #[test]
    fn in_reply_to_is_used_without_references() {
        let mut reply = m(2, "2", "", "unrelated");
        reply.in_reply_to = "<1> <other>".into();
        let msgs = vec![m(1, "1", "", "first"), reply];
        assert_eq!(references(&msgs), "(1 2)");
    }

    #[test]
    fn loops_in_references_do_not_hang_or_lose_messages() {
        let msgs = vec![
            m(1, "a", "<b>", "x"),
            m(2, "b", "<a>", "y"),
            m(3, "c", "<c>", "z"),
            m(4, "d", "<e> <d> <e>", "w"),
        ];
        let out = references(&msgs);
        for id in ["1", "2", "3", "4"] {
            assert!(out.contains(id), "{id} lost in {out}");
        }
        // 2 refers to 1 and 1 to 2: the later link would close a loop.
        assert_eq!(out, "(2 1)(3)(4)");
    }

    #[test]
    fn duplicate_and_missing_message_ids() {
        let msgs = vec![
            m(1, "same", "", "a"),
            m(2, "same", "", "b"),
            m(3, "", "", "c"),
            m(4, "4", "<same>", "d"),
        ];
        assert_eq!(references(&msgs), "(1 4)(2)(3)");
    }

    #[test]
    fn roots_with_the_same_subject_are_merged() {
        // A reply without references joins the original.
        let msgs = vec![m(1, "1", "", "Plans"), m(2, "2", "", "Re: plans")];
        assert_eq!(references(&msgs), "(1 2)");
        // Two originals with one subject get a dummy parent.
        let msgs = vec![m(1, "1", "", "Plans"), m(2, "2", "", "Plans")];
        assert_eq!(references(&msgs), "((1)(2))");
        // A reply that came first goes under the original.
        let msgs = vec![m(1, "1", "", "Re: Plans"), m(2, "2", "", "Plans")];
        assert_eq!(references(&msgs), "(2 1)");
        // A dummy root collects a message root of the same subject.
        let msgs = vec![
            m(1, "1", "<gone>", "Re: Plans"),
            m(2, "2", "<gone>", "Re: Plans"),
            m(3, "3", "", "Re: plans"),
        ];
        assert_eq!(references(&msgs), "((1)(2)(3))");
        // Empty subjects never merge.
        let msgs = vec![m(1, "1", "", ""), m(2, "2", "", "Re:")];
        assert_eq!(references(&msgs), "(1)(2)");
    }

    #[test]
    fn siblings_are_sorted_by_date_then_mailbox_order() {
        let mut late = m(2, "2", "<1>", "Re: x");
        late.date = 10_000;
        let mut tie_a = m(3, "3", "<1>", "Re: x");
        tie_a.date = 500;
        let mut tie_b = m(4, "4", "<1>", "Re: x");
        tie_b.date = 500;
        let msgs = vec![m(1, "1", "", "x"), late, tie_b.clone(), tie_a.clone()];
        assert_eq!(references(&msgs), "(1 (3)(4)(2))");
    }

    #[test]
    fn a_deep_chain_does_not_overflow_the_stack() {
        let mut msgs = vec![m(1, "1", "", "deep")];
        for i in 2..=20_000u32 {
            msgs.push(m(i, &i.to_string(), &format!("<{}>", i - 1), "Re: deep"));
        }
        let out = references(&msgs);
        assert!(out.starts_with("(1 2 3 "), "{}", &out[..20]);
        assert!(out.ends_with(" 20000)"));
    }

    #[test]
    fn ordered_subject_threads() {
        let msgs = vec![
            m(1, "1", "", "a"),
            m(2, "2", "", "Re: a"),
            m(3, "3", "", "b"),
            m(4, "4", "", "Re: A"),
            m(5, "5", "", "c"),
            m(6, "6", "", "c"),
        ];
        assert_eq!(ordered_subject(&msgs), "(1 (2)(4))(3)(5 6)");
    }
}
