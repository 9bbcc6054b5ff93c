//! [`OpenAiResponses`]: the OpenAI Responses API streaming format, and
//! [`OpenAiResponse`], the same answer as one `response` object.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use super::json_writer::JsonObject;
use super::{random_id, Failure, Format};
use crate::delta::{Delta, FinishReason, IntoDelta, TokenCounts, Usage};
use crate::TokenStream;

/// The error `code` of a failed response. The SDKs know a fixed list of
/// codes; this is the one for a failure of the server or the model.
const FAILURE_CODE: &str = "server_error";

/// The OpenAI Responses API streaming format, which the official OpenAI SDKs
/// read unchanged (`responses.create(stream=True)` and the
/// `responses.stream()` helper).
///
/// Every frame is one event whose SSE `event:` name equals its data's
/// `type`, and whose `sequence_number` counts up from 0. In order:
///
/// 1. `response.created`, then `response.in_progress`, sent at once, before
///    the model's first token: the whole `response` object, `status`
///    `in_progress`, `output: []`;
/// 2. one output item at a time, each with its `output_index` (0, 1, 2 in
///    order) and a fresh id:
///    - answer text: a `message` item (`msg_…`, role `assistant`):
///      `response.output_item.added`, `response.content_part.added` (an
///      `output_text` part), one `response.output_text.delta` per (batched)
///      delta, then `response.output_text.done` (the whole text),
///      `response.content_part.done` and `response.output_item.done`;
///    - reasoning: a `reasoning` item (`rs_…`) whose content is one
///      `reasoning_text` part, the same way, with
///      `response.reasoning_text.delta` and `response.reasoning_text.done`
///      (the model's reasoning as it is, not a summary);
///    - a tool call: a `function_call` item (`fc_…`, `call_id` the call's id,
///      its `name`): `response.output_item.added`, one
///      `response.function_call_arguments.delta` per fragment, then
///      `response.function_call_arguments.done` (the whole arguments) and
///      `response.output_item.done`.
///
///    A delta of another kind, or a new tool call, closes the open item
///    first. Empty text is skipped. [`Usage`] and the [`FinishReason`] are
///    kept for the end; [`Data`](crate::Data) has no place in this format
///    and is skipped;
/// 3. after a normal end, the open item is closed, then the whole response
///    (every item complete, usage filled in) comes in
///    - `response.completed`, `status` `completed`;
///    - or, when the model stopped at its token limit
///      ([`FinishReason::Length`]), `response.incomplete`, `status`
///      `incomplete`, `incomplete_details: {"reason": "max_output_tokens"}`,
///      the cut item `incomplete`, as the OpenAI API does
///      ([`FinishReason::ContentFilter`]: reason `content_filter`).
///
///    The usage is the model's [`Usage`] delta when it sent one, else
///    counted by the stream: output tokens as sent (reasoning among them),
///    input tokens as given with
///    [`input_tokens`](OpenAiResponses::input_tokens). There is no end marker
///    (no `data: [DONE]`).
///
/// A failure sends two events: `error` (`code` `server_error`, the
/// `message`, and the same fields again as a nested `error` object), then
/// `response.failed` (`status` `failed`, `error: {code, message, type}`,
/// the output so far), last. The nested `error` object is what makes the
/// official clients raise: the Python SDK raises an `APIError` carrying the
/// message for any event whose data has an `error` object, and neither a
/// bare `response.failed` nor an `error` event with only the flat fields its
/// own types describe would raise anything (the `responses.stream()`
/// helper's `get_final_response()` would end with a `RuntimeError` that
/// loses the message).
///
/// The stream helper of the Python SDK returns a final response only for
/// `response.completed`; after `response.incomplete`, read the event itself
/// (its `response` holds the output and usage).
///
/// The whole answer is kept until the end: `response.completed` repeats it,
/// as the Responses API does. Every text (and every id and name) is written
/// as a JSON string on one `data:` line, so no model output can start a new
/// SSE field. The heartbeat is the default comment line.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::adapters::Batch;
/// use llm_sse::format::OpenAiResponses;
/// use llm_sse::{Delta, FinishReason, SseStream};
///
/// let answer = stream::iter([
///     Delta::reasoning("Look it up."),
///     Delta::tool_call(0, "call_1", "lookup"),
///     Delta::tool_arguments(0, "{\"query\":\"rust\"}"),
///     Delta::finish(FinishReason::ToolCalls),
/// ])
/// .map(Ok::<_, std::io::Error>);
/// let format = OpenAiResponses::new("my-model").id("resp_1").created_at(1_700_000_000);
/// let frames: Vec<_> = SseStream::builder(answer).batch(Batch::off()).format(format).build().collect().await;
/// let wire = String::from_utf8(frames.concat()).unwrap();
/// // The first two events go out at once, before the model's first token.
/// assert_eq!(
///     frames[0],
///     "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\
///      \"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1700000000,\
///      \"status\":\"in_progress\",\"error\":null,\"incomplete_details\":null,\
///      \"max_output_tokens\":null,\"model\":\"my-model\",\"output\":[],\
///      \"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],\"usage\":null}}\n\n\
///      event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\
///      \"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1700000000,\
///      \"status\":\"in_progress\",\"error\":null,\"incomplete_details\":null,\
///      \"max_output_tokens\":null,\"model\":\"my-model\",\"output\":[],\
///      \"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],\"usage\":null}}\n\n"
/// );
/// let events: Vec<&str> = wire.lines().filter_map(|line| line.strip_prefix("event: ")).collect();
/// assert_eq!(
///     events,
///     [
///         "response.created",
///         "response.in_progress",
///         "response.output_item.added", // reasoning, output_index 0
///         "response.content_part.added",
///         "response.reasoning_text.delta",
///         "response.reasoning_text.done",
///         "response.content_part.done",
///         "response.output_item.done",
///         "response.output_item.added", // function_call, output_index 1
///         "response.function_call_arguments.delta",
///         "response.function_call_arguments.done",
///         "response.output_item.done",
///         "response.completed",
///     ]
/// );
/// assert!(wire.contains("\"call_id\":\"call_1\",\"name\":\"lookup\""));
/// assert!(wire.ends_with("\"total_tokens\":2}}}\n\n"));
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
#[derive(Clone)]
pub struct OpenAiResponses {
    meta: Meta,
    output: Output,
    sequence: u64,
    started: bool,
    ended: bool,
}

impl OpenAiResponses {
    /// Events of a response by `model`, with a fresh random id (`resp_` and
    /// 32 hex digits), created now.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            meta: Meta {
                id: random_id("resp_"),
                model: model.into(),
                created_at: unix_now(),
                input_tokens: 0,
                max_output_tokens: None,
            },
            output: Output::default(),
            sequence: 0,
            started: false,
            ended: false,
        }
    }

    /// Sets the response's `id`. Default: `resp_` and 32 random hex digits.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.meta.id = id.into();
        self
    }

    /// Sets `created_at`, in seconds since the Unix epoch. Default: now.
    #[must_use]
    pub fn created_at(mut self, unix_seconds: u64) -> Self {
        self.meta.created_at = unix_seconds;
        self
    }

    /// The prompt's tokens, for usage the stream has to count itself (when
    /// the model sends no [`Usage`]). Default: 0.
    #[must_use]
    pub fn input_tokens(mut self, tokens: u64) -> Self {
        self.meta.input_tokens = tokens;
        self
    }

    /// The request's `max_output_tokens`, echoed in the response object.
    /// Default: `None` (`null`).
    #[must_use]
    pub fn max_output_tokens(mut self, limit: Option<u64>) -> Self {
        self.meta.max_output_tokens = limit;
        self
    }

    /// An empty [`OpenAiResponse`] with this format's id, model, creation
    /// time, input tokens and `max_output_tokens`, to answer `stream: false`
    /// with the same deltas.
    pub fn response(&self) -> OpenAiResponse {
        OpenAiResponse {
            meta: self.meta.clone(),
            output: Output::default(),
            counted: TokenCounts::default(),
        }
    }

    /// Appends one event: `event: KIND`, and data `{"type":KIND,
    /// "sequence_number":N, ...}` with the members `members` writes.
    fn event(
        &mut self,
        buf: &mut BytesMut,
        kind: &str,
        len: usize,
        members: impl FnOnce(&mut JsonObject<'_>, &Meta, &Output),
    ) {
        let (meta, output) = (&self.meta, &self.output);
        write_event(buf, kind, self.sequence, len, |object| {
            members(object, meta, output);
        });
        self.sequence += 1;
    }

    /// Appends an event about the open item (`item_id`, `output_index`, and
    /// `content_index` 0 for parts), then `members`.
    fn item_event(
        &mut self,
        buf: &mut BytesMut,
        kind: &str,
        len: usize,
        members: impl FnOnce(&mut JsonObject<'_>, &Item),
    ) {
        self.event(buf, kind, len, |object, _, output| {
            let Some((index, item)) = output.last() else {
                return;
            };
            object
                .string("item_id", &item.id)
                .number("output_index", index as u64);
            if item.kind != ItemKind::FunctionCall {
                object.number("content_index", 0);
            }
            members(object, item);
        });
    }

    /// `response.created` and `response.in_progress`, once.
    fn start(&mut self, buf: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let len = self.meta.len();
        for kind in ["response.created", "response.in_progress"] {
            self.event(buf, kind, len, |object, meta, _| {
                write_response(object.nested("response"), meta, &[], &Outcome::InProgress);
            });
        }
    }

    /// Adds `item` as the open item: `response.output_item.added`, and
    /// `response.content_part.added` for text.
    fn open(&mut self, item: Item, buf: &mut BytesMut) {
        let len = item.id.len() + item.call_id.len() + item.name.len();
        self.output.push(item);
        self.event(
            buf,
            "response.output_item.added",
            len,
            |object, _, output| {
                if let Some((index, item)) = output.last() {
                    object.number("output_index", index as u64);
                    write_item(object.nested("item"), item, None);
                }
            },
        );
        if self.output.last().map(|(_, item)| item.kind) != Some(ItemKind::FunctionCall) {
            self.item_event(buf, "response.content_part.added", 0, |object, item| {
                write_part(object.nested("part"), item.kind, "");
            });
        }
    }

    /// Appends `text` to the open item, with its delta event.
    fn append(&mut self, text: &str, buf: &mut BytesMut) {
        let Some(kind) = self.output.append(text) else {
            return;
        };
        let event = match kind {
            ItemKind::Message => "response.output_text.delta",
            ItemKind::Reasoning => "response.reasoning_text.delta",
            ItemKind::FunctionCall => "response.function_call_arguments.delta",
        };
        self.item_event(buf, event, text.len(), |object, item| {
            object.string("delta", text);
            if item.kind == ItemKind::Message {
                object.raw("logprobs", "[]");
            }
        });
    }

    /// Closes the open item, if any, as `status`: its `.done` events and
    /// `response.output_item.done`.
    fn close(&mut self, status: Status, buf: &mut BytesMut) {
        let Some(kind) = self.output.close(status) else {
            return;
        };
        let len = self.output.last().map_or(0, |(_, item)| item.text.len());
        match kind {
            ItemKind::Message | ItemKind::Reasoning => {
                let done = if kind == ItemKind::Message {
                    "response.output_text.done"
                } else {
                    "response.reasoning_text.done"
                };
                self.item_event(buf, done, len, |object, item| {
                    object.string("text", &item.text);
                    if item.kind == ItemKind::Message {
                        object.raw("logprobs", "[]");
                    }
                });
                self.item_event(buf, "response.content_part.done", len, |object, item| {
                    write_part(object.nested("part"), item.kind, &item.text);
                });
            }
            ItemKind::FunctionCall => {
                self.item_event(
                    buf,
                    "response.function_call_arguments.done",
                    len,
                    |object, item| {
                        object.string("arguments", &item.text);
                    },
                );
            }
        }
        self.event(
            buf,
            "response.output_item.done",
            len + 96,
            |object, _, output| {
                if let Some((index, item)) = output.last() {
                    object.number("output_index", index as u64);
                    write_item(object.nested("item"), item, Some(item.status));
                }
            },
        );
    }
}

impl Format for OpenAiResponses {
    fn write_start(&mut self, buf: &mut BytesMut) {
        self.start(buf);
    }

    fn write_delta(&mut self, delta: &Delta, buf: &mut BytesMut) {
        if self.ended {
            return;
        }
        self.start(buf);
        self.output.note(delta);
        let Some(place) = self.output.place(delta) else {
            return;
        };
        if let Place::New(item) = place {
            self.close(Status::Completed, buf);
            self.open(item, buf);
        }
        if let Some(text) = delta.as_text() {
            self.append(text, buf);
        }
    }

    fn write_end(&mut self, counted: &TokenCounts, buf: &mut BytesMut) {
        if self.ended {
            return;
        }
        self.start(buf);
        self.ended = true;
        let usage = self
            .output
            .usage
            .unwrap_or_else(|| counted_usage(self.meta.input_tokens, counted));
        let outcome = Outcome::end(self.output.finish.as_ref(), usage);
        self.close(outcome.item_status(), buf);
        let kind = if let Outcome::Incomplete(..) = outcome {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let len = self.meta.len() + self.output.len();
        self.event(buf, kind, len, |object, meta, output| {
            write_response(object.nested("response"), meta, &output.items, &outcome);
        });
    }

    /// No end marker: the Responses API ends with its last event.
    fn end_marker(&self) -> Option<bytes::Bytes> {
        None
    }

    fn write_error(&mut self, failure: &Failure, buf: &mut BytesMut) {
        if self.ended {
            return;
        }
        self.start(buf);
        self.ended = true;
        let message = failure.message();
        self.event(buf, "error", 2 * message.len(), |object, _, _| {
            error_members(object, failure);
        });
        let len = self.meta.len() + self.output.len() + message.len();
        self.event(buf, "response.failed", len, |object, meta, output| {
            let outcome = Outcome::Failed(failure);
            write_response(object.nested("response"), meta, &output.items, &outcome);
        });
    }

    fn write_interrupted(&self, failure: &Failure, buf: &mut BytesMut) {
        // The stream's state is unknown here: the `error` event alone, which
        // the official clients raise as the stream's error.
        let len = 2 * failure.message().len();
        write_event(buf, "error", self.sequence, len, |object| {
            error_members(object, failure);
        });
    }
}

/// Appends the event `kind` numbered `sequence`: `type`,
/// `sequence_number`, then `members`; `len` is what they hold beyond a few
/// short fields.
fn write_event(
    buf: &mut BytesMut,
    kind: &str,
    sequence: u64,
    len: usize,
    members: impl FnOnce(&mut JsonObject<'_>),
) {
    buf.reserve(2 * kind.len() + len + 160);
    buf.put_slice(b"event: ");
    buf.put_slice(kind.as_bytes());
    buf.put_slice(b"\ndata: ");
    let mut object = JsonObject::open(buf);
    object
        .string("type", kind)
        .number("sequence_number", sequence);
    members(&mut object);
    object.close();
    buf.put_slice(b"\n\n");
}

/// The members of an `error` event: the code and message at the top, as
/// the API sends them, and the error object.
fn error_members(object: &mut JsonObject<'_>, failure: &Failure) {
    let message = failure.message();
    object
        .string("code", FAILURE_CODE)
        .string("message", message)
        .raw("param", "null");
    JsonObject::open(object.nested("error"))
        .string("type", failure.kind().type_name())
        .string("code", FAILURE_CODE)
        .string("message", message)
        .raw("param", "null")
        .close();
}

impl fmt::Debug for OpenAiResponses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiResponses")
            .field("id", &self.meta.id)
            .field("model", &self.meta.model)
            .field("created_at", &self.meta.created_at)
            .field("max_output_tokens", &self.meta.max_output_tokens)
            .field("sequence_number", &self.sequence)
            .finish_non_exhaustive()
    }
}

/// A whole answer as one OpenAI `response` object, for requests with
/// `stream: false`: push the same deltas a stream would send, then write
/// the JSON.
///
/// Made by [`OpenAiResponses::response`]. The output items are the ones the
/// stream would send (a change of kind or a new tool call starts a new
/// item), all complete; the status is `completed`, or `incomplete` with
/// `incomplete_details` when the model stopped at its token limit; the
/// usage is the model's [`Usage`] delta, or counted (one output token per
/// text, reasoning or argument delta pushed).
///
/// # Examples
///
/// ```
/// use llm_sse::format::OpenAiResponses;
/// use llm_sse::{Delta, FinishReason};
///
/// let mut response = OpenAiResponses::new("m").id("resp_1").created_at(1).input_tokens(3).response();
/// response.push(Delta::text("Hel"));
/// response.push(Delta::text("lo"));
/// response.push(Delta::finish(FinishReason::Length));
/// let json = response.to_json();
/// assert!(json.starts_with("{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"incomplete\""));
/// assert!(json.contains("\"incomplete_details\":{\"reason\":\"max_output_tokens\"}"));
/// assert!(json.contains("\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":\"Hello\""));
/// assert!(json.contains("\"input_tokens\":3,"));
/// assert!(json.ends_with("\"output_tokens\":2,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":5}}"));
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
#[derive(Debug, Clone)]
pub struct OpenAiResponse {
    meta: Meta,
    output: Output,
    counted: TokenCounts,
}

impl OpenAiResponse {
    /// Adds one delta of the answer.
    pub fn push(&mut self, delta: impl IntoDelta) {
        let delta = delta.into_delta();
        self.counted.add(delta.kind(), 1);
        self.output.note(&delta);
        let Some(place) = self.output.place(&delta) else {
            return;
        };
        if let Place::New(item) = place {
            self.output.close(Status::Completed);
            self.output.push(item);
        }
        if let Some(text) = delta.as_text() {
            self.output.append(text);
        }
    }

    /// Pushes every delta of `deltas`, stopping at the first error.
    ///
    /// # Errors
    ///
    /// The first error the stream yields; what was pushed before it stays.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_util::FutureExt::now_or_never(async {
    /// use futures_util::{stream, StreamExt};
    /// use llm_sse::format::OpenAiResponses;
    ///
    /// let tokens = stream::iter(["Hi", "!"]).map(Ok::<_, std::io::Error>);
    /// let mut response = OpenAiResponses::new("m").response();
    /// response.collect(tokens).await?;
    /// assert!(response.to_json().contains("\"text\":\"Hi!\""));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn collect<S>(&mut self, deltas: S) -> Result<(), S::Error>
    where
        S: TokenStream,
        S::Token: IntoDelta,
    {
        super::push_all(deltas, |delta| self.push(delta)).await
    }

    /// The `response` object as compact JSON.
    pub fn to_json(&self) -> String {
        let usage = self
            .output
            .usage
            .unwrap_or_else(|| counted_usage(self.meta.input_tokens, &self.counted));
        let outcome = Outcome::end(self.output.finish.as_ref(), usage);
        let mut buf = BytesMut::with_capacity(self.meta.len() + self.output.len());
        write_response(&mut buf, &self.meta, &self.output.items, &outcome);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// What the response object repeats in every event.
#[derive(Debug, Clone)]
struct Meta {
    id: String,
    model: String,
    created_at: u64,
    input_tokens: u64,
    max_output_tokens: Option<u64>,
}

impl Meta {
    /// About the size of a response object without output.
    fn len(&self) -> usize {
        self.id.len() + self.model.len() + 400
    }
}

/// The kind of an output item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Message,
    Reasoning,
    FunctionCall,
}

/// The status of a response or of an output item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    InProgress,
    Completed,
    Incomplete,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Incomplete => "incomplete",
            Status::Failed => "failed",
        }
    }
}

/// One output item: a message, a reasoning item or a function call.
#[derive(Debug, Clone)]
struct Item {
    kind: ItemKind,
    id: String,
    status: Status,
    /// The message's text, the reasoning, or the call's arguments.
    text: String,
    /// For function calls: the delta's index, the call id and the name.
    index: u32,
    call_id: String,
    name: String,
}

impl Item {
    fn new(kind: ItemKind) -> Self {
        let prefix = match kind {
            ItemKind::Message => "msg_",
            ItemKind::Reasoning => "rs_",
            ItemKind::FunctionCall => "fc_",
        };
        Self {
            kind,
            id: random_id(prefix),
            status: Status::InProgress,
            text: String::new(),
            index: 0,
            call_id: String::new(),
            name: String::new(),
        }
    }

    fn call(index: u32, call_id: &str, name: &str) -> Self {
        Self {
            index,
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            ..Self::new(ItemKind::FunctionCall)
        }
    }
}

/// Where a delta's text goes.
enum Place {
    /// Into the open item.
    Open,
    /// Into a new item, which closes the open one.
    New(Item),
}

/// The output items so far, the last one possibly still open, and what the
/// model said about the end: the same bookkeeping for the stream and for
/// the one-object answer, so both split the answer into the same items.
#[derive(Debug, Clone, Default)]
struct Output {
    items: Vec<Item>,
    open: bool,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
}

impl Output {
    /// Keeps the usage and the finish reason.
    fn note(&mut self, delta: &Delta) {
        match delta {
            Delta::Usage(usage) => self.usage = Some(**usage),
            Delta::Finish(reason) => self.finish = Some(reason.clone()),
            _ => {}
        }
    }

    /// Where `delta` goes; `None` for deltas with no output (usage, finish,
    /// data, empty text).
    fn place(&self, delta: &Delta) -> Option<Place> {
        let open = self.items.last().filter(|_| self.open);
        let (kind, index) = match delta {
            Delta::Text(text) if !text.is_empty() => (ItemKind::Message, 0),
            Delta::Reasoning(text) if !text.is_empty() => (ItemKind::Reasoning, 0),
            Delta::ToolArguments { index, fragment } if !fragment.is_empty() => {
                (ItemKind::FunctionCall, *index)
            }
            Delta::ToolCall { index, id, name } => {
                // A call needs an id its result can refer to.
                let id = if id.is_empty() {
                    random_id("call_")
                } else {
                    id.to_string()
                };
                return Some(Place::New(Item::call(*index, &id, name)));
            }
            _ => return None,
        };
        if open.is_some_and(|item| {
            item.kind == kind && (kind != ItemKind::FunctionCall || item.index == index)
        }) {
            return Some(Place::Open);
        }
        Some(Place::New(if kind == ItemKind::FunctionCall {
            let started = self
                .items
                .iter()
                .any(|item| item.kind == ItemKind::FunctionCall && item.index == index);
            if started {
                // Arguments of a call whose item is already done (the model
                // interleaved two calls): a done item takes no more deltas,
                // and a second item with the same call id would have the
                // call run twice; they are left out, in the stream and in
                // the one-object answer alike.
                return None;
            }
            // Arguments of a call that never started: an item of its own,
            // nameless, with an id its result can refer to.
            Item::call(index, &random_id("call_"), "")
        } else {
            Item::new(kind)
        }))
    }

    fn push(&mut self, item: Item) {
        self.items.push(item);
        self.open = true;
    }

    /// Appends `text` to the open item; its kind, or `None` with no open
    /// item.
    fn append(&mut self, text: &str) -> Option<ItemKind> {
        let item = self.items.last_mut().filter(|_| self.open)?;
        item.text.push_str(text);
        Some(item.kind)
    }

    /// Closes the open item as `status`; its kind, or `None` with no open
    /// item.
    fn close(&mut self, status: Status) -> Option<ItemKind> {
        let item = self.items.last_mut().filter(|_| self.open)?;
        self.open = false;
        item.status = status;
        Some(item.kind)
    }

    /// The last item and its output index.
    fn last(&self) -> Option<(usize, &Item)> {
        self.items.len().checked_sub(1).map(|i| (i, &self.items[i]))
    }

    /// About the size of the items as JSON.
    fn len(&self) -> usize {
        self.items
            .iter()
            .map(|item| item.text.len() + item.call_id.len() + item.name.len() + 160)
            .sum()
    }
}

/// The state a response object is written in.
enum Outcome<'a> {
    InProgress,
    Completed(Usage),
    /// With the `incomplete_details.reason`.
    Incomplete(Usage, &'static str),
    Failed(&'a Failure),
}

impl Outcome<'_> {
    /// The outcome of a normal end: incomplete when the model stopped at its
    /// token limit or a content filter, else completed.
    fn end(finish: Option<&FinishReason>, usage: Usage) -> Self {
        match finish {
            Some(FinishReason::Length) => Outcome::Incomplete(usage, "max_output_tokens"),
            Some(FinishReason::ContentFilter) => Outcome::Incomplete(usage, "content_filter"),
            _ => Outcome::Completed(usage),
        }
    }

    fn status(&self) -> Status {
        match self {
            Outcome::InProgress => Status::InProgress,
            Outcome::Completed(_) => Status::Completed,
            Outcome::Incomplete(..) => Status::Incomplete,
            Outcome::Failed(_) => Status::Failed,
        }
    }

    /// The status of the item the outcome cuts off (the open one).
    fn item_status(&self) -> Status {
        match self {
            Outcome::InProgress => Status::InProgress,
            Outcome::Completed(_) => Status::Completed,
            Outcome::Incomplete(..) | Outcome::Failed(_) => Status::Incomplete,
        }
    }
}

/// Usage counted by the stream: `input_tokens` in, what was sent out.
fn counted_usage(input_tokens: u64, counted: &TokenCounts) -> Usage {
    Usage::new(input_tokens, counted.total()).reasoning_tokens(counted.reasoning)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Writes the `response` object; items still open are written with the
/// outcome's item status.
fn write_response(buf: &mut BytesMut, meta: &Meta, items: &[Item], outcome: &Outcome<'_>) {
    let mut response = JsonObject::open(buf);
    response
        .string("id", &meta.id)
        .string("object", "response")
        .number("created_at", meta.created_at)
        .string("status", outcome.status().as_str());
    if let Outcome::Failed(failure) = outcome {
        JsonObject::open(response.nested("error"))
            .string("code", FAILURE_CODE)
            .string("message", failure.message())
            .string("type", failure.kind().type_name())
            .close();
    } else {
        response.raw("error", "null");
    }
    if let Outcome::Incomplete(_, reason) = outcome {
        JsonObject::open(response.nested("incomplete_details"))
            .string("reason", reason)
            .close();
    } else {
        response.raw("incomplete_details", "null");
    }
    match meta.max_output_tokens {
        Some(limit) => response.number("max_output_tokens", limit),
        None => response.raw("max_output_tokens", "null"),
    };
    response.string("model", &meta.model);
    let output = response.nested("output");
    output.put_u8(b'[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            output.put_u8(b',');
        }
        let status = match item.status {
            Status::InProgress => outcome.item_status(),
            status => status,
        };
        write_item(output, item, Some(status));
    }
    output.put_u8(b']');
    response
        .raw("parallel_tool_calls", "true")
        .string("tool_choice", "auto")
        .raw("tools", "[]");
    match outcome {
        Outcome::Completed(usage) | Outcome::Incomplete(usage, _) => {
            write_usage(response.nested("usage"), usage);
        }
        Outcome::InProgress | Outcome::Failed(_) => {
            response.raw("usage", "null");
        }
    }
    response.close();
}

/// Writes an output item: as just added (`status: None`: in progress, no
/// content yet), or with `status` and all its content.
fn write_item(buf: &mut BytesMut, item: &Item, status: Option<Status>) {
    let mut object = JsonObject::open(buf);
    object.string("id", &item.id);
    object.string(
        "type",
        match item.kind {
            ItemKind::Message => "message",
            ItemKind::Reasoning => "reasoning",
            ItemKind::FunctionCall => "function_call",
        },
    );
    object.string("status", status.unwrap_or(Status::InProgress).as_str());
    match item.kind {
        ItemKind::Message => {
            let content = object.nested("content");
            content.put_u8(b'[');
            if status.is_some() {
                write_part(content, item.kind, &item.text);
            }
            content.put_u8(b']');
            object.string("role", "assistant");
        }
        ItemKind::Reasoning => {
            object.raw("summary", "[]");
            let content = object.nested("content");
            content.put_u8(b'[');
            if status.is_some() {
                write_part(content, item.kind, &item.text);
            }
            content.put_u8(b']');
        }
        ItemKind::FunctionCall => {
            let arguments = if status.is_some() { &item.text[..] } else { "" };
            object
                .string("arguments", arguments)
                .string("call_id", &item.call_id)
                .string("name", &item.name);
        }
    }
    object.close();
}

/// Writes a content part: `output_text` for a message, `reasoning_text`
/// for reasoning.
fn write_part(buf: &mut BytesMut, kind: ItemKind, text: &str) {
    let mut part = JsonObject::open(buf);
    if kind == ItemKind::Message {
        part.string("type", "output_text")
            .raw("annotations", "[]")
            .raw("logprobs", "[]");
    } else {
        part.string("type", "reasoning_text");
    }
    part.string("text", text);
    part.close();
}

/// Writes `usage` in the Responses shape; every member the SDK types
/// require is present (unknown details are 0).
fn write_usage(buf: &mut BytesMut, usage: &Usage) {
    let mut object = JsonObject::open(buf);
    object.number("input_tokens", usage.prompt_tokens);
    JsonObject::open(object.nested("input_tokens_details"))
        .number("cached_tokens", usage.cached_prompt_tokens.unwrap_or(0))
        .number("cache_write_tokens", 0)
        .close();
    object.number("output_tokens", usage.completion_tokens);
    JsonObject::open(object.nested("output_tokens_details"))
        .number("reasoning_tokens", usage.reasoning_tokens.unwrap_or(0))
        .close();
    object.number("total_tokens", usage.total_tokens);
    object.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FailureKind;

    const HOSTILE: &str = "quote \" backslash \\ \\\" CRLF\r\nCR\rLF\n\ndata: [DONE]\n\
                           event: error\nid: 1\n: c\nLS\u{2028}PS\u{2029}\t\u{0}é 日本 🦀 👩‍💻";

    fn format() -> OpenAiResponses {
        OpenAiResponses::new("mock-1")
            .id("resp_7")
            .created_at(1_700_000_000)
            .input_tokens(4)
    }

    /// Item ids (`msg_`, `rs_`, `fc_` and 32 hex digits) numbered in order
    /// of first appearance: `msg_1`, `rs_2`, ...
    fn mask(wire: &str) -> String {
        let mut seen: Vec<String> = Vec::new();
        let mut out = String::with_capacity(wire.len());
        let mut rest = wire;
        while let Some(at) = ["msg_", "rs_", "fc_"]
            .iter()
            .filter_map(|prefix| rest.find(prefix).map(|at| (at, prefix.len())))
            .min()
        {
            let (at, prefix) = at;
            let end = at + prefix + 32;
            let id = rest
                .get(at..end)
                .filter(|id| id[prefix..].bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(id) = id else {
                out.push_str(&rest[..at + prefix]);
                rest = &rest[at + prefix..];
                continue;
            };
            let n = match seen.iter().position(|s| s == id) {
                Some(n) => n + 1,
                None => {
                    seen.push(id.to_owned());
                    seen.len()
                }
            };
            out.push_str(&rest[..at + prefix]);
            out.push_str(&n.to_string());
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    /// The expected wire of `events` (`type`, the members after
    /// `sequence_number`), numbered from `first`.
    fn wire(first: u64, events: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for (n, (kind, members)) in (first..).zip(events) {
            out.push_str(&format!(
                "event: {kind}\ndata: {{\"type\":\"{kind}\",\"sequence_number\":{n},{members}}}\n\n"
            ));
        }
        out
    }

    fn run(format: &mut OpenAiResponses, deltas: &[Delta], counted: &TokenCounts) -> String {
        let mut buf = BytesMut::new();
        format.write_start(&mut buf);
        for delta in deltas {
            format.write_delta(delta, &mut buf);
        }
        format.write_end(counted, &mut buf);
        assert_eq!(format.end_marker(), None);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    const RESPONSE: &str = "{\"id\":\"resp_7\",\"object\":\"response\",\"created_at\":1700000000";
    const TAIL: &str = "\"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[]";

    #[test]
    fn start_events() {
        let mut buf = BytesMut::new();
        let mut format = format().max_output_tokens(Some(64));
        format.write_start(&mut buf);
        let response = format!(
            "\"response\":{RESPONSE},\"status\":\"in_progress\",\"error\":null,\
             \"incomplete_details\":null,\"max_output_tokens\":64,\"model\":\"mock-1\",\
             \"output\":[],{TAIL},\"usage\":null}}"
        );
        assert_eq!(
            buf,
            wire(
                0,
                &[
                    ("response.created", &response),
                    ("response.in_progress", &response)
                ]
            )
        );
        // Once only.
        buf.clear();
        format.write_start(&mut buf);
        assert!(buf.is_empty());
    }

    #[test]
    fn text_stream() {
        let counted = TokenCounts {
            text: 2,
            ..TokenCounts::default()
        };
        let got = run(
            &mut format(),
            &[Delta::text("Hi"), Delta::text(" there")],
            &counted,
        );
        let head = "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0";
        let item = "\"id\":\"msg_1\",\"type\":\"message\"";
        let part = "\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[]";
        let done_item = format!(
            "{{{item},\"status\":\"completed\",\"content\":[{{{part},\"text\":\"Hi there\"}}],\
             \"role\":\"assistant\"}}"
        );
        let expected = wire(
            2,
            &[
                (
                    "response.output_item.added",
                    &format!(
                        "\"output_index\":0,\"item\":{{{item},\"status\":\"in_progress\",\
                         \"content\":[],\"role\":\"assistant\"}}"
                    ),
                ),
                (
                    "response.content_part.added",
                    &format!("{head},\"part\":{{{part},\"text\":\"\"}}"),
                ),
                (
                    "response.output_text.delta",
                    &format!("{head},\"delta\":\"Hi\",\"logprobs\":[]"),
                ),
                (
                    "response.output_text.delta",
                    &format!("{head},\"delta\":\" there\",\"logprobs\":[]"),
                ),
                (
                    "response.output_text.done",
                    &format!("{head},\"text\":\"Hi there\",\"logprobs\":[]"),
                ),
                (
                    "response.content_part.done",
                    &format!("{head},\"part\":{{{part},\"text\":\"Hi there\"}}"),
                ),
                (
                    "response.output_item.done",
                    &format!("\"output_index\":0,\"item\":{done_item}"),
                ),
                (
                    "response.completed",
                    &format!(
                        "\"response\":{RESPONSE},\"status\":\"completed\",\"error\":null,\
                         \"incomplete_details\":null,\"max_output_tokens\":null,\
                         \"model\":\"mock-1\",\"output\":[{done_item}],{TAIL},\
                         \"usage\":{{\"input_tokens\":4,\"input_tokens_details\":\
                         {{\"cached_tokens\":0,\"cache_write_tokens\":0}},\"output_tokens\":2,\
                         \"output_tokens_details\":{{\"reasoning_tokens\":0}},\
                         \"total_tokens\":6}}}}"
                    ),
                ),
            ],
        );
        let got = mask(&got);
        let start = got.find("event: response.output_item.added").unwrap();
        assert_eq!(got[start..], expected);
    }

    #[test]
    fn reasoning_then_tool_call() {
        let counted = TokenCounts {
            reasoning: 1,
            tool_arguments: 2,
            tool_calls: 1,
            ..TokenCounts::default()
        };
        let got = run(
            &mut format(),
            &[
                Delta::reasoning("Hmm."),
                Delta::tool_call(0, "call_1", "lookup"),
                Delta::tool_arguments(0, "{\"q\":"),
                Delta::tool_arguments(0, "\"x\"}"),
                Delta::finish(FinishReason::ToolCalls),
            ],
            &counted,
        );
        let rs = "\"item_id\":\"rs_1\",\"output_index\":0,\"content_index\":0";
        let fc = "\"item_id\":\"fc_2\",\"output_index\":1";
        let reasoning = "{\"id\":\"rs_1\",\"type\":\"reasoning\",\"status\":\"completed\",\
                         \"summary\":[],\"content\":[{\"type\":\"reasoning_text\",\"text\":\"Hmm.\"}]}";
        let call = "{\"id\":\"fc_2\",\"type\":\"function_call\",\"status\":\"completed\",\
                    \"arguments\":\"{\\\"q\\\":\\\"x\\\"}\",\"call_id\":\"call_1\",\"name\":\"lookup\"}";
        let expected = wire(
            2,
            &[
                (
                    "response.output_item.added",
                    "\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\
                     \"status\":\"in_progress\",\"summary\":[],\"content\":[]}",
                ),
                (
                    "response.content_part.added",
                    &format!("{rs},\"part\":{{\"type\":\"reasoning_text\",\"text\":\"\"}}"),
                ),
                (
                    "response.reasoning_text.delta",
                    &format!("{rs},\"delta\":\"Hmm.\""),
                ),
                (
                    "response.reasoning_text.done",
                    &format!("{rs},\"text\":\"Hmm.\""),
                ),
                (
                    "response.content_part.done",
                    &format!("{rs},\"part\":{{\"type\":\"reasoning_text\",\"text\":\"Hmm.\"}}"),
                ),
                (
                    "response.output_item.done",
                    &format!("\"output_index\":0,\"item\":{reasoning}"),
                ),
                (
                    "response.output_item.added",
                    "\"output_index\":1,\"item\":{\"id\":\"fc_2\",\"type\":\"function_call\",\
                     \"status\":\"in_progress\",\"arguments\":\"\",\"call_id\":\"call_1\",\
                     \"name\":\"lookup\"}",
                ),
                (
                    "response.function_call_arguments.delta",
                    &format!("{fc},\"delta\":\"{{\\\"q\\\":\""),
                ),
                (
                    "response.function_call_arguments.delta",
                    &format!("{fc},\"delta\":\"\\\"x\\\"}}\""),
                ),
                (
                    "response.function_call_arguments.done",
                    &format!("{fc},\"arguments\":\"{{\\\"q\\\":\\\"x\\\"}}\""),
                ),
                (
                    "response.output_item.done",
                    &format!("\"output_index\":1,\"item\":{call}"),
                ),
                (
                    "response.completed",
                    &format!(
                        "\"response\":{RESPONSE},\"status\":\"completed\",\"error\":null,\
                         \"incomplete_details\":null,\"max_output_tokens\":null,\
                         \"model\":\"mock-1\",\"output\":[{reasoning},{call}],{TAIL},\
                         \"usage\":{{\"input_tokens\":4,\"input_tokens_details\":\
                         {{\"cached_tokens\":0,\"cache_write_tokens\":0}},\"output_tokens\":3,\
                         \"output_tokens_details\":{{\"reasoning_tokens\":1}},\
                         \"total_tokens\":7}}}}"
                    ),
                ),
            ],
        );
        let got = mask(&got);
        let start = got.find("event: response.output_item.added").unwrap();
        assert_eq!(got[start..], expected);
    }

    #[test]
    fn length_is_incomplete_with_model_usage() {
        let got = run(
            &mut format().max_output_tokens(Some(2)),
            &[
                Delta::text("a"),
                Delta::usage(Usage::new(9, 2).cached_prompt_tokens(8).reasoning_tokens(1)),
                Delta::finish(FinishReason::Length),
            ],
            &TokenCounts::default(),
        );
        let got = mask(&got);
        let item = "{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"incomplete\",\
                    \"content\":[{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\
                    \"text\":\"a\"}],\"role\":\"assistant\"}";
        let end = wire(
            7,
            &[
                (
                    "response.output_item.done",
                    &format!("\"output_index\":0,\"item\":{item}"),
                ),
                (
                    "response.incomplete",
                    &format!(
                        "\"response\":{RESPONSE},\"status\":\"incomplete\",\"error\":null,\
                         \"incomplete_details\":{{\"reason\":\"max_output_tokens\"}},\
                         \"max_output_tokens\":2,\"model\":\"mock-1\",\"output\":[{item}],\
                         {TAIL},\"usage\":{{\"input_tokens\":9,\"input_tokens_details\":\
                         {{\"cached_tokens\":8,\"cache_write_tokens\":0}},\"output_tokens\":2,\
                         \"output_tokens_details\":{{\"reasoning_tokens\":1}},\
                         \"total_tokens\":11}}}}"
                    ),
                ),
            ],
        );
        assert!(got.ends_with(&end), "{got}");
        assert!(!got.contains("response.completed"));
    }

    #[test]
    fn content_filter_is_incomplete() {
        let got = run(
            &mut format(),
            &[Delta::finish(FinishReason::ContentFilter)],
            &TokenCounts::default(),
        );
        assert!(got.contains(
            "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\
             \"sequence_number\":2,"
        ));
        assert!(got.contains("\"incomplete_details\":{\"reason\":\"content_filter\"}"));
    }

    #[test]
    fn failure_sends_error_then_response_failed() {
        let mut format = format();
        let mut buf = BytesMut::new();
        format.write_start(&mut buf);
        format.write_delta(&Delta::text("par"), &mut buf);
        buf.clear();
        let failure = Failure::new(FailureKind::Upstream, "model \"down\"\nretry");
        format.write_error(&failure, &mut buf);
        let message = "\"model \\\"down\\\"\\nretry\"";
        let item = "{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"incomplete\",\
                    \"content\":[{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\
                    \"text\":\"par\"}],\"role\":\"assistant\"}";
        let expected = wire(
            5,
            &[
                (
                    "error",
                    &format!(
                        "\"code\":\"server_error\",\"message\":{message},\"param\":null,\
                         \"error\":{{\"type\":\"upstream_error\",\"code\":\"server_error\",\
                         \"message\":{message},\"param\":null}}"
                    ),
                ),
                (
                    "response.failed",
                    &format!(
                        "\"response\":{RESPONSE},\"status\":\"failed\",\"error\":\
                         {{\"code\":\"server_error\",\"message\":{message},\
                         \"type\":\"upstream_error\"}},\"incomplete_details\":null,\
                         \"max_output_tokens\":null,\"model\":\"mock-1\",\"output\":[{item}],\
                         {TAIL},\"usage\":null}}"
                    ),
                ),
            ],
        );
        let got = mask(std::str::from_utf8(&buf).unwrap());
        // The message id is the one `output_item.added` announced.
        assert_eq!(got, expected);
        // Nothing after the terminal event.
        buf.clear();
        format.write_end(&TokenCounts::default(), &mut buf);
        format.write_delta(&Delta::text("late"), &mut buf);
        assert!(buf.is_empty());
    }

    #[test]
    fn failure_before_start_still_starts() {
        let mut buf = BytesMut::new();
        let failure = Failure::new(FailureKind::Panicked, "boom");
        format().write_error(&failure, &mut buf);
        let events: Vec<&str> = std::str::from_utf8(&buf)
            .unwrap()
            .lines()
            .filter_map(|line| line.strip_prefix("event: "))
            .collect();
        assert_eq!(
            events,
            [
                "response.created",
                "response.in_progress",
                "error",
                "response.failed"
            ]
        );
    }

    /// Every frame is `event: T` and one `data:` line whose `type` is `T`,
    /// with `sequence_number` 0, 1, 2, ...; returns the parsed data.
    fn frames(wire: &str) -> Vec<serde_json::Value> {
        assert!(!wire.contains('\r'));
        let blocks: Vec<&str> = wire.split_terminator("\n\n").collect();
        assert_eq!(blocks.concat().len() + 2 * blocks.len(), wire.len());
        let mut data = Vec::new();
        for (n, block) in blocks.iter().enumerate() {
            let (event, json) = block.split_once('\n').unwrap();
            let event = event.strip_prefix("event: ").unwrap();
            let json = json.strip_prefix("data: ").unwrap();
            assert!(!json.contains('\n'), "one data line: {block}");
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(value["type"], event);
            assert_eq!(value["sequence_number"], n as u64);
            data.push(value);
        }
        data
    }

    #[test]
    fn hostile_text_round_trips() {
        let cuts = [1, 2, 3, 7];
        for cut in cuts {
            let mut deltas = Vec::new();
            let mut piece = String::new();
            for c in HOSTILE.chars() {
                piece.push(c);
                if piece.len() >= cut {
                    deltas.push(Delta::reasoning(piece.clone()));
                    deltas.push(Delta::text(std::mem::take(&mut piece)));
                }
            }
            deltas.push(Delta::text(piece));
            let got = run(&mut format(), &deltas, &TokenCounts::default());
            let data = frames(&got);
            let joined = |kind: &str| {
                data.iter()
                    .filter(|d| d["type"] == kind)
                    .map(|d| d["delta"].as_str().unwrap())
                    .collect::<String>()
            };
            assert_eq!(joined("response.output_text.delta"), HOSTILE);
            assert_eq!(joined("response.reasoning_text.delta"), HOSTILE);
            // Alternating kinds: one item each time, indices in order.
            let added: Vec<u64> = data
                .iter()
                .filter(|d| d["type"] == "response.output_item.added")
                .map(|d| d["output_index"].as_u64().unwrap())
                .collect();
            assert_eq!(added, (0..added.len() as u64).collect::<Vec<_>>());
            let last = data.last().unwrap();
            assert_eq!(last["type"], "response.completed");
            let output = last["response"]["output"].as_array().unwrap();
            assert_eq!(output.len(), added.len());
            let text: String = output
                .iter()
                .filter(|item| item["type"] == "message")
                .map(|item| item["content"][0]["text"].as_str().unwrap())
                .collect();
            assert_eq!(text, HOSTILE);
        }
    }

    #[test]
    fn hostile_ids_and_arguments_round_trip() {
        let mut format = OpenAiResponses::new(HOSTILE).id(HOSTILE);
        let deltas = [
            Delta::tool_call(0, HOSTILE, HOSTILE),
            Delta::tool_arguments(0, HOSTILE),
            Delta::tool_arguments(0, "\n"),
        ];
        let data = frames(&run(&mut format, &deltas, &TokenCounts::default()));
        let response = &data.last().unwrap()["response"];
        assert_eq!(response["id"], HOSTILE);
        assert_eq!(response["model"], HOSTILE);
        let call = &response["output"][0];
        assert_eq!(call["call_id"], HOSTILE);
        assert_eq!(call["name"], HOSTILE);
        assert_eq!(call["arguments"], format!("{HOSTILE}\n"));
    }

    #[test]
    fn new_items_close_the_open_one() {
        let deltas = [
            Delta::text("a"),
            Delta::Data(crate::Data::string("status", "skipped")),
            Delta::text(""),
            Delta::text("b"),
            Delta::tool_call(0, "c0", "f"),
            Delta::tool_call(1, "c1", "g"),
            Delta::tool_arguments(1, "{}"),
            // Arguments of a call that is closed: a new item for it.
            Delta::tool_arguments(0, "{}"),
            Delta::tool_arguments(0, ""),
            // Arguments with no start at all.
            Delta::tool_arguments(5, "[]"),
            Delta::reasoning("r"),
            Delta::text("c"),
        ];
        let data = frames(&run(&mut format(), &deltas, &TokenCounts::default()));
        let mut open: Option<(u64, String)> = None;
        for d in &data {
            let kind = d["type"].as_str().unwrap();
            if kind == "response.output_item.added" {
                assert!(open.is_none(), "an item opened before the last closed");
                let id = d["item"]["id"].as_str().unwrap().to_owned();
                open = Some((d["output_index"].as_u64().unwrap(), id));
            } else if kind == "response.output_item.done" {
                let (index, id) = open.take().unwrap();
                assert_eq!(
                    (index, id.as_str()),
                    (
                        d["output_index"].as_u64().unwrap(),
                        d["item"]["id"].as_str().unwrap()
                    )
                );
            } else if let Some(item_id) = d.get("item_id") {
                let (index, id) = open.as_ref().unwrap();
                assert_eq!(
                    (
                        d["output_index"].as_u64().unwrap(),
                        item_id.as_str().unwrap()
                    ),
                    (*index, id.as_str())
                );
            }
        }
        assert!(open.is_none());
        let output = data.last().unwrap()["response"]["output"]
            .as_array()
            .unwrap();
        let summary: Vec<(String, String, String)> = output
            .iter()
            .map(|item| {
                let text = match item["type"].as_str().unwrap() {
                    "function_call" => format!(
                        "{}:{}:{}",
                        // A generated call id: its form, not its value.
                        match item["call_id"].as_str().unwrap() {
                            id if id.starts_with("call_") && id.len() == 37 => "call_*",
                            id => id,
                        },
                        item["name"].as_str().unwrap(),
                        item["arguments"].as_str().unwrap()
                    ),
                    _ => item["content"][0]["text"].as_str().unwrap().to_owned(),
                };
                (
                    item["type"].as_str().unwrap().to_owned(),
                    item["status"].as_str().unwrap().to_owned(),
                    text,
                )
            })
            .collect();
        let expected = [
            ("message", "ab"),
            ("function_call", "c0:f:"),
            // Call 0's late arguments are left out: its item is done.
            ("function_call", "c1:g:{}"),
            ("function_call", "call_*::[]"),
            ("reasoning", "r"),
            ("message", "c"),
        ]
        .map(|(kind, text)| (kind.to_owned(), "completed".to_owned(), text.to_owned()));
        assert_eq!(summary, expected);
    }

    #[test]
    fn deltas_before_start_start_the_stream() {
        let mut buf = BytesMut::new();
        let mut format = format();
        format.write_delta(&Delta::text("x"), &mut buf);
        let got = std::str::from_utf8(&buf).unwrap();
        assert!(got.starts_with("event: response.created\n"));
        assert_eq!(frames(got).len(), 5);
    }

    #[test]
    fn fold_matches_the_stream() {
        let deltas = vec![
            Delta::reasoning("think"),
            Delta::reasoning(" more"),
            Delta::text(HOSTILE),
            Delta::tool_call(0, "call_1", "lookup"),
            Delta::tool_arguments(0, "{\"q\":1}"),
            Delta::finish(FinishReason::Length),
        ];
        let counted = TokenCounts {
            reasoning: 2,
            text: 1,
            tool_arguments: 1,
            tool_calls: 1,
        };
        let mut format = format().max_output_tokens(Some(4));
        let data = frames(&run(&mut format, &deltas, &counted));
        let streamed = data.last().unwrap()["response"].to_string();
        let mut response = format.response();
        for delta in deltas {
            response.push(delta);
        }
        let folded: serde_json::Value = serde_json::from_str(&response.to_json()).unwrap();
        assert_eq!(mask(&folded.to_string()), mask(&streamed));
        assert_eq!(folded["status"], "incomplete");
        assert_eq!(folded["output"][2]["status"], "incomplete");
        assert_eq!(folded["output"][0]["status"], "completed");
        assert_eq!(folded["usage"]["output_tokens"], 4);
        assert_eq!(folded["usage"]["total_tokens"], 8);
    }

    #[test]
    fn empty_fold() {
        let response = format().response();
        assert_eq!(
            response.to_json(),
            format!(
                "{RESPONSE},\"status\":\"completed\",\"error\":null,\"incomplete_details\":null,\
                 \"max_output_tokens\":null,\"model\":\"mock-1\",\"output\":[],{TAIL},\
                 \"usage\":{{\"input_tokens\":4,\"input_tokens_details\":{{\"cached_tokens\":0,\
                 \"cache_write_tokens\":0}},\"output_tokens\":0,\"output_tokens_details\":\
                 {{\"reasoning_tokens\":0}},\"total_tokens\":4}}}}"
            )
        );
    }

    #[test]
    fn ids_are_random_and_prefixed() {
        let (a, b) = (OpenAiResponses::new("m"), OpenAiResponses::new("m"));
        assert_ne!(a.meta.id, b.meta.id);
        assert!(a.meta.id.starts_with("resp_"));
        assert_eq!(a.meta.id.len(), 37);
        assert!(format!("{a:?}").starts_with("OpenAiResponses { id: \"resp_"));
    }
}
