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
    /// The control plane's CA and certificates (mutual TLS for jobctl.v1
    /// and store.admin.v1).
    control: crate::cert::UpPki,
    /// The outbound relay's submission address, chosen before the store
    /// starts: the store's JMAP EmailSubmission sends there.
    submission: SocketAddr,
}

/// The access-tier proxies the store trusts (CONTRACTS: names `mmp` and
/// `mem`, one secret file each, loopback networks).
const PROXIES: &[&str] = &["mmp", "mem"];

impl Layout {
    fn ports_file(&self, binary: &str) -> PathBuf {
        self.dir.join("run").join(format!("{binary}.ports.json"))
    }

    /// `DATA/etc/proxy/NAME.secret`.
    fn proxy_secret(&self, name: &str) -> PathBuf {
        self.dir
            .join("etc")
            .join("proxy")
            .join(format!("{name}.secret"))
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
/// IMAP and POP3 with STARTTLS (plaintext logins only after TLS), JMAP,
/// the gRPC admin API (its mutual TLS section is appended by `start_all`)
/// and the proxies it trusts (`[proxy]`).
fn mailstore_config(l: &Layout, binary: &str, _: &Endpoints) -> anyhow::Result<String> {
    let store = l.dir.join("data").join("store");
    let directory = std::fs::read_to_string(&l.directory).unwrap_or_default();
    let mut proxy = "\n[proxy]\nnetworks = [\"127.0.0.0/8\"]\n".to_string();
    for name in PROXIES {
        proxy.push_str(&format!(
            "[[proxy.identities]]\nname = \"{name}\"\nsecret_file = {:?}\n",
            l.proxy_secret(name).display().to_string()
        ));
    }
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
    ) + &jmap_config(l)
        + &proxy)
}

/// JMAP on the store over HTTPS (published as `store_http`), sending
/// through the outbound relay with the store's proxy identity `store`.
fn jmap_config(l: &Layout) -> String {
    format!(
        "\n[http]\nstate_dir = {:?}\n[http.listener]\nlisten = \"{}\"\ntls = \"implicit\"\n[http.submission]\nrelay = \"{}\"\ntls = \"starttls\"\nserver_name = \"localhost\"\nca_file = {:?}\nidentity = \"store\"\nsecret_file = {:?}\n",
        l.dir.join("data").join("jmap").display().to_string(),
        SocketAddr::new(l.host, 0),
        l.submission,
        l.tls.cert.display().to_string(),
        store_secret(l).display().to_string(),
    )
}

/// The secret the store presents to the outbound relay.
fn store_secret(l: &Layout) -> PathBuf {
    l.dir.join("etc").join("proxy").join("store.secret")
}

/// Writes a random secret (hex, mode 0600) unless the file exists.
fn write_secret(path: &Path) -> anyhow::Result<()> {
    use std::io::Read;
    if path.exists() {
        return Ok(());
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let mut raw = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .context("reading /dev/urandom for a proxy secret")?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(path, format!("{hex}\n"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The MMP in front of the store: the same certificate and directory,
/// STARTTLS towards clients and towards the store (whose certificate is
/// the development one, trusted as a CA here), `mailHost` "localhost"
/// mapped to the store's ports.
fn mmp_config(l: &Layout, binary: &str, e: &Endpoints) -> anyhow::Result<String> {
    let directory = std::fs::read_to_string(&l.directory).unwrap_or_default();
    let port = |key: &str| -> anyhow::Result<u16> {
        let addr: SocketAddr = endpoint(e, key)?
            .parse()
            .with_context(|| format!("{key} endpoint"))?;
        Ok(addr.port())
    };
    let cert = l.tls.cert.display().to_string();
    Ok(format!(
        "{}\n[tls]\ncert = {cert:?}\nkey = {:?}\n\n{directory}\n[backend]\nidentity = \"mmp\"\nsecret_file = {:?}\ntls = \"starttls\"\ntls_ca = {cert:?}\n[backend.dns]\nenabled = false\n[backend.hosts.localhost]\naddress = \"{}\"\nimap_port = {}\npop3_port = {}\n\n[imap]\nhostname = \"mail.{DEMO_DOMAIN}\"\n[imap.listener]\nlisten = \"{}\"\ntls = \"starttls\"\n\n[pop3]\nhostname = \"mail.{DEMO_DOMAIN}\"\n[pop3.listener]\nlisten = \"{}\"\ntls = \"starttls\"\n",
        base_config(l, binary),
        l.tls.key.display().to_string(),
        l.proxy_secret("mmp").display().to_string(),
        l.host,
        port("imap")?,
        port("pop3")?,
        SocketAddr::new(l.host, 0),
        SocketAddr::new(l.host, 0),
    ))
}

/// One random secret per proxy (mode 0600), read by the store and the
/// proxy alike.
fn write_proxy_secrets(l: &Layout) -> anyhow::Result<()> {
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = l.dir.join("etc").join("proxy");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in PROXIES {
        let path = l.proxy_secret(name);
        let mut raw = [0u8; 24];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut raw))
            .context("reading /dev/urandom for a proxy secret")?;
        let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut f, format!("{secret}\n").as_bytes())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
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
        "routing = {:?}\n{}\n[tls]\ncert = {:?}\nkey = {:?}\n\n{}\n[spool]\ndir = {:?}\n\n[delivery]\njobctl = \"https://{}\"\nrelay = \"{binary}\"\nhostname = \"{binary}.{DEMO_DOMAIN}\"\n",
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
            if tls == "submission" {
                l.submission
            } else {
                SocketAddr::new(l.host, 0)
            },
            if tls == "submission" {
                "starttls"
            } else {
                "implicit"
            },
        )
    };
    Ok(format!(
        "{}\n[submission]\n{}\n[submissions]\n{}\n[proxy]\nnetworks = [\"127.0.0.0/8\", \"{}\"]\n[[proxy.identities]]\nname = \"store\"\nsecret_file = {:?}\n",
        relay_common(l, binary, e, &routing)?,
        listener("submission"),
        listener("submissions"),
        match l.host {
            std::net::IpAddr::V4(a) => format!("{a}/32"),
            std::net::IpAddr::V6(a) => format!("{a}/128"),
        },
        store_secret(l).display().to_string(),
    ))
}

/// The webmail multiplexor: HTTPS with the development certificate, the
/// demo directory, and the store's JMAP address for the demo users'
/// `mailHost` (`localhost`). Without a store JMAP endpoint it still
/// starts; logins then report that no store is configured.
fn mem_config(l: &Layout, binary: &str, e: &Endpoints) -> anyhow::Result<String> {
    let directory = std::fs::read_to_string(&l.directory).unwrap_or_default();
    let secret = l.proxy_secret("mem");
    let hosts = match e.get("store_http").and_then(|v| v.as_str()) {
        Some(addr) => format!("[stores.hosts]\n\"localhost\" = \"https://{addr}\"\n"),
        None => String::new(),
    };
    Ok(format!(
        "{}\n[tls]\ncert = {:?}\nkey = {:?}\n\n{}\n[http.listener]\nlisten = \"{}\"\ntls = \"implicit\"\n\n[proxy]\nname = \"mem\"\nsecret_file = {:?}\n\n[stores]\nca = {:?}\n{}",
        base_config(l, binary),
        l.tls.cert.display().to_string(),
        l.tls.key.display().to_string(),
        directory,
        SocketAddr::new(l.host, 0),
        secret.display().to_string(),
        l.tls.cert.display().to_string(),
        hosts,
    ))
}

/// The topology, dependencies first. A service appears here once it is
/// built: a binary that only answers "not built yet" would show as "not
/// ready" and mislead whoever reads the table.
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
        config: mmp_config,
    },
    ServiceSpec {
        binary: "mem",
        endpoints: &[("http", "mem_http")],
        config: mem_config,
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
    for sub in ["etc", "run", "log", "tls", "data", "pki"] {
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
    let control = crate::cert::UpPki::create(&dir.join("pki"), args.host)?;
    // Free now; a moment later the outbound relay binds it.
    let submission = std::net::TcpListener::bind(SocketAddr::new(args.host, 0))
        .and_then(|l| l.local_addr())
        .context("choosing the submission port")?;
    let layout = Layout {
        dir: dir.clone(),
        host: args.host,
        tls,
        directory,
        users,
        control,
        submission,
    };
    write_secret(&store_secret(&layout))?;
    write_proxy_secrets(&layout)?;

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
        let mut config = (spec.config)(layout, spec.binary, &endpoints)?;
        config.push_str(&layout.control.section(spec.binary));
        std::fs::write(&config_path, config)?;
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
    for (k, v) in layout.control.endpoints() {
        endpoints.insert(k.into(), v.into());
    }
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
    println!("Try it (paste into another terminal):");
    for line in try_it(&layout.dir, endpoints) {
        println!("  {line}");
    }
    println!();
    println!("mailctl queue/store use the operator certificate (mutual TLS):");
    for (var, key) in [
        ("TIERMAIL_GRPC_CA", "control_ca"),
        ("TIERMAIL_GRPC_CERT", "operator_cert"),
        ("TIERMAIL_GRPC_KEY", "operator_key"),
    ] {
        if let Some(serde_json::Value::String(v)) = endpoints.get(key) {
            println!("  export {var}={v}");
        }
    }
    println!();
    println!("Ctrl-C stops everything.");
}

/// The "try it" block: commands built from this run's real ports and files
/// that send a first message and read it back. Each command is one line so
/// it can be pasted as it is (and `tests/first_hour.rs` runs them).
pub fn try_it(layout_dir: &Path, endpoints: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
    let get = |k: &str| endpoints.get(k).and_then(|v| v.as_str());
    let user = |i: usize| {
        endpoints
            .get("users")
            .and_then(|u| u.get(i))
            .and_then(|u| Some((u["address"].as_str()?, u["password"].as_str()?)))
    };
    let (Some(ca), Some((to, to_pw)), Some((from, from_pw))) = (get("tls_ca"), user(0), user(1))
    else {
        return Vec::new();
    };
    let ca = sh_quote(ca);
    let mut lines = vec![format!(
        "# The certificate is the development CA's own ({ca}); every command checks it."
    )];
    if let Some(sub) = get("submission") {
        lines.push(format!(
            "# {from} sends {to} a message through submission (STARTTLS, then AUTH):"
        ));
        lines.push(format!(
            "swaks --server {sub} --tls --tls-verify --tls-ca-path {ca} --auth PLAIN --auth-user {from} --auth-password {} --from {from} --to {to} --header 'Subject: first message' --body 'Hello from Tiermail.'",
            sh_quote(from_pw)
        ));
    }
    let login = sh_quote(&format!("{to}:{to_pw}"));
    if let Some(imap) = get("imap") {
        lines.push("# Read it back over IMAP (STARTTLS required: --ssl-reqd):".into());
        lines.push(format!(
            "curl --ssl-reqd --cacert {ca} -u {login} 'imap://{imap}/INBOX;UID=1'"
        ));
    }
    if let Some(pop3) = get("pop3") {
        lines.push("# ... or over POP3:".into());
        lines.push(format!(
            "curl --ssl-reqd --cacert {ca} -u {login} pop3://{pop3}/1"
        ));
    }
    if let Some(mmp) = get("mmp_imap") {
        lines.push(
            "# ... or through the MMP, the one address for every store (it finds the user's store by mailHost):"
                .into(),
        );
        lines.push(format!(
            "curl --ssl-reqd --cacert {ca} -u {login} 'imap://{mmp}/INBOX;UID=1'"
        ));
    }
    if let Some(mem) = get("mem_http") {
        lines.push(format!(
            "# ... or in a web browser through the MEM: https://{mem}/ as {to} (password {}); import {ca} as a CA first or the browser warns. Its JMAP API answers the same login:",
            sh_quote(to_pw)
        ));
        lines.push(format!(
            "curl --fail --cacert {ca} -u {login} https://{mem}/jmap/session"
        ));
    }
    lines.push(format!(
        "# Logs: {}/log; stop with Ctrl-C here.",
        layout_dir.display()
    ));
    lines
}

/// Quotes `s` for a POSIX shell when it holds anything but safe characters.
fn sh_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
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
