//! Section numbering from the one parser (RFC 3501 / RFC 9051 6.4.5,
//! RFC 2046 5.1.5, RFC 3516 4.2): what each `BODY[...]` and `BINARY[...]`
//! of a message is, on well-formed and malformed mail, and that every
//! part's BODYSTRUCTURE size is the length FETCH serves.

use mail_mime::{BodyPart, Cte, Kind, binary_range, decode, parse, section_range};

fn sec(raw: &[u8], path: &[u32], kind: Kind) -> Option<Vec<u8>> {
    let c = parse(raw, &[]);
    let r = section_range(c.body.as_ref()?, raw.len() as u64, path, kind)?;
    Some(raw[r.start as usize..r.end as usize].to_vec())
}

fn s(raw: &[u8], path: &[u32], kind: Kind) -> String {
    String::from_utf8_lossy(&sec(raw, path, kind).unwrap_or_else(|| panic!("no {path:?} {kind:?}")))
        .into_owned()
}

fn bin(raw: &[u8], path: &[u32]) -> Result<Vec<u8>, mail_mime::MimeError> {
    let c = parse(raw, &[]);
    let (r, cte) = binary_range(c.body.as_ref().unwrap(), raw.len() as u64, path).unwrap();
    decode(&raw[r.start as usize..r.end as usize], &cte)
}

/// Every part with offsets: its BODY[n] length is its BODYSTRUCTURE size.
fn sizes_agree(raw: &[u8]) {
    fn walk(root: &BodyPart, p: &BodyPart, path: &mut Vec<u32>, raw: &[u8]) {
        if p.media_type != "multipart" && !path.is_empty() {
            let r = section_range(root, raw.len() as u64, path, Kind::Whole)
                .unwrap_or_else(|| panic!("{path:?}"));
            assert_eq!(r.end - r.start, p.size, "{path:?}");
        }
        for (i, c) in p.parts.iter().enumerate() {
            path.push(i as u32 + 1);
            walk(root, c, path, raw);
            path.pop();
        }
        if let Some(m) = &p.message {
            let inner = &m.1;
            if inner.media_type == "multipart" {
                walk(root, inner, path, raw);
            }
        }
    }
    let c = parse(raw, &[]);
    let root = c.body.as_ref().unwrap();
    if root.media_type == "multipart" {
        walk(root, root, &mut Vec::new(), raw);
    } else {
        walk(root, root, &mut vec![1], raw);
    }
}

const MIXED: &[u8] = b"From: a@b\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n--YY\r\n\r\ninner text\r\n--YY\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--YY--\r\n\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--XX--\r\n";

/// RFC 3501 6.4.5: parts of a multipart, MIME of a part, and for a
/// message/rfc822 part HEADER/TEXT and sub-parts of the message inside.
#[test]
fn multipart_with_a_message_holding_a_multipart() {
    assert_eq!(s(MIXED, &[1], Kind::Whole), "hello");
    assert_eq!(
        s(MIXED, &[1], Kind::Mime),
        "Content-Type: text/plain\r\n\r\n"
    );
    assert_eq!(
        s(MIXED, &[2], Kind::Header),
        "Subject: inner\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"
    );
    assert_eq!(
        s(MIXED, &[2], Kind::Mime),
        "Content-Type: message/rfc822\r\n\r\n"
    );
    assert!(s(MIXED, &[2], Kind::Text).starts_with("--YY\r\n"));
    assert!(s(MIXED, &[2], Kind::Whole).starts_with("Subject: inner\r\n"));
    assert_eq!(s(MIXED, &[2, 1], Kind::Whole), "inner text");
    assert_eq!(s(MIXED, &[2, 2], Kind::Whole), "<p>inner</p>");
    assert_eq!(
        s(MIXED, &[2, 2], Kind::Mime),
        "Content-Type: text/html\r\n\r\n"
    );
    assert!(sec(MIXED, &[2, 3], Kind::Whole).is_none());
    assert!(sec(MIXED, &[1, 1], Kind::Whole).is_none());
    assert!(sec(MIXED, &[1], Kind::Header).is_none());
    assert!(sec(MIXED, &[4], Kind::Whole).is_none());
    assert!(sec(MIXED, &[0], Kind::Whole).is_none());
    assert_eq!(s(MIXED, &[], Kind::Whole).len(), MIXED.len());
    assert!(s(MIXED, &[], Kind::Header).ends_with("boundary=\"XX\"\r\n\r\n"));
    assert!(s(MIXED, &[], Kind::Text).starts_with("preamble"));
    assert_eq!(bin(MIXED, &[3]).unwrap(), [0, 1, 2]);
    sizes_agree(MIXED);
}

/// RFC 3501 6.4.5: a message that is not multipart has one part, 1.
#[test]
fn single_part_message_has_part_one() {
    let raw = b"Subject: x\r\n\r\nthe body\r\n";
    assert_eq!(s(raw, &[1], Kind::Whole), "the body\r\n");
    assert!(sec(raw, &[2], Kind::Whole).is_none());
    assert!(sec(raw, &[1, 1], Kind::Whole).is_none());
    sizes_agree(raw);
}

/// RFC 2046 5.1.5: parts of a multipart/digest default to message/rfc822,
/// so 1.1.HEADER and 1.1.TEXT are the header and body of the digested
/// message (RFC 3501 6.4.5).
#[test]
fn digest_parts_are_messages() {
    let raw = b"Subject: d\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n--d\r\n\r\nSubject: two\r\nFrom: b@c\r\n\r\nsecond\r\n--d--\r\n\r\n--o--\r\n";
    let c = parse(raw, &[]);
    let d = &c.body.as_ref().unwrap().parts[0];
    assert_eq!(d.subtype, "digest");
    assert_eq!(
        (d.parts[0].media_type.as_str(), d.parts[0].subtype.as_str()),
        ("message", "rfc822")
    );
    assert_eq!(s(raw, &[1, 1], Kind::Header), "Subject: one\r\n\r\n");
    assert_eq!(s(raw, &[1, 1], Kind::Text), "first");
    assert_eq!(
        s(raw, &[1, 2], Kind::Header),
        "Subject: two\r\nFrom: b@c\r\n\r\n"
    );
    assert_eq!(s(raw, &[1, 2], Kind::Text), "second");
    assert_eq!(s(raw, &[1, 2, 1], Kind::Whole), "second");
    assert_eq!(s(raw, &[1, 2], Kind::Mime), "\r\n");
    sizes_agree(raw);
}

/// Nested multiparts number depth first.
#[test]
fn nested_multiparts() {
    let raw = b"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\nplain\n--b\nContent-Type: text/html\n\nhtml\n--b--\n--a\n\nlast\n--a--\n";
    assert_eq!(s(raw, &[1, 1], Kind::Whole), "plain");
    assert_eq!(s(raw, &[1, 2], Kind::Whole), "html");
    assert_eq!(s(raw, &[2], Kind::Whole), "last");
    assert!(s(raw, &[1], Kind::Whole).starts_with("--b\n"));
    sizes_agree(raw);
}

/// Malformed mail: a multipart whose boundary never comes is one text
/// part (BODYSTRUCTURE says so too), and a message no parser reads still
/// has a part 1.
#[test]
fn malformed_mail_numbers_like_its_structure() {
    let raw = b"Content-Type: multipart/mixed; boundary=nope\r\n\r\nno parts here\r\n";
    let c = parse(raw, &[]);
    assert_eq!(c.body.as_ref().unwrap().media_type, "text");
    assert_eq!(s(raw, &[1], Kind::Whole), "no parts here\r\n");
    sizes_agree(raw);
    for raw in [&b""[..], b"\r\n", b"\0\0\0", b"no header at all"] {
        let c = parse(raw, &[]);
        assert!(c.has_offsets(), "{raw:?}");
        sec(raw, &[1], Kind::Whole).unwrap();
    }
    // Unterminated nested parts: every part found can be read.
    let raw = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nunfinished";
    sizes_agree(raw);
}

/// RFC 3516 4.2: BINARY decodes quoted-printable (soft line breaks gone)
/// and base64; an unknown encoding is an error (`NO [UNKNOWN-CTE]`).
#[test]
fn binary_decodes_the_part() {
    let raw = b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak =3D ok\r\n--z\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n--z\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--z--\r\n";
    assert_eq!(bin(raw, &[1]).unwrap(), b"softbreak = ok");
    assert_eq!(bin(raw, &[2]).unwrap(), b"hello");
    assert!(bin(raw, &[3]).is_err());
    let c = parse(raw, &[]);
    let (_, cte) = binary_range(c.body.as_ref().unwrap(), raw.len() as u64, &[3]).unwrap();
    assert_eq!(cte, Cte::Unknown("x-uuencode".into()));
}

/// Cache rows written before offsets existed deserialize with none, and
/// ask to be parsed again.
#[test]
fn old_rows_have_no_offsets() {
    let old = r#"{"envelope":{"date":null,"subject":null,"from":[],"sender":[],"reply_to":[],"to":[],"cc":[],"bcc":[],"in_reply_to":null,"message_id":null},"body":{"media_type":"text","subtype":"plain","params":[],"id":null,"description":null,"encoding":"7bit","size":3,"lines":0,"disposition":null,"parts":[],"message":null},"headers":[],"parse_failed":false}"#;
    let c: mail_mime::CachedMessage = serde_json::from_str(old).unwrap();
    assert!(!c.has_offsets());
    assert!(section_range(c.body.as_ref().unwrap(), 10, &[1], Kind::Whole).is_none());
}

/// Found by `fuzz/fuzz_targets/fetch_sections.rs`: nested message/rfc822
/// parts with broken headers trip a `debug_assert!` inside mail-parser
/// ("Invalid part ID, could not find multipart"). In a debug build that is
/// a panic: it must stay inside `parse` (the message becomes one text
/// part, `parse_failed`), and every section of the result must still be
/// readable. Release builds (and the fuzzer, see fuzz/Cargo.toml) run
/// mail-parser without its debug assertions and get its best-effort tree.
#[test]
fn a_panic_inside_mail_parser_stays_inside_parse() {
    let raw = include_bytes!("data/fuzz-mail-parser-debug-assert.eml");
    let c = parse(raw, &["subject".into()]);
    assert!(c.has_offsets());
    assert_eq!(c.headers, [("subject".to_string(), "hi".to_string())]);
    sizes_agree(raw);
    let root = c.body.as_ref().unwrap();
    for path in [&[][..], &[1], &[2], &[1, 1], &[2, 1], &[2, 1, 1]] {
        for kind in [Kind::Whole, Kind::Mime, Kind::Header, Kind::Text] {
            if let Some(r) = section_range(root, raw.len() as u64, path, kind) {
                assert!(r.start <= r.end && r.end <= raw.len() as u64);
            }
        }
    }
}
