//! Romanised Hindi and Bengali, as customers type them in Latin letters ("order nahi aaya"),
//! matched to the same words in their own scripts (ऑर्डर नहीं आया): both are reduced to one
//! sound key, a skeleton of consonant classes, as Soundex reduces English names.
//!
//! The key keeps what romanisations agree on and drops what they do not:
//!
//! - vowels, but for a word's first sound (any vowel there is `a`): "aaya", "aya" and आया
//!   are `ay`; vowel length, the inherent vowel and its deletion never count;
//! - aspiration and the retroflex/dental contrast: ख, "kh" and "k" are `k`; ट, त, "t", "th"
//!   are `t`; श, ष, स, "sh", "s" are `s`;
//! - the letters romanisations swap: `v`/`w`/`b` (व, ব), `f`/`ph`/`p` (फ, ফ), `z`/`j`
//!   (ज़, জ), `q`/`k`, `c`/`k`;
//! - doubled consonants, as one (रद्द, "radd", "rad");
//! - a word's final nasal (नहीं, "nahi", "nahin"; कहाँ, "kahan"; দোকান, "dokan").
//!
//! In Bengali, the consonants a virama joins to য as gemination lose the য (ধন্যবাদ,
//! "dhonnobad"), ক্ষ is `k` ("khoma"), and ড় ঢ় are `r` ("boro"); Hindi keeps `y`
//! ("dhanyavad") and `ks` ("kshama"), and its ड़ ढ़ are `d` ("ladki", "padhai").
//!
//! Keys are for a second field beside the terms: a query in a native script never reads them,
//! so it loses no precision to them.

use unicode_normalization::UnicodeNormalization;

use super::is_latin_mark;

/// The sound key of one word, in Latin, Devanagari or Bengali; `None` for a word of another
/// script, or one with no consonant to key on.
pub fn sound_key(word: &str) -> Option<String> {
    let decomposed: Vec<char> = word.nfd().flat_map(char::to_lowercase).collect();
    let classes = if decomposed
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || is_latin_mark(*c))
    {
        latin(&decomposed)
    } else if decomposed.iter().all(|&c| script(c).is_some()) {
        native(&decomposed)
    } else {
        return None;
    };
    finish(classes)
}

/// What one sound is in a key: a consonant class, a vowel, or a final nasal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sound {
    Consonant(char),
    Vowel,
    /// A nasal mark (anusvara, chandrabindu) or `n`/`m`: dropped at a word's end.
    Nasal(char),
}

fn latin(chars: &[char]) -> Vec<Sound> {
    let letters: Vec<char> = chars
        .iter()
        .copied()
        .filter(|c| !is_latin_mark(*c))
        .collect();
    let mut sounds = Vec::new();
    let mut i = 0;
    while i < letters.len() {
        let c = letters[i];
        let next = letters.get(i + 1).copied();
        // An `h` after a consonant is aspiration ("kh", "bh") or a digraph ("sh", "ch").
        if next == Some('h') && !is_vowel(c) && c != 'h' {
            sounds.push(Sound::Consonant(latin_class(c)));
            i += 2;
            continue;
        }
        let previous = i.checked_sub(1).map(|p| letters[p]);
        // "ng" is one nasal, as ঙ and the anusvara are (বাংলা, "bangla").
        if c == 'n' && next == Some('g') {
            sounds.push(Sound::Nasal('n'));
            i += 2;
            continue;
        }
        match c {
            'a' | 'e' | 'i' | 'o' | 'u' => sounds.push(Sound::Vowel),
            // A final "y" after a consonant, and "iy", are the vowel i ("delivery", "chahiye").
            'y' if (next.is_none() && previous.is_some_and(|p| !is_vowel(p)))
                || previous == Some('i') =>
            {
                sounds.push(Sound::Vowel)
            }
            // A soft "c" is `s` ("parcel", "cancel").
            'c' if matches!(next, Some('e' | 'i' | 'y')) => sounds.push(Sound::Consonant('s')),
            'n' | 'm' => sounds.push(Sound::Nasal(c)),
            'x' => sounds.extend([Sound::Consonant('k'), Sound::Consonant('s')]),
            c => sounds.push(Sound::Consonant(latin_class(c))),
        }
        i += 1;
    }
    sounds
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

fn latin_class(c: char) -> char {
    match c {
        'w' | 'v' => 'b',
        'f' => 'p',
        'z' => 'j',
        'q' | 'c' => 'k',
        c => c,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Devanagari,
    Bengali,
}

fn script(c: char) -> Option<Script> {
    match c {
        '\u{0900}'..='\u{097F}' => Some(Script::Devanagari),
        '\u{0980}'..='\u{09FF}' => Some(Script::Bengali),
        '\u{200C}' | '\u{200D}' => Some(Script::Devanagari),
        _ => None,
    }
}

/// The consonant classes of Devanagari and Bengali, in their shared order from ka (U+x15)
/// to ha (U+x39): each script's block puts its consonants at the same offsets.
const CONSONANTS: [char; 37] = [
    'k', 'k', 'g', 'g', 'n', // ka kha ga gha nga
    'k', 'k', 'j', 'j', 'n', // ca cha ja jha nya (c is k's class: "chai", "cai")
    't', 't', 'd', 'd', 'n', // tta ttha dda ddha nna
    't', 't', 'd', 'd', 'n', // ta tha da dha na
    'n', // nnna
    'p', 'p', 'b', 'b', 'm', // pa pha ba bha ma
    'y', 'r', 'r', 'l', 'l', 'l', 'b', // ya ra rra la lla llla va
    's', 's', 's', 'h', // sha ssa sa ha
];

fn native(chars: &[char]) -> Vec<Sound> {
    let bengali = chars.iter().any(|&c| script(c) == Some(Script::Bengali));
    let base = if bengali { 0x0980 } else { 0x0900 };
    let offset = |c: char| (c as u32).checked_sub(base);
    let virama = char::from_u32(base + 0x4D).unwrap_or_default();
    let nukta = char::from_u32(base + 0x3C).unwrap_or_default();
    let mut sounds = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let Some(at) = offset(c) else {
            i += 1;
            continue;
        };
        match at {
            0x15..=0x39 => {
                let mut class = CONSONANTS[(at - 0x15) as usize];
                if next == Some(nukta) {
                    class = match (bengali, at) {
                        (true, 0x21 | 0x22) => 'r',
                        (true, 0x2F) => 'y',
                        (_, 0x1C) => 'j',
                        (_, 0x2B) => 'p',
                        _ => class,
                    };
                }
                if bengali && at == 0x2F {
                    // Bengali's য is `j`, and after a virama a doubling, not a sound.
                    if i > 0 && chars[i - 1] == virama {
                        // Its inherent vowel stays: ন্য in ধন্যবাদ ("dhonnobad") is a syllable.
                        if !carries_vowel_sign(chars.get(i + 1).copied(), base) {
                            sounds.push(Sound::Vowel);
                        }
                        i += 1;
                        continue;
                    }
                    if next != Some(nukta) {
                        class = 'j';
                    }
                }
                if bengali
                    && at == 0x15
                    && next == Some(virama)
                    && chars.get(i + 2) == Some(&'\u{09B7}')
                {
                    // ক্ষ: "kh".
                    sounds.push(Sound::Consonant('k'));
                    i += 3;
                    continue;
                }
                sounds.push(match class {
                    'n' | 'm' => Sound::Nasal(class),
                    class => Sound::Consonant(class),
                });
                // A consonant with neither a vowel sign nor a virama says its inherent vowel.
                let after = if next == Some(nukta) {
                    chars.get(i + 2)
                } else {
                    next.as_ref()
                };
                if !carries_vowel_sign(after.copied(), base) {
                    sounds.push(Sound::Vowel);
                }
            }
            // Independent vowels, vowel signs.
            0x04..=0x14 | 0x3E..=0x4C | 0x60..=0x63 => {
                // Vocalic r (ऋ, ृ) is heard as "ri".
                if matches!(at, 0x0B | 0x43 | 0x60) {
                    sounds.push(Sound::Consonant('r'));
                } else {
                    sounds.push(Sound::Vowel);
                }
            }
            // Chandrabindu, anusvara.
            0x01 | 0x02 => sounds.push(Sound::Nasal('n')),
            // Khanda ta.
            0x4E if bengali => sounds.push(Sound::Consonant('t')),
            _ => {}
        }
        i += 1;
    }
    sounds
}

/// Whether `c`, after a consonant, is a vowel sign or a virama (so no inherent vowel).
fn carries_vowel_sign(c: Option<char>, base: u32) -> bool {
    c.and_then(|c| (c as u32).checked_sub(base))
        .is_some_and(|at| matches!(at, 0x3E..=0x4D | 0x57 | 0x62 | 0x63))
}

/// The key of a word's sounds: its first sound if a vowel (as `a`), then its consonant
/// classes, doubled ones once, a final nasal (and the vowels after it) dropped.
fn finish(mut sounds: Vec<Sound>) -> Option<String> {
    // Popped while something to key on stays before it ("ami" keeps its m).
    while let Some(Sound::Nasal(_) | Sound::Vowel) = sounds.last() {
        let rest = &sounds[..sounds.len() - 1];
        if !rest
            .iter()
            .any(|s| matches!(s, Sound::Consonant(_) | Sound::Nasal(_)))
        {
            break;
        }
        sounds.pop();
    }
    let mut key = String::new();
    if sounds.first() == Some(&Sound::Vowel) {
        key.push('a');
    }
    let mut last = None;
    for (i, &sound) in sounds.iter().enumerate() {
        let class = match sound {
            Sound::Consonant(c) => c,
            // A nasal before a labial is `m`, as it is said: संबंध, सम्बन्ध, "sambandh".
            Sound::Nasal(_) if matches!(sounds.get(i + 1), Some(Sound::Consonant('p' | 'b'))) => {
                'm'
            }
            Sound::Nasal(c) => c,
            Sound::Vowel => {
                last = None;
                continue;
            }
        };
        if last != Some(class) {
            key.push(class);
        }
        last = Some(class);
    }
    (key.len() > 1 || key.chars().any(|c| c != 'a')).then_some(key)
}

#[cfg(test)]
mod tests;
