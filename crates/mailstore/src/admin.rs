//! The store's administration API (`store.admin.v1.StoreAdmin`, gRPC), used
//! by `mailctl store` and to move users between stores.
//!
//! Quota limits belong to the directory: `GetQuota` reports the directory's
//! limits with the store's usage, and `SetQuota` changes the directory
//! entry (through the same cached handle LMTP uses, whose cache a change
//! clears), so the next delivery enforces the new limits.
//!
//! Callers are authenticated by mutual TLS with the deployment CA and
//! every method is for operators only ([`policy`]); without `[admin.tls]`
//! the API is unauthenticated and listens on loopback only (see
//! [`AdminConfig`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mail_core::Shutdown;
use mail_core::grpc::{GrpcError, Role, ServerTls};
use mail_directory::{Directory, DirectoryError, User, UserChange};
use mail_proto::store::admin::v1::store_admin_server::{StoreAdmin, StoreAdminServer};
use mail_proto::store::admin::v1::{
    ExportChunk, ImportChunk, ImportResponse, Mailbox, MailboxList, Quota, QuotaReportEntry,
    QuotaReportRequest, QuotaReportResponse, ReconstructRequest, ReconstructResponse,
    RestoreUserRequest, RestoreUserResponse, SetQuotaRequest, SnapshotRequest, SnapshotResponse,
    UserRef,
};
use mail_store::{MailboxPath, QuotaUsage, Scope, Store, StoreError};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// `[admin]`: where the gRPC admin API listens and who may call it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address and port (port 0 picks one; it is published as
    /// `admin_grpc`). Without `tls`, loopback only.
    pub listen: SocketAddr,
    /// Mutual TLS with the deployment CA; `allow.operator` lists who may
    /// call. Without it the API is plaintext and unauthenticated.
    #[serde(default)]
    pub tls: Option<ServerTls>,
    /// Serve plaintext on a non-loopback `listen` anyway: only where the
    /// network authenticates callers itself (a service mesh's mutual TLS).
    #[serde(default)]
    pub insecure_plaintext: bool,
}

impl mail_core::Validate for AdminConfig {
    fn validate(&self, v: &mut mail_core::Validator) {
        mail_core::grpc::check_listen(v, &self.listen, self.tls.as_ref(), self.insecure_plaintext);
        if let Some(t) = &self.tls {
            v.section("tls", |v| t.check(v, &[Role::Operator]));
        }
    }
}

/// Every method is an operator's: the API reads and changes any user's
/// mail and limits.
pub fn policy(method: &str) -> &'static [Role] {
    match method {
        "GetQuota" | "SetQuota" | "QuotaReport" | "ListMailboxes" | "Reconstruct" | "Snapshot"
        | "ExportUser" | "ImportUser" | "RestoreUser" => &[Role::Operator],
        _ => &[],
    }
}

/// Maps a store error to the gRPC code a client can act on.
pub fn status(e: StoreError) -> Status {
    let msg = e.to_string();
    match e {
        StoreError::MailboxNotFound { .. } | StoreError::NoSuchMessage(_) => Status::not_found(msg),
        StoreError::MailboxExists { .. } => Status::already_exists(msg),
        StoreError::InvalidName(_)
        | StoreError::Invalid(_)
        | StoreError::UnknownPartition(_)
        | StoreError::Archive { .. } => Status::invalid_argument(msg),
        StoreError::HasChildren(_) => Status::failed_precondition(msg),
        StoreError::PermissionDenied { .. } => Status::permission_denied(msg),
        StoreError::OverQuotaTemporary { .. } | StoreError::OverQuotaPermanent => {
            Status::resource_exhausted(msg)
        }
        StoreError::Corrupt { .. } => Status::data_loss(msg),
        e if e.is_temporary() => Status::unavailable(msg),
        _ => Status::internal(msg),
    }
}

fn dir_status(e: DirectoryError) -> Status {
    match &e {
        DirectoryError::NotFound(_) => Status::not_found(e.to_string()),
        DirectoryError::InvalidInput { .. } => Status::invalid_argument(e.to_string()),
        _ if e.is_temporary() => Status::unavailable(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

fn need(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(format!("{field} is required")))
    } else {
        Ok(())
    }
}

fn absolute(field: &str, value: &str) -> Result<PathBuf, Status> {
    let p = PathBuf::from(value);
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(Status::invalid_argument(format!(
            "{field} must be an absolute path on the store's machine, not {value:?}"
        )))
    }
}

/// The admin service over one store and the directory. Cheap to clone.
#[derive(Clone)]
pub struct AdminService {
    store: Store,
    directory: Arc<dyn Directory>,
}

impl std::fmt::Debug for AdminService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminService").finish_non_exhaustive()
    }
}

impl AdminService {
    /// A service over `store`, with limits from `directory`.
    pub fn new(store: Store, directory: Arc<dyn Directory>) -> Self {
        Self { store, directory }
    }

    /// Binds `config.listen` and serves until shutdown; returns the bound
    /// address.
    pub async fn serve(
        &self,
        config: &AdminConfig,
        shutdown: &Shutdown,
    ) -> Result<SocketAddr, GrpcError> {
        let svc = StoreAdminServer::new(self.clone());
        mail_core::grpc::serve(
            "store.admin.v1",
            config.listen,
            config.tls.as_ref(),
            policy,
            svc,
            shutdown,
        )
        .await
    }

    async fn directory_user(&self, uid: &str) -> Result<Option<User>, Status> {
        self.directory.user(uid).await.map_err(dir_status)
    }

    async fn store_has_user(&self, uid: &str) -> Result<bool, Status> {
        let u = uid.to_string();
        self.store
            .run(move |s| match s.open_mailbox(&u, &MailboxPath::inbox(&u)) {
                Ok(_) => Ok(true),
                Err(StoreError::MailboxNotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            })
            .await
            .map_err(status)
    }

    fn quota(&self, usage: &QuotaUsage, user: Option<&User>) -> Quota {
        // The directory is the authority; the store's copy of the last
        // limits it was given only fills in when the entry is gone.
        let (bytes, messages) = match user {
            Some(u) => (u.quota.bytes, u.quota.messages),
            None => (usage.limits.bytes, usage.limits.messages),
        };
        Quota {
            bytes_limit: bytes.unwrap_or(0),
            bytes_used: usage.bytes,
            messages_limit: messages.unwrap_or(0),
            messages_used: usage.messages,
            warn_percent: u32::from(self.store.config().quota.warn_percent),
            over_since: usage.over_since.map_or(0, |ms| ms / 1000),
        }
    }

    async fn get_quota_of(&self, uid: &str) -> Result<Quota, Status> {
        need("user", uid)?;
        let user = self.directory_user(uid).await?;
        if user.is_none() && !self.store_has_user(uid).await? {
            return Err(Status::not_found(format!(
                "{uid} is neither in the directory nor in this store"
            )));
        }
        let u = uid.to_string();
        let usage = self
            .store
            .run(move |s| s.quota_usage(&u))
            .await
            .map_err(status)?;
        Ok(self.quota(&usage, user.as_ref()))
    }

    /// The user's own mailboxes with their STATUS counters.
    async fn mailboxes(&self, uid: &str) -> Result<Vec<Mailbox>, Status> {
        let u = uid.to_string();
        let list = self
            .store
            .run(move |s| {
                let subs = s.subscriptions(&u)?;
                let mut out = Vec::new();
                for m in s.list(&u)? {
                    if m.path.owner != u {
                        continue;
                    }
                    let mb = match s.open_mailbox(&u, &m.path) {
                        Ok(mb) => mb,
                        Err(StoreError::MailboxNotFound { .. }) => continue,
                        Err(e) => return Err(e),
                    };
                    let st = s.status(&mb)?;
                    out.push(Mailbox {
                        name: m.path.name.clone(),
                        uidvalidity: st.uidvalidity,
                        uidnext: st.uidnext,
                        highest_modseq: st.highestmodseq,
                        messages: st.messages,
                        bytes: st.size,
                        special_use: m
                            .special_use
                            .map(|s| s.attribute().to_string())
                            .unwrap_or_default(),
                        subscribed: subs.contains(&m.path),
                        unseen: st.unseen,
                    });
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            })
            .await
            .map_err(status)?;
        if list.is_empty() {
            return Err(Status::not_found(format!("{uid} has no mailboxes here")));
        }
        Ok(list)
    }
}

/// Sends export output to the response stream in chunks; fails once the
/// client has gone, which stops the export.
struct ChunkWriter {
    tx: mpsc::Sender<Result<ExportChunk, Status>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        self.tx
            .blocking_send(Ok(ExportChunk { data }))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// Feeds the import stream to the blocking importer.
struct ChunkReader {
    rx: mpsc::Receiver<Result<Vec<u8>, String>>,
    cur: Vec<u8>,
    pos: usize,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(data)) => {
                    self.cur = data;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The user an archive header names (`TIERMAIL-EXPORT 1 <user>`), if the
/// bytes so far hold the whole header line.
fn header_user(head: &[u8]) -> Option<Result<String, Status>> {
    let end = head.iter().position(|b| *b == b'\n')?;
    let line = String::from_utf8_lossy(&head[..end]);
    let mut parts = line.splitn(3, ' ');
    Some(match (parts.next(), parts.next(), parts.next()) {
        (Some(mail_store::EXPORT_MAGIC), Some(_), Some(u)) if !u.is_empty() => Ok(u.to_string()),
        _ => Err(Status::invalid_argument(
            "not an export archive (no TIERMAIL-EXPORT header)",
        )),
    })
}

fn count(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count(&p) } else { 1 }
        })
        .sum()
}

#[tonic::async_trait]
impl StoreAdmin for AdminService {
    async fn get_quota(&self, req: Request<UserRef>) -> Result<Response<Quota>, Status> {
        let uid = req.into_inner().user;
        Ok(Response::new(self.get_quota_of(&uid).await?))
    }

    async fn set_quota(&self, req: Request<SetQuotaRequest>) -> Result<Response<Quota>, Status> {
        let r = req.into_inner();
        need("user", &r.user)?;
        let change = UserChange {
            quota_bytes: Some(r.bytes_limit),
            quota_messages: Some(r.messages_limit),
            ..UserChange::default()
        };
        self.directory
            .modify_user(&r.user, &change)
            .await
            .map_err(dir_status)?;
        tracing::info!(user = %r.user, bytes = r.bytes_limit, messages = r.messages_limit, "quota changed in the directory");
        Ok(Response::new(self.get_quota_of(&r.user).await?))
    }

    async fn quota_report(
        &self,
        _req: Request<QuotaReportRequest>,
    ) -> Result<Response<QuotaReportResponse>, Status> {
        let usages = self.store.run(|s| s.quota_report()).await.map_err(status)?;
        let mut entries = Vec::with_capacity(usages.len());
        for u in usages {
            // A directory hiccup must not hide the report: fall back to the
            // limits the store last saw.
            let user = self.directory.user(&u.user).await.ok().flatten();
            entries.push(QuotaReportEntry {
                quota: Some(self.quota(&u, user.as_ref())),
                user: u.user,
            });
        }
        entries.sort_by(|a, b| a.user.cmp(&b.user));
        Ok(Response::new(QuotaReportResponse { entries }))
    }

    async fn list_mailboxes(&self, req: Request<UserRef>) -> Result<Response<MailboxList>, Status> {
        let uid = req.into_inner().user;
        need("user", &uid)?;
        Ok(Response::new(MailboxList {
            mailboxes: self.mailboxes(&uid).await?,
        }))
    }

    async fn reconstruct(
        &self,
        req: Request<ReconstructRequest>,
    ) -> Result<Response<ReconstructResponse>, Status> {
        let r = req.into_inner();
        let scope = match (r.all, r.user.is_empty()) {
            (true, true) => Scope::All,
            (false, false) => Scope::User(r.user),
            (true, false) => return Err(Status::invalid_argument("give a user or all, not both")),
            (false, true) => return Err(Status::invalid_argument("give a user or all = true")),
        };
        tracing::info!(?scope, "reconstruct");
        let rep = self
            .store
            .run(move |s| s.reconstruct(scope))
            .await
            .map_err(status)?;
        Ok(Response::new(ReconstructResponse {
            users: u32::try_from(rep.users).unwrap_or(u32::MAX),
            mailboxes: u32::try_from(rep.mailboxes).unwrap_or(u32::MAX),
            messages: rep.messages as u64,
        }))
    }

    async fn snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        let dest = absolute("destination", &req.into_inner().destination)?;
        let d = dest.clone();
        let files = self
            .store
            .run(move |s| {
                s.snapshot(&d)?;
                Ok(count(&d.join("partitions")))
            })
            .await
            .map_err(status)?;
        tracing::info!(path = %dest.display(), files, "snapshot taken");
        Ok(Response::new(SnapshotResponse {
            path: dest.display().to_string(),
            files,
        }))
    }

    type ExportUserStream = ReceiverStream<Result<ExportChunk, Status>>;

    async fn export_user(
        &self,
        req: Request<UserRef>,
    ) -> Result<Response<Self::ExportUserStream>, Status> {
        let uid = req.into_inner().user;
        need("user", &uid)?;
        // Refuse an unknown user with a status, not a broken stream.
        if !self.store_has_user(&uid).await? {
            return Err(Status::not_found(format!("{uid} has no mailboxes here")));
        }
        let (tx, rx) = mpsc::channel(8);
        let store = self.store.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _g = span.enter();
            let mut w = ChunkWriter {
                tx: tx.clone(),
                buf: Vec::new(),
            };
            match store.export_user(&uid, &mut w) {
                Ok(rep) => {
                    tracing::info!(user = %uid, mailboxes = rep.mailboxes, messages = rep.messages, bytes = rep.bytes, "user exported");
                }
                Err(e) => {
                    tracing::warn!(user = %uid, error = %e, "export failed");
                    let _ = tx.blocking_send(Err(status(e)));
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn import_user(
        &self,
        req: Request<Streaming<ImportChunk>>,
    ) -> Result<Response<ImportResponse>, Status> {
        let mut stream = req.into_inner();
        // Read until the header line is complete: the target user (and so
        // the partition the directory gives it) may come from it.
        let mut head = Vec::new();
        let mut asked = None;
        let source = loop {
            let Some(chunk) = stream.message().await? else {
                return Err(Status::invalid_argument("empty import stream"));
            };
            if asked.is_none() {
                asked = Some(chunk.user);
            }
            head.extend_from_slice(&chunk.data);
            if let Some(u) = header_user(&head) {
                break u?;
            }
            if head.len() > 4096 {
                return Err(Status::invalid_argument(
                    "not an export archive (no header line)",
                ));
            }
        };
        let target = asked.filter(|u| !u.is_empty()).unwrap_or(source);
        let user = self.directory_user(&target).await?.ok_or_else(|| {
            Status::not_found(format!(
                "{target} is not in the directory: add the account before importing its mail"
            ))
        })?;
        let (tx, rx) = mpsc::channel(8);
        tx.send(Ok(head)).await.ok();
        // The forwarder ends when the client's stream ends or the importer
        // stops reading (it drops the receiver).
        tokio::spawn(async move {
            loop {
                let item = match stream.message().await {
                    Ok(Some(c)) => Ok(c.data),
                    Ok(None) => return,
                    Err(e) => Err(format!("import stream broke: {}", e.message())),
                };
                let last = item.is_err();
                if tx.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        let partition = user.partition.clone();
        let t = target.clone();
        let rep = self
            .store
            .run(move |s| {
                let mut r = ChunkReader {
                    rx,
                    cur: Vec::new(),
                    pos: 0,
                };
                s.import_user(&t, partition.as_deref(), &mut r)
            })
            .await
            .map_err(|e| {
                tracing::warn!(user = %target, error = %e, "import failed");
                status(e)
            })?;
        tracing::info!(user = %target, from = %rep.source_user, mailboxes = rep.mailboxes, messages = rep.messages, "user imported");
        Ok(Response::new(ImportResponse {
            mailboxes: u32::try_from(rep.mailboxes).unwrap_or(u32::MAX),
            messages: rep.messages,
            user: target,
            source_user: rep.source_user,
            bytes: rep.bytes,
        }))
    }

    async fn restore_user(
        &self,
        req: Request<RestoreUserRequest>,
    ) -> Result<Response<RestoreUserResponse>, Status> {
        let r = req.into_inner();
        need("user", &r.user)?;
        let snap = absolute("snapshot", &r.snapshot)?;
        if !snap.join("db").is_dir() {
            return Err(Status::invalid_argument(format!(
                "{} is not a snapshot (no db/ inside)",
                snap.display()
            )));
        }
        let u = r.user.clone();
        self.store
            .run(move |s| s.restore_user(&snap, &u))
            .await
            .map_err(status)?;
        tracing::info!(user = %r.user, snapshot = %r.snapshot, "user restored from snapshot");
        let boxes = self.mailboxes(&r.user).await?;
        Ok(Response::new(RestoreUserResponse {
            mailboxes: u32::try_from(boxes.len()).unwrap_or(u32::MAX),
            messages: boxes.iter().map(|m| u64::from(m.messages)).sum(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_core::{Validate, Validator};

    fn problems(listen: &str, insecure_plaintext: bool) -> usize {
        let cfg = AdminConfig {
            listen: listen.parse().unwrap(),
            tls: None,
            insecure_plaintext,
        };
        let mut v = Validator::new();
        cfg.validate(&mut v);
        v.problems().len()
    }

    #[test]
    fn plaintext_only_on_loopback_unless_declared_insecure() {
        for ok in ["127.0.0.1:0", "127.0.0.9:7025", "[::1]:0"] {
            assert_eq!(problems(ok, false), 0, "{ok}");
        }
        for bad in [
            "0.0.0.0:7025",
            "10.1.2.3:7025",
            "203.0.113.5:7025",
            "[::]:0",
            "[fd00::1]:0",
        ] {
            assert_eq!(problems(bad, false), 1, "{bad}");
            assert_eq!(problems(bad, true), 0, "{bad}");
        }
    }

    #[test]
    fn every_method_is_for_operators_only() {
        for m in ["GetQuota", "SetQuota", "ExportUser", "RestoreUser"] {
            assert_eq!(policy(m), &[Role::Operator], "{m}");
        }
        assert!(policy("Unknown").is_empty());
    }

    #[test]
    fn store_errors_map_to_actionable_codes() {
        use tonic::Code;
        let nf = StoreError::MailboxNotFound {
            owner: "a".into(),
            name: "INBOX".into(),
        };
        assert_eq!(status(nf).code(), Code::NotFound);
        assert_eq!(
            status(StoreError::Invalid("x".into())).code(),
            Code::InvalidArgument
        );
        assert_eq!(
            status(StoreError::Commit("stopped".into())).code(),
            Code::Unavailable
        );
        let cut = StoreError::Archive {
            record: 3,
            offset: 10,
            message: "truncated".into(),
        };
        assert_eq!(status(cut).code(), Code::InvalidArgument);
    }
}
