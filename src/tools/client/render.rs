//! Profiles and lookups as text for a person at a terminal.

use std::fmt::Write;

use chrono::DateTime;

use c360_proto as pb;

/// "CUSTOMER_TIER_GOLD" → "gold".
pub(super) fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_lowercase()
        .replace('_', " ")
}

/// An amount as people write it, `-` when there is none.
pub(super) fn money(money: Option<&pb::Money>) -> String {
    money.map_or_else(
        || "-".into(),
        |m| {
            let sign = if m.amount_minor < 0 { "-" } else { "" };
            let abs = m.amount_minor.unsigned_abs();
            format!("{sign}{}.{:02} {}", abs / 100, abs % 100, m.currency_code)
        },
    )
}

fn date(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(|t| DateTime::from_timestamp(t.seconds, 0))
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d").to_string())
}

fn days(d: Option<&prost_types::Duration>) -> Option<String> {
    let seconds = d?.seconds;
    Some(match seconds / 86_400 {
        0 => format!("{}h", seconds / 3600),
        1 => "1 day".into(),
        n => format!("{n} days"),
    })
}

/// A profile, section by section; absent sections are left out.
pub(super) fn profile(p: &pb::CustomerProfile) -> String {
    let mut out = String::new();
    let o = &mut out;
    match &p.identity {
        Some(id) => {
            let _ = writeln!(
                o,
                "{} {}  (customer {}, {}, {} points)",
                id.first_name,
                id.last_name,
                p.customer_id,
                short(id.tier().as_str_name(), "CUSTOMER_TIER_"),
                id.loyalty_points
            );
            let _ = writeln!(
                o,
                "  {} · {} · prefers {} · customer since {}",
                id.email,
                id.phone,
                short(id.preferred_channel().as_str_name(), "CONTACT_CHANNEL_"),
                date(id.customer_since.as_ref())
            );
        }
        None => {
            let _ = writeln!(o, "Customer {}", p.customer_id);
        }
    }
    if let Some(billing) = &p.billing {
        billing_section(o, billing);
    }
    if let Some(orders) = &p.orders {
        orders_section(o, orders);
    }
    if let Some(shipments) = &p.shipments {
        let _ = writeln!(o, "\nShipments ({} recent)", shipments.recent.len());
        for s in &shipments.recent {
            let late = days(s.delay.as_ref())
                .map(|d| format!("  {d} late"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  #{:<7} order {:<7} {:<10} {:<14} {:<18} promised {}{late}",
                s.shipment_id,
                s.order_id,
                s.carrier,
                s.tracking_number,
                short(s.status().as_str_name(), "SHIPMENT_STATUS_"),
                date(s.promised_at.as_ref())
            );
        }
    }
    if let Some(interactions) = &p.interactions {
        let _ = writeln!(o, "\nInteractions ({} recent)", interactions.recent.len());
        for i in &interactions.recent {
            let csat = if i.csat > 0 {
                format!("  csat {}/5", i.csat)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "  #{:<7} {}  {:<6} {:<9} \"{}\"{csat}",
                i.interaction_id,
                date(i.created_at.as_ref()),
                short(i.channel().as_str_name(), "INTERACTION_CHANNEL_"),
                short(i.status().as_str_name(), "INTERACTION_STATUS_"),
                i.subject
            );
        }
    }
    if let Some(insights) = &p.insights {
        insights_section(o, insights);
    }
    sources_section(o, p);
    out
}

fn billing_section(o: &mut String, billing: &pb::Billing) {
    let _ = writeln!(
        o,
        "\nBilling  balance {} · credit limit {}",
        money(billing.balance.as_ref()),
        money(billing.credit_limit.as_ref())
    );
    for card in &billing.payment_methods {
        let _ = writeln!(
            o,
            "  {} ending {} exp {:02}/{}{}",
            card.brand,
            card.last4,
            card.expiry_month,
            card.expiry_year,
            if card.is_default { " (default)" } else { "" }
        );
    }
    for failed in &billing.failed_payments {
        let _ = writeln!(
            o,
            "  ! payment of {} failed on {}: {} (invoice {})",
            money(failed.amount.as_ref()),
            date(failed.failed_at.as_ref()),
            failed.reason.replace('_', " "),
            failed.invoice_id
        );
    }
}

fn orders_section(o: &mut String, orders: &pb::Orders) {
    let _ = writeln!(o, "\nOrders ({} recent)", orders.recent.len());
    for order in &orders.recent {
        let _ = writeln!(
            o,
            "  #{:<7} {}  {:<9} {}",
            order.order_id,
            date(order.placed_at.as_ref()),
            short(order.status().as_str_name(), "ORDER_STATUS_"),
            money(order.total.as_ref())
        );
        for line in &order.lines {
            let verdict = line
                .return_eligibility
                .as_ref()
                .map_or_else(String::new, |e| {
                    let reason = short(e.reason().as_str_name(), "RETURN_ELIGIBILITY_REASON_");
                    match (&e.deadline, e.eligible) {
                        (Some(deadline), true) => {
                            format!("returnable until {}", date(Some(deadline)))
                        }
                        _ => format!("no return: {reason}"),
                    }
                });
            let returned = if line.returned_quantity > 0 {
                format!(" ({} returned)", line.returned_quantity)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "      {} × {} {} @ {}{returned} · {verdict}",
                line.quantity,
                line.sku,
                line.product_name,
                money(line.unit_price.as_ref())
            );
        }
    }
}

fn insights_section(o: &mut String, insights: &pb::Insights) {
    let _ = writeln!(
        o,
        "\nInsights  lifetime value {} · {} orders · return rate {:.0}%{}",
        money(insights.lifetime_value.as_ref()),
        insights.order_count,
        insights.return_rate * 100.0,
        if insights.complete {
            ""
        } else {
            " · incomplete: a backend did not answer"
        }
    );
    for issue in &insights.open_issues {
        let _ = writeln!(o, "  ! {}", issue.summary);
    }
    for (n, action) in insights.next_best_actions.iter().enumerate() {
        let _ = writeln!(o, "  {}. {}", n + 1, action.message);
    }
    for offer in &insights.offers_made {
        let _ = writeln!(o, "  offered: {}", super::offers::made(offer));
    }
}

fn sources_section(o: &mut String, p: &pb::CustomerProfile) {
    let sources: Vec<String> = p
        .sources
        .iter()
        .map(|s| {
            let latency = s
                .latency
                .as_ref()
                .map(|l| {
                    format!(
                        " {:.1}ms",
                        l.seconds as f64 * 1e3 + f64::from(l.nanos) / 1e6
                    )
                })
                .unwrap_or_default();
            format!(
                "{} {}{latency}",
                short(s.source().as_str_name(), "SOURCE_"),
                short(s.status().as_str_name(), "SOURCE_STATUS_"),
            )
        })
        .collect();
    let _ = writeln!(o, "\nSources  {}", sources.join(" · "));
    if let Some(cache) = &p.cache {
        let age = cache
            .age
            .as_ref()
            .map_or(0.0, |a| a.seconds as f64 + f64::from(a.nanos) / 1e9);
        let tier = match cache.served_from() {
            pb::CacheTier::L1 => "L1 (memory)",
            pb::CacheTier::L2 => "L2 (Redis)",
            _ => "the backends",
        };
        let _ = writeln!(o, "Served from {tier}, data {age:.1}s old");
    }
}

/// Lookup matches, one per line.
pub(super) fn matches(found: &pb::LookupCustomersResponse) -> String {
    if found.customers.is_empty() {
        return "No customer matches.\n".into();
    }
    let mut rows = vec![["ID", "NAME", "EMAIL", "PHONE", "TIER"].map(str::to_owned)];
    for m in &found.customers {
        rows.push(match &m.identity {
            Some(id) => [
                m.customer_id.clone(),
                format!("{} {}", id.first_name, id.last_name),
                id.email.clone(),
                id.phone.clone(),
                short(id.tier().as_str_name(), "CUSTOMER_TIER_"),
            ],
            None => [
                m.customer_id.clone(),
                "(identity unavailable)".into(),
                String::new(),
                String::new(),
                String::new(),
            ],
        });
    }
    table(&rows)
}

/// `rows` in columns as wide as their widest cell, two spaces apart, no trailing blanks.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_columns_line_up() {
        let found = |id: &str, first: &str, last: &str, email: &str| pb::CustomerMatch {
            customer_id: id.into(),
            identity: Some(pb::Identity {
                first_name: first.into(),
                last_name: last.into(),
                email: email.into(),
                phone: "+442079460018".into(),
                ..Default::default()
            }),
        };
        let text = matches(&pb::LookupCustomersResponse {
            customers: vec![
                found("8", "Zoë", "Brontë-Smythe", "zoe@example.com"),
                found("12345", "Al", "Li", "al.li.longer@example.org"),
            ],
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // Where `needle` starts in `line`, in characters.
        let at = |line: &str, needle: &str| line.find(needle).map(|b| line[..b].chars().count());
        for (heading, first, second) in [
            ("NAME", "Zoë", "Al Li"),
            ("EMAIL", "zoe@", "al.li."),
            ("PHONE", "+44", "+44"),
        ] {
            let column = at(lines[0], heading);
            assert!(column.is_some(), "{text}");
            assert_eq!(at(lines[1], first), column, "{heading}: {text}");
            assert_eq!(at(lines[2], second), column, "{heading}: {text}");
        }
        assert!(text.lines().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn enum_names_lose_their_prefix() {
        assert_eq!(short("CUSTOMER_TIER_GOLD", "CUSTOMER_TIER_"), "gold");
        assert_eq!(
            short("SHIPMENT_STATUS_IN_TRANSIT", "SHIPMENT_STATUS_"),
            "in transit"
        );
    }

    #[test]
    fn money_reads_like_money() {
        let m = |minor| pb::Money {
            currency_code: "GBP".into(),
            amount_minor: minor,
        };
        assert_eq!(money(Some(&m(123_456))), "1234.56 GBP");
        assert_eq!(money(Some(&m(-7))), "-0.07 GBP");
        assert_eq!(money(None), "-");
    }

    #[test]
    fn a_profile_without_sections_still_names_the_customer_and_its_sources() {
        let profile = pb::CustomerProfile {
            customer_id: "7".into(),
            sources: vec![pb::SourceReport {
                source: pb::Source::Billing as i32,
                status: pb::SourceStatus::Timeout as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = super::profile(&profile);
        assert!(text.starts_with("Customer 7\n"), "{text}");
        assert!(text.contains("billing timeout"), "{text}");
    }
}
