//! The keeper's records on every configured backend.

use super::*;
use crate::db::testing::each_backend;
use crate::db::ChallengeRow;
use crate::keeper::{KeepStatus, Policy};

fn keep(id: &str, cid: &str, created_at: i64) -> KeepRow {
    KeepRow {
        id: id.into(),
        cid: cid.into(),
        name: Some("n".into()),
        origins: vec!["/ip4/127.0.0.1/tcp/1".into()],
        meta: [("app".to_string(), "x".to_string())].into(),
        policy: Policy {
            replicas: 2,
            duration_secs: 86_400,
            max_price_per_gib_month: Some(5),
            challenge_period_secs: 60,
        },
        status: KeepStatus::Queued,
        status_details: None,
        healthy: 0,
        shortfall: 0,
        at_risk: 0,
        local_pin: false,
        owns_pin: false,
        piece_root: None,
        piece_size: None,
        created_at,
        updated_at: created_at,
    }
}

#[tokio::test]
async fn keeps_round_trip_with_unique_creation_times_and_go_with_their_records() {
    each_backend!(|db: Db| async move {
        let a = db.insert_keep(&keep("a", "bafya", 1000)).await.unwrap();
        let b = db.insert_keep(&keep("b", "bafyb", 1000)).await.unwrap();
        assert_eq!((a.created_at, b.created_at), (1000, 1001));
        assert_eq!(a, keep("a", "bafya", 1000));
        assert!(db.insert_keep(&keep("a", "bafyc", 5)).await.is_err());

        let q = |before, statuses: Vec<KeepStatus>| KeepQuery {
            before,
            statuses,
            ..Default::default()
        };
        let ids = |keeps: Vec<KeepRow>| keeps.into_iter().map(|k| k.id).collect::<Vec<_>>();
        assert_eq!(
            ids(db.query_keeps(&q(None, vec![])).await.unwrap()),
            ["b", "a"]
        );
        assert_eq!(
            ids(db.query_keeps(&q(Some(1001), vec![])).await.unwrap()),
            ["a"]
        );
        let health = KeepHealthRow {
            status: KeepStatus::Pinned,
            details: "2 of 2",
            healthy: 2,
            shortfall: 0,
            at_risk: 1,
        };
        db.set_keep_health("b", &health).await.unwrap();
        let pinned = db
            .query_keeps(&q(None, vec![KeepStatus::Pinned]))
            .await
            .unwrap();
        assert_eq!(ids(pinned), ["b"]);
        let by_cid = KeepQuery {
            cids: vec!["bafya".into()],
            ..Default::default()
        };
        assert_eq!(ids(db.query_keeps(&by_cid).await.unwrap()), ["a"]);

        db.set_keep_local("a", true, "ab", 99).await.unwrap();
        let mut policy = a.policy.clone();
        policy.max_price_per_gib_month = None;
        assert!(db.set_keep_policy("a", &policy).await.unwrap());
        let a2 = db.get_keep("a").await.unwrap().unwrap();
        assert!(a2.local_pin && a2.owns_pin);
        assert_eq!((a2.piece_size, a2.policy), (Some(99), policy));

        assert!(db.add_keep_deal("a", "d1", "p1").await.unwrap());
        assert!(!db.add_keep_deal("gone", "d9", "p1").await.unwrap());
        assert!(db.add_keep_deal("a", "d2", "p2").await.unwrap());
        assert!(db
            .end_keep_deal("a", "d1", "dropped", "3 failed")
            .await
            .unwrap());
        assert!(!db.end_keep_deal("a", "d1", "ended", "again").await.unwrap());
        db.add_keep_event("a", "created", "hello").await.unwrap();
        db.add_keep_event("a", "drop", "p1: 3 failed")
            .await
            .unwrap();
        let events = db.keep_events("a", 10).await.unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(db.keep_events("a", 1).await.unwrap()[0].kind, "drop");
        let totals = db.keeper_totals().await.unwrap();
        assert_eq!((totals.keeps, totals.pinned, totals.at_risk), (2, 1, 1));

        // Failed is final: a pass that read the keep earlier cannot move it back.
        let failed = KeepHealthRow {
            status: KeepStatus::Failed,
            ..health.clone()
        };
        db.set_keep_health("a", &failed).await.unwrap();
        db.set_keep_health("a", &health).await.unwrap();
        assert_eq!(
            db.get_keep("a").await.unwrap().unwrap().status,
            KeepStatus::Failed
        );
        // A replacement takes the deals over and the old keep is gone, in one step.
        let c = db
            .replace_keep_row("a", &keep("c", "bafya", 1))
            .await
            .unwrap();
        assert!(c.created_at > 1001, "still unique and newest");
        assert!(db.get_keep("a").await.unwrap().is_none());
        assert!(db.keep_events("a", 10).await.unwrap().is_empty());
        let moved = db.keep_deals("c").await.unwrap();
        assert_eq!(moved.len(), 2);
        assert_eq!(moved[0].state, "dropped");
        assert!(db.delete_keep("c").await.unwrap());
        assert!(!db.delete_keep("c").await.unwrap());
        assert!(db.keep_deals("c").await.unwrap().is_empty());
    });
}

#[tokio::test]
async fn provider_records_and_proof_history_read_back_in_order() {
    each_backend!(|db: Db| async move {
        db.see_provider("p", Some("/ip4/1.2.3.4/tcp/1"))
            .await
            .unwrap();
        let first = db.provider_record("p").await.unwrap().unwrap();
        db.see_provider("p", None).await.unwrap();
        db.set_provider_score("p", 420).await.unwrap();
        let again = db.provider_record("p").await.unwrap().unwrap();
        assert_eq!(again.first_seen, first.first_seen);
        assert_eq!(again.address.as_deref(), Some("/ip4/1.2.3.4/tcp/1"));
        assert_eq!(again.score_permille, Some(420));
        assert!(db.provider_record("q").await.unwrap().is_none());
        for (i, outcome) in ["passed", "failed", "unreachable"].iter().enumerate() {
            let row = ChallengeRow {
                id: format!("n{i}"),
                role: "verifier".into(),
                peer: "p".into(),
                piece_root: "ab".into(),
                piece_size: 1,
                period: 0,
                samples: 1,
                issued_at: 100 + i as i64,
                deadline: 200,
                answered_at: None,
                outcome: outcome.to_string(),
                reason: None,
                latency_ms: None,
                proof_bytes: None,
            };
            db.record_challenge(&row).await.unwrap();
        }
        assert_eq!(
            db.provider_history("p", 2).await.unwrap(),
            ["failed", "unreachable"]
        );
        let proofs = db.deal_proofs("ab", "p", 101, 10).await.unwrap();
        let outcomes: Vec<&str> = proofs.iter().map(|p| p.outcome.as_str()).collect();
        assert_eq!(outcomes, ["failed", "unreachable"]);
    });
}
