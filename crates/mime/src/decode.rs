//! Content-Transfer-Encoding decoding for BINARY (RFC 3516 4.2), with
//! mail-parser's own decoders, the ones that read the message at delivery.

use mail_parser::parsers::MessageStream;

use crate::error::MimeError;
use crate::section::Cte;

/// The decoded bytes of a part's body. Damaged base64 comes back as it is
/// (mail-parser treats such a part as unencoded too); damaged
/// quoted-printable keeps the bytes it cannot decode.
pub fn decode(body: &[u8], cte: &Cte) -> Result<Vec<u8>, MimeError> {
    match cte {
        Cte::Identity => Ok(body.to_vec()),
        Cte::Base64 => {
            let (end, bytes) = MessageStream::new(body).decode_base64_mime(b"");
            Ok(if end == usize::MAX {
                body.to_vec()
            } else {
                bytes.into_owned()
            })
        }
        Cte::QuotedPrintable => {
            let (end, bytes) = MessageStream::new(body).decode_quoted_printable_mime(b"");
            Ok(if end == usize::MAX {
                body.to_vec()
            } else {
                bytes.into_owned()
            })
        }
        Cte::Unknown(name) => Err(MimeError::UnknownCte(name.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(
            decode(b"a=3Db=\r\nc=\r\n", &Cte::QuotedPrintable).unwrap(),
            b"a=bc"
        );
        assert_eq!(
            decode(b"AAEC\r\nAw==\r\n", &Cte::Base64).unwrap(),
            [0, 1, 2, 3]
        );
        assert_eq!(decode(b"x=ZZ", &Cte::QuotedPrintable).unwrap(), b"x=ZZ");
        assert!(decode(b"x", &Cte::Unknown("x-uue".into())).is_err());
    }
}
