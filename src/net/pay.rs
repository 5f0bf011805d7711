//! `/cairn/pay/1` on the wire (`contracts/pay.md`), over [`super::rpc`]: channel opens,
//! receipts in batches, closes and invoices. What to answer is the node's business
//! ([`Payments`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use libp2p::{PeerId, StreamProtocol};

use super::rpc::{self, Limits};
use super::{NetError, Result};
use crate::pay::wire::{PayRequest, PayResponse, MAX_MESSAGE_SIZE};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/pay/1");
pub const LIMITS: Limits = Limits {
    request: MAX_MESSAGE_SIZE,
    response: MAX_MESSAGE_SIZE,
};

/// Answers payment requests on behalf of the node.
pub trait Payments: Send + Sync + 'static {
    fn respond(&self, peer: PeerId, request: PayRequest) -> BoxFuture<'_, PayResponse>;
}

pub(super) struct PayHandler(pub Arc<dyn Payments>);

impl rpc::Handler for PayHandler {
    fn respond(&self, peer: PeerId, request: Result<Vec<u8>, String>) -> BoxFuture<'_, Vec<u8>> {
        Box::pin(async move {
            let response = match request.map(|bytes| PayRequest::from_bytes(&bytes)) {
                Ok(Ok(request)) => self.0.respond(peer, request).await,
                Ok(Err(e)) => PayResponse::rejected(e.reason(), e.to_string()),
                Err(e) => PayResponse::rejected("malformed", e),
            };
            response.to_bytes().unwrap_or_default()
        })
    }
}

pub(super) async fn request(
    control: libp2p_stream::Control,
    peer: PeerId,
    request: &PayRequest,
    timeout: Duration,
) -> Result<PayResponse> {
    let failed = |reason: String| NetError::Request {
        peer,
        protocol: PROTOCOL.to_string(),
        reason,
    };
    let bytes = request.to_bytes().map_err(|e| failed(e.to_string()))?;
    let reply = rpc::request(control, peer, PROTOCOL, &bytes, LIMITS, timeout).await?;
    PayResponse::from_bytes(&reply.bytes).map_err(|e| failed(e.to_string()))
}

/// Decides, block by block, whether the Bitswap server sends a peer what it asked for: the
/// hook paid retrieval charges through. Called on the serving path, so it must not block.
pub trait ServeGate: Send + Sync + 'static {
    /// `true`: send `bytes` more to `peer` (and count them); `false`: withhold the block.
    fn admit(&self, peer: PeerId, bytes: u64) -> bool;
}
