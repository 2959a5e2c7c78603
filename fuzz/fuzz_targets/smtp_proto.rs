//! Fuzzes the SMTP/LMTP wire format: command parser, line reader and DATA
//! decoder, with the same invariants as the corpus test.
//!
//! ```text
//! cargo +nightly fuzz run smtp_proto crates/smtp-proto/tests/corpus
//! ```
#![no_main]

#[path = "../../crates/smtp-proto/tests/exercise/mod.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exercise::exercise(data);
});
