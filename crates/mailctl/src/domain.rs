//! `mailctl domain add|list`: hosted mail domains.

use mail_directory::Domain;

use crate::dirconf::{self, DirectoryArg};

/// Arguments of `mailctl domain`.
#[derive(Debug, clap::Args)]
pub struct DomainArgs {
    #[command(flatten)]
    directory: DirectoryArg,
    #[command(subcommand)]
    command: DomainCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DomainCommand {
    /// Host a domain.
    Add {
        /// The domain name.
        name: String,
        /// Another name for the same domain (repeatable).
        #[arg(long = "alias", value_name = "DOMAIN")]
        aliases: Vec<String>,
    },
    /// List hosted domains and their aliases.
    List,
}

/// Runs `mailctl domain`.
pub async fn run(args: DomainArgs) -> anyhow::Result<()> {
    let dir = dirconf::open(&args.directory).await?;
    match args.command {
        DomainCommand::Add { name, aliases } => {
            dir.add_domain(&Domain {
                name: name.clone(),
                aliases,
            })
            .await?;
            println!("domain {name} added");
        }
        DomainCommand::List => {
            for d in dir.list_domains().await? {
                if d.aliases.is_empty() {
                    println!("{}", d.name);
                } else {
                    println!("{}  (aliases: {})", d.name, d.aliases.join(", "));
                }
            }
        }
    }
    Ok(())
}
