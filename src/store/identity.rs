//! Which AHEAD the store belongs to (product.md, "The store belongs to one AHEAD"). A store's
//! ledger, mirror and watermarks are true only of the server they came from: pushes against
//! another would find every order "unchanged" and send nothing, pulls would mix two datasets.
//!
//! The identity is an opaque text chosen above (base URL and account); this module only keeps
//! the first one it is given and compares later ones with it.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};

const KEY: &str = "ahead.identity";

impl Store {
    /// The AHEAD this store was first used with, if it has been used with one.
    pub fn ahead_identity(&self) -> Result<Option<String>, StoreError> {
        self.kv_get(KEY)
    }

    /// Refuse a store that belongs to another AHEAD than `identity`; a store that belongs to
    /// none yet (new, or made before stores remembered their AHEAD) adopts it when `adopt`.
    /// Returns true when it adopted.
    pub(crate) fn claim_ahead(&self, identity: &str, adopt: bool) -> Result<bool, StoreError> {
        // Almost always the store already belongs to someone: a plain read says so without
        // taking the write lock every job would otherwise queue for.
        let mut stored = self.ahead_identity()?;
        if stored.is_none() && adopt {
            stored = self.adopt_ahead(identity)?;
        }
        match stored {
            None => Ok(adopt),
            Some(stored) if stored == identity => Ok(false),
            Some(stored) => Err(StoreError::OtherAhead {
                path: self.path().to_path_buf(),
                stored,
                configured: identity.to_string(),
            }),
        }
    }

    /// Record `identity` unless another process recorded one first; returns what was there.
    /// Read and written under one write lock, so two first runs cannot both adopt.
    fn adopt_ahead(&self, identity: &str) -> Result<Option<String>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let stored: Option<String> = tx
                .query_row("SELECT value FROM kv WHERE key = ?1", [KEY], |r| r.get(0))
                .optional()?;
            if stored.is_none() {
                tx.execute(
                    "INSERT INTO kv (key, value) VALUES (?1, ?2)",
                    [KEY, identity],
                )?;
                tx.commit()?;
            }
            Ok(stored)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_ahead_is_kept_and_another_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        assert!(
            !store.claim_ahead("A", false).unwrap(),
            "a check adopts nothing"
        );
        assert_eq!(store.ahead_identity().unwrap(), None);
        assert!(store.claim_ahead("A", true).unwrap(), "adopted");
        assert!(!store.claim_ahead("A", true).unwrap());
        assert!(!store.claim_ahead("A", false).unwrap());
        let e = store.claim_ahead("B", true).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("A") && text.contains("B") && text.contains("store.path"),
            "{text}"
        );
        assert_eq!(store.ahead_identity().unwrap().as_deref(), Some("A"));
    }
}
