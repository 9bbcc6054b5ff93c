//! Any text as data (and as a JSON payload): decoding the encoded event gives
//! back one event with the text, CR and CRLF read as LF (JSON: exactly).
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_sse::decode::{Decoder, Frame};
use llm_sse::Event;

fn decode_one(wire: &[u8]) -> String {
    let mut decoder = Decoder::new();
    decoder.feed(wire);
    let mut events = Vec::new();
    while let Some(frame) = decoder.next_frame() {
        if let Frame::Event(event) = frame.expect("no oversized events") {
            events.push(event.data().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(events.len(), 1, "one event in, one event out");
    events.remove(0)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let event = Event::builder().event("e").id("1").data(text.clone()).build().unwrap();
    let wire = event.to_bytes();
    assert_eq!(wire.len(), event.encoded_len());
    assert_eq!(decode_one(&wire), text.replace("\r\n", "\n").replace('\r', "\n"));

    let json = Event::json(&text).unwrap().to_bytes();
    let back: String = serde_json::from_str(&decode_one(&json)).unwrap();
    assert_eq!(back, text);
});
