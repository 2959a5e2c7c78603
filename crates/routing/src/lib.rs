//! Routing for Tiermail's MTAs: the channel table, the rewrite rules and
//! the decision where one recipient address goes.
//!
//! Each relay has one routing file (TOML, `docs/routing.md`): `[[channel]]`
//! entries name delivery paths (`lmtp` to the stores, `tcp_local` to the
//! Internet by MX, `tcp_intranet` to the inbound relay, `bounce`,
//! `reprocess`...) with their keywords, and ordered `[[rewrite]]` rules turn
//! an address into a rewritten address and a routing host, as in the
//! classic MTA's rewrite rules (source document: "Rewrite Rules",
//! "Channels"). The routing host selects the channel whose `hosts` list it.
//! Templates substitute parts of the address (`$U`, `$D`, `$H`...) and look
//! things up in `[mapping.NAME]` tables and in the directory.
//!
//! ```no_run
//! # async fn demo(dir: std::sync::Arc<dyn mail_directory::Directory>) -> Result<(), mail_routing::Error> {
//! let router = mail_routing::Router::load(std::path::Path::new("/etc/tiermail/inbound.toml"))?;
//! match router.route(&*dir, "alice@example.test").await {
//!     Ok(route) => print!("{}", mail_routing::render_route(&route)),
//!     Err(failed) => print!("{}", mail_routing::render_error(&failed)),
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod address;
pub mod config;
pub mod defaults;
pub mod directory;
mod engine;
pub mod error;
pub mod expand;
pub mod mapping;
pub mod pattern;
pub mod route;
pub mod template;
pub mod validate;

pub use address::Mailbox;
pub use config::{
    Channel, ChannelKind, DsnOptions, DsnReturn, LogLevel, RewriteRule, RoutingConfig, Settings,
    TlsPolicy,
};
pub use defaults::{
    INBOUND_DEFAULT, INBOUND_PLACEHOLDERS, OUTBOUND_DEFAULT, OUTBOUND_PLACEHOLDERS, fill,
};
pub use directory::{Entry, GroupInfo, NoDirectory, RoutingDirectory, UserInfo};
pub use engine::Router;
pub use error::{Error, RouteError};
pub use expand::expand;
pub use route::{Destination, Route, Step, StepKind, render, render_error, render_route};
