//! `/cairn/market/1` on the wire, over [`super::rpc`]; the node decides the answers
//! ([`Market`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use libp2p::{PeerId, StreamProtocol};

use super::rpc::{self, Limits};
use super::Result;
use crate::market::wire::{MarketRequest, MarketResponse, MAX_MESSAGE_SIZE};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/market/1");
pub const LIMITS: Limits = Limits::new(MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE);

pub trait Market: Send + Sync + 'static {
    fn respond(&self, peer: PeerId, request: MarketRequest) -> BoxFuture<'_, MarketResponse>;
}

/// The protocol's encodings, for [`rpc`].
pub(super) struct Wire;

impl rpc::Protocol for Wire {
    type Request = MarketRequest;
    type Response = MarketResponse;
    type Service = dyn Market;
    const ID: StreamProtocol = PROTOCOL;
    const LIMITS: Limits = LIMITS;

    fn encode_request(request: &MarketRequest) -> Result<Vec<u8>, String> {
        request.to_bytes().map_err(|e| e.to_string())
    }

    fn decode_request(bytes: &[u8]) -> Result<MarketRequest, MarketResponse> {
        MarketRequest::from_bytes(bytes)
            .map_err(|e| MarketResponse::rejected("malformed", e.to_string()))
    }

    fn unreadable(reason: String) -> MarketResponse {
        MarketResponse::rejected("malformed", reason)
    }

    fn encode_response(response: &MarketResponse) -> Vec<u8> {
        response.to_bytes().unwrap_or_default()
    }

    fn decode_response(bytes: &[u8]) -> Result<MarketResponse, String> {
        MarketResponse::from_bytes(bytes).map_err(|e| e.to_string())
    }

    fn answer<'a>(
        service: &'a dyn Market,
        peer: PeerId,
        request: MarketRequest,
    ) -> BoxFuture<'a, MarketResponse> {
        service.respond(peer, request)
    }
}

pub(super) async fn request(
    control: libp2p_stream::Control,
    peer: PeerId,
    request: &MarketRequest,
    timeout: Duration,
) -> Result<MarketResponse> {
    Ok(rpc::call::<Wire>(control, peer, request, timeout)
        .await?
        .response)
}

pub(super) fn serve(
    incoming: tokio::sync::mpsc::Receiver<super::inbound::Incoming>,
    service: Arc<dyn Market>,
    tasks: &crate::tasks::Tasks,
) -> Arc<rpc::Refused> {
    rpc::serve::<Wire>(incoming, service, tasks)
}
