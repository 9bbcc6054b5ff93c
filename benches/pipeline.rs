//! Ready tokens through the whole pipeline, against a naive per-token
//! pipeline built from axum's own `Sse` pieces, in the same run.
//!
//! - `llm_sse`: byte tokens → utf8 → batch(4) → error handling → text frames
//!   → heartbeat (15 s), drained as `Bytes`.
//! - `axum_sse`: `String` tokens → one `sse::Event` per token →
//!   `Sse::keep_alive(KeepAlive::default())`, drained as the response body.
//!
//! - `llm_sse_metrics`: the same with the `metrics` observer recording into
//!   a Prometheus recorder, against `llm_sse` for the observer's overhead.
//! - `llm_sse_strings` and `llm_sse_deltas`: `String` tokens and
//!   `Delta::Text` tokens (no UTF-8 repair), for what the typed path costs
//!   over plain text.
//!
//! Run with `cargo bench --bench pipeline --features tokio,metrics`.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event as AxumEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use bytes::Bytes;
use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use futures_util::{stream, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::observe::MetricsObserver;
use llm_sse::{Builder, Delta, IntoDelta, TokenStreamExt, TokioTimer};

fn main() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(recorder).expect("no recorder installed yet");
    divan::main();
}

const TOKENS: usize = 10_000;
const WORDS: [&str; 8] = [
    " The", " quick", " brown", " fox", " jumps", " over", " the", " dog.",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
}

#[divan::bench]
fn llm_sse(bencher: Bencher<'_, '_>) {
    run_llm_sse(bencher, false);
}

#[divan::bench]
fn llm_sse_strings(bencher: Bencher<'_, '_>) {
    run_tokens(bencher, |i| WORDS[i % 8].to_owned());
}

#[divan::bench]
fn llm_sse_deltas(bencher: Bencher<'_, '_>) {
    run_tokens(bencher, |i| Delta::text(WORDS[i % 8].to_owned()));
}

/// Ready tokens made by `token` through batch 4, text frames, heartbeat.
fn run_tokens<D>(bencher: Bencher<'_, '_>, token: impl Fn(usize) -> D)
where
    D: IntoDelta + Clone,
{
    let rt = runtime();
    let tokens: Vec<D> = (0..TOKENS).map(token).collect();
    bencher
        .counter(ItemsCount::new(TOKENS))
        .with_inputs(|| tokens.clone())
        .bench_local_values(|tokens| {
            let tokens = stream::iter(tokens).map(Ok::<_, std::io::Error>);
            rt.block_on(async {
                let body = Builder::new(tokens, TokioTimer)
                    .batch(Batch::tokens(4))
                    .heartbeat(Duration::from_secs(15))
                    .build();
                drain(body).await
            })
        });
}

#[divan::bench]
fn llm_sse_metrics(bencher: Bencher<'_, '_>) {
    run_llm_sse(bencher, true);
}

fn run_llm_sse(bencher: Bencher<'_, '_>, metrics: bool) {
    let rt = runtime();
    let tokens: Vec<Bytes> = (0..TOKENS)
        .map(|i| Bytes::from_static(WORDS[i % 8].as_bytes()))
        .collect();
    bencher
        .counter(ItemsCount::new(TOKENS))
        .with_inputs(|| tokens.clone())
        .bench_local_values(|tokens| {
            let tokens = stream::iter(tokens).map(Ok::<_, std::io::Error>);
            rt.block_on(async {
                let builder = Builder::new(tokens.utf8(), TokioTimer)
                    .batch(Batch::tokens(4))
                    .heartbeat(Duration::from_secs(15));
                if metrics {
                    let observer = MetricsObserver::new().label("route", "bench");
                    drain(builder.observe(observer).build()).await
                } else {
                    drain(builder.build()).await
                }
            })
        });
}

async fn drain(body: impl futures_util::Stream<Item = Bytes>) -> usize {
    let mut body = std::pin::pin!(body);
    let mut bytes = 0;
    while let Some(frame) = body.next().await {
        bytes += black_box(frame).len();
    }
    bytes
}

#[divan::bench]
fn axum_sse(bencher: Bencher<'_, '_>) {
    let rt = runtime();
    let tokens: Vec<String> = (0..TOKENS).map(|i| WORDS[i % 8].to_owned()).collect();
    bencher
        .counter(ItemsCount::new(TOKENS))
        .with_inputs(|| tokens.clone())
        .bench_local_values(|tokens| {
            let tokens = stream::iter(tokens);
            rt.block_on(async {
                let events = tokens.map(|t| Ok::<_, Infallible>(AxumEvent::default().data(t)));
                let response = Sse::new(events)
                    .keep_alive(KeepAlive::default())
                    .into_response();
                let mut body = response.into_body().into_data_stream();
                let mut bytes = 0;
                while let Some(frame) = body.next().await {
                    bytes += black_box(frame.expect("infallible")).len();
                }
                bytes
            })
        });
}
