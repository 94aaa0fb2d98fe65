//! Orders: a customer's recent orders with their lines and the totals over all of them; one
//! order by id, for lookups and return checks.

use std::collections::HashMap;

use futures::{TryFutureExt, future::BoxFuture};
use serde::Deserialize;

use super::{OrderDetail, Source, SourceData, SourceError};
use crate::{
    core::db::{Bind, Db, PoolStatus, json, per_key},
    core::records::{LineRecord, OrderHistory, OrderRecord, OrderTotals},
    core::vocab::{CustomerId, InvalidValue, Money, OrderId, SourceKind, Timestamp},
};

const RECENT: &str = "SELECT id, customer_id, status, currency, total_minor, placed_at FROM orders \
     WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT 20";
const RECENT_LINES: &str = "SELECT l.order_id, l.line_number, l.sku, l.quantity, \
     l.unit_price_minor, l.returned_quantity FROM order_lines l \
     JOIN (SELECT id FROM orders WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT 20) r \
     ON r.id = l.order_id ORDER BY l.order_id, l.line_number";
const TOTALS: &str = "SELECT COUNT(DISTINCT o.id) AS order_count, \
     CAST(COALESCE(SUM(l.quantity * l.unit_price_minor), 0) AS BIGINT) AS gross_minor, \
     CAST(COALESCE(SUM(l.returned_quantity * l.unit_price_minor), 0) AS BIGINT) AS refunded_minor, \
     CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) AS units, \
     CAST(COALESCE(SUM(l.returned_quantity), 0) AS BIGINT) AS returned_units \
     FROM orders o JOIN order_lines l ON l.order_id = o.id \
     WHERE o.customer_id = $1 AND o.status <> 'cancelled'";
const ONE: &str = "SELECT id, customer_id, status, currency, total_minor, placed_at FROM orders \
     WHERE id = $1";
const ONE_LINES: &str = "SELECT order_id, line_number, sku, quantity, unit_price_minor, \
     returned_quantity FROM order_lines WHERE order_id = $1 ORDER BY line_number";

/// On Postgres, the three statements of a history in one, batched with other customers': a
/// round trip per batch of loads, not three per load. Rows are JSON arrays, read in the
/// fields' order.
const HISTORY: &str = per_key!(
    "json_build_array(\
     (SELECT COALESCE(json_agg(json_build_array(o.id, o.customer_id, o.status, o.currency, \
        o.total_minor, o.placed_at) ORDER BY o.placed_at DESC, o.id DESC), '[]') FROM \
        (SELECT * FROM orders WHERE customer_id = k.id ORDER BY placed_at DESC, id DESC LIMIT 20) o), \
     (SELECT COALESCE(json_agg(json_build_array(l.order_id, l.line_number, l.sku, l.quantity, \
        l.unit_price_minor, l.returned_quantity) ORDER BY l.order_id, l.line_number), '[]') \
        FROM order_lines l JOIN (SELECT id FROM orders WHERE customer_id = k.id \
        ORDER BY placed_at DESC, id DESC LIMIT 20) r ON r.id = l.order_id), \
     (SELECT json_build_array(COUNT(DISTINCT o.id), \
        CAST(COALESCE(SUM(l.quantity * l.unit_price_minor), 0) AS BIGINT), \
        CAST(COALESCE(SUM(l.returned_quantity * l.unit_price_minor), 0) AS BIGINT), \
        CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT), \
        CAST(COALESCE(SUM(l.returned_quantity), 0) AS BIGINT)) \
        FROM orders o JOIN order_lines l ON l.order_id = o.id \
        WHERE o.customer_id = k.id AND o.status <> 'cancelled'))"
);

/// On Postgres, [`ONE`] and [`ONE_LINES`] in one statement, rows as arrays.
const ONE_JSON: &str = "SELECT CAST(json_build_array(\
     (SELECT json_build_array(id, customer_id, status, currency, total_minor, placed_at) \
        FROM orders WHERE id = $1), \
     (SELECT COALESCE(json_agg(json_build_array(order_id, line_number, sku, quantity, \
        unit_price_minor, returned_quantity) ORDER BY line_number), '[]') \
        FROM order_lines WHERE order_id = $1)) AS TEXT)";

/// One order, as its statements return it.
#[derive(Deserialize)]
struct OneRows {
    order: Option<OrderRow>,
    lines: Vec<LineRow>,
}

/// A customer's order history, as its statements return it.
#[derive(Deserialize)]
struct HistoryRows {
    orders: Vec<OrderRow>,
    lines: Vec<LineRow>,
    totals: Option<TotalsRow>,
}

#[derive(sqlx::FromRow, Deserialize)]
struct OrderRow {
    id: i64,
    customer_id: i64,
    status: String,
    currency: String,
    total_minor: i64,
    #[serde(deserialize_with = "json::timestamp")]
    placed_at: Timestamp,
}

#[derive(sqlx::FromRow, Deserialize)]
struct LineRow {
    order_id: i64,
    line_number: i32,
    sku: String,
    quantity: i32,
    unit_price_minor: i64,
    returned_quantity: i32,
}

#[derive(sqlx::FromRow, Deserialize)]
struct TotalsRow {
    order_count: i64,
    gross_minor: i64,
    refunded_minor: i64,
    units: i64,
    returned_units: i64,
}

impl OrderRow {
    fn into_record(self, lines: Vec<LineRow>) -> Result<OrderRecord, InvalidValue> {
        let currency = self.currency.parse()?;
        let id = OrderId::new(self.id).ok_or_else(|| InvalidValue::new("order id", "0"))?;
        let lines = lines
            .into_iter()
            .map(|line| {
                Ok(LineRecord {
                    line_number: line.line_number,
                    sku: line
                        .sku
                        .parse()
                        .map_err(|_| InvalidValue::new("sku", &line.sku))?,
                    quantity: line.quantity,
                    unit_price: Money::new(currency, line.unit_price_minor),
                    returned_quantity: line.returned_quantity,
                })
            })
            .collect::<Result<_, InvalidValue>>()?;
        Ok(OrderRecord {
            id,
            status: self.status.parse()?,
            placed_at: self.placed_at,
            total: Money::new(currency, self.total_minor),
            lines,
        })
    }
}

/// The orders backend over sqlx.
#[derive(Debug, Clone)]
pub struct OrdersSource {
    db: Db,
}

impl OrdersSource {
    /// Orders in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// One order, if it exists, for the lookup port.
    pub(super) async fn order(&self, id: OrderId) -> Result<Option<OrderDetail>, SourceError> {
        let OneRows { order, lines } = self
            .one_rows(id)
            .await
            .map_err(SourceError::query(SourceKind::Orders))?;
        let Some(order) = order else {
            return Ok(None);
        };
        let customer = CustomerId::new(order.customer_id);
        let detail = order.into_record(lines).and_then(|order| {
            let customer = customer.ok_or_else(|| InvalidValue::new("customer id", "0"))?;
            Ok(OrderDetail { customer, order })
        });
        detail
            .map(Some)
            .map_err(SourceError::invalid(SourceKind::Orders))
    }

    /// The order's rows: in one statement on Postgres, in two on SQLite.
    async fn one_rows(&self, id: OrderId) -> Result<OneRows, sqlx::Error> {
        let key = [Bind::Int(id.get())];
        if self.db.is_postgres() {
            return self.db.fetch_json(ONE_JSON, &key).await;
        }
        let (order, lines) = futures::try_join!(
            self.db.fetch_optional::<OrderRow>(ONE, &key),
            self.db.fetch_all::<LineRow>(ONE_LINES, &key),
        )?;
        Ok(OneRows { order, lines })
    }

    /// The customer's rows: in one statement on Postgres, in three on SQLite.
    async fn history_rows(&self, id: CustomerId) -> Result<HistoryRows, sqlx::Error> {
        let key = [Bind::Int(id.get())];
        if self.db.is_postgres() {
            return self.db.fetch_json_of(HISTORY, id.get(), &[]).await;
        }
        let (orders, lines, totals) = futures::try_join!(
            self.db.fetch_all::<OrderRow>(RECENT, &key),
            self.db.fetch_all::<LineRow>(RECENT_LINES, &key),
            self.db.fetch_optional::<TotalsRow>(TOTALS, &key),
        )?;
        Ok(HistoryRows {
            orders,
            lines,
            totals,
        })
    }

    async fn history(&self, id: CustomerId) -> Result<OrderHistory, SourceError> {
        let HistoryRows {
            orders,
            lines,
            totals,
        } = self
            .history_rows(id)
            .await
            .map_err(SourceError::query(SourceKind::Orders))?;
        let mut lines_by_order: HashMap<i64, Vec<LineRow>> = HashMap::new();
        for line in lines {
            lines_by_order.entry(line.order_id).or_default().push(line);
        }
        let currency = orders.first().map(|o| o.currency.parse()).transpose();
        let recent = orders
            .into_iter()
            .map(|order| {
                let lines = lines_by_order.remove(&order.id).unwrap_or_default();
                order.into_record(lines)
            })
            .collect::<Result<Vec<_>, _>>();
        let totals = totals.map_or_else(OrderTotals::default, |t| OrderTotals {
            order_count: t.order_count,
            gross_minor: t.gross_minor,
            refunded_minor: t.refunded_minor,
            units: t.units,
            returned_units: t.returned_units,
        });
        let invalid = SourceError::invalid(SourceKind::Orders);
        Ok(OrderHistory {
            recent: recent.map_err(&invalid)?,
            totals,
            currency: currency.map_err(&invalid)?,
        })
    }
}

impl Source for OrdersSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Orders
    }

    fn pool(&self) -> Option<PoolStatus> {
        Some(self.db.status())
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        super::ping(&self.db, SourceKind::Orders)
    }

    fn fetch(&self, customer: CustomerId) -> BoxFuture<'_, Result<SourceData, SourceError>> {
        Box::pin(self.history(customer).map_ok(SourceData::Orders))
    }
}
