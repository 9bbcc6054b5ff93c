//! [`StreamId`] and [`EventId`]: what a resumable stream's `id:` lines
//! carry, and how an id from a client is checked before any store sees it.

use std::fmt;
use std::str::FromStr;

/// The length of a [`StreamId`]: 128 random bits in base64url, unpadded.
pub const STREAM_ID_LEN: usize = 22;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The name of one resumable stream: 128 bits from the operating system's
/// random source, written as 22 base64url characters.
///
/// It is the stream's only secret: whoever holds it can resume or stop the
/// stream, unless the app binds the stream to a principal
/// ([`ResumableBuilder::principal`](super::ResumableBuilder::principal)).
///
/// # Examples
///
/// ```
/// use llm_sse::resume::StreamId;
///
/// let id = StreamId::random().unwrap();
/// assert_eq!(id.as_str().len(), 22);
/// assert_eq!(id.as_str().parse::<StreamId>().unwrap(), id);
/// assert!("not an id".parse::<StreamId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId([u8; STREAM_ID_LEN]);

impl StreamId {
    /// The id of a stream that could not get a random one: never logged.
    pub(crate) const UNLOGGED: StreamId = StreamId([b'A'; STREAM_ID_LEN]);

    /// A new id from the operating system's random source.
    ///
    /// # Errors
    ///
    /// If the operating system has no random source to give.
    pub fn random() -> Result<Self, InvalidId> {
        let mut bits = [0u8; 16];
        getrandom::fill(&mut bits).map_err(|_| InvalidId::NoRandomness)?;
        let mut id = [0u8; STREAM_ID_LEN];
        // 128 bits as 21 whole 6-bit digits and a last digit of 2 bits.
        let value = u128::from_be_bytes(bits);
        for (i, digit) in id.iter_mut().enumerate() {
            let shift = 128 - 6 * (i as i32 + 1);
            let bits = if shift >= 0 {
                (value >> shift) & 0x3f
            } else {
                (value << -shift) & 0x3f
            };
            *digit = ALPHABET[bits as usize];
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII from `ALPHABET` is ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for StreamId {
    type Err = InvalidId;

    fn from_str(text: &str) -> Result<Self, InvalidId> {
        let bytes = text.as_bytes();
        if bytes.len() != STREAM_ID_LEN {
            return Err(InvalidId::Malformed);
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return Err(InvalidId::Malformed);
        }
        let mut id = [0u8; STREAM_ID_LEN];
        id.copy_from_slice(bytes);
        Ok(Self(id))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.as_str())
    }
}

/// The `id:` of one frame of a resumable stream: `<stream>:<seq>`, the
/// stream's [`StreamId`] and the frame's position in it, from 1.
///
/// This is what a browser sends back as `Last-Event-ID`.
///
/// # Examples
///
/// ```
/// use llm_sse::resume::EventId;
///
/// let id: EventId = "AAAAAAAAAAAAAAAAAAAAAA:12".parse().unwrap();
/// assert_eq!(id.seq(), 12);
/// assert_eq!(id.to_string(), "AAAAAAAAAAAAAAAAAAAAAA:12");
/// assert!("AAAAAAAAAAAAAAAAAAAAAA:".parse::<EventId>().is_err());
/// assert!("AAAAAAAAAAAAAAAAAAAAAA:+1".parse::<EventId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId {
    stream: StreamId,
    seq: u64,
}

impl EventId {
    /// The id of frame `seq` of `stream`.
    pub fn new(stream: StreamId, seq: u64) -> Self {
        Self { stream, seq }
    }

    /// The stream the frame belongs to.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// The frame's position in its stream, from 1.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Parses an event id, or a bare stream id (position 0: the stream
    /// from its start), the forms a stop request may name a stream by.
    ///
    /// # Errors
    ///
    /// [`InvalidId::Malformed`] for anything else.
    pub fn parse_stream_or_event(text: &str) -> Result<Self, InvalidId> {
        match text.parse::<StreamId>() {
            Ok(stream) => Ok(Self::new(stream, 0)),
            Err(_) => text.parse(),
        }
    }
}

impl FromStr for EventId {
    type Err = InvalidId;

    fn from_str(text: &str) -> Result<Self, InvalidId> {
        // Checked before any store sees it: a fixed-length id, a colon and
        // at most 20 decimal digits.
        let (stream, seq) = text.split_once(':').ok_or(InvalidId::Malformed)?;
        if seq.is_empty() || seq.len() > 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidId::Malformed);
        }
        let seq = seq.parse().map_err(|_| InvalidId::Malformed)?;
        Ok(Self {
            stream: stream.parse()?,
            seq,
        })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.stream, self.seq)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// Why an id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidId {
    /// The text is not `<22 base64url characters>:<decimal position>`.
    #[error("the event id is not of the form `<stream>:<position>`")]
    Malformed,
    /// The operating system gave no random bytes for a new id.
    #[error("the operating system's random source failed")]
    NoRandomness,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_differ_and_round_trip() {
        let a = StreamId::random().unwrap();
        let b = StreamId::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<StreamId>().unwrap(), a);
        let event = EventId::new(a, u64::MAX);
        assert_eq!(event.to_string().parse::<EventId>().unwrap(), event);
    }

    #[test]
    fn the_last_digit_carries_two_bits() {
        // 128 = 21 * 6 + 2: the last character only takes 4 values.
        for _ in 0..64 {
            let id = StreamId::random().unwrap();
            let last = id.as_str().as_bytes()[21];
            assert!(matches!(last, b'A' | b'Q' | b'g' | b'w'), "{}", id);
        }
    }

    #[test]
    fn hostile_ids_are_refused() {
        let good = "abcdefghijklmnopqrstuv";
        for bad in [
            "",
            ":1",
            "abcdefghijklmnopqrstu:1",
            "abcdefghijklmnopqrstuvw:1",
            "abcdefghijklmnopqrstu/:1",
            "abcdefghijklmnopqrstuv:1:2",
            "abcdefghijklmnopqrstuv:-1",
            "abcdefghijklmnopqrstuv:1 ",
            "abcdefghijklmnopqrstuv:99999999999999999999",
            "abcdefghijklmnopqrstuv:1\n",
            "abcdefghijklmnopqrstuvé:1",
        ] {
            assert_eq!(bad.parse::<EventId>(), Err(InvalidId::Malformed), "{bad:?}");
        }
        assert_eq!(format!("{good}:0").parse::<EventId>().unwrap().seq(), 0);
        assert_eq!(EventId::parse_stream_or_event(good).unwrap().seq(), 0);
    }
}
