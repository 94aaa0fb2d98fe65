//! `customer360.v1.CatalogService`, served from the in-memory snapshot; return checks read
//! the order and its parcels through `queries`.

use std::sync::Arc;

use c360_proto as pb;
use tonic::{Request, Response, Status};

use super::{
    call, rpc,
    status::ApiError,
    validate::{self, both},
};
use crate::{
    core::queries::Queries,
    core::reference::Catalog,
    core::vocab::{OrderId, Sku},
};

/// Serves the catalog, the return policies and return checks.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalog: Arc<Catalog>,
    queries: Queries,
}

impl CatalogApi {
    /// The snapshot in `catalog`; return checks through `queries`.
    pub fn new(catalog: Arc<Catalog>, queries: Queries) -> Self {
        Self { catalog, queries }
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

    async fn get_product(&self, request: pb::GetProductRequest) -> Result<pb::Product, ApiError> {
        let sku: Sku = validate::key("sku", &request.sku)?;
        self.product(&sku)
    }

    async fn batch_get_products(
        &self,
        request: pb::BatchGetProductsRequest,
    ) -> Result<pb::BatchGetProductsResponse, ApiError> {
        let skus = validate::keys::<Sku>("skus", &request.skus, validate::MAX_BATCH)?;
        let products = skus
            .iter()
            .map(|sku| self.product(sku))
            .collect::<Result<_, _>>()?;
        Ok(pb::BatchGetProductsResponse { products })
    }

    async fn list_return_policies(&self) -> Result<pb::ListReturnPoliciesResponse, ApiError> {
        let catalog = self.catalog.snapshot();
        Ok(pb::ListReturnPoliciesResponse {
            policies: catalog.policies().map(Into::into).collect(),
        })
    }

    async fn check_return(
        &self,
        request: Request<pb::CheckReturnEligibilityRequest>,
    ) -> Result<pb::CheckReturnEligibilityResponse, ApiError> {
        let deadline = validate::deadline(request.metadata());
        let request = request.into_inner();
        let ((order, sku), deadline) = both(
            both(
                validate::key::<OrderId>("order_id", &request.order_id),
                validate::key::<Sku>("sku", &request.sku),
            ),
            deadline,
        )?;
        let answer = self.queries.check_return(order, &sku, deadline).await?;
        let check = answer.check;
        Ok(pb::CheckReturnEligibilityResponse {
            order_id: order.to_string(),
            sku: sku.to_string(),
            customer_id: answer.customer.to_string(),
            product: check.product.as_ref().map(Into::into),
            policy: check.policy.as_ref().map(Into::into),
            eligibility: Some((&check.eligibility).into()),
            returnable_quantity: check.returnable_quantity,
        })
    }
}

#[tonic::async_trait]
impl pb::server::catalog_service_server::CatalogService for CatalogApi {
    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        rpc(
            "GetProduct",
            call::context(&request).cloned(),
            self.get_product(request.into_inner()),
        )
        .await
    }

    async fn batch_get_products(
        &self,
        request: Request<pb::BatchGetProductsRequest>,
    ) -> Result<Response<pb::BatchGetProductsResponse>, Status> {
        let call = call::context(&request).cloned();
        let request = request.into_inner();
        rpc("BatchGetProducts", call, self.batch_get_products(request)).await
    }

    async fn list_return_policies(
        &self,
        request: Request<pb::ListReturnPoliciesRequest>,
    ) -> Result<Response<pb::ListReturnPoliciesResponse>, Status> {
        rpc(
            "ListReturnPolicies",
            call::context(&request).cloned(),
            self.list_return_policies(),
        )
        .await
    }

    async fn check_return_eligibility(
        &self,
        request: Request<pb::CheckReturnEligibilityRequest>,
    ) -> Result<Response<pb::CheckReturnEligibilityResponse>, Status> {
        rpc(
            "CheckReturnEligibility",
            call::context(&request).cloned(),
            self.check_return(request),
        )
        .await
    }
}
