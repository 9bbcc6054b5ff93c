//! Encoding into a reserved buffer allocates nothing.

#[path = "common/alloc.rs"]
mod alloc;

use std::time::Duration;

use bytes::BytesMut;
use llm_sse::Event;

#[global_allocator]
static COUNTING: alloc::Counting = alloc::Counting;

#[test]
fn encoding_into_a_reserved_buffer_allocates_nothing() {
    let events = vec![
        Event::new("tok"),
        Event::new("{\"choices\":[{\"delta\":{\"content\":\" world\"}}]}"),
        Event::new("line\r\nbreaks\rand\nmore\n".repeat(200)),
        Event::builder()
            .event("delta")
            .id("42")
            .retry(Duration::from_secs(3))
            .comment("c")
            .data("")
            .build()
            .unwrap(),
        Event::new_comment("ping"),
    ];
    let total = events.iter().map(Event::encoded_len).sum();
    let mut buf = BytesMut::with_capacity(total);
    let ((), count) = alloc::allocations(|| {
        for _ in 0..10 {
            buf.clear();
            for event in &events {
                event.encode(&mut buf);
            }
        }
    });
    assert_eq!(count, 0);
    assert_eq!(buf.len(), total);
}

#[test]
fn the_counter_sees_allocations() {
    let (_v, count) = alloc::allocations(|| Event::new("x").to_bytes());
    assert_eq!(count, 1);
}
