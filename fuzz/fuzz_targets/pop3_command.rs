//! Fuzzes the POP3 wire format (`crates/pop3/src/proto`, compiled here on
//! its own so the fuzzer does not build the server): the line splitter,
//! the command parser, the SASL decoders and the RETR/TOP encoder.
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run pop3_command corpus/pop3_command
//! ```
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../crates/pop3/src/proto/mod.rs"]
mod proto;

use proto::{Command, LineReader, MultiLine, sasl};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut reader = LineReader::new(512);
    reader.push(data);
    while let Some(line) = reader.next_line() {
        let Ok(line) = line else { continue };
        assert!(line.len() <= 512);
        if let Ok(cmd) = Command::parse(&line) {
            // The keyword is the line's first word, in any case.
            let first = line.split(|b| *b == b' ').next().unwrap_or_default();
            assert!(
                first.eq_ignore_ascii_case(cmd.keyword().as_bytes()),
                "{:?} parsed as {}",
                String::from_utf8_lossy(&line),
                cmd.keyword()
            );
            let _ = format!("{cmd:?}");
        }
    }
    let _ = Command::parse(data);
    let _ = sasl::decode_response(data, data.first().is_some_and(|b| b & 1 == 1));
    let _ = sasl::parse_plain(data);
    let _ = sasl::login_text(data.to_vec());
    let top = data.first().map(|b| u32::from(*b % 4));
    for t in [None, top] {
        let mut enc = MultiLine::new(t);
        let mut out = Vec::new();
        for chunk in data.chunks(7) {
            enc.feed(chunk, &mut out);
        }
        enc.finish(&mut out);
        assert!(out.ends_with(b".\r\n"));
        let body = &out[..out.len() - 3];
        assert!(body.is_empty() || body.ends_with(b"\r\n"));
        assert!(!body.windows(5).any(|w| w == b"\r\n.\r\n") && !body.starts_with(b".\r\n"));
    }
});
