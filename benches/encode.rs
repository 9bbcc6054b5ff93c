//! Encoding one event, against axum's `sse::Event` in the same run.
//!
//! Both sides produce one frozen `Bytes`-backed frame per event, the way a
//! response body sends them: ours from one reused buffer, axum's from the
//! buffer each `Event` owns.
//!
//! Run with `cargo bench --bench encode --features json`.

use bytes::BytesMut;
use divan::counter::{BytesCount, ItemsCount};
use divan::{black_box, Bencher};

fn main() {
    divan::main();
}

const TOKEN: &str = " the";
const JSON_DELTA: &str = r#"{"id":"c1","choices":[{"index":0,"delta":{"content":" the"}}]}"#;

fn block() -> String {
    let line = "Some model output of a paragraph that goes on for a while, ok.";
    let mut block = String::new();
    while block.len() + line.len() < 4096 {
        block.push_str(line);
        block.push('\n');
    }
    block
}

fn ours(bencher: Bencher<'_, '_>, payload: &'static str) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    bencher
        .counter(ItemsCount::new(1usize))
        .counter(BytesCount::of_str(payload))
        .bench_local(|| {
            let event = llm_sse::Event::new(black_box(payload));
            event.encode(&mut buf);
            black_box(buf.split().freeze())
        });
}

fn axum(bencher: Bencher<'_, '_>, payload: &str) {
    bencher
        .counter(ItemsCount::new(1usize))
        .counter(BytesCount::of_str(payload))
        .bench_local(|| black_box(axum::response::sse::Event::default().data(black_box(payload))));
}

mod token_4b {
    use super::*;

    #[divan::bench]
    fn llm_sse(b: Bencher<'_, '_>) {
        ours(b, TOKEN);
    }

    #[divan::bench]
    fn axum_sse(b: Bencher<'_, '_>) {
        axum(b, TOKEN);
    }
}

mod json_delta_60b {
    use super::*;

    #[divan::bench]
    fn llm_sse(b: Bencher<'_, '_>) {
        ours(b, JSON_DELTA);
    }

    #[divan::bench]
    fn axum_sse(b: Bencher<'_, '_>) {
        axum(b, JSON_DELTA);
    }
}

mod multiline_4kib {
    use super::*;

    #[divan::bench]
    fn llm_sse(b: Bencher<'_, '_>) {
        ours(b, Box::leak(block().into_boxed_str()));
    }

    #[divan::bench]
    fn axum_sse(b: Bencher<'_, '_>) {
        axum(b, &block());
    }
}
