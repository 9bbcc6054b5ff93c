//! The OpenTelemetry observer records the GenAI server metrics with the
//! names, units, boundaries and attributes of the semantic conventions,
//! read back through the SDK's in-memory exporter.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{at, scripted, Step};
use futures_util::{StreamExt, TryStreamExt};
use llm_sse::adapters::Timeouts;
use llm_sse::observe::OtelObserver;
use llm_sse::{Delta, SseStream, Usage};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// One histogram data point: its attributes, boundaries, count and sum.
#[derive(Debug)]
struct Point {
    attributes: BTreeMap<String, String>,
    bounds: Vec<f64>,
    count: u64,
    sum: f64,
}

/// What the exporter holds after a flush: name → (unit, description,
/// points).
type Exported = BTreeMap<String, (String, String, Vec<Point>)>;

struct Otel {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

impl Otel {
    fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Self { provider, exporter }
    }

    fn observer(&self) -> OtelObserver {
        OtelObserver::new(&self.provider.meter("llm-sse-test"), "test-provider")
    }

    fn export(&self) -> Exported {
        self.provider.force_flush().expect("flush");
        let finished = self.exporter.get_finished_metrics().expect("metrics");
        let last = finished.last().expect("one export");
        let mut exported = Exported::new();
        for metric in last.scope_metrics().flat_map(|scope| scope.metrics()) {
            let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else {
                panic!("{} is not an f64 histogram", metric.name());
            };
            let points = histogram
                .data_points()
                .map(|point| Point {
                    attributes: point
                        .attributes()
                        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                        .collect(),
                    bounds: point.bounds().collect(),
                    count: point.count(),
                    sum: point.sum(),
                })
                .collect();
            exported.insert(
                metric.name().to_owned(),
                (
                    metric.unit().to_owned(),
                    metric.description().to_owned(),
                    points,
                ),
            );
        }
        exported
    }
}

fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

#[tokio::test(start_paused = true)]
async fn a_completed_stream_records_the_three_histograms() {
    let otel = Otel::new();
    let steps = vec![at(100, "a"), at(110, "b"), at(120, "c"), Step::EndAt(150)];
    let body = SseStream::builder(scripted(steps, None))
        .heartbeat(Duration::ZERO)
        .observe(otel.observer().request_model("mock-1"))
        .build();
    body.count().await;

    let exported = otel.export();
    let names: Vec<&str> = exported.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "gen_ai.server.request.duration",
            "gen_ai.server.time_per_output_token",
            "gen_ai.server.time_to_first_token",
        ]
    );
    let expected_attributes = attributes(&[
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "test-provider"),
        ("gen_ai.request.model", "mock-1"),
    ]);
    let checks = [
        (
            OtelObserver::TIME_TO_FIRST_TOKEN,
            OtelObserver::TTFT_BOUNDARIES,
            0.1,
        ),
        // 50 ms after the first token, for the two tokens after it.
        (
            OtelObserver::TIME_PER_OUTPUT_TOKEN,
            OtelObserver::TIME_PER_OUTPUT_TOKEN_BOUNDARIES,
            0.025,
        ),
        (
            OtelObserver::REQUEST_DURATION,
            OtelObserver::REQUEST_DURATION_BOUNDARIES,
            0.15,
        ),
    ];
    for (name, boundaries, value) in checks {
        let (unit, description, points) = &exported[name];
        assert_eq!(unit, "s", "{name}");
        assert!(!description.is_empty(), "{name}");
        let [point] = &points[..] else {
            panic!("{name}: one data point, got {points:?}")
        };
        assert_eq!(point.attributes, expected_attributes, "{name}");
        assert_eq!(point.bounds, boundaries, "{name}");
        assert_eq!(point.count, 1, "{name}");
        assert!(close(point.sum, value), "{name}: {} != {value}", point.sum);
    }
}

#[tokio::test(start_paused = true)]
async fn usage_sets_the_output_tokens_and_attributes_can_be_replaced() {
    let otel = Otel::new();
    let steps = vec![at(200, "a"), at(210, "usage"), Step::EndAt(1200)];
    let deltas = scripted(steps, None).map_ok(|token| match token.as_str() {
        "usage" => Delta::usage(Usage::new(7, 11)),
        _ => Delta::text(token),
    });
    let observer = otel
        .observer()
        .operation("text_completion")
        .request_model("asked")
        .request_model("asked-2")
        .response_model("answered")
        .attribute(KeyValue::new("route", "chat"));
    let body = SseStream::builder(deltas)
        .heartbeat(Duration::ZERO)
        .observe(observer)
        .build();
    body.count().await;

    let exported = otel.export();
    let (_, _, points) = &exported[OtelObserver::TIME_PER_OUTPUT_TOKEN];
    let [point] = &points[..] else {
        panic!("one data point: {points:?}")
    };
    // 1 s after the first token, for the model's 10 tokens after it.
    assert!(close(point.sum, 0.1), "{}", point.sum);
    assert_eq!(
        point.attributes,
        attributes(&[
            ("gen_ai.operation.name", "text_completion"),
            ("gen_ai.provider.name", "test-provider"),
            ("gen_ai.request.model", "asked-2"),
            ("gen_ai.response.model", "answered"),
            ("route", "chat"),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn streams_that_do_not_complete_carry_an_error_type() {
    let otel = Otel::new();
    let observer = otel.observer();

    // Fails after one token.
    let failed = SseStream::builder(scripted(vec![at(10, "a"), Step::FailAt(20, "boom")], None))
        .heartbeat(Duration::ZERO)
        .observe(observer.clone().request_model("failed"))
        .build();
    failed.count().await;

    // No first token within 50 ms.
    let timed_out = SseStream::builder(scripted(vec![at(100, "late")], None))
        .heartbeat(Duration::ZERO)
        .timeouts(Timeouts::new().first_token(Duration::from_millis(50)))
        .observe(observer.clone().request_model("timed_out"))
        .build();
    timed_out.count().await;

    // The client goes away after the first token.
    let mut cancelled = SseStream::builder(scripted(vec![at(10, "a"), at(1000, "b")], None))
        .heartbeat(Duration::ZERO)
        .observe(observer.clone().request_model("cancelled"))
        .build();
    assert!(cancelled.next().await.is_some());
    drop(cancelled);

    let exported = otel.export();
    let (_, _, durations) = &exported[OtelObserver::REQUEST_DURATION];
    let error_types: BTreeMap<&str, Option<&str>> = durations
        .iter()
        .map(|point| {
            (
                point.attributes["gen_ai.request.model"].as_str(),
                point.attributes.get("error.type").map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        error_types,
        BTreeMap::from([
            ("cancelled", Some("cancelled")),
            ("failed", Some("_OTHER")),
            ("timed_out", Some("timeout")),
        ])
    );
    assert!(
        !exported.contains_key(OtelObserver::TIME_PER_OUTPUT_TOKEN),
        "only successful streams have a time per output token"
    );
    let (_, _, ttfts) = &exported[OtelObserver::TIME_TO_FIRST_TOKEN];
    let mut with_ttft: Vec<&str> = ttfts
        .iter()
        .map(|point| point.attributes["gen_ai.request.model"].as_str())
        .collect();
    with_ttft.sort_unstable();
    assert_eq!(
        with_ttft,
        ["cancelled", "failed"],
        "a first token is timed whatever happens later; no error type on it"
    );
    assert!(ttfts
        .iter()
        .all(|point| !point.attributes.contains_key("error.type")));
}
