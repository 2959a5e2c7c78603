//! COMPRESS (RFC 4978). The command only checks and answers; the run loop
//! switches the connection to deflate after writing the tagged OK (see
//! [`crate::compress`]).

use mail_imap_proto::response::Code;

use crate::session::{Flow, Session};

impl Session {
    pub(crate) fn compress(&mut self, tag: &str, mechanism: &str) -> Flow {
        if self.compress.is_some() {
            return self.no(
                tag,
                Some(Code::CompressionActive),
                "DEFLATE is already active",
            );
        }
        if mechanism != "DEFLATE" {
            // RFC 4978 3: an unknown mechanism is a BAD argument.
            return self.bad(tag, "Unknown compression mechanism (only DEFLATE)");
        }
        self.ok(tag, None, "DEFLATE active");
        Flow::Compress
    }
}
