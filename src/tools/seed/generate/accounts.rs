//! A customer's billing account, balanced against their unpaid invoices, and their cards.

use chrono::Datelike;
use rand::RngExt;

use super::{Batch, Generator, Region, Rng, days, pick, take};

impl Generator {
    pub(super) fn billing(
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
}
