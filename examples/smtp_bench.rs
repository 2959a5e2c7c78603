//! SMTP in, LMTP into the store: Tiermail (mta-inbound, jobctl, mailstore
//! as processes) against Postfix delivering to Dovecot's LMTP, side by side
//! in one run, both driven by Postfix's `smtp-source`.
//!
//! ```text
//! cargo build --release --workspace --bins --examples --locked
//! target/release/examples/smtp_bench [MESSAGES] [SESSIONS] [DATA-DIR]
//! ```
//! Defaults: 5000 messages per run, 20 sessions, data under /var/tmp (a
//! real disk: tmpfs would hide the fsync cost both queues pay). Runs as
//! root (Postfix's master and Dovecot switch users themselves).
//!
//! Tiermail: the release binaries next to this example (or in
//! `$TIERMAIL_BIN_DIR`), started from private configurations on loopback
//! ports: jobctl, a mailstore (LMTP, admin API) and mta-inbound with the
//! shipped inbound routing file (`deploy/mta/inbound.toml`: hosted users
//! over the `lmtp` channel to their mailHost) and a file directory holding
//! the recipients.
//!
//! Postfix: a private instance (its own config, queue and data
//! directories; `master -d` as a child of this program), smtpd on a
//! loopback port, the hosted domain as `virtual_mailbox_domains` with the
//! same users in `virtual_mailbox_maps`, `virtual_transport` LMTP to a
//! private Dovecot (passwd-file users, Maildir, default fsync settings).
//!
//! For each scenario and each system, back to back: `smtp-source -s
//! SESSIONS -m MESSAGES -l 4096` (with `-d` to reuse connections, `-r 10`
//! for ten recipients per message), then wait until every copy is in the
//! store (Tiermail: the INBOX counters of the store's admin API; Dovecot:
//! the files in each Maildir's `new/`). Accepted/s is MESSAGES over
//! smtp-source's wall time, delivered/s is MESSAGES over the time from its
//! start until the last copy was in the store. Any refused command makes
//! smtp-source fail, which ends the run: a benchmark that counts refusals
//! would flatter a failing server.
//!
//! `SMTP_BENCH_PAUSE=1` stops after start-up until Enter, to point
//! smtp-source or a profiler at the servers by hand.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_proto::store::admin::v1::UserRef;
use mail_proto::store::admin::v1::store_admin_client::StoreAdminClient;
use mail_testkit::dovecot::{Dovecot, DovecotConfig, Protocol};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DOMAIN: &str = "example.test";
const SENDER: &str = "sender@bench.example.org";
/// `smtp-source -r N -t rcpt@D` sends to Nrcpt@D .. 2rcpt@D, then rcpt@D.
const RCPT: &str = "rcpt";
const MAX_RCPTS: usize = 10;
const PAYLOAD: usize = 4096;

/// Every local part a run may address.
fn users() -> Vec<String> {
    let mut u = vec![RCPT.to_string()];
    u.extend((2..=MAX_RCPTS).map(|i| format!("{i}{RCPT}")));
    u
}

/// Pids of the children and the work directory, for the Ctrl-C handler.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static WORK_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

fn track(pid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.push(pid);
    }
}

fn untrack(pid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.retain(|p| *p != pid);
    }
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5000);
    let sessions: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let base = PathBuf::from(args.next().unwrap_or_else(|| "/var/tmp".into()));
    if !running_as_root() {
        return Err("run as root: Postfix's master and Dovecot switch users themselves".into());
    }
    for tool in ["/usr/sbin/smtp-source", "/usr/sbin/dovecot"] {
        if !Path::new(tool).exists() {
            return Err(format!(
                "{tool} is missing (Debian packages postfix, dovecot-core, dovecot-lmtpd)"
            )
            .into());
        }
    }
    let bins = bin_dir()?;
    // Ctrl-C: stop the children (Postfix's master and Dovecot take their
    // own children with them), then leave.
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        eprintln!("interrupted: stopping the servers");
        let pids = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
        for pid in pids {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        std::thread::sleep(Duration::from_secs(2));
        if let Some(dir) = WORK_DIR.lock().ok().and_then(|mut d| d.take()) {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(130);
    });

    let work = tempfile::Builder::new()
        .prefix("smtp-bench-")
        .tempdir_in(&base)?;
    // Postfix's and Dovecot's unprivileged processes walk through it.
    set_mode(work.path(), 0o755)?;
    if let Ok(mut d) = WORK_DIR.lock() {
        *d = Some(work.path().to_path_buf());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;

    let tiermail = Tiermail::start(&bins, &work.path().join("tiermail"), &rt)?;
    let postfix = Postfix::start(&work.path().join("postfix"))?;
    println!(
        "SMTP benchmark: smtp-source -s {sessions} -m {messages} -l {PAYLOAD}, data in {}",
        base.display()
    );
    println!(
        "tiermail: {} (mta-inbound {}, mailstore LMTP {})",
        bins.display(),
        tiermail.smtp,
        tiermail.lmtp
    );
    println!(
        "postfix {}: smtpd {}, lmtp to dovecot {} at {}",
        postfix_version(),
        postfix.smtp,
        dovecot_version(),
        postfix.lmtp
    );

    if std::env::var_os("SMTP_BENCH_PAUSE").is_some() {
        // For profiling by hand: the servers stay up until Enter.
        println!(
            "paused: data in {}; press Enter to run",
            work.path().display()
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }

    // One message to every user through each system first: mailboxes
    // exist, processes and connections are warm.
    for (name, addr) in [("tiermail", tiermail.smtp), ("postfix", postfix.smtp)] {
        let before = count(name, &tiermail, &postfix, &rt)?;
        smtp_source(addr, 1, 1, MAX_RCPTS, true)?;
        wait_count(
            name,
            &tiermail,
            &postfix,
            &rt,
            before + MAX_RCPTS,
            Instant::now(),
        )?;
    }

    struct Scenario {
        rcpts: usize,
        reuse: bool,
        messages: usize,
    }
    let scenarios = [
        Scenario {
            rcpts: 1,
            reuse: false,
            messages,
        },
        Scenario {
            rcpts: 1,
            reuse: true,
            messages,
        },
        Scenario {
            rcpts: 10,
            reuse: true,
            messages: (messages / 10).max(sessions),
        },
    ];
    println!();
    println!(
        "{:<9} {:>5} {:>6} {:>8} {:>10} {:>10} {:>11} {:>13}",
        "system",
        "rcpts",
        "reuse",
        "messages",
        "accept s",
        "accepted/s",
        "delivered/s",
        "deliveries/s"
    );
    let mut ratios = Vec::new();
    for s in &scenarios {
        let mut rates = BTreeMap::new();
        for (name, addr) in [("tiermail", tiermail.smtp), ("postfix", postfix.smtp)] {
            let before = count(name, &tiermail, &postfix, &rt)?;
            let start = Instant::now();
            smtp_source(addr, sessions, s.messages, s.rcpts, s.reuse)?;
            let accepted = start.elapsed();
            let delivered = wait_count(
                name,
                &tiermail,
                &postfix,
                &rt,
                before + s.messages * s.rcpts,
                start,
            )?;
            let acc = s.messages as f64 / accepted.as_secs_f64();
            let del = s.messages as f64 / delivered.as_secs_f64();
            println!(
                "{name:<9} {:>5} {:>6} {:>8} {:>10.2} {acc:>10.0} {del:>11.0} {:>13.0}",
                s.rcpts,
                if s.reuse { "yes" } else { "no" },
                s.messages,
                accepted.as_secs_f64(),
                del * s.rcpts as f64
            );
            rates.insert(name, (acc, del));
        }
        if let (Some(t), Some(p)) = (rates.get("tiermail"), rates.get("postfix")) {
            ratios.push((s.rcpts, s.reuse, t.0 / p.0, t.1 / p.1));
        }
    }
    println!();
    println!("tiermail / postfix:");
    for (rcpts, reuse, acc, del) in ratios {
        println!(
            "  {rcpts:>2} rcpt(s), {:<20} accepted {acc:.2}x, delivered {del:.2}x",
            if reuse {
                "connections reused:"
            } else {
                "new connection each:"
            }
        );
    }
    drop(postfix);
    drop(tiermail);
    Ok(())
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Where the service binaries are: `$TIERMAIL_BIN_DIR`, else the profile
/// directory this example was built into (`target/release`).
fn bin_dir() -> Result<PathBuf, BoxError> {
    let dir = match std::env::var_os("TIERMAIL_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .ok_or("cannot tell the target directory from this program's path")?
            .to_path_buf(),
    };
    for b in ["jobctl", "mailstore", "mta-inbound"] {
        if !dir.join(b).exists() {
            return Err(format!(
                "{} is missing: build with `cargo build --release --workspace --bins --examples --locked` \
                 or set TIERMAIL_BIN_DIR",
                dir.join(b).display()
            )
            .into());
        }
    }
    Ok(dir)
}

fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

fn chown(p: &Path, owner: &str) -> Result<(), BoxError> {
    let ok = Command::new("chown").arg(owner).arg(p).status()?.success();
    if !ok {
        return Err(format!("chown {owner} {} failed", p.display()).into());
    }
    Ok(())
}

fn wait_listening(addr: SocketAddr, what: &str, log: &Path) -> Result<(), BoxError> {
    mail_testkit::wait_listening(addr, Duration::from_secs(30))
        .map_err(|_| format!("{what} did not listen on {addr}; see {}", log.display()).into())
}

/// Runs smtp-source to completion; any refused command fails it.
fn smtp_source(
    addr: SocketAddr,
    sessions: usize,
    messages: usize,
    rcpts: usize,
    reuse: bool,
) -> Result<(), BoxError> {
    let mut cmd = Command::new("/usr/sbin/smtp-source");
    cmd.arg("-s")
        .arg(sessions.to_string())
        .arg("-m")
        .arg(messages.to_string())
        .arg("-l")
        .arg(PAYLOAD.to_string())
        .arg("-r")
        .arg(rcpts.to_string())
        .args(["-M", "client.bench.example.org", "-f", SENDER])
        .arg("-t")
        .arg(format!("{RCPT}@{DOMAIN}"));
    if reuse {
        cmd.arg("-d");
    }
    let out = cmd.arg(addr.to_string()).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(format!(
            "smtp-source to {addr} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// Copies in the recipients' INBOXes of one system.
fn count(
    name: &str,
    tiermail: &Tiermail,
    postfix: &Postfix,
    rt: &tokio::runtime::Runtime,
) -> Result<usize, BoxError> {
    if name == "tiermail" {
        rt.block_on(tiermail.delivered())
    } else {
        match &postfix.dovecot {
            Some(d) => dovecot_delivered(d),
            None => Err("dovecot is stopped".into()),
        }
    }
}

/// Waits until `target` copies are in, returning the time since `start`.
fn wait_count(
    name: &str,
    tiermail: &Tiermail,
    postfix: &Postfix,
    rt: &tokio::runtime::Runtime,
    target: usize,
    start: Instant,
) -> Result<Duration, BoxError> {
    let mut last = (0, Instant::now());
    loop {
        let n = count(name, tiermail, postfix, rt)?;
        if n >= target {
            return Ok(start.elapsed());
        }
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(60) {
            let logs = if name == "tiermail" {
                tiermail.dir.display().to_string()
            } else {
                postfix.dir.display().to_string()
            };
            return Err(format!(
                "{name}: stuck at {n} of {target} copies for 60 s; logs under {logs}"
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn postfix_version() -> String {
    Command::new("/usr/sbin/postconf")
        .args(["-d", "-h", "mail_version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn dovecot_version() -> String {
    mail_testkit::dovecot::version()
        .split_whitespace()
        .next()
        .map(String::from)
        .unwrap_or_default()
}

// ------------------------------------------------------------------ Tiermail

/// One service process from a generated config; stopped on drop.
struct Service {
    name: String,
    child: Child,
    ports: BTreeMap<String, SocketAddr>,
    log: PathBuf,
}

impl Service {
    fn start(bin: &Path, name: &str, dir: &Path, sections: &str) -> Result<Self, BoxError> {
        let ports_file = dir.join(format!("{name}.ports.json"));
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "{sections}\n[service]\nadmin_listen = \"127.0.0.1:0\"\nports_file = {:?}\ndrain_timeout = \"2s\"\n",
                ports_file.display().to_string()
            ),
        )?;
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin.join(name))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        track(child.id());
        let mut svc = Self {
            name: name.into(),
            child,
            ports: BTreeMap::new(),
            log,
        };
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = svc.child.try_wait()? {
                return Err(format!(
                    "{name} exited during start ({status}); see {}",
                    svc.log.display()
                )
                .into());
            }
            if let Some(p) = std::fs::read_to_string(&ports_file)
                .ok()
                .and_then(|t| serde_json::from_str::<BTreeMap<String, String>>(&t).ok())
            {
                svc.ports = p
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
                    .collect();
                break;
            }
            if Instant::now() > until {
                return Err(format!("{name} did not start; see {}", svc.log.display()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let admin = svc.port("admin")?;
        while !healthy(admin) {
            if Instant::now() > until {
                return Err(format!("{name} is not healthy; see {}", svc.log.display()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(svc)
    }

    fn port(&self, name: &str) -> Result<SocketAddr, BoxError> {
        self.ports
            .get(name)
            .copied()
            .ok_or_else(|| format!("{} published no {name} port", self.name).into())
    }
}

fn healthy(admin: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&admin, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET /healthz HTTP/1.0\r\nHost: {admin}\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

impl Drop for Service {
    fn drop(&mut self) {
        // SIGTERM drains; a service still up after its drain deadline is
        // killed.
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                untrack(self.child.id());
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        untrack(self.child.id());
    }
}

/// jobctl, mailstore and mta-inbound (dropped in reverse: the relay
/// first).
struct Tiermail {
    smtp: SocketAddr,
    lmtp: SocketAddr,
    dir: PathBuf,
    admin: StoreAdminClient<tonic::transport::Channel>,
    // The relay is stopped first (Drop), then the store, then jobctl
    // (fields drop in declaration order).
    inbound: Option<Service>,
    _store: Service,
    _jobctl: Service,
}

impl Drop for Tiermail {
    fn drop(&mut self) {
        drop(self.inbound.take());
    }
}

impl Tiermail {
    fn start(bins: &Path, dir: &Path, rt: &tokio::runtime::Runtime) -> Result<Self, BoxError> {
        use mail_directory::file::{Data, FileDirectory, FileUser};
        std::fs::create_dir_all(dir)?;
        let data_path = dir.join("directory.toml");
        let data = Data::single_domain(
            DOMAIN,
            users()
                .into_iter()
                .map(|u| FileUser {
                    mail: format!("{u}@{DOMAIN}"),
                    uid: u,
                    mail_host: Some("127.0.0.1".into()),
                    ..FileUser::default()
                })
                .collect(),
        );
        FileDirectory::create(&data_path, &data)?;
        let directory = format!(
            "[directory]\nbackend = \"file\"\npath = {:?}\n",
            data_path.display().to_string()
        );
        let path = |p: &str| format!("{:?}", dir.join(p).display().to_string());

        let jobctl = Service::start(
            bins,
            "jobctl",
            dir,
            &format!(
                "[jobctl]\nlisten = \"127.0.0.1:0\"\nstate_dir = {}\n",
                path("jobctl-state")
            ),
        )?;
        let jobctl_addr = jobctl.port("grpc")?;
        let store = Service::start(
            bins,
            "mailstore",
            dir,
            &format!(
                "host = \"127.0.0.1\"\n[store]\nsystem_path = {}\n[store.partitions]\nprimary = {}\n\
                 {directory}[lmtp.listener]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n",
                path("store/system"),
                path("store/primary"),
            ),
        )?;
        let lmtp = store.port("lmtp")?;
        let store_admin = format!("http://{}", store.port("admin_grpc")?);
        let routing = dir.join("inbound-routing.toml");
        std::fs::write(
            &routing,
            mail_routing::fill(
                mail_routing::INBOUND_DEFAULT,
                &[
                    ("DOMAIN", DOMAIN),
                    ("LOCAL_HOST", "mx.example.test"),
                    ("LMTP_PORT", &lmtp.port().to_string()),
                    ("POSTMASTER", &format!("{RCPT}@{DOMAIN}")),
                ],
            )?,
        )?;
        let inbound = Service::start(
            bins,
            "mta-inbound",
            dir,
            &format!(
                "routing = {:?}\n{directory}[spool]\ndir = {}\n[delivery]\njobctl = \"http://{jobctl_addr}\"\n\
                 relay = \"mx-bench\"\nhostname = \"mx.{DOMAIN}\"\n[smtp]\nhostname = \"mx.{DOMAIN}\"\n\
                 [smtp.listener]\nlisten = \"127.0.0.1:0\"\n",
                routing.display().to_string(),
                path("spool"),
            ),
        )?;
        let smtp = inbound.port("smtp")?;
        let admin = rt.block_on(StoreAdminClient::connect(store_admin))?;
        let me = Self {
            smtp,
            lmtp,
            dir: dir.to_path_buf(),
            admin,
            inbound: Some(inbound),
            _store: store,
            _jobctl: jobctl,
        };
        // The admin API answers before the first message.
        rt.block_on(me.delivered())?;
        Ok(me)
    }

    /// Messages in the recipients' INBOXes (a user not yet provisioned
    /// has none).
    async fn delivered(&self) -> Result<usize, BoxError> {
        let mut client = self.admin.clone();
        let mut n = 0;
        for user in users() {
            match client.list_mailboxes(UserRef { user }).await {
                Ok(r) => {
                    n += r
                        .into_inner()
                        .mailboxes
                        .iter()
                        .filter(|m| m.name.eq_ignore_ascii_case("INBOX"))
                        .map(|m| m.messages as usize)
                        .sum::<usize>();
                }
                Err(s) if s.code() == tonic::Code::NotFound => {}
                Err(s) => return Err(format!("store admin: {s}").into()),
            }
        }
        Ok(n)
    }
}

// ------------------------------------------------------- Postfix + Dovecot

/// Messages in the users' Maildir `new/` (nobody reads them).
fn dovecot_delivered(dovecot: &Dovecot) -> Result<usize, BoxError> {
    let mut n = 0;
    for u in users() {
        match std::fs::read_dir(dovecot.maildir(&u).join("new")) {
            Ok(rd) => n += rd.count(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// A private Postfix (`master -d` in the foreground, our child) delivering
/// to a private Dovecot over LMTP.
struct Postfix {
    smtp: SocketAddr,
    dir: PathBuf,
    master: Child,
    // Stopped after Postfix (see Drop), so queued mail is not bounced.
    dovecot: Option<Dovecot>,
    /// Dovecot's LMTP address.
    lmtp: SocketAddr,
}

impl Postfix {
    fn start(dir: &Path) -> Result<Self, BoxError> {
        let dovecot = Dovecot::start(
            &dir.join("dovecot"),
            &DovecotConfig::new("tiermail-smtp-bench")
                .protocol(Protocol::Lmtp)
                .users(users())
                .domain(DOMAIN),
        )?;
        track(dovecot.pid());
        let lmtp = dovecot
            .addr(Protocol::Lmtp)
            .ok_or("dovecot serves no LMTP")?;
        let etc = dir.join("etc");
        let queue = dir.join("queue");
        let data = dir.join("data");
        for d in [&etc, &queue, &data] {
            std::fs::create_dir_all(d)?;
        }
        chown(&data, "postfix")?;
        let port = mail_testkit::free_port()?;
        let vmailbox: String = users()
            .iter()
            .map(|u| format!("{u}@{DOMAIN} {u}\n"))
            .collect();
        std::fs::write(etc.join("vmailbox"), vmailbox)?;
        let q = queue.display();
        let e = etc.display();
        // Defaults otherwise (queue fsync, lmtp connection cache,
        // destination concurrency 20); no chroot: the queue directory of a
        // private instance has none of the files a chroot needs.
        std::fs::write(
            etc.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {q}\ndata_directory = {}\n\
                 mail_owner = postfix\nsetgid_group = postdrop\n\
                 myhostname = postfix.bench.example.org\nmydestination =\n\
                 inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmynetworks = 127.0.0.0/8\n\
                 virtual_mailbox_domains = {DOMAIN}\nvirtual_mailbox_maps = texthash:{e}/vmailbox\n\
                 virtual_transport = lmtp:inet:{}\n\
                 alias_maps =\nalias_database =\nbiff = no\n\
                 maillog_file = {}/postfix.log\n",
                data.display(),
                lmtp,
                dir.display()
            ),
        )?;
        let daemons = [
            ("cleanup", "unix", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "300", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "1", "verify"),
            ("flush", "unix", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "-", "proxymap"),
            ("smtp", "unix", "-", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "-", "error"),
            ("retry", "unix", "-", "-", "-", "error"),
            ("discard", "unix", "-", "-", "-", "discard"),
            ("lmtp", "unix", "-", "-", "-", "lmtp"),
            ("anvil", "unix", "-", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
        ];
        let mut master_cf = format!("127.0.0.1:{port} inet n - n - - smtpd\n");
        for (name, kind, private, wakeup, limit, cmd) in daemons {
            master_cf.push_str(&format!(
                "{name} {kind} {private} - n {wakeup} {limit} {cmd}\n"
            ));
        }
        std::fs::write(etc.join("master.cf"), master_cf)?;
        // Creates the queue's subdirectories with their owners.
        let out = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(&etc)
            .arg("check")
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "postfix check: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let master = Command::new("/usr/lib/postfix/sbin/master")
            .arg("-c")
            .arg(&etc)
            .arg("-d")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("master.stderr"))?)
            .spawn()?;
        track(master.id());
        let smtp: SocketAddr = ([127, 0, 0, 1], port).into();
        let me = Self {
            smtp,
            dir: dir.to_path_buf(),
            master,
            dovecot: Some(dovecot),
            lmtp,
        };
        wait_listening(smtp, "postfix", &dir.join("postfix.log"))?;
        Ok(me)
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // SIGTERM: the master stops its daemons and exits.
        let _ = kill(Pid::from_raw(self.master.id() as i32), Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.master.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = self.master.try_wait() {
            let _ = self.master.kill();
            let _ = self.master.wait();
        }
        untrack(self.master.id());
        if let Some(dovecot) = self.dovecot.take() {
            let pid = dovecot.pid();
            drop(dovecot);
            untrack(pid);
        }
    }
}
