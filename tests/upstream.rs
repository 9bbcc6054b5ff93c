//! The provider parsers against recorded-shape fixtures (tests/fixtures/upstream),
//! whole and cut into chunks anywhere.

use std::collections::VecDeque;

use futures_util::{stream, StreamExt};
use llm_sse::upstream::{
    self, AnthropicParser, OpenAiChatParser, OpenAiResponsesParser, Parser, UpstreamError,
};
use llm_sse::{Delta, FinishReason, Usage};
use proptest::prelude::*;

const HOSTILE: &str = "line\n\ndata: forged\r\nevent: x\rid: 1";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/upstream/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// Every item `parser` makes of `chunks`, errors as their `Display`.
fn parse_chunks<P: Parser>(chunks: Vec<Vec<u8>>, parser: P) -> Vec<Result<Delta, String>> {
    let body = stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    futures_util::FutureExt::now_or_never(
        upstream::parse(body, parser)
            .map(|item| item.map_err(|err| err.to_string()))
            .collect::<Vec<_>>(),
    )
    .expect("a parser over a ready body never waits")
}

fn parse_whole<P: Parser>(name: &str, parser: P) -> Vec<Result<Delta, String>> {
    parse_chunks(vec![fixture(name)], parser)
}

fn ok(deltas: impl IntoIterator<Item = Delta>) -> Vec<Result<Delta, String>> {
    deltas.into_iter().map(Ok).collect()
}

#[test]
fn openai_chat_text_with_usage_chunk() {
    let usage = Usage::new(19, 5)
        .cached_prompt_tokens(3)
        .reasoning_tokens(0);
    assert_eq!(
        parse_whole("openai_chat_text.sse", OpenAiChatParser::new()),
        ok([
            Delta::text("Hel"),
            Delta::text("lo, "),
            Delta::text(HOSTILE),
            Delta::text(" 👋🏽 "),
            Delta::text("é\0"),
            Delta::finish(FinishReason::Stop),
            Delta::usage(usage),
        ])
    );
}

#[test]
fn openai_chat_parallel_tool_calls() {
    assert_eq!(
        parse_whole("openai_chat_tools.sse", OpenAiChatParser::new()),
        ok([
            Delta::tool_call(0, "call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather"),
            Delta::tool_arguments(0, "{\"lo"),
            Delta::tool_arguments(0, "cation"),
            Delta::tool_arguments(0, "\": \"Paris"),
            Delta::tool_arguments(0, ", France\"}"),
            Delta::tool_call(1, "call_ABC", "get_time"),
            Delta::tool_arguments(1, "{\"tz\""),
            Delta::tool_arguments(1, ":\"CET\"}"),
            Delta::finish(FinishReason::ToolCalls),
            Delta::usage(Usage::new(80, 40)),
        ])
    );
}

/// vLLM's quirks: CRLF lines, comments, `reasoning_content`, usage in
/// every chunk (only the last counts), tool calls with no `index`.
#[test]
fn openai_chat_compatible_server_quirks() {
    assert_eq!(
        parse_whole("openai_chat_vllm.sse", OpenAiChatParser::new()),
        ok([
            Delta::reasoning("Let me "),
            Delta::reasoning("think."),
            Delta::text("Calling."),
            Delta::tool_call(0, "9Xk2mQp1a", "lookup"),
            Delta::tool_arguments(0, "{\"query\": \"rust\"}"),
            Delta::tool_call(1, "7Hh3nRq2b", "lookup"),
            Delta::tool_arguments(1, "{\"query\":"),
            Delta::tool_arguments(1, " \"sse\"}"),
            Delta::finish(FinishReason::ToolCalls),
            Delta::usage(Usage::new(12, 6)),
        ])
    );
}

#[test]
fn openai_chat_error_mid_stream_keeps_the_message() {
    let items = parse_whole("openai_chat_error.sse", OpenAiChatParser::new());
    assert_eq!(items[0], Ok(Delta::text("Partial")));
    assert_eq!(
        items[1],
        Err("The server had an error while processing your request. Sorry about that!".into())
    );
    assert_eq!(items.len(), 2);
}

#[test]
fn a_json_error_tail_is_an_error() {
    let body = stream::iter([Ok::<_, std::io::Error>(fixture(
        "openai_chat_json_tail.sse",
    ))]);
    let items: Vec<_> = futures_util::FutureExt::now_or_never(
        upstream::parse(body, OpenAiChatParser::new()).collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(matches!(&items[0], Ok(delta) if *delta == Delta::text("Partial")));
    let Some(Err(error)) = items.get(1) else {
        panic!("no error after the text: {items:?}");
    };
    assert_eq!(error.message(), "upstream request timeout");
    assert_eq!(error.error_type(), Some("timeout"));
    assert_eq!(error.status(), 504);
    assert_eq!(items.len(), 2);
}

#[test]
fn a_json_body_instead_of_sse_is_an_error() {
    let body = br#"{"object":"error","message":"max_tokens is too large","type":"BadRequestError","code":400}"#;
    let items = parse_chunks(vec![body.to_vec()], OpenAiChatParser::new());
    assert_eq!(items, [Err("max_tokens is too large".to_owned())]);
}

#[test]
fn a_cut_stream_is_never_a_clean_end() {
    let items = parse_whole("openai_chat_truncated.sse", OpenAiChatParser::new());
    assert_eq!(items[0], Ok(Delta::text("Partial")));
    let Err(message) = &items[1] else {
        panic!("{items:?}")
    };
    assert!(message.contains("[DONE]"), "{message}");

    let html = b"data: {\"choices\":[]}\n\n<html><body>502 Bad Gateway</body></html>";
    let items = parse_chunks(vec![html.to_vec()], OpenAiChatParser::new());
    let [Err(message)] = &items[..] else {
        panic!("{items:?}")
    };
    assert!(message.contains("502 Bad Gateway"), "{message}");
}

#[test]
fn openai_responses_reasoning_text_and_function_call() {
    let usage = Usage::new(36, 87)
        .cached_prompt_tokens(0)
        .reasoning_tokens(64);
    assert_eq!(
        parse_whole("openai_responses_tools.sse", OpenAiResponsesParser::new()),
        ok([
            Delta::reasoning("**Planning** "),
            Delta::reasoning("the answer"),
            Delta::text("Checking "),
            Delta::text(HOSTILE),
            Delta::tool_call(0, "call_xyz", "get_weather"),
            Delta::tool_arguments(0, "{\"location\":"),
            Delta::tool_arguments(0, "\"Paris\"}"),
            Delta::usage(usage),
            Delta::finish(FinishReason::ToolCalls),
        ])
    );
}

#[test]
fn openai_responses_incomplete_and_failed() {
    assert_eq!(
        parse_whole(
            "openai_responses_incomplete.sse",
            OpenAiResponsesParser::new()
        ),
        ok([
            Delta::text("Once upon"),
            Delta::usage(Usage::new(5, 2)),
            Delta::finish(FinishReason::Length),
        ])
    );
    assert_eq!(
        parse_whole("openai_responses_failed.sse", OpenAiResponsesParser::new()),
        [
            Ok(Delta::text("Hi")),
            Err("The model failed to generate a response.".to_owned())
        ]
    );
}

#[test]
fn anthropic_thinking_text_and_tool_use() {
    let usage = Usage::new(582, 89).cached_prompt_tokens(100);
    assert_eq!(
        parse_whole("anthropic_tools.sse", AnthropicParser::new()),
        ok([
            Delta::reasoning("Let me "),
            Delta::reasoning("look."),
            Delta::text("Okay, "),
            Delta::text(HOSTILE),
            Delta::tool_call(0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
            Delta::tool_arguments(0, "{\"location\": \"San Fra"),
            Delta::tool_arguments(0, "ncisco, CA\"}"),
            Delta::tool_call(1, "toolu_02", "get_time"),
            Delta::tool_arguments(1, "{}"),
            Delta::usage(usage),
            Delta::finish(FinishReason::ToolCalls),
        ])
    );
}

#[test]
fn anthropic_error_event_keeps_type_and_message() {
    let body = stream::iter([Ok::<_, std::io::Error>(fixture("anthropic_error.sse"))]);
    let items: Vec<_> = futures_util::FutureExt::now_or_never(
        upstream::parse(body, AnthropicParser::new()).collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(matches!(&items[0], Ok(delta) if *delta == Delta::text("Hi")));
    let Some(Err(error)) = items.get(1) else {
        panic!("{items:?}")
    };
    assert_eq!(
        (error.message().as_ref(), error.error_type(), error.status()),
        ("Overloaded", Some("overloaded_error"), 529)
    );
}

#[test]
fn a_body_error_is_a_transport_error() {
    let body = stream::iter([
        Ok(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec()),
        Err(std::io::Error::other("connection reset")),
    ]);
    let items: Vec<_> = futures_util::FutureExt::now_or_never(
        upstream::parse(body, OpenAiChatParser::new()).collect::<Vec<_>>(),
    )
    .unwrap();
    let Err(error @ UpstreamError::Transport(_)) = &items[1] else {
        panic!("{items:?}");
    };
    // The client's message names no cause; the source does.
    assert_eq!(error.to_string(), "the upstream request failed");
    let source = std::error::Error::source(error).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("connection reset"));
}

#[test]
fn several_choices_are_refused() {
    let body = b"data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"b\"}}]}\n\n";
    let items = parse_chunks(vec![body.to_vec()], OpenAiChatParser::new());
    let [Err(message)] = &items[..] else {
        panic!("{items:?}")
    };
    assert!(message.contains("n > 1"), "{message}");
}

#[test]
fn a_repeated_id_without_index_continues_its_call() {
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n",
        "data: [DONE]\n\n",
    );
    assert_eq!(
        parse_chunks(vec![body.as_bytes().to_vec()], OpenAiChatParser::new()),
        ok([
            Delta::tool_call(0, "c1", "f"),
            Delta::tool_arguments(0, "{\"a\""),
            Delta::tool_arguments(0, ":1}"),
        ])
    );
}

/// Tools Anthropic runs itself (web search) are not the client's; a stream
/// with no usage at all leaves usage to the client format's count.
#[test]
fn anthropic_server_tools_are_skipped_and_no_usage_is_invented() {
    let events = [
        r#"{"type":"message_start","message":{"id":"m","usage":null}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"x\"}"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Found it."}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    let body: String = events
        .iter()
        .map(|data| format!("data: {data}\n\n"))
        .collect();
    assert_eq!(
        parse_chunks(vec![body.into_bytes()], AnthropicParser::new()),
        ok([Delta::text("Found it."), Delta::finish(FinishReason::Stop)])
    );
}

#[test]
fn a_responses_error_event_may_be_named_only_by_its_event() {
    let body =
        b"event: error\ndata: {\"message\":\"Overloaded\",\"code\":\"server_is_overloaded\"}\n\n";
    let items = parse_chunks(vec![body.to_vec()], OpenAiResponsesParser::new());
    assert_eq!(items, [Err("Overloaded".to_owned())]);
}

#[test]
fn parsers_are_object_safe() {
    let mut parser: Box<dyn Parser + Send> = Box::new(AnthropicParser::new());
    let mut out = VecDeque::new();
    let step = parser.event(Some("ping"), r#"{"type":"ping"}"#, &mut out);
    assert_eq!(step.unwrap(), upstream::Step::More);
    assert!(out.is_empty());
    assert_eq!(parser.end_marker(), "message_stop");
}

/// `bytes` cut at `cuts` (positions, any order, any repeats).
fn cut(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for end in at.into_iter().chain([bytes.len()]) {
        chunks.push(bytes[start..end].to_vec());
        start = end;
    }
    chunks
}

/// A fixture and a fresh parser for it.
type Fixture = (&'static str, fn() -> Box<dyn Parser>);

const FIXTURES: &[Fixture] = &[
    ("openai_chat_text.sse", || Box::new(OpenAiChatParser::new())),
    (
        "openai_chat_tools.sse",
        || Box::new(OpenAiChatParser::new()),
    ),
    ("openai_chat_vllm.sse", || Box::new(OpenAiChatParser::new())),
    (
        "openai_chat_error.sse",
        || Box::new(OpenAiChatParser::new()),
    ),
    ("openai_chat_json_tail.sse", || {
        Box::new(OpenAiChatParser::new())
    }),
    ("openai_chat_truncated.sse", || {
        Box::new(OpenAiChatParser::new())
    }),
    ("openai_responses_tools.sse", || {
        Box::new(OpenAiResponsesParser::new())
    }),
    ("openai_responses_incomplete.sse", || {
        Box::new(OpenAiResponsesParser::new())
    }),
    ("openai_responses_failed.sse", || {
        Box::new(OpenAiResponsesParser::new())
    }),
    ("anthropic_tools.sse", || Box::new(AnthropicParser::new())),
    ("anthropic_error.sse", || Box::new(AnthropicParser::new())),
];

#[test]
fn byte_by_byte_is_the_same() {
    for (name, parser) in FIXTURES {
        let bytes = fixture(name);
        let whole = parse_chunks(vec![bytes.clone()], parser());
        let bytewise = parse_chunks(bytes.iter().map(|b| vec![*b]).collect(), parser());
        assert_eq!(whole, bytewise, "{name}");
    }
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_deltas(
        which in 0..FIXTURES.len(),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (name, parser) = FIXTURES[which];
        let bytes = fixture(name);
        let whole = parse_chunks(vec![bytes.clone()], parser());
        prop_assert_eq!(whole, parse_chunks(cut(&bytes, &cuts), parser()));
    }
}

mod commit_point {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;

    use futures_util::{stream, FutureExt, StreamExt};
    use llm_sse::format::{AnthropicMessages, OpenAiChat};
    use llm_sse::upstream::{self, OpenAiChatParser, UpstreamError};
    use llm_sse::SseStream;

    fn chunk(text: &str) -> Vec<u8> {
        format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{text:?}}}}}]}}\n\n")
            .into_bytes()
    }

    type Part = Result<Vec<u8>, std::io::Error>;
    type Upstream = upstream::Deltas<stream::Iter<std::vec::IntoIter<Part>>, OpenAiChatParser>;

    fn body(parts: Vec<Part>) -> Upstream {
        upstream::parse(stream::iter(parts), OpenAiChatParser::new())
    }

    #[test]
    fn a_failure_before_the_first_delta_is_an_http_answer() {
        let overloaded = br#"data: {"error":{"message":"Overloaded","type":"overloaded_error"}}"#;
        let mut bytes = overloaded.to_vec();
        bytes.extend_from_slice(b"\n\n");
        let error = upstream::commit(body(vec![Ok(bytes)]))
            .now_or_never()
            .unwrap()
            .unwrap_err();
        let response = error.to_response(&AnthropicMessages::new("claude"));
        assert_eq!(response.status(), 529);
        assert_eq!(
            response.body(),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
        );
        let openai = error.to_response(&OpenAiChat::new("gpt"));
        assert_eq!(openai.content_type(), "application/json");
        assert!(openai.body().contains(r#""message":"Overloaded""#));
    }

    #[test]
    fn a_failure_after_it_is_the_client_formats_terminal_error() {
        let deltas = upstream::commit(body(vec![
            Ok(chunk("Hi")),
            Err(std::io::Error::other("connection reset by peer")),
        ]))
        .now_or_never()
        .unwrap()
        .unwrap();
        let frames: Vec<_> = SseStream::builder(deltas)
            .format(AnthropicMessages::new("claude"))
            .build()
            .collect()
            .now_or_never()
            .unwrap();
        let sent = String::from_utf8(frames.concat()).unwrap();
        assert_eq!(sent.matches("event: message_start").count(), 1, "{sent}");
        assert!(sent.contains(r#""text":"Hi""#), "{sent}");
        assert!(
            sent.ends_with("\n\n") && sent.contains("event: error\n"),
            "{sent}"
        );
        let error_at = sent.find("event: error").unwrap();
        assert!(
            sent[error_at..].contains("the upstream request failed"),
            "{sent}"
        );
        assert!(
            !sent.contains("connection reset"),
            "the cause leaked: {sent}"
        );
        assert!(
            !sent.contains("message_stop"),
            "a clean end after a failure: {sent}"
        );
    }

    #[test]
    fn retries_open_a_fallback_until_one_commits() {
        let opened = AtomicU32::new(0);
        let deltas = upstream::connect(|attempt| {
            opened.fetch_add(1, Ordering::Relaxed);
            async move {
                if attempt == 0 {
                    return Err(UpstreamError::from_status(429, b"{}", Some("1")));
                }
                Ok(body(vec![
                    Ok(chunk("from fallback")),
                    Ok(b"data: [DONE]\n\n".to_vec()),
                ]))
            }
        })
        .retry(|error, attempt| error.is_retryable() && attempt < 3)
        .commit()
        .now_or_never()
        .unwrap()
        .unwrap();
        let texts: Vec<_> = deltas
            .map(|delta| delta.unwrap().as_text().unwrap().to_owned())
            .collect()
            .now_or_never()
            .unwrap();
        assert_eq!(texts, ["from fallback"]);
        assert_eq!(opened.load(Ordering::Relaxed), 2);

        let attempts = AtomicU32::new(0);
        let error = upstream::connect(|_| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async { Ok(body(vec![Ok(b"data: [DON".to_vec())])) }
        })
        .retry(|_, attempt| attempt < 2)
        .commit()
        .now_or_never()
        .unwrap()
        .unwrap_err();
        assert!(matches!(error, UpstreamError::Truncated { .. }), "{error}");
        assert_eq!(attempts.load(Ordering::Relaxed), 3, "attempts 0, 1 and 2");
    }

    /// A model that thinks in silence: after the deadline the stream
    /// starts (start frames, then heartbeats), and a later failure is the
    /// format's terminal error.
    #[tokio::test]
    async fn the_deadline_commits_a_silent_upstream() {
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<Result<Vec<u8>, std::io::Error>>();
        let body = stream::poll_fn(move |cx| rx.poll_recv(cx));
        let mut body = Some(body);
        let deltas = upstream::connect(|_| {
            let body = body.take().expect("one attempt");
            async move { Ok(upstream::parse(body, OpenAiChatParser::new())) }
        })
        .first_delta_deadline(|| std::future::ready(()))
        .commit()
        .now_or_never()
        .expect("the deadline passed at once")
        .unwrap();
        let mut frames = SseStream::builder(deltas)
            .format(AnthropicMessages::new("claude"))
            .build();
        let start = frames.next().now_or_never().flatten().unwrap();
        assert!(start.starts_with(b"event: message_start\n"));
        assert!(frames.next().now_or_never().is_none(), "nothing more yet");
        tx.send(Ok(b"data: {\"error\":{\"message\":\"late\"}}\n\n".to_vec()))
            .unwrap();
        drop(tx);
        let rest: Vec<_> = frames.collect().now_or_never().unwrap();
        let rest = String::from_utf8(rest.concat()).unwrap();
        assert!(
            rest.starts_with("event: error\n") && rest.contains("late"),
            "{rest}"
        );
    }

    #[test]
    fn an_empty_answer_commits_and_ends_cleanly() {
        let deltas = upstream::commit(body(vec![Ok(b"data: [DONE]\n\n".to_vec())]))
            .now_or_never()
            .unwrap()
            .unwrap();
        let frames: Vec<_> = SseStream::builder(deltas)
            .format(OpenAiChat::new("m"))
            .build()
            .collect()
            .now_or_never()
            .unwrap();
        let sent = String::from_utf8(frames.concat()).unwrap();
        assert!(sent.contains(r#""finish_reason":"stop""#), "{sent}");
        assert!(sent.ends_with("data: [DONE]\n\n"), "{sent}");
    }

    /// A body that records being dropped, as an HTTP client's body closes
    /// its connection.
    struct Body {
        dropped: Arc<AtomicBool>,
        chunks: std::vec::IntoIter<Vec<u8>>,
    }

    impl futures_util::Stream for Body {
        type Item = Result<Vec<u8>, std::io::Error>;

        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            match self.chunks.next() {
                Some(chunk) => std::task::Poll::Ready(Some(Ok(chunk))),
                None => std::task::Poll::Pending, // the model is still thinking
            }
        }
    }

    impl Drop for Body {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_client_that_leaves_drops_the_upstream_at_once() {
        let dropped = Arc::new(AtomicBool::new(false));
        let upstream_body = Body {
            dropped: dropped.clone(),
            chunks: vec![chunk("one"), chunk("two")].into_iter(),
        };
        let deltas = upstream::commit(upstream::parse(upstream_body, OpenAiChatParser::new()))
            .now_or_never()
            .unwrap()
            .unwrap();
        let mut frames = SseStream::builder(deltas)
            .format(OpenAiChat::new("m"))
            .build();
        assert!(frames.next().now_or_never().flatten().is_some());
        assert!(!dropped.load(Ordering::Relaxed));
        drop(frames); // the response body, when the client disconnects
        assert!(dropped.load(Ordering::Relaxed));
    }
}
