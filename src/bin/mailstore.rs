//! `mailstore`: a message store (data tier) serving LMTP delivery.
//! IMAP and POP3 arrive with issue #5.

use mail_core::service::{self, Started};
use mail_mailstore::MailstoreConfig;

fn main() -> std::process::ExitCode {
    service::main::<MailstoreConfig, _, _>("mailstore", |cfg, ctx| async move {
        mail_mailstore::start(cfg, &ctx).await?;
        Ok(Started::Ready)
    })
}
