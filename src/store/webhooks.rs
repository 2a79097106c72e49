//! Webhook deliveries as received (stored once per delivery id, before anything is done with
//! them), named counters, and a small key-value table for settings the tool generates itself.

use rusqlite::{params, Connection, Transaction};

use super::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub delivery_id: String,
    pub event: String,
    pub received_at: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub delivery_id: String,
    pub event: String,
    pub body: String,
}

/// The state of a stored delivery that could not be applied: it is kept, with its error in
/// `detail`, and no longer waits in front of the deliveries after it. (The other states:
/// `pending`, `applied`, `stale`, `ignored`.)
pub const QUARANTINED: &str = "quarantined";

/// Stored deliveries not applied: waiting, and set aside because they could not be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventBacklog {
    pub pending: u64,
    pub quarantined: u64,
}

/// A quarantined delivery and why it could not be applied.
#[derive(Debug, Clone)]
pub struct QuarantinedEvent {
    pub delivery_id: String,
    pub event: String,
    pub received_at: String,
    pub error: String,
}

/// Counters of deliveries, as `status` shows them.
const RECEIVED: &str = "webhooks.received";
const STORED: &str = "webhooks.stored";
const DUPLICATES: &str = "webhooks.duplicates";
/// Followed by the reason, as `Rejection::name` gives it.
const REJECTED: &str = "webhooks.rejected.";

/// Run `f` in a transaction whose commit survives a power loss: `synchronous = FULL` for that
/// commit alone. In WAL mode the store's usual `NORMAL` makes a commit durable only at the next
/// checkpoint (a power cut may roll back the last ones, never corrupt), which is right for pulls,
/// whose next run redoes what was lost; an acknowledged delivery is never sent again. The
/// connection's own level is put back afterwards, whatever happened.
fn durably<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let level: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let result = commit_with(conn, f);
    let restored = conn.pragma_update(None, "synchronous", level);
    let out = result?;
    restored?;
    Ok(out)
}

fn commit_with<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let tx = conn.transaction()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Add to named counters, inside the caller's transaction.
fn add_counters(tx: &Transaction<'_>, deltas: &[(String, u64)]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO counters (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    )?;
    for (name, n) in deltas.iter().filter(|(_, n)| *n > 0) {
        stmt.execute(params![name, *n as i64])?;
    }
    Ok(())
}

impl Store {
    /// Store deliveries in one transaction; for each, true if it was new (false: a redelivery).
    ///
    /// The same transaction counts them (`webhooks.received`, `webhooks.stored`,
    /// `webhooks.duplicates`) and the deliveries refused meanwhile, one reason name each
    /// (`webhooks.rejected.<reason>`): what was answered is counted durably with it, and a
    /// receiver killed at any instant loses no count of what it acknowledged.
    pub fn insert_events(
        &self,
        events: &[NewEvent],
        refused: &[&str],
    ) -> Result<Vec<bool>, StoreError> {
        self.with(|conn| {
            durably(conn, |tx| {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO webhook_events (delivery_id, event, received_at, body)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut fresh = Vec::with_capacity(events.len());
                for e in events {
                    let inserted =
                        stmt.execute(params![e.delivery_id, e.event, e.received_at, e.body])?;
                    fresh.push(inserted == 1);
                }
                let stored = fresh.iter().filter(|f| **f).count() as u64;
                let mut counts: Vec<(String, u64)> = vec![
                    (RECEIVED.into(), (events.len() + refused.len()) as u64),
                    (STORED.into(), stored),
                    (DUPLICATES.into(), events.len() as u64 - stored),
                ];
                for reason in refused {
                    let name = format!("{REJECTED}{reason}");
                    match counts.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, count)) => *count += 1,
                        None => counts.push((name, 1)),
                    }
                }
                add_counters(tx, &counts)?;
                Ok(fresh)
            })
        })
    }

    /// Deliveries not yet applied, oldest first.
    pub fn pending_events(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT delivery_id, event, body FROM webhook_events WHERE state = 'pending' ORDER BY received_at LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(PendingEvent {
                    delivery_id: r.get(0)?,
                    event: r.get(1)?,
                    body: r.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Record what became of a pending delivery (`applied`, `stale`, `ignored`, `quarantined`),
    /// with its detail, and count it (`webhooks.<state>`) in the same transaction. A delivery
    /// that is no longer pending is left as it is, and not counted twice.
    pub fn mark_event(
        &self,
        delivery_id: &str,
        state: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let marked = tx
                .prepare_cached(
                    "UPDATE webhook_events SET state = ?2, detail = ?3
                     WHERE delivery_id = ?1 AND state = 'pending'",
                )?
                .execute(params![delivery_id, state, detail])?;
            add_counters(&tx, &[(format!("webhooks.{state}"), marked as u64)])?;
            tx.commit()
        })
    }

    /// How many stored deliveries are pending and how many quarantined.
    pub fn event_backlog(&self) -> Result<EventBacklog, StoreError> {
        self.with(|conn| {
            // Two counts, so that the pending one is read from its partial index alone.
            let pending = conn
                .prepare_cached("SELECT count(*) FROM webhook_events WHERE state = 'pending'")?
                .query_row([], |r| r.get::<_, i64>(0))?;
            let quarantined = conn
                .prepare_cached("SELECT count(*) FROM webhook_events WHERE state = ?1")?
                .query_row([QUARANTINED], |r| r.get::<_, i64>(0))?;
            Ok(EventBacklog {
                pending: pending as u64,
                quarantined: quarantined as u64,
            })
        })
    }

    /// Quarantined deliveries, oldest first.
    pub fn quarantined_events(&self, limit: usize) -> Result<Vec<QuarantinedEvent>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT delivery_id, event, received_at, detail FROM webhook_events
                 WHERE state = ?1 ORDER BY received_at, delivery_id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![QUARANTINED, limit as i64], |r| {
                Ok(QuarantinedEvent {
                    delivery_id: r.get(0)?,
                    event: r.get(1)?,
                    received_at: r.get(2)?,
                    error: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Number of stored deliveries per state.
    pub fn event_states(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT state, count(*) FROM webhook_events GROUP BY state ORDER BY state",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })
    }

    /// Counters whose name starts with `prefix`.
    pub fn counters(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare("SELECT name, value FROM counters WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name")?;
            let rows = stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        let e = NewEvent {
            delivery_id: "evt_1".into(),
            event: "invoice.created".into(),
            received_at: "2026-01-01T00:00:00Z".into(),
            body: "{}".into(),
        };
        assert_eq!(
            store
                .insert_events(&[e.clone(), e.clone()], &["bad_signature"])
                .unwrap(),
            vec![true, false]
        );
        assert_eq!(
            store
                .insert_events(&[e], &["bad_signature", "too_large"])
                .unwrap(),
            vec![false]
        );
        assert_eq!(store.pending_events(10).unwrap().len(), 1);
        store.mark_event("evt_1", "applied", "").unwrap();
        assert!(store.pending_events(10).unwrap().is_empty());
        // Marked once: a second outcome for the same delivery is neither written nor counted.
        store.mark_event("evt_1", "stale", "").unwrap();
        assert_eq!(
            store.event_states().unwrap(),
            vec![("applied".to_string(), 1)]
        );
        assert_eq!(
            store.counters("webhooks.").unwrap(),
            vec![
                ("webhooks.applied".into(), 1),
                ("webhooks.duplicates".into(), 2),
                ("webhooks.received".into(), 6),
                ("webhooks.rejected.bad_signature".into(), 2),
                ("webhooks.rejected.too_large".into(), 1),
                ("webhooks.stored".into(), 1),
            ]
        );
    }

    fn synchronous(store: &Store) -> i64 {
        store
            .with(|c| c.pragma_query_value(None, "synchronous", |r| r.get(0)))
            .unwrap()
    }

    /// SQLite's levels: 1 is NORMAL, 2 is FULL.
    #[test]
    fn a_durable_commit_is_full_and_leaves_the_connection_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        assert_eq!(synchronous(&store), 1);
        let inside = store
            .with(|conn| {
                durably(conn, |tx| {
                    tx.pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))
                })
            })
            .unwrap();
        assert_eq!(inside, 2);
        assert_eq!(synchronous(&store), 1);
        let failed = store.with(|conn| {
            durably(conn, |tx| {
                tx.execute("INSERT INTO kv (key, value) VALUES ('k', 'v')", [])?;
                tx.execute("INSERT INTO no_such_table VALUES (1)", [])
            })
        });
        assert!(failed.is_err());
        assert_eq!(
            synchronous(&store),
            1,
            "put back after a failed transaction"
        );
        assert_eq!(store.kv_get("k").unwrap(), None, "rolled back");
        store
            .insert_events(
                &[NewEvent {
                    delivery_id: "evt_1".into(),
                    event: "invoice.created".into(),
                    received_at: "2026-01-01T00:00:00Z".into(),
                    body: "{}".into(),
                }],
                &[],
            )
            .unwrap();
        assert_eq!(synchronous(&store), 1, "applying and pulls keep NORMAL");
    }
}
