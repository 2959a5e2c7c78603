//! The data of FETCH body items (`RFC822*`, `BODY[section]<partial>`,
//! `BINARY[part]<partial>`, `BINARY.SIZE[part]`) as byte ranges of the
//! message file, placed by the part offsets of the cached structure (the
//! one MIME parser, `mail-mime`), so FETCH numbers parts exactly as
//! BODYSTRUCTURE shows them (RFC 3501 / RFC 9051 6.4.5, RFC 3516).

use std::ops::Range;

use mail_imap_proto::{FetchAttr, SectionText};
use mail_mime::{Cte, Kind};
use mail_store::{CachedMessage, MailboxHandle, Store, StoreError};

/// What one body item answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Data {
    /// The octets to send (BODY: a literal; BINARY: string or literal8).
    Bytes(Vec<u8>),
    /// `NIL`: BINARY of no part, RFC822.HEADER/TEXT without structure.
    Nil,
    /// BINARY.SIZE.
    Size(u64),
    /// BINARY of a part whose encoding is unknown (RFC 3516 4.3).
    UnknownCte,
}

/// True for items whose data comes from the message file.
pub(super) fn reads_file(item: &FetchAttr) -> bool {
    matches!(
        item,
        FetchAttr::Rfc822
            | FetchAttr::Rfc822Header
            | FetchAttr::Rfc822Text
            | FetchAttr::BodySection { .. }
            | FetchAttr::Binary { .. }
            | FetchAttr::BinarySize { .. }
    )
}

/// How an item is served once its range is read.
enum Plan {
    /// Send the range (already narrowed to the partial).
    Plain,
    /// HEADER.FIELDS: select fields, then apply the partial.
    Fields {
        names: Vec<String>,
        not: bool,
        partial: Option<(u32, u32)>,
    },
    /// BINARY: decode, then apply the partial.
    Decode {
        cte: Cte,
        partial: Option<(u32, u32)>,
    },
    /// BINARY.SIZE of an encoded part: decode and count.
    DecodedSize(Cte),
}

/// RFC 3501 6.4.5 partial: octets from `origin`, at most `count`; an
/// origin past the end gives the empty string.
fn cut(mut data: Vec<u8>, p: Option<(u32, u32)>) -> Vec<u8> {
    if let Some((origin, count)) = p {
        let start = (origin as usize).min(data.len());
        let end = start.saturating_add(count as usize).min(data.len());
        data.truncate(end);
        data.drain(..start);
    }
    data
}

fn narrow(r: Range<u64>, p: Option<(u32, u32)>) -> Range<u64> {
    match p {
        None => r,
        Some((origin, count)) => {
            let start = r.start.saturating_add(u64::from(origin)).min(r.end);
            start..start.saturating_add(u64::from(count)).min(r.end)
        }
    }
}

fn kind(text: &Option<SectionText>) -> Kind {
    match text {
        None => Kind::Whole,
        Some(SectionText::Mime) => Kind::Mime,
        Some(SectionText::Header | SectionText::HeaderFields { .. }) => Kind::Header,
        Some(SectionText::Text) => Kind::Text,
    }
}

/// For each of `items` (same order), the data of a body item, `None` for
/// the others. `cache` must carry part offsets ([`Store::with_offsets`]);
/// `size` is the message's size. Only the needed ranges are read; a file
/// that cannot be read is the caller's to report
/// ([`super::content::classify`]).
pub(super) fn load(
    s: &Store,
    h: &MailboxHandle,
    uid: u32,
    size: u64,
    cache: &CachedMessage,
    items: &[FetchAttr],
) -> Result<Vec<Option<Data>>, StoreError> {
    let root = cache.body.as_ref();
    let section =
        |path: &[u32], k: Kind| root.and_then(|r| mail_mime::section_range(r, size, path, k));
    let mut ranges = Vec::new();
    // Per item: None (not a body item), Err(answer without reading), or
    // Ok((index into `ranges`, plan)).
    let mut plans: Vec<Option<Result<(usize, Plan), Data>>> = Vec::with_capacity(items.len());
    let mut read = |r: Range<u64>, p: Plan| {
        ranges.push(r);
        Some(Ok((ranges.len() - 1, p)))
    };
    for item in items {
        let plan = match item {
            FetchAttr::Rfc822 => read(0..size, Plan::Plain),
            FetchAttr::Rfc822Header | FetchAttr::Rfc822Text => {
                let k = if *item == FetchAttr::Rfc822Header {
                    Kind::Header
                } else {
                    Kind::Text
                };
                match section(&[], k) {
                    Some(r) => read(r, Plan::Plain),
                    None => Some(Err(Data::Nil)),
                }
            }
            FetchAttr::BodySection {
                section: sec,
                partial,
                ..
            } => match section(&sec.part, kind(&sec.text)) {
                // A section that does not exist reads as empty.
                None => Some(Err(Data::Bytes(Vec::new()))),
                Some(r) => match &sec.text {
                    Some(SectionText::HeaderFields { not, fields }) => read(
                        r,
                        Plan::Fields {
                            names: fields.clone(),
                            not: *not,
                            partial: *partial,
                        },
                    ),
                    _ => read(narrow(r, *partial), Plan::Plain),
                },
            },
            FetchAttr::Binary { part, partial, .. } => {
                match root.and_then(|r| mail_mime::binary_range(r, size, part)) {
                    None => Some(Err(Data::Nil)),
                    Some((r, Cte::Identity)) => read(narrow(r, *partial), Plan::Plain),
                    Some((_, Cte::Unknown(_))) => Some(Err(Data::UnknownCte)),
                    Some((r, cte)) => read(
                        r,
                        Plan::Decode {
                            cte,
                            partial: *partial,
                        },
                    ),
                }
            }
            FetchAttr::BinarySize { part } => {
                match root.and_then(|r| mail_mime::binary_range(r, size, part)) {
                    None => Some(Err(Data::Size(0))),
                    // No decoding: the size is the range's.
                    Some((r, Cte::Identity)) => Some(Err(Data::Size(r.end - r.start))),
                    Some((_, Cte::Unknown(_))) => Some(Err(Data::UnknownCte)),
                    Some((r, cte)) => read(r, Plan::DecodedSize(cte)),
                }
            }
            _ => None,
        };
        plans.push(plan);
    }
    let bytes = if ranges.is_empty() {
        Vec::new()
    } else {
        s.read_ranges(h, uid, &ranges)?
    };
    let mut bytes: Vec<Option<Vec<u8>>> = bytes.into_iter().map(Some).collect();
    Ok(plans
        .into_iter()
        .map(|p| {
            let (i, plan) = match p? {
                Ok(x) => x,
                Err(d) => return Some(d),
            };
            let data = bytes.get_mut(i).and_then(Option::take).unwrap_or_default();
            Some(match plan {
                Plan::Plain => Data::Bytes(data),
                Plan::Fields {
                    names,
                    not,
                    partial,
                } => Data::Bytes(cut(mail_mime::select_fields(&data, &names, not), partial)),
                Plan::Decode { cte, partial } => match mail_mime::decode(&data, &cte) {
                    Ok(d) => Data::Bytes(cut(d, partial)),
                    Err(_) => Data::UnknownCte,
                },
                Plan::DecodedSize(cte) => match mail_mime::decode(&data, &cte) {
                    Ok(d) => Data::Size(d.len() as u64),
                    Err(_) => Data::UnknownCte,
                },
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials() {
        assert_eq!(cut(b"0123456789".to_vec(), Some((2, 3))), b"234");
        assert_eq!(cut(b"0123".to_vec(), Some((9, 3))), b"");
        assert_eq!(cut(b"0123".to_vec(), None), b"0123");
        assert_eq!(narrow(10..20, Some((5, 100))), 15..20);
        assert_eq!(narrow(10..20, Some((50, 1))), 20..20);
    }
}
