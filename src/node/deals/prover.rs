//! Storage audits from both sides: answering challenges for the pieces this node holds, and
//! challenging a provider. Every challenge, either way, is recorded with its outcome.

use std::time::Duration;

use futures::future::BoxFuture;
use libp2p::PeerId;

use super::Deals;
use crate::db::ChallengeRow;
use crate::net::proof::Prover;
use crate::node::{NodeError, Result};
use crate::proof::{
    verify, Answer, AuditRecord, Challenge, PieceCommitment, PieceError, ProofError, MAX_SAMPLES,
};

/// Challenges last an hour by default: a period is the hour the challenge was issued in.
const PERIOD_MS: i64 = 3_600_000;

/// Answers `/cairn/proof/1` challenges for the pieces this node holds.
impl Prover for Deals {
    fn answer(&self, peer: PeerId, challenge: Challenge) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            let started = self.parts.clock.now_ms();
            let answer = match self
                .pay
                .stopped_by_close(&peer, &challenge.piece_root)
                .await
            {
                Ok(true) => Answer::rejected(
                    "deal_stopped",
                    "the payer started closing the channel that pays for this deal",
                ),
                _ => self.decide(&challenge).await,
            };
            let (outcome, reason) = match &answer {
                Answer::Proof(_) => ("answered", None),
                Answer::Rejected(r) => ("rejected", Some(format!("{}: {}", r.reason, r.detail))),
            };
            let mut row = row(&challenge, "prover", &peer, started, outcome);
            row.reason = reason;
            row.answered_at = Some(self.parts.clock.now_ms());
            row.latency_ms = Some(self.parts.clock.now_ms() - started);
            if let Err(e) = self.parts.db.record_challenge(&row).await {
                tracing::warn!(error = %e, "could not record an answered challenge");
            }
            answer
        })
    }
}

impl Deals {
    async fn decide(&self, challenge: &Challenge) -> Answer {
        if let Err(e) = challenge.validate() {
            return Answer::rejected("malformed", e.to_string());
        }
        if self.parts.clock.now_u64() > challenge.deadline {
            return Answer::rejected("late", "the challenge's deadline has passed");
        }
        match self.content.prove(challenge).await {
            Ok(proof) => Answer::Proof(proof),
            Err(PieceError::WrongPiece(detail)) => Answer::rejected("unknown_piece", detail),
            Err(PieceError::BadChallenge(e)) => Answer::rejected(e.reason(), e.to_string()),
            Err(e) => {
                // Our own failure (a missing block, a read error): logged here, never sent.
                tracing::warn!(error = %e, "cannot answer a challenge");
                Answer::rejected(
                    "data_unavailable",
                    "the provider cannot read this piece now",
                )
            }
        }
    }
}

fn row(
    challenge: &Challenge,
    role: &str,
    peer: &PeerId,
    issued_at: i64,
    outcome: &str,
) -> ChallengeRow {
    ChallengeRow {
        id: hex::encode(challenge.nonce),
        role: role.into(),
        peer: peer.to_string(),
        piece_root: hex::encode(challenge.piece_root),
        piece_size: challenge.piece_size,
        period: challenge.period,
        samples: u64::from(challenge.samples),
        issued_at,
        deadline: challenge.deadline as i64,
        answered_at: None,
        outcome: outcome.into(),
        reason: None,
        latency_ms: None,
        proof_bytes: None,
    }
}

/// What an audit found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditReport {
    pub peer: String,
    pub piece_root: String,
    pub piece_size: u64,
    pub samples: u32,
    /// `passed`, `failed` (a bad proof or a rejection), `late` or `unreachable`.
    pub outcome: String,
    pub passed: bool,
    pub reason: Option<String>,
    pub latency_ms: u64,
    pub proof_bytes: u64,
    /// The challenge and proof, DAG-CBOR, hex: `cairn proof verify` checks it offline.
    pub record: Option<String>,
}

impl Deals {
    /// Challenges `peer` to prove it holds the piece `commitment`; verifies the answer against
    /// the commitment alone and records the outcome.
    pub async fn audit(
        &self,
        peer: PeerId,
        commitment: PieceCommitment,
        samples: u32,
        timeout: Duration,
    ) -> Result<AuditReport> {
        if samples == 0 || samples > MAX_SAMPLES {
            return Err(NodeError::invalid(format!(
                "samples must be between 1 and {MAX_SAMPLES}"
            )));
        }
        let net = self.parts.net.get()?;
        let issued = self.parts.clock.now_ms();
        let deadline = (issued + timeout.as_millis() as i64).max(0) as u64;
        let challenge = Challenge::new(
            commitment,
            (issued / PERIOD_MS) as u64,
            rand::random(),
            samples,
            deadline,
        );
        let mut record_row = row(&challenge, "verifier", &peer, issued, "unreachable");
        let mut report = AuditReport {
            peer: peer.to_string(),
            piece_root: hex::encode(commitment.root),
            piece_size: commitment.size,
            samples,
            outcome: "unreachable".into(),
            passed: false,
            reason: None,
            latency_ms: 0,
            proof_bytes: 0,
            record: None,
        };
        match net.challenge(peer, &challenge, timeout).await {
            Err(e) => report.reason = Some(e.to_string()),
            Ok(reply) => {
                let arrived = self.parts.clock.now_ms();
                report.latency_ms = reply.latency.as_millis() as u64;
                report.proof_bytes = reply.bytes as u64;
                record_row.answered_at = Some(arrived);
                judge(
                    &mut report,
                    &challenge,
                    &commitment,
                    reply.answer,
                    arrived.max(0) as u64,
                );
            }
        }
        record_row.outcome = report.outcome.clone();
        record_row.reason = report.reason.clone();
        record_row.latency_ms = Some(report.latency_ms as i64);
        record_row.proof_bytes = Some(report.proof_bytes as i64);
        self.parts.db.record_challenge(&record_row).await?;
        Ok(report)
    }
}

/// Fills the report's verdict from the provider's answer.
fn judge(
    report: &mut AuditReport,
    challenge: &Challenge,
    commitment: &PieceCommitment,
    answer: Answer,
    arrived: u64,
) {
    let proof = match answer {
        Answer::Rejected(r) => {
            report.outcome = "failed".into();
            report.reason = Some(format!("provider refused: {} ({})", r.reason, r.detail));
            return;
        }
        Answer::Proof(proof) => proof,
    };
    match verify(challenge, commitment, &proof, arrived) {
        Ok(()) => {
            report.outcome = "passed".into();
            report.passed = true;
        }
        Err(e) => {
            report.outcome = match e {
                ProofError::Late { .. } => "late".into(),
                _ => "failed".into(),
            };
            report.reason = Some(format!("{}: {e}", e.reason()));
        }
    }
    let record = AuditRecord {
        challenge: challenge.clone(),
        proof,
        received_at: arrived,
    };
    report.record = record.to_bytes().ok().map(hex::encode);
}
