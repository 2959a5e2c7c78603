//! A throw-away Dovecot for benchmarks: `/usr/sbin/dovecot -F` from a
//! private `dovecot.conf` in a given directory, passwd-file users (all
//! with the same password) owned by [`MAIL_UID`], Maildir under
//! `DIR/data/USER/Maildir`, each protocol on a free loopback port, the
//! Debian package's defaults otherwise (fsync included). Stopped with
//! `doveadm stop` (the master takes its children with it) when dropped.
//! Needs root (Dovecot switches to [`MAIL_UID`]) and the Debian packages
//! `dovecot-core` plus `dovecot-lmtpd` / `dovecot-imapd` / `dovecot-pop3d`
//! for the protocols used.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the Debian package puts the server and its admin tool.
const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVEADM: &str = "/usr/bin/doveadm";

/// The uid (and gid) owning the Maildirs; it needs no passwd entry.
pub const MAIL_UID: u32 = 5000;

/// How long Dovecot may take to listen on its ports.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `doveadm stop` may take before the master is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether Dovecot is installed here.
pub fn installed() -> bool {
    Path::new(DOVECOT).is_file()
}

/// `dovecot --version` (e.g. `2.3.21 (47349e2482)`), empty when it cannot
/// be run.
pub fn version() -> String {
    Command::new(DOVECOT)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// A protocol Dovecot serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// LMTP (`service lmtp`, four processes kept ready).
    Lmtp,
    /// IMAP without TLS (`service imap-login`, imaps disabled).
    Imap,
    /// POP3 without TLS (`service pop3-login`, pop3s disabled).
    Pop3,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::Lmtp => "lmtp",
            Self::Imap => "imap",
            Self::Pop3 => "pop3",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Self::Lmtp => "dovecot-lmtpd",
            Self::Imap => "dovecot-imapd",
            Self::Pop3 => "dovecot-pop3d",
        }
    }
}

/// What to start: protocols, users and anything a caller adds.
#[derive(Debug, Clone)]
pub struct DovecotConfig {
    /// Served protocols, each on its own free loopback port.
    pub protocols: Vec<Protocol>,
    /// Local parts of the users (login names and Maildir directories).
    pub users: Vec<String>,
    /// Every user's password (`{PLAIN}` in the passwd-file).
    pub password: String,
    /// The mail domain (LMTP's `postmaster_address`).
    pub domain: String,
    /// `instance_name` is this, a dash and the first protocol's port.
    pub instance: String,
    /// Lines appended to `dovecot.conf` as they are (limits, auth
    /// settings, more `service` blocks).
    pub extra: String,
    /// Extra fields of every user's passdb entry (the passwd-file's last
    /// column), e.g. `proxy=y host=127.0.0.1 port=1143` for a Dovecot
    /// that proxies every login to another IMAP server.
    pub user_fields: String,
}

impl DovecotConfig {
    /// No protocols and no users yet; password `pass`, domain
    /// `example.test`, `instance_name` `INSTANCE-PORT`.
    pub fn new(instance: &str) -> Self {
        Self {
            protocols: Vec::new(),
            users: Vec::new(),
            password: "pass".into(),
            domain: "example.test".into(),
            instance: instance.into(),
            extra: String::new(),
            user_fields: String::new(),
        }
    }

    /// Also serves `p`.
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.protocols.push(p);
        self
    }

    /// Users `testuser1` .. `testuserN`.
    pub fn test_users(mut self, n: usize) -> Self {
        self.users = (1..=n).map(|i| format!("testuser{i}")).collect();
        self
    }

    /// These users (local parts).
    pub fn users<I, S>(mut self, users: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.users = users.into_iter().map(Into::into).collect();
        self
    }

    /// Every user's password.
    pub fn password(mut self, password: &str) -> Self {
        self.password = password.into();
        self
    }

    /// The mail domain.
    pub fn domain(mut self, domain: &str) -> Self {
        self.domain = domain.into();
        self
    }

    /// Gives every user these passdb extra fields (space-separated
    /// `key=value`).
    pub fn user_fields(mut self, fields: &str) -> Self {
        self.user_fields = fields.into();
        self
    }

    /// Appends `lines` to the generated `dovecot.conf`.
    pub fn extra(mut self, lines: &str) -> Self {
        self.extra.push_str(lines);
        self
    }
}

/// A running private Dovecot; stopped on drop.
pub struct Dovecot {
    child: Child,
    dir: PathBuf,
    conf: PathBuf,
    addrs: Vec<(Protocol, SocketAddr)>,
}

impl Dovecot {
    /// Writes the configuration and the users into `dir` (created if
    /// missing), starts Dovecot and waits until every protocol listens.
    pub fn start(dir: &Path, config: &DovecotConfig) -> io::Result<Self> {
        if !installed() {
            let packages: Vec<&str> = config.protocols.iter().map(|p| p.package()).collect();
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{DOVECOT} is not installed (apt-get install {})",
                    if packages.is_empty() {
                        "dovecot-core".to_string()
                    } else {
                        packages.join(" ")
                    }
                ),
            ));
        }
        let Some(first) = config.protocols.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "DovecotConfig has no protocol",
            ));
        };
        let mut addrs = Vec::new();
        for &p in &config.protocols {
            addrs.push((p, SocketAddr::from(([127, 0, 0, 1], crate::free_port()?))));
        }
        let first_port = addrs[0].1.port();
        debug_assert_eq!(addrs[0].0, *first);

        let data = dir.join("data");
        for d in ["run", "state"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        std::fs::create_dir_all(&data)?;
        let mut users = String::new();
        for u in &config.users {
            let _ = writeln!(
                users,
                "{u}:{{PLAIN}}{}:{MAIL_UID}:{MAIL_UID}::{}/{u}::{}",
                config.password,
                data.display(),
                config.user_fields
            );
        }
        std::fs::write(dir.join("users"), users)?;

        let d = dir.display();
        let protocols: Vec<&str> = config.protocols.iter().map(|p| p.name()).collect();
        let mut conf = format!(
            "protocols = {}\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             instance_name = {}-{first_port}\nlog_path = {d}/dovecot.log\n\
             ssl = no\nauth_username_format = %Ln\n\
             first_valid_uid = {MAIL_UID}\nlast_valid_uid = {MAIL_UID}\n\
             mail_location = maildir:~/Maildir\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {d}/users\n}}\n",
            protocols.join(" "),
            config.instance,
        );
        for (p, addr) in &addrs {
            let port = addr.port();
            let _ = match p {
                Protocol::Lmtp => write!(
                    conf,
                    "service lmtp {{\n  process_min_avail = 4\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n\
                     protocol lmtp {{\n  postmaster_address = postmaster@{}\n}}\n",
                    config.domain
                ),
                Protocol::Imap | Protocol::Pop3 => {
                    let n = p.name();
                    write!(
                        conf,
                        "service {n}-login {{\n  inet_listener {n} {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener {n}s {{\n    port = 0\n  }}\n}}\n"
                    )
                }
            };
        }
        conf.push_str(&config.extra);
        let conf_path = dir.join("dovecot.conf");
        std::fs::write(&conf_path, conf)?;

        let owner = format!("{MAIL_UID}:{MAIL_UID}");
        if !Command::new("chown")
            .arg(&owner)
            .arg(&data)
            .status()?
            .success()
        {
            return Err(io::Error::other(format!(
                "chown {owner} {} failed",
                data.display()
            )));
        }
        let child = Self::spawn(dir, &conf_path)?;
        let mut me = Self {
            child,
            dir: dir.to_path_buf(),
            conf: conf_path,
            addrs,
        };
        me.wait_listening()?;
        Ok(me)
    }

    fn spawn(dir: &Path, conf: &Path) -> io::Result<Child> {
        // Its log goes to `log_path`; stderr only has what comes before.
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dovecot.stderr"))?;
        Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
    }

    fn wait_listening(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        for &(_, addr) in &self.addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut exited = None;
            let waited = crate::wait_listening_while(addr, left, || {
                exited = self.child.try_wait().ok().flatten();
                exited.is_none()
            });
            if let Err(e) = waited {
                let why = match exited {
                    Some(status) => format!("dovecot exited ({status})"),
                    None => e.to_string(),
                };
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{why}; see {} and {}",
                        self.dir.join("dovecot.log").display(),
                        self.dir.join("dovecot.stderr").display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Where `protocol` listens, if it is served.
    pub fn addr(&self, protocol: Protocol) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(p, _)| *p == protocol)
            .map(|(_, a)| *a)
    }

    /// The directory holding the users' homes: `USER/Maildir` under it.
    pub fn maildir_root(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `user`'s Maildir.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.maildir_root().join(user).join("Maildir")
    }

    /// The generated `dovecot.conf`.
    pub fn config_path(&self) -> &Path {
        &self.conf
    }

    /// Dovecot's own log (`log_path`).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("dovecot.log")
    }

    /// The master's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The master and all its descendants (auth, login, imap, lmtp ...).
    pub fn processes(&self) -> Vec<u32> {
        crate::process::tree(self.pid())
    }

    /// The master's descendants alone.
    pub fn children(&self) -> Vec<u32> {
        let pid = self.pid();
        crate::process::tree(pid)
            .into_iter()
            .filter(|p| *p != pid)
            .collect()
    }

    /// Stops Dovecot and starts it again over the same data and ports
    /// (fresh processes and memory).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        // Let the kernel release the ports of the old processes.
        std::thread::sleep(Duration::from_millis(300));
        self.child = Self::spawn(&self.dir, &self.conf)?;
        self.wait_listening()
    }

    /// `doveadm stop` (SIGTERM to the master, which stops its children);
    /// SIGTERM directly when doveadm fails, SIGKILL after
    /// [`STOP_TIMEOUT`].
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let stopped = Command::new(DOVEADM)
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = crate::process::signal(self.pid(), "TERM");
        }
        let until = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > until => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}
