//! A customer's orders with their lines, the parcel that carries each, and the invoice that
//! bills it; some parcels late, some payments failed.

use chrono::Duration;
use rand::RngExt;
use rand_distr::Distribution;

use super::{Batch, Generator, Region, Rng, days, pick, take};
use crate::{core::vocab::Timestamp, tools::seed::write::Value};

/// What happened to one order, for the interactions that follow it.
pub(super) struct OrderStory {
    pub(super) id: i64,
    pub(super) late: bool,
    pub(super) payment_failed: bool,
    pub(super) placed_at: Timestamp,
    /// The product of its first line, as customers write about it.
    pub(super) product: String,
    /// Its parcel's tracking number; none for a cancelled order.
    pub(super) tracking: Option<String>,
}

impl Generator {
    pub(super) fn orders(
        &mut self,
        rng: &mut Rng,
        customer: i64,
        region: Region,
        joined: Timestamp,
        batch: &mut Batch,
    ) -> Vec<OrderStory> {
        let count = self.orders_per_customer.sample(rng) as usize;
        let lifetime = (self.as_of - joined).num_seconds().max(1);
        // Recent orders are more likely than old ones.
        let mut placed: Vec<Timestamp> = (0..count)
            .map(|_| {
                let u: f64 = rng.random();
                self.as_of - Duration::seconds((lifetime as f64 * u * u) as i64)
            })
            .collect();
        placed.sort();
        placed
            .into_iter()
            .map(|placed_at| self.order(rng, customer, region, placed_at, batch))
            .collect()
    }

    fn order(
        &mut self,
        rng: &mut Rng,
        customer: i64,
        region: Region,
        placed_at: Timestamp,
        batch: &mut Batch,
    ) -> OrderStory {
        let id = take(&mut self.next.order);
        let age = self.as_of - placed_at;
        let cancelled = rng.random_bool(0.03);
        let late = !cancelled && age > days(3) && age < days(20) && rng.random_bool(0.12);
        let promised_at = placed_at + days(pick(rng, &[(2, 2), (3, 3), (4, 5)]));
        let delivered_at =
            placed_at + days(rng.random_range(1..=5)) + Duration::hours(rng.random_range(0..10));
        let delivered = !cancelled && !late && delivered_at <= self.as_of;
        let status = match () {
            _ if cancelled => "cancelled",
            _ if delivered => "delivered",
            _ if age > days(1) => "shipped",
            _ => "placed",
        };

        let line_count = pick(rng, &[(1, 55), (2, 25), (3, 12), (4, 8)]);
        let mut total = 0;
        let mut skus: Vec<usize> = Vec::with_capacity(line_count);
        while skus.len() < line_count {
            let product = pick(rng, &self.weighted_products);
            if !skus.contains(&product) {
                skus.push(product);
            }
        }
        let product_name = self.products[skus[0]].name.clone();
        for (number, product) in (1..).zip(skus) {
            let product = &self.products[product];
            let quantity = pick(rng, &[(1, 80), (2, 15), (3, 5)]);
            let price = region.price(product.price_minor);
            let returned = if delivered && product.returnable && rng.random_bool(0.07) {
                rng.random_range(1..=quantity)
            } else {
                0
            };
            total += price * i64::from(quantity);
            batch.lines.push(vec![
                id.into(),
                Value::from(number),
                product.sku.as_str().into(),
                quantity.into(),
                price.into(),
                returned.into(),
            ]);
        }
        batch.orders.push(vec![
            id.into(),
            customer.into(),
            status.into(),
            region.currency().into(),
            total.into(),
            placed_at.into(),
        ]);

        let tracking = (!cancelled).then(|| {
            self.shipment(
                rng,
                id,
                customer,
                placed_at,
                promised_at,
                delivered.then_some(delivered_at),
                late,
                batch,
            )
        });
        let payment_failed = self.invoice(
            rng, customer, id, region, total, placed_at, cancelled, batch,
        );
        OrderStory {
            id,
            late,
            payment_failed,
            placed_at,
            product: product_name,
            tracking,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn shipment(
        &mut self,
        rng: &mut Rng,
        order: i64,
        customer: i64,
        placed_at: Timestamp,
        promised_at: Timestamp,
        delivered_at: Option<Timestamp>,
        late: bool,
        batch: &mut Batch,
    ) -> String {
        let id = take(&mut self.next.shipment);
        let carrier = pick(
            rng,
            &[
                ("DHL", 4),
                ("UPS", 3),
                ("DPD", 3),
                ("Royal Mail", 2),
                ("FedEx", 2),
                ("PostNL", 1),
            ],
        );
        let tracking = format!(
            "{}{:010}",
            &carrier[..2].to_ascii_uppercase(),
            rng.random_range(0..10_000_000_000u64)
        );
        let age = self.as_of - placed_at;
        let shipped_at = (age > Duration::hours(18))
            .then(|| placed_at + Duration::hours(rng.random_range(4..18)));
        let status = match (delivered_at, shipped_at) {
            (Some(_), _) => "delivered",
            (None, None) => "label_created",
            (None, Some(_)) if late && rng.random_bool(0.3) => "exception",
            (None, Some(_)) if age > days(1) && rng.random_bool(0.2) => "out_for_delivery",
            (None, Some(_)) => "in_transit",
        };
        batch.shipments.push(vec![
            id.into(),
            order.into(),
            customer.into(),
            carrier.into(),
            tracking.clone().into(),
            status.into(),
            promised_at.into(),
            shipped_at.into(),
            delivered_at.into(),
            placed_at.into(),
        ]);
        tracking
    }

    /// Bills an order; true when its payment failed.
    #[allow(clippy::too_many_arguments)]
    fn invoice(
        &mut self,
        rng: &mut Rng,
        customer: i64,
        order: i64,
        region: Region,
        amount: i64,
        placed_at: Timestamp,
        cancelled: bool,
        batch: &mut Batch,
    ) -> bool {
        let id = take(&mut self.next.invoice);
        let age = self.as_of - placed_at;
        let due_at = placed_at + days(14);
        // Events are never after the data set's "today" (an order placed a minute before it
        // was paid at it, not after).
        let paid_at = (placed_at + Duration::minutes(rng.random_range(1..90))).min(self.as_of);
        let (status, paid, failure) = match () {
            _ if cancelled => ("refunded", Some(paid_at), None),
            _ if age < days(120) && rng.random_bool(0.04) => {
                let reason = pick(
                    rng,
                    &[
                        ("insufficient_funds", 5),
                        ("card_expired", 2),
                        ("do_not_honor", 2),
                        ("processing_error", 1),
                    ],
                );
                ("payment_failed", None, Some(reason))
            }
            _ if age < days(14) && rng.random_bool(0.25) => ("open", None, None),
            _ if age >= days(14) && rng.random_bool(0.015) => ("overdue", None, None),
            _ => ("paid", Some(paid_at), None),
        };
        let failed_at =
            failure.map(|_| (placed_at + Duration::hours(rng.random_range(1..48))).min(self.as_of));
        batch.invoices.push(vec![
            id.into(),
            customer.into(),
            order.into(),
            region.currency().into(),
            amount.into(),
            status.into(),
            failure.into(),
            placed_at.into(),
            due_at.into(),
            paid.into(),
            failed_at.into(),
        ]);
        if matches!(status, "open" | "overdue" | "payment_failed") {
            self.pending_balance += amount;
        }
        failure.is_some()
    }
}
