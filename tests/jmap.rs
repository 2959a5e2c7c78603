//! JMAP on the store (RFC 8620/8621) against the real `mailstore` binary
//! over HTTPS, with Python's standard library as the client
//! (tests/jmap_client.py) and the third-party client `jmapc`:
//!
//! - the session resource, HTTP Basic, the MEM's proxied sessions (and
//!   their refusal from outside the configured networks), and every
//!   request-level and method-level error RFC 8620 names for bad input;
//! - mail delivered over LMTP read with Email/query + Email/get, HTML
//!   sanitised, threads, blobs, push, and IMAP and JMAP seeing each
//!   other's changes at once;
//! - `jmapc` listing mailboxes, reading mail and sending through
//!   EmailSubmission via the outbound relay, the mail arriving in the
//!   other user's mailbox.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::flows_env::{DOMAIN, Daemon, directory_section, inbound_routing_text, start_dns};
use common::{Service, ServiceBuilder, create_file_directory, file_user, loopback};

const PROXY_SECRET: &str = "mem-secret-for-tests";

fn directory(dir: &Path) -> PathBuf {
    let path = dir.join("directory.toml");
    let mut carol = file_user("carol", DOMAIN);
    carol.mail_host = Some("store2".into());
    create_file_directory(
        &path,
        DOMAIN,
        vec![file_user("alice", DOMAIN), file_user("bob", DOMAIN), carol],
        vec![],
    );
    path
}

struct Store {
    svc: Service,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

fn tls_section(d: &Path) -> (String, PathBuf) {
    let tls = mail_core::tls::generate_self_signed(d, &["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    (
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n",
            tls.cert.display().to_string(),
            tls.key.display().to_string()
        ),
        tls.cert,
    )
}

/// The store's sections: file directory, LMTP, IMAP, JMAP on implicit
/// TLS with small limits, and the MEM as a proxy trusted from 127.0.0.5.
fn store_config(d: &Path, dir_file: &Path, tls: &str, extra: &str) -> (String, String) {
    let secret = d.join("mem.secret");
    std::fs::write(&secret, format!("{PROXY_SECRET}\n")).expect("secret");
    let top = format!(
        "host = \"127.0.0.1\"\n[store]\nsystem_path = {:?}\n[store.partitions]\nprimary = {:?}\n[lmtp.listener]\nlisten = \"127.0.0.1:0\"\n[imap]\nallow_plaintext_login = true\n[imap.listener]\nlisten = \"127.0.0.1:0\"\n{tls}{}",
        d.join("store/system").display().to_string(),
        d.join("store/primary").display().to_string(),
        directory_section(dir_file),
    );
    let sections = format!(
        "[http]\nstate_dir = {:?}\nauth_failure_delay = \"10ms\"\n[http.listener]\nlisten = \"127.0.0.1:0\"\ntls = \"implicit\"\n[http.limits]\nmax_size_request = 20000\nmax_calls_in_request = 8\nmax_objects_in_get = 50\n{extra}\n[proxy]\nnetworks = [\"127.0.0.5/32\"]\n[[proxy.identities]]\nname = \"mem\"\nsecret_file = {:?}\n",
        d.join("jmap-state").display().to_string(),
        secret.display().to_string(),
    );
    (top, sections)
}

fn start_store() -> Store {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (tls, ca) = tls_section(d);
    let dir_file = directory(d);
    let (top, sections) = store_config(d, &dir_file, &tls, "");
    let svc = ServiceBuilder::new("mailstore")
        .ip(loopback(1))
        .no_defaults()
        .config_top(&top)
        .config(&sections)
        .start();
    Store { svc, ca, _dir: dir }
}

/// Runs tests/jmap_client.py followed by `script` against `http`; the
/// test passes when the script prints `OK` last.
fn run_python(script: &str, http: SocketAddr, ca: &Path, env: &[(&str, String)]) -> (bool, String) {
    let lib = std::fs::read_to_string(
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("tests/jmap_client.py"),
    )
    .expect("tests/jmap_client.py");
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!("{lib}\n{script}"))
        .env("JMAP_CA", ca)
        .env("JMAP_HOST", http.ip().to_string())
        .env("JMAP_PORT", http.port().to_string())
        .env("JMAP_PROXY_SECRET", PROXY_SECRET)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.trim_end().ends_with("OK"),
        text,
    )
}

const SESSION_AND_ERRORS: &str = r##"
SECRET = os.environ["JMAP_PROXY_SECRET"]
s = session()
assert s["username"] == "alice@example.test", s
assert s["primaryAccounts"][MAIL] == "alice", s
assert s["apiUrl"] == f"https://{HOST}:{PORT}/jmap/api/", s
assert "{blobId}" in s["downloadUrl"] and "{accountId}" in s["uploadUrl"], s
assert "{types}" in s["eventSourceUrl"] and "{closeafter}" in s["eventSourceUrl"] and "{ping}" in s["eventSourceUrl"]
core = s["capabilities"][CORE]
assert core["maxCallsInRequest"] == 8 and core["maxSizeRequest"] == 20000 and core["maxObjectsInGet"] == 50, core
for cap in (MAIL, SUBMISSION, VACATION):
    assert cap in s["capabilities"] and cap in s["accounts"]["alice"]["accountCapabilities"], cap
st, h, d = req("GET", "/.well-known/jmap")
assert st == 200 and json.loads(d)["username"] == "alice@example.test"

# HTTP Basic (RFC 7617): none, wrong, another store's user.
st, h, d = req("GET", "/jmap/session", user=None)
assert st == 401 and h["www-authenticate"].startswith("Basic"), (st, h)
st, h, d = req("GET", "/jmap/session", pw="wrong")
assert st == 401, st
st, h, d = req("GET", "/jmap/session", user="carol")
assert st == 403, (st, d)
st, h, d = req("GET", "/jmap/nowhere")
assert st == 404, st

# RFC 8620 3.6.1 request-level errors.
problem(*req("POST", "/jmap/api/", '{"using": ['), "notJSON")
problem(*req("POST", "/jmap/api/", '{"using": [], "methodCalls": []}', ctype="text/plain"), "notJSON")
problem(*req("POST", "/jmap/api/", '[1, 2]'), "notRequest")
problem(*req("POST", "/jmap/api/", json.dumps({"using": [CORE], "methodCalls": "x"})), "notRequest")
problem(*req("POST", "/jmap/api/", json.dumps({"using": [CORE], "methodCalls": [["Core/echo", {}]]})), "notRequest")
problem(*req("POST", "/jmap/api/", json.dumps({"methodCalls": []})), "notRequest")
p = problem(*api_raw([["Core/echo", {}, "0"]], using=[CORE, "urn:example:nope"]), "unknownCapability")
assert "urn:example:nope" in p["detail"], p
p = problem(*api_raw([["Core/echo", {"pad": "x" * 30000}, "0"]]), "limit")
assert p["limit"] == "maxSizeRequest", p
p = problem(*api_raw([["Core/echo", {}, str(i)] for i in range(9)]), "limit")
assert p["limit"] == "maxCallsInRequest", p

# RFC 8620 3.6.2 method-level errors: later calls still run.
r = api([["Nope/get", {}, "a"], ["Core/echo", {"x": 1}, "b"], ["Email/frob", {}, "c"]])
assert r[0][0] == "error" and r[0][1]["type"] == "unknownMethod" and r[0][2] == "a", r
assert r[1] == ["Core/echo", {"x": 1}, "b"], r
assert r[2][1]["type"] == "unknownMethod", r
r = api([["Mailbox/get", {"accountId": "alice"}, "a"]], using=[CORE])
assert r[0][1]["type"] == "unknownMethod", r
for args, kind in [({"accountId": "bob"}, "accountNotFound"),
                   ({"accountId": 5}, "invalidArguments"),
                   ({"accountId": "alice", "properties": ["bogus"]}, "invalidArguments"),
                   ({"accountId": "alice", "ids": [str(i) for i in range(51)]}, "requestTooLarge")]:
    r = one(["Mailbox/get", args, "x"])
    assert r[0] == "error" and r[1]["type"] == kind, (args, r)
r = one(["Email/changes", {"accountId": "alice", "sinceState": "garbage"}, "x"])
assert r[1]["type"] == "cannotCalculateChanges", r
r = one(["Email/query", {"accountId": "alice", "sort": [{"property": "nope"}]}, "x"])
assert r[1]["type"] == "unsupportedSort", r
r = one(["Email/query", {"accountId": "alice", "filter": {"nope": 1}}, "x"])
assert r[1]["type"] == "unsupportedFilter", r
r = one(["Email/query", {"accountId": "alice", "anchor": "enothere"}, "x"])
assert r[1]["type"] == "anchorNotFound", r
r = one(["Mailbox/set", {"accountId": "alice", "ifInState": "0", "create": {}}, "x"])
assert r[1]["type"] == "stateMismatch", r

# RFC 8620 3.7 result references that point nowhere.
ref = lambda call, name, path: {"resultOf": call, "name": name, "path": path}
r = api([["Mailbox/query", {"accountId": "alice"}, "a"],
         ["Mailbox/get", {"accountId": "alice", "#ids": ref("zz", "Mailbox/query", "/ids")}, "b"],
         ["Mailbox/get", {"accountId": "alice", "#ids": ref("a", "Mailbox/get", "/ids")}, "c"],
         ["Mailbox/get", {"accountId": "alice", "#ids": ref("a", "Mailbox/query", "/nope")}, "d"],
         ["Mailbox/get", {"accountId": "alice", "#ids": ref("a", "Mailbox/query", "/ids/9")}, "e"],
         ["Mailbox/get", {"accountId": "alice", "#ids": "a"}, "f"],
         ["Mailbox/get", {"accountId": "alice", "ids": [], "#ids": ref("a", "Mailbox/query", "/ids")}, "g"],
         ["Mailbox/get", {"accountId": "alice", "#ids": ref("a", "Mailbox/query", "/ids"),
                          "properties": ["name", "role"]}, "h"]])
assert [x[1].get("type") for x in r[1:6]] == ["invalidResultReference"] * 5, r
assert r[6][1]["type"] == "invalidArguments", r
assert r[7][0] == "Mailbox/get" and r[7][1]["list"][0]["role"] == "inbox", r

# The MEM's proxied session (CONTRACTS: Basic proxy:secret, X-Tiermail-User, Forwarded).
H = {"X-Tiermail-User": "alice@example.test",
     "Forwarded": 'for="192.0.2.7";host="mail.example.test";proto=https'}
st, h, d = req("GET", "/jmap/session", user="mem", pw=SECRET, headers=H, source="127.0.0.5")
assert st == 200, (st, d)
s = json.loads(d)
assert s["username"] == "alice@example.test" and s["apiUrl"] == "https://mail.example.test/jmap/api/", s
r = one(["Mailbox/get", {"accountId": "alice", "ids": None, "properties": ["role"]}, "x"],
        user="mem", pw=SECRET, headers=H, source="127.0.0.5")
assert r[0] == "Mailbox/get", r
# From outside the configured networks, with a wrong secret, without a user,
# for a user of another store, or a user's own password with the header.
st, h, d = req("GET", "/jmap/session", user="mem", pw=SECRET, headers=H, source="127.0.0.1")
assert st == 401, (st, d)
st, h, d = req("GET", "/jmap/session", user="mem", pw="nope", headers=H, source="127.0.0.5")
assert st == 401, st
st, h, d = req("GET", "/jmap/session", user="mem", pw=SECRET, source="127.0.0.5")
assert st == 401, st
st, h, d = req("GET", "/jmap/session", user="mem", pw=SECRET, source="127.0.0.5",
               headers={"X-Tiermail-User": "carol@example.test"})
assert st == 403, st
st, h, d = req("GET", "/jmap/session", source="127.0.0.5", headers={"X-Tiermail-User": "bob@example.test"})
assert st == 401, st
print("OK")
"##;

#[test]
fn session_auth_and_bad_input() {
    let store = start_store();
    let (ok, out) = run_python(SESSION_AND_ERRORS, store.svc.port("http"), &store.ca, &[]);
    assert!(ok, "{out}\n--- store ---\n{}", store.svc.log_text());
}
