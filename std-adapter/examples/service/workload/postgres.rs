use super::{account_inserts, Names, Workload};
use tarn_pool::managers::postgres::{PgConnection as Client, PgError as Error};
use tarn_pool::managers::PostgresManager;

impl Workload for PostgresManager {
    fn setup(c: &mut Client, t: &Names, accounts: i64) -> Result<(), Error> {
        let mut tx = c.transaction()?;
        tx.batch_execute(&format!(
            "CREATE TABLE {a} (id bigint PRIMARY KEY, balance bigint NOT NULL);
             CREATE TABLE {l} (id bigserial PRIMARY KEY, src bigint NOT NULL,
                               dst bigint NOT NULL, amount bigint NOT NULL);
             CREATE INDEX ON {l} (src);",
            a = t.accounts,
            l = t.ledger
        ))?;
        for sql in account_inserts(t, accounts) {
            tx.batch_execute(&sql)?;
        }
        tx.commit()
    }

    fn read_balance(c: &mut Client, t: &Names, id: i64) -> Result<(), Error> {
        let sql = format!("SELECT balance FROM {} WHERE id = $1", t.accounts);
        c.query_one(&sql, &[&id]).map(drop)
    }

    fn read_ledger(c: &mut Client, t: &Names, id: i64) -> Result<(), Error> {
        let sql = format!(
            "SELECT count(*), coalesce(sum(amount), 0)::bigint FROM \
             (SELECT amount FROM {} WHERE src = $1 ORDER BY id DESC LIMIT 10) recent",
            t.ledger
        );
        c.query_one(&sql, &[&id]).map(drop)
    }

    fn transfer(c: &mut Client, t: &Names, from: i64, to: i64, amount: i64) -> Result<(), Error> {
        let mut tx = c.transaction()?;
        // Lock the two rows in id order: concurrent transfers never deadlock.
        let update = format!(
            "UPDATE {} SET balance = balance + $2 WHERE id = $1",
            t.accounts
        );
        let (first, second) = if from < to {
            ((from, -amount), (to, amount))
        } else {
            ((to, amount), (from, -amount))
        };
        tx.execute(&update, &[&first.0, &first.1])?;
        tx.execute(&update, &[&second.0, &second.1])?;
        let insert = format!(
            "INSERT INTO {} (src, dst, amount) VALUES ($1, $2, $3)",
            t.ledger
        );
        tx.execute(&insert, &[&from, &to, &amount])?;
        tx.commit()
    }

    fn total(c: &mut Client, t: &Names) -> Result<i64, Error> {
        let sql = format!("SELECT sum(balance)::bigint FROM {}", t.accounts);
        Ok(c.query_one(&sql, &[])?.get(0))
    }

    fn teardown(c: &mut Client, t: &Names) -> Result<(), Error> {
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
            t.ledger, t.accounts
        ))
    }
}
