//! Fuzzes the IMAP wire format: framing, command parser, line splitter
//! and modified UTF-7, with the same invariants as the corpus test.
//!
//! ```text
//! cargo +nightly fuzz run imap_proto crates/imap-proto/tests/corpus
//! ```
#![no_main]

#[path = "../../crates/imap-proto/tests/exercise/mod.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exercise::exercise(data);
});
