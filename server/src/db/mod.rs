//! Storage: one code path for SQLite (embedded default) and PostgreSQL (production).
//!
//! Queries are plain SQL with `$N` placeholders, which both backends accept, run through
//! sea-orm's connection layer (sqlx underneath) so values keep their native types on
//! PostgreSQL (uuid, timestamptz, jsonb). The few places where the two dialects differ
//! (INET casts) go through [`Dialect`]. Schema: [`migrate`].

pub mod migrate;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement,
    TryGetable, Value,
};

/// The database handle shared by every service.
#[derive(Debug, Clone)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects to `url` (`postgres://…` or `sqlite://…`) and applies pending migrations.
    ///
    /// SQLite gets a single connection: it has one writer anyway, and a single connection
    /// rules out the `SQLITE_BUSY` upgrade failures of concurrent read-then-write
    /// transactions. PostgreSQL gets a pool of `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbErr> {
        let sqlite = url.starts_with("sqlite:");
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(if sqlite { 1 } else { max_connections.max(1) })
            .min_connections(if sqlite { 1 } else { 0 })
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        let conn = Database::connect(options).await?;
        if sqlite {
            conn.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;").await?;
        }
        let db = Self { conn };
        migrate::run(&db).await?;
        Ok(db)
    }

    /// The pooled connection (also the way to begin transactions).
    #[must_use]
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Which backend this is.
    #[must_use]
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), DbErr> {
        self.conn.close().await
    }
}

/// SQL fragments that differ between the two backends.
pub trait Dialect {
    /// `$n` as an INET value (PostgreSQL casts; SQLite stores text).
    fn inet_param(&self, n: usize) -> String;
    /// Reads an INET column as plain address text.
    fn inet_text(&self, column: &str) -> String;
}

impl Dialect for DbBackend {
    fn inet_param(&self, n: usize) -> String {
        match self {
            DbBackend::Postgres => format!("CAST(${n} AS INET)"),
            _ => format!("${n}"),
        }
    }

    fn inet_text(&self, column: &str) -> String {
        match self {
            DbBackend::Postgres => format!("host({column})"),
            _ => column.to_owned(),
        }
    }
}

/// A statement for `c`'s backend.
#[must_use]
pub fn stmt<C: ConnectionTrait>(c: &C, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(c.get_database_backend(), sql, values)
}

/// Executes `sql`, returning the number of rows affected.
pub async fn exec<C: ConnectionTrait>(c: &C, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
    Ok(c.execute_raw(stmt(c, sql, values)).await?.rows_affected())
}

/// Runs `sql` and returns its first row, if any.
pub async fn one<C: ConnectionTrait>(c: &C, sql: &str, values: Vec<Value>) -> Result<Option<QueryResult>, DbErr> {
    c.query_one_raw(stmt(c, sql, values)).await
}

/// Runs `sql` and returns every row.
pub async fn all<C: ConnectionTrait>(c: &C, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>, DbErr> {
    c.query_all_raw(stmt(c, sql, values)).await
}

/// Reads column `col` of `row`.
pub fn get<T: TryGetable>(row: &QueryResult, col: &str) -> Result<T, DbErr> {
    row.try_get("", col)
}

/// Whether `err` is a unique-constraint violation (a lost race or a replay).
#[must_use]
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
