//! [`OpenAiResponsesParser`]: OpenAI Responses events into deltas.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::in_band_error;
use super::openai_chat::usage;
use super::skim;
use super::{Parser, Step, UpstreamError};
use crate::{Delta, FinishReason};

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
    output_index: Option<u64>,
    item_id: Option<String>,
    /// Whether any argument text was passed on.
    has_arguments: bool,
}

impl OpenAiResponsesParser {
    /// A parser for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The position of the call an arguments event belongs to.
    fn call(&self, fields: &Fields<'_>) -> Result<usize, UpstreamError> {
        let (item_id, output_index) = fields.call_key()?;
        let found = self.calls.iter().position(|call| {
            match (&item_id, &call.item_id, output_index, call.output_index) {
                (Some(id), Some(known), _, _) => id == known,
                (_, _, Some(index), Some(known)) => index == known,
                _ => false,
            }
        });
        match found {
            Some(position) => Ok(position),
            // A server that names neither means its latest call.
            None if item_id.is_none() && output_index.is_none() => {
                self.calls.len().checked_sub(1).ok_or_else(|| {
                    UpstreamError::malformed("function call arguments before any call")
                })
            }
            None => Err(UpstreamError::malformed(format!(
                "{} for an unknown function call",
                fields.kind
            ))),
        }
    }

    fn item_added(
        &mut self,
        fields: &Fields<'_>,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        let (mut kind, mut id, mut call_id, mut name, mut arguments) =
            (None, None, None, None, None);
        skim::read(fields.item.unwrap_or("{}"), |item| {
            item.object(|key, value| {
                match key {
                    "type" => kind = value.string()?,
                    "id" => id = value.string()?,
                    "call_id" => call_id = value.string()?,
                    "name" => name = value.string()?,
                    "arguments" => arguments = value.string()?,
                    _ => {}
                }
                Ok(())
            })
        })?;
        if kind.as_deref() != Some("function_call") {
            return Ok(());
        }
        let Some(name) = name.filter(|name| !name.is_empty()) else {
            return Err(UpstreamError::malformed(
                "a function call item without a name",
            ));
        };
        let position = self.calls.len() as u32;
        let call_id = match call_id.or_else(|| id.clone()) {
            Some(call_id) if !call_id.is_empty() => call_id.into_owned(),
            _ => crate::format::random_id("call_"),
        };
        out.push_back(Delta::tool_call(position, call_id, name.into_owned()));
        let arguments = arguments.filter(|text| !text.is_empty());
        self.calls.push(Call {
            output_index: fields.call_key()?.1,
            item_id: id.map(Cow::into_owned),
            has_arguments: arguments.is_some(),
        });
        if let Some(arguments) = arguments {
            out.push_back(Delta::tool_arguments(position, arguments.into_owned()));
        }
        Ok(())
    }

    /// The usage and finish reason of `response.completed` (`completed`)
    /// or `response.incomplete`.
    fn finish(
        &self,
        response: &str,
        completed: bool,
        out: &mut VecDeque<Delta>,
    ) -> Result<(), UpstreamError> {
        let mut reason = None;
        skim::read(response, |response| {
            response.object(|key, value| {
                match key {
                    "usage" => {
                        if let Some(usage) = usage(value)? {
                            out.push_back(Delta::usage(usage));
                        }
                    }
                    "incomplete_details" => value.object(|key, value| {
                        if key == "reason" {
                            reason = value.string()?;
                        }
                        Ok(())
                    })?,
                    _ => {}
                }
                Ok(())
            })
        })?;
        let reason = if completed {
            if self.calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            }
        } else {
            match reason.as_deref() {
                Some("max_output_tokens") | None => FinishReason::Length,
                Some("content_filter") => FinishReason::ContentFilter,
                Some(other) => FinishReason::Other(Cow::Owned(other.to_owned())),
            }
        };
        out.push_back(Delta::finish(reason));
        Ok(())
    }

    fn parse(&mut self, data: &str, out: &mut VecDeque<Delta>) -> Result<Step, UpstreamError> {
        let fields = Fields::read(data)?;
        match &*fields.kind {
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(text) = fields.delta()? {
                    out.push_back(Delta::text(text.into_owned()));
                }
            }
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                if let Some(text) = fields.delta()? {
                    out.push_back(Delta::reasoning(text.into_owned()));
                }
            }
            "response.output_item.added" => self.item_added(&fields, out)?,
            "response.function_call_arguments.delta" => {
                let position = self.call(&fields)?;
                if let Some(text) = fields.delta()? {
                    self.calls[position].has_arguments = true;
                    out.push_back(Delta::tool_arguments(position as u32, text.into_owned()));
                }
            }
            "response.function_call_arguments.done" => {
                let position = self.call(&fields)?;
                let call = &mut self.calls[position];
                let arguments = string(fields.arguments)?;
                if let Some(text) = arguments.filter(|text| !text.is_empty()) {
                    if !call.has_arguments {
                        call.has_arguments = true;
                        out.push_back(Delta::tool_arguments(position as u32, text.into_owned()));
                    }
                }
            }
            "response.completed" => {
                self.finish(fields.response.unwrap_or("{}"), true, out)?;
                return Ok(Step::End);
            }
            "response.incomplete" => {
                self.finish(fields.response.unwrap_or("{}"), false, out)?;
                return Ok(Step::End);
            }
            "response.failed" => {
                return Err(match fields.response {
                    Some(response) => in_band_error(response),
                    None => UpstreamError::provider("the response failed", None),
                });
            }
            // `{"type":"error","code":...,"message":...}`, or an error
            // object nested as some servers send it.
            "error" => return Err(in_band_error(data)),
            _ => {}
        }
        Ok(Step::More)
    }
}

impl Parser for OpenAiResponsesParser {
    fn event(
        &mut self,
        _name: Option<&str>,
        data: &str,
        out: &mut VecDeque<Delta>,
    ) -> Result<Step, UpstreamError> {
        // The data's `type` names the event; the SSE name repeats it.
        self.parse(data, out)
    }

    fn end_marker(&self) -> &'static str {
        "response.completed"
    }
}

/// The members of a Responses event this parser reads, raw: an event
/// reads only those its type defines, so an unknown event's members of
/// other shapes are no error.
struct Fields<'a> {
    kind: Cow<'a, str>,
    delta: Option<&'a str>,
    arguments: Option<&'a str>,
    output_index: Option<&'a str>,
    item_id: Option<&'a str>,
    item: Option<&'a str>,
    response: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn delta(&self) -> Result<Option<Cow<'a, str>>, UpstreamError> {
        Ok(string(self.delta)?.filter(|text| !text.is_empty()))
    }

    /// Where the event's call is: its item id and output index.
    fn call_key(&self) -> Result<(Option<Cow<'a, str>>, Option<u64>), UpstreamError> {
        Ok((
            string(self.item_id)?,
            skim::read(self.output_index.unwrap_or("null"), |value| value.integer())?,
        ))
    }

    fn read(data: &'a str) -> Result<Self, UpstreamError> {
        let mut fields = Fields {
            kind: Cow::Borrowed(""),
            delta: None,
            arguments: None,
            output_index: None,
            item_id: None,
            item: None,
            response: None,
        };
        let mut kind = None;
        skim::object(data, |key, value| {
            match key {
                "type" => kind = value.string()?,
                "delta" => fields.delta = Some(value.raw()?),
                "arguments" => fields.arguments = Some(value.raw()?),
                "output_index" => fields.output_index = Some(value.raw()?),
                "item_id" => fields.item_id = Some(value.raw()?),
                "item" if !value.is_null() => fields.item = Some(value.raw()?),
                "response" if !value.is_null() => fields.response = Some(value.raw()?),
                _ => {}
            }
            Ok(())
        })?;
        fields.kind = kind.ok_or_else(|| UpstreamError::malformed("an event without a type"))?;
        Ok(fields)
    }
}

/// The string `raw` (a raw value, if any); `None` for none or `null`.
fn string(raw: Option<&str>) -> Result<Option<Cow<'_, str>>, UpstreamError> {
    skim::read(raw.unwrap_or("null"), |value| value.string())
}
