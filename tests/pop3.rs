//! POP3 on the store started by `mailctl up`, with real clients: mail
//! delivered over LMTP (`swaks`) is listed, read and deleted with Python's
//! `poplib` after STLS, and fetched with `curl pop3://`; deletions reach
//! the store only at QUIT, and a second session is locked out meanwhile;
//! IMAP on the same store sees the result; the implicit-TLS ports
//! (`pop3s`, `imaps`) serve the same INBOX.

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use common::{mailctl_up, python3, swaks_lmtp, wait_for};
use nix::sys::signal::Signal;

struct Up {
    child: Child,
    endpoints: serde_json::Value,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Up {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("mailctl.log");
        let (child, endpoints) = mailctl_up(&dir.path().join("up"), &log, Duration::from_secs(60));
        Self {
            child,
            endpoints,
            log,
            _dir: dir,
        }
    }

    fn endpoint(&self, key: &str) -> String {
        self.endpoints[key]
            .as_str()
            .unwrap_or_else(|| panic!("endpoint {key} in {}", self.endpoints))
            .to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
        let _ = wait_for("mailctl up to stop", Duration::from_secs(30), || {
            self.child.try_wait().ok().flatten()
        });
    }
}

fn deliver(lmtp: &str, to: &str, subject: &str) {
    let out = swaks_lmtp(lmtp, to, subject, "line one\n.leading dot\nlast line");
    assert!(
        out.status.success(),
        "swaks: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Runs a Python snippet with `poplib` and `ssl` imported and `HOST`,
/// `PORT`, `CA`, `USER`, `PASSWORD` defined; returns its stdout.
fn python(up: &Up, user: &str, password: &str, body: &str) -> String {
    let pop3 = up.endpoint("pop3");
    let (host, port) = pop3.rsplit_once(':').expect("host:port");
    let script = format!(
        "import poplib, ssl, sys\nHOST={host:?}\nPORT={port}\nCA={ca:?}\nUSER={user:?}\nPASSWORD={password:?}\n\
         def connect():\n    p = poplib.POP3(HOST, PORT, timeout=10)\n    ctx = ssl.create_default_context(cafile=CA)\n    ctx.check_hostname = False\n    p.stls(ctx)\n    return p\n{body}\n",
        ca = up.endpoint("tls_ca"),
    );
    let out = python3(&script);
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}\n--- mailctl log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        up.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn poplib_and_curl_read_and_delete_mail_delivered_over_lmtp() {
    let up = Up::start();
    let lmtp = up.endpoint("lmtp");
    let user = up.endpoints["users"][0]["address"]
        .as_str()
        .expect("user")
        .to_string();
    let password = up.endpoints["users"][0]["password"]
        .as_str()
        .expect("password")
        .to_string();
    for i in 1..=3 {
        deliver(&lmtp, &user, &format!("pop test {i}"));
    }

    // Plaintext login is refused before STLS; after it, the three messages
    // are there, the first is read (dot-stuffing undone by poplib) and
    // deleted; a second session meanwhile is told the maildrop is in use.
    let out = python(
        &up,
        &user,
        &password,
        r#"
plain = poplib.POP3(HOST, PORT, timeout=10)
try:
    plain.user(USER)
    print("plaintext USER accepted")
except poplib.error_proto as e:
    print("plaintext refused:", e)
plain.quit()
p = connect()
p.user(USER)
p.pass_(PASSWORD)
count, size = p.stat()
print("stat", count)
uidls = [l.split()[1] for l in p.uidl()[1]]
print("uidls", len(set(uidls)))
lines = p.retr(1)[1]
print("subject ok", b"Subject: pop test 1" in lines)
print("dot ok", b".leading dot" in lines)
top = p.top(2, 0)[1]
print("top has no body", b"line one" not in top)
p.dele(1)
other = connect()
other.user(USER)
try:
    other.pass_(PASSWORD)
    print("second session got in")
except poplib.error_proto as e:
    print("second session:", e)
other.quit()
p.quit()
q = connect()
q.user(USER)
q.pass_(PASSWORD)
print("after quit", q.stat()[0])
print("uidls kept", sorted(l.split()[1] for l in q.uidl()[1]) == sorted(uidls[1:]))
q.quit()
bad = connect()
bad.user(USER)
try:
    bad.pass_("wrong")
    print("wrong password accepted")
except poplib.error_proto as e:
    print("wrong password:", e)
"#,
    );
    for expected in [
        "plaintext refused:",
        "stat 3",
        "uidls 3",
        "subject ok True",
        "dot ok True",
        "top has no body True",
        "second session: b'-ERR [IN-USE]",
        "after quit 2",
        "uidls kept True",
        "wrong password: b'-ERR [AUTH]",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }

    // A dropped connection deletes nothing.
    let out = python(
        &up,
        &user,
        &password,
        // The server notices the dropped connection when it reads EOF; until
        // then the maildrop is still locked, so the new session retries.
        "import time\np = connect()\np.user(USER)\np.pass_(PASSWORD)\np.dele(1)\nimport socket\np.sock.shutdown(socket.SHUT_RDWR)\np.sock.close()\n\
         deadline = time.time() + 10\nwhile True:\n    q = connect()\n    q.user(USER)\n    try:\n        q.pass_(PASSWORD)\n        break\n    except poplib.error_proto as e:\n        if b'IN-USE' not in e.args[0] or time.time() > deadline:\n            raise\n        q.quit()\n        time.sleep(0.1)\n\
         print('after drop', q.stat()[0])\nq.quit()\n",
    );
    assert!(out.contains("after drop 2"), "{out}");

    // curl lists and retrieves over STLS.
    let pop3 = up.endpoint("pop3");
    let curl = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "--ssl-reqd", "--cacert", &up.endpoint("tls_ca")])
            .args(["--resolve", &format!("localhost:{}:127.0.0.1", port(&pop3))])
            .args(["-u", &format!("{user}:{password}")])
            .arg(format!("pop3://localhost:{}/{path}", port(&pop3)))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl pop3 {path}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            up.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let list = curl("");
    assert_eq!(list.lines().count(), 2, "curl LIST:\n{list}");
    let msg = curl("1");
    assert!(msg.contains("Subject: pop test 2"), "{msg}");

    // The same INBOX over IMAP (served by the same mailstore): POP's
    // deletion is an expunge IMAP sees.
    let imap = up.endpoint("imap");
    let (host, port) = imap.rsplit_once(':').expect("host:port");
    let out = python(
        &up,
        &user,
        &password,
        &format!(
            "import imaplib\nctx = ssl.create_default_context(cafile=CA)\nctx.check_hostname = False\n\
             m = imaplib.IMAP4({host:?}, {port})\nm.starttls(ssl_context=ctx)\nm.login(USER, PASSWORD)\n\
             typ, data = m.select('INBOX')\nprint('imap exists', int(data[0]))\n\
             typ, data = m.search(None, 'SUBJECT', '\"pop test 1\"')\nprint('imap deleted gone', data[0] == b'')\nm.logout()\n"
        ),
    );
    assert!(out.contains("imap exists 2"), "{out}");
    assert!(out.contains("imap deleted gone True"), "{out}");

    // RFC 8314 3.3: `mailctl up` publishes POP3 and IMAP with implicit TLS.
    let (pop3s_host, pop3s_port) = up
        .endpoint("pop3s")
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .expect("host:port");
    let (imaps_host, imaps_port) = up
        .endpoint("imaps")
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .expect("host:port");
    let out = python(
        &up,
        &user,
        &password,
        &format!(
            "import imaplib\nctx = ssl.create_default_context(cafile=CA)\nctx.check_hostname = False\n\
             p = poplib.POP3_SSL({pop3s_host:?}, {pop3s_port}, context=ctx, timeout=10)\np.user(USER)\np.pass_(PASSWORD)\n\
             print('pop3s stat', p.stat()[0])\np.quit()\n\
             m = imaplib.IMAP4_SSL({imaps_host:?}, {imaps_port}, ssl_context=ctx, timeout=10)\nm.login(USER, PASSWORD)\n\
             print('imaps exists', int(m.select('INBOX')[1][0]))\nm.logout()\n"
        ),
    );
    assert!(out.contains("pop3s stat 2"), "{out}");
    assert!(out.contains("imaps exists 2"), "{out}");
}

fn port(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(_, p)| p)
}
