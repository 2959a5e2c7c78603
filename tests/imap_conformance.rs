//! IMAP rules from the RFCs, each tested strictly on the `mailstore`
//! binary with Python's `imaplib` (and raw lines on its socket): the
//! response a rule requires, in the order it requires it. One test per
//! rule, named after it, with the RFC section in its comment:
//!
//! - keywords announced in FLAGS before use (RFC 3501 7.2.6 and 2.3.2,
//!   RFC 9051 7.3.5), and the keyword atom `NIL`;
//! - `\Recent` in exactly one session (RFC 3501 2.3.2, 6.3.1, 6.3.2);
//! - names that cannot exist get NO, any LIST pattern gets an answer, the
//!   store's name limits (RFC 3501 5.1, 5.1.3, 6.3.8, RFC 5530 3);
//! - CONDSTORE enabled with a mailbox selected reports HIGHESTMODSEQ, and
//!   ESEARCH MIN/MAX report their own MODSEQ (RFC 7162 3.1, 3.1.5);
//! - LIST (SUBSCRIBED RECURSIVEMATCH) and LSUB `%` (RFC 5258 3.5 and its
//!   example 9, RFC 3501 6.3.9);
//! - MOVE into the selected mailbox (RFC 6851 3.3);
//! - the special-use mailboxes of a new account (RFC 6154 2);
//! - implicit TLS and the text a client without TLS gets (RFC 8314 3).
//! - ENVELOPE in-reply-to/message-id as sent, groups marked (RFC 3501
//!   7.4.2);
//! - SEARCH FROM/TO/CC/BCC as substrings of the field (RFC 3501 6.4.4);
//! - SORT keys, THREAD=REFERENCES and ORDEREDSUBJECT (RFC 5256 2.1, 2.2, 3).

mod common;

use common::imap_env::{DOMAIN, Store, has, lacks, s};

/// Python helpers: `flags_in(line)` the flag list of a FLAGS or FETCH
/// line, `unannounced(lines, known)` the keywords a FETCH uses before any
/// FLAGS line announced them (`known` is updated as FLAGS lines pass).
const KEYWORDS: &str = r#"
def flags_in(l):
    mo = re.search(r'FLAGS \(([^)]*)\)', l)
    return mo.group(1).split() if mo else []

def unannounced(lines, known):
    bad = []
    for l in lines:
        if l.startswith('* FLAGS '):
            known.clear()
            known.update(f.lower() for f in flags_in(l))
        elif ' FETCH ' in l:
            for f in flags_in(l):
                if not f.startswith('\\') and f.lower() not in known:
                    bad.append((f, l))
    return bad

def select(m, name='INBOX', how='SELECT'):
    lines = raw(m, how + ' ' + name)
    known = set()
    unannounced(lines, known)
    return lines, known
"#;

fn message(subject: &str) -> String {
    format!(
        "From: a@example.net\r\nTo: alice@{DOMAIN}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.net>\r\n\r\nbody of {subject}\r\n"
    )
}

/// RFC 3501 7.2.6 (FLAGS), 7.1 (PERMANENTFLAGS) and 2.3.2, RFC 9051 7.3.5:
/// a keyword new to the mailbox reaches every selected session in an
/// untagged FLAGS (and PERMANENTFLAGS) before any response uses it,
/// whether this session or another one set it; `NIL` is a keyword atom
/// like any other; keywords are case-insensitive.
#[test]
fn keywords_are_announced_in_flags_before_any_response_uses_them() {
    let store = Store::start();
    for i in 1..=3 {
        store.swaks(&format!("alice@{DOMAIN}"), &format!("kw{i}"), "x");
    }
    let r = store.python(&format!(
        r#"{KEYWORDS}
a = connect(); b = connect()
la, ka = select(a); lb, kb = select(b)
R['select'] = la
# This session sets a new keyword: FLAGS and PERMANENTFLAGS come first.
R['a_store'] = raw(a, 'STORE 1 +FLAGS ($Label1)')
R['a_bad'] = unannounced(R['a_store'], ka)
# The other session learns it before the FETCH that carries it.
R['b_noop'] = raw(b, 'NOOP')
R['b_bad'] = unannounced(R['b_noop'], kb)
# Another session sets one while this one does FETCH: announced there.
R['b_store'] = raw(b, 'STORE 2 +FLAGS ($hello)')
R['b_bad_store'] = unannounced(R['b_store'], kb)
R['a_fetch'] = raw(a, 'FETCH 1:3 (FLAGS)')
R['a_bad2'] = unannounced(R['a_fetch'], ka)
# An APPEND with a keyword, by another session.
msg = {msg:?}
R['b_append'] = raw(b, 'APPEND INBOX ($Appended) {{%d+}}\r\n%s' % (len(msg), msg))
R['b_bad_append'] = unannounced(R['b_append'], kb)
R['a_after_append'] = raw(a, 'FETCH 1:* (FLAGS)')
R['a_bad3'] = unannounced(R['a_after_append'], ka)
# The keyword atom NIL (RFC 3501 9: flag-keyword = atom; NIL is one).
R['nil_store'] = raw(a, 'STORE 2 +FLAGS NIL')
R['a_bad4'] = unannounced(R['nil_store'], ka)
R['nil_fetch'] = [f for l in raw(a, 'FETCH 2 (FLAGS)') for f in flags_in(l)]
R['nil_search'] = raw(a, 'SEARCH KEYWORD NIL')
c = connect()
R['c_select'] = raw(c, 'SELECT INBOX')
R['nil_remove'] = raw(a, 'STORE 2 -FLAGS NIL')
# Case-insensitive: $label1 is $Label1, set once.
R['case'] = raw(a, 'STORE 1 +FLAGS ($LABEL1)')
R['case_fetch'] = raw(a, 'FETCH 1 (FLAGS)')
R['b_all'] = raw(b, 'NOOP') + raw(b, 'FETCH 1:* (FLAGS)')
R['b_bad_all'] = unannounced(R['b_all'], kb)
"#,
        msg = message("appended")
    ));
    // SELECT: FLAGS, then PERMANENTFLAGS with \* (new keywords allowed).
    has(
        &r,
        "select",
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
    );
    has(
        &r,
        "select",
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]",
    );
    let a_store = s(&r["a_store"]);
    let flags_at = a_store.find("* FLAGS (").expect(&a_store);
    let perm_at = a_store.find("[PERMANENTFLAGS (").expect(&a_store);
    let fetch_at = a_store.find("* 1 FETCH").expect(&a_store);
    assert!(flags_at < perm_at && perm_at < fetch_at, "{a_store}");
    has(&r, "a_store", "$Label1 \\*)]");
    for key in [
        "a_bad",
        "b_bad",
        "b_bad_store",
        "a_bad2",
        "b_bad_append",
        "a_bad3",
        "a_bad4",
        "b_bad_all",
    ] {
        assert_eq!(r[key], serde_json::json!([]), "{key}: {r:#}");
    }
    has(&r, "b_noop", "* FLAGS (");
    has(&r, "nil_store", "* 2 FETCH (FLAGS (");
    has(&r, "nil_store", "NIL");
    has(&r, "b_append", "OK [APPENDUID");
    let nil_fetch: Vec<String> = serde_json::from_value(r["nil_fetch"].clone()).expect("flags");
    assert!(nil_fetch.iter().any(|f| f == "NIL"), "{nil_fetch:?}");
    has(&r, "nil_search", "* SEARCH 2");
    // A later SELECT lists every keyword in use, NIL included.
    for k in ["$Label1", "$hello", "$Appended", "NIL"] {
        has(&r, "c_select", k);
    }
    lacks(&r, "nil_remove", "NIL)");
    // The same keyword in another case changes nothing (RFC 3501 6.4.6:
    // the flags still come back, as if fetched).
    let case = s(&r["case"]);
    assert!(case.contains("* 1 FETCH (FLAGS ("), "{case}");
    assert_eq!(case.matches("abel1").count(), 1, "{case}");
    lacks(&r, "case", "* FLAGS");
    let case_fetch = s(&r["case_fetch"]);
    assert_eq!(case_fetch.matches("abel1").count(), 1, "{case_fetch}");
}

/// RFC 3501 2.3.2: a message is `\Recent` in the first session told of it
/// and in no other; STATUS (RECENT) then counts it nowhere. RFC 3501
/// 6.3.2: EXAMINE shows recent messages but must not take the flag away.
#[test]
fn recent_is_held_by_exactly_one_session() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"
a = connect(); b = connect(); c = connect()
raw(a, 'SELECT INBOX'); raw(b, 'SELECT INBOX')
msg = {msg:?}
typ, data = a.append('INBOX', None, None, msg.encode())
R['append'] = typ
R['a_noop'] = raw(a, 'NOOP')
R['a_flags'] = raw(a, 'FETCH 1 (FLAGS)')
R['b_noop'] = raw(b, 'NOOP')
R['b_flags'] = raw(b, 'FETCH 1 (FLAGS)')
R['c_status'] = raw(c, 'STATUS INBOX (MESSAGES RECENT)')
# Two messages nobody has seen yet, in a mailbox nobody has selected.
raw(c, 'CREATE Fresh')
c.append('Fresh', None, None, msg.encode())
c.append('Fresh', None, None, msg.encode())
R['fresh_status'] = raw(c, 'STATUS Fresh (RECENT)')
R['examine'] = raw(b, 'EXAMINE Fresh')
R['examine_flags'] = raw(b, 'FETCH 1:* (FLAGS)')
R['status_after_examine'] = raw(c, 'STATUS Fresh (RECENT)')
R['select'] = raw(a, 'SELECT Fresh')
R['status_after_select'] = raw(c, 'STATUS Fresh (RECENT)')
R['select_again'] = raw(c, 'SELECT Fresh')
"#,
        msg = message("recent")
    ));
    assert_eq!(r["append"], "OK");
    // The appending session is told first: it holds \Recent.
    has(&r, "a_flags", "\\Recent");
    has(&r, "b_noop", "* 1 EXISTS");
    has(&r, "b_noop", "* 0 RECENT");
    lacks(&r, "b_flags", "\\Recent");
    has(&r, "c_status", "(MESSAGES 1 RECENT 0)");
    has(&r, "fresh_status", "(RECENT 2)");
    has(&r, "examine", "* 2 RECENT");
    has(&r, "examine", "[READ-ONLY]");
    has(&r, "examine_flags", "* 1 FETCH (FLAGS (\\Recent))");
    has(&r, "status_after_examine", "(RECENT 2)");
    has(&r, "select", "* 2 RECENT");
    has(&r, "status_after_select", "(RECENT 0)");
    has(&r, "select_again", "* 0 RECENT");
}

/// RFC 3501 5.1.3 and 6.3.1, RFC 5530 3: a well-formed command naming a
/// mailbox that cannot exist (not valid modified UTF-7, an empty level,
/// too long for the store, `.` or `..` as a level) gets NO, not BAD, and
/// the session goes on. RFC 3501 6.3.8: any LIST pattern gets an answer.
#[test]
fn impossible_mailbox_names_get_no_and_any_list_pattern_an_answer() {
    let store = Store::start();
    let r = store.python(
        r#"
m = connect()
R['bad_mutf7'] = [raw(m, c)[-1] for c in (
    'SELECT "&Jjo"', 'SELECT &Jjo!-', 'EXAMINE "&AGE-"', 'STATUS "&Jjo" (MESSAGES)',
    'CREATE "&Jjo"', 'DELETE "&Jjo"', 'SUBSCRIBE "&Jjo"', 'APPEND "&Jjo" {1+}\r\nx')]
R['syntax'] = raw(m, 'SELECT')[-1]
R['empty_level'] = [raw(m, c)[-1] for c in ('SELECT "a//b"', 'CREATE "a//b"')]
R['no_owner'] = raw(m, 'SELECT "Other Users/nobody"')[-1]
R['dots'] = [raw(m, 'CREATE "%s"' % n)[-1] for n in ('.', '..', 'a/./b', 'a/../b', 'x/..')]
R['level_255'] = raw(m, 'CREATE "%s"' % ('L' * 255))[-1]
R['level_256'] = raw(m, 'CREATE "%s"' % ('L' * 256))[-1]
R['select_256'] = raw(m, 'SELECT "%s"' % ('L' * 256))[-1]
R['name_1023'] = raw(m, 'CREATE "%s"' % '/'.join(['N' * 200] * 5 + ['N' * 18]))[-1]
R['name_over'] = raw(m, 'CREATE "%s"' % ('M' * 1023))[-1]
# 8 levels of 80 '#': 1928 bytes on disk once each '#' is %23; 12: 2892.
R['encoded_ok'] = raw(m, 'CREATE "%s"' % '/'.join(['#' * 80] * 8))[-1]
R['encoded_over'] = raw(m, 'CREATE "%s"' % '/'.join(['#' * 80] * 12))[-1]
R['list_atom'] = raw(m, "LIST \"\" !#$&'+,-.0123456789:;<=>?@^_|[}>%*")
R['list_quoted'] = raw(m, 'LIST "" "&Jjo*"')
R['list_lsub'] = raw(m, "LSUB \"\" !#$&'+,-.0123456789:;<=>?@^_|[}>%*")
R['alive'] = raw(m, 'NOOP')[-1]
R['list_all'] = raw(m, 'LIST "" *')
"#,
    );
    for line in r["bad_mutf7"].as_array().expect("array") {
        let l = line.as_str().unwrap_or("");
        assert!(l.split(' ').nth(1) == Some("NO"), "not NO: {l}");
    }
    assert!(s(&r["syntax"]).contains(" BAD "), "{}", s(&r["syntax"]));
    for key in ["empty_level", "dots", "no_owner"] {
        for l in s(&r[key]).lines() {
            assert!(l.split(' ').nth(1) == Some("NO"), "{key}: {l}");
        }
    }
    for l in s(&r["dots"]).lines() {
        assert!(l.contains("NO [CANNOT]"), "{l}");
    }
    has(&r, "level_255", "OK");
    has(&r, "level_256", "NO [CANNOT]");
    has(&r, "select_256", "NO [");
    has(&r, "name_1023", "NO [CANNOT]");
    has(&r, "name_over", "NO [CANNOT]");
    has(&r, "encoded_ok", "OK");
    has(&r, "encoded_over", "NO [CANNOT]");
    for key in ["level_256", "name_1023", "name_over", "encoded_over"] {
        lacks(&r, key, "SERVERBUG");
    }
    let list = s(&r["list_atom"]);
    assert!(
        list.lines().last().is_some_and(|l| l.contains(" OK ")),
        "{list}"
    );
    has(&r, "list_quoted", " OK ");
    has(&r, "list_lsub", " OK ");
    has(&r, "alive", "OK");
    lacks(&r, "list_all", "..");
}

/// RFC 3501 7.1.3: BAD answers one command; the session goes on. Only a
/// run of BADs in a row (a client that speaks no IMAP) ends it: a long
/// session that errs now and then is not cut off at its twentieth BAD
/// (which is how a checker once saw a LIST pattern "close the
/// connection").
#[test]
fn bad_commands_spread_over_a_session_do_not_end_it() {
    let store = Store::start();
    let r = store.python(
        r#"
m = connect()
for i in range(30):
    raw(m, 'FROB%d' % i)
    raw(m, 'NOOP')
R['list_atom'] = raw(m, "LIST \"\" !#$&'+,-.0123456789:;<=>?@^_|[}>%*")[-1]
R['noop'] = raw(m, 'NOOP')[-1]
tag = m._new_tag().decode()
m.send(''.join('%s%d FROB\r\n' % (tag, i) for i in range(20)).encode())
lines = []
try:
    while True:
        lines.append(line(m))
except (EOFError, OSError):
    pass
R['burst'] = lines
"#,
    );
    has(&r, "list_atom", " OK ");
    has(&r, "noop", " OK ");
    let burst = s(&r["burst"]);
    assert_eq!(burst.matches(" BAD ").count(), 20, "{burst}");
    assert!(
        burst.lines().last().is_some_and(|l| l.starts_with("* BYE")),
        "{burst}"
    );
}

/// RFC 7162 3.1: the first CONDSTORE-enabling command of a session with a
/// mailbox selected (FETCH MODSEQ, SEARCH MODSEQ, STORE UNCHANGEDSINCE,
/// STATUS HIGHESTMODSEQ, ENABLE CONDSTORE) is answered with an untagged
/// `OK [HIGHESTMODSEQ n]` too, once. RFC 7162 3.1.5: ESEARCH with only
/// MIN and/or MAX returns the MODSEQ of those messages.
#[test]
fn condstore_enabled_while_selected_reports_highestmodseq_and_esearch_min_max_their_modseq() {
    let store = Store::start();
    for i in 1..=3 {
        store.swaks(&format!("alice@{DOMAIN}"), &format!("cs{i}"), "x");
    }
    let r = store.python(
        r#"
def fresh():
    m = connect()
    raw(m, 'SELECT INBOX')
    return m
m = fresh()
R['fetch'] = raw(m, 'FETCH 1 (MODSEQ)')
R['fetch_again'] = raw(m, 'FETCH 1 (MODSEQ)')
R['search'] = raw(fresh(), 'SEARCH MODSEQ 1')
R['store'] = raw(fresh(), 'STORE 1 (UNCHANGEDSINCE 1000) +FLAGS ($x)')
R['status'] = raw(fresh(), 'STATUS INBOX (HIGHESTMODSEQ)')
R['enable'] = raw(fresh(), 'ENABLE CONDSTORE')
R['select_then'] = raw(m, 'SELECT INBOX (CONDSTORE)')
# Three different MODSEQs, the middle message's highest.
for n in (3, 1, 2):
    raw(m, 'STORE %d +FLAGS (\\Flagged)' % n)
ms = {}
for l in raw(m, 'FETCH 1:3 (MODSEQ)'):
    mo = re.match(r'\* (\d+) FETCH .*MODSEQ \((\d+)\)', l)
    if mo:
        ms[int(mo.group(1))] = int(mo.group(2))
R['modseqs'] = ms
for name, ret in (('min', 'MIN'), ('max', 'MAX'), ('minmax', 'MIN MAX'), ('all', 'ALL'), ('count', 'COUNT')):
    R['es_' + name] = [l for l in raw(m, 'SEARCH RETURN (%s) MODSEQ 1' % ret) if l.startswith('* ESEARCH')]
# RFC 7162 3.1: from now on every FETCH a STORE causes has UID and MODSEQ.
R['store_under_condstore'] = raw(m, 'STORE 1 +FLAGS (\\Seen)')
"#,
    );
    let hms = "* OK [HIGHESTMODSEQ ";
    for key in ["fetch", "search", "store", "status", "enable"] {
        let text = s(&r[key]);
        assert_eq!(text.matches(hms).count(), 1, "{key}: {text}");
    }
    let fetch = s(&r["fetch"]);
    assert!(
        fetch.find(hms) < fetch.find("* 1 FETCH"),
        "HIGHESTMODSEQ before the FETCH: {fetch}"
    );
    lacks(&r, "fetch_again", hms);
    let ms = &r["modseqs"];
    let m = |n: &str| ms[n].as_u64().unwrap_or_else(|| panic!("modseq {n}: {ms}"));
    assert!(m("2") > m("1") && m("1") > m("3"), "{ms}");
    has(&r, "es_min", &format!("MIN 1 MODSEQ {}", m("1")));
    has(&r, "es_max", &format!("MAX 3 MODSEQ {}", m("3")));
    has(&r, "es_minmax", &format!("MODSEQ {}", m("1")));
    has(&r, "es_all", &format!("MODSEQ {}", m("2")));
    has(&r, "es_count", &format!("COUNT 3 MODSEQ {}", m("2")));
    let store = s(&r["store_under_condstore"]);
    assert!(
        store.contains("* 1 FETCH (UID ") && store.contains(" MODSEQ ("),
        "{store}"
    );
}

/// RFC 3501 6.3.1 (and 7.4.1): SELECT answers about the mailbox it
/// selects; what changed meanwhile in the mailbox it leaves is not
/// reported among those answers, where the client would take it for the
/// new mailbox's.
#[test]
fn select_reports_nothing_about_the_mailbox_it_leaves() {
    let store = Store::start();
    for i in 1..=3 {
        store.swaks(&format!("alice@{DOMAIN}"), &format!("sel{i}"), "x");
    }
    let r = store.python(
        r#"
a = connect(); b = connect()
raw(a, 'SELECT INBOX'); raw(b, 'SELECT INBOX')
raw(b, 'STORE 2 +FLAGS (\\Deleted $gone)')
raw(b, 'EXPUNGE')
R['select'] = raw(a, 'SELECT Drafts')
R['back'] = raw(a, 'SELECT INBOX')
"#,
    );
    let select = s(&r["select"]);
    assert!(
        !select.contains("EXPUNGE") && !select.contains("FETCH"),
        "{select}"
    );
    has(&r, "select", "* 0 EXISTS");
    has(&r, "back", "* 2 EXISTS");
}

/// RFC 5258 3.5 and its example 9: with RECURSIVEMATCH a name matching
/// the pattern is returned with `CHILDINFO ("SUBSCRIBED")` exactly when a
/// subscribed descendant does not match the pattern itself; nothing
/// else is added. RFC 3501 6.3.9: LSUB with `%` returns such a parent as
/// `\Noselect`.
#[test]
fn list_subscribed_recursivematch_childinfo_and_lsub_percent() {
    let store = Store::start();
    let r = store.python(
        r#"
m = connect()
for n in ('Foo2/Bar1', 'Foo2/Bar2', 'Baz2/Bar2', 'Baz2/Bar22', 'Baz2/Bar222',
          'Eps2/Mailbox1', 'Qux2/Bar2'):
    raw(m, 'CREATE ' + n)
for n in ('Foo2/Bar1', 'Foo2/Bar2', 'Baz2/Bar2', 'Baz2/Bar22', 'Baz2/Bar222',
          'Eps2', 'Eps2/Mailbox1', 'Qux2/Bar2'):
    raw(m, 'SUBSCRIBE ' + n)
def names(lines):
    out = {}
    for l in lines:
        mo = re.match(r'\* (LIST|LSUB) \(([^)]*)\) "/" "?([^" ]+)"?( .*)?$', l)
        if mo:
            out[mo.group(3)] = [mo.group(2), (mo.group(4) or '').strip()]
    return out
R['star2'] = names(raw(m, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*2"'))
R['star2_plain'] = names(raw(m, 'LIST (SUBSCRIBED) "" "*2"'))
R['percent'] = names(raw(m, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"'))
R['lsub'] = names(raw(m, 'LSUB "" "%"'))
R['lsub_star'] = names(raw(m, 'LSUB "" "*"'))
"#,
    );
    let childinfo = "(\"CHILDINFO\" (\"SUBSCRIBED\"))";
    let star2 = r["star2"].as_object().expect("object");
    let mut got: Vec<&str> = star2.keys().map(String::as_str).collect();
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "Baz2/Bar2",
            "Baz2/Bar22",
            "Baz2/Bar222",
            "Eps2",
            "Foo2",
            "Foo2/Bar2",
            "Qux2/Bar2"
        ],
        "{star2:?}"
    );
    assert_eq!(star2["Foo2"][1], childinfo);
    assert!(!s(&star2["Foo2"][0]).contains("\\Subscribed"));
    assert_eq!(star2["Eps2"][1], childinfo);
    assert!(s(&star2["Eps2"][0]).contains("\\Subscribed"));
    for n in ["Foo2/Bar2", "Baz2/Bar2", "Qux2/Bar2"] {
        assert_eq!(star2[n][1], "", "{n}: no CHILDINFO");
        assert!(s(&star2[n][0]).contains("\\Subscribed"), "{n}");
    }
    // Without RECURSIVEMATCH, only the subscribed names.
    let plain = r["star2_plain"].as_object().expect("object");
    assert!(!plain.contains_key("Foo2"), "{plain:?}");
    assert!(plain.values().all(|v| v[1] == ""), "{plain:?}");
    let percent = r["percent"].as_object().expect("object");
    for n in ["Foo2", "Baz2", "Eps2", "Qux2"] {
        assert_eq!(percent[n][1], childinfo, "{n}: {percent:?}");
    }
    assert!(!percent.contains_key("INBOX"), "{percent:?}");
    let lsub = r["lsub"].as_object().expect("object");
    for n in ["Foo2", "Baz2", "Qux2"] {
        assert_eq!(lsub[n][0], "\\Noselect", "{n}: {lsub:?}");
    }
    assert_eq!(lsub["Eps2"][0], "", "{lsub:?}");
    assert!(!lsub.contains_key("INBOX"), "{lsub:?}");
    // With `*`, the subscribed names themselves match: no parents added.
    let lsub_star = r["lsub_star"].as_object().expect("object");
    for n in ["Foo2", "Baz2", "Qux2"] {
        assert!(!lsub_star.contains_key(n), "{n}: {lsub_star:?}");
    }
    for n in ["Foo2/Bar1", "Eps2", "Eps2/Mailbox1", "Qux2/Bar2"] {
        assert_eq!(lsub_star[n][0], "", "{n}: {lsub_star:?}");
    }
}

/// RFC 6851 3.3: MOVE of a message into the selected mailbox itself
/// expunges the source and adds the copy: the EXISTS for the new message
/// follows the EXPUNGE before the tagged OK, and the numbers stay right.
#[test]
fn move_into_the_selected_mailbox_reports_the_new_message() {
    let store = Store::start();
    for i in 1..=2 {
        store.swaks(&format!("alice@{DOMAIN}"), &format!("mv{i}"), "x");
    }
    let r = store.python(
        r#"
m = connect()
raw(m, 'SELECT INBOX')
R['move'] = raw(m, 'MOVE 1 INBOX')
R['uids'] = raw(m, 'FETCH 1:* (UID)')
R['uid_move'] = raw(m, 'UID MOVE 2 INBOX')
"#,
    );
    let mv = s(&r["move"]);
    let lines: Vec<&str> = mv.lines().collect();
    let expunge = lines.iter().position(|l| *l == "* 1 EXPUNGE").expect(&mv);
    let exists = lines.iter().position(|l| *l == "* 2 EXISTS").expect(&mv);
    assert!(expunge < exists && exists < lines.len() - 1, "{mv}");
    assert!(lines[0].starts_with("* OK [COPYUID "), "{mv}");
    has(&r, "uids", "* 1 FETCH (UID 2)");
    has(&r, "uids", "* 2 FETCH (UID 3)");
    has(&r, "uid_move", "* 1 EXPUNGE");
    has(&r, "uid_move", "* 2 EXISTS");
}

/// RFC 6154 2: a new account (here at first login, and at first delivery)
/// has Drafts, Sent, Trash, Junk and Archive with their special-use
/// attributes, so a client saving a draft finds its folder; the names are
/// configurable (`[store.default_mailboxes]`, "" leaves one out).
#[test]
fn new_accounts_get_the_special_use_mailboxes() {
    let store = Store::start();
    store.swaks(&format!("bob@{DOMAIN}"), "first", "x");
    let r = store.python(&format!(
        r#"
for user in ('alice', 'bob'):
    m = connect(user)
    R[user] = raw(m, 'LIST "" "*" RETURN (SPECIAL-USE)')
    R[user + '_lsub'] = raw(m, 'LSUB "" "*"')
    R[user + '_su'] = raw(m, 'LIST (SPECIAL-USE) "" "*"')
m = connect()
R['append'] = raw(m, 'APPEND Drafts (\\Draft) {{%d+}}\r\n' % len({msg:?}) + {msg:?})[-1]
"#,
        msg = message("draft")
    ));
    for user in ["alice", "bob"] {
        for (name, attr) in [
            ("Drafts", "\\Drafts"),
            ("Sent", "\\Sent"),
            ("Trash", "\\Trash"),
            ("Junk", "\\Junk"),
            ("Archive", "\\Archive"),
        ] {
            let list = s(&r[user]);
            assert!(
                list.lines()
                    .any(|l| l.contains(attr) && l.ends_with(&format!("\"/\" {name}"))),
                "{user} {name}: {list}"
            );
            has(&r, &format!("{user}_lsub"), name);
        }
        let su = s(&r[&format!("{user}_su")]);
        assert_eq!(
            su.lines().filter(|l| l.starts_with("* LIST")).count(),
            5,
            "{su}"
        );
    }
    has(&r, "append", "OK [APPENDUID");

    let custom = Store::start_with(
        &[],
        "[store.default_mailboxes]\nsent = \"Sent Items\"\njunk = \"\"\n",
    );
    let r = custom.python(
        r#"
R['list'] = raw(connect(), 'LIST "" "*" RETURN (SPECIAL-USE)')
"#,
    );
    has(&r, "list", "\\Sent) \"/\" \"Sent Items\"");
    lacks(&r, "list", "Junk");
    has(&r, "list", "\\Drafts) \"/\" Drafts");
}

/// RFC 8314 3.3: IMAP and POP3 on ports with TLS from the first byte; a
/// client that forgets TLS on the STARTTLS port is told, in the greeting
/// and in the NO, that TLS is required (RFC 3501 6.2.3 LOGINDISABLED).
#[test]
fn implicit_tls_ports_and_a_clear_word_for_clients_without_tls() {
    let store = Store::start();
    let r = store.python(
        r#"
import poplib
i = imaplib.IMAP4_SSL(HOST, IMAPS_PORT, ssl_context=context(), timeout=10)
R['imaps_caps'] = sorted(i.capabilities)
R['imaps_login'] = i.login('alice', 'alice-pw')[0]
R['imaps_select'] = i.select('INBOX')[0]
i.logout()
p = poplib.POP3_SSL(HOST, POP3S_PORT, context=context(), timeout=10)
R['pop3s_welcome'] = p.getwelcome().decode()
p.user('alice'); R['pop3s_pass'] = p.pass_('alice-pw').decode()
p.quit()
m = plain()
R['greeting'] = m.welcome.decode()
R['login'] = raw(m, 'LOGIN alice alice-pw')[-1]
p = poplib.POP3(HOST, POP3_PORT, timeout=10)
R['pop3_greeting'] = p.getwelcome().decode()
try:
    p.user('alice')
    R['pop3_user'] = 'accepted'
except poplib.error_proto as e:
    R['pop3_user'] = str(e)
p.quit()
"#,
    );
    has(&r, "imaps_caps", "AUTH=PLAIN");
    lacks(&r, "imaps_caps", "STARTTLS");
    assert_eq!(r["imaps_login"], "OK");
    assert_eq!(r["imaps_select"], "OK");
    has(&r, "pop3s_welcome", "+OK");
    lacks(&r, "pop3s_welcome", "TLS is required");
    has(&r, "pop3s_pass", "+OK");
    has(&r, "greeting", "LOGINDISABLED");
    has(&r, "greeting", "TLS is required");
    has(&r, "login", "NO [PRIVACYREQUIRED] TLS is required");
    has(&r, "pop3_greeting", "TLS is required");
    has(&r, "pop3_user", "-ERR [AUTH] TLS is required");
    // curl without --ssl-reqd shows the server's words, not only its own
    // "Login denied".
    let out = std::process::Command::new("curl")
        .args(["-sv", "--max-time", "20", "-u", "alice:alice-pw"])
        .arg(format!("imap://127.0.0.1:{}/", store.imap_port()))
        .output()
        .expect("curl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("TLS is required"), "{err}");
}

/// Python helpers for FETCH of MIME parts: `append(m, msg, lit8)` APPENDs
/// bytes with a synchronizing literal (`~{n}` when `lit8`, RFC 3516 4.4);
/// `rawb(m, cmd)` is the whole response as bytes (literals and literal8
/// read by their length); `lit(resp, item)` is the literal after `item`
/// as [`~` or ``, length, data as UTF-8], `litb` the same with raw data;
/// `txt(m, cmd)` the response as text.
const PARTS: &str = r#"
def append(m, msg, lit8=False):
    tag = m._new_tag().decode()
    m.send(('%s APPEND INBOX %s{%d}\r\n' % (tag, '~' if lit8 else '', len(msg))).encode())
    out = [line(m)]
    assert out[0].startswith('+'), out
    m.send(msg + b'\r\n')
    while True:
        s = line(m)
        out.append(s)
        if s.startswith(tag + ' '):
            return out

def rawb(m, cmd):
    tag = m._new_tag()
    m.send(tag + b' ' + cmd.encode() + b'\r\n')
    out = b''
    while True:
        l = m.readline()
        if not l:
            raise EOFError('connection closed')
        out += l
        mo = re.search(rb'\{(\d+)\}\r\n$', l)
        if mo:
            out += m.read(int(mo.group(1)))
        elif l.startswith(tag + b' '):
            return out

def txt(m, cmd):
    return rawb(m, cmd).decode('utf-8', 'replace')

def litb(data, item):
    mo = re.search(re.escape(item.encode()) + rb' (~?)\{(\d+)\}\r\n', data)
    if not mo:
        return None
    n = int(mo.group(2))
    return [mo.group(1).decode(), n, data[mo.end():mo.end() + n]]

def lit(data, item):
    x = litb(data, item)
    return x and [x[0], x[1], x[2].decode('utf-8', 'replace')]
"#;

/// RFC 3516 4.2 and 4.3 (RFC 9051 6.4.5 BINARY): BINARY returns the part
/// after removing its Content-Transfer-Encoding — quoted-printable soft
/// line breaks and escapes, base64 — and a partial counts octets of the
/// decoded data (RFC 2045 6.7 decoding rules); BINARY.SIZE is the size
/// BINARY returns; NUL in the
/// decoded data needs a literal8; an encoding the server cannot decode
/// fails the command with `NO [UNKNOWN-CTE]`.
#[test]
fn binary_decodes_quoted_printable_and_base64_parts() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"{PARTS}
mixed = (b'From: a@example.net\r\nSubject: binary\r\nMIME-Version: 1.0\r\n'
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b'--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    b'Caf=C3=A9 soft= \r\nbreak, a =3D sign,  \r\nand a line that w=\r\nraps\r\n'
    b'--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    + base64.encodebytes(b'hello\x00world, binary data') +
    b'--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n`\r\nend\r\n'
    b'--b1--\r\n')
single = (b'From: a@example.net\r\nSubject: qp\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n'
    b'one=\r\ntwo =E2=82=AC\r\n')
m = connect()
append(m, mixed)
append(m, single)
raw(m, 'SELECT INBOX')
qp = rawb(m, 'FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])')
R['qp'] = qp.decode('utf-8', 'replace')
R['qp_lit'] = lit(qp, 'BINARY[1]')
R['qp_partial'] = lit(rawb(m, 'FETCH 1 (BINARY.PEEK[1]<0.10>)'), 'BINARY[1]<0>')
R['qp_partial2'] = lit(rawb(m, 'FETCH 1 (BINARY.PEEK[1]<6.5>)'), 'BINARY[1]<6>')
b64 = rawb(m, 'FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])')
R['b64'] = b64.decode('utf-8', 'replace')
R['b64_lit'] = lit(b64, 'BINARY[2]')
R['b64_partial'] = lit(rawb(m, 'FETCH 1 (BINARY.PEEK[2]<3.4>)'), 'BINARY[2]<3>')
R['unknown'] = txt(m, 'FETCH 1 (BINARY.PEEK[3])')
R['unknown_size'] = txt(m, 'FETCH 1 (BINARY.SIZE[3])')
single = rawb(m, 'FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])')
R['single'] = single.decode('utf-8', 'replace')
R['single_lit'] = lit(single, 'BINARY[1]')
# BODY[1] is the part as stored (RFC 3501 6.4.5), undecoded.
R['body1'] = lit(rawb(m, 'FETCH 1 (BODY.PEEK[1])'), 'BODY[1]')
"#
    ));
    // RFC 2045 6.7 (3): the transport padding after a soft line break's
    // `=` and trailing white space before a hard break are deleted.
    let qp_text = "Café softbreak, a = sign,\r\nand a line that wraps";
    assert_eq!(
        r["qp_lit"],
        serde_json::json!(["", qp_text.len(), qp_text]),
        "{r:#}"
    );
    has(&r, "qp", &format!("BINARY.SIZE[1] {}", qp_text.len()));
    // Ten octets of the decoded data: "Café" has a two-octet é.
    assert_eq!(r["qp_partial"], serde_json::json!(["", 10, "Café soft"]));
    assert_eq!(r["qp_partial2"], serde_json::json!(["", 5, "softb"]));
    let b64 = "hello\u{0}world, binary data";
    assert_eq!(
        r["b64_lit"],
        serde_json::json!(["~", b64.len(), b64]),
        "{r:#}"
    );
    has(&r, "b64", &format!("BINARY.SIZE[2] {}", b64.len()));
    assert_eq!(r["b64_partial"], serde_json::json!(["~", 4, "lo\u{0}w"]));
    for key in ["unknown", "unknown_size"] {
        let text = s(&r[key]);
        let tagged = text.lines().last().unwrap_or_default();
        assert!(tagged.contains(" NO [UNKNOWN-CTE]"), "{key}: {text}");
    }
    assert_eq!(
        r["single_lit"],
        serde_json::json!(["", "onetwo €\r\n".len(), "onetwo €\r\n"]),
        "{r:#}"
    );
    has(
        &r,
        "single",
        &format!("BINARY.SIZE[1] {}", "onetwo €\r\n".len()),
    );
    let body1 = s(&r["body1"][2]);
    assert!(body1.contains("soft= \r\nbreak"), "{body1}");
}

/// RFC 3501 6.4.5 (RFC 9051 6.4.5): for a part of type message/rfc822,
/// HEADER, TEXT, HEADER.FIELDS and sub-part numbers refer to the
/// encapsulated message and MIME to the part's own header; RFC 2046 5.1.5:
/// the parts of a multipart/digest are message/rfc822 unless they say
/// otherwise, and RFC 3501 7.4.2 BODYSTRUCTURE shows them so.
#[test]
fn header_and_text_of_digest_and_rfc822_parts_are_the_inner_message() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"{PARTS}
msg = (b'From: a@example.net\r\nSubject: outer\r\nMIME-Version: 1.0\r\n'
    b'Content-Type: multipart/mixed; boundary="out"\r\n\r\n'
    b'--out\r\nContent-Type: multipart/digest; boundary="dig"\r\n\r\n'
    b'--dig\r\n\r\nFrom: one@example.net\r\nSubject: first digested\r\n\r\nfirst body\r\n'
    b'--dig\r\n\r\nFrom: two@example.net\r\nSubject: second digested\r\n\r\nsecond body\r\n'
    b'--dig--\r\n\r\n'
    b'--out\r\nContent-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n'
    b'From: fw@example.net\r\nSubject: forwarded\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
    b'--alt\r\nContent-Type: text/plain\r\n\r\nplain text\r\n'
    b'--alt\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n'
    b'--alt--\r\n\r\n'
    b'--out--\r\n')
m = connect()
append(m, msg)
raw(m, 'SELECT INBOX')
for sec in ['1.1.HEADER', '1.1.TEXT', '1.2.HEADER', '1.2.TEXT', '1.2.1', '1.2.MIME',
            '2.HEADER', '2.TEXT', '2.MIME', '2.1', '2.2', '2.2.MIME',
            '2.HEADER.FIELDS (SUBJECT)', '1.1.HEADER.FIELDS.NOT (FROM)']:
    R[sec] = lit(rawb(m, 'FETCH 1 (BODY.PEEK[%s])' % sec), 'BODY[%s]' % sec)
R['bs'] = txt(m, 'FETCH 1 (BODYSTRUCTURE)')
"#
    ));
    let want = [
        (
            "1.1.HEADER",
            "From: one@example.net\r\nSubject: first digested\r\n\r\n",
        ),
        ("1.1.TEXT", "first body"),
        (
            "1.2.HEADER",
            "From: two@example.net\r\nSubject: second digested\r\n\r\n",
        ),
        ("1.2.TEXT", "second body"),
        ("1.2.1", "second body"),
        ("1.2.MIME", "\r\n"),
        (
            "2.HEADER",
            "From: fw@example.net\r\nSubject: forwarded\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n",
        ),
        (
            "2.MIME",
            "Content-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n",
        ),
        ("2.1", "plain text"),
        ("2.2", "<p>html</p>"),
        ("2.2.MIME", "Content-Type: text/html\r\n\r\n"),
        ("2.HEADER.FIELDS (SUBJECT)", "Subject: forwarded\r\n\r\n"),
        (
            "1.1.HEADER.FIELDS.NOT (FROM)",
            "Subject: first digested\r\n\r\n",
        ),
    ];
    for (sec, text) in want {
        assert_eq!(
            r[sec],
            serde_json::json!(["", text.len(), text]),
            "BODY[{sec}]: {r:#}"
        );
    }
    let text = s(&r["2.TEXT"][2]);
    assert!(
        text.starts_with("--alt\r\n") && text.contains("<p>html</p>"),
        "{text}"
    );
    // The digest's parts are message/rfc822 in BODYSTRUCTURE as well, and
    // the sizes of the parts inside the rfc822 part are those of BODY[2.n].
    let bs = s(&r["bs"]);
    assert!(
        bs.contains("(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 ")
            && bs.contains("(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 11 "),
        "{bs}"
    );
    assert_eq!(bs.matches("(\"MESSAGE\" \"RFC822\"").count(), 3, "{bs}");
    assert!(bs.contains("\"first digested\""), "{bs}");
}

/// RFC 3516 4.4 and 6: a message APPENDed as a literal8 keeps its binary
/// content; FETCH BODY returns each part in the format BODYSTRUCTURE
/// describes (as many octets as its size says, a zero-length part as the
/// empty literal `{0}`), and BINARY the same octets, in a literal8 when
/// they hold NUL (RFC 3516 4.3).
#[test]
fn binary_appended_parts_fetch_as_bodystructure_describes_them() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"{PARTS}
payload = bytes(range(0, 256)).replace(b'\r', b'').replace(b'\n', b'')
msg = (b'From: a@example.net\r\nSubject: binary append\r\nMIME-Version: 1.0\r\n'
    b'Content-Type: multipart/mixed; boundary="bin"\r\n\r\n'
    b'--bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'
    + payload +
    b'\r\n--bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'
    b'\r\n--bin--\r\n')
m = connect()
R['append'] = append(m, msg, lit8=True)
raw(m, 'SELECT INBOX')
R['bs'] = txt(m, 'FETCH 1 (BODYSTRUCTURE)')
f = rawb(m, 'FETCH 1 (BODY.PEEK[1] BODY.PEEK[2] BINARY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[1] BINARY.SIZE[2])')
R['fetch'] = f.decode('utf-8', 'replace')
R['body1'] = lit(f, 'BODY[1]')
R['body2'] = lit(f, 'BODY[2]')
R['bin1'] = lit(f, 'BINARY[1]')
R['bin2'] = lit(f, 'BINARY[2]')
R['payload_len'] = len(payload)
R['payload_ok'] = [litb(f, 'BODY[1]')[2] == payload, litb(f, 'BINARY[1]')[2] == payload]
"#
    ));
    has(&r, "append", "OK [APPENDUID");
    let n = r["payload_len"].as_u64().expect("len");
    let bs = s(&r["bs"]);
    assert!(
        bs.contains(&format!("\"BINARY\" {n} NIL")) && bs.contains("\"BINARY\" 0 NIL"),
        "{bs}"
    );
    assert_eq!(r["body1"][1], serde_json::json!(n), "{r:#}");
    assert_eq!(r["payload_ok"], serde_json::json!([true, true]), "{r:#}");
    // The zero-length part: the empty literal, not a quoted "".
    assert_eq!(r["body2"], serde_json::json!(["", 0, ""]), "{r:#}");
    assert_eq!(r["bin1"][0], serde_json::json!("~"), "{r:#}");
    assert_eq!(r["bin1"][1], serde_json::json!(n), "{r:#}");
    assert_eq!(r["bin2"], serde_json::json!(["", 0, ""]), "{r:#}");
    has(&r, "fetch", &format!("BINARY.SIZE[1] {n}"));
    has(&r, "fetch", "BINARY.SIZE[2] 0");
}

/// RFC 3501 6.4.5 with 7.4.2: part numbers are those BODYSTRUCTURE shows —
/// a message that is not multipart has one part, BODY[1] its body; nested
/// multiparts number depth first; a multipart whose boundary never comes
/// is one text part in BODYSTRUCTURE and in FETCH alike.
#[test]
fn part_numbers_follow_bodystructure_on_plain_nested_and_malformed_mail() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"{PARTS}
one_part = b'From: a@example.net\r\nSubject: plain\r\n\r\njust a body\r\n'
nested = (b'From: a@example.net\r\nSubject: nested\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n'
    b'--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n'
    b'--b\r\n\r\nplain alt\r\n--b\r\nContent-Type: text/html\r\n\r\n<b>alt</b>\r\n--b--\r\n'
    b'--a\r\n\r\nlast part\r\n--a--\r\n')
broken = (b'From: a@example.net\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary=never\r\n\r\n'
    b'--other\r\n\r\nnot a part of this message\r\n')
m = connect()
for msg in (one_part, nested, broken):
    append(m, msg)
raw(m, 'SELECT INBOX')
R['plain1'] = lit(rawb(m, 'FETCH 1 (BODY.PEEK[1])'), 'BODY[1]')
R['plain_bs'] = txt(m, 'FETCH 1 (BODYSTRUCTURE)')
for sec in ['1.1', '1.2', '2', '1.2.MIME']:
    R['nested ' + sec] = lit(rawb(m, 'FETCH 2 (BODY.PEEK[%s])' % sec), 'BODY[%s]' % sec)
R['nested_bs'] = txt(m, 'FETCH 2 (BODYSTRUCTURE)')
R['broken_bs'] = txt(m, 'FETCH 3 (BODYSTRUCTURE)')
R['broken1'] = lit(rawb(m, 'FETCH 3 (BODY.PEEK[1])'), 'BODY[1]')
"#
    ));
    assert_eq!(r["plain1"], serde_json::json!(["", 13, "just a body\r\n"]));
    has(&r, "plain_bs", "(\"TEXT\" \"PLAIN\"");
    has(&r, "plain_bs", "\"7BIT\" 13 1");
    for (sec, text) in [
        ("1.1", "plain alt"),
        ("1.2", "<b>alt</b>"),
        ("2", "last part"),
        ("1.2.MIME", "Content-Type: text/html\r\n\r\n"),
    ] {
        assert_eq!(
            r[&format!("nested {sec}")],
            serde_json::json!(["", text.len(), text]),
            "{sec}: {r:#}"
        );
    }
    has(&r, "nested_bs", "\"ALTERNATIVE\"");
    let body = "--other\r\n\r\nnot a part of this message\r\n";
    let bs = s(&r["broken_bs"]);
    assert!(
        bs.contains("(\"TEXT\" \"PLAIN\"") && bs.contains(&format!("\"7BIT\" {} ", body.len())),
        "{bs}"
    );
    assert_eq!(r["broken1"], serde_json::json!(["", body.len(), body]));
}

/// Python: `put(m, headers, size=0, date=None, box='INBOX')` appends a
/// message made of `headers` (a list of lines) and a body padded so the
/// whole message is `size` octets (when given), with internal date `date`.
const PUT: &str = r#"
def put(m, headers, size=0, date=None, box='INBOX'):
    head = '\r\n'.join(headers) + '\r\n\r\n'
    body = 'body\r\n'
    if size:
        pad = size - len(head.encode()) - len(body)
        assert pad >= 0, (headers, pad)
        body = 'x' * pad + body
    msg = head + body
    d = ' "%s"' % date if date else ''
    out = raw(m, 'APPEND %s ()%s {%d+}\r\n' % (box, d, len(msg.encode())) + msg)
    assert ' OK ' in out[-1], out

def search(m, cmd):
    # The numbers of the untagged SEARCH/SORT/THREAD line, or the line.
    out = raw(m, cmd)
    assert ' OK ' in out[-1], out
    return [l for l in out if l.startswith('* ')][-1]

def literal(m, prefix, text):
    # A command whose last argument is a UTF-8 literal.
    data = text.encode()
    return search(m, prefix + ' {%d+}\r\n' % len(data) + text)
"#;

/// RFC 3501 7.4.2: ENVELOPE's in-reply-to and message-id are the header
/// fields as sent (unfolded), angle brackets and all, not the ids a parser
/// took out of them; RFC 5322 group syntax (`team: a@b, c@d;`) is shown
/// with the group markers (mailbox = group name and host NIL to open, all
/// NIL to close), an empty group too.
#[test]
fn envelope_fields_are_the_header_values_as_sent_and_groups_are_marked() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"{PUT}
m = connect()
put(m, ['Date: Mon, 01 Jan 2024 10:00:00 +0000', 'From: Alice <alice@example.net>',
        'To: team: bob@example.net, carol@example.net;, dave@example.net',
        'Cc: Undisclosed recipients:;', 'Subject: env',
        'In-Reply-To: <reply@to.id>', 'Message-ID: <own@msg.id>'])
put(m, ['From: b@example.net', 'Subject: folded', 'In-Reply-To: <a@x.id>', ' <b@y.id>',
        'Message-ID:', ' <folded@msg.id>'])
raw(m, 'SELECT INBOX')
R['one'] = raw(m, 'FETCH 1 (ENVELOPE)')
R['two'] = raw(m, 'FETCH 2 (ENVELOPE)')
"#
    ));
    let alice = "((\"Alice\" NIL \"alice\" \"example.net\"))";
    has(
        &r,
        "one",
        &format!(
            "* 1 FETCH (ENVELOPE (\"Mon, 01 Jan 2024 10:00:00 +0000\" \"env\" {alice} {alice} {alice} \
             ((NIL NIL \"team\" NIL)(NIL NIL \"bob\" \"example.net\")(NIL NIL \"carol\" \"example.net\")\
             (NIL NIL NIL NIL)(NIL NIL \"dave\" \"example.net\")) \
             ((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) NIL \
             \"<reply@to.id>\" \"<own@msg.id>\"))"
        ),
    );
    has(
        &r,
        "two",
        " NIL NIL \"<a@x.id> <b@y.id>\" \"<folded@msg.id>\"))",
    );
}

/// RFC 3501 6.4.4: SEARCH FROM/TO/CC/BCC match a substring of the header
/// field, case-insensitively: a group's name (and an empty group's), the
/// display name decoded from RFC 2047 encoded words (searched in UTF-8),
/// the address, and `Name <addr` across them.
#[test]
fn search_address_keys_are_substring_matches_on_the_header_field() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"{PUT}
m = connect()
put(m, ['From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.net>',
        'To: team: bob@example.net, carol@example.net;', 'Cc: Undisclosed recipients:;',
        'Bcc: Secret Club: eve@example.org;', 'Subject: s1'])
put(m, ['From: Plain <plain@example.net>', 'To: dave@example.net',
        'Cc: "Frank X" <frank@example.net>', 'Bcc: =?ISO-8859-1?Q?Ren=E9?= <rene@example.org>',
        'Subject: s2'])
raw(m, 'SELECT INBOX')
for k, c in (('to_group', 'TO team'), ('to_member', 'TO carol'), ('to_group_colon', 'TO "team: bob"'),
             ('cc_empty_group', 'CC undisclosed'), ('bcc_group', 'BCC "secret club"'),
             ('bcc_member', 'BCC EVE@'), ('from_addr', 'FROM JOERG@EXAMPLE'),
             ('from_angle', 'FROM "Plain <plain@"'), ('cc_name', 'CC "frank x"'),
             ('to_none', 'TO example.org'), ('from_both', 'FROM example.net'),
             ('or', 'OR TO team CC frank')):
    R[k] = search(m, 'SEARCH ' + c)
R['from_encoded'] = literal(m, 'SEARCH CHARSET UTF-8 FROM', 'Jörg')
R['from_encoded2'] = literal(m, 'SEARCH CHARSET UTF-8 FROM', 'müller')
R['bcc_latin1'] = literal(m, 'SEARCH CHARSET UTF-8 BCC', 'René')
"#
    ));
    for (key, want) in [
        ("to_group", "* SEARCH 1"),
        ("to_member", "* SEARCH 1"),
        ("to_group_colon", "* SEARCH 1"),
        ("cc_empty_group", "* SEARCH 1"),
        ("bcc_group", "* SEARCH 1"),
        ("bcc_member", "* SEARCH 1"),
        ("from_addr", "* SEARCH 1"),
        ("from_encoded", "* SEARCH 1"),
        ("from_encoded2", "* SEARCH 1"),
        ("from_angle", "* SEARCH 2"),
        ("cc_name", "* SEARCH 2"),
        ("bcc_latin1", "* SEARCH 2"),
        ("to_none", "* SEARCH"),
        ("from_both", "* SEARCH 1 2"),
        ("or", "* SEARCH 1 2"),
    ] {
        assert_eq!(s(&r[key]), want, "{key}: {r:#}");
    }
}

/// RFC 5256 3 (SORT): FROM, TO and CC sort by the addr-mailbox (local
/// part, or a group's name) of the first address, never the display
/// name, compared with i;ascii-casemap, a missing field as ""; SUBJECT by
/// base subject (2.1); DATE by the Date: instant in UTC, the internal date
/// when Date: is missing or unparsable (2.2); ARRIVAL by internal date;
/// SIZE by RFC822.SIZE. Ties go by sequence number, which REVERSE does not
/// reverse; later keys break ties of earlier ones.
#[test]
fn sort_keys_follow_rfc5256() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"{PUT}
m = connect()
put(m, ['From: "Zed" <Bob@x.test>', 'To: "Aa" <mike@x.test>', 'Cc: "Aaron" <Zack@x.test>',
        'Subject: Re: beta', 'Date: Mon, 01 Jan 2024 09:00:00 +0000'],
    900, '01-Feb-2024 10:00:00 +0000')
put(m, ['From: alice@x.test', 'Subject: alpha', 'Date: Mon, 01 Jan 2024 10:00:00 +0200'],
    700, '03-Feb-2024 10:00:00 +0000')
put(m, ['From: Carol <carol@x.test>', 'To: team: Zoe@x.test;', 'Cc: bob@x.test, aaron@x.test',
        'Subject: [list] Fwd: Alpha (fwd)'],
    1100, '02-Feb-2024 10:00:00 +0000')
put(m, ['From: BOB@y.test', 'To: ann@x.test', 'Cc: BOB@y.test', 'Subject: Re: Re: [fwd: Beta]',
        'Date: garbage'],
    1000, '31-Dec-2023 12:00:00 +0000')
put(m, ['From: "Aardvark" <dan@x.test>', 'To: Mike@y.test', 'Cc: "x" <Carl@x.test>',
        'Subject: gamma', 'Date: Mon, 01 Jan 2024 09:00:00 +0000'],
    900, '01-Feb-2024 10:00:00 +0000')
put(m, ['To: undisclosed-recipients:;', 'Cc: Abc: q@x.test;',
        'Date: Sun, 31 Dec 2023 23:00:00 -0500'],
    600, '04-Feb-2024 10:00:00 +0000')
raw(m, 'SELECT INBOX')
for crit in ('FROM', 'REVERSE FROM', 'TO', 'CC', 'REVERSE CC', 'SUBJECT', 'REVERSE SUBJECT',
             'DATE', 'ARRIVAL', 'REVERSE ARRIVAL', 'SIZE', 'SUBJECT DATE',
             'REVERSE SUBJECT REVERSE DATE', 'FROM REVERSE SIZE'):
    R[crit] = search(m, 'SORT (%s) UTF-8 ALL' % crit)
R['uid'] = search(m, 'UID SORT (DATE) UTF-8 ALL')
R['searched'] = search(m, 'SORT (DATE) UTF-8 FROM bob')
"#
    ));
    for (key, want) in [
        ("FROM", "6 2 1 4 3 5"),
        ("REVERSE FROM", "5 3 1 4 2 6"),
        ("TO", "2 4 1 5 3 6"),
        ("CC", "2 6 3 4 5 1"),
        ("REVERSE CC", "1 5 3 4 6 2"),
        ("SUBJECT", "6 2 3 1 4 5"),
        ("REVERSE SUBJECT", "5 1 4 2 3 6"),
        ("DATE", "4 6 2 1 5 3"),
        ("ARRIVAL", "4 1 5 3 2 6"),
        ("REVERSE ARRIVAL", "6 2 3 1 5 4"),
        ("SIZE", "6 2 1 5 4 3"),
        ("SUBJECT DATE", "6 2 3 4 1 5"),
        ("REVERSE SUBJECT REVERSE DATE", "5 1 4 3 2 6"),
        ("FROM REVERSE SIZE", "6 2 4 1 3 5"),
        ("uid", "4 6 2 1 5 3"),
        ("searched", "4 1"),
    ] {
        assert_eq!(s(&r[key]), format!("* SORT {want}"), "{key}: {r:#}");
    }
}

/// RFC 5256 3 (THREAD=REFERENCES): In-Reply-To's first id is the parent
/// when there is no References (1); a missing parent is a dummy, pruned
/// away unless it holds several threads at the root (4); a duplicate
/// Message-ID gets a unique one (1.A); a message without references
/// leaves the parent an earlier message's References gave it (1.B);
/// roots with one base subject (encoded words decoded, 2.1) merge: under
/// a dummy root, a reply under the original, two originals under a new
/// dummy (6); siblings go by sent date (7). THREAD=ORDEREDSUBJECT groups
/// by base subject, each thread flat under its earliest message, threads
/// by that message's date.
#[test]
fn thread_references_and_orderedsubject_follow_rfc5256() {
    let store = Store::start();
    let r = store.python(&format!(
        r#"{PUT}
m = connect()
msgs = [
    (1, ['Message-ID: <1@t>', 'Subject: Plans']),
    (2, ['Message-ID: <2@t>', 'In-Reply-To: <1@t>', 'Subject: Re: something else']),
    (3, ['Message-ID: <3@t>', 'References: <1@t> <missing@t>', 'Subject: Re: Plans']),
    (4, ['Message-ID: <4@t>', 'References: <gone@t>', 'Subject: Lunch']),
    (5, ['Message-ID: <5@t>', 'References: <gone@t>', 'Subject: Re: Lunch']),
    (6, ['Message-ID: <6@t>', 'Subject: =?UTF-8?Q?Re=3A_Lunch?=']),
    (7, ['Message-ID: <7@t>', 'Subject: Dinner']),
    (8, ['Message-ID: <8@t>', 'Subject: Dinner']),
    (9, ['Message-ID: <9@t>', 'Subject: Re: Breakfast']),
    (10, ['Message-ID: <10@t>', 'Subject: Breakfast']),
    (11, ['Message-ID: <1@t>', 'Subject: Plans']),
    (0, ['Message-ID: <12@t>', 'References: <1@t>', 'Subject: Re: Plans']),
    (13, ['Message-ID: <13@t>', 'References: <x@t> <14@t>', 'Subject: Topic']),
    (14, ['Message-ID: <14@t>', 'Subject: Topic']),
    (15, ['Message-ID: <15@t>', 'References: <x@t>', 'Subject: Other']),
]
for minute, headers in msgs:
    put(m, headers + ['From: a@x.test', 'Date: Mon, 01 Jan 2024 10:%02d:00 +0000' % minute])
raw(m, 'SELECT INBOX')
R['references'] = search(m, 'THREAD REFERENCES UTF-8 ALL')
R['uid'] = search(m, 'UID THREAD REFERENCES UTF-8 ALL')
R['searched'] = search(m, 'THREAD REFERENCES UTF-8 SUBJECT lunch')
R['ordered'] = search(m, 'THREAD ORDEREDSUBJECT UTF-8 ALL')
"#
    ));
    let refs = "* THREAD ((1 (12)(2)(3))(11))((4)(5)(6))((7)(8))(10 9)(14 13)(15)";
    assert_eq!(s(&r["references"]), refs, "{r:#}");
    assert_eq!(s(&r["uid"]), refs, "{r:#}");
    assert_eq!(s(&r["searched"]), "* THREAD ((4)(5)(6))", "{r:#}");
    assert_eq!(
        s(&r["ordered"]),
        "* THREAD (12 (1)(3)(11))(2)(4 (5)(6))(7 8)(9 10)(13 14)(15)",
        "{r:#}"
    );
}
