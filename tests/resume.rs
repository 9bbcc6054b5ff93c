//! Resumable streams end to end over the in-memory store: ids, replay
//! exactly once from any cut, stop, abandon, and what a resume answers.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use llm_sse::adapters::Batch;
use llm_sse::resume::{resume, stop, MemoryStore, ResumableStream, Resumed, StopOutcome};
use llm_sse::{Delta, SseStream};
use proptest::prelude::*;

fn text(frames: &[bytes::Bytes]) -> String {
    frames.iter().map(|f| String::from_utf8_lossy(f)).collect()
}

/// The events of a connection's text, without the `retry:` line (only
/// the first event of each connection has it).
fn events(text: &str) -> Vec<String> {
    text.split_inclusive("\n\n")
        .map(|event| {
            event
                .strip_prefix("retry: 1000\n")
                .unwrap_or(event)
                .to_owned()
        })
        .collect()
}

fn resumable(tokens: Vec<String>, store: &MemoryStore) -> ResumableStream {
    SseStream::builder(stream::iter(tokens).map(Ok::<_, std::io::Error>))
        .batch(Batch::off())
        .resumable(store.clone())
        .build()
}

async fn collect(stream: ResumableStream) -> Vec<bytes::Bytes> {
    stream.collect().await
}

fn last_id(events: &[String]) -> Option<String> {
    events.last().map(|event| {
        let line = event.lines().find(|l| l.starts_with("id: ")).unwrap();
        line["id: ".len()..].to_owned()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any answer, cut after any event and resumed any number of times,
    /// reassembles exactly the uncut answer, each event once, in order.
    #[test]
    fn any_cut_and_resumes_reassemble_the_answer(
        tokens in prop::collection::vec("[a-z \\n\\r:]{0,6}", 1..12),
        cuts in prop::collection::vec(0usize..6, 0..4),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = MemoryStore::default();
            let whole = events(&text(&collect(resumable(tokens.clone(), &store)).await));

            let mut first = resumable(tokens, &store);
            let id = first.stream_id();
            let mut got = Vec::new();
            let mut cuts = cuts.into_iter();
            // The first connection reads some events, then drops.
            let keep = cuts.next().unwrap_or(0);
            while got.len() < keep {
                match first.next().await {
                    Some(frame) => got.extend(events(&String::from_utf8_lossy(&frame))),
                    None => break,
                }
            }
            drop(first);
            loop {
                let Some(last) = last_id(&got) else {
                    // Nothing seen yet: resume from the start.
                    let from_start = format!("{id}:0");
                    match resume(&store, &from_start, None).await {
                        Resumed::Stream(rest) => {
                            got.extend(events(&text(&collect(rest).await)));
                        }
                        other => panic!("{other:?}"),
                    }
                    break;
                };
                match resume(&store, &last, None).await {
                    Resumed::Stream(mut rest) => {
                        let keep = cuts.next();
                        let mut read = 0;
                        while let Some(frame) = rest.next().await {
                            let new = events(&String::from_utf8_lossy(&frame));
                            read += new.len();
                            got.extend(new);
                            if keep.is_some_and(|keep| read >= keep) {
                                break;
                            }
                        }
                    }
                    Resumed::NoContent => break,
                    other => panic!("{other:?}"),
                }
            }
            // Same events, same positions (ids name another stream).
            let strip = |events: &[String]| -> Vec<String> {
                events.iter().map(|e| e.lines().filter(|l| !l.starts_with("id: ")).collect::<Vec<_>>().join("\n")).collect()
            };
            prop_assert_eq!(strip(&got), strip(&whole));
            let seqs: Vec<u64> = got.iter().map(|e| {
                let id = e.lines().find(|l| l.starts_with("id: ")).unwrap();
                id.rsplit(':').next().unwrap().parse().unwrap()
            }).collect();
            prop_assert_eq!(seqs, (1..=whole.len() as u64).collect::<Vec<_>>());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn every_event_has_an_id_and_only_the_first_a_retry() {
    let store = MemoryStore::default();
    let stream = resumable(vec!["a".into(), "b\nc".into()], &store);
    let id = stream.stream_id();
    let text = text(&collect(stream).await);
    assert_eq!(
        text,
        format!(
            "retry: 1000\ndata: a\nid: {id}:1\n\ndata: b\ndata: c\nid: {id}:2\n\ndata: [DONE]\nid: {id}:3\n\n"
        )
    );
}

#[tokio::test]
async fn resume_answers_unknown_delivered_malformed_and_foreign_ids() {
    let store = MemoryStore::default();
    let stream = SseStream::builder(stream::iter(["a"]).map(Ok::<_, std::io::Error>))
        .resumable(store.clone())
        .principal("alice")
        .build();
    let id = stream.stream_id();
    collect(stream).await;
    assert!(matches!(
        resume(&store, "abcdefghijklmnopqrstuv:1", None).await,
        Resumed::NoContent
    ));
    assert!(matches!(
        resume(&store, "nope", None).await,
        Resumed::Invalid(_)
    ));
    // Someone else, even with the id.
    assert!(matches!(
        resume(&store, &format!("{id}:0"), Some("mallory")).await,
        Resumed::NoContent
    ));
    assert!(matches!(
        resume(&store, &format!("{id}:0"), None).await,
        Resumed::NoContent
    ));
    assert!(matches!(
        resume(&store, &format!("{id}:0"), Some("alice")).await,
        Resumed::Stream(_)
    ));
    // Fully delivered: `a` and `[DONE]`.
    assert!(matches!(
        resume(&store, &format!("{id}:2"), Some("alice")).await,
        Resumed::NoContent
    ));
    assert_eq!(
        stop(&store, &id.to_string(), Some("mallory"))
            .await
            .unwrap(),
        StopOutcome::Unknown
    );
    assert_eq!(
        stop(&store, &format!("{id}:1"), Some("alice"))
            .await
            .unwrap(),
        StopOutcome::Ended
    );
}

#[tokio::test]
async fn a_trimmed_position_is_gone() {
    use llm_sse::resume::Retention;
    let store = MemoryStore::new(Retention::default().max_events(2));
    let stream = resumable((0..5).map(|i| i.to_string()).collect(), &store);
    let id = stream.stream_id();
    collect(stream).await;
    assert!(matches!(
        resume(&store, &format!("{id}:1"), None).await,
        Resumed::Gone
    ));
    assert_eq!(Resumed::Gone.status(), 410);
    assert!(matches!(
        resume(&store, &format!("{id}:4"), None).await,
        Resumed::Stream(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_the_generation_with_the_normal_end() {
    let store = MemoryStore::default();
    // A model that never ends on its own.
    let tokens = stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Some((Ok::<_, std::io::Error>(Delta::text(n.to_string())), n + 1))
    });
    let mut stream = SseStream::builder(tokens)
        .batch(Batch::off())
        .resumable(store.clone())
        .build();
    let id = stream.stream_id();
    stream.next().await;
    assert_eq!(
        stop(&store, id.as_str(), None).await.unwrap(),
        StopOutcome::Stopping
    );
    let rest = text(&stream.collect::<Vec<_>>().await);
    let last = rest.rsplit_terminator("\n\n").next().unwrap_or_default();
    assert!(
        last.starts_with(&format!("data: [DONE]\nid: {id}:")),
        "{rest}"
    );
    assert!(!rest.contains("event: error"), "{rest}");
    assert_eq!(
        stop(&store, id.as_str(), None).await.unwrap(),
        StopOutcome::Ended
    );
}

/// A never-ending stream (a token every 100 ms) with a 5 s grace, whose
/// connection leaves after its first event.
async fn left_after_one_event(store: &MemoryStore) -> llm_sse::resume::StreamId {
    let tokens = stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::io::Error>(Delta::text(n.to_string())), n + 1))
    });
    let mut stream = SseStream::builder(tokens)
        .batch(Batch::off())
        .resumable(store.clone())
        .grace(Duration::from_secs(5))
        .build();
    let id = stream.stream_id();
    stream.next().await;
    id
}

#[tokio::test(start_paused = true)]
async fn a_stream_without_readers_runs_on_within_its_grace() {
    let store = MemoryStore::default();
    let id = left_after_one_event(&store).await;
    // Still generating in the background while within the grace.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stop(&store, id.as_str(), None).await.unwrap(),
        StopOutcome::Stopping,
        "still running"
    );
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_stream_ends_its_log_with_the_error() {
    let store = MemoryStore::default();
    let id = left_after_one_event(&store).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let Resumed::Stream(rest) = resume(&store, &format!("{id}:1"), None).await else {
        panic!("the log is kept after the end");
    };
    let rest = text(&collect(rest).await);
    assert!(rest.contains("event: error\n"), "{rest}");
    assert!(rest.contains("abandoned"), "{rest}");
    assert!(!rest.contains("[DONE]"), "{rest}");
}
