//! Versioned schema migrations driven by `PRAGMA user_version`.
//!
//! Each entry upgrades the file from version `i` to `i + 1` inside one transaction, so an old
//! file is upgraded in place and a crash mid-upgrade leaves it at the old version. Never edit a
//! migration that has shipped; append a new one.

use super::{Store, StoreError};

const MIGRATIONS: &[&str] = &[
    // 1: OAuth tokens, one row per (configured base URL, client id).
    r#"
    CREATE TABLE tokens (
        key            TEXT PRIMARY KEY,
        access_token   TEXT NOT NULL,
        refresh_token  TEXT NOT NULL,
        expires_at     INTEGER NOT NULL,   -- unix seconds
        obtained_at    INTEGER NOT NULL,   -- unix seconds
        generation     INTEGER NOT NULL    -- bumped on every rotation
    );
    "#,
    // 2: run history.
    r#"
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        job         TEXT NOT NULL,
        args        TEXT NOT NULL DEFAULT '',
        started_at  INTEGER NOT NULL,
        ended_at    INTEGER,
        outcome     TEXT,
        stats       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_job ON runs(job, id);
    "#,
    // 3: the mirror: one snapshot per record and stream, the change log, and watermarks.
    r#"
    CREATE TABLE snapshots (
        stream      TEXT NOT NULL,
        id          INTEGER NOT NULL,          -- AHEAD's id
        key         TEXT NOT NULL,             -- natural key (item_number@warehouse, invoice_number, ...)
        hash        INTEGER NOT NULL,          -- first 8 bytes of SHA-256 of the record's JSON
        updated_at  TEXT NOT NULL,
        state       TEXT NOT NULL DEFAULT '',  -- invoices: 'closed' once they left the outstanding set
        body        TEXT NOT NULL,             -- the record as AHEAD sent it
        PRIMARY KEY (stream, id)
    ) WITHOUT ROWID;
    CREATE INDEX snapshots_key ON snapshots(stream, key);
    CREATE TABLE changes (
        seq         INTEGER PRIMARY KEY,
        run         INTEGER NOT NULL,
        at          TEXT NOT NULL,
        stream      TEXT NOT NULL,
        record_id   INTEGER,
        key         TEXT NOT NULL,
        change      TEXT NOT NULL,             -- created, updated, removed, closed, rejected
        fields      TEXT NOT NULL DEFAULT '',  -- changed field names, ';'-separated
        before      TEXT,                      -- JSON object of the changed fields' old values
        after       TEXT,                      -- ... and new values
        detail      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX changes_run ON changes(run);
    CREATE INDEX changes_stream ON changes(stream, seq);
    CREATE TABLE watermarks (
        stream          TEXT PRIMARY KEY,
        updated_at      TEXT NOT NULL,          -- the newest updated_at committed
        incrementals    INTEGER NOT NULL DEFAULT 0,  -- incremental pulls since the last full one
        last_full_run   INTEGER
    );
    "#,
    // 4: webhook deliveries (stored once by delivery id), counters, and small settings.
    r#"
    CREATE TABLE webhook_events (
        delivery_id  TEXT PRIMARY KEY,
        event        TEXT NOT NULL,
        received_at  TEXT NOT NULL,
        body         TEXT NOT NULL,
        state        TEXT NOT NULL DEFAULT 'pending',  -- pending, applied, stale, ignored
        detail       TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID;
    CREATE INDEX webhook_events_pending ON webhook_events(received_at) WHERE state = 'pending';
    CREATE TABLE counters (
        name   TEXT PRIMARY KEY,
        value  INTEGER NOT NULL
    );
    CREATE TABLE kv (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );
    "#,
    // 5: the push ledger: one row per source order ever pushed, keyed by its number.
    r#"
    CREATE TABLE push_ledger (
        kind          TEXT NOT NULL,     -- purchase_order, fulfillment_order
        number        TEXT NOT NULL,     -- po_number / order_number
        state         TEXT NOT NULL,     -- sending, sent, rejected, cancelled
        content_hash  TEXT NOT NULL,     -- of the body last sent (or being sent)
        ahead_id      INTEGER,
        source_file   TEXT NOT NULL,
        source_line   INTEGER NOT NULL,
        body          TEXT NOT NULL,     -- what was sent
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (kind, number)
    ) WITHOUT ROWID;
    CREATE INDEX push_ledger_file ON push_ledger(kind, source_file);
    "#,
    // 6: drop two indexes nothing reads: every insert paid for them, and they made a large mirror
    // a quarter bigger than it needs to be.
    r#"
    DROP INDEX snapshots_key;
    DROP INDEX changes_stream;
    "#,
    // 7: fingerprints move from the first 8 bytes of SHA-256 to XXH3-64 (a tenth of the cost
    // per record); every stored one is recomputed from its body, so no record looks changed.
    r#"
    UPDATE snapshots SET hash = ahead_fingerprint(body);
    "#,
    // 8: the first line of the error that ended a failed run, for `status`.
    r#"
    ALTER TABLE runs ADD COLUMN error TEXT;
    "#,
    // 9: outboxes: how far each has delivered the change log, the files it wrote (a file is
    // recorded before it is renamed into place, so a run killed after the rename finishes it
    // instead of writing it again), and the X12 control numbers used per trading partner.
    r#"
    CREATE TABLE outbox_cursors (
        outbox      TEXT PRIMARY KEY,
        stream      TEXT NOT NULL,
        cursor      INTEGER NOT NULL DEFAULT 0,  -- last change seq delivered or passed over
        files       INTEGER NOT NULL DEFAULT 0,
        changes     INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE outbox_files (
        id            INTEGER PRIMARY KEY,
        outbox        TEXT NOT NULL,
        run           INTEGER NOT NULL,
        first_seq     INTEGER NOT NULL,
        last_seq      INTEGER NOT NULL,
        file          TEXT NOT NULL,               -- name inside the outbox folder
        content_hash  TEXT NOT NULL,               -- SHA-256 of the file, hex
        changes       INTEGER NOT NULL,            -- changes the file carries
        replay_of     INTEGER,                     -- the run replayed, for a replay
        state         TEXT NOT NULL,               -- written (being renamed), delivered
        written_at    TEXT NOT NULL,
        delivered_at  TEXT
    );
    CREATE UNIQUE INDEX outbox_files_range ON outbox_files(outbox, first_seq) WHERE replay_of IS NULL;
    CREATE INDEX outbox_files_open ON outbox_files(outbox) WHERE state = 'written';
    CREATE INDEX outbox_files_run ON outbox_files(run);
    CREATE TABLE x12_controls (
        partner          TEXT PRIMARY KEY,          -- ISA05:ISA06/ISA07:ISA08
        interchange      INTEGER NOT NULL,          -- last ISA13 (and GS06) used
        transaction_set  INTEGER NOT NULL           -- last ST02 used
    );
    "#,
    // 10: the records a page creates share one change log row (store::created): it covers the
    // `span` seqs ending at its own and packs their ids and keys in `records`, so a record's
    // first sighting costs one row, its snapshot. Every older row covers one seq.
    r#"
    ALTER TABLE changes ADD COLUMN span INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE changes ADD COLUMN records BLOB;
    "#,
    // 11: snapshots move to a table per stream, keyed by AHEAD's id alone (a rowid table: a
    // first pull appends to full pages), and keep only what the body does not say: the key is
    // in the change log and the body, `updated_at` in the body, and the newest `updated_at` of
    // each stream in `stream_newest`.
    r#"
    CREATE TABLE snapshots_inventory (
        id     INTEGER PRIMARY KEY,       -- AHEAD's id
        hash   INTEGER NOT NULL,          -- XXH3-64 of the record's JSON
        state  TEXT NOT NULL DEFAULT '',  -- invoices: 'closed' once they left the outstanding set
        body   TEXT NOT NULL              -- the record as AHEAD sent it
    );
    CREATE TABLE snapshots_invoices (
        id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, state TEXT NOT NULL DEFAULT '', body TEXT NOT NULL
    );
    CREATE TABLE snapshots_shipments (
        id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, state TEXT NOT NULL DEFAULT '', body TEXT NOT NULL
    );
    CREATE TABLE snapshots_purchase_orders (
        id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, state TEXT NOT NULL DEFAULT '', body TEXT NOT NULL
    );
    CREATE TABLE snapshots_fulfillment_orders (
        id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, state TEXT NOT NULL DEFAULT '', body TEXT NOT NULL
    );
    INSERT INTO snapshots_inventory (id, hash, state, body)
        SELECT id, hash, state, body FROM snapshots WHERE stream = 'inventory' ORDER BY id;
    INSERT INTO snapshots_invoices (id, hash, state, body)
        SELECT id, hash, state, body FROM snapshots WHERE stream = 'invoices' ORDER BY id;
    INSERT INTO snapshots_shipments (id, hash, state, body)
        SELECT id, hash, state, body FROM snapshots WHERE stream = 'shipments' ORDER BY id;
    INSERT INTO snapshots_purchase_orders (id, hash, state, body)
        SELECT id, hash, state, body FROM snapshots WHERE stream = 'purchase_orders' ORDER BY id;
    INSERT INTO snapshots_fulfillment_orders (id, hash, state, body)
        SELECT id, hash, state, body FROM snapshots WHERE stream = 'fulfillment_orders' ORDER BY id;
    CREATE TABLE stream_newest (
        stream      TEXT PRIMARY KEY,
        updated_at  TEXT NOT NULL   -- the newest updated_at of any snapshot ever written
    );
    INSERT INTO stream_newest (stream, updated_at)
        SELECT stream, max(updated_at) FROM snapshots WHERE updated_at <> '' GROUP BY stream;
    DROP TABLE snapshots;
    "#,
];

/// The version a fully migrated file has.
pub(super) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

impl Store {
    pub(super) fn migrate(&self) -> Result<(), StoreError> {
        self.migrate_to(latest())
    }

    /// Upgrade to `target` (tests use it to build files as older versions wrote them).
    pub(super) fn migrate_to(&self, target: i64) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > latest() {
            return Err(StoreError::TooNew {
                path: self.path().to_path_buf(),
                found,
                known: latest(),
            });
        }
        for version in found..target {
            // Two processes may open a new or old file at the same moment: the version is read
            // again under the write lock, and a step another process already took is skipped.
            let applied = self.with(|conn| {
                let tx = conn.transaction()?;
                let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                if now != version {
                    return Ok(false);
                }
                tx.execute_batch(MIGRATIONS[version as usize])?;
                tx.pragma_update(None, "user_version", version + 1)?;
                tx.commit()?;
                Ok(true)
            })?;
            if applied {
                tracing::debug!(version = version + 1, "Store migrated.");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store file at `path` as the release with schema `version` left it.
    fn old_file(path: &std::path::Path, version: i64) -> Store {
        super::super::create_private(path).unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        super::super::fingerprint::register(&conn).unwrap();
        let store = Store {
            inner: std::sync::Arc::new(super::super::Inner {
                path: path.to_path_buf(),
                conn: std::sync::Mutex::new(conn),
            }),
        };
        store.migrate_to(version).unwrap();
        store
    }

    #[test]
    fn an_old_file_is_upgraded_in_place_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // Build a version-1 file, as the first release wrote it, holding a token.
            let store = old_file(&path, 1);
            assert_eq!(store.schema_version().unwrap(), 1);
            store
                .with(|c| c.execute("INSERT INTO tokens VALUES ('k', 'a', 'r', 10, 1, 1)", []))
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest());
        let token = store.token("k").unwrap().unwrap();
        assert_eq!(token.access_token.expose(), "a");
        let runs: i64 = store
            .with(|c| c.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(runs, 0);
    }

    #[test]
    fn fingerprints_are_recomputed_when_their_algorithm_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        let body = r#"{"id":5,"item_number":"PSU-800W","warehouse":"ATL"}"#;
        {
            // A version-6 file, whose fingerprints were the first 8 bytes of SHA-256.
            let store = old_file(&path, 6);
            store
                .with(|c| {
                    c.execute(
                        "INSERT INTO snapshots VALUES ('inventory', 5, 'PSU-800W@ATL', ?1, '', '', ?2)",
                        rusqlite::params![-2_079_045_418_370_125_520_i64, body],
                    )
                })
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let stored = store.stored_for("inventory", &[5], false).unwrap();
        assert_eq!(stored.rows[0].hash, super::super::fingerprint(body));
    }

    #[test]
    fn snapshots_move_to_a_table_per_stream_keeping_every_record_and_the_newest_update() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v9.db");
        {
            // A version-9 file: one snapshots table for every stream, a change row per record.
            let store = old_file(&path, 9);
            store
                .with(|c| {
                    c.execute_batch(
                        r#"INSERT INTO snapshots VALUES
                            ('inventory', 7, 'A@ATL', 1, '2026-03-01T00:00:00Z', '', '{"id":7}'),
                            ('inventory', 3, 'B@ATL', 2, '2026-05-01T00:00:00Z', '', '{"id":3}'),
                            ('invoices', 7, 'INV-7', 3, '2026-04-01T00:00:00Z', 'closed', '{"id":7}');
                           INSERT INTO changes (run, at, stream, record_id, key, change)
                           VALUES (1, 't', 'inventory', 7, 'A@ATL', 'created');"#,
                    )
                })
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.snapshot_count("inventory").unwrap(), 2);
        assert_eq!(store.snapshot_count("invoices").unwrap(), 1);
        let invoices = store.stored_for("invoices", &[7], true).unwrap();
        assert_eq!(invoices.rows[0].state, "closed");
        assert_eq!(invoices.rows[0].hash, 3);
        assert_eq!(
            store.newest_updated_at("inventory").unwrap().as_deref(),
            Some("2026-05-01T00:00:00Z")
        );
        assert_eq!(
            store.newest_updated_at("invoices").unwrap().as_deref(),
            Some("2026-04-01T00:00:00Z")
        );
        let mut keys = Vec::new();
        store
            .for_each_change(None, None, None, |r| {
                keys.push(r.key);
                Ok(())
            })
            .unwrap()
            .unwrap();
        assert_eq!(keys, ["A@ATL"]);
    }

    #[test]
    fn a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", latest() + 5)
                .unwrap();
        }
        match Store::open(&path) {
            Err(StoreError::TooNew { found, .. }) => assert_eq!(found, latest() + 5),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a newer schema must be refused"),
        }
    }
}
