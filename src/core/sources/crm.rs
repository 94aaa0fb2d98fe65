//! CRM: who the customer is and their recent interactions; customers by id, email or phone.

use futures::{TryFutureExt, future::BoxFuture};
use serde::Deserialize;

use super::CustomerKey;
use super::{Source, SourceData, SourceError};
use crate::{
    core::db::{Bind, Db, PoolStatus, json, per_key},
    core::records::{CrmRecord, Identity, Interaction},
    core::vocab::{CustomerId, InvalidValue, SourceKind, Timestamp},
};

const CUSTOMER: &str = "SELECT id, first_name, last_name, email, phone_e164, tier, loyalty_points, \
     preferred_channel, created_at FROM customers WHERE id = $1";
const BY_EMAIL: &str = "SELECT id, first_name, last_name, email, phone_e164, tier, loyalty_points, \
     preferred_channel, created_at FROM customers WHERE email = $1 ORDER BY id LIMIT 20";
const BY_PHONE: &str = "SELECT id, first_name, last_name, email, phone_e164, tier, loyalty_points, \
     preferred_channel, created_at FROM customers WHERE phone_e164 = $1 ORDER BY id LIMIT 20";
/// On Postgres, [`CUSTOMER`], [`BY_EMAIL`] and [`BY_PHONE`] as one JSON document of arrays,
/// read in the fields' order: every statement that serves a call runs on the pipelined
/// connections, which read one text column (`core::db`).
const CUSTOMER_JSON: &str = "SELECT CAST(COALESCE(json_agg(json_build_array(id, first_name, \
     last_name, email, phone_e164, tier, loyalty_points, preferred_channel, created_at)), '[]') \
     AS TEXT) FROM customers WHERE id = $1";
const BY_EMAIL_JSON: &str = "SELECT CAST(COALESCE(json_agg(json_build_array(c.id, c.first_name, \
     c.last_name, c.email, c.phone_e164, c.tier, c.loyalty_points, c.preferred_channel, \
     c.created_at) ORDER BY c.id), '[]') AS TEXT) FROM (SELECT * FROM customers \
     WHERE email = $1 ORDER BY id LIMIT 20) c";
const BY_PHONE_JSON: &str = "SELECT CAST(COALESCE(json_agg(json_build_array(c.id, c.first_name, \
     c.last_name, c.email, c.phone_e164, c.tier, c.loyalty_points, c.preferred_channel, \
     c.created_at) ORDER BY c.id), '[]') AS TEXT) FROM (SELECT * FROM customers \
     WHERE phone_e164 = $1 ORDER BY id LIMIT 20) c";
const INTERACTIONS: &str = "SELECT id, channel, subject, status, csat, created_at, updated_at, \
     priority FROM interactions WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT 20";

/// On Postgres, a customer's record in one statement, batched with other customers': a round
/// trip per batch of loads, not two per load. Rows are JSON arrays, read in the fields' order.
const RECORD: &str = per_key!(
    "json_build_array(\
     (SELECT json_build_array(id, first_name, last_name, email, phone_e164, tier, \
        loyalty_points, preferred_channel, created_at) FROM customers WHERE id = k.id), \
     (SELECT COALESCE(json_agg(json_build_array(i.id, i.channel, i.subject, i.status, i.csat, \
        i.created_at, i.updated_at, i.priority) ORDER BY i.created_at DESC, i.id DESC), '[]') \
        FROM (SELECT * FROM interactions WHERE customer_id = k.id \
        ORDER BY created_at DESC, id DESC LIMIT 20) i) \
     )"
);

/// A customer's record, as its statements return it.
#[derive(Deserialize)]
struct RecordRows {
    customer: Option<CustomerRow>,
    interactions: Vec<InteractionRow>,
}

#[derive(sqlx::FromRow, Deserialize)]
struct CustomerRow {
    id: i64,
    first_name: String,
    last_name: String,
    email: String,
    phone_e164: String,
    tier: String,
    loyalty_points: i64,
    preferred_channel: String,
    #[serde(deserialize_with = "json::timestamp")]
    created_at: Timestamp,
}

impl CustomerRow {
    fn into_match(self) -> Result<(CustomerId, Identity), InvalidValue> {
        let id = CustomerId::new(self.id)
            .ok_or_else(|| InvalidValue::new("customer id", &self.id.to_string()))?;
        let identity = Identity {
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone_e164,
            tier: self.tier.parse()?,
            loyalty_points: self.loyalty_points,
            preferred_channel: self.preferred_channel.parse()?,
            customer_since: self.created_at,
        };
        Ok((id, identity))
    }
}

#[derive(sqlx::FromRow, Deserialize)]
struct InteractionRow {
    id: i64,
    channel: String,
    subject: String,
    status: String,
    csat: Option<i32>,
    #[serde(deserialize_with = "json::timestamp")]
    created_at: Timestamp,
    #[serde(deserialize_with = "json::timestamp")]
    updated_at: Timestamp,
    priority: String,
}

impl TryFrom<InteractionRow> for Interaction {
    type Error = InvalidValue;

    fn try_from(row: InteractionRow) -> Result<Self, InvalidValue> {
        let csat = match row.csat {
            None => None,
            Some(score @ 1..=5) => Some(score as u8),
            Some(other) => return Err(InvalidValue::new("csat", &other.to_string())),
        };
        Ok(Self {
            id: row.id,
            channel: row.channel.parse()?,
            subject: row.subject,
            status: row.status.parse()?,
            csat,
            created_at: row.created_at,
            updated_at: row.updated_at,
            priority: row.priority.parse()?,
        })
    }
}

/// The CRM backend over sqlx.
#[derive(Debug, Clone)]
pub struct CrmSource {
    db: Db,
}

impl CrmSource {
    /// CRM in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The customer's identity, if they exist.
    async fn identity(&self, id: CustomerId) -> Result<Option<Identity>, SourceError> {
        let rows = self
            .rows(CUSTOMER, CUSTOMER_JSON, Bind::Int(id.get()))
            .await?;
        rows.into_iter()
            .next()
            .map(|r| r.into_match().map(|(_, identity)| identity))
            .transpose()
            .map_err(SourceError::invalid(SourceKind::Crm))
    }

    /// The customers `key` names, for the lookup port.
    pub(super) async fn customers(
        &self,
        key: &CustomerKey,
    ) -> Result<Vec<(CustomerId, Identity)>, SourceError> {
        match key {
            CustomerKey::Id(id) => Ok(self
                .identity(*id)
                .await?
                .map(|i| (*id, i))
                .into_iter()
                .collect()),
            CustomerKey::Email(email) => self.find(BY_EMAIL, BY_EMAIL_JSON, email.as_str()).await,
            CustomerKey::Phone(phone) => self.find(BY_PHONE, BY_PHONE_JSON, phone.as_str()).await,
        }
    }

    /// The customers `sql` (on Postgres: `json`) returns.
    async fn rows(
        &self,
        sql: &'static str,
        json: &'static str,
        key: Bind,
    ) -> Result<Vec<CustomerRow>, SourceError> {
        self.db
            .fetch_rows(sql, json, &[key])
            .await
            .map_err(SourceError::query(SourceKind::Crm))
    }

    async fn find(
        &self,
        sql: &'static str,
        json: &'static str,
        key: &str,
    ) -> Result<Vec<(CustomerId, Identity)>, SourceError> {
        let rows = self.rows(sql, json, Bind::Text(key.to_owned())).await?;
        rows.into_iter()
            .map(CustomerRow::into_match)
            .collect::<Result<_, _>>()
            .map_err(SourceError::invalid(SourceKind::Crm))
    }

    /// The customer's rows: in one statement on Postgres, in two on SQLite.
    async fn record_rows(&self, id: CustomerId) -> Result<RecordRows, sqlx::Error> {
        let key = [Bind::Int(id.get())];
        if self.db.is_postgres() {
            return self.db.fetch_json_of(RECORD, id.get(), &[]).await;
        }
        let (customer, interactions) = futures::try_join!(
            self.db.fetch_optional::<CustomerRow>(CUSTOMER, &key),
            self.db.fetch_all::<InteractionRow>(INTERACTIONS, &key),
        )?;
        Ok(RecordRows {
            customer,
            interactions,
        })
    }

    async fn record(&self, id: CustomerId) -> Result<Option<CrmRecord>, SourceError> {
        let RecordRows {
            customer,
            interactions,
        } = self
            .record_rows(id)
            .await
            .map_err(SourceError::query(SourceKind::Crm))?;
        let Some(customer) = customer else {
            return Ok(None);
        };
        let (_, identity) = customer
            .into_match()
            .map_err(SourceError::invalid(SourceKind::Crm))?;
        let interactions = interactions
            .into_iter()
            .map(Interaction::try_from)
            .collect::<Result<_, _>>()
            .map_err(SourceError::invalid(SourceKind::Crm))?;
        Ok(Some(CrmRecord {
            identity,
            interactions,
        }))
    }
}

impl Source for CrmSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Crm
    }

    fn pool(&self) -> Option<PoolStatus> {
        Some(self.db.status())
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        super::ping(&self.db, SourceKind::Crm)
    }

    fn fetch(&self, customer: CustomerId) -> BoxFuture<'_, Result<SourceData, SourceError>> {
        Box::pin(self.record(customer).map_ok(SourceData::Crm))
    }
}
