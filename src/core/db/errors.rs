//! tokio-postgres's errors as sqlx's, which every source's statements report: the database's
//! refusals keep their message and SQLSTATE only (a DETAIL may quote the data), and an error a
//! batch's reads share is given to each of them.

use crate::core::logs::error_chain;

/// `error` once more, for another of the reads that shared the statement that failed: the
/// database's refusal and the pool's own errors as they were, the rest by their message.
pub(super) fn again(error: &sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::RowNotFound => sqlx::Error::RowNotFound,
        sqlx::Error::Database(refusal) => match refusal.try_downcast_ref::<Refusal>() {
            Some(refusal) => sqlx::Error::Database(Box::new(refusal.clone())),
            None => sqlx::Error::Protocol(refusal.to_string()),
        },
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::Decode(decode) => sqlx::Error::Decode(decode.to_string().into()),
        sqlx::Error::Protocol(message) => sqlx::Error::Protocol(message.clone()),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// tokio-postgres's error as the other statements' (sqlx's): the database's refusals keep
/// their SQLSTATE; a closed or broken connection is an I/O error of its cause's kind, its
/// message saying the cause (`error connecting to server: Connection refused (os error
/// 111)`), so that the cause survives an error given [`again`].
pub(super) fn from_postgres(error: tokio_postgres::Error) -> sqlx::Error {
    if let Some(refusal) = error.as_db_error() {
        let code = refusal.code().code();
        return sqlx::Error::Database(Box::new(Refusal::new(refusal.message(), code)));
    }
    let kind = std::error::Error::source(&error)
        .and_then(|cause| cause.downcast_ref::<std::io::Error>())
        .map_or(std::io::ErrorKind::Other, std::io::Error::kind);
    sqlx::Error::Io(std::io::Error::new(kind, error_chain(&error)))
}

/// Why a pool that holds no connection timed out, from what connecting once more said
/// (`cause`): "no connection within the acquire timeout: Connection refused (os error
/// 111)", as an I/O error of the cause's kind.
pub(super) fn why_no_connection(cause: &sqlx::Error) -> sqlx::Error {
    let kind = match cause {
        sqlx::Error::Io(io) => io.kind(),
        _ => std::io::ErrorKind::Other,
    };
    sqlx::Error::Io(std::io::Error::new(
        kind,
        format!(
            "no connection within the acquire timeout: {}",
            error_chain(cause).trim_start_matches("error communicating with database: ")
        ),
    ))
}

/// What the database refused, by its message and SQLSTATE only: the detail may quote the
/// data.
#[derive(Debug, Clone)]
struct Refusal {
    message: String,
    code: String,
}

impl Refusal {
    /// A refusal saying `message`, with SQLSTATE `code`.
    fn new(message: &str, code: &str) -> Self {
        Self {
            message: message.to_owned(),
            code: code.to_owned(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.code)
    }
}

impl std::error::Error for Refusal {}

impl sqlx::error::DatabaseError for Refusal {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.as_str().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_its_message_and_sqlstate_once() {
        let refusal = Refusal::new("database \"nosuch\" does not exist", "3D000");
        let error = sqlx::Error::Database(Box::new(refusal));
        assert_eq!(
            error_chain(&error),
            "error returned from database: database \"nosuch\" does not exist (SQLSTATE 3D000)"
        );
    }

    #[test]
    fn an_error_given_again_keeps_its_kind_and_message() {
        assert!(matches!(
            again(&sqlx::Error::PoolTimedOut),
            sqlx::Error::PoolTimedOut
        ));
        let cut = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset",
        ));
        match again(&cut) {
            sqlx::Error::Io(io) => {
                assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
                assert_eq!(io.to_string(), "connection reset");
            }
            other => panic!("{other}"),
        }
        let protocol = again(&sqlx::Error::Protocol("unexpected message".into()));
        assert_eq!(
            protocol.to_string(),
            sqlx::Error::Protocol("unexpected message".into()).to_string()
        );
    }
}
