//! The text of a customer's conversations: a chat's, a ticket's or an email thread's messages,
//! a call's transcript, and the agent's note, about the customer's own orders, products and
//! parcels, in the customer's voice (`texts.rs`).
//!
//! Each conversation draws from a random stream of its own (the seed and the interaction's
//! id), so that adding text left every other row of the data set as it was.

mod texts;

use chrono::Duration;
use rand::{RngExt, SeedableRng};

pub(super) use texts::Topic;
use texts::Voice;

use super::{Batch, Generator, Rng, pick, purchases::OrderStory, take};
use crate::{core::vocab::Timestamp, tools::seed::write::Value};

/// One conversation to write, as the customer's contacts decided it.
pub(super) struct Conversation<'a> {
    pub(super) interaction: i64,
    pub(super) customer: i64,
    pub(super) channel: &'a str,
    pub(super) subject: &'a str,
    pub(super) topic: Topic,
    /// The order it is about, when the contact came from one.
    pub(super) story: Option<&'a OrderStory>,
    pub(super) created_at: Timestamp,
    /// Nothing is written after this (the interaction's last update, or the data set's today).
    pub(super) until: Timestamp,
}

/// How `customer` writes, the same for the same seed.
fn voice(seed: u64, customer: i64) -> Voice {
    let mut rng =
        Rng::seed_from_u64(seed ^ 0x5EED_7E47 ^ (customer as u64).wrapping_mul(0x9E37_79B9));
    pick(&mut rng, &Voice::WEIGHTS)
}

impl Generator {
    /// Writes the messages of `conversation`; `stories` are the customer's orders, one of
    /// which a refund or a damaged item is about.
    pub(super) fn messages(
        &mut self,
        conversation: &Conversation<'_>,
        stories: &[OrderStory],
        batch: &mut Batch,
    ) {
        let mut rng = Rng::seed_from_u64(
            self.seed
                ^ 0x3E55_A6E5
                ^ (conversation.interaction as u64).wrapping_mul(0xA24B_AED4_963E_E407),
        );
        let voice = voice(self.seed, conversation.customer);
        let mut topic = conversation.topic;
        let story = conversation.story.or_else(|| {
            (!stories.is_empty()).then(|| &stories[rng.random_range(0..stories.len())])
        });
        if story.is_none()
            || (topic == Topic::Late && story.and_then(|s| s.tracking.as_ref()).is_none())
        {
            topic = Topic::Other;
        }
        let fill = |text: &str| {
            let mut text = text.replace("{subject}", conversation.subject);
            if let Some(story) = story {
                text = text
                    .replace("{order}", &story.id.to_string())
                    .replace("{product}", &story.product)
                    .replace("{tracking}", story.tracking.as_deref().unwrap_or("—"));
            }
            // A subject that asks ("How do I…?") ends the sentence itself.
            text.replace("?.", "?").replace("?।", "?")
        };
        // The agent answers in the customer's voice, or now and then in English.
        let agent_voice = if rng.random_bool(0.8) {
            voice
        } else {
            Voice::English
        };
        let mut said = vec![
            (
                "customer",
                fill(texts::opening(topic, voice, rng.random_range(0..2))),
            ),
            ("agent", fill(texts::answer(topic, agent_voice))),
        ];
        if rng.random_bool(0.5) {
            said.push((
                "customer",
                fill(texts::follow_up(voice, rng.random_range(0..2))),
            ));
        }
        let (kind, step) = match conversation.channel {
            "call" => ("transcript", Duration::seconds(40)),
            "chat" => ("message", Duration::minutes(2)),
            _ => ("message", Duration::hours(5)),
        };
        let mut at = conversation.created_at;
        let mut lines: Vec<(&str, &str, String)> = said
            .into_iter()
            .map(|(author, body)| (kind, author, body))
            .collect();
        if rng.random_bool(0.5) {
            lines.push(("note", "agent", fill(texts::note(topic))));
        }
        for (position, (kind, author, body)) in (1..).zip(lines) {
            let id = take(&mut self.next.message);
            batch.messages.push(vec![
                id.into(),
                conversation.interaction.into(),
                conversation.customer.into(),
                Value::from(position),
                kind.into(),
                author.into(),
                at.min(conversation.until).into(),
                body.into(),
            ]);
            at += step + Duration::seconds(rng.random_range(0..step.num_seconds().max(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_voice_and_topic_has_its_words() {
        for topic in [
            Topic::Late,
            Topic::Payment,
            Topic::Damaged,
            Topic::Refund,
            Topic::Other,
        ] {
            for (voice, _) in Voice::WEIGHTS {
                for which in 0..2 {
                    assert!(!texts::opening(topic, voice, which).is_empty());
                }
                assert!(!texts::answer(topic, voice).is_empty());
            }
        }
        // Orders and parcels are named where the topic is about them.
        assert!(texts::opening(Topic::Late, Voice::Hindi, 0).contains("{tracking}"));
        assert!(texts::opening(Topic::Refund, Voice::RomanBengali, 1).contains("{order}"));
    }
}
