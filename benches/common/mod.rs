//! What the benches that read a body share: a wire cut into pieces the
//! way a network delivers them, and those pieces as a body stream.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;

/// `wire` cut into pieces of `sizes`, cycled.
pub(crate) fn cut(wire: &[u8], sizes: &[usize]) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut rest = wire;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at((*size).min(rest.len()));
        chunks.push(Bytes::copy_from_slice(a));
        rest = b;
    }
    chunks
}

/// `chunks` as a body stream that never fails.
pub(crate) fn body(
    chunks: &[Bytes],
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + '_ {
    stream::iter(chunks.iter().cloned().map(Ok))
}
