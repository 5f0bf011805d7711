use std::time::Duration;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::db::testing::each_backend;

/// 2026-12-01 00:00 UTC.
const DEC_1: i64 = 20_788 * DAY_MS;

/// `db` reading its time from a manual clock set to `start`.
fn manual(db: Db, start: i64) -> (Db, ManualClock) {
    let (clock, hand) = Clock::manual(start);
    (Db { clock, ..db }, hand)
}

#[test]
fn days_are_utc_days_since_the_epoch() {
    assert_eq!(day_of(0), 0);
    assert_eq!(day_of(DAY_MS - 1), 0);
    assert_eq!(day_of(DAY_MS), 1);
    assert_eq!(day_of(-1), -1, "before the epoch rounds down, not to 0");
    assert_eq!(day_of(DEC_1 + 23 * HOUR_MS), 20_788);
    assert_eq!(date_of(0), "1970-01-01");
    assert_eq!(date_of(-1), "1969-12-31");
    assert_eq!(date_of(19_782), "2024-02-29");
    assert_eq!(date_of(19_783), "2024-03-01");
    assert_eq!(date_of(20_788), "2026-12-01");
    assert_eq!(month_of(20_788), "2026-12");
    assert_eq!(month_of(20_787), "2026-11");
    // Every day of four centuries maps to a valid date, each the day after the one before.
    let mut last = civil(-1);
    for day in 0..146_097 {
        let (y, m, d) = civil(day);
        assert!(
            (1..=12).contains(&m) && (1..=31).contains(&d),
            "{day}: {y}-{m}-{d}"
        );
        assert!((y, m, d) > last, "{day} follows {last:?}");
        last = (y, m, d);
    }
    assert_eq!(date_of(146_097), "2370-01-01");
}

#[test]
fn dense_fills_every_day_and_months_sum_their_days() {
    let row = |day, earned, spent| DayRow {
        day,
        earned,
        spent,
        ..DayRow::default()
    };
    let days = dense(20_786, 20_790, vec![row(20_787, 5, 1), row(20_789, 7, 0)]);
    assert_eq!(
        days.iter().map(|d| d.day).collect::<Vec<_>>(),
        (20_786..=20_790).collect::<Vec<_>>()
    );
    assert_eq!(
        days[0],
        DayRow {
            day: 20_786,
            ..DayRow::default()
        }
    );
    assert_eq!(days[1].earned, 5);
    assert_eq!(days[3].earned, 7);
    // 20_786 and 20_787 are in November, the rest in December.
    assert_eq!(
        months(&days),
        vec![("2026-11".to_string(), 5, 1), ("2026-12".to_string(), 7, 0)]
    );
    assert!(dense(5, 4, vec![]).is_empty());
}

#[tokio::test]
async fn the_sampler_adds_traffic_since_its_last_sample_per_day() {
    each_backend!(|db: Db| async move {
        let (db, hand) = manual(db, DEC_1 + 23 * HOUR_MS);
        assert_eq!(db.latest_run().await.unwrap(), None);
        let run = db.start_run().await.unwrap();
        assert_eq!(run, DEC_1 + 23 * HOUR_MS);
        let sample = |bytes_in, bytes_out, disk_used| Sample {
            bytes_in,
            bytes_out,
            disk_used,
            disk_free: Some(1_000_000 - disk_used),
            capacity: Some(5_000),
        };
        db.record_sample(run, &sample(100, 10, 4_000))
            .await
            .unwrap();
        hand.advance(Duration::from_secs(20 * 60));
        db.record_sample(run, &sample(130, 10, 4_100))
            .await
            .unwrap();
        // Past midnight: the day's bytes are the counters' growth since the last sample.
        hand.advance(Duration::from_secs(50 * 60));
        db.record_sample(run, &sample(250, 30, 4_200))
            .await
            .unwrap();
        let latest = db.latest_run().await.unwrap().unwrap();
        assert_eq!(
            (
                latest.started_at,
                latest.last_seen,
                latest.sampled_in,
                latest.sampled_out
            ),
            (run, DEC_1 + DAY_MS + 10 * 60_000, 250, 30)
        );
        // A restart: the counters begin at 0 again and only the new run's bytes are added.
        hand.advance(Duration::from_secs(60));
        let second = db.start_run().await.unwrap();
        assert!(second > run);
        db.record_sample(second, &sample(40, 5, 4_300))
            .await
            .unwrap();

        let days = db.history_days(20_788).await.unwrap();
        assert_eq!(days.len(), 2, "{days:?}");
        assert_eq!(
            (days[0].day, days[0].bytes_in, days[0].bytes_out),
            (20_788, 130, 10)
        );
        assert_eq!(days[0].disk_used, Some(4_100), "the day's latest sample");
        assert_eq!(days[0].disk_free, Some(1_000_000 - 4_100));
        assert_eq!(days[0].capacity, Some(5_000));
        assert_eq!(
            (days[1].day, days[1].bytes_in, days[1].bytes_out),
            (20_789, 160, 25)
        );
        assert_eq!(days[1].disk_used, Some(4_300));
        assert_eq!(db.traffic_totals().await.unwrap(), (290, 35));
        // A window starting later leaves the earlier day out.
        assert_eq!(db.history_days(20_789).await.unwrap().len(), 1);
        let samples: i64 =
            sqlx::query("SELECT CAST(SUM(samples) AS BIGINT) AS n FROM history_days")
                .fetch_one(db.pool())
                .await
                .unwrap()
                .try_get("n")
                .unwrap();
        assert_eq!(samples, 4);
        // Off a local disk and not a provider: the figures are absent, not 0.
        db.record_sample(
            second,
            &Sample {
                bytes_in: 40,
                bytes_out: 5,
                disk_used: 1,
                ..Sample::default()
            },
        )
        .await
        .unwrap();
        let today = db.history_days(20_789).await.unwrap();
        assert_eq!((today[0].disk_free, today[0].capacity), (None, None));
        assert_eq!(today[0].bytes_in, 160, "no new bytes, none added");
    });
}

async fn channel(db: &Db, id: &str, role: &str, paid: i64, state: &str, settled: Option<i64>) {
    sqlx::query(
        "INSERT INTO channels (id, role, peer, payer, payee, deposit, paid, seq, state, \
         open_signed, last_receipt, close_signed, settled, created_at, updated_at) \
         VALUES ($1, $2, 'peer', 'aa', 'bb', 1000000, $3, 0, $4, '00', NULL, NULL, $5, 0, $6)",
    )
    .bind(id)
    .bind(role)
    .bind(paid)
    .bind(state)
    .bind(settled)
    .bind(DEC_1)
    .execute(db.pool())
    .await
    .unwrap();
}

async fn receipt(db: &Db, channel: &str, seq: i64, amount: i64, stored_at: i64) {
    sqlx::query(
        "INSERT INTO receipts (channel, seq, amount, deal, at, signed, stored_at) \
         VALUES ($1, $2, $3, NULL, $4, '00', $4)",
    )
    .bind(channel)
    .bind(seq)
    .bind(amount)
    .bind(stored_at)
    .execute(db.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn earnings_and_spending_per_day_are_what_each_receipt_added() {
    each_backend!(|db: Db| async move {
        channel(&db, "in-1", "payee", 70, "open", None).await;
        channel(&db, "in-2", "payee", 500, "closed", Some(500)).await;
        channel(&db, "out-1", "payer", 9, "open", None).await;
        // Cumulative amounts: 10, 25, 70 on one channel over two days.
        receipt(&db, "in-1", 1, 10, DEC_1 + HOUR_MS).await;
        receipt(&db, "in-1", 2, 25, DEC_1 + 2 * HOUR_MS).await;
        receipt(&db, "in-1", 3, 70, DEC_1 + DAY_MS).await;
        receipt(&db, "in-2", 1, 500, DEC_1 + DAY_MS + 1).await;
        receipt(&db, "out-1", 1, 4, DEC_1 - 1).await;
        receipt(&db, "out-1", 2, 9, DEC_1 + 3 * DAY_MS).await;
        let days = db.history_days(20_787).await.unwrap();
        let got: Vec<_> = days.iter().map(|d| (d.day, d.earned, d.spent)).collect();
        assert_eq!(
            got,
            vec![
                (20_787, 0, 4),
                (20_788, 25, 0),
                (20_789, 545, 0),
                (20_791, 0, 5)
            ]
        );
        // The days add up to the channels' totals.
        let earned: u64 = days.iter().map(|d| d.earned).sum();
        assert_eq!(earned, 70 + 500);
        assert_eq!(days.iter().map(|d| d.spent).sum::<u64>(), 9);
        // The window leaves out the day before it.
        assert_eq!(db.history_days(20_788).await.unwrap()[0].day, 20_788);

        // Payouts: the settled ledger channel, then claims on chain.
        let payouts = db.payouts(10).await.unwrap();
        assert_eq!((payouts.count, payouts.total), (1, 500));
        assert_eq!(payouts.recent[0].kind, "settlement");
        assert_eq!(payouts.recent[0].tx, None);
        for i in 0..3u64 {
            db.record_payout(&format!("0xtx{i}"), "in-1", 20 + i)
                .await
                .unwrap();
        }
        db.record_payout("0xtx0", "in-1", 20).await.unwrap();
        let payouts = db.payouts(2).await.unwrap();
        assert_eq!((payouts.count, payouts.total), (4, 500 + 20 + 21 + 22));
        assert_eq!(payouts.recent.len(), 2, "at most the limit");
        assert_eq!(payouts.recent[0].kind, "claim");
        assert!(payouts.recent[0].tx.as_deref().unwrap().starts_with("0xtx"));
    });
}

#[tokio::test]
async fn the_provider_s_answers_count_per_day_and_per_hour() {
    each_backend!(|db: Db| async move {
        let challenge = |id: usize, role: &'static str, outcome: &'static str, at: i64| {
            let db = db.clone();
            async move {
                sqlx::query(
                    "INSERT INTO challenges (id, role, peer, piece_root, piece_size, period, \
                     samples, issued_at, deadline, answered_at, outcome, reason, latency_ms, \
                     proof_bytes) VALUES ($1, $2, 'p', 'r', 1, $3, 1, $4, $4, NULL, $5, NULL, \
                     NULL, NULL)",
                )
                .bind(format!("{role}-{id}"))
                .bind(role)
                .bind(id as i64)
                .bind(at)
                .bind(outcome)
                .execute(db.pool())
                .await
                .unwrap();
            }
        };
        assert_eq!(db.prover_totals(0).await.unwrap(), ProverTotals::default());
        // 150 answers in hour 0 and 1 of Dec 1 (more than any API page), 2 rejected on Dec 2.
        for i in 0..150 {
            challenge(
                i,
                "prover",
                "answered",
                DEC_1 + (i as i64 % 2) * HOUR_MS + 1,
            )
            .await;
        }
        challenge(900, "prover", "rejected", DEC_1 + DAY_MS).await;
        challenge(901, "prover", "rejected", DEC_1 + DAY_MS + 5).await;
        // This node's audits of its own providers are not its record as a provider.
        challenge(902, "verifier", "passed", DEC_1).await;
        let totals = db.prover_totals(DEC_1).await.unwrap();
        assert_eq!(totals.answered, 150);
        assert_eq!(totals.rejected, 2);
        assert_eq!(totals.hours_answered, 2);
        assert_eq!(totals.first_at, Some(DEC_1 + 1));
        assert_eq!(db.prover_totals(DEC_1 + DAY_MS).await.unwrap().answered, 0);
        let days = db.history_days(20_788).await.unwrap();
        assert_eq!((days[0].answered, days[0].rejected), (150, 0));
        assert_eq!((days[1].answered, days[1].rejected), (0, 2));
    });
}
