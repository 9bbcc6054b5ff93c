//! The OpenAI Responses format through the whole pipeline: batching,
//! failures and heartbeats, read back with the crate's own decoder.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::decode::{Decoder, Frame};
use llm_sse::format::OpenAiResponses;
use llm_sse::{Delta, FinishReason, SseStream, Usage};
use serde_json::Value;

const HOSTILE: &str = "quote \" backslash \\ \\\" CRLF\r\nCR\rLF\n\ndata: [DONE]\n\
                       event: response.completed\nid: 7\nretry: 1\n: comment\n\
                       LS\u{2028}PS\u{2029}\t\u{0}é 日本 🦀 👩‍💻";

fn format() -> OpenAiResponses {
    OpenAiResponses::new("mock-1")
        .id("resp_1")
        .created_at(1_700_000_000)
        .input_tokens(3)
}

/// The frames the pipeline sends (one buffer per write), and every event's
/// data, checked: each event is named after its data's `type`, carries no
/// id, and `sequence_number` counts up from 0; comments are heartbeats.
async fn run(
    deltas: Vec<Result<Delta, &'static str>>,
    batch: Batch,
) -> (Vec<bytes::Bytes>, Vec<Value>, usize) {
    let body = SseStream::builder(stream::iter(deltas).map(|d| d.map_err(std::io::Error::other)))
        .batch(batch)
        .format(format())
        .build();
    let frames: Vec<bytes::Bytes> = body.collect().await;
    let (events, comments) = decode(&frames.concat());
    (frames, events, comments)
}

fn decode(wire: &[u8]) -> (Vec<Value>, usize) {
    assert!(
        !wire
            .split(|b| *b == b'\n')
            .any(|line| line == b"data: [DONE]"),
        "no end marker"
    );
    let mut decoder = Decoder::new().comments(true);
    decoder.feed(wire);
    let (mut events, mut comments) = (Vec::new(), 0);
    while let Some(frame) = decoder.next_frame() {
        match frame.unwrap() {
            Frame::Event(event) => {
                let data: Value = serde_json::from_str(event.data().unwrap()).unwrap();
                assert_eq!(event.event(), data["type"].as_str(), "{data}");
                assert_eq!(event.id(), None);
                assert_eq!(data["sequence_number"], events.len());
                events.push(data);
            }
            Frame::Comment(_) => comments += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    (events, comments)
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn joined(events: &[Value], kind: &str, member: &str) -> String {
    events
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e[member].as_str().unwrap())
        .collect()
}

/// Characters of `text` in pieces of `size`.
fn pieces(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[tokio::test]
async fn batched_kinds_round_trip_in_their_own_items() {
    for size in [1, 2, 5] {
        for (batched, batch) in [
            (false, Batch::off()),
            (true, Batch::tokens(4).max_delay(Duration::from_secs(1))),
        ] {
            let mut deltas = Vec::new();
            deltas.extend(
                pieces(HOSTILE, size)
                    .into_iter()
                    .map(|p| Ok(Delta::reasoning(p))),
            );
            deltas.extend(
                pieces(HOSTILE, size)
                    .into_iter()
                    .map(|p| Ok(Delta::text(p))),
            );
            deltas.push(Ok(Delta::tool_call(0, "call_1", "lookup")));
            let arguments = serde_json::json!({ "query": HOSTILE }).to_string();
            deltas.extend(
                pieces(&arguments, size)
                    .into_iter()
                    .map(|p| Ok(Delta::tool_arguments(0, p))),
            );
            deltas.push(Ok(Delta::finish(FinishReason::ToolCalls)));
            let (frames, events, _) = run(deltas, batch).await;
            // The first frame is the two start events, sent before any token.
            let (first, _) = decode(&frames[0]);
            assert_eq!(types(&first), ["response.created", "response.in_progress"]);

            assert_eq!(
                joined(&events, "response.reasoning_text.delta", "delta"),
                HOSTILE
            );
            assert_eq!(
                joined(&events, "response.output_text.delta", "delta"),
                HOSTILE
            );
            assert_eq!(
                joined(&events, "response.function_call_arguments.delta", "delta"),
                arguments
            );
            assert_eq!(
                joined(&events, "response.output_text.done", "text"),
                HOSTILE
            );
            let text_events = events
                .iter()
                .filter(|e| e["type"] == "response.output_text.delta")
                .count();
            let expected = pieces(HOSTILE, size).len();
            if batched {
                assert!(
                    text_events < expected,
                    "batched: {text_events} of {expected}"
                );
            } else {
                assert_eq!(text_events, expected);
            }
            let last = events.last().unwrap();
            assert_eq!(last["type"], "response.completed");
            let output = &last["response"]["output"];
            assert_eq!(output[0]["content"][0]["text"], HOSTILE);
            assert_eq!(output[1]["content"][0]["text"], HOSTILE);
            assert_eq!(output[2]["arguments"], arguments.as_str());
            assert_eq!(output[2]["call_id"], "call_1");
            assert_eq!(output.as_array().unwrap().len(), 3);
            let added: Vec<&Value> = events
                .iter()
                .filter(|e| e["type"] == "response.output_item.added")
                .map(|e| &e["output_index"])
                .collect();
            assert_eq!(added, [0, 1, 2]);
        }
    }
}

#[tokio::test]
async fn counted_usage_when_the_model_sends_none() {
    let deltas = vec![
        Ok(Delta::reasoning("a")),
        Ok(Delta::reasoning("b")),
        Ok(Delta::text("c")),
    ];
    let (_, events, _) = run(deltas, Batch::off()).await;
    let usage = &events.last().unwrap()["response"]["usage"];
    assert_eq!(
        usage,
        &serde_json::json!({
            "input_tokens": 3,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 6,
        })
    );
}

#[tokio::test]
async fn a_length_cut_ends_incomplete() {
    let deltas = vec![
        Ok(Delta::text("cut")),
        Ok(Delta::usage(Usage::new(3, 1))),
        Ok(Delta::finish(FinishReason::Length)),
    ];
    let (_, events, _) = run(deltas, Batch::off()).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        serde_json::json!({"reason": "max_output_tokens"})
    );
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    assert!(!types(&events).contains(&"response.completed"));
}

#[tokio::test]
async fn a_failure_ends_with_error_then_response_failed() {
    let deltas = vec![
        Ok(Delta::text("Hel")),
        Ok(Delta::text("lo")),
        Err("the model failed \"badly\"\r\nevent: x"),
    ];
    let (_, events, _) = run(deltas, Batch::off()).await;
    let n = events.len();
    assert_eq!(types(&events[n - 2..]), ["error", "response.failed"]);
    let error = &events[n - 2];
    let message = "the model failed \"badly\"\r\nevent: x";
    assert_eq!(error["message"], message);
    assert_eq!(error["code"], "server_error");
    // The nested object the official clients raise on.
    assert_eq!(error["error"]["message"], message);
    let failed = &events[n - 1]["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["message"], message);
    assert_eq!(failed["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(failed["usage"], Value::Null);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_are_comments_between_events() {
    let slow = stream::once(async {
        tokio::time::sleep(Duration::from_secs(40)).await;
        Ok::<_, std::io::Error>(Delta::text("late"))
    });
    let body = SseStream::builder(slow)
        .heartbeat(Duration::from_secs(15))
        .format(format())
        .build();
    let wire = body.collect::<Vec<_>>().await.concat();
    let (events, comments) = decode(&wire);
    assert_eq!(comments, 2);
    assert_eq!(
        joined(&events, "response.output_text.delta", "delta"),
        "late"
    );
    assert_eq!(events.last().unwrap()["type"], "response.completed");
}
