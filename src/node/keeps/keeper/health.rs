//! A live deal's health as repair sees it: its state, its own proof record, where its
//! provider is, and its provider's score (read once per tick per provider). Also where a
//! score's fall is noticed: each provider's last score is stored, and a fall of 0.15 or
//! more, or under 0.5, is a warning.

use std::collections::HashMap;

use super::{clip, Keeper, LOW_SCORE, SCORE_FALL};
use crate::db::KeepRow;
use crate::keeper::repair::{DealHealth, Phase};
use crate::keeper::{Outcome, Score, Subnet};
use crate::market::state::DealState;
use crate::node::Result;

impl Keeper {
    /// One live keep deal's health; `None` once the deal has ended (recorded here).
    pub(super) async fn deal_health(
        &self,
        keep: &KeepRow,
        id: &str,
        peer: &str,
        piece_root: &str,
        scores: &mut HashMap<String, Score>,
    ) -> Result<Option<DealHealth>> {
        let db = &self.keeps.parts.db;
        let row = db.get_deal(id).await?;
        let decoded = row.as_ref().and_then(crate::node::deals::decode_row);
        let (Some(row), Some((_, proposal))) = (row, decoded) else {
            db.end_keep_deal(&keep.id, id, "ended", "the deal's record is gone")
                .await?;
            return Ok(None);
        };
        let phase = match row.state {
            DealState::Active => Phase::Active,
            DealState::Proposed | DealState::Accepted | DealState::Transferring => Phase::Pending,
            ended => {
                let events = db.deal_events(id).await?;
                let why = events
                    .last()
                    .and_then(|e| e.reason.clone())
                    .unwrap_or_default();
                let what = format!("{ended:?}").to_lowercase();
                if db
                    .end_keep_deal(&keep.id, id, "ended", &format!("{what}: {why}"))
                    .await?
                {
                    if ended == DealState::Failed {
                        self.back_off(&keep.id, peer);
                    }
                    self.event(
                        &keep.id,
                        "deal_ended",
                        &format!("deal {id} with {peer} {what}: {why}"),
                    )
                    .await;
                }
                return Ok(None);
            }
        };
        let proofs = db.deal_proofs(piece_root, peer, row.created_at, 64).await?;
        let last = proofs.last();
        let address = db.provider_record(peer).await?.and_then(|r| r.address);
        Ok(Some(DealHealth {
            deal: id.to_string(),
            peer: peer.to_string(),
            phase,
            created_ms: row.created_at,
            end_ms: proposal.payload.end().min(i64::MAX as u64) as i64,
            proofs: proofs
                .iter()
                .filter_map(|p| Outcome::from_record(&p.outcome))
                .collect(),
            last_reason: last
                .filter(|p| p.outcome != "passed")
                .and_then(|p| p.reason.as_deref())
                .map(clip),
            last_answer_ms: proofs
                .iter()
                .rev()
                .find_map(|p| p.answered_at)
                .or(Some(row.updated_at)),
            subnet: address
                .and_then(|a| a.parse().ok())
                .and_then(|a| Subnet::of_multiaddr(&a)),
            score: self.score(peer, scores).await?.value,
        }))
    }

    pub(super) async fn score(
        &self,
        peer: &str,
        scores: &mut HashMap<String, Score>,
    ) -> Result<Score> {
        if let Some(score) = scores.get(peer) {
            return Ok(score.clone());
        }
        let score = self.keeps.provider_score(peer).await?;
        scores.insert(peer.to_string(), score.clone());
        Ok(score)
    }

    /// A warning if `peer`'s score fell since it was last stored (then stores it).
    pub(super) async fn score_fall(
        &self,
        peer: &str,
        scores: &mut HashMap<String, Score>,
    ) -> Result<Option<String>> {
        let score = self.score(peer, scores).await?;
        let now = (score.value * 1000.0).round() as i64;
        let before = self
            .keeps
            .parts
            .db
            .provider_record(peer)
            .await?
            .and_then(|r| r.score_permille);
        if before == Some(now) {
            return Ok(None);
        }
        self.keeps.parts.db.see_provider(peer, None).await?;
        self.keeps.parts.db.set_provider_score(peer, now).await?;
        Ok(before
            .filter(|b| b - now >= SCORE_FALL || (*b >= LOW_SCORE && now < LOW_SCORE))
            .map(|b| {
                format!(
                    "provider {peer}'s score fell from {:.2} to {:.2}: {}",
                    b as f64 / 1000.0,
                    score.value,
                    score.explanation
                )
            }))
    }
}
