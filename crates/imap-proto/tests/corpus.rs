//! Runs the parser over every file in `tests/corpus/` (also the seed
//! corpus of the fuzz target): nothing may panic, the invariants in
//! `exercise` must hold, and every command in a `good_*` file must parse.

mod exercise;

use std::path::Path;

use mail_imap_proto::{ParseOptions, Parsed, parse_command};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR, set by cargo test"),
    )
    .join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read corpus file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_files_do_not_panic() {
    let files = corpus();
    assert!(files.len() >= 10, "corpus has only {} files", files.len());
    for (_, data) in &files {
        exercise::exercise(data);
        // Suffixes (each line also seen at the start of input), cut to
        // 4 KiB so that large files stay quick.
        for start in (0..data.len()).step_by(13).take(2000) {
            exercise::exercise(&data[start..data.len().min(start + 4096)]);
        }
    }
}

#[test]
fn good_corpus_files_parse_completely() {
    let opts = ParseOptions::default();
    let mut checked = 0;
    for (name, data) in corpus().iter().filter(|(n, _)| n.starts_with("good_")) {
        let mut buf = &data[..];
        while !buf.is_empty() {
            match parse_command(buf, &opts) {
                Ok(Parsed::Complete { consumed, .. }) => buf = &buf[consumed..],
                other => panic!(
                    "{name}: {other:?} at {:?}",
                    String::from_utf8_lossy(&buf[..buf.len().min(80)])
                ),
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} good commands");
}

#[test]
fn generated_inputs_do_not_panic() {
    let alphabet: &[&[u8]] = &[
        b"\r\n",
        b" ",
        b"(",
        b")",
        b"[",
        b"]",
        b"<",
        b">",
        b"{",
        b"}",
        b"{3}\r\n",
        b"{2+}\r\n",
        b"~{1}\r\n",
        b"\"",
        b"\\",
        b"*",
        b"%",
        b":",
        b",",
        b"1",
        b"0",
        b"$",
        b"&",
        b"-",
        b"\xff",
        b"\0",
        b"a1 ",
        b"FETCH ",
        b"SEARCH ",
        b"NOT ",
        b"OR ",
        b"BODY[",
        b"UID ",
        b"APPEND ",
        b"LIST ",
        b"SELECT ",
        b"STORE ",
        b"FLAGS",
        b"+FLAGS ",
        b"INBOX",
        b"&Jjo-",
        b"1-Feb-2020",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        let mut input = Vec::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 30) as usize;
        let mut s = state;
        for _ in 0..len {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            input.extend_from_slice(alphabet[(s >> 33) as usize % alphabet.len()]);
        }
        exercise::exercise(&input);
    }
}
