//! Serving the JSON-RPC connections from our own accept loop, so that no client can hold the
//! server: at most [`RpcLimits::max_connections`] connections at once (the next ones get
//! `503 Service Unavailable` and are closed), a request's headers must arrive within
//! [`RpcLimits::header_timeout`] (which is also how long a keep-alive connection may sit idle)
//! and its body within [`RpcLimits::body_timeout`] (else `408 Request Timeout` and the
//! connection is closed). Bodies over the size limit get `413` before they are read whole,
//! and the bodies being read share one memory budget ([`BODY_BUDGET`]).
//!
//! Each connection is served by hyper (HTTP/1.1, upgraded to WebSocket on request) around a
//! jsonrpsee tower service; WebSocket connections are then bounded by jsonrpsee's pings.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http_body_util::BodyExt as _;
use hyper::{
    Method, StatusCode,
    body::{Bytes, Incoming},
    header,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use jsonrpsee::{
    Methods,
    server::{HttpBody, HttpRequest, HttpResponse, StopHandle, TowerServiceBuilder},
};
use tokio::{
    io::AsyncWriteExt as _,
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tower::{Service, layer::util::Identity};

use super::RpcLimits;

/// Largest buffer hyper keeps for a request's head (bytes): the request line and headers of
/// an honest JSON-RPC call are well under 1 KiB.
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// Bytes of request bodies the server holds at once, across connections, beyond the first
/// [`FREE_BODY_BYTES`] of each: a body that needs more waits (within its body timeout) for
/// others to finish. 128 MiB: four bodies at the size limit.
const BODY_BUDGET: usize = 128 * 1024 * 1024;
/// The first bytes of every body do not count against [`BODY_BUDGET`], so that the calls of
/// honest clients (a few KiB) never wait behind large ones.
const FREE_BODY_BYTES: usize = 64 * 1024;

/// What is said to a connection over [`RpcLimits::max_connections`] before it is closed.
const BUSY: &str = "too many JSON-RPC connections; try again later\n";

/// What one accepted connection needs.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) builder: TowerServiceBuilder<Identity, Identity>,
    pub(super) methods: Methods,
    pub(super) stop: StopHandle,
    pub(super) limits: RpcLimits,
    pub(super) max_body: u32,
    /// [`BODY_BUDGET`], shared by every connection.
    pub(super) body_budget: Arc<Semaphore>,
}

impl Shared {
    /// A fresh body budget for a server.
    pub(super) fn body_budget() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(BODY_BUDGET))
    }
}

/// Accepts connections until the server stops.
pub(super) async fn accept_loop(listener: TcpListener, shared: Shared) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections as usize));
    let stopped = shared.stop.clone().shutdown();
    tokio::pin!(stopped);
    loop {
        let (socket, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: wait a little rather than spin.
                    tracing::debug!(target: "node::rpc", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(target: "node::rpc", %remote, "connection refused: too many JSON-RPC connections");
            tokio::spawn(refuse(socket));
            continue;
        };
        let _ = socket.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            serve_connection(socket, shared).await;
            drop(slot);
        });
    }
}

/// Says 503 (without waiting on a slow reader) and closes.
async fn refuse(mut socket: TcpStream) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{BUSY}",
        BUSY.len()
    );
    let _ =
        tokio::time::timeout(Duration::from_secs(1), socket.write_all(response.as_bytes())).await;
    let _ = socket.shutdown().await;
}

async fn serve_connection(socket: TcpStream, shared: Shared) {
    let Shared { builder, methods, stop, limits, max_body, body_budget } = shared;
    let service = BoundedBody {
        inner: builder.build(methods, stop.clone()),
        max_body,
        body_timeout: limits.body_timeout,
        budget: body_budget,
    };
    let mut http = auto::Builder::new(TokioExecutor::new()).http1_only();
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BUFFER);
    let conn = http
        .serve_connection_with_upgrades(TokioIo::new(socket), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let stopped = stop.shutdown();
    tokio::pin!(stopped);
    let result = tokio::select! {
        result = &mut conn => result,
        () = &mut stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: "node::rpc", error = %e, "JSON-RPC connection ended");
    }
}

/// Reads a request's body (bounded in size and time) before handing the request to jsonrpsee.
#[derive(Clone)]
struct BoundedBody<S> {
    inner: S,
    max_body: u32,
    body_timeout: Duration,
    budget: Arc<Semaphore>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S> Service<HttpRequest<Incoming>> for BoundedBody<S>
where
    S: Service<HttpRequest<HttpBody>, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<Incoming>) -> Self::Future {
        let mut inner = self.inner.clone();
        let (max, timeout, budget) = (self.max_body, self.body_timeout, self.budget.clone());
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // Only a POST carries a call; the rest (the WebSocket upgrade, wrong methods) go
            // to jsonrpsee as they are, without a body.
            if parts.method != Method::POST {
                return inner.call(HttpRequest::from_parts(parts, HttpBody::default())).await;
            }
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > u64::from(max)) {
                return Ok(closing(jsonrpsee::server::http::response::too_large(max)));
            }
            let read = tokio::time::timeout(timeout, read_body(body, max, &budget)).await;
            let (bytes, _held) = match read {
                Ok(Ok(read)) => read,
                Ok(Err(BodyError::TooLarge)) => {
                    return Ok(closing(jsonrpsee::server::http::response::too_large(max)));
                }
                Ok(Err(BodyError::Read(e))) => {
                    tracing::debug!(target: "node::rpc", error = %e, "request body read failed");
                    return Ok(closing(plain(StatusCode::BAD_REQUEST, "cannot read the body")));
                }
                Err(_) => {
                    tracing::debug!(target: "node::rpc", "request body not received in time");
                    let text = format!(
                        "the request body was not received within {} s",
                        timeout.as_secs_f64()
                    );
                    return Ok(closing(plain(StatusCode::REQUEST_TIMEOUT, &text)));
                }
            };
            inner
                .call(HttpRequest::from_parts(
                    parts,
                    HttpBody::new(http_body_util::Full::new(bytes)),
                ))
                .await
        })
    }
}

enum BodyError {
    TooLarge,
    Read(hyper::Error),
}

/// The whole body, refused as soon as it passes `max` bytes, and the share of `budget` it
/// holds (to be kept until the call is done with the body).
async fn read_body(
    mut body: Incoming,
    max: u32,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BodyError> {
    let mut buf = Vec::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            let len = buf.len() + data.len();
            if len > max as usize {
                return Err(BodyError::TooLarge);
            }
            let counted = len.saturating_sub(FREE_BODY_BYTES);
            let have = held.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
            if counted > have {
                // Fits: `counted` is at most `max` (a u32).
                let more = budget
                    .clone()
                    .acquire_many_owned((counted - have) as u32)
                    .await
                    .map_err(|_| BodyError::TooLarge)?;
                match &mut held {
                    Some(permit) => permit.merge(more),
                    None => held = Some(more),
                }
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok((buf.into(), held))
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(format!("{text}\n")));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    response
}

/// The connection is closed after this response (the rest of the body is not read).
fn closing(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    response
}
