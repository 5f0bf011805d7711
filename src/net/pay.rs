//! `/cairn/pay/1` on the wire (`contracts/pay.md`), over [`super::rpc`]: channel opens,
//! receipts in batches, closes and invoices. What to answer is the node's business
//! ([`Payments`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use libp2p::{PeerId, StreamProtocol};

use super::rpc::{self, Limits};
use super::Result;
use crate::pay::wire::{PayRequest, PayResponse, MAX_MESSAGE_SIZE};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/pay/1");
pub const LIMITS: Limits = Limits::new(MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE);

/// Answers payment requests on behalf of the node.
pub trait Payments: Send + Sync + 'static {
    fn respond(&self, peer: PeerId, request: PayRequest) -> BoxFuture<'_, PayResponse>;
}

/// The protocol's encodings, for [`rpc`].
pub(super) struct Wire;

impl rpc::Protocol for Wire {
    type Request = PayRequest;
    type Response = PayResponse;
    type Service = dyn Payments;
    const ID: StreamProtocol = PROTOCOL;
    const LIMITS: Limits = LIMITS;

    fn encode_request(request: &PayRequest) -> Result<Vec<u8>, String> {
        request.to_bytes().map_err(|e| e.to_string())
    }

    fn decode_request(bytes: &[u8]) -> Result<PayRequest, PayResponse> {
        PayRequest::from_bytes(bytes).map_err(|e| PayResponse::rejected(e.reason(), e.to_string()))
    }

    fn unreadable(reason: String) -> PayResponse {
        PayResponse::rejected("malformed", reason)
    }

    fn encode_response(response: &PayResponse) -> Vec<u8> {
        response.to_bytes().unwrap_or_default()
    }

    fn decode_response(bytes: &[u8]) -> Result<PayResponse, String> {
        PayResponse::from_bytes(bytes).map_err(|e| e.to_string())
    }

    fn answer<'a>(
        service: &'a dyn Payments,
        peer: PeerId,
        request: PayRequest,
    ) -> BoxFuture<'a, PayResponse> {
        service.respond(peer, request)
    }
}

pub(super) async fn request(
    control: libp2p_stream::Control,
    peer: PeerId,
    request: &PayRequest,
    timeout: Duration,
) -> Result<PayResponse> {
    Ok(rpc::call::<Wire>(control, peer, request, timeout)
        .await?
        .response)
}

pub(super) fn serve(
    incoming: tokio::sync::mpsc::Receiver<super::inbound::Incoming>,
    service: Arc<dyn Payments>,
    tasks: &crate::tasks::Tasks,
) -> Arc<rpc::Refused> {
    rpc::serve::<Wire>(incoming, service, tasks)
}

/// Decides, block by block, whether the Bitswap server sends a peer what it asked for: the
/// hook paid retrieval charges through. Called on the serving path, so it must not block.
pub trait ServeGate: Send + Sync + 'static {
    /// `true`: send `bytes` more to `peer` (and count them); `false`: withhold the block.
    fn admit(&self, peer: PeerId, bytes: u64) -> bool;
}
