//! The paged reader: offsets advance by the rows received (`count`), never by `limit`, because
//! the server caps `limit` silently and may return fewer rows than asked.
//!
//! The first page tells `total_results` and the server's effective page size; the remaining
//! pages are then fetched with bounded concurrency and handed on in offset order as a stream, so
//! memory holds at most `concurrency` pages whatever the number of rows. A page that comes back
//! shorter than asked leaves a gap, which is fetched next, before later pages are handed on. The
//! reader stops at `offset >= total_results` or on an empty page.
//!
//! Offset paging is not a snapshot: a row deleted before the current offset shifts every later
//! row one place left, so the row at a page boundary is silently skipped (and an insert shifts
//! one in twice). Counts cannot reveal this when inserts and deletes balance out. So every page
//! after the first is asked for from one row *before* where it should start: that overlap row
//! must be byte-for-byte the last row of the page before. If it is, it is dropped and nothing
//! moved in between; if not, the page is marked `shifted` and the caller re-checks (the reader
//! itself does not judge drift). The overlap costs one row per page.

use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, Stream, StreamExt};
use serde_json::value::RawValue;

use super::client::ApiClient;
use super::contract::DEFAULT_LIMIT;
use super::error::ApiError;
use super::query::Query;

/// One page as handed on: only rows not handed on before.
#[derive(Debug)]
pub struct Page {
    /// Offset of the first row in `rows`.
    pub offset: u64,
    /// Rows in `rows` (the server's `count`, less the overlap row when it matched).
    pub count: u64,
    /// `total_results` as the server said with this page.
    pub total_results: u64,
    /// The overlap row did not match the previous page's last row: rows between the two pages
    /// may have been skipped or repeated.
    pub shifted: bool,
    /// The rows, as raw JSON (parse or hash them without re-serialising).
    pub rows: Vec<Box<RawValue>>,
}

/// A page as fetched, before the overlap is checked.
struct Fetched {
    offset: u64,
    limit: u32,
    overlap: bool,
    count: u64,
    total_results: u64,
    rows: Vec<Box<RawValue>>,
}

type Fetch = BoxFuture<'static, Result<Fetched, ApiError>>;

struct Reader {
    client: ApiClient,
    path: String,
    query: Query,
    limit: u32,
    concurrency: usize,
    /// Offset of the next row not yet asked for.
    next_new: u64,
    /// Rows per page: the first page's `count` (the server's effective page size).
    step: u64,
    /// The latest `total_results` seen.
    total: u64,
    /// The last row handed on, to check the next page's overlap row against.
    last_row: Option<Box<RawValue>>,
    inflight: FuturesOrdered<Fetch>,
    started: bool,
    done: bool,
}

/// Read every page of `path` matching `query` (whose `offset`, if set, is where to start).
/// `concurrency` is the number of page requests in flight once the first page is in.
pub fn pages(
    client: &ApiClient,
    path: &str,
    query: Query,
    concurrency: usize,
) -> impl Stream<Item = Result<Page, ApiError>> + Send + 'static {
    let limit = query.get_limit().unwrap_or(DEFAULT_LIMIT);
    let reader = Reader {
        client: client.clone(),
        path: path.to_string(),
        next_new: query.get_offset(),
        query,
        limit,
        concurrency: concurrency.max(1),
        step: u64::from(limit),
        total: 0,
        last_row: None,
        inflight: FuturesOrdered::new(),
        started: false,
        done: false,
    };
    futures::stream::unfold(reader, |mut r| async move {
        if r.done {
            return None;
        }
        let fetched = if !r.started {
            r.started = true;
            r.fetch(r.next_new, r.limit, false).await
        } else {
            r.inflight.next().await?
        };
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                r.done = true;
                return Some((Err(e), r));
            }
        };
        r.total = fetched.total_results;
        if fetched.count == 0 {
            // An empty page ends the read, even if later pages were planned.
            return None;
        }
        let page = r.accept(fetched);
        if r.inflight.is_empty() && r.next_new >= r.total {
            r.done = true;
        }
        Some((Ok(page), r))
    })
}

impl Reader {
    /// Check the overlap, queue what is missing, plan further pages, and hand the page on.
    fn accept(&mut self, f: Fetched) -> Page {
        let first_page = self.last_row.is_none();
        let mut rows = f.rows;
        let mut offset = f.offset;
        let mut shifted = false;
        if f.overlap {
            let matches =
                matches!((&self.last_row, rows.first()), (Some(a), Some(b)) if a.get() == b.get());
            if matches {
                rows.remove(0);
                offset += 1;
            } else {
                shifted = true;
            }
        }
        let end = f.offset + f.count;
        let window_end = f.offset + u64::from(f.limit);
        if first_page {
            self.step = f.count;
            self.next_new = end;
        } else if f.count < u64::from(f.limit) && end < self.total.min(window_end) {
            // A short page: fetch the rest of its window (overlapping its last row) before
            // anything later is handed on.
            let fetch = if f.count >= 2 {
                self.fetch(end - 1, (window_end - end + 1) as u32, true)
            } else {
                // Only the overlap row came back (a cap of one row): asking from it again would
                // bring the same row forever, so continue without an overlap.
                self.fetch(end, (window_end - end) as u32, false)
            };
            self.inflight.push_front(fetch);
        }
        if let Some(last) = rows.last() {
            self.last_row = Some(last.clone());
        }
        self.plan();
        Page {
            offset,
            count: rows.len() as u64,
            total_results: f.total_results,
            shifted,
            rows,
        }
    }

    /// Queue page requests up to the concurrency bound, within `total_results`. Each asks for
    /// `step` rows starting one row early (the overlap), so it brings `step - 1` new rows.
    fn plan(&mut self) {
        if self.step < 2 {
            // A server that pages one row at a time leaves no room for an overlap row.
            while self.inflight.len() < self.concurrency && self.next_new < self.total {
                let fetch = self.fetch(self.next_new, 1, false);
                self.inflight.push_back(fetch);
                self.next_new += 1;
            }
            return;
        }
        while self.inflight.len() < self.concurrency && self.next_new < self.total {
            let fetch = self.fetch(self.next_new - 1, self.step as u32, true);
            self.inflight.push_back(fetch);
            self.next_new += self.step - 1;
        }
    }

    fn fetch(&self, offset: u64, limit: u32, overlap: bool) -> Fetch {
        let client = self.client.clone();
        let path = self.path.clone();
        let query = self.query.clone().offset(offset).limit(limit);
        Box::pin(async move {
            let envelope = client.get(&path, Some(&query)).await?;
            Ok(Fetched {
                offset,
                limit,
                overlap,
                count: envelope.count,
                total_results: envelope.total_results,
                rows: envelope.results,
            })
        })
    }
}
