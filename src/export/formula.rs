//! Spreadsheet formula injection ("CSV injection"): a CSV cell that starts like a formula is
//! run as one when the file is opened in a spreadsheet. OWASP's rule neutralises it: a text
//! cell that starts with `=`, `+`, `-`, `@`, tab or carriage return gets a single quote in
//! front, which spreadsheets read as "this is text". A number is left as it is (`-12.50`,
//! `+3`, `-5`): a spreadsheet reads it as a number, never as a formula, and money must stay
//! exact.
//!
//! The finance reports' CSV always applies it: people open those in a spreadsheet. The
//! machine exports apply it only with `--excel-safe`: programs read those, and want the text
//! exactly as it is.

use std::borrow::Cow;

/// What a formula (or, for tab and carriage return, what precedes one) may start with.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as it is safe to open in a spreadsheet: with a `'` in front when it starts with one
/// of `= + - @`, tab or carriage return and is not a number; unchanged otherwise.
pub(super) fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some(first) if TRIGGERS.contains(&first) && !is_number(cell) => {
            Cow::Owned(format!("'{cell}"))
        }
        _ => Cow::Borrowed(cell),
    }
}

/// A plain decimal number: an optional sign, digits with at most one `.` (at least one digit),
/// and an optional exponent (`e`, optional sign, digits). No spaces, separators or anything
/// else, so nothing that could carry a formula.
fn is_number(text: &str) -> bool {
    fn digits(s: &str) -> bool {
        s.bytes().all(|b| b.is_ascii_digit())
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    (!int.is_empty() || !frac.is_empty())
        && digits(int)
        && digits(frac)
        && exponent.is_none_or(|e| !e.is_empty() && digits(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_are_not() {
        let cases = [
            // Formulas and what spreadsheets take for them.
            ("=1+2", "'=1+2"),
            (
                "=HYPERLINK(\"https://x.example\",\"open\")",
                "'=HYPERLINK(\"https://x.example\",\"open\")",
            ),
            ("+1+2", "'+1+2"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("\t=1+2", "'\t=1+2"),
            ("\r=1+2", "'\r=1+2"),
            ("=", "'="),
            ("-", "'-"),
            ("+", "'+"),
            ("-.", "'-."),
            ("-1e", "'-1e"),
            ("-1,234.50", "'-1,234.50"),
            ("- 5", "'- 5"),
            ("-5 ", "'-5 "),
            ("-1.2.3", "'-1.2.3"),
            ("-inf", "'-inf"),
            ("+CN-7", "'+CN-7"),
            ("-12.50=1", "'-12.50=1"),
            // Numbers stay numbers: money, counts, days past due.
            ("-12.50", "-12.50"),
            ("+3", "+3"),
            ("-5", "-5"),
            ("-0.00", "-0.00"),
            ("-.5", "-.5"),
            ("-5.", "-5."),
            ("-1e5", "-1e5"),
            ("+2.5E-3", "+2.5E-3"),
            // Nothing to neutralise.
            ("", ""),
            ("12.50", "12.50"),
            ("2026-11-30", "2026-11-30"),
            ("INV-100001", "INV-100001"),
            ("a=1", "a=1"),
            ("'=1+2", "'=1+2"),
            ("[{\"line_number\":1}]", "[{\"line_number\":1}]"),
        ];
        for (cell, want) in cases {
            assert_eq!(neutralise(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn a_cell_left_as_it_is_is_not_copied() {
        assert!(matches!(neutralise("-12.50"), Cow::Borrowed(_)));
        assert!(matches!(neutralise("INV-1"), Cow::Borrowed(_)));
    }
}
