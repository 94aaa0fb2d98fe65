//! The folding against spelling variants people really type: a word and each of its variants
//! must give one term, and no two words one term. The words are a retailer's customers' (an
//! order, a refund, a parcel, a complaint) in Hindi, Bengali and English.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use super::*;

const HINDI: [&str; 48] = [
    "ऑर्डर",
    "रिफ़ंड",
    "डिलीवरी",
    "पार्सल",
    "भुगतान",
    "शिकायत",
    "ग्राहक",
    "चार्जर",
    "टूटा",
    "ज़रूरत",
    "हिन्दी",
    "सम्बन्ध",
    "अन्दर",
    "ठण्डा",
    "माँ",
    "हँसना",
    "कृपया",
    "धन्यवाद",
    "क्षमा",
    "प्राप्त",
    "वापस",
    "रद्द",
    "सामान",
    "ख़राब",
    "ग़लत",
    "फ़ोन",
    "ज़्यादा",
    "इंतज़ार",
    "दुकान",
    "पैसे",
    "कपड़े",
    "पत्र",
    "स्थिति",
    "समस्या",
    "जानकारी",
    "उत्पाद",
    "बदलना",
    "सन्देश",
    "चिन्ता",
    "अन्तिम",
    "सम्पर्क",
    "कम्पनी",
    "हफ़्ता",
    "दिन",
    "नम्बर",
    "ज़िन्दगी",
    "बन्द",
    "रंग",
];

const BENGALI: [&str; 47] = [
    "অর্ডার",
    "ফেরত",
    "ডেলিভারি",
    "পার্সেল",
    "অভিযোগ",
    "গ্রাহক",
    "চার্জার",
    "ভাঙা",
    "প্রয়োজন",
    "বাংলা",
    "সমস্যা",
    "ধন্যবাদ",
    "দয়া",
    "পণ্য",
    "ক্ষমা",
    "উৎপাদন",
    "হঠাৎ",
    "ভবিষ্যৎ",
    "সৎ",
    "যোগাযোগ",
    "কোম্পানি",
    "দোকান",
    "বোতল",
    "পৌঁছানো",
    "র্যাপার",
    "অ্যাকাউন্ট",
    "ক্যাশ",
    "ট্র্যাকিং",
    "প্যাকেট",
    "দ্রুত",
    "অপেক্ষা",
    "স্মার্টফোন",
    "ল্যাপটপ",
    "কুরিয়ার",
    "পরিবর্তন",
    "মূল্য",
    "ঠিকানা",
    "রাস্তা",
    "সপ্তাহ",
    "বড়",
    "পড়েছে",
    "নয়",
    "চাই",
    "কবে",
    "সম্পর্ক",
    "বন্ধ",
    "সঙ্গে",
];

const ENGLISH: [&str; 16] = [
    "order",
    "refund",
    "café",
    "naïve",
    "résumé",
    "façade",
    "charger",
    "broken",
    "parcel",
    "délivré",
    "Zoë",
    "tracking",
    "coöperate",
    "São",
    "Müller",
    "crème",
];

const VIRAMAS: [char; 2] = ['\u{094D}', '\u{09CD}'];

/// Inserts `joiner` after every virama: how some keyboards and fonts spell conjuncts.
fn joined(word: &str, joiner: char) -> String {
    word.nfd()
        .flat_map(|c| {
            if VIRAMAS.contains(&c) {
                vec![c, joiner]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The nukta letters a keyboard may type precomposed (NFC leaves them decomposed).
const PRECOMPOSED: [(char, char); 11] = [
    ('\u{0915}', '\u{0958}'),
    ('\u{0916}', '\u{0959}'),
    ('\u{0917}', '\u{095A}'),
    ('\u{091C}', '\u{095B}'),
    ('\u{0921}', '\u{095C}'),
    ('\u{0922}', '\u{095D}'),
    ('\u{092B}', '\u{095E}'),
    ('\u{092F}', '\u{095F}'),
    ('\u{09A1}', '\u{09DC}'),
    ('\u{09A2}', '\u{09DD}'),
    ('\u{09AF}', '\u{09DF}'),
];

fn precomposed(word: &str) -> String {
    let chars: Vec<char> = word.nfd().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let composed = PRECOMPOSED
            .iter()
            .find(|(base, _)| chars[i] == *base)
            .filter(|_| matches!(chars.get(i + 1), Some('\u{093C}' | '\u{09BC}')));
        match composed {
            Some((_, one)) => {
                out.push(*one);
                i += 2;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// How people spell the Hindi `word` otherwise.
fn hindi_variants(word: &str) -> Vec<String> {
    let nfd: String = word.nfd().collect();
    let mut variants = vec![
        nfd.clone(),
        precomposed(word),
        joined(word, ZWJ),
        joined(word, ZWNJ),
        nfd.replace('\u{093C}', ""),
        word.replace('ँ', "ं"),
        word.replace('ं', "ँ"),
    ];
    // A nasal with a virama before a consonant, as the anusvara: हिन्दी, हिंदी.
    for nasal in ["न्", "म्", "ण्"] {
        if let Some(at) = word.find(nasal)
            && word[at + nasal.len()..]
                .chars()
                .next()
                .is_some_and(|c| ('\u{0915}'..='\u{0939}').contains(&c))
        {
            variants.push(word.replacen(nasal, "ं", 1));
        }
    }
    variants
}

/// How people spell the Bengali `word` otherwise.
fn bengali_variants(word: &str) -> Vec<String> {
    vec![
        word.nfd().collect(),
        word.nfc().collect(),
        precomposed(word),
        joined(word, ZWJ),
        joined(word, ZWNJ),
        // Khanda ta as older keyboards type it: ta, virama, ZWJ.
        word.replace('ৎ', "ত্\u{200D}"),
        // ঙ with a virama for the anusvara before a consonant: বাংলা, বাঙ্লা.
        anusvara_as_nasal(word),
    ]
}

fn anusvara_as_nasal(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let consonant_next = chars
            .get(i + 1)
            .is_some_and(|c| ('\u{0995}'..='\u{09B9}').contains(c));
        if c == 'ং' && consonant_next {
            out.push_str("ঙ্");
        } else {
            out.push(c);
        }
    }
    out
}

fn english_variants(word: &str) -> Vec<String> {
    let plain: String = word.nfd().filter(|c| !is_latin_mark(*c)).collect();
    vec![
        word.to_uppercase(),
        word.nfd().collect(),
        plain.clone(),
        plain.to_uppercase(),
        format!("{}{}", word[..1].to_uppercase(), &word[1..]),
    ]
}

/// How a language's words are spelled otherwise.
type Variants = fn(&str) -> Vec<String>;

/// Every (word, variant) pair of the three languages, each variant differing from its word.
fn pairs() -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    let languages: [(&[&'static str], Variants); 3] = [
        (&HINDI, hindi_variants),
        (&BENGALI, bengali_variants),
        (&ENGLISH, english_variants),
    ];
    for (words, variants) in languages {
        for &word in words {
            let mut seen = vec![word.to_owned()];
            for variant in variants(word) {
                if !seen.contains(&variant) {
                    seen.push(variant.clone());
                    pairs.push((word, variant));
                }
            }
        }
    }
    pairs
}

#[test]
fn every_spelling_of_a_word_folds_to_its_term_and_no_two_words_share_one() {
    // Every word is one term of its own.
    let mut terms: HashMap<String, &str> = HashMap::new();
    for word in HINDI.iter().chain(&BENGALI).chain(&ENGLISH) {
        let found = tokens(word);
        assert_eq!(found.len(), 1, "{word} is cut into {found:?}");
        if let Some(other) = terms.insert(found[0].term.clone(), word) {
            panic!("{word} and {other} fold to one term, {}", found[0].term);
        }
    }
    // Every variant is its word's term: none missed, none taken for another word.
    let pairs = pairs();
    assert!(pairs.len() >= 200, "only {} pairs", pairs.len());
    let mut missed = Vec::new();
    for (word, variant) in &pairs {
        let found = tokens(variant);
        let term = found.first().map(|t| t.term.as_str());
        if found.len() != 1 || term != Some(&*fold(word)) {
            missed.push(format!("{word} ≠ {variant:?} ({found:?})"));
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {}:\n{}",
        missed.len(),
        pairs.len(),
        missed.join("\n")
    );
}

#[test]
fn indic_words_are_kept_whole_however_long() {
    let text = "मेरा ऑर्डर अभी तक नहीं आया, अंतर्राष्ट्रीयकरण! আমার অর্ডারটি এখনও আসেনি।";
    let words: Vec<String> = tokens(text).into_iter().map(|t| t.term).collect();
    assert_eq!(
        words,
        [
            "मेरा",
            "ऑर्डर",
            "अभी",
            "तक",
            "नहीं",
            "आया",
            "अंतर्राष्ट्रीयकरण",
            "আমার",
            "অর্ডারটি",
            "এখনও",
            "আসেনি"
        ]
        .map(fold)
    );
    // A word of 17 letters (51 bytes) is kept, not dropped as too long.
    assert_eq!(tokens("अंतर्राष्ट्रीयकरण")[0].term.chars().count(), 17);
    // Vowel length is kept: day and poor are two words.
    assert_ne!(fold("दिन"), fold("दीन"));
}

#[test]
fn tokens_say_where_their_words_stand() {
    let text = "Order 4521: डिलीवरी late";
    let found = tokens(text);
    let spans: Vec<&str> = found.iter().map(|t| &text[t.from..t.to]).collect();
    assert_eq!(spans, ["Order", "4521", "डिलीवरी", "late"]);
    assert_eq!(found[2].position, 2);
    assert_eq!(found[0].term, "order");
    let labelled = "Order:DH0123456789 S:t";
    let found = tokens(labelled);
    let spans: Vec<&str> = found.iter().map(|t| &labelled[t.from..t.to]).collect();
    assert_eq!(
        spans,
        ["Order", "DH0123456789", "S", "t"],
        "a colon separates"
    );
    assert_eq!(found[1].position, 1);
}

#[test]
fn a_cut_never_splits_a_letter_as_readers_see_it() {
    let text = "ক্ষমা हिन्दी e\u{301}";
    for at in 0..=text.len() + 2 {
        let cut = grapheme_floor(text, at);
        assert!(cut <= at.min(text.len()));
        assert!(text.is_char_boundary(cut));
        let boundaries: Vec<usize> = text.grapheme_indices(true).map(|(i, _)| i).collect();
        assert!(
            cut == text.len() || boundaries.contains(&cut),
            "{at} → {cut}"
        );
    }
    // Inside क्ष (three code points, one cluster) the cut falls before it.
    assert_eq!(grapheme_floor("ক্ষমা", 4), 0);
}

#[test]
fn a_split_on_what_is_not_alphanumeric_would_cut_these_words_apart() {
    // What tantivy's default tokenizer does, and why this module exists: the virama and the
    // nukta are not alphanumeric.
    for word in ["हिन्दी", "অর্ডার", "ज़रूरत"] {
        let naive: Vec<&str> = word
            .split(|c: char| !c.is_alphanumeric())
            .filter(|piece| !piece.is_empty())
            .collect();
        assert!(naive.len() > 1, "{word}: {naive:?}");
        assert_eq!(tokens(word).len(), 1, "{word}");
    }
}
