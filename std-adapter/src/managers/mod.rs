//! Managers for real databases, each behind a feature: SQLite (default), PostgreSQL,
//! MariaDB/MySQL, Redis, and a bridge for any `r2d2::ManageConnection`.
