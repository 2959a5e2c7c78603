//! The session resource (RFC 8620 2): capabilities with their limits, the
//! user's one account, and the URLs of the other resources.

use axum::body::Body;
use hyper::{Response, StatusCode};
use mail_jmap_proto::Capability;
use serde_json::{Value, json};

use crate::Shared;
use crate::auth::Account;
use crate::http::json_response;

/// Sort properties Email/query accepts (RFC 8621 4.4.2).
pub const EMAIL_SORT: &[&str] = &[
    "receivedAt",
    "sentAt",
    "size",
    "from",
    "to",
    "subject",
    "hasKeyword",
    "allInThreadHaveKeyword",
    "someInThreadHaveKeyword",
];

/// The session state: changes only when what the session object says
/// about the account would change.
pub(crate) fn session_state(acc: &Account) -> String {
    let d = crate::state::meta(&acc.account_id, Some(&acc.address), true);
    format!("s{d:08x}")
}

/// The session object for `acc`, with URLs under `base`.
pub(crate) fn object(shared: &Shared, acc: &Account, base: &str) -> Value {
    let id = &acc.account_id;
    let mail = json!({
        "maxMailboxesPerEmail": null,
        "maxMailboxDepth": null,
        "maxSizeMailboxName": 255,
        "maxSizeAttachmentsPerEmail": shared.limits.max_size_upload,
        "emailQuerySortOptions": EMAIL_SORT,
        "mayCreateTopLevelMailbox": true,
    });
    let submission = json!({"maxDelayedSend": 0, "submissionExtensions": {}});
    json!({
        "capabilities": {
            Capability::Core.urn(): shared.limits,
            Capability::Mail.urn(): {},
            Capability::Submission.urn(): {},
            Capability::VacationResponse.urn(): {},
        },
        "accounts": {
            id.clone(): {
                "name": acc.address,
                "isPersonal": true,
                "isReadOnly": false,
                "accountCapabilities": {
                    Capability::Mail.urn(): mail,
                    Capability::Submission.urn(): submission,
                    Capability::VacationResponse.urn(): {},
                },
            }
        },
        "primaryAccounts": {
            Capability::Mail.urn(): id,
            Capability::Submission.urn(): id,
            Capability::VacationResponse.urn(): id,
        },
        "username": acc.address,
        "apiUrl": format!("{base}/jmap/api/"),
        "downloadUrl": format!("{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}"),
        "uploadUrl": format!("{base}/jmap/upload/{{accountId}}/"),
        "eventSourceUrl": format!("{base}/jmap/eventsource?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"),
        "state": session_state(acc),
    })
}

/// `GET /.well-known/jmap` and `GET /jmap/session`.
pub(crate) async fn resource(shared: &Shared, acc: &Account, base: &str) -> Response<Body> {
    json_response(StatusCode::OK, &object(shared, acc, base))
}
