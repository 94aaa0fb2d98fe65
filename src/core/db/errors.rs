//! tokio-postgres's errors as sqlx's, which every source's statements report: the database's
//! refusals keep their message and SQLSTATE only (a DETAIL may quote the data), and an error a
//! batch's reads share is given to each of them.

/// `error` once more, for another of the reads that shared the statement that failed: the
/// database's refusal and the pool's own errors as they were, the rest by their message.
pub(super) fn again(error: &sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::RowNotFound => sqlx::Error::RowNotFound,
        sqlx::Error::Database(refusal) => match refusal.try_downcast_ref::<Refusal>() {
            Some(refusal) => sqlx::Error::Database(Box::new(Refusal(refusal.0.clone()))),
            None => sqlx::Error::Protocol(refusal.to_string()),
        },
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::Decode(decode) => sqlx::Error::Decode(decode.to_string().into()),
        sqlx::Error::Protocol(message) => sqlx::Error::Protocol(message.clone()),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// tokio-postgres's error as the other statements' (sqlx's): the database's refusals keep
/// their SQLSTATE; a closed or broken connection is an I/O error.
pub(super) fn from_postgres(error: tokio_postgres::Error) -> sqlx::Error {
    match error.as_db_error() {
        Some(refusal) => sqlx::Error::Database(Box::new(Refusal(refusal.clone()))),
        None => sqlx::Error::Io(std::io::Error::other(error)),
    }
}

/// What the database refused, by its message and code only: the detail may quote the data.
#[derive(Debug)]
struct Refusal(tokio_postgres::error::DbError);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (SQLSTATE {})",
            self.0.message(),
            self.0.code().code()
        )
    }
}

impl std::error::Error for Refusal {}

impl sqlx::error::DatabaseError for Refusal {
    fn message(&self) -> &str {
        self.0.message()
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.0.code().code().into())
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
