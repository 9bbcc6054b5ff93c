//! The Grafana dashboard and the Prometheus alert rules in
//! `examples/observability/` query only metrics that the example server's
//! `/metrics` really has, with the labels they really carry.
//!
//! The PromQL is read from the files themselves (every `expr` and variable
//! `definition` of the dashboard, every `expr:` of the rules), so a panel
//! or rule added later is checked too.

mod common;

#[path = "../examples/axum_chat.rs"]
#[allow(dead_code)] // its `main` is not used here
mod axum_chat;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use common::http::SseClient;
use serde_json::Value;

const DASHBOARD: &str = include_str!("../examples/observability/grafana-dashboard.json");
const RULES: &str = include_str!("../examples/observability/alerts.yml");

/// Labels Prometheus adds to every series when it scrapes a target.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// A scrape: metric name → the label sets of its samples.
type Scrape = BTreeMap<String, Vec<BTreeMap<String, String>>>;

/// Parses the Prometheus text exposition format (names, labels; values
/// and comments are skipped).
fn parse_scrape(text: &str) -> Scrape {
    let mut scrape = Scrape::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name_end = line.find(['{', ' ']).expect("a sample line has a value");
        let mut labels = BTreeMap::new();
        if line[name_end..].starts_with('{') {
            let body = &line[name_end + 1..line.rfind('}').expect("labels end")];
            for pair in split_matchers(body) {
                let (key, value) = pair.split_once('=').expect("label=value");
                labels.insert(key.trim().to_owned(), unquote(value.trim()));
            }
        }
        scrape
            .entry(line[..name_end].to_owned())
            .or_default()
            .push(labels);
    }
    scrape
}

/// Splits `a="x",b=~"y, z"` at the commas outside quotes.
fn split_matchers(body: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn unquote(value: &str) -> String {
    value.trim_matches('"').replace("\\\"", "\"")
}

/// One label matcher of a selector.
#[derive(Debug)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

/// What one PromQL expression refers to: metric selectors and the labels
/// it groups or matches by.
#[derive(Debug, Default)]
struct Refs {
    selectors: Vec<(String, Vec<Matcher>)>,
    grouping: BTreeSet<String>,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Finds the metrics (names starting with `llm_sse_`), their matchers, and
/// the labels of `by (...)`, `on (...)`, `ignoring (...)`,
/// `group_left (...)` and `label_values(metric, label)`.
fn refs(expr: &str) -> Refs {
    let mut refs = Refs::default();
    let mut rest = expr;
    while let Some(at) = rest.find(|c: char| is_name_char(c)) {
        let word_end = rest[at..]
            .find(|c: char| !is_name_char(c))
            .map_or(rest.len(), |n| at + n);
        let word = &rest[at..word_end];
        let after = rest[word_end..].trim_start();
        // Where to go on from: past the word, or past its selector.
        let mut next = &rest[word_end..];
        if word.starts_with("llm_sse_") {
            let mut matchers = Vec::new();
            if let Some(body) = after.strip_prefix('{') {
                let end = body.find('}').expect("selector ends");
                next = &body[end + 1..];
                for part in split_matchers(&body[..end]) {
                    let op_at = part.find(['=', '!']).expect("matcher operator");
                    let op_len = if part[op_at + 1..].starts_with(['=', '~']) {
                        2
                    } else {
                        1
                    };
                    matchers.push(Matcher {
                        label: part[..op_at].trim().to_owned(),
                        op: part[op_at..op_at + op_len].to_owned(),
                        value: unquote(part[op_at + op_len..].trim()),
                    });
                }
            }
            refs.selectors.push((word.to_owned(), matchers));
        } else if matches!(
            word,
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right" | "label_values"
        ) {
            if let Some(list) = after.strip_prefix('(') {
                let list = &list[..list.find(')').expect("list ends")];
                let labels = list.split(',').map(str::trim).filter(|l| !l.is_empty());
                // label_values(metric, label): the metric is picked up as a
                // selector on the next turn; the label is the last item.
                let skip = usize::from(word == "label_values");
                refs.grouping.extend(labels.skip(skip).map(str::to_owned));
            }
        }
        rest = next;
    }
    refs
}

/// Every way `expr` does not fit `scrape`, as messages.
fn problems(expr: &str, scrape: &Scrape) -> Vec<String> {
    let refs = refs(expr);
    let mut problems = Vec::new();
    if refs.selectors.is_empty() {
        problems.push(format!("no llm_sse_ metric in {expr:?}"));
    }
    let has_label = |samples: &[BTreeMap<String, String>], label: &str| {
        TARGET_LABELS.contains(&label) || samples.iter().any(|s| s.contains_key(label))
    };
    for (name, matchers) in &refs.selectors {
        let Some(samples) = scrape.get(name) else {
            problems.push(format!("{name} is not on /metrics (in {expr:?})"));
            continue;
        };
        for m in matchers {
            if !has_label(samples, &m.label) {
                problems.push(format!("{name} has no label {} (in {expr:?})", m.label));
            } else if m.op == "="
                && !m.value.starts_with('$')
                && !samples.iter().any(|s| s.get(&m.label) == Some(&m.value))
            {
                problems.push(format!(
                    "{name} has no sample with {}={:?} (in {expr:?})",
                    m.label, m.value
                ));
            }
        }
    }
    for label in &refs.grouping {
        let known = refs
            .selectors
            .iter()
            .filter_map(|(name, _)| scrape.get(name))
            .any(|samples| has_label(samples, label));
        if !known {
            problems.push(format!(
                "no metric of {expr:?} has the label {label} it groups by"
            ));
        }
    }
    problems
}

/// The dashboard's panel queries and variable definitions.
fn dashboard_queries() -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr" | "definition", Value::String(expr)) => out.push(expr.clone()),
                        _ => walk(value, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    walk(&dashboard, &mut queries);
    queries
}

/// The rules' `expr:` values, one line or a `|` block.
fn rule_queries() -> Vec<String> {
    let mut queries = Vec::new();
    let mut lines = RULES.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if !matches!(value, "|" | "|-" | ">" | ">-") {
            queries.push(value.to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut block = Vec::new();
        while let Some(next) = lines.peek() {
            let next_indent = next.len() - next.trim_start().len();
            if !next.trim().is_empty() && next_indent <= indent {
                break;
            }
            block.push(next.trim());
            lines.next();
        }
        queries.push(block.join(" ").trim().to_owned());
    }
    queries
}

/// Streams of every outcome the example can produce on demand, and kinds
/// of tokens, so that their series exist.
async fn drive(addr: SocketAddr) {
    for path in [
        "/chat?tokens=3&delay_ms=0",
        "/chat?tokens=5&delay_ms=0&fail_after=2",
        "/chat?tokens=2&delay_ms=0&reasoning=2&tools=1",
        "/chat?tokens=2&delay_ms=1&ttft_ms=30&heartbeat_ms=5",
    ] {
        let mut client = SseClient::get(addr, path).await;
        assert_eq!(client.status, 200, "{path}");
        while client.next().await.is_some() {}
    }
}

async fn scrape(addr: SocketAddr) -> String {
    let mut client = SseClient::get(addr, "/metrics").await;
    assert_eq!(client.status, 200);
    client.text().await
}

#[tokio::test]
async fn the_dashboard_and_the_rules_query_what_the_example_exports() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum_chat::router()).await.unwrap() });
    drive(addr).await;
    let scrape = parse_scrape(&scrape(addr).await);
    assert!(
        scrape.contains_key("llm_sse_ttft_seconds_bucket"),
        "histograms have buckets: {:?}",
        scrape.keys().collect::<Vec<_>>()
    );
    let outcomes: BTreeSet<&str> = scrape["llm_sse_streams_total"]
        .iter()
        .filter_map(|labels| labels.get("outcome").map(String::as_str))
        .collect();
    assert!(outcomes.is_superset(&BTreeSet::from(["completed", "failed"])));

    let dashboard = dashboard_queries();
    assert!(
        dashboard.len() >= 9,
        "every panel's queries and the route variable: {dashboard:?}"
    );
    let rules = rule_queries();
    assert_eq!(
        rules.len(),
        RULES.matches("- alert:").count(),
        "one expr per alert: {rules:?}"
    );
    let all: Vec<String> = dashboard
        .iter()
        .chain(&rules)
        .flat_map(|expr| problems(expr, &scrape))
        .collect();
    assert!(all.is_empty(), "{all:#?}");

    // Every metric the observer records is on the dashboard.
    let queried: BTreeSet<String> = dashboard
        .iter()
        .flat_map(|expr| refs(expr).selectors)
        .map(|(name, _)| name.trim_end_matches("_bucket").to_owned())
        .collect();
    for name in [
        llm_sse::observe::metric_names::TTFT,
        llm_sse::observe::metric_names::CHUNK_INTERVAL,
        llm_sse::observe::metric_names::DURATION,
        llm_sse::observe::metric_names::TOKENS,
        llm_sse::observe::metric_names::TOOL_CALLS,
        llm_sse::observe::metric_names::BYTES,
        llm_sse::observe::metric_names::HEARTBEATS,
        llm_sse::observe::metric_names::STREAMS,
        llm_sse::observe::metric_names::ACTIVE,
    ] {
        assert!(queried.contains(name), "no panel shows {name}");
    }
}

#[test]
fn the_check_catches_wrong_names_labels_and_values() {
    let scrape = parse_scrape(
        "# TYPE llm_sse_streams_total counter\n\
         llm_sse_streams_total{route=\"chat\",outcome=\"completed\"} 3\n\
         llm_sse_active_streams{route=\"chat\"} 0\n",
    );
    let ok = r#"sum by (job, outcome) (rate(llm_sse_streams_total{route=~"$route", outcome=~"failed|timed_out"}[5m]))"#;
    assert_eq!(problems(ok, &scrape), Vec::<String>::new());
    for (bad, why) in [
        ("rate(llm_sse_stream_total[5m])", "is not on /metrics"),
        (
            r#"llm_sse_streams_total{status="ok"}"#,
            "has no label status",
        ),
        (
            r#"llm_sse_streams_total{outcome="cancelled"}"#,
            "no sample with outcome=\"cancelled\"",
        ),
        ("sum by (kind) (llm_sse_streams_total)", "the label kind"),
        ("sum(rate(http_requests_total[5m]))", "no llm_sse_ metric"),
    ] {
        let found = problems(bad, &scrape);
        assert!(
            found.iter().any(|p| p.contains(why)),
            "{bad}: expected {why:?}, got {found:?}"
        );
    }
}
