//! Where things live in a partition (the user area).
//!
//! ```text
//! <partition>/tmp/                      deliveries being written (emptied on open)
//! <partition>/users/<h1>/<h2>/<user>/   a user's tree; h1/h2: two-level hash of the user id
//!     INBOX/                            one directory per folder
//!         .meta                         UIDVALIDITY, special-use, ACL (for reconstruct)
//!         17.msg                        one RFC 5322 file per message, named by UID
//!         .h1f/4639.msg                 hash subdirectories once a folder is large
//!         Sub/                          child folders nest as directories
//! ```
//!
//! Folder and user names are percent-encoded so that every encoded name is
//! free of `.`: message files (`N.msg`), hash directories (`.hXX`) and
//! `.meta` can never collide with a folder.

use std::path::{Path, PathBuf};

/// Directory for deliveries being written.
pub(crate) fn tmp_dir(partition_root: &Path) -> PathBuf {
    partition_root.join("tmp")
}

/// Root of all users on a partition.
pub(crate) fn users_dir(partition_root: &Path) -> PathBuf {
    partition_root.join("users")
}

/// FNV-1a: stable across releases and platforms, which `DefaultHasher` is not.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The user's tree root: two hash levels spread users over 65,536 directories.
pub(crate) fn user_dir(partition_root: &Path, user: &str) -> PathBuf {
    let h = fnv1a(user);
    users_dir(partition_root)
        .join(format!("{:02x}", h & 0xff))
        .join(format!("{:02x}", (h >> 8) & 0xff))
        .join(encode(user))
}

/// A folder's directory.
pub(crate) fn folder_dir(partition_root: &Path, user: &str, name: &str) -> PathBuf {
    let mut p = user_dir(partition_root, user);
    for comp in name.split('/') {
        p.push(encode(comp));
    }
    p
}

/// Message file name relative to its folder; `hashed` puts it in a hash subdirectory.
pub(crate) fn message_rel(uid: u32, hashed: bool) -> String {
    if hashed {
        format!(".h{:02x}/{uid}.msg", uid & 0xff)
    } else {
        format!("{uid}.msg")
    }
}

/// Parses `N.msg`.
pub(crate) fn parse_message_name(name: &str) -> Option<u32> {
    let n = name.strip_suffix(".msg")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok().filter(|u| *u > 0)
}

/// True for a hash subdirectory name (`.hXX`).
pub(crate) fn is_hash_dir(name: &str) -> bool {
    name.len() == 4 && name.starts_with(".h") && name[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Percent-encodes one name component; only `[A-Za-z0-9 _,+&=@~()-]` and
/// non-ASCII UTF-8 stay literal.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let keep = ch.is_ascii_alphanumeric()
            || " _,+&=@~()-".contains(ch)
            || (!ch.is_ascii() && !ch.is_control());
        if keep {
            out.push(ch);
        } else {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Reverses [`encode`]; `None` for names this module never produces.
pub(crate) fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if bytes[i] == b'.' {
            return None;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_avoids_dots() {
        for s in ["INBOX", "a.b", ".hidden", "100%", "Été/x", "../..", "x y"] {
            let e = encode(s);
            assert!(!e.contains('.') && !e.contains('/'), "{e}");
            assert_eq!(decode(&e).as_deref(), Some(s));
        }
        assert_eq!(parse_message_name("12.msg"), Some(12));
        assert_eq!(parse_message_name("x.msg"), None);
        assert!(is_hash_dir(".h0a"));
        assert_eq!(message_rel(0x1ff, true), ".hff/511.msg");
    }
}
