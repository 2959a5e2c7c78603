//! `mailctl user add|modify|delete|show|list`: mailbox owners.
//!
//! Passwords are read from `--password-file` (or `--password`, which is
//! visible in the process list: for tests and demos) and hashed before
//! they are stored.

use std::path::PathBuf;

use anyhow::{Context, bail};
use mail_directory::{
    AccountStatus, Address, Quota, Resolved, User, UserChange, UserSpec, Vacation,
};

use crate::dirconf::{self, DirectoryArg};

/// Arguments of `mailctl user`.
#[derive(Debug, clap::Args)]
pub struct UserArgs {
    #[command(flatten)]
    directory: DirectoryArg,
    #[command(subcommand)]
    command: UserCommand,
}

/// Password options shared by `add` and `modify`.
#[derive(Debug, clap::Args)]
struct PasswordArgs {
    /// The password (visible to other local users; prefer --password-file).
    #[arg(long, conflicts_with = "password_file")]
    password: Option<String>,
    /// File whose first line is the password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

impl PasswordArgs {
    fn get(&self) -> anyhow::Result<Option<String>> {
        match (&self.password, &self.password_file) {
            (Some(p), _) => Ok(Some(p.clone())),
            (None, Some(f)) => {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                Ok(Some(text.lines().next().unwrap_or_default().to_string()))
            }
            (None, None) => Ok(None),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Create a user.
    Add {
        /// Login name.
        uid: String,
        /// Primary address.
        #[arg(long)]
        address: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
        /// Alternate address, or `@domain` for a catch-all (repeatable).
        #[arg(long = "alias", value_name = "ADDRESS")]
        aliases: Vec<String>,
        /// The store holding the mailbox.
        #[arg(long)]
        mail_host: Option<String>,
        /// The partition on that store.
        #[arg(long)]
        partition: Option<String>,
        /// Mailbox size limit in bytes.
        #[arg(long)]
        quota_bytes: Option<u64>,
        /// Mailbox message-count limit.
        #[arg(long)]
        quota_messages: Option<u64>,
        /// Forward mail to this address (repeatable).
        #[arg(long = "forward", value_name = "ADDRESS")]
        forward: Vec<String>,
        /// With --forward: keep a copy in the mailbox too.
        #[arg(long)]
        keep_copy: bool,
        /// Other attribute as NAME=VALUE (repeatable), e.g. departmentNumber=sales.
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attrs: Vec<String>,
    },
    /// Change a user.
    Modify {
        /// Login name.
        uid: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
        /// New primary address.
        #[arg(long)]
        address: Option<String>,
        /// Replace the alternate addresses (comma-separated; empty clears).
        #[arg(long, value_name = "ADDRESSES")]
        aliases: Option<String>,
        /// New store host (empty clears).
        #[arg(long)]
        mail_host: Option<String>,
        /// New partition (empty clears).
        #[arg(long)]
        partition: Option<String>,
        /// New byte quota (0: unlimited).
        #[arg(long)]
        quota_bytes: Option<u64>,
        /// New message quota (0: unlimited).
        #[arg(long)]
        quota_messages: Option<u64>,
        /// Replace the forwarding addresses (comma-separated; empty clears).
        #[arg(long, value_name = "ADDRESSES")]
        forward: Option<String>,
        /// Keep a local copy when forwarding.
        #[arg(long)]
        keep_copy: Option<bool>,
        /// Set the autoreply text.
        #[arg(long, conflicts_with = "no_vacation")]
        vacation: Option<String>,
        /// Autoreply start, GeneralizedTime (20261224000000Z).
        #[arg(long, requires = "vacation")]
        vacation_start: Option<String>,
        /// Autoreply end, GeneralizedTime.
        #[arg(long, requires = "vacation")]
        vacation_end: Option<String>,
        /// Remove the autoreply.
        #[arg(long)]
        no_vacation: bool,
        /// active, inactive or deleted.
        #[arg(long, value_parser = status)]
        status: Option<AccountStatus>,
    },
    /// Mark a user deleted (mail bounces, logins fail); --purge removes the entry.
    Delete {
        /// Login name.
        uid: String,
        /// Remove the entry instead of marking it.
        #[arg(long)]
        purge: bool,
    },
    /// Show a user by login name or address.
    Show {
        /// Login name or address.
        who: String,
    },
    /// List users.
    List,
}

fn status(s: &str) -> Result<AccountStatus, String> {
    match s {
        "active" | "inactive" | "deleted" => Ok(AccountStatus::parse(s)),
        _ => Err("use active, inactive or deleted".into()),
    }
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

/// Runs `mailctl user`.
pub async fn run(args: UserArgs) -> anyhow::Result<()> {
    let dir = dirconf::open(&args.directory).await?;
    match args.command {
        UserCommand::Add {
            uid,
            address,
            name,
            password,
            aliases,
            mail_host,
            partition,
            quota_bytes,
            quota_messages,
            forward,
            keep_copy,
            attrs,
        } => {
            let mut attributes = std::collections::BTreeMap::<String, Vec<String>>::new();
            for a in attrs {
                let Some((k, v)) = a.split_once('=') else {
                    bail!("--attr {a}: use NAME=VALUE");
                };
                attributes
                    .entry(k.trim().to_string())
                    .or_default()
                    .push(v.trim().to_string());
            }
            let mut spec = UserSpec {
                uid,
                address,
                display_name: name,
                password: password.get()?,
                alternates: aliases,
                mail_host,
                partition,
                quota: Quota {
                    bytes: quota_bytes.filter(|b| *b > 0),
                    messages: quota_messages.filter(|m| *m > 0),
                },
                attributes,
                ..UserSpec::default()
            };
            spec.delivery.forward_to = forward;
            spec.delivery.keep_local_copy = keep_copy;
            let u = dir.add_user(&spec).await?;
            println!("user {} added ({})", u.uid, u.dn);
        }
        UserCommand::Modify {
            uid,
            name,
            password,
            address,
            aliases,
            mail_host,
            partition,
            quota_bytes,
            quota_messages,
            forward,
            keep_copy,
            vacation,
            vacation_start,
            vacation_end,
            no_vacation,
            status,
        } => {
            let change = UserChange {
                display_name: name,
                password: password.get()?,
                address,
                alternates: aliases.as_deref().map(list),
                mail_host,
                partition,
                quota_bytes,
                quota_messages,
                forward_to: forward.as_deref().map(list),
                keep_local_copy: keep_copy,
                routing_address: None,
                vacation: if no_vacation {
                    Some(None)
                } else {
                    vacation.map(|text| {
                        Some(Vacation {
                            text,
                            start: vacation_start,
                            end: vacation_end,
                        })
                    })
                },
                status,
            };
            let u = dir.modify_user(&uid, &change).await?;
            print_user(&u);
        }
        UserCommand::Delete { uid, purge } => {
            if purge {
                dir.delete_user(&uid).await?;
                println!("user {uid} removed");
            } else {
                dir.modify_user(
                    &uid,
                    &UserChange {
                        status: Some(AccountStatus::Deleted),
                        ..UserChange::default()
                    },
                )
                .await?;
                println!("user {uid} marked deleted (use --purge to remove the entry)");
            }
        }
        UserCommand::Show { who } => {
            let user = if who.contains('@') {
                match dir.resolve(&Address::parse(&who)?).await? {
                    Resolved::User(u) => Some(*u),
                    Resolved::Group(g) => {
                        bail!("{who} is the group {} (see mailctl group members)", g.name)
                    }
                    Resolved::None => None,
                }
            } else {
                dir.user(&who).await?
            };
            match user {
                Some(u) => print_user(&u),
                None => bail!("no user {who}"),
            }
        }
        UserCommand::List => {
            println!("{:<16} {:<32} {:<9} mailHost", "uid", "address", "status");
            for u in dir.list_users().await? {
                println!(
                    "{:<16} {:<32} {:<9} {}",
                    u.uid,
                    u.address.to_string(),
                    u.status.as_str(),
                    u.mail_host.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}

fn print_user(u: &User) {
    let none = || "-".to_string();
    println!("dn:             {}", u.dn);
    println!("uid:            {}", u.uid);
    println!("name:           {}", u.display_name);
    println!("address:        {}", u.address);
    println!(
        "aliases:        {}",
        if u.alternates.is_empty() {
            none()
        } else {
            u.alternates.join(", ")
        }
    );
    println!("status:         {}", u.status);
    println!(
        "mail host:      {}",
        u.mail_host.clone().unwrap_or_else(none)
    );
    println!(
        "partition:      {}",
        u.partition.clone().unwrap_or_else(none)
    );
    println!(
        "quota:          {} bytes, {} messages",
        u.quota.bytes.map_or("unlimited".into(), |b| b.to_string()),
        u.quota
            .messages
            .map_or("unlimited".into(), |m| m.to_string())
    );
    if !u.delivery.forward_to.is_empty() {
        println!(
            "forward to:     {}{}",
            u.delivery.forward_to.join(", "),
            if u.delivery.keep_local_copy {
                " (keeping a copy)"
            } else {
                ""
            }
        );
    }
    if let Some(r) = &u.delivery.routing_address {
        println!("routing:        {r}");
    }
    if let Some(v) = &u.delivery.vacation {
        println!(
            "vacation:       {:?} from {} until {}",
            v.text,
            v.start.as_deref().unwrap_or("now"),
            v.end.as_deref().unwrap_or("removed")
        );
    }
}
