//! UTF-8 repair of byte tokens: any cut of any bytes decodes exactly as the
//! whole would.

use futures_util::{stream, FutureExt, StreamExt, TryStreamExt};
use llm_sse::TokenStreamExt;
use proptest::prelude::*;

fn repair(tokens: Vec<Vec<u8>>) -> Vec<Result<String, &'static str>> {
    stream::iter(tokens.into_iter().map(Ok::<_, &'static str>))
        .utf8()
        .map_ok(String::from)
        .collect()
        .now_or_never()
        .expect("an iterator stream is always ready")
}

fn cut(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    let mut start = 0;
    cuts.into_iter()
        .map(|end| {
            let piece = bytes[start..end].to_vec();
            start = end;
            piece
        })
        .collect()
}

fn joined(out: Vec<Result<String, &'static str>>) -> String {
    out.into_iter().map(|t| t.unwrap()).collect()
}

#[test]
fn every_two_cuts_of_mixed_text() {
    let text = "a é € 😀 z";
    let bytes = text.as_bytes();
    for i in 0..=bytes.len() {
        for j in i..=bytes.len() {
            let out = repair(cut(bytes, &[i, j]));
            assert!(
                out.iter().all(|t| !t.as_ref().unwrap().is_empty()),
                "no empty tokens"
            );
            assert_eq!(joined(out), text, "cuts {i} {j}");
        }
    }
}

#[test]
fn invalid_bytes_become_replacement_characters() {
    assert_eq!(joined(repair(vec![b"a\xFFb".to_vec()])), "a\u{FFFD}b");
    assert_eq!(
        joined(repair(vec![b"a\xE2\x82".to_vec(), b"b".to_vec()])),
        "a\u{FFFD}b"
    );
    // A dangling start of a character at the end is flushed as U+FFFD.
    assert_eq!(
        repair(vec![b"ok\xF0\x9F".to_vec()]),
        [Ok("ok".into()), Ok("\u{FFFD}".into())]
    );
}

#[test]
fn an_error_flushes_the_held_bytes_first() {
    let tokens = vec![Ok(b"x\xE2".to_vec()), Err("boom"), Ok(b"y".to_vec())];
    let out: Vec<_> = stream::iter(tokens)
        .utf8()
        .map_ok(String::from)
        .collect()
        .now_or_never()
        .unwrap();
    assert_eq!(
        out,
        [
            Ok("x".into()),
            Ok("\u{FFFD}".into()),
            Err("boom"),
            Ok("y".into())
        ]
    );
}

proptest! {
    #[test]
    fn any_cut_of_a_string_decodes_to_the_string(text in any::<String>(), cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        prop_assert_eq!(joined(repair(cut(text.as_bytes(), &cuts))), text);
    }

    #[test]
    fn any_cut_of_any_bytes_decodes_like_the_whole(
        bytes in prop::collection::vec(prop_oneof![any::<u8>(), 0x80u8..0xC0, 0xE0u8..0xF5], 0..40),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let whole = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert_eq!(joined(repair(cut(&bytes, &cuts))), whole);
    }
}
