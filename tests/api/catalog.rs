//! `CatalogService`: products, return policies and return checks from the in-memory snapshot.

use c360::core::db::Bind;
use c360_proto::ReturnEligibilityReason;
use tonic::Code;

use crate::helpers::{Backend, spawn_app};

async fn products_come_from_the_catalog_by_sku(backend: Backend) {
    let app = spawn_app(backend).await;
    let name = app
        .text("SELECT name FROM products WHERE sku = 'BOO-00003'", &[])
        .await;
    let product = app.product("boo-00003").await.unwrap();
    assert_eq!(
        (product.sku.as_str(), product.name.as_str()),
        ("BOO-00003", name.as_str())
    );
    assert_eq!(product.category, "books");

    let skus = ["GFT-00001", "ELE-00002", "GFT-00001"].map(String::from);
    let batch = app.products(&skus).await.unwrap();
    let answered: Vec<_> = batch.products.iter().map(|p| p.sku.clone()).collect();
    assert_eq!(answered, skus);
    assert!(
        !batch.products[0].returnable,
        "gift cards cannot be returned"
    );

    let unknown = app.product("NOPE-1").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let malformed = app.product("no spaces").await.unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
}

async fn return_policies_are_listed_by_category(backend: Backend) {
    let app = spawn_app(backend).await;
    let listed = app.return_policies().await;
    let count = app
        .scalar("SELECT COUNT(*) FROM return_policies", &[])
        .await;
    assert_eq!(listed.len() as i64, count);
    let categories: Vec<_> = listed.iter().map(|p| p.category.clone()).collect();
    let mut sorted = categories.clone();
    sorted.sort();
    assert_eq!(categories, sorted);
    let fashion = listed.iter().find(|p| p.category == "fashion").unwrap();
    let window = app
        .scalar(
            "SELECT CAST(window_days AS BIGINT) FROM return_policies WHERE category = 'fashion'",
            &[],
        )
        .await;
    assert_eq!(i64::from(fashion.window_days), window);
}

async fn a_delivered_line_is_returnable_until_its_categorys_window_closes(backend: Backend) {
    let app = spawn_app(backend).await;
    // The most recently delivered line of a returnable product with nothing returned yet.
    let (order, sku): (i64, String) = app
        .db
        .fetch_optional(
            "SELECT o.id, l.sku FROM orders o \
             JOIN order_lines l ON l.order_id = o.id \
             JOIN products p ON p.sku = l.sku \
             JOIN return_policies r ON r.category = p.category \
             WHERE o.status = 'delivered' AND l.returned_quantity = 0 AND p.returnable AND r.window_days >= 30 \
             ORDER BY o.placed_at DESC, o.id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    let order_key = [Bind::Int(order)];
    let window = app
        .scalar(
            "SELECT CAST(r.window_days AS BIGINT) FROM products p JOIN return_policies r ON r.category = p.category \
             WHERE p.sku = $1",
            &[Bind::Text(sku.clone())],
        )
        .await;
    let (delivered,): (chrono::DateTime<chrono::Utc>,) = app
        .db
        .fetch_optional(
            "SELECT MAX(delivered_at) AS delivered FROM shipments WHERE order_id = $1",
            &order_key,
        )
        .await
        .unwrap()
        .unwrap();
    let answer = app.check_return(order, &sku).await.unwrap();
    let verdict = answer.eligibility.unwrap();
    assert!(verdict.eligible, "{verdict:?}");
    assert_eq!(verdict.reason(), ReturnEligibilityReason::WithinWindow);
    let deadline = delivered + chrono::Duration::days(window);
    assert_eq!(verdict.deadline.unwrap().seconds, deadline.timestamp());
    assert_eq!(answer.product.unwrap().sku, sku);
    assert!(answer.returnable_quantity >= 1);
    let customer = app
        .scalar("SELECT customer_id FROM orders WHERE id = $1", &order_key)
        .await;
    assert_eq!(answer.customer_id, customer.to_string());
}

async fn cancelled_orders_unknown_orders_and_foreign_skus_are_answered_plainly(backend: Backend) {
    let app = spawn_app(backend).await;
    let (order, sku): (i64, String) = app
        .db
        .fetch_optional(
            "SELECT o.id, l.sku FROM orders o JOIN order_lines l ON l.order_id = o.id \
             WHERE o.status = 'cancelled' ORDER BY o.id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    let verdict = app.check_return(order, &sku).await.unwrap();
    assert_eq!(
        verdict.eligibility.unwrap().reason(),
        ReturnEligibilityReason::OrderCancelled
    );

    let status = app.check_return("99999999", "ELE-00001").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = app.check_return(order, "ZZZ-99999").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("no line with SKU ZZZ-99999"),
        "{}",
        status.message()
    );
}

crate::over_both_backends!(
    products_come_from_the_catalog_by_sku,
    return_policies_are_listed_by_category,
    a_delivered_line_is_returnable_until_its_categorys_window_closes,
    cancelled_orders_unknown_orders_and_foreign_skus_are_answered_plainly,
);
