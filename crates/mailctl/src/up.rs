//! `mailctl up`: the whole topology on one machine, on loopback, with the
//! embedded defaults. It writes a configuration file per service under the
//! data directory, starts each service binary (found beside `mailctl`),
//! waits until each reports its ports and answers `/healthz`, writes
//! `endpoints.json`, and stops every child on Ctrl-C or SIGTERM.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mail_core::tls::{self, TlsFiles};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::process::{Child, Command};

use crate::http;

/// Arguments of `mailctl up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Where configs, certificates, logs and mail go. Default: a new
    /// temporary directory, removed on exit.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the service binaries are. Default: beside `mailctl`.
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Loopback address every service listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// How long to wait for each service to come up.
    #[arg(long, default_value = "60s", value_parser = humantime_duration)]
    pub start_timeout: Duration,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))
}

/// The mail domain `mailctl up` hosts.
pub const DEMO_DOMAIN: &str = "example.test";

/// What every service config is generated from.
struct Layout {
    dir: PathBuf,
    host: std::net::IpAddr,
    tls: TlsFiles,
    /// The directory configuration every service's `[directory]` comes
    /// from (see [`directory_section`]).
    directory: PathBuf,
    /// The demo accounts in that directory.
    users: Vec<DemoUser>,
}

impl Layout {
    fn ports_file(&self, binary: &str) -> PathBuf {
        self.dir.join("run").join(format!("{binary}.ports.json"))
    }
}

/// One service in the topology, in start order.
struct ServiceSpec {
    binary: &'static str,
    /// `(key in the service's ports file, key in endpoints.json)`.
    endpoints: &'static [(&'static str, &'static str)],
    config: fn(&Layout, &str, &Endpoints) -> anyhow::Result<String>,
}

/// `endpoints.json` as built so far: services started earlier, by key.
type Endpoints = BTreeMap<String, serde_json::Value>;

/// The address a started service published under `key`.
fn endpoint<'a>(e: &'a Endpoints, key: &str) -> anyhow::Result<&'a str> {
    e.get(key)
        .and_then(|v| v.as_str())
        .with_context(|| format!("no {key} endpoint (is the service that serves it running?)"))
}

/// A service with no configuration of its own yet.
fn plain_config(l: &Layout, binary: &str, _: &Endpoints) -> anyhow::Result<String> {
    Ok(base_config(l, binary))
}

/// The common `[service]` and `[telemetry]` sections.
fn base_config(l: &Layout, binary: &str) -> String {
    format!(
        "[service]\nadmin_listen = \"{}\"\nports_file = {:?}\ndrain_timeout = \"5s\"\n\n[telemetry]\nlog_filter = \"info\"\n",
        SocketAddr::new(l.host, 0),
        l.ports_file(binary).display().to_string(),
    )
}

/// The job controller: state under `DIR/data/jobctl`.
fn jobctl_config(l: &Layout, binary: &str, _: &Endpoints) -> anyhow::Result<String> {
    Ok(format!(
        "{}
[jobctl]
listen = \"{}\"
state_dir = {:?}
",
        base_config(l, binary),
        SocketAddr::new(l.host, 0),
        l.dir.join("data").join("jobctl").display().to_string(),
    ))
}

/// The message store: file directory, one partition, LMTP on loopback,
/// IMAP and POP3 with STARTTLS (plaintext logins only after TLS), and the
/// (unauthenticated, loopback-only) gRPC admin API.
fn mailstore_config(l: &Layout, binary: &str, _: &Endpoints) -> anyhow::Result<String> {
    let store = l.dir.join("data").join("store");
    let directory = std::fs::read_to_string(&l.directory).unwrap_or_default();
    Ok(format!(
        "host = \"localhost\"\n{}\n[tls]\ncert = {:?}\nkey = {:?}\n\n[store]\nsystem_path = {:?}\n[store.partitions]\nprimary = {:?}\n\n{}\n[lmtp.listener]\nlisten = \"{}\"\n\n[admin]\nlisten = \"{}\"\n\n[pop3.listener]\nlisten = \"{}\"\ntls = \"starttls\"\n\n[imap.listener]\nlisten = \"{}\"\ntls = \"starttls\"\n",
        base_config(l, binary),
        l.tls.cert.display().to_string(),
        l.tls.key.display().to_string(),
        store.join("system").display().to_string(),
        store.join("primary").display().to_string(),
        directory,
        SocketAddr::new(l.host, 0),
        SocketAddr::new(l.host, 0),
        SocketAddr::new(l.host, 0),
        SocketAddr::new(l.host, 0),
    ))
}

/// [`mailstore_config`] plus IMAP and POP3 with implicit TLS (RFC 8314
/// 3.3), published as `imaps` and `pop3s`.
fn mailstore_tls_config(l: &Layout, binary: &str, e: &Endpoints) -> anyhow::Result<String> {
    let mut text = mailstore_config(l, binary, e)?;
    text.push_str(&format!(
        "\n[imap.implicit_tls]\nlisten = \"{}\"\n\n[pop3.implicit_tls]\nlisten = \"{}\"\n",
        SocketAddr::new(l.host, 0),
        SocketAddr::new(l.host, 0),
    ));
    Ok(text)
}

/// The parts both relays share: TLS, directory, spool, jobctl link.
fn relay_common(l: &Layout, binary: &str, e: &Endpoints, routing: &Path) -> anyhow::Result<String> {
    let directory = std::fs::read_to_string(&l.directory).unwrap_or_default();
    Ok(format!(
        "routing = {:?}\n{}\n[tls]\ncert = {:?}\nkey = {:?}\n\n{}\n[spool]\ndir = {:?}\n\n[delivery]\njobctl = \"http://{}\"\nrelay = \"{binary}\"\nhostname = \"{binary}.{DEMO_DOMAIN}\"\n",
        routing.display().to_string(),
        base_config(l, binary),
        l.tls.cert.display().to_string(),
        l.tls.key.display().to_string(),
        directory,
        l.dir
            .join("data")
            .join("spool")
            .join(binary)
            .display()
            .to_string(),
        endpoint(e, "jobctl_grpc")?,
    ))
}

/// Writes a relay's routing file from the shipped default.
fn write_routing(
    l: &Layout,
    binary: &str,
    text: &str,
    values: &[(&str, &str)],
) -> anyhow::Result<PathBuf> {
    let path = l.dir.join("etc").join(format!("{binary}-routing.toml"));
    std::fs::write(&path, mail_routing::fill(text, values)?)?;
    Ok(path)
}

/// The inbound relay: SMTP for hosted domains, LMTP to the store.
fn inbound_config(l: &Layout, binary: &str, e: &Endpoints) -> anyhow::Result<String> {
    let lmtp = endpoint(e, "lmtp")?;
    let port = lmtp.rsplit_once(':').map_or(lmtp, |(_, p)| p);
    let postmaster = format!("postmaster-mailbox@{DEMO_DOMAIN}");
    let postmaster = l.users.first().map_or(postmaster, |u| u.address.clone());
    let routing = write_routing(
        l,
        binary,
        mail_routing::INBOUND_DEFAULT,
        &[
            ("DOMAIN", DEMO_DOMAIN),
            ("LOCAL_HOST", &format!("mx.{DEMO_DOMAIN}")),
            ("LMTP_PORT", port),
            ("POSTMASTER", &postmaster),
        ],
    )?;
    Ok(format!(
        "{}\n[smtp]\nhostname = \"mx.{DEMO_DOMAIN}\"\n[smtp.listener]\nlisten = \"{}\"\n",
        relay_common(l, binary, e, &routing)?,
        SocketAddr::new(l.host, 0),
    ))
}

/// The outbound relay: submission with STARTTLS and implicit TLS, mail to
/// hosted domains through the inbound relay.
fn outbound_config(l: &Layout, binary: &str, e: &Endpoints) -> anyhow::Result<String> {
    let routing = write_routing(
        l,
        binary,
        mail_routing::OUTBOUND_DEFAULT,
        &[
            ("DOMAIN", DEMO_DOMAIN),
            ("LOCAL_HOST", &format!("smtp.{DEMO_DOMAIN}")),
            ("INBOUND_RELAY", endpoint(e, "smtp_inbound")?),
        ],
    )?;
    let listener = |tls: &str| {
        format!(
            "hostname = \"smtp.{DEMO_DOMAIN}\"\n[{tls}.listener]\nlisten = \"{}\"\ntls = \"{}\"\n",
            SocketAddr::new(l.host, 0),
            if tls == "submission" {
                "starttls"
            } else {
                "implicit"
            },
        )
    };
    Ok(format!(
        "{}\n[submission]\n{}\n[submissions]\n{}",
        relay_common(l, binary, e, &routing)?,
        listener("submission"),
        listener("submissions"),
    ))
}

/// The topology, dependencies first. Each protocol issue fills in its
/// service's config and the endpoints it publishes.
const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        binary: "jobctl",
        endpoints: &[("grpc", "jobctl_grpc")],
        config: jobctl_config,
    },
    ServiceSpec {
        binary: "mailstore",
        endpoints: &[
            ("lmtp", "lmtp"),
            ("imap", "imap"),
            ("pop3", "pop3"),
            ("imaps", "imaps"),
            ("pop3s", "pop3s"),
            ("http", "store_http"),
            ("admin_grpc", "store_admin_grpc"),
        ],
        config: mailstore_tls_config,
    },
    ServiceSpec {
        binary: "mta-inbound",
        endpoints: &[("smtp", "smtp_inbound")],
        config: inbound_config,
    },
    ServiceSpec {
        binary: "mta-outbound",
        endpoints: &[("submission", "submission"), ("submissions", "submissions")],
        config: outbound_config,
    },
    ServiceSpec {
        binary: "mmp",
        endpoints: &[("imap", "mmp_imap"), ("pop3", "mmp_pop3")],
        config: plain_config,
    },
    ServiceSpec {
        binary: "mem",
        endpoints: &[("http", "mem_http")],
        config: plain_config,
    },
];

/// A demo account listed in `endpoints.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoUser {
    /// The mail address.
    pub address: String,
    /// Its password.
    pub password: String,
}

struct Running {
    binary: &'static str,
    child: Child,
    admin: SocketAddr,
    ready: Result<(), String>,
    log: PathBuf,
}

/// Runs `mailctl up` until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let (dir, _temp) = match &args.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("tiermail-")
                .tempdir()
                .context("creating a temporary data directory")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    for sub in ["etc", "run", "log", "tls", "data"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    let dir = dir.canonicalize()?;
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("mailctl has no parent directory")?
            .to_path_buf(),
    };
    let tls = tls::generate_self_signed(
        &dir.join("tls"),
        &[
            "localhost".to_string(),
            format!("mail.{DEMO_DOMAIN}"),
            args.host.to_string(),
        ],
    )?;
    let (directory, users) = write_demo_directory(&dir)?;
    let layout = Layout {
        dir: dir.clone(),
        host: args.host,
        tls,
        directory,
        users,
    };

    ensure_binaries(&bin_dir).await?;
    let mut running: Vec<Running> = Vec::new();
    let started = start_all(&layout, &bin_dir, args.start_timeout, &mut running).await;
    let outcome = match started {
        Ok(endpoints) => {
            print_summary(&layout, &running, &endpoints);
            wait_for_stop(&mut running).await
        }
        Err(e) => Err(e),
    };
    stop_all(&mut running).await;
    outcome
}

/// Under `cargo run --bin mailctl`, cargo builds only `mailctl`; build the
/// service binaries beside it (same profile and target directory) so the
/// README's one command works on a fresh clone.
async fn ensure_binaries(bin_dir: &Path) -> anyhow::Result<()> {
    let missing: Vec<&str> = SERVICES
        .iter()
        .map(|s| s.binary)
        .filter(|b| !bin_dir.join(b).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let (Ok(cargo), Ok(manifest)) = (std::env::var("CARGO"), std::env::var("CARGO_MANIFEST_DIR"))
    else {
        bail!(
            "{} not found in {} (build them first: cargo build --bins)",
            missing.join(", "),
            bin_dir.display()
        );
    };
    eprintln!("mailctl: building {} (first run only)", missing.join(", "));
    let mut cmd = Command::new(cargo);
    cmd.arg("build").arg("--bins").current_dir(manifest);
    if bin_dir.ends_with("release") {
        cmd.arg("--release");
    }
    let status = cmd.status().await.context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --bins failed ({status})");
    }
    Ok(())
}

async fn start_all(
    layout: &Layout,
    bin_dir: &Path,
    timeout: Duration,
    running: &mut Vec<Running>,
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut endpoints = BTreeMap::new();
    for spec in SERVICES {
        let binary = bin_dir.join(spec.binary);
        if !binary.is_file() {
            bail!(
                "{} not found in {} (build the workspace first: cargo build)",
                spec.binary,
                bin_dir.display()
            );
        }
        let config_path = layout.dir.join("etc").join(format!("{}.toml", spec.binary));
        std::fs::write(
            &config_path,
            (spec.config)(layout, spec.binary, &endpoints)?,
        )?;
        let ports_file = layout.ports_file(spec.binary);
        let _ = std::fs::remove_file(&ports_file);
        let log = layout.dir.join("log").join(format!("{}.log", spec.binary));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(&binary)
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        running.push(Running {
            binary: spec.binary,
            child,
            admin: SocketAddr::new(layout.host, 0),
            ready: Err("starting".into()),
            log: log.clone(),
        });
        let Some(r) = running.last_mut() else {
            continue;
        };
        let ports = wait_ready(r, &ports_file, timeout).await?;
        for (from, to) in spec.endpoints {
            if let Some(addr) = ports.get(*from) {
                endpoints.insert(to.to_string(), serde_json::Value::String(addr.clone()));
            }
        }
    }
    endpoints.insert("domain".into(), DEMO_DOMAIN.into());
    endpoints.insert("users".into(), serde_json::to_value(&layout.users)?);
    endpoints.insert(
        "directory".into(),
        layout.directory.display().to_string().into(),
    );
    endpoints.insert(
        "tls_ca".into(),
        layout.tls.cert.display().to_string().into(),
    );
    let json = serde_json::to_string_pretty(&endpoints)?;
    mail_core::service::write_atomically(&layout.dir.join("endpoints.json"), json.as_bytes())?;
    Ok(endpoints)
}

/// Waits for the ports file, then for `/healthz`; records `/readyz`.
async fn wait_ready(
    r: &mut Running,
    ports_file: &Path,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, String>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = r.child.try_wait()? {
            bail!(
                "{} exited during start ({status}); its log:\n{}",
                r.binary,
                tail(&r.log)
            );
        }
        if let Ok(text) = std::fs::read_to_string(ports_file)
            && let Ok(ports) = serde_json::from_str::<BTreeMap<String, String>>(&text)
            && let Some(admin) = ports.get("admin").and_then(|a| a.parse().ok())
        {
            r.admin = admin;
            if let Ok((200, _)) = http::get(admin, "/healthz").await {
                r.ready = match http::get(admin, "/readyz").await {
                    Ok((200, _)) => Ok(()),
                    Ok((_, body)) => Err(body.trim().trim_start_matches("not ready: ").to_string()),
                    Err(e) => Err(e.to_string()),
                };
                return Ok(ports);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not come up within {timeout:?}; its log:\n{}",
                r.binary,
                tail(&r.log)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn print_summary(
    layout: &Layout,
    running: &[Running],
    endpoints: &BTreeMap<String, serde_json::Value>,
) {
    println!("Tiermail is up; data in {}", layout.dir.display());
    println!();
    println!("{:<14} {:<22} state", "service", "admin");
    for r in running {
        let state = match &r.ready {
            Ok(()) => "ready".to_string(),
            Err(why) => format!("not ready: {why}"),
        };
        println!("{:<14} {:<22} {state}", r.binary, r.admin.to_string());
    }
    println!();
    println!(
        "endpoints ({}):",
        layout.dir.join("endpoints.json").display()
    );
    for (k, v) in endpoints {
        if let serde_json::Value::String(s) = v {
            println!("  {k:<14} {s}");
        }
    }
    if let Some(serde_json::Value::Array(users)) = endpoints.get("users") {
        println!("demo users:");
        for u in users {
            println!(
                "  {}  password {}",
                u["address"].as_str().unwrap_or(""),
                u["password"].as_str().unwrap_or("")
            );
        }
    }
    println!();
    println!("Ctrl-C stops everything.");
}

async fn wait_for_stop(running: &mut [Running]) -> anyhow::Result<()> {
    let mut poll = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            sig = mail_core::shutdown::signal() => {
                let sig = sig?;
                eprintln!("mailctl: {sig}: stopping");
                return Ok(());
            }
            _ = poll.tick() => {
                for r in running.iter_mut() {
                    if let Some(status) = r.child.try_wait()? {
                        bail!("{} exited unexpectedly ({status}); its log:\n{}", r.binary, tail(&r.log));
                    }
                }
            }
        }
    }
}

/// SIGTERM to every child (last started first), then SIGKILL to any still
/// running after the drain deadline.
async fn stop_all(running: &mut Vec<Running>) {
    for r in running.iter().rev() {
        if let Some(pid) = r.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for r in running.iter_mut().rev() {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, r.child.wait()).await {
            Ok(Ok(status)) if !status.success() => {
                eprintln!("mailctl: {} exited with {status}", r.binary);
            }
            Ok(_) => {}
            Err(_) => {
                eprintln!("mailctl: {} did not stop in time; killing it", r.binary);
                let _ = r.child.kill().await;
            }
        }
    }
    running.clear();
}

/// The demo accounts `mailctl up` creates (`alice`, `bob`, `carol` in
/// [`DEMO_DOMAIN`]).
const DEMO_ACCOUNTS: &[(&str, &str, &str)] = &[
    ("alice", "Alice Liddell", "alice-demo-pw"),
    ("bob", "Bob Builder", "bob-demo-pw"),
    ("carol", "Carol Jones", "carol-demo-pw"),
];

/// Writes the file directory (`DIR/data/directory.toml`, users with
/// argon2-hashed passwords) and the directory configuration pointing at it
/// (`DIR/etc/directory.toml`); returns the latter and the demo accounts.
fn write_demo_directory(dir: &Path) -> anyhow::Result<(PathBuf, Vec<DemoUser>)> {
    use mail_directory::file::{Data, FileUser};
    use mail_directory::password::{Scheme, hash};

    let data_path = dir.join("data").join("directory.toml");
    let mut data = Data {
        base_dn: "dc=example,dc=test".into(),
        domains: vec![mail_directory::Domain {
            name: DEMO_DOMAIN.into(),
            aliases: Vec::new(),
        }],
        ..Data::default()
    };
    let mut users = Vec::new();
    for (uid, name, password) in DEMO_ACCOUNTS {
        let address = format!("{uid}@{DEMO_DOMAIN}");
        data.users.push(FileUser {
            uid: uid.to_string(),
            mail: address.clone(),
            display_name: Some(name.to_string()),
            password: Some(hash(password, Scheme::Argon2)?),
            mail_host: Some("localhost".into()),
            partition: Some("primary".into()),
            ..FileUser::default()
        });
        users.push(DemoUser {
            address,
            password: password.to_string(),
        });
    }
    mail_directory::file::FileDirectory::create(&data_path, &data)?;
    let config_path = dir.join("etc").join("directory.toml");
    std::fs::write(&config_path, directory_section(&data_path))?;
    Ok((config_path, users))
}

/// The `[directory]` section a service config embeds to use the file
/// directory at `data_path`.
pub fn directory_section(data_path: &Path) -> String {
    format!(
        "[directory]\nbackend = \"file\"\npath = {:?}\n",
        data_path.display().to_string()
    )
}
