//! `customer360.v1.CatalogService`, served from the in-memory snapshot.

use std::sync::Arc;

use chrono::Utc;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{
    status::{ApiError, Violation},
    validate::{self, both},
};
use crate::{
    keys::{OrderId, Sku},
    pb,
    profile::delivery_of,
    reference::{Catalog, Delivery, return_eligibility},
    sources::{FulfilmentSource, OrdersSource},
};

/// Serves the catalog, the return policies and return checks.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalog: Arc<Catalog>,
    orders: OrdersSource,
    fulfilment: FulfilmentSource,
}

impl CatalogApi {
    /// The snapshot in `catalog`; orders and deliveries for return checks.
    pub fn new(catalog: Arc<Catalog>, orders: OrdersSource, fulfilment: FulfilmentSource) -> Self {
        Self {
            catalog,
            orders,
            fulfilment,
        }
    }

    fn product(&self, sku: &Sku) -> Result<pb::Product, ApiError> {
        self.catalog
            .snapshot()
            .product(sku)
            .map(Into::into)
            .ok_or_else(|| ApiError::NotFound {
                resource: "product",
                id: sku.to_string(),
            })
    }

    async fn check_return(
        &self,
        request: pb::CheckReturnEligibilityRequest,
    ) -> Result<pb::CheckReturnEligibilityResponse, ApiError> {
        let (order_id, sku) = both(
            validate::key::<OrderId>("order_id", &request.order_id),
            validate::key::<Sku>("sku", &request.sku),
        )?;
        let not_found = || ApiError::NotFound {
            resource: "order",
            id: order_id.to_string(),
        };
        let detail = self.orders.order(order_id).await?.ok_or_else(not_found)?;
        let lines: Vec<_> = detail.order.lines.iter().filter(|l| l.sku == sku).collect();
        // Several lines may carry the SKU: judge the first with units left to return.
        let line = lines
            .iter()
            .find(|l| l.returnable_quantity() > 0)
            .or(lines.first())
            .ok_or_else(|| {
                ApiError::InvalidArgument(vec![Violation::new(
                    "sku",
                    format!("order {order_id} has no line with SKU {sku}"),
                )])
            })?;
        // Fulfilment failing makes the delivery unknown, not the call a failure.
        let shipments = match self.fulfilment.shipments_of(order_id).await {
            Ok(shipments) => Some(shipments),
            Err(error) => {
                tracing::warn!(error = %crate::fanout::error_chain(&error), "deliveries for a return check");
                None
            }
        };
        let delivery = match &shipments {
            Some(shipments) => delivery_of(&detail.order, Some(shipments)),
            None => Delivery::Unknown,
        };
        let catalog = self.catalog.snapshot();
        let found = catalog.product_and_policy(&sku);
        let verdict = return_eligibility(detail.order.status, line, found, delivery, Utc::now());
        Ok(pb::CheckReturnEligibilityResponse {
            order_id: order_id.to_string(),
            sku: sku.to_string(),
            customer_id: detail.customer.to_string(),
            product: found.map(|(product, _)| product.into()),
            policy: found.and_then(|(_, policy)| policy).map(Into::into),
            eligibility: Some((&verdict).into()),
            returnable_quantity: lines.iter().map(|l| l.returnable_quantity()).sum(),
        })
    }
}

#[tonic::async_trait]
impl pb::server::catalog_service_server::CatalogService for CatalogApi {
    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let sku: Sku = validate::key("sku", &request.get_ref().sku).map_err(ApiError::from)?;
        Ok(Response::new(self.product(&sku)?))
    }

    async fn batch_get_products(
        &self,
        request: Request<pb::BatchGetProductsRequest>,
    ) -> Result<Response<pb::BatchGetProductsResponse>, Status> {
        let skus = validate::keys::<Sku>("skus", &request.get_ref().skus, validate::MAX_BATCH)
            .map_err(ApiError::from)?;
        let products = skus
            .iter()
            .map(|sku| self.product(sku))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::BatchGetProductsResponse { products }))
    }

    async fn list_return_policies(
        &self,
        _request: Request<pb::ListReturnPoliciesRequest>,
    ) -> Result<Response<pb::ListReturnPoliciesResponse>, Status> {
        let catalog = self.catalog.snapshot();
        Ok(Response::new(pb::ListReturnPoliciesResponse {
            policies: catalog.policies().map(Into::into).collect(),
        }))
    }

    async fn check_return_eligibility(
        &self,
        request: Request<pb::CheckReturnEligibilityRequest>,
    ) -> Result<Response<pb::CheckReturnEligibilityResponse>, Status> {
        let request = request.into_inner();
        let span = tracing::debug_span!("CheckReturnEligibility", order = %request.order_id);
        Ok(Response::new(
            self.check_return(request).instrument(span).await?,
        ))
    }
}
