//! The OpenAI Chat Completions format: every chunk shape byte for byte, the
//! order the official clients need, and every chunk read by `async-openai`'s
//! strict types.

use std::time::Duration;

use async_openai::types::chat::{CreateChatCompletionStreamResponse, FinishReason as AoFinish};
use futures_util::{stream, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::decode::{Decoder, Frame};
use llm_sse::format::{OpenAiChat, ReasoningField};
use llm_sse::{Delta, FinishReason, SseStream, Usage};
use serde_json::{json, Value};

const HEAD: &str = "{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\
                    \"created\":1700000000,\"model\":\"mock-1\",\"choices\":";

fn format() -> OpenAiChat {
    OpenAiChat::new("mock-1")
        .id("chatcmpl-7")
        .created(1_700_000_000)
}

/// The data of every event the stream sends, and the wire bytes.
async fn run(
    deltas: Vec<Result<Delta, &'static str>>,
    format: OpenAiChat,
    batch: Batch,
) -> (Vec<String>, String) {
    let body = SseStream::builder(stream::iter(deltas).map(|d| d.map_err(std::io::Error::other)))
        .batch(batch)
        .format(format)
        .build();
    let wire: Vec<u8> = body.collect::<Vec<_>>().await.concat();
    let wire = String::from_utf8(wire).unwrap();
    assert!(
        wire.split('\n')
            .all(|line| line.is_empty() || line.starts_with("data: ")),
        "only data lines, never an id, event or retry field: {wire}"
    );
    assert!(!wire.contains('\r'), "no CR, so no line can end early");
    let mut decoder = Decoder::new().comments(true);
    decoder.feed(wire.as_bytes());
    let mut data = Vec::new();
    while let Some(frame) = decoder.next_frame() {
        match frame.unwrap() {
            Frame::Event(event) => data.push(event.data().unwrap().to_owned()),
            other => panic!("only data events: {other:?}"),
        }
    }
    (data, wire)
}

/// Every chunk parsed by async-openai's strict types, `[DONE]` last.
fn strict(data: &[String]) -> Vec<CreateChatCompletionStreamResponse> {
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

fn ok(deltas: impl IntoIterator<Item = Delta>) -> Vec<Result<Delta, &'static str>> {
    deltas.into_iter().map(Ok).collect()
}

#[tokio::test]
async fn text_chunks_byte_for_byte() {
    let (data, _) = run(
        ok([Delta::text("Hi"), Delta::text("!")]),
        format(),
        Batch::off(),
    )
    .await;
    let choice = |delta: &str, finish: &str| {
        format!("{HEAD}[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}")
    };
    assert_eq!(
        data,
        [
            choice("{\"role\":\"assistant\",\"content\":\"\"}", "null"),
            choice("{\"content\":\"Hi\"}", "null"),
            choice("{\"content\":\"!\"}", "null"),
            choice("{}", "\"stop\""),
            "[DONE]".to_owned(),
        ]
    );
    strict(&data);
}

#[tokio::test]
async fn a_tool_call_names_itself_once_and_streams_its_arguments() {
    let arguments =
        json!({"query": "quote \" backslash \\ crlf \r\n sep \u{2028} emoji 😀"}).to_string();
    let mut deltas = vec![Delta::tool_call(0, "call_1", "lookup")];
    // Cut everywhere, inside escapes included.
    let chars: Vec<char> = arguments.chars().collect();
    for piece in chars.chunks(2) {
        deltas.push(Delta::tool_arguments(0, piece.iter().collect::<String>()));
    }
    deltas.push(Delta::finish(FinishReason::ToolCalls));
    let (data, _) = run(
        ok(deltas),
        format(),
        Batch::tokens(3).max_delay(Duration::ZERO),
    )
    .await;
    let chunks = strict(&data);
    let values: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        values[1]["choices"][0]["delta"],
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "lookup", "arguments": ""}}]})
    );
    let mut joined = String::new();
    for (value, chunk) in values.iter().zip(&chunks).skip(2) {
        let choice = &chunk.choices.first();
        let Some(choice) = choice else { continue };
        let Some(calls) = &choice.delta.tool_calls else {
            continue;
        };
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].index, 0, "the index is always there");
        assert!(
            calls[0].id.is_none()
                && value["choices"][0]["delta"]["tool_calls"][0]
                    .get("id")
                    .is_none()
        );
        let function = calls[0]
            .function
            .as_ref()
            .expect("every fragment has a function object");
        assert!(function.name.is_none(), "the name is sent once");
        joined.push_str(function.arguments.as_deref().unwrap());
    }
    assert_eq!(joined, arguments);
    assert_eq!(
        serde_json::from_str::<Value>(&joined).unwrap(),
        serde_json::from_str::<Value>(&arguments).unwrap()
    );
    let finish = &chunks[chunks.len() - 1];
    assert_eq!(finish.choices[0].finish_reason, Some(AoFinish::ToolCalls));
}

#[tokio::test]
async fn reasoning_goes_where_asked() {
    for (field, names) in [
        (ReasoningField::ReasoningContent, &["reasoning_content"][..]),
        (ReasoningField::Reasoning, &["reasoning"][..]),
        (
            ReasoningField::Both,
            &["reasoning_content", "reasoning"][..],
        ),
    ] {
        let deltas = ok([Delta::reasoning("think\n"), Delta::text("answer")]);
        let (data, _) = run(deltas, format().reasoning_field(field), Batch::off()).await;
        strict(&data);
        let delta: Value =
            serde_json::from_str::<Value>(&data[1]).unwrap()["choices"][0]["delta"].clone();
        let expected: serde_json::Map<String, Value> = names
            .iter()
            .map(|n| ((*n).to_owned(), json!("think\n")))
            .collect();
        assert_eq!(delta, Value::Object(expected), "{field:?}");
    }
}

#[tokio::test]
async fn finish_reasons_in_openai_spelling() {
    for (reason, expected, strict_reason) in [
        (Some(FinishReason::Stop), "stop", AoFinish::Stop),
        (Some(FinishReason::Length), "length", AoFinish::Length),
        (
            Some(FinishReason::ToolCalls),
            "tool_calls",
            AoFinish::ToolCalls,
        ),
        (
            Some(FinishReason::ContentFilter),
            "content_filter",
            AoFinish::ContentFilter,
        ),
        (Some(FinishReason::StopSequence), "stop", AoFinish::Stop),
        (
            Some(FinishReason::Other("refusal".into())),
            "stop",
            AoFinish::Stop,
        ),
        (None, "stop", AoFinish::Stop),
    ] {
        let mut deltas = vec![Delta::text("x")];
        deltas.extend(reason.clone().map(Delta::finish));
        let (data, _) = run(ok(deltas), format(), Batch::off()).await;
        let chunks = strict(&data);
        let values: Vec<Value> = data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        for value in &values[..values.len() - 1] {
            assert!(
                value["choices"][0]["finish_reason"].is_null(),
                "null until the end"
            );
        }
        assert_eq!(
            values.last().unwrap()["choices"][0]["finish_reason"],
            expected,
            "{reason:?}"
        );
        assert_eq!(
            chunks.last().unwrap().choices[0].finish_reason,
            Some(strict_reason)
        );
    }
    // A tool call without a finish reason finishes as a tool call.
    let (data, _) = run(
        ok([
            Delta::tool_call(0, "c", "f"),
            Delta::tool_arguments(0, "{}"),
        ]),
        format(),
        Batch::off(),
    )
    .await;
    assert_eq!(
        strict(&data).last().unwrap().choices[0].finish_reason,
        Some(AoFinish::ToolCalls)
    );
}

#[tokio::test]
async fn usage_is_the_models_when_it_sent_one() {
    let deltas = ok([
        Delta::reasoning("r"),
        Delta::text("a"),
        Delta::usage(
            Usage::new(9, 40)
                .reasoning_tokens(30)
                .cached_prompt_tokens(4),
        ),
        Delta::finish(FinishReason::Length),
    ]);
    let (data, _) = run(deltas, format().include_usage(true), Batch::off()).await;
    let chunks = strict(&data);
    let values: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let (usage, rest) = values.split_last().unwrap();
    for value in rest {
        assert!(
            value.get("usage").is_some() && value["usage"].is_null(),
            "usage: null before the end"
        );
        assert_eq!(
            value["choices"].as_array().unwrap().len(),
            1,
            "choices: [] only in the usage chunk"
        );
    }
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 9, "completion_tokens": 40, "total_tokens": 49,
               "prompt_tokens_details": {"cached_tokens": 4},
               "completion_tokens_details": {"reasoning_tokens": 30}})
    );
    let strict_usage = chunks.last().unwrap().usage.as_ref().unwrap();
    assert_eq!(strict_usage.total_tokens, 49);
    assert_eq!(
        values[values.len() - 2]["choices"][0]["finish_reason"],
        "length"
    );
}

#[tokio::test]
async fn usage_is_counted_when_the_model_sent_none() {
    let deltas = ok([
        Delta::reasoning("r1"),
        Delta::reasoning("r2"),
        Delta::text("a"),
        Delta::text("b"),
        Delta::text("c"),
    ]);
    let (data, _) = run(
        deltas,
        format().include_usage(true).prompt_tokens(11),
        Batch::tokens(2).max_delay(Duration::ZERO),
    )
    .await;
    strict(&data);
    let usage: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16,
               "completion_tokens_details": {"reasoning_tokens": 2}})
    );
}

#[tokio::test]
async fn no_usage_fields_unless_asked() {
    let (data, wire) = run(
        ok([Delta::text("a"), Delta::usage(Usage::new(1, 1))]),
        format(),
        Batch::off(),
    )
    .await;
    strict(&data);
    assert!(!wire.contains("usage"), "{wire}");
    assert!(!wire.contains("\"choices\":[]"), "{wire}");
}

#[tokio::test]
async fn an_error_is_a_data_only_error_object() {
    let (data, _) = run(
        vec![Ok(Delta::text("a")), Err("rate limited")],
        format(),
        Batch::off(),
    )
    .await;
    assert_eq!(
        data.last().unwrap(),
        "{\"error\":{\"message\":\"rate limited\",\"type\":\"upstream_error\",\"param\":null,\"code\":null}}"
    );
    assert!(
        !data.iter().any(|d| d == "[DONE]"),
        "no end marker after an error"
    );
}

#[tokio::test]
async fn hostile_text_never_forges_a_field() {
    let hostile = "\n\ndata: [DONE]\n\nevent: error\r\nid: 1\rretry: 0\n";
    let deltas = ok([
        Delta::reasoning(hostile),
        Delta::text(hostile),
        Delta::tool_call(0, hostile, hostile),
        Delta::tool_arguments(0, hostile),
    ]);
    let (data, _) = run(deltas, format(), Batch::off()).await;
    // Six chunks (role, reasoning, text, call, arguments, finish) and [DONE].
    assert_eq!(data.len(), 7);
    strict(&data);
}

#[tokio::test]
async fn the_fold_matches_the_stream() {
    let mut completion = format().prompt_tokens(3).completion();
    for delta in [
        Delta::reasoning("hm"),
        Delta::tool_call(0, "call_1", "lookup"),
        Delta::tool_arguments(0, "{\"q\":"),
        Delta::tool_arguments(0, "\"\\u2028\"}"),
        Delta::tool_call(1, "call_2", "other"),
        Delta::tool_arguments(1, "{}"),
    ] {
        completion.push(delta);
    }
    let value: Value = serde_json::from_str(&completion.to_json()).unwrap();
    assert_eq!(
        value,
        json!({
            "id": "chatcmpl-7", "object": "chat.completion", "created": 1_700_000_000, "model": "mock-1",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant", "content": null, "reasoning_content": "hm",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"\\u2028\"}"}},
                        {"id": "call_2", "type": "function", "function": {"name": "other", "arguments": "{}"}},
                    ],
                },
                "logprobs": null,
                "finish_reason": "tool_calls",
            }],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                      "completion_tokens_details": {"reasoning_tokens": 1}},
        })
    );
    let strict: async_openai::types::chat::CreateChatCompletionResponse =
        serde_json::from_str(&completion.to_json()).unwrap();
    assert_eq!(strict.choices[0].finish_reason, Some(AoFinish::ToolCalls));
}
