//! `mailctl cert`: the deployment CA of the control plane. `init` creates
//! it, `issue` gives a service or a person a certificate for one role,
//! `show` prints what a certificate says. Servers accept a certificate
//! only for the identities their `tls.allow` lists under its role (see
//! docs/operations.md, "Security").

use std::path::PathBuf;

use anyhow::Context;
use mail_core::grpc::Role;
use mail_core::pki;

/// Arguments of `mailctl cert`.
#[derive(Debug, clap::Args)]
pub struct CertArgs {
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CertCommand {
    /// Create the deployment CA (`DIR/ca.pem`, `DIR/ca.key`).
    Init {
        /// The CA directory; keep `ca.key` there, readable by you only.
        #[arg(long, value_name = "DIR")]
        ca_dir: PathBuf,
    },
    /// Issue NAME a certificate for ROLE, signed by the CA.
    Issue {
        /// The identity (the certificate's common name), as servers list
        /// it in `tls.allow`.
        name: String,
        /// operator, relay, jobctl or store.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        ca_dir: PathBuf,
        /// Where to write `NAME.pem` and `NAME.key`, with a copy of the CA
        /// certificate when none is there (default: the CA directory).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// A host name or IP address the holder serves on (server roles);
        /// repeat as needed.
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
        /// Days of validity.
        #[arg(long, default_value_t = pki::DEFAULT_DAYS)]
        days: i64,
    },
    /// Print a certificate's identity, role, host names and expiry.
    Show {
        /// The certificate (PEM).
        file: PathBuf,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?} (operator, relay, jobctl, store)"))
}

/// Runs `mailctl cert ...`.
pub async fn run(args: CertArgs) -> anyhow::Result<()> {
    match args.command {
        CertCommand::Init { ca_dir } => {
            let ca = pki::create_ca(&ca_dir)?;
            println!("CA created: {}", ca.display());
            println!(
                "its key: {} (keep it private; it signs every control-plane certificate)",
                ca_dir.join(pki::CA_KEY).display()
            );
        }
        CertCommand::Issue {
            name,
            role,
            ca_dir,
            out,
            hosts,
            days,
        } => {
            let out = out.unwrap_or_else(|| ca_dir.clone());
            let issued = pki::issue(&ca_dir, &name, role, &hosts, days, &out)
                .with_context(|| format!("issuing {name}"))?;
            println!("{}: certificate {}", name, issued.cert.display());
            println!("{}: key {}", name, issued.key.display());
            // The holder needs the CA certificate too (to check servers).
            let ca_copy = out.join(pki::CA_CERT);
            if !ca_copy.exists() {
                std::fs::copy(ca_dir.join(pki::CA_CERT), &ca_copy).with_context(|| {
                    format!("copying the CA certificate to {}", ca_copy.display())
                })?;
                println!("CA certificate copied to {}", ca_copy.display());
            }
            println!("servers accept it once their tls.allow.{role} lists \"{name}\" (or \"*\")");
        }
        CertCommand::Show { file } => {
            let d = pki::describe(&file)?;
            println!("identity:  {}", d.name);
            println!(
                "role:      {}",
                d.role.map_or("(none: refused everywhere)", |r| r.as_str())
            );
            println!("hosts:     {}", d.hosts.join(", "));
            println!("issuer:    {}", d.issuer);
            println!("expires:   {}", d.not_after);
        }
    }
    Ok(())
}

/// The control plane of `mailctl up`: a CA under `DATA/pki`, a certificate
/// for each service and one for `mailctl` (the operator), and the config
/// sections that use them.
pub(crate) struct UpPki {
    ca: PathBuf,
    dir: PathBuf,
}

/// The relays `mailctl up` starts, which call jobctl.
const UP_RELAYS: [&str; 2] = ["mta-inbound", "mta-outbound"];
/// The operator identity `mailctl up` issues.
const UP_OPERATOR: &str = "mailctl";

impl UpPki {
    /// Creates the CA and every certificate in `dir` (a fresh data
    /// directory's `pki/`); servers get `host` and `localhost` as names.
    pub(crate) fn create(dir: &std::path::Path, host: std::net::IpAddr) -> anyhow::Result<Self> {
        let ca = match pki::create_ca(dir) {
            Ok(ca) => ca,
            // A data directory used before keeps its CA.
            Err(_) if dir.join(pki::CA_CERT).is_file() => dir.join(pki::CA_CERT),
            Err(e) => return Err(e.into()),
        };
        let hosts = [host.to_string(), "localhost".to_string()];
        pki::issue(dir, "jobctl", Role::Jobctl, &hosts, pki::DEFAULT_DAYS, dir)?;
        pki::issue(
            dir,
            "mailstore",
            Role::Store,
            &hosts,
            pki::DEFAULT_DAYS,
            dir,
        )?;
        for relay in UP_RELAYS {
            pki::issue(dir, relay, Role::Relay, &[], pki::DEFAULT_DAYS, dir)?;
        }
        pki::issue(
            dir,
            UP_OPERATOR,
            Role::Operator,
            &[],
            pki::DEFAULT_DAYS,
            dir,
        )?;
        Ok(Self {
            ca,
            dir: dir.to_path_buf(),
        })
    }

    fn files(&self, name: &str) -> String {
        format!(
            "ca = {:?}\ncert = {:?}\nkey = {:?}\n",
            self.ca.display().to_string(),
            self.dir.join(format!("{name}.pem")).display().to_string(),
            self.dir.join(format!("{name}.key")).display().to_string(),
        )
    }

    /// What `binary`'s generated config gets appended: its server's
    /// `tls` with the allow lists, or a relay's client certificate.
    pub(crate) fn section(&self, binary: &str) -> String {
        let quoted = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match binary {
            "jobctl" => format!(
                "\n[jobctl.tls]\n{}[jobctl.tls.allow]\nrelay = [{}]\noperator = [{:?}]\n",
                self.files("jobctl"),
                quoted(&UP_RELAYS),
                UP_OPERATOR
            ),
            "mailstore" => format!(
                "\n[admin.tls]\n{}[admin.tls.allow]\noperator = [{:?}]\n",
                self.files("mailstore"),
                UP_OPERATOR
            ),
            b if UP_RELAYS.contains(&b) => {
                format!("\n[delivery.jobctl_tls]\n{}", self.files(b))
            }
            _ => String::new(),
        }
    }

    /// `endpoints.json` entries: the operator's certificate.
    pub(crate) fn endpoints(&self) -> [(&'static str, String); 3] {
        [
            ("control_ca", self.ca.display().to_string()),
            (
                "operator_cert",
                self.dir
                    .join(format!("{UP_OPERATOR}.pem"))
                    .display()
                    .to_string(),
            ),
            (
                "operator_key",
                self.dir
                    .join(format!("{UP_OPERATOR}.key"))
                    .display()
                    .to_string(),
            ),
        ]
    }
}
