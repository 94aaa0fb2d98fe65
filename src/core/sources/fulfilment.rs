//! Fulfilment: a customer's recent shipments, and the shipments of one order.

use futures::{TryFutureExt, future::BoxFuture};

use super::{Source, SourceData, SourceError};
use crate::{
    core::db::{Bind, Db, PoolStatus},
    core::records::Shipment,
    core::vocab::{CustomerId, InvalidValue, OrderId, SourceKind, Timestamp},
};

const RECENT: &str = "SELECT id, order_id, carrier, tracking_number, status, promised_at, \
     shipped_at, delivered_at FROM shipments WHERE customer_id = $1 \
     ORDER BY created_at DESC, id DESC LIMIT 30";
const OF_ORDER: &str = "SELECT id, order_id, carrier, tracking_number, status, promised_at, \
     shipped_at, delivered_at FROM shipments WHERE order_id = $1 ORDER BY id";

#[derive(sqlx::FromRow)]
struct ShipmentRow {
    id: i64,
    order_id: i64,
    carrier: String,
    tracking_number: String,
    status: String,
    promised_at: Timestamp,
    shipped_at: Option<Timestamp>,
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
        self.shipments(OF_ORDER, order.get()).await
    }

    async fn shipments(&self, sql: &'static str, key: i64) -> Result<Vec<Shipment>, SourceError> {
        let rows: Vec<ShipmentRow> = self
            .db
            .fetch_all(sql, &[Bind::Int(key)])
            .await
            .map_err(SourceError::query(SourceKind::Fulfilment))?;
        rows.into_iter()
            .map(Shipment::try_from)
            .collect::<Result<_, _>>()
            .map_err(SourceError::invalid(SourceKind::Fulfilment))
    }
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
        Box::pin(
            self.shipments(RECENT, customer.get())
                .map_ok(SourceData::Fulfilment),
        )
    }
}
