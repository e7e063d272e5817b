//! How a [`PgConnection`](super::PgConnection) sends statements: [`StatementMode`],
//! [`PgStatement`] and the [`PgQuery`] a query method takes.

use std::fmt;

use tokio_postgres::types::Type;

/// How a connection sends parameterized statements; see
/// [`PostgresManager::statement_mode`](super::PostgresManager::statement_mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatementMode {
    /// Named prepared statements, as tokio-postgres and the `postgres` crate use them: a
    /// statement is prepared in one round trip and executed in another, and a
    /// [`PgStatement`] stays prepared on the server session until it is dropped. Right for
    /// a direct connection or PgBouncer in session mode.
    #[default]
    Named,
    /// Nothing named outlives one server round trip, for PgBouncer in transaction (or
    /// statement) pooling mode, where consecutive transactions of one client may run on
    /// different server sessions. A parameterized query is sent as one unnamed
    /// Parse/Bind/Execute/Sync exchange (tokio-postgres's `query_typed`) with the parameter
    /// types learned once per SQL text; the types are learned by preparing the statement
    /// and closing it again inside one transaction (a `BEGIN`..`COMMIT` of its own outside
    /// [`PgConnection::transaction`](super::PgConnection::transaction)), so the named statement never crosses a transaction
    /// boundary. A [`PgStatement`] then holds only the SQL and its types and can be executed
    /// on any server session.
    ///
    /// User-defined types (enums, composites, domains over them) are the exception:
    /// tokio-postgres looks their definitions up with a named statement it keeps for the
    /// life of the connection, which a later transaction may not find. Use built-in types
    /// in parameters and results in this mode (cast: `$1::text::mood`, `col::text`).
    TransactionPooling,
}

/// A prepared statement of a [`PgConnection`](super::PgConnection).
///
/// In [`StatementMode::Named`] it is a statement prepared on the server session (closed
/// when the last clone is dropped); in [`StatementMode::TransactionPooling`] it is the SQL
/// and its parameter types, and each execution is self-contained.
#[derive(Clone)]
pub struct PgStatement {
    pub(super) sql: String,
    pub(super) params: Vec<Type>,
    pub(super) columns: Vec<(String, Type)>,
    pub(super) named: Option<tokio_postgres::Statement>,
}

impl PgStatement {
    /// The statement's SQL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The types of the statement's parameters, as the server inferred them.
    pub fn params(&self) -> &[Type] {
        &self.params
    }

    /// The name and type of each column of the statement's result.
    pub fn columns(&self) -> &[(String, Type)] {
        &self.columns
    }
}

impl fmt::Debug for PgStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStatement")
            .field("sql", &self.sql)
            .field("params", &self.params)
            .field("named", &self.named.is_some())
            .finish_non_exhaustive()
    }
}

/// What a query runs: SQL text (`&str`, `&String`) or a [`PgStatement`].
pub trait PgQuery {
    /// The SQL text.
    fn sql(&self) -> &str;
    /// The prepared statement, when this is one.
    fn statement(&self) -> Option<&PgStatement> {
        None
    }
}

impl PgQuery for str {
    fn sql(&self) -> &str {
        self
    }
}

impl PgQuery for String {
    fn sql(&self) -> &str {
        self
    }
}

impl PgQuery for PgStatement {
    fn sql(&self) -> &str {
        &self.sql
    }
    fn statement(&self) -> Option<&PgStatement> {
        Some(self)
    }
}
