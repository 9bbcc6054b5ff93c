//! The byte-level SSE writers every frame goes through.
//!
//! Each writer appends whole lines to a `BytesMut`; each `*_len` function
//! returns exactly how many bytes the matching writer appends, so callers can
//! reserve once and then encode without reallocating.

use bytes::{BufMut, BytesMut};

/// The comment frame written as a heartbeat.
pub(crate) const HEARTBEAT: &[u8] = b": ping\n";

/// Splits `text` into lines at CR, LF and CRLF, the way the SSE parser will.
///
/// Always yields at least one line: `""` is one empty line, `"a\n"` is `"a"`
/// followed by `""`.
pub(crate) fn lines(text: &str) -> Lines<'_> {
    Lines {
        rest: Some(text.as_bytes()),
    }
}

#[derive(Debug)]
pub(crate) struct Lines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match find_line_break(rest) {
            Some(i) => {
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                self.rest = Some(&rest[i + skip..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// Position of the first CR or LF in `bytes`.
///
/// Checks sixteen bytes at a time for any byte below 0x0E (CR and LF are
/// 0x0D and 0x0A): one test per word instead of one per line break. A hit
/// (or a rare other byte below 0x0E, a tab or NUL) takes the exact test.
/// Model text is mostly long runs without a line break, so this is the
/// encoder's and the decoder's hot loop.
#[inline]
pub(crate) fn find_line_break(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let word = |chunk: &[u8]| {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    };
    // Every byte below 0x0E sets its high bit (and maybe a few above it),
    // so no CR or LF is ever missed.
    let low = |w: u64| w.wrapping_sub(LO * 0x0E) & !w & HI;
    // The high bit of each CR or LF; only bytes above the first can be
    // false positives, so the lowest bit is exact.
    let exact = |w: u64| {
        let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
        zero(w ^ (LO * u64::from(b'\r'))) | zero(w ^ (LO * u64::from(b'\n')))
    };
    let at = |found: u64| (found.trailing_zeros() / 8) as usize;

    // Sixteen bytes a round, then eight, then the rest.
    let mut offset = 0;
    while let Some(pair) = bytes.get(offset..offset + 16) {
        let (a, b) = (word(&pair[..8]), word(&pair[8..]));
        if low(a) | low(b) != 0 {
            if exact(a) != 0 {
                return Some(offset + at(exact(a)));
            }
            if exact(b) != 0 {
                return Some(offset + 8 + at(exact(b)));
            }
        }
        offset += 16;
    }
    if let Some(chunk) = bytes.get(offset..offset + 8) {
        let w = word(chunk);
        if exact(w) != 0 {
            return Some(offset + at(exact(w)));
        }
        offset += 8;
    }
    bytes[offset..]
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| offset + i)
}

/// Appends `text` as one `name: line` per line, so no line break in `text`
/// can end the field early.
#[inline]
pub(crate) fn write_field(buf: &mut BytesMut, name: &[u8], text: &str) {
    for line in lines(text) {
        buf.put_slice(name);
        if line.is_empty() {
            buf.put_slice(b":\n");
        } else {
            buf.put_slice(b": ");
            buf.put_slice(line);
            buf.put_u8(b'\n');
        }
    }
}

/// The number of bytes [`write_field`] appends.
#[inline]
pub(crate) fn field_len(name: &[u8], text: &str) -> usize {
    lines(text)
        .map(|line| name.len() + if line.is_empty() { 2 } else { 3 + line.len() })
        .sum()
}

/// Appends a complete event that carries only `data`.
#[inline]
pub(crate) fn write_data_event(buf: &mut BytesMut, data: &str) {
    write_field(buf, b"data", data);
    buf.put_u8(b'\n');
}

/// The number of bytes [`write_data_event`] appends.
#[inline]
pub(crate) fn data_event_len(data: &str) -> usize {
    field_len(b"data", data) + 1
}

/// Appends `value` as decimal digits.
pub(crate) fn write_decimal(buf: &mut BytesMut, mut value: u128) {
    let mut digits = [0u8; 39];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    buf.put_slice(&digits[start..]);
}

/// The number of digits [`write_decimal`] appends.
pub(crate) fn decimal_len(mut value: u128) -> usize {
    let mut len = 1;
    while value >= 10 {
        value /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str) -> String {
        let mut buf = BytesMut::new();
        write_field(&mut buf, b"data", text);
        assert_eq!(buf.len(), field_len(b"data", text), "length of {text:?}");
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[test]
    fn splits_on_every_line_break() {
        assert_eq!(field(""), "data:\n");
        assert_eq!(field("a"), "data: a\n");
        assert_eq!(field("\n"), "data:\ndata:\n");
        assert_eq!(field("\r\n"), "data:\ndata:\n");
        assert_eq!(field("\r"), "data:\ndata:\n");
        assert_eq!(field("\n\r"), "data:\ndata:\ndata:\n");
        assert_eq!(field("a\r\r\nb"), "data: a\ndata:\ndata: b\n");
        assert_eq!(field("a\n"), "data: a\ndata:\n");
        assert_eq!(field(" lead"), "data:  lead\n");
        assert_eq!(field("x\rid: 5"), "data: x\ndata: id: 5\n");
        assert_eq!(field("nul\0byte"), "data: nul\0byte\n");
    }

    #[test]
    fn finds_line_breaks_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for brk in [b'\r', b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = brk;
                    assert_eq!(find_line_break(&bytes), Some(at), "{len} {at}");
                }
            }
            assert_eq!(find_line_break(&vec![b'a'; len]), None);
            // bytes whose neighbours differ from CR/LF by one bit
            assert_eq!(find_line_break(&vec![0x0b; len]), None);
            assert_eq!(find_line_break(&vec![0x8d; len]), None);
            // other bytes below 0x0E, before a break in the same word or
            // with none at all
            for other in [b'\t', 0, 0x0c, 0x0e] {
                assert_eq!(find_line_break(&vec![other; len]), None);
                for at in 1..len {
                    let mut bytes = vec![other; len];
                    bytes[at] = b'\n';
                    assert_eq!(find_line_break(&bytes), Some(at), "{other} {len} {at}");
                }
            }
        }
    }

    #[test]
    fn decimal() {
        for v in [0u128, 9, 10, 99, 100, 3000, u64::MAX as u128, u128::MAX] {
            let mut buf = BytesMut::new();
            write_decimal(&mut buf, v);
            assert_eq!(&buf[..], v.to_string().as_bytes());
            assert_eq!(decimal_len(v), buf.len());
        }
    }
}
