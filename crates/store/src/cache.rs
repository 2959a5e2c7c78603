//! The message cache row: computed by the one MIME parser, `mail-mime`
//! (envelope, body structure with part offsets, chosen headers), so FETCH
//! ENVELOPE/BODYSTRUCTURE and header SEARCH never open the message file
//! and FETCH sections are byte ranges of it.

pub use mail_mime::{
    AddressGroup, BodyPart, CachedMessage, Envelope, EnvelopeAddress, PartOffsets, digest, parse,
};
