//! `mailstore`: a message store (data tier). It takes mail over LMTP
//! (and a guaranteed-delivery LMTP listener that ignores quota), serves
//! IMAP and POP3 to users, and the `store.admin.v1` gRPC API to operators
//! (mutual TLS with the deployment CA); see docs/store.md.

use mail_core::service::{self, Started};
use mail_mailstore::MailstoreConfig;

fn main() -> std::process::ExitCode {
    service::main::<MailstoreConfig, _, _>("mailstore", |cfg, ctx| async move {
        mail_mailstore::start(cfg, &ctx).await?;
        Ok(Started::Ready)
    })
}
