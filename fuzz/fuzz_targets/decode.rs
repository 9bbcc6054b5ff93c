//! Any bytes, cut anywhere: the decoder never panics, and the frames do not
//! depend on how the input was cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_sse::decode::{Decoder, Frame};

fn decode(input: &[u8], cut_every: usize) -> Vec<Frame> {
    let mut decoder = Decoder::new().comments(true).max_event_size(256);
    let mut frames = Vec::new();
    for chunk in input.chunks(cut_every.max(1)) {
        decoder.feed(chunk);
        while let Some(frame) = decoder.next_frame() {
            frames.push(frame.unwrap_or(Frame::Comment("<too large>".into())));
        }
    }
    frames
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else { return };
    assert_eq!(decode(input, input.len()), decode(input, usize::from(cut)));
});
