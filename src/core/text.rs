//! Text as search reads it (issue 31's history search): words found by Unicode's word
//! boundaries (UAX #29; a colon separates, `Order:DH01…` is two words), each folded to the
//! one term every spelling of it shares.
//!
//! A general-purpose tokenizer that splits on every character which is not alphanumeric cuts
//! Indic words apart: the virama, the nukta, ZWJ and ZWNJ are marks, not letters, so हिन्दी
//! becomes `हिन` + `दी` and অর্ডার becomes `অর` + `ডার`. UAX #29 keeps a word's marks inside
//! it. Each word is then folded:
//!
//! - to its canonical decomposition (NFD), so that a precomposed letter (क़ U+0958, য় U+09DF,
//!   ো U+09CB) and its parts are one;
//! - in Latin and other cased scripts, to lower case without diacritics (`Café` → `cafe`);
//! - in Devanagari and Bengali, in the manner of Lucene's Indic, Hindi and Bengali normalisers:
//!   the joiners ZWJ and ZWNJ dropped; a nasal consonant with a virama before another
//!   consonant written as the anusvara (हिन्दी, हिंदी; বাঙ্লা, বাংলা); in Hindi the nukta
//!   dropped (ज़रूरत and जरूरत are one word as people type them) and a chandrabindu written as
//!   the anusvara it is typed as (माँ, मां); Bengali's khanda ta as ta with a virama (ৎ, ত্‍).
//!
//! Vowel length is kept: दिन (day) and दीन (poor) stay two words. A term is capped at
//! [`MAX_TERM_CHARS`] characters, counted as characters and never as bytes (a Hindi word of
//! 14 letters is 42 bytes of UTF-8).

mod roman;

pub use roman::sound_key;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// The longest term kept, in characters; a longer word is cut to it (never dropped).
pub const MAX_TERM_CHARS: usize = 64;

/// One word of a text: its term, and where it stands in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The folded word: what an index stores and a query is matched by.
    pub term: String,
    /// Its first byte in the text.
    pub from: usize,
    /// One past its last byte in the text.
    pub to: usize,
    /// Its place among the text's words, from 0.
    pub position: usize,
}

/// The words of `text`, folded, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    text.split_word_bound_indices()
        .flat_map(|(from, word)| colon_parts(from, word))
        .filter(|(_, word)| word.chars().any(char::is_alphanumeric))
        .enumerate()
        .map(|(position, (from, word))| Token {
            term: fold(word),
            from,
            to: from + word.len(),
            position,
        })
        .collect()
}

/// A word cut at its colons, with each part's first byte. UAX #29 keeps `a:b` one word (the
/// colon joins letters in Swedish, `S:t`); in what customers write it separates a label from
/// a value (`Order:DH0123456789`), which must be found on its own.
fn colon_parts(from: usize, word: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = from;
    word.split(':').map(move |part| {
        let start = at;
        at += part.len() + 1;
        (start, part)
    })
}

/// The term of one word: see the module's documentation.
pub fn fold(word: &str) -> String {
    let mut decomposed: Vec<char> = word.nfd().collect();
    indic(&mut decomposed);
    decomposed
        .into_iter()
        .filter(|&c| !is_latin_mark(c))
        .flat_map(char::to_lowercase)
        .take(MAX_TERM_CHARS)
        .collect::<String>()
        .nfc()
        .collect()
}

/// Combining diacritics, which Latin-script words lose (U+0300–U+036F).
fn is_latin_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';

/// The marks and letters the folding of one Indic script rewrites.
struct Script {
    virama: char,
    /// Dropped where people type a word with or without it (Hindi), kept where it makes
    /// another letter (Bengali's য় and ড়: NFD already makes their two encodings one).
    nukta: Option<char>,
    /// Written as the anusvara where people type the one for the other (Hindi).
    chandrabindu: Option<char>,
    anusvara: char,
    /// Nasal consonants a virama may follow before another consonant.
    nasals: &'static [char],
    /// The first and last consonant.
    consonants: (char, char),
}

const DEVANAGARI: Script = Script {
    virama: '\u{094D}',
    nukta: Some('\u{093C}'),
    chandrabindu: Some('\u{0901}'),
    anusvara: '\u{0902}',
    // ङ ञ ण न म
    nasals: &['\u{0919}', '\u{091E}', '\u{0923}', '\u{0928}', '\u{092E}'],
    consonants: ('\u{0915}', '\u{0939}'),
};

const BENGALI: Script = Script {
    virama: '\u{09CD}',
    nukta: None,
    // Bengali's chandrabindu marks nasal vowels, not a nasal consonant: kept.
    chandrabindu: None,
    anusvara: '\u{0982}',
    // ঙ ঞ ণ ন ম
    nasals: &['\u{0999}', '\u{099E}', '\u{09A3}', '\u{09A8}', '\u{09AE}'],
    consonants: ('\u{0995}', '\u{09B9}'),
};

/// Bengali's khanda ta, and the ta it is written with by older keyboards.
const KHANDA_TA: char = '\u{09CE}';
const BENGALI_TA: char = '\u{09A4}';

fn script_of(c: char) -> Option<&'static Script> {
    match c {
        '\u{0900}'..='\u{097F}' => Some(&DEVANAGARI),
        '\u{0980}'..='\u{09FF}' => Some(&BENGALI),
        _ => None,
    }
}

/// Folds the Devanagari and Bengali of a decomposed word in place.
fn indic(chars: &mut Vec<char>) {
    if !chars.iter().any(|&c| script_of(c).is_some()) {
        return;
    }
    chars.retain(|&c| c != ZWJ && c != ZWNJ);
    let mut folded = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let Some(script) = script_of(c) else {
            folded.push(c);
            i += 1;
            continue;
        };
        let next = chars.get(i + 1).copied();
        let after = chars.get(i + 2).copied();
        let is_consonant = |c: Option<char>| {
            c.is_some_and(|c| (script.consonants.0..=script.consonants.1).contains(&c))
        };
        if script.nukta == Some(c) {
            // Dropped.
        } else if c == KHANDA_TA {
            folded.extend([BENGALI_TA, BENGALI.virama]);
        } else if script.chandrabindu == Some(c) {
            folded.push(script.anusvara);
        } else if script.nasals.contains(&c) && next == Some(script.virama) && is_consonant(after) {
            folded.push(script.anusvara);
            i += 1;
        } else {
            folded.push(c);
        }
        i += 1;
    }
    *chars = folded;
}

/// The largest char boundary at or below `at` that is also a grapheme cluster's boundary in
/// `text`: where a snippet may be cut without splitting what a reader sees as one letter.
pub fn grapheme_floor(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    text.grapheme_indices(true)
        .map(|(i, _)| i)
        .take_while(|&i| i <= at)
        .last()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
