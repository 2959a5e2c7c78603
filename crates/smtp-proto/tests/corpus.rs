//! Runs the parsers and the DATA decoder over every file in
//! `tests/corpus/` (the seed corpus of the fuzz target as well) and over
//! a few generated inputs: nothing may panic and the invariants in
//! `exercise` must hold.

mod exercise;

use std::path::Path;

#[test]
fn corpus_files_do_not_panic() {
    let dir = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR, set by cargo test"),
    )
    .join("tests/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        exercise::exercise(&data);
        // Every suffix, so that each line is also seen at the start of
        // input and every decoder state meets the end of input.
        for start in (0..data.len()).step_by(17) {
            exercise::exercise(&data[start..]);
        }
        seen += 1;
    }
    assert!(seen >= 10, "corpus has only {seen} files");
}

#[test]
fn generated_inputs_do_not_panic() {
    // A tiny deterministic generator over the interesting bytes.
    let alphabet: &[&[u8]] = &[
        b"\r",
        b"\n",
        b".",
        b"\0",
        b"<",
        b">",
        b"\"",
        b"\\",
        b"@",
        b" ",
        b"=",
        b"+",
        b":",
        b"MAIL FROM:",
        b"RCPT TO:",
        b"a",
        b"\xc3\xa9",
        b"\xff",
        b"SIZE=",
        b"[",
        b"]",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..3000 {
        let mut input = Vec::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 40) as usize;
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            input.extend_from_slice(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        exercise::exercise(&input);
    }
}
