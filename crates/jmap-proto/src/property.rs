//! Per-object property sets (RFC 8621): which properties each type has,
//! which `/get` returns by default, and the check of a client's
//! `properties` argument.

use crate::error::MethodError;

/// Mailbox (RFC 8621 2).
pub const MAILBOX: &[&str] = &[
    "id",
    "name",
    "parentId",
    "role",
    "sortOrder",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
    "isSubscribed",
];

/// Thread (RFC 8621 3).
pub const THREAD: &[&str] = &["id", "emailIds"];

/// Email properties that are not `header:` forms (RFC 8621 4.1).
pub const EMAIL: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "headers",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "bodyStructure",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
    "hasAttachment",
    "preview",
];

/// Email/get without `properties` (RFC 8621 4.2).
pub const EMAIL_DEFAULT: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// EmailBodyPart properties (RFC 8621 4.1.4).
pub const BODY_PART: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "headers",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
    "subParts",
];

/// EmailBodyPart properties returned by default (RFC 8621 4.2).
pub const BODY_PART_DEFAULT: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
];

/// Identity (RFC 8621 6).
pub const IDENTITY: &[&str] = &[
    "id",
    "name",
    "email",
    "replyTo",
    "bcc",
    "textSignature",
    "htmlSignature",
    "mayDelete",
];

/// EmailSubmission (RFC 8621 7).
pub const EMAIL_SUBMISSION: &[&str] = &[
    "id",
    "identityId",
    "emailId",
    "threadId",
    "envelope",
    "sendAt",
    "undoStatus",
    "deliveryStatus",
    "dsnBlobIds",
    "mdnBlobIds",
];

/// VacationResponse (RFC 8621 8).
pub const VACATION_RESPONSE: &[&str] = &[
    "id",
    "isEnabled",
    "fromDate",
    "toDate",
    "subject",
    "textBody",
    "htmlBody",
];

/// SearchSnippet (RFC 8621 5).
pub const SEARCH_SNIPPET: &[&str] = &["emailId", "subject", "preview"];

/// True for a `header:Name[:asForm][:all]` property (RFC 8621 4.1.3).
pub fn is_header_property(p: &str) -> bool {
    let Some(rest) = p.strip_prefix("header:") else {
        return false;
    };
    let mut parts = rest.split(':');
    let name = parts.next().unwrap_or("");
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return false;
    }
    let mut form_seen = false;
    let mut all_seen = false;
    for p in parts {
        match p {
            "all" if !all_seen => all_seen = true,
            "asRaw" | "asText" | "asAddresses" | "asGroupedAddresses" | "asMessageIds"
            | "asDate" | "asURLs"
                if !form_seen && !all_seen =>
            {
                form_seen = true
            }
            _ => return false,
        }
    }
    true
}

/// The properties to return: the client's list checked against `all`
/// (plus `header:` forms when `headers_allowed`), or `default`. `id` is
/// always included (RFC 8620 5.1).
pub fn select(
    requested: Option<&[String]>,
    all: &[&str],
    default: &[&str],
    headers_allowed: bool,
) -> Result<Vec<String>, MethodError> {
    let mut out: Vec<String> = match requested {
        None => default.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            for p in list {
                if !(all.contains(&p.as_str()) || headers_allowed && is_header_property(p)) {
                    return Err(MethodError::invalid_arguments(format!(
                        "unknown property {p:?}"
                    )));
                }
            }
            list.to_vec()
        }
    };
    if all.contains(&"id") && !out.iter().any(|p| p == "id") {
        out.insert(0, "id".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_properties() {
        assert!(is_header_property("header:Subject"));
        assert!(is_header_property("header:List-Id:asText:all"));
        assert!(!is_header_property("header:"));
        assert!(!is_header_property("header:X:asFoo"));
        assert!(!is_header_property("header:X:all:asText"));
    }

    #[test]
    fn select_adds_id_and_rejects_unknown() {
        let p = select(Some(&["name".into()]), MAILBOX, MAILBOX, false).unwrap();
        assert_eq!(p, vec!["id", "name"]);
        assert!(select(Some(&["nope".into()]), MAILBOX, MAILBOX, false).is_err());
    }
}
