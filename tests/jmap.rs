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
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"))
            .join("tests/jmap_client.py"),
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

const MAIL_AND_IMAP: &str = r##"
import imaplib, smtplib, threading
LMTP = int(os.environ["LMTP_PORT"])
IMAP = int(os.environ["IMAP_PORT"])

def deliver(raw, to="alice@example.test"):
    l = smtplib.LMTP(HOST, LMTP)
    refused = l.sendmail("sender@example.net", [to], raw.replace("\n", "\r\n").encode())
    l.quit()
    assert not refused, refused

def state():
    return one(["Email/get", {"accountId": "alice", "ids": []}, "s"])[1]["state"]

def changes(since, kind="Email"):
    r = one([kind + "/changes", {"accountId": "alice", "sinceState": since}, "c"])
    assert r[0] == kind + "/changes", r
    return r[1]

def imap():
    m = imaplib.IMAP4(HOST, IMAP)
    m.login("alice", "alice-pw")
    return m

s0 = state()
deliver("From: Bob <bob@example.net>\nTo: alice@example.test\nSubject: Lunch today\nMessage-ID: <m1@example.net>\n\nShall we meet at noon?\n")
deliver("""From: Bob <bob@example.net>
To: alice@example.test
Subject: Re: Lunch today
Message-ID: <m2@example.net>
In-Reply-To: <m1@example.net>
References: <m1@example.net>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=b1

--b1
Content-Type: text/plain

Noon it is.
--b1
Content-Type: text/html

<p onclick="steal()">Noon <b>it is</b><script>alert(1)</script></p><img src="https://tracker.example/p.gif"><a href="javascript:alert(2)">x</a>
--b1--
""")
INBOX = inbox()
r = api([["Email/query", {"accountId": "alice", "filter": {"inMailbox": INBOX},
                          "sort": [{"property": "receivedAt", "isAscending": False}], "calculateTotal": True}, "q"],
         ["Email/get", {"accountId": "alice", "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                        "properties": ["subject", "from", "threadId", "preview", "keywords", "mailboxIds",
                                       "receivedAt", "size", "htmlBody", "textBody", "bodyValues", "messageId"],
                        "fetchHTMLBodyValues": True}, "g"]])
q, g = r[0][1], r[1][1]
assert q["total"] == 2 and len(q["ids"]) == 2, q
by_subject = {e["subject"]: e for e in g["list"]}
first, reply = by_subject["Lunch today"], by_subject["Re: Lunch today"]
assert first["from"] == [{"name": "Bob", "email": "bob@example.net"}], first
assert first["threadId"] == reply["threadId"], g
assert first["messageId"] == ["m1@example.net"] and first["mailboxIds"] == {INBOX: True}, first
assert "noon" in first["preview"], first
assert first["keywords"] == {}, first
html = reply["bodyValues"][reply["htmlBody"][0]["partId"]]
for bad in ("<script", "onclick", "javascript:", "tracker.example"):
    assert bad not in html["value"], html
assert "<b>it is</b>" in html["value"] and html["blockedRemoteImages"] is True, html
g2 = one(["Email/get", {"accountId": "alice", "ids": [reply["id"]], "properties": ["bodyValues", "htmlBody"],
                        "fetchHTMLBodyValues": True, "allowRemoteImages": True}, "g"])[1]
v = g2["list"][0]["bodyValues"][g2["list"][0]["htmlBody"][0]["partId"]]["value"]
assert "tracker.example" in v and "<script" not in v, v
t = one(["Thread/get", {"accountId": "alice", "ids": [first["threadId"]]}, "t"])[1]
assert t["list"][0]["emailIds"] == [first["id"], reply["id"]], t
c = changes(s0)
assert sorted(c["created"]) == sorted([first["id"], reply["id"]]) and not c["updated"] and not c["destroyed"], c
assert changes(s0, "Thread")["created"] == [first["threadId"]]
sn = one(["SearchSnippet/get", {"accountId": "alice", "filter": {"text": "noon"}, "emailIds": [first["id"]]}, "s"])[1]
assert "<mark>noon</mark>" in sn["list"][0]["preview"].lower(), sn
hits = one(["Email/query", {"accountId": "alice", "filter": {"operator": "AND", "conditions": [
    {"from": "bob"}, {"body": "noon it is"}]}}, "q"])[1]["ids"]
assert hits == [reply["id"]], hits
col = one(["Email/query", {"accountId": "alice", "collapseThreads": True}, "q"])[1]["ids"]
assert col == [reply["id"]], col

# IMAP -> JMAP: a flag set over IMAP is an Email update at once.
s1 = state()
m = imap(); m.select("INBOX")
typ, data = m.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
assert typ == "OK", data
c = changes(s1)
assert c["updated"] == [first["id"]] and not c["created"] and not c["destroyed"], c
kw = one(["Email/get", {"accountId": "alice", "ids": [first["id"]], "properties": ["keywords"]}, "g"])[1]["list"][0]
assert kw["keywords"] == {"$flagged": True}, kw
mc = changes(s1, "Mailbox")
assert mc["updated"] == [INBOX] and mc["updatedProperties"] is not None, mc

# JMAP -> IMAP: $seen set over JMAP is \Seen in IMAP.
r = one(["Email/set", {"accountId": "alice", "update": {reply["id"]: {"keywords/$seen": True}}}, "s"])[1]
assert reply["id"] in r["updated"], r
typ, data = m.uid("FETCH", "2", "(FLAGS)")
assert b"\\Seen" in data[0], data
unread = one(["Mailbox/get", {"accountId": "alice", "ids": [INBOX]}, "m"])[1]["list"][0]
assert unread["totalEmails"] == 2 and unread["unreadEmails"] == 1 and unread["totalThreads"] == 1, unread

# The default Archive is the one mailbox with that role (RFC 8621 2):
# a second one is refused, and IMAP shows the role as \Archive.
r = one(["Mailbox/query", {"accountId": "alice", "filter": {"role": "archive"}}, "q"])[1]
assert len(r["ids"]) == 1, r
r = one(["Mailbox/set", {"accountId": "alice", "create": {"a": {"name": "Old", "role": "archive"}}}, "m"])[1]
assert r["notCreated"]["a"]["type"] == "invalidProperties" and r["notCreated"]["a"]["properties"] == ["role"], r
typ, data = m.list()
assert any(b"Archive" in l and b"\\Archive" in l for l in data), data

# A mailbox made over JMAP is listed over IMAP; a move keeps the Email id.
r = one(["Mailbox/set", {"accountId": "alice", "create": {"a": {"name": "Projects"}}}, "m"])[1]
ARCH = r["created"]["a"]["id"]
typ, data = m.list()
assert any(b"Projects" in l for l in data), data
s2 = state()
r = one(["Email/set", {"accountId": "alice", "update": {first["id"]: {"mailboxIds": {ARCH: True}}}}, "s"])[1]
assert first["id"] in r["updated"], r
typ, data = m.status("Projects", "(MESSAGES)")
assert b"MESSAGES 1" in data[0], data
mb = one(["Email/get", {"accountId": "alice", "ids": [first["id"]], "properties": ["mailboxIds", "keywords"]}, "g"])[1]["list"][0]
assert mb["mailboxIds"] == {ARCH: True} and mb["keywords"] == {"$flagged": True}, mb
c = changes(s2)
assert c["updated"] == [first["id"]] and not c["destroyed"] and not c["created"], c

# IMAP EXPUNGE -> JMAP destroyed; the query changes say so.
s3 = state()
m.select("Projects")
m.uid("STORE", "1:*", "+FLAGS", "(\\Deleted)")
m.expunge()
c = changes(s3)
assert c["destroyed"] == [first["id"]] and not c["created"], c
qc = one(["Email/queryChanges", {"accountId": "alice", "sinceQueryState": s3}, "qc"])[1]
assert first["id"] in qc["removed"], qc
assert changes(s3, "Thread")["updated"] == [first["threadId"]]
m.logout()

# Blobs: upload, import, download, parse.
raw3 = "From: carol@example.net\r\nTo: alice@example.test\r\nSubject: Imported\r\nMessage-ID: <m3@example.net>\r\n\r\nfrom a file\r\n"
st, h, d = req("POST", "/jmap/upload/alice/", raw3, ctype="message/rfc822")
assert st == 201, (st, d)
up = json.loads(d)
assert up["size"] == len(raw3) and up["type"] == "message/rfc822" and up["accountId"] == "alice", up
r = one(["Email/import", {"accountId": "alice", "emails": {"i": {"blobId": up["blobId"], "mailboxIds": {INBOX: True},
                                                               "keywords": {"$seen": True}}}}, "i"])[1]
imported = r["created"]["i"]
r = one(["Email/import", {"accountId": "alice", "emails": {"j": {"blobId": up["blobId"], "mailboxIds": {INBOX: True}}}}, "i"])[1]
assert r["notCreated"]["j"]["type"] == "alreadyExists" and r["notCreated"]["j"]["existingId"] == imported["id"], r
st, h, d = req("GET", f"/jmap/download/alice/{imported['blobId']}/m.eml?accept=message/rfc822", ctype=None)
assert st == 200 and d == raw3.encode(), (st, d)
assert h["content-type"] == "message/rfc822" and h["x-content-type-options"] == "nosniff" and "sandbox" in h["content-security-policy"], h
st, h, d = req("GET", f"/jmap/download/bob/{imported['blobId']}/m.eml", ctype=None)
assert st == 404, st
p = one(["Email/parse", {"accountId": "alice", "blobIds": [up["blobId"], "unope"], "properties": ["subject", "from"]}, "p"])[1]
assert p["parsed"][up["blobId"]]["subject"] == "Imported" and p["notFound"] == ["unope"], p

# Drafts: create with a body and an attachment, then destroy.
st, h, d = req("POST", "/jmap/upload/alice/", b"%PDF-1.4 fake", ctype="application/pdf")
pdf = json.loads(d)["blobId"]
r = one(["Email/set", {"accountId": "alice", "create": {"d": {
    "mailboxIds": {INBOX: True}, "keywords": {"$draft": True},
    "from": [{"name": "Alice", "email": "alice@example.test"}], "to": [{"email": "bob@example.test"}],
    "subject": "Draft", "bodyValues": {"1": {"value": "hello"}}, "textBody": [{"partId": "1", "type": "text/plain"}],
    "attachments": [{"blobId": pdf, "type": "application/pdf", "name": "a.pdf"}]}}}, "d"])[1]
draft = r["created"]["d"]
g = one(["Email/get", {"accountId": "alice", "ids": [draft["id"]], "properties": ["subject", "attachments", "keywords", "hasAttachment"]}, "g"])[1]["list"][0]
assert g["subject"] == "Draft" and g["keywords"] == {"$draft": True} and g["hasAttachment"] is True, g
assert g["attachments"][0]["name"] == "a.pdf" and g["attachments"][0]["type"] == "application/pdf", g
st, h, d = req("GET", f"/jmap/download/alice/{g['attachments'][0]['blobId']}/a.pdf?accept=application/pdf", ctype=None)
assert st == 200 and d == b"%PDF-1.4 fake", (st, d)
r = one(["Email/set", {"accountId": "alice", "destroy": [draft["id"]]}, "d"])[1]
assert r["destroyed"] == [draft["id"]], r

# Push (RFC 8620 7.3): a delivery ends a closeafter=state stream with a StateChange.
events = {}
def listen():
    events["r"] = req("GET", "/jmap/eventsource?types=*&closeafter=state&ping=0", ctype=None)
th = threading.Thread(target=listen); th.start()
time.sleep(0.5)
deliver("From: dave@example.net\nTo: alice@example.test\nSubject: Ping\n\npush me\n")
th.join(20)
st, h, d = events["r"]
assert st == 200 and h["content-type"].startswith("text/event-stream"), (st, h)
ev = d.decode()
assert "event: state" in ev, ev
change = json.loads(ev.split("data: ", 1)[1].split("\n")[0])
assert change["@type"] == "StateChange" and "Email" in change["changed"]["alice"] and "EmailDelivery" in change["changed"]["alice"], change
assert change["changed"]["alice"]["Email"] == state(), change

# Mailbox destroy: refused while it holds mail, unless asked.
r = one(["Mailbox/set", {"accountId": "alice", "destroy": [INBOX]}, "m"])[1]
assert r["notDestroyed"][INBOX]["type"] == "forbidden", r
r = one(["Email/set", {"accountId": "alice", "update": {imported["id"]: {"mailboxIds/" + ARCH: True}}}, "s"])[1]
assert imported["id"] in r["updated"], r
r = one(["Mailbox/set", {"accountId": "alice", "destroy": [ARCH]}, "m"])[1]
assert r["notDestroyed"][ARCH]["type"] == "mailboxHasEmail", r
s4 = state()
r = one(["Mailbox/set", {"accountId": "alice", "destroy": [ARCH], "onDestroyRemoveEmails": True}, "m"])[1]
assert r["destroyed"] == [ARCH], r
assert changes(s4, "Mailbox")["destroyed"] == [ARCH]
c = changes(s4)
assert c["updated"] == [imported["id"]] and not c["destroyed"], c
print("OK")
"##;

#[test]
fn mail_over_jmap_and_imap() {
    let store = start_store();
    let env = [
        ("LMTP_PORT", store.svc.port("lmtp").port().to_string()),
        ("IMAP_PORT", store.svc.port("imap").port().to_string()),
    ];
    let (ok, out) = run_python(MAIL_AND_IMAP, store.svc.port("http"), &store.ca, &env);
    assert!(ok, "{out}\n--- store ---\n{}", store.svc.log_text());
}

/// jobctl, the store (JMAP with submission), the inbound relay (LMTP to
/// the store) and the outbound relay trusting the store's proxy identity.
struct System {
    _jobctl: Service,
    store: Service,
    _inbound: Service,
    outbound: Service,
    _dns: Daemon,
    ca: PathBuf,
    dir_file: PathBuf,
    _dir: tempfile::TempDir,
}

fn start_system() -> System {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (tls, ca) = tls_section(d);
    let dir_file = directory(d);
    let (dns, dns_addr) = start_dns(d);
    let jobctl = ServiceBuilder::new("jobctl").ip(loopback(1)).start();
    let jobctl_addr = jobctl.port("grpc");
    let submission_port = common::flows_env::free_tcp_port("127.0.0.3");
    let store_secret = d.join("store.secret");
    std::fs::write(&store_secret, "store-submits\n").expect("secret");
    let (top, sections) = store_config(
        d,
        &dir_file,
        &tls,
        &format!(
            "[http.submission]\nrelay = \"127.0.0.3:{submission_port}\"\ntls = \"starttls\"\nserver_name = \"localhost\"\nca_file = {:?}\nidentity = \"store1\"\nsecret_file = {:?}\ntimeout = \"20s\"\n",
            ca.display().to_string(),
            store_secret.display().to_string()
        ),
    );
    let store = ServiceBuilder::new("mailstore")
        .ip(loopback(1))
        .no_defaults()
        .config_top(&top)
        .config(&sections)
        .start();
    let lmtp_port = store.port("lmtp").port().to_string();
    let relay_common = |name: &str, routing: &Path| {
        format!(
            "routing = {:?}\n{tls}{}\n[spool]\ndir = {:?}\n[delivery]\njobctl = \"http://{jobctl_addr}\"\nrelay = \"{name}\"\nhostname = \"{name}.{DOMAIN}\"\n[delivery.dns]\nnameservers = [\"{dns_addr}\"]\n",
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
            "[proxy]\nnetworks = [\"127.0.0.0/8\"]\n[[proxy.identities]]\nname = \"store1\"\nsecret_file = {:?}\n",
            store_secret.display().to_string()
        ))
        .start();
    System {
        _jobctl: jobctl,
        store,
        _inbound: inbound,
        outbound,
        _dns: dns,
        ca,
        dir_file,
        _dir: dir,
    }
}

const JMAPC: &str = r##"
import imaplib, smtplib
os.environ["REQUESTS_CA_BUNDLE"] = CA
from jmapc import (Client, Ref, Email, EmailAddress, EmailBodyPart, EmailBodyValue, EmailSubmission,
                   Envelope, Address, EmailQueryFilterCondition)
from jmapc.methods import (MailboxGet, EmailQuery, EmailGet, EmailSet, EmailSubmissionSet, IdentityGet,
                           MailboxGetResponse, EmailGetResponse, EmailQueryResponse)
LMTP = int(os.environ["LMTP_PORT"])
IMAP = int(os.environ["IMAP_PORT"])
l = smtplib.LMTP(HOST, LMTP)
l.sendmail("sender@example.net", ["alice@example.test"],
           b"From: Dave <dave@example.net>\r\nTo: alice@example.test\r\nSubject: Read me with jmapc\r\n\r\nHello Alice.\r\n")
l.quit()

alice = Client.create_with_password(host=f"{HOST}:{PORT}", user="alice", password="alice-pw")
mboxes = alice.request(MailboxGet(ids=None))
assert isinstance(mboxes, MailboxGetResponse), mboxes
inbox = [m for m in mboxes.data if m.role == "inbox"][0]
assert inbox.name == "INBOX" and inbox.total_emails == 1, inbox
res = alice.request([
    EmailQuery(filter=EmailQueryFilterCondition(in_mailbox=inbox.id)),
    EmailGet(ids=Ref("/ids"), properties=["subject", "from", "preview"]),
])
q, g = res[0].response, res[1].response
assert isinstance(g, EmailGetResponse), res
assert g.data[0].subject == "Read me with jmapc" and g.data[0].mail_from[0].email == "dave@example.net", g.data
assert "Hello Alice" in g.data[0].preview, g.data

ident = alice.request(IdentityGet()).data[0]
assert ident.email == "alice@example.test", ident
res = alice.request([
    EmailSet(create={"draft": Email(
        mail_from=[EmailAddress(name="Alice", email="alice@example.test")],
        to=[EmailAddress(name="Bob", email="bob@example.test")],
        subject="Hello Bob via JMAP",
        keywords={"$draft": True},
        mailbox_ids={inbox.id: True},
        body_values={"body": EmailBodyValue(value="Sent with jmapc through the outbound relay.")},
        text_body=[EmailBodyPart(part_id="body", type="text/plain")],
    )}),
    EmailSubmissionSet(
        on_success_update_email={"#sendIt": {"keywords/$draft": None, "keywords/$seen": True}},
        create={"sendIt": EmailSubmission(
            email_id="#draft", identity_id=ident.id,
            envelope=Envelope(mail_from=Address(email="alice@example.test"),
                              rcpt_to=[Address(email="bob@example.test")]))},
    ),
])
assert res[1].response.created and "sendIt" in res[1].response.created, res
names = [r.response.__class__.__name__ for r in res]
assert "EmailSetResponse" in names[2:], names

# The message arrives in Bob's mailbox through the relays, seen over JMAP and IMAP.
bob = Client.create_with_password(host=f"{HOST}:{PORT}", user="bob", password="bob-pw")
deadline = time.time() + 60
found = None
while time.time() < deadline and not found:
    r = bob.request([EmailQuery(filter=EmailQueryFilterCondition(text="Hello Bob via JMAP")),
                     EmailGet(ids=Ref("/ids"), properties=["subject", "from", "preview"])])
    found = r[1].response.data
    if not found:
        time.sleep(0.5)
dbg = api([["Email/query", {"accountId": "bob"}, "q"], ["Email/get", {"accountId": "bob", "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"}, "properties": ["subject"]}, "g"]], user="bob")
assert found and found[0].mail_from[0].email == "alice@example.test", (found, dbg)
m = imaplib.IMAP4(HOST, IMAP)
m.login("bob", "bob-pw")
m.select("INBOX")
typ, data = m.search(None, "SUBJECT", "\"Hello Bob via JMAP\"")
assert typ == "OK" and data[0].split(), data
m.logout()
# Alice's draft lost $draft once sent.
kw = one(["Email/get", {"accountId": "alice", "ids": None, "properties": ["keywords", "subject"]}, "g"])[1]["list"]
sent = [e for e in kw if e["subject"] == "Hello Bob via JMAP"][0]
assert sent["keywords"] == {"$seen": True}, sent
subs = one(["EmailSubmission/get", {"accountId": "alice", "ids": None}, "s"])[1]["list"]
assert subs[0]["undoStatus"] == "final" and "bob@example.test" in subs[0]["deliveryStatus"], subs
# A From that is not Alice's is refused before anything is sent.
r = api([["Email/set", {"accountId": "alice", "create": {"x": {"mailboxIds": {inbox.id: True},
          "from": [{"email": "mallory@example.net"}], "to": [{"email": "bob@example.test"}], "subject": "spoof"}}}, "a"],
         ["EmailSubmission/set", {"accountId": "alice", "create": {"y": {"emailId": "#x", "identityId": ident.id}}}, "b"]])
assert r[1][1]["notCreated"]["y"]["type"] == "forbiddenFrom", r

# VacationResponse: the directory's vacation attributes.
v = one(["VacationResponse/get", {"accountId": "alice", "ids": None}, "v"])[1]["list"][0]
assert v["id"] == "singleton" and v["isEnabled"] is False, v
r = one(["VacationResponse/set", {"accountId": "alice", "update": {"singleton": {
    "isEnabled": True, "textBody": "Away until Monday.", "toDate": "2030-01-02T00:00:00Z"}}}, "v"])[1]
assert r["updated"] == {"singleton": None}, r
v = one(["VacationResponse/get", {"accountId": "alice"}, "v"])[1]["list"][0]
assert v["isEnabled"] and v["textBody"] == "Away until Monday." and v["toDate"] == "2030-01-02T00:00:00Z", v
r = one(["VacationResponse/set", {"accountId": "alice", "update": {"singleton": {"subject": "Gone"}}}, "v"])[1]
assert r["notUpdated"]["singleton"]["type"] == "invalidProperties", r
print("OK")
"##;

#[test]
fn jmapc_reads_and_sends_through_the_relay() {
    let sys = start_system();
    let env = [
        ("LMTP_PORT", sys.store.port("lmtp").port().to_string()),
        ("IMAP_PORT", sys.store.port("imap").port().to_string()),
    ];
    let (ok, out) = run_python(JMAPC, sys.store.port("http"), &sys.ca, &env);
    assert!(
        ok,
        "{out}\n--- store ---\n{}\n--- outbound ---\n{}",
        sys.store.log_text(),
        sys.outbound.log_text()
    );
    // The vacation text is in the directory the relays read.
    let data = std::fs::read_to_string(&sys.dir_file).expect("directory file");
    assert!(
        data.contains("Away until Monday.") && data.contains("20300102000000Z"),
        "{data}"
    );
}
