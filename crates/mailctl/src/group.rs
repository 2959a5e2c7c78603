//! `mailctl group add|members|delete`: groups and distribution lists.

use anyhow::Context;
use mail_directory::{GroupChange, GroupSpec, PostingPolicy, expand_group};

use crate::dirconf::{self, DirectoryArg};

/// Arguments of `mailctl group`.
#[derive(Debug, clap::Args)]
pub struct GroupArgs {
    #[command(flatten)]
    directory: DirectoryArg,
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GroupCommand {
    /// Create a group.
    Add {
        /// Group name.
        name: String,
        /// The list's address.
        #[arg(long)]
        address: Option<String>,
        /// Another address that reaches the list (repeatable).
        #[arg(long = "alternate", value_name = "ADDRESS")]
        alternates: Vec<String>,
        /// A member: a DN, an address or an LDAP URL for dynamic members
        /// (repeatable).
        #[arg(long = "member", value_name = "MEMBER")]
        members: Vec<String>,
        /// Who may post: anyone, members or restricted.
        #[arg(long, default_value = "anyone", value_parser = posting)]
        posting: PostingPolicy,
        /// A sender always allowed to post (repeatable).
        #[arg(long = "allow", value_name = "ADDRESS")]
        allowed: Vec<String>,
    },
    /// Show, add or remove members; prints the expansion.
    Members {
        /// Group name.
        name: String,
        /// Add a member (DN, address or LDAP URL; repeatable).
        #[arg(long)]
        add: Vec<String>,
        /// Remove a member (repeatable).
        #[arg(long)]
        remove: Vec<String>,
        /// Replace the list's alternate addresses (comma-separated; an
        /// empty value removes them all).
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        alternates: Option<Vec<String>>,
    },
    /// Delete a group.
    Delete {
        /// Group name.
        name: String,
    },
}

fn posting(s: &str) -> Result<PostingPolicy, String> {
    match s {
        "anyone" | "members" | "restricted" => Ok(PostingPolicy::parse(s)),
        _ => Err("use anyone, members or restricted".into()),
    }
}

/// Runs `mailctl group`.
pub async fn run(args: GroupArgs) -> anyhow::Result<()> {
    let dir = dirconf::open(&args.directory).await?;
    let config = dirconf::load(args.directory.path()?)?;
    match args.command {
        GroupCommand::Add {
            name,
            address,
            alternates,
            members,
            posting,
            allowed,
        } => {
            let g = dir
                .add_group(&GroupSpec {
                    name,
                    address,
                    alternates,
                    members,
                    posting,
                    allowed_senders: allowed,
                })
                .await?;
            println!("group {} added ({})", g.name, g.dn);
        }
        GroupCommand::Members {
            name,
            add,
            remove,
            alternates,
        } => {
            let alternates =
                alternates.map(|v| v.into_iter().filter(|a| !a.trim().is_empty()).collect());
            let g = if add.is_empty() && remove.is_empty() && alternates.is_none() {
                dir.group(&name)
                    .await?
                    .with_context(|| format!("no group {name}"))?
            } else {
                dir.modify_group(
                    &name,
                    &GroupChange {
                        add,
                        remove,
                        alternates,
                        ..GroupChange::default()
                    },
                )
                .await?
            };
            println!("group {} ({})", g.name, g.dn);
            if let Some(a) = &g.address {
                println!("address: {a}");
            }
            for a in &g.alternates {
                println!("alternate: {a}");
            }
            println!("posting: {}", g.posting.as_str());
            for m in g
                .members
                .iter()
                .chain(&g.member_addresses)
                .chain(&g.member_urls)
            {
                println!("member: {m}");
            }
            let e = expand_group(&*dir, &g, config.expansion()).await?;
            for r in &e.recipients {
                println!("expands to: {r}");
            }
            for l in &e.loops {
                println!("loop cut at: {l}");
            }
            for d in &e.dangling {
                println!("dangling member: {d}");
            }
        }
        GroupCommand::Delete { name } => {
            dir.delete_group(&name).await?;
            println!("group {name} deleted");
        }
    }
    Ok(())
}
