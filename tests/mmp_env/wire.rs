//! A blocking line client for exact protocol replies: plain TCP, STARTTLS
//! and implicit TLS (rustls, trusting the test CA), from a chosen loopback
//! source address.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long one read may wait.
const READ: Duration = Duration::from_secs(30);

enum Io {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// One connection.
pub struct Wire {
    io: Option<Io>,
    buf: Vec<u8>,
}

fn tcp(addr: SocketAddr, from: Option<IpAddr>) -> TcpStream {
    let s = match from {
        None => TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect"),
        Some(ip) => {
            // std has no bind-before-connect; tokio's TcpSocket has.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let stream = rt
                .block_on(async {
                    let socket = tokio::net::TcpSocket::new_v4()?;
                    socket.bind(SocketAddr::new(ip, 0))?;
                    socket.connect(addr).await
                })
                .expect("connect from the source address");
            let std = stream.into_std().expect("std stream");
            std.set_nonblocking(false).expect("blocking");
            std
        }
    };
    s.set_read_timeout(Some(READ)).expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn tls(tcp: TcpStream, ca: &Path, name: &str) -> Io {
    let config: Arc<rustls::ClientConfig> = mail_core::tls::client_config(Some(ca)).expect("tls");
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).expect("name");
    let conn = rustls::ClientConnection::new(config, name).expect("client");
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).expect("TLS handshake");
    }
    Io::Tls(Box::new(s))
}

impl Wire {
    /// Plain TCP.
    pub fn plain(addr: SocketAddr) -> Self {
        Self::plain_from(addr, None)
    }

    /// Plain TCP from `from`.
    pub fn plain_from(addr: SocketAddr, from: Option<IpAddr>) -> Self {
        Self {
            io: Some(Io::Plain(tcp(addr, from))),
            buf: Vec::new(),
        }
    }

    /// TLS from the first byte, checking the certificate for `name`.
    pub fn tls(addr: SocketAddr, ca: &Path, name: &str) -> Self {
        Self {
            io: Some(tls(tcp(addr, None), ca, name)),
            buf: Vec::new(),
        }
    }

    /// Switches a plain connection to TLS (after the STARTTLS/STLS reply).
    pub fn upgrade(&mut self, ca: &Path, name: &str) {
        assert!(self.buf.is_empty(), "data before the handshake");
        match self.io.take() {
            Some(Io::Plain(s)) => self.io = Some(tls(s, ca, name)),
            _ => panic!("not a plain connection"),
        }
    }

    fn read_some(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        let r = match self.io.as_mut().expect("open") {
            Io::Plain(s) => s.read(&mut chunk),
            Io::Tls(s) => s.read(&mut chunk),
        };
        match r {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "no answer within {READ:?}; got so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            }
            // A reset, or a TLS peer that closed without close_notify.
            Err(_) => 0,
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        let r = match self.io.as_mut().expect("open") {
            Io::Plain(s) => s.write_all(bytes).and_then(|_| s.flush()),
            Io::Tls(s) => s.write_all(bytes).and_then(|_| s.flush()),
        };
        r.expect("write");
    }

    /// One line without CRLF, or `None` at the end of the stream.
    pub fn try_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line);
                return Some(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.read_some() == 0 {
                return None;
            }
        }
    }

    /// One line; panics at the end of the stream.
    pub fn line(&mut self) -> String {
        self.try_line()
            .expect("connection closed while waiting for a line")
    }

    /// Exactly `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.read_some() > 0, "closed inside a literal");
        }
        self.buf.drain(..n).collect()
    }

    /// Sends `TAG TEXT` and returns the lines up to the tagged one
    /// (literals inlined).
    pub fn cmd(&mut self, tag: &str, text: &str) -> Vec<String> {
        self.send(format!("{tag} {text}\r\n").as_bytes());
        self.until_tagged(tag)
    }

    /// The lines up to and including the one tagged `tag`.
    pub fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let mut line = self.line();
            while let Some(n) = literal(&line) {
                let data = self.bytes(n);
                line.push_str(&String::from_utf8_lossy(&data));
                line.push_str(&self.line());
            }
            let done = line.starts_with(&format!("{tag} "));
            out.push(line);
            if done {
                return out;
            }
        }
    }

    /// A POP3 command and its status line.
    pub fn pop(&mut self, text: &str) -> String {
        self.send(format!("{text}\r\n").as_bytes());
        self.line()
    }

    /// True when the peer closed (after any remaining lines are read).
    pub fn closed(&mut self) -> bool {
        while self.try_line().is_some() {}
        true
    }
}

fn literal(line: &str) -> Option<usize> {
    let t = line.strip_suffix('}')?;
    let open = t.rfind('{')?;
    t[open + 1..].trim_end_matches('+').parse().ok()
}

/// The last line of a response.
pub fn last(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or_default()
}
