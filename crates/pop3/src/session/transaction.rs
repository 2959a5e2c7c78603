//! STAT, LIST, UIDL, DELE, RSET (RFC 1939 5, 7): answered from the
//! snapshot taken at login and the session's deletion marks.

use crate::maildrop::{Authenticator, Maildrop, Maildrops, MessageInfo};
use crate::proto::Response;

use super::{Flow, Session, State, Transaction};

impl<A: Authenticator, M: Maildrops> Session<A, M> {
    fn tx(&self) -> Option<&Transaction<M::Maildrop>> {
        match &self.state {
            State::Transaction(tx) => Some(tx),
            _ => None,
        }
    }

    /// Message `n` (1-based) if it exists and is not marked deleted, as
    /// (index, info); else the `-ERR` to send (RFC 1939 5).
    pub(super) fn message(&self, n: u32) -> Result<(usize, MessageInfo), Response> {
        let Some(tx) = self.tx() else {
            return Err(Response::err("Not logged in"));
        };
        let i = (n as usize).wrapping_sub(1);
        match tx.maildrop.messages().get(i) {
            None => Err(Response::err(format!("No such message {n}"))),
            Some(_) if tx.deleted.get(i).copied().unwrap_or(false) => {
                Err(Response::err(format!("Message {n} is already deleted")))
            }
            Some(m) => Ok((i, m.clone())),
        }
    }

    /// (number, info) of every message not marked deleted.
    fn live(&self) -> Vec<(usize, MessageInfo)> {
        let Some(tx) = self.tx() else {
            return Vec::new();
        };
        tx.maildrop
            .messages()
            .iter()
            .enumerate()
            .filter(|(i, _)| !tx.deleted.get(*i).copied().unwrap_or(false))
            .map(|(i, m)| (i + 1, m.clone()))
            .collect()
    }

    pub(super) fn stat(&mut self) -> Flow {
        let live = self.live();
        let octets: u64 = live.iter().map(|(_, m)| m.size).sum();
        self.reply(Response::ok(format!("{} {octets}", live.len())));
        Flow::Continue
    }

    pub(super) fn list(&mut self, n: Option<u32>) -> Flow {
        self.scan(n, "messages", |m| m.size.to_string())
    }

    pub(super) fn uidl(&mut self, n: Option<u32>) -> Flow {
        self.scan(n, "unique-id listing", |m| m.uid.clone())
    }

    /// LIST and UIDL: one message on the status line, or all live ones in
    /// a multi-line response.
    fn scan(&mut self, n: Option<u32>, what: &str, field: impl Fn(&MessageInfo) -> String) -> Flow {
        match n {
            Some(n) => match self.message(n) {
                Ok((_, m)) => {
                    self.reply(Response::ok(format!("{n} {}", field(&m))));
                    Flow::Continue
                }
                Err(r) => self.bad(r),
            },
            None => {
                let live = self.live();
                self.reply(Response::ok(format!("{} {what} follow", live.len())));
                for (i, m) in live {
                    self.out
                        .extend_from_slice(format!("{i} {}\r\n", field(&m)).as_bytes());
                }
                self.out.extend_from_slice(b".\r\n");
                Flow::Continue
            }
        }
    }

    pub(super) fn dele(&mut self, n: u32) -> Flow {
        let i = match self.message(n) {
            Ok((i, _)) => i,
            Err(r) => return self.bad(r),
        };
        if let State::Transaction(tx) = &mut self.state
            && let Some(mark) = tx.deleted.get_mut(i)
        {
            *mark = true;
        }
        self.reply(Response::ok(format!("Message {n} deleted")));
        Flow::Continue
    }

    pub(super) fn rset(&mut self) -> Flow {
        if let State::Transaction(tx) = &mut self.state {
            tx.deleted.iter_mut().for_each(|d| *d = false);
        }
        let live = self.live();
        let octets: u64 = live.iter().map(|(_, m)| m.size).sum();
        self.reply(Response::ok(format!(
            "Maildrop has {} messages ({octets} octets)",
            live.len()
        )));
        Flow::Continue
    }
}
