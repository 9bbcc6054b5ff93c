//! Public types are `Send`, `Sync` and `Unpin` wherever their contents are,
//! so they fit in any HTTP body and any executor.

use std::time::Duration;

use futures_util::stream::Iter;
use llm_sse::adapters::{Batch, Chunk, Timeouts};
use llm_sse::adapters::{FrameTag, TaggedFrame};
use llm_sse::decode::{DecodeError, DecodeStream, Decoder, Frame};
use llm_sse::format::{Failure, JsonDelta};
use llm_sse::{
    Data, Delta, Error, Event, EventBuilder, EventError, FinishReason, Panicked, TimedOut,
    TokenCounts, Usage,
};

fn send_sync_unpin<T: Send + Sync + Unpin>() {}

type Tokens = Iter<std::vec::IntoIter<Result<String, std::io::Error>>>;

#[test]
fn values() {
    send_sync_unpin::<Event>();
    send_sync_unpin::<EventBuilder>();
    send_sync_unpin::<EventError>();
    send_sync_unpin::<Decoder>();
    send_sync_unpin::<Frame>();
    send_sync_unpin::<DecodeError>();
    send_sync_unpin::<Batch>();
    send_sync_unpin::<Chunk>();
    send_sync_unpin::<Timeouts>();
    send_sync_unpin::<Error<std::io::Error>>();
    send_sync_unpin::<TimedOut>();
    send_sync_unpin::<Panicked>();
    send_sync_unpin::<DecodeStream<Tokens>>();
    send_sync_unpin::<Delta>();
    send_sync_unpin::<Usage>();
    send_sync_unpin::<FinishReason>();
    send_sync_unpin::<Data>();
    send_sync_unpin::<TokenCounts>();
    send_sync_unpin::<TaggedFrame>();
    send_sync_unpin::<FrameTag>();
    send_sync_unpin::<Failure>();
    send_sync_unpin::<JsonDelta>();
    let _ = Duration::ZERO;
}

#[test]
#[cfg(feature = "opentelemetry")]
fn observers() {
    // Cloned into every stream, possibly on another thread.
    send_sync_unpin::<llm_sse::observe::OtelObserver>();
}

#[cfg(feature = "tokio")]
#[test]
fn streams() {
    use futures_util::stream;
    use llm_sse::format::Text;
    use llm_sse::{FrameStreamExt, SseStream, TokenStreamExt, TokioTimer};

    fn send_unpin<T: Send + Unpin>() {}

    fn of<T: Send + Sync + Unpin>(_: &T) {}
    fn of_send<T: Send + Unpin>(_: &T) {}
    let tokens = || stream::iter(vec![Ok::<_, std::io::Error>("a".to_owned())]);
    // Observers and boxed formats are `Send`, not `Sync`: so is the stream,
    // which is all an HTTP body needs.
    of_send(&SseStream::builder(tokens()).build());
    of(&tokens().batch(Batch::default(), TokioTimer));
    of(&stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::new())]).utf8());
    of(&futures_util::TryStreamExt::map_err(tokens(), Error::Upstream).catch_panic());
    let frames = || futures_util::TryStreamExt::map_err(tokens(), Error::Upstream).frames(Text);
    of(&frames().heartbeat(Duration::from_secs(1), TokioTimer));
    let done = llm_sse::observe::OnComplete::new(|_| {}, llm_sse::observe::Inline);
    of_send(&frames().observe(done, TokioTimer));
    of_send(&SseStream::builder(tokens()).format(Text).build());
    send_unpin::<SseStream<Tokens, TokioTimer>>();
}

#[test]
fn error_responses() {
    send_sync_unpin::<llm_sse::format::ErrorResponse>();
}

#[cfg(all(feature = "upstream", feature = "openai", feature = "anthropic"))]
#[test]
fn upstream_types() {
    use llm_sse::upstream::{
        AnthropicParser, Committed, Deltas, OpenAiChatParser, OpenAiResponsesParser, UpstreamError,
    };

    type Body = Iter<std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>>;
    send_sync_unpin::<UpstreamError>();
    send_sync_unpin::<OpenAiChatParser>();
    send_sync_unpin::<OpenAiResponsesParser>();
    send_sync_unpin::<AnthropicParser>();
    send_sync_unpin::<Deltas<Body, OpenAiChatParser>>();
    send_sync_unpin::<Committed<Deltas<Body, AnthropicParser>>>();
}
