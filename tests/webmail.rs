//! The web client in headless Chromium (Debian `chromium` and
//! `chromium-driver`, driven by Selenium from Debian `python3-selenium`,
//! tests/webmail_browser.py) through the real `mem` in front of two real
//! `mailstore` processes, with jobctl and both relays so that mail sent
//! from the web client travels by SMTP submission and LMTP:
//!
//! - alice (store A) and bob (store B) log in through one MEM; alice reads
//!   a message delivered by LMTP and replies with an attachment; the reply
//!   reaches bob's mailbox on store B, in his open web client and over IMAP;
//! - flags, moves and deletes over IMAP show up in the open web client
//!   through push, and the web client's show up over IMAP;
//! - hostile HTML mail: nothing executes and nothing is fetched (a
//!   loopback server that must see no connection, window flags that must
//!   stay unset), until the user asks for remote images;
//! - keyboard shortcuts, search, drafts, threads, inline images;
//! - every step leaves a screenshot.
//!
//! Also, over HTTP: a MEM session cookie of one user never reaches
//! another user's store, and a proxied-session request straight to a
//! store from outside the MEM's network is refused.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::flows_env::{DOMAIN, Daemon, directory_section, inbound_routing_text, start_dns};
use common::{Service, ServiceBuilder, create_file_directory, file_user, loopback};

const STORE_A: &str = "127.0.0.11";
const STORE_B: &str = "127.0.0.12";
const MEM_SECRET: &str = "mem-secret-for-webmail-tests";

/// The whole system: two stores, both relays, jobctl and the MEM.
struct System {
    store_a: Service,
    store_b: Service,
    mem: Service,
    outbound: Service,
    inbound: Service,
    _jobctl: Service,
    _dns: Daemon,
    ca: PathBuf,
    mem_secret: PathBuf,
    _dir: tempfile::TempDir,
}

/// A port free on both store addresses: the inbound relay's LMTP channel
/// reaches every store (its `mailHost`) on one port.
fn common_lmtp_port() -> u16 {
    loop {
        let port = common::flows_env::free_tcp_port(STORE_A);
        if std::net::TcpListener::bind((STORE_B, port)).is_ok() {
            return port;
        }
    }
}

fn start_system() -> System {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let tls = mail_core::tls::generate_self_signed(
        d,
        &[
            "localhost".into(),
            "127.0.0.1".into(),
            "127.0.0.5".into(),
            STORE_A.into(),
            STORE_B.into(),
        ],
    )
    .expect("certificate");
    let tls_section = format!(
        "[tls]\ncert = {:?}\nkey = {:?}\n",
        tls.cert.display().to_string(),
        tls.key.display().to_string()
    );
    let dir_file = d.join("directory.toml");
    let mut alice = file_user("alice", DOMAIN);
    alice.mail_host = Some(STORE_A.into());
    alice.display_name = Some("Alice Archer".into());
    let mut bob = file_user("bob", DOMAIN);
    bob.mail_host = Some(STORE_B.into());
    bob.display_name = Some("Bob Baker".into());
    create_file_directory(&dir_file, DOMAIN, vec![alice, bob], vec![]);
    let (dns, dns_addr) = start_dns(d);
    let jobctl = ServiceBuilder::new("jobctl").ip(loopback(1)).start();
    let jobctl_addr = jobctl.port("grpc");
    let submission_port = common::flows_env::free_tcp_port("127.0.0.3");
    let lmtp_port = common_lmtp_port();
    let mem_secret = d.join("mem.secret");
    std::fs::write(&mem_secret, format!("{MEM_SECRET}\n")).expect("secret");

    let store = |ip: &str, name: &str| {
        let sd = d.join(name);
        std::fs::create_dir_all(&sd).expect("mkdir");
        let submit_secret = d.join(format!("{name}.secret"));
        std::fs::write(&submit_secret, format!("{name}-submits\n")).expect("secret");
        ServiceBuilder::new("mailstore")
            .ip(ip.parse().expect("ip"))
            .no_defaults()
            .config_top(&format!(
                "host = \"{ip}\"\n[store]\nsystem_path = {sys:?}\n[store.partitions]\nprimary = {primary:?}\n\
                 [lmtp.listener]\nlisten = \"{ip}:{lmtp_port}\"\n\
                 [imap]\nallow_plaintext_login = true\n[imap.listener]\nlisten = \"{ip}:0\"\n\
                 {tls_section}{dir}",
                sys = sd.join("system").display().to_string(),
                primary = sd.join("primary").display().to_string(),
                dir = directory_section(&dir_file),
            ))
            .config(&format!(
                "[http]\nstate_dir = {state:?}\n[http.listener]\nlisten = \"{ip}:0\"\ntls = \"implicit\"\n\
                 [http.submission]\nrelay = \"127.0.0.3:{submission_port}\"\ntls = \"starttls\"\nserver_name = \"localhost\"\nca_file = {ca:?}\nidentity = \"{name}\"\nsecret_file = {submit:?}\ntimeout = \"20s\"\n\
                 [proxy]\nnetworks = [\"127.0.0.1/32\"]\n[[proxy.identities]]\nname = \"mem\"\nsecret_file = {mem:?}\n",
                state = sd.join("jmap").display().to_string(),
                ca = tls.cert.display().to_string(),
                submit = submit_secret.display().to_string(),
                mem = mem_secret.display().to_string(),
            ))
            .start()
    };
    let store_a = store(STORE_A, "store-a");
    let store_b = store(STORE_B, "store-b");

    let relay_common = |name: &str, routing: &Path| {
        format!(
            "routing = {:?}\n{tls_section}{}\n[spool]\ndir = {:?}\n[delivery]\njobctl = \"http://{jobctl_addr}\"\nrelay = \"{name}\"\nhostname = \"{name}.{DOMAIN}\"\n[delivery.dns]\nnameservers = [\"{dns_addr}\"]\n",
            routing.display().to_string(),
            directory_section(&dir_file),
            d.join(format!("spool-{name}")).display().to_string(),
        )
    };
    let inbound_routing = d.join("inbound-routing.toml");
    std::fs::write(
        &inbound_routing,
        inbound_routing_text(&lmtp_port.to_string()),
    )
    .expect("write");
    let inbound = ServiceBuilder::new("mta-inbound")
        .ip(loopback(2))
        .no_defaults()
        .config_top(&format!(
            "{}[smtp]\nhostname = \"mx.{DOMAIN}\"\n[smtp.listener]\nlisten = \"127.0.0.2:0\"\n",
            relay_common("mta-inbound", &inbound_routing)
        ))
        .start();
    let outbound_routing = d.join("outbound-routing.toml");
    let text = mail_routing::fill(
        mail_routing::OUTBOUND_DEFAULT,
        &[
            ("DOMAIN", DOMAIN),
            ("LOCAL_HOST", "smtp.example.test"),
            ("INBOUND_RELAY", &inbound.port("smtp").to_string()),
        ],
    )
    .expect("outbound routing");
    std::fs::write(&outbound_routing, text).expect("write");
    let outbound = ServiceBuilder::new("mta-outbound")
        .ip(loopback(3))
        .no_defaults()
        .config_top(&format!(
            "{}[submission]\nhostname = \"smtp.{DOMAIN}\"\n[submission.listener]\nlisten = \"127.0.0.3:{submission_port}\"\ntls = \"starttls\"\n",
            relay_common("mta-outbound", &outbound_routing)
        ))
        .config(&format!(
            "[proxy]\nnetworks = [\"127.0.0.0/8\"]\n[[proxy.identities]]\nname = \"store-a\"\nsecret_file = {:?}\n[[proxy.identities]]\nname = \"store-b\"\nsecret_file = {:?}\n",
            d.join("store-a.secret").display().to_string(),
            d.join("store-b.secret").display().to_string(),
        ))
        .start();

    let mem = ServiceBuilder::new("mem")
        .ip(loopback(5))
        .no_defaults()
        .config(&format!(
            "{tls_section}[http.listener]\nlisten = \"127.0.0.5:0\"\ntls = \"implicit\"\n{dir}\
             [proxy]\nname = \"mem\"\nsecret_file = {secret:?}\n\
             [stores]\nca = {ca:?}\nconnect_timeout = \"2s\"\n[stores.hosts]\n\"{STORE_A}\" = \"https://{a}\"\n\"{STORE_B}\" = \"https://{b}\"\n",
            dir = directory_section(&dir_file),
            secret = mem_secret.display().to_string(),
            ca = tls.cert.display().to_string(),
            a = store_a.port("http"),
            b = store_b.port("http"),
        ))
        .start();
    System {
        store_a,
        store_b,
        mem,
        outbound,
        inbound,
        _jobctl: jobctl,
        _dns: dns,
        ca: tls.cert,
        mem_secret,
        _dir: dir,
    }
}

impl System {
    fn logs(&self) -> String {
        format!(
            "--- mem ---\n{}\n--- store A ---\n{}\n--- store B ---\n{}\n--- outbound ---\n{}\n--- inbound ---\n{}",
            self.mem.log_text(),
            self.store_a.log_text(),
            self.store_b.log_text(),
            self.outbound.log_text(),
            self.inbound.log_text()
        )
    }
}

/// Where the browser test leaves its screenshots.
fn screenshot_dir() -> PathBuf {
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("webmail-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

#[test]
fn the_web_client_in_chromium_through_the_mem() {
    let sys = start_system();
    let shots = screenshot_dir();
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let env = serde_json::json!({
        "mem": format!("https://{}", sys.mem.port("http")),
        "domain": DOMAIN,
        "screenshots": shots.display().to_string(),
        "docs": manifest.join("docs/screenshots").display().to_string(),
        "stores": {
            "a": {"lmtp": sys.store_a.port("lmtp").to_string(), "imap": sys.store_a.port("imap").to_string()},
            "b": {"lmtp": sys.store_b.port("lmtp").to_string(), "imap": sys.store_b.port("imap").to_string()},
        },
    });
    // Debian's Selenium lives in Debian's Python, whatever python3 is first
    // on PATH.
    let out = Command::new("/usr/bin/python3")
        .arg(manifest.join("tests/webmail_browser.py"))
        .env("WEBMAIL_ENV", env.to_string())
        .output()
        .expect("/usr/bin/python3 (Debian packages python3 and python3-selenium)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}\nscreenshots: {}", shots.display());
    assert!(
        out.status.success() && text.trim_end().ends_with("OK"),
        "{text}\n{}",
        sys.logs()
    );
}

/// `curl` straight at a store's JMAP API, from `source`, with the MEM's
/// credential asserting `user`.
fn proxied_to_store(sys: &System, store: SocketAddr, source: &str, user: &str) -> u16 {
    let body = r#"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Mailbox/get",{"ids":null},"0"]]}"#;
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(["--interface", source, "--cacert"])
        .arg(&sys.ca)
        .args(["-u", &format!("mem:{MEM_SECRET}")])
        .args(["-H", &format!("X-Tiermail-User: {user}")])
        .args(["-H", "Forwarded: for=\"192.0.2.1\""])
        .args(["-H", "Content-Type: application/json"])
        .args(["--data-binary", body])
        .arg(format!("https://{store}/jmap/api/"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn sessions_stay_on_their_store_and_stores_refuse_proxy_logins_from_elsewhere() {
    let sys = start_system();
    let a = sys.store_a.port("http");
    let b = sys.store_b.port("http");
    assert!(
        std::fs::read_to_string(&sys.mem_secret).is_ok_and(|s| s.starts_with(MEM_SECRET)),
        "the MEM and the stores share the secret"
    );
    // From the MEM's network the assertion works, for users of that store.
    assert_eq!(
        proxied_to_store(&sys, a, "127.0.0.1", "alice@example.test"),
        200
    );
    // Another store's user on this store: refused after the credential.
    let code = proxied_to_store(&sys, a, "127.0.0.1", "bob@example.test");
    assert!(code == 401 || code == 403, "bob on store A: {code}");
    // The right secret from outside the MEM's network: refused.
    assert_eq!(
        proxied_to_store(&sys, b, "127.0.0.9", "bob@example.test"),
        401,
        "{}",
        sys.logs()
    );

    // Through the MEM, alice's cookie only ever reaches store A as alice:
    // asking for bob's account there finds nothing.
    let script = format!(
        r#"
import http.client, json, ssl
ctx = ssl.create_default_context(cafile={ca:?})
host, port = {mem:?}.rsplit(":", 1)
origin = f"https://{{host}}:{{port}}"
def req(method, path, body=None, headers=None):
    c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    h = {{"Origin": origin, "Content-Type": "application/json"}}
    h.update(headers or {{}})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, r.getheader("set-cookie"), data
st, cookie, data = req("POST", "/auth/login", json.dumps({{"username": "alice", "password": "alice-pw"}}))
assert st == 200, (st, data)
cookie = cookie.split(";")[0]
csrf = json.loads(data)["csrfToken"]
H = {{"Cookie": cookie, "X-Tiermail-CSRF": csrf}}
st, _, data = req("GET", "/jmap/session", headers={{"Cookie": cookie}})
s = json.loads(data)
assert s["username"] == "alice@example.test" and list(s["accounts"]) == ["alice"], s
calls = {{"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
         "methodCalls": [["Mailbox/get", {{"accountId": "bob", "ids": None}}, "0"]]}}
st, _, data = req("POST", "/jmap/api/", json.dumps(calls), H)
r = json.loads(data)["methodResponses"][0]
assert st == 200 and r[0] == "error" and r[1]["type"] == "accountNotFound", (st, r)
st, _, data = req("GET", "/jmap/download/bob/nothing/x", headers={{"Cookie": cookie}})
assert st in (403, 404), (st, data)
# bob's login lands on store B.
st, cookie_b, data = req("POST", "/auth/login", json.dumps({{"username": "bob@example.test", "password": "bob-pw"}}))
st, _, data = req("GET", "/jmap/session", headers={{"Cookie": cookie_b.split(";")[0]}})
assert json.loads(data)["username"] == "bob@example.test", data
print("OK")
"#,
        ca = sys.ca.display().to_string(),
        mem = sys.mem.port("http").to_string(),
    );
    let (ok, out) = common::flows_env::python(&script);
    assert!(
        ok && out.trim_end().ends_with("OK"),
        "{out}\n{}",
        sys.logs()
    );
}
