use chrono::{Duration, TimeZone, Utc};

use super::*;

fn at(day: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, day, 9, 0, 0).unwrap()
}

fn message(id: i64, customer: i64, channel: InteractionChannel, day: u32, body: &str) -> Message {
    Message {
        id,
        interaction_id: id * 10,
        customer_id: CustomerId::new(customer).unwrap(),
        channel,
        kind: MessageKind::Message,
        author: MessageAuthor::Customer,
        sent_at: at(day),
        body: body.to_owned(),
    }
}

fn index(messages: &[Message]) -> Arc<History> {
    let history = History::new().unwrap();
    history.add(messages, true).unwrap();
    history.set_ready();
    history
}

fn search(customer: Option<i64>, query: &str) -> Search {
    Search {
        customer: customer.and_then(CustomerId::new),
        query: Query::parse(query).unwrap(),
        channels: Vec::new(),
        since: None,
        until: None,
        offset: 0,
        limit: 100,
    }
}

/// The ids of `search`'s hits, best first.
fn ids(history: &History, search: &Search) -> Vec<i64> {
    let found = history.search(search).unwrap();
    found.hits.iter().map(|h| h.message.id).collect()
}

use InteractionChannel::{Call, Chat, Email, Ticket};

#[test]
fn hits_are_ranked_by_relevance_and_the_newest_first_among_equals() {
    let history = index(&[
        message(
            1,
            7,
            Chat,
            1,
            "My charger is broken, the charger does not work",
        ),
        message(
            2,
            7,
            Chat,
            2,
            "Hello, I would like to ask about the delivery date of my order and the charger that came with the phone, thank you",
        ),
        message(3, 7, Email, 3, "The charger does not charge"),
        message(4, 7, Email, 5, "The charger does not charge"),
        message(5, 7, Chat, 6, "Nothing about it here"),
    ]);
    let hits = ids(&history, &search(Some(7), "charger"));
    // Twice in a short message first; the two equal ones newest first; once in a long one last.
    assert_eq!(hits, vec![1, 4, 3, 2]);
}

#[test]
fn every_word_must_be_found_and_a_phrase_in_order_side_by_side() {
    let history = index(&[
        message(1, 7, Chat, 1, "the charger is broken"),
        message(2, 7, Chat, 2, "broken charger, please replace"),
        message(3, 7, Chat, 3, "the charger arrived"),
    ]);
    let mut words = ids(&history, &search(Some(7), "charger broken"));
    words.sort();
    assert_eq!(words, vec![1, 2]);
    assert_eq!(
        ids(&history, &search(Some(7), "\"broken charger\"")),
        vec![2]
    );
    assert_eq!(
        ids(&history, &search(Some(7), "\"charger is broken\"")),
        vec![1]
    );
    assert!(ids(&history, &search(Some(7), "\"charger broken\"")).is_empty());
}

#[test]
fn filters_keep_to_the_customer_the_channels_and_the_dates_asked() {
    let history = index(&[
        message(1, 7, Chat, 1, "refund please"),
        message(2, 7, Email, 10, "refund please"),
        message(3, 7, Call, 20, "refund please"),
        message(4, 8, Chat, 10, "refund please"),
        message(5, 8, Ticket, 25, "refund please"),
    ]);
    let sorted = |mut ids: Vec<i64>| {
        ids.sort();
        ids
    };
    assert_eq!(
        sorted(ids(&history, &search(Some(7), "refund"))),
        vec![1, 2, 3]
    );
    assert_eq!(
        sorted(ids(&history, &search(None, "refund"))),
        vec![1, 2, 3, 4, 5]
    );
    let mut chats_and_calls = search(Some(7), "refund");
    chats_and_calls.channels = vec![Chat, Call];
    assert_eq!(sorted(ids(&history, &chats_and_calls)), vec![1, 3]);
    let mut dated = search(None, "refund");
    dated.since = Some(at(10));
    dated.until = Some(at(20));
    assert_eq!(
        sorted(ids(&history, &dated)),
        vec![2, 4],
        "since included, until not"
    );
    dated.until = Some(at(20) + Duration::seconds(1));
    assert_eq!(sorted(ids(&history, &dated)), vec![2, 3, 4]);
}

#[test]
fn case_diacritics_and_indic_spellings_are_one_word_and_long_indic_words_are_kept() {
    let history = index(&[
        message(1, 7, Chat, 1, "Le CAFÉ était froid"),
        message(2, 7, Chat, 2, "मुझे हिन्दी में जवाब चाहिए"),
        message(3, 7, Chat, 3, "আমার অর্ডার এখনও আসেনি"),
        // 14 letters and more: a whole word, never dropped.
        message(4, 7, Chat, 4, "प्रतिनिधित्वकर्ताओं से बात"),
        message(5, 7, Chat, 5, "दिन भर इंतज़ार"),
    ]);
    assert_eq!(ids(&history, &search(Some(7), "cafe")), vec![1]);
    assert_eq!(ids(&history, &search(Some(7), "हिंदी")), vec![2]);
    assert_eq!(ids(&history, &search(Some(7), "অর্ডার")), vec![3]);
    assert_eq!(
        ids(&history, &search(Some(7), "প্রতিনিধিত্বকর্তাওং")),
        Vec::<i64>::new()
    );
    assert_eq!(ids(&history, &search(Some(7), "प्रतिनिधित्वकर्ताओं")), vec![4]);
    assert_eq!(
        ids(&history, &search(Some(7), "इंतजार")),
        vec![5],
        "the nukta folded"
    );
    // Vowel length is kept: दीन (poor) is not दिन (day), though they sound alike.
    assert!(ids(&history, &search(Some(7), "दीन")).is_empty());
}

#[test]
fn romanised_words_find_the_native_script_and_the_reverse_exact_matches_first() {
    let history = index(&[
        message(1, 7, Chat, 1, "मेरा ऑर्डर नहीं आया"),
        message(2, 7, Chat, 2, "amar order ekhono aseni"),
        message(3, 7, Chat, 3, "আমার অর্ডার এখনও আসেনি"),
        message(4, 7, Chat, 4, "order nahi aaya abhi tak"),
    ]);
    let mut roman = ids(&history, &search(Some(7), "order nahi aaya"));
    assert_eq!(roman.remove(0), 4, "the exact spelling ranks first");
    assert_eq!(roman, vec![1]);
    let native = ids(&history, &search(Some(7), "नहीं आया"));
    assert_eq!(
        native,
        vec![1, 4],
        "the script's own words first, then the romanised"
    );
    let bengali = ids(&history, &search(Some(7), "\"ekhono aseni\""));
    assert_eq!(bengali, vec![2, 3]);
}

#[test]
fn a_snippet_marks_the_words_found_and_never_cuts_a_letter() {
    let long = "नमस्ते। ".repeat(40) + "मेरा चार्जर टूट गया है। " + &"धन्यवाद। ".repeat(40);
    let history = index(&[message(1, 7, Chat, 1, &long)]);
    let found = history.search(&search(Some(7), "चार्जर")).unwrap();
    let snippet = &found.hits[0].snippet;
    let marked: Vec<&str> = (snippet.iter())
        .filter(|p| p.matched)
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(marked, vec!["चार्जर"]);
    let text: String = snippet.iter().map(|p| p.text.as_str()).collect();
    assert!(text.starts_with('…') && text.ends_with('…'), "{text}");
    let inner = text.trim_matches('…');
    let from = long
        .find(inner)
        .expect("the snippet is a stretch of the message");
    let to = from + inner.len();
    for cut in [from, to] {
        assert_eq!(
            crate::core::text::grapheme_floor(&long, cut),
            cut,
            "cut at {cut}"
        );
    }
    assert!(inner.chars().count() <= snippet::SNIPPET_CHARS + 20);
}

#[test]
fn pages_follow_one_another_without_a_gap_or_a_repeat() {
    let messages: Vec<Message> = (1..=25)
        .map(|i| message(i, 7, Chat, 1 + (i % 20) as u32, "parcel late"))
        .collect();
    let history = index(&messages);
    let whole = ids(&history, &search(Some(7), "parcel"));
    assert_eq!(whole.len(), 25);
    let mut paged = Vec::new();
    for offset in (0..25).step_by(10) {
        let mut page = search(Some(7), "parcel");
        (page.offset, page.limit) = (offset, 10);
        let found = history.search(&page).unwrap();
        assert_eq!(found.total, 25);
        paged.extend(found.hits.iter().map(|h| h.message.id));
    }
    assert_eq!(paged, whole);
}

#[test]
fn a_hit_carries_its_message_whole() {
    let mut sent = message(42, 7, Call, 3, "the courier never came");
    (sent.kind, sent.author) = (MessageKind::Transcript, MessageAuthor::Agent);
    let history = index(std::slice::from_ref(&sent));
    let found = history.search(&search(Some(7), "courier")).unwrap();
    assert_eq!(found.hits[0].message, sent);
}

#[test]
fn an_index_still_being_built_says_so() {
    let history = History::new().unwrap();
    history
        .add(&[message(1, 7, Chat, 1, "hello")], true)
        .unwrap();
    let error = history.search(&search(Some(7), "hello")).unwrap_err();
    assert!(matches!(error, SearchError::Building(1)), "{error}");
}

#[test]
fn queries_are_refused_only_when_empty_or_too_long() {
    assert_eq!(Query::parse("  ?! "), Err(QueryError::Empty));
    assert_eq!(Query::parse(""), Err(QueryError::Empty));
    assert_eq!(Query::parse(&"a".repeat(501)), Err(QueryError::TooLong));
    assert_eq!(
        Query::parse(&"a ".repeat(33)),
        Err(QueryError::TooManyWords)
    );
    let parsed = Query::parse("order:TRK-123 \"not came\" +café -x").unwrap();
    let terms: Vec<&str> = parsed.words().map(|w| w.term.as_str()).collect();
    assert_eq!(
        terms,
        vec!["order", "trk", "123", "not", "came", "cafe", "x"]
    );
    assert!(matches!(parsed.clauses[3], Clause::Phrase(ref w) if w.len() == 2));
}

#[test]
fn a_query_in_devanagari_or_bengali_finds_no_english_word_that_only_sounds_alike() {
    let history = index(&[
        message(
            1,
            7,
            Email,
            1,
            "Is it done? I can change the time, thanks. Use the phone.",
        ),
        message(2, 7, Chat, 2, "दो दिन से काम नहीं था"),
        message(3, 7, Chat, 3, "পার্সেল এখনও আসেনি"),
        message(4, 7, Chat, 4, "do din se kaam nahi tha"),
    ]);
    // दिन and "done" key alike (`d`), as do था and "the", काम and "can", আসেনি and "is".
    for (query, expected) in [
        ("दिन", vec![2, 4]),
        ("था", vec![2, 4]),
        ("काम", vec![2, 4]),
        ("আসেনি", vec![3]),
    ] {
        let mut found = ids(&history, &search(Some(7), query));
        found.sort();
        assert_eq!(found, expected, "{query}");
    }
}
