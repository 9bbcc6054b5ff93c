//! Properties of encode → decode: nothing in the data can change which
//! events, names and ids arrive, and text arrives intact (JSON: exactly).

use llm_sse::decode::{Decoder, Frame};
use llm_sse::Event;
use proptest::prelude::*;

/// Text biased towards what could break framing.
fn nasty_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\r".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\n\n".to_owned()),
            Just(":".to_owned()),
            Just(" ".to_owned()),
            Just("\0".to_owned()),
            Just("\u{feff}".to_owned()),
            Just("data: x".to_owned()),
            Just("id: 9".to_owned()),
            Just("event: admin".to_owned()),
            Just("retry: 1".to_owned()),
            any::<String>(),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn field_text(forbid: &'static [char]) -> impl Strategy<Value = String> {
    any::<String>().prop_map(move |s| s.chars().filter(|c| !forbid.contains(c)).collect())
}

#[derive(Debug, Clone)]
struct Spec {
    data: String,
    name: Option<String>,
    id: Option<String>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        nasty_text(),
        prop::option::of(field_text(&['\r', '\n']).prop_filter("non-empty", |s| !s.is_empty())),
        prop::option::of(field_text(&['\r', '\n', '\0'])),
    )
        .prop_map(|(data, name, id)| Spec { data, name, id })
}

fn build(spec: &Spec) -> Event {
    let mut builder = Event::builder().data(spec.data.clone());
    if let Some(name) = &spec.name {
        builder = builder.event(name.clone());
    }
    if let Some(id) = &spec.id {
        builder = builder.id(id.clone());
    }
    builder.build().expect("valid by construction")
}

/// Feeds `bytes` to `decoder` in pieces cut at `cuts` (taken modulo the
/// length) and collects the frames, an oversized event as a comment.
fn decode_cut(mut decoder: Decoder, bytes: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    for cut in cuts {
        decoder.feed(&bytes[start..cut]);
        start = cut;
        while let Some(frame) = decoder.next_frame() {
            out.push(frame.unwrap_or(Frame::Comment("<too large>".into())));
        }
    }
    out
}

fn decode(bytes: &[u8], cuts: &[usize]) -> Vec<Event> {
    decode_cut(Decoder::new(), bytes, cuts)
        .into_iter()
        .map(|frame| match frame {
            Frame::Event(event) => event,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn lf_only(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

proptest! {
    #[test]
    fn decode_of_encode_is_the_event_with_line_breaks_as_lf(
        specs in prop::collection::vec(spec(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut wire = Vec::new();
        for spec in &specs {
            wire.extend_from_slice(&build(spec).to_bytes());
        }
        let decoded = decode(&wire, &cuts);
        // Same number of events, so no data made or swallowed one.
        prop_assert_eq!(decoded.len(), specs.len());
        let mut last_id = String::new();
        for (event, spec) in decoded.iter().zip(&specs) {
            if let Some(id) = &spec.id {
                last_id.clone_from(id);
            }
            let want = lf_only(&spec.data);
            prop_assert_eq!(event.data(), Some(want.as_str()));
            prop_assert_eq!(event.event(), spec.name.as_deref());
            prop_assert_eq!(event.id(), Some(last_id.as_str()).filter(|id| !id.is_empty()));
        }
    }

    #[test]
    fn json_payloads_round_trip_exactly(
        texts in prop::collection::vec(nasty_text(), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut wire = Vec::new();
        for text in &texts {
            wire.extend_from_slice(&Event::json(text).unwrap().to_bytes());
        }
        let decoded = decode(&wire, &cuts);
        prop_assert_eq!(decoded.len(), texts.len());
        for (event, text) in decoded.iter().zip(&texts) {
            let back: String = serde_json::from_str(event.data().unwrap()).unwrap();
            prop_assert_eq!(&back, text);
        }
    }

    #[test]
    fn comments_never_dispatch(comment in nasty_text(), data in nasty_text()) {
        let mut wire = Event::new_comment(comment).to_bytes().to_vec();
        wire.extend_from_slice(&Event::new(data.clone()).to_bytes());
        let decoded = decode(&wire, &[]);
        prop_assert_eq!(decoded.len(), 1);
        let want = lf_only(&data);
        prop_assert_eq!(decoded[0].data(), Some(want.as_str()));
    }

    #[test]
    fn any_bytes_never_panic_and_chunking_does_not_matter(
        bytes in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(b'd'), Just(b'a'), Just(b't'), any::<u8>()], 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = decode_lossy(&bytes, &[]);
        prop_assert_eq!(decode_lossy(&bytes, &cuts), whole);
    }
}

fn decode_lossy(bytes: &[u8], cuts: &[usize]) -> Vec<Frame> {
    decode_cut(
        Decoder::new().comments(true).max_event_size(64),
        bytes,
        cuts,
    )
}

/// Hostile text in every kind of delta, through every format with its own
/// framing: each delta is exactly one event, with the name the format
/// gives its kind, and its text arrives intact (JSON: exactly).
mod typed {
    use bytes::BytesMut;
    use llm_sse::format::{Format, JsonDelta, Text};
    use llm_sse::Delta;
    use proptest::prelude::*;
    use serde_json::Value;

    use super::{decode, lf_only, nasty_text};

    fn delta(kind: u8, text: String) -> Delta {
        match kind {
            0 => Delta::text(text),
            1 => Delta::reasoning(text),
            2 => Delta::tool_call(1, text.clone(), text),
            _ => Delta::tool_arguments(1, text),
        }
    }

    proptest! {
        #[test]
        fn no_delta_forges_an_event(
            parts in prop::collection::vec((0u8..4, nasty_text()), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..4),
        ) {
            let deltas: Vec<Delta> = parts.into_iter().map(|(k, t)| delta(k, t)).collect();
            for json in [false, true] {
                let mut buf = BytesMut::new();
                for delta in &deltas {
                    if json {
                        JsonDelta.write_delta(delta, &mut buf);
                    } else {
                        Text.write_delta(delta, &mut buf);
                    }
                }
                let events = decode(&buf, &cuts);
                prop_assert_eq!(events.len(), deltas.len());
                for (event, delta) in events.iter().zip(&deltas) {
                    prop_assert!(event.id().is_none());
                    let data = event.data().unwrap_or_default();
                    let name = event.event();
                    match (json, delta) {
                        (false, Delta::Text(text)) => {
                            prop_assert_eq!(name, None);
                            prop_assert_eq!(data, lf_only(text));
                        }
                        (false, Delta::Reasoning(text)) => {
                            prop_assert_eq!(name, Some("reasoning"));
                            prop_assert_eq!(data, lf_only(text));
                        }
                        _ => {
                            let expected = if json { None } else { Some(delta.kind().as_str()) };
                            prop_assert_eq!(name, expected);
                            let value: Value = serde_json::from_str(data).unwrap();
                            let exact = match delta {
                                Delta::ToolCall { name, .. } => &**name,
                                other => other.as_text().unwrap(),
                            };
                            let field = if matches!(delta, Delta::ToolCall { .. }) { "name" } else { "delta" };
                            prop_assert_eq!(value[field].as_str(), Some(exact));
                        }
                    }
                }
            }
        }
    }
}
