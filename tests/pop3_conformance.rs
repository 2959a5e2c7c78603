//! POP3 rules from RFC 1939, RFC 2449 and RFC 5034 (with RFC 2595 STLS
//! and RFC 3206 response codes), each tested strictly on the `mailstore`
//! binary over raw sockets (Python `socket`/`ssl`, on the POP3S port and
//! the STLS port): every reply line a rule fixes, exactly. One test per
//! rule family, named after it, the RFC section in its comment.

mod common;

use common::imap_env::{DOMAIN, Store, has, lacks, s};

/// Python helpers: `pop(tls=True)` connects (POP3S, or the plain STLS
/// port) and reads the greeting; `c.cmd(line)` sends one line and returns
/// the status line; `c.multi()` reads a multi-line body as raw lines
/// (still byte-stuffed) up to the lone `.`; `login(c, user)` USER/PASS;
/// `lmtp(to, msg)` delivers.
const POP: &str = r#"
import socket, ssl, smtplib, base64, re, json, time
R = {}

def context():
    c = ssl.create_default_context(cafile=CA)
    c.check_hostname = False
    return c

class Pop:
    def __init__(self, tls):
        s = socket.create_connection((HOST, POP3S_PORT if tls else POP3_PORT), timeout=10)
        if tls:
            s = context().wrap_socket(s, server_hostname='localhost')
        self.s = s
        self.f = s.makefile('rb')
        self.greeting = self.line()
    def rawline(self):
        l = self.f.readline()
        if not l:
            raise EOFError('connection closed')
        if not l.endswith(b'\r\n'):
            raise AssertionError('line without CRLF: %r' % l)
        return l[:-2]
    def line(self):
        return self.rawline().decode('latin-1')
    def send(self, data):
        self.s.sendall(data)
    def cmd(self, c):
        self.send(c.encode() + b'\r\n')
        return self.line()
    def multi(self):
        out = []
        while True:
            l = self.rawline()
            if l == b'.':
                return out
            out.append(l)
    def closed(self):
        try:
            return self.f.readline() == b''
        except OSError:
            return True

def pop(tls=True):
    return Pop(tls)

def login(c, user='alice'):
    assert c.cmd('USER ' + user).startswith('+OK')
    r = c.cmd('PASS ' + user + '-pw')
    assert r.startswith('+OK'), r
    return r

def unstuff(lines):
    return b''.join((l[1:] if l.startswith(b'.') else l) + b'\r\n' for l in lines)

def lmtp(to, msg):
    l = smtplib.LMTP(HOST, LMTP_PORT, timeout=10)
    refused = l.sendmail('sender@example.net', [to], msg)
    l.quit()
    assert refused == {}, refused
"#;

fn run(store: &Store, body: &str) -> serde_json::Value {
    let script = format!(
        "{}{POP}\n{body}\nprint(json.dumps(R))\n",
        store.python_constants()
    );
    let out = common::python3(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}\n--- mailstore log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        store.svc.log_text()
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Three messages for alice: the second has lines that start with `.`
/// (one is a lone `.`), the third a longer body for TOP.
const MAIL: &str = r#"
M1 = b'From: a@example.net\r\nTo: alice@example.test\r\nSubject: one\r\n\r\nfirst body\r\n'
M2 = (b'From: a@example.net\r\nTo: alice@example.test\r\nSubject: dots\r\n\r\n'
      b'.leading dot\r\n..two dots\r\n.\r\nafter lone dot\r\n')
M3 = (b'From: a@example.net\r\nTo: alice@example.test\r\nSubject: three\r\nX-Long: yes\r\n\r\n'
      + b''.join(b'line %d\r\n' % i for i in range(1, 11)))
for m in (M1, M2, M3):
    lmtp('alice@example.test', m)
"#;

/// RFC 1939 4 and 7 (APOP is optional, and announced only by a timestamp
/// in the greeting), RFC 1939 3 (keywords case-insensitive, `-ERR` for
/// unknown or wrong-state commands), RFC 1939 4 QUIT in AUTHORIZATION.
#[test]
fn greeting_states_and_no_apop_rfc1939() {
    let store = Store::start();
    let r = run(
        &store,
        r#"
c = pop()
R['greeting'] = c.greeting
R['apop'] = c.cmd('APOP alice c4c9334bac560ecc979e58001b3e22fb')
R['stat_early'] = c.cmd('STAT')
R['retr_early'] = c.cmd('RETR 1')
R['noop_early'] = c.cmd('NOOP')
R['pass_first'] = c.cmd('PASS x')
R['lower'] = c.cmd('user alice')
R['pass'] = c.cmd('pass alice-pw')
R['stat'] = c.cmd('sTaT')
R['user_again'] = c.cmd('USER alice')
R['unknown'] = c.cmd('XYZZY')
R['noop'] = c.cmd('NOOP')
R['quit'] = c.cmd('QUIT')
R['closed'] = c.closed()
d = pop()
R['quit_auth'] = d.cmd('QUIT')
R['closed_auth'] = d.closed()
"#,
    );
    let greeting = s(&r["greeting"]);
    assert!(greeting.starts_with("+OK "), "{greeting}");
    assert!(
        !greeting.contains('<'),
        "a <timestamp> would announce APOP: {greeting}"
    );
    for key in [
        "apop",
        "stat_early",
        "retr_early",
        "noop_early",
        "pass_first",
        "user_again",
        "unknown",
    ] {
        assert!(s(&r[key]).starts_with("-ERR"), "{key}: {}", s(&r[key]));
    }
    has(&r, "lower", "+OK");
    has(&r, "pass", "+OK");
    assert_eq!(r["stat"], "+OK 0 0");
    has(&r, "noop", "+OK");
    has(&r, "quit", "+OK");
    assert_eq!(r["closed"], true);
    has(&r, "quit_auth", "+OK");
    assert_eq!(r["closed_auth"], true);
}

/// RFC 2449 5 and 6 (CAPA in both states, the capabilities and their
/// arguments), RFC 2595 4 (STLS only before TLS), RFC 3206 (AUTH-RESP-CODE),
/// RFC 5034 3 (SASL with the mechanisms).
#[test]
fn capa_lists_what_each_state_allows_rfc2449() {
    let store = Store::start();
    let r = run(
        &store,
        r#"
def capa(c):
    first = c.cmd('CAPA')
    return [first] + [l.decode() for l in c.multi()]
p = pop(False)
R['plain'] = capa(p)
R['stls'] = p.cmd('STLS')
p.s = context().wrap_socket(p.s, server_hostname='localhost')
p.f = p.s.makefile('rb')
R['after_stls'] = capa(p)
c = pop()
R['tls'] = capa(c)
login(c)
R['transaction'] = capa(c)
R['stls_in_transaction'] = c.cmd('STLS')
"#,
    );
    let caps = |key: &str| -> Vec<String> {
        let v: Vec<String> = serde_json::from_value(r[key].clone()).expect("lines");
        assert!(v[0].starts_with("+OK"), "{key}: {v:?}");
        v[1..].to_vec()
    };
    let plain = caps("plain");
    for c in [
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "STLS",
    ] {
        assert!(plain.iter().any(|l| l == c), "{c} in {plain:?}");
    }
    assert!(
        plain.iter().any(|l| l.starts_with("IMPLEMENTATION ")),
        "{plain:?}"
    );
    assert!(plain.iter().any(|l| l.starts_with("EXPIRE ")), "{plain:?}");
    // Without TLS, no way to send a password is offered.
    assert!(
        !plain.iter().any(|l| l == "USER" || l.starts_with("SASL")),
        "{plain:?}"
    );
    has(&r, "stls", "+OK");
    for key in ["after_stls", "tls"] {
        let c = caps(key);
        assert!(c.iter().any(|l| l == "USER"), "{key}: {c:?}");
        assert!(c.iter().any(|l| l == "SASL PLAIN LOGIN"), "{key}: {c:?}");
        assert!(!c.iter().any(|l| l == "STLS"), "{key}: {c:?}");
    }
    let t = caps("transaction");
    assert!(
        t.iter().any(|l| l == "TOP") && t.iter().any(|l| l == "UIDL"),
        "{t:?}"
    );
    assert!(!t.iter().any(|l| l == "STLS"), "{t:?}");
    for l in plain.iter().chain(&t) {
        assert!(l.len() + 2 <= 512, "RFC 2449 4: {l}");
    }
    assert!(s(&r["stls_in_transaction"]).starts_with("-ERR"));
}

/// RFC 1939 5: STAT is `+OK nn mm` exactly; LIST gives each message's
/// exact size (what RETR sends, before byte-stuffing), one or all; RETR
/// sends the message byte-stuffed (RFC 1939 3: a line starting with `.`
/// gets another `.`, the lone `.` ends the response); RFC 1939 7: TOP
/// with 0 lines is the header and the blank line, with n the n first body
/// lines, with more lines than the body the whole message.
#[test]
fn stat_list_retr_top_and_byte_stuffing_rfc1939() {
    let store = Store::start();
    let r = run(
        &store,
        &format!(
            r#"{MAIL}
c = pop(); login(c)
R['stat'] = c.cmd('STAT')
R['list'] = c.cmd('LIST'); R['list_body'] = [l.decode() for l in c.multi()]
R['list2'] = c.cmd('LIST 2')
sizes = {{}}
R['retr_status'] = {{}}
for n in (1, 2, 3):
    R['retr_status'][n] = c.cmd('RETR %d' % n)
    body = c.multi()
    sizes[n] = len(unstuff(body))
    if n == 2:
        R['retr2_wire'] = [l.decode() for l in body]
        R['retr2_equal'] = unstuff(body) == M2
R['sizes'] = sizes
R['top0'] = c.cmd('TOP 3 0'); R['top0_body'] = [l.decode() for l in c.multi()]
R['top2'] = c.cmd('TOP 3 2'); R['top2_body'] = [l.decode() for l in c.multi()]
R['top_all'] = c.cmd('TOP 3 100'); R['top_all_equal'] = unstuff(c.multi()) == M3
R['top_dots'] = c.cmd('TOP 2 2'); R['top_dots_body'] = [l.decode() for l in c.multi()]
R['top_negative'] = c.cmd('TOP 1 -1')
R['top_plus'] = c.cmd('TOP 1 +1')
R['top_missing'] = c.cmd('TOP 1')
R['noop'] = c.cmd('NOOP')
c.cmd('QUIT')
"#
        ),
    );
    let stat = s(&r["stat"]);
    let re_ok = stat.starts_with("+OK 3 ") && stat.split(' ').count() == 3;
    assert!(re_ok, "STAT: {stat}");
    let list_body: Vec<String> = serde_json::from_value(r["list_body"].clone()).expect("list");
    assert_eq!(list_body.len(), 3, "{list_body:?}");
    let total: u64 = stat
        .split(' ')
        .nth(2)
        .and_then(|n| n.parse().ok())
        .expect("size");
    let mut sum = 0;
    for (i, l) in list_body.iter().enumerate() {
        let (n, size) = l.split_once(' ').expect("n size");
        assert_eq!(n, (i + 1).to_string());
        let size: u64 = size.parse().expect("size");
        assert_eq!(
            r["sizes"][(i + 1).to_string()].as_u64(),
            Some(size),
            "LIST size is the retrieved size: {l}"
        );
        sum += size;
        assert_eq!(
            s(&r["retr_status"][(i + 1).to_string()]),
            format!("+OK {size} octets")
        );
    }
    assert_eq!(sum, total);
    assert_eq!(
        s(&r["list2"]),
        format!("+OK 2 {}", r["sizes"]["2"].as_u64().expect("size"))
    );
    let wire: Vec<String> = serde_json::from_value(r["retr2_wire"].clone()).expect("wire");
    let body_at = wire.iter().position(String::is_empty).expect("blank line") + 1;
    assert_eq!(
        wire[body_at..],
        ["..leading dot", "...two dots", "..", "after lone dot"],
        "{wire:?}"
    );
    assert_eq!(r["retr2_equal"], true);
    has(&r, "top0", "+OK");
    let top0: Vec<String> = serde_json::from_value(r["top0_body"].clone()).expect("top0");
    assert_eq!(top0.last().map(String::as_str), Some(""), "{top0:?}");
    assert!(top0.iter().any(|l| l == "Subject: three"), "{top0:?}");
    assert_eq!(top0.iter().filter(|l| l.is_empty()).count(), 1, "{top0:?}");
    let top2: Vec<String> = serde_json::from_value(r["top2_body"].clone()).expect("top2");
    assert_eq!(top2[top2.len() - 3..], ["", "line 1", "line 2"], "{top2:?}");
    assert_eq!(r["top_all_equal"], true);
    let dots: Vec<String> = serde_json::from_value(r["top_dots_body"].clone()).expect("dots");
    assert_eq!(
        dots[dots.len() - 2..],
        ["..leading dot", "...two dots"],
        "{dots:?}"
    );
    for key in ["top_negative", "top_plus", "top_missing"] {
        assert!(s(&r[key]).starts_with("-ERR"), "{key}");
    }
    has(&r, "noop", "+OK");
}

/// RFC 1939 5: a message number that does not exist, or names a message
/// marked as deleted, gets `-ERR` for RETR, TOP, LIST, UIDL and DELE, and
/// the session goes on; DELE marks, RSET unmarks everything, only QUIT
/// (UPDATE, RFC 1939 6) removes, and a dropped connection removes nothing.
#[test]
fn message_numbers_dele_rset_and_update_rfc1939() {
    let store = Store::start();
    let r = run(
        &store,
        &format!(
            r#"{MAIL}
c = pop(); login(c)
R['out_of_range'] = [c.cmd(x) for x in ('RETR 4', 'TOP 4 0', 'LIST 4', 'UIDL 4', 'DELE 4',
                                         'RETR 0', 'LIST 0', 'RETR 4294967296', 'DELE -1')]
R['dele'] = c.cmd('DELE 1')
R['dele_again'] = c.cmd('DELE 1')
R['deleted_refs'] = [c.cmd(x) for x in ('RETR 1', 'TOP 1 0', 'LIST 1', 'UIDL 1')]
R['stat_after_dele'] = c.cmd('STAT')
c.cmd('LIST'); R['list_after_dele'] = [l.decode() for l in c.multi()]
c.cmd('UIDL'); R['uidl_after_dele'] = [l.decode().split()[0] for l in c.multi()]
R['rset'] = c.cmd('RSET')
R['stat_after_rset'] = c.cmd('STAT')
R['list1_after_rset'] = c.cmd('LIST 1')
R['quit'] = c.cmd('QUIT')
d = pop(); login(d)
R['stat_next'] = d.cmd('STAT')
d.cmd('DELE 2')
d.s.shutdown(socket.SHUT_RDWR); d.f.close(); d.s.close()
time.sleep(0.2)
e = None
for _ in range(50):
    e = pop()
    e.cmd('USER alice')
    r = e.cmd('PASS alice-pw')
    if r.startswith('+OK'):
        break
    e.s.shutdown(socket.SHUT_RDWR); e.f.close(); e.s.close(); time.sleep(0.1)
R['stat_after_drop'] = e.cmd('STAT')
e.cmd('DELE 2')
R['quit_update'] = e.cmd('QUIT')
f = pop(); login(f)
R['stat_after_update'] = f.cmd('STAT')
f.cmd('QUIT')
"#
        ),
    );
    for l in s(&r["out_of_range"]).lines() {
        assert!(l.starts_with("-ERR"), "{l}");
    }
    assert_eq!(r["dele"], "+OK Message 1 deleted");
    assert!(s(&r["dele_again"]).starts_with("-ERR"));
    for l in s(&r["deleted_refs"]).lines() {
        assert!(l.starts_with("-ERR"), "{l}");
    }
    has(&r, "stat_after_dele", "+OK 2 ");
    let list: Vec<String> = serde_json::from_value(r["list_after_dele"].clone()).expect("list");
    assert_eq!(
        list.iter()
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["2", "3"],
        "message numbers do not shift: {list:?}"
    );
    assert_eq!(r["uidl_after_dele"], serde_json::json!(["2", "3"]));
    has(&r, "rset", "+OK");
    has(&r, "stat_after_rset", "+OK 3 ");
    has(&r, "list1_after_rset", "+OK 1 ");
    has(&r, "quit", "+OK");
    has(&r, "stat_next", "+OK 3 ");
    has(&r, "stat_after_drop", "+OK 3 ");
    has(&r, "quit_update", "+OK");
    has(&r, "stat_after_update", "+OK 2 ");
}

/// RFC 1939 7 UIDL: each unique-id is 1 to 70 characters in 0x21..0x7E,
/// unique in the maildrop, the same in every session, kept by a message
/// when others are deleted, and never given to a new message.
#[test]
fn uidl_is_unique_and_stable_rfc1939() {
    let store = Store::start();
    let r = run(
        &store,
        &format!(
            r#"{MAIL}
def uidl(c):
    c.cmd('UIDL')
    return dict(l.decode().split(' ', 1) for l in c.multi())
c = pop(); login(c)
R['first'] = uidl(c)
R['one'] = c.cmd('UIDL 2')
c.cmd('QUIT')
c = pop(); login(c)
R['second'] = uidl(c)
c.cmd('DELE 1'); c.cmd('QUIT')
lmtp('alice@example.test', M1)
c = pop(); login(c)
R['third'] = uidl(c)
c.cmd('QUIT')
"#
        ),
    );
    let first = r["first"].as_object().expect("uidl");
    assert_eq!(first.len(), 3);
    let ids: Vec<&str> = first.values().filter_map(|v| v.as_str()).collect();
    for id in &ids {
        assert!(
            (1..=70).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "{id}"
        );
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{ids:?}");
    assert_eq!(
        s(&r["one"]),
        format!("+OK 2 {}", first["2"].as_str().expect("id"))
    );
    assert_eq!(r["first"], r["second"], "stable across sessions");
    let third = r["third"].as_object().expect("uidl");
    assert_eq!(third["1"], first["2"], "kept after a deletion");
    assert_eq!(third["2"], first["3"]);
    let new = third["3"].as_str().expect("new id");
    assert!(!ids.contains(&new), "a new message gets a new id: {new}");
}

/// RFC 5034 4: AUTH with an initial response, `=` for an empty one (not
/// a request for a challenge), the `+ ` challenge without one, `*`
/// cancelling with `-ERR` and the session still in AUTHORIZATION,
/// invalid base64 and unknown mechanisms refused; RFC 3206 5: a refused
/// login is `-ERR [AUTH]`; RFC 2449 8.1.1: a second session on a locked
/// maildrop gets `-ERR [IN-USE]`; RFC 2449 6.6: pipelined commands are
/// answered in order.
#[test]
fn auth_sasl_response_codes_and_pipelining_rfc5034() {
    let store = Store::start();
    let r = run(
        &store,
        &format!(
            r#"{MAIL}
b64 = lambda b: base64.b64encode(b).decode()
c = pop()
R['unknown_mech'] = c.cmd('AUTH CRAM-MD5')
R['empty_ir'] = c.cmd('AUTH PLAIN =')
R['bad_b64'] = c.cmd('AUTH PLAIN !!!!')
R['challenge'] = c.cmd('AUTH PLAIN')
R['cancel'] = c.cmd('*')
R['login_challenge'] = c.cmd('AUTH LOGIN')
R['login_user'] = c.cmd(b64(b'alice'))
R['login_cancel'] = c.cmd('*')
R['wrong'] = c.cmd('AUTH PLAIN ' + b64(b'\0alice\0wrong'))
R['ir'] = c.cmd('AUTH PLAIN ' + b64(b'\0alice\0alice-pw'))
R['stat'] = c.cmd('STAT')
d = pop()
R['in_use'] = d.cmd('AUTH PLAIN ' + b64(b'\0alice\0alice-pw'))
R['quit'] = c.cmd('QUIT')
e = pop()
R['two_step'] = e.cmd('AUTH PLAIN')
R['two_step_ok'] = e.cmd(b64(b'\0alice\0alice-pw'))
e.send(b'STAT\r\nLIST 1\r\nUIDL 1\r\nRETR 9\r\nNOOP\r\nQUIT\r\n')
R['pipelined'] = [e.line() for _ in range(6)]
"#
        ),
    );
    for key in [
        "unknown_mech",
        "empty_ir",
        "bad_b64",
        "cancel",
        "login_cancel",
    ] {
        assert!(s(&r[key]).starts_with("-ERR"), "{key}: {}", s(&r[key]));
    }
    assert_eq!(r["challenge"], "+ ");
    assert_eq!(r["login_challenge"], "+ VXNlcm5hbWU6");
    assert_eq!(r["login_user"], "+ UGFzc3dvcmQ6");
    assert!(
        s(&r["wrong"]).starts_with("-ERR [AUTH] "),
        "{}",
        s(&r["wrong"])
    );
    has(&r, "ir", "+OK");
    has(&r, "stat", "+OK 3 ");
    assert!(
        s(&r["in_use"]).starts_with("-ERR [IN-USE] "),
        "{}",
        s(&r["in_use"])
    );
    has(&r, "two_step", "+ ");
    has(&r, "two_step_ok", "+OK");
    let p: Vec<String> = serde_json::from_value(r["pipelined"].clone()).expect("lines");
    assert!(p[0].starts_with("+OK 3 "), "{p:?}");
    assert!(p[1].starts_with("+OK 1 "), "{p:?}");
    assert!(p[2].starts_with("+OK 1 "), "{p:?}");
    assert!(p[3].starts_with("-ERR"), "{p:?}");
    assert!(p[4].starts_with("+OK"), "{p:?}");
    assert!(p[5].starts_with("+OK"), "{p:?}");
    lacks(&r, "pipelined", "octets");
    let _ = DOMAIN;
}
