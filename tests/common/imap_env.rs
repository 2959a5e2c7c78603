//! What the IMAP and POP3 process tests share (tests/imap.rs,
//! tests/imap_conformance.rs, tests/pop3_conformance.rs,
//! tests/imap_consistency.rs): a `mailstore` with a file directory (alice,
//! bob and any extra users), a self-signed certificate, LMTP, IMAP and
//! POP3 with STARTTLS plus their implicit-TLS ports on loopback, and a
//! runner for Python scripts against it (imaplib, poplib, raw sockets).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    Service, ServiceBuilder, create_file_directory, file_user, loopback, python3, swaks_lmtp,
};

pub const DOMAIN: &str = "example.test";

/// A running mailstore with its certificate and a temp dir.
pub struct Store {
    pub svc: Service,
    pub ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Store {
    /// alice (quota 10 MiB / 1000 messages) and bob.
    pub fn start() -> Self {
        Self::start_with(&[], "")
    }

    /// alice, bob and `extra` users (each with password `<uid>-pw`);
    /// `config` is TOML appended to the generated file (whole tables).
    pub fn start_with(extra: &[String], config: &str) -> Self {
        Self::start_in(&std::env::temp_dir(), extra, config)
    }

    /// As [`Self::start_with`], with the store's data (partition, system
    /// area) in a temp dir under `parent` (a disk, for tests that store
    /// much: /tmp may be in memory).
    pub fn start_in(parent: &Path, extra: &[String], config: &str) -> Self {
        let dir = tempfile::tempdir_in(parent).expect("tempdir");
        let d = dir.path();
        let tls =
            mail_core::tls::generate_self_signed(d, &["127.0.0.1".into(), "localhost".into()])
                .expect("certificate");
        let mut alice = file_user("alice", DOMAIN);
        alice.quota_bytes = Some(10 * 1024 * 1024);
        alice.quota_messages = Some(1000);
        let mut users = vec![alice, file_user("bob", DOMAIN)];
        users.extend(extra.iter().map(|u| file_user(u, DOMAIN)));
        let directory = d.join("directory.toml");
        create_file_directory(&directory, DOMAIN, users, Vec::new());
        let svc = ServiceBuilder::new("mailstore")
            .ip(loopback(1))
            .no_defaults()
            .config_top(&format!(
                "host = \"127.0.0.1\"\n[tls]\ncert = {cert:?}\nkey = {key:?}\n\
                 [store]\nsystem_path = {sys:?}\n[store.partitions]\nprimary = {primary:?}\n\
                 [directory]\nbackend = \"file\"\npath = {directory:?}\n\
                 [lmtp.listener]\nlisten = \"127.0.0.1:0\"\n\
                 [imap]\nhostname = \"imap.{DOMAIN}\"\nauth_failure_delay = \"200ms\"\n\
                 [imap.listener]\nlisten = \"127.0.0.1:0\"\ntls = \"starttls\"\n\
                 [imap.implicit_tls]\nlisten = \"127.0.0.1:0\"\n\
                 [pop3]\nhostname = \"pop.{DOMAIN}\"\nauth_failure_delay = \"200ms\"\n\
                 [pop3.listener]\nlisten = \"127.0.0.1:0\"\ntls = \"starttls\"\n\
                 [pop3.implicit_tls]\nlisten = \"127.0.0.1:0\"\n{config}\n",
                cert = tls.cert.display().to_string(),
                key = tls.key.display().to_string(),
                sys = d.join("store/system").display().to_string(),
                primary = d.join("store/primary").display().to_string(),
                directory = directory.display().to_string(),
            ))
            .start();
        Self {
            svc,
            ca: tls.cert,
            _dir: dir,
        }
    }

    /// The primary partition (the user area: message files).
    pub fn partition(&self) -> PathBuf {
        self._dir.path().join("store/primary")
    }

    pub fn imap_port(&self) -> u16 {
        self.svc.port("imap").port()
    }

    pub fn lmtp(&self) -> String {
        self.svc.port("lmtp").to_string()
    }

    /// One message over LMTP with `swaks`.
    pub fn swaks(&self, to: &str, subject: &str, body: &str) {
        let out = swaks_lmtp(&self.lmtp(), to, subject, body);
        assert!(
            out.status.success(),
            "swaks: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            self.svc.log_text()
        );
    }

    /// The Python constants every script starts with: `HOST`, `PORT`
    /// (IMAP, STARTTLS), `IMAPS_PORT`, `POP3_PORT`, `POP3S_PORT`,
    /// `LMTP_PORT`, `CA`.
    pub fn python_constants(&self) -> String {
        format!(
            "HOST = '127.0.0.1'\nPORT = {port}\nIMAPS_PORT = {imaps}\nPOP3_PORT = {pop3}\n\
             POP3S_PORT = {pop3s}\nLMTP_PORT = {lmtp}\nCA = {ca:?}\n",
            port = self.imap_port(),
            imaps = self.svc.port("imaps").port(),
            pop3 = self.svc.port("pop3").port(),
            pop3s = self.svc.port("pop3s").port(),
            lmtp = self.svc.port("lmtp").port(),
            ca = self.ca.display().to_string(),
        )
    }

    /// Runs a Python script after [`PRELUDE`]; the script fills the dict
    /// `R`, printed as JSON on the last line of stdout.
    pub fn python(&self, body: &str) -> serde_json::Value {
        let script = format!(
            "{}{PRELUDE}\n{body}\nprint(json.dumps(R))\n",
            self.python_constants()
        );
        let out = python3(&script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "python failed:\n{stdout}\n{}\n--- mailstore log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.svc.log_text()
        );
        // Lines before the JSON are progress notes (latencies).
        let mut lines = stdout.lines().collect::<Vec<_>>();
        let last = lines.pop().unwrap_or_default();
        for l in lines {
            println!("{l}");
        }
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    pub fn curl(&self, user: &str, password: &str, url_path: &str) -> std::process::Output {
        Command::new("curl")
            .args(["-s", "--max-time", "20", "--ssl-reqd", "--cacert"])
            .arg(&self.ca)
            .args(["-u", &format!("{user}:{password}")])
            .arg(format!("imap://127.0.0.1:{}/{url_path}", self.imap_port()))
            .output()
            .expect("curl")
    }
}

/// Helpers for every script: `connect(user)` logs in over STARTTLS,
/// `raw(m, line)` sends one command on an imaplib connection and returns
/// every response line up to the tagged one (literals inlined), `lmtp(to,
/// msg)` delivers over LMTP.
pub const PRELUDE: &str = r#"
import base64, imaplib, json, re, smtplib, ssl, time
R = {}

def context():
    c = ssl.create_default_context(cafile=CA)
    c.check_hostname = False
    return c

def plain():
    return imaplib.IMAP4(HOST, PORT, timeout=10)

def connect(user='alice'):
    m = plain()
    m.starttls(ssl_context=context())
    m.login(user, user + '-pw')
    return m

def line(m):
    l = m.readline()
    if not l:
        raise EOFError('connection closed')
    s = l.decode('utf-8', 'replace').rstrip('\r\n')
    while re.search(r'\{\d+\+?\}$', s):
        n = int(s[s.rfind('{') + 1:-1].rstrip('+'))
        s += '\n' + m.read(n).decode('utf-8', 'replace')
        s += m.readline().decode('utf-8', 'replace').rstrip('\r\n')
    return s

def raw(m, cmd):
    tag = m._new_tag().decode()
    m.send((tag + ' ' + cmd + '\r\n').encode())
    out = []
    while True:
        s = line(m)
        out.append(s)
        if s.startswith(tag + ' '):
            # Keep imaplib's idea of the state right for its own methods.
            verb = cmd.split(' ', 1)[0].upper()
            if verb in ('SELECT', 'EXAMINE'):
                m.state = 'SELECTED' if ' OK' in s else 'AUTH'
            elif verb in ('CLOSE', 'UNSELECT'):
                m.state = 'AUTH'
            return out

def tagged(lines):
    return lines[-1].split(' ', 1)[1]

def lmtp(to, msg):
    l = smtplib.LMTP(HOST, LMTP_PORT, timeout=10)
    refused = l.sendmail('sender@example.net', [to], msg)
    l.quit()
    assert refused == {}, refused

def modseq(s):
    return int(re.search(r'MODSEQ \((\d+)\)', s).group(1))

def highest(lines):
    for l in lines:
        mo = re.search(r'HIGHESTMODSEQ (\d+)', l)
        if mo:
            return int(mo.group(1))
    raise AssertionError('no HIGHESTMODSEQ in %r' % lines)
"#;

/// A JSON value as text (arrays joined by newlines).
pub fn s(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}

pub fn has(r: &serde_json::Value, key: &str, needle: &str) {
    let text = s(&r[key]);
    assert!(
        text.contains(needle),
        "{key}: {needle:?} missing in:\n{text}"
    );
}

pub fn lacks(r: &serde_json::Value, key: &str, needle: &str) {
    let text = s(&r[key]);
    assert!(
        !text.contains(needle),
        "{key}: {needle:?} present in:\n{text}"
    );
}
