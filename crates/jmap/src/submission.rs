//! EmailSubmission/get and /set (RFC 8621 7): sending goes to the
//! outbound relay by SMTP submission, so routing, queues, retries and
//! DSNs stay the MTA's.
//!
//! The store authenticates as itself for the user: `AUTH PLAIN` with the
//! authorization identity = the user's uid, the authentication identity =
//! `[http.submission] identity` and its secret, over TLS. The relay
//! accepts that only from its configured `[proxy]` identities and
//! networks and still checks that the envelope sender is one of the
//! user's addresses (docs/relays.md). A submission is `final` once the
//! relay has queued it (`250`); `deliveryStatus` carries the relay's
//! replies per recipient.

use std::time::Duration;

use base64::Engine;
use mail_jmap_proto::args::{GetArgs, SetArgs};
use mail_jmap_proto::{MethodError, SetError, property};
use rustls_pki_types::ServerName;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::{Args, Ctx, Outcome};
use crate::config::{RelayTls, SubmissionConfig};
use crate::email::{email_id, parse_email_id};
use crate::mailbox::set_response;

/// The relay connection settings, loaded once.
pub(crate) struct Relay {
    cfg: SubmissionConfig,
    secret: String,
    tls: tokio_rustls::TlsConnector,
}

impl Relay {
    pub(crate) fn new(cfg: &SubmissionConfig) -> Result<Self, crate::Error> {
        let secret = mail_core::trusted_proxy::read_secret(&cfg.secret_file)
            .map_err(crate::Error::Secret)?;
        let client = mail_core::tls::client_config(cfg.ca_file.as_deref())?;
        Ok(Self {
            cfg: cfg.clone(),
            secret: String::from_utf8_lossy(&secret).into_owned(),
            tls: tokio_rustls::TlsConnector::from(client),
        })
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A reply: code and text lines.
type Reply = (u16, String);

struct Smtp<S> {
    io: S,
    buf: Vec<u8>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Smtp<S> {
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(p) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=p).collect();
                return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            if self.buf.len() > 65536 {
                return Err("reply line too long".into());
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(self.timeout, self.io.read(&mut chunk))
                .await
                .map_err(|_| "relay timed out".to_string())?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("relay closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn reply(&mut self) -> Result<Reply, String> {
        let mut text = Vec::new();
        loop {
            let l = self.line().await?;
            let code: u16 = l
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("bad reply {l:?}"))?;
            text.push(l.get(4..).unwrap_or("").to_string());
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, format!("{code} {}", text.join(" "))));
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> Result<Reply, String> {
        let data = format!("{line}\r\n");
        tokio::time::timeout(self.timeout, self.io.write_all(data.as_bytes()))
            .await
            .map_err(|_| "relay timed out".to_string())?
            .map_err(|e| e.to_string())?;
        self.reply().await
    }
}

/// What the relay said about one message.
struct Sent {
    rcpt: Vec<(String, String)>,
}

/// Why the relay did not take the message.
enum SendError {
    /// A 5xx (or a refusal of every recipient): the client must change something.
    Refused(String, Vec<String>),
    /// Network, TLS, 4xx: try again later.
    Temporary(String),
}

impl Relay {
    async fn send(
        &self,
        user: &str,
        from: &str,
        to: &[String],
        data: &[u8],
    ) -> Result<Sent, SendError> {
        let temp = SendError::Temporary;
        let c = &self.cfg;
        let tcp = tokio::time::timeout(c.timeout, TcpStream::connect(c.relay.as_str()))
            .await
            .map_err(|_| temp("connecting to the relay timed out".into()))?
            .map_err(|e| temp(format!("relay {}: {e}", c.relay)))?;
        let name = ServerName::try_from(c.server_name.clone()).map_err(|e| temp(e.to_string()))?;
        let expect = |r: Reply, want: u16| -> Result<Reply, SendError> {
            if r.0 == want || (want == 250 && r.0 == 251) {
                Ok(r)
            } else if r.0 >= 500 {
                Err(SendError::Refused(r.1, Vec::new()))
            } else {
                Err(SendError::Temporary(r.1))
            }
        };
        let io: Box<dyn Io> = match c.tls {
            RelayTls::Implicit => Box::new(
                self.tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| temp(format!("TLS: {e}")))?,
            ),
            RelayTls::Starttls => {
                let mut p = Smtp {
                    io: tcp,
                    buf: Vec::new(),
                    timeout: c.timeout,
                };
                expect(p.reply().await.map_err(temp)?, 220)?;
                expect(p.cmd(&format!("EHLO {}", c.ehlo)).await.map_err(temp)?, 250)?;
                expect(p.cmd("STARTTLS").await.map_err(temp)?, 220)?;
                Box::new(
                    self.tls
                        .connect(name, p.io)
                        .await
                        .map_err(|e| temp(format!("TLS: {e}")))?,
                )
            }
        };
        let mut s = Smtp {
            io,
            buf: Vec::new(),
            timeout: c.timeout,
        };
        if c.tls == RelayTls::Implicit {
            expect(s.reply().await.map_err(temp)?, 220)?;
        }
        expect(s.cmd(&format!("EHLO {}", c.ehlo)).await.map_err(temp)?, 250)?;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}\0{}\0{}", c.identity, self.secret));
        expect(
            s.cmd(&format!("AUTH PLAIN {token}")).await.map_err(temp)?,
            235,
        )?;
        expect(
            s.cmd(&format!("MAIL FROM:<{from}>")).await.map_err(temp)?,
            250,
        )?;
        let mut rcpt = Vec::new();
        let mut refused = Vec::new();
        for r in to {
            let reply = s.cmd(&format!("RCPT TO:<{r}>")).await.map_err(temp)?;
            if reply.0 == 250 || reply.0 == 251 {
                rcpt.push((r.clone(), reply.1));
            } else if reply.0 >= 500 {
                refused.push(r.clone());
            } else {
                return Err(SendError::Temporary(reply.1));
            }
        }
        if rcpt.is_empty() {
            let _ = s.cmd("QUIT").await;
            return Err(SendError::Refused(
                "every recipient was refused".into(),
                refused,
            ));
        }
        expect(s.cmd("DATA").await.map_err(temp)?, 354)?;
        let mut body = Vec::with_capacity(data.len() + 64);
        for line in data.split_inclusive(|b| *b == b'\n') {
            if line.first() == Some(&b'.') {
                body.push(b'.');
            }
            body.extend_from_slice(line);
        }
        if !body.ends_with(b"\r\n") {
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b".\r\n");
        tokio::time::timeout(Duration::from_secs(300), s.io.write_all(&body))
            .await
            .map_err(|_| temp("relay timed out".into()))?
            .map_err(|e| temp(e.to_string()))?;
        let done = expect(s.reply().await.map_err(temp)?, 250)?;
        let _ = s.cmd("QUIT").await;
        for r in &mut rcpt {
            r.1 = done.1.clone();
        }
        Ok(Sent { rcpt })
    }
}

/// The Bcc header must not go out (RFC 5322 3.6.3, RFC 8621 7.5).
fn strip_bcc(raw: &[u8]) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(raw.len());
    let (head, body) = raw.split_at(end);
    let mut out = Vec::with_capacity(raw.len());
    let mut skipping = false;
    for line in head.split_inclusive(|b| *b == b'\n') {
        let cont = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if cont {
            if !skipping {
                out.extend_from_slice(line);
            }
            continue;
        }
        skipping = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:");
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

fn file(ctx: &Ctx<'_>) -> std::path::PathBuf {
    ctx.shared
        .cfg
        .state_dir
        .join("submissions")
        .join(format!("{}.json", ctx.acc.account_id))
}

fn load(ctx: &Ctx<'_>) -> Vec<Value> {
    std::fs::read(file(ctx))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(ctx: &Ctx<'_>, list: &[Value]) {
    let path = file(ctx);
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    let keep = &list[list.len().saturating_sub(1000)..];
    if let Err(e) = serde_json::to_vec(keep)
        .map_err(std::io::Error::other)
        .and_then(|b| mail_core::service::write_atomically(&path, &b))
    {
        tracing::warn!(error = %e, "submission record not saved");
    }
}

fn state(list: &[Value]) -> String {
    format!("q{}", list.len())
}

/// EmailSubmission/get.
pub(crate) async fn get(ctx: &mut Ctx<'_>, args: &Args) -> Result<Args, MethodError> {
    let a = GetArgs::parse(args, ctx.shared.limits.max_objects_in_get)?;
    ctx.account(args)?;
    let props = property::select(
        a.properties.as_deref(),
        property::EMAIL_SUBMISSION,
        property::EMAIL_SUBMISSION,
        false,
    )?;
    let all = load(ctx);
    let pick = |v: &Value| -> Value {
        let mut o = Map::new();
        for p in &props {
            o.insert(p.clone(), v.get(p).cloned().unwrap_or(Value::Null));
        }
        Value::Object(o)
    };
    let (mut list, mut not_found) = (Vec::new(), Vec::new());
    match a.ids {
        None => list.extend(all.iter().map(pick)),
        Some(ids) => {
            for id in ids {
                let rid = ctx.resolve_id(&id).unwrap_or_default();
                match all
                    .iter()
                    .find(|v| v.get("id").and_then(Value::as_str) == Some(&rid))
                {
                    Some(v) => list.push(pick(v)),
                    None => not_found.push(json!(id)),
                }
            }
        }
    }
    let mut out = Map::new();
    out.insert("accountId".into(), json!(ctx.acc.account_id));
    out.insert("state".into(), json!(state(&all)));
    out.insert("list".into(), Value::Array(list));
    out.insert("notFound".into(), Value::Array(not_found));
    Ok(out)
}

fn addrs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("email").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn create_one(
    ctx: &mut Ctx<'_>,
    obj: &Map<String, Value>,
    seq: usize,
) -> Result<Value, SetError> {
    let Some(relay) = ctx.shared.relay.as_ref() else {
        return Err(SetError::forbidden(
            "this store has no [http.submission] relay",
        ));
    };
    let identities = crate::identity::all(ctx);
    let ident_id = obj
        .get("identityId")
        .and_then(Value::as_str)
        .and_then(|i| ctx.resolve_id(i))
        .ok_or_else(|| SetError::invalid_properties(&["identityId"], "required"))?;
    let ident = identities
        .get(&ident_id)
        .cloned()
        .ok_or_else(|| SetError::invalid_properties(&["identityId"], "no such identity"))?;
    let email_ref = obj
        .get("emailId")
        .and_then(Value::as_str)
        .ok_or_else(|| SetError::invalid_properties(&["emailId"], "required"))?;
    let email = ctx
        .resolve_id(email_ref)
        .ok_or_else(|| SetError::invalid_properties(&["emailId"], "unknown creation id"))?;
    let digest = parse_email_id(&email)
        .ok_or_else(|| SetError::invalid_properties(&["emailId"], "not an Email id"))?
        .to_string();
    let s = ctx
        .snapshot()
        .await
        .map_err(|e| SetError::new("serverFail", e.to_string()))?;
    let locs = s
        .locate(&digest)
        .cloned()
        .ok_or_else(|| SetError::invalid_properties(&["emailId"], "no such Email"))?;
    let thread = s.row(locs[0]).thread.to_string();
    let raw = crate::email::get::read(ctx, &s, locs[0])
        .await
        .map_err(|e| SetError::new("serverFail", e.to_string()))?;
    let msg = crate::email::body::parse(&raw)
        .ok_or_else(|| SetError::new("invalidEmail", "the message cannot be parsed"))?;
    let mut header_props = Map::new();
    crate::email::body::message_properties(
        &msg,
        "",
        &["from".into(), "to".into(), "cc".into(), "bcc".into()],
        &Default::default(),
        &mut header_props,
    );
    let owned = crate::identity::owned(ctx);
    let from_hdr = addrs(&header_props["from"]);
    if from_hdr.is_empty()
        || !from_hdr
            .iter()
            .all(|f| owned.iter().any(|o| o.eq_ignore_ascii_case(f)))
    {
        return Err(SetError::new(
            "forbiddenFrom",
            "the From header must be one of your addresses",
        ));
    }
    let (mail_from, rcpt): (String, Vec<String>) = match obj.get("envelope") {
        None | Some(Value::Null) => {
            let mut r = Vec::new();
            for k in ["to", "cc", "bcc"] {
                for a in addrs(&header_props[k]) {
                    if !r.iter().any(|x: &String| x.eq_ignore_ascii_case(&a)) {
                        r.push(a);
                    }
                }
            }
            (ident.email.clone(), r)
        }
        Some(e) => {
            let from = e
                .get("mailFrom")
                .and_then(|m| m.get("email"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            (from, addrs(e.get("rcptTo").unwrap_or(&Value::Null)))
        }
    };
    if !owned.iter().any(|o| o.eq_ignore_ascii_case(&mail_from)) {
        return Err(SetError::new(
            "forbiddenMailFrom",
            "the envelope sender must be one of your addresses",
        ));
    }
    if rcpt.is_empty() {
        return Err(SetError::new("noRecipients", "no recipients"));
    }
    if rcpt
        .iter()
        .chain([&mail_from])
        .any(|a| a.contains(['<', '>', '\r', '\n', ' ']))
    {
        return Err(SetError::new(
            "invalidRecipients",
            "an address is malformed",
        ));
    }
    let data = strip_bcc(&raw);
    match relay.send(&ctx.acc.uid, &mail_from, &rcpt, &data).await {
        Ok(sent) => {
            let mut status = Map::new();
            for (r, reply) in sent.rcpt {
                status.insert(
                    r,
                    json!({"smtpReply": reply, "delivered": "queued", "displayed": "unknown"}),
                );
            }
            let id = format!(
                "s{}{:04}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis()),
                seq
            );
            Ok(json!({
                "id": id, "identityId": ident_id, "emailId": email_id(&digest), "threadId": thread,
                "envelope": {"mailFrom": {"email": mail_from, "parameters": null},
                             "rcptTo": rcpt.iter().map(|r| json!({"email": r, "parameters": null})).collect::<Vec<_>>()},
                "sendAt": crate::email::utc_date(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)),
                "undoStatus": "final", "deliveryStatus": status, "dsnBlobIds": [], "mdnBlobIds": [],
            }))
        }
        Err(SendError::Refused(why, bad)) if !bad.is_empty() => {
            let mut e = SetError::new("invalidRecipients", why);
            e.properties = Some(bad);
            Err(e)
        }
        Err(SendError::Refused(why, _)) => Err(SetError::new("forbiddenToSend", why)),
        Err(SendError::Temporary(why)) => {
            tracing::warn!(error = %why, "relay unavailable for EmailSubmission");
            Err(SetError::new(
                "forbiddenToSend",
                format!("the relay is unavailable, try again: {why}"),
            ))
        }
    }
}

/// EmailSubmission/set, with the implicit Email/set of
/// `onSuccessUpdateEmail` / `onSuccessDestroyEmail` (RFC 8621 7.5).
pub(crate) async fn set(ctx: &mut Ctx<'_>, args: &Args) -> Outcome {
    let a = SetArgs::parse(args, ctx.shared.limits.max_objects_in_set)?;
    ctx.account(args)?;
    let mut all = load(ctx);
    let old_state = state(&all);
    if let Some(want) = &a.if_in_state
        && *want != old_state
    {
        return Err(MethodError::state_mismatch(""));
    }
    let (mut created, mut not_created) = (Map::new(), Map::new());
    let mut created_ids: Vec<(String, String, String)> = Vec::new();
    for (i, (cid, obj)) in a.create.iter().enumerate() {
        match create_one(ctx, obj, i).await {
            Ok(v) => {
                let id = v["id"].as_str().unwrap_or_default().to_string();
                let email = v["emailId"].as_str().unwrap_or_default().to_string();
                ctx.remember(cid, &id);
                created_ids.push((cid.clone(), id.clone(), email));
                all.push(v);
                created.insert(cid.clone(), json!({"id": id, "undoStatus": "final"}));
            }
            Err(e) => {
                not_created.insert(cid.clone(), e.to_value());
            }
        }
    }
    let mut not_updated = Map::new();
    for (id, _) in &a.update {
        not_updated.insert(
            id.clone(),
            SetError::new("cannotUnsend", "submissions are final once queued").to_value(),
        );
    }
    let mut not_destroyed = Map::new();
    let mut destroyed = Vec::new();
    for id in &a.destroy {
        let before = all.len();
        all.retain(|v| v.get("id").and_then(Value::as_str) != Some(id));
        if all.len() < before {
            destroyed.push(json!(id));
        } else {
            not_destroyed.insert(id.clone(), SetError::not_found().to_value());
        }
    }
    save(ctx, &all);
    let new_state = state(&all);
    let resp = set_response(
        ctx,
        old_state,
        new_state,
        created,
        not_created,
        Map::new(),
        not_updated,
        destroyed,
        not_destroyed,
    );
    let mut out: Vec<(&'static str, Args)> = vec![("EmailSubmission/set", resp)];
    // The implicit Email/set, for the submissions that succeeded.
    let email_for = |r: &str| -> Option<String> {
        let key = r.strip_prefix('#');
        created_ids
            .iter()
            .find(|(cid, id, _)| key.map_or(id == r, |k| k == cid))
            .map(|(_, _, e)| e.clone())
    };
    let mut update = Map::new();
    if let Some(Value::Object(m)) = args.get("onSuccessUpdateEmail") {
        for (k, patch) in m {
            if let Some(e) = email_for(k) {
                update.insert(e, patch.clone());
            }
        }
    }
    let mut destroy = Vec::new();
    if let Some(Value::Array(list)) = args.get("onSuccessDestroyEmail") {
        for k in list.iter().filter_map(Value::as_str) {
            if let Some(e) = email_for(k) {
                destroy.push(json!(e));
            }
        }
    }
    if !update.is_empty() || !destroy.is_empty() {
        let mut eargs = Map::new();
        eargs.insert("accountId".into(), json!(ctx.acc.account_id));
        eargs.insert("update".into(), Value::Object(update));
        eargs.insert("destroy".into(), Value::Array(destroy));
        let r = crate::email::set::set(ctx, &eargs).await?;
        out.push(("Email/set", r));
    }
    Ok(out)
}
