//! Single-line responses: `+OK text` and `-ERR [CODE] text`.

/// Extended response codes (RFC 2449 8, RFC 3206), sent in brackets after
/// `-ERR` so that clients can tell a busy mailbox from a bad password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespCode {
    /// `[IN-USE]`: another session holds the maildrop lock (RFC 2449 8.1.1).
    InUse,
    /// `[LOGIN-DELAY]`: logged in again too soon (RFC 2449 8.1.2).
    LoginDelay,
    /// `[SYS/TEMP]`: a passing system problem, retry later (RFC 3206 4).
    SysTemp,
    /// `[SYS/PERM]`: a lasting system or account problem (RFC 3206 4).
    SysPerm,
    /// `[AUTH]`: the credentials were refused (RFC 3206 5).
    Auth,
}

impl RespCode {
    /// The code as written on the wire, without brackets.
    pub fn as_str(self) -> &'static str {
        match self {
            RespCode::InUse => "IN-USE",
            RespCode::LoginDelay => "LOGIN-DELAY",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
            RespCode::Auth => "AUTH",
        }
    }
}

/// One status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    ok: bool,
    code: Option<RespCode>,
    text: String,
}

impl Response {
    /// `+OK text`.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            code: None,
            text: text.into(),
        }
    }

    /// `-ERR text`.
    pub fn err(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            code: None,
            text: text.into(),
        }
    }

    /// `-ERR [CODE] text`.
    pub fn err_code(code: RespCode, text: impl Into<String>) -> Self {
        Self {
            ok: false,
            code: Some(code),
            text: text.into(),
        }
    }

    /// True for `+OK`.
    pub fn is_ok(&self) -> bool {
        self.ok
    }

    /// The line with CRLF. CR and LF inside the text are replaced so that
    /// a reply can never be split into two.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 24);
        out.extend_from_slice(if self.ok { b"+OK" } else { b"-ERR" });
        if let Some(code) = self.code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(code.as_str().as_bytes());
            out.push(b']');
        }
        if !self.text.is_empty() {
            out.push(b' ');
            out.extend(
                self.text
                    .bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_codes_and_cleans_text() {
        assert_eq!(Response::ok("2 320").render(), b"+OK 2 320\r\n");
        assert_eq!(
            Response::err_code(RespCode::InUse, "Locked").render(),
            b"-ERR [IN-USE] Locked\r\n"
        );
        assert_eq!(Response::err("a\r\nb").render(), b"-ERR a  b\r\n");
        assert_eq!(Response::ok("").render(), b"+OK\r\n");
    }
}
