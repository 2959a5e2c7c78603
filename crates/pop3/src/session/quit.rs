//! QUIT (RFC 1939 6): in TRANSACTION it enters UPDATE, where the messages
//! marked with DELE are removed through [`Maildrop::commit`]; in
//! AUTHORIZATION it just closes. No other path deletes anything.

use crate::maildrop::{Authenticator, Maildrop, Maildrops, MessageInfo};
use crate::proto::{RespCode, Response};

use super::{Flow, Session, State, Transaction};

impl<A: Authenticator, M: Maildrops> Session<A, M> {
    pub(super) async fn quit(&mut self) -> Flow {
        let State::Transaction(tx) = self.take_state() else {
            return Flow::Close;
        };
        // self.state is now UPDATE.
        // `_slot` (the per-user session limit) is held until the update
        // is done.
        let Transaction {
            account,
            maildrop,
            deleted,
            _slot,
        } = *tx;
        let total = maildrop.messages().len();
        let doomed: Vec<MessageInfo> = maildrop
            .messages()
            .iter()
            .zip(&deleted)
            .filter(|(_, d)| **d)
            .map(|(m, _)| m.clone())
            .collect();
        let count = doomed.len();
        match maildrop.commit(doomed).await {
            Ok(()) => {
                self.shared.metrics.deleted(count as u64);
                tracing::info!(account = %account.name, deleted = count, "update committed");
                let left = total - count;
                self.reply(Response::ok(if left == 0 {
                    format!("Bye, {count} deleted (maildrop empty)")
                } else {
                    format!("Bye, {count} deleted, {left} messages left")
                }));
            }
            Err(e) => {
                tracing::warn!(account = %account.name, error = %e, "update failed");
                self.reply(Response::err_code(
                    RespCode::SysTemp,
                    "Some deleted messages were not removed",
                ));
            }
        }
        Flow::Close
    }
}
