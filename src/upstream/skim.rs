//! Skimming JSON in one pass: a parser visits the members of an object
//! and the items of an array, reads the few leaves it needs (strings,
//! integers) and leaves the rest, which is skipped without building values.
//!
//! Provider chunks are mostly fields a parser ignores (ids, model names,
//! fingerprints, whole response objects); skipping them costs a scan for
//! the closing quote or bracket, eight bytes at a time, instead of a full
//! parse, and what a parser visits in place is scanned once. The structure
//! of what is visited
//! is checked (strings closed, brackets balanced, commas and colons in
//! place, nothing after the value), so a cut or garbled event is an error;
//! inside a value skipped whole only closed strings and balanced brackets
//! are checked, and the spelling of numbers and literals only where one is
//! read.

use std::borrow::Cow;

use super::UpstreamError;

type Result<T> = std::result::Result<T, UpstreamError>;

fn malformed(reason: &'static str) -> UpstreamError {
    UpstreamError::malformed(reason)
}

/// Visits the members of the object `json` (whitespace around it allowed):
/// `visit(key, value)` for each, in order. A value `visit` does not read
/// is skipped.
pub(crate) fn object<'a, F>(json: &'a str, visit: F) -> Result<()>
where
    F: FnMut(&str, &mut Value<'a, '_>) -> Result<()>,
{
    let mut cursor = Cursor::new(json);
    cursor.skip_space();
    cursor.expect(b'{', "expected an object")?;
    members(&mut cursor, visit)?;
    cursor.skip_space();
    if !cursor.at_end() {
        return Err(malformed("text after the JSON value"));
    }
    Ok(())
}

/// Reads the raw value `json` (from [`Value::raw`]) with `read`, e.g.
/// `skim::read(raw, |value| value.string())`.
pub(crate) fn read<'a, T, F>(json: &'a str, read: F) -> Result<T>
where
    F: FnOnce(&mut Value<'a, '_>) -> Result<T>,
{
    let mut cursor = Cursor::new(json);
    cursor.skip_space();
    let mut value = Value {
        cursor: &mut cursor,
        read: false,
    };
    let result = read(&mut value)?;
    if !value.read {
        cursor.value()?;
    }
    cursor.skip_space();
    if !cursor.at_end() {
        return Err(malformed("text after the JSON value"));
    }
    Ok(result)
}

/// The members of the object whose `{` is just behind the cursor, up to
/// and including its `}`.
fn members<'a, F>(cursor: &mut Cursor<'a>, mut visit: F) -> Result<()>
where
    F: FnMut(&str, &mut Value<'a, '_>) -> Result<()>,
{
    cursor.skip_space();
    if cursor.eat(b'}') {
        return Ok(());
    }
    loop {
        let key_start = cursor.pos;
        cursor.expect(b'"', "expected a member name")?;
        let (key_end, escaped) = cursor.skip_string()?;
        let key = if escaped {
            unescape(&cursor.text[key_start..key_end])?
        } else {
            Cow::Borrowed(&cursor.text[key_start + 1..key_end - 1])
        };
        cursor.skip_space();
        cursor.expect(b':', "expected a colon after a member name")?;
        cursor.skip_space();
        let mut value = Value {
            cursor: &mut *cursor,
            read: false,
        };
        visit(&key, &mut value)?;
        if !value.read {
            cursor.value()?;
        }
        cursor.skip_space();
        if cursor.eat(b',') {
            cursor.skip_space();
            continue;
        }
        cursor.expect(b'}', "expected a comma or the end of an object")?;
        return Ok(());
    }
}

/// One value of an object or array, at the cursor, for a visitor to read
/// once (or to leave, and have it skipped).
#[derive(Debug)]
pub(crate) struct Value<'a, 'c> {
    cursor: &'c mut Cursor<'a>,
    read: bool,
}

impl<'a> Value<'a, '_> {
    /// Whether the value is `null`.
    pub(crate) fn is_null(&self) -> bool {
        let rest = &self.cursor.bytes()[self.cursor.pos..];
        rest.starts_with(b"null") && rest.get(4).map_or(true, |&b| ends_literal(b))
    }

    /// The value's raw JSON text.
    pub(crate) fn raw(&mut self) -> Result<&'a str> {
        self.read = true;
        self.cursor.value()
    }

    /// The string value, unescaped; `None` for `null`.
    pub(crate) fn string(&mut self) -> Result<Option<Cow<'a, str>>> {
        self.read = true;
        let start = self.cursor.pos;
        if !self.cursor.eat(b'"') {
            return match self.cursor.value()? {
                "null" => Ok(None),
                _ => Err(malformed("expected a string")),
            };
        }
        let (end, escaped) = self.cursor.skip_string()?;
        let raw = &self.cursor.text[start..end];
        if escaped {
            unescape(raw).map(Some)
        } else {
            Ok(Some(Cow::Borrowed(&raw[1..raw.len() - 1])))
        }
    }

    /// The unsigned integer value; `None` for `null`.
    pub(crate) fn integer(&mut self) -> Result<Option<u64>> {
        match self.raw()? {
            "null" => Ok(None),
            raw if raw.bytes().all(|b| b.is_ascii_digit()) => raw
                .parse()
                .map(Some)
                .map_err(|_| malformed("an integer too large")),
            _ => Err(malformed("expected an unsigned integer")),
        }
    }

    /// Visits the members of the object value, as [`object`]; nothing for
    /// `null`.
    pub(crate) fn object<F>(&mut self, visit: F) -> Result<()>
    where
        F: FnMut(&str, &mut Value<'a, '_>) -> Result<()>,
    {
        self.read = true;
        if self.cursor.eat(b'{') {
            return members(self.cursor, visit);
        }
        match self.cursor.value()? {
            "null" => Ok(()),
            _ => Err(malformed("expected an object")),
        }
    }

    /// Visits the items of the array value, in order; nothing for `null`.
    #[cfg_attr(not(feature = "openai"), allow(dead_code))]
    pub(crate) fn array<F>(&mut self, mut visit: F) -> Result<()>
    where
        F: FnMut(&mut Value<'a, '_>) -> Result<()>,
    {
        self.read = true;
        let cursor = &mut *self.cursor;
        if !cursor.eat(b'[') {
            return match cursor.value()? {
                "null" => Ok(()),
                _ => Err(malformed("expected an array")),
            };
        }
        cursor.skip_space();
        if cursor.eat(b']') {
            return Ok(());
        }
        loop {
            let mut item = Value {
                cursor: &mut *cursor,
                read: false,
            };
            visit(&mut item)?;
            if !item.read {
                cursor.value()?;
            }
            cursor.skip_space();
            if cursor.eat(b',') {
                cursor.skip_space();
                continue;
            }
            cursor.expect(b']', "expected a comma or the end of an array")?;
            return Ok(());
        }
    }
}

/// The JSON string `raw` (quotes included) with its escapes replaced.
fn unescape(raw: &str) -> Result<Cow<'_, str>> {
    serde_json::from_str::<String>(raw)
        .map(Cow::Owned)
        .map_err(|_| malformed("a string with an invalid escape"))
}

#[derive(Debug)]
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    #[inline(always)]
    fn skip_space(&mut self) {
        // Compact JSON has none: one comparison.
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes().get(self.pos) == Some(&byte);
        self.pos += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<()> {
        if self.bytes().get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(malformed(what))
        }
    }

    /// The raw text of the value at the cursor, which moves past it.
    /// The cursor is at the value's first byte; whitespace after it is
    /// left to the caller.
    fn value(&mut self) -> Result<&'a str> {
        let start = self.pos;
        let end = match self.bytes().get(start) {
            None => return Err(malformed("expected a value")),
            Some(b'"') => {
                self.pos += 1;
                self.skip_string()?.0
            }
            Some(b'{') => {
                self.pos += 1;
                self.skip_container(b'}')?
            }
            Some(b'[') => {
                self.pos += 1;
                self.skip_container(b']')?
            }
            Some(_) => {
                let rest = &self.bytes()[start..];
                // A number or literal ends at a delimiter or whitespace.
                let len = rest
                    .iter()
                    .position(|&b| ends_literal(b))
                    .unwrap_or(rest.len());
                let literal = &rest[..len];
                let number = literal
                    .iter()
                    .all(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
                let valid = matches!(literal, b"true" | b"false" | b"null")
                    || (number && matches!(literal.first(), Some(b'-' | b'0'..=b'9')));
                if !valid {
                    return Err(malformed("expected a value"));
                }
                start + len
            }
        };
        self.pos = end;
        Ok(&self.text[start..end])
    }

    /// Moves past the string whose opening quote is just behind the
    /// cursor; returns the position after its closing quote, and whether
    /// the string holds an escape.
    #[inline(always)]
    fn skip_string(&mut self) -> Result<(usize, bool)> {
        let bytes = self.bytes();
        let mut pos = self.pos;
        let mut escaped = false;
        loop {
            pos = find(bytes, pos, special).ok_or_else(|| malformed("a string is not closed"))?;
            match bytes[pos] {
                b'"' => {
                    self.pos = pos + 1;
                    return Ok((pos + 1, escaped));
                }
                b'\\' if pos + 1 < bytes.len() => {
                    escaped = true;
                    pos += 2;
                }
                b'\\' => return Err(malformed("a string is not closed")),
                _ => return Err(malformed("a control character in a string")),
            }
        }
    }

    /// Moves past the object or array whose opening bracket is just behind
    /// the cursor; returns the position after its closing bracket.
    fn skip_container(&mut self, close: u8) -> Result<usize> {
        // One bit per open level, innermost lowest: set for an object.
        let mut levels: u128 = u128::from(close == b'}');
        let mut depth = 1u32;
        let bytes = self.bytes();
        while let Some(at) = find(bytes, self.pos, structural) {
            let byte = bytes[at];
            self.pos = at + 1;
            match byte {
                b'"' => {
                    self.skip_string()?;
                }
                b'{' | b'[' => {
                    if depth == 128 {
                        return Err(malformed("nested more than 128 levels deep"));
                    }
                    levels = levels << 1 | u128::from(byte == b'{');
                    depth += 1;
                }
                _ => {
                    if (levels & 1 == 1) != (byte == b'}') {
                        return Err(malformed("mismatched brackets"));
                    }
                    levels >>= 1;
                    depth -= 1;
                    if depth == 0 {
                        return Ok(self.pos);
                    }
                }
            }
        }
        self.pos = bytes.len();
        Err(malformed("an object or array is not closed"))
    }
}

/// Whether `byte` ends a number or literal: a delimiter or whitespace.
fn ends_literal(byte: u8) -> bool {
    matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is zero; only bytes above the
/// first zero byte can be false positives.
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LO) & !word & HI
}

/// Marks `"`, `\` and control characters: where a string's scan stops.
#[inline(always)]
fn special(word: u64) -> u64 {
    let below_space = word.wrapping_sub(LO * 0x20) & !word & HI;
    zero_bytes(word ^ (LO * u64::from(b'"')))
        | zero_bytes(word ^ (LO * u64::from(b'\\')))
        | below_space
}

/// Marks `"`, `{`, `}`, `[` and `]`: where a container's scan stops.
#[inline(always)]
fn structural(word: u64) -> u64 {
    // `[` and `]` are `{` and `}` without the 0x20 bit.
    let folded = word | (LO * 0x20);
    zero_bytes(word ^ (LO * u64::from(b'"')))
        | zero_bytes(folded ^ (LO * u64::from(b'{')))
        | zero_bytes(folded ^ (LO * u64::from(b'}')))
}

/// The position of the first byte at or after `from` that `marks` marks,
/// eight bytes at a time.
#[inline(always)]
fn find(bytes: &[u8], from: usize, marks: fn(u64) -> u64) -> Option<usize> {
    let mut pos = from;
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let found = marks(u64::from_le_bytes(word));
        if found != 0 {
            return Some(pos + (found.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    let mut tail = [b'a'; 8];
    let rest = bytes.get(pos..)?;
    tail[..rest.len()].copy_from_slice(rest);
    let found = marks(u64::from_le_bytes(tail));
    let at = (found.trailing_zeros() / 8) as usize;
    (found != 0 && at < rest.len()).then_some(pos + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every member's key and raw value.
    fn members(json: &str) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        object(json, |key, value| {
            found.push((key.to_owned(), value.raw()?.to_owned()));
            Ok(())
        })?;
        Ok(found)
    }

    #[test]
    fn members_in_order_with_raw_values() {
        let got = members(r#" { "a" : 1 , "b\"c":"x\\\"y", "d":[1,{"e":"]"}],"f":{"g":null} } "#)
            .unwrap();
        assert_eq!(
            got,
            [
                ("a".into(), "1".into()),
                ("b\"c".into(), r#""x\\\"y""#.into()),
                ("d".into(), r#"[1,{"e":"]"}]"#.into()),
                ("f".into(), r#"{"g":null}"#.into()),
            ]
        );
        assert_eq!(members("{}").unwrap(), []);
    }

    #[test]
    fn unread_values_are_skipped() {
        let mut texts = Vec::new();
        let json = r#"{"skip":{"x":[1,"}",{"y":"\""}]},"take":{"a":"A","b":[{"c":"C"}]},"n":null}"#;
        object(json, |key, value| {
            if key == "take" {
                value.object(|key, value| {
                    match key {
                        "a" => texts.push(value.string()?.unwrap().into_owned()),
                        _ => value.array(|item| {
                            item.object(|_, value| {
                                texts.push(value.string()?.unwrap().into_owned());
                                Ok(())
                            })
                        })?,
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(texts, ["A", "C"]);
    }

    #[test]
    fn structure_is_checked() {
        for bad in [
            r#"{"a":1"#,
            r#"{"a":"x}"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":[1}"#,
            r#"{"a":1} x"#,
            r#"["a"]"#,
            "{\"a\":\"tab\tinside\"}",
            r#"{"a":}"#,
            r#"{,"a":1}"#,
            r#"{"a":[{"b":1]}}"#,
            r#"{"a":1,}"#,
            r#"{"a":x"}"#,
            r#"{"a"::1}"#,
            r#"{"a":1"b":"z"}"#,
            r#"{"a":nul}"#,
            r#"{"a":+1}"#,
        ] {
            assert!(members(bad).is_err(), "{bad}");
        }
    }

    fn leaf<T>(json: &str, read: impl Fn(&mut Value<'_, '_>) -> Result<T>) -> Result<T> {
        let mut got = None;
        object(&format!(r#"{{"v":{json}}}"#), |_, value| {
            got = Some(read(value)?);
            Ok(())
        })?;
        Ok(got.unwrap())
    }

    #[test]
    fn leaves() {
        assert_eq!(
            leaf(r#""plain""#, |v| Ok(v.string()?.unwrap().into_owned())).unwrap(),
            "plain"
        );
        assert_eq!(
            leaf(r#""a\nb\u00e9\ud83e\udd80""#, |v| Ok(v
                .string()?
                .unwrap()
                .into_owned()))
            .unwrap(),
            "a\nb\u{e9}🦀"
        );
        assert!(leaf("null", |v| Ok(v.string()?.is_none())).unwrap());
        assert!(leaf("12", |v| v.string().map(|_| ())).is_err());
        assert!(leaf(r#""bad \x""#, |v| v.string().map(|_| ())).is_err());
        assert_eq!(leaf("42", |v| v.integer()).unwrap(), Some(42));
        assert_eq!(leaf("null", |v| v.integer()).unwrap(), None);
        assert!(leaf("-1", |v| v.integer()).is_err());
        assert!(leaf("1.5", |v| v.integer()).is_err());
        assert!(leaf("99999999999999999999", |v| v.integer()).is_err());
        assert!(leaf("null", |v| Ok(v.is_null())).unwrap());
        assert!(leaf("[null]", |v| Ok(!v.is_null())).unwrap());
        let items = leaf(r#"[ 1, "two" ,{"3":[]} ]"#, |v| {
            let mut items = Vec::new();
            v.array(|item| {
                items.push(item.raw()?.to_owned());
                Ok(())
            })?;
            Ok(items)
        })
        .unwrap();
        assert_eq!(items, ["1", r#""two""#, r#"{"3":[]}"#]);
        assert!(leaf("null", |v| v.array(|_| panic!("no items"))).is_ok());
        assert!(leaf("[1 2]", |v| v.array(|_| Ok(()))).is_err());
        assert!(leaf("[1,]", |v| v.array(|_| Ok(()))).is_err());
    }

    #[test]
    fn special_bytes_anywhere_in_a_word() {
        for len in 0..20 {
            for at in 0..len {
                for byte in [b'"', b'\\', b'\n', 0u8] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    assert_eq!(find(&bytes, 0, special), Some(at), "{len} {at} {byte}");
                }
            }
            assert_eq!(find(&vec![b'a'; len], 0, special), None);
            let non_ascii = vec![0xC3; len];
            assert_eq!(
                find(&non_ascii, 0, special),
                None,
                "non-ASCII is not special"
            );
            for mark in *b"\"{}[]" {
                let mut bytes = vec![b'a'; len + 1];
                bytes[len] = mark;
                assert_eq!(find(&bytes, 0, structural), Some(len));
                assert_eq!(find(&bytes, len, structural), Some(len));
            }
            assert_eq!(find(&vec![b'z'; len], 0, structural), None);
        }
    }

    mod differential {
        use proptest::prelude::*;
        use serde_json::{Map, Value as Json};

        use super::super::{object, Value};

        fn json() -> impl Strategy<Value = Json> {
            let leaf = prop_oneof![
                Just(Json::Null),
                any::<bool>().prop_map(Json::Bool),
                any::<u64>().prop_map(Json::from),
                any::<i32>().prop_map(Json::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Json::from),
                // Quotes, backslashes, control characters, non-ASCII.
                "[a-z\"\\\\\n\t\u{0}\u{1f}é🦀 ]{0,12}".prop_map(Json::String),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
                    proptest::collection::btree_map("[a-z\"\\\\é]{0,6}", inner, 0..5)
                        .prop_map(|m| Json::Object(m.into_iter().collect::<Map<_, _>>())),
                ]
            })
        }

        fn read_all(value: &mut Value<'_, '_>, expected: &Json) -> Result<(), String> {
            match expected {
                Json::String(text) => {
                    let got = value.string().map_err(|e| e.to_string())?;
                    if got.as_deref() != Some(text.as_str()) {
                        return Err(format!("string {got:?} != {text:?}"));
                    }
                }
                Json::Object(map) => {
                    let mut seen = Vec::new();
                    value
                        .object(|key, value| {
                            seen.push(key.to_owned());
                            let want = map.get(key).expect("a key of the map");
                            read_all(value, want).map_err(crate::upstream::UpstreamError::malformed)
                        })
                        .map_err(|e| e.to_string())?;
                    if seen.len() != map.len() {
                        return Err(format!("visited {seen:?} of {map:?}"));
                    }
                }
                Json::Array(items) => {
                    let mut at = 0;
                    value
                        .array(|value| {
                            let want = &items[at];
                            at += 1;
                            read_all(value, want).map_err(crate::upstream::UpstreamError::malformed)
                        })
                        .map_err(|e| e.to_string())?;
                    if at != items.len() {
                        return Err(format!("visited {at} of {} items", items.len()));
                    }
                }
                // Numbers and literals: the text serde_json wrote.
                other => {
                    let raw = value.raw().map_err(|e| e.to_string())?;
                    let written = other.to_string();
                    if raw != written {
                        return Err(format!("raw {raw} != {written}"));
                    }
                }
            }
            Ok(())
        }

        proptest! {
            /// Whatever serde_json writes (compact or pretty), the skim
            /// visits every member and item and reads every leaf as
            /// serde_json does, and skips any of them whole.
            #[test]
            fn skims_what_serde_json_writes(
                members in proptest::collection::btree_map("[a-z\"é]{0,6}", json(), 0..6),
                pretty in any::<bool>(),
            ) {
                let document = Json::Object(members.into_iter().collect());
                let text = if pretty {
                    serde_json::to_string_pretty(&document).unwrap()
                } else {
                    serde_json::to_string(&document).unwrap()
                };
                let Json::Object(map) = &document else { unreachable!() };
                let mut raw = Vec::new();
                let result = object(&text, |key, value| {
                    let want = &map[key];
                    read_all(value, want).map_err(crate::upstream::UpstreamError::malformed)?;
                    raw.push(key.to_owned());
                    Ok(())
                });
                prop_assert!(result.is_ok(), "{result:?} for {text}");
                prop_assert_eq!(raw.len(), map.len());
                // Skipping everything is fine too.
                prop_assert!(object(&text, |_, _| Ok(())).is_ok());
            }

            /// Cut anywhere, a document is an error, never a panic.
            #[test]
            fn cut_documents_are_errors(
                members in proptest::collection::btree_map("[a-z]{1,4}", json(), 1..5),
                cut in any::<proptest::sample::Index>(),
            ) {
                let text = serde_json::to_string(&Json::Object(members.into_iter().collect())).unwrap();
                let mut at = cut.index(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let cut_text = &text[..at];
                let result = object(cut_text, |_, value| value.raw().map(|_| ()));
                prop_assert!(result.is_err(), "{cut_text:?} was accepted");
            }
        }
    }
}
