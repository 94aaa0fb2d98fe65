//! A hit's snippet: the stretch of its message with the most of the query's words in it, the
//! words marked. A snippet begins and ends at words' edges, which Unicode's word boundaries
//! put between grapheme clusters: it never cuts a letter apart, its marks included.

use super::{
    query::{Query, Word},
    schema::{is_latin, keyed},
};
use crate::core::text::{Token, tokens};

/// About how long a snippet is, in characters (a longer word is never cut).
pub(super) const SNIPPET_CHARS: usize = 160;

/// Words kept before the first marked one, for context.
const LEAD_WORDS: usize = 5;

/// A piece of a snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its text.
    pub text: String,
    /// Whether it is a word the query matched.
    pub matched: bool,
}

/// Whether `word` (its token in a text, and its spelling there) is one `query` asks for, as
/// the index matches them: a word by its term; by its sound key, a Latin word of the query
/// any word, a word of the query in another script a Latin word only.
fn matches(query: &[&Word], token: &Token, spelling: &str) -> bool {
    let latin = is_latin(&token.term);
    let mut key = None;
    query.iter().any(|q| {
        q.term == token.term
            || q.sound.as_ref().is_some_and(|sound| {
                (q.latin || latin)
                    && key.get_or_insert_with(|| keyed(spelling)).as_ref() == Some(sound)
            })
    })
}

/// The snippet of `text` for `query`: its opening words when none matches.
pub fn snippet(text: &str, query: &Query) -> Vec<Part> {
    let words: Vec<&Word> = query.words().collect();
    let tokens = tokens(text);
    let marked: Vec<bool> = tokens
        .iter()
        .map(|t| matches(&words, t, &text[t.from..t.to]))
        .collect();
    let chars_to = |from: usize, to: usize| text[from..to].chars().count();
    // The window starting LEAD_WORDS before a marked word that holds the most marked words.
    // A message that fits is shown whole.
    let fits = tokens
        .last()
        .is_some_and(|last| chars_to(0, last.to) <= SNIPPET_CHARS);
    let window = |first: usize| {
        let start = match fits {
            true => 0,
            false => first.saturating_sub(LEAD_WORDS),
        };
        let from = tokens[start].from;
        let end = (start..tokens.len())
            .take_while(|&i| i == start || chars_to(from, tokens[i].to) <= SNIPPET_CHARS)
            .last()
            .unwrap_or(start);
        let count = (start..=end).filter(|&i| marked[i]).count();
        (count, std::cmp::Reverse(start), start, end)
    };
    let best = (0..tokens.len())
        .filter(|&i| marked[i])
        .map(window)
        .max()
        .or_else(|| (!tokens.is_empty()).then(|| window(0)));
    let Some((_, _, start, end)) = best else {
        return vec![Part {
            text: text.chars().take(SNIPPET_CHARS).collect(),
            matched: false,
        }];
    };
    let mut parts = Vec::new();
    let mut plain = String::new();
    if start > 0 {
        plain.push('…');
    }
    // Whole from its first byte, or from a word's edge.
    let mut at = if start == 0 { 0 } else { tokens[start].from };
    for i in start..=end {
        let token = &tokens[i];
        plain.push_str(&text[at..token.from]);
        if marked[i] {
            if !plain.is_empty() {
                parts.push(Part {
                    text: std::mem::take(&mut plain),
                    matched: false,
                });
            }
            parts.push(Part {
                text: text[token.from..token.to].to_owned(),
                matched: true,
            });
        } else {
            plain.push_str(&text[token.from..token.to]);
        }
        at = token.to;
    }
    if end + 1 < tokens.len() {
        plain.push('…');
    } else {
        plain.push_str(&text[at..]);
    }
    if !plain.is_empty() {
        parts.push(Part {
            text: plain,
            matched: false,
        });
    }
    parts
}
