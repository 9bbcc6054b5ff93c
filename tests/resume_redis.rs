//! The store contract on `RedisStore`, and what only a store shared by
//! several processes has to do: stops through another replica, and the
//! end of a stream whose owner died.
//!
//! Needs a Redis server (7 or newer) at `REDIS_URL`, for instance:
//!
//! ```text
//! redis-server --port 6390 --save '' --appendonly no --daemonize yes
//! REDIS_URL=redis://127.0.0.1:6390/ cargo test --features redis --test resume_redis
//! ```
//!
//! Without `REDIS_URL` the tests say they were skipped and pass, unless
//! `LLM_SSE_REQUIRE_REDIS=1`. Each test writes under a key prefix of its
//! own.

#[path = "common/store_contract.rs"]
mod store_contract;

use std::time::Duration;

use bytes::Bytes;
use llm_sse::resume::{
    number_events, LogState, RedisStore, ResumeStore, Retention, StopOutcome, StreamId,
};

use store_contract::{events, guard, new_stream, read_to_end, stopped, INTERRUPTED};

/// The server's URL, or `None` (the test is skipped) without one.
fn redis_url(test: &str) -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("LLM_SSE_REQUIRE_REDIS").as_deref() != Ok("1"),
                "{test}: REDIS_URL is not set and LLM_SSE_REQUIRE_REDIS=1"
            );
            eprintln!("{test}: skipped, REDIS_URL is not set");
            None
        }
    }
}

/// A key prefix no other test or run uses.
fn prefix(test: &str) -> String {
    format!("llm-sse-test:{test}:{}:", StreamId::random().unwrap())
}

async fn connect(url: &str, prefix: &str, retention: Retention) -> RedisStore {
    RedisStore::connect(url, retention)
        .await
        .unwrap()
        .key_prefix(prefix)
}

#[tokio::test]
async fn redis_store_keeps_the_contract() {
    let Some(url) = redis_url("redis_store_keeps_the_contract") else {
        return;
    };
    let prefix = prefix("contract");
    store_contract::check_store(|retention| {
        let (url, prefix) = (url.clone(), prefix.clone());
        async move { connect(&url, &prefix, retention).await }
    })
    .await;
}

#[tokio::test]
async fn a_stop_through_another_replica_reaches_the_owner() {
    let Some(url) = redis_url("a_stop_through_another_replica_reaches_the_owner") else {
        return;
    };
    let prefix = prefix("stop");
    let owner = connect(&url, &prefix, Retention::default()).await;
    let replica = connect(&url, &prefix, Retention::default()).await;
    let (stream, stop) = new_stream(&owner).await;
    owner
        .append(stream, 1, events(stream, 1, 1), false)
        .await
        .unwrap();

    assert_eq!(replica.stop(stream).await.unwrap(), StopOutcome::Stopping);
    stopped(&stop).await;

    // The owner ends the stream as it stops; both replicas see the end.
    owner
        .append(stream, 2, events(stream, 2, 2), true)
        .await
        .unwrap();
    assert_eq!(replica.stop(stream).await.unwrap(), StopOutcome::Ended);
    assert_eq!(owner.stop(stream).await.unwrap(), StopOutcome::Ended);
}

#[tokio::test]
async fn a_dead_owners_stream_ends_once_with_its_interrupted_frame() {
    let Some(url) = redis_url("a_dead_owners_stream_ends_once_with_its_interrupted_frame") else {
        return;
    };
    let prefix = prefix("dead-owner");
    let owner = connect(&url, &prefix, Retention::default())
        .await
        .lease(Duration::from_secs(1));
    let (stream, _stop) = new_stream(&owner).await;
    owner
        .append(stream, 1, events(stream, 1, 2), false)
        .await
        .unwrap();
    // The owner's process dies: its lease is no longer renewed.
    drop(owner);

    let one = connect(&url, &prefix, Retention::default()).await;
    let two = connect(&url, &prefix, Retention::default()).await;
    let (got_one, got_two) =
        tokio::join!(read_to_end(&one, stream, 2), read_to_end(&two, stream, 2));
    let interrupted: Bytes = number_events(INTERRUPTED, stream, 3).remove(0);
    assert_eq!(got_one, [(3, interrupted.clone())]);
    assert_eq!(got_two, [(3, interrupted.clone())]);

    // Appended once, for everyone.
    let all = guard("a read", one.read(stream, 0, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(all.state, LogState::Ended);
    let positions: Vec<u64> = all.events.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(positions, [1, 2, 3]);
    assert_eq!(all.events[2].1, interrupted);
}
