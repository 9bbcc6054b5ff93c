//! The mock inference engine of `engine=1`: one shared task per token
//! interval that ticks every `delay_ms` and pushes one token of every
//! active stream into that stream's bounded channel, the way inference
//! routers (TGI, vLLM) feed streams from one loop, instead of a sleep per
//! stream.
//!
//! A stream's channel is a [`Channel`]: llm-sse's flush channel (one wake
//! of the HTTP task per batch) or, for the axum baseline, a tokio `mpsc`
//! channel (one wake per token). A full channel keeps the token for the
//! next tick, so a slow client holds back only its own stream; a closed
//! one (the client left) ends the stream's work at the next tick.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use llm_sse::adapters::{FlushSender, TrySendError};
use llm_sse::Delta;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Knobs, MockError};

type Item = Result<Delta, MockError>;

/// What a channel did with a token.
pub(crate) enum Offer {
    Sent,
    Full(Item),
    Closed,
}

/// The sending end of a stream's channel.
pub(crate) trait Channel: Send {
    fn offer(&mut self, item: Item) -> Offer;
}

impl Channel for FlushSender<MockError> {
    fn offer(&mut self, item: Item) -> Offer {
        match self.try_send(item) {
            Ok(()) => Offer::Sent,
            Err(TrySendError::Full(item)) => Offer::Full(item),
            Err(_) => Offer::Closed,
        }
    }
}

impl Channel for tokio::sync::mpsc::Sender<Item> {
    fn offer(&mut self, item: Item) -> Offer {
        match self.try_send(item) {
            Ok(()) => Offer::Sent,
            Err(tokio::sync::mpsc::error::TrySendError::Full(item)) => Offer::Full(item),
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }
}

/// One stream the engine generates for.
struct Active {
    /// The answer, unpaced: every poll is ready.
    model: BoxStream<'static, Item>,
    channel: Box<dyn Channel>,
    /// Not before this (the `ttft_ms` knob).
    start: Instant,
    /// A token the full channel refused, for the next tick.
    held: Option<Item>,
}

impl Active {
    /// One tick: the next token, and any pieces that are no token (a tool
    /// call's start, usage, the finish) before it. `false` once the stream
    /// is done or its client left.
    fn step(&mut self, now: Instant) -> bool {
        if now < self.start {
            return true;
        }
        loop {
            let item = match self.held.take() {
                Some(item) => item,
                None => match self.model.next().now_or_never() {
                    Some(Some(item)) => item,
                    Some(None) => return false, // done: dropping the channel ends the stream
                    None => return true,
                },
            };
            let token = matches!(
                item,
                Ok(Delta::Text(_) | Delta::Reasoning(_) | Delta::ToolArguments { .. }) | Err(_)
            );
            match self.channel.offer(item) {
                Offer::Sent if token => return true,
                Offer::Sent => {}
                Offer::Full(item) => {
                    self.held = Some(item);
                    return true;
                }
                Offer::Closed => return false,
            }
        }
    }
}

/// Streams waiting to join an engine at its next tick.
type Inbox = Arc<Mutex<Vec<Active>>>;

/// Starts generating the answer `knobs` describe into `channel`, on the
/// engine that ticks every `knobs.delay` (started on first use).
pub(crate) fn register(knobs: &Knobs, channel: Box<dyn Channel>) {
    let unpaced = Knobs {
        delay: Duration::ZERO,
        ttft: Duration::ZERO,
        ..knobs.clone()
    };
    let active = Active {
        model: unpaced.model().boxed(),
        channel,
        start: Instant::now() + knobs.ttft,
        held: None,
    };
    // Under the registry's lock, so that an engine never stops with a
    // stream in its inbox.
    let mut engines = registry().lock().unwrap_or_else(PoisonError::into_inner);
    let inbox = engines.entry(knobs.delay).or_insert_with(|| {
        let inbox = Inbox::default();
        tokio::spawn(run(inbox.clone(), knobs.delay));
        inbox
    });
    inbox
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(active);
}

/// The running engines, by token interval.
fn registry() -> &'static Mutex<HashMap<Duration, Inbox>> {
    static ENGINES: OnceLock<Mutex<HashMap<Duration, Inbox>>> = OnceLock::new();
    ENGINES.get_or_init(Mutex::default)
}

/// The engine's loop: every tick, take in new streams and step them all;
/// stop when no stream is left (the next one starts a new engine).
async fn run(inbox: Inbox, delay: Duration) {
    let mut active: Vec<Active> = Vec::new();
    let mut tick = tokio::time::interval(delay.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let now = tick.tick().await;
        active.append(&mut inbox.lock().unwrap_or_else(PoisonError::into_inner));
        active.retain_mut(|stream| stream.step(now));
        if active.is_empty() {
            let mut engines = registry().lock().unwrap_or_else(PoisonError::into_inner);
            if inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                engines.remove(&delay);
                return;
            }
        }
    }
}
