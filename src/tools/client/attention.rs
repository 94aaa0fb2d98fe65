//! `c360 attention`: the queue of customers who need contact, most overdue first, as a table
//! (or JSON); with `--watch`, the queue and then a line for each change as it happens.

use c360_proto::{self as pb, attention_service_client::AttentionServiceClient};
use futures::StreamExt;

use super::{ClientError, Format, Server, channel, json, request, verbose};

/// The open items, most overdue first, at most `limit`.
pub async fn list(server: &Server, limit: i32, format: Format) -> Result<String, ClientError> {
    let message = pb::ListAttentionRequest {
        page_size: limit,
        ..Default::default()
    };
    let answer = server
        .within(async {
            let mut client = AttentionServiceClient::new(channel(server).await?);
            verbose::answered(
                server,
                client.list_attention(request(server, message)).await,
            )
        })
        .await?;
    match format {
        Format::Json => json(&answer, "customer360.v1.ListAttentionResponse"),
        Format::Text => Ok(table(&answer.items, !answer.next_page_token.is_empty())),
    }
}

/// Follows the queue: `show` gets the queue as a table, then a line per change, until the
/// server ends the stream. The command's deadline holds until the watch is open.
pub async fn watch(
    server: &Server,
    format: Format,
    mut show: impl FnMut(String),
) -> Result<(), ClientError> {
    let (_client, mut events) = server
        .within(async {
            let mut client = AttentionServiceClient::new(channel(server).await?);
            verbose::sending(server, false, true);
            let message = pb::WatchAttentionRequest::default();
            let events = verbose::answered(server, client.watch_attention(message).await)?;
            Ok((client, events))
        })
        .await?;
    let mut snapshot = Vec::new();
    while let Some(event) = events.next().await {
        let event = event?;
        if format == Format::Json {
            show(json(&event, "customer360.v1.AttentionEvent")?);
            continue;
        }
        match (event.kind(), event.item) {
            (pb::attention_event::Kind::SnapshotEnd, _) => {
                show(table(&std::mem::take(&mut snapshot), false));
            }
            (_, Some(item)) if event.transition.is_empty() => snapshot.push(item),
            (kind, Some(item)) => show(change(kind, &item, &event.transition, &event.actor)),
            (_, None) => {}
        }
    }
    Ok(())
}

/// `1d 4h`, `3h 05m`, `12m`, `due in 5m`: how overdue, to the minute.
fn overdue(item: &pb::AttentionItem) -> String {
    let seconds = item.overdue.map_or(0, |d| d.seconds);
    let minutes = seconds.unsigned_abs() / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let text = match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes:02}m"),
        _ => format!("{days}d {hours}h"),
    };
    match seconds < 0 {
        true => format!("due in {text}"),
        false => text,
    }
}

fn reason(item: &pb::AttentionItem) -> &'static str {
    match item.reason() {
        pb::AttentionReason::LateShipment => "late parcel",
        pb::AttentionReason::FailedPayment => "failed payment",
        pb::AttentionReason::OverdueInteraction => "past target",
        pb::AttentionReason::RepeatContact => "repeat contact",
        pb::AttentionReason::LowSatisfaction => "low rating",
        pb::AttentionReason::Unspecified => "?",
    }
}

fn tier(item: &pb::AttentionItem) -> &'static str {
    match item.tier() {
        pb::CustomerTier::Standard => "standard",
        pb::CustomerTier::Silver => "silver",
        pb::CustomerTier::Gold => "gold",
        pb::CustomerTier::Platinum => "platinum",
        pb::CustomerTier::Unspecified => "-",
    }
}

/// The items as a table, most overdue first.
fn table(items: &[pb::AttentionItem], more: bool) -> String {
    if items.is_empty() {
        return "Nobody needs contact now.\n".to_owned();
    }
    let mut text = format!(
        "{:<10} {:<15} {:>9} {:<9} {:<14} {}\n",
        "OVERDUE", "REASON", "CUSTOMER", "TIER", "CLAIMED BY", "EVIDENCE · NEXT ACTION"
    );
    for item in items {
        let holder = if item.claimed_by.is_empty() {
            "-"
        } else {
            &item.claimed_by
        };
        text.push_str(&format!(
            "{:<10} {:<15} {:>9} {:<9} {:<14} {} · {}\n",
            overdue(item),
            reason(item),
            item.customer_id,
            tier(item),
            holder,
            item.evidence,
            item.next_action
        ));
    }
    if more {
        text.push_str("… and more (--limit shows up to 1000)\n");
    }
    text
}

/// One change, on one line.
fn change(
    kind: pb::attention_event::Kind,
    item: &pb::AttentionItem,
    transition: &str,
    actor: &str,
) -> String {
    let mark = match kind {
        pb::attention_event::Kind::Added => '+',
        pb::attention_event::Kind::Removed => '-',
        _ => '~',
    };
    format!(
        "{} {mark} {:<15} customer {:>6} {:<10} by {actor}: {}",
        chrono::Local::now().format("%H:%M:%S"),
        reason(item),
        item.customer_id,
        transition,
        item.evidence
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(overdue_seconds: i64, claimed_by: &str) -> pb::AttentionItem {
        pb::AttentionItem {
            customer_id: "42".into(),
            reason: pb::AttentionReason::LateShipment.into(),
            overdue: Some(prost_types::Duration {
                seconds: overdue_seconds,
                nanos: 0,
            }),
            tier: pb::CustomerTier::Gold.into(),
            claimed_by: claimed_by.into(),
            evidence: "Shipment 7 (DHL X1) is 2 days late".into(),
            next_action: "Apologise".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_table_says_how_overdue_who_holds_it_and_what_to_do() {
        let text = table(
            &[
                item(93_600 + 600, ""),
                item(3 * 3600 + 300, "jwt:alice"),
                item(-300, ""),
            ],
            true,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("OVERDUE"), "{text}");
        assert!(
            lines[1].starts_with("1d 2h") && lines[1].contains("late parcel"),
            "{text}"
        );
        assert!(
            lines[1].contains(" gold ") && lines[1].contains("Apologise"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("3h 05m") && lines[2].contains("jwt:alice"),
            "{text}"
        );
        assert!(lines[3].starts_with("due in 5m"), "{text}");
        assert!(lines[4].starts_with("… and more"), "{text}");
        assert_eq!(table(&[], false), "Nobody needs contact now.\n");
    }
}
