use super::{account_inserts, Names, Workload};
use tarn_pool::managers::mysql::mysql::prelude::Queryable;
use tarn_pool::managers::mysql::mysql::{Error, TxOpts};
use tarn_pool::managers::mysql::MysqlConnection as Conn;
use tarn_pool::managers::MysqlManager;

impl Workload for MysqlManager {
    fn setup(c: &mut Conn, t: &Names, accounts: i64) -> Result<(), Error> {
        c.query_drop(format!(
            "CREATE TABLE {} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
            t.accounts
        ))?;
        c.query_drop(format!(
            "CREATE TABLE {} (id BIGINT AUTO_INCREMENT PRIMARY KEY, src BIGINT NOT NULL, \
             dst BIGINT NOT NULL, amount BIGINT NOT NULL, KEY (src)) ENGINE=InnoDB",
            t.ledger
        ))?;
        let mut tx = c.start_transaction(TxOpts::default())?;
        for sql in account_inserts(t, accounts) {
            tx.query_drop(sql)?;
        }
        tx.commit()
    }

    fn read_balance(c: &mut Conn, t: &Names, id: i64) -> Result<(), Error> {
        let sql = format!("SELECT balance FROM {} WHERE id = ?", t.accounts);
        c.exec_first::<i64, _, _>(sql, (id,)).map(drop)
    }

    fn read_ledger(c: &mut Conn, t: &Names, id: i64) -> Result<(), Error> {
        let sql = format!(
            "SELECT count(*), CAST(coalesce(sum(amount), 0) AS SIGNED) FROM \
             (SELECT amount FROM {} WHERE src = ? ORDER BY id DESC LIMIT 10) recent",
            t.ledger
        );
        c.exec_first::<(i64, i64), _, _>(sql, (id,)).map(drop)
    }

    fn transfer(c: &mut Conn, t: &Names, from: i64, to: i64, amount: i64) -> Result<(), Error> {
        let mut tx = c.start_transaction(TxOpts::default())?;
        let update = format!(
            "UPDATE {} SET balance = balance + ? WHERE id = ?",
            t.accounts
        );
        let (first, second) = if from < to {
            ((-amount, from), (amount, to))
        } else {
            ((amount, to), (-amount, from))
        };
        tx.exec_drop(&update, first)?;
        tx.exec_drop(&update, second)?;
        let insert = format!(
            "INSERT INTO {} (src, dst, amount) VALUES (?, ?, ?)",
            t.ledger
        );
        tx.exec_drop(insert, (from, to, amount))?;
        tx.commit()
    }

    fn total(c: &mut Conn, t: &Names) -> Result<i64, Error> {
        let sql = format!("SELECT CAST(sum(balance) AS SIGNED) FROM {}", t.accounts);
        Ok(c.query_first::<i64, _>(sql)?.unwrap_or(0))
    }

    fn teardown(c: &mut Conn, t: &Names) -> Result<(), Error> {
        c.query_drop(format!("DROP TABLE IF EXISTS {}, {}", t.ledger, t.accounts))
    }
}
