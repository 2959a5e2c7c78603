//! `mmp`: the IMAP/POP proxy (access tier). Clients know one address; it
//! checks their password against the directory, finds their store by
//! `mailHost` and relays the session there (docs/mmp.md).

use mail_core::service::{self, Started};
use mail_mmp::MmpConfig;

fn main() -> std::process::ExitCode {
    service::main::<MmpConfig, _, _>("mmp", |cfg, ctx| async move {
        mail_mmp::start(cfg, &ctx).await?;
        Ok(Started::Ready)
    })
}
