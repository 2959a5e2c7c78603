//! One message's content in progress: decoder, buffer and deadline.

use std::time::Duration;

use mail_smtp_proto::{DataDecoder, DataSummary};
use tokio::time::Instant;

use crate::buffer::MessageBuffer;

/// The content of one DATA, or of all BDAT chunks of one transaction so
/// far, with the deadline by which the whole message must have arrived.
#[derive(Debug)]
pub struct Incoming {
    decoder: DataDecoder,
    buffer: MessageBuffer,
    deadline: Instant,
    max_size: u64,
    chunked: bool,
}

impl Incoming {
    /// DATA content (dot-stuffed, ends with `CRLF.CRLF`, RFC 5321
    /// 4.1.1.4) of at most `max_size` octets, due within `message_timeout`
    /// from now.
    pub fn data(max_size: u64, buffer: MessageBuffer, message_timeout: Duration) -> Self {
        Self::new(
            DataDecoder::new(max_size),
            max_size,
            buffer,
            message_timeout,
            false,
        )
    }

    /// BDAT chunks (RFC 3030 2: counted, no dot-stuffing); the deadline
    /// runs from the first chunk to the last.
    pub fn chunks(max_size: u64, buffer: MessageBuffer, message_timeout: Duration) -> Self {
        Self::new(
            DataDecoder::raw(max_size),
            max_size,
            buffer,
            message_timeout,
            true,
        )
    }

    fn new(
        decoder: DataDecoder,
        max_size: u64,
        buffer: MessageBuffer,
        message_timeout: Duration,
        chunked: bool,
    ) -> Self {
        Self {
            decoder,
            buffer,
            deadline: Instant::now() + message_timeout,
            max_size,
            chunked,
        }
    }

    /// When the whole message must be in.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Content octets so far.
    pub fn size(&self) -> u64 {
        self.decoder.summary().size
    }

    /// Whether a BDAT chunk of `chunk` octets keeps the message within
    /// the size limit (RFC 1870 / RFC 3030: refused before it is read).
    pub fn fits(&self, chunk: u64) -> bool {
        self.size().saturating_add(chunk) <= self.max_size
    }

    /// Decodes one piece of input into the buffer; `Some(consumed)` when
    /// the DATA end marker ends `consumed` octets into `piece` (what
    /// follows is pipelined commands).
    pub(crate) async fn feed(&mut self, piece: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        out.clear();
        let status = self.decoder.feed(piece, out);
        self.buffer.write(out).await;
        match status {
            mail_smtp_proto::DataStatus::Done { consumed } => Some(consumed),
            _ => None,
        }
    }

    /// The buffer and what the content looked like (for the content
    /// policy: size, bare line endings, NUL, long lines).
    pub async fn finish(mut self) -> (MessageBuffer, DataSummary) {
        if !self.chunked {
            return (self.buffer, self.decoder.summary());
        }
        let mut out = Vec::new();
        let summary = self.decoder.finish_raw(&mut out);
        self.buffer.write(&out).await;
        (self.buffer, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_fit_up_to_the_limit_and_keep_their_octets() {
        let buffer = MessageBuffer::new(100, None);
        let mut inc = Incoming::chunks(10, buffer, Duration::from_secs(60));
        assert!(inc.fits(10));
        assert!(!inc.fits(11));
        assert!(!inc.fits(u64::MAX), "no overflow");
        let mut out = Vec::new();
        assert_eq!(
            inc.feed(b"a\r\n.\r\n", &mut out).await,
            None,
            "no end marker"
        );
        assert!(inc.fits(4));
        assert!(!inc.fits(5));
        let (buffer, summary) = inc.finish().await;
        assert_eq!(summary.size, 6);
        let (body, _) = buffer.finish().await.expect("finish");
        assert_eq!(body.read_all().await.expect("read"), b"a\r\n.\r\n");
    }

    #[tokio::test]
    async fn data_ends_at_the_dot_and_leaves_what_follows() {
        let buffer = MessageBuffer::new(100, None);
        let mut inc = Incoming::data(1000, buffer, Duration::from_secs(60));
        let mut out = Vec::new();
        assert_eq!(
            inc.feed(b"a\r\n..b\r\n.\r\nNOOP\r\n", &mut out).await,
            Some(11)
        );
        let (buffer, _) = inc.finish().await;
        let (body, _) = buffer.finish().await.expect("finish");
        assert_eq!(body.read_all().await.expect("read"), b"a\r\n.b\r\n");
    }
}
