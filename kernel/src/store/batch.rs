//! Statements sent to the database together. On SQLite every statement is a round trip to the
//! connection's worker thread, and write transactions take turns on one connection, so a
//! checkout's dozen statements one by one made that connection's thread hand-offs the shop's
//! ceiling on orders per second. A `Batch` goes to SQLite as one multi-statement query (one
//! hand-off); PostgreSQL's protocol takes one statement per prepared query, so there it runs
//! the statements one by one, in order, exactly as written.
//!
//! Each statement numbers its own placeholders `$1…$n`; SQLite binds `$N` by number across the
//! whole text, so the batch renumbers them when it joins the statements.
//!
//! Checkout's group commit runs its batches on the SQLite writer's own handle, on its own
//! thread (`DirectSqlite`, `store/group_commit.rs`): there a batch is no hand-off at all, and
//! each statement is prepared once per group.

use std::borrow::Cow;
use std::fmt::Write as _;

use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Database, Encode, FromRow, PgConnection, SqliteConnection, Type};

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl From<Vec<u8>> for Arg {
    fn from(value: Vec<u8>) -> Self {
        Arg::Bytes(value)
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(Some(value))
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Arg::Text(value)
    }
}

impl From<bool> for Arg {
    fn from(value: bool) -> Self {
        Arg::Bool(value)
    }
}

// An integer with a meaning binds as its integer (`ids::integer_type!`).
impl<T: crate::ids::Integer> From<T> for Arg {
    fn from(value: T) -> Self {
        Arg::Int(Some(value.get()))
    }
}

impl<T: crate::ids::Integer> From<Option<T>> for Arg {
    fn from(value: Option<T>) -> Self {
        Arg::Int(value.map(T::get))
    }
}

/// `$1, $2, …, $n` for an `IN (…)` list (`NULL` for none, which matches nothing on both
/// backends where `IN ()` is an error on PostgreSQL).
pub(crate) fn placeholders(n: usize) -> String {
    placeholders_from(1, n)
}

/// `$first, …` for `n` values.
pub(crate) fn placeholders_from(first: usize, n: usize) -> String {
    if n == 0 {
        return "NULL".to_owned();
    }
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[$a, $b, …]` as `Vec<Arg>`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::store::batch::Arg::from($value)),*]
    };
}
pub(crate) use args;

struct Statement {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

/// Statements to run in order inside one transaction (see the module comment).
#[derive(Default)]
pub struct Batch {
    statements: Vec<Statement>,
}

impl Batch {
    /// How many statements it holds.
    pub(crate) fn len(&self) -> usize {
        self.statements.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Adds a statement whose placeholders are `$1…$n`, bound to `args` in that order.
    pub(crate) fn push(&mut self, sql: impl Into<Cow<'static, str>>, args: Vec<Arg>) {
        self.statements.push(Statement {
            sql: sql.into(),
            args,
        });
    }

    /// Adds a multi-row `INSERT`: `head` (`INSERT INTO t (a, b) `) and one `VALUES` tuple per
    /// row; nothing when there are no rows.
    pub(crate) fn push_rows(&mut self, head: &str, rows: impl IntoIterator<Item = Vec<Arg>>) {
        let mut sql = format!("{head}VALUES ");
        let mut args = Vec::new();
        for (i, row) in rows.into_iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                let separator = if j == 0 { "" } else { ", " };
                let _ = write!(sql, "{separator}${}", args.len() + j + 1);
            }
            sql.push(')');
            args.extend(row);
        }
        if !args.is_empty() {
            self.push(sql, args);
        }
    }

    /// The statements as one text with placeholders numbered across it, and all the values.
    fn joined(self) -> (String, Vec<Arg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        for statement in self.statements {
            renumber_into(&mut sql, &statement.sql, args.len());
            sql.push_str(";\n");
            args.extend(statement.args);
        }
        (sql, args)
    }
}

/// Appends `statement` to `out` with every `$N` raised by `offset`. Our statements hold no
/// `$` in literals, so every `$` followed by digits is a placeholder.
fn renumber_into(out: &mut String, statement: &str, offset: usize) {
    let mut rest = statement;
    while let Some(at) = rest.find('$') {
        let (before, from_dollar) = rest.split_at(at);
        out.push_str(before);
        let after = from_dollar.get(1..).unwrap_or_default();
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        match after.get(..digits).and_then(|d| d.parse::<usize>().ok()) {
            Some(n) => {
                let _ = write!(out, "${}", n + offset);
                rest = after.get(digits..).unwrap_or_default();
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

type Query<'q, DB, O> = sqlx::query::QueryAs<'q, DB, O, <DB as Database>::Arguments>;

fn bind_all<'q, DB, O>(mut query: Query<'q, DB, O>, args: Vec<Arg>) -> Query<'q, DB, O>
where
    DB: Database,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
{
    for arg in args {
        query = match arg {
            Arg::Int(value) => query.bind(value),
            Arg::Text(value) => query.bind(value),
            Arg::Bool(value) => query.bind(value),
            Arg::Bytes(value) => query.bind(value),
        };
    }
    query
}

/// A row a batch returns, readable from every connection a batch runs on: `()` and tuples of
/// up to four columns.
pub(crate) trait BatchRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
    fn from_direct(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl BatchRow for () {
    fn from_direct(_row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(())
    }
}

macro_rules! batch_row_tuple {
    ($($column:ident $index:tt),+) => {
        impl<$($column),+> BatchRow for ($($column,)+)
        where
            ($($column,)+): for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
            $($column: rusqlite::types::FromSql),+
        {
            fn from_direct(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(row.get::<_, $column>($index)?,)+))
            }
        }
    };
}
batch_row_tuple!(A 0);
batch_row_tuple!(A 0, B 1);
batch_row_tuple!(A 0, B 1, C 2);
batch_row_tuple!(A 0, B 1, C 2, D 3);

/// A connection a batch can run on (the transaction's, via `&mut *tx`).
pub(crate) trait RunBatch {
    /// Whether the whole batch is one round trip; callers that would order their statements
    /// differently for a one-by-one backend (lock order on PostgreSQL) ask this.
    const ONE_ROUND_TRIP: bool;

    /// Runs the batch and returns every row any of its statements returned, in order.
    async fn fetch_batch<T: BatchRow>(&mut self, batch: Batch) -> Result<Vec<T>, sqlx::Error>;

    /// Runs the batch for its effects.
    async fn execute_batch(&mut self, batch: Batch) -> Result<(), sqlx::Error> {
        self.fetch_batch::<()>(batch).await.map(drop)
    }
}

impl RunBatch for SqliteConnection {
    const ONE_ROUND_TRIP: bool = true;

    async fn fetch_batch<T: BatchRow>(&mut self, batch: Batch) -> Result<Vec<T>, sqlx::Error> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (sql, args) = batch.joined();
        bind_all(sqlx::query_as::<_, T>(AssertSqlSafe(sql)), args)
            .fetch_all(self)
            .await
    }
}

impl RunBatch for PgConnection {
    const ONE_ROUND_TRIP: bool = false;

    async fn fetch_batch<T: BatchRow>(&mut self, batch: Batch) -> Result<Vec<T>, sqlx::Error> {
        let mut rows = Vec::new();
        for statement in batch.statements {
            let query = sqlx::query_as::<_, T>(AssertSqlSafe(statement.sql));
            rows.extend(
                bind_all(query, statement.args)
                    .fetch_all(&mut *self)
                    .await?,
            );
        }
        Ok(rows)
    }
}

/// The SQLite writer's handle, driven directly on the thread holding it (see
/// `store/group_commit.rs`): statements run where they are called, with no worker to hand
/// them to, and each is prepared once for as long as this value lives.
pub(crate) struct DirectSqlite(pub(crate) rusqlite::Connection);

impl DirectSqlite {
    /// A checkout prepares some twenty different statements; a group reuses each.
    const PREPARED: usize = 64;

    pub(crate) fn new(db: rusqlite::Connection) -> DirectSqlite {
        db.set_prepared_statement_cache_capacity(Self::PREPARED);
        DirectSqlite(db)
    }

    /// Runs a statement without values or rows (`SAVEPOINT job`), prepared once.
    pub(crate) fn control(&self, sql: &str) -> Result<(), sqlx::Error> {
        self.0
            .prepare_cached(sql)
            .and_then(|mut statement| statement.raw_execute())
            .map(drop)
            .map_err(direct_error)
    }
}

impl RunBatch for DirectSqlite {
    const ONE_ROUND_TRIP: bool = true;

    async fn fetch_batch<T: BatchRow>(&mut self, batch: Batch) -> Result<Vec<T>, sqlx::Error> {
        let mut rows = Vec::new();
        for statement in &batch.statements {
            run_direct(&self.0, statement, &mut rows).map_err(direct_error)?;
        }
        Ok(rows)
    }
}

fn run_direct<T: BatchRow>(
    db: &rusqlite::Connection,
    statement: &Statement,
    rows: &mut Vec<T>,
) -> rusqlite::Result<()> {
    let mut prepared = db.prepare_cached(&statement.sql)?;
    for index in 1..=prepared.parameter_count() {
        // `$N` is the statement's N-th value; SQLite numbers parameters in order of first
        // appearance, so each is bound by its name.
        let name = prepared.parameter_name(index).unwrap_or_default();
        let arg = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| statement.args.get(n.checked_sub(1)?))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?;
        match arg {
            Arg::Int(value) => prepared.raw_bind_parameter(index, value)?,
            Arg::Text(value) => prepared.raw_bind_parameter(index, value)?,
            Arg::Bool(value) => prepared.raw_bind_parameter(index, value)?,
            Arg::Bytes(value) => prepared.raw_bind_parameter(index, value)?,
        }
    }
    let mut returned = prepared.raw_query();
    while let Some(row) = returned.next()? {
        rows.push(T::from_direct(row)?);
    }
    Ok(())
}

/// SQLite's refusal as sqlx reports it, so callers tell a unique violation (an idempotency
/// twin) the same way whichever connection ran the statement.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct DirectError {
    message: String,
    extended_code: i32,
}

impl DatabaseError for DirectError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.extended_code.to_string()))
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

    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

pub(crate) fn direct_error(err: rusqlite::Error) -> sqlx::Error {
    match err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            sqlx::Error::Database(Box::new(DirectError {
                message: message.unwrap_or_else(|| failure.to_string()),
                extended_code: failure.extended_code,
            }))
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// Whether batches on this connection are one round trip (see `RunBatch::ONE_ROUND_TRIP`).
pub(crate) fn one_round_trip<C: RunBatch>(_connection: &C) -> bool {
    C::ONE_ROUND_TRIP
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_statements_number_their_placeholders_across_the_text() {
        let mut batch = Batch::default();
        batch.push("UPDATE t SET a = $2 WHERE id = $1", args![1_i64, 2_i64]);
        batch.push_rows(
            "INSERT INTO u (x, y) ",
            [args![3_i64, "x"], args![4_i64, "y"]],
        );
        batch.push("SELECT $1, $1", args![5_i64]);
        let (sql, args) = batch.joined();
        assert_eq!(
            sql,
            "UPDATE t SET a = $2 WHERE id = $1;\nINSERT INTO u (x, y) VALUES ($3, $4), ($5, $6);\nSELECT $7, $7;\n"
        );
        assert_eq!(args.len(), 7);
    }

    #[test]
    fn no_rows_add_no_statement() {
        let mut batch = Batch::default();
        batch.push_rows("INSERT INTO u (x) ", Vec::<Vec<Arg>>::new());
        assert!(batch.statements.is_empty());
    }
}
