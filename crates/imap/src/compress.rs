//! COMPRESS=DEFLATE (RFC 4978): raw deflate (RFC 1951, no zlib header)
//! in both directions, one compressor and one decompressor per session.
//!
//! The session keeps writing plain responses into its output buffer and
//! reading plain commands from its input buffer; this layer sits between
//! those buffers and the socket (inside TLS, since COMPRESS is only valid
//! after login and STARTTLS only before it).
//!
//! Memory, counted with the default `miniz_oxide` backend of `flate2`:
//!
//! - The decompressor is ~40 KiB (a 32 KiB window plus ~8 KiB of Huffman
//!   tables) and lives as long as compression is on: the client picks its
//!   window (up to the full 32 KiB) and may refer back to any byte it
//!   sent, so we cannot shrink or drop it.
//! - The compressor is ~310 KiB (window, hash chains, LZ buffer) and exists
//!   only while responses flow. Every batch of responses ends with a sync
//!   flush (RFC 4978 4: the client must never wait for a partial block),
//!   which leaves the stream on a byte boundary after a complete block; a
//!   fresh compressor may start there, because it never refers back to
//!   data it did not see. So [`Deflate::release`] drops the compressor
//!   once the client has been quiet for [`RELEASE_AFTER`], and an idle
//!   (or IDLEing) session holds only the decompressor.
//!
//! A smaller window for our own output (`Compress::new_with_window_bits`)
//! needs flate2's zlib backend, and zlib's deflate state is
//! `(1 << (wbits + 2)) + (1 << (memLevel + 9))` bytes with memLevel fixed
//! at 8 by flate2: 132 KiB even at 9 window bits, so it would not reach
//! the idle target; releasing the compressor does.
//!
//! Input is inflated at most [`CHUNK`] bytes at a time so that a small
//! compressed command cannot expand into megabytes of buffer before the
//! parser's line and literal limits see it.

use std::io;
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Plain bytes produced per inflate step (the parser runs between steps).
pub(crate) const CHUNK: usize = 16 * 1024;

/// Quiet time after which the compressor is dropped.
pub(crate) const RELEASE_AFTER: Duration = Duration::from_secs(2);

/// One session's deflate state.
pub(crate) struct Deflate {
    /// The client's stream; kept for the whole session.
    inflate: Decompress,
    /// Our stream; created on demand, dropped when idle.
    deflate: Option<Compress>,
    /// Compressed input not yet inflated.
    pending: Vec<u8>,
    /// The last inflate step filled its output: more may be buffered.
    more_out: bool,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("compressor", &self.deflate.is_some())
            .field("pending", &self.pending.len())
            .finish()
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Deflate {
    /// Starts compression; `leftover` is what the client sent after the
    /// COMPRESS command (already compressed).
    pub(crate) fn new(leftover: Vec<u8>) -> Self {
        Self {
            inflate: Decompress::new(false),
            deflate: None,
            pending: leftover,
            more_out: false,
        }
    }

    /// Whether the compressor currently exists (see [`Deflate::release`]).
    pub(crate) fn holds_compressor(&self) -> bool {
        self.deflate.is_some()
    }

    /// Drops the compressor; the next [`Deflate::compress`] starts a new
    /// one at the byte boundary the last sync flush left.
    pub(crate) fn release(&mut self) {
        self.deflate = None;
    }

    /// Compresses `plain` and sync-flushes, appending to `out`.
    pub(crate) fn compress(&mut self, plain: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let c = self
            .deflate
            .get_or_insert_with(|| Compress::new(Compression::default(), false));
        let mut input = plain;
        loop {
            out.reserve(input.len() / 2 + 64);
            let (in0, out0) = (c.total_in(), c.total_out());
            c.compress_vec(input, out, FlushCompress::Sync)
                .map_err(|e| invalid(&e.to_string()))?;
            let used = usize::try_from(c.total_in() - in0).unwrap_or(input.len());
            input = input.get(used..).unwrap_or_default();
            // The flush is complete when all input is taken and the
            // compressor stopped with room left in the output.
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
            if used == 0 && c.total_out() == out0 && out.len() < out.capacity() {
                return Err(invalid("deflate made no progress"));
            }
        }
    }

    /// Takes compressed bytes read from the socket.
    pub(crate) fn feed(&mut self, compressed: &[u8]) {
        self.pending.extend_from_slice(compressed);
    }

    /// Whether input is waiting to be inflated (no socket read needed).
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty() || self.more_out
    }

    /// Inflates pending input, appending at most about [`CHUNK`] plain bytes
    /// to `out`; returns how many were added (0: more input needed).
    pub(crate) fn inflate(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut taken = 0;
        loop {
            if chunk.len() == chunk.capacity() {
                // The decompressor may hold more output than fitted.
                self.more_out = true;
                break;
            }
            if taken == self.pending.len() && !self.more_out {
                break;
            }
            self.more_out = false;
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let status = self
                .inflate
                .decompress_vec(&self.pending[taken..], &mut chunk, FlushDecompress::None)
                .map_err(|_| invalid("invalid deflate data from the client"))?;
            let used = usize::try_from(self.inflate.total_in() - in0).unwrap_or(0);
            taken += used;
            if status == Status::StreamEnd {
                // RFC 4978 has no end of compression but the connection's.
                return Err(invalid("client ended its deflate stream"));
            }
            if used == 0 && self.inflate.total_out() == out0 {
                break;
            }
        }
        self.pending.drain(..taken);
        if self.pending.is_empty() {
            // An idle session keeps no input buffer around.
            self.pending = Vec::new();
        }
        out.extend_from_slice(&chunk);
        Ok(chunk.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client-side pair, as Python's `zlib.compressobj(wbits=-15)` is.
    fn client_compress(c: &mut Compress, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + 64);
        c.compress_vec(plain, &mut out, FlushCompress::Sync)
            .expect("compress");
        out
    }

    fn server_output_inflates(d: &mut Decompress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(data, &mut out, FlushDecompress::Sync)
            .expect("inflate");
        out
    }

    #[test]
    fn round_trip_across_a_released_compressor() {
        let mut server = Deflate::new(Vec::new());
        let mut client_in = Decompress::new(false);
        let mut wire = Vec::new();
        server
            .compress(b"* OK first batch\r\n", &mut wire)
            .expect("compress");
        assert_eq!(
            server_output_inflates(&mut client_in, &wire),
            b"* OK first batch\r\n"
        );
        server.release();
        assert!(!server.holds_compressor());
        let mut wire = Vec::new();
        let big = "* 1 FETCH (FLAGS (\\Seen))\r\n".repeat(2000);
        server
            .compress(big.as_bytes(), &mut wire)
            .expect("compress");
        assert!(wire.len() < big.len() / 10, "compressed {}", wire.len());
        assert_eq!(
            server_output_inflates(&mut client_in, &wire),
            big.as_bytes()
        );
    }

    #[test]
    fn input_is_inflated_in_bounded_steps() {
        let mut client = Compress::new(Compression::default(), false);
        let bomb = vec![b'a'; 1024 * 1024];
        let wire = client_compress(&mut client, &bomb);
        assert!(wire.len() < 8 * 1024);
        let mut server = Deflate::new(Vec::new());
        server.feed(&wire);
        let mut plain = Vec::new();
        let mut steps = 0;
        while server.has_pending() {
            let n = server.inflate(&mut plain).expect("inflate");
            assert!(n <= CHUNK);
            steps += 1;
            assert!(steps < 1000, "no progress");
        }
        // Everything the client flushed comes out, CHUNK at a time.
        assert_eq!(plain.len(), bomb.len());
        assert!(steps > 10);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut server = Deflate::new(b"\xff\xff\xff\xff garbage".to_vec());
        assert!(server.inflate(&mut Vec::new()).is_err());
    }

    #[test]
    fn leftover_after_the_command_is_compressed_input() {
        let mut client = Compress::new(Compression::default(), false);
        let wire = client_compress(&mut client, b"a1 NOOP\r\n");
        let mut server = Deflate::new(wire);
        let mut plain = Vec::new();
        server.inflate(&mut plain).expect("inflate");
        assert_eq!(plain, b"a1 NOOP\r\n");
    }
}
