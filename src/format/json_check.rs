//! Checking JSON that came from the model (tool arguments, data payloads)
//! before a format embeds it raw: [`write_compact_json`].

use bytes::{BufMut, BytesMut};

/// How deep arrays and objects may nest: the deepest `serde_json` reads by
/// default (its recursion limit of 128 refuses the 128th level), so every
/// common parser reads what passes.
pub(crate) const MAX_DEPTH: usize = 127;

/// Which object keys [`write_compact_json`] lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "vercel"), allow(dead_code))]
pub(crate) enum Keys {
    /// Any key.
    Any,
    /// No `__proto__` key, and no `prototype` key in the value of a
    /// `constructor` key: the Vercel AI SDK's parser refuses the whole
    /// stream for one.
    NoPrototype,
}

/// Why text is not JSON a format can embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvalidJson {
    /// Not JSON: the byte offset where it went wrong.
    Syntax(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A `__proto__` key, or a `constructor` object with a `prototype`
    /// key, which JavaScript clients' secure JSON parsers refuse (with
    /// [`Keys::NoPrototype`]).
    Prototype,
}

impl InvalidJson {
    /// The reason, for an error message.
    #[cfg_attr(not(feature = "vercel"), allow(dead_code))]
    pub(crate) fn message(self) -> String {
        match self {
            InvalidJson::Syntax(at) => format!("not valid JSON (at byte {at})"),
            InvalidJson::TooDeep => format!("JSON nested deeper than {MAX_DEPTH} levels"),
            InvalidJson::Prototype => {
                "JSON with a __proto__ or constructor.prototype key".to_owned()
            }
        }
    }
}

/// An open array or object of [`write_compact_json`].
#[derive(Clone, Copy)]
struct Container {
    object: bool,
    /// An object that is the value of a `constructor` key.
    constructor: bool,
}

/// Checks that `text` is exactly one JSON value (RFC 8259) that strict
/// parsers read (nested at most [`MAX_DEPTH`] deep, no lone UTF-16
/// surrogate escape; with [`Keys::NoPrototype`], no prototype keys), and
/// appends it without the whitespace between tokens (so it fits on one
/// `data:` line), U+2028 and U+2029 escaped.
///
/// On error, what was appended is garbage for the caller to truncate.
/// Iterative, so hostile nesting cannot overflow the stack.
pub(crate) fn write_compact_json(
    buf: &mut BytesMut,
    text: &str,
    keys: Keys,
) -> Result<(), InvalidJson> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut stack: Vec<Container> = Vec::new();
    // The next value is the value of a `constructor` key.
    let mut constructor = false;
    buf.reserve(text.len());
    'value: loop {
        at = skip_whitespace(bytes, at);
        let value_of_constructor = std::mem::take(&mut constructor);
        match bytes.get(at).copied() {
            Some(open @ (b'{' | b'[')) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(InvalidJson::TooDeep);
                }
                buf.put_u8(open);
                let close = if open == b'{' { b'}' } else { b']' };
                at = skip_whitespace(bytes, at + 1);
                if bytes.get(at) == Some(&close) {
                    buf.put_u8(close);
                    at += 1;
                } else {
                    let object = open == b'{';
                    stack.push(Container {
                        object,
                        constructor: object && value_of_constructor,
                    });
                    if object {
                        at = write_key(buf, bytes, at, &stack, &mut constructor, keys)?;
                    }
                    continue 'value;
                }
            }
            Some(b'"') => at = write_string(buf, bytes, at, None)?,
            Some(b't') => at = write_literal(buf, bytes, at, b"true")?,
            Some(b'f') => at = write_literal(buf, bytes, at, b"false")?,
            Some(b'n') => at = write_literal(buf, bytes, at, b"null")?,
            Some(b'-' | b'0'..=b'9') => at = write_number(buf, bytes, at)?,
            _ => return Err(InvalidJson::Syntax(at)),
        }
        // A value ended: close the containers it ends.
        loop {
            at = skip_whitespace(bytes, at);
            let Some(top) = stack.last().copied() else {
                break 'value;
            };
            match bytes.get(at).copied() {
                Some(b',') => {
                    buf.put_u8(b',');
                    at += 1;
                    if top.object {
                        at = write_key(buf, bytes, at, &stack, &mut constructor, keys)?;
                    }
                    continue 'value;
                }
                Some(b'}') if top.object => buf.put_u8(b'}'),
                Some(b']') if !top.object => buf.put_u8(b']'),
                _ => return Err(InvalidJson::Syntax(at)),
            }
            stack.pop();
            at += 1;
        }
    }
    if at == bytes.len() {
        Ok(())
    } else {
        Err(InvalidJson::Syntax(at))
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// Writes an object key and its colon; refuses `__proto__`, and
/// `prototype` in the value of a `constructor` key, whose own value it
/// flags in `constructor`.
fn write_key(
    buf: &mut BytesMut,
    bytes: &[u8],
    at: usize,
    stack: &[Container],
    constructor: &mut bool,
    keys: Keys,
) -> Result<usize, InvalidJson> {
    let at = skip_whitespace(bytes, at);
    if bytes.get(at) != Some(&b'"') {
        return Err(InvalidJson::Syntax(at));
    }
    let mut key = KeyName::default();
    let at = skip_whitespace(bytes, write_string(buf, bytes, at, Some(&mut key))?);
    if bytes.get(at) != Some(&b':') {
        return Err(InvalidJson::Syntax(at));
    }
    buf.put_u8(b':');
    if keys == Keys::Any {
        return Ok(at + 1);
    }
    match key.as_str() {
        Some("__proto__") => return Err(InvalidJson::Prototype),
        Some("prototype") if stack.last().is_some_and(|top| top.constructor) => {
            return Err(InvalidJson::Prototype)
        }
        Some("constructor") => *constructor = true,
        _ => {}
    }
    Ok(at + 1)
}

/// The decoded start of a key, enough to tell the few names that matter.
#[derive(Default)]
struct KeyName {
    chars: [u8; 11],
    len: usize,
    /// Longer than `chars`, or not ASCII.
    other: bool,
}

impl KeyName {
    fn push(&mut self, c: u32) {
        match u8::try_from(c) {
            Ok(c) if c.is_ascii() && self.len < self.chars.len() => {
                self.chars[self.len] = c;
                self.len += 1;
            }
            _ => self.other = true,
        }
    }

    fn as_str(&self) -> Option<&str> {
        if self.other {
            return None;
        }
        std::str::from_utf8(&self.chars[..self.len]).ok()
    }
}

/// Writes the string literal at `at` (its opening quote), with U+2028 and
/// U+2029 escaped, and returns the offset after it; decodes it into `key`
/// if given.
fn write_string(
    buf: &mut BytesMut,
    bytes: &[u8],
    at: usize,
    mut key: Option<&mut KeyName>,
) -> Result<usize, InvalidJson> {
    let mut start = at;
    let mut i = at + 1;
    loop {
        let Some(&b) = bytes.get(i) else {
            return Err(InvalidJson::Syntax(i));
        };
        match b {
            b'"' => break,
            b'\\' => {
                let decoded = match bytes.get(i + 1).copied() {
                    Some(c @ (b'"' | b'\\' | b'/')) => u32::from(c),
                    Some(b'b') => 0x08,
                    Some(b'f') => 0x0c,
                    Some(b'n') => 0x0a,
                    Some(b'r') => 0x0d,
                    Some(b't') => 0x09,
                    Some(b'u') => {
                        let unit = hex4(bytes, i + 2).ok_or(InvalidJson::Syntax(i))?;
                        i += 4;
                        match unit {
                            // A high surrogate: its low half must follow.
                            0xD800..=0xDBFF => {
                                let low = (bytes.get(i + 2..i + 4) == Some(&b"\\u"[..]))
                                    .then(|| hex4(bytes, i + 4))
                                    .flatten()
                                    .filter(|low| (0xDC00..=0xDFFF).contains(low))
                                    .ok_or(InvalidJson::Syntax(i))?;
                                i += 6;
                                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            }
                            0xDC00..=0xDFFF => return Err(InvalidJson::Syntax(i)),
                            unit => unit,
                        }
                    }
                    _ => return Err(InvalidJson::Syntax(i)),
                };
                if let Some(key) = key.as_deref_mut() {
                    key.push(decoded);
                }
                i += 2;
            }
            0..=0x1f => return Err(InvalidJson::Syntax(i)),
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                buf.put_slice(&bytes[start..i]);
                buf.put_slice(if bytes[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                if let Some(key) = key.as_deref_mut() {
                    key.push(0x2028);
                }
                i += 3;
                start = i;
            }
            _ => {
                if let Some(key) = key.as_deref_mut() {
                    // Count characters, not bytes: continuation bytes are
                    // part of a non-ASCII character already counted.
                    if b & 0xC0 != 0x80 {
                        key.push(u32::from(b));
                    }
                }
                i += 1;
            }
        }
    }
    buf.put_slice(&bytes[start..=i]);
    Ok(i + 1)
}

/// The four hex digits at `at`, as a UTF-16 code unit.
fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4)?.iter().try_fold(0, |unit, digit| {
        Some(unit * 16 + char::from(*digit).to_digit(16)?)
    })
}

fn write_literal(
    buf: &mut BytesMut,
    bytes: &[u8],
    at: usize,
    literal: &[u8],
) -> Result<usize, InvalidJson> {
    if bytes.get(at..at + literal.len()) != Some(literal) {
        return Err(InvalidJson::Syntax(at));
    }
    buf.put_slice(literal);
    Ok(at + literal.len())
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn write_number(buf: &mut BytesMut, bytes: &[u8], at: usize) -> Result<usize, InvalidJson> {
    let digits = |from: usize| {
        let mut end = from;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        end
    };
    let mut i = at;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i),
        _ => return Err(InvalidJson::Syntax(i)),
    }
    if bytes.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return Err(InvalidJson::Syntax(end));
        }
        i = end;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return Err(InvalidJson::Syntax(end));
        }
        i = end;
    }
    buf.put_slice(&bytes[at..i]);
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str, keys: Keys) -> Result<String, InvalidJson> {
        let mut buf = BytesMut::new();
        write_compact_json(&mut buf, text, keys).map(|()| String::from_utf8(buf.to_vec()).unwrap())
    }

    fn strict(text: &str) -> Result<String, InvalidJson> {
        json(text, Keys::NoPrototype)
    }

    #[test]
    fn values_are_compacted() {
        assert_eq!(
            strict(" {\r\n\"a\" : [ 1 , -0.5e+3 , true,false,null, \"\\u00e9\\n\" ] }\n").unwrap(),
            "{\"a\":[1,-0.5e+3,true,false,null,\"\\u00e9\\n\"]}"
        );
        assert_eq!(
            strict("\"x\u{2028}y\u{2029}\"").unwrap(),
            "\"x\\u2028y\\u2029\""
        );
        assert_eq!(strict("0").unwrap(), "0");
        assert_eq!(strict("[[],{}]").unwrap(), "[[],{}]");
        assert_eq!(strict("\"\\ud83d\\ude00\"").unwrap(), "\"\\ud83d\\ude00\"");
        for allowed in [
            "{\"constructor\":1,\"prototype\":2}",
            "{\"constructor\":{\"a\":{\"prototype\":2}}}",
            "{\"__proto_\":1,\"__proto__x\":2}",
        ] {
            assert_eq!(strict(allowed).unwrap(), allowed);
        }
    }

    #[test]
    fn invalid_json_is_refused() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "1 2",
            "\"a",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"a\nb\"",
            "\"tab\there\"",
            "tru",
            "nul",
            "True",
            "NaN",
            "[1]]",
            "{}}",
            "\u{feff}{}",
            "{\"a\":1]",
            "[1}",
            "'a'",
            // Lone surrogates, which strict parsers such as serde_json refuse.
            "\"\\udc00\"",
            "\"\\ud800\"",
            "\"\\ud800x\"",
            "\"\\udd80\\ud83e\"",
            "\"\\ud83d\\u0041\"",
        ] {
            assert!(
                matches!(json(bad, Keys::Any), Err(InvalidJson::Syntax(_))),
                "{bad:?} gave {:?}",
                json(bad, Keys::Any)
            );
            assert!(
                serde_json::from_str::<serde_json::Value>(bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prototype_keys_are_refused_when_asked() {
        for proto in [
            "{\"__proto__\":1}",
            "{\"\\u005f_proto__\":1}",
            "[{\"a\":{\"__proto__\":null}}]",
            "{\"constructor\":{\"prototype\":{}}}",
            "{\"constructor\":{\"x\":1,\"prot\\u006ftype\":1}}",
        ] {
            assert_eq!(strict(proto), Err(InvalidJson::Prototype), "{proto}");
            assert!(json(proto, Keys::Any).is_ok(), "{proto}");
        }
    }

    #[test]
    fn depth_is_limited_without_recursion() {
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(strict(&deep).unwrap(), deep);
        let deeper = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(strict(&deeper), Err(InvalidJson::TooDeep));
        // Hostile depth is refused, not a stack overflow.
        assert_eq!(
            strict(&"{\"a\":[".repeat(1_000_000)),
            Err(InvalidJson::TooDeep)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// On text made of JSON's own bytes, the check says yes exactly
        /// when serde_json reads the text, and the compact form reads as
        /// the same value.
        #[test]
        fn agrees_with_serde_json(
            text in "[{}\\[\\]\",: \n0-9.eE+\\-\\\\u/btfrnalsdDcC8\u{e9}\u{1}]{0,24}",
            object in "\\{(\"[a-z\\\\\"u0-9]{0,6}\": ?(-?[0-9.eE+]{1,4}|\"[a-z\\\\\"ud80c]{0,8}\"|true|null|\\[\\]|\\{\\}),? ?){0,3}\\}",
        ) {
            for text in [text.as_str(), object.as_str()] {
                let serde = serde_json::from_str::<serde_json::Value>(text);
                let ours = json(text, Keys::Any);
                proptest::prop_assert_eq!(ours.is_ok(), serde.is_ok(), "{:?}", text);
                if let (Ok(ours), Ok(serde)) = (ours, serde) {
                    let back: serde_json::Value = serde_json::from_str(&ours).unwrap();
                    proptest::prop_assert_eq!(back, serde);
                }
            }
        }
    }
}
