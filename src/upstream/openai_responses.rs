//! [`OpenAiResponsesParser`]: OpenAI Responses events into deltas.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::Deserialize;

use super::openai_chat::{ErrorJson, UsageJson};
use super::{json, Parser, Step, UpstreamError};
use crate::{Delta, Event, FinishReason};

/// Reads OpenAI Responses API events (`POST /v1/responses` with
/// `stream: true`), ended by `response.completed` or
/// `response.incomplete`.
///
/// - `response.output_text.delta` and `response.refusal.delta` are text;
///   `response.reasoning_text.delta` and
///   `response.reasoning_summary_text.delta` are reasoning.
/// - A `function_call` output item becomes a tool call (its `call_id` and
///   `name`), numbered 0, 1, 2 in the order the items appear;
///   `response.function_call_arguments.delta` are its fragments (or the
///   `.done` event's whole arguments, when no fragment came).
/// - `response.completed` gives the usage and the finish reason (tool
///   calls when the answer made any, else stop); `response.incomplete`
///   gives the usage and its reason (`max_output_tokens` is
///   [`FinishReason::Length`]).
/// - `response.failed` and `error` events are [`UpstreamError::Provider`]
///   with the provider's message and code.
/// - Other events (`response.created`, `response.in_progress`, part and
///   item boundaries, annotations, ...) carry nothing a delta needs and
///   are skipped.
///
/// # Examples
///
/// ```
/// # futures_util::FutureExt::now_or_never(async {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::upstream::{self, OpenAiResponsesParser};
/// use llm_sse::{Delta, FinishReason, Usage};
///
/// let body = concat!(
///     "event: response.output_text.delta\n",
///     "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
///     "event: response.completed\n",
///     "data: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",",
///     "\"usage\":{\"input_tokens\":5,\"output_tokens\":1,\"total_tokens\":6}}}\n\n",
/// );
/// let deltas: Vec<_> = upstream::parse(stream::iter([Ok::<_, std::io::Error>(body)]), OpenAiResponsesParser::new())
///     .map(Result::unwrap)
///     .collect()
///     .await;
/// assert_eq!(
///     deltas,
///     [Delta::text("Hi"), Delta::usage(Usage::new(5, 1)), Delta::finish(FinishReason::Stop)]
/// );
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct OpenAiResponsesParser {
    calls: Vec<Call>,
}

/// A function call item seen so far.
#[derive(Debug)]
struct Call {
    output_index: Option<u32>,
    item_id: Option<String>,
    /// Whether any argument text was passed on.
    has_arguments: bool,
}

impl OpenAiResponsesParser {
    /// A parser for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The position of the call `event` belongs to.
    fn call(&self, event: &ResponsesEvent<'_>) -> Result<usize, UpstreamError> {
        let found = self.calls.iter().position(|call| {
            match (
                &event.item_id,
                &call.item_id,
                event.output_index,
                call.output_index,
            ) {
                (Some(id), Some(known), _, _) => id == known,
                (_, _, Some(index), Some(known)) => index == known,
                _ => false,
            }
        });
        // A server that names neither means its latest call.
        match found {
            Some(position) => Ok(position),
            None if event.item_id.is_none() && event.output_index.is_none() => {
                self.calls.len().checked_sub(1).ok_or_else(|| {
                    UpstreamError::malformed("function call arguments before any call")
                })
            }
            None => Err(UpstreamError::malformed(format!(
                "{} for an unknown function call",
                event.kind
            ))),
        }
    }

    fn item_added(
        &mut self,
        event: &ResponsesEvent<'_>,
        item: Item<'_>,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        if item.kind.as_deref() != Some("function_call") {
            return Ok(());
        }
        let Some(name) = item.name.filter(|name| !name.is_empty()) else {
            return Err(UpstreamError::malformed(
                "a function call item without a name",
            ));
        };
        let position = self.calls.len() as u32;
        let id = match item.call_id.or_else(|| item.id.clone()) {
            Some(id) if !id.is_empty() => id.into_owned(),
            _ => crate::format::random_id("call_"),
        };
        out.push_back(Delta::tool_call(position, id, name.into_owned()));
        let arguments = item.arguments.filter(|text| !text.is_empty());
        self.calls.push(Call {
            output_index: event.output_index,
            item_id: item.id.map(Cow::into_owned),
            has_arguments: arguments.is_some(),
        });
        if let Some(arguments) = arguments {
            out.push_back(Delta::tool_arguments(position, arguments.into_owned()));
        }
        Ok(())
    }

    fn finish(&self, response: Option<ResponseJson>, completed: bool, out: &mut VecDeque<Delta>) {
        let response = response.unwrap_or_default();
        if let Some(usage) = response.usage {
            out.push_back(Delta::usage(usage.into_usage()));
        }
        let reason = if completed {
            if self.calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            }
        } else {
            match response
                .incomplete_details
                .and_then(|details| details.reason)
                .as_deref()
            {
                Some("max_output_tokens") | None => FinishReason::Length,
                Some("content_filter") => FinishReason::ContentFilter,
                Some(other) => FinishReason::Other(Cow::Owned(other.to_owned())),
            }
        };
        out.push_back(Delta::finish(reason));
    }
}

impl Parser for OpenAiResponsesParser {
    fn event(&mut self, event: &Event, out: &mut VecDeque<Delta>) -> Result<Step, UpstreamError> {
        let Some(parsed) = json::<ResponsesEvent<'_>>(event)? else {
            return Ok(Step::More);
        };
        let mut parsed = parsed;
        match &*parsed.kind {
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(text) = parsed.delta.take().filter(|text| !text.is_empty()) {
                    out.push_back(Delta::text(text.into_owned()));
                }
            }
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                if let Some(text) = parsed.delta.take().filter(|text| !text.is_empty()) {
                    out.push_back(Delta::reasoning(text.into_owned()));
                }
            }
            "response.output_item.added" => {
                if let Some(item) = parsed.item.take() {
                    self.item_added(&parsed, item, out)?;
                }
            }
            "response.function_call_arguments.delta" => {
                let position = self.call(&parsed)?;
                if let Some(text) = parsed.delta.take().filter(|text| !text.is_empty()) {
                    self.calls[position].has_arguments = true;
                    out.push_back(Delta::tool_arguments(position as u32, text.into_owned()));
                }
            }
            "response.function_call_arguments.done" => {
                let position = self.call(&parsed)?;
                let call = &mut self.calls[position];
                if let Some(text) = parsed.arguments.take().filter(|text| !text.is_empty()) {
                    if !call.has_arguments {
                        call.has_arguments = true;
                        out.push_back(Delta::tool_arguments(position as u32, text.into_owned()));
                    }
                }
            }
            "response.completed" => {
                self.finish(parsed.response.take(), true, out);
                return Ok(Step::End);
            }
            "response.incomplete" => {
                self.finish(parsed.response.take(), false, out);
                return Ok(Step::End);
            }
            "response.failed" => {
                let error = parsed.response.take().and_then(|response| response.error);
                return Err(error.map_or_else(
                    || UpstreamError::provider("the response failed", None),
                    ErrorJson::into_error,
                ));
            }
            "error" => {
                // `{"type":"error","code":...,"message":...}`, or the
                // error object nested as some servers send it.
                if let (None, Some(error)) = (&parsed.message, parsed.error.take()) {
                    return Err(error.into_error());
                }
                let message = parsed.message.take().map_or_else(
                    || "the upstream sent an error event".to_owned(),
                    Cow::into_owned,
                );
                let code = parsed.code.take().map(Cow::into_owned);
                return Err(UpstreamError::provider(message, code));
            }
            _ => {}
        }
        Ok(Step::More)
    }

    fn end_marker(&self) -> &'static str {
        "response.completed"
    }
}

/// The fields of every Responses event this parser reads.
#[derive(Deserialize)]
struct ResponsesEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
    #[serde(default)]
    output_index: Option<u32>,
    #[serde(default, borrow)]
    item_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    item: Option<Item<'a>>,
    #[serde(default)]
    response: Option<ResponseJson>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default)]
    error: Option<ErrorJson>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct ResponseJson {
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default)]
    incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    error: Option<ErrorJson>,
}

#[derive(Deserialize)]
struct IncompleteDetails {
    #[serde(default)]
    reason: Option<String>,
}
