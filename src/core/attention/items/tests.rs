use super::*;
use crate::core::{
    attention::TargetSettings,
    records::{FailedPayment, InteractionStatus, Invoice, ShipmentStatus},
    vocab::{Currency, Money, OrderId},
};

fn t(text: &str) -> Timestamp {
    text.parse().expect("an RFC 3339 instant")
}

fn customer() -> CustomerId {
    CustomerId::new(42).unwrap()
}

fn rules() -> Rules {
    Rules::new(&AttentionSettings::default()).expect("the defaults hold")
}

fn shipment(id: i64, promised: &str, delivered: Option<&str>) -> Shipment {
    Shipment {
        id,
        order_id: OrderId::new(9).unwrap(),
        carrier: "DHL".into(),
        tracking_number: format!("T{id}"),
        status: ShipmentStatus::InTransit,
        promised_at: t(promised),
        shipped_at: None,
        delivered_at: delivered.map(t),
    }
}

fn interaction(id: i64, channel: InteractionChannel, opened: &str) -> Interaction {
    Interaction {
        id,
        channel,
        subject: format!("Subject {id}"),
        status: InteractionStatus::Open,
        csat: None,
        created_at: t(opened),
        updated_at: t(opened),
        priority: InteractionPriority::Normal,
    }
}

fn billing(failed: &[(i64, &str)], paid: &[(i64, &str)]) -> Billing {
    let eur = |minor| Money::new(Currency::EUR, minor);
    Billing {
        balance: eur(0),
        credit_limit: eur(0),
        payment_methods: Vec::new(),
        recent_invoices: paid
            .iter()
            .map(|&(id, at)| Invoice {
                id,
                order_id: None,
                amount: eur(1000),
                status: InvoiceStatus::Paid,
                issued_at: t(at),
                due_at: t(at),
                paid_at: Some(t(at)),
            })
            .collect(),
        failed_payments: failed
            .iter()
            .map(|&(invoice_id, at)| FailedPayment {
                invoice_id,
                amount: eur(1000),
                reason: "insufficient_funds".into(),
                failed_at: t(at),
            })
            .collect(),
    }
}

fn keys(derived: &Derived) -> Vec<(Reason, String)> {
    let mut keys: Vec<_> = derived
        .items
        .iter()
        .map(|i| (i.key.reason, i.key.cause.clone()))
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_parcel_becomes_late_at_its_promise_and_clears_on_delivery() {
    let shipments = [
        shipment(1, "2026-12-07T12:00:00Z", None),
        shipment(2, "2026-12-01T12:00:00Z", Some("2026-12-03T09:00:00Z")),
    ];
    let inputs = Inputs {
        shipments: Some(&shipments),
        ..Inputs::default()
    };
    // Before its promise: nothing yet, but the sweep must wake at the promise.
    let before = derive(customer(), inputs, &rules(), t("2026-12-07T11:00:00Z"));
    assert!(before.items.is_empty());
    assert_eq!(before.next_change, Some(t("2026-12-07T12:00:00Z")));
    assert_eq!(before.known, [Reason::LateShipment]);
    // Past it, with no row changing: late, due at the promise, worded as the insights are.
    let after = derive(customer(), inputs, &rules(), t("2026-12-09T13:00:00Z"));
    assert_eq!(keys(&after), [(Reason::LateShipment, "1".to_owned())]);
    let item = &after.items[0];
    assert_eq!(item.due, t("2026-12-07T12:00:00Z"));
    assert_eq!(
        item.evidence,
        "Shipment 1 (DHL T1) for order 9 is 2 days late"
    );
    assert!(
        item.action
            .starts_with("Shipment 1 is 2 days late: apologise")
    );
    assert_eq!(after.next_change, None);
    // Delivered: gone.
    let delivered = [shipment(
        1,
        "2026-12-07T12:00:00Z",
        Some("2026-12-09T14:00:00Z"),
    )];
    let inputs = Inputs {
        shipments: Some(&delivered),
        ..Inputs::default()
    };
    assert!(
        derive(customer(), inputs, &rules(), t("2026-12-09T15:00:00Z"))
            .items
            .is_empty()
    );
}

#[test]
fn a_failed_payment_stays_until_its_invoice_is_paid() {
    let now = t("2026-12-07T10:00:00Z");
    let open = billing(&[(7, "2026-12-05T08:00:00Z")], &[]);
    let inputs = |billing| Inputs {
        billing: Some(billing),
        ..Inputs::default()
    };
    let derived = derive(customer(), inputs(&open), &rules(), now);
    assert_eq!(keys(&derived), [(Reason::FailedPayment, "7".to_owned())]);
    assert_eq!(derived.items[0].due, t("2026-12-05T08:00:00Z"));
    assert!(derived.items[0].evidence.contains("insufficient funds"));
    let paid = billing(
        &[(7, "2026-12-05T08:00:00Z")],
        &[(7, "2026-12-06T08:00:00Z")],
    );
    assert!(
        derive(customer(), inputs(&paid), &rules(), now)
            .items
            .is_empty()
    );
}

#[test]
fn an_open_interaction_is_overdue_at_its_target_in_business_hours() {
    // The default support calendar: Monday to Friday, 08:00–18:00 UTC; a ticket has 8 hours.
    let friday = [interaction(
        5,
        InteractionChannel::Ticket,
        "2026-12-04T17:00:00Z",
    )];
    let inputs = Inputs {
        interactions: Some(&friday),
        ..Inputs::default()
    };
    // One hour on Friday, seven on Monday: due Monday 15:00, not "two days" later.
    let monday_morning = derive(customer(), inputs, &rules(), t("2026-12-07T09:00:00Z"));
    assert!(monday_morning.items.is_empty());
    assert_eq!(monday_morning.next_change, Some(t("2026-12-07T15:00:00Z")));
    let monday = derive(customer(), inputs, &rules(), t("2026-12-07T15:00:00Z"));
    assert_eq!(
        keys(&monday),
        [(Reason::OverdueInteraction, "5".to_owned())]
    );
    assert_eq!(monday.items[0].due, t("2026-12-07T15:00:00Z"));
    assert!(monday.items[0].action.contains("follow up on ticket 5"));
    // Resolved: gone.
    let mut resolved = friday.clone();
    resolved[0].status = InteractionStatus::Resolved;
    let inputs = Inputs {
        interactions: Some(&resolved),
        ..Inputs::default()
    };
    let later = derive(customer(), inputs, &rules(), t("2026-12-08T15:00:00Z"));
    assert!(later.items.is_empty());
    assert_eq!(
        later.known,
        [
            Reason::OverdueInteraction,
            Reason::RepeatContact,
            Reason::LowSatisfaction
        ]
    );
}

#[test]
fn contacts_repeating_within_the_period_make_one_item_until_they_age_out() {
    let mut contacts = vec![
        interaction(1, InteractionChannel::Call, "2026-12-01T10:00:00Z"),
        interaction(2, InteractionChannel::Email, "2026-12-03T10:00:00Z"),
        interaction(3, InteractionChannel::Chat, "2026-12-05T10:00:00Z"),
    ];
    for contact in &mut contacts {
        contact.status = InteractionStatus::Closed;
    }
    let inputs = Inputs {
        interactions: Some(&contacts),
        ..Inputs::default()
    };
    let now = t("2026-12-05T11:00:00Z");
    let derived = derive(customer(), inputs, &rules(), now);
    assert_eq!(keys(&derived), [(Reason::RepeatContact, String::new())]);
    assert_eq!(derived.items[0].due, t("2026-12-05T10:00:00Z"));
    assert!(
        derived.items[0]
            .evidence
            .starts_with("3 contacts within 7 days")
    );
    // The first ages out a week after it came.
    assert_eq!(derived.next_change, Some(t("2026-12-08T10:00:00Z")));
    let later = derive(customer(), inputs, &rules(), t("2026-12-08T10:00:01Z"));
    assert!(later.items.is_empty());
    // Derived again at the same instant: the same item, the same key.
    assert_eq!(derive(customer(), inputs, &rules(), now), derived);
}

#[test]
fn a_low_rating_is_acted_on_while_recent() {
    let mut rated = interaction(8, InteractionChannel::Chat, "2026-12-01T10:00:00Z");
    rated.status = InteractionStatus::Closed;
    rated.csat = Some(2);
    let mut fine = interaction(9, InteractionChannel::Chat, "2026-12-01T10:00:00Z");
    fine.status = InteractionStatus::Closed;
    fine.csat = Some(3);
    let both = [rated, fine];
    let inputs = Inputs {
        interactions: Some(&both),
        ..Inputs::default()
    };
    let derived = derive(customer(), inputs, &rules(), t("2026-12-02T10:00:00Z"));
    assert_eq!(keys(&derived), [(Reason::LowSatisfaction, "8".to_owned())]);
    assert!(derived.items[0].action.starts_with("Rated 2/5"));
    assert_eq!(derived.next_change, Some(t("2026-12-31T10:00:00Z")));
    let month_on = derive(customer(), inputs, &rules(), t("2026-12-31T10:00:00Z"));
    assert!(month_on.items.is_empty());
}

#[test]
fn a_backend_that_did_not_answer_leaves_its_reasons_unknown() {
    let derived = derive(
        customer(),
        Inputs::default(),
        &rules(),
        t("2026-12-02T10:00:00Z"),
    );
    assert!(derived.items.is_empty() && derived.known.is_empty());
}

#[test]
fn an_urgent_interaction_runs_to_its_priority_target_and_the_others_to_their_channels() {
    let mut settings = AttentionSettings::default();
    settings.targets.push(TargetSettings {
        channel: "ticket".into(),
        priority: Some("urgent".into()),
        within: std::time::Duration::from_secs(3600),
        calendar: None,
    });
    let rules = Rules::new(&settings).expect("the rules hold");
    // Opened Monday 09:00 in business hours: urgent is due at 10:00, normal at 17:00.
    let mut urgent = interaction(6, InteractionChannel::Ticket, "2026-12-07T09:00:00Z");
    urgent.priority = InteractionPriority::Urgent;
    let normal = interaction(7, InteractionChannel::Ticket, "2026-12-07T09:00:00Z");
    let both = [urgent, normal];
    let inputs = Inputs {
        interactions: Some(&both),
        ..Inputs::default()
    };
    let at_ten = derive(customer(), inputs, &rules, t("2026-12-07T10:00:00Z"));
    assert_eq!(
        keys(&at_ten),
        [(Reason::OverdueInteraction, "6".to_owned())]
    );
    assert_eq!(at_ten.next_change, Some(t("2026-12-07T17:00:00Z")));
}

#[test]
fn a_priority_target_must_name_a_priority_and_each_once() {
    let mut settings = AttentionSettings::default();
    let urgent = |priority: &str| TargetSettings {
        channel: "chat".into(),
        priority: Some(priority.into()),
        within: std::time::Duration::from_secs(600),
        calendar: None,
    };
    settings.targets.push(urgent("asap"));
    let refused = Rules::new(&settings).expect_err("refused").to_string();
    assert!(
        refused.contains("attention.targets[4].priority"),
        "{refused}"
    );
    settings.targets[4] = urgent("urgent");
    settings.targets.push(urgent("urgent"));
    let refused = Rules::new(&settings).expect_err("refused").to_string();
    assert!(refused.contains("chat urgent"), "{refused}");
}

#[test]
fn bad_rules_are_refused_at_start_naming_them() {
    let mut settings = AttentionSettings::default();
    settings.targets[0].channel = "fax".into();
    let refused = Rules::new(&settings).expect_err("refused").to_string();
    assert!(
        refused.contains("attention.targets[0].channel"),
        "{refused}"
    );
}
