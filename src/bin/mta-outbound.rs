//! `mta-outbound`: the outbound SMTP relay. Users submit on 587/465 (AUTH
//! over TLS); mail goes by MX to the Internet or to the inbound relay.
//! Everything is in mail-relay; the configuration decides which
//! listeners run (docs/relays.md).

use mail_core::service::{self, Started};
use mail_relay::RelayConfig;

fn main() -> std::process::ExitCode {
    service::main::<RelayConfig, _, _>("mta-outbound", |cfg, ctx| async move {
        mail_relay::start(cfg, &ctx).await?;
        Ok(Started::Ready)
    })
}
