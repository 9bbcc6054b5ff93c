//! [`flush_channel`]: deltas from an engine loop to one stream, waking the
//! stream once per flushed batch instead of once per token.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;

use super::batch::join_key;
use super::Batch;
use crate::timer::Sleep;
use crate::{Delta, DeltaKind, Timer};

/// A channel from an inference engine's loop to one stream, for engines
/// that feed many streams from one task (TGI's router, vLLM's output
/// queues): the receiving stream is woken once per batch, not once per
/// token.
///
/// A channel such as tokio's `mpsc` wakes its receiver at every send, so a
/// stream batched four tokens to an event still pays a task wake-up per
/// token. This one wakes the receiver only when a batch is due, by the
/// same rules as [`Batch`]:
///
/// - the first delta, and the first after the stream was idle longer than
///   `max_delay`, at once;
/// - a delta that does not join the one before it (another kind, a tool
///   call's start, usage, the finish) and an error, at once;
/// - otherwise when `max_tokens` deltas wait, or `max_delay` after the
///   last batch went out, on the receiver's own timer.
///
/// The receiver hands every waiting delta to the pipeline at once; build
/// the pipeline with
/// [`SseStream::from_flush_receiver`](crate::SseStream::from_flush_receiver),
/// which joins what arrives together without a timer of its own.
///
/// `capacity` bounds the deltas waiting: [`FlushSender::try_send`] refuses
/// more, which is the backpressure of a slow client. Dropping the receiver
/// (the client left) closes the channel; the engine sees it in
/// [`FlushSender::is_closed`] and at its next send.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use futures_util::StreamExt;
/// use llm_sse::adapters::{flush_channel, Batch};
/// use llm_sse::{Delta, SseStream, TokioTimer};
///
/// let (sender, receiver) = flush_channel::<std::io::Error, _>(
///     64,
///     Batch::tokens(4).max_delay(Duration::from_millis(50)),
///     TokioTimer,
/// );
/// // The engine's loop, one token per step.
/// for word in ["Hello", ",", " world", "!"] {
///     sender.try_send(Ok(Delta::text(word))).unwrap();
/// }
/// drop(sender); // the answer is complete
///
/// let body: Vec<_> = SseStream::from_flush_receiver(receiver).build().collect().await;
/// assert_eq!(body, ["data: Hello\n\n", "data: , world!\n\n", "data: [DONE]\n\n"]);
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
pub fn flush_channel<E, T: Timer>(
    capacity: usize,
    batch: Batch,
    timer: T,
) -> (FlushSender<E>, FlushReceiver<E, T>) {
    let shared = Arc::new(Mutex::new(Shared {
        queue: VecDeque::new(),
        waker: None,
        collecting: false,
        receiver_gone: false,
        senders: 1,
        last_key: None,
    }));
    let sender = FlushSender {
        shared: shared.clone(),
        capacity: capacity.max(1),
        max_tokens: batch.max_tokens_limit(),
    };
    let receiver = FlushReceiver {
        shared,
        delivered: VecDeque::new(),
        batch,
        timer,
        sleep: None,
    };
    (sender, receiver)
}

type Item<E> = Result<Delta, E>;

struct Shared<E> {
    queue: VecDeque<Item<E>>,
    waker: Option<Waker>,
    /// The receiver's timer will collect what is sent: no wake needed.
    collecting: bool,
    receiver_gone: bool,
    senders: usize,
    /// What the last delta sent joins with.
    last_key: Option<(DeltaKind, u32)>,
}

fn lock<E>(shared: &Mutex<Shared<E>>) -> MutexGuard<'_, Shared<E>> {
    // Nothing panics while holding the lock; a poisoned one is still sound.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sending end of a [`flush_channel`], for the engine's loop; clone it
/// for more producers. The stream ends when every sender is dropped.
pub struct FlushSender<E> {
    shared: Arc<Mutex<Shared<E>>>,
    capacity: usize,
    max_tokens: usize,
}

/// Why [`FlushSender::try_send`] refused an item; it is handed back.
#[derive(Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError<T> {
    /// `capacity` deltas wait already: the client reads slower than the
    /// model writes.
    #[error("the channel is full")]
    Full(T),
    /// The receiver was dropped: the client left.
    #[error("the receiver is gone")]
    Closed(T),
}

impl<E> FlushSender<E> {
    /// Sends `item` without waiting, waking the receiver only when a batch
    /// is due (see [`flush_channel`]).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when `capacity` items wait,
    /// [`TrySendError::Closed`] when the receiver is gone; both hand the
    /// item back.
    pub fn try_send(&self, item: Item<E>) -> Result<(), TrySendError<Item<E>>> {
        let waker = {
            let mut shared = lock(&self.shared);
            if shared.receiver_gone {
                return Err(TrySendError::Closed(item));
            }
            if shared.queue.len() >= self.capacity {
                return Err(TrySendError::Full(item));
            }
            let flush_now = match &item {
                Err(_) => true,
                Ok(delta) => {
                    let key = join_key(delta);
                    let joins = matches!(
                        delta,
                        Delta::Text(_) | Delta::Reasoning(_) | Delta::ToolArguments { .. }
                    ) && shared.last_key == Some(key);
                    shared.last_key = Some(key);
                    !joins
                }
            };
            shared.queue.push_back(item);
            let due = flush_now || !shared.collecting || shared.queue.len() >= self.max_tokens;
            if due {
                shared.waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone: the engine can drop the stream's work.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).receiver_gone
    }
}

impl<E> Clone for FlushSender<E> {
    fn clone(&self) -> Self {
        lock(&self.shared).senders += 1;
        Self {
            shared: self.shared.clone(),
            capacity: self.capacity,
            max_tokens: self.max_tokens,
        }
    }
}

impl<E> Drop for FlushSender<E> {
    fn drop(&mut self) {
        let waker = {
            let mut shared = lock(&self.shared);
            shared.senders -= 1;
            if shared.senders == 0 {
                shared.waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<E> fmt::Debug for FlushSender<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushSender")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// The receiving end of a [`flush_channel`]: a stream of `Result<Delta,
/// E>`, a [`TokenStream`](crate::TokenStream).
#[must_use = "streams do nothing unless polled"]
pub struct FlushReceiver<E, T: Timer> {
    shared: Arc<Mutex<Shared<E>>>,
    /// The batch taken at the last wake-up, handed out one by one.
    delivered: VecDeque<Item<E>>,
    batch: Batch,
    timer: T,
    sleep: Option<T::Sleep>,
}

impl<E, T: Timer> FlushReceiver<E, T> {
    /// The batch policy the channel flushes by.
    pub fn batch(&self) -> Batch {
        self.batch
    }

    /// The timer the receiver collects on.
    pub fn timer(&self) -> &T {
        &self.timer
    }

    /// Arms the timer that collects the next batch.
    fn collect_after(&mut self, delay: Duration) {
        let deadline = self.timer.now() + delay;
        match &mut self.sleep {
            Some(sleep) => sleep.reset(deadline),
            None => self.sleep = Some(self.timer.sleep_until(deadline)),
        }
    }
}

// No field is ever pinned: the sleep is `Unpin` and polled through `Pin::new`.
impl<E, T: Timer> Unpin for FlushReceiver<E, T> {}

impl<E, T: Timer> Stream for FlushReceiver<E, T> {
    type Item = Item<E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item<E>>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.delivered.pop_front() {
                return Poll::Ready(Some(item));
            }
            let collecting = {
                let mut shared = lock(&this.shared);
                if !shared.queue.is_empty() {
                    // Take the whole batch; what comes next waits for the
                    // timer, a full batch or a delta that cannot wait.
                    std::mem::swap(&mut this.delivered, &mut shared.queue);
                    shared.collecting = !this.batch.max_delay_limit().is_zero();
                    drop(shared);
                    if !this.batch.max_delay_limit().is_zero() {
                        this.collect_after(this.batch.max_delay_limit());
                    }
                    continue;
                }
                if shared.senders == 0 {
                    return Poll::Ready(None);
                }
                match &mut shared.waker {
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => shared.waker = Some(cx.waker().clone()),
                }
                shared.collecting
            };
            if !collecting {
                return Poll::Pending;
            }
            let Some(sleep) = this.sleep.as_mut() else {
                return Poll::Pending;
            };
            if Pin::new(sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer: collect what waits, or go idle, so that the next
            // delta wakes the stream at once.
            let mut shared = lock(&this.shared);
            if shared.queue.is_empty() {
                shared.collecting = false;
                return Poll::Pending;
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.delivered.len(), None)
    }
}

impl<E, T: Timer> Drop for FlushReceiver<E, T> {
    fn drop(&mut self) {
        let mut shared = lock(&self.shared);
        shared.receiver_gone = true;
        shared.queue.clear();
    }
}

impl<E, T: Timer> fmt::Debug for FlushReceiver<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushReceiver")
            .field("batch", &self.batch)
            .field("delivered", &self.delivered.len())
            .finish_non_exhaustive()
    }
}
