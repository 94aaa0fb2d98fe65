//! `c360 search`: a customer's history searched (or every customer's, `--all`), its hits as
//! lines a person reads at a terminal, the words found in brackets.

use std::fmt::Write;

use c360_proto::{self as pb, history_service_client::HistoryServiceClient};

use super::{ClientError, Format, Server, channel, json, render::short, request, verbose};

/// What to search for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    /// Whose history; none: everyone's.
    pub customer: Option<String>,
    /// The words.
    pub query: String,
    /// `chat`, `ticket`, `call`, `email`.
    pub channels: Vec<String>,
    /// Sent on or after this day (`2026-11-01`) or instant (RFC 3339).
    pub after: Option<String>,
    /// Sent before this day or instant.
    pub before: Option<String>,
    /// Hits to print (up to 100).
    pub limit: i32,
}

fn channel_named(name: &str) -> Result<i32, ClientError> {
    Ok(match name {
        "ticket" => pb::InteractionChannel::Ticket,
        "chat" => pb::InteractionChannel::Chat,
        "call" => pb::InteractionChannel::Call,
        "email" => pb::InteractionChannel::Email,
        other => {
            return Err(ClientError::Usage(format!(
                "--channel {other}: must be ticket, chat, call or email"
            )));
        }
    }
    .into())
}

/// A day (its midnight, UTC) or an RFC 3339 instant.
fn instant(flag: &str, text: &str) -> Result<prost_types::Timestamp, ClientError> {
    let at = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| {
            ClientError::Usage(format!(
                "{flag} {text:?}: write a day (2026-11-01) or an instant (2026-11-01T09:30:00Z)"
            ))
        })?;
    Ok(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

/// Runs the search `asked`, rendered as `format` asks.
pub async fn search(server: &Server, asked: Asked, format: Format) -> Result<String, ClientError> {
    let channels = (asked.channels.iter())
        .map(|c| channel_named(c))
        .collect::<Result<Vec<_>, _>>()?;
    let after = asked
        .after
        .as_deref()
        .map(|t| instant("--after", t))
        .transpose()?;
    let before = (asked.before.as_deref())
        .map(|t| instant("--before", t))
        .transpose()?;
    let answer = server
        .within(async {
            let mut client = HistoryServiceClient::new(channel(server).await?);
            let answer = match &asked.customer {
                Some(id) => {
                    let message = pb::SearchHistoryRequest {
                        customer_id: id.clone(),
                        query: asked.query.clone(),
                        channels: channels.clone(),
                        sent_after: after,
                        sent_before: before,
                        page_size: asked.limit,
                        page_token: String::new(),
                    };
                    client.search_history(request(server, message)).await
                }
                None => {
                    let message = pb::SearchAllHistoryRequest {
                        query: asked.query.clone(),
                        channels: channels.clone(),
                        sent_after: after,
                        sent_before: before,
                        page_size: asked.limit,
                        page_token: String::new(),
                    };
                    client.search_all_history(request(server, message)).await
                }
            };
            verbose::answered(server, answer)
        })
        .await?;
    match format {
        Format::Json => json(&answer, "customer360.v1.SearchHistoryResponse"),
        Format::Text => Ok(hits(&answer, asked.customer.is_none())),
    }
}

/// The hits, one paragraph each: when, where, who, and the snippet with the words found in
/// brackets.
fn hits(answer: &pb::SearchHistoryResponse, across: bool) -> String {
    let mut text = String::new();
    let shown = answer.hits.len();
    let total = answer.total_size;
    let _ = match shown {
        0 => writeln!(text, "No message matches."),
        _ => writeln!(text, "{shown} of {total} messages that match, best first:"),
    };
    for hit in &answer.hits {
        let when = (hit.sent_at.as_ref())
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string());
        let channel = short(hit.channel().as_str_name(), "INTERACTION_CHANNEL_");
        let author = short(hit.author().as_str_name(), "HISTORY_AUTHOR_");
        let kind = short(hit.kind().as_str_name(), "HISTORY_MESSAGE_KIND_");
        let whose = match across {
            true => format!("customer {} · ", hit.customer_id),
            false => String::new(),
        };
        let _ = writeln!(
            text,
            "\n{when}  {whose}{channel} {} · {kind} by the {author}",
            hit.interaction_id
        );
        let snippet: String = (hit.snippet.iter())
            .map(|p| match p.matched {
                true => format!("[{}]", p.text),
                false => p.text.clone(),
            })
            .collect();
        let _ = writeln!(text, "  {}", snippet.replace('\n', " "));
    }
    text
}
