//! AUTHENTICATE, LOGIN, ENABLE, ID, COMPRESS, and the QUOTA (RFC 9208)
//! and ACL (RFC 4314) commands.

use base64::Engine;

use super::CommandBody;
use crate::cursor::{Cursor, Result};
use crate::error::ErrorKind;

/// Decodes a SASL response line (RFC 4959: `=` is the empty response).
pub fn decode_sasl(line: &[u8]) -> std::result::Result<Vec<u8>, ErrorKind> {
    if line == b"=" {
        return Ok(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|_| ErrorKind::Syntax("invalid base64 in SASL response"))
}

pub(super) fn parse_authenticate(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    let mechanism = c.atom_upper()?;
    let initial = if c.eat(b' ') {
        let start = c.rest();
        let len = start
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(start.len());
        let raw = &start[..len];
        let decoded = decode_sasl(raw)?;
        for &b in raw {
            c.eat(b);
        }
        Some(decoded)
    } else {
        None
    };
    Ok(CommandBody::Authenticate { mechanism, initial })
}

pub(super) fn parse_login(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    let username = c.astring_utf8()?;
    c.sp()?;
    let password = c.astring_utf8()?;
    Ok(CommandBody::Login { username, password })
}

pub(super) fn parse_enable(c: &mut Cursor<'_>) -> Result<CommandBody> {
    let mut caps = Vec::new();
    while c.eat(b' ') {
        caps.push(c.atom_upper()?);
    }
    if caps.is_empty() {
        return Err(ErrorKind::Syntax("ENABLE needs at least one capability"));
    }
    Ok(CommandBody::Enable(caps))
}

pub(super) fn parse_id(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    if c.eat_word("NIL") {
        return Ok(CommandBody::Id(None));
    }
    c.expect(b'(', "expected ( or NIL")?;
    let mut fields = Vec::new();
    if !c.eat(b')') {
        loop {
            let key = String::from_utf8_lossy(&c.string()?).into_owned();
            c.sp()?;
            let value = c
                .nstring()?
                .map(|v| String::from_utf8_lossy(&v).into_owned());
            fields.push((key, value));
            if fields.len() > 30 {
                return Err(ErrorKind::Syntax("too many ID fields"));
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    Ok(CommandBody::Id(Some(fields)))
}

pub(super) fn parse_compress(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    Ok(CommandBody::Compress(c.atom_upper()?))
}

pub(super) fn parse_quota(c: &mut Cursor<'_>, name: &str) -> Result<CommandBody> {
    c.sp()?;
    Ok(match name {
        "GETQUOTA" => CommandBody::GetQuota(c.astring_utf8()?),
        "GETQUOTAROOT" => CommandBody::GetQuotaRoot(c.mailbox()?),
        _ => {
            let root = c.astring_utf8()?;
            c.sp()?;
            let pairs = c.paren_list(|c| {
                let res = c.atom_upper()?;
                c.sp()?;
                Ok((res, c.number64()?))
            })?;
            CommandBody::SetQuota {
                root,
                limits: pairs,
            }
        }
    })
}

pub(super) fn parse_acl(c: &mut Cursor<'_>, name: &str) -> Result<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    if name == "GETACL" {
        return Ok(CommandBody::GetAcl(mailbox));
    }
    if name == "MYRIGHTS" {
        return Ok(CommandBody::MyRights(mailbox));
    }
    c.sp()?;
    let identifier = c.astring_utf8()?;
    Ok(match name {
        "SETACL" => {
            c.sp()?;
            let rights = c.astring_utf8()?;
            CommandBody::SetAcl {
                mailbox,
                identifier,
                rights,
            }
        }
        "DELETEACL" => CommandBody::DeleteAcl {
            mailbox,
            identifier,
        },
        _ => CommandBody::ListRights {
            mailbox,
            identifier,
        },
    })
}
