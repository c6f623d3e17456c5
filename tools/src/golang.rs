//! The few pieces of Go's standard library whose exact behaviour etcdctl's
//! output and error messages depend on: `strconv.ParseInt` (and its error
//! text), `strconv.Quote`/`Unquote`, `time.ParseDuration`,
//! `time.Duration.String`, `fmt`'s `%v` of a string slice and go-humanize's
//! `Bytes`. Pure functions, no I/O; only what etcqctl uses.

use std::time::Duration;

/// `strconv.ParseInt(s, base, 64)`, with Go's error text:
/// `strconv.ParseInt: parsing "x": invalid syntax` / `value out of range`.
/// Like Go with an explicit base: an optional sign, no `0x` prefix, no `_`.
pub fn parse_int(s: &str, base: u32) -> Result<i64, String> {
    use std::num::IntErrorKind;
    let fail = |what: &str| format!("strconv.ParseInt: parsing {}: {what}", quote(s.as_bytes()));
    // Rust accepts a lone sign as "invalid digit" and Go as "invalid
    // syntax": same outcome. Rust would accept "+-1"? No: one sign only.
    match i64::from_str_radix(s, base) {
        Ok(v) => Ok(v),
        Err(e) => match e.kind() {
            IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
                Err(fail("value out of range"))
            }
            _ => Err(fail("invalid syntax")),
        },
    }
}

/// `time.ParseDuration`: `"5s"`, `"1m30s"`, `"1.5h"`, `"300ms"`, `"0"`.
/// Negative durations are refused (no etcdctl flag wants one).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {}", quote(s.as_bytes()));
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(invalid());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let nanos_per_unit: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    quote(s.as_bytes())
                ))
            }
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(other.as_bytes()),
                    quote(s.as_bytes())
                ))
            }
        };
        total_nanos += value * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// `time.Duration.String()`: `"0s"`, `"850ns"`, `"1.5µs"`, `"1.234ms"`,
/// `"2.5s"`, `"1m30s"`, `"2h0m0s"`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    // Fraction of `v / 10^prec`, trailing zeros (and the dot) dropped.
    fn with_fraction(v: u128, prec: u32) -> String {
        let scale = 10u128.pow(prec);
        let (int, frac) = (v / scale, v % scale);
        if frac == 0 {
            return int.to_string();
        }
        let digits = format!("{frac:0width$}", width = prec as usize);
        format!("{int}.{}", digits.trim_end_matches('0'))
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", with_fraction(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", with_fraction(nanos, 6));
    }
    let seconds_total = nanos / 1_000_000_000;
    let frac_nanos = nanos % 1_000_000_000;
    let seconds = with_fraction((seconds_total % 60) * 1_000_000_000 + frac_nanos, 9);
    let minutes_total = seconds_total / 60;
    if minutes_total == 0 {
        return format!("{seconds}s");
    }
    let hours = minutes_total / 60;
    if hours == 0 {
        return format!("{}m{seconds}s", minutes_total % 60);
    }
    format!("{hours}h{}m{seconds}s", minutes_total % 60)
}

/// `strconv.Quote(string(bytes))`: double-quoted, Go escapes, invalid
/// UTF-8 bytes as `\xNN`.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if is_go_printable(c) => out.push(c),
                c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `strconv.IsPrint`: no controls, and no spaces
/// other than U+0020.
fn is_go_printable(c: char) -> bool {
    !c.is_control() && (c == ' ' || !c.is_whitespace())
}

/// Scans one Go-quoted string at the start of `input` (after optional
/// whitespace), as `fmt.Sscanf`'s `%q` does: `"..."` with Go escapes or a
/// raw `` `...` `` string. Returns the bytes and the unread rest.
pub fn scan_quoted(input: &str) -> Result<(Vec<u8>, &str), String> {
    let input = input.trim_start();
    let bytes = input.as_bytes();
    match bytes.first() {
        Some(b'`') => {
            let end = input[1..]
                .find('`')
                .ok_or_else(|| "unexpected EOF".to_string())?;
            Ok((input.as_bytes()[1..1 + end].to_vec(), &input[end + 2..]))
        }
        Some(b'"') => {
            // The closing quote is the first one not right after a backslash
            // (an escape protects exactly one character).
            let mut i = 1;
            loop {
                match bytes.get(i) {
                    None => return Err("unexpected EOF".to_string()),
                    Some(b'\\') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            let value = unquote(&input[1..i])?;
            Ok((value, &input[i + 1..]))
        }
        _ => Err("expected quoted string".to_string()),
    }
}

/// `strconv.Unquote` of the inside of a double-quoted Go string.
pub fn unquote(inner: &str) -> Result<Vec<u8>, String> {
    let syntax = || "invalid syntax".to_string();
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = chars
                .next()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(syntax)?;
            v = v * 16 + d;
        }
        Ok(v)
    };
    while let Some(c) = chars.next() {
        if c == '"' || c == '\n' {
            return Err(syntax());
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let escaped = chars.next().ok_or_else(syntax)?;
        match escaped {
            'a' => out.push(0x07),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(0x0b),
            '\\' => out.push(b'\\'),
            '"' => out.push(b'"'),
            'x' => out.push(u8::try_from(hex(&mut chars, 2)?).map_err(|_| syntax())?),
            'u' | 'U' => {
                let n = if escaped == 'u' { 4 } else { 8 };
                let c = char::from_u32(hex(&mut chars, n)?).ok_or_else(syntax)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let mut v = escaped.to_digit(8).ok_or_else(syntax)?;
                for _ in 0..2 {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or_else(syntax)?;
                    v = v * 8 + d;
                }
                out.push(u8::try_from(v).map_err(|_| syntax())?);
            }
            _ => return Err(syntax()),
        }
    }
    Ok(out)
}

/// `fmt.Sprintf("%v", []string{...})`: `[a b c]`.
pub fn format_string_slice<S: AsRef<str>>(items: &[S]) -> String {
    let joined: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", joined.join(" "))
}

/// go-humanize's `Bytes` (SI units): `"9 B"`, `"20 kB"`, `"1.2 MB"`.
pub fn humanize_bytes(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if size < 10 {
        return format!("{size} B");
    }
    let size_f = size as f64;
    let exponent = (size_f.ln() / 1000f64.ln()).floor();
    let unit = UNITS[(exponent as usize).min(UNITS.len() - 1)];
    let value = (size_f / 1000f64.powf(exponent) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_reports_like_strconv() {
        assert_eq!(parse_int("694d71ddacfda227", 16), Ok(0x694d71ddacfda227));
        assert_eq!(parse_int("-5", 10), Ok(-5));
        assert_eq!(
            parse_int("zz", 16),
            Err(r#"strconv.ParseInt: parsing "zz": invalid syntax"#.to_string())
        );
        assert_eq!(
            parse_int("", 10),
            Err(r#"strconv.ParseInt: parsing "": invalid syntax"#.to_string())
        );
        assert_eq!(
            parse_int("ffffffffffffffff", 16),
            Err(r#"strconv.ParseInt: parsing "ffffffffffffffff": value out of range"#.to_string())
        );
        assert!(
            parse_int("0x10", 16).is_err(),
            "no prefix with an explicit base"
        );
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(850), "850ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_nanos(1_234_567), "1.234567ms"),
            (Duration::from_millis(2), "2ms"),
            (Duration::from_millis(2_500), "2.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(7200), "2h0m0s"),
        ];
        for (d, want) in cases {
            assert_eq!(format_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn quote_escapes_like_strconv() {
        assert_eq!(quote(b"foo"), r#""foo""#);
        assert_eq!(quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote(b"\n\t\x00\x7f"), r#""\n\t\x00\x7f""#);
        assert_eq!(quote(b"\xff"), r#""\xff""#);
        assert_eq!(quote("héllo".as_bytes()), "\"héllo\"");
    }

    #[test]
    fn quoted_strings_scan_like_sscanf_q() {
        assert_eq!(
            scan_quoted(r#" "key1") > "0""#),
            Ok((b"key1".to_vec(), r#") > "0""#))
        );
        assert_eq!(scan_quoted(r#""a\"b""#), Ok((b"a\"b".to_vec(), "")));
        assert_eq!(
            scan_quoted(r#""\x00\xff\101\u00e9""#),
            Ok((b"\x00\xffA\xc3\xa9".to_vec(), ""))
        );
        assert_eq!(scan_quoted("`raw\\n`x"), Ok((b"raw\\n".to_vec(), "x")));
        assert!(scan_quoted(r#""unterminated"#).is_err());
        assert!(scan_quoted("bare").is_err());
        assert!(scan_quoted(r#""\q""#).is_err());
    }

    #[test]
    fn sizes_humanize_like_go_humanize() {
        assert_eq!(humanize_bytes(0), "0 B");
        assert_eq!(humanize_bytes(9), "9 B");
        assert_eq!(humanize_bytes(20_480), "20 kB");
        assert_eq!(humanize_bytes(25_000), "25 kB");
        assert_eq!(humanize_bytes(1_234_567), "1.2 MB");
    }

    #[test]
    fn string_slices_print_like_fmt_v() {
        assert_eq!(format_string_slice(&["k1", "k2"]), "[k1 k2]");
        assert_eq!(format_string_slice::<&str>(&[]), "[]");
    }
}
