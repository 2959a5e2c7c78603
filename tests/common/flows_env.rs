//! What the process-level mail tests share (tests/flows.rs,
//! tests/mta_resilience.rs): a DNS server (`dnsmasq`) answering MX for an
//! outside domain, Postfix's `smtp-sink` standing for the Internet on its
//! own loopback address, and small helpers.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_for;

pub const DOMAIN: &str = "example.test";
pub const OUTSIDE: &str = "external.test";
/// The "Internet" mail server's address.
pub const INTERNET_IP: &str = "127.0.0.20";

/// A child process killed on drop (dnsmasq, smtp-sink).
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_udp_port(ip: &str) -> u16 {
    UdpSocket::bind(format!("{ip}:0"))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

pub fn free_tcp_port(ip: &str) -> u16 {
    std::net::TcpListener::bind(format!("{ip}:0"))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free TCP port")
}

/// dnsmasq answering only for the outside domain: MX -> mx.external.test
/// -> 127.0.0.20. Nothing is forwarded anywhere.
///
/// dnsmasq binds UDP and TCP on its port; a port free for UDP may be
/// taken for TCP by another test's listener, and dnsmasq then exits at
/// once. So the port must be free for both, and a dnsmasq that exits is
/// started again on another port.
pub fn start_dns(dir: &Path) -> (Daemon, SocketAddr) {
    start_dnsmasq(
        dir,
        &[
            format!("--mx-host={OUTSIDE},mx.{OUTSIDE},10"),
            format!("--host-record=mx.{OUTSIDE},{INTERNET_IP}"),
        ],
    )
}

/// dnsmasq on 127.0.0.1 answering from `records` (dnsmasq options such as
/// `--host-record=...`, `--local=/domain/`) and nothing else.
pub fn start_dnsmasq(dir: &Path, records: &[String]) -> (Daemon, SocketAddr) {
    for _ in 0..5 {
        let port = loop {
            let port = free_udp_port("127.0.0.1");
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
            ])
            .args([
                "--listen-address=127.0.0.1",
                "--except-interface=nonexistent",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            .args(records)
            .arg("--log-facility=-")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (Debian package dnsmasq)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut daemon = Daemon(child);
        let ready = wait_for("dnsmasq to answer or exit", Duration::from_secs(30), || {
            if let Ok(Some(_)) = daemon.0.try_wait() {
                return Some(false);
            }
            let out = Command::new("python3")
                .arg("-c")
                .arg(format!(
                    "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(0.5)\n\
                     q=bytes.fromhex('12340100000100000000000002787800000f0001')\n\
                     s.sendto(q,('127.0.0.1',{port}))\ns.recv(512)\n"
                ))
                .output()
                .ok()?;
            out.status.success().then_some(true)
        });
        if ready {
            return (daemon, addr);
        }
    }
    panic!("dnsmasq exited at start five times (ports taken?)");
}

/// `smtp-sink` on 127.0.0.20, keeping every message as a file in `dir`.
pub fn start_internet(dir: &Path) -> (Daemon, u16) {
    let port = free_tcp_port(INTERNET_IP);
    (start_internet_on(dir, port), port)
}

/// `smtp-sink` on 127.0.0.20 at `port` (chosen beforehand: the Internet
/// server may come up after the relays that deliver to it).
pub fn start_internet_on(dir: &Path, port: u16) -> Daemon {
    std::fs::create_dir_all(dir).expect("sink dir");
    let child = Command::new("/usr/sbin/smtp-sink")
        .arg("-u")
        .arg("root")
        .arg("-d")
        .arg(format!("{}/%M.", dir.display()))
        .arg(format!("{INTERNET_IP}:{port}"))
        .arg("100")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp-sink (Debian package postfix)");
    let daemon = Daemon(child);
    wait_for("smtp-sink to listen", Duration::from_secs(10), || {
        std::net::TcpStream::connect((INTERNET_IP, port)).ok()
    });
    daemon
}

/// The `[directory]` section of a file directory at `path`.
pub fn directory_section(path: &Path) -> String {
    format!(
        "[directory]\nbackend = \"file\"\npath = {:?}\n",
        path.display().to_string()
    )
}

/// Runs a Python script: success and its stdout + stderr.
pub fn python(script: &str) -> (bool, String) {
    let out = super::python3(script);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The shipped inbound routing file for [`DOMAIN`], delivering local mail
/// over LMTP to 127.0.0.1 at `lmtp_port`, with alice as postmaster.
pub fn inbound_routing_text(lmtp_port: &str) -> String {
    mail_routing::fill(
        mail_routing::INBOUND_DEFAULT,
        &[
            ("DOMAIN", DOMAIN),
            ("LOCAL_HOST", "mx.example.test"),
            ("LMTP_PORT", lmtp_port),
            ("POSTMASTER", "alice@example.test"),
        ],
    )
    .expect("inbound routing")
}
