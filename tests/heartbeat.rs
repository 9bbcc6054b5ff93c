//! Heartbeats on tokio's paused clock, and their safety for a client that
//! parses the way the OpenAI Python SDK does.

mod common;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use common::{texts, timed};
use futures_util::{stream, Stream, StreamExt};
use llm_sse::adapters::{FrameTag, TaggedFrame};
use llm_sse::{Event, FrameStreamExt, TokioTimer};

/// Bytes as a frame for the heartbeat stage.
fn tag(bytes: Bytes) -> TaggedFrame {
    TaggedFrame::new(bytes, FrameTag::End)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Frames at the given seconds, then the end.
fn frames_at(times: &[u64], end: u64) -> impl Stream<Item = TaggedFrame> + Unpin {
    let start = tokio::time::Instant::now();
    let mut steps: Vec<(u64, Option<Bytes>)> = times
        .iter()
        .map(|t| (*t, Some(Bytes::from(format!("data: {t}\n\n")))))
        .collect();
    steps.push((end, None));
    Box::pin(stream::unfold(
        steps.into_iter(),
        move |mut steps| async move {
            let (t, frame) = steps.next()?;
            tokio::time::sleep_until(start + secs(t)).await;
            frame.map(|f| (tag(f), steps))
        },
    ))
}

fn poll_once<S: Stream + ?Sized>(s: std::pin::Pin<&mut S>) -> Poll<Option<S::Item>> {
    let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
    s.poll_next(&mut cx)
}

fn in_ms(items: &[(u64, &str)]) -> Vec<(u64, String)> {
    items
        .iter()
        .map(|(t, s)| (t * 1000, s.to_string()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn fires_after_each_silence_of_exactly_the_interval() {
    let out = texts(
        timed(
            frames_at(&[40], 50)
                .heartbeat(secs(15), TokioTimer)
                .map(TaggedFrame::into_bytes),
        )
        .await,
    );
    assert_eq!(
        out,
        in_ms(&[(15, ": ping\n"), (30, ": ping\n"), (40, "data: 40\n\n")])
    );
}

#[tokio::test(start_paused = true)]
async fn restarts_after_every_frame_and_never_fires_while_frames_flow() {
    let out = texts(
        timed(
            frames_at(&[10, 20, 30, 44], 100)
                .heartbeat(secs(15), TokioTimer)
                .map(TaggedFrame::into_bytes),
        )
        .await,
    );
    assert_eq!(
        out,
        in_ms(&[
            (10, "data: 10\n\n"),
            (20, "data: 20\n\n"),
            (30, "data: 30\n\n"),
            (44, "data: 44\n\n"),
            (59, ": ping\n"),
            (74, ": ping\n"),
            (89, ": ping\n"),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn none_at_time_zero_none_after_the_end() {
    let out = texts(
        timed(
            frames_at(&[], 5)
                .heartbeat(secs(15), TokioTimer)
                .map(TaggedFrame::into_bytes),
        )
        .await,
    );
    assert_eq!(out, []);
    // Polling after the end stays at the end, however long we wait.
    let mut s = frames_at(&[], 0)
        .heartbeat(secs(1), TokioTimer)
        .map(TaggedFrame::into_bytes);
    assert!(s.next().await.is_none());
    tokio::time::sleep(secs(10)).await;
    assert!(s.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn no_burst_after_a_stretch_without_polls() {
    let mut s = pin!(frames_at(&[], 1000)
        .heartbeat(secs(15), TokioTimer)
        .map(TaggedFrame::into_bytes));
    assert!(
        poll_once(s.as_mut()).is_pending(),
        "no heartbeat at time zero"
    );
    // The consumer stalls for 100 s (a slow client), then reads again.
    tokio::time::advance(secs(100)).await;
    assert_eq!(
        poll_once(s.as_mut()).map(|f| f.map(|b| b.to_vec())),
        Poll::Ready(Some(b": ping\n".to_vec()))
    );
    assert!(
        poll_once(s.as_mut()).is_pending(),
        "one heartbeat, not a catch-up burst"
    );
    tokio::time::advance(secs(15)).await;
    assert!(poll_once(s.as_mut()).is_ready());
}

#[tokio::test(start_paused = true)]
async fn initial_comment_goes_out_at_once() {
    let out = texts(
        timed(
            frames_at(&[1], 2)
                .heartbeat(secs(15), TokioTimer)
                .initial_comment(true)
                .map(TaggedFrame::into_bytes),
        )
        .await,
    );
    assert_eq!(
        out,
        [(0, ": ping\n".to_owned()), (1000, "data: 1\n\n".to_owned())]
    );
}

#[tokio::test(start_paused = true)]
async fn zero_interval_means_off() {
    let out = texts(
        timed(
            frames_at(&[100], 200)
                .heartbeat(Duration::ZERO, TokioTimer)
                .map(TaggedFrame::into_bytes),
        )
        .await,
    );
    assert_eq!(out, in_ms(&[(100, "data: 100\n\n")]));
}

/// The OpenAI Python SDK's `SSEDecoder.decode` and what its `Stream` then
/// does with each event, ported line for line: a blank line dispatches when
/// any of event, data, the (persistent) last id, or retry is set, and every
/// dispatched event but `[DONE]` goes through `json.loads`.
#[derive(Default)]
struct OpenAiSdkClient {
    event: Option<String>,
    data: Vec<String>,
    last_event_id: Option<String>,
    retry: Option<u64>,
}

impl OpenAiSdkClient {
    /// Feeds whole frames; returns the JSON values the SDK would yield, or
    /// the error it would raise.
    fn read(&mut self, wire: &str) -> Result<Vec<serde_json::Value>, String> {
        let mut out = Vec::new();
        for line in wire.split('\n') {
            if line.is_empty() {
                if self.event.is_none()
                    && self.data.is_empty()
                    && self.last_event_id.is_none()
                    && self.retry.is_none()
                {
                    continue;
                }
                let data = self.data.join("\n");
                self.event = None;
                self.data.clear();
                self.retry = None;
                if data.starts_with("[DONE]") {
                    break;
                }
                out.push(
                    serde_json::from_str(&data)
                        .map_err(|e| format!("json.loads({data:?}): {e}"))?,
                );
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                "id" if !value.contains('\0') => self.last_event_id = Some(value.to_owned()),
                "retry" => self.retry = value.parse().ok(),
                _ => {}
            }
        }
        Ok(out)
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeats_are_safe_for_the_openai_python_sdk_even_with_ids() {
    let chunk = |id: &'static str| {
        Event::builder()
            .id(id)
            .data(r#"{"choices":[]}"#)
            .build()
            .unwrap()
            .to_bytes()
    };
    let start = tokio::time::Instant::now();
    let upstream = Box::pin(stream::unfold(0, move |i| async move {
        let frame = match i {
            0 => chunk("1"),
            1 => {
                tokio::time::sleep_until(start + secs(40)).await;
                chunk("2")
            }
            2 => Bytes::from_static(b"data: [DONE]\n\n"),
            _ => return None,
        };
        Some((tag(frame), i + 1))
    }));
    let frames: Vec<Bytes> = upstream
        .heartbeat(secs(15), TokioTimer)
        .map(TaggedFrame::into_bytes)
        .collect()
        .await;
    let wire: String = frames
        .iter()
        .map(|f| std::str::from_utf8(f).unwrap())
        .collect();
    assert_eq!(wire.matches(": ping\n").count(), 2);

    let parsed = OpenAiSdkClient::default()
        .read(&wire)
        .expect("the SDK reads it");
    assert_eq!(parsed.len(), 2);

    // The model is faithful: the common `: ping\n\n` shape breaks it.
    let naive = wire.replace(": ping\n", ": ping\n\n");
    assert!(OpenAiSdkClient::default().read(&naive).is_err());
}
