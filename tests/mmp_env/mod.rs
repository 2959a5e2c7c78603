//! The MMP's test world: two `mailstore` processes on their own loopback
//! addresses (store-a at 127.0.0.2, store-b at 127.0.0.3) with users spread
//! by `mailHost`, the same users in a file directory and in a real
//! `slapd`, and `mmp` processes in front (one per directory). The stores
//! trust the proxy only from 127.0.0.10, the address the MMPs connect from.

pub mod wire;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mail_testkit::{Slapd, deploy_ldap_dir};

use crate::common::{Service, ServiceBuilder, create_file_directory, loopback, swaks_lmtp};

pub const DOMAIN: &str = "example.test";
pub const STORE_A: &str = "store-a.example.test";
pub const STORE_B: &str = "store-b.example.test";
/// Where the MMPs connect to the stores from (the stores' `[proxy]`).
pub const PROXY_SOURCE: &str = "127.0.0.10";
pub const SECRET: &str = "the-mmp-proxy-secret";

/// `(uid, mailHost)`; every password is `{uid}-pw`.
pub const USERS: &[(&str, Option<&str>)] = &[
    ("alice", Some(STORE_A)),
    ("carol", Some(STORE_A)),
    ("lockme", Some(STORE_A)),
    ("bob", Some(STORE_B)),
    ("dave", Some(STORE_B)),
    // A mailHost nothing knows: neither the table nor DNS.
    ("erin", Some("nowhere.example.test")),
];

pub fn password(uid: &str) -> String {
    format!("{uid}-pw")
}

/// Files every process of the world shares.
pub struct World {
    pub dir: tempfile::TempDir,
    /// The certificate (and CA) every TLS hop uses.
    pub ca: PathBuf,
    pub key: PathBuf,
    pub secret: PathBuf,
    /// The file directory's data.
    pub directory: PathBuf,
}

impl World {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let names: Vec<String> = [
            "localhost",
            "mail.example.test",
            STORE_A,
            STORE_B,
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.4",
            "127.0.0.5",
            "127.0.0.6",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let tls = mail_core::tls::generate_self_signed(d, &names).expect("certificate");
        let secret = d.join("mmp.secret");
        std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
        let directory = d.join("directory.toml");
        let users = USERS
            .iter()
            .map(|(uid, host)| {
                let mut u = crate::common::file_user(uid, DOMAIN);
                u.mail_host = host.map(str::to_string);
                u
            })
            .collect();
        create_file_directory(&directory, DOMAIN, users, Vec::new());
        Self {
            ca: tls.cert,
            key: tls.key,
            secret,
            directory,
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file_directory_section(&self) -> String {
        format!(
            "[directory]\nbackend = \"file\"\npath = {:?}\n[directory.cache]\nttl = \"2s\"\nnegative_ttl = \"1s\"\n",
            self.directory.display().to_string()
        )
    }

    /// A real slapd holding the same users and mailHosts.
    pub fn slapd(&self) -> Slapd {
        let schema = deploy_ldap_dir();
        let ldif = self.path().join("world.ldif");
        std::fs::write(&ldif, ldif_text()).expect("ldif");
        Slapd::start(&schema, &ldif).expect("slapd starts (Debian packages slapd, ldap-utils)")
    }
}

/// The LDIF: suffix, the organisational units, the domain and the users.
fn ldif_text() -> String {
    use mail_directory::password::{Scheme, hash};
    let mut out = String::from(
        "dn: dc=example,dc=test\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: ou=people,dc=example,dc=test\nobjectClass: top\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,dc=example,dc=test\nobjectClass: top\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: ou=domains,dc=example,dc=test\nobjectClass: top\nobjectClass: organizationalUnit\nou: domains\n\n\
         dn: cn=example.test,ou=domains,dc=example,dc=test\nobjectClass: top\nobjectClass: tiermailDomain\ncn: example.test\n\n",
    );
    for (uid, host) in USERS {
        out.push_str(&format!(
            "dn: uid={uid},ou=people,dc=example,dc=test\nobjectClass: top\nobjectClass: inetOrgPerson\nobjectClass: inetLocalMailRecipient\nobjectClass: tiermailUser\nuid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {uid}@{DOMAIN}\ntiermailAccountStatus: active\nuserPassword: {}\n",
            hash(&password(uid), Scheme::Ssha).expect("hash")
        ));
        if let Some(h) = host {
            out.push_str(&format!("mailHost: {h}\n"));
        }
        out.push('\n');
    }
    out
}

/// The `[directory]` section for `slapd`.
pub fn ldap_directory_section(slapd: &Slapd) -> String {
    format!(
        "[directory]\nbackend = \"ldap\"\nurl = \"{}\"\nbase_dn = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\nconnect_timeout = \"2s\"\ntimeout = \"3s\"\n[directory.cache]\nttl = \"2s\"\nnegative_ttl = \"1s\"\n",
        slapd.url, slapd.base_dn, slapd.admin_dn, slapd.admin_password
    )
}

/// Fixed ports for a store, so that it comes back where the MMP's table
/// says it is.
#[derive(Debug, Clone, Copy)]
pub struct StorePorts {
    pub imap: u16,
    pub pop3: u16,
    pub lmtp: u16,
}

/// A running store.
pub struct Store {
    pub svc: Service,
    pub host: &'static str,
    pub ip: IpAddr,
    pub ports: StorePorts,
}

impl Store {
    /// Starts the store `host` on `ip`, its data under the world's
    /// directory; `ports` fixes the listeners (else port 0).
    pub fn start(world: &World, host: &'static str, ip: IpAddr, ports: Option<StorePorts>) -> Self {
        let data = world.path().join(host);
        let p = ports.unwrap_or(StorePorts {
            imap: 0,
            pop3: 0,
            lmtp: 0,
        });
        let svc = ServiceBuilder::new("mailstore")
            .ip(ip)
            .no_defaults()
            .config_top(&format!(
                "host = \"{host}\"\n[tls]\ncert = {cert:?}\nkey = {key:?}\n\
                 [store]\nsystem_path = {sys:?}\n[store.partitions]\nprimary = {primary:?}\n\
                 {directory}\
                 [lmtp.listener]\nlisten = \"{ip}:{lmtp}\"\n\
                 [imap]\nhostname = \"{host}\"\nauth_failure_delay = \"200ms\"\n\
                 [imap.listener]\nlisten = \"{ip}:{imap}\"\ntls = \"starttls\"\n\
                 [pop3]\nhostname = \"{host}\"\nauth_failure_delay = \"200ms\"\n\
                 [pop3.listener]\nlisten = \"{ip}:{pop3}\"\ntls = \"starttls\"\n\
                 [proxy]\nnetworks = [\"{PROXY_SOURCE}/32\"]\n[[proxy.identities]]\nname = \"mmp\"\nsecret_file = {secret:?}\n",
                cert = world.ca.display().to_string(),
                key = world.key.display().to_string(),
                sys = data.join("system").display().to_string(),
                primary = data.join("primary").display().to_string(),
                directory = world.file_directory_section(),
                lmtp = p.lmtp,
                imap = p.imap,
                pop3 = p.pop3,
                secret = world.secret.display().to_string(),
            ))
            .start();
        let ports = StorePorts {
            imap: svc.port("imap").port(),
            pop3: svc.port("pop3").port(),
            lmtp: svc.port("lmtp").port(),
        };
        Self {
            svc,
            host,
            ip,
            ports,
        }
    }

    /// Delivers one message over LMTP with swaks.
    pub fn deliver(&self, to: &str, subject: &str) {
        let lmtp = SocketAddr::new(self.ip, self.ports.lmtp).to_string();
        let out = swaks_lmtp(&lmtp, to, subject, &format!("{subject}: body."));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(" 250 "),
            "swaks to {to} at {}: {text}{}",
            self.host,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Its `[backend.hosts]` entry.
    pub fn table_entry(&self) -> String {
        format!(
            "[backend.hosts.\"{}\"]\naddress = \"{}\"\nimap_port = {}\npop3_port = {}\n",
            self.host, self.ip, self.ports.imap, self.ports.pop3
        )
    }
}

/// Starts an `mmp` on `ip` with `directory` (a `[directory]` section),
/// STARTTLS and implicit-TLS listeners for IMAP and POP3, STARTTLS to the
/// stores from 127.0.0.10, and `backend` (more `[backend...]` tables:
/// hosts, DNS) and `extra` sections.
pub fn start_mmp(
    world: &World,
    ip: IpAddr,
    directory: &str,
    backend: &str,
    extra: &str,
) -> Service {
    ServiceBuilder::new("mmp")
        .ip(ip)
        .no_defaults()
        .config_top(&format!(
            "[tls]\ncert = {cert:?}\nkey = {key:?}\n{directory}\
             [backend]\nsecret_file = {secret:?}\ntls = \"starttls\"\ntls_ca = {cert:?}\n\
             source_address = \"{PROXY_SOURCE}\"\nconnect_timeout = \"2s\"\nlogin_timeout = \"5s\"\n\
             {backend}\
             [login_throttle]\nfailure_delay = \"300ms\"\nmax_delay = \"1s\"\nuser_lockout_after = 4\nip_lockout_after = 0\nlockout = \"1m\"\n\
             [limits]\nmax_connections_per_ip = 12\n\
             [imap]\nhostname = \"mail.example.test\"\nmax_literal = 4096\n\
             [imap.listener]\nlisten = \"{ip}:0\"\ntls = \"starttls\"\n\
             [imap.tls_listener]\nlisten = \"{ip}:0\"\ntls = \"implicit\"\n\
             [pop3]\nhostname = \"mail.example.test\"\n\
             [pop3.listener]\nlisten = \"{ip}:0\"\ntls = \"starttls\"\n\
             [pop3.tls_listener]\nlisten = \"{ip}:0\"\ntls = \"implicit\"\n{extra}",
            cert = world.ca.display().to_string(),
            key = world.key.display().to_string(),
            secret = world.secret.display().to_string(),
        ))
        .start()
}

/// The table of both stores, DNS off.
pub fn table(a: &Store, b: &Store) -> String {
    format!(
        "{}{}[backend.dns]\nenabled = false\n",
        a.table_entry(),
        b.table_entry()
    )
}

/// Runs a Python script; its last stdout line is JSON.
pub fn python_json(script: &str) -> serde_json::Value {
    let out = crate::common::python3(script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed:\n{script}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Runs a command; success and its output.
pub fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// 127.0.0.N.
pub fn ip(n: u8) -> IpAddr {
    loopback(n)
}

/// Waits until `f` holds, at most `timeout`.
pub fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    crate::common::wait_for(what, timeout, || f().then_some(()));
}
