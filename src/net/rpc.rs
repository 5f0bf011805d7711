//! One request, one response, on a fresh stream: the shape of Cairn's own protocols
//! (`/cairn/proof/1`, `/cairn/market/1`). Frames are length-prefixed and capped on both
//! sides; a handler answers each request, a bounded number at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::AsyncWriteExt;
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, Semaphore};

use super::{frame, inbound::Incoming, NetError, Result};

/// Requests handled at once per protocol; more wait in the queue.
const CONCURRENT: usize = 16;

/// Answers one protocol's requests: raw request bytes in, raw response bytes out.
pub trait Handler: Send + Sync + 'static {
    fn respond(&self, peer: PeerId, request: Result<Vec<u8>, String>) -> BoxFuture<'_, Vec<u8>>;
}

/// Caps of one protocol's frames.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request: usize,
    pub response: usize,
}

pub(super) fn serve(
    mut incoming: mpsc::Receiver<Incoming>,
    handler: Arc<dyn Handler>,
    limits: Limits,
    tasks: &crate::tasks::Tasks,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENT));
    let streams = tasks.clone();
    tasks.spawn(async move {
        while let Some((peer, _, stream)) = incoming.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let handler = handler.clone();
            streams.spawn(async move {
                if let Err(e) = answer(peer, stream, handler.as_ref(), limits).await {
                    tracing::debug!(%peer, error = %e, "request stream failed");
                }
                drop(permit);
            });
        }
    });
}

async fn answer(
    peer: PeerId,
    mut stream: libp2p::Stream,
    handler: &dyn Handler,
    limits: Limits,
) -> std::io::Result<()> {
    let request = match frame::read(&mut stream, limits.request).await {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => return Ok(()),
        Err(e) => Err(e.to_string()),
    };
    let response = handler.respond(peer, request).await;
    frame::write(&mut stream, &response, limits.response)
        .await
        .map_err(std::io::Error::other)?;
    stream.close().await
}

/// A response as the requester received it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub latency: Duration,
}

/// Sends `request` to `peer` on `protocol` and reads the response, all within `timeout`.
pub(super) async fn request(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    protocol: StreamProtocol,
    request: &[u8],
    limits: Limits,
    timeout: Duration,
) -> Result<Reply> {
    let failed = |reason: String| NetError::Request {
        peer,
        protocol: protocol.to_string(),
        reason,
    };
    let started = Instant::now();
    let exchange = async {
        let mut stream = control
            .open_stream(peer, protocol.clone())
            .await
            .map_err(|e| failed(e.to_string()))?;
        frame::write(&mut stream, request, limits.request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let reply = frame::read(&mut stream, limits.response)
            .await
            .map_err(|e| failed(e.to_string()))?;
        reply.ok_or_else(|| failed("the peer closed the stream without answering".into()))
    };
    let bytes = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| failed(format!("no answer within {timeout:?}")))??;
    Ok(Reply {
        bytes,
        latency: started.elapsed(),
    })
}
