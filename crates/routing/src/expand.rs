//! Group expansion for the relay, reusing the directory's own walk
//! ([`mail_directory::expand_group`]: nested groups, dynamic members, loop
//! detection and depth limits). Routing stops at the group on purpose:
//! expansion can produce thousands of recipients, each routed on its own.

use mail_directory::{Directory, DirectoryError, Expansion, ExpansionConfig};

use crate::directory::GroupInfo;
use crate::error::Error;

/// Expands the group a [`crate::Route`] ended at into its recipients (each
/// once; loops cut and reported in [`Expansion::loops`]).
pub async fn expand(
    dir: &dyn Directory,
    group: &GroupInfo,
    limits: &ExpansionConfig,
) -> Result<Expansion, Error> {
    let g = dir
        .group(&group.name)
        .await?
        .ok_or_else(|| DirectoryError::NotFound(format!("group {}", group.name)))?;
    Ok(mail_directory::expand_group(dir, &g, limits).await?)
}
