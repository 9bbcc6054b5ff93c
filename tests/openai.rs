//! The OpenAI chunk format holds every field the strict Python SDK checks.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::decode::{Decoder, Frame};
use llm_sse::openai::ChatCompletionChunks;
use llm_sse::SseStream;
use serde_json::Value;

async fn chunks(tokens: Vec<Result<&'static str, &'static str>>, usage: bool) -> Vec<String> {
    let mut format = ChatCompletionChunks::new("chatcmpl-7", "mock-1");
    if usage {
        format = format.include_usage(11);
    }
    let body = SseStream::builder(stream::iter(tokens).map(|t| t.map_err(std::io::Error::other)))
        .batch(Batch::tokens(2).max_delay(Duration::ZERO))
        .format(format)
        .build();
    let wire: Vec<u8> = body.collect::<Vec<_>>().await.concat();
    assert!(
        !String::from_utf8_lossy(&wire).contains("\nid:"),
        "never an id field"
    );
    assert!(
        !String::from_utf8_lossy(&wire).contains("event:"),
        "never an event field"
    );
    let mut decoder = Decoder::new().comments(true);
    decoder.feed(&wire);
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame() {
        match frame.unwrap() {
            Frame::Event(event) => out.push(event.data().unwrap().to_owned()),
            other => panic!("only data events: {other:?}"),
        }
    }
    out
}

fn check_chunk(value: &Value) {
    assert_eq!(value["id"], "chatcmpl-7");
    assert_eq!(value["object"], "chat.completion.chunk");
    assert!(value["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(value["model"], "mock-1");
    assert!(value["choices"].is_array());
}

#[tokio::test]
async fn a_completion_with_usage() {
    let data = chunks(vec![Ok("Hel"), Ok("lo"), Ok(" \"you\"\r\n")], true).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let values: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    for value in &values {
        check_chunk(value);
    }
    // role chunk, "Hel", "lo \"you\"\r\n", finish, usage
    assert_eq!(values.len(), 5);
    assert_eq!(values[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = values[1..3]
        .iter()
        .map(|v| {
            let choice = &v["choices"][0];
            assert_eq!(choice["index"], 0);
            assert!(choice["finish_reason"].is_null());
            assert!(v["usage"].is_null() && v.get("usage").is_some());
            choice["delta"]["content"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "Hello \"you\"\r\n");
    assert_eq!(values[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(values[3]["choices"][0]["delta"], serde_json::json!({}));
    assert_eq!(values[4]["choices"], serde_json::json!([]));
    assert_eq!(
        values[4]["usage"],
        serde_json::json!({"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14})
    );
}

#[tokio::test]
async fn no_usage_fields_unless_asked() {
    let data = chunks(vec![Ok("a")], false).await;
    for d in &data[..data.len() - 1] {
        let value: Value = serde_json::from_str(d).unwrap();
        check_chunk(&value);
        assert!(value.get("usage").is_none());
    }
}

#[tokio::test]
async fn an_error_is_a_data_only_error_object() {
    let data = chunks(vec![Ok("a"), Err("rate limited")], false).await;
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["message"], "rate limited");
    assert_eq!(last["error"]["type"], "upstream_error");
    assert!(
        !data.iter().any(|d| d == "[DONE]"),
        "no end marker after an error"
    );
}
