//! Batching on tokio's paused clock: the first token is never delayed, later
//! ones coalesce by count, bytes and max delay.

mod common;

use std::time::Duration;

use common::{at, scripted, timed, ModelError, Step};
use futures_util::{stream, StreamExt, TryStreamExt};
use llm_sse::adapters::{Batch, Chunk};
use llm_sse::{Delta, DeltaKind, FinishReason, TokenStreamExt, TokioTimer, Usage};
use proptest::prelude::*;

/// A text chunk's text.
fn chunk_text(chunk: Chunk) -> String {
    match chunk.into_delta() {
        Delta::Text(text) => text.into_owned(),
        other => panic!("a text chunk, not {other:?}"),
    }
}

/// A runtime on tokio's paused clock, for a property's cases.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn batched(steps: Vec<Step>, policy: Batch) -> Vec<(u64, Result<String, ModelError>)> {
    let chunks = scripted(steps, None)
        .batch(policy, TokioTimer)
        .map_ok(chunk_text);
    timed(chunks).await
}

fn ok(items: &[(u64, &str)]) -> Vec<(u64, Result<String, ModelError>)> {
    items.iter().map(|(t, s)| (*t, Ok(s.to_string()))).collect()
}

#[tokio::test(start_paused = true)]
async fn first_token_goes_out_at_once() {
    let out = batched(
        vec![at(0, "a"), at(5, "b"), Step::EndAt(500)],
        Batch::tokens(4).max_delay(ms(50)),
    )
    .await;
    assert_eq!(out, ok(&[(0, "a"), (55, "b")]));
    // A late first token is not delayed either.
    let out = batched(
        vec![at(300, "a"), Step::EndAt(500)],
        Batch::tokens(4).max_delay(ms(50)),
    )
    .await;
    assert_eq!(out, ok(&[(300, "a")]));
}

#[tokio::test(start_paused = true)]
async fn tokens_10ms_apart_with_max_4_and_30ms() {
    let mut steps: Vec<Step> = (0..10).map(|i| at(i * 10, &format!("t{i} "))).collect();
    steps.push(Step::EndAt(200));
    let out = batched(steps, Batch::tokens(4).max_delay(ms(30))).await;
    assert_eq!(
        out,
        ok(&[
            (0, "t0 "),
            (40, "t1 t2 t3 t4 "),
            (80, "t5 t6 t7 t8 "),
            (120, "t9 ")
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn max_delay_flushes_a_partial_batch() {
    let out = batched(
        vec![
            at(0, "a"),
            at(10, "b"),
            at(20, "c"),
            at(100, "d"),
            Step::EndAt(100),
        ],
        Batch::tokens(8).max_delay(ms(25)).reset_after_idle(false),
    )
    .await;
    // b waits from 10 to 35; d waits for nothing: the upstream ends with it.
    assert_eq!(out, ok(&[(0, "a"), (35, "bc"), (100, "d")]));
}

#[tokio::test(start_paused = true)]
async fn after_an_idle_gap_the_next_token_goes_out_at_once() {
    let steps = || {
        vec![
            at(0, "a"),
            at(10, "b"),
            at(200, "c"),
            at(205, "d"),
            Step::EndAt(300),
        ]
    };
    let policy = Batch::tokens(8).max_delay(ms(30));
    assert_eq!(
        batched(steps(), policy).await,
        ok(&[(0, "a"), (40, "b"), (200, "c"), (235, "d")])
    );
    assert_eq!(
        batched(steps(), policy.reset_after_idle(false)).await,
        ok(&[(0, "a"), (40, "b"), (230, "cd")])
    );
}

#[tokio::test(start_paused = true)]
async fn ready_tokens_are_taken_without_waiting() {
    let tokens = stream::iter(["a", "b", "c", "d", "e", "f", "g"]).map(Ok::<_, ModelError>);
    let out = timed(
        tokens
            .batch(Batch::tokens(3).max_delay(ms(1000)), TokioTimer)
            .map_ok(chunk_text),
    )
    .await;
    assert_eq!(out, ok(&[(0, "a"), (0, "bcd"), (0, "efg")]));
}

#[tokio::test(start_paused = true)]
async fn upstream_end_and_error_flush_pending_text_first() {
    let out = batched(
        vec![at(0, "a"), at(1, "b"), Step::EndAt(2)],
        Batch::tokens(4).max_delay(ms(50)),
    )
    .await;
    assert_eq!(out, ok(&[(0, "a"), (2, "b")]));

    let out = batched(
        vec![
            at(0, "a"),
            at(1, "b"),
            at(2, "c"),
            Step::FailAt(3, "boom"),
            at(4, "never"),
        ],
        Batch::tokens(4).max_delay(ms(50)),
    )
    .await;
    assert_eq!(
        out,
        vec![
            (0, Ok("a".into())),
            (3, Ok("bc".into())),
            (3, Err(ModelError("boom"))),
            (4, Ok("never".into()))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn max_bytes_splits_chunks_and_empty_tokens_are_skipped() {
    let tokens = stream::iter(["first", "aaaa", "", "bbbb", "cccc", "dddddddddddddddd", "e"])
        .map(Ok::<_, ModelError>);
    let out = timed(
        tokens
            .batch(Batch::tokens(10).max_bytes(10), TokioTimer)
            .map_ok(chunk_text),
    )
    .await;
    assert_eq!(
        out,
        ok(&[
            (0, "first"),
            (0, "aaaabbbb"),
            (0, "cccc"),
            (0, "dddddddddddddddd"),
            (0, "e")
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn batch_off_sends_every_token_alone() {
    let tokens = stream::iter(["a", "b", "c"]).map(Ok::<_, ModelError>);
    let out = timed(tokens.batch(Batch::off(), TokioTimer)).await;
    let chunks: Vec<_> = out.into_iter().map(|(_, c)| c.unwrap()).collect();
    assert_eq!(
        chunks,
        [Chunk::new("a", 1), Chunk::new("b", 1), Chunk::new("c", 1)]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn chunks_keep_every_token_in_order_within_all_limits(
        tokens in prop::collection::vec(("[a-z€]{0,6}", 0u64..60), 0..40),
        max_tokens in 1usize..6,
        max_bytes in 1usize..24,
        max_delay in 0u64..50,
    ) {
        paused_runtime().block_on(async {
            let mut time = 0;
            let mut arrivals = Vec::new();
            let mut steps = Vec::new();
            for (token, gap) in &tokens {
                time += gap;
                if !token.is_empty() {
                    arrivals.push(time);
                }
                steps.push(at(time, token));
            }
            steps.push(Step::EndAt(time + 1000));
            let policy = Batch::tokens(max_tokens).max_bytes(max_bytes).max_delay(ms(max_delay));
            let out = timed(scripted(steps, None).batch(policy, TokioTimer)).await;

            let mut joined = String::new();
            let mut token_index = 0;
            for (sent_at, chunk) in out {
                let chunk = chunk.unwrap();
                prop_assert!(chunk.tokens() >= 1);
                prop_assert!(chunk.tokens() <= max_tokens);
                prop_assert!(chunk.tokens() == 1 || chunk.delta().as_text().unwrap().len() <= max_bytes);
                // No token waited longer than the max delay.
                for _ in 0..chunk.tokens() {
                    prop_assert!(sent_at - arrivals[token_index] <= max_delay,
                        "token {} arrived at {} and went out at {}", token_index, arrivals[token_index], sent_at);
                    token_index += 1;
                }
                joined.push_str(chunk.delta().as_text().unwrap());
            }
            prop_assert_eq!(token_index, arrivals.len());
            let all: String = tokens.iter().map(|(t, _)| t.as_str()).collect();
            prop_assert_eq!(joined, all);
            Ok(())
        })?;
    }
}

#[tokio::test(start_paused = true)]
async fn durations_too_long_for_an_instant_mean_never_not_a_panic() {
    use llm_sse::adapters::Timeouts;
    use llm_sse::SseStream;
    let steps = vec![at(0, "a"), at(10, "b"), at(20, "c"), Step::EndAt(30)];
    let body = SseStream::builder(scripted(steps, None))
        .batch(Batch::tokens(8).max_delay(Duration::MAX))
        .heartbeat(Duration::MAX)
        .timeouts(
            Timeouts::new()
                .first_token(Duration::MAX)
                .idle(Duration::MAX)
                .total(Duration::MAX),
        )
        .build();
    let frames: Vec<_> = timed(body)
        .await
        .into_iter()
        .map(|(t, f)| (t, f.to_vec()))
        .collect();
    assert_eq!(
        frames,
        [
            (0, b"data: a\n\n".to_vec()),
            (30, b"data: bc\n\n".to_vec()),
            (30, b"data: [DONE]\n\n".to_vec())
        ]
    );
}

/// A model that yields `deltas` at the given milliseconds, then ends.
fn scripted_deltas(
    deltas: Vec<(u64, Delta)>,
) -> impl futures_util::Stream<Item = Result<Delta, ModelError>> + Unpin {
    let start = tokio::time::Instant::now();
    Box::pin(stream::unfold(
        deltas.into_iter(),
        move |mut deltas| async move {
            let (at, delta) = deltas.next()?;
            tokio::time::sleep_until(start + ms(at)).await;
            Some((Ok(delta), deltas))
        },
    ))
}

/// What a delta joins with: its kind, and the tool call for arguments.
fn join_key(delta: &Delta) -> (DeltaKind, u32) {
    match delta {
        Delta::ToolArguments { index, .. } => (DeltaKind::ToolArguments, *index),
        other => (other.kind(), 0),
    }
}

fn any_delta() -> impl Strategy<Value = Delta> {
    prop_oneof![
        4 => "[a-z€\n]{0,5}".prop_map(Delta::text),
        2 => "[a-z]{0,4}".prop_map(Delta::reasoning),
        1 => (0u32..3).prop_map(|i| Delta::tool_call(i, format!("call_{i}"), "f")),
        3 => ((0u32..3), "[{}\":a-z]{0,4}").prop_map(|(i, f)| Delta::tool_arguments(i, f)),
        1 => Just(Delta::usage(Usage::new(1, 2))),
        1 => Just(Delta::finish(FinishReason::Stop)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Every chunk is a run of neighbours of one kind (and one tool call),
    /// in order, so what a client joins per kind is what the model sent;
    /// tool-call starts, usage and finish go out alone and at once; the
    /// first delta, and the first after a change of kind, never wait; no
    /// delta waits longer than the max delay.
    #[test]
    fn typed_chunks_join_only_neighbours_of_one_kind(
        deltas in prop::collection::vec((any_delta(), 0u64..40), 0..40),
        max_tokens in 1usize..6,
        max_bytes in 1usize..24,
        max_delay in 0u64..50,
    ) {
        paused_runtime().block_on(async {
            let mut time = 0;
            let mut script = Vec::new();
            // What the batch passes on: every delta but empty text, with its arrival.
            let mut expected = Vec::new();
            for (delta, gap) in &deltas {
                time += gap;
                script.push((time, delta.clone()));
                if delta.as_text() != Some("") {
                    expected.push((time, delta.clone()));
                }
            }
            let policy = Batch::tokens(max_tokens).max_bytes(max_bytes).max_delay(ms(max_delay));
            let out = timed(scripted_deltas(script).batch(policy, TokioTimer)).await;

            let mut next = 0;
            let mut last_key = None;
            for (sent_at, chunk) in out {
                let chunk = chunk.unwrap();
                prop_assert!(chunk.tokens() >= 1 && chunk.tokens() <= max_tokens);
                let run = &expected[next..next + chunk.tokens()];
                next += chunk.tokens();
                let key = join_key(chunk.delta());
                let mut text = String::new();
                for (arrived, delta) in run {
                    prop_assert_eq!(join_key(delta), key, "one kind per chunk");
                    prop_assert!(sent_at - arrived <= max_delay, "waited {} ms", sent_at - arrived);
                    text.push_str(delta.as_text().unwrap_or_default());
                }
                match chunk.delta().as_text() {
                    Some(joined) => {
                        prop_assert_eq!(joined, text.as_str());
                        prop_assert!(chunk.tokens() == 1 || joined.len() <= max_bytes);
                    }
                    None => {
                        prop_assert_eq!(chunk.tokens(), 1, "never joined");
                        prop_assert_eq!(chunk.delta(), &run[0].1);
                        prop_assert_eq!(sent_at, run[0].0, "never waits");
                    }
                }
                if last_key != Some(key) {
                    prop_assert_eq!(sent_at, run[0].0, "the first of a kind goes out at once");
                }
                last_key = Some(key);
            }
            prop_assert_eq!(next, expected.len(), "every delta went out");
            Ok(())
        })?;
    }
}

#[tokio::test(start_paused = true)]
async fn a_change_of_kind_flushes_at_once() {
    let script = vec![
        (0, Delta::reasoning("a")),
        (1, Delta::reasoning("b")),
        (2, Delta::text("c")),
        (3, Delta::tool_arguments(0, "{")),
        (4, Delta::tool_arguments(1, "[")),
        (5, Delta::tool_arguments(1, "]")),
    ];
    let policy = Batch::tokens(8).max_delay(ms(50));
    let out: Vec<(u64, Delta, usize)> = timed(scripted_deltas(script).batch(policy, TokioTimer))
        .await
        .into_iter()
        .map(|(t, c)| {
            let c = c.unwrap();
            (t, c.delta().clone(), c.tokens())
        })
        .collect();
    assert_eq!(
        out,
        [
            (0, Delta::reasoning("a"), 1),
            // The text flushes the reasoning, and goes out at once itself:
            // the first of its kind.
            (2, Delta::reasoning("b"), 1),
            (2, Delta::text("c"), 1),
            (3, Delta::tool_arguments(0, "{"), 1),
            (4, Delta::tool_arguments(1, "["), 1),
            // The end flushes the last run at once.
            (5, Delta::tool_arguments(1, "]"), 1),
        ]
    );
}

/// `TokioTimer`, counting how often the clock is read.
#[derive(Clone, Debug, Default)]
struct CountingTimer(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl llm_sse::Timer for CountingTimer {
    type Sleep = <TokioTimer as llm_sse::Timer>::Sleep;

    fn now(&self) -> std::time::Instant {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TokioTimer.now()
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Self::Sleep {
        TokioTimer.sleep_until(deadline)
    }
}

#[tokio::test(start_paused = true)]
async fn batching_off_never_reads_the_clock() {
    let steps = (1..=5).map(|i| at(20 * i, "tok")).collect();
    let timer = CountingTimer::default();
    let reads = timer.0.clone();
    let chunks: Vec<_> = scripted(steps, None)
        .batch(Batch::off(), timer)
        .map_ok(chunk_text)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks, ["tok"; 5]);
    assert_eq!(reads.load(std::sync::atomic::Ordering::Relaxed), 0);
}
