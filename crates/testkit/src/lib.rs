//! Test helpers shared by Tiermail's crates and benchmarks.
//!
//! [`Slapd`] runs a throw-away OpenLDAP server: a generated `slapd.conf`
//! in a temporary directory, the system schemas Tiermail builds on plus
//! every `*.schema` file of the given directory, an LDIF loaded with
//! `slapadd`, and `slapd` listening on a free loopback port. It is killed
//! when the value is dropped. Needs the Debian packages `slapd` and
//! `ldap-utils` (`scripts/test` installs them).
//!
//! [`dovecot::Dovecot`] runs a private Dovecot (LMTP, IMAP, POP3) from a
//! generated configuration, for the benchmarks that compare against it;
//! [`process`] lists a server's process tree; [`free_port`] and
//! [`wait_listening`] are the loopback helpers all of them use.
#![warn(missing_docs)]

pub mod dovecot;
pub mod process;

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the Debian package puts the server and its modules.
const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const MODULES: &str = "/usr/lib/ldap";
const SYSTEM_SCHEMA: &str = "/etc/ldap/schema";

/// Schemas every Tiermail directory needs, in load order.
const BASE_SCHEMAS: &[&str] = &["core", "cosine", "inetorgperson", "misc", "dyngroup", "nis"];

/// How long `slapd` may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The path of `deploy/ldap` in this repository (schema and demo LDIF).
///
/// Found from the running package's directory (`cargo test` and `cargo
/// run` set `CARGO_MANIFEST_DIR`; otherwise the current directory), not
/// from a path baked in at compile time: cargo reuses this crate's build
/// for another checkout sharing the target directory (a CI clone), and
/// that checkout may be gone.
pub fn deploy_ldap_dir() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    start
        .ancestors()
        .map(|a| a.join("deploy/ldap"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/ldap"))
}

/// Whether slapd is installed here; tests that need it fail with a clear
/// message when it is not (see [`Slapd::start`]).
pub fn slapd_installed() -> bool {
    Path::new(SLAPD).is_file() && Path::new(SLAPADD).is_file()
}

/// TLS files for LDAPS and StartTLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// A running throw-away `slapd`.
pub struct Slapd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `ldap://127.0.0.1:PORT/`.
    pub url: String,
    /// `ldaps://127.0.0.1:PORT/` when started with TLS.
    pub ldaps_url: Option<String>,
    /// The plain LDAP port.
    pub port: u16,
    /// The suffix (the first entry of the LDIF).
    pub base_dn: String,
    /// The root DN, which bypasses access control.
    pub admin_dn: String,
    /// Its password.
    pub admin_password: String,
}

/// A loopback port that was free a moment ago (bound, read, released).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts connections on `addr`, for at most
/// `timeout`.
pub fn wait_listening(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    wait_listening_while(addr, timeout, || true)
}

/// Like [`wait_listening`], giving up as soon as `alive` returns false
/// (the server exited).
pub fn wait_listening_while(
    addr: SocketAddr,
    timeout: Duration,
    mut alive: impl FnMut() -> bool,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !alive() {
            return Err(io::Error::other(format!(
                "the server exited before listening on {addr}"
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("nothing listened on {addr} within {timeout:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn first_dn(ldif: &str) -> Option<String> {
    ldif.lines()
        .find_map(|l| l.strip_prefix("dn:"))
        .map(|d| d.trim().to_string())
}

impl Slapd {
    /// Starts slapd with the schemas in `schema_dir` and the entries in
    /// `ldif`, whose first entry is the suffix.
    pub fn start(schema_dir: &Path, ldif: &Path) -> io::Result<Self> {
        Self::start_with_tls(schema_dir, ldif, None)
    }

    /// Like [`Slapd::start`], also listening for LDAPS and offering StartTLS
    /// with `tls`.
    pub fn start_with_tls(
        schema_dir: &Path,
        ldif: &Path,
        tls: Option<&TlsFiles>,
    ) -> io::Result<Self> {
        if !slapd_installed() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "slapd is not installed (apt-get install slapd ldap-utils)",
            ));
        }
        let ldif_text = std::fs::read_to_string(ldif)?;
        let base_dn = first_dn(&ldif_text)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "LDIF has no dn: line"))?;
        let dir = tempfile::Builder::new().prefix("slapd-").tempdir()?;
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db)?;
        let admin_dn = format!("cn=admin,{base_dn}");
        let admin_password = "admin-secret".to_string();

        let mut conf = String::new();
        for s in BASE_SCHEMAS {
            let _ = writeln!(conf, "include {SYSTEM_SCHEMA}/{s}.schema");
        }
        let mut extra: Vec<PathBuf> = std::fs::read_dir(schema_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "schema"))
            .collect();
        extra.sort();
        for s in extra {
            let _ = writeln!(conf, "include {}", s.canonicalize()?.display());
        }
        let _ = writeln!(conf, "pidfile {}/slapd.pid", dir.path().display());
        let _ = writeln!(conf, "modulepath {MODULES}\nmoduleload back_mdb");
        if Path::new(MODULES).join("argon2.so").exists() {
            conf.push_str("moduleload argon2\n");
        }
        if let Some(t) = tls {
            let _ = writeln!(
                conf,
                "TLSCertificateFile {}\nTLSCertificateKeyFile {}",
                t.cert.display(),
                t.key.display()
            );
        }
        let _ = writeln!(
            conf,
            "database mdb\nmaxsize 67108864\nsuffix \"{base_dn}\"\nrootdn \"{admin_dn}\"\nrootpw {admin_password}\ndirectory {}",
            db.display()
        );
        conf.push_str(
            "index objectClass eq\nindex uid,mail,mailLocalAddress,cn eq\n\
             access to attrs=userPassword by self write by anonymous auth by * none\n\
             access to * by users read by * none\n",
        );
        let conf_path = dir.path().join("slapd.conf");
        std::fs::write(&conf_path, conf)?;

        let out = Command::new(SLAPADD)
            .arg("-f")
            .arg(&conf_path)
            .arg("-l")
            .arg(ldif)
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "slapadd failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }

        let port = free_port()?;
        let url = format!("ldap://127.0.0.1:{port}/");
        let mut listen = url.clone();
        let (ldaps_url, ldaps_port) = if tls.is_some() {
            let p = free_port()?;
            listen.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
            (Some(format!("ldaps://127.0.0.1:{p}/")), Some(p))
        } else {
            (None, None)
        };
        let log = std::fs::File::create(dir.path().join("slapd.log"))?;
        // `-d 0` keeps slapd in the foreground so that it is our child.
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(&conf_path)
            .arg("-h")
            .arg(&listen)
            .arg("-d")
            .arg("0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut slapd = Self {
            child: Some(child),
            dir,
            url,
            ldaps_url,
            port,
            base_dn,
            admin_dn,
            admin_password,
        };
        slapd.wait_listening(port)?;
        if let Some(p) = ldaps_port {
            slapd.wait_listening(p)?;
        }
        Ok(slapd)
    }

    fn wait_listening(&mut self, port: u16) -> io::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Err(io::Error::other(format!(
                    "slapd exited ({status}): {}",
                    self.log()
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "slapd did not listen on {addr} within {START_TIMEOUT:?}: {}",
                        self.log()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// The generated `slapd.conf`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("slapd.conf")
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server now (to test an unreachable directory).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes the server with SIGSTOP: connections are accepted by the
    /// kernel but never answered (to test a slow directory).
    pub fn pause(&self) -> io::Result<()> {
        self.signal("STOP")
    }

    /// Undoes [`Slapd::pause`].
    pub fn resume(&self) -> io::Result<()> {
        self.signal("CONT")
    }

    fn signal(&self, sig: &str) -> io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| io::Error::other("slapd is not running"))?;
        process::signal(pid, sig)
    }

    /// Runs `ldapsearch` as the admin and returns its LDIF output.
    pub fn ldapsearch(&self, filter: &str, attrs: &[&str]) -> io::Result<String> {
        let out = Command::new("ldapsearch")
            .args([
                "-x",
                "-LLL",
                "-H",
                &self.url,
                "-D",
                &self.admin_dn,
                "-w",
                &self.admin_password,
                "-b",
                &self.base_dn,
            ])
            .arg(filter)
            .args(attrs)
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "ldapsearch failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        // SIGKILL ends a paused (stopped) server too.
        self.stop();
    }
}
