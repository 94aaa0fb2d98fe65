//! The lookup port over sqlx: CRM finds customers, orders finds one order, fulfilment an
//! order's parcels.

use futures::future::BoxFuture;

use super::{
    CrmSource, CustomerKey, FulfilmentSource, Lookups, OrderDetail, OrdersSource, SourceError,
};
use crate::{
    core::records::{Identity, Shipment},
    core::vocab::{CustomerId, OrderId},
};

/// [`Lookups`] in the reference schema, on the backends' own pools.
#[derive(Debug, Clone)]
pub struct SqlLookups {
    crm: CrmSource,
    orders: OrdersSource,
    fulfilment: FulfilmentSource,
}

impl SqlLookups {
    /// Lookups in these backends.
    pub fn new(crm: CrmSource, orders: OrdersSource, fulfilment: FulfilmentSource) -> Self {
        Self {
            crm,
            orders,
            fulfilment,
        }
    }
}

impl Lookups for SqlLookups {
    fn customers(
        &self,
        key: CustomerKey,
    ) -> BoxFuture<'_, Result<Vec<(CustomerId, Identity)>, SourceError>> {
        Box::pin(async move { self.crm.customers(&key).await })
    }

    fn order(&self, order: OrderId) -> BoxFuture<'_, Result<Option<OrderDetail>, SourceError>> {
        Box::pin(self.orders.order(order))
    }

    fn shipments_of(&self, order: OrderId) -> BoxFuture<'_, Result<Vec<Shipment>, SourceError>> {
        Box::pin(self.fulfilment.shipments_of(order))
    }
}
