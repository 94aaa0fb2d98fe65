//! gRPC-Web over HTTP/1.1, with CORS, as a browser's agent desktop calls c360.

use c360_proto::GetCustomerProfileRequest;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp, spawn_app_with};

/// The agent desktop's origin, the one c360 is configured to let in.
const DESK: &str = "https://desk.example.com";

/// c360 letting browsers in from [`DESK`] only.
async fn spawn_for_desk(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.server.cors_origins = vec![DESK.into()]).await
}

/// Sends one HTTP/1.1 request and reads the whole response.
pub(crate) async fn http1(
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
) -> (String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let headers = String::from_utf8_lossy(&response[..split]).to_lowercase();
    let body = &response[split + 4..];
    let body = if headers.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    (headers, body)
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

/// A gRPC-Web `GetCustomerProfile` for customer 3 from a page at `origin`: the request's head
/// and body.
pub(crate) fn grpc_web_get(app: &TestApp, origin: &str) -> (String, Vec<u8>) {
    let message = GetCustomerProfileRequest {
        customer_id: "3".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend((message.len() as u32).to_be_bytes());
    frame.extend(&message);
    let head = format!(
        "POST /customer360.v1.CustomerService/GetCustomerProfile HTTP/1.1\r\nhost: {}\r\n\
         origin: {origin}\r\ncontent-type: application/grpc-web+proto\r\n\
         x-grpc-web: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        app.addr,
        frame.len()
    );
    (head, frame)
}

async fn a_browser_gets_a_profile_over_grpc_web_with_cors(backend: Backend) {
    let app = spawn_for_desk(backend).await;
    let (head, frame) = grpc_web_get(&app, DESK);
    let (headers, body) = http1(app.addr, &head, &frame).await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("content-type: application/grpc-web+proto"),
        "{headers}"
    );
    assert!(
        headers.contains("access-control-allow-origin: https://desk.example.com"),
        "{headers}"
    );
    // The first frame is the profile; a trailer frame (flag 0x80) carries grpc-status: 0.
    assert_eq!(body[0], 0);
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let profile = c360_proto::CustomerProfile::decode(&body[5..5 + len]).unwrap();
    assert_eq!(profile.customer_id, "3");
    assert!(profile.identity.is_some());
    let trailers = String::from_utf8_lossy(&body[5 + len + 5..]).to_lowercase();
    assert!(
        trailers.contains("grpc-status:0") || trailers.contains("grpc-status: 0"),
        "{trailers}"
    );
}

async fn a_browsers_preflight_is_answered(backend: Backend) {
    let app = spawn_for_desk(backend).await;
    let head = format!(
        "OPTIONS /customer360.v1.CustomerService/GetCustomerProfile HTTP/1.1\r\nhost: {}\r\n\
         origin: https://desk.example.com\r\naccess-control-request-method: POST\r\n\
         access-control-request-headers: content-type,x-grpc-web,authorization\r\n\
         connection: close\r\n\r\n",
        app.addr
    );
    let (headers, _) = http1(app.addr, &head, &[]).await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("access-control-allow-origin: https://desk.example.com"),
        "{headers}"
    );
    assert!(
        headers.contains("access-control-allow-methods"),
        "{headers}"
    );
    // Named, not `*`: the Fetch standard's wildcard does not cover `authorization`.
    let allowed = headers
        .lines()
        .find_map(|line| line.strip_prefix("access-control-allow-headers: "))
        .unwrap_or_else(|| panic!("no allow-headers: {headers}"));
    let allowed: Vec<&str> = allowed.split(',').map(str::trim).collect();
    for header in ["authorization", "x-api-key", "content-type", "x-grpc-web"] {
        assert!(allowed.contains(&header), "{header} not in {allowed:?}");
    }
}

async fn a_page_from_another_origin_is_refused(backend: Backend) {
    let app = spawn_for_desk(backend).await;
    // A page an agent happens to open tries to read a profile through the agent's browser.
    let (head, frame) = grpc_web_get(&app, "https://evil.example.net");
    let (headers, body) = http1(app.addr, &head, &frame).await;
    assert!(headers.starts_with("http/1.1 403"), "{headers}");
    assert!(
        !headers.contains("access-control-allow-origin"),
        "{headers}"
    );
    assert!(body.is_empty());
    // Its preflight gets no CORS grant either.
    let preflight = format!(
        "OPTIONS /customer360.v1.CustomerService/GetCustomerProfile HTTP/1.1\r\nhost: {}\r\n\
         origin: https://evil.example.net\r\naccess-control-request-method: POST\r\n\
         connection: close\r\n\r\n",
        app.addr
    );
    let (headers, _) = http1(app.addr, &preflight, &[]).await;
    assert!(headers.starts_with("http/1.1 403"), "{headers}");
    assert!(
        !headers.contains("access-control-allow-origin"),
        "{headers}"
    );
}

async fn browsers_are_refused_until_an_origin_is_configured(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (head, frame) = grpc_web_get(&app, DESK);
    let (headers, _) = http1(app.addr, &head, &frame).await;
    assert!(headers.starts_with("http/1.1 403"), "{headers}");
}

crate::over_both_backends!(
    a_browser_gets_a_profile_over_grpc_web_with_cors,
    a_browsers_preflight_is_answered,
    a_page_from_another_origin_is_refused,
    browsers_are_refused_until_an_origin_is_configured,
);
