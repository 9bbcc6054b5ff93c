//! The example servers' HTTP contract (DESIGN section 4), checked over real
//! HTTP against a running server; both examples run these same checks.

use std::net::SocketAddr;

use llm_sse::decode::Frame;
use serde_json::Value;

use crate::common::http::SseClient;

const MOCK_TEXT: &str = "Streaming tokens as server-sent events keeps the first token fast.";

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Reads a whole stream: the data of each event in order, `[DONE]` and
/// error events included, and the comments seen.
async fn read_all(client: &mut SseClient) -> (Vec<(Option<String>, String)>, usize) {
    let mut events = Vec::new();
    let mut comments = 0;
    while let Some(frame) = client.next().await {
        match frame {
            Frame::Event(e) => events.push((
                e.event().map(str::to_owned),
                e.data().unwrap_or_default().to_owned(),
            )),
            Frame::Comment(_) => comments += 1,
            _ => {}
        }
    }
    assert!(client.ended, "the body ends cleanly");
    (events, comments)
}

pub(crate) async fn chat_streams_mock_tokens_with_batching(addr: SocketAddr) {
    let mut client = SseClient::get(addr, "/chat?prompt=hi&tokens=12&batch=4&delay_ms=0").await;
    assert_eq!(client.status, 200);
    assert_eq!(client.header("content-type"), Some("text/event-stream"));
    assert_eq!(client.header("x-accel-buffering"), Some("no"));
    let (events, _) = read_all(&mut client).await;
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<_> = events[..events.len() - 1]
        .iter()
        .filter(|(name, _)| name.is_none())
        .collect();
    assert_eq!(chunks[0].1, "Streaming", "the first token goes alone");
    let text: String = chunks.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(text, MOCK_TEXT);
    assert!(
        chunks.len() <= 4,
        "12 ready tokens in batches of 4: {chunks:?}"
    );
    // Usage and the finish reason as named events, which `onmessage` skips.
    let named: Vec<_> = events
        .iter()
        .filter_map(|(name, data)| Some((name.as_deref()?, data.as_str())))
        .collect();
    assert_eq!(
        named,
        [
            (
                "usage",
                "{\"prompt_tokens\":1,\"completion_tokens\":12,\"total_tokens\":13,\"reasoning_tokens\":0}"
            ),
            ("finish", "{\"reason\":\"stop\"}"),
        ]
    );
}

/// `engine=1`: the shared engine feeds the stream through a flush channel;
/// the answer is the same, batched the same way, the first token alone,
/// and a model failure or a tool call still comes through.
pub(crate) async fn engine_feeds_the_same_answer(addr: SocketAddr) {
    let path = "/chat?prompt=hi&tokens=12&batch=4&batch_ms=1000&delay_ms=5&engine=1";
    let mut client = SseClient::get(addr, path).await;
    assert_eq!(client.status, 200);
    let (events, _) = read_all(&mut client).await;
    let chunks: Vec<_> = events
        .iter()
        .filter(|(name, data)| name.is_none() && data != "[DONE]")
        .map(|(_, data)| data.as_str())
        .collect();
    assert_eq!(chunks.concat(), MOCK_TEXT);
    // Batched: the channel wakes the stream only once four tokens wait (the
    // 1 s max delay never passes), so there are fewer events than tokens
    // however the server is scheduled. The exact wake-ups are counted on a
    // paused clock in tests/flush_channel.rs.
    assert!(chunks.len() < 12, "one event per token: {chunks:?}");
    assert_eq!(chunks[0], "Streaming");
    assert_eq!(events.last().unwrap().1, "[DONE]");

    let mut client = SseClient::get(addr, "/chat?tokens=5&delay_ms=5&engine=1&fail_after=2").await;
    let (events, _) = read_all(&mut client).await;
    assert_eq!(
        events.last().unwrap().0.as_deref(),
        Some("error"),
        "{events:?}"
    );
}

/// The JSON deltas of a `format=json` stream, `[DONE]` checked and left out.
async fn json_deltas(addr: SocketAddr, path: &str) -> Vec<Value> {
    let (events, _) = read_all(&mut SseClient::get(addr, path).await).await;
    assert_eq!(events.last().unwrap().1, "[DONE]", "{path}");
    events[..events.len() - 1]
        .iter()
        .map(|(name, data)| {
            assert!(name.is_none(), "{path}: {name:?}");
            serde_json::from_str(data).unwrap()
        })
        .collect()
}

/// Joins the `delta`s of the deltas of `kind` (`None`: answer text).
fn joined(deltas: &[Value], kind: Option<&str>) -> String {
    deltas
        .iter()
        .filter(|d| d["type"].as_str() == kind)
        .map(|d| d["delta"].as_str().unwrap())
        .collect()
}

pub(crate) async fn reasoning_and_tool_calls_on_chat(addr: SocketAddr) {
    let prompt = "find \"quotes\" \\ and\r\nlines \u{2028} 😀";
    let path = format!(
        "/chat?format=json&reasoning=5&tools=1&delay_ms=0&batch=3&prompt={}",
        encode(prompt)
    );
    let deltas = json_deltas(addr, &path).await;
    assert_eq!(deltas[0]["type"], "reasoning", "reasoning comes first");
    assert_eq!(
        joined(&deltas, Some("reasoning")),
        "The user wants an answer;"
    );
    let calls: Vec<_> = deltas.iter().filter(|d| d["type"] == "tool_call").collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["name"], "lookup");
    assert_eq!(calls[0]["index"], 0);
    let call_at = deltas
        .iter()
        .position(|d| d["type"] == "tool_call")
        .unwrap();
    assert!(deltas[call_at..]
        .iter()
        .all(|d| d["type"] != "reasoning" && d["type"] != Value::Null));
    let arguments = joined(&deltas, Some("tool_arguments"));
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        serde_json::json!({ "query": prompt })
    );
    let finish = deltas.iter().find(|d| d["type"] == "finish").unwrap();
    assert_eq!(finish["reason"], "tool_calls");
    let usage = deltas.iter().find(|d| d["type"] == "usage").unwrap();
    assert_eq!(usage["reasoning_tokens"], 5);

    // The token limit counts reasoning and ends the answer with `length`.
    let deltas = json_deltas(
        addr,
        "/chat?format=json&reasoning=2&max_tokens=5&delay_ms=0",
    )
    .await;
    assert_eq!(joined(&deltas, None), "Streaming tokens as");
    let finish = deltas.iter().find(|d| d["type"] == "finish").unwrap();
    assert_eq!(finish["reason"], "length");
}

pub(crate) async fn status_knob_answers_before_any_stream(addr: SocketAddr) {
    let mut client = SseClient::get(addr, "/chat?status=429").await;
    assert_eq!(client.status, 429);
    let error: Value = serde_json::from_str(&client.text().await).unwrap();
    assert_eq!(error["error"]["message"], "the mock model answered 429");

    let body = completion_request("mock", "x", true, false);
    let mut client = SseClient::post_json(addr, "/v1/chat/completions?status=503", &body).await;
    assert_eq!(client.status, 503);
    let error: Value = serde_json::from_str(&client.text().await).unwrap();
    assert_eq!(error["error"]["type"], "server_error");
    assert!(error["error"].get("code").is_some());

    let mut client = SseClient::get(addr, "/chat?status=200").await;
    assert_eq!(client.status, 400);
    assert!(client.text().await.contains("`status`"));
}

pub(crate) async fn echo_round_trips(addr: SocketAddr) {
    // Text mode: exact for text without CR (line breaks become data lines).
    let prompt = "héllo\nwörld € 😀\n\nend\n";
    let path = format!("/chat?echo=1&delay_ms=0&batch=3&prompt={}", encode(prompt));
    let (events, _) = read_all(&mut SseClient::get(addr, &path).await).await;
    let text: String = events[..events.len() - 1]
        .iter()
        .filter(|(name, _)| name.is_none())
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(text, prompt);

    // JSON mode: exact for any text, CR and CRLF cut in half included.
    let prompt = "a\r\nb\rc\u{2028}\"é😀\\";
    let path = format!(
        "/chat?echo=1&delay_ms=0&format=json&prompt={}",
        encode(prompt)
    );
    let deltas = json_deltas(addr, &path).await;
    assert_eq!(joined(&deltas, None), prompt);
}

pub(crate) async fn model_failure_is_an_error_event(addr: SocketAddr) {
    let (events, _) =
        read_all(&mut SseClient::get(addr, "/chat?tokens=10&fail_after=3&delay_ms=0").await).await;
    assert!(
        !events
            .iter()
            .any(|(name, _)| name.as_deref() == Some("finish")),
        "no finish after a failure"
    );
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"));
    let error: Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        error["error"]["message"],
        "the mock model failed after 3 tokens"
    );
    assert!(!events.iter().any(|(_, d)| d == "[DONE]"));
}

pub(crate) async fn heartbeats_while_the_model_thinks(addr: SocketAddr) {
    let mut client = SseClient::get(addr, "/chat?tokens=1&ttft_ms=300&heartbeat_ms=20").await;
    assert_eq!(client.next().await, Some(Frame::Comment("ping".into())));
    let (events, comments) = read_all(&mut client).await;
    assert!(comments >= 1);
    // The token, usage, finish and [DONE].
    assert_eq!(events.len(), 4);
}

pub(crate) async fn bad_knobs_are_400s_with_a_message(addr: SocketAddr) {
    for (query, needle) in [
        ("tokens=-1", "`tokens`"),
        ("tokens=abc", "`tokens`"),
        ("delay_ms=1.5", "`delay_ms`"),
        ("heartbeat_ms=0", "`heartbeat_ms`"),
        ("batch=0", "`batch`"),
        ("format=xml", "`format`"),
        ("echo=2", "`echo`"),
        ("tokens=99999999999", "`tokens`"),
    ] {
        let mut client = SseClient::get(addr, &format!("/chat?{query}")).await;
        assert_eq!(client.status, 400, "{query}");
        let body = client.text().await;
        assert!(body.contains(needle), "{query}: {body}");
    }
}

fn completion_request(model: &str, content: &str, stream: bool, usage: bool) -> String {
    completion_request_with(model, content, stream, usage, Value::Null)
}

/// A request with more members (`tools`, `max_tokens`, ...) from `extra`.
fn completion_request_with(
    model: &str,
    content: &str,
    stream: bool,
    usage: bool,
    extra: Value,
) -> String {
    let mut request = serde_json::json!({
        "model": model,
        "stream": stream,
        "stream_options": if usage { serde_json::json!({"include_usage": true}) } else { Value::Null },
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": content},
        ],
    });
    if let Value::Object(extra) = extra {
        request.as_object_mut().unwrap().extend(extra);
    }
    request.to_string()
}

/// Every field the strict OpenAI Python SDK checks on a chunk.
fn check_chunk(chunk: &Value, model: &str) {
    assert!(chunk["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(chunk["object"], "chat.completion.chunk");
    assert!(chunk["created"].is_u64());
    assert_eq!(chunk["model"], model);
    let choices = chunk["choices"].as_array().unwrap();
    for choice in choices {
        assert_eq!(choice["index"], 0);
        assert!(choice["delta"].is_object());
        let finish = &choice["finish_reason"];
        assert!(
            finish.is_null()
                || ["stop", "length", "tool_calls"].contains(&finish.as_str().unwrap()),
            "{finish}"
        );
    }
}

pub(crate) async fn openai_streaming_echo_with_usage(addr: SocketAddr) {
    let prompt = "Say \"hi\"\r\nin two lines é😀";
    let body = completion_request("echo", prompt, true, true);
    let mut client =
        SseClient::post_json(addr, "/v1/chat/completions?delay_ms=0&batch=2", &body).await;
    assert_eq!(client.status, 200);
    let (events, _) = read_all(&mut client).await;
    assert!(
        events.iter().all(|(name, _)| name.is_none()),
        "no event: fields"
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for chunk in &chunks {
        check_chunk(chunk, "echo");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| {
            c["choices"].get(0)?["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, prompt);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    let completion_tokens = usage["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(completion_tokens > 0);
    assert_eq!(
        usage["usage"]["total_tokens"].as_u64().unwrap(),
        usage["usage"]["prompt_tokens"].as_u64().unwrap() + completion_tokens
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
}

/// The chunks of a streaming completion, `[DONE]` checked and left out.
async fn completion_chunks(addr: SocketAddr, path: &str, body: &str, model: &str) -> Vec<Value> {
    let mut client = SseClient::post_json(addr, path, body).await;
    assert_eq!(client.status, 200);
    let (events, _) = read_all(&mut client).await;
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| {
            // The Rust client's strict types read every chunk too.
            let strict: Result<async_openai::types::chat::CreateChatCompletionStreamResponse, _> =
                serde_json::from_str(d);
            assert!(strict.is_ok(), "{strict:?}: {d}");
            serde_json::from_str(d).unwrap()
        })
        .collect();
    for chunk in &chunks {
        check_chunk(chunk, model);
    }
    chunks
}

pub(crate) async fn openai_tool_calls_reasoning_and_length(addr: SocketAddr) {
    let tools = serde_json::json!({"tools": [{"type": "function", "function": {"name": "search", "parameters": {}}}]});
    let body = completion_request_with("mock", "rust \"sse\"", true, true, tools);
    let chunks = completion_chunks(
        addr,
        "/v1/chat/completions?delay_ms=0&reasoning=3&batch=2",
        &body,
        "mock",
    )
    .await;
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|c| &c["delta"]))
        .collect();
    let reasoning: String = deltas
        .iter()
        .filter_map(|d| d["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "The user wants");
    let calls: Vec<&Value> = deltas
        .iter()
        .filter_map(|d| d["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["function"]["name"], "search");
    assert_eq!(calls[0]["type"], "function");
    assert!(calls[1..]
        .iter()
        .all(|c| c.get("id").is_none() && c["function"].get("name").is_none()));
    let arguments: String = calls
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        serde_json::json!({"query": "rust \"sse\""})
    );
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 3);

    // `max_completion_tokens` (or `max_tokens`) ends the answer with `length`.
    for limit in ["max_tokens", "max_completion_tokens"] {
        let body =
            completion_request_with("mock", "hi", true, false, serde_json::json!({ limit: 2 }));
        let chunks =
            completion_chunks(addr, "/v1/chat/completions?delay_ms=0", &body, "mock").await;
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Streaming tokens", "{limit}");
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "length",
            "{limit}"
        );
    }

    // Not streaming: the same answer folded into one object.
    let tools =
        serde_json::json!({"tools": [{"type": "function", "function": {"name": "search"}}]});
    let body = completion_request_with("mock", "q", false, false, tools);
    let mut client = SseClient::post_json(addr, "/v1/chat/completions?reasoning=2", &body).await;
    assert_eq!(client.status, 200);
    let completion: Value = serde_json::from_str(&client.text().await).unwrap();
    let message = &completion["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["reasoning_content"], "The user");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"query\":\"q\"}"
    );
    assert_eq!(completion["choices"][0]["finish_reason"], "tool_calls");
}

pub(crate) async fn openai_non_streaming_and_errors(addr: SocketAddr) {
    let body = completion_request("mock-large", "hello", false, false);
    let mut client =
        SseClient::post_json(addr, "/v1/chat/completions?tokens=3&delay_ms=0", &body).await;
    assert_eq!(client.status, 200);
    let text = client.text().await;
    let completion: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(
        completion["choices"][0]["message"]["content"],
        "Streaming tokens as"
    );
    assert_eq!(completion["usage"]["completion_tokens"], 3);

    // A model failure mid-stream is `data: {"error": ...}`, which the SDK raises.
    let body = completion_request("mock", "x", true, false);
    let mut client =
        SseClient::post_json(addr, "/v1/chat/completions?fail_after=2&delay_ms=0", &body).await;
    let (events, _) = read_all(&mut client).await;
    let (name, data) = events.last().unwrap();
    assert!(name.is_none());
    let error: Value = serde_json::from_str(data).unwrap();
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("failed after 2 tokens"));

    for (body, needle) in [
        ("{\"model\":\"echo\"", "not a valid chat completion request"),
        ("{\"model\":\"echo\"}", "messages"),
        (
            "{\"model\":\"echo\",\"messages\":[]}",
            "at least one message",
        ),
        (
            "{\"model\":\"echo\",\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
            "user message",
        ),
        ("[1,2]", "not a valid chat completion request"),
    ] {
        let mut client = SseClient::post_json(addr, "/v1/chat/completions", body).await;
        assert_eq!(client.status, 400, "{body}");
        let text = client.text().await;
        let error: Value = serde_json::from_str(&text).unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
}

pub(crate) async fn metrics_and_page(addr: SocketAddr) {
    read_all(&mut SseClient::get(addr, "/chat?tokens=2&delay_ms=0").await).await;
    let mut client = SseClient::get(addr, "/metrics").await;
    assert_eq!(client.status, 200);
    let metrics = client.text().await;
    for name in [
        "llm_sse_ttft_seconds_bucket",
        "llm_sse_chunk_interval_seconds",
        "llm_sse_stream_duration_seconds",
        "llm_sse_tokens_total{route=\"chat\",kind=\"text\"}",
        "llm_sse_bytes_total",
        "llm_sse_heartbeats_total",
        "llm_sse_streams_total{route=\"chat\",outcome=\"completed\"}",
        "llm_sse_active_streams",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    let mut client = SseClient::get(addr, "/").await;
    assert_eq!(client.status, 200);
    assert!(client
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(client.text().await.contains("new EventSource('/chat?"));
}

/// Every event of a stream at `path` with its name and its data as JSON,
/// and the comments seen; `[DONE]` (if any) is left out and reported.
async fn named_json_events(
    addr: SocketAddr,
    path: &str,
    body: &str,
) -> (Vec<(Option<String>, Value)>, usize, bool, SseClient) {
    let mut client = SseClient::post_json(addr, path, body).await;
    assert_eq!(client.status, 200, "{path}");
    let (events, comments) = read_all(&mut client).await;
    let done = events.last().is_some_and(|(_, d)| d == "[DONE]");
    let events = events
        .into_iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(name, data)| {
            let value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
            (name, value)
        })
        .collect();
    (events, comments, done, client)
}

pub(crate) async fn anthropic_messages_in_order(addr: SocketAddr) {
    let body = serde_json::json!({
        "model": "mock", "max_tokens": 64, "stream": true,
        "tools": [{"name": "search", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a \"q\""}]}],
    })
    .to_string();
    let (events, _, done, _) =
        named_json_events(addr, "/v1/messages?delay_ms=0&reasoning=2&batch=2", &body).await;
    assert!(!done, "no [DONE] in the Anthropic format");
    for (name, data) in &events {
        assert_eq!(name.as_deref(), data["type"].as_str(), "event name = type");
    }
    let types: Vec<&str> = events
        .iter()
        .map(|(_, d)| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"message_start"));
    assert_eq!(types.last(), Some(&"message_stop"));
    assert_eq!(types[types.len() - 2], "message_delta");
    // Blocks 0, 1, ... in order, each started before its deltas and
    // stopped before the next starts.
    let mut open: Option<u64> = None;
    let mut next = 0;
    for (_, data) in &events {
        match data["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None);
                assert_eq!(data["index"], next);
                open = Some(next);
                next += 1;
            }
            "content_block_delta" => assert_eq!(data["index"].as_u64(), open),
            "content_block_stop" => {
                assert_eq!(data["index"].as_u64(), open);
                open = None;
            }
            _ => {}
        }
    }
    assert_eq!(next, 2, "a thinking block and a tool_use block");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    // Heartbeats are `event: ping` in this format.
    let body = serde_json::json!({
        "model": "mock", "max_tokens": 8, "stream": true,
        "messages": [{"role": "user", "content": "x"}],
    })
    .to_string();
    let (events, comments, _, _) = named_json_events(
        addr,
        "/v1/messages?tokens=1&ttft_ms=300&heartbeat_ms=20",
        &body,
    )
    .await;
    assert_eq!(comments, 0, "no comment heartbeats");
    assert!(events
        .iter()
        .any(|(name, d)| name.as_deref() == Some("ping") && d["type"] == "ping"));

    // Errors before the stream, in Anthropic's shape.
    let mut client = SseClient::post_json(addr, "/v1/messages?status=529", &body).await;
    assert_eq!(client.status, 529);
    let error: Value = serde_json::from_str(&client.text().await).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "overloaded_error");
    let no_max = r#"{"model":"mock","messages":[{"role":"user","content":"x"}]}"#;
    let mut client = SseClient::post_json(addr, "/v1/messages", no_max).await;
    assert_eq!(client.status, 400);
    let error: Value = serde_json::from_str(&client.text().await).unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));
}

pub(crate) async fn openai_responses_in_order(addr: SocketAddr) {
    let body = serde_json::json!({
        "model": "mock", "stream": true, "input": "hello there",
        "tools": [{"type": "function", "name": "search", "parameters": {}}],
    })
    .to_string();
    let (events, _, done, _) =
        named_json_events(addr, "/v1/responses?delay_ms=0&reasoning=2", &body).await;
    assert!(!done, "no [DONE] in the Responses format");
    for (n, (name, data)) in events.iter().enumerate() {
        assert_eq!(name.as_deref(), data["type"].as_str(), "event name = type");
        assert_eq!(
            data["sequence_number"], n as u64,
            "sequence numbers from 0, one by one"
        );
    }
    let types: Vec<&str> = events
        .iter()
        .map(|(_, d)| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(&types[..2], ["response.created", "response.in_progress"]);
    assert_eq!(types.last(), Some(&"response.completed"));
    assert!(types.contains(&"response.function_call_arguments.done"));
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(
        completed["usage"]["output_tokens_details"]["reasoning_tokens"],
        2
    );

    let body =
        serde_json::json!({"model": "mock", "stream": true, "input": "hi", "max_output_tokens": 2})
            .to_string();
    let (events, _, _, _) = named_json_events(addr, "/v1/responses?delay_ms=0", &body).await;
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

pub(crate) async fn vercel_ui_stream_in_order(addr: SocketAddr) {
    let body = serde_json::json!({
        "id": "chat-1", "trigger": "submit-message",
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
    })
    .to_string();
    let (events, _, done, client) =
        named_json_events(addr, "/api/chat?delay_ms=0&reasoning=2&tools=1", &body).await;
    assert_eq!(client.header("x-vercel-ai-ui-message-stream"), Some("v1"));
    assert!(done, "ends with [DONE]");
    assert!(
        events.iter().all(|(name, _)| name.is_none()),
        "no event: fields"
    );
    let types: Vec<&str> = events
        .iter()
        .map(|(_, d)| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"start"));
    assert_eq!(types.last(), Some(&"finish"));
    for (start, delta) in [
        ("reasoning-start", "reasoning-delta"),
        ("tool-input-start", "tool-input-delta"),
    ] {
        let first_delta = types.iter().position(|t| *t == delta).unwrap();
        assert!(
            types.iter().position(|t| *t == start).unwrap() < first_delta,
            "{start} first"
        );
    }
    let mut client = SseClient::post_json(addr, "/api/chat?status=500", &body).await;
    assert_eq!(client.status, 500);
    assert!(client.text().await.contains("answered 500"));
}

/// Runs every check against one server.
pub(crate) async fn all(addr: SocketAddr) {
    chat_streams_mock_tokens_with_batching(addr).await;
    engine_feeds_the_same_answer(addr).await;
    echo_round_trips(addr).await;
    reasoning_and_tool_calls_on_chat(addr).await;
    status_knob_answers_before_any_stream(addr).await;
    model_failure_is_an_error_event(addr).await;
    heartbeats_while_the_model_thinks(addr).await;
    bad_knobs_are_400s_with_a_message(addr).await;
    openai_streaming_echo_with_usage(addr).await;
    openai_tool_calls_reasoning_and_length(addr).await;
    openai_non_streaming_and_errors(addr).await;
    anthropic_messages_in_order(addr).await;
    openai_responses_in_order(addr).await;
    vercel_ui_stream_in_order(addr).await;
    metrics_and_page(addr).await;
}
