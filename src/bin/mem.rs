//! `mem`: the webmail multiplexor (access tier): the web client, logins
//! against the directory, and each session's JMAP relayed to its store.

use mail_core::service::{self, Started};
use mail_mem::MemConfig;

fn main() -> std::process::ExitCode {
    service::main::<MemConfig, _, _>("mem", |cfg, ctx| async move {
        mail_mem::start(cfg, &ctx).await?;
        Ok(Started::Ready)
    })
}
