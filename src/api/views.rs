//! How the node's records become the API's bodies (`api::types`), and how request bodies
//! become the node's requests.
//!
//! Records are destructured field by field, without `..`: a field added to a record fails
//! to compile here until someone decides whether the API shows it, so the API never grows
//! or loses a field by accident.

use super::types;
use crate::content::exporter::DirEntry;
use crate::db::{ChallengeRow, DealEventRow, KeepEventRow, KeepRow, PinRow, ProofRow, ReceiptRow};
use crate::keeper::Score;
use crate::node::{
    AuditReport, Balance, CarImport, ErasureReport, GcReport, KeepReport, ReplicaReport,
    RestoreReport, SlotReport,
};

impl From<DirEntry> for types::ListEntry {
    fn from(entry: DirEntry) -> Self {
        let DirEntry { name, cid, size } = entry;
        types::ListEntry {
            name,
            cid: cid.to_string(),
            size,
        }
    }
}

impl From<PinRow> for types::Pin {
    fn from(row: PinRow) -> Self {
        let PinRow {
            cid,
            name,
            created_at,
        } = row;
        types::Pin {
            cid: cid.to_string(),
            name,
            created_at,
        }
    }
}

impl From<GcReport> for types::Collected {
    fn from(report: GcReport) -> Self {
        let GcReport {
            removed_blocks,
            freed_bytes,
        } = report;
        types::Collected {
            removed_blocks,
            freed_bytes,
        }
    }
}

impl From<CarImport> for types::CarImported {
    fn from(import: CarImport) -> Self {
        let CarImport {
            roots,
            blocks,
            unreachable,
        } = import;
        types::CarImported {
            roots: roots.iter().map(ToString::to_string).collect(),
            blocks,
            unreachable,
        }
    }
}

impl From<AuditReport> for types::AuditReport {
    fn from(report: AuditReport) -> Self {
        let AuditReport {
            peer,
            piece_root,
            piece_size,
            samples,
            outcome,
            passed,
            reason,
            latency_ms,
            proof_bytes,
            record,
        } = report;
        types::AuditReport {
            peer,
            piece_root,
            piece_size,
            samples,
            outcome,
            passed,
            reason,
            latency_ms,
            proof_bytes,
            record,
        }
    }
}

/// A signed ask's terms, as `peer` offers them.
pub fn ask(peer: String, ask: &crate::market::Ask) -> types::Ask {
    types::Ask {
        peer,
        price_per_gib_month: ask.price_per_gib_month.0,
        retrieval_price_per_gib: ask.retrieval_price_per_gib.0,
        min_duration_secs: ask.min_duration_secs,
        max_duration_secs: ask.max_duration_secs,
        max_piece_size: ask.max_piece_size,
        free_capacity: ask.free_capacity,
        min_challenge_period_secs: ask.min_challenge_period_secs,
        expires_at: ask.expires_at,
    }
}

impl From<types::AskTerms> for crate::node::AskTerms {
    fn from(terms: types::AskTerms) -> Self {
        let types::AskTerms {
            price_per_gib_month,
            retrieval_price_per_gib,
            min_duration_secs,
            max_duration_secs,
            max_piece_size,
            capacity,
            min_challenge_period_secs,
            ttl_secs,
            allow,
            deny,
        } = terms;
        crate::node::AskTerms {
            price_per_gib_month,
            retrieval_price_per_gib,
            min_duration_secs,
            max_duration_secs,
            max_piece_size,
            capacity,
            min_challenge_period_secs,
            ttl_secs,
            allow,
            deny,
        }
    }
}

impl From<types::DealRequest> for crate::node::DealRequest {
    fn from(request: types::DealRequest) -> Self {
        let types::DealRequest {
            cid,
            provider,
            duration_secs,
            challenge_period_secs,
            samples,
            max_price_per_gib_month,
            wait_secs,
            channel,
        } = request;
        crate::node::DealRequest {
            cid,
            provider,
            duration_secs,
            challenge_period_secs,
            samples,
            max_price_per_gib_month,
            wait_secs,
            channel,
        }
    }
}

impl From<Score> for types::Score {
    fn from(score: Score) -> Self {
        let Score {
            value,
            pass_rate,
            uptime,
            age_days,
            challenges,
            passed,
            failed,
            unreachable,
            explanation,
        } = score;
        types::Score {
            value,
            pass_rate,
            uptime,
            age_days,
            challenges,
            passed,
            failed,
            unreachable,
            explanation,
        }
    }
}

impl From<DealEventRow> for types::DealEvent {
    fn from(row: DealEventRow) -> Self {
        let DealEventRow {
            seq,
            at,
            state,
            reason,
        } = row;
        types::DealEvent {
            seq,
            at,
            state,
            reason,
        }
    }
}

impl From<ChallengeRow> for types::Challenge {
    fn from(row: ChallengeRow) -> Self {
        let ChallengeRow {
            id,
            role,
            peer,
            piece_root,
            piece_size,
            period,
            samples,
            issued_at,
            deadline,
            answered_at,
            outcome,
            reason,
            latency_ms,
            proof_bytes,
        } = row;
        types::Challenge {
            id,
            role,
            peer,
            piece_root,
            piece_size,
            period,
            samples,
            issued_at,
            deadline,
            answered_at,
            outcome,
            reason,
            latency_ms,
            proof_bytes,
        }
    }
}

impl From<ProofRow> for types::LastProof {
    fn from(row: ProofRow) -> Self {
        let ProofRow {
            outcome,
            reason,
            issued_at,
            answered_at,
        } = row;
        types::LastProof {
            outcome,
            reason,
            issued_at,
            answered_at,
        }
    }
}

impl From<KeepEventRow> for types::KeepEvent {
    fn from(row: KeepEventRow) -> Self {
        let KeepEventRow {
            seq,
            at,
            kind,
            detail,
        } = row;
        types::KeepEvent {
            seq,
            at,
            kind,
            detail,
        }
    }
}

impl From<ReplicaReport> for types::Replica {
    fn from(report: ReplicaReport) -> Self {
        let ReplicaReport {
            peer,
            deal,
            state,
            reason,
            deal_state,
            price_per_gib_month,
            ends_at,
            proofs_passed,
            proofs_failed,
            proofs_unreachable,
            last_proof,
            score,
            paid,
        } = report;
        types::Replica {
            peer,
            deal,
            state,
            reason,
            deal_state,
            price_per_gib_month,
            ends_at,
            proofs_passed,
            proofs_failed,
            proofs_unreachable,
            last_proof: last_proof.map(Into::into),
            score: score.into(),
            paid,
        }
    }
}

impl From<KeepReport> for types::Keep {
    fn from(report: KeepReport) -> Self {
        let KeepReport {
            keep,
            providers,
            paid,
            events,
            erasure,
            slots,
        } = report;
        let KeepRow {
            id,
            cid,
            name,
            origins,
            meta,
            policy,
            status,
            status_details,
            healthy,
            shortfall,
            at_risk,
            local_pin,
            owns_pin,
            piece_root,
            piece_size,
            created_at,
            updated_at,
        } = keep;
        types::Keep {
            id,
            cid,
            name,
            origins,
            meta,
            policy,
            status,
            status_details,
            healthy,
            shortfall,
            at_risk,
            local_pin,
            owns_pin,
            piece_root,
            piece_size,
            created_at,
            updated_at,
            providers: providers.into_iter().map(Into::into).collect(),
            paid,
            events: events.into_iter().map(Into::into).collect(),
            erasure: erasure.map(Into::into),
            slots: slots.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ErasureReport> for types::KeepErasure {
    fn from(report: ErasureReport) -> Self {
        let ErasureReport {
            scheme,
            k,
            m,
            repair_threshold,
            manifest,
            healthy,
            health,
            recoverable,
            missing,
        } = report;
        types::KeepErasure {
            scheme,
            k,
            m,
            repair_threshold,
            manifest,
            healthy,
            health,
            recoverable,
            missing,
        }
    }
}

impl From<SlotReport> for types::Slot {
    fn from(report: SlotReport) -> Self {
        let SlotReport {
            index,
            cid,
            piece_root,
            state,
            peer,
            deal,
            deal_state,
            last_proof,
            score,
            paid,
            local,
            failures,
        } = report;
        types::Slot {
            index,
            cid,
            piece_root,
            state,
            peer,
            deal,
            deal_state,
            last_proof: last_proof.map(Into::into),
            score: score.map(Into::into),
            paid,
            local,
            failures,
        }
    }
}

impl From<RestoreReport> for types::KeepRestore {
    fn from(report: RestoreReport) -> Self {
        let RestoreReport {
            cid,
            manifest,
            slots,
            blocks,
            piece_size,
            took_ms,
            refused,
        } = report;
        types::KeepRestore {
            cid,
            manifest,
            slots: slots
                .into_iter()
                .map(|s| types::RestoredSlot {
                    index: s.index,
                    source: s.source,
                })
                .collect(),
            blocks,
            piece_size,
            took_ms,
            refused,
        }
    }
}

impl From<ReceiptRow> for types::Receipt {
    fn from(row: ReceiptRow) -> Self {
        let ReceiptRow {
            channel,
            seq,
            amount,
            deal,
            at,
            signed,
            stored_at,
        } = row;
        types::Receipt {
            channel,
            seq,
            amount,
            deal,
            at,
            signed,
            stored_at,
        }
    }
}

impl From<Balance> for types::Balance {
    fn from(balance: Balance) -> Self {
        let Balance {
            peer,
            earned,
            spent,
            owed_to_us,
            we_owe,
        } = balance;
        types::Balance {
            peer,
            earned,
            spent,
            owed_to_us,
            we_owe,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::{json, Value};

    use super::*;
    use crate::keeper::{KeepStatus, Policy};
    use crate::market::DealState;

    fn cid() -> cid::Cid {
        // The raw block of no bytes.
        crate::content::parse_cid("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
            .unwrap()
    }

    /// The view serializes exactly as the record did when the API sent the record itself,
    /// and reads back (as the CLI reads it) to the same value.
    fn same_json<R, V>(record: R)
    where
        R: Serialize + Clone + Into<V>,
        V: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let before = serde_json::to_value(&record).unwrap();
        let view: V = record.into();
        assert_eq!(serde_json::to_value(&view).unwrap(), before);
        let back: V = serde_json::from_value(before).unwrap();
        assert_eq!(back, view);
    }

    fn score() -> Score {
        Score {
            value: 0.75,
            pass_rate: 0.9,
            uptime: 1.0,
            age_days: 2.5,
            challenges: 10,
            passed: 9,
            failed: 1,
            unreachable: 0,
            explanation: "9 of 10 passed".into(),
        }
    }

    #[test]
    fn content_records_keep_their_json() {
        same_json::<_, types::ListEntry>(DirEntry {
            name: "a.txt".into(),
            cid: cid(),
            size: 12,
        });
        for name in [None, Some("site".to_string())] {
            same_json::<_, types::Pin>(PinRow {
                cid: cid(),
                name,
                created_at: 1_700_000_000_000,
            });
        }
        same_json::<_, types::Collected>(GcReport {
            removed_blocks: 3,
            freed_bytes: 4096,
        });
        same_json::<_, types::CarImported>(CarImport {
            roots: vec![cid(), cid()],
            blocks: 7,
            unreachable: 2,
        });
    }

    #[test]
    fn audit_score_deal_and_payment_records_keep_their_json() {
        for (reason, record) in [
            (None, Some("a1b2".to_string())),
            (Some("late".into()), None),
        ] {
            same_json::<_, types::AuditReport>(AuditReport {
                peer: "12D3KooWpeer".into(),
                piece_root: "00".repeat(32),
                piece_size: 1 << 20,
                samples: 20,
                outcome: "passed".into(),
                passed: reason.is_none(),
                reason,
                latency_ms: 12,
                proof_bytes: 5_000,
                record,
            });
        }
        same_json::<_, types::Score>(score());
        same_json::<_, types::DealEvent>(DealEventRow {
            seq: 2,
            at: 1_700_000_000_000,
            state: DealState::Active,
            reason: Some("activated".into()),
        });
        same_json::<_, types::Challenge>(ChallengeRow {
            id: "c1".into(),
            role: "verifier".into(),
            peer: "12D3KooWpeer".into(),
            piece_root: "ab".repeat(32),
            piece_size: 1 << 20,
            period: 4,
            samples: 20,
            issued_at: 10,
            deadline: 20,
            answered_at: Some(15),
            outcome: "passed".into(),
            reason: None,
            latency_ms: Some(5),
            proof_bytes: None,
        });
        same_json::<_, types::Receipt>(ReceiptRow {
            channel: "bafychannel".into(),
            seq: 3,
            amount: 300,
            deal: None,
            at: 5,
            signed: "00ff".into(),
            stored_at: 6,
        });
        same_json::<_, types::Balance>(Balance {
            peer: "12D3KooWpeer".into(),
            earned: 1,
            spent: 2,
            owed_to_us: 3,
            we_owe: 4,
        });
    }

    #[test]
    fn a_keep_report_keeps_its_json() {
        let keep = KeepRow {
            id: "6f1c-uuid".into(),
            cid: cid().to_string(),
            name: Some("photos".into()),
            origins: vec!["/ip4/127.0.0.1/tcp/1".into()],
            meta: BTreeMap::from([("app".to_string(), "x".to_string())]),
            policy: Policy {
                replicas: 3,
                duration_secs: 86_400,
                max_price_per_gib_month: None,
                challenge_period_secs: 3_600,
            },
            status: KeepStatus::Pinning,
            status_details: None,
            healthy: 1,
            shortfall: 2,
            at_risk: 0,
            local_pin: true,
            owns_pin: false,
            piece_root: Some("cd".repeat(32)),
            piece_size: Some(1 << 20),
            created_at: 1,
            updated_at: 2,
        };
        let live = ReplicaReport {
            peer: "12D3KooWpeer".into(),
            deal: "deal-1".into(),
            state: "live".into(),
            reason: None,
            deal_state: Some(DealState::Active),
            price_per_gib_month: Some(10),
            ends_at: Some(99),
            proofs_passed: 4,
            proofs_failed: 1,
            proofs_unreachable: 0,
            last_proof: Some(ProofRow {
                outcome: "passed".into(),
                reason: None,
                issued_at: 50,
                answered_at: Some(51),
            }),
            score: score(),
            paid: 40,
        };
        let dropped = ReplicaReport {
            state: "dropped".into(),
            reason: Some("failed two proofs".into()),
            deal_state: None,
            last_proof: None,
            ..live.clone()
        };
        let slot = SlotReport {
            index: 2,
            cid: cid().to_string(),
            piece_root: "ab".repeat(32),
            state: "healthy".into(),
            peer: Some("12D3KooWpeer".into()),
            deal: Some("deal-2".into()),
            deal_state: Some(DealState::Active),
            last_proof: Some(ProofRow {
                outcome: "passed".into(),
                reason: None,
                issued_at: 60,
                answered_at: Some(61),
            }),
            score: Some(score()),
            paid: 7,
            local: false,
            failures: 1,
        };
        same_json::<_, types::Keep>(KeepReport {
            keep,
            providers: vec![live, dropped],
            paid: 40,
            erasure: Some(ErasureReport {
                scheme: "4+4".into(),
                k: 4,
                m: 4,
                repair_threshold: 5,
                manifest: Some(cid().to_string()),
                healthy: 1,
                health: -3,
                recoverable: false,
                missing: vec![0, 1, 3, 4, 5, 6, 7],
            }),
            slots: vec![slot],
            events: vec![KeepEventRow {
                seq: 1,
                at: 3,
                kind: "deal_made".into(),
                detail: "with 12D3KooWpeer".into(),
            }],
        });
    }

    /// The keys of a body made in a handler with `json!` before it had a type.
    fn keys(value: &impl Serialize) -> Vec<String> {
        match serde_json::to_value(value).unwrap() {
            Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn handler_made_bodies_keep_their_field_names() {
        let ask = types::Ask {
            peer: "p".into(),
            price_per_gib_month: 1,
            retrieval_price_per_gib: 2,
            min_duration_secs: 3,
            max_duration_secs: 4,
            max_piece_size: 5,
            free_capacity: 6,
            min_challenge_period_secs: 7,
            expires_at: 8,
        };
        let ask_keys = [
            "peer",
            "price_per_gib_month",
            "retrieval_price_per_gib",
            "min_duration_secs",
            "max_duration_secs",
            "max_piece_size",
            "free_capacity",
            "min_challenge_period_secs",
            "expires_at",
        ];
        assert_eq!(keys(&ask), sorted(&ask_keys));
        // A provider's ask adds its latency, and its score only when asked for.
        let mut provider = types::ProviderAsk {
            ask: ask.clone(),
            latency_ms: None,
            score: None,
        };
        assert_eq!(
            keys(&provider),
            sorted(&[&ask_keys[..], &["latency_ms"]].concat())
        );
        let back: types::ProviderAsk =
            serde_json::from_value(serde_json::to_value(&provider).unwrap()).unwrap();
        assert_eq!(back, provider);
        provider.score = Some(score().into());
        assert_eq!(
            keys(&provider),
            sorted(&[&ask_keys[..], &["latency_ms", "score"]].concat())
        );
        let back: types::ProviderAsk =
            serde_json::from_value(serde_json::to_value(&provider).unwrap()).unwrap();
        assert_eq!(back, provider);

        let deal = types::Deal {
            id: "d".into(),
            role: "client".into(),
            peer: "p".into(),
            root: "r".into(),
            piece_root: "pr".into(),
            piece_size: 1,
            state: DealState::Proposed,
            created_at: 1,
            updated_at: 2,
            proofs_passed: 0,
            proofs_failed: 0,
            paid: 0,
            events: Vec::new(),
            challenges: Vec::new(),
            challenges_total: 0,
        };
        assert_eq!(
            keys(&deal),
            sorted(&[
                "id",
                "role",
                "peer",
                "root",
                "piece_root",
                "piece_size",
                "state",
                "created_at",
                "updated_at",
                "proofs_passed",
                "proofs_failed",
                "paid",
                "events",
                "challenges",
                "challenges_total",
            ])
        );
        let channel = types::Channel {
            id: "c".into(),
            role: "payer".into(),
            peer: "p".into(),
            deposit: 10,
            paid: 4,
            remaining: 6,
            pending: 0,
            seq: 1,
            state: "open".into(),
            settled: None,
            created_at: 1,
            updated_at: 2,
            closes_at: None,
            refund: None,
            onchain: None,
        };
        assert_eq!(
            serde_json::to_value(&channel).unwrap(),
            json!({
                "id": "c", "role": "payer", "peer": "p", "deposit": 10, "paid": 4,
                "remaining": 6, "pending": 0, "seq": 1, "state": "open", "settled": null,
                "created_at": 1, "updated_at": 2,
            })
        );
        let stat = types::Stat {
            cid: "b".into(),
            kind: types::EntryKind::Directory,
            size: 3,
        };
        assert_eq!(
            serde_json::to_value(&stat).unwrap(),
            json!({"cid": "b", "type": "directory", "size": 3})
        );
        let id = types::Id {
            id: "p".into(),
            agent: "cairn/0".into(),
            api: None,
            gateway: None,
            addresses: Vec::new(),
        };
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            json!({"id": "p", "agent": "cairn/0", "api": null, "gateway": null, "addresses": []})
        );
        let error = types::ErrorBody {
            error: "bad_token".into(),
            message: "the API token is wrong".into(),
        };
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"error": "bad_token", "message": "the API token is wrong"})
        );
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_and_take_their_defaults() {
        let deal: types::DealRequest = serde_json::from_value(json!({
            "cid": "b", "provider": "p", "duration_secs": 10, "challenge_period_secs": 5,
            "max_price_per_gib_month": null,
        }))
        .unwrap();
        assert_eq!(deal.samples, types::DealRequest::DEFAULT_SAMPLES);
        assert_eq!(deal.wait_secs, types::DealRequest::DEFAULT_WAIT_SECS);
        let typo = serde_json::from_value::<types::DealRequest>(json!({
            "cid": "b", "provider": "p", "duration_secs": 10, "challenge_period_secs": 5,
            "sample": 3,
        }));
        assert!(typo
            .unwrap_err()
            .to_string()
            .contains("unknown field `sample`"));
        let keep = serde_json::from_value::<types::KeepRequest>(json!({"cid": "b", "replica": 2}));
        assert!(keep
            .unwrap_err()
            .to_string()
            .contains("unknown field `replica`"));
        let terms: types::AskTerms = serde_json::from_value(json!({
            "price_per_gib_month": 1, "min_duration_secs": 2, "max_duration_secs": 3,
            "max_piece_size": 4, "capacity": 5, "min_challenge_period_secs": 6, "ttl_secs": 7,
        }))
        .unwrap();
        assert_eq!((terms.retrieval_price_per_gib, terms.allow), (0, None));
        assert!(terms.deny.is_empty());
        let open = serde_json::from_value::<types::OpenChannel>(json!({"peer": "p"}));
        assert!(open
            .unwrap_err()
            .to_string()
            .contains("missing field `deposit`"));
        let audit = serde_json::from_value::<types::AuditRequest>(
            json!({"peer": "p", "root": "r", "size": 1, "timeout": 3}),
        );
        assert!(audit
            .unwrap_err()
            .to_string()
            .contains("unknown field `timeout`"));
    }
}
