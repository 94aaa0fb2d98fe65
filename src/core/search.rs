//! A customer's history searched (issue 31): every message of every conversation — chats,
//! tickets, email threads, calls' transcripts, agents' notes — in one index per replica,
//! ranked by BM25 (tantivy, Lucene's design), newest first on ties, each hit with a snippet.
//!
//! The index is made at start from the messages table and kept by following it
//! (`follow.rs`): a message is searchable within the follower's poll and a commit of the
//! index (well under a second) of its own commit. Messages are written once and never
//! changed: the follower adds, it never updates.
//!
//! A query's words each must be found, a quoted phrase's in order (`query.rs`). A word
//! matches by its term (`core::text`: case, diacritics and the Indic spellings folded), or
//! by its sound key across scripts: a word in Latin letters finds the same word in
//! Devanagari or Bengali and in other romanisations, a word in those scripts finds it
//! romanised — never another word of its own script, so a query in a native script loses no
//! precision to the keys. An exact match counts for more than a sounded one.

mod follow;
mod query;
mod schema;
mod settings;
mod snippet;

use std::{
    ops::Bound,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tantivy::{
    DocAddress, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher, TantivyDocument, Term,
    collector::{Count, TopDocs},
    query::{
        BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, PhraseQuery,
        RangeQuery, TermQuery, TermSetQuery,
    },
    schema::{IndexRecordOption, Value},
};

pub use follow::{Cursor, follow};
pub use query::{Clause, MAX_QUERY_CHARS, Query, QueryError, Word};
use schema::Fields;
pub use settings::SearchSettings;
pub use snippet::{Part, snippet};

use crate::core::{
    records::{InteractionChannel, MessageAuthor, MessageKind},
    vocab::{CustomerId, Timestamp},
};

/// How much memory the index's writer gathers before it writes a segment.
const WRITER_MEMORY: usize = 48 * 1024 * 1024;

/// How deep a search may page: hits beyond it are not served.
pub const MAX_DEPTH: usize = 10_000;

/// A sounded match counts for this much of an exact one.
const SOUNDED: Score = 0.6;

/// One message, as the index takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its id (`interaction_messages.id`).
    pub id: i64,
    /// The interaction (a chat, a ticket, a thread, a call) it belongs to.
    pub interaction_id: i64,
    /// Whose history it is part of.
    pub customer_id: CustomerId,
    /// The interaction's channel.
    pub channel: InteractionChannel,
    /// A message, a transcript or a note.
    pub kind: MessageKind,
    /// Who wrote or said it.
    pub author: MessageAuthor,
    /// When.
    pub sent_at: Timestamp,
    /// Its text.
    pub body: String,
}

/// What to search for, where, and which page of the answer.
#[derive(Debug, Clone)]
pub struct Search {
    /// The customer whose history is searched; none: every customer's.
    pub customer: Option<CustomerId>,
    /// The words.
    pub query: Query,
    /// Only these channels; empty: all.
    pub channels: Vec<InteractionChannel>,
    /// Sent at or after.
    pub since: Option<Timestamp>,
    /// Sent before.
    pub until: Option<Timestamp>,
    /// Hits skipped: those of the pages before.
    pub offset: usize,
    /// Hits served at most.
    pub limit: usize,
}

/// One message found.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The message, whole.
    pub message: Message,
    /// Its relevance (BM25): higher is better.
    pub score: Score,
    /// Its best stretch, the words found marked.
    pub snippet: Vec<Part>,
}

/// A page of hits, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// This page's hits.
    pub hits: Vec<Hit>,
    /// How many messages match in all.
    pub total: usize,
}

/// Why a search has no answer.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The index is still being made at start.
    #[error("the history index is still being built ({0} messages so far)")]
    Building(u64),
    /// The index failed.
    #[error("the history index failed: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// The index of every customer's history on this replica.
pub struct History {
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    ready: tokio::sync::watch::Sender<bool>,
    messages: AtomicU64,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

fn micros(at: Timestamp) -> i64 {
    at.timestamp_micros()
}

impl History {
    /// An empty index in memory, not yet ready to search.
    pub fn new() -> Result<Arc<Self>, SearchError> {
        let (index, fields) = schema::in_memory();
        // One indexing thread: the replica's other cores keep serving while it indexes.
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Arc::new(Self {
            fields,
            reader,
            writer: Mutex::new(writer),
            ready: tokio::sync::watch::Sender::new(false),
            messages: AtomicU64::new(0),
        }))
    }

    /// Messages in the index.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// What the index takes in memory, in bytes: its segments' postings, positions, fast
    /// fields and stored messages (the writer's buffer apart).
    pub fn bytes(&self) -> Result<u64, SearchError> {
        let usage = self.reader.searcher().space_usage();
        let usage = usage.map_err(|e| SearchError::Index(e.into()))?;
        Ok(usage.total().get_bytes())
    }

    /// Whether it answers searches: once made at start.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    pub(crate) fn set_ready(&self) {
        self.ready.send_replace(true);
    }

    /// Waits until it answers searches, or for `at_most`; whether it does.
    pub async fn ready_within(&self, at_most: std::time::Duration) -> bool {
        let mut ready = self.ready.subscribe();
        let wait = ready.wait_for(|ready| *ready);
        matches!(tokio::time::timeout(at_most, wait).await, Ok(Ok(_)))
    }

    /// Adds `messages` and makes them searchable (blocking: run it off the runtime's
    /// workers).
    pub fn add(&self, messages: &[Message], publish: bool) -> Result<(), SearchError> {
        let f = &self.fields;
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        for m in messages {
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.id, m.id as u64);
            doc.add_u64(f.interaction, m.interaction_id as u64);
            doc.add_u64(f.customer, m.customer_id.get() as u64);
            doc.add_text(f.channel, m.channel.as_str());
            doc.add_text(f.kind, m.kind.as_str());
            doc.add_text(f.author, m.author.as_str());
            doc.add_i64(f.sent_at, micros(m.sent_at));
            doc.add_text(f.text, &m.body);
            let [terms, latin, native] = schema::readings(&m.body);
            doc.add_pre_tokenized_text(f.body, terms);
            doc.add_pre_tokenized_text(f.sound_latin, latin);
            doc.add_pre_tokenized_text(f.sound_native, native);
            writer.add_document(doc)?;
        }
        self.messages
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        if publish {
            writer.commit()?;
            drop(writer);
            self.reader.reload()?;
        }
        Ok(())
    }

    /// The page of `search`'s hits (blocking: run it off the runtime's workers).
    pub fn search(&self, search: &Search) -> Result<Found, SearchError> {
        if !self.is_ready() {
            return Err(SearchError::Building(self.messages()));
        }
        let searcher = self.reader.searcher();
        let query = self.compile(search);
        let sent_at = "sent_at";
        let top = TopDocs::with_limit(search.limit.max(1))
            .and_offset(search.offset)
            .tweak_score(move |segment: &tantivy::SegmentReader| {
                let column = segment.fast_fields().i64(sent_at).ok();
                move |doc, score: Score| {
                    let at = column
                        .as_ref()
                        .and_then(|c| c.first(doc))
                        .unwrap_or(i64::MIN);
                    (score, at)
                }
            });
        let (top, total) = searcher.search(&query, &(top, Count))?;
        let hits = top
            .into_iter()
            .take(search.limit)
            .map(|((score, _), address)| self.hit(&searcher, address, score, &search.query))
            .collect::<Result<_, _>>()?;
        Ok(Found { hits, total })
    }

    fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        score: Score,
        query: &Query,
    ) -> Result<Hit, SearchError> {
        let f = &self.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let u64_of = |field| doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
        let str_of = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let corrupt =
            || tantivy::TantivyError::InternalError("a stored message is incomplete".into());
        let body = str_of(f.text);
        let message = Message {
            id: u64_of(f.id) as i64,
            interaction_id: u64_of(f.interaction) as i64,
            customer_id: CustomerId::new(u64_of(f.customer) as i64).ok_or_else(corrupt)?,
            channel: str_of(f.channel).parse().map_err(|_| corrupt())?,
            kind: str_of(f.kind).parse().map_err(|_| corrupt())?,
            author: str_of(f.author).parse().map_err(|_| corrupt())?,
            sent_at: doc
                .get_first(f.sent_at)
                .and_then(|v| v.as_i64())
                .and_then(Timestamp::from_timestamp_micros)
                .ok_or_else(corrupt)?,
            body: String::new(),
        };
        Ok(Hit {
            snippet: snippet(&body, query),
            message: Message { body, ..message },
            score,
        })
    }

    /// `search` as tantivy's query: its clauses, each required, under its filters, which do
    /// not count towards the score.
    fn compile(&self, search: &Search) -> BooleanQuery {
        let f = &self.fields;
        let mut all: Vec<(Occur, Box<dyn tantivy::query::Query>)> = search
            .query
            .clauses
            .iter()
            .map(|clause| (Occur::Must, self.clause(clause)))
            .collect();
        let mut filter = |query: Box<dyn tantivy::query::Query>| {
            all.push((Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0))));
        };
        if let Some(customer) = search.customer {
            let term = Term::from_field_u64(f.customer, customer.get() as u64);
            filter(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
        }
        if !search.channels.is_empty() {
            let terms = search
                .channels
                .iter()
                .map(|c| Term::from_field_text(f.channel, c.as_str()));
            filter(Box::new(TermSetQuery::new(terms)));
        }
        if search.since.is_some() || search.until.is_some() {
            let at = |t: Timestamp| Term::from_field_i64(f.sent_at, micros(t));
            let since = search
                .since
                .map_or(Bound::Unbounded, |t| Bound::Included(at(t)));
            let until = search
                .until
                .map_or(Bound::Unbounded, |t| Bound::Excluded(at(t)));
            filter(Box::new(RangeQuery::new(since, until)));
        }
        BooleanQuery::new(all)
    }

    fn clause(&self, clause: &Clause) -> Box<dyn tantivy::query::Query> {
        let f = &self.fields;
        match clause {
            Clause::Word(word) => {
                let term = |field, text: &str| -> Box<dyn tantivy::query::Query> {
                    let term = Term::from_field_text(field, text);
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
                };
                let mut ways = vec![term(f.body, &word.term)];
                for field in self.sound_fields(std::slice::from_ref(word)) {
                    let key = word.sound.as_deref().unwrap_or_default();
                    ways.push(Box::new(BoostQuery::new(term(field, key), SOUNDED)));
                }
                Box::new(DisjunctionMaxQuery::new(ways))
            }
            Clause::Phrase(words) => {
                let phrase = |field, texts: Vec<&str>| -> Box<dyn tantivy::query::Query> {
                    let terms = texts
                        .into_iter()
                        .enumerate()
                        .map(|(i, t)| (i, Term::from_field_text(field, t)))
                        .collect();
                    Box::new(PhraseQuery::new_with_offset(terms))
                };
                let mut ways = vec![phrase(
                    f.body,
                    words.iter().map(|w| w.term.as_str()).collect(),
                )];
                for field in self.sound_fields(words) {
                    let keys = words.iter().filter_map(|w| w.sound.as_deref()).collect();
                    ways.push(Box::new(BoostQuery::new(phrase(field, keys), SOUNDED)));
                }
                Box::new(DisjunctionMaxQuery::new(ways))
            }
        }
    }

    /// The sound fields `words` are looked for in: none unless each has a key; a word in
    /// Latin letters is looked for in both, one in another script only among Latin words.
    fn sound_fields(&self, words: &[Word]) -> Vec<tantivy::schema::Field> {
        let f = &self.fields;
        if words.iter().any(|w| w.sound.is_none()) {
            return Vec::new();
        }
        match words.iter().all(|w| w.latin) {
            true => vec![f.sound_native, f.sound_latin],
            false => vec![f.sound_latin],
        }
    }
}

#[cfg(test)]
mod tests;
