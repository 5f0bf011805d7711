//! Payments tables, on every backend.

use tokio::sync::oneshot;

use super::writer::{write_batch, Request};
use super::{ChannelRow, ReceiptRow, ReceiptWriter, StoragePayment};
use crate::db::testing::each_backend;
use crate::db::{Db, DbError};

fn channel(id: &str, role: &str, peer: &str, created_at: i64) -> ChannelRow {
    ChannelRow {
        id: id.into(),
        role: role.into(),
        peer: peer.into(),
        payer: "aa".into(),
        payee: "bb".into(),
        deposit: 1_000_000,
        paid: 0,
        seq: 0,
        state: "open".into(),
        open_signed: "a1".into(),
        last_receipt: None,
        close_signed: None,
        settled: None,
        created_at,
        updated_at: created_at,
        closes_at: None,
        refund: None,
    }
}

fn receipt(channel: &str, seq: u64, amount: u64) -> ReceiptRow {
    ReceiptRow {
        channel: channel.into(),
        seq,
        amount,
        deal: seq.is_multiple_of(2).then(|| "deal1".to_string()),
        at: 100 + seq as i64,
        signed: format!("{channel}-{seq:04x}"),
        stored_at: 0,
    }
}

/// The history with `stored_at` (set by the database) cleared, for comparison.
async fn history(db: &Db, channel: &str) -> Vec<ReceiptRow> {
    let mut rows = db.receipts(channel).await.unwrap();
    for row in &mut rows {
        assert!(row.stored_at > 0);
        row.stored_at = 0;
    }
    rows
}

#[tokio::test]
async fn channels_insert_once_and_list_newest_first() {
    each_backend!(|db: Db| async move {
        let c1 = channel("c1", "payer", "p1", 10);
        assert!(db.insert_channel(&c1).await.unwrap());
        let mut again = c1.clone();
        again.deposit = 5;
        assert!(
            !db.insert_channel(&again).await.unwrap(),
            "an existing id is not overwritten"
        );
        assert_eq!(db.get_channel("c1").await.unwrap(), Some(c1.clone()));
        let c2 = channel("c2", "payee", "p1", 20);
        let c3 = channel("c3", "payer", "p2", 30);
        assert!(db.insert_channel(&c2).await.unwrap());
        assert!(db.insert_channel(&c3).await.unwrap());
        let all = db.list_channels(None, None).await.unwrap();
        assert_eq!(all, vec![c3.clone(), c2.clone(), c1.clone()]);
        let payer = db.list_channels(Some("payer"), None).await.unwrap();
        assert_eq!(payer, vec![c3.clone(), c1.clone()]);
        let p1 = db.list_channels(None, Some("p1")).await.unwrap();
        assert_eq!(p1, vec![c2.clone(), c1.clone()]);
        let both = db.list_channels(Some("payer"), Some("p1")).await.unwrap();
        assert_eq!(both, vec![c1]);
        assert!(db.get_channel("nope").await.unwrap().is_none());
        let mut huge = channel("c4", "payer", "p1", 40);
        huge.deposit = u64::MAX;
        assert!(matches!(
            db.insert_channel(&huge).await,
            Err(DbError::OutOfRange(_))
        ));
        assert!(db.get_channel("c4").await.unwrap().is_none());
    });
}

#[tokio::test]
async fn a_receipt_is_appended_and_becomes_the_latest() {
    each_backend!(|db: Db| async move {
        db.insert_channel(&channel("c1", "payee", "p1", 1))
            .await
            .unwrap();
        assert!(db.record_receipt(&receipt("c1", 1, 10), 0).await.unwrap());
        assert!(db.record_receipt(&receipt("c1", 2, 25), 1).await.unwrap());
        // Seqs may skip (a lost receipt is superseded by the next one).
        assert!(db.record_receipt(&receipt("c1", 5, 40), 2).await.unwrap());
        assert_eq!(
            history(&db, "c1").await,
            vec![
                receipt("c1", 1, 10),
                receipt("c1", 2, 25),
                receipt("c1", 5, 40)
            ]
        );
        let c = db.get_channel("c1").await.unwrap().unwrap();
        assert_eq!((c.seq, c.paid), (5, 40));
        assert_eq!(c.last_receipt.as_deref(), Some("c1-0005"));
        assert!(c.updated_at > 1);
    });
}

#[tokio::test]
async fn a_stale_duplicate_or_lower_receipt_writes_nothing() {
    each_backend!(|db: Db| async move {
        db.insert_channel(&channel("c1", "payee", "p1", 1))
            .await
            .unwrap();
        assert!(db.record_receipt(&receipt("c1", 1, 10), 0).await.unwrap());
        assert!(db.record_receipt(&receipt("c1", 2, 20), 1).await.unwrap());
        let before = (
            history(&db, "c1").await,
            db.get_channel("c1").await.unwrap(),
        );
        // A writer that still thinks the channel is at seq 1.
        assert!(!db.record_receipt(&receipt("c1", 3, 30), 1).await.unwrap());
        // The same (channel, seq) again, with a different signature.
        let mut duplicate = receipt("c1", 2, 20);
        duplicate.signed = "forged".into();
        assert!(!db.record_receipt(&duplicate, 2).await.unwrap());
        assert!(!db.record_receipt(&duplicate, 1).await.unwrap());
        // A higher seq that would lower the amount paid.
        assert!(!db.record_receipt(&receipt("c1", 3, 19), 2).await.unwrap());
        // Unknown channel.
        assert!(!db.record_receipt(&receipt("c9", 1, 1), 0).await.unwrap());
        let after = (
            history(&db, "c1").await,
            db.get_channel("c1").await.unwrap(),
        );
        assert_eq!(before, after);
        // Amounts the database cannot hold are refused, not wrapped.
        assert!(matches!(
            db.record_receipt(&receipt("c1", 3, u64::MAX), 2).await,
            Err(DbError::OutOfRange(_))
        ));
        assert_eq!(history(&db, "c1").await.len(), 2);
    });
}

#[tokio::test]
async fn a_closed_channel_refuses_receipts() {
    each_backend!(|db: Db| async move {
        db.insert_channel(&channel("c1", "payer", "p1", 1))
            .await
            .unwrap();
        assert!(db.record_receipt(&receipt("c1", 1, 10), 0).await.unwrap());
        assert!(db.close_channel("c1", Some("c10se"), 10).await.unwrap());
        assert!(
            !db.close_channel("c1", None, 99).await.unwrap(),
            "closed once"
        );
        assert!(!db.close_channel("nope", None, 0).await.unwrap());
        assert!(!db.record_receipt(&receipt("c1", 2, 20), 1).await.unwrap());
        let c = db.get_channel("c1").await.unwrap().unwrap();
        assert_eq!(c.state, "closed");
        assert_eq!(c.close_signed.as_deref(), Some("c10se"));
        assert_eq!(c.settled, Some(10));
        assert_eq!((c.seq, c.paid), (1, 10));
        assert_eq!(history(&db, "c1").await, vec![receipt("c1", 1, 10)]);
    });
}

#[tokio::test]
async fn retrieval_accounts_add_bytes_and_only_raise_amounts() {
    each_backend!(|db: Db| async move {
        let zero = db.retrieval_account("p1", "payee").await.unwrap();
        assert_eq!((zero.bytes, zero.paid, zero.invoiced), (0, 0, 0));
        assert_eq!(zero.peer, "p1");
        db.add_retrieval_bytes("p1", "payee", 1000).await.unwrap();
        db.add_retrieval_bytes("p1", "payee", 500).await.unwrap();
        db.set_retrieval_invoiced("p1", "payee", 30).await.unwrap();
        db.set_retrieval_invoiced("p1", "payee", 20).await.unwrap();
        db.set_retrieval_paid("p1", "payee", 15).await.unwrap();
        db.set_retrieval_paid("p1", "payee", 5).await.unwrap();
        // A first write of any kind creates the account.
        db.set_retrieval_paid("p2", "payer", 7).await.unwrap();
        let a = db.retrieval_account("p1", "payee").await.unwrap();
        assert_eq!((a.bytes, a.paid, a.invoiced), (1500, 15, 30));
        assert_eq!(
            db.retrieval_account("p1", "payer").await.unwrap().bytes,
            0,
            "roles are separate accounts"
        );
        let all = db.list_retrieval_accounts().await.unwrap();
        let summary: Vec<_> = all
            .iter()
            .map(|a| {
                (
                    a.peer.as_str(),
                    a.role.as_str(),
                    a.bytes,
                    a.paid,
                    a.invoiced,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("p1", "payee", 1500, 15, 30), ("p2", "payer", 0, 7, 0)]
        );
        // A total beyond i64::MAX is refused and leaves the count as it was.
        assert!(matches!(
            db.add_retrieval_bytes("p1", "payee", i64::MAX as u64).await,
            Err(DbError::OutOfRange(_))
        ));
        assert!(matches!(
            db.set_retrieval_paid("p1", "payee", u64::MAX).await,
            Err(DbError::OutOfRange(_))
        ));
        let a = db.retrieval_account("p1", "payee").await.unwrap();
        assert_eq!((a.bytes, a.paid), (1500, 15));
    });
}

#[tokio::test]
async fn a_storage_period_is_paid_once_and_payments_sum() {
    each_backend!(|db: Db| async move {
        let pay = |period: i64, amount: u64| StoragePayment {
            deal: "d1".into(),
            period,
            channel: "c1".into(),
            amount,
            seq: period as u64 + 1,
            at: 1000 + period,
        };
        assert_eq!(db.storage_paid("d1").await.unwrap(), 0);
        assert!(db.record_storage_payment(&pay(0, 100)).await.unwrap());
        assert!(db.record_storage_payment(&pay(1, 150)).await.unwrap());
        assert!(
            !db.record_storage_payment(&pay(1, 999)).await.unwrap(),
            "period 1 is already paid"
        );
        assert_eq!(
            db.storage_payments("d1").await.unwrap(),
            vec![pay(0, 100), pay(1, 150)]
        );
        assert_eq!(db.storage_paid("d1").await.unwrap(), 250);
        assert_eq!(db.storage_paid("d2").await.unwrap(), 0);
        let other = StoragePayment {
            deal: "d3".into(),
            ..pay(0, 7)
        };
        assert!(db.record_storage_payment(&other).await.unwrap());
        let per_deal = db.storage_paid_per_deal().await.unwrap();
        assert_eq!(per_deal.len(), 2);
        assert_eq!((per_deal["d1"], per_deal["d3"]), (250, 7));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_writer_stores_500_concurrent_receipts_across_10_channels() {
    each_backend!(|db: Db| async move {
        for c in 0..10 {
            db.insert_channel(&channel(&format!("c{c}"), "payee", "p1", c))
                .await
                .unwrap();
        }
        let (writer, writing) = ReceiptWriter::new(db.clone());
        tokio::spawn(writing);
        let mut tasks = Vec::new();
        for c in 0..10 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("c{c}");
                // All 50 are in flight at once; join_all queues them in seq order.
                let records =
                    (1..=50u64).map(|seq| writer.record(receipt(&id, seq, seq * 10), seq - 1));
                futures::future::join_all(records).await
            }));
        }
        for task in tasks {
            let outcomes = task.await.unwrap();
            assert!(outcomes.into_iter().all(|o| o.unwrap()));
        }
        for c in 0..10 {
            let id = format!("c{c}");
            let expected: Vec<_> = (1..=50).map(|seq| receipt(&id, seq, seq * 10)).collect();
            assert_eq!(history(&db, &id).await, expected);
            let row = db.get_channel(&id).await.unwrap().unwrap();
            assert_eq!((row.seq, row.paid), (50, 500));
            assert_eq!(row.last_receipt, Some(format!("{id}-0032")));
        }
    });
}

/// Runs `requests` as one batch, as the writer task would, and returns their answers.
async fn batch(db: &Db, requests: Vec<(ReceiptRow, u64)>) -> Vec<crate::db::Result<bool>> {
    let mut answers = Vec::new();
    let mut batch = Vec::new();
    for (receipt, expected_seq) in requests {
        let (reply, answer) = oneshot::channel();
        batch.push(Request {
            receipt,
            expected_seq,
            reply,
        });
        answers.push(answer);
    }
    write_batch(db, &mut batch).await;
    let mut out = Vec::new();
    for answer in answers {
        out.push(answer.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_stale_receipt_in_a_batch_fails_alone() {
    each_backend!(|db: Db| async move {
        for id in ["a", "b"] {
            db.insert_channel(&channel(id, "payee", "p1", 1))
                .await
                .unwrap();
        }
        let outcomes = batch(
            &db,
            vec![
                (receipt("a", 1, 10), 0),
                (receipt("a", 2, 20), 1),       // sees the first's update
                (receipt("b", 1, 10), 5),       // stale
                (receipt("b", 2, u64::MAX), 1), // out of range
                (receipt("a", 3, 30), 2),
                (receipt("b", 1, 10), 0),
            ],
        )
        .await;
        let summary: Vec<_> = outcomes
            .iter()
            .map(|o| match o {
                Ok(stored) => Some(*stored),
                Err(_) => None,
            })
            .collect();
        assert_eq!(
            summary,
            [
                Some(true),
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(true)
            ]
        );
        assert!(matches!(outcomes[3], Err(DbError::OutOfRange(_))));
        assert_eq!(
            history(&db, "a").await,
            vec![
                receipt("a", 1, 10),
                receipt("a", 2, 20),
                receipt("a", 3, 30)
            ]
        );
        assert_eq!(history(&db, "b").await, vec![receipt("b", 1, 10)]);
        assert_eq!(db.get_channel("a").await.unwrap().unwrap().seq, 3);
    });
}

#[tokio::test]
async fn a_batch_that_fails_is_retried_one_by_one() {
    each_backend!(|db: Db| async move {
        for id in ["a", "b"] {
            db.insert_channel(&channel(id, "payee", "p1", 1))
                .await
                .unwrap();
        }
        // A history that contradicts its channel: "b" is at seq 0 but holds seq 1.
        sqlx::query(
            "INSERT INTO receipts (channel, seq, amount, deal, at, signed, stored_at) \
             VALUES ('b', 1, 5, NULL, 1, 'odd', 1)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let outcomes = batch(
            &db,
            vec![
                (receipt("a", 1, 10), 0),
                (receipt("b", 1, 10), 0),
                (receipt("a", 2, 20), 1),
            ],
        )
        .await;
        assert!(matches!(outcomes[0], Ok(true)));
        assert!(matches!(outcomes[1], Err(DbError::CorruptRow { .. })));
        assert!(matches!(outcomes[2], Ok(true)));
        assert_eq!(history(&db, "a").await.len(), 2);
        let b = db.get_channel("b").await.unwrap().unwrap();
        assert_eq!((b.seq, b.last_receipt), (0, None), "b's update rolled back");
        assert_eq!(history(&db, "b").await[0].signed, "odd");
    });
}

#[tokio::test]
async fn an_acknowledged_receipt_survives_reopening_the_database() {
    let (db, dir) = crate::db::testing::sqlite().await;
    db.insert_channel(&channel("c1", "payee", "p1", 1))
        .await
        .unwrap();
    let (writer, writing) = ReceiptWriter::new(db.clone());
    tokio::spawn(writing);
    assert!(writer.record(receipt("c1", 1, 10), 0).await.unwrap());
    drop(writer);
    db.close().await;
    drop(db);
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(history(&db, "c1").await, vec![receipt("c1", 1, 10)]);
    assert_eq!(db.get_channel("c1").await.unwrap().unwrap().seq, 1);
}

/// The writer's durability claim rests on SQLite syncing the WAL at every commit.
#[tokio::test]
async fn sqlite_commits_are_synced() {
    let (db, _dir) = crate::db::testing::sqlite().await;
    let mut conn = db.pool().acquire().await.unwrap();
    use sqlx::Row;
    let mode: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(mode, 2, "synchronous=FULL");
    let journal: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn a_channel_closing_on_chain_is_marked_once_then_closed_with_its_refund() {
    each_backend!(|db: Db| async move {
        let id = format!("0x{}07", "0".repeat(62));
        db.insert_channel(&channel(&id, "payer", "p1", 1))
            .await
            .unwrap();
        let fresh = db.get_channel(&id).await.unwrap().unwrap();
        assert_eq!((fresh.status(), fresh.is_usable()), ("open", true));
        assert!(db.mark_channel_closing(&id, 1_900_000_000).await.unwrap());
        let closing = db.get_channel(&id).await.unwrap().unwrap();
        assert_eq!(closing.status(), "closing");
        assert!(!closing.is_usable());
        assert_eq!(closing.state, "open");
        assert_eq!(closing.closes_at, Some(1_900_000_000));
        // Marked once: a second mark, or one of an unknown channel, changes nothing.
        assert!(!db.mark_channel_closing(&id, 5).await.unwrap());
        assert!(!db.mark_channel_closing("nope", 5).await.unwrap());
        assert_eq!(
            db.get_channel(&id).await.unwrap().unwrap().closes_at,
            Some(1_900_000_000)
        );
        // An out-of-range time is refused, not wrapped.
        assert!(matches!(
            db.mark_channel_closing("nope", u64::MAX).await,
            Err(DbError::OutOfRange(_))
        ));
        assert!(db.record_withdrawal(&id, 400, 600).await.unwrap());
        let closed = db.get_channel(&id).await.unwrap().unwrap();
        assert_eq!(
            (closed.status(), closed.settled, closed.refund),
            ("closed", Some(400), Some(600))
        );
        // Withdrawn once.
        assert!(!db.record_withdrawal(&id, 1, 1).await.unwrap());
        assert_eq!(db.get_channel(&id).await.unwrap().unwrap(), closed);
    });
}
