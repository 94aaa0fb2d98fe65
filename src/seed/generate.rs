//! The generated customers: identity, interactions, billing, orders and shipments, each
//! customer from its own random stream so that the data set depends only on the seed, the
//! reference time and the customer's id.

use chrono::{DateTime, Duration};
use fake::{
    Fake,
    faker::name::en::{FirstName, LastName},
};
use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};
use rand_distr::{Distribution, Zipf};

use super::{
    catalog::SeedProduct,
    write::{Table, Value},
};
use crate::profile::Timestamp;

type Rng = Xoshiro256PlusPlus;

/// Picks one of `choices` with probability proportional to its weight.
fn pick<T: Copy>(rng: &mut Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (choice, weight) in choices {
        if roll < *weight {
            return *choice;
        }
        roll -= weight;
    }
    choices[choices.len() - 1].0
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// A uniformly random moment in `[from, to)`, to the second.
fn between(rng: &mut Rng, from: Timestamp, to: Timestamp) -> Timestamp {
    let (from, to) = (from.timestamp(), to.timestamp().max(from.timestamp() + 1));
    DateTime::from_timestamp(rng.random_range(from..to), 0).unwrap_or_default()
}

/// Letters and digits only, lower case, for email local parts.
fn slug(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    Uk,
    Us,
    Euro,
}

impl Region {
    fn currency(self) -> &'static str {
        match self {
            Self::Uk => "GBP",
            Self::Us => "USD",
            Self::Euro => "EUR",
        }
    }

    /// Converts a catalog (EUR) price to this region's price list, ending in .99.
    fn price(self, eur_minor: i64) -> i64 {
        let converted = match self {
            Self::Uk => eur_minor * 86 / 100,
            Self::Us => eur_minor * 108 / 100,
            Self::Euro => eur_minor,
        };
        (converted / 100) * 100 + 99
    }
}

/// A phone number in E.164 for `region`.
fn phone(rng: &mut Rng, region: Region) -> String {
    let digits = |rng: &mut Rng, n: u32| rng.random_range(0..10u64.pow(n));
    match region {
        Region::Uk if rng.random_bool(0.5) => format!("+447{:09}", digits(rng, 9)),
        Region::Uk => format!("+4420{:08}", digits(rng, 8)),
        Region::Us => format!("+1{}{:09}", rng.random_range(2..10), digits(rng, 9)),
        Region::Euro => {
            let country = pick(rng, &[("49", 4), ("33", 3), ("31", 2), ("353", 1)]);
            format!("+{country}{}{:08}", rng.random_range(1..10), digits(rng, 8))
        }
    }
}

/// Streams customers in id order; ids of orders, shipments and the rest run on across
/// batches.
pub(crate) struct Generator {
    seed: u64,
    as_of: Timestamp,
    products: Vec<SeedProduct>,
    weighted_products: Vec<(usize, u32)>,
    orders_per_customer: Zipf<f64>,
    next: NextIds,
    last_phone: Option<(String, Region)>,
    /// What the current customer owes on unpaid invoices.
    pending_balance: i64,
}

#[derive(Default)]
struct NextIds {
    order: i64,
    shipment: i64,
    invoice: i64,
    interaction: i64,
    payment_method: i64,
}

fn take(counter: &mut i64) -> i64 {
    *counter += 1;
    *counter
}

/// The tables of one batch, in the order they must be written.
pub(crate) struct Batch {
    customers: Table,
    interactions: Table,
    accounts: Table,
    methods: Table,
    invoices: Table,
    orders: Table,
    lines: Table,
    shipments: Table,
}

impl Batch {
    fn new() -> Self {
        Self {
            customers: Table::new(
                "customers",
                &[
                    "id",
                    "first_name",
                    "last_name",
                    "email",
                    "phone_e164",
                    "tier",
                    "loyalty_points",
                    "preferred_channel",
                    "created_at",
                ],
            ),
            interactions: Table::new(
                "interactions",
                &[
                    "id",
                    "customer_id",
                    "channel",
                    "subject",
                    "status",
                    "csat",
                    "created_at",
                    "updated_at",
                ],
            ),
            accounts: Table::new(
                "billing_accounts",
                &[
                    "customer_id",
                    "currency",
                    "balance_minor",
                    "credit_limit_minor",
                ],
            ),
            methods: Table::new(
                "payment_methods",
                &[
                    "id",
                    "customer_id",
                    "brand",
                    "last4",
                    "expiry_month",
                    "expiry_year",
                    "is_default",
                ],
            ),
            invoices: Table::new(
                "invoices",
                &[
                    "id",
                    "customer_id",
                    "order_id",
                    "currency",
                    "amount_minor",
                    "status",
                    "failure_reason",
                    "issued_at",
                    "due_at",
                    "paid_at",
                    "failed_at",
                ],
            ),
            orders: Table::new(
                "orders",
                &[
                    "id",
                    "customer_id",
                    "status",
                    "currency",
                    "total_minor",
                    "placed_at",
                ],
            ),
            lines: Table::new(
                "order_lines",
                &[
                    "order_id",
                    "line_number",
                    "sku",
                    "quantity",
                    "unit_price_minor",
                    "returned_quantity",
                ],
            ),
            shipments: Table::new(
                "shipments",
                &[
                    "id",
                    "order_id",
                    "customer_id",
                    "carrier",
                    "tracking_number",
                    "status",
                    "promised_at",
                    "shipped_at",
                    "delivered_at",
                    "created_at",
                ],
            ),
        }
    }

    /// Every table, parents first.
    pub(crate) fn into_tables(self) -> Vec<Table> {
        vec![
            self.customers,
            self.interactions,
            self.accounts,
            self.methods,
            self.invoices,
            self.orders,
            self.lines,
            self.shipments,
        ]
    }

    /// Rows in all tables.
    pub(crate) fn rows(&self) -> usize {
        [
            &self.customers,
            &self.interactions,
            &self.accounts,
            &self.methods,
            &self.invoices,
            &self.orders,
            &self.lines,
            &self.shipments,
        ]
        .iter()
        .map(|t| t.rows.len())
        .sum()
    }
}

/// What happened to one order, for the interactions that follow it.
struct OrderStory {
    id: i64,
    late: bool,
    payment_failed: bool,
    placed_at: Timestamp,
}

impl Generator {
    /// Customers over `products`, as of `as_of`.
    pub(crate) fn new(seed: u64, as_of: Timestamp, products: Vec<SeedProduct>) -> Self {
        let weighted_products = products
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.category.popularity))
            .collect();
        Self {
            seed,
            as_of,
            products,
            weighted_products,
            // Most customers order once or twice; a few order very often.
            orders_per_customer: Zipf::new(80.0, 1.7)
                .unwrap_or_else(|_| unreachable!("valid Zipf parameters")),
            next: NextIds::default(),
            last_phone: None,
            pending_balance: 0,
        }
    }

    /// The customers with ids `first..=last`.
    pub(crate) fn batch(&mut self, first: i64, last: i64) -> Batch {
        let mut batch = Batch::new();
        for id in first..=last {
            self.customer(id, &mut batch);
        }
        batch
    }

    fn customer(&mut self, id: i64, batch: &mut Batch) {
        let mut rng =
            Rng::seed_from_u64(self.seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.pending_balance = 0;
        let first: String = FirstName().fake_with_rng(&mut rng);
        let last: String = LastName().fake_with_rng(&mut rng);
        let domain = pick(
            &mut rng,
            &[("example.com", 5), ("example.net", 3), ("example.org", 2)],
        );
        let email = format!("{}.{}{id}@{domain}", slug(&first), slug(&last));
        // Households share a landline now and then.
        let (phone, region) = match &self.last_phone {
            Some(shared) if rng.random_bool(0.03) => shared.clone(),
            _ => {
                let region = pick(
                    &mut rng,
                    &[(Region::Uk, 6), (Region::Us, 2), (Region::Euro, 2)],
                );
                (phone(&mut rng, region), region)
            }
        };
        self.last_phone = Some((phone.clone(), region));
        let tier = pick(
            &mut rng,
            &[
                ("standard", 70),
                ("silver", 18),
                ("gold", 9),
                ("platinum", 3),
            ],
        );
        let points = match tier {
            "standard" => rng.random_range(0..500),
            "silver" => rng.random_range(500..3_000),
            "gold" => rng.random_range(3_000..12_000),
            _ => rng.random_range(12_000..60_000),
        };
        let channel = pick(
            &mut rng,
            &[("email", 5), ("phone", 2), ("sms", 1), ("chat", 2)],
        );
        let joined = between(&mut rng, self.as_of - days(2_500), self.as_of - days(20));
        batch.customers.push(vec![
            id.into(),
            first.into(),
            last.into(),
            email.into(),
            phone.into(),
            tier.into(),
            i64::from(points).into(),
            channel.into(),
            joined.into(),
        ]);

        let stories = self.orders(&mut rng, id, region, joined, batch);
        self.billing(&mut rng, id, region, tier, batch);
        self.interactions(&mut rng, id, joined, &stories, batch);
    }

    fn orders(
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

        if !cancelled {
            self.shipment(
                rng,
                id,
                customer,
                placed_at,
                promised_at,
                delivered.then_some(delivered_at),
                late,
                batch,
            );
        }
        let payment_failed = self.invoice(
            rng, customer, id, region, total, placed_at, cancelled, batch,
        );
        OrderStory {
            id,
            late,
            payment_failed,
            placed_at,
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
    ) {
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
            tracking.into(),
            status.into(),
            promised_at.into(),
            shipped_at.into(),
            delivered_at.into(),
            placed_at.into(),
        ]);
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
        let paid_at = placed_at + Duration::minutes(rng.random_range(1..90));
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
        let failed_at = failure.map(|_| placed_at + Duration::hours(rng.random_range(1..48)));
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

impl Generator {
    fn billing(
        &mut self,
        rng: &mut Rng,
        customer: i64,
        region: Region,
        tier: &str,
        batch: &mut Batch,
    ) {
        let credit_limit: i64 = match tier {
            "standard" => 50_000,
            "silver" => 100_000,
            "gold" => 250_000,
            _ => 500_000,
        };
        batch.accounts.push(vec![
            customer.into(),
            region.currency().into(),
            self.pending_balance.into(),
            credit_limit.into(),
        ]);
        let cards = pick(rng, &[(1, 60), (2, 30), (3, 10)]);
        for n in 0..cards {
            let id = take(&mut self.next.payment_method);
            let brand = pick(rng, &[("visa", 5), ("mastercard", 4), ("amex", 1)]);
            // From two months ago to five years ahead: now and then a default card expires soon.
            let months_ahead = rng.random_range(-2..60);
            let expiry = self.as_of + days(30 * months_ahead);
            use chrono::Datelike;
            batch.methods.push(vec![
                id.into(),
                customer.into(),
                brand.into(),
                format!("{:04}", rng.random_range(0..10_000)).into(),
                i64::from(expiry.month()).into(),
                i64::from(expiry.year()).into(),
                (n == 0).into(),
            ]);
        }
    }

    fn interactions(
        &mut self,
        rng: &mut Rng,
        customer: i64,
        joined: Timestamp,
        stories: &[OrderStory],
        batch: &mut Batch,
    ) {
        let mut contacts: Vec<(Timestamp, &str, String)> = Vec::new();
        for story in stories {
            if story.late && rng.random_bool(0.6) {
                let at = between(rng, story.placed_at + days(3), self.as_of);
                contacts.push((
                    at,
                    "ticket",
                    format!("Where is my parcel? (order {})", story.id),
                ));
            }
            if story.payment_failed && rng.random_bool(0.4) {
                let at = between(rng, story.placed_at, self.as_of);
                contacts.push((
                    at,
                    "call",
                    format!("Payment declined for order {}", story.id),
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
            contacts.push((at, channel, subject.to_owned()));
        }
        contacts.sort_by_key(|(at, _, _)| *at);
        for (created_at, channel, subject) in contacts {
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
            batch.interactions.push(vec![
                id.into(),
                customer.into(),
                channel.into(),
                subject.into(),
                status.into(),
                csat.into(),
                created_at.into(),
                updated_at.into(),
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::seed::catalog::products;

    fn as_of() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn the_same_seed_gives_the_same_customers_whatever_the_batch_sizes() {
        let mut whole = Generator::new(7, as_of(), products(7));
        let mut halves = Generator::new(7, as_of(), products(7));
        let all = whole.batch(1, 40).into_tables();
        let mut split = halves.batch(1, 20).into_tables();
        for (table, more) in split.iter_mut().zip(halves.batch(21, 40).into_tables()) {
            table.rows.extend(more.rows);
        }
        for (a, b) in all.iter().zip(&split) {
            assert_eq!(a.rows, b.rows, "{}", a.name);
        }
        let other = Generator::new(8, as_of(), products(8))
            .batch(1, 40)
            .into_tables();
        assert_ne!(all[0].rows, other[0].rows);
    }

    #[test]
    fn the_data_set_has_the_cases_agents_meet() {
        let tables = Generator::new(1, as_of(), products(1))
            .batch(1, 2_000)
            .into_tables();
        let column = |table: &Table, name: &str| {
            table
                .columns
                .iter()
                .position(|c| *c == name)
                .expect("column")
        };
        let count = |table: &str, name: &str, value: &str| {
            let table = tables.iter().find(|t| t.name == table).expect("table");
            let i = column(table, name);
            table
                .rows
                .iter()
                .filter(|r| r[i] == Value::from(value))
                .count()
        };
        assert_eq!(tables[0].rows.len(), 2_000);
        assert!(count("invoices", "status", "payment_failed") > 10);
        assert!(
            count("shipments", "status", "exception") + count("shipments", "status", "in_transit")
                > 10
        );
        assert!(count("orders", "status", "cancelled") > 10);
        assert!(count("interactions", "status", "open") > 10);
        let orders = tables.iter().find(|t| t.name == "orders").expect("orders");
        // Zipf-skewed activity: many customers with one order, a few with dozens.
        assert!(
            orders.rows.len() > 4_000 && orders.rows.len() < 20_000,
            "{}",
            orders.rows.len()
        );
        let phones = &tables[0];
        let i = column(phones, "phone_e164");
        let mut numbers: Vec<_> = phones.rows.iter().map(|r| &r[i]).collect();
        numbers.sort_by_key(|v| format!("{v:?}"));
        numbers.dedup();
        assert!(numbers.len() < 2_000, "some households share a number");
    }
}
