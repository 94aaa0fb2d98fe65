//! The agent's console: the page `console/` builds (TypeScript, bundled by Vite into
//! `console/dist`), embedded in the binary and served on the gRPC port when `server.console`
//! is on. Only `GET` and `HEAD` are answered here, and gRPC never uses them: every other
//! request goes on to the services untouched. The page holds no data — it reads everything
//! through the public API over gRPC-Web, with the caller's own credential — so it is served
//! without one.
//!
//! Every answer carries a Content-Security-Policy that allows no inline script and no origin
//! but this one, and denies framing; `scripts/test` rebuilds the bundle from its source and
//! lock file and fails if it differs from the one embedded here.

use std::{
    net::SocketAddr,
    task::{Context, Poll},
};

use futures::future::{Either, Ready, ready};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower::{Layer, Service};

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The built console. Vite names its output without content hashes (`console/vite.config.ts`),
/// so that the names here stay put from one build to the next.
const ASSETS: [Asset; 3] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../../console/dist/index.html"),
    },
    Asset {
        path: "/assets/console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../console/dist/assets/console.js"),
    },
    Asset {
        path: "/assets/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../console/dist/assets/style.css"),
    },
];

/// The page may run only its own script and style, and talk only to the origin it came from.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The headers every answer of the console carries.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

/// The origins a browser has when it loads the console from `local`, the gRPC listener's
/// address: on loopback (or every address) its loopback names, in the scheme it is served in.
/// Behind any other name, that name's origin goes in `server.cors_origins`.
pub(super) fn own_origins(local: SocketAddr, tls: bool) -> Vec<String> {
    let ip = local.ip();
    if !(ip.is_loopback() || ip.is_unspecified()) {
        return Vec::new();
    }
    let scheme = if tls { "https" } else { "http" };
    let port = local.port();
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|host| format!("{scheme}://{host}:{port}"))
        .collect()
}

/// Answers the console's `GET`s and `HEAD`s when on; passes everything else on.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConsoleLayer {
    on: bool,
}

impl ConsoleLayer {
    pub(super) fn new(on: bool) -> Self {
        Self { on }
    }
}

impl<S> Layer<S> for ConsoleLayer {
    type Service = Console<S>;

    fn layer(&self, inner: S) -> Console<S> {
        Console { inner, on: self.on }
    }
}

/// See [`ConsoleLayer`].
#[derive(Debug, Clone)]
pub(super) struct Console<S> {
    inner: S,
    on: bool,
}

impl<S, B> Service<Request<B>> for Console<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method();
        if !self.on || !(method == Method::GET || method == Method::HEAD) {
            return Either::Left(self.inner.call(request));
        }
        Either::Right(ready(Ok(answer(
            request.uri().path(),
            method == Method::HEAD,
        ))))
    }
}

/// The console's answer to a `GET` (or, without its body, a `HEAD`) of `path`.
fn answer(path: &str, head: bool) -> Response<tonic::body::Body> {
    let path = if path == "/index.html" { "/" } else { path };
    let found = ASSETS.iter().find(|asset| asset.path == path);
    let body = match (found, head) {
        (Some(asset), false) => tonic::body::Body::new(http_body_util::Full::new(
            bytes::Bytes::from_static(asset.body),
        )),
        _ => tonic::body::Body::empty(),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    match found {
        Some(asset) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.body.len()));
        }
        None => *response.status_mut() = StatusCode::NOT_FOUND,
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_no_inline_script_and_names_the_assets_served() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(page.contains(r#"src="/assets/console.js""#), "{page}");
        assert!(page.contains(r#"href="/assets/style.css""#), "{page}");
        // Every script element loads a file: none carries code of its own.
        for script in page.split("<script").skip(1) {
            let (open, rest) = script.split_once('>').unwrap();
            assert!(open.contains("src="), "{open}");
            assert!(rest.starts_with("</script>"), "{rest}");
        }
        // Nor an event handler attribute (` onclick=`, ` onload=`…).
        let handler = page.split(" on").skip(1).find(|rest| {
            let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        });
        assert_eq!(
            handler.map(|h| h.chars().take(20).collect::<String>()),
            None
        );
    }

    #[test]
    fn loopback_listeners_let_their_own_origins_in_and_others_none() {
        let origins = own_origins("127.0.0.1:8080".parse().unwrap(), false);
        assert_eq!(
            origins,
            [
                "http://127.0.0.1:8080",
                "http://localhost:8080",
                "http://[::1]:8080"
            ]
        );
        assert_eq!(
            own_origins("0.0.0.0:443".parse().unwrap(), true)[0],
            "https://127.0.0.1:443"
        );
        assert!(own_origins("10.1.2.3:50051".parse().unwrap(), false).is_empty());
    }

    #[test]
    fn unknown_paths_are_not_found_with_the_same_headers() {
        let response = answer("/secrets", false);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let page = answer("/", true);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()["content-length"],
            ASSETS[0].body.len().to_string()
        );
    }
}
