//! A page's created records in one change log row.
//!
//! A first pull sees every record for the first time; a change log row per record would cost as
//! much as the snapshot itself (a row, an index entry, the run, time and stream repeated). The
//! created records a page brings share one row instead: it spans as many seqs as it has records
//! (`span` seqs ending at its own `seq`, so the seqs after it are still assigned by SQLite), and
//! `records` packs their ids and keys in seq order. Readers expand it into one entry per record,
//! so `export changes` and the outboxes see exactly what one row per record would have shown,
//! and an outbox cursor may stop in the middle of such a row.
//!
//! The packing: per record, the difference from the previous id (zigzag LEB128), then its key
//! front-coded against the previous one: the length of the prefix they share, the length of the
//! rest, and the rest's UTF-8 bytes (LEB128 lengths). Records come in id order, and neighbours'
//! keys mostly share a prefix (`ITEM@WH1`, `ITEM@WH2`; `INV-001041`, `INV-001042`).

use std::fmt;

/// The ids and keys of consecutive created records, packed.
pub(super) fn pack<'a>(records: impl Iterator<Item = (i64, &'a str)>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous = 0i64;
    let mut previous_key: &[u8] = &[];
    for (id, key) in records {
        let delta = id.wrapping_sub(previous);
        previous = id;
        put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
        let key = key.as_bytes();
        let shared = key
            .iter()
            .zip(previous_key)
            .take_while(|(a, b)| a == b)
            .count();
        put_varint(&mut out, shared as u64);
        put_varint(&mut out, (key.len() - shared) as u64);
        out.extend_from_slice(&key[shared..]);
        previous_key = key;
    }
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A packed row that does not decode: the store file was damaged or written by something else.
#[derive(Debug)]
pub(super) struct Corrupt;

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a packed change log row of created records does not decode")
    }
}

impl std::error::Error for Corrupt {}

impl From<Corrupt> for rusqlite::Error {
    fn from(e: Corrupt) -> Self {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    }
}

/// The records of a packed row, in seq order.
pub(super) fn unpack(bytes: &[u8]) -> Unpacked<'_> {
    Unpacked {
        bytes,
        previous: 0,
        key: Vec::new(),
    }
}

pub(super) struct Unpacked<'a> {
    bytes: &'a [u8],
    previous: i64,
    /// The last key read (the next one is coded against it).
    key: Vec<u8>,
}

impl Unpacked<'_> {
    fn varint(&mut self) -> Result<u64, Corrupt> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.bytes.split_first().ok_or(Corrupt)?;
            self.bytes = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Corrupt)
    }

    fn record(&mut self) -> Result<i64, Corrupt> {
        let z = self.varint()?;
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let id = self.previous.wrapping_add(delta);
        self.previous = id;
        let shared = usize::try_from(self.varint()?).map_err(|_| Corrupt)?;
        let len = usize::try_from(self.varint()?).map_err(|_| Corrupt)?;
        if shared > self.key.len() || len > self.bytes.len() {
            return Err(Corrupt);
        }
        let (rest, after) = self.bytes.split_at(len);
        self.bytes = after;
        self.key.truncate(shared);
        self.key.extend_from_slice(rest);
        Ok(id)
    }

    /// The next record (its key valid until the next call), `None` at the end; after an
    /// error, nothing more (what follows a bad record cannot be trusted).
    pub(super) fn next_record(&mut self) -> Option<Result<(i64, &str), Corrupt>> {
        if self.bytes.is_empty() {
            return None;
        }
        let id = self.record();
        match (id, std::str::from_utf8(&self.key)) {
            (Ok(id), Ok(key)) => Some(Ok((id, key))),
            _ => {
                self.bytes = &[];
                Some(Err(Corrupt))
            }
        }
    }
}

/// A change log row as the readers see it: the seqs it covers and, for a packed one, its
/// records.
pub(super) struct Span<'a> {
    /// The row's own seq: the last it covers.
    pub last: i64,
    /// How many seqs it covers (1 for an ordinary row).
    pub span: i64,
    pub records: Option<&'a [u8]>,
}

impl Span<'_> {
    /// `f(seq, id, key)` for each packed record after `after`, in seq order; `false` when the
    /// row is an ordinary one (the caller reads it as it is).
    pub(super) fn each_after(
        &self,
        after: i64,
        mut f: impl FnMut(i64, i64, &str) -> rusqlite::Result<bool>,
    ) -> rusqlite::Result<bool> {
        let Some(records) = self.records else {
            return Ok(false);
        };
        let first = self.last - self.span + 1;
        let mut seq = first;
        let mut records = unpack(records);
        while let Some(record) = records.next_record() {
            let (id, key) = record?;
            if seq > self.last {
                return Err(Corrupt.into());
            }
            if seq > after && !f(seq, id, key)? {
                return Ok(true);
            }
            seq += 1;
        }
        if seq != self.last + 1 {
            // Fewer records than seqs.
            return Err(Corrupt.into());
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks_ids_in_any_order_and_any_key() {
        let records = [
            (5, "A-1@WH1"),
            (3, ""),
            (i64::MAX, "ключ"),
            (i64::MIN, "x".repeat(300).leak() as &str),
            (0, "z"),
            (7, "ключи"),
            (8, "клюя"),
            (9, "клюя-2"),
        ];
        let packed = pack(records.iter().copied());
        let mut back = Vec::new();
        let mut unpacked = unpack(&packed);
        while let Some(record) = unpacked.next_record() {
            let (id, key) = record.unwrap();
            back.push((id, key.to_string()));
        }
        let want: Vec<(i64, String)> = records.iter().map(|(i, k)| (*i, k.to_string())).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn a_truncated_or_damaged_row_is_an_error_not_a_guess() {
        let packed = pack([(1, "abc"), (2, "def")].into_iter());
        for cut in 1..packed.len() {
            let span = Span {
                last: 2,
                span: 2,
                records: Some(&packed[..cut]),
            };
            let read = span.each_after(0, |_, _, _| Ok(true));
            assert!(read.is_err(), "cut at {cut} read as {read:?}");
        }
        let mut bad = packed.clone();
        bad[3] = 0xff; // a key byte that is not UTF-8
        assert!(unpack(&bad).next_record().unwrap().is_err());
        assert!(unpack(&[0xff; 11]).next_record().unwrap().is_err());
        // A prefix longer than the key before it.
        assert!(unpack(&[2, 1, 0]).next_record().unwrap().is_err());
    }

    #[test]
    fn a_span_yields_the_records_after_a_cursor_with_their_seqs() {
        let packed = pack([(10, "a"), (11, "b"), (12, "c")].into_iter());
        let span = Span {
            last: 7,
            span: 3,
            records: Some(&packed),
        };
        let mut seen = Vec::new();
        let packed_row = span
            .each_after(5, |seq, id, key| {
                seen.push((seq, id, key.to_string()));
                Ok(true)
            })
            .unwrap();
        assert!(packed_row);
        assert_eq!(seen, [(6, 11, "b".into()), (7, 12, "c".into())]);
        let ordinary = Span {
            last: 7,
            span: 1,
            records: None,
        };
        assert!(!ordinary.each_after(0, |_, _, _| Ok(true)).unwrap());
        // More records than seqs, or fewer: damaged.
        for span in [2, 4] {
            let wrong = Span {
                last: 7,
                span,
                records: Some(&packed),
            };
            assert!(wrong.each_after(0, |_, _, _| Ok(true)).is_err());
        }
    }
}
