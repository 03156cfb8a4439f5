//! Statements written as SQL text that diesel prepares once per connection.
//!
//! `diesel::sql_query` marks its SQL as unsafe to cache, and so does every
//! `diesel::update` (a changeset may leave columns out), so the database parses and plans
//! them on every execution. The hot writes — a rotation, a new session, a new device — are
//! statements whose text never changes; a [`Prepared`] statement lets diesel keep their
//! prepared form in the connection's statement cache, keyed by that text. On the rotation
//! statement alone, pgbench measured 3,506 executions/s unprepared and 4,456/s prepared on
//! the same machine; on SQLite, preparing the rotation's `UPDATE` was 31,000 instructions
//! of each refresh (callgrind), about a twentieth of authd's own work per refresh.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::Error;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text};
use diesel::{PgConnection, QueryResult, RunQueryDsl, SqliteConnection};

/// A value bound to a placeholder.
enum Value<'a> {
    Int(i64),
    OptionalInt(Option<i64>),
    Text(&'a str),
}

/// A constant SQL statement with placeholders `$1`, `$2`, … (every `$` in the text starts
/// one; a placeholder may appear more than once) and the values bound to them, in order:
/// exactly one value per placeholder number, or the statement is refused unsent. The same
/// text runs on PostgreSQL and on SQLite (where each placeholder becomes a `?`).
pub(crate) struct Prepared<'a> {
    sql: &'static str,
    values: Vec<Value<'a>>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(sql: &'static str) -> Self {
        Self {
            sql,
            values: Vec::with_capacity(16),
        }
    }

    /// Binds the next placeholder to a `BIGINT`.
    pub(crate) fn int(mut self, value: i64) -> Self {
        self.values.push(Value::Int(value));
        self
    }

    /// Binds the next placeholder to a nullable `BIGINT`.
    pub(crate) fn optional_int(mut self, value: Option<i64>) -> Self {
        self.values.push(Value::OptionalInt(value));
        self
    }

    /// Binds the next placeholder to `TEXT`.
    pub(crate) fn text(mut self, value: &'a str) -> Self {
        self.values.push(Value::Text(value));
        self
    }
}

impl QueryId for Prepared<'_> {
    // Cached by its SQL text rather than by type: every statement shares this type.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for Prepared<'_>
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut rest = self.sql;
        let mut highest = 0;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let after = &rest[at + 1..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let number = after[..digits].parse::<usize>().unwrap_or(0);
            let value = number
                .checked_sub(1)
                .and_then(|i| self.values.get(i))
                .ok_or_else(|| {
                    Error::QueryBuilderError(
                        format!("placeholder ${} has no value", &after[..digits]).into(),
                    )
                })?;
            highest = highest.max(number);
            // Each occurrence becomes a parameter of its own: PostgreSQL numbers them anew,
            // SQLite's are positional.
            match value {
                Value::Int(v) => out.push_bind_param::<BigInt, i64>(v)?,
                Value::OptionalInt(v) => out.push_bind_param::<Nullable<BigInt>, Option<i64>>(v)?,
                Value::Text(v) => out.push_bind_param::<Text, str>(v)?,
            }
            rest = &after[digits..];
        }
        out.push_sql(rest);
        if highest != self.values.len() {
            return Err(Error::QueryBuilderError(
                format!(
                    "{} values bound to a statement whose highest placeholder is ${highest}",
                    self.values.len()
                )
                .into(),
            ));
        }
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for Prepared<'_> {}
impl RunQueryDsl<SqliteConnection> for Prepared<'_> {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use diesel::connection::InstrumentationEvent;
    use diesel::pg::Pg;
    use diesel::sql_types::BigInt;
    use diesel::sqlite::Sqlite;
    use diesel::{Connection, PgConnection, QueryableByName, SqliteConnection, debug_query};

    use super::*;
    use crate::test_support::TestDatabase;

    #[test]
    fn placeholders_take_their_values_in_order_and_may_repeat() {
        let statement = Prepared::new("SELECT $2, $1, $2").int(7).text("seven");
        assert_eq!(
            debug_query::<Pg, _>(&statement).to_string(),
            r#"SELECT $1, $2, $3 -- binds: ["seven", 7, "seven"]"#
        );
    }

    #[test]
    fn on_sqlite_the_same_text_has_positional_placeholders() {
        let statement = Prepared::new("SELECT $2, $1, $2").int(7).text("seven");
        assert_eq!(
            debug_query::<Sqlite, _>(&statement).to_string(),
            r#"SELECT ?, ?, ? -- binds: ["seven", 7, "seven"]"#
        );
    }

    #[test]
    fn sqlite_prepares_an_update_once_per_connection() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query("CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT)")
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query("INSERT INTO t VALUES (1, 'x')")
            .execute(&mut conn)
            .unwrap();
        let cached = Arc::new(AtomicUsize::new(0));
        let counter = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if matches!(event, InstrumentationEvent::CacheQuery { .. }) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        for b in ["y", "z", "w"] {
            let updated = Prepared::new("UPDATE t SET b = $1 WHERE a = $2")
                .text(b)
                .int(1)
                .execute(&mut conn)
                .unwrap();
            assert_eq!(updated, 1);
        }
        assert_eq!(
            cached.load(Ordering::Relaxed),
            1,
            "three executions, one prepared"
        );
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[test]
    fn postgres_prepares_a_statement_once_and_refuses_values_that_do_not_fit() {
        let Some(db) = TestDatabase::postgres() else {
            return;
        };
        let mut conn = PgConnection::establish(db.url()).unwrap();
        diesel::sql_query("CREATE TABLE t (a BIGINT, b TEXT)")
            .execute(&mut conn)
            .unwrap();
        for i in 0..3 {
            let inserted = Prepared::new("INSERT INTO t (a, b) VALUES ($1, $2)")
                .int(i)
                .text("x")
                .execute(&mut conn)
                .unwrap();
            assert_eq!(inserted, 1);
        }
        let prepared: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_prepared_statements
              WHERE statement LIKE 'INSERT INTO t%'",
        )
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(prepared.n, 1, "three executions, one prepared statement");

        let missing = Prepared::new("INSERT INTO t (a, b) VALUES ($1, $2)")
            .int(9)
            .execute(&mut conn);
        assert!(
            matches!(missing, Err(Error::QueryBuilderError(_))),
            "{missing:?}"
        );
        let extra = Prepared::new("INSERT INTO t (a, b) VALUES ($1, $2)")
            .int(9)
            .text("x")
            .int(10)
            .execute(&mut conn);
        assert!(
            matches!(extra, Err(Error::QueryBuilderError(_))),
            "{extra:?}"
        );
    }
}
