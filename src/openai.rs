//! The OpenAI Chat Completions streaming format (feature `openai`).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use crate::adapters::frames::error_json;
use crate::adapters::Format;
use crate::{encode, Error, Event};

/// Chunks in the OpenAI Chat Completions streaming format, which the
/// official OpenAI SDKs read unchanged.
///
/// Each frame is `data: {...}` with a `chat.completion.chunk` object
/// carrying `id`, `object`, `created`, `model` and
/// `choices[{index, delta, finish_reason}]`: first a role chunk
/// (`delta: {"role":"assistant","content":""}`), then one chunk per batch of
/// tokens (`delta: {"content":"..."}`), then a finish chunk (`delta: {}`,
/// `finish_reason: "stop"`), then, with
/// [`include_usage`](ChatCompletionChunks::include_usage), a usage chunk
/// with `choices: []` (and `"usage": null` on every chunk before it), then
/// the end marker `data: [DONE]`. An error is `data: {"error":{...}}`, which
/// the SDKs raise as an API error. There is never an `id:` field, an `event:`
/// field or a data-less block, shapes that break the Python SDK's parser.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use futures_util::{stream, StreamExt};
/// use llm_sse::adapters::Batch;
/// use llm_sse::openai::ChatCompletionChunks;
/// use llm_sse::SseStream;
///
/// let tokens = stream::iter(["Hi", "!"]).map(Ok::<_, std::io::Error>);
/// let format = ChatCompletionChunks::new("chatcmpl-1", "echo").created(1_700_000_000);
/// let frames: Vec<_> = SseStream::builder(tokens).batch(Batch::off()).format(format).build().collect().await;
/// // The role chunk goes out with the first token, in one write.
/// assert!(frames[0].starts_with(b"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\""));
/// assert_eq!(
///     frames[1],
///     "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\
///      \"model\":\"echo\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":null}]}\n\n"
/// );
/// // The finish chunk and the end marker, in one write.
/// assert!(frames[2].ends_with(b"\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"));
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
#[derive(Clone)]
pub struct ChatCompletionChunks {
    id: String,
    model: String,
    created: u64,
    usage_prompt_tokens: Option<u64>,
    /// `data: {"id":...,"object":...,"created":...,"model":...`, built on
    /// first use and shared by every chunk.
    head: BytesMut,
}

impl ChatCompletionChunks {
    /// Chunks for the completion `id` from `model`, created now.
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        Self {
            id: id.into(),
            model: model.into(),
            created,
            usage_prompt_tokens: None,
            head: BytesMut::new(),
        }
    }

    /// Sets `created`, in seconds since the Unix epoch. Default: now.
    #[must_use]
    pub fn created(mut self, created: u64) -> Self {
        self.created = created;
        self
    }

    /// Ends the stream with a usage chunk (`choices: []`), counting
    /// `prompt_tokens` and the tokens sent, as OpenAI does when a request
    /// asks for `stream_options: {"include_usage": true}`.
    #[must_use]
    pub fn include_usage(mut self, prompt_tokens: u64) -> Self {
        self.usage_prompt_tokens = Some(prompt_tokens);
        self
    }

    fn head(&mut self) -> &[u8] {
        if self.head.is_empty() {
            let head = &mut self.head;
            head.reserve(96 + self.id.len() + self.model.len());
            head.put_slice(b"data: {\"id\":");
            encode::write_json_string(head, &self.id);
            head.put_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
            encode::write_decimal(head, u128::from(self.created));
            head.put_slice(b",\"model\":");
            encode::write_json_string(head, &self.model);
        }
        &self.head
    }

    fn write_choice(
        &mut self,
        buf: &mut BytesMut,
        delta: &[u8],
        text: Option<&str>,
        finish: &[u8],
    ) {
        let usage = self.usage_prompt_tokens.is_some();
        let head = self.head();
        buf.reserve(head.len() + delta.len() + text.map_or(0, str::len) + 80);
        buf.put_slice(head);
        buf.put_slice(b",\"choices\":[{\"index\":0,\"delta\":");
        buf.put_slice(delta);
        if let Some(text) = text {
            encode::write_json_string(buf, text);
            buf.put_u8(b'}');
        }
        buf.put_slice(b",\"finish_reason\":");
        buf.put_slice(finish);
        buf.put_slice(b"}]");
        if usage {
            buf.put_slice(b",\"usage\":null");
        }
        buf.put_slice(b"}\n\n");
    }
}

impl Format for ChatCompletionChunks {
    fn write_start(&mut self, buf: &mut BytesMut) {
        self.write_choice(
            buf,
            b"{\"role\":\"assistant\",\"content\":\"\"}",
            None,
            b"null",
        );
    }

    fn write_chunk(&mut self, text: &str, buf: &mut BytesMut) {
        self.write_choice(buf, b"{\"content\":", Some(text), b"null");
    }

    fn write_end(&mut self, tokens: u64, buf: &mut BytesMut) {
        self.write_choice(buf, b"{}", None, b"\"stop\"");
        if let Some(prompt) = self.usage_prompt_tokens {
            buf.put_slice(self.head());
            buf.put_slice(b",\"choices\":[],\"usage\":{\"prompt_tokens\":");
            encode::write_decimal(buf, u128::from(prompt));
            buf.put_slice(b",\"completion_tokens\":");
            encode::write_decimal(buf, u128::from(tokens));
            buf.put_slice(b",\"total_tokens\":");
            encode::write_decimal(buf, u128::from(prompt) + u128::from(tokens));
            buf.put_slice(b"}}\n\n");
        }
    }

    fn error_event<E: fmt::Display>(&mut self, error: &Error<E>) -> Event {
        Event::new(error_json(error, ",\"param\":null,\"code\":null"))
    }
}

impl fmt::Debug for ChatCompletionChunks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatCompletionChunks")
            .field("id", &self.id)
            .field("model", &self.model)
            .field("created", &self.created)
            .field("usage_prompt_tokens", &self.usage_prompt_tokens)
            .finish_non_exhaustive()
    }
}
