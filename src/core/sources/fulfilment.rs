//! Fulfilment: a customer's recent shipments, and the shipments of one order.

use futures::{TryFutureExt, future::BoxFuture};
use serde::Deserialize;

use super::{Source, SourceData, SourceError};
use crate::{
    core::db::{Bind, Db, PoolStatus, json, per_key},
    core::records::Shipment,
    core::vocab::{CustomerId, InvalidValue, OrderId, SourceKind, Timestamp},
};

const RECENT: &str = "SELECT id, order_id, carrier, tracking_number, status, promised_at, \
     shipped_at, delivered_at FROM shipments WHERE customer_id = $1 \
     ORDER BY created_at DESC, id DESC LIMIT 30";
const OF_ORDER: &str = "SELECT id, order_id, carrier, tracking_number, status, promised_at, \
     shipped_at, delivered_at FROM shipments WHERE order_id = $1 ORDER BY id";

/// On Postgres, [`RECENT`] as one JSON document of arrays per customer of a batch, read in the
/// fields' order: decoding each column of each row by its name cost more than the document's
/// reading (BENCHMARKS.md, "A miss against the backends' own limit, third step").
const RECENT_JSON: &str = per_key!(
    "(SELECT COALESCE(json_agg(json_build_array(s.id, \
     s.order_id, s.carrier, s.tracking_number, s.status, s.promised_at, s.shipped_at, \
     s.delivered_at) ORDER BY s.created_at DESC, s.id DESC), '[]') FROM (SELECT * FROM shipments \
     WHERE customer_id = k.id ORDER BY created_at DESC, id DESC LIMIT 30) s)"
);

#[derive(sqlx::FromRow, Deserialize)]
struct ShipmentRow {
    id: i64,
    order_id: i64,
    carrier: String,
    tracking_number: String,
    status: String,
    #[serde(deserialize_with = "json::timestamp")]
    promised_at: Timestamp,
    #[serde(deserialize_with = "json::optional_timestamp")]
    shipped_at: Option<Timestamp>,
    #[serde(deserialize_with = "json::optional_timestamp")]
    delivered_at: Option<Timestamp>,
}

impl TryFrom<ShipmentRow> for Shipment {
    type Error = InvalidValue;

    fn try_from(row: ShipmentRow) -> Result<Self, InvalidValue> {
        Ok(Self {
            id: row.id,
            order_id: OrderId::new(row.order_id)
                .ok_or_else(|| InvalidValue::new("order id", &row.order_id.to_string()))?,
            carrier: row.carrier,
            tracking_number: row.tracking_number,
            status: row.status.parse()?,
            promised_at: row.promised_at,
            shipped_at: row.shipped_at,
            delivered_at: row.delivered_at,
        })
    }
}

/// On Postgres, [`OF_ORDER`] as one JSON document of arrays, as [`RECENT_JSON`].
const OF_ORDER_JSON: &str = "SELECT CAST(COALESCE(json_agg(json_build_array(id, order_id, \
     carrier, tracking_number, status, promised_at, shipped_at, delivered_at) ORDER BY id), \
     '[]') AS TEXT) FROM shipments WHERE order_id = $1";

/// The fulfilment backend over sqlx.
#[derive(Debug, Clone)]
pub struct FulfilmentSource {
    db: Db,
}

impl FulfilmentSource {
    /// Fulfilment in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The shipments of one order, for the lookup port.
    pub(super) async fn shipments_of(&self, order: OrderId) -> Result<Vec<Shipment>, SourceError> {
        let key = [Bind::Int(order.get())];
        shipments(self.db.fetch_rows(OF_ORDER, OF_ORDER_JSON, &key).await)
    }

    /// The customer's recent shipments: one JSON document on Postgres, read in a batch.
    async fn recent(&self, customer: CustomerId) -> Result<Vec<Shipment>, SourceError> {
        let rows = if self.db.is_postgres() {
            self.db
                .fetch_json_of(RECENT_JSON, customer.get(), &[])
                .await
        } else {
            self.db
                .fetch_all(RECENT, &[Bind::Int(customer.get())])
                .await
        };
        shipments(rows)
    }
}

fn shipments(rows: Result<Vec<ShipmentRow>, sqlx::Error>) -> Result<Vec<Shipment>, SourceError> {
    rows.map_err(SourceError::query(SourceKind::Fulfilment))?
        .into_iter()
        .map(Shipment::try_from)
        .collect::<Result<_, _>>()
        .map_err(SourceError::invalid(SourceKind::Fulfilment))
}

impl Source for FulfilmentSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Fulfilment
    }

    fn pool(&self) -> Option<PoolStatus> {
        Some(self.db.status())
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        super::ping(&self.db, SourceKind::Fulfilment)
    }

    fn fetch(&self, customer: CustomerId) -> BoxFuture<'_, Result<SourceData, SourceError>> {
        Box::pin(self.recent(customer).map_ok(SourceData::Fulfilment))
    }
}
