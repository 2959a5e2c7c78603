//! JMAP straight at the store: a mail list page (Email/query + Email/get
//! of 50 messages) and opening one message, on a mailbox of 10,000
//! messages.
//!
//! ```text
//! cargo build --release --workspace --bins --examples --locked
//! target/release/examples/jmap_bench [--messages 10000] [--seconds 10]
//!     [--clients 4] [--dir /var/tmp]
//! ```
//!
//! 1. Populate: the store under DIR is opened in-process (the release
//!    `mailstore`'s engine, before the service starts) and MESSAGES
//!    generated messages are delivered to one user's INBOX from 8
//!    threads (70 % short text, 20 % text + HTML, 10 % with a 30 KiB
//!    attachment; every fifth a reply in a thread).
//! 2. The release `mailstore` binary next to this example (or
//!    `$MAILSTORE_BIN`) starts with `[http]` on a loopback port (HTTPS, a
//!    generated certificate) and HTTP Basic for that user.
//! 3. Each scenario runs CLIENTS keep-alive HTTPS connections for SECONDS:
//!    `list` = Email/query (INBOX, newest first, limit 50) + Email/get of
//!    those ids (list properties with preview) in one request; `open` =
//!    Email/get of one random message with its text and HTML body values.
//!    Printed: requests/s, p50, p99, and the first request's time (the
//!    store's rows loaded into the JMAP index).

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
}

fn args() -> Result<Args, BoxError> {
    let mut a = Args {
        messages: 10_000,
        seconds: 10,
        clients: 4,
        dir: PathBuf::from("/var/tmp"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
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
    let head = format!(
        "From: {from}\r\nTo: bench@example.test\r\nSubject: Benchmark message {i}\r\nMessage-ID: <m{i}@example.net>\r\n{thread}Date: Thu, 3 Dec 2026 10:{:02}:{:02} +0000\r\nMIME-Version: 1.0\r\n",
        (i / 60) % 60,
        i % 60
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

fn start_store(dir: &Path) -> Result<(Child, SocketAddr, PathBuf), BoxError> {
    let binary = match std::env::var_os("MAILSTORE_BIN") {
        Some(b) => PathBuf::from(b),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join("mailstore"))
            .ok_or("cannot locate the mailstore binary; set MAILSTORE_BIN")?,
    };
    let tls = mail_core::tls::generate_self_signed(dir, &["localhost".into()])?;
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let config = dir.join("mailstore.toml");
    std::fs::write(
        &config,
        format!(
            "host = \"localhost\"\n[tls]\ncert = {:?}\nkey = {:?}\n[store]\nsystem_path = {:?}\n[store.partitions]\nprimary = {:?}\n[directory]\nbackend = \"file\"\npath = {:?}\n[lmtp.listener]\nlisten = \"127.0.0.1:0\"\n[service]\nadmin_listen = \"127.0.0.1:0\"\n[telemetry]\nlog_filter = \"warn\"\n[http]\nstate_dir = {:?}\n[http.listener]\nlisten = \"{addr}\"\ntls = \"implicit\"\n[http.limits]\nmax_concurrent_requests = 64\n",
            tls.cert.display().to_string(),
            tls.key.display().to_string(),
            dir.join("store/system").display().to_string(),
            dir.join("store/primary").display().to_string(),
            users.display().to_string(),
            dir.join("jmap").display().to_string(),
        ),
    )?;
    let log = std::fs::File::create(dir.join("mailstore.log"))?;
    let child = Command::new(&binary)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "mailstore did not listen; see {}",
                dir.join("mailstore.log").display()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((child, addr, tls.cert))
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

    async fn post(&mut self, body: &str) -> Result<serde_json::Value, BoxError> {
        let auth = base64::engine::general_purpose::STANDARD.encode("bench:bench-pw");
        let req = format!(
            "POST /jmap/api/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.tls.write_all(req.as_bytes()).await?;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                if !head.starts_with("http/1.1 200") {
                    return Err(format!("unexpected answer: {head}").into());
                }
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .ok_or("no content-length")?
                    .trim()
                    .parse()?;
                while self.buf.len() < end + 4 + len {
                    self.read().await?;
                }
                let v = serde_json::from_slice(&self.buf[end + 4..end + 4 + len])?;
                self.buf.drain(..end + 4 + len);
                return Ok(v);
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

const LIST: &str = r##"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[
 ["Email/query",{"accountId":"bench","filter":{"inMailbox":"INBOX_ID"},"sort":[{"property":"receivedAt","isAscending":false}],"limit":50,"calculateTotal":true},"q"],
 ["Email/get",{"accountId":"bench","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},
   "properties":["id","threadId","mailboxIds","keywords","from","subject","receivedAt","size","preview","hasAttachment"]},"g"]]}"##;

const OPEN: &str = r##"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[
 ["Email/get",{"accountId":"bench","ids":["EMAIL_ID"],"properties":["id","from","to","cc","subject","sentAt","textBody","htmlBody","attachments","bodyValues"],
   "fetchTextBodyValues":true,"fetchHTMLBodyValues":true},"g"]]}"##;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn scenario(
    name: &str,
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    clients: usize,
    seconds: u64,
    bodies: Arc<Vec<String>>,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (cfg, bodies) = (cfg.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr, cfg).await?;
            let mut lat = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let t = Instant::now();
                let v = conn.post(&bodies[i % bodies.len()]).await?;
                if v["methodResponses"][0][0] == "error" {
                    return Err(format!("method error: {v}").into());
                }
                lat.push(t.elapsed());
                i += clients;
            }
            Ok::<_, BoxError>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort();
    println!(
        "{name:<6} {clients} clients {seconds} s: {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests)",
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.5).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        all.len()
    );
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let a = args()?;
    let work = tempfile::Builder::new()
        .prefix("jmap-bench-")
        .tempdir_in(&a.dir)?;
    populate(work.path(), a.messages)?;
    let (mut child, addr, ca) = start_store(work.path())?;
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        let cfg = mail_core::tls::client_config(Some(&ca))?;
        let mut conn = Conn::open(addr, cfg.clone()).await?;
        let t = Instant::now();
        let r = conn
            .post(r#"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Mailbox/query",{"accountId":"bench","filter":{"role":"inbox"}},"0"]]}"#)
            .await?;
        let inbox = r["methodResponses"][0][1]["ids"][0].as_str().ok_or("no INBOX")?.to_string();
        println!(
            "first request (JMAP index of {} messages loaded): {:.0} ms",
            a.messages,
            t.elapsed().as_secs_f64() * 1000.0
        );
        let list = LIST.replace("INBOX_ID", &inbox);
        let r = conn.post(&list).await?;
        let ids: Vec<String> = r["methodResponses"][0][1]["ids"]
            .as_array()
            .ok_or("no ids")?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let total = &r["methodResponses"][0][1]["total"];
        println!("INBOX total {total}, page of {}", ids.len());
        let all = conn
            .post(&format!(
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
        scenario("list", addr, cfg.clone(), a.clients, a.seconds, Arc::new(vec![list])).await?;
        scenario("open", addr, cfg, a.clients, a.seconds, Arc::new(opens)).await?;
        Ok::<_, BoxError>(())
    });
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    result
}
