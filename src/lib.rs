//! Stream LLM tokens to HTTP clients as spec-exact Server-Sent Events.
//!
//! `llm-sse` turns the token stream a model produces into SSE frames with the
//! lowest possible time to first token, and reads SSE streams back for
//! services that re-stream an upstream provider.
//!
//! # Quick start
//!
//! ```
//! use llm_sse::Event;
//!
//! // Untrusted model text cannot forge a field: every line becomes `data:`.
//! let event = Event::new("Hello\nid: 1");
//! assert_eq!(event.to_bytes(), "data: Hello\ndata: id: 1\n\n");
//! ```
//!
//! # Events and encoding
//!
//! [`Event`] holds one event. Data and comments may hold any text; names and
//! ids are checked when the event is built ([`EventBuilder::build`]), so an
//! `Event` always encodes to a well-formed frame. [`Event::encode`] writes
//! into a caller's [`BytesMut`](bytes::BytesMut) and allocates nothing when
//! the buffer has room for [`Event::encoded_len`] bytes.
//!
//! # Decoding
//!
//! [`decode::Decoder`] is an incremental parser that follows the WHATWG
//! algorithm exactly, and [`decode::DecodeStream`] runs it over a body
//! stream.
//!
//! # Feature flags
//!
//! No feature is on by default.
//!
//! - `json`: `Event::json`, JSON payloads through serde that round-trip
//!   any text exactly.
//! - `tokio`: a timer backed by `tokio::time`.
//! - `full`: every feature above.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod encode;
mod error;
mod event;
#[cfg(feature = "json")]
mod json;
mod timer;
mod token;

pub mod adapters;
pub mod decode;

pub use builder::{Builder, SseStream, DEFAULT_HEARTBEAT};
pub use error::{Error, Panicked, TimedOut, TimeoutKind};
pub use event::{Event, EventBuilder, EventError};
pub use timer::{Sleep, Timer};
#[cfg(feature = "tokio")]
pub use timer::{TokioSleep, TokioTimer};
pub use token::{FrameStreamExt, TokenStream, TokenStreamExt};

/// A `Result` whose error is this crate's stream [`Error`].
pub type Result<T, E> = std::result::Result<T, Error<E>>;
