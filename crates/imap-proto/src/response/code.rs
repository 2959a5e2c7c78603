//! Status responses (`OK`/`NO`/`BAD`/`BYE`/`PREAUTH`) and their response
//! codes (RFC 3501 7.1, RFC 5530, RFC 4315, RFC 7162, RFC 9051).

use super::clean_text;

/// The status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// OK.
    Ok,
    /// NO.
    No,
    /// BAD.
    Bad,
    /// BYE (untagged only).
    Bye,
    /// PREAUTH (untagged greeting only).
    PreAuth,
}

/// A response code inside `[...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// ALERT.
    Alert,
    /// BADCHARSET (supported charsets).
    BadCharset(Vec<String>),
    /// CAPABILITY list.
    Capability(Vec<String>),
    /// PARSE.
    Parse,
    /// PERMANENTFLAGS (flags).
    PermanentFlags(Vec<String>),
    /// READ-ONLY.
    ReadOnly,
    /// READ-WRITE.
    ReadWrite,
    /// TRYCREATE.
    TryCreate,
    /// UIDNEXT n.
    UidNext(u32),
    /// UIDVALIDITY n.
    UidValidity(u32),
    /// UNSEEN n.
    Unseen(u32),
    /// HIGHESTMODSEQ n (RFC 7162).
    HighestModSeq(u64),
    /// NOMODSEQ.
    NoModSeq,
    /// MODIFIED set (RFC 7162), as a sequence-set string.
    Modified(String),
    /// APPENDUID validity uids (RFC 4315).
    AppendUid(u32, String),
    /// COPYUID validity source-uids dest-uids.
    CopyUid(u32, String, String),
    /// UIDNOTSTICKY.
    UidNotSticky,
    /// CLOSED (RFC 7162).
    Closed,
    /// OVERQUOTA (RFC 9208).
    OverQuota,
    /// ALREADYEXISTS (RFC 5530).
    AlreadyExists,
    /// NONEXISTENT.
    NonExistent,
    /// LIMIT.
    Limit,
    /// TOOBIG (RFC 4469/7889).
    TooBig,
    /// SERVERBUG.
    ServerBug,
    /// CANNOT.
    Cannot,
    /// NOPERM.
    NoPerm,
    /// INUSE.
    InUse,
    /// AUTHENTICATIONFAILED.
    AuthenticationFailed,
    /// AUTHORIZATIONFAILED.
    AuthorizationFailed,
    /// CONTACTADMIN.
    ContactAdmin,
    /// PRIVACYREQUIRED.
    PrivacyRequired,
    /// UNAVAILABLE.
    Unavailable,
    /// EXPUNGEISSUED.
    ExpungeIssued,
    /// COMPRESSIONACTIVE (RFC 4978).
    CompressionActive,
    /// CLIENTBUG.
    ClientBug,
    /// UNKNOWN-CTE (RFC 3516).
    UnknownCte,
    /// NOTSAVED (RFC 5182).
    NotSaved,
    /// Any other code, written as is.
    Other(String),
}

impl Code {
    /// The code as written inside the brackets.
    pub fn to_wire(&self) -> String {
        let list = |v: &[String]| v.join(" ");
        match self {
            Code::Alert => "ALERT".into(),
            Code::BadCharset(v) if v.is_empty() => "BADCHARSET".into(),
            Code::BadCharset(v) => format!("BADCHARSET ({})", list(v)),
            Code::Capability(v) => format!("CAPABILITY {}", list(v)),
            Code::Parse => "PARSE".into(),
            Code::PermanentFlags(v) => format!("PERMANENTFLAGS ({})", list(v)),
            Code::ReadOnly => "READ-ONLY".into(),
            Code::ReadWrite => "READ-WRITE".into(),
            Code::TryCreate => "TRYCREATE".into(),
            Code::UidNext(n) => format!("UIDNEXT {n}"),
            Code::UidValidity(n) => format!("UIDVALIDITY {n}"),
            Code::Unseen(n) => format!("UNSEEN {n}"),
            Code::HighestModSeq(n) => format!("HIGHESTMODSEQ {n}"),
            Code::NoModSeq => "NOMODSEQ".into(),
            Code::Modified(s) => format!("MODIFIED {s}"),
            Code::AppendUid(v, s) => format!("APPENDUID {v} {s}"),
            Code::CopyUid(v, a, b) => format!("COPYUID {v} {a} {b}"),
            Code::UidNotSticky => "UIDNOTSTICKY".into(),
            Code::Closed => "CLOSED".into(),
            Code::OverQuota => "OVERQUOTA".into(),
            Code::AlreadyExists => "ALREADYEXISTS".into(),
            Code::NonExistent => "NONEXISTENT".into(),
            Code::Limit => "LIMIT".into(),
            Code::TooBig => "TOOBIG".into(),
            Code::ServerBug => "SERVERBUG".into(),
            Code::Cannot => "CANNOT".into(),
            Code::NoPerm => "NOPERM".into(),
            Code::InUse => "INUSE".into(),
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED".into(),
            Code::AuthorizationFailed => "AUTHORIZATIONFAILED".into(),
            Code::ContactAdmin => "CONTACTADMIN".into(),
            Code::PrivacyRequired => "PRIVACYREQUIRED".into(),
            Code::Unavailable => "UNAVAILABLE".into(),
            Code::ExpungeIssued => "EXPUNGEISSUED".into(),
            Code::CompressionActive => "COMPRESSIONACTIVE".into(),
            Code::ClientBug => "CLIENTBUG".into(),
            Code::UnknownCte => "UNKNOWN-CTE".into(),
            Code::NotSaved => "NOTSAVED".into(),
            Code::Other(s) => s.clone(),
        }
    }
}

/// A status response, tagged or untagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The tag, or `None` for `*`.
    pub tag: Option<String>,
    /// OK, NO, BAD, BYE, PREAUTH.
    pub kind: StatusKind,
    /// Optional response code.
    pub code: Option<Code>,
    /// Human-readable text.
    pub text: String,
}

impl Status {
    /// Tagged OK.
    pub fn ok(tag: &str, code: Option<Code>, text: &str) -> Self {
        Self {
            tag: Some(tag.into()),
            kind: StatusKind::Ok,
            code,
            text: text.into(),
        }
    }

    /// Tagged NO.
    pub fn no(tag: &str, code: Option<Code>, text: &str) -> Self {
        Self {
            tag: Some(tag.into()),
            kind: StatusKind::No,
            code,
            text: text.into(),
        }
    }

    /// Tagged BAD.
    pub fn bad(tag: &str, code: Option<Code>, text: &str) -> Self {
        Self {
            tag: Some(tag.into()),
            kind: StatusKind::Bad,
            code,
            text: text.into(),
        }
    }

    /// Untagged status (`* OK [UIDNEXT 5] Predicted next UID`).
    pub fn untagged(kind: StatusKind, code: Option<Code>, text: &str) -> Self {
        Self {
            tag: None,
            kind,
            code,
            text: text.into(),
        }
    }

    /// The encoded line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let kind = match self.kind {
            StatusKind::Ok => "OK",
            StatusKind::No => "NO",
            StatusKind::Bad => "BAD",
            StatusKind::Bye => "BYE",
            StatusKind::PreAuth => "PREAUTH",
        };
        let mut s = format!("{} {kind} ", self.tag.as_deref().unwrap_or("*"));
        if let Some(code) = &self.code {
            s.push('[');
            s.push_str(&code.to_wire());
            s.push_str("] ");
        }
        s.push_str(&clean_text(&self.text));
        s.push_str("\r\n");
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_codes() {
        let s = Status::ok(
            "a1",
            Some(Code::CopyUid(7, "1:3".into(), "10:12".into())),
            "Done",
        );
        assert_eq!(s.to_bytes(), b"a1 OK [COPYUID 7 1:3 10:12] Done\r\n");
        let s = Status::untagged(
            StatusKind::Ok,
            Some(Code::PermanentFlags(vec!["\\Seen".into(), "\\*".into()])),
            "x",
        );
        assert_eq!(s.to_bytes(), b"* OK [PERMANENTFLAGS (\\Seen \\*)] x\r\n");
        let s = Status::no("t", Some(Code::TryCreate), "no\r\nsuch");
        assert_eq!(s.to_bytes(), b"t NO [TRYCREATE] no  such\r\n");
    }
}
