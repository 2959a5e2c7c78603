//! AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, only over TLS
//! (`538 5.7.11` otherwise: passwords never cross the network in clear).
//! The relay's [`crate::policy::Authenticator`] checks the credentials.
//! Failures are counted; after `max_auth_failures` the session ends with
//! `421 4.7.0`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_core::listener::Conn;
use mail_smtp_proto::Reply;
use mail_smtp_proto::command::Auth;
use tracing::Instrument;

use super::{Flow, Session, State};
use crate::policy::{AuthVerdict, Credentials};

/// Why no credentials came out of the exchange.
enum Exchange {
    /// The client sent `*` (RFC 4954 4): `501 5.7.0`.
    Cancelled,
    /// Not base64, or not the mechanism's format: `501 5.5.2`.
    Malformed,
    /// The connection failed while reading.
    Failed(mail_queue::Error),
}

impl Session {
    pub(super) async fn auth(&mut self, conn: &mut Conn, a: Auth) -> Flow {
        let Some(authenticator) = self.shared.hooks.authenticator.clone() else {
            return self.bad(&Reply::not_implemented());
        };
        if !conn.is_tls() {
            return self.bad(&Reply::with_status(
                538,
                (5, 7, 11),
                "Encryption required for requested authentication mechanism",
            ));
        }
        if self.client.auth.is_some() {
            return self.bad(&Reply::bad_sequence("Already authenticated"));
        }
        match self.state {
            State::Greeted => return self.bad(&Reply::bad_sequence("Send EHLO first")),
            State::Envelope { .. } | State::Chunking { .. } => {
                return self.bad(&Reply::bad_sequence("AUTH not allowed in a transaction"));
            }
            State::Ready { .. } => {}
        }
        let creds = match a.mechanism.as_str() {
            "PLAIN" => self.plain(conn, a.initial).await,
            "LOGIN" => self.login(conn, a.initial).await,
            _ => {
                return self.bad(&Reply::with_status(
                    504,
                    (5, 5, 4),
                    "Unrecognized authentication type",
                ));
            }
        };
        let creds = match creds {
            Ok(c) => c,
            Err(Exchange::Cancelled) => {
                return self.bad(&Reply::with_status(
                    501,
                    (5, 7, 0),
                    "Authentication cancelled",
                ));
            }
            Err(Exchange::Malformed) => {
                return self.bad(&Reply::with_status(
                    501,
                    (5, 5, 2),
                    "Cannot decode the authentication response",
                ));
            }
            Err(Exchange::Failed(e)) => {
                tracing::info!(error = %e, "AUTH exchange failed");
                return Flow::Close;
            }
        };
        let span =
            tracing::info_span!("smtp.auth", mechanism = creds.mechanism, user = %creds.username);
        let verdict = authenticator
            .authenticate(&self.client, &creds)
            .instrument(span.clone())
            .await;
        let metrics = self.shared.metrics.clone();
        match verdict {
            AuthVerdict::Accept { identity } => {
                metrics.auth("success");
                span.in_scope(|| tracing::info!(%identity, "authenticated"));
                tracing::Span::current().record("auth", identity.as_str());
                self.client.auth = Some(identity);
                self.reply(&Reply::with_status(
                    235,
                    (2, 7, 0),
                    "Authentication successful",
                ));
                Flow::Continue
            }
            AuthVerdict::Reject => {
                metrics.auth("failure");
                span.in_scope(|| tracing::info!("authentication failed"));
                self.auth_failures += 1;
                self.reply(&Reply::with_status(
                    535,
                    (5, 7, 8),
                    "Authentication credentials invalid",
                ));
                if self.auth_failures >= self.shared.config.max_auth_failures {
                    self.reply(&Reply::with_status(
                        421,
                        (4, 7, 0),
                        "Too many authentication failures, closing connection",
                    ));
                    return Flow::Close;
                }
                Flow::Continue
            }
            AuthVerdict::TempFail(why) => {
                metrics.auth("tempfail");
                span.in_scope(
                    || tracing::warn!(reason = %why, "authentication could not be checked"),
                );
                self.reply(&Reply::with_status(
                    454,
                    (4, 7, 0),
                    "Temporary authentication failure",
                ));
                Flow::Continue
            }
        }
    }

    /// Sends a `334` challenge and decodes the client's base64 answer.
    async fn challenge(&mut self, conn: &mut Conn, text: &str) -> Result<Vec<u8>, Exchange> {
        // RFC 4954 4: `334 SP [base64]`, no enhanced status code.
        self.wire.raw(format!("334 {text}\r\n").as_bytes());
        let line = self.wire.read_line(conn).await.map_err(Exchange::Failed)?;
        decode(&line)
    }

    async fn plain(
        &mut self,
        conn: &mut Conn,
        initial: Option<String>,
    ) -> Result<Credentials, Exchange> {
        let raw = match initial {
            Some(i) => decode(i.as_bytes())?,
            None => self.challenge(conn, "").await?,
        };
        // RFC 4616 2: [authzid] NUL authcid NUL passwd
        let text = String::from_utf8(raw).map_err(|_| Exchange::Malformed)?;
        let mut parts = text.split('\0');
        let (Some(authzid), Some(user), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Exchange::Malformed);
        };
        if user.is_empty() {
            return Err(Exchange::Malformed);
        }
        Ok(Credentials {
            mechanism: "PLAIN",
            authzid: (!authzid.is_empty() && authzid != user).then(|| authzid.to_string()),
            username: user.to_string(),
            password: pass.to_string(),
        })
    }

    async fn login(
        &mut self,
        conn: &mut Conn,
        initial: Option<String>,
    ) -> Result<Credentials, Exchange> {
        let user = match initial {
            Some(i) => decode(i.as_bytes())?,
            None => self.challenge(conn, "VXNlcm5hbWU6").await?, // "Username:"
        };
        let pass = self.challenge(conn, "UGFzc3dvcmQ6").await?; // "Password:"
        let user = String::from_utf8(user).map_err(|_| Exchange::Malformed)?;
        let pass = String::from_utf8(pass).map_err(|_| Exchange::Malformed)?;
        if user.is_empty() {
            return Err(Exchange::Malformed);
        }
        Ok(Credentials {
            mechanism: "LOGIN",
            authzid: None,
            username: user,
            password: pass,
        })
    }
}

/// `*` cancels (RFC 4954 4); `=` is an empty response.
fn decode(line: &[u8]) -> Result<Vec<u8>, Exchange> {
    let line = line.trim_ascii();
    match line {
        b"*" => Err(Exchange::Cancelled),
        b"=" | b"" => Ok(Vec::new()),
        _ => STANDARD.decode(line).map_err(|_| Exchange::Malformed),
    }
}
