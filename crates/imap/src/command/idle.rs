//! IDLE (RFC 2177): changes to the selected mailbox are pushed as they
//! happen (new mail within milliseconds of the store's commit) until the
//! client sends `DONE`.

use mail_core::Shutdown;
use mail_core::listener::Conn;

use crate::session::{Flow, ReadEnd, Session, State};

impl Session {
    pub(crate) async fn idle(&mut self, tag: &str, conn: &mut Conn, shutdown: &Shutdown) -> Flow {
        self.push(b"+ idling\r\n");
        let timeout = self.shared.config.idle_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Subscribe before syncing: a change committed after the sync
            // read the index but before a later subscription would
            // otherwise wait unreported for the next change or DONE. A
            // change seen by both only costs one empty sync.
            let mut watch = match &self.state {
                State::Selected(_, v) => Some(v.watch.resubscribe()),
                _ => None,
            };
            self.sync(true).await;
            if self.flush(conn).await.is_err() {
                return Flow::Close;
            }
            // A line may already be buffered (pipelined DONE).
            if let Ok(Some((line, consumed))) =
                mail_imap_proto::parse_line(&self.inbuf, self.shared.config.max_line)
            {
                let done = line.eq_ignore_ascii_case(b"DONE");
                self.inbuf.drain(..consumed);
                return if done {
                    self.ok(tag, None, "IDLE terminated")
                } else {
                    self.bad(tag, "Expected DONE")
                };
            }
            let changed = async {
                match watch.as_mut() {
                    Some(w) => {
                        let _ = w.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = tokio::select! {
                _ = changed => None,
                r = self.read_more(conn, shutdown, left) => Some(r),
            };
            match event {
                None => {
                    if let State::Selected(_, v) = &mut self.state {
                        v.dirty = true;
                    }
                }
                Some(Ok(())) => {}
                Some(Err(ReadEnd::Shutdown)) => {
                    self.bye("Server shutting down");
                    return Flow::Close;
                }
                Some(Err(ReadEnd::Timeout)) => {
                    self.bye("IDLE timed out");
                    return Flow::Close;
                }
                Some(Err(_)) => return Flow::Close,
            }
        }
    }
}
