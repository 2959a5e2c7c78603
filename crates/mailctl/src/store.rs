//! `mailctl store`: the message store's administration.
//!
//! Online commands talk to a running mailstore's admin API (`--admin
//! ADDR`, `store.admin.v1`). Two commands also work offline on the store's
//! files, for a store that is stopped or will not start: `reconstruct
//! --config MAILSTORE.toml` and `restore SNAPSHOT --config MAILSTORE.toml`
//! (the whole store). They refuse to run while the service holds the store.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mail_proto::store::admin::v1::store_admin_client::StoreAdminClient;
use mail_proto::store::admin::v1::{
    ImportChunk, Quota, QuotaReportRequest, ReconstructRequest, RestoreUserRequest,
    SetQuotaRequest, SnapshotRequest, UserRef,
};
use mail_store::{Scope, Store, StoreConfig, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

/// Arguments of `mailctl store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The mailstore's admin API, as `host:port` or `http://host:port`
    /// (its `[admin] listen`; `mailctl up` lists it as `store_admin_grpc`).
    #[arg(long, env = "TIERMAIL_STORE_ADMIN", value_name = "ADDR", global = true)]
    pub admin: Option<String>,
    /// The operator's certificate (an admin API with mutual TLS).
    #[command(flatten)]
    pub tls: crate::grpc::TlsArgs,
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Rebuild the system area (mailbox list, index, cache) from the message files.
    Reconstruct {
        /// The user to rebuild.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        user: Option<String>,
        /// Every user of the store.
        #[arg(long)]
        all: bool,
        /// Work on the store's files directly (the service must be stopped).
        #[arg(long, value_name = "MAILSTORE.toml")]
        config: Option<PathBuf>,
    },
    /// Take a consistent snapshot while the store serves.
    Snapshot {
        /// A new directory on the store's machine (same file system as the
        /// partitions, so message files are hard-linked, not copied).
        dest: PathBuf,
    },
    /// Quota limits (from the directory) and usage.
    Quota {
        #[command(subcommand)]
        command: QuotaCommand,
    },
    /// A user's mailboxes with their counters.
    Mailboxes {
        /// The user.
        user: String,
    },
    /// Write a user's mailboxes and messages to an archive (to move the user).
    Export {
        /// The user.
        user: String,
        /// The archive file (`-` for standard output).
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Read an export archive into this store.
    Import {
        /// The archive file.
        #[arg(long, short)]
        input: PathBuf,
        /// Import into this account instead of the one the archive names.
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
    /// Restore one user (online, `--user`) or the whole store (offline, `--config`).
    Restore {
        /// The snapshot directory.
        snapshot: PathBuf,
        /// Only this user, while the store serves everyone else.
        #[arg(long, required_unless_present = "config")]
        user: Option<String>,
        /// Restore the store's files directly (the service must be stopped):
        /// every user, or only `--user`.
        #[arg(long, value_name = "MAILSTORE.toml")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum QuotaCommand {
    /// Usage and limits of every user of the store.
    Report,
    /// One user's usage and limits.
    Get {
        /// The user.
        user: String,
    },
    /// Change a user's limits in the directory; the next delivery enforces them.
    Set {
        /// The user.
        user: String,
        /// Byte limit (0: unlimited).
        #[arg(long)]
        bytes: u64,
        /// Message limit (0: unlimited).
        #[arg(long)]
        messages: u64,
    },
}

/// Runs `mailctl store ...`.
pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    match args.command {
        StoreCommand::Reconstruct {
            user,
            all,
            config: Some(cfg),
        } => reconstruct_offline(&cfg, user, all).await,
        StoreCommand::Restore {
            snapshot,
            user,
            config: Some(cfg),
        } => restore_offline(&cfg, &snapshot, user).await,
        cmd => {
            let addr = args.admin.context(
                "no store admin address: pass --admin ADDR or set TIERMAIL_STORE_ADMIN \
                 (or --config MAILSTORE.toml for the offline commands)",
            )?;
            online(&addr, &args.tls, cmd).await
        }
    }
}

async fn connect(
    addr: &str,
    tls: &crate::grpc::TlsArgs,
) -> anyhow::Result<StoreAdminClient<Channel>> {
    let channel = crate::grpc::connect(addr, tls, "the store admin API").await?;
    Ok(StoreAdminClient::new(channel).max_decoding_message_size(64 << 20))
}

/// A readable error from a gRPC status.
fn grpc(what: &str, s: tonic::Status) -> anyhow::Error {
    crate::grpc::status(what, s)
}

/// Relative paths are taken from the current directory: the store resolves
/// paths on its own machine, which is usually this one.
fn absolute(p: &Path) -> anyhow::Result<String> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    Ok(abs.display().to_string())
}

fn limit(n: u64) -> String {
    if n == 0 { "-".into() } else { n.to_string() }
}

fn percent(q: &Quota) -> String {
    let pct = |used: u64, lim: u64| (lim > 0).then(|| used as f64 * 100.0 / lim as f64);
    match (
        pct(q.bytes_used, q.bytes_limit),
        pct(q.messages_used, q.messages_limit),
    ) {
        (None, None) => "-".into(),
        (a, b) => format!("{:.0}%", a.unwrap_or(0.0).max(b.unwrap_or(0.0))),
    }
}

fn since(unix: i64) -> String {
    if unix == 0 {
        return "-".into();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    format!("over for {}s", (now - unix).max(0))
}

async fn online(addr: &str, tls: &crate::grpc::TlsArgs, cmd: StoreCommand) -> anyhow::Result<()> {
    let mut c = connect(addr, tls).await?;
    match cmd {
        StoreCommand::Reconstruct { user, all, .. } => {
            let r = c
                .reconstruct(ReconstructRequest {
                    user: user.unwrap_or_default(),
                    all,
                })
                .await
                .map_err(|s| grpc("reconstruct", s))?
                .into_inner();
            println!(
                "reconstructed {} user(s): {} mailbox(es), {} message(s)",
                r.users, r.mailboxes, r.messages
            );
        }
        StoreCommand::Snapshot { dest } => {
            let r = c
                .snapshot(SnapshotRequest {
                    destination: absolute(&dest)?,
                })
                .await
                .map_err(|s| grpc("snapshot", s))?
                .into_inner();
            println!("snapshot in {} ({} message files)", r.path, r.files);
        }
        StoreCommand::Quota { command } => quota(&mut c, command).await?,
        StoreCommand::Mailboxes { user } => {
            let list = c
                .list_mailboxes(UserRef { user: user.clone() })
                .await
                .map_err(|s| grpc(&format!("mailboxes of {user}"), s))?
                .into_inner()
                .mailboxes;
            println!(
                "{:<28} {:>8} {:>7} {:>12} {:>11} {:>8} {:>7} {:<9} sub",
                "mailbox",
                "messages",
                "unseen",
                "bytes",
                "uidvalidity",
                "uidnext",
                "modseq",
                "special"
            );
            for m in &list {
                println!(
                    "{:<28} {:>8} {:>7} {:>12} {:>11} {:>8} {:>7} {:<9} {}",
                    m.name,
                    m.messages,
                    m.unseen,
                    m.bytes,
                    m.uidvalidity,
                    m.uidnext,
                    m.highest_modseq,
                    if m.special_use.is_empty() {
                        "-"
                    } else {
                        &m.special_use
                    },
                    if m.subscribed { "yes" } else { "no" }
                );
            }
            println!(
                "{} mailbox(es), {} message(s), {} bytes",
                list.len(),
                list.iter().map(|m| u64::from(m.messages)).sum::<u64>(),
                list.iter().map(|m| m.bytes).sum::<u64>()
            );
        }
        StoreCommand::Export { user, output } => export(&mut c, &user, &output).await?,
        StoreCommand::Import { input, as_user } => import(&mut c, &input, as_user).await?,
        StoreCommand::Restore { snapshot, user, .. } => {
            let user = user.context("restore needs --user USER (online) or --config FILE")?;
            let r = c
                .restore_user(RestoreUserRequest {
                    snapshot: absolute(&snapshot)?,
                    user: user.clone(),
                })
                .await
                .map_err(|s| grpc(&format!("restore of {user}"), s))?
                .into_inner();
            println!(
                "restored {user} from {}: {} mailbox(es), {} message(s)",
                snapshot.display(),
                r.mailboxes,
                r.messages
            );
        }
    }
    Ok(())
}

async fn quota(c: &mut StoreAdminClient<Channel>, cmd: QuotaCommand) -> anyhow::Result<()> {
    match cmd {
        QuotaCommand::Report => {
            let entries = c
                .quota_report(QuotaReportRequest {})
                .await
                .map_err(|s| grpc("quota report", s))?
                .into_inner()
                .entries;
            println!(
                "{:<24} {:>9} {:>9} {:>12} {:>12} {:>5}  state",
                "user", "messages", "limit", "bytes", "limit", "use"
            );
            for e in &entries {
                let q = e.quota.unwrap_or_default();
                println!(
                    "{:<24} {:>9} {:>9} {:>12} {:>12} {:>5}  {}",
                    e.user,
                    q.messages_used,
                    limit(q.messages_limit),
                    q.bytes_used,
                    limit(q.bytes_limit),
                    percent(&q),
                    since(q.over_since)
                );
            }
            println!("{} user(s)", entries.len());
        }
        QuotaCommand::Get { user } => {
            let q = c
                .get_quota(UserRef { user: user.clone() })
                .await
                .map_err(|s| grpc(&format!("quota of {user}"), s))?
                .into_inner();
            print_quota(&user, &q);
        }
        QuotaCommand::Set {
            user,
            bytes,
            messages,
        } => {
            let q = c
                .set_quota(SetQuotaRequest {
                    user: user.clone(),
                    bytes_limit: bytes,
                    messages_limit: messages,
                })
                .await
                .map_err(|s| grpc(&format!("setting the quota of {user}"), s))?
                .into_inner();
            print_quota(&user, &q);
        }
    }
    Ok(())
}

fn print_quota(user: &str, q: &Quota) {
    println!("user:      {user}");
    println!(
        "messages:  {} of {}",
        q.messages_used,
        limit(q.messages_limit)
    );
    println!("bytes:     {} of {}", q.bytes_used, limit(q.bytes_limit));
    println!("use:       {}", percent(q));
    println!("warn at:   {}%", q.warn_percent);
    println!("state:     {}", since(q.over_since));
}

async fn export(
    c: &mut StoreAdminClient<Channel>,
    user: &str,
    output: &Path,
) -> anyhow::Result<()> {
    let mut stream = c
        .export_user(UserRef { user: user.into() })
        .await
        .map_err(|s| grpc(&format!("export of {user}"), s))?
        .into_inner();
    let to_stdout = output == Path::new("-");
    // Written beside the target and renamed at the end, so a broken export
    // never leaves a file that looks complete.
    let partial = output.with_extension("partial");
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin> = if to_stdout {
        Box::new(tokio::io::stdout())
    } else {
        Box::new(
            tokio::fs::File::create(&partial)
                .await
                .with_context(|| format!("creating {}", partial.display()))?,
        )
    };
    let mut bytes = 0u64;
    let result: anyhow::Result<()> = async {
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|s| grpc(&format!("export of {user}"), s))?
        {
            out.write_all(&chunk.data).await?;
            bytes += chunk.data.len() as u64;
        }
        out.flush().await?;
        Ok(())
    }
    .await;
    drop(out);
    if to_stdout {
        return result;
    }
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, output)
        .with_context(|| format!("renaming {} to {}", partial.display(), output.display()))?;
    eprintln!("exported {user} to {} ({bytes} bytes)", output.display());
    Ok(())
}

async fn import(
    c: &mut StoreAdminClient<Channel>,
    input: &Path,
    as_user: Option<String>,
) -> anyhow::Result<()> {
    let mut file = tokio::fs::File::open(input)
        .await
        .with_context(|| format!("opening {}", input.display()))?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let path = input.display().to_string();
    let reader = tokio::spawn(async move {
        let mut user = as_user.unwrap_or_default();
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            buf.truncate(n);
            let chunk = ImportChunk {
                data: buf,
                user: std::mem::take(&mut user),
            };
            if tx.send(chunk).await.is_err() {
                // The server stopped reading (it reports why).
                return Ok(());
            }
        }
    });
    let r = c
        .import_user(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|s| grpc(&format!("import of {path}"), s));
    reader
        .await
        .context("reading the archive")?
        .with_context(|| format!("reading {path}"))?;
    let r = r?.into_inner();
    println!(
        "imported {} (exported as {}): {} mailbox(es), {} message(s), {} bytes",
        r.user, r.source_user, r.mailboxes, r.messages, r.bytes
    );
    Ok(())
}

/// The `[store]` section of a mailstore configuration file.
fn store_config(path: &Path) -> anyhow::Result<StoreConfig> {
    let cfg: mail_mailstore::MailstoreConfig = mail_core::config::load(path)?;
    Ok(cfg.store)
}

/// Opens the store's files, saying clearly when the service holds them.
fn open_offline(cfg: StoreConfig) -> anyhow::Result<Store> {
    let system = cfg.system_path.clone();
    match Store::open(cfg) {
        Ok(s) => Ok(s),
        // RocksDB's LOCK file is held while the service runs.
        Err(StoreError::Db(msg)) if msg.to_ascii_lowercase().contains("lock") => bail!(
            "the store at {} is in use (is the mailstore service running?): stop it first, \
             or use the online command with --admin\n({msg})",
            system.display()
        ),
        Err(e) => Err(e).context(format!("opening the store at {}", system.display())),
    }
}

async fn reconstruct_offline(config: &Path, user: Option<String>, all: bool) -> anyhow::Result<()> {
    let cfg = store_config(config)?;
    let scope = match (user, all) {
        (Some(u), false) => Scope::User(u),
        (None, true) => Scope::All,
        _ => bail!("give a USER or --all"),
    };
    let rep = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = open_offline(cfg)?;
        let rep = store.reconstruct(scope)?;
        store.close();
        Ok(rep)
    })
    .await??;
    println!(
        "reconstructed {} user(s): {} mailbox(es), {} message(s)",
        rep.users, rep.mailboxes, rep.messages
    );
    Ok(())
}

async fn restore_offline(
    config: &Path,
    snapshot: &Path,
    user: Option<String>,
) -> anyhow::Result<()> {
    let cfg = store_config(config)?;
    if !snapshot.join("db").is_dir() {
        bail!("{} is not a snapshot (no db/ inside)", snapshot.display());
    }
    let snap = snapshot.to_path_buf();
    let what = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        // Opening proves the service is not running; closing releases the
        // store again before its files are replaced.
        let store = open_offline(cfg.clone())?;
        if let Some(u) = user {
            store.restore_user(&snap, &u)?;
            store.close();
            return Ok(format!("user {u}"));
        }
        store.close();
        drop(store);
        Store::restore(&cfg, &snap)?;
        Ok("the whole store".into())
    })
    .await??;
    println!("restored {what} from {}", snapshot.display());
    Ok(())
}
