//! The text the rules read: the caller's text in Unicode NFC, with the region's digits, full-width forms,
//! odd spaces and dashes made ASCII and invisible characters dropped, and a map back to the caller's
//! character positions.
//!
//! Partners type on Khmer, Thai, Lao and Myanmar keyboards, paste from phones and office suites, and write
//! Vietnamese in composed or decomposed form; a phone number written `០១២ ៣៤៥ ៦៧៨` or `０９１２…` is the same
//! number as `012 345 678`. Patterns are written once, against ASCII digits, composed letters, plain
//! spaces and `-`.

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Blocks of decimal digits (the code point of zero) read as ASCII digits: Thai, Lao, Myanmar, Myanmar
/// Shan, Khmer, New Tai Lue, Tai Tham (Hora and Tham), Balinese, Sundanese, Javanese, Myanmar Tai Laing,
/// Cham, Arabic-Indic and Extended Arabic-Indic (Jawi), and full-width digits.
const DIGIT_ZEROS: [u32; 16] = [
    0x0E50, 0x0ED0, 0x1040, 0x1090, 0x17E0, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0xA9D0, 0xA9F0, 0xAA50, 0x0660,
    0x06F0, 0xFF10,
];

/// The normalised text and, for each of its characters, the position (in characters) of the caller's
/// character it came from.
#[derive(Debug)]
pub(crate) struct Normalised {
    pub text: String,
    /// `(byte offset in text, character position in the caller's text)`, one per character of `text`.
    origin: Vec<(usize, usize)>,
}

impl Normalised {
    /// The caller's character position of the normalised character starting at byte `offset`.
    pub fn original_position(&self, offset: usize) -> usize {
        match self.origin.binary_search_by_key(&offset, |&(byte, _)| byte) {
            Ok(i) => self.origin[i].1,
            // An offset inside a character, or the end of the text.
            Err(i) => self.origin.get(i).map_or_else(|| self.origin.last().map_or(0, |&(_, at)| at + 1), |o| o.1),
        }
    }
}

fn ascii_digit(c: char) -> Option<char> {
    let code = c as u32;
    DIGIT_ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&code))
        .and_then(|&zero| char::from_digit(code - zero, 10))
}

fn is_myanmar_digit(c: char) -> bool {
    ('\u{1040}'..='\u{1049}').contains(&c) || c.is_ascii_digit()
}

/// What one composed character becomes (possibly nothing, possibly two characters).
fn map_char(c: char, previous: Option<char>, next: Option<char>, out: &mut String) {
    match c {
        // Invisible: zero-width space and joiners (used between words of Khmer, Thai, Lao and Burmese),
        // word joiner, byte-order mark, soft hyphen.
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => {}
        // No-break, ideographic and other typographic spaces.
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => out.push(' '),
        // Hyphens, dashes and the minus sign.
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' => out.push('-'),
        // Myanmar letter WA is often typed for the digit zero inside numbers (`၀၉` as `ဝ၉`).
        '\u{101D}' if previous.is_some_and(is_myanmar_digit) || next.is_some_and(is_myanmar_digit) => out.push('0'),
        // Lao HO NO and HO MO are also written as two letters; the rules use the two-letter form.
        '\u{0EDC}' => out.push_str("\u{0EAB}\u{0E99}"),
        '\u{0EDD}' => out.push_str("\u{0EAB}\u{0EA1}"),
        // Full-width ASCII (`＠`, `０`, `Ａ`) becomes ASCII.
        '\u{FF01}'..='\u{FF5E}' => {
            out.push(ascii_digit(c).unwrap_or_else(|| char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)))
        }
        _ => out.push(ascii_digit(c).unwrap_or(c)),
    }
}

/// Normalises `text` (see the module documentation).
pub(crate) fn normalise(text: &str) -> Normalised {
    // Compose per segment (a starter that cannot combine with what precedes it, and what follows it), so
    // that every composed character is traced back to where its segment started.
    let mut composed: Vec<(char, usize)> = Vec::with_capacity(text.len());
    let mut segment = String::new();
    let mut segment_start = 0;
    for (position, c) in text.chars().enumerate() {
        let starts_segment = canonical_combining_class(c) == 0 && is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes;
        if starts_segment && !segment.is_empty() {
            composed.extend(segment.nfc().map(|c| (c, segment_start)));
            segment.clear();
        }
        if segment.is_empty() {
            segment_start = position;
        }
        segment.push(c);
    }
    composed.extend(segment.nfc().map(|c| (c, segment_start)));

    let mut normalised =
        Normalised { text: String::with_capacity(text.len()), origin: Vec::with_capacity(composed.len()) };
    for (i, &(c, position)) in composed.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| composed[p].0);
        let next = composed.get(i + 1).map(|n| n.0);
        let before = normalised.text.len();
        map_char(c, previous, next, &mut normalised.text);
        for (offset, _) in normalised.text[before..].char_indices() {
            normalised.origin.push((before + offset, position));
        }
    }
    normalised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regions_digits_become_ascii() {
        assert_eq!(normalise("០១២ ៣៤៥ ៦៧៨").text, "012 345 678");
        assert_eq!(normalise("๐๘๑-๒๓๔-๕๖๗๘").text, "081-234-5678");
        assert_eq!(normalise("໐໒໐ ໕໕໕໕").text, "020 5555");
        assert_eq!(normalise("၀၉ ၄၅၆").text, "09 456");
        assert_eq!(normalise("ဝ၉ ၄၅၆").text, "09 456", "WA typed for zero");
        assert_eq!(normalise("０９１２ ３４５").text, "0912 345");
        assert_eq!(normalise("dara＠mail．com").text, "dara@mail.com");
    }

    #[test]
    fn invisible_and_typographic_characters_are_plain() {
        assert_eq!(normalise("ឈ្មោះ\u{200B}សុខា").text, "ឈ្មោះសុខា");
        assert_eq!(normalise("012\u{00A0}345\u{2013}678").text, "012 345-678");
    }

    #[test]
    fn decomposed_vietnamese_is_composed_and_positions_stay_the_callers() {
        let decomposed = "Chi\u{0323} Lan"; // "Chị Lan" typed with a combining dot below
        let n = normalise(decomposed);
        assert_eq!(n.text, "Chị Lan");
        let lan = n.text.find("Lan").unwrap();
        assert_eq!(n.original_position(lan), 5, "L is the caller's sixth character");
    }

    #[test]
    fn removed_and_expanded_characters_keep_the_map() {
        let n = normalise("\u{200B}ໜ 5");
        assert_eq!(n.text, "ຫນ 5");
        assert_eq!(n.original_position(n.text.find('5').unwrap()), 3);
        assert_eq!(n.original_position(0), 1);
    }
}
