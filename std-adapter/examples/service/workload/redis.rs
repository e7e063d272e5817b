use super::{Names, Workload};
use tarn_pool::managers::redis::redis::{self, Connection, RedisError};
use tarn_pool::managers::RedisManager;

impl Workload for RedisManager {
    fn setup(c: &mut Connection, t: &Names, accounts: i64) -> Result<(), RedisError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in 1..=accounts {
            pipe.hset(&t.accounts, id, 1000).ignore();
        }
        pipe.query::<()>(c)
    }

    fn read_balance(c: &mut Connection, t: &Names, id: i64) -> Result<(), RedisError> {
        redis::cmd("HGET")
            .arg(&t.accounts)
            .arg(id)
            .query::<Option<i64>>(c)
            .map(drop)
    }

    fn read_ledger(c: &mut Connection, t: &Names, id: i64) -> Result<(), RedisError> {
        redis::cmd("LRANGE")
            .arg(format!("{}:{id}", t.ledger))
            .arg(0)
            .arg(9)
            .query::<Vec<i64>>(c)
            .map(drop)
    }

    fn transfer(
        c: &mut Connection,
        t: &Names,
        from: i64,
        to: i64,
        amount: i64,
    ) -> Result<(), RedisError> {
        let key = format!("{}:{from}", t.ledger);
        redis::pipe()
            .atomic()
            .hincr(&t.accounts, from, -amount)
            .ignore()
            .hincr(&t.accounts, to, amount)
            .ignore()
            .lpush(&key, amount)
            .ignore()
            .ltrim(&key, 0, 99)
            .ignore()
            .query::<()>(c)
    }

    fn total(c: &mut Connection, t: &Names) -> Result<i64, RedisError> {
        let values: Vec<i64> = redis::cmd("HVALS").arg(&t.accounts).query(c)?;
        Ok(values.iter().sum())
    }

    fn teardown(c: &mut Connection, t: &Names) -> Result<(), RedisError> {
        let mut keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}:*", t.ledger)).query(c)?;
        keys.push(t.accounts.clone());
        redis::cmd("DEL").arg(keys).query::<()>(c)
    }
}
