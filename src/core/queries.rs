//! The reads that are not a profile: customers found by what a caller knows of them (email,
//! phone, an order), and a return judged against an order's lines, its parcels and the
//! catalog. Edge-independent like `read`; every backend read goes through the fan-out's
//! lookups, under deadlines and counted.

use std::sync::Arc;

use chrono::Utc;
use tokio::time::Instant;

use crate::{
    core::fanout::{Failure, Fanout},
    core::fanout::{Priority, Shed},
    core::records::Identity,
    core::reference::{Catalog, Delivery, ReturnCheck, check_return},
    core::sources::{CustomerKey, MAX_LOOKUP_MATCHES},
    core::vocab::{CustomerId, Email, OrderId, Phone, Sku, SourceKind},
};

/// What an agent may know of a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupKey {
    /// Their email.
    Email(Email),
    /// Their phone number.
    Phone(Phone),
    /// An order they placed.
    Order(OrderId),
}

/// A customer a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerMatch {
    /// Who.
    pub customer: CustomerId,
    /// Their identity; `None` when CRM did not answer (an order names its customer anyway).
    pub identity: Option<Identity>,
}

/// A return check's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnAnswer {
    /// Who placed the order.
    pub customer: CustomerId,
    /// The verdict.
    pub check: ReturnCheck,
}

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The order does not exist.
    #[error("order {0} does not exist")]
    OrderNotFound(OrderId),
    /// The order exists but carries no such SKU: the caller's mistake.
    #[error("order {order} has no line with SKU {sku}")]
    NoSuchLine {
        /// The order.
        order: OrderId,
        /// The SKU asked about.
        sku: Sku,
    },
    /// The backend the answer depends on failed or was too slow.
    #[error("the {0} backend is unavailable")]
    Unavailable(SourceKind),
    /// The caller's deadline passed first.
    #[error("the deadline passed before the backends answered")]
    DeadlineExceeded,
    /// The backends are as busy as this replica lets them be: nothing was read.
    #[error(transparent)]
    Overloaded(#[from] Shed),
}

/// Answers lookups and return checks; cheap to clone.
#[derive(Debug, Clone)]
pub struct Queries {
    fanout: Fanout,
    catalog: Arc<Catalog>,
}

impl Queries {
    /// Reads through `fanout`, judges returns against `catalog`.
    pub fn new(fanout: Fanout, catalog: Arc<Catalog>) -> Self {
        Self { fanout, catalog }
    }

    /// The customers `key` finds, by id, read before `deadline`; at most
    /// [`MAX_LOOKUP_MATCHES`], whatever the backend returns.
    pub async fn find_customers(
        &self,
        key: LookupKey,
        deadline: Option<Instant>,
    ) -> Result<Vec<CustomerMatch>, QueryError> {
        let _admitted = self.fanout.admit(Priority::Interactive, deadline)?;
        let by = match key {
            LookupKey::Email(email) => CustomerKey::Email(email),
            LookupKey::Phone(phone) => CustomerKey::Phone(phone),
            LookupKey::Order(order) => return self.customer_of(order, deadline).await,
        };
        let found = self.fanout.customers(by, deadline).await;
        let found = found.map_err(|failure| failed(SourceKind::Crm, failure, deadline))?;
        Ok(found
            .into_iter()
            .take(MAX_LOOKUP_MATCHES)
            .map(|(customer, identity)| CustomerMatch {
                customer,
                identity: Some(identity),
            })
            .collect())
    }

    /// The customer who placed `order`, with their identity if CRM answers.
    async fn customer_of(
        &self,
        order: OrderId,
        deadline: Option<Instant>,
    ) -> Result<Vec<CustomerMatch>, QueryError> {
        let detail = self.fanout.order(order, deadline).await;
        let detail = detail.map_err(|failure| failed(SourceKind::Orders, failure, deadline))?;
        let Some(detail) = detail else {
            return Ok(Vec::new());
        };
        // The order names the customer: CRM failing costs the identity, not the answer.
        let key = CustomerKey::Id(detail.customer);
        let identity = match self.fanout.customers(key, deadline).await {
            Ok(found) => found.into_iter().next().map(|(_, identity)| identity),
            Err(_) => None,
        };
        Ok(vec![CustomerMatch {
            customer: detail.customer,
            identity,
        }])
    }

    /// Whether `sku` of `order` may be returned now, read before `deadline`.
    pub async fn check_return(
        &self,
        order: OrderId,
        sku: &Sku,
        deadline: Option<Instant>,
    ) -> Result<ReturnAnswer, QueryError> {
        let _admitted = self.fanout.admit(Priority::Interactive, deadline)?;
        let detail = self.fanout.order(order, deadline).await;
        let detail = detail
            .map_err(|failure| failed(SourceKind::Orders, failure, deadline))?
            .ok_or(QueryError::OrderNotFound(order))?;
        let no_line = || QueryError::NoSuchLine {
            order,
            sku: sku.clone(),
        };
        if !detail.order.lines.iter().any(|line| &line.sku == sku) {
            return Err(no_line());
        }
        // Fulfilment failing makes the delivery unknown, not the call a failure.
        let parcels = self.fanout.shipments_of(order, deadline).await.ok();
        let delivery = Delivery::of(&detail.order, parcels.as_deref());
        let catalog = self.catalog.snapshot();
        let check = check_return(&detail.order, sku, delivery, &catalog, Utc::now());
        Ok(ReturnAnswer {
            customer: detail.customer,
            check: check.ok_or_else(no_line)?,
        })
    }
}

/// The error for a read of `kind` that gave nothing: the caller's deadline, if that is what
/// passed, else the backend.
fn failed(kind: SourceKind, failure: Failure, deadline: Option<Instant>) -> QueryError {
    let passed = deadline.is_some_and(|d| d <= Instant::now());
    match failure {
        Failure::Timeout if passed => QueryError::DeadlineExceeded,
        Failure::Timeout | Failure::Unavailable | Failure::CircuitOpen => {
            QueryError::Unavailable(kind)
        }
    }
}

#[cfg(test)]
mod tests;
