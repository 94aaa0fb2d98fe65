//! A search's words as a caller writes them: words, each of which must be found, and quoted
//! phrases, whose words must be found in order and side by side. Anything else a word may be
//! written with (punctuation, `+`, `-`, `:`) is taken as text, never as syntax: a query is
//! never refused for its characters, only for being empty or too long.

use super::schema::{is_latin, keyed};
use crate::core::text::fold;

/// The longest query taken, in characters.
pub const MAX_QUERY_CHARS: usize = 500;

/// The most words a query may hold, phrases' included.
pub(super) const MAX_WORDS: usize = 32;

/// One word of a query: its term, and its sound key where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// As [`fold`] gives it.
    pub term: String,
    /// As `core::text::sound_key` gives it: none for a word with a digit (an order or a
    /// tracking number is matched exactly), or in a script keys are not made for.
    pub sound: Option<String>,
    /// Written in Latin letters (romanised Hindi or Bengali, or English).
    pub latin: bool,
}

impl Word {
    fn of(word: &str) -> Self {
        let term = fold(word);
        Self {
            latin: is_latin(&term),
            sound: keyed(word),
            term,
        }
    }
}

/// One clause of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// A word.
    Word(Word),
    /// Quoted words, in order, side by side (two at least: one quoted word is a word).
    Phrase(Vec<Word>),
}

/// Why a query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// No word in it.
    #[error("has no word to search for")]
    Empty,
    /// Over [`MAX_QUERY_CHARS`].
    #[error("is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
    /// Over [`MAX_WORDS`].
    #[error("has more than {MAX_WORDS} words")]
    TooManyWords,
}

/// A parsed query: its clauses, each of which must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// In the order written.
    pub clauses: Vec<Clause>,
}

impl Query {
    /// `text` read as words and quoted phrases; an unclosed quote runs to the end.
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        let mut clauses = Vec::new();
        let mut words = 0;
        for (i, part) in text.split('"').enumerate() {
            let found: Vec<Word> = crate::core::text::tokens(part)
                .iter()
                .map(|t| Word::of(&part[t.from..t.to]))
                .collect();
            words += found.len();
            // Odd parts lie between quotes.
            if i % 2 == 1 && found.len() > 1 {
                clauses.push(Clause::Phrase(found));
            } else {
                clauses.extend(found.into_iter().map(Clause::Word));
            }
        }
        if words > MAX_WORDS {
            return Err(QueryError::TooManyWords);
        }
        if clauses.is_empty() {
            return Err(QueryError::Empty);
        }
        Ok(Self { clauses })
    }

    /// Every word's term, phrases' included: what a snippet marks.
    pub fn words(&self) -> impl Iterator<Item = &Word> {
        self.clauses.iter().flat_map(|c| match c {
            Clause::Word(w) => std::slice::from_ref(w),
            Clause::Phrase(ws) => ws.as_slice(),
        })
    }
}
