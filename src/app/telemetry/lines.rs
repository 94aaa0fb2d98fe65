//! The log lines' formats: tracing-subscriber's text and JSON lines, with the call a line is
//! logged in (`core::logs::LoggedCall`, kept instead of a span when spans are not exported)
//! written where its `rpc` span would be, as the span would have been written: first in the
//! line's scope, named `rpc`, with the method, the request id and the caller's trace.

use std::{
    cell::RefCell,
    fmt::{self, Write as _},
};

use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::{self, Format, Json, Writer},
        time::SystemTime,
    },
    registry::LookupSpan,
};

use crate::core::logs::LoggedCall;

/// Text for people: `time LEVEL rpc{method=… request_id=…}:span{…}: target: message fields`,
/// as tracing-subscriber's own lines read, written without its styling machinery (which
/// costs each field of each line a few hundred instructions even with colour off: the
/// access log's line took 11,000 instructions a call, BENCHMARKS.md). Every value is written
/// with its control characters escaped, so that no value can start a line of its own or
/// drive a terminal.
#[derive(Debug, Default)]
pub(super) struct TextLines;

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
        paint(&mut writer, ansi.then_some(DIM), write_time)?;
        writer.write_char(' ')?;
        // A `log` record (from a crate that logs through `log`) comes as an event of
        // tracing-log's: its own target and level are in its metadata once normalized.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let level = meta.level();
        paint(&mut writer, ansi.then(|| colour(level)), |w| {
            w.write_str(LEVELS[level_index(level)])
        })?;
        writer.write_char(' ')?;
        let mut scoped = false;
        if let Some(call) = LoggedCall::current() {
            scoped = true;
            paint(&mut writer, ansi.then_some(BOLD), |w| w.write_str("rpc{"))?;
            write!(
                writer,
                "method={:?} request_id={}",
                call.method,
                Escaped(call.request_id())
            )?;
            if let Some((trace_id, parent_id)) = call.trace() {
                write!(
                    writer,
                    " trace_id={} parent_id={}",
                    Escaped(trace_id),
                    Escaped(parent_id)
                )?;
            }
            paint(&mut writer, ansi.then_some(BOLD), |w| w.write_char('}'))?;
            paint(&mut writer, ansi.then_some(DIM), |w| w.write_char(':'))?;
        }
        for span in ctx
            .event_scope()
            .into_iter()
            .flat_map(|scope| scope.from_root())
        {
            scoped = true;
            paint(&mut writer, ansi.then_some(BOLD), |w| {
                w.write_str(span.metadata().name())
            })?;
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>()
                && !fields.is_empty()
            {
                paint(&mut writer, ansi.then_some(BOLD), |w| w.write_char('{'))?;
                writer.write_str(fields)?;
                paint(&mut writer, ansi.then_some(BOLD), |w| w.write_char('}'))?;
            }
            paint(&mut writer, ansi.then_some(DIM), |w| w.write_char(':'))?;
        }
        if scoped {
            writer.write_char(' ')?;
        }
        paint(&mut writer, ansi.then_some(DIM), |w| {
            w.write_str(meta.target())?;
            w.write_char(':')
        })?;
        writer.write_char(' ')?;
        let mut fields = TextFields {
            writer: &mut writer,
            ansi,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const ITALIC: &str = "\x1b[3m";

/// The levels as tracing-subscriber writes them, padded to one width.
const LEVELS: [&str; 5] = ["TRACE", "DEBUG", " INFO", " WARN", "ERROR"];

fn level_index(level: &Level) -> usize {
    match *level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN => 3,
        Level::ERROR => 4,
    }
}

/// The level's colour, as tracing-subscriber's own lines have it.
fn colour(level: &Level) -> &'static str {
    ["\x1b[35m", "\x1b[34m", "\x1b[32m", "\x1b[33m", "\x1b[31m"][level_index(level)]
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

thread_local! {
    /// The last second this thread wrote a time in, and its text up to the fraction.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

/// Now in RFC 3339, UTC, to the microsecond (`2026-12-05T06:24:56.341130Z`), as
/// tracing-subscriber writes it; the date and the time of day are formatted once a second.
fn write_time(writer: &mut Writer<'_>) -> fmt::Result {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since.as_secs();
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != seconds || text.is_empty() {
            let at = i64::try_from(seconds)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            text.clear();
            write!(text, "{}", at.format("%Y-%m-%dT%H:%M:%S."))?;
            *second = seconds;
        }
        writer.write_str(text)
    })?;
    let mut digits = *b"000000Z";
    let mut micros = since.subsec_micros();
    for digit in digits[..6].iter_mut().rev() {
        *digit = b'0' + u8::try_from(micros % 10).unwrap_or(0);
        micros /= 10;
    }
    writer.write_str(std::str::from_utf8(&digits).unwrap_or("000000Z"))
}

/// Writes an event's fields: the message as it is, the others `name=value`, separated by
/// spaces, every value escaped ([`Escaping`]).
struct TextFields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    ansi: bool,
    first: bool,
    result: fmt::Result,
}

impl TextFields<'_, '_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        self.result = self.try_write(field, value);
    }

    fn try_write(&mut self, field: &Field, value: fmt::Arguments<'_>) -> fmt::Result {
        let name = field.name();
        if name.starts_with("log.") {
            // A `log` record's metadata, written where tracing's own goes.
            return Ok(());
        }
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            let ansi = self.ansi;
            paint(self.writer, ansi.then_some(ITALIC), |w| w.write_str(name))?;
            paint(self.writer, ansi.then_some(DIM), |w| w.write_char('='))?;
        }
        Escaping(self.writer).write_fmt(value)
    }
}

impl Visit for TextFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.write(field, format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.write(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.write(field, format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        match value.source() {
            None => self.write(field, format_args!("{value}")),
            Some(source) => {
                let sources = std::iter::successors(Some(source), |e| e.source());
                let sources: Vec<String> = sources.map(ToString::to_string).collect();
                let name = field.name();
                self.write(field, format_args!("{value} {name}.sources={sources:?}"));
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

/// A writer that escapes control characters (C0, DEL, C1) as it writes: a value logged
/// cannot end the line, forge another or send a terminal escape.
struct Escaping<'w, 'a>(&'w mut Writer<'a>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_escaped(self.0, text)
    }
}

/// A value written with its control characters escaped, as [`Escaping`] writes.
struct Escaped<'v>(&'v str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0)
    }
}

/// Writes `text` with control characters escaped: `\n`, `\r`, `\t`, else `\u{…}`.
fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    // Control characters in UTF-8: C0 bytes, DEL, and C1 (two bytes, the first 0xC2; a few
    // printable characters share it and take the slow way).
    if !text.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
        return out.write_str(text);
    }
    for ch in text.chars() {
        match ch {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            ch if ch.is_control() => write!(out, "\\u{{{:x}}}", u32::from(ch))?,
            ch => out.write_char(ch)?,
        }
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
            line.trim_end().strip_suffix('}').map(|object| {
                let rpc = rpc.to_string();
                format!("{object},\"span\":{rpc},\"spans\":[{rpc}]}}")
            })
        } else {
            first_span(&line, rpc)
        };
        match spliced {
            Some(spliced) => writeln!(writer, "{spliced}"),
            None => writer.write_str(&line),
        }
    }
}

/// The call as a span object of the `spans` list.
fn rpc_object(call: &LoggedCall) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    object.insert("method".into(), call.method.into());
    object.insert("request_id".into(), call.request_id().into());
    if let Some((trace_id, parent_id)) = call.trace() {
        object.insert("trace_id".into(), trace_id.into());
        object.insert("parent_id".into(), parent_id.into());
    }
    object.insert("name".into(), "rpc".into());
    serde_json::Value::Object(object)
}

/// `line` (a JSON object with a `spans` list) with `rpc` first in its list; `None` if it is
/// not such a line.
fn first_span(line: &str, rpc: serde_json::Value) -> Option<String> {
    let mut object: serde_json::Value = serde_json::from_str(line).ok()?;
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
        let lines = lines(false, TextLines, Some(call(None)), warn);
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

    fn forged() {
        tracing::warn!(caller = %"eve\n2026-12-05T00:00:00.000000Z  INFO forged", "a\x1b[31m b");
    }

    #[test]
    fn a_text_value_cannot_start_a_line_or_drive_a_terminal() {
        let lines = lines(false, TextLines, Some(call(None)), forged);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].ends_with(
                ": a\\u{1b}[31m b caller=eve\\n2026-12-05T00:00:00.000000Z  INFO forged"
            ),
            "{lines:?}"
        );
    }

    fn through_log() {
        tracing_log::format_trace(
            &log::Record::builder()
                .level(log::Level::Warn)
                .target("some_crate::pool")
                .args(format_args!("connection lost"))
                .build(),
        )
        .unwrap();
    }

    #[test]
    fn a_log_record_reads_as_its_crates_own_line() {
        let lines = lines(false, TextLines, None, through_log);
        let line = &lines[0];
        assert!(
            line.contains("  WARN some_crate::pool: connection lost"),
            "{lines:?}"
        );
        assert!(!line.contains("log."), "{lines:?}");
    }

    fn lines_in_a_span() -> Vec<String> {
        lines(false, TextLines, Some(call(None)), warn_in_a_span)
    }

    #[test]
    fn a_text_line_outside_calls_is_tracing_subscribers_own() {
        let ours = lines(false, TextLines, None, warn_in_a_span);
        let theirs = lines(false, format::format(), None, warn_in_a_span);
        let past_time = |line: &str| line.split_once(' ').map(|(_, rest)| rest.to_owned());
        assert_eq!(past_time(&ours[0]), past_time(&theirs[0]), "{ours:?}");
        let (time, _) = ours[0].split_once(' ').unwrap();
        let (their_time, _) = theirs[0].split_once(' ').unwrap();
        assert_eq!(time.len(), their_time.len(), "{time} against {their_time}");
        let parsed = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        let off = chrono::Utc::now().signed_duration_since(parsed);
        assert!(off.num_seconds().abs() < 60, "{time}");
    }
}
