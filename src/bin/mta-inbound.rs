//! `mta-inbound`: the inbound SMTP relay. Mail from the Internet (found by
//! MX) and from the outbound relay, routed to the stores over LMTP.
//! Everything is in mail-relay; the configuration decides which
//! listeners run (docs/relays.md).

use mail_core::service::{self, Started};
use mail_relay::RelayConfig;

fn main() -> std::process::ExitCode {
    service::main::<RelayConfig, _, _>("mta-inbound", |cfg, ctx| async move {
        mail_relay::start(cfg, &ctx).await?;
        Ok(Started::Ready)
    })
}
