//! The log lines' formats: tracing-subscriber's text and JSON lines, with the call a line is
//! logged in (`core::logs::LoggedCall`, kept instead of a span when spans are not exported)
//! written where its `rpc` span would be, as the span would have been written: first in the
//! line's scope, named `rpc`, with the method, the request id and the caller's trace.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{self, Format, Full, Json, Writer},
        time::{FormatTime, SystemTime},
    },
    registry::LookupSpan,
};

use crate::core::logs::LoggedCall;

/// Text for people: `time LEVEL rpc{method=… request_id=…}:span{…}: target: message fields`.
#[derive(Debug)]
pub(super) struct TextLines {
    /// Writes the rest of the line: the scope's own spans, the target, the fields.
    rest: Format<Full, ()>,
}

impl TextLines {
    pub(super) fn new() -> Self {
        Self {
            rest: format::format().without_time().with_level(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ansi = writer.has_ansi_escapes();
        paint(&mut writer, ansi.then_some(DIM), |w| {
            SystemTime.format_time(w)
        })?;
        writer.write_char(' ')?;
        let level = event.metadata().level();
        paint(&mut writer, ansi.then(|| colour(level)), |w| {
            write!(w, "{level:>5}")
        })?;
        writer.write_char(' ')?;
        if let Some(call) = LoggedCall::current() {
            paint(&mut writer, ansi.then_some(BOLD), |w| w.write_str("rpc{"))?;
            write!(
                writer,
                "method={:?} request_id={}",
                call.method,
                call.request_id()
            )?;
            if let Some((trace_id, parent_id)) = call.trace() {
                write!(writer, " trace_id={trace_id} parent_id={parent_id}")?;
            }
            paint(&mut writer, ansi.then_some(BOLD), |w| w.write_char('}'))?;
            paint(&mut writer, ansi.then_some(DIM), |w| w.write_char(':'))?;
            if ctx.event_scope().is_none() {
                writer.write_char(' ')?;
            }
        }
        self.rest.format_event(ctx, writer, event)
    }
}

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";

/// The level's colour, as tracing-subscriber's own lines have it.
fn colour(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "\x1b[35m",
        Level::DEBUG => "\x1b[34m",
        Level::INFO => "\x1b[32m",
        Level::WARN => "\x1b[33m",
        Level::ERROR => "\x1b[31m",
    }
}

/// Writes with `write` in `style`, if any, and back to plain after.
fn paint(
    writer: &mut Writer<'_>,
    style: Option<&str>,
    write: impl FnOnce(&mut Writer<'_>) -> fmt::Result,
) -> fmt::Result {
    if let Some(style) = style {
        writer.write_str(style)?;
    }
    write(writer)?;
    if style.is_some() {
        writer.write_str("\x1b[0m")?;
    }
    Ok(())
}

/// One JSON object per line, tracing-subscriber's: `timestamp`, `level`, `fields`, `target`,
/// and `span` (the innermost) and `spans` (root first) when the line is logged in any.
#[derive(Debug)]
pub(super) struct JsonLines {
    rest: Format<Json, SystemTime>,
}

impl JsonLines {
    pub(super) fn new() -> Self {
        Self {
            rest: format::format().json(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(call) = LoggedCall::current() else {
            return self.rest.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.rest.format_event(ctx, Writer::new(&mut line), event)?;
        let rpc = rpc_object(&call);
        let spliced = if ctx.event_scope().is_none() {
            // The object ends the line: the call goes in as its only span.
            line.trim_end()
                .strip_suffix('}')
                .map(|object| format!("{object},\"span\":{rpc},\"spans\":[{rpc}]}}"))
        } else {
            first_span(&line, &rpc)
        };
        match spliced {
            Some(spliced) => writeln!(writer, "{spliced}"),
            None => writer.write_str(&line),
        }
    }
}

/// The call as a span object of the `spans` list.
fn rpc_object(call: &LoggedCall) -> String {
    let mut object = serde_json::Map::new();
    object.insert("method".into(), call.method.into());
    object.insert("request_id".into(), call.request_id().into());
    if let Some((trace_id, parent_id)) = call.trace() {
        object.insert("trace_id".into(), trace_id.into());
        object.insert("parent_id".into(), parent_id.into());
    }
    object.insert("name".into(), "rpc".into());
    serde_json::Value::Object(object).to_string()
}

/// `line` (a JSON object with a `spans` list) with `rpc` first in its list; `None` if it is
/// not such a line.
fn first_span(line: &str, rpc: &str) -> Option<String> {
    let mut object: serde_json::Value = serde_json::from_str(line).ok()?;
    let rpc: serde_json::Value = serde_json::from_str(rpc).ok()?;
    object.get_mut("spans")?.as_array_mut()?.insert(0, rpc);
    Some(object.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::core::logs::CallFields;

    struct Fields(Option<(&'static str, &'static str)>);

    impl CallFields for Fields {
        fn request_id(&self) -> &str {
            "req-1"
        }

        fn trace(&self) -> Option<(&str, &str)> {
            self.0
        }
    }

    fn call(trace: Option<(&'static str, &'static str)>) -> LoggedCall {
        LoggedCall {
            method: "GetCustomerProfile",
            fields: Some(Arc::new(Fields(trace))),
        }
    }

    /// Lines written by `log`, run inside `call` if given, through `format`.
    fn lines<E>(json: bool, format: E, call: Option<LoggedCall>, log: fn()) -> Vec<String>
    where
        E: FormatEvent<tracing_subscriber::Registry, format::DefaultFields>
            + FormatEvent<tracing_subscriber::Registry, format::JsonFields>
            + Send
            + Sync
            + 'static,
    {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = written.clone();
        let make = move || Sink(sink.clone());
        let subscriber: Box<dyn Subscriber + Send + Sync> = if json {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .event_format(format)
                .with_writer(make);
            Box::new(tracing_subscriber::registry().with(layer))
        } else {
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .event_format(format)
                .with_writer(make);
            Box::new(tracing_subscriber::registry().with(layer))
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || match call {
            Some(call) => runtime.block_on(call.scope(async { log() })),
            None => log(),
        });
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn warn() {
        tracing::warn!(source = "billing", "source failed");
    }

    fn warn_in_a_span() {
        tracing::info_span!("lookup", by = "email").in_scope(warn);
    }

    fn json(line: &str) -> serde_json::Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    #[test]
    fn a_json_line_in_a_call_names_the_call_as_its_rpc_span() {
        let lines = lines(true, JsonLines::new(), Some(call(None)), warn);
        let [line] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        let line = json(line);
        let rpc = serde_json::json!({
            "name": "rpc", "method": "GetCustomerProfile", "request_id": "req-1"
        });
        assert_eq!(line["spans"], serde_json::json!([rpc.clone()]), "{line}");
        assert_eq!(line["span"], rpc, "{line}");
        assert_eq!(line["fields"]["message"], "source failed");
        assert_eq!(line["fields"]["source"], "billing");
        assert_eq!(line["level"], "WARN");
        assert!(line["timestamp"].is_string() && line["target"].is_string());
    }

    #[test]
    fn a_json_line_in_a_call_and_a_span_lists_the_call_first() {
        let traced = call(Some((
            "0af7651916cd43dd8448eb211c80319c",
            "b7ad6b7169203331",
        )));
        let lines = lines(true, JsonLines::new(), Some(traced), warn_in_a_span);
        let line = json(&lines[0]);
        assert_eq!(line["spans"][0]["name"], "rpc", "{line}");
        assert_eq!(
            line["spans"][0]["trace_id"],
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(line["spans"][0]["parent_id"], "b7ad6b7169203331");
        assert_eq!(line["spans"][1]["name"], "lookup", "{line}");
        assert_eq!(line["spans"][1]["by"], "email");
        assert_eq!(line["span"]["name"], "lookup", "the innermost: {line}");
    }

    #[test]
    fn a_json_line_outside_calls_is_tracing_subscribers_own() {
        let lines = lines(true, JsonLines::new(), None, warn);
        let line = json(&lines[0]);
        assert!(
            line.get("spans").is_none() && line.get("span").is_none(),
            "{line}"
        );
        assert_eq!(line["fields"]["message"], "source failed");
    }

    #[test]
    fn a_text_line_in_a_call_reads_as_the_calls_span_would() {
        let lines = lines(false, TextLines::new(), Some(call(None)), warn);
        let line = &lines[0];
        let after_level = line
            .split_once("  WARN ")
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("{line}"));
        assert_eq!(
            after_level,
            "rpc{method=\"GetCustomerProfile\" request_id=req-1}: \
             c360::app::telemetry::lines::tests: source failed source=\"billing\""
        );
        let lines = lines_in_a_span();
        assert!(
            lines[0].contains(
                "WARN rpc{method=\"GetCustomerProfile\" request_id=req-1}:lookup{by=\"email\"}: c360"
            ),
            "{lines:?}"
        );
    }

    fn lines_in_a_span() -> Vec<String> {
        lines(false, TextLines::new(), Some(call(None)), warn_in_a_span)
    }

    #[test]
    fn a_text_line_outside_calls_is_tracing_subscribers_own() {
        let ours = lines(false, TextLines::new(), None, warn_in_a_span);
        let theirs = lines(false, format::format(), None, warn_in_a_span);
        let past_time = |line: &str| line.split_once(' ').map(|(_, rest)| rest.to_owned());
        assert_eq!(past_time(&ours[0]), past_time(&theirs[0]), "{ours:?}");
    }
}
