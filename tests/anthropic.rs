//! The Anthropic Messages format through the whole pipeline: the event
//! order the official SDKs need, for any answer and any batching; what a
//! client accumulates is what the model produced and what the non-streaming
//! message says; errors, timeouts and `ping` heartbeats.

#![cfg(all(feature = "tokio", feature = "anthropic"))]

use std::time::Duration;

use futures_util::{stream, Stream, StreamExt};
use llm_sse::adapters::{Batch, Timeouts};
use llm_sse::decode::{Decoder, Frame};
use llm_sse::format::AnthropicMessages;
use llm_sse::{Delta, FinishReason, SseStream, Usage};
use proptest::prelude::*;
use serde_json::{json, Value};

/// The data of every event, after checking that each event's name is its
/// data's `type` and that the data is one line of JSON.
fn events(wire: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(wire).unwrap();
    assert!(!text.contains('\r'), "no CR, so no line can end early");
    assert!(!text.contains("[DONE]\n"), "no end marker");
    for line in text.split('\n') {
        assert!(
            line.is_empty() || line.starts_with("event: ") || line.starts_with("data: "),
            "only event and data lines: {line:?}"
        );
    }
    let mut decoder = Decoder::new().comments(true);
    decoder.feed(wire);
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame() {
        let Frame::Event(event) = frame.unwrap() else {
            panic!("only events")
        };
        let value: Value = serde_json::from_str(event.data().unwrap()).unwrap();
        assert_eq!(
            event.event(),
            value["type"].as_str(),
            "event name is the type"
        );
        out.push(value);
    }
    out
}

async fn wire<S>(deltas: S, format: AnthropicMessages, batch: Batch) -> Vec<u8>
where
    S: Stream<Item = Result<Delta, std::io::Error>> + Send + 'static,
{
    SseStream::builder(deltas)
        .batch(batch)
        .format(format)
        .build()
        .collect::<Vec<_>>()
        .await
        .concat()
}

/// What a client makes of the events, checking the order the SDKs rely on
/// on the way: the `message` as the SDK's accumulator builds it, with each
/// tool call's joined `partial_json` under `partial_json`.
fn accumulate(events: &[Value]) -> Value {
    assert_eq!(events[0]["type"], "message_start", "message_start first");
    let mut message = events[0]["message"].clone();
    assert_eq!(message["content"], json!([]));
    assert_eq!(message["stop_reason"], Value::Null);
    let mut open: Option<usize> = None;
    let mut ended = false;
    for event in &events[1..] {
        assert!(!ended, "nothing after message_stop: {event}");
        let content = message["content"].as_array_mut().unwrap();
        match event["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None, "the previous block stopped first");
                let index = event["index"].as_u64().unwrap() as usize;
                assert_eq!(index, content.len(), "indices 0, 1, 2 in order");
                let block = event["content_block"].clone();
                match block["type"].as_str().unwrap() {
                    "text" => assert_eq!(block, json!({"type": "text", "text": ""})),
                    "thinking" => assert_eq!(
                        block,
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    ),
                    "tool_use" => assert_eq!(block["input"], json!({})),
                    other => panic!("unknown block {other}"),
                }
                content.push(block);
                open = Some(index);
            }
            "content_block_delta" => {
                let index = event["index"].as_u64().unwrap() as usize;
                assert_eq!(Some(index), open, "deltas of the open block only");
                let block = &mut content[index];
                let delta = &event["delta"];
                let (field, piece) = match (block["type"].as_str(), delta["type"].as_str()) {
                    (Some("text"), Some("text_delta")) => ("text", &delta["text"]),
                    (Some("thinking"), Some("thinking_delta")) => ("thinking", &delta["thinking"]),
                    (Some("tool_use"), Some("input_json_delta")) => {
                        ("partial_json", &delta["partial_json"])
                    }
                    other => panic!("delta {other:?} in the wrong block"),
                };
                let piece = piece.as_str().unwrap();
                assert!(!piece.is_empty(), "no empty deltas");
                let joined = format!("{}{piece}", block[field].as_str().unwrap_or(""));
                block[field] = Value::String(joined);
            }
            "content_block_stop" => {
                let index = event["index"].as_u64().unwrap() as usize;
                assert_eq!(Some(index), open, "stops the open block");
                open = None;
            }
            "message_delta" => {
                assert_eq!(open, None, "every block stopped before message_delta");
                assert_eq!(event["delta"]["stop_sequence"], Value::Null);
                message["stop_reason"] = event["delta"]["stop_reason"].clone();
                message["usage"] = event["usage"].clone();
            }
            "message_stop" => {
                assert!(message["stop_reason"].is_string(), "message_delta first");
                ended = true;
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(ended, "ends with message_stop");
    message
}

#[tokio::test]
async fn answer_through_the_pipeline() {
    let args = serde_json::to_string(&json!({"query": "a \"b\"\n\u{2028}🦀"})).unwrap();
    let mut deltas = vec![
        Delta::reasoning("The user "),
        Delta::reasoning("wants it."),
        Delta::text("Sure: "),
        Delta::text("calling."),
        Delta::tool_call(0, "toolu_1", "lookup"),
    ];
    let (head, tail) = args.split_at(7);
    deltas.push(Delta::tool_arguments(0, head.to_owned()));
    deltas.push(Delta::tool_arguments(0, tail.to_owned()));
    deltas.push(Delta::usage(Usage::new(11, 7)));
    deltas.push(Delta::finish(FinishReason::ToolCalls));
    let format = AnthropicMessages::new("claude-mock")
        .id("msg_9")
        .input_tokens(11);
    let mut fold = format.message();
    for delta in &deltas {
        fold.push(delta.clone());
    }
    for batch in [Batch::off(), Batch::default(), Batch::tokens(64)] {
        let bytes = wire(stream::iter(deltas.clone()).map(Ok), format.clone(), batch).await;
        let mut message = accumulate(&events(&bytes));
        let tool = &mut message["content"][2];
        let input: Value = serde_json::from_str(tool["partial_json"].as_str().unwrap()).unwrap();
        tool["input"] = input;
        tool.as_object_mut().unwrap().remove("partial_json");
        assert_eq!(
            message,
            json!({
                "id": "msg_9", "type": "message", "role": "assistant", "model": "claude-mock",
                "content": [
                    {"type": "thinking", "thinking": "The user wants it.", "signature": ""},
                    {"type": "text", "text": "Sure: calling."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup",
                     "input": {"query": "a \"b\"\n\u{2028}🦀"}},
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 11, "output_tokens": 7},
            })
        );
        let folded: Value = serde_json::from_str(&fold.to_json()).unwrap();
        assert_eq!(folded, message, "stream: false says the same");
    }
}

#[tokio::test]
async fn failure_ends_with_the_error_event() {
    let deltas = stream::iter([
        Ok(Delta::text("Streaming")),
        Ok(Delta::text(" tokens")),
        Err(std::io::Error::other("the model failed after 2 tokens")),
    ]);
    let format = AnthropicMessages::new("m").id("msg_1");
    let events = events(&wire(deltas, format, Batch::off()).await);
    let types: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        events[4],
        json!({"type": "error", "error": {"type": "api_error",
               "message": "the model failed after 2 tokens"}})
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_pings() {
    let slow = stream::once(async {
        tokio::time::sleep(Duration::from_millis(350)).await;
        Ok::<_, std::io::Error>(Delta::text("late"))
    });
    let bytes = SseStream::builder(slow)
        .batch(Batch::off())
        .format(AnthropicMessages::new("m"))
        .heartbeat(Duration::from_millis(100))
        .build()
        .collect::<Vec<_>>()
        .await;
    let pings = bytes
        .iter()
        .filter(|frame| **frame == "event: ping\ndata: {\"type\": \"ping\"}\n\n")
        .count();
    assert_eq!(pings, 3, "a ping every 100 ms of silence");
    let all = events(&bytes.concat());
    assert_eq!(all[1], json!({"type": "ping"}));
    assert_eq!(all.iter().filter(|e| e["type"] == "ping").count(), 3);
    let without_pings: Vec<_> = all.into_iter().filter(|e| e["type"] != "ping").collect();
    assert_eq!(accumulate(&without_pings)["content"][0]["text"], "late");

    let never = stream::pending::<Result<Delta, std::io::Error>>();
    let bytes = SseStream::builder(never)
        .format(AnthropicMessages::new("m"))
        .timeouts(Timeouts::new().first_token(Duration::from_secs(5)))
        .build()
        .collect::<Vec<_>>()
        .await
        .concat();
    let timed_out = events(&bytes);
    assert_eq!(timed_out.len(), 2);
    assert_eq!(timed_out[1]["error"]["type"], "timeout_error");
}

/// Text that breaks naive JSON or SSE encoders.
fn nasty_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\r".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\"\\".to_owned()),
            Just("\u{2028}".to_owned()),
            Just("data: x".to_owned()),
            Just("event: error".to_owned()),
            Just("🦀".to_owned()),
            any::<String>(),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

/// One run of the answer: text, reasoning, or a tool call whose arguments
/// are either a JSON object or arbitrary text.
#[derive(Debug, Clone)]
enum Part {
    Text(Vec<String>),
    Reasoning(Vec<String>),
    Tool {
        id: String,
        name: String,
        arguments: String,
        cuts: Vec<usize>,
    },
}

fn part() -> impl Strategy<Value = Part> {
    let texts = || prop::collection::vec(nasty_text(), 1..4);
    let arguments = prop_oneof![
        nasty_text().prop_map(|q| serde_json::to_string(&json!({"query": q})).unwrap()),
        nasty_text(),
    ];
    prop_oneof![
        texts().prop_map(Part::Text),
        texts().prop_map(Part::Reasoning),
        (
            "[a-z_0-9]{0,8}",
            nasty_text(),
            arguments,
            prop::collection::vec(any::<usize>(), 0..4)
        )
            .prop_map(|(id, name, arguments, cuts)| Part::Tool {
                id,
                name,
                arguments,
                cuts
            }),
    ]
}

/// `text` cut at char boundaries near the given offsets.
fn cut(text: &str, cuts: &[usize]) -> Vec<String> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| {
            let mut i = c % (text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        })
        .collect();
    at.extend([0, text.len()]);
    at.sort_unstable();
    at.windows(2).map(|w| text[w[0]..w[1]].to_owned()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_answer_keeps_the_order_and_the_text(
        parts in prop::collection::vec(part(), 0..6),
        batch in 0usize..4,
        finish in prop::option::of(0u8..4),
    ) {
        let mut deltas = Vec::new();
        let mut tools = 0;
        for part in &parts {
            match part {
                Part::Text(texts) => deltas.extend(texts.iter().cloned().map(Delta::text)),
                Part::Reasoning(texts) => {
                    deltas.extend(texts.iter().cloned().map(Delta::reasoning));
                }
                Part::Tool { id, name, arguments, cuts } => {
                    deltas.push(Delta::tool_call(tools, id.clone(), name.clone()));
                    for fragment in cut(arguments, cuts) {
                        deltas.push(Delta::tool_arguments(tools, fragment));
                    }
                    tools += 1;
                }
            }
        }
        if let Some(finish) = finish {
            deltas.push(Delta::finish(match finish {
                0 => FinishReason::Stop,
                1 => FinishReason::Length,
                2 => FinishReason::ToolCalls,
                _ => FinishReason::Other("eos".into()),
            }));
        }
        let batch = match batch {
            0 => Batch::off(),
            1 => Batch::tokens(2),
            2 => Batch::tokens(5).max_bytes(8),
            _ => Batch::default(),
        };
        let format = AnthropicMessages::new("m").id("msg_p").input_tokens(3);
        let mut fold = format.message();
        for delta in &deltas {
            fold.push(delta.clone());
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let bytes = runtime.block_on(wire(stream::iter(deltas.clone()).map(Ok), format, batch));
        let message = accumulate(&events(&bytes));

        // What arrives per kind is exactly what the model produced.
        let joined = |kind: &str, field: &str| -> String {
            message["content"].as_array().unwrap().iter()
                .filter(|b| b["type"] == kind)
                .map(|b| b[field].as_str().unwrap_or("").to_owned())
                .collect()
        };
        let sent = |pick: fn(&Delta) -> Option<&str>| -> String {
            deltas.iter().filter_map(pick).collect()
        };
        prop_assert_eq!(joined("text", "text"), sent(|d| match d { Delta::Text(t) => Some(t), _ => None }));
        prop_assert_eq!(
            joined("thinking", "thinking"),
            sent(|d| match d { Delta::Reasoning(t) => Some(t), _ => None })
        );
        let calls: Vec<&Value> = message["content"].as_array().unwrap().iter()
            .filter(|b| b["type"] == "tool_use").collect();
        let expected_calls: Vec<(&String, &String, &String)> = parts.iter().filter_map(|p| match p {
            Part::Tool { id, name, arguments, .. } => Some((id, name, arguments)),
            _ => None,
        }).collect();
        prop_assert_eq!(calls.len(), expected_calls.len());
        for (call, (id, name, arguments)) in calls.iter().zip(&expected_calls) {
            prop_assert_eq!(call["name"].as_str(), Some(name.as_str()));
            let call_id = call["id"].as_str().unwrap();
            if id.is_empty() {
                prop_assert!(call_id.starts_with("toolu_"));
            } else {
                prop_assert_eq!(call_id, id.as_str());
            }
            prop_assert_eq!(call["partial_json"].as_str().unwrap_or(""), arguments.as_str());
        }
        let stop = message["stop_reason"].as_str().unwrap();
        let expected_stop = match finish {
            Some(1) => "max_tokens",
            Some(2) => "tool_use",
            _ if tools > 0 => "tool_use",
            _ => "end_turn",
        };
        prop_assert_eq!(stop, expected_stop);

        // The non-streaming message: valid JSON, the same blocks, each
        // tool input an object (the arguments, or them wrapped).
        let folded: Value = serde_json::from_str(&fold.to_json()).unwrap();
        let blocks = folded["content"].as_array().unwrap();
        prop_assert_eq!(blocks.len(), message["content"].as_array().unwrap().len());
        prop_assert_eq!(&folded["stop_reason"], &message["stop_reason"]);
        for (block, streamed) in blocks.iter().zip(message["content"].as_array().unwrap()) {
            prop_assert_eq!(&block["type"], &streamed["type"]);
            if block["type"] != "tool_use" {
                prop_assert_eq!(block, streamed);
                continue;
            }
            prop_assert!(block["input"].is_object());
            let arguments = streamed["partial_json"].as_str().unwrap_or("");
            match serde_json::from_str::<Value>(arguments) {
                Ok(value @ Value::Object(_)) => prop_assert_eq!(&block["input"], &value),
                _ if arguments.trim_matches([' ', '\t', '\n', '\r']).is_empty() => prop_assert_eq!(&block["input"], &json!({})),
                _ => prop_assert_eq!(&block["input"], &json!({"INVALID_JSON": arguments})),
            }
        }
    }
}
