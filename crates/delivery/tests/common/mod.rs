//! Real parts for the delivery tests: jobctl in-process, a DNS server
//! (hickory-server) on a loopback port, Postfix's smtp-sink standing for
//! Internet mail servers on 127.0.0.x, and a spool with jobs submitted the
//! way a relay submits them.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, MX, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use mail_core::shutdown::Shutdown;
use mail_delivery::job_for;
use mail_jobctl::{ChannelPolicy, JobController, JobctlConfig};
use mail_proto::jobctl::v1::job_controller_client::JobControllerClient;
use mail_proto::jobctl::v1::{JobRef, ListRequest, RetryPolicy, SubmitRequest};
use mail_queue::Content;
use mail_queue::{ClientRecord, Envelope, QueuedRecipient, Spool, SpoolConfig};
use tonic::transport::Channel;

pub const RELAY: &str = "mta-test";

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "mail_log=info,mail_delivery=debug,warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub struct Jobctl {
    pub url: String,
    /// The retry schedule each channel's jobs carry (a relay takes them
    /// from its routing file).
    pub policies: Vec<(String, RetryPolicy)>,
    pub shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

impl Jobctl {
    pub async fn start(channels: &[(&str, RetryPolicy)]) -> Jobctl {
        let dir = tempfile::tempdir().expect("tempdir");
        let shutdown = Shutdown::new();
        let mut cfg = JobctlConfig::new("127.0.0.1:0".parse().expect("addr"), dir.path());
        cfg.max_lease = Duration::from_secs(60);
        cfg.channels = channels
            .iter()
            .map(|(n, _)| (n.to_string(), ChannelPolicy { max_workers: 4 }))
            .collect();
        let jc = JobController::open(cfg, shutdown.clone()).expect("open jobctl");
        let addr = jc
            .serve("127.0.0.1:0".parse().expect("addr"), None, &shutdown)
            .await
            .expect("serve");
        Jobctl {
            url: format!("http://{addr}"),
            policies: channels
                .iter()
                .map(|(n, p)| (n.to_string(), p.clone()))
                .collect(),
            shutdown,
            _dir: dir,
        }
    }

    /// The schedule jobs of `channel` carry.
    pub fn policy(&self, channel: &str) -> Option<RetryPolicy> {
        self.policies
            .iter()
            .find(|(n, _)| n == channel)
            .map(|(_, p)| p.clone())
    }

    pub async fn client(&self) -> JobControllerClient<Channel> {
        JobControllerClient::connect(self.url.clone())
            .await
            .expect("connect jobctl")
    }

    /// Jobs still queued (any state).
    pub async fn jobs(&self) -> Vec<mail_proto::jobctl::v1::Job> {
        self.client()
            .await
            .list(ListRequest::default())
            .await
            .expect("list")
            .into_inner()
            .jobs
    }

    pub async fn show(&self, id: &str) -> Option<mail_proto::jobctl::v1::ShowResponse> {
        self.client()
            .await
            .show(JobRef {
                queue_id: id.to_string(),
            })
            .await
            .ok()
            .map(|r| r.into_inner())
    }
}

impl Drop for Jobctl {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A retry schedule with short times for tests.
pub fn fast_policy(retry: &str, delay_notice: &str, lifetime: &str) -> RetryPolicy {
    let d = |s: &str| humantime_parse(s).as_secs();
    RetryPolicy {
        retry_seconds: vec![u32::try_from(d(retry)).expect("short")],
        max_lifetime_seconds: d(lifetime),
        delay_notice_seconds: d(delay_notice),
        no_delay_notice: false,
    }
}

fn humantime_parse(s: &str) -> Duration {
    let n: u64 = s.trim_end_matches('s').parse().expect("seconds");
    Duration::from_secs(n)
}

/// An authoritative DNS server for one zone on 127.0.0.1 (UDP and TCP on
/// the same port, as the resolver expects).
pub struct Dns {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub enum Rr {
    Mx(&'static str, u16, &'static str),
    A(&'static str, &'static str),
}

impl Dns {
    pub async fn start(origins: &[&str], records: &[Rr]) -> Dns {
        let mut catalog = Catalog::new();
        for origin in origins {
            let o = Name::from_str(&format!("{origin}.")).expect("origin");
            let mut zone =
                InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::empty(
                    o.clone(),
                    ZoneType::Primary,
                    AxfrPolicy::Deny,
                );
            let soa = SOA::new(
                Name::from_str(&format!("ns.{origin}.")).expect("ns"),
                Name::from_str(&format!("hostmaster.{origin}.")).expect("rname"),
                1,
                3600,
                600,
                86400,
                60,
            );
            zone.upsert_mut(Record::from_rdata(o.clone(), 60, RData::SOA(soa)), 1);
            for rr in records {
                let (name, data) = match rr {
                    Rr::Mx(n, pref, host) => (
                        *n,
                        RData::MX(MX::new(
                            *pref,
                            Name::from_str(&format!("{host}.")).expect("mx"),
                        )),
                    ),
                    Rr::A(n, ip) => (*n, RData::A(A(ip.parse().expect("ip")))),
                };
                let name = Name::from_str(&format!("{name}.")).expect("name");
                if o.zone_of(&name) {
                    zone.upsert_mut(Record::from_rdata(name, 60, data), 1);
                }
            }
            catalog.upsert(LowerName::new(&o), vec![Arc::new(zone)]);
        }
        let (udp, tcp) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("udp");
            let port = udp.local_addr().expect("addr").port();
            if let Ok(tcp) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().expect("addr");
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 16 * 1024);
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        Dns { addr, task }
    }
}

/// Postfix's smtp-sink on `ip:port`, dumping each message into a directory.
pub struct Sink {
    child: Child,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl Sink {
    /// Starts smtp-sink with extra options (`-r RCPT` for 4xx, `-f RCPT`
    /// for 5xx...) and waits until it accepts connections.
    pub fn start(addr: SocketAddr, extra: &[&str]) -> Sink {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod");
        let child = Command::new("/usr/sbin/smtp-sink")
            .args(["-u", "nobody", "-d"])
            .arg(format!("{}/%M%S.", dir.path().display()))
            .args(extra)
            .arg(format!("{addr}"))
            .arg("50")
            .spawn()
            .expect("smtp-sink (Debian postfix) must be installed");
        let start = Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "smtp-sink did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Sink { child, dir, addr }
    }

    /// Every dumped transaction, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut v: Vec<(PathBuf, String)> = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| {
                let p = e.path();
                let t =
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                (p, t)
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, t)| t).collect()
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on every one of `ips` (smtp-sinks bind the same port on
/// several loopback addresses, standing for several hosts).
pub fn free_port(ips: &[&str]) -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        if ips.iter().all(|ip| {
            std::net::TcpListener::bind((ip.parse::<IpAddr>().expect("ip"), port)).is_ok()
        }) {
            return port;
        }
    }
}

pub fn spool(dir: &Path) -> Spool {
    Spool::open(&SpoolConfig::new(dir)).expect("spool")
}

/// A message with a unique Message-ID.
pub fn message(tag: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: someone@example.net\r\nSubject: test {tag}\r\nMessage-ID: <{tag}@example.org>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\nHello {tag}.\r\n.leading dot line\r\n"
    )
    .into_bytes()
}

/// Queues `data` on `channel` for `host` and tells jobctl, as a relay does.
pub async fn enqueue(
    spool: &Spool,
    jobctl: &Jobctl,
    channel: &str,
    host: &str,
    sender: &str,
    rcpts: &[QueuedRecipient],
    tag: &str,
) -> Envelope {
    let env = Envelope {
        id: spool.next_id(),
        channel: channel.into(),
        host: host.into(),
        received_at: SystemTime::now(),
        client: ClientRecord::default(),
        sender: sender.into(),
        body: None,
        smtputf8: false,
        ret: None,
        envid: Some(format!("ENV-{tag}")),
        mail_auth: None,
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        message_id: Some(format!("<{tag}@example.org>")),
        size: 0,
        recipients: rcpts.to_vec(),
    };
    let queued = spool
        .enqueue(vec![env], Vec::new(), Content::Bytes(message(tag)))
        .await
        .expect("enqueue");
    let env = queued.into_iter().next().expect("one");
    jobctl
        .client()
        .await
        .submit(SubmitRequest {
            job: Some(job_for(RELAY, &env, 0, jobctl.policy(channel))),
        })
        .await
        .expect("submit");
    env
}

/// Queue files of a channel.
pub fn queued(spool: &Spool, channel: &str) -> Vec<PathBuf> {
    match std::fs::read_dir(spool.root().join(channel)) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

pub fn rcpt(a: &str) -> QueuedRecipient {
    QueuedRecipient::new(a)
}
pub mod mailstore;
