use super::{account_inserts, Names, Workload};
use tarn_pool::managers::sqlite::rusqlite::{Connection, Error, TransactionBehavior};
use tarn_pool::managers::SqliteManager;

impl Workload for SqliteManager {
    fn setup(c: &mut Connection, t: &Names, accounts: i64) -> Result<(), Error> {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(&format!(
            "CREATE TABLE {a} (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
             CREATE TABLE {l} (id INTEGER PRIMARY KEY AUTOINCREMENT, src INTEGER NOT NULL,
                               dst INTEGER NOT NULL, amount INTEGER NOT NULL);
             CREATE INDEX {l}_src ON {l} (src);",
            a = t.accounts,
            l = t.ledger
        ))?;
        for sql in account_inserts(t, accounts) {
            tx.execute_batch(&sql)?;
        }
        tx.commit()
    }

    fn read_balance(c: &mut Connection, t: &Names, id: i64) -> Result<(), Error> {
        let sql = format!("SELECT balance FROM {} WHERE id = ?1", t.accounts);
        c.prepare_cached(&sql)?
            .query_row([id], |r| r.get::<_, i64>(0))
            .map(drop)
    }

    fn read_ledger(c: &mut Connection, t: &Names, id: i64) -> Result<(), Error> {
        let sql = format!(
            "SELECT count(*), coalesce(sum(amount), 0) FROM \
             (SELECT amount FROM {} WHERE src = ?1 ORDER BY id DESC LIMIT 10)",
            t.ledger
        );
        c.prepare_cached(&sql)?
            .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map(drop)
    }

    fn transfer(
        c: &mut Connection,
        t: &Names,
        from: i64,
        to: i64,
        amount: i64,
    ) -> Result<(), Error> {
        // IMMEDIATE: take the write lock up front, so two writers never deadlock on a
        // read-to-write upgrade (they queue on the busy timeout instead).
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let update = format!(
            "UPDATE {} SET balance = balance + ?2 WHERE id = ?1",
            t.accounts
        );
        tx.prepare_cached(&update)?.execute([from, -amount])?;
        tx.prepare_cached(&update)?.execute([to, amount])?;
        let insert = format!(
            "INSERT INTO {} (src, dst, amount) VALUES (?1, ?2, ?3)",
            t.ledger
        );
        tx.prepare_cached(&insert)?.execute([from, to, amount])?;
        tx.commit()
    }

    fn total(c: &mut Connection, t: &Names) -> Result<i64, Error> {
        c.query_row(
            &format!("SELECT sum(balance) FROM {}", t.accounts),
            [],
            |r| r.get(0),
        )
    }

    fn teardown(c: &mut Connection, t: &Names) -> Result<(), Error> {
        c.execute_batch(&format!(
            "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
            t.ledger, t.accounts
        ))
    }
}
