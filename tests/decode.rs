//! The decoder against the WHATWG parsing rules, with every input split at
//! every byte position.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use llm_sse::decode::{DecodeError, DecodeStream, DecodeStreamError, Decoder, Frame};
use llm_sse::Event;

/// What a test expects: events as (name, data, id), comments and retries.
#[derive(Debug, PartialEq)]
enum F {
    E(Option<&'static str>, &'static str, Option<&'static str>),
    C(&'static str),
    R(u64),
    TooLarge,
}

/// A frame flattened for comparison: (name, data or comment, id, kind, retry).
type Simple = (Option<String>, String, Option<String>, u8, u64);

fn simplify(frame: Result<Frame, DecodeError>) -> Simple {
    match frame {
        Ok(Frame::Event(e)) => (
            e.event().map(str::to_owned),
            e.data().unwrap().to_owned(),
            e.id().map(str::to_owned),
            0,
            0,
        ),
        Ok(Frame::Comment(c)) => (None, c, None, 1, 0),
        Ok(Frame::Retry(r)) => (None, String::new(), None, 2, r.as_millis() as u64),
        Err(DecodeError::EventTooLarge { .. }) => (None, String::new(), None, 3, 0),
        other => panic!("{other:?}"),
    }
}

fn expected(frames: &[F]) -> Vec<Simple> {
    frames
        .iter()
        .map(|f| match f {
            F::E(n, d, i) => (
                n.map(str::to_owned),
                d.to_string(),
                i.map(str::to_owned),
                0,
                0,
            ),
            F::C(c) => (None, c.to_string(), None, 1, 0),
            F::R(r) => (None, String::new(), None, 2, *r),
            F::TooLarge => (None, String::new(), None, 3, 0),
        })
        .collect()
}

fn decode_chunks(decoder: Decoder, chunks: &[&[u8]]) -> Vec<Simple> {
    let mut decoder = decoder;
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        while let Some(frame) = decoder.next_frame() {
            out.push(simplify(frame));
        }
    }
    out
}

/// Decodes `input` whole, then split once at every position, then split
/// into single bytes; all must give `frames`.
fn check_with(make: impl Fn() -> Decoder, input: &[u8], frames: &[F]) {
    let want = expected(frames);
    assert_eq!(decode_chunks(make(), &[input]), want, "whole {input:?}");
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(
            decode_chunks(make(), &[a, b]),
            want,
            "split at {at} of {input:?}"
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode_chunks(make(), &bytes), want, "bytewise {input:?}");
}

fn check(input: &str, frames: &[F]) {
    check_with(Decoder::new, input.as_bytes(), frames);
}

use F::*;

#[test]
fn line_ending_matrix() {
    for (a, b) in [
        ("\n", "\n"),
        ("\r", "\r"),
        ("\r\n", "\r\n"),
        ("\n", "\r"),
        ("\r", "\n"),
        ("\r\n", "\r"),
        ("\r", "\r\n"),
        ("\n", "\r\n"),
        ("\r\n", "\n"),
    ] {
        check(
            &format!("data: x{a}data: y{b}{b}"),
            &[E(None, "x\ny", None)],
        );
    }
    check("data: a\r\r\n", &[E(None, "a", None)]);
    check("data: a\r\n\r\n", &[E(None, "a", None)]);
    check("data: a\n\r", &[E(None, "a", None)]);
    check("data: a\r\n\n", &[E(None, "a", None)]);
    check("data: a\r\r", &[E(None, "a", None)]);
}

#[test]
fn final_cr_terminated_event_is_not_lost_at_eof() {
    check("data: last\r\r", &[E(None, "last", None)]);
}

#[test]
fn spec_examples() {
    // The stock-ticker-like example: three lines make one event.
    check(
        "data: YHOO\ndata: +2\ndata: 10\n\n",
        &[E(None, "YHOO\n+2\n10", None)],
    );
    // First block: comment only, no event; second: id persists.
    check(
        ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
        &[E(None, "first event", Some("1")), E(None, "second event", None)],
    );
    // Empty data lines.
    check(
        "data\n\ndata\ndata\n\ndata:",
        &[E(None, "", None), E(None, "\n", None)],
    );
    // One leading space is stripped, a second is kept.
    check(
        "data:test\n\ndata: test\n\n",
        &[E(None, "test", None), E(None, "test", None)],
    );
    check("data:  test\n\n", &[E(None, " test", None)]);
}

#[test]
fn event_names_and_ids() {
    check(
        "event: add\ndata: 1\n\ndata: 2\n\n",
        &[E(Some("add"), "1", None), E(None, "2", None)],
    );
    check("event:\ndata: 1\n\n", &[E(None, "1", None)]);
    check(
        "event: a\nevent: b\ndata: 1\n\n",
        &[E(Some("b"), "1", None)],
    );
    // An event name without data dispatches nothing and is reset.
    check("event: a\n\ndata: 1\n\n", &[E(None, "1", None)]);
    check(
        "id: 7\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\n",
        &[
            E(None, "1", Some("7")),
            E(None, "2", Some("7")),
            E(None, "3", None),
        ],
    );
    // An id holding NUL is ignored entirely.
    check("id: 1\n\nid: a\0b\ndata: x\n\n", &[E(None, "x", Some("1"))]);
}

#[test]
fn retry_takes_digits_only() {
    check("retry: 1500\n\n", &[R(1500)]);
    check("retry:0\n", &[R(0)]);
    for bogus in [
        "retry: 1.5\n",
        "retry: -1\n",
        "retry: 1e3\n",
        "retry:\n",
        "retry\n",
        "retry:  10\n",
        "retry: 10 \n",
    ] {
        check(bogus, &[]);
    }
    check("retry: 99999999999999999999999\n", &[R(u64::MAX)]);
}

#[test]
fn unknown_fields_and_colons() {
    check("foo: bar\ndata: a\n\n", &[E(None, "a", None)]);
    check("data: a:b: c\n\n", &[E(None, "a:b: c", None)]);
    check("Data: x\nDATA: y\n\n", &[]);
    check(" data: x\n\n", &[]);
}

#[test]
fn comments_on_request() {
    let input = ": hi\n:\n:  two\n:\0nul\ndata: x\n\n";
    check(input, &[E(None, "x", None)]);
    check_with(
        || Decoder::new().comments(true),
        input.as_bytes(),
        &[C("hi"), C(""), C(" two"), C("\0nul"), E(None, "x", None)],
    );
}

#[test]
fn bom_is_stripped_once_at_the_start_only() {
    check("\u{feff}data: a\n\n", &[E(None, "a", None)]);
    // A second BOM starts the first line, so the field name is not `data`.
    check(
        "\u{feff}\u{feff}data: a\n\ndata: b\n\n",
        &[E(None, "b", None)],
    );
    check("data: \u{feff}a\n\n", &[E(None, "\u{feff}a", None)]);
    check("\u{feff}", &[]);
    check("\u{feff}\n", &[]);
    // A partial BOM is just bytes of the first line.
    check_with(
        Decoder::new,
        b"\xEF\xBBdata: a\n\ndata: b\n\n",
        &[E(None, "b", None)],
    );
}

#[test]
fn unterminated_final_event_is_dropped() {
    check("data: a\n\ndata: b\n", &[E(None, "a", None)]);
    check("data: a\n\ndata: b", &[E(None, "a", None)]);
}

#[test]
fn invalid_utf8_is_replaced_and_later_events_survive() {
    check_with(
        Decoder::new,
        b"data: a\xFFb\n\ndata: \xE2\x82\n\ndata: \xF0\x9F\x98\x80 ok\n\n",
        &[
            E(None, "a\u{fffd}b", None),
            E(None, "\u{fffd}", None),
            E(None, "\u{1F600} ok", None),
        ],
    );
}

#[test]
fn nul_in_data_passes_through() {
    check("data: a\0b\n\n", &[E(None, "a\0b", None)]);
}

#[test]
fn oversized_events_are_reported_skipped_and_parsing_resumes() {
    let small = || Decoder::new().max_event_size(16);
    // A long line.
    check_with(
        small,
        b"data: 0123456789abcdefghij\ndata: more\n\ndata: ok\n\n",
        &[TooLarge, E(None, "ok", None)],
    );
    // Many short lines.
    check_with(
        small,
        b"data: 12345\ndata: 12345\ndata: 12345\n\ndata: ok\n\n",
        &[TooLarge, E(None, "ok", None)],
    );
    // At the limit exactly is fine: "data: 0123456789\n" is 17 bytes, minus
    // nothing; "data: 012345678\n" is 16.
    check_with(small, b"data: 012345678\n\n", &[E(None, "012345678", None)]);
    // A long line split across chunks is dropped as it arrives; the CR that
    // ends it is not taken for a blank line.
    let mut decoder = small();
    let mut frames = Vec::new();
    for chunk in [
        &b"data: 0123456789"[..],
        b"0123456789",
        b"0123456789\r",
        b"\ndata: x\r\n",
        b"\r\ndata: y\n\n",
    ] {
        decoder.feed(chunk);
        while let Some(f) = decoder.next_frame() {
            frames.push(simplify(f));
        }
    }
    assert_eq!(frames, expected(&[TooLarge, E(None, "y", None)]));
}

#[test]
fn huge_event_in_many_chunks() {
    let payload = "x".repeat(8 << 20);
    let input = format!("data: {payload}\n\n");
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    for chunk in input.as_bytes().chunks(input.len() / 1024 + 1) {
        decoder.feed(chunk);
        while let Some(frame) = decoder.next_frame() {
            events.push(frame.unwrap());
        }
    }
    assert_eq!(events, [Frame::Event(Event::new(payload))]);
}

#[test]
fn feeding_before_all_frames_are_taken_keeps_the_rest() {
    // Each feed comes while frames of earlier bytes are still unread, and
    // a line and a CRLF are cut between feeds.
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    decoder.feed(b"data: a\r\n\r\ndata: b\r\n\r\ndata: c");
    frames.push(simplify(decoder.next_frame().unwrap()));
    decoder.feed(b"d\r");
    frames.push(simplify(decoder.next_frame().unwrap()));
    decoder.feed(b"\n\r\nid: 7\n");
    decoder.feed(b"data: e\n\n");
    while let Some(frame) = decoder.next_frame() {
        frames.push(simplify(frame));
    }
    assert_eq!(
        frames,
        expected(&[
            E(None, "a", None),
            E(None, "b", None),
            E(None, "cd", None),
            E(None, "e", Some("7")),
        ])
    );
}

#[tokio::test]
async fn stream_adapter_passes_upstream_errors_and_ends_cleanly() {
    let body = stream::iter(vec![Ok(&b"data: a\n"[..]), Err("boom"), Ok(b"\ndata: b")]);
    let mut decoded = DecodeStream::new(body);
    assert!(matches!(
        decoded.next().await,
        Some(Err(DecodeStreamError::Upstream("boom")))
    ));
    assert_eq!(
        decoded.next().await.unwrap().unwrap(),
        Frame::Event(Event::new("a"))
    );
    assert!(decoded.next().await.is_none());
    assert!(futures_util::stream::FusedStream::is_terminated(&decoded));
    assert!(decoded.next().await.is_none());
}

#[test]
fn retry_frame_round_trips() {
    let event = Event::builder()
        .retry(Duration::from_millis(2500))
        .data("d")
        .build()
        .unwrap();
    let mut decoder = Decoder::new();
    decoder.feed(&event.to_bytes());
    assert_eq!(
        decoder.next_frame(),
        Some(Ok(Frame::Retry(Duration::from_millis(2500))))
    );
    assert_eq!(
        decoder.next_frame(),
        Some(Ok(Frame::Event(Event::new("d"))))
    );
    assert_eq!(decoder.next_frame(), None);
}
