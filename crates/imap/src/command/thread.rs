//! THREAD / UID THREAD (RFC 5256): the matching messages are loaded as for
//! SEARCH and handed to the algorithms in [`crate::thread`].

use mail_imap_proto::{SearchKey, ThreadAlgorithm};

use super::search::sort_date;
use crate::session::{Flow, Session};
use crate::thread::{ThreadMsg, ordered_subject, references};

impl Session {
    pub(crate) async fn thread(
        &mut self,
        tag: &str,
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: &str,
        key: SearchKey,
    ) -> Flow {
        if let Some(f) = self.charset_ok(tag, Some(charset)) {
            return f;
        }
        // References: comes from the header cache (cached by default);
        // if the store was configured without it, from the message.
        let need_body = matches!(algorithm, ThreadAlgorithm::References)
            && !self
                .shared
                .store
                .config()
                .cached_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case("references"));
        let found = match self.matching(tag, &key, true, need_body).await {
            Ok(f) => f,
            Err(flow) => return flow,
        };
        let msgs: Vec<ThreadMsg> = found
            .iter()
            .map(|m| {
                let env = &m.c.cache.envelope;
                let references =
                    m.c.cache
                        .headers
                        .iter()
                        .find(|(name, _)| name == "references")
                        .map(|(_, v)| v.clone())
                        .or_else(|| {
                            m.body
                                .as_deref()
                                .and_then(|b| mail_mime::values(b, "References").into_iter().next())
                        })
                        .unwrap_or_default();
                ThreadMsg {
                    id: if uid { m.c.entry.uid } else { m.seq },
                    seq: m.seq,
                    date: sort_date(m),
                    subject: env.subject.clone().unwrap_or_default(),
                    message_id: env.message_id.clone(),
                    references,
                    // The cached field as sent; rows cached before the
                    // envelope kept it so hold only the bare ids.
                    in_reply_to: m
                        .c
                        .cache
                        .headers
                        .iter()
                        .find(|(name, _)| name == "in-reply-to")
                        .map(|(_, v)| v.clone())
                        .or_else(|| env.in_reply_to.clone())
                        .unwrap_or_default(),
                }
            })
            .collect();
        let data = match algorithm {
            ThreadAlgorithm::OrderedSubject => ordered_subject(&msgs),
            _ => references(&msgs),
        };
        let line = if data.is_empty() {
            "* THREAD\r\n".to_string()
        } else {
            format!("* THREAD {data}\r\n")
        };
        self.push(line.as_bytes());
        self.ok(tag, None, "THREAD completed")
    }
}
