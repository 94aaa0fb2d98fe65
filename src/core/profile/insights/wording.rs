//! What the insights say of each problem and what to do about it, in one place: the profile's
//! open issues and next-best actions, and attention's items, word them alike.

use chrono::Duration;

use crate::core::records::{FailedPayment, Interaction, Shipment};

/// "Shipment 7 (DHL 123) for order 9 is 2 days late".
pub fn late_shipment(shipment: &Shipment, delay: Duration) -> String {
    format!(
        "Shipment {} ({} {}) for order {} is {} late",
        shipment.id,
        shipment.carrier,
        shipment.tracking_number,
        shipment.order_id,
        days(delay)
    )
}

/// What to do about a late shipment.
pub fn late_shipment_action(shipment: &Shipment, delay: Duration) -> String {
    format!(
        "Shipment {} is {} late: apologise and offer free shipping on the next order",
        shipment.id,
        days(delay)
    )
}

/// "Payment of €10.00 for invoice 4 failed: insufficient funds".
pub fn failed_payment(failed: &FailedPayment) -> String {
    format!(
        "Payment of {} for invoice {} failed: {}",
        failed.amount,
        failed.invoice_id,
        failed.reason.replace('_', " ")
    )
}

/// What to do about a failed payment.
pub fn failed_payment_action(failed: &FailedPayment) -> String {
    format!(
        "Payment of {} failed ({}): help the customer update their payment method",
        failed.amount,
        failed.reason.replace('_', " ")
    )
}

/// "Ticket 5 \"Broken lid\" is open (4 days old)".
pub fn open_interaction(open: &Interaction, age: Duration) -> String {
    format!(
        "{} {} \"{}\" is {} ({} old)",
        capitalise(open.channel.as_str()),
        open.id,
        open.subject,
        open.status,
        days(age)
    )
}

/// What to do about an interaction that has waited `age`.
pub fn follow_up(open: &Interaction, age: Duration) -> String {
    format!(
        "\"{}\" has waited {}: follow up on {} {}",
        open.subject,
        days(age),
        open.channel,
        open.id
    )
}

/// What to do about a low rating.
pub fn low_rating_action(rated: &Interaction) -> String {
    format!(
        "Rated {}/5 on \"{}\" recently: consider a goodwill gesture",
        rated.csat.unwrap_or_default(),
        rated.subject
    )
}

/// "1 day", "3 days"; "less than a day" below one.
pub fn days(duration: Duration) -> String {
    match duration.num_days() {
        0 => "less than a day".into(),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
