//! The flush channel wakes its stream once per batch: counted wake-ups on
//! tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt};
use llm_sse::adapters::{flush_channel, Batch, FlushReceiver, TrySendError};
use llm_sse::{Delta, FinishReason, SseStream, TokioTimer};

const DELAY: Duration = Duration::from_millis(50);

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Probe {
    counter: Arc<Counter>,
    waker: Waker,
}

impl Probe {
    fn new() -> Self {
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(counter.clone());
        Self { counter, waker }
    }

    fn wakes(&self) -> usize {
        self.counter.0.load(Ordering::SeqCst)
    }

    /// Everything the receiver hands out now, as text (`!` for an error).
    fn drain(&self, receiver: &mut FlushReceiver<&'static str, TokioTimer>) -> Vec<String> {
        let mut cx = Context::from_waker(&self.waker);
        let mut got = Vec::new();
        while let Poll::Ready(Some(item)) = std::pin::Pin::new(&mut *receiver).poll_next(&mut cx) {
            got.push(match item {
                Ok(delta) => delta.as_text().unwrap_or("?").to_owned(),
                Err(_) => "!".to_owned(),
            });
        }
        got
    }
}

fn channel(
    capacity: usize,
) -> (
    llm_sse::adapters::FlushSender<&'static str>,
    FlushReceiver<&'static str, TokioTimer>,
) {
    flush_channel(capacity, Batch::tokens(4).max_delay(DELAY), TokioTimer)
}

fn text(word: &'static str) -> Result<Delta, &'static str> {
    Ok(Delta::text(word))
}

#[tokio::test(start_paused = true)]
async fn one_wake_per_batch() {
    let probe = Probe::new();
    let (sender, mut receiver) = channel(64);
    assert!(probe.drain(&mut receiver).is_empty());

    // The first token wakes the stream at once.
    sender.try_send(text("a")).unwrap();
    assert_eq!(probe.wakes(), 1);
    assert_eq!(probe.drain(&mut receiver), ["a"]);

    // The next three wait for the batch; the fourth completes it.
    for word in ["b", "c", "d"] {
        sender.try_send(text(word)).unwrap();
    }
    assert_eq!(probe.wakes(), 1, "no wake before the batch is due");
    sender.try_send(text("e")).unwrap();
    assert_eq!(probe.wakes(), 2);
    assert_eq!(probe.drain(&mut receiver), ["b", "c", "d", "e"]);

    // A lone token waits for the timer, at most the max delay.
    sender.try_send(text("f")).unwrap();
    assert_eq!(probe.wakes(), 2);
    tokio::time::sleep(DELAY - Duration::from_millis(1)).await;
    assert_eq!(probe.wakes(), 2, "woken before the max delay");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(probe.wakes(), 3, "the timer wakes the stream");
    assert_eq!(probe.drain(&mut receiver), ["f"]);

    // With nothing to collect, the timer puts the stream to rest; the
    // next token after the pause goes out at once.
    tokio::time::sleep(DELAY).await;
    assert_eq!(probe.wakes(), 4);
    assert!(probe.drain(&mut receiver).is_empty());
    tokio::time::sleep(DELAY * 10).await;
    assert_eq!(probe.wakes(), 4, "an idle stream is not woken");
    sender.try_send(text("g")).unwrap();
    assert_eq!(probe.wakes(), 5);
    assert_eq!(probe.drain(&mut receiver), ["g"]);
}

#[tokio::test(start_paused = true)]
async fn what_cannot_wait_wakes_at_once() {
    let probe = Probe::new();
    let (sender, mut receiver) = channel(64);
    sender.try_send(text("a")).unwrap();
    probe.drain(&mut receiver);
    let wakes = probe.wakes();

    // Another kind (reasoning after text) does not join: at once.
    sender.try_send(Ok(Delta::reasoning("r"))).unwrap();
    assert_eq!(probe.wakes(), wakes + 1);
    probe.drain(&mut receiver);
    // The finish, and an error, at once too.
    sender
        .try_send(Ok(Delta::finish(FinishReason::Stop)))
        .unwrap();
    assert_eq!(probe.wakes(), wakes + 2);
    probe.drain(&mut receiver);
    sender.try_send(Err("model failed")).unwrap();
    assert_eq!(probe.wakes(), wakes + 3);
    assert_eq!(probe.drain(&mut receiver), ["!"]);

    // The last sender gone: the stream ends, woken at once.
    drop(sender);
    assert_eq!(probe.wakes(), wakes + 4);
    let mut cx = Context::from_waker(&probe.waker);
    assert!(matches!(
        std::pin::Pin::new(&mut receiver).poll_next(&mut cx),
        Poll::Ready(None)
    ));
}

#[tokio::test(start_paused = true)]
async fn full_and_closed_hand_the_item_back() {
    let (sender, mut receiver) = channel(2);
    sender.try_send(text("a")).unwrap();
    sender.try_send(text("b")).unwrap();
    assert_eq!(
        sender.try_send(text("c")),
        Err(TrySendError::Full(text("c")))
    );
    // Reading makes room.
    let probe = Probe::new();
    assert_eq!(probe.drain(&mut receiver), ["a", "b"]);
    sender.try_send(text("c")).unwrap();

    assert!(!sender.is_closed());
    drop(receiver); // the client left
    assert!(sender.is_closed());
    assert_eq!(
        sender.try_send(text("d")),
        Err(TrySendError::Closed(text("d")))
    );
}

/// Through the pipeline: an engine that makes a token every 10 ms, batch
/// 4 at most 50 ms: the first token alone and at once, then one event per
/// four tokens, and one wake-up of the stream per event.
#[tokio::test(start_paused = true)]
async fn the_pipeline_writes_one_event_per_wake() {
    let (sender, receiver) = channel(64);
    let engine = tokio::spawn(async move {
        let words = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for word in words {
            let _ = sender.try_send(text(word));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let probe = Arc::new(Counter::default());
    let waker = Waker::from(probe.clone());
    let mut body = SseStream::from_flush_receiver(receiver)
        .heartbeat(Duration::from_secs(15))
        .build();
    // An executor's loop: poll until pending, then wait for a wake-up.
    let mut frames = Vec::new();
    loop {
        let mut cx = Context::from_waker(&waker);
        match std::pin::Pin::new(&mut body).poll_next(&mut cx) {
            Poll::Ready(Some(frame)) => frames.push(frame),
            Poll::Ready(None) => break,
            Poll::Pending => {
                let woken = probe.0.load(Ordering::SeqCst);
                for _ in 0..1000 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    if probe.0.load(Ordering::SeqCst) > woken {
                        break;
                    }
                }
            }
        }
    }
    engine.now_or_never();
    assert_eq!(
        frames,
        [
            "data: a\n\n",
            "data: bcde\n\n",
            "data: fghi\n\n",
            "data: [DONE]\n\n"
        ]
    );
    // One wake for the first token, one per full batch, one for the end.
    assert_eq!(probe.0.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn tokens_wait_at_most_the_max_delay() {
    // Tokens 30 ms apart never fill a batch of 4 within 50 ms: each batch
    // goes out on the timer, so no token waits more than 50 ms.
    let (sender, receiver) = channel(64);
    let sent_at = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = sent_at.clone();
    tokio::spawn(async move {
        for word in ["a", "b", "c", "d", "e", "f"] {
            log.lock().unwrap().push(tokio::time::Instant::now());
            let _ = sender.try_send(text(word));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    });
    let mut receiver = receiver;
    let mut waited = Vec::new();
    let mut seen = 0;
    while let Some(item) = receiver.next().await {
        assert!(item.is_ok());
        let now = tokio::time::Instant::now();
        waited.push(now - sent_at.lock().unwrap()[seen]);
        seen += 1;
    }
    assert_eq!(seen, 6);
    assert!(waited.iter().all(|w| *w <= DELAY), "{waited:?}");
    assert_eq!(waited[0], Duration::ZERO, "the first token at once");
}
