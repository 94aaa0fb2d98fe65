//! What the edge knows about one call beyond its message: its request id (the caller's
//! `x-request-id` when it is a sane one (`audit::sane_request_id`), a new one otherwise), the W3C trace it is part of
//! (`traceparent`), and what the call noted on its way for the access log line and the audit
//! — who called, where the answer came from, why it was refused. The server's outermost gRPC layer makes one per call and puts
//! it in the request's extensions; the door and the handlers add to it.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, AtomicU8, Ordering},
};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{
    core::{entry::ServedFrom, logs::CallFields},
    edge::audit,
    edge::auth::{Admitted, Caller},
};

/// The header a request id travels in, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The W3C trace context header.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// One call's context; cheap to clone.
#[derive(Debug, Clone)]
pub struct CallContext(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    request_id: HeaderValue,
    trace: Option<TraceParent>,
    /// A caller the door knew and refused.
    caller: OnceLock<Arc<Caller>>,
    /// The caller let in and what it may read (authentication on), for the services.
    admitted: OnceLock<Admitted>,
    /// Why the call was refused, when it was (by the door or a handler's grant check).
    refused: OnceLock<String>,
    /// Whether the caller's deadline was below the floor its expiry is its own fault under.
    short_deadline: AtomicBool,
    /// 0: not noted; then `ServedFrom` + 1.
    served: AtomicU8,
}

impl CallFields for Inner {
    fn request_id(&self) -> &str {
        // Only visible ASCII gets in (checked or generated).
        self.request_id.to_str().unwrap_or("-")
    }

    fn trace(&self) -> Option<(&str, &str)> {
        self.trace
            .as_ref()
            .map(|trace| (trace.trace_id.as_str(), trace.parent_id.as_str()))
    }
}

/// A W3C trace context's identifiers (`traceparent`, version 00), as lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace, 32 hex digits.
    pub trace_id: String,
    /// The caller's span, 16 hex digits.
    pub parent_id: String,
    /// Whether the caller samples this trace.
    pub sampled: bool,
}

impl CallContext {
    /// The context of a call with these request headers.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut request_id = headers
            .get(&REQUEST_ID)
            .filter(|id| audit::sane_request_id(id.as_bytes()))
            .cloned()
            .unwrap_or_else(new_request_id);
        // Sent back as a literal HPACK never indexes: a value new on every response would
        // only churn the connection's header table (and cost the server a search of it per
        // response) for nothing to gain.
        request_id.set_sensitive(true);
        let trace = headers
            .get(&TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(TraceParent::parse);
        Self(Arc::new(Inner {
            request_id,
            trace,
            caller: OnceLock::new(),
            admitted: OnceLock::new(),
            refused: OnceLock::new(),
            short_deadline: AtomicBool::new(false),
            served: AtomicU8::new(0),
        }))
    }

    /// The request id as sent back in `x-request-id` (marked sensitive: never indexed).
    pub fn request_id_header(&self) -> HeaderValue {
        self.0.request_id.clone()
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        CallFields::request_id(&*self.0)
    }

    /// The caller's trace, if it sent one.
    pub fn trace(&self) -> Option<&TraceParent> {
        self.0.trace.as_ref()
    }

    /// What the lines the call logs say of it (`core::logs::LoggedCall`).
    pub fn fields(&self) -> Arc<dyn CallFields> {
        self.0.clone()
    }

    /// Notes who is calling (the door, when it refuses a caller it knows; one it lets in is
    /// noted with what it may read, [`Self::note_admitted`]).
    pub fn note_caller(&self, caller: Arc<Caller>) {
        let _first = self.0.caller.set(caller);
    }

    /// Notes whom the door let in and what it may read (kept in the context the call already
    /// carries: a request extension of its own would cost each call a map that grows).
    pub fn note_admitted(&self, admitted: Admitted) {
        let _first = self.0.admitted.set(admitted);
    }

    /// Whom the door let in, with authentication on.
    pub fn admitted(&self) -> Option<&Admitted> {
        self.0.admitted.get()
    }

    /// Who called, when known: let in or refused.
    pub fn caller(&self) -> Option<&str> {
        let admitted = self.0.admitted.get().map(|admitted| &admitted.caller);
        admitted
            .or_else(|| self.0.caller.get())
            .map(|caller| caller.name.as_str())
    }

    /// Notes that the call was refused, and why (in the caller's words: no credential).
    pub fn note_refused(&self, why: impl Into<String>) {
        let _first = self.0.refused.set(why.into());
    }

    /// Why the call was refused, if it was.
    pub fn refused(&self) -> Option<&str> {
        self.0.refused.get().map(String::as_str)
    }

    /// Notes that the caller asked for a deadline below the floor (the deadline layer).
    pub fn note_short_deadline(&self) {
        self.0.short_deadline.store(true, Ordering::Relaxed);
    }

    /// Whether ending with `code` is the caller's doing, not the service's: a refusal of
    /// this caller (over its rate or its share), or a deadline it set below the floor run
    /// out. The availability objective leaves these out.
    pub fn callers_fault(&self, code: tonic::Code) -> bool {
        match code {
            tonic::Code::ResourceExhausted => self.refused().is_some(),
            tonic::Code::DeadlineExceeded => self.0.short_deadline.load(Ordering::Relaxed),
            _ => false,
        }
    }

    /// Notes where the answer came from (the handler).
    pub fn note_served(&self, from: ServedFrom) {
        let code = match from {
            ServedFrom::L1 => 1,
            ServedFrom::L2 => 2,
            ServedFrom::Sources => 3,
        };
        self.0.served.store(code, Ordering::Relaxed);
    }

    /// Where the answer came from, for calls that serve profiles: `l1`, `l2` or `sources`.
    pub fn served(&self) -> Option<&'static str> {
        match self.0.served.load(Ordering::Relaxed) {
            1 => Some("l1"),
            2 => Some("l2"),
            3 => Some("sources"),
            _ => None,
        }
    }
}

/// The context a request carries, if the server gave it one.
pub fn context<T>(request: &tonic::Request<T>) -> Option<&CallContext> {
    request.extensions().get::<CallContext>()
}

/// A new request id ([`audit::new_request_id`]) as a header value.
fn new_request_id() -> HeaderValue {
    HeaderValue::from_bytes(&audit::new_request_id()).expect("hex digits are a header value")
}

impl TraceParent {
    /// Parses a `traceparent` header: `00-<trace id>-<parent id>-<flags>`. Anything else,
    /// an all-zero id, or upper-case hex is no trace (the W3C rules: start a new one).
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let valid = version == "00"
            && parts.next().is_none()
            && hex(trace_id, 32)
            && hex(parent_id, 16)
            && hex(flags, 2)
            && trace_id.bytes().any(|b| b != b'0')
            && parent_id.bytes().any(|b| b != b'0');
        valid.then(|| Self {
            trace_id: trace_id.to_owned(),
            parent_id: parent_id.to_owned(),
            sampled: u8::from_str_radix(flags, 16).is_ok_and(|f| f & 1 == 1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("header value"));
        headers
    }

    #[test]
    fn a_sane_request_id_is_kept_and_anything_else_replaced() {
        let kept = CallContext::from_headers(&with(REQUEST_ID, "agent-42.7_abc-DEF"));
        assert_eq!(kept.request_id(), "agent-42.7_abc-DEF");
        for hostile in ["", "has space", "quote\"d", &"x".repeat(65), "a=b", "a:b"] {
            let replaced = CallContext::from_headers(&with(REQUEST_ID, hostile));
            assert_ne!(replaced.request_id(), hostile);
            assert_eq!(replaced.request_id().len(), 32, "a new id for {hostile:?}");
        }
    }

    #[test]
    fn a_new_request_id_is_32_hex_digits_of_128_random_bits() {
        let id = new_request_id();
        let text = id.to_str().unwrap();
        assert_eq!(text.len(), 32);
        assert!(u128::from_str_radix(text, 16).is_ok(), "{text}");
        assert!(
            CallContext::from_headers(&HeaderMap::new())
                .request_id_header()
                .is_sensitive()
        );
    }

    #[test]
    fn a_new_request_id_is_new_each_time() {
        let a = CallContext::from_headers(&HeaderMap::new());
        let b = CallContext::from_headers(&HeaderMap::new());
        assert_ne!(a.request_id(), b.request_id());
        assert!(a.request_id().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn traceparent_is_read_as_the_w3c_rules_say() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            TraceParent::parse(header),
            Some(TraceParent {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                parent_id: "00f067aa0ba902b7".into(),
                sampled: true,
            })
        );
        for invalid in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "",
        ] {
            assert_eq!(TraceParent::parse(invalid), None, "{invalid:?}");
        }
    }

    #[test]
    fn the_caller_and_the_source_are_noted_once_known() {
        let call = CallContext::from_headers(&HeaderMap::new());
        assert_eq!((call.caller(), call.served()), (None, None));
        call.note_caller(Arc::new(Caller {
            name: "desk-7".into(),
            roles: vec![],
        }));
        call.note_served(ServedFrom::L2);
        assert_eq!((call.caller(), call.served()), (Some("desk-7"), Some("l2")));
    }

    #[test]
    fn only_a_refusal_of_the_caller_or_its_own_short_deadline_is_its_fault() {
        use tonic::Code;
        let call = CallContext::from_headers(&HeaderMap::new());
        for code in [
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
            Code::Internal,
        ] {
            assert!(!call.callers_fault(code), "{code:?} with nothing noted");
        }
        call.note_refused("over its rate limit");
        call.note_short_deadline();
        assert!(call.callers_fault(Code::ResourceExhausted));
        assert!(call.callers_fault(Code::DeadlineExceeded));
        assert!(!call.callers_fault(Code::Internal));
        assert!(!call.callers_fault(Code::Unavailable));
    }
}
