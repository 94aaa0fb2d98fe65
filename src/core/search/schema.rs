//! The index's fields, and the analyzers that fill its three text fields from a message's
//! body: its terms, the sound keys of its words in Latin letters, and those of its words in
//! Devanagari and Bengali. One text read three ways, with the same positions, so that a
//! phrase matches in any of them.

use tantivy::{
    Index,
    schema::{
        FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
        TextOptions,
    },
    tokenizer::{PreTokenizedString, TextAnalyzer, Token, TokenStream, Tokenizer},
};

use crate::core::text::{sound_key, tokens};

/// The fields of the index: one document per message.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fields {
    /// The message's id (`interaction_messages.id`).
    pub id: Field,
    pub interaction: Field,
    pub customer: Field,
    /// `ticket`, `chat`, `call`, `email`: one term.
    pub channel: Field,
    /// `message`, `transcript`, `note`: stored only.
    pub kind: Field,
    /// `customer`, `agent`: stored only.
    pub author: Field,
    /// Microseconds since the epoch.
    pub sent_at: Field,
    /// The text, stored for hits and snippets, not indexed.
    pub text: Field,
    /// The text's terms.
    pub body: Field,
    /// Sound keys of its words in Latin letters.
    pub sound_latin: Field,
    /// Sound keys of its words in Devanagari and Bengali.
    pub sound_native: Field,
}

/// Which words of a text an analyzer gives, as what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Every word, as its term.
    Terms,
    /// The sound keys of the words in Latin letters.
    SoundLatin,
    /// The sound keys of the words in Devanagari or Bengali.
    SoundNative,
}

impl Reading {
    const ALL: [(Self, &str); 3] = [
        (Self::Terms, "c360_terms"),
        (Self::SoundLatin, "c360_sound_latin"),
        (Self::SoundNative, "c360_sound_native"),
    ];
}

/// Whether a term is written in Latin letters (folding has taken their diacritics).
pub(super) fn is_latin(term: &str) -> bool {
    term.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Common English words, which get no sound key: their short keys are those of Hindi and
/// Bengali words they have nothing to do with ("done", "do" and दिन are all `d`; "the" and था
/// `t`; "can" and काम `k`), so a query in Devanagari or Bengali would find English messages by
/// sound. Words romanised Hindi and Bengali also use ("do", two; "to", "me", "hi", "par") are
/// not in it. English words the two languages borrow ("order", "refund", "parcel") keep their
/// keys: ऑर्डर finds "order". Sorted, for a binary search.
const ENGLISH: &[&str] = &[
    "a", "about", "after", "again", "ago", "all", "also", "am", "an", "and", "any", "as", "ask",
    "asked", "at", "back", "be", "been", "but", "by", "came", "can", "change", "come", "could",
    "day", "days", "dear", "did", "dine", "does", "done", "down", "each", "for", "from", "get",
    "give", "good", "got", "had", "has", "have", "he", "her", "here", "him", "his", "how", "i",
    "if", "in", "into", "is", "it", "its", "just", "know", "last", "like", "made", "make", "many",
    "may", "more", "most", "much", "must", "my", "new", "no", "not", "now", "of", "off", "on",
    "one", "only", "or", "other", "our", "out", "over", "phone", "put", "said", "same", "see",
    "she", "should", "some", "still", "such", "take", "than", "thank", "thanks", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "time", "told", "too",
    "two", "up", "us", "use", "very", "want", "was", "way", "we", "week", "well", "went", "were",
    "what", "when", "where", "which", "while", "who", "why", "will", "with", "would", "yes", "yet",
    "you", "your",
];

/// Whether a word gets a sound key: one with a digit (an order or a tracking number) is
/// matched exactly only, and so is a common English word (see [`ENGLISH`]).
pub(super) fn keyed(word: &str) -> Option<String> {
    let digits = word.chars().any(char::is_numeric);
    let english = word.is_ascii() && ENGLISH.binary_search(&&*word.to_ascii_lowercase()).is_ok();
    match digits || english {
        true => None,
        false => sound_key(word),
    }
}

/// A text's three readings at once, as the index takes them (`[terms, Latin keys, Indic
/// keys]`): each word is cut, folded and keyed once.
pub(super) fn readings(text: &str) -> [PreTokenizedString; 3] {
    let mut readings: [Vec<Token>; 3] = Default::default();
    for t in tokens(text) {
        let token = |text: String| Token {
            offset_from: t.from,
            offset_to: t.to,
            position: t.position,
            text,
            position_length: 1,
        };
        let reading = match is_latin(&t.term) {
            true => Reading::SoundLatin,
            false => Reading::SoundNative,
        };
        if let Some(key) = keyed(&text[t.from..t.to]) {
            readings[reading as usize].push(token(key));
        }
        readings[Reading::Terms as usize].push(token(t.term));
    }
    // The text itself is stored apart (`Fields::text`).
    readings.map(|tokens| PreTokenizedString {
        text: String::new(),
        tokens,
    })
}

/// An analyzer over `core::text`, for a text given whole rather than as [`readings`].
#[derive(Debug, Clone, Copy)]
struct Analyzer(Reading);

impl Tokenizer for Analyzer {
    type TokenStream<'a> = Words;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Words {
        let [terms, latin, native] = readings(text);
        let tokens = match self.0 {
            Reading::Terms => terms,
            Reading::SoundLatin => latin,
            Reading::SoundNative => native,
        }
        .tokens;
        Words {
            tokens: tokens.into_iter(),
            current: Token::default(),
        }
    }
}

/// The tokens of one text, made at once.
pub(super) struct Words {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl TokenStream for Words {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// The schema, its fields, and an index in memory with the analyzers registered.
pub(super) fn in_memory() -> (Index, Fields) {
    let mut builder = Schema::builder();
    let indexed = |name: &str| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(name)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        TextOptions::default().set_indexing_options(indexing)
    };
    let fields = Fields {
        id: builder.add_u64_field("id", INDEXED | FAST | STORED),
        interaction: builder.add_u64_field("interaction", STORED),
        customer: builder.add_u64_field("customer", INDEXED | FAST | STORED),
        channel: builder.add_text_field("channel", STRING | STORED),
        kind: builder.add_text_field("kind", STORED),
        author: builder.add_text_field("author", STORED),
        sent_at: builder.add_i64_field("sent_at", INDEXED | FAST | STORED),
        text: builder.add_text_field("text", STORED),
        body: builder.add_text_field("body", indexed(Reading::ALL[0].1)),
        sound_latin: builder.add_text_field("sound_latin", indexed(Reading::ALL[1].1)),
        sound_native: builder.add_text_field("sound_native", indexed(Reading::ALL[2].1)),
    };
    let index = Index::create_in_ram(builder.build());
    for (reading, name) in Reading::ALL {
        index
            .tokenizers()
            .register(name, TextAnalyzer::from(Analyzer(reading)));
    }
    (index, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_english_words_are_sorted_and_unkeyed_and_borrowed_ones_keyed() {
        assert!(
            ENGLISH.windows(2).all(|w| w[0] < w[1]),
            "ENGLISH must be sorted"
        );
        for word in ["Done", "the", "can", "is", "time"] {
            assert_eq!(keyed(word), None, "{word}");
        }
        for word in ["order", "refund", "nahi", "aaya", "do", "दिन", "ऑर्डर"] {
            assert!(keyed(word).is_some(), "{word}");
        }
    }
}
