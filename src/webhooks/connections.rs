//! Connections to the receiver: a cap below the process's file descriptor limit, and a deadline
//! for every connection that is not being answered.
//!
//! An open connection costs a file descriptor whether or not it ever sends a request. Without
//! limits, a client (or a broken proxy) holding a thousand idle connections takes every
//! descriptor of a process at the usual limit of 1,024: accepting fails, and deliveries and
//! `/healthz` alike wait in the kernel's queue. So:
//!
//! - A connection not being answered has a deadline: the header timeout from its accept for its
//!   first request (by then the whole request head must have arrived), the idle timeout from
//!   each answer to the first byte of the next request, and the header timeout again from that
//!   byte to the end of the head. When it passes, the connection is closed.
//! - Reading a body is bounded by the handler (the body timeout, answered 408): a connection is
//!   not closed under a request that is being answered.
//! - At most `max_connections` are open, and never more than RLIMIT_NOFILE less
//!   [`FD_HEADROOM`]. At the cap, a new connection takes the place of the oldest one that is not
//!   being answered (its client loses an idle connection and reconnects, which costs it a
//!   handshake; closing one being answered would cost an answer). When every one is being
//!   answered, the new one is answered 503 and closed at once, so it cannot starve them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::receiver::Tally;

/// File descriptors kept back from the connection cap for everything else the process opens:
/// the listener, the store and its WAL and shared-memory files, standard streams, the runtime's
/// own descriptors, and the moment a closed connection's descriptor takes to be released.
pub(crate) const FD_HEADROOM: u64 = 64;

/// What a connection may take.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// From accept to a complete first request head; from the first byte of a later request to
    /// its complete head.
    pub header_timeout: Duration,
    /// From an answer to the first byte of the next request on the same connection.
    pub idle_timeout: Duration,
    /// Connections open at once (already lowered to what the descriptor limit allows).
    pub max_connections: usize,
}

/// The cap on connections: `configured`, or fewer if the process may not open that many files
/// (RLIMIT_NOFILE's soft limit, less [`FD_HEADROOM`]). Returns the cap and the limit read.
pub(crate) fn connection_cap(configured: usize) -> (usize, Option<u64>) {
    let limit = fd_limit();
    let cap = match limit {
        Some(limit) => {
            let allowed = limit.saturating_sub(FD_HEADROOM).max(1);
            configured.min(usize::try_from(allowed).unwrap_or(usize::MAX))
        }
        None => configured,
    };
    (cap, limit)
}

#[cfg(unix)]
fn fd_limit() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0
        || rl.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every Unix
    Some(rl.rlim_cur as u64)
}

#[cfg(not(unix))]
fn fd_limit() -> Option<u64> {
    None
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below is a few assignments: a poisoned lock holds consistent data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Accept connections until `shutdown`, then close the idle ones, let the ones being answered
/// finish, and return once every connection is closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tally: Arc<Tally>,
    shutdown: CancellationToken,
) {
    let limits = Arc::new(limits);
    let open = Arc::new(Open::default());
    let tasks = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // The cap keeps descriptors free, so this is the system itself short of
                    // something (ENFILE, ENOMEM): back off instead of spinning.
                    tracing::warn!(error = %e, "Accepting a connection failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(conn) = open.admit(limits.max_connections, &tally) else {
            refuse(stream, &tally);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, limits, tally, shutdown, open) = (
            router.clone(),
            limits.clone(),
            tally.clone(),
            shutdown.clone(),
            open.clone(),
        );
        tasks.spawn(async move {
            connection(stream, &conn, router, &limits, &tally, &shutdown).await;
            open.remove(&conn);
        });
    }
    tasks.close();
    tasks.wait().await;
}

/// Every open connection, oldest first.
#[derive(Default)]
struct Open {
    conns: Mutex<(u64, BTreeMap<u64, Arc<Conn>>)>,
}

impl Open {
    /// Register a new connection, making room at the cap by closing the oldest one not being
    /// answered; `None` if every open connection is being answered.
    fn admit(&self, cap: usize, tally: &Tally) -> Option<Arc<Conn>> {
        let mut guard = lock(&self.conns);
        let (next, conns) = &mut *guard;
        if conns.len() >= cap {
            let idle = conns
                .iter()
                .find(|(_, c)| !c.is_busy())
                .map(|(id, _)| *id)?;
            let evicted = conns.remove(&idle).expect("just found");
            evicted.evict.cancel();
            tally.connections_evicted.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("Closed the oldest idle connection to make room for a new one.");
        }
        let conn = Arc::new(Conn::new(*next));
        conns.insert(*next, conn.clone());
        *next += 1;
        Some(conn)
    }

    fn remove(&self, conn: &Conn) {
        lock(&self.conns).1.remove(&conn.id);
    }
}

/// At the cap with every connection being answered: say so and close, without reading.
fn refuse(stream: TcpStream, tally: &Tally) {
    tally.connections_refused.fetch_add(1, Ordering::Relaxed);
    tracing::debug!("Refused a connection: every connection is being answered.");
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    );
}

/// What a connection is doing, which decides its deadline and whether it may make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing of a request has arrived since the accept or the last answer.
    Waiting,
    /// Part of a request head has arrived.
    Head,
    /// A request is being answered: from its complete head to the last byte of its answer.
    Busy,
}

#[derive(Debug)]
struct Activity {
    phase: Phase,
    /// When the phase's clock started (the accept, for the first request head).
    since: Instant,
    answered: u64,
    in_flight: usize,
}

struct Conn {
    id: u64,
    activity: Mutex<Activity>,
    /// Notified at each answer, when the idle timeout starts.
    answered: Notify,
    /// Cancelled to close the connection to make room for a new one.
    evict: CancellationToken,
}

impl Conn {
    fn new(id: u64) -> Conn {
        Conn {
            id,
            activity: Mutex::new(Activity {
                phase: Phase::Waiting,
                since: Instant::now(),
                answered: 0,
                in_flight: 0,
            }),
            answered: Notify::new(),
            evict: CancellationToken::new(),
        }
    }

    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let a = lock(&self.activity);
        match a.phase {
            Phase::Busy => None,
            Phase::Waiting if a.answered > 0 => Some(a.since + limits.idle_timeout),
            Phase::Waiting | Phase::Head => Some(a.since + limits.header_timeout),
        }
    }

    fn is_busy(&self) -> bool {
        lock(&self.activity).phase == Phase::Busy
    }

    /// Bytes were read. The first byte of a request after an answer starts the header timeout;
    /// the first request's head is timed from the accept.
    fn bytes_arrived(&self) {
        let mut a = lock(&self.activity);
        if a.phase == Phase::Waiting {
            a.phase = Phase::Head;
            if a.answered > 0 {
                a.since = Instant::now();
            }
        }
    }

    fn request_started(&self) {
        let mut a = lock(&self.activity);
        a.phase = Phase::Busy;
        a.in_flight += 1;
    }

    fn request_answered(&self) {
        {
            let mut a = lock(&self.activity);
            a.in_flight = a.in_flight.saturating_sub(1);
            if a.in_flight == 0 {
                a.phase = Phase::Waiting;
                a.since = Instant::now();
                a.answered += 1;
            }
        }
        self.answered.notify_one();
    }
}

/// Serve one connection until it closes, its deadline passes, it is closed to make room, or the
/// receiver stops.
async fn connection(
    stream: TcpStream,
    conn: &Arc<Conn>,
    router: Router,
    limits: &Limits,
    tally: &Tally,
    shutdown: &CancellationToken,
) {
    let io = TokioIo::new(Watched {
        stream,
        conn: conn.clone(),
    });
    let svc_conn = conn.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = InFlight::new(svc_conn.clone());
        let mut router = router.clone();
        async move {
            let response = tower_service::Service::call(&mut router, req).await?;
            Ok::<_, Infallible>(response.map(|body| Answering {
                body,
                in_flight: Some(in_flight),
            }))
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        // The deadlines are this module's (see `Conn::deadline`), not hyper's.
        .header_read_timeout(None)
        .serve_connection(io, svc);
    let mut http = std::pin::pin!(http);
    loop {
        let deadline = conn.deadline(limits);
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = http.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "A webhook connection ended with an error.");
                }
                return;
            }
            _ = expiry => {
                // The deadline is read again: bytes may have arrived since (a later one).
                if conn.deadline(limits).is_some_and(|at| at <= Instant::now()) {
                    tally.connections_timed_out.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("Closed a connection that sent no complete request in time.");
                    return;
                }
            }
            _ = conn.answered.notified() => {}
            _ = conn.evict.cancelled() => break,
            _ = shutdown.cancelled() => break,
        }
    }
    // Closing: a connection being answered finishes its answer first; any other is dropped.
    if conn.is_busy() {
        http.as_mut().graceful_shutdown();
        let _ = http.await;
    }
}

/// The connection's socket, telling the connection when request bytes arrive.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A request being answered, from its complete head until its answer's body is written (or
/// given up, if the connection goes first).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(conn: Arc<Conn>) -> InFlight {
        conn.request_started();
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_answered();
    }
}

/// An answer's body, which ends its request's [`InFlight`] when its last frame has been taken.
struct Answering {
    body: Body,
    in_flight: Option<InFlight>,
}

impl HttpBody for Answering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            this.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
