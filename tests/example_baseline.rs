//! `examples/axum_baseline.rs` groups tokens by hand the way the load
//! benchmark's batching anchor needs: the first at once, then up to N per
//! event within the max delay, errors after the group they end.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use llm_sse::Delta;

#[path = "../examples/axum_baseline.rs"]
#[allow(dead_code)] // its `main` and handler are not used here
mod axum_baseline;

use axum_baseline::grouped;
use axum_baseline::shared::MockError;

/// `items`, each after its delay in milliseconds from the one before.
fn paced(
    items: Vec<(u64, Result<Delta, MockError>)>,
) -> impl futures_util::Stream<Item = Result<Delta, MockError>> + Send + Unpin {
    Box::pin(stream::iter(items).then(|(ms, item)| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        item
    }))
}

/// What comes out, with the milliseconds since the start.
async fn timed(
    groups: impl futures_util::Stream<Item = Result<Delta, MockError>>,
) -> Vec<(u128, Result<String, String>)> {
    let start = tokio::time::Instant::now();
    groups
        .map(|item| {
            let at = start.elapsed().as_millis();
            let item = match item {
                Ok(delta) => Ok(delta.as_text().unwrap_or_default().to_owned()),
                Err(MockError(message)) => Err(message),
            };
            (at, item)
        })
        .collect()
        .await
}

fn text(t: &str) -> Result<Delta, MockError> {
    Ok(Delta::text(t.to_owned()))
}

#[tokio::test(start_paused = true)]
async fn first_at_once_then_full_groups_or_the_max_delay() {
    // Tokens every 10 ms; groups of 4, at most 25 ms after their first.
    let tokens = (0..8).map(|i| (10, text(&i.to_string()))).collect();
    let out = timed(grouped(paced(tokens), 4, Duration::from_millis(25))).await;
    let expected: Vec<(u128, Result<String, String>)> = vec![
        (10, Ok("0".into())),
        (45, Ok("123".into())),
        (75, Ok("456".into())),
        (80, Ok("7".into())),
    ];
    assert_eq!(out, expected);
}

#[tokio::test(start_paused = true)]
async fn full_groups_go_out_without_waiting_and_others_are_dropped() {
    let items = vec![
        (0, text("a")),
        (0, text("b")),
        (0, Ok(Delta::finish(llm_sse::FinishReason::Stop))),
        (0, text("c")),
        (0, text("d")),
        (0, text("e")),
        (0, text("f")),
    ];
    let out = timed(grouped(paced(items), 4, Duration::from_secs(1))).await;
    let expected: Vec<(u128, Result<String, String>)> = vec![
        (0, Ok("a".into())),
        (0, Ok("bcde".into())),
        (0, Ok("f".into())),
    ];
    assert_eq!(out, expected);
}

#[tokio::test(start_paused = true)]
async fn an_error_follows_the_group_it_ends() {
    let items = vec![
        (0, text("a")),
        (5, text("b")),
        (5, Err(MockError("boom".into()))),
        (5, text("never")),
    ];
    let out = timed(grouped(paced(items), 4, Duration::from_secs(1))).await;
    let expected: Vec<(u128, Result<String, String>)> = vec![
        (0, Ok("a".into())),
        (10, Ok("b".into())),
        (10, Err("boom".into())),
        (15, Ok("never".into())),
    ];
    assert_eq!(out, expected);
}
