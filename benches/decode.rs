//! Decoding, against the `eventsource-stream` crate in the same run.
//!
//! Both sides read the same chunks through their `Stream` adapters.
//!
//! Run with `cargo bench --bench decode`.

use bytes::Bytes;
use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use eventsource_stream::Eventsource;
use futures_util::{FutureExt, StreamExt};
use llm_sse::decode::DecodeStream;

mod common;

use common::{body, cut};

fn main() {
    divan::main();
}

/// About 1 MiB of OpenAI-style chunks, cut into pieces of 1 to 4 KiB.
fn small_events() -> Vec<Bytes> {
    let mut wire = String::new();
    let mut i = 0;
    while wire.len() < 1 << 20 {
        wire.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" tok{i}\"}}}}]}}\n\n"
        ));
        i += 1;
    }
    cut(wire.as_bytes(), &[1024, 4096, 2048, 3000, 1500])
}

/// One 8 MiB event cut into 1024 chunks.
fn huge_event() -> Vec<Bytes> {
    let wire = format!("data: {}\n\n", "x".repeat(8 << 20));
    cut(wire.as_bytes(), &[wire.len() / 1024 + 1])
}

fn ours(bencher: Bencher<'_, '_>, chunks: &[Bytes]) {
    let len: usize = chunks.iter().map(Bytes::len).sum();
    bencher.counter(BytesCount::new(len)).bench_local(|| {
        let count = DecodeStream::new(body(chunks))
            .fold(
                0usize,
                |n, frame| async move { n + usize::from(frame.is_ok()) },
            )
            .now_or_never();
        black_box(count)
    });
}

fn theirs(bencher: Bencher<'_, '_>, chunks: &[Bytes]) {
    let len: usize = chunks.iter().map(Bytes::len).sum();
    bencher.counter(BytesCount::new(len)).bench_local(|| {
        let count = body(chunks)
            .eventsource()
            .fold(
                0usize,
                |n, event| async move { n + usize::from(event.is_ok()) },
            )
            .now_or_never();
        black_box(count)
    });
}

mod small_events_1mib {
    use super::*;

    #[divan::bench]
    fn llm_sse(b: Bencher<'_, '_>) {
        ours(b, &small_events());
    }

    #[divan::bench]
    fn eventsource_stream(b: Bencher<'_, '_>) {
        theirs(b, &small_events());
    }
}

mod one_8mib_event_1024_chunks {
    use super::*;

    #[divan::bench(sample_count = 10, sample_size = 1)]
    fn llm_sse(b: Bencher<'_, '_>) {
        ours(b, &huge_event());
    }

    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn eventsource_stream(b: Bencher<'_, '_>) {
        theirs(b, &huge_event());
    }
}
