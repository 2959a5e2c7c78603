//! JMAP straight at the store and through the webmail multiplexor
//! (`mem`): a mail list page (Email/query + Email/get of 50 messages) and
//! opening one message, on a mailbox of 10,000 messages.
//!
//! ```text
//! cargo build --release --workspace --bins --examples --locked
//! target/release/examples/jmap_bench [--messages 10000] [--seconds 10]
//!     [--clients 4] [--dir /var/tmp] [--no-mem]
//! ```
//!
//! 1. Populate: the store under DIR is opened in-process (the release
//!    `mailstore`'s engine, before the service starts) and MESSAGES
//!    generated messages are delivered to one user's INBOX from 8
//!    threads (70 % short text, 20 % text + HTML, 10 % with a 30 KiB
//!    attachment; every fifth a reply in a thread).
//! 2. The release `mailstore` binary next to this example (or
//!    `$MAILSTORE_BIN`) starts with `[http]` on a loopback port (HTTPS, a
//!    generated certificate), HTTP Basic for that user, and `[proxy]`
//!    trusting the MEM's identity from loopback. The release `mem` (or
//!    `$MEM_BIN`) starts in front of it (HTTPS, the same file directory,
//!    `[stores] default_url` = the store); `--no-mem` leaves it out.
//! 3. Through the MEM the benchmark logs in as the web client does
//!    (`POST /auth/login` with `Origin`, then the session cookie, the
//!    CSRF token in `X-Tiermail-CSRF` and `Origin` on every API request,
//!    to the `apiUrl` of the session object the MEM rebased).
//! 4. Each scenario runs CLIENTS keep-alive HTTPS connections for SECONDS
//!    per target (store straight, then through the MEM, alternating in
//!    5 s slices): `list` = Email/query (INBOX, newest first, limit 50) +
//!    Email/get of those ids (list properties with preview) in one
//!    request; `open` = Email/get of one random message with its text and
//!    HTML body values. Printed: requests/s, p50, p99, CPU per request
//!    (the store's process; through the MEM, the store's plus the MEM's),
//!    the MEM's overhead, and the first request's time (the store's rows
//!    loaded into the JMAP index).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    messages: usize,
    seconds: u64,
    clients: usize,
    dir: PathBuf,
    /// Measure the store only (no `mem` in front).
    no_mem: bool,
}

fn args() -> Result<Args, BoxError> {
    let mut a = Args {
        messages: 10_000,
        seconds: 10,
        clients: 4,
        dir: PathBuf::from("/var/tmp"),
        no_mem: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--no-mem" {
            a.no_mem = true;
            continue;
        }
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        match k.as_str() {
            "--messages" => a.messages = v.parse()?,
            "--seconds" => a.seconds = v.parse()?,
            "--clients" => a.clients = v.parse()?,
            "--dir" => a.dir = PathBuf::from(v),
            _ => return Err(format!("unknown argument {k}").into()),
        }
    }
    Ok(a)
}

fn message(i: usize) -> Vec<u8> {
    let from = format!("Sender {} <sender{}@example.net>", i % 97, i % 97);
    let thread = if i % 5 == 4 {
        format!(
            "In-Reply-To: <m{}@example.net>\r\nReferences: <m{}@example.net>\r\n",
            i - 1,
            i - 1
        )
    } else {
        String::new()
    };
    let text = format!(
        "Hello,\r\n\r\nthis is message {i} of the benchmark mailbox. {}\r\n\r\nRegards\r\n",
        "Some words to fill the body of a short mail. ".repeat(20)
    );
    // One message a second from Thu, 3 Dec 2026 10:00:00 UTC.
    let sent_at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_292_000 + i as u64);
    let head = format!(
        "From: {from}\r\nTo: bench@example.test\r\nSubject: Benchmark message {i}\r\nMessage-ID: <m{i}@example.net>\r\n{thread}Date: {}\r\nMIME-Version: 1.0\r\n",
        mail_core::date::rfc5322(sent_at)
    );
    let body = match i % 10 {
        0 => format!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n{text}\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=data.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            base64::engine::general_purpose::STANDARD
                .encode(vec![b'x'; 30 * 1024])
                .as_bytes()
                .chunks(76)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\r\n")
        ),
        1 | 2 => format!(
            "Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\n{text}\r\n--a\r\nContent-Type: text/html\r\n\r\n<html><body><p>{}</p><img src=\"https://img.example/x.png\"></body></html>\r\n--a--\r\n",
            text.replace("\r\n", "<br>")
        ),
        _ => format!("Content-Type: text/plain\r\n\r\n{text}"),
    };
    format!("{head}{body}").into_bytes()
}

fn populate(dir: &Path, n: usize) -> Result<(), BoxError> {
    let cfg = mail_store::StoreConfig::single(dir.join("store"));
    let store = mail_store::Store::open(cfg)?;
    let started = Instant::now();
    let threads = 8;
    std::thread::scope(|s| {
        for t in 0..threads {
            let store = store.clone();
            s.spawn(move || {
                for i in (t..n).step_by(threads) {
                    let r = store.deliver(
                        &message(i),
                        &[mail_store::Recipient::new("bench")],
                        &Default::default(),
                    );
                    if let Some(Err(e)) = r.into_iter().next() {
                        eprintln!("delivery {i} failed: {e}");
                    }
                }
            });
        }
    });
    store.close();
    println!(
        "populated {n} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `NAME` next to this example (`target/release/NAME`), or `$ENV`.
fn sibling_binary(name: &str, env: &str) -> Result<PathBuf, BoxError> {
    let binary = match std::env::var_os(env) {
        Some(b) => PathBuf::from(b),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join(name))
            .ok_or_else(|| format!("cannot locate the {name} binary; set {env}"))?,
    };
    if !binary.exists() {
        return Err(format!(
            "{} not found: cargo build --release --workspace --bins --examples --locked",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

fn free_addr() -> Result<SocketAddr, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Starts `binary --config config`, its output to `log`, and waits until
/// `addr` accepts connections.
fn spawn(binary: &Path, config: &Path, log: &Path, addr: SocketAddr) -> Result<Child, BoxError> {
    let out = std::fs::File::create(log)?;
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not listen on {addr}; see {}",
                binary.display(),
                log.display()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

/// The store: its process, HTTPS address and certificate (also the CA),
/// the directory file, and the MEM's secret its `[proxy]` trusts.
struct Started {
    child: Child,
    addr: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    directory: PathBuf,
    secret: PathBuf,
}

fn start_store(dir: &Path) -> Result<Started, BoxError> {
    let binary = sibling_binary("mailstore", "MAILSTORE_BIN")?;
    let tls = mail_core::tls::generate_self_signed(dir, &["localhost".into()])?;
    let secret = dir.join("mem.secret");
    std::fs::write(&secret, "jmap-bench-mem-secret\n")?;
    let users = dir.join("directory.toml");
    let user = mail_directory::file::FileUser {
        uid: "bench".into(),
        mail: "bench@example.test".into(),
        password: Some(mail_directory::password::hash(
            "bench-pw",
            mail_directory::password::Scheme::Ssha,
        )?),
        ..Default::default()
    };
    mail_directory::file::FileDirectory::create(
        &users,
        &mail_directory::file::Data {
            base_dn: "dc=example,dc=test".into(),
            domains: vec![mail_directory::Domain {
                name: "example.test".into(),
                aliases: vec![],
            }],
            users: vec![user],
            groups: vec![],
        },
    )?;
    let addr = free_addr()?;
    let config = dir.join("mailstore.toml");
    std::fs::write(
        &config,
        format!(
            "host = \"localhost\"\n[tls]\ncert = {:?}\nkey = {:?}\n[store]\nsystem_path = {:?}\n[store.partitions]\nprimary = {:?}\n[directory]\nbackend = \"file\"\npath = {:?}\n[lmtp.listener]\nlisten = \"127.0.0.1:0\"\n[service]\nadmin_listen = \"127.0.0.1:0\"\n[telemetry]\nlog_filter = \"warn\"\n[http]\nstate_dir = {:?}\n[http.listener]\nlisten = \"{addr}\"\ntls = \"implicit\"\n[http.limits]\nmax_concurrent_requests = 64\n\
             [proxy]\nnetworks = [\"127.0.0.1/32\"]\n[[proxy.identities]]\nname = \"mem\"\nsecret_file = {:?}\n",
            tls.cert.display().to_string(),
            tls.key.display().to_string(),
            dir.join("store/system").display().to_string(),
            dir.join("store/primary").display().to_string(),
            users.display().to_string(),
            dir.join("jmap").display().to_string(),
            secret.display().to_string(),
        ),
    )?;
    let child = spawn(&binary, &config, &dir.join("mailstore.log"), addr)?;
    Ok(Started {
        child,
        addr,
        cert: tls.cert,
        key: tls.key,
        directory: users,
        secret,
    })
}

/// The release `mem` in front of the store: HTTPS on a loopback port
/// (the store's certificate), the same file directory, every user on the
/// store (`default_url`), the trusted-proxy credential `mem`.
fn start_mem(dir: &Path, store: &Started) -> Result<(Child, SocketAddr), BoxError> {
    let binary = sibling_binary("mem", "MEM_BIN")?;
    let addr = free_addr()?;
    let config = dir.join("mem.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\nadmin_listen = \"127.0.0.1:0\"\n[telemetry]\nlog_filter = \"warn\"\n\
             [tls]\ncert = {cert:?}\nkey = {key:?}\n\
             [http]\npublic_url = \"https://localhost:{port}\"\n\
             [http.listener]\nlisten = \"{addr}\"\ntls = \"implicit\"\n\
             [directory]\nbackend = \"file\"\npath = {directory:?}\n\
             [proxy]\nname = \"mem\"\nsecret_file = {secret:?}\n\
             [stores]\ndefault_url = \"https://localhost:{store_port}\"\nca = {cert:?}\n",
            cert = store.cert.display().to_string(),
            key = store.key.display().to_string(),
            port = addr.port(),
            directory = store.directory.display().to_string(),
            secret = store.secret.display().to_string(),
            store_port = store.addr.port(),
        ),
    )?;
    let child = spawn(&binary, &config, &dir.join("mem.log"), addr)?;
    Ok((child, addr))
}

/// Where requests go and how they authenticate: straight at the store
/// with HTTP Basic, or through the MEM with its session cookie and CSRF
/// token, as the web client sends them.
#[derive(Clone)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// The JMAP API path (the session object's `apiUrl`).
    api: String,
    /// Header lines (each ending in CRLF) every API request carries.
    headers: String,
    /// Processes whose CPU time a request costs (the store; the MEM too).
    pids: Vec<u32>,
}

/// One keep-alive HTTPS connection.
struct Conn {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Result<Self, BoxError> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls_pki_types::ServerName::try_from("localhost")?;
        let tls = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await?;
        Ok(Self {
            tls,
            buf: Vec::new(),
        })
    }

    /// A JMAP API request to `target`; the answer's JSON.
    async fn post(&mut self, target: &Target, body: &str) -> Result<serde_json::Value, BoxError> {
        let (_, v) = self
            .request("POST", &target.api, &target.headers, body)
            .await?;
        Ok(serde_json::from_slice(&v)?)
    }

    /// Sends one request; returns the response head and body. Anything
    /// but 200 is an error.
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &str,
    ) -> Result<(String, Vec<u8>), BoxError> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.tls.write_all(req.as_bytes()).await?;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let raw = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let head = raw.to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .ok_or_else(|| format!("no content-length: {head}"))?
                    .trim()
                    .parse()?;
                while self.buf.len() < end + 4 + len {
                    self.read().await?;
                }
                let body = self.buf[end + 4..end + 4 + len].to_vec();
                self.buf.drain(..end + 4 + len);
                if !head.starts_with("http/1.1 200") {
                    return Err(format!(
                        "unexpected answer: {head}\n{}",
                        String::from_utf8_lossy(&body)
                    )
                    .into());
                }
                return Ok((raw, body));
            }
            self.read().await?;
        }
    }

    async fn read(&mut self) -> Result<(), BoxError> {
        let mut chunk = [0u8; 65536];
        let n = self.tls.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// The store straight, with HTTP Basic (as an API client).
fn direct_target(addr: SocketAddr, store_pid: u32) -> Target {
    let auth = base64::engine::general_purpose::STANDARD.encode("bench:bench-pw");
    Target {
        name: "store",
        addr,
        api: "/jmap/api/".into(),
        headers: format!("Authorization: Basic {auth}\r\n"),
        pids: vec![store_pid],
    }
}

/// Logs in at the MEM as the web client does (`POST /auth/login` from
/// its own origin), reads the session object through it, and returns the
/// target that sends the session cookie, the CSRF token and `Origin`.
async fn mem_target(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    pids: Vec<u32>,
) -> Result<Target, BoxError> {
    let origin = format!("Origin: https://localhost:{}\r\n", addr.port());
    let mut conn = Conn::open(addr, cfg).await?;
    let (head, body) = conn
        .request(
            "POST",
            "/auth/login",
            &origin,
            r#"{"username":"bench","password":"bench-pw"}"#,
        )
        .await?;
    let cookie = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .and_then(|(_, v)| v.trim().split(';').next())
        .ok_or("no session cookie")?
        .to_string();
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let csrf = v["csrfToken"].as_str().ok_or("no csrfToken")?.to_string();
    let session_headers = format!("Cookie: {cookie}\r\n");
    let (_, session) = conn
        .request("GET", "/jmap/session", &session_headers, "")
        .await?;
    let session: serde_json::Value = serde_json::from_slice(&session)?;
    let api_url = session["apiUrl"].as_str().ok_or("no apiUrl")?;
    let api = api_url
        .find("://")
        .and_then(|i| {
            api_url[i + 3..]
                .find('/')
                .map(|j| api_url[i + 3 + j..].to_string())
        })
        .ok_or_else(|| format!("apiUrl {api_url}"))?;
    Ok(Target {
        name: "mem",
        addr,
        api,
        headers: format!("Cookie: {cookie}\r\nX-Tiermail-CSRF: {csrf}\r\n{origin}"),
        pids,
    })
}

const LIST: &str = r##"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[
 ["Email/query",{"accountId":"bench","filter":{"inMailbox":"INBOX_ID"},"sort":[{"property":"receivedAt","isAscending":false}],"limit":50,"calculateTotal":true},"q"],
 ["Email/get",{"accountId":"bench","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},
   "properties":["id","threadId","mailboxIds","keywords","from","subject","receivedAt","size","preview","hasAttachment"]},"g"]]}"##;

const OPEN: &str = r##"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[
 ["Email/get",{"accountId":"bench","ids":["EMAIL_ID"],"properties":["id","from","to","cc","subject","sentAt","textBody","htmlBody","attachments","bodyValues"],
   "fetchTextBodyValues":true,"fetchHTMLBodyValues":true},"g"]]}"##;

/// The targets take turns in slices this long, so background load on a
/// shared machine falls on both alike.
const SLICE: Duration = Duration::from_secs(5);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU time (user + system) of `pids` so far, from /proc.
fn cpu(pids: &[u32]) -> Duration {
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let f: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(f.iter().sum::<u64>())
        })
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// What one target did in one scenario, over all its slices.
#[derive(Default)]
struct Measured {
    latencies: Vec<Duration>,
    elapsed: Duration,
    cpu: Duration,
}

/// CLIENTS keep-alive connections send `bodies` in turn for `run_for`.
async fn slice(
    target: &Target,
    cfg: Arc<rustls::ClientConfig>,
    clients: usize,
    run_for: Duration,
    bodies: Arc<Vec<String>>,
    into: &mut Measured,
) -> Result<(), BoxError> {
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(Conn::open(target.addr, cfg.clone()).await?);
    }
    let cpu_before = cpu(&target.pids);
    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = Vec::new();
    for (c, mut conn) in conns.into_iter().enumerate() {
        let (bodies, target) = (bodies.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let t = Instant::now();
                let v = conn.post(&target, &bodies[i % bodies.len()]).await?;
                if v["methodResponses"][0][0] == "error" {
                    return Err(format!("method error: {v}").into());
                }
                lat.push(t.elapsed());
                i += clients;
            }
            Ok::<_, BoxError>(lat)
        }));
    }
    for t in tasks {
        into.latencies.extend(t.await??);
    }
    into.elapsed += started.elapsed();
    into.cpu += cpu(&target.pids).saturating_sub(cpu_before);
    Ok(())
}

/// Runs one scenario against every target, in alternating slices, and
/// prints a row per target plus the MEM's overhead.
async fn scenario(
    name: &str,
    targets: &[Target],
    cfg: Arc<rustls::ClientConfig>,
    clients: usize,
    seconds: u64,
    bodies: Vec<String>,
) -> Result<(), BoxError> {
    let bodies = Arc::new(bodies);
    let total = Duration::from_secs(seconds.max(1));
    let mut results: Vec<Measured> = targets.iter().map(|_| Measured::default()).collect();
    let mut done = Duration::ZERO;
    while done < total {
        let run_for = SLICE.min(total - done);
        for (t, into) in targets.iter().zip(results.iter_mut()) {
            slice(t, cfg.clone(), clients, run_for, bodies.clone(), into).await?;
        }
        done += run_for;
    }
    let mut rows = Vec::new();
    for (t, r) in targets.iter().zip(results.iter_mut()) {
        r.latencies.sort();
        let n = r.latencies.len();
        let rate = n as f64 / r.elapsed.as_secs_f64().max(1e-9);
        let p50 = percentile(&r.latencies, 0.5).as_secs_f64() * 1000.0;
        let p99 = percentile(&r.latencies, 0.99).as_secs_f64() * 1000.0;
        println!(
            "{name:<6} via {:<5} {clients} clients {seconds} s: {rate:>7.0} req/s  p50 {p50:>6.2} ms  p99 {p99:>6.2} ms  CPU {:>6.0} us/req  ({n} requests)",
            t.name,
            r.cpu.as_secs_f64() * 1e6 / n.max(1) as f64,
        );
        rows.push((rate, p50, p99));
    }
    if let [(r0, p50_0, p99_0), (r1, p50_1, p99_1)] = rows[..] {
        println!(
            "{name:<6} mem overhead: throughput {:+.1} %, p50 {:+.2} ms, p99 {:+.2} ms",
            100.0 * (r1 / r0.max(1e-9) - 1.0),
            p50_1 - p50_0,
            p99_1 - p99_0
        );
    }
    Ok(())
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

fn main() -> Result<(), BoxError> {
    let a = args()?;
    let work = tempfile::Builder::new()
        .prefix("jmap-bench-")
        .tempdir_in(&a.dir)?;
    populate(work.path(), a.messages)?;
    let mut store = start_store(work.path())?;
    let mem = if a.no_mem {
        None
    } else {
        match start_mem(work.path(), &store) {
            Ok(m) => Some(m),
            Err(e) => {
                stop(&mut store.child);
                return Err(e);
            }
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    let (addr, store_pid) = (store.addr, store.child.id());
    let cert = store.cert.clone();
    let mem_at = mem.as_ref().map(|(c, a)| (c.id(), *a));
    let result = rt.block_on(async {
        let cfg = mail_core::tls::client_config(Some(&cert))?;
        let direct = direct_target(addr, store_pid);
        let mut conn = Conn::open(addr, cfg.clone()).await?;
        let t = Instant::now();
        let r = conn
            .post(&direct, r#"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Mailbox/query",{"accountId":"bench","filter":{"role":"inbox"}},"0"]]}"#)
            .await?;
        let inbox = r["methodResponses"][0][1]["ids"][0].as_str().ok_or("no INBOX")?.to_string();
        println!(
            "first request (JMAP index of {} messages loaded): {:.0} ms",
            a.messages,
            t.elapsed().as_secs_f64() * 1000.0
        );
        let list = LIST.replace("INBOX_ID", &inbox);
        let r = conn.post(&direct, &list).await?;
        let ids: Vec<String> = r["methodResponses"][0][1]["ids"]
            .as_array()
            .ok_or("no ids")?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let total = &r["methodResponses"][0][1]["total"];
        println!("INBOX total {total}, page of {}", ids.len());
        let all = conn
            .post(&direct, &format!(
                r#"{{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Email/query",{{"accountId":"bench","filter":{{"inMailbox":"{inbox}"}},"limit":10000}},"q"]]}}"#
            ))
            .await?;
        let every: Vec<String> = all["methodResponses"][0][1]["ids"]
            .as_array()
            .ok_or("no ids")?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let opens: Vec<String> = every
            .iter()
            .step_by((every.len() / 500).max(1))
            .map(|id| OPEN.replace("EMAIL_ID", id))
            .collect();
        let mut targets = vec![direct];
        if let Some((mem_pid, mem_addr)) = mem_at {
            let t = Instant::now();
            let via = mem_target(mem_addr, cfg.clone(), vec![store_pid, mem_pid]).await?;
            println!(
                "mem: logged in (cookie session + CSRF token), session object read in {:.1} ms; apiUrl path {}",
                t.elapsed().as_secs_f64() * 1000.0,
                via.api
            );
            targets.push(via);
        }
        println!(
            "(CPU us/req: the store's process, and through the MEM the store's plus the MEM's; targets alternate in {} s slices)",
            SLICE.as_secs()
        );
        scenario("list", &targets, cfg.clone(), a.clients, a.seconds, vec![list]).await?;
        scenario("open", &targets, cfg, a.clients, a.seconds, opens).await?;
        Ok::<_, BoxError>(())
    });
    if let Some((mut child, _)) = mem {
        stop(&mut child);
    }
    stop(&mut store.child);
    result
}
