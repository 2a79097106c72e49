//! Small settings kept in the store, by key: the generated webhook secret, the daemon's last
//! fire time per job, the AHEAD the store belongs to (`identity.rs`).

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

impl Store {
    /// The value stored under `key`, if any.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|conn| {
            conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    /// Store `value` under `key`, replacing what was there.
    pub fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
        })
        .map(|_| ())
    }
}
