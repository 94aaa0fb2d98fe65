//! What operators and tools see: health, reflection (v1 and v1alpha), graceful shutdown.

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::{Backend, spawn_app};

const SERVICES: [&str; 4] = [
    "",
    "customer360.v1.CustomerService",
    "customer360.v1.CatalogService",
    "customer360.v1.CacheAdminService",
];

async fn health_says_serving_then_not_serving_on_shutdown(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in SERVICES {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        let status = health.check(request).await.unwrap().into_inner().status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
    let request = HealthCheckRequest {
        service: "customer360.v1.CustomerService".into(),
    };
    let mut watch = health.watch(request).await.unwrap().into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);

    app.stop();
    let next = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap();
    assert_eq!(next.unwrap().unwrap().status(), ServingStatus::NotServing);
    // Once its last stream is gone, the server finishes.
    drop(watch);
    drop(health);
    let server = app.server.take().unwrap();
    app.disconnect();
    let finished = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "{finished:?}");
}

async fn reflection_v1_and_v1alpha_describe_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let expected = [
        "customer360.v1.CatalogService",
        "customer360.v1.CustomerService",
        "grpc.health.v1.Health",
    ];

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let requests = [
        v1::ServerReflectionRequest {
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
            ..Default::default()
        },
        v1::ServerReflectionRequest {
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "customer360.v1.CustomerProfile".into(),
                ),
            ),
            ..Default::default()
        },
    ];
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let listed = answers.next().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        listed.message_response
    else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in expected {
        assert!(names.contains(&service), "{service} in {names:?}");
    }
    let file = answers.next().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        file.message_response
    else {
        panic!("expected file descriptors, got {file:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());

    let mut alpha =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
        ..Default::default()
    };
    let mut answers = alpha
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let listed = answers.next().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        listed.message_response
    else {
        panic!("expected a service list, got {listed:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "customer360.v1.CustomerService")
    );
}

crate::over_both_backends!(
    health_says_serving_then_not_serving_on_shutdown,
    reflection_v1_and_v1alpha_describe_the_api,
);

#[tokio::test]
async fn postgres_stops_a_statement_that_outlives_its_backends_timeout() {
    use c360::core::db::{Db, PoolOptions};

    let database = crate::helpers::TestDatabase::empty(Backend::Postgres).await;
    let db = Db::connect_lazy(
        &database.url,
        PoolOptions {
            max_connections: 1,
            statement_timeout: Some(Duration::from_millis(100)),
            ..PoolOptions::default()
        },
    )
    .unwrap();
    let error = db.execute("SELECT pg_sleep(5)", &[]).await.unwrap_err();
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(
        code.as_deref(),
        Some("57014"),
        "canceled by the server: {error}"
    );
    // The connection is fine afterwards.
    db.execute("SELECT 1", &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_shutdown_a_replica_drains_then_ends_its_watches_with_unavailable() {
    let mut app = crate::helpers::spawn_app_with(Backend::Sqlite, |settings| {
        settings.server.drain = Duration::from_secs(1);
    })
    .await;
    let mut watch = app.watch(3, &[]).await.unwrap();
    assert!(watch.next().await.unwrap().is_ok(), "the profile first");

    app.stop();
    let not_serving = crate::helpers::eventually(Duration::from_secs(2), || async {
        app.health("").await == ServingStatus::NotServing
    })
    .await;
    assert!(not_serving.is_some(), "health did not turn NOT_SERVING");
    // During the drain, new calls are still served.
    app.profile(4).await;
    // Then the watch ends, telling its caller to go elsewhere.
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the watch ended")
        .expect("with a status");
    assert_eq!(ended.unwrap_err().code(), tonic::Code::Unavailable);
    let server = app.server.take().unwrap();
    app.disconnect();
    let finished = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "{finished:?}");
}

/// A client that knows only reflection decodes c360's error details: the `google.rpc`
/// messages they use are served beside the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_serves_the_error_details_an_error_carries() {
    use prost::Message;
    use prost_reflect::{DescriptorPool, DynamicMessage, Value};
    use prost_types::FileDescriptorProto;
    use v1::server_reflection_request::MessageRequest;

    let app = spawn_app(Backend::Sqlite).await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let mut ask = async |request: MessageRequest| -> Vec<FileDescriptorProto> {
        let request = v1::ServerReflectionRequest {
            message_request: Some(request),
            ..Default::default()
        };
        let answer = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner()
            .next()
            .await
            .unwrap()
            .unwrap();
        match answer.message_response {
            Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(
                files,
            )) => files
                .file_descriptor_proto
                .iter()
                .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).unwrap())
                .collect(),
            other => panic!("expected file descriptors, got {other:?}"),
        }
    };
    // Every file the error details need, dependencies included, from reflection alone.
    let mut files = Vec::new();
    let mut wanted = vec![MessageRequest::FileContainingSymbol(
        "google.rpc.BadRequest".into(),
    )];
    wanted.push(MessageRequest::FileContainingSymbol(
        "google.rpc.Status".into(),
    ));
    while let Some(request) = wanted.pop() {
        for file in ask(request).await {
            if files
                .iter()
                .any(|f: &FileDescriptorProto| f.name == file.name)
            {
                continue;
            }
            for dependency in &file.dependency {
                if !files.iter().any(|f| f.name.as_ref() == Some(dependency)) {
                    wanted.push(MessageRequest::FileByFilename(dependency.clone()));
                }
            }
            files.push(file);
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files).unwrap();

    let bad = app
        .customers
        .clone()
        .get_customer_profile(c360_proto::GetCustomerProfileRequest {
            customer_id: "not-an-id".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let status = DynamicMessage::decode(
        pool.get_message_by_name("google.rpc.Status").unwrap(),
        bad.details(),
    )
    .unwrap();
    let Some(Value::List(details)) = status.get_field_by_name("details").map(|v| v.into_owned())
    else {
        panic!("details in {status:?}");
    };
    let any = details[0].as_message().unwrap();
    let type_url = any.get_field_by_name("type_url").unwrap();
    let name = type_url
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(name, "google.rpc.BadRequest");
    let value = any.get_field_by_name("value").unwrap();
    let bad_request = DynamicMessage::decode(
        pool.get_message_by_name(&name).unwrap(),
        value.as_bytes().unwrap().clone(),
    )
    .unwrap();
    let json = serde_json::to_value(&bad_request).unwrap();
    assert_eq!(json["fieldViolations"][0]["field"], "customer_id", "{json}");
    assert!(
        json["fieldViolations"][0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{json}"
    );
}

/// With no backend answering, the overall health entry says `NOT_SERVING` (the services'
/// entries still follow readiness: cached profiles are served); once one answers again,
/// `SERVING`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overall_health_is_not_serving_while_no_backend_answers() {
    use c360_loadtest::faultproxy::{FaultProxy, Mode};

    let database =
        std::sync::Arc::new(crate::helpers::TestDatabase::seeded(Backend::Postgres).await);
    let (scheme_user, rest) = database.url.split_once('@').unwrap();
    let (host_port, name) = rest.split_once('/').unwrap();
    let proxy = FaultProxy::start(host_port.parse().unwrap()).await.unwrap();
    let proxied = format!("{scheme_user}@{}/{name}", proxy.addr());
    let app = crate::helpers::spawn_replica(database, |s| {
        s.feed.enabled = false;
        s.database.url = proxied;
        s.database.max_connections = 2;
    })
    .await;
    let status = |service: &'static str| {
        let app = &app;
        async move { app.health(service).await }
    };
    let within = |expected: ServingStatus, service: &'static str| async move {
        crate::helpers::eventually(Duration::from_secs(10), || async {
            status(service).await == expected
        })
        .await
        .is_some()
    };
    assert!(within(ServingStatus::Serving, "").await, "serving at first");

    proxy.set(Mode::Blackhole);
    proxy.reset();
    assert!(
        within(ServingStatus::NotServing, "").await,
        "no backend answers"
    );
    assert_eq!(
        status("customer360.v1.CustomerService").await,
        ServingStatus::Serving,
        "the service still serves what it holds"
    );

    proxy.set(Mode::Pass);
    assert!(
        within(ServingStatus::Serving, "").await,
        "a backend answers again"
    );
}

/// Connections that send nothing are closed at the handshake timeout, before any credential
/// is asked for; a peer over its share of connections is closed at once; callers that speak
/// are served throughout (issue 24, item 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_and_a_peer_holds_at_most_its_share() {
    use tokio::{io::AsyncReadExt, net::TcpStream};
    let timeout = Duration::from_secs(3);
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |s| {
        s.server.handshake_timeout = timeout;
        s.server.max_connections_per_peer = 4;
    })
    .await;
    app.profile(1).await; // the test's own client: one connection of the four
    let opened = tokio::time::Instant::now();
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // Closed: the read ends (end of file, or a reset) instead of waiting.
    let closed_within = |mut socket: TcpStream, limit: Duration| async move {
        let mut byte = [0; 1];
        let read = tokio::time::timeout(limit, socket.read(&mut byte)).await;
        matches!(read, Ok(Ok(0) | Err(_)))
    };
    let over_share = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(over_share, timeout / 2).await,
        "a fifth connection from one peer was kept"
    );
    for socket in silent {
        assert!(
            closed_within(socket, timeout * 3).await,
            "a silent connection was held past the handshake timeout"
        );
    }
    assert!(opened.elapsed() >= timeout / 2, "closed before its timeout");
    // The client that speaks was never held back.
    assert_eq!(app.profile(2).await.customer_id, "2");
}
