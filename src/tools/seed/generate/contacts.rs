//! A customer's tickets, chats, calls and emails: some about their late parcels and failed
//! payments, the rest about everyday things; recent ones still open.

use rand::RngExt;

use super::{
    Batch, Generator, Rng, between, days,
    messages::{Conversation, Topic},
    pick,
    purchases::OrderStory,
    take,
};
use crate::core::vocab::Timestamp;

const SUBJECTS: &[&str] = &[
    "Change of delivery address",
    "Question about a product",
    "Refund not received yet",
    "Item arrived damaged",
    "How do I use my loyalty points?",
    "Wrong size sent",
    "Update my email preferences",
    "Invoice copy needed",
];

/// What an everyday subject is about.
fn topic_of(subject: &str) -> Topic {
    match subject {
        "Refund not received yet" => Topic::Refund,
        "Item arrived damaged" | "Wrong size sent" => Topic::Damaged,
        _ => Topic::Other,
    }
}

impl Generator {
    pub(super) fn interactions(
        &mut self,
        rng: &mut Rng,
        customer: i64,
        joined: Timestamp,
        stories: &[OrderStory],
        batch: &mut Batch,
    ) {
        let mut contacts: Vec<(Timestamp, &str, String, Topic, Option<&OrderStory>)> = Vec::new();
        for story in stories {
            if story.late && rng.random_bool(0.6) {
                let at = between(rng, story.placed_at + days(3), self.as_of);
                contacts.push((
                    at,
                    "ticket",
                    format!("Where is my parcel? (order {})", story.id),
                    Topic::Late,
                    Some(story),
                ));
            }
            if story.payment_failed && rng.random_bool(0.4) {
                let at = between(rng, story.placed_at, self.as_of);
                contacts.push((
                    at,
                    "call",
                    format!("Payment declined for order {}", story.id),
                    Topic::Payment,
                    Some(story),
                ));
            }
        }
        for _ in 0..pick(rng, &[(0, 45), (1, 30), (2, 15), (3, 7), (5, 3)]) {
            let channel = pick(
                rng,
                &[("ticket", 35), ("chat", 30), ("call", 20), ("email", 15)],
            );
            let at = between(rng, joined.max(self.as_of - days(400)), self.as_of);
            let subject = SUBJECTS[rng.random_range(0..SUBJECTS.len())];
            contacts.push((at, channel, subject.to_owned(), topic_of(subject), None));
        }
        contacts.sort_by_key(|(at, ..)| *at);
        for (created_at, channel, subject, topic, story) in contacts {
            let id = take(&mut self.next.interaction);
            let recent = self.as_of - created_at < days(7);
            let status = if recent {
                pick(rng, &[("open", 40), ("pending", 30), ("resolved", 30)])
            } else {
                pick(rng, &[("resolved", 60), ("closed", 40)])
            };
            let rated = matches!(status, "resolved" | "closed") && rng.random_bool(0.55);
            let csat = rated.then(|| pick(rng, &[(1i64, 5), (2, 7), (3, 13), (4, 30), (5, 45)]));
            let updated_at = between(rng, created_at, (created_at + days(3)).min(self.as_of));
            let conversation = Conversation {
                interaction: id,
                customer,
                channel,
                subject: &subject,
                topic,
                story,
                created_at,
                until: updated_at,
            };
            self.messages(&conversation, stories, batch);
            batch.interactions.push(vec![
                id.into(),
                customer.into(),
                channel.into(),
                subject.into(),
                status.into(),
                csat.into(),
                created_at.into(),
                updated_at.into(),
                priority(id).into(),
            ]);
        }
    }
}

/// An interaction's priority, from its id: a tenth urgent, a fifth high, a tenth low. Drawn
/// from no random number, so that adding it left the rest of a seed's data as it was.
fn priority(id: i64) -> &'static str {
    match id % 10 {
        0 => "urgent",
        1 | 2 => "high",
        9 => "low",
        _ => "normal",
    }
}
