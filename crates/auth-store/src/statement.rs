//! Statements written as SQL text, with named placeholders bound from the fields of a
//! typed parameter struct, that diesel prepares once per connection.
//!
//! `diesel::sql_query` marks its SQL as unsafe to cache, and so does every
//! `diesel::update` (a changeset may leave columns out), so the database parses and plans
//! them on every execution. The hot writes — a rotation, a new session, a new device — are
//! statements whose text never changes; a [`Statement`] lets diesel keep their prepared
//! form in the connection's statement cache, keyed by that text. On the rotation statement
//! alone, pgbench measured 3,506 executions/s unprepared and 4,456/s prepared on the same
//! machine; on SQLite, preparing the rotation's `UPDATE` was 31,000 instructions of each
//! refresh (callgrind), about a twentieth of authd's own work per refresh.
//!
//! A placeholder names the field that fills it (`$session_id`), so two values of one type
//! cannot be swapped by their order: [`statement!`] checks, when the crate compiles, that
//! every placeholder names a field and every field fills a placeholder.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::Error;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text};
use diesel::{PgConnection, QueryResult, RunQueryDsl, SqliteConnection};

/// A value bound to a placeholder, borrowed from the field it comes from.
pub(crate) enum Value<'a> {
    Int(&'a i64),
    OptionalInt(&'a Option<i64>),
    Text(&'a str),
    OptionalText(&'a Option<&'a str>),
}

impl<'a> From<&'a i64> for Value<'a> {
    fn from(v: &'a i64) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<&'a Option<i64>> for Value<'a> {
    fn from(v: &'a Option<i64>) -> Self {
        Value::OptionalInt(v)
    }
}

impl<'a> From<&'a &str> for Value<'a> {
    fn from(v: &'a &str) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a Option<&'a str>> for Value<'a> {
    fn from(v: &'a Option<&'a str>) -> Self {
        Value::OptionalText(v)
    }
}

/// The values of a statement's placeholders, by name.
pub(crate) trait Params {
    /// The names of this struct's own fields.
    const NAMES: &'static [&'static str];

    /// [`Params::NAMES`], then the names of each group's fields.
    const ALL_NAMES: &'static [&'static [&'static str]];

    /// The value of placeholder `name`, if it is one of [`Params::ALL_NAMES`].
    fn value(&self, name: &str) -> Option<Value<'_>>;
}

/// Parameters with the SQL they fill.
pub(crate) trait Sql: Params {
    /// The statement, its placeholders named after the fields.
    const SQL: &'static str;
}

/// Declares a typed parameter struct. With `= SQL` it is a statement, run with
/// [`Statement::of`], whose SQL's placeholders are checked against its fields at compile
/// time. Without SQL it is a group of values that statements embed
/// with `..name: Group`.
macro_rules! statement {
    (
        $(#[$doc:meta])*
        $vis:vis struct $name:ident<$lt:lifetime> {
            $($(#[$fdoc:meta])* $field:ident: $ty:ty,)*
            $(..$group:ident: $gty:ty,)*
        }
        $(= $sql:expr;)?
    ) => {
        $(#[$doc])*
        $vis struct $name<$lt> {
            $($(#[$fdoc])* pub(crate) $field: $ty,)*
            $(pub(crate) $group: $gty,)*
        }

        impl<$lt> $crate::statement::Params for $name<$lt> {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];
            const ALL_NAMES: &'static [&'static [&'static str]] = &[
                <Self as $crate::statement::Params>::NAMES
                $(, <$gty as $crate::statement::Params>::NAMES)*
            ];

            fn value(&self, name: &str) -> Option<$crate::statement::Value<'_>> {
                match name {
                    $(stringify!($field) => Some((&self.$field).into()),)*
                    _ => None$(.or_else(|| self.$group.value(name)))*,
                }
            }
        }

        $(
            impl<$lt> $crate::statement::Sql for $name<$lt> {
                // Evaluated where the crate compiles: a misnamed placeholder or a field
                // left unused fails the build.
                const SQL: &'static str = {
                    $crate::statement::check(
                        $sql,
                        <Self as $crate::statement::Params>::ALL_NAMES,
                    );
                    $sql
                };
            }
        )?
    };
}
pub(crate) use statement;

/// Fails the build unless every `$name` placeholder of `sql` is one of `names` and every
/// name appears in `sql` at least once.
pub(crate) const fn check(sql: &str, names: &[&[&str]]) {
    let sql = sql.as_bytes();
    let mut used: u64 = 0;
    let mut at = 0;
    while at < sql.len() {
        if sql[at] != b'$' {
            at += 1;
            continue;
        }
        let start = at + 1;
        let mut end = start;
        while end < sql.len() && is_name_byte(sql[end]) {
            end += 1;
        }
        let field = position(sql, start, end, names);
        assert!(
            field.is_some(),
            "a placeholder names no field of its parameter struct"
        );
        if let Some(i) = field {
            used |= 1 << i;
        }
        at = end;
    }
    let total = count(names);
    assert!(total <= 64, "a statement takes at most 64 named values");
    assert!(
        used == mask(total),
        "a field of the parameter struct fills no placeholder"
    );
}

const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

/// The index, across all groups, of the name `sql[start..end]`.
const fn position(sql: &[u8], start: usize, end: usize, names: &[&[&str]]) -> Option<usize> {
    let mut index = 0;
    let mut g = 0;
    while g < names.len() {
        let mut n = 0;
        while n < names[g].len() {
            if equal(sql, start, end, names[g][n].as_bytes()) {
                return Some(index);
            }
            index += 1;
            n += 1;
        }
        g += 1;
    }
    None
}

const fn equal(sql: &[u8], start: usize, end: usize, name: &[u8]) -> bool {
    if end - start != name.len() {
        return false;
    }
    let mut i = 0;
    while i < name.len() {
        if sql[start + i] != name[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn count(names: &[&[&str]]) -> usize {
    let (mut total, mut g) = (0, 0);
    while g < names.len() {
        total += names[g].len();
        g += 1;
    }
    total
}

const fn mask(n: usize) -> u64 {
    if n == 64 { u64::MAX } else { (1 << n) - 1 }
}

/// A statement ready to run: its SQL and the struct whose fields fill its placeholders.
/// The same text runs on PostgreSQL and on SQLite; each occurrence of a placeholder becomes
/// a parameter of its own (PostgreSQL's are numbered anew, SQLite's are positional).
pub(crate) struct Statement<'p, P> {
    params: &'p P,
}

impl<'p, P: Sql> Statement<'p, P> {
    /// The statement `params` fills.
    pub(crate) fn of(params: &'p P) -> Self {
        Self { params }
    }
}

impl<P> QueryId for Statement<'_, P> {
    // Cached by its SQL text rather than by type.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB, P: Sql> QueryFragment<DB> for Statement<'_, P>
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    str: ToSql<Text, DB>,
    for<'s> Option<&'s str>: ToSql<Nullable<Text>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut rest = P::SQL;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let after = &rest[at + 1..];
            let length = after.bytes().take_while(|b| is_name_byte(*b)).count();
            let name = &after[..length];
            let value = self.params.value(name).ok_or_else(|| {
                Error::QueryBuilderError(format!("placeholder ${name} has no value").into())
            })?;
            match value {
                Value::Int(v) => out.push_bind_param::<BigInt, i64>(v)?,
                Value::OptionalInt(v) => out.push_bind_param::<Nullable<BigInt>, Option<i64>>(v)?,
                Value::Text(v) => out.push_bind_param::<Text, str>(v)?,
                Value::OptionalText(v) => {
                    out.push_bind_param::<Nullable<Text>, Option<&str>>(v)?;
                }
            }
            rest = &after[length..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl<P: Sql> RunQueryDsl<PgConnection> for Statement<'_, P> {}
impl<P: Sql> RunQueryDsl<SqliteConnection> for Statement<'_, P> {}

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

    statement! {
        struct Pair<'a> {
            key: i64,
            label: &'a str,
        }
    }

    statement! {
        struct Repeated<'a> {
            extra: Option<i64>,
            ..pair: Pair<'a>,
        }
        = "SELECT $label, $key, $label, $extra";
    }

    statement! {
        struct Insert<'a> {
            a: i64,
            b: &'a str,
        }
        = "INSERT INTO t (a, b) VALUES ($a, $b)";
    }

    statement! {
        struct Update<'a> {
            a: i64,
            b: &'a str,
        }
        = "UPDATE t SET b = $b WHERE a = $a";
    }

    fn repeated() -> Repeated<'static> {
        Repeated {
            extra: None,
            pair: Pair {
                key: 7,
                label: "seven",
            },
        }
    }

    #[test]
    fn each_placeholder_takes_the_value_of_the_field_it_names() {
        let params = repeated();
        assert_eq!(
            debug_query::<Pg, _>(&Statement::of(&params)).to_string(),
            r#"SELECT $1, $2, $3, $4 -- binds: ["seven", 7, "seven", None]"#
        );
        assert_eq!(
            debug_query::<Sqlite, _>(&Statement::of(&params)).to_string(),
            r#"SELECT ?, ?, ?, ? -- binds: ["seven", 7, "seven", None]"#
        );
    }

    #[test]
    fn the_build_check_accepts_sql_whose_placeholders_are_exactly_the_fields() {
        check("SELECT $a, $b_2, $a", &[&["a"], &["b_2"]]);
    }

    #[test]
    #[should_panic(expected = "names no field")]
    fn the_build_check_refuses_a_placeholder_without_a_field() {
        check("SELECT $a, $b", &[&["a"]]);
    }

    #[test]
    #[should_panic(expected = "fills no placeholder")]
    fn the_build_check_refuses_a_field_without_a_placeholder() {
        check("SELECT $a", &[&["a"], &["b"]]);
    }

    #[test]
    #[should_panic(expected = "names no field")]
    fn the_build_check_refuses_numbered_placeholders() {
        check("SELECT $1", &[&["a"]]);
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
            let updated = Statement::of(&Update { a: 1, b })
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
    fn postgres_prepares_a_statement_once() {
        let Some(db) = TestDatabase::postgres() else {
            return;
        };
        let mut conn = PgConnection::establish(db.url()).unwrap();
        diesel::sql_query("CREATE TABLE t (a BIGINT, b TEXT)")
            .execute(&mut conn)
            .unwrap();
        for a in 0..3 {
            let inserted = Statement::of(&Insert { a, b: "x" })
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
    }
}
