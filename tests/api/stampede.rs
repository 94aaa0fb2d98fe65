//! A thousand concurrent requests for one cold customer cost one read per backend.

use futures::future::join_all;

use crate::helpers::{Backend, get, reads_each, spawn_app};

async fn a_thousand_concurrent_requests_for_a_cold_customer_read_each_backend_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let id = app.busy_customer().await;
    // Each caller has its own client, as a thousand agents' desktops would.
    let calls = (0..1000).map(|_| app.try_get(get(id)));
    let answers = join_all(calls).await;
    assert!(
        answers.iter().all(Result::is_ok),
        "every caller is answered"
    );
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().unwrap().customer_id == id.to_string())
    );
    assert_eq!(app.all_reads(), reads_each(1));
}

crate::over_both_backends!(
    a_thousand_concurrent_requests_for_a_cold_customer_read_each_backend_once
);
