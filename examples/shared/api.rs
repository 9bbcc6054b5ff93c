//! The wire APIs the examples serve on top of `/chat`: OpenAI Chat
//! Completions, OpenAI Responses, Anthropic Messages and the Vercel AI SDK
//! UI message stream. Each request is read into the same [`Ask`], answered
//! by the same mock model, and written in the API's own format; errors
//! before the stream use the API's own error shape and status.

use std::collections::HashMap;
use std::sync::LazyLock;

use futures_util::{Stream, StreamExt};
use llm_sse::format::{
    AnthropicMessages, ErrorResponse, Format, OpenAiChat, OpenAiResponses, VercelUiStream,
};
use llm_sse::observe::MetricsObserver;
use llm_sse::{Delta, SseStream, TokioTimer};
use serde::Deserialize;
use serde_json::Value;

use super::{BadRequest, Knobs, MockError};

/// A wire API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/messages`.
    Messages,
    /// `POST /api/chat`, what `useChat` posts.
    UiChat,
}

impl Api {
    /// The `route` label of the API's metrics.
    pub(crate) fn route(self) -> &'static str {
        match self {
            Api::ChatCompletions => "completions",
            Api::Responses => "responses",
            Api::Messages => "messages",
            Api::UiChat => "ui_chat",
        }
    }

    /// The API's metrics observer: made once, cloned per stream, so every
    /// stream shares its metric handles.
    pub(crate) fn metrics(self) -> MetricsObserver {
        // In declaration order, so that `self as usize` picks the API's own.
        static OBSERVERS: LazyLock<[MetricsObserver; 4]> = LazyLock::new(|| {
            [
                Api::ChatCompletions,
                Api::Responses,
                Api::Messages,
                Api::UiChat,
            ]
            .map(|api| MetricsObserver::new().label("route", api.route()))
        });
        OBSERVERS[self as usize].clone()
    }
}

/// What a request to one of the APIs asks for.
#[derive(Debug, Clone, Default)]
struct Ask {
    model: String,
    /// The last user message's text.
    prompt: String,
    /// The first tool of the request, which the model calls.
    tool: Option<String>,
    max_tokens: Option<u64>,
    stream: bool,
    include_usage: bool,
}

/// How a framework answers: an error before any stream, one JSON body, or
/// a stream.
pub(crate) enum Reply<S> {
    /// An error in the API's own shape.
    Error(ErrorResponse),
    /// A whole answer (`stream: false`).
    Json(String),
    /// The answer as SSE.
    Stream(S),
}

/// The stream every API answers with: the mock model in a boxed format.
pub(crate) type Answer = SseStream<
    std::pin::Pin<Box<dyn Stream<Item = Result<Delta, MockError>> + Send>>,
    TokioTimer,
    Box<dyn Format + Send>,
>;

/// Answers a request to `api` with the knobs in `query` (or the reason the
/// query string could not be read).
pub(crate) async fn answer(
    api: Api,
    query: Result<HashMap<String, String>, BadRequest>,
    body: &[u8],
) -> Reply<Answer> {
    let ask = match parse(api, body) {
        Ok(ask) => ask,
        Err(BadRequest(message)) => return error_reply(api, 400, &message),
    };
    let mut knobs = match query.and_then(|query| Knobs::from_query(&query)) {
        Ok(knobs) => knobs,
        Err(BadRequest(message)) => return error_reply(api, 400, &message),
    };
    if let Some(status) = knobs.status {
        return error_reply(api, status, &format!("the mock model answered {status}"));
    }
    knobs.prompt = ask.prompt.clone();
    knobs.echo |= ask.model == "echo";
    if ask.tool.is_some() {
        knobs.tool.clone_from(&ask.tool);
    }
    if ask.max_tokens.is_some() {
        knobs.max_tokens = ask.max_tokens;
    }
    let prompt_tokens = knobs.prompt_tokens();
    // The limit the answer honours, from the body or the query.
    let ask = Ask {
        max_tokens: knobs.max_tokens,
        ..ask
    };
    if !ask.stream && api != Api::UiChat {
        let folded = match api {
            Api::ChatCompletions => {
                let mut completion = chat_format(&ask, prompt_tokens).completion();
                completion
                    .collect(knobs.model())
                    .await
                    .map(|()| completion.to_json())
            }
            Api::Responses => {
                let mut response = responses_format(&ask, prompt_tokens).response();
                response
                    .collect(knobs.model())
                    .await
                    .map(|()| response.to_json())
            }
            Api::Messages => {
                let mut message = AnthropicMessages::new(ask.model.clone())
                    .input_tokens(prompt_tokens)
                    .message();
                message
                    .collect(knobs.model())
                    .await
                    .map(|()| message.to_json())
            }
            // The UI message stream has no one-object answer.
            Api::UiChat => return error_reply(api, 400, "the UI stream is always streamed"),
        };
        return match folded {
            Ok(json) => Reply::Json(json),
            Err(err) => error_reply(api, 500, &err.to_string()),
        };
    }
    let format: Box<dyn Format + Send> = match api {
        Api::ChatCompletions => Box::new(chat_format(&ask, prompt_tokens)),
        Api::Responses => Box::new(responses_format(&ask, prompt_tokens)),
        Api::Messages => {
            Box::new(AnthropicMessages::new(ask.model.clone()).input_tokens(prompt_tokens))
        }
        Api::UiChat => Box::new(VercelUiStream::new()),
    };
    Reply::Stream(
        SseStream::builder(knobs.source().boxed())
            .batch(knobs.pipeline_batch())
            .heartbeat(knobs.heartbeat)
            .format(format)
            .observe(api.metrics())
            .build(),
    )
}

fn chat_format(ask: &Ask, prompt_tokens: u64) -> OpenAiChat {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    OpenAiChat::new(ask.model.clone())
        .id(format!("chatcmpl-mock{n}"))
        .include_usage(ask.include_usage)
        .prompt_tokens(prompt_tokens)
}

fn responses_format(ask: &Ask, prompt_tokens: u64) -> OpenAiResponses {
    OpenAiResponses::new(ask.model.clone())
        .input_tokens(prompt_tokens)
        .max_output_tokens(ask.max_tokens)
}

/// An error before any stream, in `api`'s own shape; a 429 asks the client
/// to wait a second, as providers do.
fn error_reply<S>(api: Api, status: u16, message: &str) -> Reply<S> {
    let response = match api {
        Api::ChatCompletions | Api::Responses => ErrorResponse::openai(status, message),
        Api::Messages => ErrorResponse::anthropic(status, message),
        Api::UiChat => ErrorResponse::text(status, message),
    };
    Reply::Error(response.with_retry_after((status == 429).then_some("1")))
}

/// The text of a message's content: a string, or the text of its parts
/// (`text`, `input_text` or `output_text` parts).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| {
                matches!(
                    part.get("type").and_then(Value::as_str),
                    None | Some("text" | "input_text" | "output_text")
                )
            })
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// A message of any of the APIs: a role and content, or (the UI stream)
/// parts.
#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
    #[serde(default)]
    parts: Value,
}

/// The text of the last user message.
fn last_user_text(messages: &[Message]) -> Result<String, BadRequest> {
    if messages.is_empty() {
        return Err(BadRequest(
            "`messages` must hold at least one message".into(),
        ));
    }
    let last = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .ok_or_else(|| BadRequest("`messages` must hold a user message".into()))?;
    Ok(if last.parts.is_null() {
        content_text(&last.content)
    } else {
        content_text(&last.parts)
    })
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Vec<NestedTool>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// A Chat Completions tool: `{"type":"function","function":{"name":...}}`.
#[derive(Debug, Deserialize)]
struct NestedTool {
    #[serde(default)]
    function: Option<NamedTool>,
}

/// A tool that names itself at the top: Responses (`{"type":"function",
/// "name":...}`) and Anthropic (`{"name":...,"input_schema":...}`).
#[derive(Debug, Deserialize)]
struct NamedTool {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ResponsesRequest {
    model: String,
    input: Value,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    tools: Vec<NamedTool>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct MessagesRequest {
    model: String,
    max_tokens: Option<u64>,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    tools: Vec<NamedTool>,
}

#[derive(Debug, Deserialize)]
struct UiChatRequest {
    messages: Vec<Message>,
    #[serde(default)]
    model: Option<String>,
}

fn invalid(api: &str, err: &serde_json::Error) -> BadRequest {
    BadRequest(format!("the body is not a valid {api} request: {err}"))
}

/// Reads a request body of `api`.
fn parse(api: Api, body: &[u8]) -> Result<Ask, BadRequest> {
    match api {
        Api::ChatCompletions => {
            let request: ChatRequest =
                serde_json::from_slice(body).map_err(|e| invalid("chat completion", &e))?;
            let tool =
                match request.tools.first() {
                    None => None,
                    Some(tool) => Some(tool.function.as_ref().map(|f| f.name.clone()).ok_or_else(
                        || BadRequest("`tools[0].function.name` is required".into()),
                    )?),
                };
            Ok(Ask {
                prompt: last_user_text(&request.messages)?,
                model: request.model,
                tool,
                max_tokens: request.max_completion_tokens.or(request.max_tokens),
                stream: request.stream,
                include_usage: request.stream_options.is_some_and(|o| o.include_usage),
            })
        }
        Api::Responses => {
            let request: ResponsesRequest =
                serde_json::from_slice(body).map_err(|e| invalid("responses", &e))?;
            let prompt = match &request.input {
                Value::String(text) => text.clone(),
                Value::Array(items) => {
                    let messages: Vec<Message> = items
                        .iter()
                        .filter(|item| item.get("role").is_some())
                        .filter_map(|item| serde_json::from_value(item.clone()).ok())
                        .collect();
                    // A turn that only hands back tool results (with
                    // `previous_response_id`) has no user message: fine.
                    messages
                        .iter()
                        .rev()
                        .find(|m| m.role == "user")
                        .map(|m| content_text(&m.content))
                        .unwrap_or_default()
                }
                _ => {
                    return Err(BadRequest(
                        "`input` must be a string or a list of input items".into(),
                    ))
                }
            };
            Ok(Ask {
                model: request.model,
                prompt,
                tool: request.tools.first().map(|t| t.name.clone()),
                max_tokens: request.max_output_tokens,
                stream: request.stream,
                include_usage: true,
            })
        }
        Api::Messages => {
            let request: MessagesRequest =
                serde_json::from_slice(body).map_err(|e| invalid("messages", &e))?;
            let max_tokens = request
                .max_tokens
                .ok_or_else(|| BadRequest("max_tokens: Field required".into()))?;
            Ok(Ask {
                prompt: last_user_text(&request.messages)?,
                model: request.model,
                tool: request.tools.first().map(|t| t.name.clone()),
                max_tokens: Some(max_tokens),
                stream: request.stream,
                include_usage: true,
            })
        }
        Api::UiChat => {
            let request: UiChatRequest =
                serde_json::from_slice(body).map_err(|e| invalid("chat", &e))?;
            Ok(Ask {
                prompt: last_user_text(&request.messages)?,
                model: request.model.unwrap_or_default(),
                tool: None,
                max_tokens: None,
                stream: true,
                include_usage: false,
            })
        }
    }
}
