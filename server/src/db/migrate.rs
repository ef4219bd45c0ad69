//! Schema migrations: numbered SQL files per backend under `server/migrations/`, embedded
//! in the binary and applied in order inside one transaction each. On PostgreSQL an
//! advisory lock lets several nodes start at once without racing.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, TransactionTrait};

use super::{Db, exec, one};

/// One migration: its version, name and the SQL for each backend.
struct Migration {
    version: i64,
    name: &'static str,
    postgres: &'static str,
    sqlite: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "seed schema (§7.1) + sessions, holds, webhooks, companions",
        postgres: include_str!("../../migrations/postgres/0001_schema.sql"),
        sqlite: include_str!("../../migrations/sqlite/0001_schema.sql"),
    },
    Migration {
        version: 2,
        name: "users.moderation_preference",
        postgres: include_str!("../../migrations/postgres/0002_moderation_preference.sql"),
        sqlite: include_str!("../../migrations/sqlite/0002_moderation_preference.sql"),
    },
    Migration {
        version: 3,
        name: "suspensions and the authority-report queue",
        postgres: include_str!("../../migrations/postgres/0003_moderation_actions.sql"),
        sqlite: include_str!("../../migrations/sqlite/0003_moderation_actions.sql"),
    },
    Migration {
        version: 4,
        name: "incident appeals",
        postgres: include_str!("../../migrations/postgres/0004_appeals.sql"),
        sqlite: include_str!("../../migrations/sqlite/0004_appeals.sql"),
    },
    Migration {
        version: 5,
        name: "wellbeing alerts",
        postgres: include_str!("../../migrations/postgres/0005_wellbeing_alerts.sql"),
        sqlite: include_str!("../../migrations/sqlite/0005_wellbeing_alerts.sql"),
    },
    Migration {
        version: 6,
        name: "companion conversations and memories",
        postgres: include_str!("../../migrations/postgres/0006_companion_conversations.sql"),
        sqlite: include_str!("../../migrations/sqlite/0006_companion_conversations.sql"),
    },
];

/// Advisory-lock key for migrations ("nexus" in ASCII).
const PG_MIGRATION_LOCK: i64 = 0x6e_65_78_75_73;

/// Applies every migration not yet recorded in `schema_migrations`.
pub async fn run(db: &Db) -> Result<(), DbErr> {
    let conn = db.conn();
    conn.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .await?;
    for migration in MIGRATIONS {
        let txn = conn.begin().await?;
        if db.backend() == DbBackend::Postgres {
            exec(&txn, "SELECT pg_advisory_xact_lock($1)", vec![PG_MIGRATION_LOCK.into()]).await?;
        }
        let applied =
            one(&txn, "SELECT version FROM schema_migrations WHERE version = $1", vec![migration.version.into()])
                .await?
                .is_some();
        if !applied {
            let sql = match db.backend() {
                DbBackend::Postgres => migration.postgres,
                _ => migration.sqlite,
            };
            txn.execute_unprepared(sql).await?;
            exec(
                &txn,
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                vec![migration.version.into(), migration.name.into(), chrono::Utc::now().to_rfc3339().into()],
            )
            .await?;
            tracing::info!(version = migration.version, name = migration.name, "migration applied");
        }
        txn.commit().await?;
    }
    Ok(())
}
