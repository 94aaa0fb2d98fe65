//! What the ledger is read for: an offer, a customer's offers that count, what an agent gave
//! today, and its entries in order for the systems that carry offers out.

use super::{
    Entry, OfferStore,
    rows::{COLUMNS, EntryRow, OfferRow, SPENT_SINCE, at, counting_of_customer, day_start, offers},
};
use crate::core::{
    db::Db,
    offers::{Offer, OfferState},
    vocab::{Currency, CustomerId, Timestamp},
};

impl OfferStore {
    /// Whether the ledger's tables are there: a database error if not.
    pub async fn check(&self) -> Result<(), sqlx::Error> {
        const SQL: &str = "SELECT COUNT(*) FROM offer_ledger WHERE position < 0";
        let _: i64 = match &self.db {
            Db::Postgres { pool, .. } => sqlx::query_scalar(SQL).fetch_one(pool).await?,
            Db::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
        };
        Ok(())
    }

    /// The offer `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Offer>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM offers o WHERE o.offer_id = $1");
        let row: Option<OfferRow> = self.fetch_optional(sql, id).await?;
        Ok(row.and_then(OfferRow::offer))
    }

    /// `customer`'s offers that count (not rejected), oldest first.
    pub async fn made(&self, customer: CustomerId) -> Result<Vec<Offer>, sqlx::Error> {
        let sql = counting_of_customer();
        let rows: Vec<OfferRow> = match &self.db {
            Db::Postgres { pool, .. } => {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                query.bind(customer.get()).fetch_all(pool).await?
            }
            Db::Sqlite(pool) => {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                query.bind(customer.get()).fetch_all(pool).await?
            }
        };
        Ok(offers(rows))
    }

    /// What `agent` gave today (the UTC day of `now`) in `currency`, in offers that count.
    pub async fn spent_today(
        &self,
        agent: &str,
        currency: Currency,
        now: Timestamp,
    ) -> Result<i64, sqlx::Error> {
        const SQL: &str = SPENT_SINCE;
        let (currency, since) = (currency.to_string(), day_start(now));
        Ok(match &self.db {
            Db::Postgres { pool, .. } => {
                let query = sqlx::query_scalar(SQL).bind(agent).bind(currency);
                query.bind(since).fetch_one(pool).await?
            }
            Db::Sqlite(pool) => {
                let query = sqlx::query_scalar(SQL).bind(agent).bind(currency);
                query.bind(since).fetch_one(pool).await?
            }
        })
    }

    /// Up to `limit` ledger entries after `after`, in order: of `customer` only, if set; only
    /// those that made an offer one to carry out (recorded within limits, or approved), if
    /// `to_carry_out`.
    pub async fn entries(
        &self,
        after: i64,
        customer: Option<CustomerId>,
        to_carry_out: bool,
        limit: i64,
    ) -> Result<Vec<Entry>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS}, l.position AS entry_position, l.state AS entry_state, \
             l.actor AS entry_actor, l.at_us AS entry_us \
             FROM offer_ledger l JOIN offers o ON o.offer_id = l.offer_id \
             WHERE l.position > $1 AND ($2 = 0 OR o.customer_id = $2) \
             AND ($3 = 0 OR l.state IN ('recorded', 'approved')) \
             ORDER BY l.position LIMIT $4"
        );
        let binds = (
            after,
            customer.map_or(0, CustomerId::get),
            i64::from(to_carry_out),
        );
        let rows: Vec<EntryRow> = match &self.db {
            Db::Postgres { pool, .. } => {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                let query = query.bind(binds.0).bind(binds.1).bind(binds.2).bind(limit);
                query.fetch_all(pool).await?
            }
            Db::Sqlite(pool) => {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                let query = query.bind(binds.0).bind(binds.1).bind(binds.2).bind(limit);
                query.fetch_all(pool).await?
            }
        };
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(Entry {
                    position: row.entry_position,
                    state: OfferState::parse(&row.entry_state)?,
                    actor: row.entry_actor,
                    at: at(row.entry_us),
                    offer: row.offer.offer()?,
                })
            })
            .collect())
    }

    async fn fetch_optional(&self, sql: String, id: &str) -> Result<Option<OfferRow>, sqlx::Error> {
        match &self.db {
            Db::Postgres { pool, .. } => {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                query.bind(id).fetch_optional(pool).await
            }
            Db::Sqlite(pool) => {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                query.bind(id).fetch_optional(pool).await
            }
        }
    }

    /// The ledger's last position; 0 while it is empty.
    pub async fn last_position(&self) -> Result<i64, sqlx::Error> {
        const SQL: &str = "SELECT CAST(COALESCE(MAX(position), 0) AS BIGINT) FROM offer_ledger";
        match &self.db {
            Db::Postgres { pool, .. } => sqlx::query_scalar(SQL).fetch_one(pool).await,
            Db::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
        }
    }

    /// Every offer that counts (not rejected) recorded since `since`, oldest first.
    pub async fn counting_since(&self, since: Timestamp) -> Result<Vec<Offer>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM offers o WHERE o.recorded_us >= $1 AND o.state <> 'rejected' \
             ORDER BY o.recorded_us"
        );
        let since = since.timestamp_micros();
        let rows: Vec<OfferRow> = match &self.db {
            Db::Postgres { pool, .. } => {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                query.bind(since).fetch_all(pool).await?
            }
            Db::Sqlite(pool) => {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                query.bind(since).fetch_all(pool).await?
            }
        };
        Ok(offers(rows))
    }
}
