//! The observability files against real data (issue 17 item 5): `mailctl
//! up`, some mail and logins of every kind, then a real Prometheus scraping
//! every service's admin endpoint with `deploy/observability/alerts.yml`
//! loaded. Every metric name that a dashboard panel or an alert rule reads
//! must then exist in Prometheus, every panel query and rule must evaluate
//! without error, and every rule must be healthy. The names are taken from
//! the dashboards' JSON and from the rules as Prometheus itself loaded
//! them, so a panel drawn on a series nobody exports fails here.
//!
//! With `TIERMAIL_DASHBOARD_PNG=FILE` the test also keeps traffic going for
//! a few minutes and draws `tiermail-mail-flow.json` from this Prometheus
//! into FILE with `deploy/observability/render/capture.py` (headless
//! Chromium); docs/screenshots/dashboard.png was made that way.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{SERVICES, bin, http_get, mailctl_up, stop_mailctl_up, wait_for};

fn package_root() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
}

fn observability_dir() -> PathBuf {
    package_root().join("deploy").join("observability")
}

// ---------------------------------------------------------------------------
// Metric names in a PromQL expression.

/// Words that are PromQL syntax rather than metric names when they are
/// not followed by `(`: aggregations (`sum by (x) (...)`), modifiers and
/// binary operators.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
];

/// Skips a quoted string starting at `b[i]`; returns the index after it.
fn skip_quoted(b: &[char], mut i: usize) -> usize {
    let q = b[i];
    i += 1;
    while i < b.len() && b[i] != q {
        if b[i] == '\\' && q != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Skips from an opening bracket to after its closing one, over quoted
/// strings (label values may hold brackets).
fn skip_to(b: &[char], mut i: usize, close: char) -> usize {
    i += 1;
    while i < b.len() && b[i] != close {
        if matches!(b[i], '"' | '\'' | '`') {
            i = skip_quoted(b, i);
        } else {
            i += 1;
        }
    }
    i + 1
}

/// The metric names a PromQL expression selects: identifiers outside label
/// matchers, ranges and strings that are neither functions (followed by
/// `(`) nor PromQL keywords; the label lists of `by (...)`, `on (...)` and
/// the like are skipped.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let b: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip_quoted(&b, i);
        } else if c == '{' {
            i = skip_to(&b, i, '}');
        } else if c == '[' {
            i = skip_to(&b, i, ']');
        } else if c == '#' {
            // A comment runs to the end of the line.
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == ':') {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            let mut j = i;
            while j < b.len() && b[j].is_whitespace() {
                j += 1;
            }
            let call = j < b.len() && b[j] == '(';
            let lower = word.to_ascii_lowercase();
            if PROMQL_WORDS.contains(&lower.as_str()) {
                if call
                    && matches!(
                        lower.as_str(),
                        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                    )
                {
                    i = skip_to(&b, j, ')');
                }
            } else if !call {
                out.insert(word);
            }
        } else if c.is_ascii_digit() || c == '.' || c == '$' {
            // Numbers, durations (`5m`, `1e3`) and dashboard variables.
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.' || b[i] == '_') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn metric_names_are_found_in_promql() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"sum by (channel, le) (rate(delivery_latency_seconds_bucket{channel="lmtp"}[15m]))"#
        ),
        ["delivery_latency_seconds_bucket"]
    );
    assert_eq!(
        names(
            r#"histogram_quantile(0.95, sum(rate(a_bucket{x=~"a|b", y!="}"}[$__rate_interval])) by (le)) > 0.5 and on(job) b offset 5m"#
        ),
        ["a_bucket", "b"]
    );
    assert_eq!(
        names("max by (channel) (jobctl_queue_oldest_age_seconds) > 4 * 3600"),
        ["jobctl_queue_oldest_age_seconds"]
    );
    assert_eq!(
        names("up{job=\"mmp\"} == 0 or group_left(x) vector(1) unless c_total"),
        ["c_total", "up"]
    );
    assert_eq!(
        names("deriv(sum by (channel) (q{state=~\"ready\"})[15m:1m]) > 0"),
        ["q"]
    );
}

// ---------------------------------------------------------------------------
// The dashboards.

/// Every `expr` of every panel (rows' nested panels included), by
/// dashboard file and panel title.
fn dashboard_queries() -> Vec<(String, String, String)> {
    fn walk(file: &str, panels: &serde_json::Value, out: &mut Vec<(String, String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((file.to_string(), title.clone(), e.to_string()));
                }
            }
            walk(file, &p["panels"], out);
        }
    }
    let dir = observability_dir().join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in {}", dir.display());
    let mut out = Vec::new();
    let mut uids = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read dashboard");
        let d: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", f.display()));
        let uid = d["uid"].as_str().expect("dashboard uid");
        assert!(uids.insert(uid.to_string()), "uid {uid} used twice");
        let name = f.file_name().expect("name").to_string_lossy().to_string();
        walk(&name, &d["panels"], &mut out);
    }
    out
}

#[test]
fn every_dashboard_panel_has_a_query() {
    let q = dashboard_queries();
    assert!(q.len() >= 20, "{q:?}");
    for (file, title, expr) in &q {
        assert!(
            !metric_names(expr).is_empty(),
            "{file}: panel {title:?} reads no metric: {expr}"
        );
    }
}

// ---------------------------------------------------------------------------
// A real Prometheus.

/// Percent-encodes a query parameter.
fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A Prometheus server on 127.0.0.1 with its data in a temporary
/// directory; killed when dropped (a failing test included), its log shown
/// then.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    /// Always `Some` but while a failed start hands it to the next try.
    dir: Option<tempfile::TempDir>,
}

impl Prometheus {
    /// Writes `config` and starts Prometheus on a free loopback port,
    /// waiting for `/-/ready`.
    fn start(config: &str) -> Self {
        let mut dir = tempfile::Builder::new()
            .prefix("prometheus-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write prometheus.yml");
        // spawn() picks a port that is free at that moment; should another
        // process take it before Prometheus binds it, Prometheus exits and
        // we try another.
        for _ in 0..5 {
            let mut p = Self::spawn(dir);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(status)) = p.child.try_wait() {
                    eprintln!("prometheus exited ({status}):\n{}", p.log());
                    break;
                }
                if let Ok((200, _)) = http_get(p.addr, "/-/ready") {
                    return p;
                }
                assert!(
                    Instant::now() < deadline,
                    "prometheus not ready after 60 s:\n{}",
                    p.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            dir = p.into_dir();
        }
        panic!("prometheus did not start");
    }

    fn spawn(dir: tempfile::TempDir) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian package prometheus; scripts/test installs it)");
        Self {
            child,
            addr,
            dir: Some(dir),
        }
    }

    /// The directory of a Prometheus that exited, for another try.
    fn into_dir(mut self) -> tempfile::TempDir {
        self.dir.take().expect("the directory")
    }

    fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.path().join("prometheus.log")).ok())
            .unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// GET an API path; the `data` of a successful answer.
    fn api(&self, path: &str) -> Result<serde_json::Value, String> {
        let (status, body) = http_get(self.addr, path).map_err(|e| e.to_string())?;
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{status}: {body}"));
        }
        Ok(v["data"].clone())
    }

    fn query(&self, expr: &str) -> Result<serde_json::Value, String> {
        self.api(&format!("/api/v1/query?query={}", urlencode(expr)))
    }

    /// Every metric name Prometheus has stored.
    fn names(&self) -> BTreeSet<String> {
        self.api("/api/v1/label/__name__/values")
            .ok()
            .and_then(|d| d.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// The loaded alerting rules: (name, query, health, last error).
    fn rules(&self) -> Vec<(String, String, String, String)> {
        let d = self.api("/api/v1/rules").expect("rules");
        let mut out = Vec::new();
        for g in d["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                out.push((s("name"), s("query"), s("health"), s("lastError")));
            }
        }
        out
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- log of prometheus -----\n{}\n----- end of log -----",
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The scrape configuration for this run: one job per service, named as in
/// deploy/observability/prometheus.yml, aimed at the admin address the
/// service wrote to `DATA/run/SERVICE.ports.json`; scraped every second.
fn scrape_config(data: &Path) -> (String, BTreeMap<String, String>) {
    let mut targets = BTreeMap::new();
    let mut jobs = String::new();
    for s in SERVICES {
        let file = data.join("run").join(format!("{s}.ports.json"));
        let ports: BTreeMap<String, String> = serde_json::from_str(
            &std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        )
        .expect("ports file");
        let admin = ports.get("admin").expect("an admin port").clone();
        jobs.push_str(&format!(
            "  - job_name: {s}\n    static_configs: [{{targets: [\"{admin}\"]}}]\n"
        ));
        targets.insert(s.to_string(), admin);
    }
    let rules = observability_dir().join("alerts.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {:?}\nscrape_configs:\n{jobs}",
        rules.display().to_string()
    );
    (config, targets)
}

// ---------------------------------------------------------------------------
// Traffic.

/// One kind of traffic against the topology; argv: endpoints.json, step.
/// Exit status 3 from `read` means "not delivered yet".
const TRAFFIC: &str = r#"
import imaplib, json, poplib, smtplib, ssl, sys
e = json.load(open(sys.argv[1]))
step = sys.argv[2]
ctx = ssl.create_default_context(cafile=e["tls_ca"])
alice, bob, carol = e["users"][0], e["users"][1], e["users"][2]
def hp(k):
    h, p = e[k].rsplit(":", 1)
    return h, int(p)
if step == "inbound":
    # From the Internet to alice, and to carol, who is over quota (the
    # store defers it: a deferred job and a quota refusal).
    s = smtplib.SMTP(*hp("smtp_inbound"), timeout=30)
    s.ehlo("mx.outside.test")
    s.sendmail("someone@example.net", [alice["address"]],
               "From: someone@example.net\r\nSubject: inbound\r\n\r\nhello\r\n")
    s.sendmail("someone@example.net", [carol["address"]],
               "From: someone@example.net\r\nSubject: too big\r\n\r\n" + ("x" * 50 + "\r\n") * 40)
    # A line over RFC 5322's 998 octets: refused at the end of DATA.
    try:
        s.sendmail("someone@example.net", [alice["address"]],
                   "Subject: long line\r\n\r\n" + "y" * 1200 + "\r\n")
    except smtplib.SMTPDataError as e:
        assert e.smtp_code == 554, e
    else:
        sys.exit("a line of 1200 octets was accepted")
    s.quit()
elif step == "submit":
    # Submission with STARTTLS and AUTH; bob asks for a success DSN.
    s = smtplib.SMTP(*hp("submission"), timeout=30)
    s.starttls(context=ctx)
    s.login(bob["address"], bob["password"])
    s.sendmail(bob["address"], [alice["address"]],
               "From: " + bob["address"] + "\r\nSubject: submitted\r\n\r\nhi\r\n",
               rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    s.quit()
elif step == "read":
    # IMAP through the MMP: login, then FETCH everything once both arrived.
    m = imaplib.IMAP4(*hp("mmp_imap"), timeout=30)
    m.starttls(ssl_context=ctx)
    m.login(alice["address"], alice["password"])
    typ, data = m.select("INBOX")
    n = int(data[0])
    if n >= 2:
        typ, _ = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK", typ
    m.logout()
    sys.exit(0 if n >= 2 else 3)
elif step == "pop":
    p = poplib.POP3(*hp("mmp_pop3"), timeout=30)
    p.stls(ctx)
    p.user(bob["address"])
    p.pass_(bob["password"])
    count, size = p.stat()
    if count:
        p.retr(1)
    p.quit()
elif step == "fail":
    m = imaplib.IMAP4(*hp("mmp_imap"), timeout=30)
    m.starttls(ssl_context=ctx)
    try:
        m.login(alice["address"], "not-the-password")
    except imaplib.IMAP4.error:
        print("refused")
    else:
        sys.exit("a wrong password was accepted")
"#;

fn traffic(endpoints: &Path, step: &str) -> std::process::Output {
    Command::new("python3")
        .arg("-c")
        .arg(TRAFFIC)
        .arg(endpoints)
        .arg(step)
        .stdin(Stdio::null())
        .output()
        .expect("python3")
}

fn traffic_ok(endpoints: &Path, step: &str) {
    let out = traffic(endpoints, step);
    assert!(
        out.status.success(),
        "traffic step {step}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `curl` with the run's CA; (status, stdout).
fn curl(ca: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert", ca])
        .args(args)
        .output()
        .expect("curl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A `mailctl` command as the operator of this run (control-plane mutual
/// TLS with the certificate `mailctl up` issued).
fn mailctl_operator(e: &serde_json::Value, args: &[&str]) {
    let s = |k: &str| {
        e[k].as_str()
            .unwrap_or_else(|| panic!("no {k}"))
            .to_string()
    };
    let out = Command::new(bin("mailctl"))
        .args(args)
        .env("TIERMAIL_GRPC_CA", s("control_ca"))
        .env("TIERMAIL_GRPC_CERT", s("operator_cert"))
        .env("TIERMAIL_GRPC_KEY", s("operator_key"))
        .env("TIERMAIL_STORE_ADMIN", s("store_admin_grpc"))
        .stdin(Stdio::null())
        .output()
        .expect("mailctl");
    assert!(
        out.status.success(),
        "mailctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One round of every kind of traffic; `failures` adds the failed logins
/// (each one makes the login throttle's delay longer).
fn send_traffic(endpoints_file: &Path, e: &serde_json::Value, ca: &str, failures: bool) {
    traffic_ok(endpoints_file, "inbound");
    traffic_ok(endpoints_file, "submit");
    traffic_ok(endpoints_file, "pop");
    // Webmail: JMAP through the MEM to the store, once right, once wrong.
    let mem = e["mem_http"].as_str().expect("mem_http");
    let alice = &e["users"][0];
    let login = format!(
        "{}:{}",
        alice["address"].as_str().expect("address"),
        alice["password"].as_str().expect("password")
    );
    let (ok, body) = curl(
        ca,
        &[
            "--fail",
            "-u",
            &login,
            &format!("https://{mem}/jmap/session"),
        ],
    );
    assert!(ok, "JMAP session through the MEM: {body}");
    if !failures {
        return;
    }
    traffic_ok(endpoints_file, "fail");
    let (ok, _) = curl(
        ca,
        &[
            "--fail",
            "-u",
            "alice@example.test:wrong",
            &format!("https://{mem}/jmap/session"),
        ],
    );
    assert!(!ok, "a wrong webmail password was accepted");
}

#[test]
fn every_series_a_dashboard_or_alert_uses_exists_after_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (up, endpoints) = mailctl_up(&data, &dir.path().join("up.log"), Duration::from_secs(120));
    // Stops `mailctl up` however the test ends.
    struct Up(Child);
    impl Drop for Up {
        fn drop(&mut self) {
            stop_mailctl_up(&mut self.0);
        }
    }
    let _up = Up(up);
    let endpoints_file = data.join("endpoints.json");
    let ca = endpoints["tls_ca"].as_str().expect("tls_ca").to_string();

    let (config, targets) = scrape_config(&data);
    let prom = Prometheus::start(&config);
    eprintln!("prometheus at {} scraping {targets:?}", prom.url());

    // carol's quota is one byte: her mail is refused for quota (4xx, the
    // grace period) and stays deferred in the queue.
    mailctl_operator(
        &endpoints,
        &[
            "store",
            "quota",
            "set",
            "carol",
            "--bytes",
            "1",
            "--messages",
            "0",
        ],
    );
    send_traffic(&endpoints_file, &endpoints, &ca, true);
    wait_for(
        "alice to have both messages over IMAP",
        Duration::from_secs(60),
        || {
            let out = traffic(&endpoints_file, "read");
            match out.status.code() {
                Some(0) => Some(()),
                Some(3) => None,
                _ => panic!(
                    "IMAP read: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            }
        },
    );

    // Every service is scraped.
    wait_for("every target to be up", Duration::from_secs(60), || {
        let r = prom.query("up == 1").ok()?;
        let jobs: BTreeSet<String> = r["result"]
            .as_array()?
            .iter()
            .filter_map(|s| s["metric"]["job"].as_str().map(str::to_string))
            .collect();
        (jobs.len() == SERVICES.len()).then_some(())
    });

    // The names every panel and rule reads.
    let panels = dashboard_queries();
    let rules = wait_for("the alert rules to load", Duration::from_secs(30), || {
        let r = prom.rules();
        (!r.is_empty()).then_some(r)
    });
    assert!(rules.len() >= 10, "{rules:?}");
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, title, expr) in &panels {
        for n in metric_names(expr) {
            wanted
                .entry(n)
                .or_default()
                .push(format!("{file}: {title}"));
        }
    }
    for (name, query, _, _) in &rules {
        for n in metric_names(query) {
            wanted.entry(n).or_default().push(format!("alert {name}"));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let have = prom.names();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|(n, _)| !have.contains(*n))
            .map(|(n, users)| format!("{n} (used by {})", users.join("; ")))
            .collect();
        if missing.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let ours: Vec<&String> = have
                .iter()
                .filter(|n| !n.starts_with("prometheus_") && !n.starts_with("go_"))
                .collect();
            panic!(
                "series no service exports after 90 s of scraping:\n  {}\nPrometheus has: {ours:?}",
                missing.join("\n  ")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "all {} metric names of {} panel queries and {} alert rules exist",
        wanted.len(),
        panels.len(),
        rules.len()
    );

    // Every panel query evaluates ($__rate_interval as Grafana would fill
    // it for a short range), and every rule is healthy once evaluated.
    for (file, title, expr) in &panels {
        let e = expr.replace("$__rate_interval", "1m");
        if let Err(err) = prom.query(&e) {
            panic!("{file}: panel {title:?}: {expr}: {err}");
        }
    }
    let rules = wait_for(
        "every rule to be evaluated",
        Duration::from_secs(30),
        || {
            let r = prom.rules();
            r.iter().all(|(_, _, h, _)| h != "unknown").then_some(r)
        },
    );
    for (name, query, health, err) in &rules {
        assert_eq!(health, "ok", "alert {name}: {query}: {err}");
    }

    if let Ok(png) = std::env::var("TIERMAIL_DASHBOARD_PNG") {
        screenshot(&prom, &endpoints_file, &endpoints, &ca, Path::new(&png));
    }
}

/// Keeps the traffic going for a few minutes so the graphs have a shape,
/// then draws the mail-flow dashboard into `png`.
fn screenshot(
    prom: &Prometheus,
    endpoints_file: &Path,
    endpoints: &serde_json::Value,
    ca: &str,
    png: &Path,
) {
    let minutes: u64 = std::env::var("TIERMAIL_DASHBOARD_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(4);
    let until = Instant::now() + Duration::from_secs(60 * minutes);
    let mut rounds = 0;
    while Instant::now() < until {
        // A failed login now and then: the throttle's growing delay
        // would otherwise slow every round down.
        send_traffic(endpoints_file, endpoints, ca, rounds % 20 == 0);
        let _ = traffic(endpoints_file, "read");
        rounds += 1;
    }
    eprintln!("{rounds} rounds of traffic; drawing the dashboard");
    // Debian's Selenium lives in Debian's Python, whatever python3 is first
    // on the PATH.
    let out = Command::new("/usr/bin/python3")
        .arg(observability_dir().join("render").join("capture.py"))
        .arg("--prometheus")
        .arg(prom.url())
        .arg("--dashboard")
        .arg(
            observability_dir()
                .join("dashboards")
                .join("tiermail-mail-flow.json"),
        )
        .arg("--minutes")
        .arg((minutes + 1).to_string())
        .arg("--out")
        .arg(png)
        .output()
        .expect("/usr/bin/python3 (Debian packages python3 and python3-selenium)");
    assert!(
        out.status.success(),
        "capture.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
