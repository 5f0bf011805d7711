//! One request, one response, on a fresh stream: the shape of Cairn's own protocols
//! (`/cairn/market/1`, `/cairn/pay/1`, `/cairn/proof/1`). Each protocol says only how its
//! messages are encoded and which service answers them ([`Protocol`]); the one adapter here
//! does the rest for all three, on both sides.
//!
//! The bounds are those of `libp2p::request_response`, copied onto raw streams (the node's
//! inbound queue keeps Helia's bursts of streams, see [`super::inbound`]):
//!
//! - frames are length-prefixed and capped on both sides ([`Limits`]);
//! - the request must arrive within [`Limits::read_timeout`] of the stream opening, and the
//!   response must be written within the same time: a silent or slow peer holds its stream
//!   for at most that long;
//! - at most [`MAX_STREAMS_PER_PEER`] streams per peer and protocol are open at once, and
//!   [`MAX_READING`] in all; a stream past either is reset at once (counted, logged);
//! - reading a request holds no handler slot: only a complete request waits for one of the
//!   [`CONCURRENT`] handlers, so silent streams never delay another peer's request; and one
//!   peer holds at most [`HANDLERS_PER_PEER`] of them, so a flood of valid requests from one
//!   peer (10 000 deal proposals) waits on itself, not on everyone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::AsyncWriteExt;
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, Semaphore};

use super::{frame, inbound::Incoming, NetError, Result};

/// Requests answered at once per protocol; complete requests past it wait for a slot.
pub const CONCURRENT: usize = 16;
/// Of those, how many one peer may hold, so one peer's flood leaves the rest to others.
pub const HANDLERS_PER_PEER: usize = 4;
/// Streams one peer may hold open on one protocol at once.
pub const MAX_STREAMS_PER_PEER: usize = 32;
/// Streams open on one protocol at once, all peers together.
pub const MAX_READING: usize = 1024;
/// Time a request has to arrive, and then its response to be written.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Caps of one protocol's frames and the time a peer has to send its request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request: usize,
    pub response: usize,
    pub read_timeout: Duration,
}

impl Limits {
    pub const fn new(request: usize, response: usize) -> Self {
        Limits {
            request,
            response,
            read_timeout: READ_TIMEOUT,
        }
    }
}

/// One `/cairn/*/1` protocol: its id, caps, encodings and the service that answers it.
pub trait Protocol: Send + Sync + 'static {
    type Request: Send + Sync + 'static;
    type Response: Send + 'static;
    /// What answers requests (a trait object the node implements).
    type Service: ?Sized + Send + Sync + 'static;

    const ID: StreamProtocol;
    const LIMITS: Limits;

    fn encode_request(request: &Self::Request) -> Result<Vec<u8>, String>;
    /// Decodes a request, or answers bytes that are not one with the protocol's rejection.
    fn decode_request(bytes: &[u8]) -> Result<Self::Request, Self::Response>;
    /// The answer to a stream whose request could not be read (too large, cut short).
    fn unreadable(reason: String) -> Self::Response;
    fn encode_response(response: &Self::Response) -> Vec<u8>;
    fn decode_response(bytes: &[u8]) -> Result<Self::Response, String>;
    fn answer<'a>(
        service: &'a Self::Service,
        peer: PeerId,
        request: Self::Request,
    ) -> BoxFuture<'a, Self::Response>;
}

/// What the inbound side of one protocol has refused or timed out, for tests and metrics.
#[derive(Debug, Default)]
pub struct Refused {
    /// Streams reset because the peer or the protocol was at its cap.
    pub over_cap: AtomicU64,
    /// Streams closed because the request did not arrive in time.
    pub timed_out: AtomicU64,
}

/// Caps on the streams open at once on one protocol: per peer and in all. Shared by these
/// request servers and the Bitswap reader.
#[derive(Clone)]
pub(super) struct Slots {
    open: Arc<Mutex<Open>>,
    per_peer: usize,
    total: usize,
}

/// Streams open per peer; an entry leaves the map when its count is back to 0, so the map
/// is never larger than the streams open.
#[derive(Default)]
struct Open {
    per_peer: HashMap<PeerId, usize>,
    total: usize,
}

impl Slots {
    pub(super) fn new(per_peer: usize, total: usize) -> Self {
        Slots {
            open: Arc::default(),
            per_peer,
            total,
        }
    }

    /// A slot for one more stream of `peer`, or `None` at a cap.
    pub(super) fn take(&self, peer: PeerId) -> Option<Slot> {
        let mut o = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mine = o.per_peer.get(&peer).copied().unwrap_or(0);
        if mine >= self.per_peer || o.total >= self.total {
            return None;
        }
        o.per_peer.insert(peer, mine + 1);
        o.total += 1;
        Some(Slot {
            open: self.open.clone(),
            peer,
        })
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        let o = self.open.lock().unwrap_or_else(|p| p.into_inner());
        o.total == 0 && o.per_peer.is_empty()
    }
}

/// A slot in [`Slots`], given back when dropped.
pub(super) struct Slot {
    open: Arc<Mutex<Open>>,
    peer: PeerId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut o = self.open.lock().unwrap_or_else(|p| p.into_inner());
        o.total = o.total.saturating_sub(1);
        if let Some(n) = o.per_peer.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                o.per_peer.remove(&self.peer);
            }
        }
    }
}

/// The handler pool: [`CONCURRENT`] slots, at most [`HANDLERS_PER_PEER`] per peer.
struct Handlers {
    all: Semaphore,
    /// Each peer's own semaphore while it has requests waiting or answered; an entry leaves
    /// when its last holder does.
    peers: Mutex<HashMap<PeerId, Arc<Semaphore>>>,
}

/// A handler slot, given back when dropped.
struct HandlerSlot<'a> {
    handlers: &'a Handlers,
    peer: PeerId,
    mine: Option<(Arc<Semaphore>, tokio::sync::OwnedSemaphorePermit)>,
    _all: Option<tokio::sync::SemaphorePermit<'a>>,
}

impl Handlers {
    fn new() -> Self {
        Handlers {
            all: Semaphore::new(CONCURRENT),
            peers: Mutex::default(),
        }
    }

    async fn acquire(&self, peer: PeerId) -> Option<HandlerSlot<'_>> {
        let sem = {
            let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
            peers
                .entry(peer)
                .or_insert_with(|| Arc::new(Semaphore::new(HANDLERS_PER_PEER)))
                .clone()
        };
        let mut slot = HandlerSlot {
            handlers: self,
            peer,
            mine: None,
            _all: None,
        };
        // Held in `slot` from here, so the entry is pruned even if this wait is cancelled.
        slot.mine = Some((sem.clone(), sem.acquire_owned().await.ok()?));
        slot._all = Some(self.all.acquire().await.ok()?);
        Some(slot)
    }
}

impl Drop for HandlerSlot<'_> {
    fn drop(&mut self) {
        let mut peers = self
            .handlers
            .peers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        drop(self.mine.take());
        if peers
            .get(&self.peer)
            .is_some_and(|sem| Arc::strong_count(sem) == 1)
        {
            peers.remove(&self.peer);
        }
    }
}

/// Serves `P` on the streams of `incoming`, answering with `service`.
pub(super) fn serve<P: Protocol>(
    mut incoming: mpsc::Receiver<Incoming>,
    service: Arc<P::Service>,
    tasks: &crate::tasks::Tasks,
) -> Arc<Refused> {
    let refused = Arc::new(Refused::default());
    let handlers = Arc::new(Handlers::new());
    let slots = Slots::new(MAX_STREAMS_PER_PEER, MAX_READING);
    let streams = tasks.clone();
    let counts = refused.clone();
    tasks.spawn(async move {
        while let Some((peer, _, stream)) = incoming.recv().await {
            let Some(slot) = slots.take(peer) else {
                counts.over_cap.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, protocol = %P::ID, "too many open streams; resetting one");
                drop(stream);
                continue;
            };
            let service = service.clone();
            let handlers = handlers.clone();
            let counts = counts.clone();
            streams.spawn(async move {
                if let Err(e) = answer::<P>(peer, stream, &service, &handlers, &counts).await {
                    tracing::debug!(%peer, protocol = %P::ID, error = %e, "request stream failed");
                }
                drop(slot);
            });
        }
    });
    refused
}

async fn answer<P: Protocol>(
    peer: PeerId,
    mut stream: libp2p::Stream,
    service: &P::Service,
    handlers: &Handlers,
    refused: &Refused,
) -> std::io::Result<()> {
    let limits = P::LIMITS;
    let read = tokio::time::timeout(
        limits.read_timeout,
        frame::read(&mut stream, limits.request),
    );
    let response = match read.await {
        Err(_) => {
            refused.timed_out.fetch_add(1, Ordering::Relaxed);
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no request within {:?}", limits.read_timeout),
            ));
        }
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => P::unreadable(e.to_string()),
        Ok(Ok(Some(bytes))) => match P::decode_request(&bytes) {
            Err(rejection) => rejection,
            Ok(request) => {
                let Some(_slot) = handlers.acquire(peer).await else {
                    return Ok(());
                };
                P::answer(service, peer, request).await
            }
        },
    };
    let bytes = P::encode_response(&response);
    let write = async {
        frame::write(&mut stream, &bytes, limits.response)
            .await
            .map_err(std::io::Error::other)?;
        stream.close().await
    };
    tokio::time::timeout(limits.read_timeout, write)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "response not taken"))?
}

/// A response as the requester received it.
#[derive(Debug)]
pub struct Reply<T> {
    pub response: T,
    /// Encoded size of the response.
    pub bytes: usize,
    pub latency: Duration,
}

/// Sends `request` to `peer` on `P` and reads the response, all within `timeout`.
pub(super) async fn call<P: Protocol>(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    request: &P::Request,
    timeout: Duration,
) -> Result<Reply<P::Response>> {
    let failed = |reason: String| NetError::Request {
        peer,
        protocol: P::ID.to_string(),
        reason,
    };
    let limits = P::LIMITS;
    let request = P::encode_request(request).map_err(failed)?;
    let started = Instant::now();
    let exchange = async {
        let mut stream = control
            .open_stream(peer, P::ID)
            .await
            .map_err(|e| failed(e.to_string()))?;
        frame::write(&mut stream, &request, limits.request)
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
    let response = P::decode_response(&bytes).map_err(failed)?;
    Ok(Reply {
        response,
        bytes: bytes.len(),
        latency: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_peer_holds_at_most_its_share_of_the_handlers() {
        let handlers = Handlers::new();
        let flooder = PeerId::random();
        let mut held = Vec::new();
        for _ in 0..HANDLERS_PER_PEER {
            held.push(handlers.acquire(flooder).await.unwrap());
        }
        let more = tokio::time::timeout(Duration::from_millis(50), handlers.acquire(flooder));
        assert!(more.await.is_err(), "the flooder waits on its own share");
        let honest = tokio::time::timeout(
            Duration::from_millis(50),
            handlers.acquire(PeerId::random()),
        );
        let honest = honest
            .await
            .expect("another peer is served at once")
            .unwrap();
        drop(honest);
        drop(held);
        assert!(
            handlers.peers.lock().unwrap().is_empty(),
            "no entry outlives its holders, cancelled waits included"
        );
        assert_eq!(handlers.all.available_permits(), CONCURRENT);
    }

    #[test]
    fn slots_are_capped_per_peer_and_in_all_and_given_back() {
        let slots = Slots::new(3, 5);
        let a = PeerId::random();
        let b = PeerId::random();
        let held: Vec<Slot> = (0..3).map(|_| slots.take(a).unwrap()).collect();
        assert!(slots.take(a).is_none(), "a is at its cap");
        let others: Vec<Slot> = (0..2).map(|_| slots.take(b).unwrap()).collect();
        assert!(
            slots.take(PeerId::random()).is_none(),
            "the total is reached"
        );
        drop(held);
        assert!(slots.take(a).is_some(), "a's slots came back");
        drop(others);
        assert!(slots.is_empty(), "no entry outlives its streams");
    }
}
