//! JSON payloads (feature `json`).

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, Serializer};

use crate::Event;

impl Event {
    /// An event whose data is `value` as compact JSON.
    ///
    /// JSON carries any text exactly, CR included, and needs only one `data:`
    /// line. U+2028 and U+2029, valid in JSON strings but line terminators
    /// to older JavaScript parsers, are written as `\u2028` and `\u2029`.
    ///
    /// # Errors
    ///
    /// Whatever `serde_json` reports for `value`: a map with non-string
    /// keys, or a `Serialize` implementation that fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use llm_sse::Event;
    ///
    /// let event = Event::json(&serde_json::json!({ "delta": "a\r\nb\u{2028}" }))?;
    /// assert_eq!(event.to_bytes(), "data: {\"delta\":\"a\\r\\nb\\u2028\"}\n\n");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Event::new(to_string(value)?))
    }
}

/// `value` as compact JSON on one line, U+2028 and U+2029 escaped.
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut json = Vec::with_capacity(128);
    value.serialize(&mut Serializer::with_formatter(&mut json, JsFormatter))?;
    String::from_utf8(json).map_err(|_| serde::ser::Error::custom("serializer wrote invalid UTF-8"))
}

/// Compact JSON that also escapes U+2028 and U+2029.
struct JsFormatter;

impl Formatter for JsFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(['\u{2028}', '\u{2029}']) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let escape: &[u8] = if rest[at..].starts_with('\u{2028}') {
                b"\\u2028"
            } else {
                b"\\u2029"
            };
            writer.write_all(escape)?;
            rest = &rest[at + '\u{2028}'.len_utf8()..];
        }
        CompactFormatter.write_string_fragment(writer, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_js_line_terminators_and_round_trips() {
        let text = "\u{2028}x\u{2029}\r\n\0\"\\é";
        let event = Event::json(text).unwrap();
        assert_eq!(event.data(), Some(r#""\u2028x\u2029\r\n\u0000\"\\é""#));
        let back: String = serde_json::from_str(event.data().unwrap()).unwrap();
        assert_eq!(back, text);

        assert_eq!(event.to_bytes().len(), event.encoded_len());
    }

    #[test]
    fn unserializable_values_are_errors() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1u8], 1);
        assert!(Event::json(&map).is_err());
    }
}
