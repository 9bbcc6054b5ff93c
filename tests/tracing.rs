//! The `tracing` observer opens one span per stream and closes it with the
//! summary recorded on it.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{at, scripted, Step};
use futures_util::StreamExt;
use llm_sse::observe::TracingObserver;
use llm_sse::{Delta, FinishReason, SseStream, Usage};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fieldset = BTreeMap<String, String>;

/// Records span names, span fields and event fields.
#[derive(Clone, Default)]
struct Capture {
    next_id: Arc<AtomicU64>,
    spans: Arc<Mutex<Vec<(String, Fieldset)>>>,
    events: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        self.spans
            .lock()
            .unwrap()
            .push((span.metadata().name().to_owned(), fields));
        Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let index = span.into_u64() as usize - 1;
        values.record(&mut Fields(&mut spans[index].1));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(fields);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[tokio::test(start_paused = true)]
async fn one_span_per_stream_with_the_summary() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let body = SseStream::builder(scripted(
        vec![at(30, "a"), at(40, "b"), Step::FailAt(50, "boom")],
        None,
    ))
    .heartbeat(Duration::ZERO)
    .observe(TracingObserver::new())
    .build();
    assert_eq!(body.count().await, 3);

    let spans = capture.spans.lock().unwrap();
    let [(name, fields)] = &spans[..] else {
        panic!("one span: {:?}", spans.len())
    };
    assert_eq!(name, "llm_sse.stream");
    assert_eq!(fields["outcome"], "failed");
    assert_eq!(fields["ttft_ms"], "30.0");
    assert_eq!(fields["duration_ms"], "50.0");
    assert_eq!(fields["tokens"], "2");
    assert_eq!(fields["error"], "boom");
    let events = capture.events.lock().unwrap();
    let [event] = &events[..] else {
        panic!("one event")
    };
    assert_eq!(event["message"], "stream ended");
    assert_eq!(event["outcome"], "failed");
}

#[tokio::test(start_paused = true)]
async fn the_span_carries_the_gen_ai_attributes() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let deltas =
        scripted(vec![at(10, "a"), at(20, "usage"), at(30, "finish")], None).map(|token| {
            token.map(|token| match token.as_str() {
                "usage" => Delta::usage(Usage::new(7, 11)),
                "finish" => Delta::finish(FinishReason::Length),
                _ => Delta::text(token),
            })
        });
    let body = SseStream::builder(deltas)
        .heartbeat(Duration::ZERO)
        .observe(
            TracingObserver::new()
                .operation("chat")
                .provider("openai")
                .request_model("gpt-4o"),
        )
        .build();
    body.count().await;

    let spans = capture.spans.lock().unwrap();
    let [(_, fields)] = &spans[..] else {
        panic!("one span: {:?}", spans.len())
    };
    let gen_ai: Fieldset = fields
        .iter()
        .filter(|(name, _)| name.starts_with("gen_ai.") || name.starts_with("otel."))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let expected: Fieldset = [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "gpt-4o"),
        ("gen_ai.response.finish_reasons", "length"),
        ("gen_ai.usage.input_tokens", "7"),
        ("gen_ai.usage.output_tokens", "11"),
        ("otel.name", "chat gpt-4o"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(gen_ai, expected);
    assert!(!fields.contains_key("error.type"), "it completed");
}

#[tokio::test(start_paused = true)]
async fn a_failed_stream_has_an_error_type_and_status() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let body = SseStream::builder(scripted(vec![at(10, "a"), Step::FailAt(20, "boom")], None))
        .heartbeat(Duration::ZERO)
        .observe(TracingObserver::new())
        .build();
    body.count().await;

    let spans = capture.spans.lock().unwrap();
    let [(_, fields)] = &spans[..] else {
        panic!("one span: {:?}", spans.len())
    };
    assert_eq!(fields["error.type"], "_OTHER");
    assert_eq!(fields["otel.status_code"], "error");
    assert!(
        !fields.contains_key("otel.name") && !fields.contains_key("gen_ai.request.model"),
        "nothing set, nothing recorded: {fields:?}"
    );
}
