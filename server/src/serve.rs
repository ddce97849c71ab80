//! The accept loop: HTTP/1 connections with time limits on slow clients and a cap on how
//! many are open, so clients that trickle headers or bodies cannot lock everyone out.
//!
//! Hand-written around hyper rather than `axum::serve`, which has no time-outs; and
//! hyper's own `header_read_timeout` is not used because its timer also runs while a
//! keep-alive connection waits for its next request, so it cannot tell a slow client from
//! an idle one. Each connection's phase is tracked here instead (see [`Phase`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long clients may take, and how many may be connected.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a request's first byte (a new connection's accept) to the end of its headers.
    pub header_timeout: Duration,
    /// From the end of a request's headers to the end of its body.
    pub body_timeout: Duration,
    /// A keep-alive connection waiting for its next request.
    pub idle_timeout: Duration,
    /// Open connections; at the cap the slowest is closed for a new one.
    pub max_connections: usize,
}

/// Where a connection is; each phase but `Handling` has a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request's headers.
    Headers,
    /// Headers read, the body still arriving.
    Body,
    /// The whole request is in; the application is answering it.
    Handling,
    /// Answered; waiting for the next request.
    Idle,
}

/// One open connection: its phase since when, and the order to close it.
struct Slot {
    state: Mutex<(Phase, Instant)>,
    evict: Notify,
}

impl Slot {
    fn set(&self, phase: Phase) {
        *self.state.lock().expect("slot lock") = (phase, Instant::now());
    }

    fn get(&self) -> (Phase, Instant) {
        *self.state.lock().expect("slot lock")
    }

    /// The first byte of a request read on an idle connection starts its header clock.
    fn bytes_read(&self) {
        let mut state = self.state.lock().expect("slot lock");
        if state.0 == Phase::Idle {
            *state = (Phase::Headers, Instant::now());
        }
    }
}

/// The open connections.
#[derive(Default)]
struct Registry {
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next: AtomicU64,
}

impl Registry {
    /// Registers a new connection; at the cap, first closes the connection that has waited
    /// longest in a phase other than `Handling`. `None` when every one is being answered.
    fn admit(&self, cap: usize) -> Option<(u64, Arc<Slot>)> {
        let mut slots = self.slots.lock().expect("registry lock");
        if slots.len() >= cap {
            let victim = slots
                .iter()
                .filter_map(|(id, s)| {
                    let (phase, since) = s.get();
                    (phase != Phase::Handling).then_some((since, *id))
                })
                .min()
                .map(|(_, id)| id)?;
            if let Some(slot) = slots.remove(&victim) {
                slot.evict.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            state: Mutex::new((Phase::Headers, Instant::now())),
            evict: Notify::new(),
        });
        slots.insert(id, slot.clone());
        Some((id, slot))
    }

    fn remove(&self, id: u64) {
        self.slots.lock().expect("registry lock").remove(&id);
    }
}

/// Serves `router` on `listener` until `stop` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender; all dropped means all connections are done.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted: wait
                    // a little rather than spin; the cap keeps the first rare.
                    tracing::warn!(error = %e, "accept error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some((id, slot)) = registry.admit(limits.max_connections) else {
            tracing::warn!(%peer, "connection refused: every open connection is being answered");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let registry = registry.clone();
        let router = router.clone();
        let mut stop_rx = stop_rx.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            connection(stream, peer, router, limits, &slot, &mut stop_rx).await;
            registry.remove(id);
            drop(done);
        });
    }
    let _ = stop_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
    Ok(())
}

/// One connection, until the client closes it, a time limit or the cap closes it, or the
/// server stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    slot: &Arc<Slot>,
    stop: &mut watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        slot: slot.clone(),
    });
    let service_slot = slot.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let slot = service_slot.clone();
        let router = router.clone();
        let ended = http_body::Body::is_end_stream(req.body());
        slot.set(if ended { Phase::Handling } else { Phase::Body });
        let mut req = req.map(|body| {
            if ended {
                // Nothing more to arrive: no deadline to keep.
                return Body::empty();
            }
            Body::new(Deadline {
                inner: body,
                sleep: Box::pin(tokio::time::sleep(limits.body_timeout)),
                timeout: limits.body_timeout,
                slot: slot.clone(),
            })
        });
        req.extensions_mut().insert(ConnectInfo(peer));
        async move {
            let res: Response<Body> = router.oneshot(req).await.unwrap_or_else(|e| match e {});
            slot.set(Phase::Idle);
            Ok::<_, Infallible>(res)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let (phase, since) = slot.get();
        let limit = match phase {
            Phase::Headers => Some(limits.header_timeout),
            // The body's own deadline answers 408 first; this closes a connection whose
            // handler never read the body it was sent.
            Phase::Body => Some(limits.body_timeout + Duration::from_secs(2)),
            Phase::Idle => Some(limits.idle_timeout),
            Phase::Handling => None,
        };
        let wake = since + limit.unwrap_or(limits.idle_timeout);
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = slot.evict.notified() => {
                tracing::debug!(%peer, ?phase, "connection closed for a new one: at the connection cap");
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(wake) => {
                if slot.get() != (phase, since) || limit.is_none() {
                    continue;
                }
                match phase {
                    Phase::Idle => {
                        conn.as_mut().graceful_shutdown();
                        // An idle connection closes at once; one whose next request just
                        // began gets its header time.
                        slot.set(Phase::Headers);
                    }
                    _ => {
                        tracing::info!(%peer, ?phase, "slow client: connection closed");
                        return;
                    }
                }
            }
        }
    }
}

/// The socket, telling the slot when bytes of a new request arrive.
struct Watched {
    inner: TcpStream,
    slot: Arc<Slot>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.slot.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The error a request body gives when it did not arrive within the body time-out.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// A request body that must end within the body time-out of its headers (a time-out per
/// read would let a client trickle one byte at a time for ever).
struct Deadline {
    inner: hyper::body::Incoming,
    sleep: Pin<Box<Sleep>>,
    timeout: Duration,
    slot: Arc<Slot>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.slot.set(Phase::Handling);
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                if this.inner.is_end_stream() {
                    this.slot.set(Phase::Handling);
                }
                Poll::Ready(Some(frame.map_err(axum::Error::new)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(this.timeout)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Raises this process's soft descriptor limit to its hard limit (each client connection
/// holds one); the limit now in force.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    rlimit::increase_nofile_limit(hard)
}

/// This process's soft descriptor limit, if it can be read.
pub fn fd_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}
