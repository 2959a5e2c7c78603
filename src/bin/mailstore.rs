//! `mailstore`: a message store (data tier). It takes mail over LMTP
//! (and a guaranteed-delivery LMTP listener that ignores quota), serves
//! IMAP and POP3 to users, and the `store.admin.v1` gRPC API to operators
//! (mutual TLS with the deployment CA); see docs/store.md.

use mail_core::service::{self, Started};
use mail_mailstore::MailstoreConfig;

/// jemalloc rather than glibc's malloc: a store serves many sessions whose
/// large responses (a FETCH of big messages, a content SEARCH) come and
/// go; jemalloc gives that memory back to the system, glibc's per-thread
/// arenas kept about 38 MiB of it (tests/imap_memory.rs, docs/imap.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    service::main::<MailstoreConfig, _, _>("mailstore", |cfg, ctx| async move {
        mail_mailstore::start(cfg, &ctx).await?;
        Ok(Started::Ready)
    })
}
