//! A TCP proxy between a relay and a store's LMTP listener that can
//! withhold the store's replies to one message: the store has stored it
//! and answered `250`, and the relay never hears it. A relay killed in
//! that moment is what the store's redelivery memory (`X-DELIVERY-ID`)
//! is for.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The proxy; stops accepting when dropped.
pub struct LmtpProxy {
    /// The port it listens on.
    pub port: u16,
    addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    armed: Arc<AtomicBool>,
    held: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl LmtpProxy {
    /// Listens on `ip` port 0; connections wait for [`LmtpProxy::forward_to`].
    pub fn start(ip: &str) -> LmtpProxy {
        let listener = TcpListener::bind((ip, 0)).expect("bind the proxy");
        let addr = listener.local_addr().expect("addr");
        let proxy = LmtpProxy {
            port: addr.port(),
            addr,
            target: Arc::default(),
            armed: Arc::default(),
            held: Arc::default(),
            stop: Arc::default(),
        };
        let (target, armed, held, stop) = (
            proxy.target.clone(),
            proxy.armed.clone(),
            proxy.held.clone(),
            proxy.stop.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Some(to) = *target.lock().expect("lock") else {
                    continue;
                };
                let Ok(server) = TcpStream::connect(to) else {
                    continue;
                };
                pump(client, server, armed.clone(), held.clone());
            }
        });
        proxy
    }

    /// Where connections go: the store's LMTP listener.
    pub fn forward_to(&self, addr: SocketAddr) {
        *self.target.lock().expect("lock") = Some(addr);
    }

    /// The next message's end of data withholds every reply after it on
    /// that connection.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Whether replies are being withheld.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }
}

impl Drop for LmtpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn pump(client: TcpStream, server: TcpStream, armed: Arc<AtomicBool>, held: Arc<AtomicBool>) {
    let holding = Arc::new(AtomicBool::new(false));
    let (mut c_in, mut s_out) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let hold = holding.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut tail: Vec<u8> = Vec::new();
        while let Ok(n) = c_in.read(&mut buf) {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buf[..n]);
            // The end of a DATA section (RFC 5321 4.1.1.4), possibly split
            // across reads; decided before the store can answer it.
            if tail.windows(5).any(|w| w == b"\r\n.\r\n") && armed.swap(false, Ordering::SeqCst) {
                hold.store(true, Ordering::SeqCst);
                held.store(true, Ordering::SeqCst);
            }
            let keep = tail.len().saturating_sub(4);
            tail.drain(..keep);
            if s_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_out.shutdown(Shutdown::Both);
        let _ = c_in.shutdown(Shutdown::Both);
    });
    let (mut s_in, mut c_out) = (server, client);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = s_in.read(&mut buf) {
            if n == 0 {
                break;
            }
            if holding.load(Ordering::SeqCst) {
                continue;
            }
            if c_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = c_out.shutdown(Shutdown::Both);
        let _ = s_in.shutdown(Shutdown::Both);
    });
}
