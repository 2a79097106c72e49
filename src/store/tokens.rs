//! OAuth tokens, stored so they outlive one process.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub access_token: Secret,
    pub refresh_token: Secret,
    /// Unix seconds at which the access token expires.
    pub expires_at: i64,
    /// Unix seconds at which it was obtained.
    pub obtained_at: i64,
    /// Bumped on every save; lets a process notice that another one rotated the tokens.
    pub generation: i64,
}

impl Store {
    pub fn token(&self, key: &str) -> Result<Option<StoredToken>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT access_token, refresh_token, expires_at, obtained_at, generation
                 FROM tokens WHERE key = ?1",
                [key],
                |r| {
                    Ok(StoredToken {
                        access_token: Secret::new(r.get::<_, String>(0)?),
                        refresh_token: Secret::new(r.get::<_, String>(1)?),
                        expires_at: r.get(2)?,
                        obtained_at: r.get(3)?,
                        generation: r.get(4)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Save a token pair, committed before the caller uses it: a rotated refresh token that was
    /// used but not saved would be lost with the process. Returns the new generation.
    pub(crate) fn save_token(
        &self,
        key: &str,
        access_token: &Secret,
        refresh_token: &Secret,
        expires_at: i64,
        obtained_at: i64,
    ) -> Result<i64, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "INSERT INTO tokens (key, access_token, refresh_token, expires_at, obtained_at, generation)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)
                 ON CONFLICT(key) DO UPDATE SET
                    access_token = excluded.access_token,
                    refresh_token = excluded.refresh_token,
                    expires_at = excluded.expires_at,
                    obtained_at = excluded.obtained_at,
                    generation = tokens.generation + 1
                 RETURNING generation",
                params![
                    key,
                    access_token.expose(),
                    refresh_token.expose(),
                    expires_at,
                    obtained_at
                ],
                |r| r.get(0),
            )
        })
    }

    /// Forget the tokens stored under `key`; true when there were some.
    pub(crate) fn delete_token(&self, key: &str) -> Result<bool, StoreError> {
        self.with(|conn| conn.execute("DELETE FROM tokens WHERE key = ?1", [key]))
            .map(|n| n > 0)
    }

    /// Test support: move a stored token's expiry (e.g. to just before now).
    pub fn set_token_expiry(&self, key: &str, expires_at: i64) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "UPDATE tokens SET expires_at = ?2 WHERE key = ?1",
                params![key, expires_at],
            )
        })
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_rotate_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        assert!(store.token("k").unwrap().is_none());
        let g1 = store
            .save_token("k", &Secret::new("a1"), &Secret::new("r1"), 100, 1)
            .unwrap();
        let g2 = store
            .save_token("k", &Secret::new("a2"), &Secret::new("r2"), 200, 2)
            .unwrap();
        assert_eq!((g1, g2), (1, 2));
        let t = store.token("k").unwrap().unwrap();
        assert_eq!(t.refresh_token.expose(), "r2");
        assert_eq!(t.expires_at, 200);
        // Another process sees the rotation.
        let other = Store::open(store.path()).unwrap();
        assert_eq!(other.token("k").unwrap().unwrap().generation, 2);
        assert!(store.delete_token("k").unwrap());
        assert!(!store.delete_token("k").unwrap());
    }
}
