//! `/cairn/proof/1` on the wire (`contracts/proof.md` §7): one challenge in, one answer out,
//! each a length-prefixed DAG-CBOR frame on a fresh stream, under size caps and a deadline.
//! What to answer is the node's business ([`Prover`]); this module only moves the bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::AsyncWriteExt;
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, Semaphore};

use super::{frame, inbound::Incoming, NetError, Result};
use crate::proof::{Answer, Challenge, MAX_CHALLENGE_SIZE, MAX_PROOF_SIZE};

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/proof/1");

/// Challenges answered at once; more wait in the queue.
const CONCURRENT: usize = 16;
/// An answer frame: a proof plus the envelope around it.
const MAX_ANSWER_SIZE: usize = MAX_PROOF_SIZE + 1024;

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

pub(super) fn serve(mut incoming: mpsc::Receiver<Incoming>, prover: Arc<dyn Prover>) {
    let limit = Arc::new(Semaphore::new(CONCURRENT));
    tokio::spawn(async move {
        while let Some((peer, _, stream)) = incoming.recv().await {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            let prover = prover.clone();
            tokio::spawn(async move {
                if let Err(e) = answer_stream(peer, stream, prover.as_ref()).await {
                    tracing::debug!(%peer, error = %e, "proof stream failed");
                }
                drop(permit);
            });
        }
    });
}

async fn answer_stream(
    peer: PeerId,
    mut stream: libp2p::Stream,
    prover: &dyn Prover,
) -> std::io::Result<()> {
    let request = frame::read(&mut stream, MAX_CHALLENGE_SIZE).await;
    let answer = match request {
        Ok(Some(bytes)) => match Challenge::from_bytes(&bytes) {
            Ok(challenge) => prover.answer(peer, challenge).await,
            Err(e) => Answer::rejected("malformed", e.to_string()),
        },
        Ok(None) => return Ok(()),
        Err(e) => Answer::rejected("malformed", e.to_string()),
    };
    let bytes = answer.to_bytes().map_err(std::io::Error::other)?;
    frame::write(&mut stream, &bytes, MAX_ANSWER_SIZE)
        .await
        .map_err(std::io::Error::other)?;
    stream.close().await
}

/// Sends `challenge` to `peer` and reads the answer, all within `timeout`.
pub(super) async fn ask(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    challenge: &Challenge,
    timeout: Duration,
) -> Result<Reply> {
    let failed = |reason: String| NetError::Proof { peer, reason };
    let request = challenge.to_bytes().map_err(|e| failed(e.to_string()))?;
    let started = Instant::now();
    let exchange = async {
        let mut stream = control
            .open_stream(peer, PROTOCOL)
            .await
            .map_err(|e| failed(e.to_string()))?;
        frame::write(&mut stream, &request, MAX_CHALLENGE_SIZE)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let reply = frame::read(&mut stream, MAX_ANSWER_SIZE)
            .await
            .map_err(|e| failed(e.to_string()))?;
        reply.ok_or_else(|| failed("the provider closed the stream without answering".into()))
    };
    let bytes = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| failed(format!("no answer within {timeout:?}")))??;
    let answer = Answer::from_bytes(&bytes).map_err(|e| failed(e.to_string()))?;
    Ok(Reply {
        answer,
        bytes: bytes.len(),
        latency: started.elapsed(),
    })
}
