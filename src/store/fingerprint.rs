//! A record's fingerprint: XXH3-64 of its JSON text exactly as the server sent it, stored with
//! each snapshot to tell whether a record changed without reading its body.
//!
//! It only detects change (nothing trusts it against an adversary), so a fast non-cryptographic
//! hash does; at 64 bits an unnoticed change is a 1 in 2^64 chance per changed record. Hashing the
//! raw bytes avoids re-serialising; a server that reorders keys only costs a spurious "updated"
//! with no changed fields, which the diff reports as unchanged.
//!
//! The same function is registered in SQLite as `ahead_fingerprint(text)`, so a migration can
//! recompute stored fingerprints when the algorithm changes.

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

/// The SQL name of [`fingerprint`].
pub(super) const SQL_FUNCTION: &str = "ahead_fingerprint";

pub fn fingerprint(raw: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(raw.as_bytes()) as i64
}

/// Make `ahead_fingerprint(text)` available to SQL on `conn`.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        SQL_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text = ctx.get_raw(0).as_str().map_err(|e| {
                rusqlite::Error::UserFunctionError(format!("{SQL_FUNCTION}: {e}").into())
            })?;
            Ok(fingerprint(text))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let a = fingerprint(r#"{"id":1,"q":5}"#);
        assert_eq!(a, fingerprint(r#"{"id":1,"q":5}"#));
        assert_ne!(a, fingerprint(r#"{"id":1,"q":6}"#));
        // Fixed across releases (XXH3-64 of the empty input, seed 0): stored fingerprints must
        // stay comparable.
        assert_eq!(fingerprint("") as u64, 0x2D06_8005_38D3_94C2);
    }

    #[test]
    fn sql_function_agrees_with_rust() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let body = r#"{"id":7,"warehouse":"ATL"}"#;
        let from_sql: i64 = conn
            .query_row("SELECT ahead_fingerprint(?1)", [body], |r| r.get(0))
            .unwrap();
        assert_eq!(from_sql, fingerprint(body));
    }
}
