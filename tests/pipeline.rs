//! The whole pipeline through the builder: formats, byte tokens,
//! backpressure, and at most one allocation per flushed chunk.

#[path = "common/alloc.rs"]
mod alloc;
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::decode::{Decoder, Frame};
use llm_sse::format::JsonDelta;
use llm_sse::{SseStream, TokenStreamExt};

#[global_allocator]
static COUNTING: alloc::Counting = alloc::Counting;

fn wire(frames: &[Bytes]) -> String {
    frames
        .iter()
        .map(|f| std::str::from_utf8(f).unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn json_deltas_of_byte_tokens_round_trip_exactly() {
    let text = "line\r\nbreak\r lone CR, é, 😀, \"quotes\", \u{2028}";
    let tokens = stream::iter(
        text.as_bytes()
            .chunks(3)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec())),
    );
    let frames: Vec<Bytes> = SseStream::builder(tokens.utf8())
        .batch(Batch::tokens(3))
        .format(JsonDelta)
        .build()
        .collect()
        .await;
    let mut decoder = Decoder::new();
    decoder.feed(wire(&frames).as_bytes());
    let mut received = String::new();
    let mut done = false;
    while let Some(frame) = decoder.next_frame() {
        let Frame::Event(event) = frame.unwrap() else {
            continue;
        };
        let data = event.data().unwrap();
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(data).unwrap();
        received.push_str(value["delta"].as_str().unwrap());
    }
    assert!(done);
    assert_eq!(received, text);
}

#[tokio::test(start_paused = true)]
async fn the_upstream_is_polled_only_as_far_as_the_consumer_reads() {
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let endless = stream::repeat_with(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<_, std::io::Error>("tok ")
    });
    let mut body = SseStream::builder(endless).batch(Batch::tokens(4)).build();
    for _ in 0..3 {
        body.next().await.unwrap();
    }
    // First token alone, then two chunks of four: nine tokens, not millions.
    assert_eq!(produced.load(Ordering::SeqCst), 9);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        produced.load(Ordering::SeqCst),
        9,
        "nothing is read ahead while the consumer waits"
    );
}

/// Runs `n` ready tokens through the pipeline; returns (chunks, allocations).
fn count_allocations(n: usize) -> (usize, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tokens: Vec<&'static str> = (0..n)
            .map(|i| [" the", " cat", " sat", "!"][i % 4])
            .collect();
        let mut chunks = 0;
        let ((), allocations) = alloc::allocations(|| {
            futures_util::FutureExt::now_or_never(async {
                let mut body =
                    SseStream::builder(stream::iter(tokens).map(Ok::<_, std::io::Error>))
                        .batch(Batch::tokens(4))
                        .build();
                while let Some(frame) = body.next().await {
                    chunks += 1;
                    drop(frame);
                }
            })
            .expect("ready tokens never wait");
        });
        (chunks, allocations)
    })
}

#[test]
fn at_most_one_allocation_per_flushed_chunk() {
    let (small_chunks, small) = count_allocations(401);
    let (chunks, allocations) = count_allocations(4001);
    // 1 first-token chunk, 1000 chunks of four, [DONE].
    assert_eq!(chunks, 1002);
    // What a stream costs once (its timers and first buffers) is the same
    // for both; every further chunk costs at most one allocation.
    assert!(
        allocations - small <= chunks - small_chunks,
        "{} allocations for {} more chunks",
        allocations - small,
        chunks - small_chunks
    );
    assert!(
        small <= small_chunks + 8,
        "per-stream setup: {} allocations",
        small - small_chunks
    );
}

#[test]
fn a_waiting_stream_holds_no_frame_memory() {
    use futures_util::FutureExt;

    // One token, then an upstream that waits for ever.
    let tokens = stream::iter([Ok::<_, std::io::Error>("Hello")]).chain(stream::pending());
    let mut body = SseStream::builder(tokens)
        .batch(Batch::off())
        .heartbeat(Duration::ZERO)
        .build();
    let frame = body
        .next()
        .now_or_never()
        .flatten()
        .expect("the first frame");
    assert_eq!(frame, "data: Hello\n\n");
    assert!(body.next().now_or_never().is_none(), "the upstream waits");
    // The stream let go of the buffer the frame was written in: the frame
    // in flight is its only owner, and its memory goes when it is sent.
    assert!(
        frame.is_unique(),
        "the waiting stream still shares the frame's buffer"
    );
}
