//! `/cairn/proof/1` on the wire (`contracts/proof.md` §7): one challenge in, one answer out,
//! over [`super::rpc`]. What to answer is the node's business ([`Prover`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use libp2p::{PeerId, StreamProtocol};

use super::rpc::{self, Limits};
use super::{NetError, Result};
use crate::proof::{Answer, Challenge, MAX_CHALLENGE_SIZE, MAX_PROOF_SIZE};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/proof/1");

/// A proof plus the envelope around it.
pub const LIMITS: Limits = Limits {
    request: MAX_CHALLENGE_SIZE,
    response: MAX_PROOF_SIZE + 1024,
};

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

pub(super) struct ProofHandler(pub Arc<dyn Prover>);

impl rpc::Handler for ProofHandler {
    fn respond(&self, peer: PeerId, request: Result<Vec<u8>, String>) -> BoxFuture<'_, Vec<u8>> {
        Box::pin(async move {
            let answer = match request.map(|bytes| Challenge::from_bytes(&bytes)) {
                Ok(Ok(challenge)) => self.0.answer(peer, challenge).await,
                Ok(Err(e)) => Answer::rejected("malformed", e.to_string()),
                Err(e) => Answer::rejected("malformed", e),
            };
            answer.to_bytes().unwrap_or_default()
        })
    }
}

pub(super) async fn ask(
    control: libp2p_stream::Control,
    peer: PeerId,
    challenge: &Challenge,
    timeout: Duration,
) -> Result<Reply> {
    let failed = |reason: String| NetError::Request {
        peer,
        protocol: PROTOCOL.to_string(),
        reason,
    };
    let request = challenge.to_bytes().map_err(|e| failed(e.to_string()))?;
    let reply = rpc::request(control, peer, PROTOCOL, &request, LIMITS, timeout).await?;
    let answer = Answer::from_bytes(&reply.bytes).map_err(|e| failed(e.to_string()))?;
    Ok(Reply {
        answer,
        bytes: reply.bytes.len(),
        latency: reply.latency,
    })
}
