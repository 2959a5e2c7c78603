//! JMAP wire format (RFC 8620 core, RFC 8621 mail) without I/O.
//!
//! The server crate (`mail-jmap`) reads bytes off HTTP, hands them to
//! [`Request::parse`], and resolves each [`Invocation`]'s result
//! references ([`reference`]) against the responses so far before it calls
//! a method. Everything that can go wrong on the wire has a type here:
//! request-level problems ([`RequestError`], RFC 8620 3.6.1) answered with
//! an HTTP status, method-level errors ([`MethodError`], 3.6.2) answered
//! inside the response, and per-object [`SetError`]s (5.3).
//!
//! ```
//! use mail_jmap_proto::{Request, Limits};
//! let body = br#"{"using":["urn:ietf:params:jmap:core"],
//!   "methodCalls":[["Core/echo",{"hello":true},"c1"]]}"#;
//! let req = Request::parse(body, &Limits::default()).unwrap();
//! assert_eq!(req.method_calls[0].name, "Core/echo");
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod args;
pub mod capability;
pub mod error;
pub mod id;
pub mod property;
pub mod push;
pub mod reference;
pub mod request;

pub use capability::{Capability, Limits};
pub use error::{MethodError, RequestError, SetError};
pub use request::{Invocation, Request, Response};
