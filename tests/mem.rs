//! The webmail multiplexor (`mem`) as a process, driven by `curl`, in
//! front of a stand-in store in the test process that records what the
//! MEM relays: logins and the session cookie, the identity assertion and
//! the session object's rebased URLs, CSRF checks, forged, expired and
//! logged-out cookies, login throttling, a store that is down or hung,
//! the push stream relayed event by event, the static files' security
//! headers, API clients with Basic credentials, upload limits and
//! downloads that must never render as pages. Real stores behind the MEM
//! are in tests/webmail.rs.

mod common;
#[path = "mem_support/fake_store.rs"]
mod fake_store;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Service, ServiceBuilder, create_file_directory, file_user, http_get, loopback};
use fake_store::FakeStore;

const DOMAIN: &str = "example.test";

/// A running MEM with its certificate.
struct Mem {
    svc: Service,
    origin: String,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

/// Users: alice on store-a (the fake store), carol on a store that is
/// down, dave on one that accepts connections and never answers, and
/// erin whose account is inactive.
fn start_mem(store_a: SocketAddr, down: SocketAddr, hung: SocketAddr, extra: &str) -> Mem {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let tls = mail_core::tls::generate_self_signed(d, &["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    let mut alice = file_user("alice", DOMAIN);
    alice.mail_host = Some("store-a".into());
    let mut carol = file_user("carol", DOMAIN);
    carol.mail_host = Some("store-down".into());
    let mut dave = file_user("dave", DOMAIN);
    dave.mail_host = Some("store-hung".into());
    let mut erin = file_user("erin", DOMAIN);
    erin.mail_host = Some("store-a".into());
    erin.status = mail_directory::AccountStatus::Inactive;
    let directory = d.join("directory.toml");
    create_file_directory(
        &directory,
        DOMAIN,
        vec![alice, carol, dave, erin],
        Vec::new(),
    );
    let secret = d.join("mem.secret");
    std::fs::write(&secret, "s3cret-for-the-stores\n").expect("secret");
    let svc = ServiceBuilder::new("mem")
        .ip(loopback(1))
        .no_defaults()
        .config(&format!(
            "[tls]\ncert = {cert:?}\nkey = {key:?}\n\
             [http.listener]\nlisten = \"127.0.0.1:0\"\ntls = \"implicit\"\n\
             [directory]\nbackend = \"file\"\npath = {directory:?}\n\
             [proxy]\nname = \"mem\"\nsecret_file = {secret:?}\n\
             [stores]\nconnect_timeout = \"1s\"\nresponse_timeout = \"2s\"\n\
             [stores.hosts]\n\"store-a\" = \"http://{store_a}\"\n\"store-down\" = \"http://{down}\"\n\"store-hung\" = \"http://{hung}\"\n\
             {extra}",
            cert = tls.cert.display().to_string(),
            key = tls.key.display().to_string(),
            directory = directory.display().to_string(),
            secret = secret.display().to_string(),
        ))
        .start();
    let origin = format!("https://{}", svc.port("http"));
    Mem {
        svc,
        origin,
        ca: tls.cert,
        _dir: dir,
    }
}

/// A parsed `curl -i` answer.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Mem {
    /// `curl` against the MEM, trusting its certificate.
    fn curl(&self, path: &str, args: &[&str]) -> Resp {
        let out = Command::new("curl")
            .args(["-sS", "-i", "--max-time", "15", "--cacert"])
            .arg(&self.ca)
            .args(args)
            .arg(format!("{}{path}", self.origin))
            .output()
            .expect("curl (Debian package curl)");
        assert!(
            out.status.success(),
            "curl {path} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// Logs in (with the right Origin); the cookie header value and the
    /// CSRF token.
    fn login(&self, user: &str, password: &str) -> (String, String) {
        let r = self.login_raw(user, password);
        assert_eq!(r.status, 200, "{r:?}");
        let set = r.header("set-cookie").expect("a session cookie");
        let cookie = set.split(';').next().expect("name=value").to_string();
        (
            cookie,
            r.json()["csrfToken"].as_str().expect("token").to_string(),
        )
    }

    fn login_raw(&self, user: &str, password: &str) -> Resp {
        let body = serde_json::json!({"username": user, "password": password}).to_string();
        self.curl(
            "/auth/login",
            &[
                "-H",
                "Content-Type: application/json",
                "-H",
                &format!("Origin: {}", self.origin),
                "--data-binary",
                &body,
            ],
        )
    }

    /// A CSRF-checked POST as the web client sends it.
    fn post(&self, path: &str, cookie: &str, csrf: &str, body: &str) -> Resp {
        self.curl(
            path,
            &[
                "-H",
                &format!("Cookie: {cookie}"),
                "-H",
                &format!("X-Tiermail-CSRF: {csrf}"),
                "-H",
                &format!("Origin: {}", self.origin),
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
    }

    fn metrics(&self) -> String {
        http_get(self.svc.port("admin"), "/metrics")
            .expect("metrics")
            .1
    }
}

fn parse(raw: &str) -> Resp {
    let mut rest = raw;
    loop {
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {raw:?}"));
        if status == 100 && body.starts_with("HTTP/") {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        return Resp {
            status,
            headers,
            body: body.to_string(),
        };
    }
}

/// A fake store plus a closed port and a port that accepts and never
/// answers, on their own runtime.
struct Stores {
    rt: tokio::runtime::Runtime,
    a: FakeStore,
    down: SocketAddr,
    hung: SocketAddr,
    _hung_listener: std::net::TcpListener,
}

fn stores() -> Stores {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let a = rt.block_on(FakeStore::start("127.0.0.1"));
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    // The kernel completes the handshake for the backlog; nobody reads.
    let hung_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hung = hung_listener.local_addr().expect("addr");
    Stores {
        rt,
        a,
        down,
        hung,
        _hung_listener: hung_listener,
    }
}

fn mem_for(s: &Stores, extra: &str) -> Mem {
    start_mem(s.a.addr, s.down, s.hung, extra)
}

#[test]
fn login_sets_a_strict_cookie_and_requests_carry_the_identity_assertion() {
    let s = stores();
    let mem = mem_for(&s, "");
    let r = mem.login_raw("alice", "alice-pw");
    assert_eq!(r.status, 200, "{r:?}");
    let set = r.header("set-cookie").expect("cookie");
    assert!(set.starts_with("__Host-tiermail="), "{set}");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} missing: {set}");
    }
    let token = set["__Host-tiermail=".len()..]
        .split(';')
        .next()
        .expect("value");
    assert_eq!(token.len(), 43, "a 256-bit random token: {token}");
    assert_eq!(r.json()["username"], "alice@example.test");
    let (cookie, csrf) = mem.login("alice", "alice-pw");

    // The session object: the store's URLs rebased onto the MEM.
    let r = mem.curl("/jmap/session", &["-H", &format!("Cookie: {cookie}")]);
    assert_eq!(r.status, 200, "{r:?}");
    let session = r.json();
    assert_eq!(session["apiUrl"], format!("{}/jmap/api/", mem.origin));
    assert_eq!(
        session["downloadUrl"],
        format!(
            "{}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}",
            mem.origin
        )
    );
    assert_eq!(
        session["eventSourceUrl"],
        format!(
            "{}/jmap/eventsource?types={{types}}&closeafter={{closeafter}}&ping={{ping}}",
            mem.origin
        )
    );
    assert_eq!(session["username"], "alice@example.test");

    let r = mem.post(
        "/jmap/api/",
        &cookie,
        &csrf,
        r#"{"using":[],"methodCalls":[]}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json()["methodResponses"][0][1]["user"],
        "alice@example.test"
    );

    let seen = s.a.seen();
    let api = seen
        .iter()
        .find(|x| x.path == "/jmap/api/")
        .expect("the API call reached the store");
    // CONTRACTS: Basic with the MEM's identity, the user, the client.
    assert_eq!(
        api.header("authorization").as_deref(),
        Some("Basic bWVtOnMzY3JldC1mb3ItdGhlLXN0b3Jlcw==")
    );
    assert_eq!(
        api.header("x-tiermail-user").as_deref(),
        Some("alice@example.test")
    );
    assert_eq!(
        api.header("forwarded").as_deref(),
        Some("for=\"127.0.0.1\"")
    );
    for private in ["cookie", "x-tiermail-csrf", "origin"] {
        assert!(api.header(private).is_none(), "{private} reached the store");
    }
    let session_req = seen
        .iter()
        .find(|x| x.path == "/.well-known/jmap")
        .expect("session");
    assert_eq!(session_req.method, "GET");

    // A client's own X-Tiermail-User never reaches the store.
    let r = mem.curl(
        "/jmap/api/",
        &[
            "-H",
            &format!("Cookie: {cookie}"),
            "-H",
            &format!("X-Tiermail-CSRF: {csrf}"),
            "-H",
            &format!("Origin: {}", mem.origin),
            "-H",
            "X-Tiermail-User: bob@example.test",
            "--data-binary",
            "{}",
        ],
    );
    assert_eq!(
        r.json()["methodResponses"][0][1]["user"],
        "alice@example.test"
    );

    let metrics = mem.metrics();
    assert!(
        metrics.contains("mem_logins_total{") && metrics.contains("result=\"ok\""),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"jmap_api\""), "{metrics}");
    assert!(
        metrics.contains("mem_backend_duration_seconds_bucket")
            && metrics.contains("store=\"store-a\""),
        "{metrics}"
    );
}

#[test]
fn state_changing_requests_need_the_csrf_token_and_our_origin() {
    let s = stores();
    let mem = mem_for(&s, "");
    let (cookie, csrf) = mem.login("alice", "alice-pw");
    let before = s.a.seen().len();
    let cookie_h = format!("Cookie: {cookie}");
    let origin_h = format!("Origin: {}", mem.origin);
    let token_h = format!("X-Tiermail-CSRF: {csrf}");
    let cases: [(&str, Vec<&str>); 5] = [
        ("no token", vec!["-H", &cookie_h, "-H", &origin_h]),
        (
            "wrong token",
            vec![
                "-H",
                &cookie_h,
                "-H",
                &origin_h,
                "-H",
                "X-Tiermail-CSRF: AAAA",
            ],
        ),
        (
            "another origin",
            vec![
                "-H",
                &cookie_h,
                "-H",
                &token_h,
                "-H",
                "Origin: https://evil.example",
            ],
        ),
        ("no origin", vec!["-H", &cookie_h, "-H", &token_h]),
        (
            "cross-site fetch",
            vec![
                "-H",
                &cookie_h,
                "-H",
                &token_h,
                "-H",
                &origin_h,
                "-H",
                "Sec-Fetch-Site: cross-site",
            ],
        ),
    ];
    for (what, args) in cases {
        let mut args = args;
        args.extend(["--data-binary", "{}"]);
        let r = mem.curl("/jmap/api/", &args);
        assert_eq!(r.status, 403, "{what}: {r:?}");
        assert_eq!(r.json()["type"], "urn:tiermail:mem:csrf", "{what}");
    }
    assert_eq!(
        s.a.seen().len(),
        before,
        "a refused request reached the store"
    );
    // Login from another site is refused too (login CSRF).
    let r = mem.curl(
        "/auth/login",
        &[
            "-H",
            "Content-Type: application/json",
            "-H",
            "Origin: https://evil.example",
            "--data-binary",
            r#"{"username":"alice","password":"alice-pw"}"#,
        ],
    );
    assert_eq!(r.status, 403, "{r:?}");
    // And logout needs the token.
    let r = mem.curl(
        "/auth/logout",
        &["-X", "POST", "-H", &cookie_h, "-H", &origin_h],
    );
    assert_eq!(r.status, 403, "{r:?}");
    let r = mem.curl("/jmap/session", &["-H", &cookie_h]);
    assert_eq!(r.status, 200, "the session survived the refused logout");
}

#[test]
fn forged_expired_and_logged_out_cookies_are_refused() {
    let s = stores();
    let mem = mem_for(
        &s,
        "[session]\nidle_timeout = \"2s\"\nabsolute_timeout = \"1h\"\n",
    );
    // Forged: right shape, never issued.
    let forged = format!("__Host-tiermail={}", "A".repeat(43));
    for cookie in [forged.as_str(), "__Host-tiermail=short", "other=1"] {
        let r = mem.curl("/jmap/session", &["-H", &format!("Cookie: {cookie}")]);
        assert_eq!(r.status, 401, "{cookie}: {r:?}");
        assert_eq!(r.json()["type"], "urn:tiermail:mem:unauthenticated");
    }
    let r = mem.curl("/auth/session", &["-H", &format!("Cookie: {forged}")]);
    assert_eq!(r.status, 401);

    // Logged out: the same cookie is dead.
    let (cookie, csrf) = mem.login("alice", "alice-pw");
    let r = mem.curl("/auth/session", &["-H", &format!("Cookie: {cookie}")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["csrfToken"], csrf.as_str());
    let r = mem.curl(
        "/auth/logout",
        &[
            "-X",
            "POST",
            "-H",
            &format!("Cookie: {cookie}"),
            "-H",
            &format!("X-Tiermail-CSRF: {csrf}"),
            "-H",
            &format!("Origin: {}", mem.origin),
        ],
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "{r:?}"
    );
    let r = mem.curl("/jmap/session", &["-H", &format!("Cookie: {cookie}")]);
    assert_eq!(r.status, 401, "logged out: {r:?}");

    // Expired: idle past idle_timeout.
    let (cookie, _) = mem.login("alice", "alice-pw");
    let started = Instant::now();
    common::wait_for(
        "the idle session to expire",
        Duration::from_secs(10),
        || {
            let r = mem.curl("/auth/session", &["-H", &format!("Cookie: {cookie}")]);
            // Each check is itself a use: wait more than the idle time between.
            std::thread::sleep(Duration::from_millis(2500));
            (r.status == 401).then_some(())
        },
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[test]
fn failed_logins_are_throttled_per_user_and_counted() {
    let s = stores();
    let mem = mem_for(
        &s,
        "[login_throttle]\nfailure_delay = \"50ms\"\nmax_delay = \"100ms\"\nuser_lockout_after = 4\nlockout = \"60s\"\n",
    );
    let r = mem.login_raw("alice", "wrong");
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json()["type"], "urn:tiermail:mem:loginFailed");
    assert!(r.header("set-cookie").is_none());
    let r = mem.login_raw("nobody", "x");
    assert_eq!(r.status, 401, "an unknown user looks like a wrong password");
    let r = mem.login_raw("erin", "erin-pw");
    assert_eq!(r.status, 403, "inactive account: {r:?}");
    for _ in 0..3 {
        assert_eq!(mem.login_raw("alice", "wrong").status, 401);
    }
    // Locked: even the right password is not checked now.
    let r = mem.login_raw("alice", "alice-pw");
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert_eq!(r.json()["type"], "urn:tiermail:mem:throttled");
    let metrics = mem.metrics();
    for needle in [
        "result=\"failed\"",
        "result=\"throttled\"",
        "result=\"inactive\"",
        "login_throttle_events_total",
    ] {
        assert!(metrics.contains(needle), "{needle}: {metrics}");
    }
    // Basic credentials go through the same throttle.
    let out = mem.curl("/jmap/session", &["-u", "alice:alice-pw"]);
    assert_eq!(out.status, 429, "{out:?}");
}

#[test]
fn a_store_that_is_down_or_hung_gives_a_clear_error_quickly() {
    let s = stores();
    let mem = mem_for(&s, "");
    let (cookie, _) = mem.login("carol", "carol-pw");
    let started = Instant::now();
    let r = mem.curl("/jmap/session", &["-H", &format!("Cookie: {cookie}")]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["type"], "urn:tiermail:mem:storeUnavailable");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("store-down")),
        "{p}"
    );
    // A browser navigating there gets a page, not JSON.
    let r = mem.curl(
        "/jmap/session",
        &[
            "-H",
            &format!("Cookie: {cookie}"),
            "-H",
            "Accept: text/html",
            "-H",
            "Sec-Fetch-Mode: navigate",
        ],
    );
    assert_eq!(r.status, 502);
    assert!(
        r.body.contains("Your mailbox server is not answering"),
        "{}",
        r.body
    );

    let (cookie, _) = mem.login("dave", "dave-pw");
    let started = Instant::now();
    let r = mem.curl("/jmap/session", &["-H", &format!("Cookie: {cookie}")]);
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{r:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(r.json()["type"], "urn:tiermail:mem:storeTimeout");
    let metrics = mem.metrics();
    assert!(metrics.contains("store=\"store-down\""), "{metrics}");
}

/// Reads a streaming `curl -N` line by line on a thread.
fn stream_lines(
    mem: &Mem,
    path: &str,
    cookie: &str,
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new("curl")
        .args(["-sS", "-N", "--max-time", "30", "--cacert"])
        .arg(&mem.ca)
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg(format!("{}{path}", mem.origin))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn next_data(rx: &mpsc::Receiver<String>) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if let Some(d) = line.strip_prefix("data: ") {
            return Some(d.to_string());
        }
    }
    None
}

#[test]
fn the_push_stream_is_relayed_event_by_event_and_ends_with_the_session() {
    let s = stores();
    let mem = mem_for(&s, "");
    let (cookie, csrf) = mem.login("alice", "alice-pw");
    let (mut child, rx) = stream_lines(
        &mem,
        "/jmap/eventsource?types=*&closeafter=no&ping=0",
        &cookie,
    );
    // The first event arrives before the second exists: nothing is
    // buffered along the way.
    s.rt.block_on(s.a.push(r#"{"@type":"StateChange","changed":{"a1":{"Email":"2"}}}"#));
    assert_eq!(
        next_data(&rx).as_deref(),
        Some(r#"{"@type":"StateChange","changed":{"a1":{"Email":"2"}}}"#)
    );
    s.rt.block_on(s.a.push(r#"{"@type":"StateChange","changed":{"a1":{"Mailbox":"3"}}}"#));
    assert_eq!(
        next_data(&rx).as_deref(),
        Some(r#"{"@type":"StateChange","changed":{"a1":{"Mailbox":"3"}}}"#)
    );
    // Logging out ends the stream.
    let r = mem.post("/auth/logout", &cookie, &csrf, "");
    assert_eq!(r.status, 204);
    let exit = common::wait_for("the stream to end", Duration::from_secs(10), || {
        child.try_wait().ok().flatten()
    });
    assert!(
        exit.success(),
        "curl saw an error instead of the end: {exit}"
    );
}

#[test]
fn static_files_carry_a_strict_content_security_policy() {
    let s = stores();
    let mem = mem_for(&s, "");
    let r = mem.curl("/", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("<script type=\"module\" src=\"/js/main.js\">")
    );
    let csp = r.header("content-security-policy").expect("CSP");
    for d in [
        "default-src 'none'",
        "script-src 'self';",
        "img-src 'self' blob: data:;",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(d), "{d}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(r.header("strict-transport-security").is_some());
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let etag = r.header("etag").expect("etag").to_string();
    let again = mem.curl("/", &["-H", &format!("If-None-Match: {etag}")]);
    assert_eq!(again.status, 304);

    let js = mem.curl("/js/main.js", &[]);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );

    // The reading pane's frame: no script at all, images from the
    // network only when the user allowed them.
    let f = mem.curl("/reader-frame.html", &[]);
    let csp = f.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("sandbox allow-same-origin allow-popups"),
        "{csp}"
    );
    assert!(
        !csp.contains("allow-scripts") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(csp.contains("img-src 'self' blob: data:;"), "{csp}");
    let f = mem.curl("/reader-frame.html?images=remote", &[]);
    assert!(
        f.header("content-security-policy")
            .is_some_and(|c| c.contains("img-src 'self' blob: data: https: http:;")),
        "{f:?}"
    );

    let r = mem.curl("/nope.js", &[]);
    assert_eq!(r.status, 404);
    let r = mem.curl("/../Cargo.toml", &["--path-as-is"]);
    assert_eq!(r.status, 404);
}

#[test]
fn api_clients_log_in_with_basic_credentials() {
    let s = stores();
    let mem = mem_for(&s, "");
    let r = mem.curl("/.well-known/jmap", &["-u", "alice@example.test:alice-pw"]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["apiUrl"], format!("{}/jmap/api/", mem.origin));
    let r = mem.curl(
        "/jmap/api/",
        &[
            "-u",
            "alice:alice-pw",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "{}",
        ],
    );
    assert_eq!(
        r.status, 200,
        "no CSRF token needed without a cookie: {r:?}"
    );
    let r = mem.curl("/jmap/session", &["-u", "alice:wrong"]);
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic")),
        "{r:?}"
    );
    // A page on another site cannot ride on credentials a browser keeps.
    let r = mem.curl(
        "/jmap/api/",
        &[
            "-u",
            "alice:alice-pw",
            "-H",
            "Origin: https://evil.example",
            "--data-binary",
            "{}",
        ],
    );
    assert_eq!(r.status, 403, "{r:?}");
    let r = mem.curl("/jmap/session", &[]);
    assert_eq!(r.status, 401);
}

#[test]
fn uploads_stream_to_the_store_and_oversized_ones_are_refused() {
    let s = stores();
    let mem = mem_for(&s, "[http]\nmax_request_size = 2000000\n");
    let (cookie, csrf) = mem.login("alice", "alice-pw");
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small.bin");
    std::fs::write(&small, vec![7u8; 1_500_000]).expect("write");
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 2_500_000]).expect("write");
    let upload = |file: &PathBuf, chunked: bool| {
        let mut args = vec![
            "-H".to_string(),
            format!("Cookie: {cookie}"),
            "-H".into(),
            format!("X-Tiermail-CSRF: {csrf}"),
            "-H".into(),
            format!("Origin: {}", mem.origin),
            "-H".into(),
            "Content-Type: application/octet-stream".into(),
            "--data-binary".into(),
            format!("@{}", file.display()),
        ];
        if chunked {
            args.extend(["-H".into(), "Transfer-Encoding: chunked".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        mem.curl("/jmap/upload/a1/", &args)
    };
    let r = upload(&small, false);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["size"], 1_500_000);
    let r = upload(&big, false);
    assert_eq!(r.status, 413, "declared too large: {r:?}");
    let r = upload(&big, true);
    assert_eq!(r.status, 413, "streamed past the limit: {r:?}");
}

#[test]
fn downloads_are_attachments_that_never_render_as_pages() {
    let s = stores();
    let mem = mem_for(&s, "");
    let (cookie, _) = mem.login("alice", "alice-pw");
    let r = mem.curl(
        "/jmap/download/a1/b1/evil.html?accept=text/html",
        &["-H", &format!("Cookie: {cookie}")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"evil.html\"")
    );
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; sandbox")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    // Another site's page cannot pull it with the user's cookie.
    let r = mem.curl(
        "/jmap/download/a1/b1/evil.html",
        &[
            "-H",
            &format!("Cookie: {cookie}"),
            "-H",
            "Sec-Fetch-Site: cross-site",
        ],
    );
    assert_eq!(r.status, 403);
}
