//! The end-to-end harness: start a real service binary with a generated
//! config on a loopback address, wait for it to report its ports and answer
//! `/healthz`, show its log when the test fails, and kill it on drop.
#![allow(dead_code)]

pub mod flows_env;
pub mod imap_env;
pub mod lmtp_proxy;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The path of one of this package's binaries.
pub fn bin(name: &str) -> PathBuf {
    let p = match name {
        "mta-inbound" => env!("CARGO_BIN_EXE_mta-inbound"),
        "mta-outbound" => env!("CARGO_BIN_EXE_mta-outbound"),
        "jobctl" => env!("CARGO_BIN_EXE_jobctl"),
        "mailstore" => env!("CARGO_BIN_EXE_mailstore"),
        "mmp" => env!("CARGO_BIN_EXE_mmp"),
        "mem" => env!("CARGO_BIN_EXE_mem"),
        "mailctl" => env!("CARGO_BIN_EXE_mailctl"),
        other => panic!("no binary named {other}"),
    };
    PathBuf::from(p)
}

/// Every long-running service binary.
pub const SERVICES: &[&str] = &[
    "mta-inbound",
    "mta-outbound",
    "jobctl",
    "mailstore",
    "mmp",
    "mem",
];

/// `127.0.0.N`: each simulated host of a test gets its own address.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// Polls `f` every 20 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A blocking HTTP/1.0 GET returning status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let (head, body) = buf
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    Ok((status, body.to_string()))
}

/// The sections a service cannot start without, with state under `dir`
/// and listeners on `ip` port 0.
pub fn required_sections(binary: &str, ip: IpAddr, dir: &Path) -> String {
    match binary {
        "jobctl" => format!(
            "[jobctl]\nlisten = \"{}\"\nstate_dir = {:?}\n",
            SocketAddr::new(ip, 0),
            dir.join("jobctl-state").display().to_string()
        ),
        "mailstore" => {
            let data = dir.join("directory-data.toml");
            if !data.exists() {
                mail_directory::file::FileDirectory::create(&data, &Default::default())
                    .expect("create an empty file directory");
            }
            format!(
                "host = \"localhost\"\n[store]\nsystem_path = {sys:?}\n[store.partitions]\nprimary = {part:?}\n[directory]\nbackend = \"file\"\npath = {data:?}\n[lmtp.listener]\nlisten = \"{lmtp}\"\n",
                sys = dir.join("store-system").display().to_string(),
                part = dir.join("store-primary").display().to_string(),
                data = data.display().to_string(),
                lmtp = SocketAddr::new(ip, 0),
            )
        }
        "mem" => {
            let data = dir.join("directory-data.toml");
            if !data.exists() {
                mail_directory::file::FileDirectory::create(&data, &Default::default())
                    .expect("create an empty file directory");
            }
            let secret = dir.join("mem.secret");
            std::fs::write(&secret, "mem-test-secret\n").expect("write the proxy secret");
            format!(
                "[http.listener]\nlisten = \"{http}\"\ntls = \"none\"\n[directory]\nbackend = \"file\"\npath = {data:?}\n[proxy]\nname = \"mem\"\nsecret_file = {secret:?}\n",
                http = SocketAddr::new(ip, 0),
                data = data.display().to_string(),
                secret = secret.display().to_string(),
            )
        }
        "mta-inbound" | "mta-outbound" => {
            let data = dir.join("directory-data.toml");
            if !data.exists() {
                mail_directory::file::FileDirectory::create(&data, &Default::default())
                    .expect("create an empty file directory");
            }
            let routing = dir.join("routing.toml");
            let text = mail_routing::fill(
                mail_routing::INBOUND_DEFAULT,
                &[
                    ("DOMAIN", "example.test"),
                    ("LOCAL_HOST", "mx.example.test"),
                    ("LMTP_PORT", "24"),
                    ("POSTMASTER", "postmaster@example.test"),
                ],
            )
            .expect("fill the shipped routing file");
            std::fs::write(&routing, text).expect("write routing");
            // jobctl is dialled lazily: a relay starts (and queues) while
            // its job controller is away.
            format!(
                "routing = {routing:?}\n[directory]\nbackend = \"file\"\npath = {data:?}\n[spool]\ndir = {spool:?}\n[delivery]\njobctl = \"http://127.0.0.1:9\"\nrelay = \"{binary}\"\nhostname = \"mx.example.test\"\n[smtp.listener]\nlisten = \"{smtp}\"\n",
                routing = routing.display().to_string(),
                data = data.display().to_string(),
                spool = dir.join("spool").display().to_string(),
                smtp = SocketAddr::new(ip, 0),
            )
        }
        "mmp" => {
            let data = dir.join("directory-data.toml");
            if !data.exists() {
                mail_directory::file::FileDirectory::create(&data, &Default::default())
                    .expect("create an empty file directory");
            }
            let secret = dir.join("mmp.secret");
            std::fs::write(&secret, "mmp-test-secret\n").expect("write the proxy secret");
            // DNS off: no test may ask the machine's resolver.
            format!(
                "[directory]\nbackend = \"file\"\npath = {data:?}\n[backend]\nsecret_file = {secret:?}\n[backend.dns]\nenabled = false\n[imap]\nallow_plaintext_login = true\n[imap.listener]\nlisten = \"{imap}\"\n[pop3]\nallow_plaintext_login = true\n[pop3.listener]\nlisten = \"{imap}\"\n",
                data = data.display().to_string(),
                secret = secret.display().to_string(),
                imap = SocketAddr::new(ip, 0),
            )
        }
        _ => String::new(),
    }
}

/// Builds the configuration of a service under test.
pub struct ServiceBuilder {
    binary: String,
    ip: IpAddr,
    drain: String,
    sections: String,
    top: String,
    env: Vec<(String, String)>,
    defaults: bool,
}

impl ServiceBuilder {
    /// A service listening on 127.0.0.1 with a 2 s drain deadline.
    pub fn new(binary: &str) -> Self {
        Self {
            binary: binary.to_string(),
            ip: loopback(1),
            drain: "2s".into(),
            sections: String::new(),
            top: String::new(),
            env: Vec::new(),
            defaults: true,
        }
    }

    /// The loopback address the service binds.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// Its drain deadline, as a humantime string.
    pub fn drain(mut self, d: &str) -> Self {
        self.drain = d.into();
        self
    }

    /// Extra TOML appended after `[service]` (whole sections).
    pub fn config(mut self, toml: &str) -> Self {
        self.sections.push_str(toml);
        self.sections.push('\n');
        self
    }

    /// Top-level keys, written before any table.
    pub fn config_top(mut self, toml: &str) -> Self {
        self.top.push_str(toml);
        self
    }

    /// Leaves out [`required_sections`]: the test writes them itself.
    pub fn no_defaults(mut self) -> Self {
        self.defaults = false;
        self
    }

    /// An environment variable for the process.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Writes the config, starts the process and waits until it is up.
    pub fn start(self) -> Service {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", self.binary))
            .tempdir()
            .expect("tempdir");
        let ports_file = dir.path().join("ports.json");
        let config = dir.path().join("config.toml");
        // Required sections go first: they may start with top-level keys.
        let required = if self.defaults {
            required_sections(&self.binary, self.ip, dir.path())
        } else {
            String::new()
        };
        let text = format!(
            "{}{}\n[service]\nadmin_listen = \"{}\"\nports_file = {:?}\ndrain_timeout = \"{}\"\n\n{}",
            self.top,
            required,
            SocketAddr::new(self.ip, 0),
            ports_file.display().to_string(),
            self.drain,
            self.sections
        );
        std::fs::write(&config, text).expect("write config");
        let log = dir.path().join("service.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin(&self.binary))
            .arg("--config")
            .arg(&config)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn service");
        let mut svc = Service {
            name: self.binary,
            child,
            ports: BTreeMap::new(),
            log,
            config,
            _dir: dir,
        };
        svc.wait_up(&ports_file, Duration::from_secs(30));
        svc
    }
}

/// A running service process.
pub struct Service {
    /// The binary name.
    pub name: String,
    child: Child,
    /// Bound addresses by listener name (`admin`, `smtp`, ...).
    pub ports: BTreeMap<String, SocketAddr>,
    log: PathBuf,
    /// The generated config file.
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    fn wait_up(&mut self, ports_file: &Path, timeout: Duration) {
        let name = self.name.clone();
        let ports = wait_for(&format!("{name} to report its ports"), timeout, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{name} exited during start: {status}\n{}", self.log_text());
            }
            let text = std::fs::read_to_string(ports_file).ok()?;
            serde_json::from_str::<BTreeMap<String, String>>(&text).ok()
        });
        self.ports = ports
            .into_iter()
            .map(|(k, v)| (k, v.parse().expect("address in ports file")))
            .collect();
        let admin = self.port("admin");
        wait_for(&format!("{name} /healthz"), timeout, || {
            matches!(http_get(admin, "/healthz"), Ok((200, _))).then_some(())
        });
    }

    /// A bound address by listener name.
    pub fn port(&self, name: &str) -> SocketAddr {
        *self
            .ports
            .get(name)
            .unwrap_or_else(|| panic!("{} has no {name} port: {:?}", self.name, self.ports))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal.
    pub fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), sig);
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name.clone();
        wait_for(&format!("{name} to exit"), timeout, || {
            self.child.try_wait().ok().flatten()
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- log of {} -----\n{}\n----- end of log -----",
                self.name,
                self.log_text()
            );
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// True when `pid` no longer runs (gone, or a zombie nobody reaped).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

/// The pids whose parent is `ppid`.
pub fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(ppid) {
            out.push(pid);
        }
    }
    out
}

/// A file-directory user `uid@domain` with the password `{uid}-pw` (SSHA),
/// homed on the store at 127.0.0.1.
pub fn file_user(uid: &str, domain: &str) -> mail_directory::file::FileUser {
    use mail_directory::password::{Scheme, hash};
    mail_directory::file::FileUser {
        uid: uid.into(),
        mail: format!("{uid}@{domain}"),
        password: Some(hash(&format!("{uid}-pw"), Scheme::Ssha).expect("hash")),
        mail_host: Some("127.0.0.1".into()),
        ..Default::default()
    }
}

/// Creates a file directory at `path` (base DN `dc=example,dc=test`)
/// holding `domain` without aliases, `users` and `groups`.
pub fn create_file_directory(
    path: &Path,
    domain: &str,
    users: Vec<mail_directory::file::FileUser>,
    groups: Vec<mail_directory::file::FileGroup>,
) {
    let data = mail_directory::file::Data {
        base_dn: "dc=example,dc=test".into(),
        domains: vec![mail_directory::Domain {
            name: domain.into(),
            aliases: Vec::new(),
        }],
        users,
        groups,
    };
    mail_directory::file::FileDirectory::create(path, &data).expect("directory");
}

/// One message to `to` over LMTP at `lmtp` (host:port) with `swaks`, from
/// sender@example.net: its output (the transcript is on stdout).
pub fn swaks_lmtp(lmtp: &str, to: &str, subject: &str, body: &str) -> Output {
    Command::new("swaks")
        .args(["--protocol", "LMTP", "--server", lmtp, "--to", to])
        .args([
            "--from",
            "sender@example.net",
            "--helo",
            "client.example.net",
        ])
        .args(["--header", &format!("Subject: {subject}")])
        .args(["--body", body])
        .output()
        .expect("run swaks (Debian package swaks)")
}

/// Starts `mailctl up --data-dir DATA` logging to `log` and waits, at
/// most `timeout`, for the endpoints.json it writes: the process and the
/// endpoints. Panics with the log when it exits meanwhile.
pub fn mailctl_up(data: &Path, log: &Path, timeout: Duration) -> (Child, serde_json::Value) {
    let out = std::fs::File::create(log).expect("log");
    let mut child = Command::new(bin("mailctl"))
        .args(["up", "--data-dir"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("mailctl up");
    let endpoints = wait_for("endpoints.json", timeout, || {
        if let Ok(Some(s)) = child.try_wait() {
            panic!(
                "mailctl up exited: {s}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        serde_json::from_str(&std::fs::read_to_string(data.join("endpoints.json")).ok()?).ok()
    });
    (child, endpoints)
}

/// Sends SIGTERM to `mailctl up` and waits (30 s at most) for its exit.
pub fn stop_mailctl_up(child: &mut Child) -> ExitStatus {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    wait_for("mailctl up to stop", Duration::from_secs(30), || {
        child.try_wait().ok().flatten()
    })
}

/// Runs `python3 -c SCRIPT` to its end.
pub fn python3(script: &str) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3")
}
