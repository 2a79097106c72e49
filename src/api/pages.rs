//! The paged reader: offsets advance by the rows received (`count`), never by `limit`, because
//! the server caps `limit` silently and may return fewer rows than asked.
//!
//! The first page tells `total_results` and the server's effective page size; the remaining
//! pages are then fetched with bounded concurrency, handed on in offset order as a stream, so
//! memory holds at most `concurrency` pages whatever the number of rows. A page that comes back
//! shorter than the step leaves a gap, which is fetched next (before later pages are handed
//! on). The reader stops at `offset >= total_results` or on an empty page. It does not judge
//! drift (a changing `total_results`); each page carries what the server said, for the pull
//! layer to judge.

use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, Stream, StreamExt};
use serde_json::value::RawValue;

use super::client::ApiClient;
use super::contract::DEFAULT_LIMIT;
use super::error::ApiError;
use super::query::Query;

/// One page as the server answered it.
#[derive(Debug)]
pub struct Page {
    /// The offset asked for.
    pub offset: u64,
    /// The limit asked for.
    pub limit: u32,
    /// Rows in this page (`count`).
    pub count: u64,
    /// `total_results` as the server said with this page.
    pub total_results: u64,
    /// The rows, as raw JSON (parse or hash them without re-serialising).
    pub rows: Vec<Box<RawValue>>,
}

type Fetch = BoxFuture<'static, Result<Page, ApiError>>;

struct Reader {
    client: ApiClient,
    path: String,
    query: Query,
    limit: u32,
    concurrency: usize,
    /// Offset of the next page to plan.
    next_offset: u64,
    /// Distance between planned pages: the first page's `count` (the server's effective size).
    step: u64,
    /// The latest `total_results` seen.
    total: u64,
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
        next_offset: query.get_offset(),
        query,
        limit,
        concurrency: concurrency.max(1),
        step: u64::from(limit),
        total: 0,
        inflight: FuturesOrdered::new(),
        started: false,
        done: false,
    };
    futures::stream::unfold(reader, |mut r| async move {
        if r.done {
            return None;
        }
        if !r.started {
            r.started = true;
            let first = r.fetch(r.next_offset, r.limit).await;
            return Some(match first {
                Err(e) => {
                    r.done = true;
                    (Err(e), r)
                }
                Ok(page) => {
                    r.total = page.total_results;
                    r.step = page.count.max(1);
                    r.next_offset = page.offset + page.count;
                    if page.count == 0 || r.next_offset >= r.total {
                        r.done = true;
                    } else {
                        r.plan();
                    }
                    (Ok(page), r)
                }
            });
        }
        match r.inflight.next().await {
            None => None,
            Some(Err(e)) => {
                r.done = true;
                Some((Err(e), r))
            }
            Some(Ok(page)) => {
                r.total = page.total_results;
                if page.count == 0 {
                    // An empty page ends the read, even if later pages were planned.
                    return None;
                }
                let end = page.offset + page.count;
                let planned_end = page.offset + u64::from(page.limit);
                if page.count < u64::from(page.limit) && end < r.total.min(planned_end) {
                    // A short page: fetch the rest of its window before anything later.
                    let gap = (planned_end - end) as u32;
                    let fetch = r.fetch(end, gap);
                    r.inflight.push_front(fetch);
                }
                r.plan();
                Some((Ok(page), r))
            }
        }
    })
}

impl Reader {
    /// Queue page requests up to the concurrency bound, within `total_results`.
    fn plan(&mut self) {
        while self.inflight.len() < self.concurrency && self.next_offset < self.total {
            let fetch = self.fetch(
                self.next_offset,
                self.step.min(u64::from(self.limit)) as u32,
            );
            self.inflight.push_back(fetch);
            self.next_offset += self.step;
        }
    }

    fn fetch(&self, offset: u64, limit: u32) -> Fetch {
        let client = self.client.clone();
        let path = self.path.clone();
        let query = self.query.clone().offset(offset).limit(limit);
        Box::pin(async move {
            let envelope = client.get(&path, Some(&query)).await?;
            Ok(Page {
                offset,
                limit,
                count: envelope.count,
                total_results: envelope.total_results,
                rows: envelope.results,
            })
        })
    }
}
