//! Spill files: blobs set aside while a job streams through more than it should hold in
//! memory, read back sorted by a key. A push uses them for the rows of orders whose rows are
//! spread through a file, and for a file's rejections until they are written in line order.
//!
//! Each spill is a private, temporary SQLite database (opened with an empty name): SQLite
//! unlinks its file as soon as it is created and frees it on close, so a process killed at any
//! instant leaves nothing behind. It is not the store: nothing in it outlives the spill.

use std::path::PathBuf;

use rusqlite::{params, Connection};

use super::StoreError;

/// Blobs with a sort key and a number, read back by key and, for equal keys, in the order
/// they were put.
pub struct Spill {
    conn: Connection,
    /// Blobs put since the last read: they are inside an open transaction.
    pending: bool,
    len: u64,
}

fn spill_error(source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: PathBuf::from("(temporary spill file)"),
        source,
    }
}

impl Spill {
    /// An empty spill. Its file is only created once it holds more than its page cache.
    pub fn new() -> Result<Spill, StoreError> {
        let conn = Connection::open("").map_err(spill_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA cache_size = -4096;
             PRAGMA temp_store = FILE;
             CREATE TABLE spill (key INTEGER NOT NULL, number INTEGER NOT NULL, blob BLOB NOT NULL);",
        )
        .map_err(spill_error)?;
        Ok(Spill {
            conn,
            pending: false,
            len: 0,
        })
    }

    /// How many blobs it holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn put(&mut self, key: i64, number: i64, blob: &[u8]) -> Result<(), StoreError> {
        if !self.pending {
            self.conn.execute_batch("BEGIN").map_err(spill_error)?;
            self.pending = true;
        }
        self.conn
            .prepare_cached("INSERT INTO spill (key, number, blob) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![key, number, blob]))
            .map_err(spill_error)?;
        self.len += 1;
        Ok(())
    }

    /// Every blob, by key and then in the order put (SQLite sorts on disk when they do not
    /// fit its cache). `each` may stop the read with its own error, returned as the inner one.
    pub fn for_each_sorted<E>(
        &mut self,
        mut each: impl FnMut(i64, i64, &[u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        if self.pending {
            self.conn.execute_batch("COMMIT").map_err(spill_error)?;
            self.pending = false;
        }
        let mut statement = self
            .conn
            .prepare("SELECT key, number, blob FROM spill ORDER BY key, rowid")
            .map_err(spill_error)?;
        let mut rows = statement.query([]).map_err(spill_error)?;
        while let Some(row) = rows.next().map_err(spill_error)? {
            let key: i64 = row.get(0).map_err(spill_error)?;
            let number: i64 = row.get(1).map_err(spill_error)?;
            let blob = row.get_ref(2).map_err(spill_error)?;
            let blob = blob.as_blob().map_err(|e| spill_error(e.into()))?;
            if let Err(e) = each(key, number, blob) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_come_back_by_key_then_in_the_order_put() {
        let mut spill = Spill::new().unwrap();
        for (key, number, blob) in [(5, 1, "a"), (2, 2, "b"), (5, 3, "c"), (2, 4, "d")] {
            spill.put(key, number, blob.as_bytes()).unwrap();
        }
        assert_eq!(spill.len(), 4);
        let mut got = Vec::new();
        spill
            .for_each_sorted(|key, number, blob| {
                got.push((key, number, String::from_utf8(blob.to_vec()).unwrap()));
                Ok::<_, ()>(())
            })
            .unwrap()
            .unwrap();
        let want = [(2, 2, "b"), (2, 4, "d"), (5, 1, "a"), (5, 3, "c")];
        assert_eq!(
            got,
            want.map(|(k, n, b)| (k, n, b.to_string())),
            "sorted by key, stable within a key"
        );
    }
}
