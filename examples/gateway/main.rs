//! A gateway on axum: re-streams an upstream provider to clients in the
//! format each client speaks.
//!
//! Run the chat example as the upstream, then the gateway in front of it:
//!
//! ```sh
//! cargo run --example axum_chat --features full &                  # port 3000
//! UPSTREAM=http://127.0.0.1:3000 PORT=3001 cargo run --example gateway --features full
//! curl -N http://127.0.0.1:3001/v1/messages -H 'content-type: application/json' \
//!   -d '{"model":"echo","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}'
//! ```
//!
//! Environment:
//! - `UPSTREAM`: the provider's base URL (required), e.g. an OpenAI-compatible
//!   server (vLLM, llama.cpp, the chat example) or an Anthropic one; plain
//!   `http://` (this example's client speaks no TLS: give `Client::builder`
//!   a TLS connector, such as hyper-rustls's, for `https://`);
//! - `UPSTREAM_FORMAT`: `openai` (its `/v1/chat/completions`, the default),
//!   `responses` (its `/v1/responses`) or `anthropic` (its `/v1/messages`);
//! - `UPSTREAM_FALLBACK`: a second upstream of the same format, tried when
//!   the first fails before its first token with a retryable error;
//! - `UPSTREAM_API_KEY`: sent as `authorization: Bearer` (OpenAI) or
//!   `x-api-key` (Anthropic);
//! - `PORT`: where the gateway listens (default 3000).
//!
//! Clients call `/v1/chat/completions`, `/v1/responses`, `/v1/messages` or
//! `/api/chat` (the Vercel AI SDK's `useChat`); `/metrics` has the
//! gateway's stream metrics. Query parameters are forwarded to the upstream
//! unchanged. The conversation (system prompt, user and assistant turns,
//! the assistant's tool calls and the tool results handed back), the tools
//! and the token limit are translated between the formats; sampling
//! settings (`temperature`, `stop`, `tool_choice`, ...) are not.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{header, Method, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_sse::adapters::Timeouts;
use llm_sse::format::{AnthropicMessages, Format, OpenAiChat, OpenAiResponses, VercelUiStream};
use llm_sse::upstream::{
    self, AnthropicParser, BodyChunks, Committed, Deltas, OpenAiChatParser, OpenAiResponsesParser,
    Parser, UpstreamError,
};
use llm_sse::SseStream;
use serde_json::{json, Map, Value};

mod conversation;
#[path = "../shared/mod.rs"]
mod shared;

use conversation::Conversation;

// The wire APIs, on both sides of the gateway.
use shared::api::Api;
use shared::{BadRequest, Knobs};

/// How long the upstream may take to send its response headers.
const HEADERS_TIMEOUT: Duration = Duration::from_secs(60);

/// The gateway's state: where the upstreams are and how to reach them.
#[derive(Clone)]
struct Gateway {
    client: Client<HttpConnector, Full<Bytes>>,
    upstreams: Vec<String>,
    format: Api,
    api_key: Option<String>,
}

/// An upstream's deltas: its body, parsed by the parser of its format.
type UpstreamDeltas = Deltas<BodyChunks<hyper::body::Incoming>, Box<dyn Parser + Send>>;

async fn relay(gateway: Gateway, api: Api, query: Option<String>, body: Bytes) -> Response {
    let knobs = query_knobs(query.as_deref());
    let ask = match knobs.and_then(|knobs| Ask::parse(api, &body, knobs)) {
        Ok(ask) => ask,
        Err(message) => {
            return client_format(api, &Ask::default())
                .error_response(400, &message)
                .into_response()
        }
    };
    let format = client_format(api, &ask);
    let upstream_body = Bytes::from(ask.upstream_body(gateway.format).to_string());
    let query = query.as_deref().unwrap_or_default();
    // The commit point: until the first delta, a failure is still an HTTP
    // answer, or a retry against the fallback.
    let heartbeat = ask.knobs.heartbeat;
    let deltas =
        upstream::connect(|attempt| gateway.open(attempt as usize, query, upstream_body.clone()))
            .retry(|error, attempt| {
                error.is_retryable() && (attempt as usize) + 1 < gateway.upstreams.len()
            })
            // Silent longer than a heartbeat interval: start the stream, so
            // the client gets heartbeats while the model thinks. A whole
            // answer (`stream: false`) sends nothing before it is done, so
            // it keeps its retries to the end.
            .first_delta_deadline(|| {
                let wait = if ask.stream { heartbeat } else { Duration::MAX };
                tokio::time::sleep(wait)
            })
            .commit()
            .await;
    let deltas = match deltas {
        Ok(deltas) => deltas,
        // The gateway's own key was refused: the client's request is not
        // at fault, so that is a bad gateway, not the client's 401.
        Err(error) if matches!(error.status(), 401 | 403) => {
            eprintln!("the upstream refused the gateway's credentials: {error}");
            let refused = format.error_response(502, "the upstream refused the gateway");
            return refused.into_response();
        }
        Err(error) => return error.to_response(&format).into_response(),
    };
    if !ask.stream {
        return fold(api, &ask, deltas).await;
    }
    SseStream::builder(deltas)
        .format(format)
        .batch(ask.knobs.batch_policy())
        .heartbeat(heartbeat)
        .timeouts(Timeouts::new().idle(Duration::from_secs(120)))
        .observe(api.metrics())
        .build()
        .into_response()
}

impl Gateway {
    /// Sends the request to upstream `which` and parses its answer.
    async fn open(
        &self,
        which: usize,
        query: &str,
        body: Bytes,
    ) -> Result<UpstreamDeltas, UpstreamError> {
        let (path, parser): (&str, Box<dyn Parser + Send>) = match self.format {
            Api::Responses => ("/v1/responses", Box::new(OpenAiResponsesParser::new())),
            Api::Messages => ("/v1/messages", Box::new(AnthropicParser::new())),
            _ => ("/v1/chat/completions", Box::new(OpenAiChatParser::new())),
        };
        let base = &self.upstreams[which.min(self.upstreams.len() - 1)];
        let separator = if query.is_empty() { "" } else { "?" };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{base}{path}{separator}{query}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "text/event-stream");
        if self.format == Api::Messages {
            request = request.header("anthropic-version", "2023-06-01");
        }
        if let Some(key) = &self.api_key {
            request = match self.format {
                Api::Messages => request.header("x-api-key", key),
                _ => request.header(header::AUTHORIZATION, format!("Bearer {key}")),
            };
        }
        let request = request
            .body(Full::new(body))
            .map_err(|err| UpstreamError::Transport(err.into()))?;
        // Connecting is bounded by the connector; the response headers by
        // this.
        let response = tokio::time::timeout(HEADERS_TIMEOUT, self.client.request(request))
            .await
            .map_err(|elapsed| UpstreamError::Transport(elapsed.into()))?
            .map_err(|err| UpstreamError::Transport(err.into()))?;
        upstream::from_response(response, parser).await
    }
}

/// The knobs of the query string: the gateway forwards them unchanged, and
/// honours the stream knobs (`batch`, `batch_ms`, `heartbeat_ms`) and
/// `max_tokens` itself.
fn query_knobs(query: Option<&str>) -> Result<Knobs, String> {
    let uri = format!("/?{}", query.unwrap_or_default());
    let uri = uri.parse().map_err(|_| "bad query string".to_owned())?;
    let Query(map) = Query::<HashMap<String, String>>::try_from_uri(&uri)
        .map_err(|err| format!("bad query string: {err}"))?;
    Knobs::from_query(&map).map_err(|BadRequest(message)| message)
}

/// The format the client of `api` reads.
fn client_format(api: Api, ask: &Ask) -> Box<dyn Format + Send> {
    match api {
        Api::ChatCompletions => {
            Box::new(OpenAiChat::new(ask.model.clone()).include_usage(ask.include_usage))
        }
        Api::Responses => {
            Box::new(OpenAiResponses::new(ask.model.clone()).max_output_tokens(ask.max_tokens))
        }
        Api::Messages => Box::new(AnthropicMessages::new(ask.model.clone())),
        Api::UiChat => Box::new(VercelUiStream::new()),
    }
}

/// A whole answer, for clients that asked for no stream.
async fn fold(api: Api, ask: &Ask, deltas: Committed<UpstreamDeltas>) -> Response {
    let json = match api {
        Api::ChatCompletions => {
            let mut completion = OpenAiChat::new(ask.model.clone()).completion();
            completion
                .collect(deltas)
                .await
                .map(|()| completion.to_json())
        }
        Api::Responses => {
            let mut response = OpenAiResponses::new(ask.model.clone())
                .max_output_tokens(ask.max_tokens)
                .response();
            response.collect(deltas).await.map(|()| response.to_json())
        }
        Api::Messages | Api::UiChat => {
            let mut message = AnthropicMessages::new(ask.model.clone()).message();
            message.collect(deltas).await.map(|()| message.to_json())
        }
    };
    match json {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(error) => error.to_response(&*client_format(api, ask)).into_response(),
    }
}

/// What a client asked for, in any of the four APIs.
#[derive(Debug, Default)]
struct Ask {
    model: String,
    conversation: Conversation,
    /// `(name, description, JSON schema)`.
    tools: Vec<(String, String, Value)>,
    max_tokens: Option<u64>,
    stream: bool,
    include_usage: bool,
    knobs: Knobs,
}

impl Ask {
    /// Reads a request to `api` with the query's `knobs`.
    fn parse(api: Api, body: &[u8], knobs: Knobs) -> Result<Self, String> {
        let body: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|err| format!("the body is not a JSON object: {err}"))?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let number = |key: &str| body.get(key).and_then(Value::as_u64);
        let mut ask = Ask {
            model: text("model").unwrap_or_else(|| "default".to_owned()),
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false)
                || api == Api::UiChat,
            knobs,
            include_usage: body
                .get("stream_options")
                .and_then(|options| options.get("include_usage"))
                == Some(&Value::Bool(true)),
            ..Ask::default()
        };
        let list = |key: &str| {
            body.get(key)
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
        };
        ask.conversation = match api {
            Api::ChatCompletions => {
                ask.max_tokens = number("max_completion_tokens").or_else(|| number("max_tokens"));
                Conversation::from_chat(list("messages"))
            }
            Api::Responses => {
                ask.max_tokens = number("max_output_tokens");
                Conversation::from_responses(body.get("input"), body.get("instructions"))
            }
            Api::Messages => {
                // Required, as Anthropic's API requires it.
                ask.max_tokens = Some(number("max_tokens").ok_or("max_tokens: field required")?);
                Conversation::from_anthropic(list("messages"), body.get("system"))
            }
            Api::UiChat => Conversation::from_ui(list("messages")),
        };
        for tool in body
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // OpenAI Chat nests the function; Responses and Anthropic do not.
            let function = tool.get("function").unwrap_or(tool);
            let field = |key: &str| {
                function
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let schema = function
                .get("parameters")
                .or_else(|| function.get("input_schema"));
            if !field("name").is_empty() {
                ask.tools.push((
                    field("name"),
                    field("description"),
                    schema.cloned().unwrap_or(json!({"type": "object"})),
                ));
            }
        }
        // The query's limit when the body sets none (`useChat` cannot).
        ask.max_tokens = ask.max_tokens.or(ask.knobs.max_tokens);
        if ask.conversation.turns.is_empty() {
            return Err("the request has no messages".into());
        }
        Ok(ask)
    }

    /// The streaming request for an upstream of `format`.
    fn upstream_body(&self, format: Api) -> Value {
        let system = &self.conversation.system;
        match format {
            Api::Messages => {
                let mut body = json!({
                    "model": self.model, "stream": true,
                    "messages": self.conversation.to_anthropic(),
                    // Anthropic requires a limit.
                    "max_tokens": self.max_tokens.unwrap_or(4096),
                });
                if let Some(system) = system {
                    body["system"] = json!(system);
                }
                if !self.tools.is_empty() {
                    body["tools"] = self.tools.iter().map(|(name, description, schema)| {
                        json!({"name": name, "description": description, "input_schema": schema})
                    }).collect();
                }
                body
            }
            Api::Responses => {
                let input = self.conversation.to_responses();
                let mut body = json!({"model": self.model, "stream": true, "input": input});
                if let Some(system) = system {
                    body["instructions"] = json!(system);
                }
                if let Some(limit) = self.max_tokens {
                    body["max_output_tokens"] = json!(limit);
                }
                if !self.tools.is_empty() {
                    body["tools"] = self.tools.iter().map(|(name, description, schema)| {
                        json!({"type": "function", "name": name, "description": description, "parameters": schema})
                    }).collect();
                }
                body
            }
            _ => {
                let mut body = json!({
                    "model": self.model, "stream": true,
                    "messages": self.conversation.to_chat(),
                    "stream_options": {"include_usage": true},
                });
                if let Some(limit) = self.max_tokens {
                    body["max_completion_tokens"] = json!(limit);
                }
                if !self.tools.is_empty() {
                    body["tools"] = self.tools.iter().map(|(name, description, schema)| {
                        json!({"type": "function", "function": {"name": name, "description": description, "parameters": schema}})
                    }).collect();
                }
                body
            }
        }
    }
}

/// The gateway's routes.
fn router(gateway: Gateway) -> Router {
    let metrics = shared::metrics();
    let route = |api: Api| {
        post(
            move |State(gateway): State<Gateway>, RawQuery(query): RawQuery, body: Bytes| {
                relay(gateway, api, query, body)
            },
        )
    };
    Router::new()
        .route("/v1/chat/completions", route(Api::ChatCompletions))
        .route("/v1/responses", route(Api::Responses))
        .route("/v1/messages", route(Api::Messages))
        .route("/api/chat", route(Api::UiChat))
        .route(
            "/metrics",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(),
                )
            }),
        )
        .with_state(gateway)
}

/// The gateway from the environment.
fn gateway_from_env() -> Result<Gateway, String> {
    let upstream = std::env::var("UPSTREAM").map_err(|_| {
        "set UPSTREAM to the provider's base URL, e.g. http://127.0.0.1:3000".to_owned()
    })?;
    let mut upstreams = vec![upstream.trim_end_matches('/').to_owned()];
    if let Ok(fallback) = std::env::var("UPSTREAM_FALLBACK") {
        upstreams.push(fallback.trim_end_matches('/').to_owned());
    }
    let format = match std::env::var("UPSTREAM_FORMAT").as_deref() {
        Ok("openai") | Err(_) => Api::ChatCompletions,
        Ok("responses") => Api::Responses,
        Ok("anthropic") => Api::Messages,
        Ok(other) => {
            return Err(format!(
                "UPSTREAM_FORMAT must be openai, responses or anthropic, not {other:?}"
            ))
        }
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    Ok(Gateway {
        client: Client::builder(TokioExecutor::new()).build(connector),
        upstreams,
        format,
        api_key: std::env::var("UPSTREAM_API_KEY").ok(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway = gateway_from_env()?;
    shared::serve_axum(router(gateway)).await
}
