//! The MMP (issue 12) end to end, every part a real process: two
//! `mailstore`s on their own loopback addresses with users spread by
//! `mailHost`, `mmp` in front (once with the file directory, once with a
//! real `slapd`, the same routing from both), and real clients through it:
//! Python's imaplib and poplib, `curl imap://` and `pop3://`, `mbsync`.
//! Each user lands on their own store only; a store that dies makes only
//! its own users wait; bad input gets the exact protocol reply.

mod common;
mod mmp_env;

use std::time::{Duration, Instant};

use base64::Engine;
use common::Service;
use mail_testkit::Slapd;
use mmp_env::wire::{Wire, last};
use mmp_env::{
    SECRET, STORE_A, STORE_B, Store, World, eventually, ip, ldap_directory_section, password,
    python_json, run, start_mmp, table,
};

/// Two stores, a slapd and two MMPs (file directory at 127.0.0.4, LDAP at
/// 127.0.0.5).
struct Front {
    world: World,
    a: Store,
    b: Store,
    _slapd: Slapd,
    mmp_file: Service,
    mmp_ldap: Service,
}

impl Front {
    fn start() -> Self {
        let world = World::new();
        let a = Store::start(&world, STORE_A, ip(2), None);
        let b = Store::start(&world, STORE_B, ip(3), None);
        let slapd = world.slapd();
        let mmp_file = start_mmp(
            &world,
            ip(4),
            &world.file_directory_section(),
            &table(&a, &b),
            "",
        );
        let mmp_ldap = start_mmp(
            &world,
            ip(5),
            &ldap_directory_section(&slapd),
            &table(&a, &b),
            "",
        );
        Self {
            world,
            a,
            b,
            _slapd: slapd,
            mmp_file,
            mmp_ldap,
        }
    }

    fn ca(&self) -> String {
        self.world.ca.display().to_string()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Logs in through `mmp` with imaplib (STARTTLS) and returns, per user,
/// the INBOX subjects or the error text.
fn imaplib_subjects(mmp: &Service, ca: &str, users: &[&str]) -> serde_json::Value {
    let addr = mmp.port("imap");
    python_json(&format!(
        r#"
import imaplib, ssl, json
ctx = ssl.create_default_context(cafile={ca:?})
out = {{}}
for user in {users:?}:
    try:
        m = imaplib.IMAP4({host:?}, {port})
        assert 'LOGINDISABLED' in m.capabilities, m.capabilities
        m.starttls(ssl_context=ctx)
        m.login(user, user + '-pw')
        typ, data = m.select('INBOX')
        subjects = []
        if int(data[0]) > 0:
            typ, data = m.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
            subjects = sorted(x[1].decode().strip() for x in data if isinstance(x, tuple))
        m.logout()
        out[user] = subjects
    except Exception as e:
        out[user] = 'error: ' + str(e)
print(json.dumps(out))
"#,
        host = addr.ip().to_string(),
        port = addr.port(),
    ))
}

/// The same with poplib (STLS, USER/PASS, RETR).
fn poplib_subjects(mmp: &Service, ca: &str, users: &[&str]) -> serde_json::Value {
    let addr = mmp.port("pop3");
    python_json(&format!(
        r#"
import poplib, ssl, json
ctx = ssl.create_default_context(cafile={ca:?})
out = {{}}
for user in {users:?}:
    try:
        p = poplib.POP3({host:?}, {port})
        p.stls(context=ctx)
        p.user(user)
        p.pass_(user + '-pw')
        n = p.stat()[0]
        subjects = []
        for i in range(1, n + 1):
            lines = p.retr(i)[1]
            subjects += [l.decode() for l in lines if l.startswith(b'Subject: ')]
        p.quit()
        out[user] = sorted(subjects)
    except Exception as e:
        out[user] = 'error: ' + str(e)
print(json.dumps(out))
"#,
        host = addr.ip().to_string(),
        port = addr.port(),
    ))
}

fn subjects(list: &[&str]) -> serde_json::Value {
    serde_json::json!(
        list.iter()
            .map(|s| format!("Subject: {s}"))
            .collect::<Vec<_>>()
    )
}

#[test]
fn each_user_lands_on_their_own_store_through_file_and_ldap_directories() {
    let f = Front::start();
    f.a.deliver("alice@example.test", "for alice on store-a");
    f.a.deliver("carol@example.test", "for carol on store-a");
    f.b.deliver("bob@example.test", "for bob on store-b");
    f.b.deliver("dave@example.test", "for dave on store-b");
    // A store refuses mail for another store's user: nothing can land in
    // the wrong place to be seen later.
    let lmtp_a = format!("{}:{}", f.a.ip, f.a.ports.lmtp);
    let out = common::swaks_lmtp(&lmtp_a, "bob@example.test", "misrouted", "x");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("<** 4"), "store-a took bob's mail: {text}");

    let users = ["alice", "carol", "bob", "dave"];
    let expected = serde_json::json!({
        "alice": subjects(&["for alice on store-a"]),
        "carol": subjects(&["for carol on store-a"]),
        "bob": subjects(&["for bob on store-b"]),
        "dave": subjects(&["for dave on store-b"]),
    });
    for mmp in [&f.mmp_file, &f.mmp_ldap] {
        assert_eq!(
            imaplib_subjects(mmp, &f.ca(), &users),
            expected,
            "{}",
            mmp.log_text()
        );
        assert_eq!(
            poplib_subjects(mmp, &f.ca(), &users),
            expected,
            "{}",
            mmp.log_text()
        );
    }

    // curl, both protocols, through the LDAP-backed MMP.
    let imap = f.mmp_ldap.port("imap");
    let (ok, text) = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            &f.ca(),
            "-u",
            "bob:bob-pw",
            &format!("imap://{imap}/INBOX;UID=1"),
        ],
    );
    assert!(ok && text.contains("Subject: for bob on store-b"), "{text}");
    let pop3 = f.mmp_file.port("pop3");
    let (ok, text) = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            &f.ca(),
            "-u",
            "alice@example.test:alice-pw",
            &format!("pop3://{pop3}/1"),
        ],
    );
    assert!(
        ok && text.contains("Subject: for alice on store-a"),
        "{text}"
    );

    // The stores saw the client's address (127.0.0.1), passed by the
    // proxy from 127.0.0.10, and each only its own users.
    let log_a = f.a.svc.log_text();
    let log_b = f.b.svc.log_text();
    assert!(
        log_a.contains("client address from proxy client=127.0.0.1:"),
        "{log_a}"
    );
    assert!(
        log_b.contains("client address from proxy client=127.0.0.1:"),
        "{log_b}"
    );
    assert!(log_a.contains("logged in user=alice"), "{log_a}");
    assert!(
        !log_a.contains("user=bob") && !log_a.contains("user=dave"),
        "{log_a}"
    );
    assert!(
        !log_b.contains("user=alice") && !log_b.contains("user=carol"),
        "{log_b}"
    );
    // The MMP's span names the user and the store.
    let mlog = f.mmp_file.log_text();
    assert!(
        mlog.contains("user=\"alice\" store=\"store-a.example.test\""),
        "{mlog}"
    );
    assert!(
        mlog.contains("user=\"bob\" store=\"store-b.example.test\""),
        "{mlog}"
    );

    // Metrics: logins by result, store latency, bytes relayed.
    let (status, metrics) =
        common::http_get(f.mmp_file.port("admin"), "/metrics").expect("metrics");
    assert_eq!(status, 200);
    for needle in [
        "mmp_logins_total{",
        "result=\"success\"",
        "mmp_backend_connect_duration_seconds_bucket{",
        "store=\"store-a.example.test\"",
        "store=\"store-b.example.test\"",
        "mmp_relayed_bytes_total{",
        "direction=\"to_client\"",
        "mmp_connections_total{",
    ] {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }
}

#[test]
fn a_store_refuses_direct_logins_of_another_stores_users() {
    let world = World::new();
    let a = Store::start(&world, STORE_A, ip(2), None);
    let addr = std::net::SocketAddr::new(a.ip, a.ports.imap);
    let mut w = Wire::plain(addr);
    assert!(w.line().starts_with("* OK [CAPABILITY "));
    assert_eq!(
        last(&w.cmd("t", "STARTTLS")),
        "t OK Begin TLS negotiation now"
    );
    w.upgrade(&world.ca, STORE_A);
    let caps = w.cmd("c", "CAPABILITY");
    assert!(caps[0].contains(" LOGIN-REFERRALS"), "{caps:?}");
    assert_eq!(
        last(&w.cmd("a", "LOGIN bob bob-pw")),
        "a NO This account is served by another server"
    );
    assert_eq!(
        last(&w.cmd("i", "ID (\"x-login-referrals\" \"1\")")),
        "i OK ID completed"
    );
    assert_eq!(
        last(&w.cmd("b", "LOGIN bob bob-pw")),
        "b NO [REFERRAL imap://bob;AUTH=*@store-b.example.test/] This account is served by another server"
    );
    // The proxy credential from an untrusted address (127.0.0.1, not
    // 127.0.0.10): an ordinary failed login.
    let ir = b64(&format!("alice\0mmp\0{SECRET}"));
    assert_eq!(
        last(&w.cmd("p", &format!("AUTHENTICATE PLAIN {ir}"))),
        "p NO [AUTHENTICATIONFAILED] Authentication failed"
    );
    // A client address in ID from there is not believed.
    w.cmd("j", "ID (\"x-originating-ip\" \"192.0.2.99\")");
    let ok = w.cmd("l", "LOGIN alice alice-pw");
    assert!(
        last(&ok).starts_with("l OK [CAPABILITY IMAP4rev1 "),
        "{ok:?}"
    );
    let log = a.svc.log_text();
    assert!(
        log.contains("x-originating-ip from an untrusted address ignored"),
        "{log}"
    );
    assert!(!log.contains("192.0.2.99"), "{log}");
    // POP: a plain -ERR.
    let mut p = Wire::plain(std::net::SocketAddr::new(a.ip, a.ports.pop3));
    assert!(p.line().starts_with("+OK "));
    assert_eq!(p.pop("STLS"), "+OK Begin TLS negotiation");
    p.upgrade(&world.ca, STORE_A);
    assert_eq!(p.pop("USER dave"), "+OK Send PASS");
    assert_eq!(
        p.pop("PASS dave-pw"),
        "-ERR This account is served by another server"
    );
    let proxied = b64(&format!("dave\0mmp\0{SECRET}"));
    assert_eq!(
        p.pop(&format!("AUTH PLAIN {proxied}")),
        "-ERR [AUTH] Authentication failed",
        "the proxy credential from 127.0.0.1 is refused"
    );
}

fn count(dir: &std::path::Path) -> usize {
    ["cur", "new"]
        .iter()
        .map(|d| std::fs::read_dir(dir.join(d)).map_or(0, |r| r.count()))
        .sum()
}

/// Every file's text under a Maildir folder.
fn maildir_text(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(dir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    all
}

#[test]
fn mbsync_syncs_a_mailbox_on_each_store_through_the_mmp() {
    let f = Front::start();
    for i in 0..12 {
        f.a.deliver("alice@example.test", &format!("store-a message {i}"));
        f.b.deliver("bob@example.test", &format!("store-b message {i}"));
    }
    let imap = f.mmp_file.port("imap");
    for (user, own, other) in [
        ("alice", "store-a", "store-b"),
        ("bob", "store-b", "store-a"),
    ] {
        let local = f.world.path().join(format!("maildir-{user}"));
        std::fs::create_dir_all(&local).expect("maildir");
        let cfg = f.world.path().join(format!("mbsyncrc-{user}"));
        std::fs::write(
            &cfg,
            format!(
                "IMAPAccount acct\nHost {host}\nPort {port}\nUser {user}\nPass {pass}\nSSLType STARTTLS\nCertificateFile {ca}\nAuthMechs LOGIN\n\n\
                 IMAPStore remote\nAccount acct\n\n\
                 MaildirStore local\nPath {dir}/\nInbox {dir}/INBOX\nSubFolders Verbatim\n\n\
                 Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
                host = imap.ip(),
                port = imap.port(),
                pass = password(user),
                ca = f.ca(),
                dir = local.display()
            ),
        )
        .expect("mbsyncrc");
        let cfg = cfg.display().to_string();
        let (ok, out) = run("mbsync", &["-c", &cfg, "-a"]);
        assert!(ok, "mbsync for {user}: {out}\n{}", f.mmp_file.log_text());
        let inbox = local.join("INBOX");
        assert_eq!(count(&inbox), 12, "{user}");
        let text = maildir_text(&inbox);
        assert!(text.contains(&format!("{own} message 11")), "{text}");
        assert!(!text.contains(other), "{user} sees the other store: {text}");

        // A message written locally goes up to the user's own store, and
        // a folder created locally is created there.
        std::fs::create_dir_all(local.join("Notes/cur")).expect("folder");
        std::fs::create_dir_all(local.join("Notes/new")).expect("folder");
        std::fs::create_dir_all(local.join("Notes/tmp")).expect("folder");
        std::fs::write(
            local.join(format!("Notes/new/1700000000.{user}.host")),
            format!(
                "From: {user}@example.test\r\nSubject: note by {user}\r\n\r\nwritten offline\r\n"
            ),
        )
        .expect("write");
        let (ok, out) = run("mbsync", &["-c", &cfg, "-a"]);
        assert!(ok, "second mbsync for {user}: {out}");
    }
    // Each note is on its author's store only: read back directly.
    for (store, user, other) in [(&f.a, "alice", "bob"), (&f.b, "bob", "alice")] {
        let addr = std::net::SocketAddr::new(store.ip, store.ports.imap);
        let mut w = Wire::plain(addr);
        w.line();
        w.cmd("t", "STARTTLS");
        w.upgrade(&f.world.ca, store.host);
        w.cmd("l", &format!("LOGIN {user} {}", password(user)));
        let r = w.cmd("s", "STATUS Notes (MESSAGES)");
        assert!(r[0].ends_with("(MESSAGES 1)"), "{r:?}");
        let r = w.cmd("f", "SELECT Notes");
        assert!(last(&r).starts_with("f OK"), "{r:?}");
        let r = w.cmd("g", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
        assert!(r[0].contains(&format!("note by {user}")), "{r:?}");
        assert!(!r.concat().contains(&format!("note by {other}")), "{r:?}");
    }
}

/// Logs in through the MMP's implicit-TLS IMAP listener; the tagged reply.
fn imaps_login(mmp: &Service, ca: &std::path::Path, user: &str) -> (Wire, String) {
    let mut w = Wire::tls(mmp.port("imaps"), ca, "mail.example.test");
    let greeting = w.line();
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN "),
        "{greeting}"
    );
    let reply = last(&w.cmd("a", &format!("LOGIN {user} {}", password(user)))).to_string();
    (w, reply)
}

#[test]
fn a_store_going_down_makes_only_its_users_wait_and_they_return_with_it() {
    let f = Front::start();
    let Front {
        world,
        a,
        b,
        mmp_file: mmp,
        ..
    } = f;
    a.deliver("alice@example.test", "alice stays");
    b.deliver("bob@example.test", "bob comes back");

    // bob is in the middle of a session when his store dies.
    let (mut bob, reply) = imaps_login(&mmp, &world.ca, "bob");
    assert!(reply.starts_with("a OK [CAPABILITY "), "{reply}");
    assert!(last(&bob.cmd("s", "SELECT INBOX")).starts_with("s OK"));
    let ports = b.ports;
    b.svc.signal(nix::sys::signal::Signal::SIGKILL);
    let t0 = Instant::now();
    // The MMP closes his connection cleanly (TLS close, then EOF).
    assert!(bob.closed());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    drop(b);

    // New logins: UNAVAILABLE at once for bob and dave (IMAP and POP),
    // while alice works.
    for user in ["bob", "dave"] {
        let t0 = Instant::now();
        let (_w, reply) = imaps_login(&mmp, &world.ca, user);
        assert_eq!(
            reply,
            "a NO [UNAVAILABLE] Mail service temporarily unavailable, try again later"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "{user}: {:?}",
            t0.elapsed()
        );
    }
    let mut p = Wire::tls(mmp.port("pop3s"), &world.ca, "mail.example.test");
    assert_eq!(p.line(), "+OK mail.example.test POP3 proxy ready");
    assert_eq!(p.pop("USER bob"), "+OK Send PASS");
    assert_eq!(
        p.pop("PASS bob-pw"),
        "-ERR [SYS/TEMP] Mail service temporarily unavailable, try again later"
    );
    let (mut alice, reply) = imaps_login(&mmp, &world.ca, "alice");
    assert!(reply.starts_with("a OK [CAPABILITY "), "{reply}");
    assert!(last(&alice.cmd("s", "SELECT INBOX")).starts_with("s OK"));
    let r = alice.cmd("f", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(r[0].contains("alice stays"), "{r:?}");
    let log = mmp.log_text();
    assert!(log.contains("store unavailable"), "{log}");

    // The store comes back on the same ports: bob logs in again.
    let b = Store::start(&world, STORE_B, ip(3), Some(ports));
    let (mut bob, reply) = imaps_login(&mmp, &world.ca, "bob");
    assert!(
        reply.starts_with("a OK [CAPABILITY "),
        "{reply}\n{}",
        mmp.log_text()
    );
    let r = bob.cmd("f", "SELECT INBOX");
    assert!(r.iter().any(|l| l == "* 1 EXISTS"), "{r:?}");
    assert!(last(&bob.cmd("o", "LOGOUT")).starts_with("o OK"));
    drop(b);
}

/// One MMP (file directory) in front of both stores.
fn single() -> (World, Store, Store, Service) {
    let world = World::new();
    let a = Store::start(&world, STORE_A, ip(2), None);
    let b = Store::start(&world, STORE_B, ip(3), None);
    let mmp = start_mmp(
        &world,
        ip(4),
        &world.file_directory_section(),
        &table(&a, &b),
        "",
    );
    (world, a, b, mmp)
}

#[test]
fn imap_bad_input_gets_the_exact_replies_and_never_reaches_a_store() {
    let (world, a, _b, mmp) = single();
    let tls = |w: &mut Wire| {
        let g = w.line();
        assert_eq!(
            g,
            "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN SASL-IR ID LITERAL+] mail.example.test IMAP4rev1 IMAP4rev2 proxy ready"
        );
    };
    // Before TLS: LOGINDISABLED and PRIVACYREQUIRED (RFC 3501 6.2.3).
    let mut w = Wire::plain(mmp.port("imap"));
    assert_eq!(
        w.line(),
        "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED SASL-IR ID LITERAL+] mail.example.test IMAP4rev1 IMAP4rev2 proxy ready"
    );
    assert_eq!(
        last(&w.cmd("l1", "LOGIN alice alice-pw")),
        "l1 NO [PRIVACYREQUIRED] Use STARTTLS before logging in"
    );
    assert_eq!(
        last(&w.cmd("l2", "AUTHENTICATE PLAIN")),
        "l2 NO [PRIVACYREQUIRED] Use STARTTLS before logging in"
    );
    // Garbage, unknown commands, commands needing a login: BAD, and the
    // session goes on.
    w.send(b"\x01\x02 garbage\r\n");
    assert_eq!(w.line(), "* BAD missing or invalid tag");
    assert_eq!(last(&w.cmd("x1", "FROBNICATE")), "x1 BAD unknown command");
    assert_eq!(last(&w.cmd("x2", "SELECT INBOX")), "x2 BAD Log in first");
    assert_eq!(last(&w.cmd("x3", "NOOP")), "x3 OK NOOP completed");
    let id = w.cmd("x4", "ID (\"name\" \"test\")");
    assert!(
        id[0].starts_with("* ID (\"name\" \"Tiermail MMP\""),
        "{id:?}"
    );
    // A literal larger than max_literal (4096): refused before any of it
    // is read (synchronizing: the session goes on).
    w.send(b"x5 LOGIN {100000}\r\n");
    assert_eq!(
        w.line(),
        "x5 BAD [TOOBIG] literal of 100000 bytes is larger than the 4096 bytes allowed"
    );
    assert_eq!(last(&w.cmd("x6", "NOOP")), "x6 OK NOOP completed");
    // STARTTLS, then the capabilities change.
    assert_eq!(
        last(&w.cmd("t", "STARTTLS")),
        "t OK Begin TLS negotiation now"
    );
    w.upgrade(&world.ca, "mail.example.test");
    assert_eq!(
        w.cmd("c", "CAPABILITY"),
        [
            "* CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN SASL-IR ID LITERAL+",
            "c OK CAPABILITY completed"
        ]
    );
    assert_eq!(
        last(&w.cmd("t2", "STARTTLS")),
        "t2 NO STARTTLS is not available on this connection"
    );

    // AUTHENTICATE with bad base64, inline and after the continuation;
    // a cancelled exchange; an unknown mechanism.
    let mut w = Wire::tls(mmp.port("imaps"), &world.ca, "mail.example.test");
    tls(&mut w);
    assert_eq!(
        last(&w.cmd("a1", "AUTHENTICATE PLAIN !!!notbase64")),
        "a1 BAD syntax error: invalid base64 in SASL response"
    );
    w.send(b"a2 AUTHENTICATE PLAIN\r\n");
    assert_eq!(w.line(), "+ ");
    w.send(b"%%%\r\n");
    assert_eq!(w.line(), "a2 BAD Invalid base64 in SASL response");
    w.send(b"a3 AUTHENTICATE PLAIN\r\n");
    assert_eq!(w.line(), "+ ");
    w.send(b"*\r\n");
    assert_eq!(w.line(), "a3 BAD Authentication cancelled");
    assert_eq!(
        last(&w.cmd("a4", "AUTHENTICATE CRAM-MD5")),
        "a4 NO [CANNOT] Unsupported authentication mechanism"
    );
    assert_eq!(
        last(&w.cmd("a5", &format!("AUTHENTICATE PLAIN {}", b64("alice\0alice")))),
        "a5 BAD Malformed PLAIN response"
    );
    // The proxy's credential from a client: acting for someone else is
    // refused, and "mmp" is no user of the directory.
    assert_eq!(
        last(&w.cmd(
            "a6",
            &format!(
                "AUTHENTICATE PLAIN {}",
                b64(&format!("alice\0mmp\0{SECRET}"))
            )
        )),
        "a6 NO [AUTHORIZATIONFAILED] Cannot act as another user"
    );
    assert_eq!(
        last(&w.cmd("a7", &format!("LOGIN mmp {SECRET}"))),
        "a7 NO [AUTHENTICATIONFAILED] Authentication failed"
    );
    // A mailHost nothing knows: UNAVAILABLE at once, no store is asked.
    let t0 = Instant::now();
    assert_eq!(
        last(&w.cmd("a8", "LOGIN erin erin-pw")),
        "a8 NO [UNAVAILABLE] Mail service temporarily unavailable, try again later"
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    // SASL-IR login works on the same connection afterwards.
    let ok = w.cmd(
        "a9",
        &format!("AUTHENTICATE PLAIN {}", b64("\0carol\0carol-pw")),
    );
    assert!(
        last(&ok).starts_with("a9 OK [CAPABILITY IMAP4rev1 "),
        "{ok:?}"
    );
    assert!(
        !last(&ok).contains("AUTH="),
        "post-login capabilities: {ok:?}"
    );
    assert!(last(&w.cmd("z", "LOGOUT")).starts_with("z OK"));
    let log = mmp.log_text();
    assert!(log.contains("no route to the user's store"), "{log}");
    assert!(!a.svc.log_text().contains("erin"));

    // A line longer than max_line: BAD, BYE, closed.
    let mut w = Wire::tls(mmp.port("imaps"), &world.ca, "mail.example.test");
    tls(&mut w);
    w.send(format!("long NOOP {}\r\n", "x".repeat(10_000)).as_bytes());
    assert_eq!(w.line(), "long BAD [TOOBIG] command line too long");
    assert_eq!(
        w.line(),
        "* BYE Cannot recover from the previous error, closing"
    );
    assert!(w.closed());
    // A non-synchronizing literal too large: it is on its way, so the
    // stream cannot be resynchronized (RFC 7888 4): BAD, BYE, closed.
    let mut w = Wire::tls(mmp.port("imaps"), &world.ca, "mail.example.test");
    tls(&mut w);
    w.send(b"big LOGIN {100000+}\r\n");
    assert_eq!(
        w.line(),
        "big BAD [TOOBIG] literal of 100000 bytes is larger than the 4096 bytes allowed"
    );
    assert_eq!(
        w.line(),
        "* BYE Cannot recover from the previous error, closing"
    );
    assert!(w.closed());

    // A failed TLS handshake (plain text to the TLS port, and garbage
    // after STARTTLS): the connection ends, the MMP serves the next one.
    let mut raw = Wire::plain(mmp.port("imaps"));
    raw.send(b"a LOGIN alice alice-pw\r\n");
    assert!(raw.closed());
    let mut raw = Wire::plain(mmp.port("imap"));
    raw.line();
    assert_eq!(
        last(&raw.cmd("t", "STARTTLS")),
        "t OK Begin TLS negotiation now"
    );
    raw.send(b"\x16\x03\x01\x00\x05hello-not-tls\r\n");
    assert!(raw.closed());
    let (_w, reply) = imaps_login(&mmp, &world.ca, "alice");
    assert!(reply.starts_with("a OK [CAPABILITY "), "{reply}");
}

#[test]
fn a_client_leaving_mid_relay_ends_its_session_cleanly() {
    let (world, _a, _b, mmp) = single();
    // A large message goes up through the relay as a synchronizing
    // literal (the store's "+" comes back through the MMP).
    let big: String = (0..20_000)
        .map(|i| format!("line {i} of a long message\r\n"))
        .collect();
    let message = format!("From: alice@example.test\r\nSubject: big one\r\n\r\n{big}");
    let (mut w, reply) = imaps_login(&mmp, &world.ca, "alice");
    assert!(reply.starts_with("a OK"), "{reply}");
    w.send(format!("up APPEND INBOX {{{}}}\r\n", message.len()).as_bytes());
    assert!(w.line().starts_with("+ "));
    w.send(message.as_bytes());
    w.send(b"\r\n");
    let r = w.until_tagged("up");
    assert!(last(&r).starts_with("up OK [APPENDUID "), "{r:?}");
    drop(w);
    for _ in 0..3 {
        let (mut w, reply) = imaps_login(&mmp, &world.ca, "alice");
        assert!(reply.starts_with("a OK"), "{reply}");
        w.cmd("s", "SELECT INBOX");
        // Ask for ~600 KB and leave after the first line of it.
        w.send(b"f FETCH 1 BODY[]\r\n");
        let first = w.line();
        assert!(
            first.starts_with("* 1 FETCH (") && first.ends_with("BODY[] {588936}"),
            "{first}"
        );
        drop(w);
    }
    eventually(
        "sessions ended by the client",
        Duration::from_secs(20),
        || mmp.log_text().matches("ended_by=\"client\"").count() >= 3,
    );
    eventually("no connection left open", Duration::from_secs(20), || {
        common::http_get(mmp.port("admin"), "/metrics").is_ok_and(|(_, m)| {
            m.lines()
                .filter(|l| l.starts_with("mmp_connections_active"))
                .all(|l| l.ends_with(" 0"))
        })
    });
    // And the MMP goes on serving.
    let (_w, reply) = imaps_login(&mmp, &world.ca, "alice");
    assert!(reply.starts_with("a OK"), "{reply}");
}

#[test]
fn pop3_bad_input_gets_the_exact_replies() {
    let (world, _a, _b, mmp) = single();
    let mut w = Wire::plain(mmp.port("pop3"));
    assert_eq!(w.line(), "+OK mail.example.test POP3 proxy ready");
    assert_eq!(
        w.pop("USER alice"),
        "-ERR [AUTH] Plaintext authentication is disabled without TLS, use STLS first"
    );
    w.send(b"CAPA\r\n");
    let mut capa = Vec::new();
    loop {
        let l = w.line();
        if l == "." {
            break;
        }
        capa.push(l);
    }
    assert_eq!(
        capa,
        [
            "+OK Capability list follows",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
            "STLS",
            "IMPLEMENTATION Tiermail-MMP"
        ]
    );
    assert_eq!(w.pop("STLS"), "+OK Begin TLS negotiation");
    w.upgrade(&world.ca, "mail.example.test");
    assert_eq!(w.pop("BOGUS"), "-ERR Unknown command BOGUS");
    assert_eq!(w.pop("STAT"), "-ERR STAT is not valid before login");
    assert_eq!(w.pop("PASS secret"), "-ERR Send USER first");
    assert_eq!(
        w.pop("AUTH PLAIN !!!"),
        "-ERR Invalid base64 in SASL response"
    );
    assert_eq!(
        w.pop("AUTH CRAM-MD5"),
        "-ERR Unsupported mechanism CRAM-MD5"
    );
    assert_eq!(
        w.pop("XCLIENT ADDR=192.0.2.1"),
        "-ERR XCLIENT is not valid before login"
    );
    assert_eq!(
        w.pop(&format!("NOOP {}", "y".repeat(9000))),
        "-ERR Line too long (limit 8192 octets)"
    );
    assert_eq!(w.pop("USER erin"), "+OK Send PASS");
    assert_eq!(
        w.pop("PASS erin-pw"),
        "-ERR [SYS/TEMP] Mail service temporarily unavailable, try again later"
    );
    // AUTH PLAIN with the "+ " exchange, then a working session.
    assert_eq!(w.pop("AUTH PLAIN"), "+ ");
    let reply = w.pop(&b64("\0dave\0dave-pw"));
    assert!(reply.starts_with("+OK Logged in, 0 messages"), "{reply}");
    assert!(w.pop("STAT").starts_with("+OK 0 0"));
    assert!(w.pop("QUIT").starts_with("+OK"));
    assert!(w.closed());
}

#[test]
fn failed_logins_look_alike_slow_down_and_lock_a_name_out() {
    let (world, _a, _b, mmp) = single();
    let timed = |user: &str, pw: &str| {
        let mut w = Wire::tls(mmp.port("imaps"), &world.ca, "mail.example.test");
        w.line();
        let t0 = Instant::now();
        let r = last(&w.cmd("a", &format!("LOGIN {user} {pw}"))).to_string();
        (r, t0.elapsed())
    };
    let failed = "a NO [AUTHENTICATIONFAILED] Authentication failed";
    // Unknown user and wrong password: the same words, after the delay.
    let (r1, t1) = timed("ghost", "whatever");
    let (r2, t2) = timed("carol", "wrong");
    assert_eq!(r1, failed);
    assert_eq!(r2, failed);
    assert!(
        t1 >= Duration::from_millis(300) && t2 >= Duration::from_millis(300),
        "{t1:?} {t2:?}"
    );
    // Three failures on one connection close it.
    let mut w = Wire::tls(mmp.port("imaps"), &world.ca, "mail.example.test");
    w.line();
    for tag in ["b1", "b2"] {
        assert_eq!(
            last(&w.cmd(tag, "LOGIN lockme nope")),
            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed")
        );
    }
    let r = w.cmd("b3", "LOGIN lockme nope");
    assert_eq!(r, ["b3 NO [AUTHENTICATIONFAILED] Authentication failed"]);
    assert_eq!(w.line(), "* BYE Too many failed logins");
    assert!(w.closed());
    // The fourth failure for the name locks it out: the right password
    // is refused alike, from any address, while others log in.
    let (r, t) = timed("lockme", "nope");
    assert_eq!(r, failed);
    assert!(t >= Duration::from_millis(900), "the delay grew: {t:?}");
    let (r, _) = timed("lockme", "lockme-pw");
    assert_eq!(r, failed);
    let mut p = Wire::tls(mmp.port("pop3s"), &world.ca, "mail.example.test");
    p.line();
    p.pop("USER lockme");
    assert_eq!(p.pop("PASS lockme-pw"), "-ERR [AUTH] Authentication failed");
    let (_w, reply) = imaps_login(&mmp, &world.ca, "carol");
    assert!(reply.starts_with("a OK"), "{reply}");
    let (_, metrics) = common::http_get(mmp.port("admin"), "/metrics").expect("metrics");
    for needle in [
        "login_throttle_events_total{",
        "event=\"lockout_user\"",
        "result=\"locked\"",
        "result=\"failure\"",
    ] {
        assert!(metrics.contains(needle), "{needle}:\n{metrics}");
    }
    assert!(
        mmp.log_text()
            .contains("locked out after too many failures")
    );
}

#[test]
fn connections_per_address_are_limited() {
    let (world, a, b, _) = single();
    let mmp = start_mmp(
        &world,
        ip(6),
        &world.file_directory_section(),
        &table(&a, &b),
        "",
    );
    let mut held: Vec<Wire> = (0..12)
        .map(|_| {
            let mut w = Wire::plain(mmp.port("imap"));
            assert!(w.line().starts_with("* OK "));
            w
        })
        .collect();
    let mut extra = Wire::plain(mmp.port("pop3"));
    assert_eq!(
        extra.line(),
        "-ERR [SYS/TEMP] Too many connections from your address"
    );
    assert!(extra.closed());
    let mut extra = Wire::plain(mmp.port("imap"));
    assert_eq!(
        extra.line(),
        "* BYE [UNAVAILABLE] Too many connections from your address"
    );
    // Another address is not affected; a freed slot is usable again.
    let mut other = Wire::plain_from(mmp.port("imap"), Some(ip(7)));
    assert!(other.line().starts_with("* OK "));
    held.truncate(11);
    eventually("the slot to be given back", Duration::from_secs(10), || {
        let mut w = Wire::plain(mmp.port("imap"));
        w.line().starts_with("* OK ")
    });
}

/// A port free on every one of `ips` (for two stores on one port number,
/// as DNS-routed stores are: the address differs, the port does not).
fn port_free_on(ips: &[std::net::IpAddr]) -> u16 {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind((ips[0], 0)).expect("bind");
        let port = first.local_addr().expect("addr").port();
        if ips[1..]
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no port free on {ips:?}");
}

#[test]
fn mail_hosts_are_found_in_dns_at_the_configured_server() {
    let world = World::new();
    let ips = [ip(2), ip(3)];
    let ports = mmp_env::StorePorts {
        imap: port_free_on(&ips),
        pop3: port_free_on(&ips),
        lmtp: 0,
    };
    let a = Store::start(&world, STORE_A, ip(2), Some(ports));
    let b = Store::start(&world, STORE_B, ip(3), Some(ports));
    let (_dns, dns) = common::flows_env::start_dnsmasq(
        world.path(),
        &[
            format!("--host-record={STORE_A},127.0.0.2"),
            format!("--host-record={STORE_B},127.0.0.3"),
            // Authoritative for the domain: other names are NXDOMAIN.
            "--local=/example.test/".to_string(),
        ],
    );
    let backend = format!(
        "imap_port = {}\npop3_port = {}\n[backend.dns]\nnameservers = [\"{dns}\"]\ntimeout = \"1s\"\nattempts = 1\n",
        ports.imap, ports.pop3
    );
    // `imap_port` and `pop3_port` belong to [backend]: put them first.
    let mmp = start_mmp(&world, ip(4), &world.file_directory_section(), &backend, "");
    a.deliver("alice@example.test", "alice via dns");
    b.deliver("bob@example.test", "bob via dns");
    let got = imaplib_subjects(&mmp, &world.ca.display().to_string(), &["alice", "bob"]);
    assert_eq!(
        got,
        serde_json::json!({
            "alice": subjects(&["alice via dns"]),
            "bob": subjects(&["bob via dns"]),
        }),
        "{}",
        mmp.log_text()
    );
    // erin's mailHost does not exist in DNS (NXDOMAIN): unavailable, and
    // the log says why.
    let (_w, reply) = imaps_login(&mmp, &world.ca, "erin");
    assert_eq!(
        reply,
        "a NO [UNAVAILABLE] Mail service temporarily unavailable, try again later"
    );
    let log = mmp.log_text();
    assert!(
        log.contains("mailHost nowhere.example.test is unknown: NXDOMAIN"),
        "{log}"
    );
}

#[test]
fn mailctl_up_puts_the_mmp_in_front_of_its_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("up");
    let log = dir.path().join("mailctl.log");
    let (mut up, endpoints) = common::mailctl_up(&data, &log, Duration::from_secs(120));
    let show = || std::fs::read_to_string(&log).unwrap_or_default();
    let get = |k: &str| {
        endpoints[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in endpoints.json: {endpoints}\n{}", show()))
            .to_string()
    };
    let (imap, pop3, lmtp, ca) = (get("mmp_imap"), get("mmp_pop3"), get("lmtp"), get("tls_ca"));
    let user = endpoints["users"][0]["address"]
        .as_str()
        .expect("user")
        .to_string();
    let pass = endpoints["users"][0]["password"]
        .as_str()
        .expect("password")
        .to_string();
    let out = common::swaks_lmtp(&lmtp, &user, "through the mmp", "Hello via the MMP.");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let login = format!("{user}:{pass}");
    let (ok, text) = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            &ca,
            "-u",
            &login,
            &format!("imap://{imap}/INBOX;UID=1"),
        ],
    );
    assert!(
        ok && text.contains("Subject: through the mmp"),
        "{text}\n{}",
        show()
    );
    let (ok, text) = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            &ca,
            "-u",
            &login,
            &format!("pop3://{pop3}/1"),
        ],
    );
    assert!(ok && text.contains("Hello via the MMP."), "{text}");
    // The printed table lists the MMP as ready, with its try-it line.
    let printed = show();
    assert!(printed.contains("mmp "), "{printed}");
    assert!(!printed.contains("not ready"), "{printed}");
    assert!(
        printed.contains(&format!("imap://{imap}/INBOX;UID=1")),
        "{printed}"
    );
    // The proxy secrets are private.
    use std::os::unix::fs::PermissionsExt;
    for name in ["mmp", "mem"] {
        let meta =
            std::fs::metadata(data.join(format!("etc/proxy/{name}.secret"))).expect("secret");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
    let status = common::stop_mailctl_up(&mut up);
    assert!(status.success(), "{status}\n{}", show());
}
