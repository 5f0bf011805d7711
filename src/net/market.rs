//! `/cairn/market/1` on the wire, over [`super::rpc`]; the node decides the answers
//! ([`Market`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use libp2p::{PeerId, StreamProtocol};

use super::rpc::{self, Limits};
use super::{NetError, Result};
use crate::market::wire::{MarketRequest, MarketResponse, MAX_MESSAGE_SIZE};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/market/1");
pub const LIMITS: Limits = Limits {
    request: MAX_MESSAGE_SIZE,
    response: MAX_MESSAGE_SIZE,
};

pub trait Market: Send + Sync + 'static {
    fn respond(&self, peer: PeerId, request: MarketRequest) -> BoxFuture<'_, MarketResponse>;
}

pub(super) struct MarketHandler(pub Arc<dyn Market>);

impl rpc::Handler for MarketHandler {
    fn respond(&self, peer: PeerId, request: Result<Vec<u8>, String>) -> BoxFuture<'_, Vec<u8>> {
        Box::pin(async move {
            let response = match request.map(|bytes| MarketRequest::from_bytes(&bytes)) {
                Ok(Ok(request)) => self.0.respond(peer, request).await,
                Ok(Err(e)) => MarketResponse::rejected("malformed", e.to_string()),
                Err(e) => MarketResponse::rejected("malformed", e),
            };
            response.to_bytes().unwrap_or_default()
        })
    }
}

pub(super) async fn request(
    control: libp2p_stream::Control,
    peer: PeerId,
    request: &MarketRequest,
    timeout: Duration,
) -> Result<MarketResponse> {
    let failed = |reason: String| NetError::Request {
        peer,
        protocol: PROTOCOL.to_string(),
        reason,
    };
    let bytes = request.to_bytes().map_err(|e| failed(e.to_string()))?;
    let reply = rpc::request(control, peer, PROTOCOL, &bytes, LIMITS, timeout).await?;
    MarketResponse::from_bytes(&reply.bytes).map_err(|e| failed(e.to_string()))
}
