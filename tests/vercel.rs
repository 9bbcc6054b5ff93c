//! The Vercel AI SDK UI message stream through the whole pipeline: what a
//! client folds the chunks into (as the `ai` package's `useChat` does) is
//! exactly what the model produced, for any cut and batching of the
//! deltas; the chunks come in the protocol's order; failures end with one
//! error chunk.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::decode::{Decoder, Frame};
use llm_sse::format::VercelUiStream;
use llm_sse::{Data, Delta, FinishReason, SseStream, Usage};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A part of the message a client builds, as `useChat` keeps it.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Reasoning(String),
    /// A tool call: name and input, or the error text of an invalid one.
    Tool(String, Result<Value, String>),
    Data(String, Value),
}

/// What the client made of a stream.
#[derive(Debug, Default)]
struct Folded {
    parts: Vec<Part>,
    finish_reason: Option<String>,
    metadata: Option<Value>,
    error: Option<String>,
}

/// Runs `deltas` through the pipeline and returns the chunks as JSON (with
/// whether `[DONE]` ended the stream).
async fn run(deltas: Vec<Result<Delta, &'static str>>, batch: Batch) -> (Vec<Value>, bool) {
    let body = SseStream::builder(stream::iter(deltas).map(|d| d.map_err(std::io::Error::other)))
        .batch(batch)
        .format(VercelUiStream::new().message_id("msg_t"))
        .build();
    assert_eq!(
        body.response_headers(),
        [("x-vercel-ai-ui-message-stream", "v1")]
    );
    let wire = String::from_utf8(body.collect::<Vec<_>>().await.concat()).unwrap();
    assert!(
        wire.split('\n')
            .all(|line| line.is_empty() || line.starts_with("data: ")),
        "only data lines, never an id, event or retry field: {wire}"
    );
    assert!(!wire.contains('\r'), "no CR, so no line can end early");
    let mut decoder = Decoder::new().comments(true);
    decoder.feed(wire.as_bytes());
    let mut chunks = Vec::new();
    let mut done = false;
    while let Some(frame) = decoder.next_frame() {
        let Frame::Event(event) = frame.unwrap() else {
            panic!("only data events in {wire}");
        };
        assert!(!done, "nothing after [DONE]");
        match event.data().unwrap() {
            "[DONE]" => done = true,
            data => chunks.push(serde_json::from_str(data).unwrap()),
        }
    }
    (chunks, done)
}

fn text(chunk: &Value, key: &str) -> String {
    chunk[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {chunk}"))
        .to_owned()
}

/// Folds the chunks as the `ai` package's reader does, asserting the
/// protocol's order on the way: every delta after its start and before its
/// end, one part open at a time, everything ended before the finish.
fn fold(chunks: &[Value], done: bool) -> Folded {
    let types: Vec<&str> = chunks.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types[..2], ["start", "start-step"], "{types:?}");
    assert_eq!(chunks[0]["messageId"], "msg_t");
    let mut folded = Folded::default();
    // The open part: its kind, id and where it is in `parts`.
    let mut open: Option<(&str, String, usize)> = None;
    let mut tool_args = String::new();
    let mut ids = std::collections::HashSet::new();
    for (n, chunk) in chunks.iter().enumerate().skip(2) {
        assert!(
            folded.finish_reason.is_none() && folded.error.is_none(),
            "chunk after the end: {chunk}"
        );
        let kind = types[n];
        let (family, id) = match kind {
            k if k.starts_with("text-") || k.starts_with("reasoning-") => {
                (k.split_once('-').unwrap().0, text(chunk, "id"))
            }
            k if k.starts_with("tool-input-") => ("tool", text(chunk, "toolCallId")),
            _ => ("", String::new()),
        };
        match kind {
            "text-start" | "reasoning-start" | "tool-input-start" => {
                assert!(open.is_none(), "{kind} while {open:?} is open");
                assert!(ids.insert(id.clone()), "id {id} used twice");
                folded.parts.push(match family {
                    "text" => Part::Text(String::new()),
                    "reasoning" => Part::Reasoning(String::new()),
                    _ => Part::Tool(text(chunk, "toolName"), Ok(Value::Null)),
                });
                tool_args.clear();
                open = Some((family, id, folded.parts.len() - 1));
            }
            "text-delta" | "reasoning-delta" | "tool-input-delta" => {
                let (f, open_id, at) = open
                    .clone()
                    .unwrap_or_else(|| panic!("{chunk} outside a part"));
                assert_eq!((f, open_id.as_str()), (family, id.as_str()), "{chunk}");
                match &mut folded.parts[at] {
                    Part::Text(t) | Part::Reasoning(t) => t.push_str(&text(chunk, "delta")),
                    _ => tool_args.push_str(&text(chunk, "inputTextDelta")),
                }
            }
            "text-end" | "reasoning-end" | "tool-input-available" | "tool-input-error" => {
                let (f, open_id, at) = open
                    .take()
                    .unwrap_or_else(|| panic!("{chunk} outside a part"));
                assert_eq!((f, open_id.as_str()), (family, id.as_str()), "{chunk}");
                if let Part::Tool(name, input) = &mut folded.parts[at] {
                    assert_eq!(*name, text(chunk, "toolName"));
                    if kind == "tool-input-available" {
                        *input = Ok(chunk["input"].clone());
                        // The input is the joined arguments, parsed.
                        let parsed = if tool_args.trim().is_empty() {
                            json!({})
                        } else {
                            serde_json::from_str(&tool_args).unwrap()
                        };
                        assert_eq!(chunk["input"], parsed);
                    } else {
                        assert_eq!(chunk["input"], tool_args.as_str());
                        *input = Err(text(chunk, "errorText"));
                    }
                }
            }
            "finish-step" => {
                assert!(open.is_none(), "finish-step while {open:?} is open");
                assert_eq!(types[n + 1..], ["finish"]);
            }
            "finish" => {
                folded.finish_reason = Some(text(chunk, "finishReason"));
                folded.metadata = chunk.get("messageMetadata").cloned();
            }
            "error" => folded.error = Some(text(chunk, "errorText")),
            k if k.starts_with("data-") => {
                folded
                    .parts
                    .push(Part::Data(k[5..].to_owned(), chunk["data"].clone()));
            }
            other => panic!("unexpected chunk type {other}"),
        }
    }
    if folded.error.is_some() {
        assert!(!done, "no [DONE] after an error");
    } else {
        assert!(done, "[DONE] last");
        assert!(folded.finish_reason.is_some(), "finish before [DONE]");
    }
    folded
}

fn ok(deltas: impl IntoIterator<Item = Delta>) -> Vec<Result<Delta, &'static str>> {
    deltas.into_iter().map(Ok).collect()
}

#[tokio::test]
async fn a_whole_answer() {
    let (chunks, done) = run(
        ok([
            Delta::reasoning("Looking"),
            Delta::reasoning(" it up."),
            Delta::tool_call(0, "call_1", "lookup"),
            Delta::tool_arguments(0, "{\"query\":\r\n"),
            Delta::tool_arguments(0, "\"a\\nb\"}"),
            Delta::data(Data::string("status", "searched")),
            Delta::text("Found "),
            Delta::text("it."),
            Delta::usage(Usage::new(5, 7)),
            Delta::finish(FinishReason::Stop),
        ]),
        Batch::tokens(4).max_delay(Duration::from_millis(20)),
    )
    .await;
    let folded = fold(&chunks, done);
    assert_eq!(
        folded.parts,
        [
            Part::Reasoning("Looking it up.".into()),
            Part::Tool("lookup".into(), Ok(json!({"query": "a\nb"}))),
            Part::Data("status".into(), json!("searched")),
            Part::Text("Found it.".into()),
        ]
    );
    assert_eq!(folded.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        folded.metadata,
        Some(json!({"usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12}}))
    );
}

#[tokio::test]
async fn cut_arguments_are_a_tool_input_error() {
    let (chunks, done) = run(
        ok([
            Delta::tool_call(0, "call_1", "lookup"),
            Delta::tool_arguments(0, "{\"query\":\"ha"),
            Delta::finish(FinishReason::Length),
        ]),
        Batch::off(),
    )
    .await;
    let folded = fold(&chunks, done);
    let [Part::Tool(name, Err(error))] = &folded.parts[..] else {
        panic!("{:?}", folded.parts);
    };
    assert_eq!(name, "lookup");
    assert!(error.contains("not valid JSON"), "{error}");
    assert_eq!(folded.finish_reason.as_deref(), Some("length"));
}

#[tokio::test]
async fn a_failure_is_one_error_chunk_last() {
    let (chunks, done) = run(
        vec![
            Ok(Delta::text("Hal")),
            Ok(Delta::tool_call(0, "c", "f")),
            Err("model overloaded"),
        ],
        Batch::off(),
    )
    .await;
    let folded = fold(&chunks, done);
    assert!(folded.error.unwrap().contains("model overloaded"));
    assert_eq!(folded.parts[0], Part::Text("Hal".into()));
    assert!(!done);
}

#[tokio::test]
async fn without_a_reason_the_finish_says_what_happened() {
    for (deltas, reason) in [
        (vec![Delta::text("x")], "stop"),
        (vec![Delta::tool_call(0, "c", "f")], "tool-calls"),
        (
            vec![Delta::finish(FinishReason::ContentFilter)],
            "content-filter",
        ),
    ] {
        let (chunks, done) = run(ok(deltas), Batch::off()).await;
        assert_eq!(fold(&chunks, done).finish_reason.as_deref(), Some(reason));
    }
}

/// Text that breaks naive encoders.
fn nasty_text() -> impl Strategy<Value = String> {
    let pieces = vec![
        "a", " ", "é", "日本", "🦀", "\r", "\n", "\r\n", "\"", "\\", "\\u0041", "data: ",
        "event: x", "id: 1", "[DONE]", "\u{2028}", "\u{2029}", "\t", "\0", "{",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..6).prop_map(|v| v.concat())
}

/// One segment of an answer: text, reasoning, or a tool call whose JSON
/// arguments (compact or pretty) are cut into fragments.
#[derive(Debug, Clone)]
enum Segment {
    Text(Vec<String>),
    Reasoning(Vec<String>),
    Tool(Value, bool, Vec<usize>),
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        prop::collection::vec(nasty_text(), 1..4).prop_map(Segment::Text),
        prop::collection::vec(nasty_text(), 1..4).prop_map(Segment::Reasoning),
        (
            nasty_text(),
            any::<i32>(),
            any::<bool>(),
            prop::collection::vec(any::<usize>(), 0..5)
        )
            .prop_map(|(q, n, pretty, cuts)| {
                Segment::Tool(
                    json!({"query": q, "n": n, "list": [q, null, true]}),
                    pretty,
                    cuts,
                )
            }),
    ]
}

/// `text` cut at `cuts` (char boundaries), in order.
fn cut(text: &str, cuts: &[usize]) -> Vec<String> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| c % (text.len() + 1))
        .filter(|c| text.is_char_boundary(*c))
        .collect();
    at.sort_unstable();
    at.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for end in at.into_iter().chain([text.len()]) {
        pieces.push(text[start..end].to_owned());
        start = end;
    }
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_cut_and_batching_folds_back_to_the_answer(
        segments in prop::collection::vec(segment(), 0..6),
        batch in 1usize..5,
    ) {
        let mut deltas = Vec::new();
        let mut want: Vec<Part> = Vec::new();
        for (n, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Text(pieces) | Segment::Reasoning(pieces) => {
                    let reasoning = matches!(segment, Segment::Reasoning(_));
                    let joined = pieces.concat();
                    deltas.extend(pieces.iter().map(|p| {
                        if reasoning { Delta::reasoning(p.clone()) } else { Delta::text(p.clone()) }
                    }));
                    if joined.is_empty() {
                        continue;
                    }
                    // Neighbours of one kind are one part.
                    match (want.last_mut(), reasoning) {
                        (Some(Part::Text(t)), false) | (Some(Part::Reasoning(t)), true) => t.push_str(&joined),
                        (_, false) => want.push(Part::Text(joined)),
                        (_, true) => want.push(Part::Reasoning(joined)),
                    }
                }
                Segment::Tool(value, pretty, cuts) => {
                    let index = u32::try_from(n).unwrap();
                    let arguments = if *pretty {
                        serde_json::to_string_pretty(value).unwrap()
                    } else {
                        value.to_string()
                    };
                    deltas.push(Delta::tool_call(index, format!("call_{n}"), "lookup"));
                    deltas.extend(cut(&arguments, cuts).into_iter().map(|f| Delta::tool_arguments(index, f)));
                    want.push(Part::Tool("lookup".into(), Ok(value.clone())));
                }
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (chunks, done) = runtime.block_on(run(
            ok(deltas),
            Batch::tokens(batch).max_delay(Duration::from_millis(5)),
        ));
        let folded = fold(&chunks, done);
        prop_assert_eq!(folded.parts, want);
        prop_assert!(folded.error.is_none());
    }
}
