//! `POST /jmap/api`: the request object, method dispatch, result
//! references and creation ids (RFC 8620 3).

use std::sync::Arc;

use axum::body::Body;
use hyper::{Response, StatusCode};
use mail_jmap_proto::request::Invocation;
use mail_jmap_proto::{Capability, MethodError, Request, reference};
use mail_store::StoreError;
use serde_json::{Map, Value};

use crate::Shared;
use crate::auth::Account;
use crate::http::{json_response, request_error};
use crate::index::Snapshot;

/// Arguments of a method response.
pub(crate) type Args = Map<String, Value>;

/// What one method call returns: its response (and any implicit ones, as
/// EmailSubmission/set's Email/set, RFC 8621 7.5).
pub(crate) type Outcome = Result<Vec<(&'static str, Args)>, MethodError>;

/// The state of one API request while its calls run.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Arc<Shared>,
    pub acc: &'a Account,
    /// Creation id -> server id, for `#creationId` references (RFC 8620 5.3).
    pub created: Map<String, Value>,
    responses: Vec<Invocation>,
}

/// A store error as a method error: temporary ones are
/// `serverUnavailable`, the rest `serverFail`.
pub(crate) fn store_err(e: &StoreError) -> MethodError {
    if e.is_temporary() {
        MethodError::server_unavailable(e.to_string())
    } else {
        MethodError::server_fail(e.to_string())
    }
}

/// A store error as the SetError of one object (RFC 8620 5.3, RFC 8621).
pub(crate) fn set_err(e: &StoreError) -> mail_jmap_proto::SetError {
    use mail_jmap_proto::SetError;
    match e {
        StoreError::MailboxExists { .. } => SetError::new("alreadyExists", e.to_string()),
        StoreError::InvalidName(_) => SetError::invalid_properties(&["name"], e.to_string()),
        StoreError::HasChildren(_) => SetError::new("mailboxHasChild", e.to_string()),
        StoreError::MailboxNotFound { .. } | StoreError::NoSuchMessage(_) => SetError::not_found(),
        StoreError::PermissionDenied { .. } => SetError::forbidden(e.to_string()),
        StoreError::OverQuotaTemporary { .. } | StoreError::OverQuotaPermanent => {
            SetError::new("overQuota", e.to_string())
        }
        StoreError::Invalid(_) => SetError::new("invalidProperties", e.to_string()),
        _ => SetError::new("serverFail", e.to_string()),
    }
}

impl Ctx<'_> {
    /// Checks `accountId` (RFC 8620 3.6.2 `accountNotFound`).
    pub(crate) fn account(&self, args: &Args) -> Result<(), MethodError> {
        let id = mail_jmap_proto::args::account_id(args)?;
        if id == self.acc.account_id {
            Ok(())
        } else {
            Err(MethodError::account_not_found(""))
        }
    }

    /// An id, or the id a `#creationId` reference stands for.
    pub(crate) fn resolve_id(&self, id: &str) -> Option<String> {
        match id.strip_prefix('#') {
            Some(cid) => self
                .created
                .get(cid)
                .and_then(Value::as_str)
                .map(str::to_string),
            None => Some(id.to_string()),
        }
    }

    /// Remembers a created object's id.
    pub(crate) fn remember(&mut self, creation_id: &str, id: &str) {
        self.created
            .insert(creation_id.to_string(), Value::String(id.to_string()));
    }

    /// The account as it is now.
    pub(crate) async fn snapshot(&self) -> Result<Arc<Snapshot>, MethodError> {
        let shared = self.shared.clone();
        let uid = self.acc.uid.clone();
        let partition = self.acc.partition.clone();
        self.shared
            .store
            .run(move |s| {
                // A user's tree (and INBOX) is made on first use, as IMAP does.
                s.ensure_user(&uid, partition.as_deref())?;
                shared.index.snapshot(s, &uid)
            })
            .await
            .map(Arc::new)
            .map_err(|e| store_err(&e))
    }

    /// Runs blocking store work.
    pub(crate) async fn store<T, F>(&self, f: F) -> Result<T, MethodError>
    where
        F: FnOnce(&mail_store::Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.shared.store.run(f).await.map_err(|e| store_err(&e))
    }
}

fn capability_of(method: &str) -> Option<Capability> {
    let (kind, _) = method.split_once('/')?;
    Some(match kind {
        "Core" => Capability::Core,
        "Mailbox" | "Email" | "Thread" | "SearchSnippet" => Capability::Mail,
        "Identity" | "EmailSubmission" => Capability::Submission,
        "VacationResponse" => Capability::VacationResponse,
        _ => return None,
    })
}

async fn dispatch(ctx: &mut Ctx<'_>, name: &str, args: Args) -> Outcome {
    use crate::{email, identity, mailbox, search_snippet, submission, thread, vacation};
    let one = |n: &'static str, r: Result<Args, MethodError>| r.map(|a| vec![(n, a)]);
    match name {
        // RFC 8620 4.
        "Core/echo" => Ok(vec![("Core/echo", args)]),
        "Mailbox/get" => one("Mailbox/get", mailbox::get(ctx, &args).await),
        "Mailbox/changes" => one("Mailbox/changes", mailbox::changes(ctx, &args).await),
        "Mailbox/query" => one("Mailbox/query", mailbox::query(ctx, &args).await),
        "Mailbox/queryChanges" => one(
            "Mailbox/queryChanges",
            mailbox::query_changes(ctx, &args).await,
        ),
        "Mailbox/set" => one("Mailbox/set", mailbox::set(ctx, &args).await),
        "Email/get" => one("Email/get", email::get::get(ctx, &args).await),
        "Email/changes" => one("Email/changes", email::changes::changes(ctx, &args).await),
        "Email/query" => one("Email/query", email::query::query(ctx, &args).await),
        "Email/queryChanges" => one(
            "Email/queryChanges",
            email::query::query_changes(ctx, &args).await,
        ),
        "Email/set" => one("Email/set", email::set::set(ctx, &args).await),
        "Email/import" => one("Email/import", email::import::import(ctx, &args).await),
        "Email/parse" => one("Email/parse", email::import::parse_blobs(ctx, &args).await),
        "Email/copy" => Err(MethodError::unknown_method(
            "Email/copy needs a second account; this server has one per user",
        )),
        "Thread/get" => one("Thread/get", thread::get(ctx, &args).await),
        "Thread/changes" => one("Thread/changes", thread::changes(ctx, &args).await),
        "SearchSnippet/get" => one("SearchSnippet/get", search_snippet::get(ctx, &args).await),
        "Identity/get" => one("Identity/get", identity::get(ctx, &args).await),
        "Identity/changes" => one("Identity/changes", identity::changes(ctx, &args).await),
        "Identity/set" => one("Identity/set", identity::set(ctx, &args).await),
        "EmailSubmission/get" => one("EmailSubmission/get", submission::get(ctx, &args).await),
        "EmailSubmission/set" => submission::set(ctx, &args).await,
        "VacationResponse/get" => one("VacationResponse/get", vacation::get(ctx, &args).await),
        "VacationResponse/set" => one("VacationResponse/set", vacation::set(ctx, &args).await),
        _ => Err(MethodError::unknown_method(format!("no method {name:?}"))),
    }
}

/// Serves one API request.
pub(crate) async fn handle(shared: &Arc<Shared>, acc: &Account, body: &[u8]) -> Response<Body> {
    let req = match Request::parse(body, &shared.limits) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "request refused");
            return request_error(&e);
        }
    };
    let mut ctx = Ctx {
        shared,
        acc,
        created: req.created_ids.clone().unwrap_or_default(),
        responses: Vec::with_capacity(req.method_calls.len()),
    };
    for call in req.method_calls {
        let mut args = call.arguments;
        let result = match capability_of(&call.name) {
            // RFC 8620 3.6.2: a method whose capability is not in `using`
            // is unknown.
            Some(c) if req.using.contains(&c) => {
                match reference::resolve(&mut args, &ctx.responses) {
                    Ok(()) => dispatch(&mut ctx, &call.name, args).await,
                    Err(e) => Err(e),
                }
            }
            Some(c) => Err(MethodError::unknown_method(format!(
                "{} needs {} in using",
                call.name,
                c.urn()
            ))),
            None => Err(MethodError::unknown_method(format!(
                "no method {:?}",
                call.name
            ))),
        };
        let metric_name = if capability_of(&call.name).is_some() {
            call.name.as_str()
        } else {
            "unknown"
        };
        match result {
            Ok(outs) => {
                shared.metrics.method(metric_name, "ok");
                for (name, a) in outs {
                    ctx.responses.push(Invocation::new(name, a, &call.call_id));
                }
            }
            Err(e) => {
                shared.metrics.method(metric_name, e.kind);
                tracing::debug!(method = %call.name, error = %e, "method error");
                ctx.responses.push(Invocation::error(&e, &call.call_id));
            }
        }
    }
    let resp = mail_jmap_proto::Response {
        method_responses: ctx.responses,
        created_ids: req.created_ids.map(|_| ctx.created),
        session_state: crate::session::session_state(acc),
    };
    json_response(StatusCode::OK, &resp.to_value())
}
