//! IMAP on the `mailstore` binary, started as a process with its own
//! config (file directory with alice and bob, a self-signed certificate,
//! LMTP and IMAP with STARTTLS on loopback), driven by real clients:
//! Python's `imaplib` (plus a raw line helper on its TLS socket for the
//! extensions imaplib has no method for) and `curl imap://` over STARTTLS.
//! Mail comes in over LMTP (`swaks --protocol LMTP` and `smtplib.LMTP`).
//!
//! One store per test function; each family of commands is one test.

mod common;

use common::imap_env::{DOMAIN, Store, has, lacks, s};

#[test]
fn authentication_capability_id_enable_namespace() {
    let store = Store::start();
    let r = store.python(
        r#"
m = plain()
R['caps_plain'] = sorted(m.capabilities)
try:
    m.login('alice', 'alice-pw')
    R['plain_login'] = 'accepted'
except imaplib.IMAP4.error as e:
    R['plain_login'] = str(e)
R['plain_authenticate'] = raw(m, 'AUTHENTICATE PLAIN ' + base64.b64encode(b'\0alice\0alice-pw').decode())
m.starttls(ssl_context=context())
R['caps_tls'] = sorted(m.capabilities)
t0 = time.time()
try:
    m.login('alice', 'wrong')
    R['wrong'] = 'accepted'
except imaplib.IMAP4.error as e:
    R['wrong'] = str(e)
try:
    m.login('nobody', 'wrong')
    R['unknown'] = 'accepted'
except imaplib.IMAP4.error as e:
    R['unknown'] = str(e)
R['failure_delay'] = time.time() - t0
typ, data = m.authenticate('PLAIN', lambda _: b'\0alice\0alice-pw')
R['authenticate'] = typ
R['state'] = m.state
R['caps_auth'] = raw(m, 'CAPABILITY')
R['id'] = raw(m, 'ID ("name" "imap.rs" "version" "1")')
R['enable'] = raw(m, 'ENABLE CONDSTORE UTF8=ACCEPT')
R['namespace'] = raw(m, 'NAMESPACE')
R['logout'] = m.logout()[0]
# A session logged in with the address and SASL-IR.
n = plain()
n.starttls(ssl_context=context())
R['sasl_ir'] = raw(n, 'AUTHENTICATE PLAIN ' + base64.b64encode(b'\0alice@example.test\0alice-pw').decode())
n.logout()
"#,
    );
    let caps_plain = s(&r["caps_plain"]);
    for c in ["STARTTLS", "LOGINDISABLED", "IMAP4REV1"] {
        assert!(
            caps_plain.contains(c),
            "{c} missing before TLS: {caps_plain}"
        );
    }
    has(&r, "plain_login", "PRIVACYREQUIRED");
    has(&r, "plain_authenticate", "NO [PRIVACYREQUIRED]");
    let caps_tls = s(&r["caps_tls"]);
    assert!(caps_tls.contains("AUTH=PLAIN"), "{caps_tls}");
    assert!(
        !caps_tls.contains("STARTTLS") && !caps_tls.contains("LOGINDISABLED"),
        "{caps_tls}"
    );
    has(&r, "wrong", "[AUTHENTICATIONFAILED]");
    assert_eq!(r["wrong"], r["unknown"], "unknown user looks the same");
    assert!(
        r["failure_delay"].as_f64().unwrap_or(0.0) >= 0.4,
        "two failures, 200 ms each: {}",
        r["failure_delay"]
    );
    assert_eq!(r["authenticate"], "OK");
    assert_eq!(r["state"], "AUTH");
    for c in [
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "CONDSTORE",
        "QRESYNC",
        "ESEARCH",
        "SORT",
        "THREAD=",
        "QUOTA",
        "ACL",
        "SPECIAL-USE",
        "BINARY",
        "NAMESPACE",
        "ENABLE",
        "ID",
    ] {
        has(&r, "caps_auth", c);
    }
    has(&r, "id", "* ID (");
    has(&r, "id", "OK");
    has(&r, "enable", "* ENABLED");
    has(&r, "enable", "CONDSTORE");
    has(&r, "enable", "UTF8=ACCEPT");
    has(
        &r,
        "namespace",
        "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\"))",
    );
    assert_eq!(r["logout"], "BYE");
    let sasl = s(&r["sasl_ir"]);
    assert!(sasl.lines().last().unwrap_or("").contains(" OK"), "{sasl}");

    // curl refuses to go on without TLS (--ssl-reqd) and logs in after
    // STARTTLS, trusting the store's self-signed certificate.
    let list = store.curl("alice", "alice-pw", "");
    assert!(
        list.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("INBOX"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );
    let denied = store.curl("alice", "wrong", "");
    assert_eq!(denied.status.code(), Some(67), "curl: login denied");
}

#[test]
fn mailboxes_status_special_use_quota_and_acl() {
    let store = Store::start();
    store.swaks(&format!("alice@{DOMAIN}"), "first", "one");
    store.swaks(&format!("alice@{DOMAIN}"), "second", "two");
    let r = store.python(
        r#"
m = connect()
R['create'] = [m.create('Work')[0], m.create('Work/Projects')[0]]
R['create_again'] = raw(m, 'CREATE Work')
R['create_sent'] = raw(m, 'CREATE Outgoing (USE (\\Sent))')
R['create_archive'] = raw(m, 'CREATE Kept (USE (\\Archive))')
R['list'] = raw(m, 'LIST "" "*"')
R['list_percent'] = raw(m, 'LIST "" "%"')
R['list_special'] = raw(m, 'LIST (SPECIAL-USE) "" "*"')
R['list_return'] = raw(m, 'LIST "" "%" RETURN (SPECIAL-USE SUBSCRIBED STATUS (MESSAGES UNSEEN))')
R['subscribe'] = m.subscribe('Work')[0]
R['lsub'] = raw(m, 'LSUB "" "*"')
R['list_subscribed'] = raw(m, 'LIST (SUBSCRIBED) "" "*"')
m.unsubscribe('Work')
R['lsub_after'] = raw(m, 'LSUB "" "*"')
R['rename'] = raw(m, 'RENAME Work/Projects Work/Done')
R['list_after_rename'] = raw(m, 'LIST "" "Work/*"')
R['delete'] = raw(m, 'DELETE Work/Done')
R['select_deleted'] = raw(m, 'SELECT Work/Done')
R['delete_missing'] = raw(m, 'DELETE Nope')
R['status'] = raw(m, 'STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)')
R['select'] = raw(m, 'SELECT INBOX')
R['examine'] = raw(m, 'EXAMINE INBOX')
R['examine_store'] = raw(m, 'STORE 1 +FLAGS (\\Seen)')
R['quotaroot'] = raw(m, 'GETQUOTAROOT INBOX')
R['quota'] = raw(m, 'GETQUOTA ""')
R['create_shared'] = m.create('Shared')[0]
typ, data = m.append('Shared', None, None, b'Subject: for bob\r\nFrom: alice@example.test\r\n\r\nshared body\r\n')
R['append_shared'] = typ
R['setacl'] = raw(m, 'SETACL Shared bob lr')
R['getacl'] = raw(m, 'GETACL Shared')
R['myrights'] = raw(m, 'MYRIGHTS INBOX')

b = connect('bob')
R['bob_namespace'] = raw(b, 'NAMESPACE')
R['bob_list'] = raw(b, 'LIST "" "*"')
R['bob_list_other'] = raw(b, 'LIST "Other Users/" "*"')
R['bob_select'] = raw(b, 'SELECT "Other Users/alice/Shared"')
R['bob_fetch'] = raw(b, 'FETCH 1 (BODY.PEEK[TEXT])')
R['bob_myrights'] = raw(b, 'MYRIGHTS "Other Users/alice/Shared"')
R['bob_store'] = raw(b, 'STORE 1 +FLAGS (\\Deleted)')
b._simple_command('UNSELECT')
R['bob_append'] = raw(b, 'APPEND "Other Users/alice/Shared" {12+}\r\nSubject: x\r\n')
R['bob_inbox'] = raw(b, 'SELECT "Other Users/alice/INBOX"')
R['deleteacl'] = raw(m, 'DELETEACL Shared bob')
R['bob_list_after'] = raw(b, 'LIST "" "*"')
b.logout()
m.logout()
"#,
    );
    assert_eq!(r["create"], serde_json::json!(["OK", "OK"]));
    has(&r, "create_again", "NO [ALREADYEXISTS]");
    has(&r, "create_sent", "OK");
    for name in [
        "INBOX",
        "Work",
        "Work/Projects",
        "Outgoing",
        "Kept",
        "Sent",
        "Archive",
    ] {
        has(&r, "list", &format!("\"/\" {name}\n"));
    }
    has(&r, "list", "(\\HasChildren) \"/\" Work\n");
    lacks(&r, "list_percent", "Work/Projects");
    let special = s(&r["list_special"]);
    assert!(
        special.contains("\\Sent) \"/\" Outgoing") && special.contains("\\Archive) \"/\" Kept"),
        "{special}"
    );
    assert!(!special.contains(" INBOX"), "{special}");
    has(&r, "list_return", "\\Sent");
    has(&r, "list_return", "* STATUS INBOX (MESSAGES 2 UNSEEN 2)");
    assert_eq!(r["subscribe"], "OK");
    has(&r, "lsub", "* LSUB () \"/\" Work");
    has(&r, "list_subscribed", "\\Subscribed) \"/\" Work");
    lacks(&r, "lsub_after", "Work");
    has(&r, "rename", "OK");
    has(&r, "list_after_rename", "Work/Done");
    lacks(&r, "list_after_rename", "Work/Projects");
    has(&r, "delete", "OK");
    has(&r, "select_deleted", "NO [NONEXISTENT]");
    has(&r, "delete_missing", "NO [NONEXISTENT]");
    let status = s(&r["status"]);
    for item in [
        "MESSAGES 2",
        "UIDNEXT 3",
        "UNSEEN 2",
        "UIDVALIDITY ",
        "SIZE ",
        "HIGHESTMODSEQ ",
    ] {
        assert!(status.contains(item), "{item} missing: {status}");
    }
    let select = s(&r["select"]);
    for item in [
        "* 2 EXISTS",
        "* FLAGS (",
        "PERMANENTFLAGS (",
        "[UIDVALIDITY ",
        "[UIDNEXT 3]",
        "OK [READ-WRITE]",
    ] {
        assert!(select.contains(item), "{item} missing: {select}");
    }
    has(&r, "examine", "OK [READ-ONLY]");
    has(&r, "examine_store", " NO");
    // Two small messages of 10 MiB and 1000 messages.
    has(&r, "quotaroot", "* QUOTAROOT INBOX \"\"");
    has(&r, "quotaroot", "* QUOTA \"\" (STORAGE ");
    has(&r, "quotaroot", " 10240 MESSAGE 2 1000)");
    has(&r, "quota", " 10240 MESSAGE 2 1000)");
    has(&r, "setacl", "OK");
    has(&r, "getacl", "bob lr");
    has(&r, "myrights", "* MYRIGHTS INBOX lrswipkxtea");
    // bob sees alice's folder under the other-users namespace, can read
    // it, and can do nothing else.
    has(&r, "bob_namespace", "((\"Other Users/\" \"/\"))");
    has(&r, "bob_list", "\"/\" \"Other Users/alice/Shared\"");
    lacks(&r, "bob_list", "Other Users/alice/INBOX");
    has(&r, "bob_list_other", "Other Users/alice/Shared");
    has(&r, "bob_select", "* 1 EXISTS");
    has(&r, "bob_fetch", "shared body");
    has(&r, "bob_myrights", "lr");
    has(&r, "bob_store", " NO");
    has(&r, "bob_append", "NO");
    has(&r, "bob_inbox", "NO");
    has(&r, "deleteacl", "OK");
    lacks(&r, "bob_list_after", "Other Users/alice/Shared");
}

#[test]
fn append_fetch_store_search_copy_move_expunge() {
    let store = Store::start();
    let r = store.python(
        r#"
parent = (b'From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: Plans\r\n'
          b'Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <plans@example.org>\r\n'
          b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
          b'--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst part zebra\r\n'
          b'--b1\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
          b'aGVsbG8gd29ybGQ=\r\n--b1--\r\n')
reply = (b'From: Dave <dave@example.org>\r\nTo: alice@example.test\r\nSubject: Re: Plans\r\n'
         b'Date: Sat, 28 Nov 2026 11:00:00 +0000\r\nMessage-ID: <reply@example.org>\r\n'
         b'In-Reply-To: <plans@example.org>\r\nReferences: <plans@example.org>\r\n\r\nsounds good\r\n')
other = (b'From: Erin <erin@example.org>\r\nTo: alice@example.test\r\nSubject: Apples\r\n'
         b'Date: Sat, 28 Nov 2026 09:00:00 +0000\r\nMessage-ID: <apples@example.org>\r\n'
         b'X-Tag: one\r\nX-Tag: two\r\n\r\nred ones\r\n')
for msg in (parent, reply, other):
    lmtp('alice@example.test', msg)
m = connect()
typ, data = m.append('INBOX', '(\\Flagged $Work)', '"01-Jan-2020 10:00:00 +0000"',
                     b'From: alice@example.test\r\nSubject: Appended\r\n\r\nappended body\r\n')
R['append'] = [typ, m.untagged_responses.pop('APPENDUID', [b''])[0].decode()]
R['create'] = m.create('Archive')[0]
m.enable('CONDSTORE')
R['select'] = raw(m, 'SELECT INBOX')
R['fetch_flags'] = raw(m, 'FETCH 1:* (UID FLAGS)')
R['fetch_appended'] = raw(m, 'FETCH 4 (FLAGS INTERNALDATE RFC822.SIZE)')
R['envelope'] = raw(m, 'FETCH 1 (ENVELOPE)')
R['bodystructure'] = raw(m, 'FETCH 1 (BODYSTRUCTURE)')
R['partial'] = raw(m, 'FETCH 1 (BODY.PEEK[]<0.20>)')
R['part1'] = raw(m, 'FETCH 1 (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)])')
R['binary'] = raw(m, 'FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])')
R['after_peek'] = raw(m, 'FETCH 1 (FLAGS)')
R['body_text'] = raw(m, 'FETCH 2 (BODY[TEXT])')
R['after_body'] = raw(m, 'FETCH 2 (FLAGS)')
# imaplib's own methods for the common cases.
R['imaplib_fetch'] = [x.decode() if isinstance(x, bytes) else x[1].decode() for x in m.fetch('3', '(RFC822)')[1]]
R['store_add'] = raw(m, 'STORE 3 +FLAGS ($Label \\Answered)')
R['store_remove'] = raw(m, 'STORE 3 -FLAGS ($Label)')
R['store_silent'] = raw(m, 'STORE 3 +FLAGS.SILENT (\\Draft)')
ms = modseq(raw(m, 'FETCH 3 (MODSEQ)')[0])
R['unchanged_ok'] = raw(m, 'STORE 3 (UNCHANGEDSINCE %d) +FLAGS ($A)' % ms)
R['unchanged_modified'] = raw(m, 'STORE 3 (UNCHANGEDSINCE %d) +FLAGS ($B)' % ms)
R['uid_unchanged'] = raw(m, 'UID STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS ($C)' % ms)
R['search_flagged'] = m.search(None, 'FLAGGED')[1][0].decode()
R['search_subject'] = m.search(None, 'SUBJECT', 'plans')[1][0].decode()
R['search_body'] = m.search(None, 'BODY', 'zebra')[1][0].decode()
R['search_or'] = m.search(None, 'OR', 'FROM', 'erin', 'KEYWORD', '$Work')[1][0].decode()
R['search_not'] = m.search(None, 'NOT', 'SEEN')[1][0].decode()
R['uid_search'] = m.uid('SEARCH', 'HEADER', 'Message-ID', '<reply@example.org>')[1][0].decode()
R['search_second_field'] = m.search(None, 'HEADER', 'X-Tag', 'two')[1][0].decode()
R['search_modseq'] = raw(m, 'SEARCH MODSEQ %d' % (ms + 1))
R['esearch'] = raw(m, 'SEARCH RETURN (MIN MAX COUNT ALL) ALL')
R['uid_esearch'] = raw(m, 'UID SEARCH RETURN (COUNT) SUBJECT plans')
R['sort_subject'] = raw(m, 'SORT (SUBJECT) UTF-8 ALL')
R['sort_date'] = raw(m, 'SORT (REVERSE DATE) UTF-8 ALL')
R['thread_refs'] = raw(m, 'THREAD REFERENCES UTF-8 ALL')
R['thread_subject'] = raw(m, 'THREAD ORDEREDSUBJECT UTF-8 ALL')
R['copy'] = raw(m, 'COPY 1:2 Archive')
R['copy_missing'] = raw(m, 'COPY 1 Nope')
R['move'] = raw(m, 'UID MOVE 3 Archive')
R['after_move'] = raw(m, 'FETCH 1:* (UID)')
R['mark'] = raw(m, 'STORE 1:2 +FLAGS.SILENT (\\Deleted)')
R['uid_expunge'] = raw(m, 'UID EXPUNGE 2')
R['after_uid_expunge'] = raw(m, 'FETCH 1:* (UID FLAGS)')
R['expunge'] = raw(m, 'EXPUNGE')
R['after_expunge'] = raw(m, 'FETCH 1:* (UID)')
R['archive'] = raw(m, 'STATUS Archive (MESSAGES UIDNEXT)')
R['archive_subjects'] = raw(m, 'EXAMINE Archive') and raw(m, 'FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
m.logout()
"#,
    );
    let append = s(&r["append"]);
    assert!(append.starts_with("OK\n"), "APPEND: {append}");
    assert!(append.ends_with(" 4"), "APPENDUID names UID 4: {append}");
    has(&r, "select", "* 4 EXISTS");
    has(&r, "select", "[HIGHESTMODSEQ ");
    has(&r, "fetch_appended", "\\Flagged");
    has(&r, "fetch_appended", "$Work");
    has(
        &r,
        "fetch_appended",
        "INTERNALDATE \"01-Jan-2020 10:00:00 +0000\"",
    );
    has(&r, "envelope", "\"Plans\"");
    has(
        &r,
        "envelope",
        "((\"Carol\" NIL \"carol\" \"example.org\"))",
    );
    has(&r, "envelope", "\"<plans@example.org>\"");
    let bs = s(&r["bodystructure"]);
    assert!(
        bs.contains("BODYSTRUCTURE ((\"TEXT\" \"PLAIN\"")
            && bs.contains("(\"APPLICATION\" \"OCTET-STREAM\"")
            && bs.contains("\"MIXED\""),
        "{bs}"
    );
    let partial = s(&r["partial"]);
    assert!(
        partial.contains("BODY[]<0> {20}\nFrom: Carol <carol@e"),
        "{partial}"
    );
    has(&r, "part1", "first part zebra");
    has(&r, "part1", "Subject: Plans");
    has(&r, "part1", "Message-ID: <plans@example.org>");
    has(&r, "binary", "hello world");
    has(&r, "binary", "BINARY.SIZE[2] 11");
    lacks(&r, "after_peek", "\\Seen");
    has(&r, "body_text", "sounds good");
    has(&r, "after_body", "\\Seen");
    has(&r, "imaplib_fetch", "red ones");
    has(&r, "store_add", "$Label");
    has(&r, "store_add", "\\Answered");
    let removed = s(&r["store_remove"]);
    assert!(
        removed.contains("\\Answered") && !removed.contains("$Label"),
        "{removed}"
    );
    let silent = s(&r["store_silent"]);
    assert!(
        !silent.contains("FETCH"),
        ".SILENT answers no FETCH: {silent}"
    );
    has(&r, "unchanged_ok", "$A");
    has(&r, "unchanged_modified", "OK [MODIFIED 3]");
    has(&r, "uid_unchanged", "[MODIFIED 3]");
    assert_eq!(r["search_flagged"], "4");
    assert_eq!(r["search_subject"], "1 2");
    assert_eq!(r["search_body"], "1");
    assert_eq!(r["search_or"], "3 4");
    // 2 was read with BODY[TEXT], 3 with RFC822; 1 was only peeked at.
    assert_eq!(r["search_not"], "1 4");
    assert_eq!(r["uid_search"], "2");
    assert_eq!(r["search_second_field"], "3", "any X-Tag field matches");
    // Changed after the UNCHANGEDSINCE value: 3 ($A), 1 and 2 ($C).
    has(&r, "search_modseq", "* SEARCH 1 2 3 (MODSEQ ");
    for item in ["* ESEARCH (TAG ", "MIN 1", "MAX 4", "COUNT 4", "ALL 1:4"] {
        has(&r, "esearch", item);
    }
    has(&r, "uid_esearch", "UID COUNT 2");
    // Subjects without "Re:": Appended, Apples, Plans, Re: Plans.
    has(&r, "sort_subject", "* SORT 4 3 1 2");
    // Dates: 4 (no Date: internal date 2020), 1 10:00, 2 11:00, 3 09:00.
    has(&r, "sort_date", "* SORT 2 1 3 4");
    has(&r, "thread_refs", "(1 2)");
    has(&r, "thread_subject", "(1 2)");
    has(&r, "copy", "OK [COPYUID ");
    let copy = s(&r["copy"]);
    assert!(copy.contains(" 1:2 1:2]"), "{copy}");
    has(&r, "copy_missing", "NO [TRYCREATE]");
    let mv = s(&r["move"]);
    assert!(
        mv.contains("* OK [COPYUID ") && mv.contains(" 3 3]") && mv.contains("* 3 EXPUNGE"),
        "{mv}"
    );
    assert_eq!(
        s(&r["after_move"])
            .lines()
            .filter(|l| l.starts_with("* "))
            .count(),
        3
    );
    has(&r, "uid_expunge", "* 2 EXPUNGE");
    lacks(&r, "uid_expunge", "* 1 EXPUNGE");
    has(&r, "after_uid_expunge", "UID 1 ");
    has(&r, "expunge", "* 1 EXPUNGE");
    has(&r, "after_expunge", "* 1 FETCH (UID 4 ");
    has(&r, "archive", "MESSAGES 3");
    has(&r, "archive", "UIDNEXT 4");
    let subjects = s(&r["archive_subjects"]);
    for subject in ["Subject: Plans", "Subject: Re: Plans", "Subject: Apples"] {
        assert!(subjects.contains(subject), "{subject}: {subjects}");
    }

    // curl fetches by UID and searches, over STARTTLS.
    let msg = store.curl("alice", "alice-pw", "INBOX;UID=4");
    let text = String::from_utf8_lossy(&msg.stdout);
    assert!(
        msg.status.success() && text.contains("appended body"),
        "{text}{}",
        String::from_utf8_lossy(&msg.stderr)
    );
    let search = store.curl("alice", "alice-pw", "Archive?SUBJECT%20Apples");
    let text = String::from_utf8_lossy(&search.stdout);
    assert!(text.contains("* SEARCH 3"), "{text}");
}

#[test]
fn an_idling_client_sees_an_lmtp_delivery() {
    let store = Store::start();
    store.swaks(&format!("alice@{DOMAIN}"), "before idle", "one");
    let r = store.python(
        r#"
m = connect()
m.select('INBOX')
tag = m._new_tag().decode()
m.send((tag + ' IDLE\r\n').encode())
R['continuation'] = line(m)
t_start = time.time()
lmtp('alice@example.test', b'Subject: during idle\r\nFrom: sender@example.net\r\n\r\nnew mail\r\n')
t_250 = time.time()
m.sock.settimeout(10)
pushed = line(m)
t_exists = time.time()
R['pushed'] = pushed
R['latency'] = t_exists - t_250
R['since_start'] = t_exists - t_start
print('IDLE: EXISTS %.3f s after the LMTP 250 (%.3f s after the LMTP transaction began)' % (R['latency'], R['since_start']))
m.send(b'DONE\r\n')
rest = []
while True:
    l = line(m)
    rest.append(l)
    if l.startswith(tag + ' '):
        break
R['done'] = rest
R['fetch'] = raw(m, 'FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
m.logout()
"#,
    );
    has(&r, "continuation", "+");
    assert_eq!(s(&r["pushed"]), "* 2 EXISTS");
    let latency = r["latency"].as_f64().expect("latency");
    println!("IDLE push latency after the LMTP 250: {latency:.3} s");
    assert!(latency < 5.0, "IDLE push took {latency} s");
    has(&r, "done", "OK");
    has(&r, "fetch", "Subject: during idle");
}

#[test]
fn flag_changes_reach_other_sessions_with_modseq_rising() {
    let store = Store::start();
    for i in 1..=3 {
        store.swaks(&format!("alice@{DOMAIN}"), &format!("m{i}"), "x");
    }
    let r = store.python(
        r#"
a = connect()
b = connect()
c = connect()
R['enable'] = raw(a, 'ENABLE CONDSTORE')
sel = raw(a, 'SELECT INBOX')
h0 = highest(sel)
R['h0'] = h0
R['b_select'] = raw(b, 'SELECT INBOX (CONDSTORE)')
m1_before = modseq(raw(a, 'FETCH 1 (MODSEQ)')[0])

# On NOOP.
R['b_store'] = raw(b, 'STORE 1 +FLAGS (\\Flagged)')
R['a_noop'] = raw(a, 'NOOP')
R['m1_before'] = m1_before
h1 = highest(raw(c, 'STATUS INBOX (HIGHESTMODSEQ)'))
R['h1'] = h1

# During IDLE.
tag = a._new_tag().decode()
a.send((tag + ' IDLE\r\n').encode())
R['idle_cont'] = line(a)
t0 = time.time()
raw(b, 'STORE 2 +FLAGS ($Important)')
a.sock.settimeout(10)
# A keyword new to the mailbox is announced first (RFC 3501 7.2.6).
R['idle_flags'] = line(a)
R['idle_permanent'] = line(a)
R['idle_pushed'] = line(a)
R['idle_latency'] = time.time() - t0
print('IDLE: FETCH FLAGS %.3f s after the other session\'s STORE' % R['idle_latency'])
a.send(b'DONE\r\n')
rest = []
while True:
    l = line(a)
    rest.append(l)
    if l.startswith(tag + ' '):
        break
R['idle_done'] = rest
R['h2'] = highest(raw(c, 'STATUS INBOX (HIGHESTMODSEQ)'))
R['changedsince'] = raw(a, 'FETCH 1:* (FLAGS) (CHANGEDSINCE %d)' % h0)
R['reselect'] = highest(raw(a, 'SELECT INBOX'))
# A session without CONDSTORE gets the flags, without MODSEQ.
raw(b, 'STORE 3 +FLAGS (\\Seen)')
R['c_examine'] = raw(c, 'EXAMINE INBOX')
raw(b, 'STORE 3 -FLAGS (\\Seen)')
R['c_noop'] = raw(c, 'NOOP')
for x in (a, b, c):
    x.logout()
"#,
    );
    let m1_before = r["m1_before"].as_u64().expect("modseq");
    let (h0, h1, h2) = (
        r["h0"].as_u64().expect("h0"),
        r["h1"].as_u64().expect("h1"),
        r["h2"].as_u64().expect("h2"),
    );
    has(&r, "enable", "* ENABLED CONDSTORE");
    has(&r, "b_select", "[HIGHESTMODSEQ ");
    let noop = s(&r["a_noop"]);
    let pushed = noop
        .lines()
        .find(|l| l.starts_with("* 1 FETCH"))
        .unwrap_or_else(|| panic!("no FETCH pushed on NOOP: {noop}"));
    assert!(pushed.contains("\\Flagged"), "{pushed}");
    let m1 = modseq_of(pushed);
    assert!(
        m1 > m1_before && m1 > h0,
        "MODSEQ rose: {m1_before} -> {m1} (HIGHESTMODSEQ was {h0})"
    );
    assert!(h1 > h0, "HIGHESTMODSEQ {h0} -> {h1}");
    assert!(h1 >= m1, "HIGHESTMODSEQ {h1} covers {m1}");
    has(&r, "idle_cont", "+");
    has(&r, "idle_flags", "* FLAGS (");
    has(&r, "idle_flags", "$Important");
    has(&r, "idle_permanent", "* OK [PERMANENTFLAGS (");
    let idle = s(&r["idle_pushed"]);
    assert!(
        idle.starts_with("* 2 FETCH") && idle.contains("$Important"),
        "{idle}"
    );
    assert!(modseq_of(&idle) > h1, "{idle} after {h1}");
    let latency = r["idle_latency"].as_f64().expect("latency");
    assert!(latency < 5.0, "IDLE flag push took {latency} s");
    has(&r, "idle_done", "OK");
    assert!(h2 > h1, "HIGHESTMODSEQ {h1} -> {h2}");
    let changed = s(&r["changedsince"]);
    assert!(
        changed.contains("* 1 FETCH")
            && changed.contains("* 2 FETCH")
            && !changed.contains("* 3 FETCH"),
        "CHANGEDSINCE {h0}: {changed}"
    );
    assert_eq!(r["reselect"].as_u64(), Some(h2));
    let c_noop = s(&r["c_noop"]);
    let line = c_noop
        .lines()
        .find(|l| l.starts_with("* 3 FETCH"))
        .unwrap_or_else(|| panic!("no FETCH pushed to the EXAMINE session: {c_noop}"));
    assert!(!line.contains("\\Seen"), "{line}");
}

fn modseq_of(line: &str) -> u64 {
    let i = line
        .find("MODSEQ (")
        .unwrap_or_else(|| panic!("MODSEQ in {line}"))
        + 8;
    line[i..]
        .split(')')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("MODSEQ in {line}"))
}

#[test]
fn a_burst_of_changes_during_idle_is_reported_in_full() {
    let store = Store::start();
    let r = store.python(
        r#"
N = 40
a = connect()
b = connect()
for i in range(N):
    b.append('INBOX', None, None, ('Subject: burst %d\r\n\r\nx\r\n' % i).encode())
a.select('INBOX')
b.select('INBOX')
tag = a._new_tag().decode()
a.send((tag + ' IDLE\r\n').encode())
R['cont'] = line(a)
# N flag changes, pipelined: each is its own commit and notification.
tags = []
for i in range(1, N + 1):
    t = b._new_tag().decode()
    tags.append(t)
    b.send(('%s STORE %d +FLAGS.SILENT ($Burst)\r\n' % (t, i)).encode())
while tags:
    l = line(b)
    if l.startswith(tags[0] + ' '):
        assert ' OK' in l, l
        tags.pop(0)
t_done = time.time()
seen = set()
# A timeout leaves imaplib's buffer unusable: the session is dropped then.
timed_out = False
while len(seen) < N:
    a.sock.settimeout(max(0.01, t_done + 5 - time.time()))
    try:
        l = line(a)
    except (TimeoutError, OSError):
        timed_out = True
        break
    mo = re.match(r'\* (\d+) FETCH .*\$Burst', l)
    if mo:
        seen.add(int(mo.group(1)))
R['seen'] = len(seen)
R['wait'] = time.time() - t_done
if not timed_out:
    a.sock.settimeout(10)
    a.send(b'DONE\r\n')
    while not line(a).startswith(tag + ' '):
        pass
    a.logout()
b.logout()
"#,
    );
    has(&r, "cont", "+");
    let seen = r["seen"].as_u64().expect("seen");
    assert_eq!(
        seen, 40,
        "every change pushed during IDLE within 5 s of the last STORE (waited {} s)",
        r["wait"]
    );
}
