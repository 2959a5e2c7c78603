//! `--directory FILE`: which directory `mailctl user|group|domain` and
//! `mailctl bench directory` work on.
//!
//! The file holds a [`DirectoryConfig`], either at the top level
//! (`backend = "file"` …) or as the `[directory]` section of a service's
//! configuration, so `--directory /etc/tiermail/mta-inbound.toml` works as
//! well. A relative `path` of the file backend is taken relative to the
//! file's own directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use mail_core::config::Validator;
use mail_directory::{Directory, DirectoryConfig};

/// The `--directory` option. Optional for clap (a global argument cannot
/// be required) but checked by [`DirectoryArg::path`].
#[derive(Debug, Clone, clap::Args)]
pub struct DirectoryArg {
    /// TOML file with the directory configuration (a `[directory]` section
    /// or its keys at the top level).
    #[arg(
        long = "directory",
        env = "TIERMAIL_DIRECTORY",
        value_name = "FILE",
        global = true
    )]
    pub directory: Option<PathBuf>,
}

impl DirectoryArg {
    /// The file, or an error telling how to give it.
    pub fn path(&self) -> anyhow::Result<&Path> {
        self.directory
            .as_deref()
            .context("which directory? give --directory FILE (or set TIERMAIL_DIRECTORY)")
    }
}

/// Reads and validates the directory configuration in `path`.
pub fn load(path: &Path) -> anyhow::Result<DirectoryConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not valid TOML", path.display()))?;
    let section = match table.remove("directory") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => anyhow::bail!("{}: directory must be a table", path.display()),
        None => table,
    };
    let mut config: DirectoryConfig = toml::Value::Table(section)
        .try_into()
        .with_context(|| format!("{}: [directory]", path.display()))?;
    if let DirectoryConfig::File(f) = &mut config
        && f.path.is_relative()
    {
        let base = path.parent().unwrap_or(Path::new("."));
        f.path = base.join(&f.path);
    }
    let mut v = Validator::new();
    v.nested("directory", &config);
    v.finish(path)?;
    Ok(config)
}

/// Opens the directory without a cache: `mailctl` reads its own writes.
pub async fn open(arg: &DirectoryArg) -> anyhow::Result<Arc<dyn Directory>> {
    let config = load(arg.path()?)?;
    Ok(mail_directory::open_uncached(&config).await?)
}
