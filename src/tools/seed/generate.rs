//! The generated customers, each from its own random stream so that the data set depends
//! only on the seed, the reference time and the customer's id: who they are here; their
//! orders, parcels and invoices (`purchases.rs`), their account and cards (`accounts.rs`), their
//! tickets, chats and calls (`contacts.rs`) and what was said in them (`messages.rs`), written
//! in batches (`batch.rs`).

mod accounts;
mod batch;
mod contacts;
mod messages;
mod purchases;

use chrono::{DateTime, Duration};
use fake::{
    Fake,
    faker::name::en::{FirstName, LastName},
};
use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};
use rand_distr::Zipf;

pub(crate) use batch::Batch;

use super::products::SeedProduct;
use crate::core::vocab::Timestamp;

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
    message: i64,
    payment_method: i64,
}

fn take(counter: &mut i64) -> i64 {
    *counter += 1;
    *counter
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
}

#[cfg(test)]
mod tests;
