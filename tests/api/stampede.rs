//! A thousand concurrent requests for one cold customer cost one read per backend.

use c360::pb::GetCustomerProfileRequest;
use futures::future::join_all;

use crate::helpers::{Backend, spawn_app};

async fn a_thousand_concurrent_requests_for_a_cold_customer_read_each_backend_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let id = app.busy_customer().await;
    let calls = (0..1000).map(|_| {
        // Each caller has its own client, as a thousand agents' desktops would.
        let mut client = app.customers.clone();
        async move {
            let request = GetCustomerProfileRequest {
                customer_id: id.to_string(),
                ..Default::default()
            };
            client.get_customer_profile(request).await
        }
    });
    let answers = join_all(calls).await;
    assert!(
        answers.iter().all(Result::is_ok),
        "every caller is answered"
    );
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().unwrap().get_ref().customer_id == id.to_string())
    );
    assert_eq!(app.all_reads(), [1, 1, 1, 1]);
}

crate::over_both_backends!(
    a_thousand_concurrent_requests_for_a_cold_customer_read_each_backend_once
);
