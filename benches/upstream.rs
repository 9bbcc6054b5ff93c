//! Parsing a provider's stream into tokens: llm-sse's `upstream` parser
//! against `eventsource-stream` plus `serde_json` into `async-openai`'s
//! chunk type, what a Rust gateway writes by hand today, in the same run.
//!
//! Both read the same chunks of an OpenAI Chat Completions stream and
//! yield every token's text as an owned `String`.
//!
//! Run with `cargo bench --all-features --bench upstream`.

use async_openai::types::chat::CreateChatCompletionStreamResponse;
use bytes::Bytes;
use divan::counter::{BytesCount, ItemsCount};
use divan::{black_box, Bencher};
use eventsource_stream::Eventsource;
use futures_util::{FutureExt, StreamExt};
use llm_sse::upstream::{self, OpenAiChatParser};
use llm_sse::Delta;

mod common;

use common::{body, cut};

fn main() {
    divan::main();
}

/// Tokens in the stream.
const TOKENS: usize = 4000;

/// An OpenAI stream of `TOKENS` one-word chunks as the API sends them
/// (every field, `null`s included), a finish chunk, a usage chunk and
/// `[DONE]`, cut into pieces of 1 to 4 KiB as a network delivers them.
fn openai_stream() -> Vec<Bytes> {
    let head = r#"{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":"#;
    let mut wire = format!(
        "data: {head}{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
    );
    for i in 0..TOKENS {
        wire.push_str(&format!(
            "data: {head}{{\"content\":\" word{i}\"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    wire.push_str(&format!(
        "data: {head}{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}],\"usage\":null}}\n\n"
    ));
    wire.push_str(r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":4000,"total_tokens":4019,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#);
    wire.push_str("\n\ndata: [DONE]\n\n");
    cut(wire.as_bytes(), &[1024, 4096, 2048, 3000, 1500])
}

fn counters(chunks: &[Bytes]) -> (BytesCount, ItemsCount) {
    let len: usize = chunks.iter().map(Bytes::len).sum();
    (BytesCount::new(len), ItemsCount::new(TOKENS))
}

#[divan::bench]
fn llm_sse_upstream(bencher: Bencher<'_, '_>) {
    let chunks = openai_stream();
    let (bytes, items) = counters(&chunks);
    bencher.counter(bytes).counter(items).bench_local(|| {
        let tokens = upstream::parse(body(&chunks), OpenAiChatParser::new())
            .fold(Vec::with_capacity(TOKENS), |mut tokens, delta| async move {
                if let Ok(Delta::Text(text)) = delta {
                    tokens.push(text.into_owned());
                }
                tokens
            })
            .now_or_never();
        assert_eq!(tokens.as_ref().map(Vec::len), Some(TOKENS));
        black_box(tokens)
    });
}

#[divan::bench]
fn eventsource_stream_serde_async_openai(bencher: Bencher<'_, '_>) {
    let chunks = openai_stream();
    let (bytes, items) = counters(&chunks);
    bencher.counter(bytes).counter(items).bench_local(|| {
        let tokens = body(&chunks)
            .eventsource()
            .fold(Vec::with_capacity(TOKENS), |mut tokens, event| async move {
                let Ok(event) = event else { return tokens };
                if event.data == "[DONE]" {
                    return tokens;
                }
                if let Ok(chunk) =
                    serde_json::from_str::<CreateChatCompletionStreamResponse>(&event.data)
                {
                    for choice in chunk.choices {
                        if let Some(text) = choice.delta.content.filter(|text| !text.is_empty()) {
                            tokens.push(text);
                        }
                    }
                }
                tokens
            })
            .now_or_never();
        assert_eq!(tokens.as_ref().map(Vec::len), Some(TOKENS));
        black_box(tokens)
    });
}
