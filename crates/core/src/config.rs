//! Typed TOML configuration.
//!
//! Every service describes its configuration as serde structs with
//! `#[serde(deny_unknown_fields)]` and implements [`Validate`]. Loading a file
//! first reports a syntax or type error with the dotted key where it happened,
//! then runs validation, which collects *every* problem before anything is
//! bound, so an operator fixes a file in one pass instead of one error per
//! restart.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One problem found in a configuration file, tied to the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`smtp.listen`, `channels[2].retry`), or empty for the
    /// file as a whole.
    pub key: String,
    /// What is wrong, written for the operator.
    pub message: String,
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the expected structure.
    #[error("{path}: {}: {message}", if key.is_empty() { "(file)" } else { key.as_str() })]
    Parse {
        /// The file.
        path: PathBuf,
        /// Dotted key where parsing stopped.
        key: String,
        /// The parser's explanation, with line and column when known.
        message: String,
    },
    /// The file parsed but some values are not acceptable.
    #[error("{}", render_invalid(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in file order where possible.
        problems: Vec<Problem>,
    },
}

fn render_invalid(path: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let key = if p.key.is_empty() { "(file)" } else { &p.key };
        out.push_str(&format!("{}: {}: {}", path.display(), key, p.message));
    }
    out
}

/// Collects validation problems with the key path they belong to.
#[derive(Debug, Default)]
pub struct Validator {
    prefix: Vec<String>,
    problems: Vec<Problem>,
}

impl Validator {
    /// A validator with no problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem for `key`, relative to the current section.
    pub fn error(&mut self, key: &str, message: impl fmt::Display) {
        let mut full = self.prefix.join(".");
        if !key.is_empty() {
            if !full.is_empty() && !key.starts_with('[') {
                full.push('.');
            }
            full.push_str(key);
        }
        self.problems.push(Problem {
            key: full,
            message: message.to_string(),
        });
    }

    /// Runs `f` with `section` pushed onto the key path.
    pub fn section(&mut self, section: &str, f: impl FnOnce(&mut Self)) {
        self.prefix.push(section.to_string());
        f(self);
        self.prefix.pop();
    }

    /// Validates a nested value under `section`.
    pub fn nested<T: Validate + ?Sized>(&mut self, section: &str, value: &T) {
        self.section(section, |v| value.validate(v));
    }

    /// Checks that `path` names an existing file.
    pub fn file_exists(&mut self, key: &str, path: &Path) {
        if !path.is_file() {
            self.error(key, format!("file {} does not exist", path.display()));
        }
    }

    /// The problems collected so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Turns the collected problems into a result.
    pub fn finish(self, path: &Path) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: self.problems,
            })
        }
    }
}

/// Semantic checks a configuration runs after it has parsed.
pub trait Validate {
    /// Records every problem in `v`; must not stop at the first one.
    fn validate(&self, v: &mut Validator);
}

impl<T: Validate> Validate for Option<T> {
    fn validate(&self, v: &mut Validator) {
        if let Some(t) = self {
            t.validate(v);
        }
    }
}

/// Parses `text` (the contents of `path`) and validates it.
pub fn parse<T: DeserializeOwned + Validate>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        key: String::new(),
        message: describe_toml_error(text, &e),
    })?;
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        ConfigError::Parse {
            path: path.to_path_buf(),
            key,
            message: describe_toml_error(text, e.inner()),
        }
    })?;
    let mut v = Validator::new();
    value.validate(&mut v);
    v.finish(path)?;
    Ok(value)
}

/// Reads, parses and validates the file at `path`.
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end().to_string();
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("{message} (line {line}, column {col})")
        }
        None => message,
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Settings every service has: where its admin endpoint listens, how long it
/// drains, and where it reports the addresses it bound.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Instance name used in logs, traces and metrics; defaults to the binary.
    #[serde(default)]
    pub name: Option<String>,
    /// Address of the admin HTTP endpoint (`/healthz`, `/readyz`, `/metrics`).
    /// Port 0 picks a free port; the chosen one goes to `ports_file`.
    pub admin_listen: SocketAddr,
    /// How long SIGTERM waits for open sessions before closing them.
    #[serde(default = "default_drain", with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// When set, a JSON object `{ "admin": "host:port", "smtp": ... }` with
    /// every bound address is written here once the service is listening, so
    /// that tools and tests can use port 0.
    #[serde(default)]
    pub ports_file: Option<PathBuf>,
}

fn default_drain() -> Duration {
    Duration::from_secs(10)
}

impl Validate for ServiceConfig {
    fn validate(&self, v: &mut Validator) {
        if self.drain_timeout.is_zero() {
            v.error("drain_timeout", "must be longer than zero");
        }
        if self.drain_timeout > Duration::from_secs(3600) {
            v.error("drain_timeout", "must be at most one hour");
        }
        if let Some(name) = &self.name
            && (name.is_empty() || name.chars().any(|c| c.is_whitespace()))
        {
            v.error("name", "must be non-empty and contain no white space");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        service: ServiceConfig,
        #[serde(default)]
        limit: u32,
    }

    impl Validate for Sample {
        fn validate(&self, v: &mut Validator) {
            v.nested("service", &self.service);
            if self.limit > 10 {
                v.error("limit", "must be at most 10");
            }
        }
    }

    fn p(text: &str) -> Result<Sample, ConfigError> {
        parse(Path::new("/etc/sample.toml"), text)
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = p("[service]\nadmin_listen = \"127.0.0.1:0\"\nbogus = 1\n")
            .expect_err("unknown key must fail")
            .to_string();
        assert!(err.starts_with("/etc/sample.toml: service"), "{err}");
        assert!(err.contains("bogus"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = p("[service]\nadmin_listen = \"127.0.0.1:0\"\ndrain_timeout = 5\n")
            .expect_err("a number is not a duration")
            .to_string();
        assert!(
            err.starts_with("/etc/sample.toml: service.drain_timeout:"),
            "{err}"
        );
    }

    #[test]
    fn validation_collects_every_problem() {
        let err = p("limit = 11\n[service]\nadmin_listen = \"127.0.0.1:0\"\ndrain_timeout = \"0s\"\nname = \"a b\"\n")
            .expect_err("three problems");
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("expected Invalid, got {err}");
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["service.drain_timeout", "service.name", "limit"]);
        assert!(
            err.to_string()
                .contains("/etc/sample.toml: limit: must be at most 10")
        );
    }

    #[test]
    fn good_file_loads() {
        let s = p("[service]\nadmin_listen = \"127.0.0.1:0\"\ndrain_timeout = \"3s\"\n")
            .expect("valid");
        assert_eq!(s.service.drain_timeout, Duration::from_secs(3));
    }
}
