//! `/cairn/proof/1` on the wire (`contracts/proof.md` §7): one challenge in, one answer out,
//! over [`super::rpc`]. What to answer is the node's business ([`Prover`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use libp2p::{PeerId, StreamProtocol};

use super::rpc::{self, Limits};
use super::Result;
use crate::proof::{Answer, Challenge, MAX_CHALLENGE_SIZE, MAX_PROOF_SIZE};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/proof/1");

/// A proof plus the envelope around it.
pub const LIMITS: Limits = Limits::new(MAX_CHALLENGE_SIZE, MAX_PROOF_SIZE + 1024);

/// Answers challenges on behalf of the node.
pub trait Prover: Send + Sync + 'static {
    fn answer(&self, peer: PeerId, challenge: Challenge) -> BoxFuture<'_, Answer>;
}

/// An answer as the challenger received it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub answer: Answer,
    /// Encoded size of the answer.
    pub bytes: usize,
    pub latency: Duration,
}

/// The protocol's encodings, for [`rpc`].
pub(super) struct Wire;

impl rpc::Protocol for Wire {
    type Request = Challenge;
    type Response = Answer;
    type Service = dyn Prover;
    const ID: StreamProtocol = PROTOCOL;
    const LIMITS: Limits = LIMITS;

    fn encode_request(request: &Challenge) -> Result<Vec<u8>, String> {
        request.to_bytes().map_err(|e| e.to_string())
    }

    fn decode_request(bytes: &[u8]) -> Result<Challenge, Answer> {
        Challenge::from_bytes(bytes).map_err(|e| Answer::rejected("malformed", e.to_string()))
    }

    fn unreadable(reason: String) -> Answer {
        Answer::rejected("malformed", reason)
    }

    fn encode_response(response: &Answer) -> Vec<u8> {
        response.to_bytes().unwrap_or_default()
    }

    fn decode_response(bytes: &[u8]) -> Result<Answer, String> {
        Answer::from_bytes(bytes).map_err(|e| e.to_string())
    }

    fn answer<'a>(
        service: &'a dyn Prover,
        peer: PeerId,
        challenge: Challenge,
    ) -> BoxFuture<'a, Answer> {
        service.answer(peer, challenge)
    }
}

pub(super) async fn ask(
    control: libp2p_stream::Control,
    peer: PeerId,
    challenge: &Challenge,
    timeout: Duration,
) -> Result<Reply> {
    let reply = rpc::call::<Wire>(control, peer, challenge, timeout).await?;
    Ok(Reply {
        answer: reply.response,
        bytes: reply.bytes,
        latency: reply.latency,
    })
}

pub(super) fn serve(
    incoming: tokio::sync::mpsc::Receiver<super::inbound::Incoming>,
    service: Arc<dyn Prover>,
    tasks: &crate::tasks::Tasks,
) -> Arc<rpc::Refused> {
    rpc::serve::<Wire>(incoming, service, tasks)
}
