//! The lookups, through the same stacks as profile reads: customers by key (CRM), an order
//! and who placed it (orders), an order's parcels (fulfilment).

use tokio::time::Instant;

use super::{Failure, Fanout};
use crate::core::{
    records::{Identity, Shipment},
    sources::{CustomerKey, OrderDetail},
    vocab::{CustomerId, OrderId, SourceKind},
};

impl Fanout {
    /// CRM: the customers `key` names. The key itself is never logged: it may be an email
    /// or a phone number.
    pub async fn customers(
        &self,
        key: CustomerKey,
        deadline: Option<Instant>,
    ) -> Result<Vec<(CustomerId, Identity)>, Failure> {
        let by = match key {
            CustomerKey::Id(_) => "id",
            CustomerKey::Email(_) => "email",
            CustomerKey::Phone(_) => "phone",
        };
        let kind = SourceKind::Crm;
        let span = tracing::debug_span!("lookup", source = %kind, by);
        self.read(kind, deadline, span, || self.lookups.customers(key.clone()))
            .await
    }

    /// Orders: one order and who placed it.
    pub async fn order(
        &self,
        order: OrderId,
        deadline: Option<Instant>,
    ) -> Result<Option<OrderDetail>, Failure> {
        let kind = SourceKind::Orders;
        let span = tracing::debug_span!("lookup", source = %kind, order = %order);
        self.read(kind, deadline, span, || self.lookups.order(order))
            .await
    }

    /// Fulfilment: the parcels of one order.
    pub async fn shipments_of(
        &self,
        order: OrderId,
        deadline: Option<Instant>,
    ) -> Result<Vec<Shipment>, Failure> {
        let kind = SourceKind::Fulfilment;
        let span = tracing::debug_span!("lookup", source = %kind, order = %order);
        self.read(kind, deadline, span, || self.lookups.shipments_of(order))
            .await
    }
}
