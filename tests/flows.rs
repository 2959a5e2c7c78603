//! The message flows across real processes: jobctl, a mailstore, the
//! inbound and outbound relays, a DNS server (`dnsmasq`) answering MX for
//! an outside domain, and Postfix's `smtp-sink` standing for the Internet
//! on another loopback address.
//!
//! - internal -> internal: submission (STARTTLS + AUTH, Python smtplib) on
//!   the outbound relay, through the inbound relay, LMTP into the store,
//!   read back over POP3 and over IMAP (body, Message-ID, Received trace);
//! - internal -> external: the same submission to an outside address, by
//!   MX to the "Internet" server;
//! - external -> internal: `swaks` to the inbound relay (the MX of the
//!   hosted domain) as an Internet MTA would, read back over IMAP;
//! - a list expanded by the inbound relay, and a vacation notice sent once;
//! - what the inbound relay refuses (unknown user, relaying) and what
//!   `mailctl route test` and `mailctl queue stats` say about it.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::flows_env::{
    DOMAIN, Daemon, OUTSIDE, directory_section, inbound_routing_text, python, start_dns,
    start_internet,
};
use common::{Service, ServiceBuilder, bin, create_file_directory, file_user, loopback, wait_for};

/// The file directory: alice and bob with passwords, homed on the store
/// at 127.0.0.1.
fn directory(dir: &Path) -> PathBuf {
    let path = dir.join("directory.toml");
    // bob is away: senders get one notice per period.
    let mut bob = file_user("bob", DOMAIN);
    bob.vacation = Some(mail_directory::Vacation {
        text: "I am away until Monday.".into(),
        start: None,
        end: None,
    });
    let team = mail_directory::file::FileGroup {
        name: "team".into(),
        mail: Some(format!("team@{DOMAIN}")),
        member_addresses: vec![format!("alice@{DOMAIN}"), format!("bob@{DOMAIN}")],
        ..Default::default()
    };
    create_file_directory(
        &path,
        DOMAIN,
        vec![file_user("alice", DOMAIN), bob],
        vec![team],
    );
    path
}

struct System {
    _jobctl: Service,
    store: Service,
    inbound: Service,
    outbound: Service,
    _dns: Daemon,
    _internet: Daemon,
    sink: PathBuf,
    ca: PathBuf,
    inbound_config: PathBuf,
    jobctl_addr: SocketAddr,
    _dir: tempfile::TempDir,
}

fn start_system() -> System {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let tls = mail_core::tls::generate_self_signed(d, &["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    let tls_section = format!(
        "[tls]\ncert = {:?}\nkey = {:?}\n",
        tls.cert.display().to_string(),
        tls.key.display().to_string()
    );
    let dir_file = directory(d);
    let (dns, dns_addr) = start_dns(d);
    let sink = d.join("internet");
    let (internet, internet_port) = start_internet(&sink);

    let jobctl = ServiceBuilder::new("jobctl").ip(loopback(1)).start();
    let jobctl_addr = jobctl.port("grpc");

    let store = ServiceBuilder::new("mailstore")
        .ip(loopback(1))
        .no_defaults()
        .config_top(&format!(
            "host = \"127.0.0.1\"\n[store]\nsystem_path = {:?}\n[store.partitions]\nprimary = {:?}\n[lmtp.listener]\nlisten = \"127.0.0.1:0\"\n[pop3]\nplaintext_auth_without_tls = true\n[pop3.listener]\nlisten = \"127.0.0.1:0\"\n[imap.listener]\nlisten = \"127.0.0.1:0\"\ntls = \"starttls\"\n{tls_section}{}",
            d.join("store/system").display().to_string(),
            d.join("store/primary").display().to_string(),
            directory_section(&dir_file),
        ))
        .start();
    let lmtp_port = store.port("lmtp").port().to_string();

    let relay_common = |name: &str, routing: &Path| {
        format!(
            "routing = {:?}\n{tls_section}{}\n[spool]\ndir = {:?}\n[delivery]\njobctl = \"http://{jobctl_addr}\"\nrelay = \"{name}\"\nhostname = \"{name}.{DOMAIN}\"\n[delivery.dns]\nnameservers = [\"{dns_addr}\"]\n",
            routing.display().to_string(),
            directory_section(&dir_file),
            d.join(format!("spool-{name}")).display().to_string(),
        )
    };

    let inbound_routing = d.join("inbound-routing.toml");
    std::fs::write(&inbound_routing, inbound_routing_text(&lmtp_port)).expect("write");
    let inbound = ServiceBuilder::new("mta-inbound")
        .ip(loopback(2))
        .no_defaults()
        .config_top(&format!(
            "{}[smtp]\nhostname = \"mx.{DOMAIN}\"\n[smtp.listener]\nlisten = \"127.0.0.2:0\"\n",
            relay_common("mta-inbound", &inbound_routing)
        ))
        .start();
    let inbound_config = inbound.config.clone();

    // The outbound relay reaches the "Internet" on smtp-sink's port.
    let outbound_routing = d.join("outbound-routing.toml");
    let text = mail_routing::fill(
        mail_routing::OUTBOUND_DEFAULT,
        &[
            ("DOMAIN", DOMAIN),
            ("LOCAL_HOST", "smtp.example.test"),
            ("INBOUND_RELAY", &inbound.port("smtp").to_string()),
        ],
    )
    .expect("outbound routing")
    .replacen(
        "kind = \"smtp_mx\"\n",
        &format!("kind = \"smtp_mx\"\nport = {internet_port}\n"),
        1,
    );
    std::fs::write(&outbound_routing, text).expect("write");
    let outbound = ServiceBuilder::new("mta-outbound")
        .ip(loopback(3))
        .no_defaults()
        .config_top(&format!(
            "{}[submission]\nhostname = \"smtp.{DOMAIN}\"\n[submission.listener]\nlisten = \"127.0.0.3:0\"\ntls = \"starttls\"\n",
            relay_common("mta-outbound", &outbound_routing)
        ))
        .start();
    System {
        _jobctl: jobctl,
        store,
        inbound,
        outbound,
        _dns: dns,
        _internet: internet,
        sink,
        ca: tls.cert,
        inbound_config,
        jobctl_addr,
        _dir: dir,
    }
}

/// Submits one message as alice over STARTTLS + AUTH.
fn submit(sys: &System, to: &[&str], subject: &str) {
    let addr = sys.outbound.port("submission");
    let (ok, out) = python(&format!(
        "import smtplib, ssl\nctx = ssl.create_default_context(cafile={ca:?})\nctx.check_hostname = False\n\
         s = smtplib.SMTP({host:?}, {port}, timeout=20)\ns.starttls(context=ctx)\ns.login('alice', 'alice-pw')\n\
         msg = 'From: alice@example.test\\r\\nTo: {to_h}\\r\\nSubject: {subject}\\r\\nMessage-ID: <{subject}@example.test>\\r\\n\\r\\nHello from the flows test.\\r\\n'\n\
         r = s.sendmail('alice@example.test', {to:?}, msg)\nprint('refused', r)\ns.quit()\n",
        ca = sys.ca.display().to_string(),
        host = addr.ip().to_string(),
        port = addr.port(),
        to_h = to.join(", "),
        to = to,
    ));
    assert!(
        ok && out.contains("refused {}"),
        "submission failed:\n{out}\n--- outbound ---\n{}",
        sys.outbound.log_text()
    );
}

/// Every message in `user`'s maildrop, over POP3.
fn pop3_messages(sys: &System, user: &str) -> Vec<String> {
    let addr = sys.store.port("pop3");
    let (ok, out) = python(&format!(
        "import poplib\np = poplib.POP3({host:?}, {port}, timeout=10)\np.user({user:?})\np.pass_({pw:?})\n\
         n = p.stat()[0]\nfor i in range(1, n + 1):\n    print('=====')\n    print(b'\\n'.join(p.retr(i)[1]).decode('utf-8', 'replace'))\np.quit()\n",
        host = addr.ip().to_string(),
        port = addr.port(),
        pw = format!("{user}-pw"),
    ));
    assert!(ok, "POP3 failed:\n{out}\n{}", sys.store.log_text());
    out.split("=====\n").skip(1).map(str::to_string).collect()
}

/// A message read back over IMAP (STARTTLS, LOGIN) from `user`'s INBOX.
struct ImapMessage {
    header: String,
    text: String,
}

impl ImapMessage {
    /// The `Received:` fields, unfolded, newest (topmost) first.
    fn received(&self) -> Vec<String> {
        self.header
            .replace("\r\n", "\n")
            .replace("\n\t", " ")
            .replace("\n ", " ")
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("received:"))
            .map(str::to_string)
            .collect()
    }
}

/// Reads the messages with MESSAGE_ID from USER's INBOX over IMAP after
/// STARTTLS; prints `[[header, text], ...]` as JSON.
const IMAP_READ_BACK: &str = r#"
import imaplib, json, ssl
ctx = ssl.create_default_context(cafile=CA)
ctx.check_hostname = False
m = imaplib.IMAP4(HOST, PORT, timeout=10)
m.starttls(ssl_context=ctx)
m.login(USER, PASSWORD)
m.select('INBOX', readonly=True)
out = []
for uid in m.uid('SEARCH', 'HEADER', 'Message-ID', MESSAGE_ID)[1][0].split():
    typ, data = m.uid('FETCH', uid, '(BODY.PEEK[HEADER] BODY.PEEK[TEXT])')
    assert typ == 'OK', data
    out.append([d[1].decode('utf-8', 'replace') for d in data if isinstance(d, tuple)])
m.logout()
print(json.dumps(out))
"#;

/// The messages with `message_id` in `user`'s INBOX, over IMAP.
fn imap_messages(sys: &System, user: &str, message_id: &str) -> Vec<ImapMessage> {
    let addr = sys.store.port("imap");
    let script = format!(
        "HOST = {host:?}\nPORT = {port}\nCA = {ca:?}\nUSER = {user:?}\nPASSWORD = {pw:?}\nMESSAGE_ID = {message_id:?}\n{IMAP_READ_BACK}",
        ca = sys.ca.display().to_string(),
        host = addr.ip().to_string(),
        port = addr.port(),
        pw = format!("{user}-pw"),
    );
    let (ok, out) = python(&script);
    assert!(ok, "IMAP failed:\n{out}\n{}", sys.store.log_text());
    let found: Vec<Vec<String>> = serde_json::from_str(out.trim()).expect("IMAP read-back JSON");
    found
        .into_iter()
        .map(|parts| {
            assert_eq!(parts.len(), 2, "header and text: {parts:?}");
            let mut it = parts.into_iter();
            ImapMessage {
                header: it.next().unwrap_or_default(),
                text: it.next().unwrap_or_default(),
            }
        })
        .collect()
}

fn logs(sys: &System) -> String {
    format!(
        "--- outbound ---\n{}\n--- inbound ---\n{}\n--- store ---\n{}",
        sys.outbound.log_text(),
        sys.inbound.log_text(),
        sys.store.log_text()
    )
}

#[test]
fn the_four_flows_across_processes() {
    let sys = start_system();

    // 1 + 3: internal -> internal and internal -> external in one
    // submission.
    submit(
        &sys,
        &["bob@example.test", &format!("carol@{OUTSIDE}")],
        "flow-one",
    );
    let got = wait_for("bob's copy in his store", Duration::from_secs(60), || {
        let m = pop3_messages(&sys, "bob");
        m.iter()
            .any(|t| t.contains("Subject: flow-one"))
            .then_some(m)
    });
    assert_eq!(got.len(), 1, "exactly one copy:\n{got:?}");
    assert!(
        got[0].contains("Received:"),
        "the relays leave Received lines: {}",
        got[0]
    );
    // The same message over IMAP: body and Message-ID as sent, and the
    // trace of its path: the submission server (authenticated, TLS), then
    // the inbound relay, newest first.
    let read = imap_messages(&sys, "bob", "<flow-one@example.test>");
    assert_eq!(read.len(), 1, "one copy over IMAP\n{}", logs(&sys));
    let msg = &read[0];
    assert!(
        msg.header.contains("Message-ID: <flow-one@example.test>"),
        "{}",
        msg.header
    );
    assert_eq!(msg.text, "Hello from the flows test.\r\n");
    let received = msg.received();
    assert!(received.len() >= 2, "{}", msg.header);
    let inbound_hop = received
        .iter()
        .position(|r| r.contains("by mx.example.test (Tiermail)"));
    let submission_hop = received
        .iter()
        .position(|r| r.contains("by smtp.example.test (Tiermail) with ESMTPSA"));
    assert!(
        matches!((inbound_hop, submission_hop), (Some(i), Some(s)) if i < s),
        "Received: inbound relay above the submission server:\n{}",
        received.join("\n")
    );

    let sunk = wait_for(
        "the outside copy at the Internet server",
        Duration::from_secs(60),
        || {
            let files: Vec<String> = std::fs::read_dir(&sys.sink)
                .ok()?
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .filter(|t| t.contains("Subject: flow-one"))
                .collect();
            (!files.is_empty()).then_some(files)
        },
    );
    assert_eq!(
        sunk.len(),
        1,
        "delivered once by MX: {sunk:?}\n{}",
        logs(&sys)
    );

    // 4: external -> internal, as an Internet MTA reaches the MX.
    let inbound = sys.inbound.port("smtp").to_string();
    let swaks = |to: &str, subject: &str| {
        Command::new("swaks")
            .args(["--server", &inbound, "--to", to])
            .args([
                "--from",
                &format!("someone@{OUTSIDE}"),
                "--helo",
                "mx.external.test",
            ])
            .args(["--header", &format!("Subject: {subject}")])
            // swaks's own spelling, so it replaces the one swaks makes up.
            .args(["--header", &format!("Message-Id: <{subject}@{OUTSIDE}>")])
            .args(["--body", &format!("Body of {subject}.")])
            .output()
            .expect("swaks")
    };
    let out = swaks("bob@example.test", "flow-four");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        logs(&sys)
    );
    wait_for(
        "the external message in bob's store",
        Duration::from_secs(60),
        || {
            pop3_messages(&sys, "bob")
                .iter()
                .any(|t| t.contains("Subject: flow-four"))
                .then_some(())
        },
    );
    let read = imap_messages(&sys, "bob", &format!("<flow-four@{OUTSIDE}>"));
    assert_eq!(read.len(), 1, "one copy over IMAP\n{}", logs(&sys));
    let msg = &read[0];
    assert!(
        msg.header
            .contains(&format!("Message-Id: <flow-four@{OUTSIDE}>")),
        "{}",
        msg.header
    );
    assert!(msg.text.contains("Body of flow-four."), "{}", msg.text);
    let received = msg.received();
    assert!(
        received.first().is_some_and(|r| r.contains(
            "from mx.external.test ([127.0.0.1]) by mx.example.test (Tiermail) with ESMTP"
        )),
        "the MX's trace on top:\n{}",
        msg.header
    );

    // Group expansion on the inbound relay: both members get one copy.
    let out = swaks(&format!("team@{DOMAIN}"), "flow-team");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        logs(&sys)
    );
    for user in ["alice", "bob"] {
        let got = wait_for(
            &format!("{user}'s copy of the list message"),
            Duration::from_secs(60),
            || {
                let m = pop3_messages(&sys, user);
                let n = m
                    .iter()
                    .filter(|t| t.contains("Subject: flow-team"))
                    .count();
                (n > 0).then_some(n)
            },
        );
        assert_eq!(got, 1, "{user} got the list message once\n{}", logs(&sys));
    }

    // bob's vacation notice reached alice (the sender of flow-one) once,
    // from <> and marked as an automatic reply.
    let notices = wait_for(
        "bob's vacation notice to alice",
        Duration::from_secs(60),
        || {
            let m: Vec<String> = pop3_messages(&sys, "alice")
                .into_iter()
                .filter(|t| t.contains("Subject: Auto: flow-one"))
                .collect();
            (!m.is_empty()).then_some(m)
        },
    );
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("Auto-Submitted: auto-replied"),
        "{}",
        notices[0]
    );
    assert!(
        notices[0].contains("I am away until Monday."),
        "{}",
        notices[0]
    );

    // What the inbound relay refuses.
    let unknown = swaks("nobody@example.test", "nobody");
    assert!(
        String::from_utf8_lossy(&unknown.stdout).contains("550 5.1.1"),
        "{}",
        String::from_utf8_lossy(&unknown.stdout)
    );
    let relaying = swaks(&format!("victim@{OUTSIDE}"), "relay");
    assert!(
        String::from_utf8_lossy(&relaying.stdout).contains("550 5.7.1"),
        "{}",
        String::from_utf8_lossy(&relaying.stdout)
    );

    // The tools, against the running system.
    let route = Command::new(bin("mailctl"))
        .args(["route", "test", "bob@example.test", "--config"])
        .arg(&sys.inbound_config)
        .output()
        .expect("mailctl route test");
    let text = String::from_utf8_lossy(&route.stdout);
    assert!(
        route.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&route.stderr)
    );
    assert!(text.contains("lmtp"), "{text}");
    let stats = Command::new(bin("mailctl"))
        .args(["queue", "--jobctl", &sys.jobctl_addr.to_string(), "stats"])
        .output()
        .expect("mailctl queue stats");
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
}
