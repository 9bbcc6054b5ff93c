//! Numbering a write's events: the `id:` line each event of a resumable
//! stream carries.

use bytes::{BufMut, Bytes, BytesMut};

use super::StreamId;

/// The events of `frame` (SSE events, each ended by a blank line), each
/// given the `id:` line `<stream>:<seq>`, numbered from `first_seq`: what a
/// store keeps, one entry per event. Bytes after the last blank line (a
/// comment line, say) stay with the last event.
///
/// The `id:` line goes just before each event's blank line; the order of
/// an event's lines does not matter to any client. An event's data can
/// never hold a blank line (the encoder splits every line break into
/// `data:` lines), so the split is exact.
///
/// # Examples
///
/// ```
/// use llm_sse::resume::{number_events, StreamId};
///
/// let stream: StreamId = "abcdefghijklmnopqrstuv".parse().unwrap();
/// let events = number_events(b"data: a\n\nevent: x\ndata: b\n\n", stream, 7);
/// assert_eq!(events, [
///     "data: a\nid: abcdefghijklmnopqrstuv:7\n\n",
///     "event: x\ndata: b\nid: abcdefghijklmnopqrstuv:8\n\n",
/// ]);
/// ```
pub fn number_events(frame: &[u8], stream: StreamId, first_seq: u64) -> Vec<Bytes> {
    number(frame, stream, first_seq).events
}

/// A write whose events carry their ids.
pub(crate) struct Numbered {
    /// The whole write, as the client gets it.
    pub(crate) write: Bytes,
    /// Its events, slices of `write`, as the log keeps them.
    pub(crate) events: Vec<Bytes>,
}

/// Numbers `frame`'s events from `first_seq` (see [`number_events`]).
pub(crate) fn number(frame: &[u8], stream: StreamId, first_seq: u64) -> Numbered {
    const ID_LINE: usize = "id: ".len() + super::STREAM_ID_LEN + ":".len() + 20 + "\n".len();
    let mut out = BytesMut::with_capacity(frame.len() + count_events(frame) * ID_LINE);
    let mut ends = Vec::new();
    let mut rest = frame;
    while let Some(at) = find_blank_line(rest) {
        // `at` is the index of the event's last line break; the blank line
        // is the one after it.
        out.put_slice(&rest[..=at]);
        write_id_line(
            &mut out,
            stream,
            first_seq.saturating_add(ends.len() as u64),
        );
        out.put_u8(b'\n');
        ends.push(out.len());
        rest = &rest[at + 2..];
    }
    out.put_slice(rest);
    let write = out.freeze();
    // Bytes after the last event stay with it.
    if let Some(last) = ends.last_mut() {
        *last = write.len();
    } else if !write.is_empty() {
        ends.push(write.len());
    }
    let mut start = 0;
    let events = ends
        .into_iter()
        .map(|end| {
            let event = write.slice(start..end);
            start = end;
            event
        })
        .collect();
    Numbered { write, events }
}

fn write_id_line(out: &mut BytesMut, stream: StreamId, seq: u64) {
    out.put_slice(b"id: ");
    out.put_slice(stream.as_str().as_bytes());
    out.put_u8(b':');
    let mut digits = [0u8; 20];
    let mut n = seq;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[at..]);
    out.put_u8(b'\n');
}

fn count_events(frame: &[u8]) -> usize {
    frame.windows(2).filter(|pair| pair == b"\n\n").count()
}

fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|pair| pair == b"\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> StreamId {
        "abcdefghijklmnopqrstuv".parse().unwrap()
    }

    #[test]
    fn every_event_gets_the_next_id() {
        let events = number_events(b"data: a\n\ndata: b\ndata: c\n\n", stream(), 1);
        assert_eq!(
            events,
            [
                "data: a\nid: abcdefghijklmnopqrstuv:1\n\n",
                "data: b\ndata: c\nid: abcdefghijklmnopqrstuv:2\n\n",
            ]
        );
    }

    #[test]
    fn large_positions_are_written_whole() {
        let events = number_events(b"data: a\n\n", stream(), u64::MAX);
        assert_eq!(
            events,
            [format!(
                "data: a\nid: abcdefghijklmnopqrstuv:{}\n\n",
                u64::MAX
            )]
        );
    }

    #[test]
    fn a_trailing_comment_stays_with_the_last_event() {
        let events = number_events(b"data: a\n\n: ping\n", stream(), 3);
        assert_eq!(
            events,
            ["data: a\nid: abcdefghijklmnopqrstuv:3\n\n: ping\n"]
        );
        assert_eq!(number_events(b": ping\n", stream(), 3), [": ping\n"]);
        assert!(number_events(b"", stream(), 3).is_empty());
    }
}
