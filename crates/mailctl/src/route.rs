//! `mailctl route test ADDRESS`: a dry run of routing, printing each
//! rewrite step, the directory lookups and the chosen channel.
//!
//! Give a relay's configuration (`--config /etc/tiermail/mta-inbound.toml`:
//! its `routing` file and `[directory]`), or the routing file itself
//! (`--routing FILE`, with `--directory FILE` for hosted-user lookups).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use mail_routing::{NoDirectory, Router};

use crate::dirconf::{self, DirectoryArg};

/// Arguments of `mailctl route`.
#[derive(Debug, clap::Args)]
pub struct RouteArgs {
    #[command(subcommand)]
    command: RouteCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RouteCommand {
    /// Route ADDRESS and print every step and the chosen channel.
    Test {
        /// The recipient address.
        address: String,
        /// A relay configuration file (uses its `routing` and `[directory]`).
        #[arg(long, env = "TIERMAIL_RELAY_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// The routing file, when not taken from --config.
        #[arg(long, value_name = "FILE", conflicts_with = "config")]
        routing: Option<PathBuf>,
        #[command(flatten)]
        directory: DirectoryArg,
    },
}

/// The routing file a relay configuration names, relative to that file.
fn routing_of(config: &Path) -> anyhow::Result<PathBuf> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not valid TOML", config.display()))?;
    let routing = table
        .get("routing")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{}: no `routing = \"FILE\"` key", config.display()))?;
    let p = PathBuf::from(routing);
    Ok(if p.is_relative() {
        config.parent().unwrap_or(Path::new(".")).join(p)
    } else {
        p
    })
}

/// Runs `mailctl route`; the exit status says whether the address routes.
pub async fn run(args: RouteArgs) -> anyhow::Result<ExitCode> {
    let RouteCommand::Test {
        address,
        config,
        routing,
        directory,
    } = args.command;
    let (routing, dir_file) = match (&config, routing) {
        (Some(c), _) => (
            routing_of(c)?,
            directory.directory.clone().or(Some(c.clone())),
        ),
        (None, Some(r)) => (r, directory.directory.clone()),
        (None, None) => anyhow::bail!("give --config RELAY.toml or --routing FILE"),
    };
    let router = Router::load(&routing)?;
    let result = match dir_file {
        Some(f) => {
            let dir = dirconf::open(&DirectoryArg { directory: Some(f) }).await?;
            router.route(&*dir, &address).await
        }
        None => router.route(&NoDirectory, &address).await,
    };
    print!("{}", mail_routing::render(&result));
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
