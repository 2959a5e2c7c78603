//! Runs every parser of the crate over arbitrary bytes and checks the
//! invariants that must hold for any input. Shared by the corpus test
//! (`tests/corpus.rs`, run by CI) and the cargo-fuzz target
//! (`fuzz/fuzz_targets/smtp_proto.rs`), so both test the same thing.

use mail_smtp_proto::command::MAX_LINE;
use mail_smtp_proto::{
    Address, Command, DataDecoder, DataPolicy, DataStatus, LineReader, ParseOptions, Reply,
};

/// A reply must render to exactly one CRLF per line and nothing else
/// that could end a line (no reply injection).
fn check_reply(reply: &Reply) {
    let wire = reply.render(true);
    let crlf = wire.windows(2).filter(|w| w == b"\r\n").count();
    assert_eq!(crlf, reply.lines().len(), "reply framing: {wire:?}");
    let stray = wire.iter().filter(|&&b| b == b'\r' || b == b'\n').count();
    assert_eq!(stray, 2 * crlf, "stray CR/LF in reply: {wire:?}");
    assert!((200..=599).contains(&reply.code()));
}

fn parse_all_ways(line: &[u8]) {
    let opts = [
        ParseOptions::default(),
        ParseOptions {
            smtputf8: true,
            utf8_transaction: false,
        },
        ParseOptions {
            smtputf8: true,
            utf8_transaction: true,
        },
    ];
    for o in &opts {
        match Command::parse(line, o) {
            Ok(cmd) => {
                let _ = cmd.verb();
                if let Command::Mail(m) = &cmd {
                    // A parsed sender renders to something that parses again.
                    let again = format!("MAIL FROM:{}", m.sender);
                    let utf8 = ParseOptions {
                        smtputf8: true,
                        utf8_transaction: true,
                    };
                    let line = if m.params.smtputf8 {
                        format!("{again} SMTPUTF8")
                    } else {
                        again
                    };
                    assert!(
                        Command::parse(line.as_bytes(), &utf8).is_ok(),
                        "re-parse {line}"
                    );
                }
            }
            Err(e) => check_reply(&e.reply()),
        }
    }
    if let Ok(text) = std::str::from_utf8(line) {
        let _ = Address::parse(text, true);
        let _ = Address::parse(text, false);
    }
}

fn decode(data: &[u8], chunk: usize, raw: bool) -> (Vec<u8>, Option<usize>) {
    let max = 4096;
    let mut d = if raw {
        DataDecoder::raw(max)
    } else {
        DataDecoder::new(max)
    };
    let mut out = Vec::new();
    let mut offset = 0;
    let mut end = None;
    for piece in data.chunks(chunk.max(1)) {
        if let DataStatus::Done { consumed } = d.feed(piece, &mut out) {
            assert!(consumed <= piece.len());
            end = Some(offset + consumed);
            break;
        }
        offset += piece.len();
    }
    if raw {
        let _ = d.finish_raw(&mut out);
    }
    let s = d.summary();
    assert!(out.len() as u64 <= max, "output beyond the limit");
    assert!(s.size >= out.len() as u64);
    if let Some(r) = s.verdict(&DataPolicy::default()) {
        check_reply(&r);
    }
    (out, end)
}

/// Every check, for one input.
pub fn exercise(data: &[u8]) {
    // Whole input as one line.
    parse_all_ways(data);
    // Line by line through the reader, fed in small pieces.
    let mut reader = LineReader::new(MAX_LINE);
    for piece in data.chunks(7) {
        reader.push(piece);
        while let Some(line) = reader.next_line() {
            if let Ok(line) = line {
                assert!(line.len() <= MAX_LINE);
                parse_all_ways(&line);
            }
        }
    }
    let _ = reader.take_buffered();
    // DATA: chunking must not change the result.
    let whole = decode(data, data.len(), false);
    for chunk in [1, 2, 3, 5, 64] {
        assert_eq!(decode(data, chunk, false), whole, "chunk size {chunk}");
    }
    let raw = decode(data, data.len(), true);
    assert_eq!(decode(data, 3, true), raw);
    assert_eq!(raw.1, None, "raw mode has no end marker");
}
