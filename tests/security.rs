//! The security matrix (issue 14 item 7), against the topology `mailctl up`
//! starts, each case asserting the exact reply:
//!
//! - an open-relay battery against the inbound relay (RFC 5321 3.6, 4.1.1.3,
//!   RFC 2505, RFC 5321 appendix C on source routes): percent hack, bang
//!   paths, source routes, quoted local parts holding `@`, case and
//!   trailing-dot tricks, and `<postmaster>` without a domain (must be
//!   accepted);
//! - relaying after a failed AUTH on submission (RFC 4954 4, 6);
//! - no AUTH, LOGIN or USER/PASS before TLS on any port (RFC 3207 4,
//!   RFC 4954 4, RFC 3501 6.2.3 / RFC 9051 6.2.3, RFC 2595 / RFC 8314);
//! - TLS 1.0 and 1.1 and non-AEAD cipher suites refused, TLS 1.2 with an
//!   AEAD suite and TLS 1.3 accepted (RFC 8996, RFC 7525), tried with
//!   `openssl s_client` on every TLS port;
//! - failed IMAP and POP3 logins throttled across connections and across
//!   the two protocols, at the store and at the MMP;
//! - the per-user session limit of the store, over IMAP and POP3, direct
//!   and through the MMP (RFC 5530 `LIMIT`, RFC 2449 `IN-USE`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{mailctl_up, python3, stop_mailctl_up};

/// Runs SMTP commands and prints one `CODE TEXT` line per reply. Arguments:
/// host port tls(plain|starttls|implicit) cafile, then the commands; a
/// command `STARTTLS!` upgrades, `EHLO!` prints the EHLO keywords.
const SMTP_DIALOG: &str = r#"
import smtplib, ssl, sys
host, port, mode, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
if mode == "implicit":
    s = smtplib.SMTP_SSL(host, port, context=ctx, timeout=20)
else:
    s = smtplib.SMTP(host, port, timeout=20)
for cmd in sys.argv[5:]:
    if cmd == "EHLO!":
        code, msg = s.ehlo("client.outside.test")
        print(code, " ".join(sorted(s.esmtp_features.keys())).upper())
    elif cmd == "STARTTLS!":
        code, msg = s.starttls(context=ctx)
        print(code, msg.decode().replace("\n", " "))
    else:
        code, msg = s.docmd(cmd)
        print(code, msg.decode().replace("\n", " "))
"#;

/// The replies of one SMTP dialogue, a `CODE TEXT` line each.
fn smtp(addr: &str, mode: &str, ca: &Path, commands: &[&str]) -> Vec<String> {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let out = Command::new("python3")
        .arg("-c")
        .arg(SMTP_DIALOG)
        .args([host, port, mode])
        .arg(ca)
        .args(commands)
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "SMTP dialogue with {addr} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Asserts that `reply` starts with `code` and the enhanced status `status`.
fn expect(reply: &str, code: u16, status: &str, what: &str) {
    let want = format!("{code} {status}");
    assert!(
        reply.starts_with(&want),
        "{what}: expected `{want} ...`, got `{reply}`"
    );
}

struct Up {
    _dir: tempfile::TempDir,
    child: std::process::Child,
    endpoints: serde_json::Value,
    ca: std::path::PathBuf,
}

impl Up {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let (child, endpoints) =
            mailctl_up(&data, &dir.path().join("up.log"), Duration::from_secs(120));
        let ca = endpoints["tls_ca"].as_str().expect("tls_ca").into();
        Self {
            _dir: dir,
            child,
            endpoints,
            ca,
        }
    }

    /// `key`'s address split into host and port.
    fn host_port(&self, key: &str) -> (String, String) {
        let addr = self.addr(key);
        let (host, port) = addr
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{key}: {addr} is not host:port"));
        (host.to_string(), port.to_string())
    }

    fn addr(&self, key: &str) -> String {
        self.endpoints[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in endpoints.json"))
            .to_string()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        stop_mailctl_up(&mut self.child);
    }
}

#[test]
fn security_matrix() {
    let up = Up::start();
    open_relay_battery(&up);
    no_relaying_after_a_failed_auth(&up);
    imap_and_pop3_logins_are_throttled_across_connections(&up);
    sessions_per_user_are_limited(&up);
    no_credentials_before_tls(&up);
    old_tls_and_weak_suites_are_refused(&up);
}

/// An unauthenticated client from outside tries every known way to make
/// the inbound relay pass mail on to another domain.
fn open_relay_battery(up: &Up) {
    let cases: &[(&str, u16, &str, &str)] = &[
        // Plain relaying.
        (
            "RCPT TO:<victim@external.test>",
            550,
            "5.7.1",
            "plain relay",
        ),
        ("RCPT TO:<victim@EXTERNAL.test>", 550, "5.7.1", "case trick"),
        // RFC 5321 4.1.2: a domain has no trailing dot.
        (
            "RCPT TO:<victim@external.test.>",
            501,
            "5.1.3",
            "trailing dot",
        ),
        (
            "RCPT TO:<victim@example.test.external.test>",
            550,
            "5.7.1",
            "hosted domain as a prefix",
        ),
        // RFC 5321 appendix C: source routes are ignored, so this is
        // plain relaying to external.test.
        (
            "RCPT TO:<@example.test:victim@external.test>",
            550,
            "5.7.1",
            "source route",
        ),
        // Relay forms inside a hosted domain's local part (RFC 2505 2.6.1):
        // refused as relay attempts by the routing rules, before any
        // directory lookup.
        (
            "RCPT TO:<victim%external.test@example.test>",
            550,
            "5.7.1",
            "percent hack",
        ),
        (
            "RCPT TO:<external.test!victim@example.test>",
            550,
            "5.7.1",
            "bang path",
        ),
        (
            "RCPT TO:<\"victim@external.test\"@example.test>",
            550,
            "5.1.1",
            "quoted local part with @",
        ),
        (
            "RCPT TO:<victim@external.test@example.test>",
            501,
            "5.1.3",
            "two @",
        ),
    ];
    let mut commands = vec!["EHLO!", "MAIL FROM:<spammer@outside.test>"];
    commands.extend(cases.iter().map(|c| c.0));
    // RFC 5321 4.1.1.3 and 4.5.1: <Postmaster> without a domain is accepted.
    commands.push("RCPT TO:<postmaster>");
    commands.push("RCPT TO:<Postmaster>");
    commands.push("QUIT");
    let replies = smtp(&up.addr("smtp_inbound"), "plain", &up.ca, &commands);
    assert_eq!(replies.len(), commands.len(), "{replies:#?}");
    expect(&replies[1], 250, "2.1.0", "MAIL FROM");
    // Every case is reported, not only the first that differs.
    let wrong: Vec<String> = cases
        .iter()
        .enumerate()
        .filter(|(i, (_, code, status, _))| {
            !replies[i + 2].starts_with(&format!("{code} {status}"))
        })
        .map(|(i, (cmd, code, status, what))| {
            format!(
                "{what}: {cmd}: expected {code} {status}, got {}",
                replies[i + 2]
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    let n = cases.len() + 2;
    expect(&replies[n], 250, "2.1.5", "RCPT TO:<postmaster>");
    expect(&replies[n + 1], 250, "2.1.5", "RCPT TO:<Postmaster>");
}

/// A client whose AUTH failed is still unauthenticated: no relaying on
/// submission, with or without implicit TLS (RFC 4954 4, 6). And the
/// relay's failed-login throttle spans connections and ports: the second
/// failure for the same name, on another connection to the other port,
/// waits twice as long (2 s, then 4 s with the default `[login_throttle]`).
fn no_relaying_after_a_failed_auth(up: &Up) {
    // base64("\0alice@example.test\0wrong")
    let bad_plain = "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==";
    let mut took = Vec::new();
    for (key, mode) in [("submission", "starttls"), ("submissions", "implicit")] {
        let mut commands = vec!["EHLO!"];
        if mode == "starttls" {
            commands.extend(["STARTTLS!", "EHLO!"]);
        }
        commands.extend([
            bad_plain,
            "MAIL FROM:<alice@example.test>",
            "RCPT TO:<victim@external.test>",
            "QUIT",
        ]);
        let started = std::time::Instant::now();
        let replies = smtp(&up.addr(key), mode, &up.ca, &commands);
        took.push(started.elapsed());
        let at = commands.iter().position(|c| *c == bad_plain).expect("auth");
        assert!(replies[at - 1].contains("AUTH"), "{key}: {replies:#?}");
        expect(
            &replies[at],
            535,
            "5.7.8",
            &format!("{key}: wrong password"),
        );
        expect(
            &replies[at + 1],
            530,
            "5.7.0",
            &format!("{key}: MAIL after a failed AUTH"),
        );
        expect(
            &replies[at + 2],
            503,
            "5.5.1",
            &format!("{key}: RCPT without MAIL"),
        );
    }
    assert!(
        took[0] >= Duration::from_secs(2) && took[1] >= Duration::from_secs(4),
        "failed AUTH not throttled across connections: {took:?}"
    );
}

/// Credentials never travel in the clear: AUTH, LOGIN and USER/PASS are
/// refused (and not advertised) before STARTTLS on every plain port.
fn no_credentials_before_tls(up: &Up) {
    let bad_plain = "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1kZW1vLXB3";
    let replies = smtp(
        &up.addr("submission"),
        "plain",
        &up.ca,
        &["EHLO!", bad_plain, "MAIL FROM:<alice@example.test>", "QUIT"],
    );
    assert!(
        !replies[0].contains("AUTH"),
        "submission advertises AUTH before TLS: {replies:#?}"
    );
    assert!(replies[0].contains("STARTTLS"), "{replies:#?}");
    // RFC 4954 4 and 6: AUTH over a connection that is not encrypted is
    // "538 5.7.11 Encryption required for requested authentication
    // mechanism"; every other command before STARTTLS is RFC 3207's
    // "530 5.7.0 Must issue a STARTTLS command first".
    expect(
        &replies[1],
        538,
        "5.7.11",
        "submission: AUTH before STARTTLS",
    );
    expect(
        &replies[2],
        530,
        "5.7.0",
        "submission: MAIL before STARTTLS",
    );

    // The inbound relay offers no AUTH at all.
    let replies = smtp(
        &up.addr("smtp_inbound"),
        "plain",
        &up.ca,
        &["EHLO!", bad_plain, "QUIT"],
    );
    assert!(!replies[0].contains("AUTH"), "{replies:#?}");
    assert!(
        replies[1].starts_with("502 5.5.1") || replies[1].starts_with("503 5.5.1"),
        "inbound: AUTH where none is offered: {}",
        replies[1]
    );

    // IMAP (RFC 9051 6.2.3, RFC 3501 6.2.3 and 7.1 PRIVACYREQUIRED).
    let (host, port) = up.host_port("imap");
    let script = format!(
        r#"
import imaplib
m = imaplib.IMAP4("{host}", {port})
caps = m.capabilities
print("LOGINDISABLED" in caps, any(c.startswith("AUTH=") for c in caps))
for cmd in ('a1 LOGIN alice@example.test alice-demo-pw', 'a2 AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1kZW1vLXB3'):
    tag = cmd.split()[0].encode()
    m.send(cmd.encode() + b"\r\n")
    while True:
        line = m.readline().decode().strip()
        if line.startswith(tag.decode()):
            print(line)
            break
m.shutdown()
"#
    );
    let out = python3(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        out.status.success() && lines.len() == 3,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lines[0], "True False",
        "LOGINDISABLED and no AUTH= before TLS"
    );
    assert!(
        lines[1].starts_with("a1 NO [PRIVACYREQUIRED]"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("a2 NO [PRIVACYREQUIRED]"),
        "{}",
        lines[2]
    );

    // POP3 (RFC 2595 4, RFC 2449 CAPA): no USER or SASL before STLS.
    let (host, port) = up.host_port("pop3");
    let script = format!(
        r#"
import poplib
p = poplib.POP3("{host}", {port})
caps = p.capa()
print("USER" in caps, "SASL" in caps, "STLS" in caps)
for cmd in ("USER alice@example.test", "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1kZW1vLXB3"):
    try:
        print(p._shortcmd(cmd).decode())
    except poplib.error_proto as e:
        print(e.args[0].decode())
p.quit()
"#
    );
    let out = python3(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        out.status.success() && lines.len() == 3,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0], "False False True", "POP3 CAPA before STLS");
    assert!(
        lines[1].starts_with("-ERR"),
        "USER before STLS: {}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("-ERR"),
        "AUTH before STLS: {}",
        lines[2]
    );
}

/// What `openssl s_client` negotiates with `args` against `addr`: the
/// protocol and cipher on success, `None` when the handshake fails.
fn handshake(addr: &str, ca: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-CAfile"])
        .arg(ca)
        .args(["-verify_return_error", "-brief"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl (Debian package openssl)");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let protocol = text
        .lines()
        .find_map(|l| l.strip_prefix("Protocol version: "))?;
    let cipher = text
        .lines()
        .find_map(|l| l.strip_prefix("Ciphersuite: "))
        .unwrap_or("?");
    Some(format!("{protocol} {cipher}"))
}

/// RFC 8996: TLS 1.0 and 1.1 are refused; RFC 7525 4.2: only AEAD suites.
/// The client is told to allow the old versions (`@SECLEVEL=0`), so a
/// refusal is the server's.
fn old_tls_and_weak_suites_are_refused(up: &Up) {
    let ports: &[(&str, Option<&str>)] = &[
        ("submissions", None),
        ("submission", Some("smtp")),
        ("smtp_inbound", Some("smtp")),
        ("imap", Some("imap")),
        ("pop3", Some("pop3")),
        ("imaps", None),
        ("pop3s", None),
        ("mmp_imap", Some("imap")),
        ("mmp_pop3", Some("pop3")),
    ];
    for (key, starttls) in ports {
        let addr = up.addr(key);
        let with = |extra: &[&str]| {
            let mut args: Vec<&str> = Vec::new();
            if let Some(proto) = starttls {
                args.extend(["-starttls", proto]);
            }
            args.extend(extra);
            handshake(&addr, &up.ca, &args)
        };
        for old in ["-tls1", "-tls1_1"] {
            let got = with(&[old, "-cipher", "DEFAULT:@SECLEVEL=0"]);
            assert_eq!(got, None, "{key} accepted {old}");
        }
        let cbc = with(&[
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0",
        ]);
        assert_eq!(cbc, None, "{key} accepted a CBC suite");
        let tls12 = with(&["-tls1_2"]).unwrap_or_else(|| panic!("{key}: no TLS 1.2"));
        assert!(
            tls12.starts_with("TLSv1.2 ECDHE-")
                && (tls12.contains("GCM") || tls12.contains("CHACHA20")),
            "{key}: {tls12}"
        );
        let tls13 = with(&["-tls1_3"]).unwrap_or_else(|| panic!("{key}: no TLS 1.3"));
        assert!(tls13.starts_with("TLSv1.3 "), "{key}: {tls13}");
    }
}

/// One IMAP or POP3 login over TLS; prints the seconds from sending the
/// credentials to the answer, then the answer line. Arguments: protocol
/// (imap|pop3) mode (implicit|starttls) host port cafile user password.
const LOGIN_DIALOG: &str = r#"
import imaplib, poplib, ssl, sys, time
proto, mode, host, port, ca, user, pw = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=ca)
if proto == "imap":
    if mode == "implicit":
        m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=60)
    else:
        m = imaplib.IMAP4(host, int(port), timeout=60)
        m.starttls(ssl_context=ctx)
    t = time.monotonic()
    m.send(b'a1 LOGIN "%s" "%s"\r\n' % (user.encode(), pw.encode()))
    while True:
        line = m.readline().decode().strip()
        if line.startswith("a1 "):
            break
else:
    if mode == "implicit":
        p = poplib.POP3_SSL(host, int(port), context=ctx, timeout=60)
    else:
        p = poplib.POP3(host, int(port), timeout=60)
        p.stls(context=ctx)
    p._shortcmd("USER " + user)
    t = time.monotonic()
    try:
        line = p._shortcmd("PASS " + pw).decode()
    except poplib.error_proto as e:
        line = e.args[0].decode()
print("%.3f" % (time.monotonic() - t))
print(line)
"#;

/// How long one login took and its answer line.
fn login_once(up: &Up, proto: &str, key: &str, user: &str, password: &str) -> (Duration, String) {
    let mode = if key.ends_with('s') {
        "implicit"
    } else {
        "starttls"
    };
    let (host, port) = up.host_port(key);
    let out = Command::new("python3")
        .arg("-c")
        .arg(LOGIN_DIALOG)
        .args([proto, mode, &host, &port])
        .arg(&up.ca)
        .args([user, password])
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let (Some(secs), Some(answer)) = (lines.next(), lines.next()) else {
        panic!(
            "{key}: login dialogue failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let secs: f64 = secs.parse().expect("seconds");
    (Duration::from_secs_f64(secs), answer.to_string())
}

/// Guessing passwords over many connections gets slower with each failure,
/// whichever protocol and port the guesser uses: the store and the MMP
/// each keep one count per client address and per name for IMAP and POP3
/// together (default `[login_throttle]`: 2 s, then 4 s). The answer is the
/// usual failure, the same for an unknown user as for a wrong password.
fn imap_and_pop3_logins_are_throttled_across_connections(up: &Up) {
    for (imap, pop3, name) in [
        ("imaps", "pop3s", "guesser-store@example.test"),
        ("mmp_imap", "mmp_pop3", "guesser-mmp@example.test"),
    ] {
        let (first, answer) = login_once(up, "imap", imap, name, "wrong-1");
        assert_eq!(
            answer, "a1 NO [AUTHENTICATIONFAILED] Authentication failed",
            "{imap}"
        );
        let (second, answer) = login_once(up, "pop3", pop3, name, "wrong-2");
        assert_eq!(answer, "-ERR [AUTH] Authentication failed", "{pop3}");
        assert!(
            first >= Duration::from_millis(1_900) && second >= Duration::from_millis(3_900),
            "{imap}/{pop3}: failed logins not throttled across connections and protocols: {first:?}, {second:?}"
        );
    }
}

/// A user may hold `max_sessions_per_user` (50 by default) IMAP and POP3
/// sessions at their store, counted together, direct and through the MMP;
/// one more is refused with RFC 5530's `LIMIT` (IMAP) or RFC 2449's
/// `IN-USE` (POP3), through the MMP too, and closing one makes room.
fn sessions_per_user_are_limited(up: &Up) {
    let user = &up.endpoints["users"][0];
    let address = user["address"].as_str().expect("address");
    let password = user["password"].as_str().expect("password");
    let (host, port) = up.host_port("imaps");
    let script = format!(
        r#"
import imaplib, ssl, subprocess, sys
ctx = ssl.create_default_context(cafile="{ca}")
held = []
for i in range(50):
    m = imaplib.IMAP4_SSL("{host}", {port}, ssl_context=ctx, timeout=60)
    m.login("{address}", "{password}")
    held.append(m)
print("held", len(held))
sys.stdout.flush()
# The next login, any protocol, any way in, is refused: the Rust side runs
# those dialogues while these sessions stay open, then closes one.
sys.stdin.readline()
held.pop().logout()
print("closed one")
sys.stdout.flush()
sys.stdin.readline()
for m in held:
    m.logout()
print("done")
"#,
        ca = up.ca.display(),
    );
    let mut holder = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdin = holder.stdin.take().expect("stdin");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        holder.stdout.take().expect("stdout"),
    ));
    let mut next = || {
        lines
            .next()
            .and_then(Result::ok)
            .expect("the session holder ended early")
    };
    assert_eq!(next(), "held 50");
    let limit = "Too many sessions for this user";
    for (proto, key) in [
        ("imap", "imaps"),
        ("imap", "imap"),
        ("pop3", "pop3s"),
        ("imap", "mmp_imap"),
        ("pop3", "mmp_pop3"),
    ] {
        let (_, answer) = login_once(up, proto, key, address, password);
        let want = if proto == "imap" {
            "a1 NO [LIMIT] "
        } else {
            "-ERR [IN-USE] "
        };
        assert!(
            answer.starts_with(want) && answer.contains(limit),
            "{key}: login beyond the per-user limit: {answer}"
        );
    }
    std::io::Write::write_all(&mut stdin, b"\n").expect("holder stdin");
    assert_eq!(next(), "closed one");
    let (_, answer) = login_once(up, "pop3", "mmp_pop3", address, password);
    assert!(
        answer.starts_with("+OK"),
        "after closing one session: {answer}"
    );
    std::io::Write::write_all(&mut stdin, b"\n").expect("holder stdin");
    assert_eq!(next(), "done");
    assert!(holder.wait().expect("holder").success());
}
