//! The JSON every format writes by hand: string literals escaped for one
//! `data:` line, numbers, and objects built member by member.
//!
//! Formats write JSON directly into the frame buffer instead of going
//! through serde, so the hot path costs one pass over the text and no
//! allocation, and the `openai`, `anthropic` and `vercel` features need no
//! serde.

use bytes::{BufMut, BytesMut};

use crate::encode::write_decimal;

/// Appends `text` as a JSON string literal, quotes included. Control
/// characters, U+2028 and U+2029 are escaped, so the result holds no line
/// break and is safe in one `data:` line.
pub(crate) fn write_json_string(buf: &mut BytesMut, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.reserve(text.len() + 2);
    buf.put_u8(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => Some(b""),
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                Some(if bytes[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                })
            }
            _ => None,
        };
        let Some(escape) = escape else {
            i += 1;
            continue;
        };
        buf.put_slice(&bytes[start..i]);
        if escape.is_empty() {
            buf.put_slice(b"\\u00");
            buf.put_u8(HEX[usize::from(b >> 4)]);
            buf.put_u8(HEX[usize::from(b & 0xf)]);
        }
        buf.put_slice(escape);
        i += if b == 0xE2 { 3 } else { 1 };
        start = i;
    }
    buf.put_slice(&bytes[start..]);
    buf.put_u8(b'"');
}

/// Writes a JSON object member by member: `{"a":1,"b":"x"}`.
///
/// Keys are the formats' own constants, written as given; values are
/// escaped.
pub(crate) struct JsonObject<'a> {
    buf: &'a mut BytesMut,
    empty: bool,
}

impl<'a> JsonObject<'a> {
    /// Opens an object.
    pub(crate) fn open(buf: &'a mut BytesMut) -> Self {
        buf.put_u8(b'{');
        Self { buf, empty: true }
    }

    fn key(&mut self, key: &str) -> &mut BytesMut {
        if !self.empty {
            self.buf.put_u8(b',');
        }
        self.empty = false;
        self.buf.put_u8(b'"');
        self.buf.put_slice(key.as_bytes());
        self.buf.put_slice(b"\":");
        self.buf
    }

    /// A string member.
    pub(crate) fn string(&mut self, key: &str, value: &str) -> &mut Self {
        write_json_string(self.key(key), value);
        self
    }

    /// A number member.
    pub(crate) fn number(&mut self, key: &str, value: u64) -> &mut Self {
        write_decimal(self.key(key), u128::from(value));
        self
    }

    /// A member whose value is JSON the caller vouches for: a literal
    /// (`null`, `true`, `[]`), or JSON built by this crate.
    pub(crate) fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key).put_slice(json.as_bytes());
        self
    }

    /// A member whose value the caller writes next, into the buffer
    /// returned.
    pub(crate) fn nested(&mut self, key: &str) -> &mut BytesMut {
        self.key(key)
    }

    /// Closes the object.
    pub(crate) fn close(&mut self) {
        self.buf.put_u8(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects() {
        let mut buf = BytesMut::new();
        let mut object = JsonObject::open(&mut buf);
        object.string("a", "x\"").number("b", 7).raw("c", "null");
        JsonObject::open(object.nested("d")).close();
        object.close();
        assert_eq!(buf, "{\"a\":\"x\\\"\",\"b\":7,\"c\":null,\"d\":{}}");
    }

    #[test]
    fn json_strings() {
        let mut buf = BytesMut::new();
        write_json_string(
            &mut buf,
            "a\"b\\c\n\r\t\0\x1f\u{7f}é\u{2028}\u{2029}\u{2027}",
        );
        assert_eq!(
            buf,
            "\"a\\\"b\\\\c\\n\\r\\t\\u0000\\u001f\u{7f}é\\u2028\\u2029\u{2027}\""
        );
    }
}
