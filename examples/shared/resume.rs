//! The examples' resumable streams: one store per process, in memory, or
//! in Redis when `REDIS_URL` is set, so that any replica can resume or
//! stop any stream.
//!
//! Environment: `RESUME_MAX_STREAMS`, `RESUME_MAX_BYTES` (per stream),
//! `RESUME_TTL_S` (after the end), `RESUME_ABANDON_S` (grace with no
//! reader), `RESUME_LEASE_S` (Redis: how soon a dead replica's streams end
//! for their readers).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use llm_sse::resume::{MemoryStore, ResumeStore, Retention, DEFAULT_GRACE};

/// A store of either kind.
pub(crate) type Store = Arc<dyn ResumeStore>;

static STORE: OnceLock<Store> = OnceLock::new();

/// Opens the store the environment asks for; call once before serving.
pub(crate) async fn init() -> Result<(), String> {
    let retention = retention()?;
    let store: Store = match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let mut store = llm_sse::resume::RedisStore::connect(&url, retention)
                .await
                .map_err(|err| format!("REDIS_URL: {err}"))?;
            if let Some(lease) = env_seconds("RESUME_LEASE_S")? {
                store = store.lease(lease);
            }
            eprintln!("resumable streams in Redis at {url}");
            Arc::new(store)
        }
        _ => Arc::new(MemoryStore::new(retention)),
    };
    let _ = STORE.set(store);
    Ok(())
}

/// The process's store (in memory if [`init`] was not called: tests).
pub(crate) fn store() -> Store {
    STORE
        .get_or_init(|| Arc::new(MemoryStore::new(Retention::default())))
        .clone()
}

/// How long a stream goes on with no reader.
pub(crate) fn grace() -> Duration {
    static GRACE: OnceLock<Duration> = OnceLock::new();
    *GRACE.get_or_init(|| {
        env_seconds("RESUME_ABANDON_S")
            .ok()
            .flatten()
            .unwrap_or(DEFAULT_GRACE)
    })
}

fn retention() -> Result<Retention, String> {
    let mut retention = Retention::default();
    if let Some(streams) = env_number("RESUME_MAX_STREAMS")? {
        retention = retention.max_streams(streams as usize);
    }
    if let Some(bytes) = env_number("RESUME_MAX_BYTES")? {
        retention = retention.max_bytes(bytes as usize);
    }
    if let Some(ttl) = env_seconds("RESUME_TTL_S")? {
        retention = retention.ttl(ttl);
    }
    Ok(retention)
}

fn env_seconds(name: &str) -> Result<Option<Duration>, String> {
    Ok(env_number(name)?.map(Duration::from_secs))
}

fn env_number(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} must be a whole number, not {value:?}")),
        Err(_) => Ok(None),
    }
}
