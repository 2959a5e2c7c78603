//! Invariants shared by the corpus test and the fuzz target: on any input
//! the parser returns (never panics), consumes no more than it was given,
//! always makes progress when it says Complete, and every decoder
//! round-trips what it accepts.

use mail_imap_proto::{
    ParseOptions, Parsed, mutf7_decode, mutf7_encode, parse_command, parse_line,
};

/// Feeds `data` through the parser as a server would, command after
/// command, with small limits so the bounds are exercised too.
pub fn exercise(data: &[u8]) {
    for opts in [
        ParseOptions::default(),
        ParseOptions {
            max_line: 64,
            max_literal: 100,
            max_command: 300,
            max_depth: 4,
            utf8_names: true,
        },
    ] {
        let mut buf = data;
        let mut rounds = 0;
        while !buf.is_empty() && rounds < 10_000 {
            rounds += 1;
            match parse_command(buf, &opts) {
                Ok(Parsed::Complete { consumed, command }) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    assert!(!command.tag.is_empty());
                    buf = &buf[consumed..];
                }
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::NeedLiteral { size, offset, .. }) => {
                    assert!(size <= opts.max_literal);
                    assert!(offset <= buf.len());
                    break;
                }
                Err(e) => {
                    let _ = e.response();
                    match e.consumed {
                        Some(n) => {
                            assert!(n > 0 && n <= buf.len());
                            buf = &buf[n..];
                        }
                        None => break,
                    }
                }
            }
        }
    }
    let _ = parse_line(data, 100);
    if let Ok(s) = mutf7_decode(data) {
        assert_eq!(
            mutf7_decode(mutf7_encode(&s).as_bytes()).as_deref(),
            Ok(s.as_str())
        );
    }
    if let Ok(s) = std::str::from_utf8(data)
        && !s.contains('\0')
    {
        assert_eq!(mutf7_decode(mutf7_encode(s).as_bytes()).as_deref(), Ok(s));
    }
}
