//! Payments between real daemons on 127.0.0.1: storage paid per passed challenge period with
//! receipts anyone can verify offline, retrieval paid per byte with a payer who stops paying
//! cut off at the threshold, bad receipts refused over the wire, and an acknowledged receipt
//! that survives a restart.

mod common;

use std::time::Duration;

use cairn::amount::Amount;
use cairn::pay::wire::{PayRequest, PayResponse};
use cairn::pay::Receipt;
use cairn::signed::Signed;
use common::{bytes, eventually, json, ok, TestNode};

/// A command's raw stdout, after checking it succeeded.
fn ok_bytes(output: &std::process::Output) -> Vec<u8> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout.clone()
}

/// A client that accepts the high prices these tests ask (above the default cap), so their
/// payments are large enough to count.
fn pricey_client(config: &mut cairn::config::Config) {
    config.pay.max_price_per_gib_month = 1 << 62;
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_is_paid_per_passed_period_and_the_receipts_verify_offline() {
    let provider = TestNode::start().await;
    // About 18 000 base units for a 2.5 MB piece kept 20 s.
    provider.set_ask("1000000000000", "0");
    let client = TestNode::start_with(pricey_client).await;
    let cid = client.add_cid(bytes(2_500_000, 7), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "20s", Some("1s")));
    assert_eq!(deal["state"], "active", "{deal}");

    // The deal opened a channel whose deposit is the deal's price; passed periods are paid.
    let paid_some = eventually(Duration::from_secs(15), || {
        provider.channel("payee")["paid"].as_u64().unwrap_or(0) >= 2 * 800
    })
    .await;
    assert!(paid_some, "{}", provider.channel("payee"));
    let id = client.channel("payer")["id"].as_str().unwrap().to_string();
    assert_eq!(provider.channel("payee")["id"], id.as_str());
    // Each side's view of the deal says what it was paid / earned so far.
    let deal_id = deal["id"].as_str().unwrap();
    let earned = json(&provider.cli(&["provider", "deals", "--json"]))["deals"][0]["paid"]
        .as_u64()
        .unwrap();
    assert!(earned >= 1600);
    let human = ok(&provider.cli(&["provider", "deals"]));
    assert!(
        human.contains("EARNED") && human.contains(deal_id),
        "{human}"
    );

    // The provider's receipts, exported, verify offline and add up to what it was paid.
    let car = provider.dir.path().join("receipts.car");
    ok(&provider.cli(&["pay", "receipts", &id, "--export", car.to_str().unwrap()]));
    let report = json(&provider.cli(&["pay", "verify", car.to_str().unwrap(), "--json"]));
    assert_eq!(report["valid"], true);
    assert_eq!(report["channel"], id.as_str());
    let exported_total = report["total"].as_u64().unwrap();
    assert!(exported_total >= 1600);

    // One flipped byte in the archive and verification fails, with a reason.
    let mut tampered = std::fs::read(&car).unwrap();
    let last = tampered.len() - 3;
    tampered[last] ^= 1;
    let bad = provider.dir.path().join("tampered.car");
    std::fs::write(&bad, tampered).unwrap();
    let refused = provider.cli(&["pay", "verify", bad.to_str().unwrap()]);
    assert!(!refused.status.success());

    // Closing settles at the highest receipt the provider holds; nothing is paid after.
    let closed = json(&client.cli(&["pay", "channel", "close", &id, "--json"]));
    assert_eq!(closed["state"], "closed");
    let payee = provider.channel("payee");
    assert_eq!(payee["state"], "closed");
    assert_eq!(closed["settled"], payee["paid"]);
    assert_eq!(payee["settled"], payee["paid"]);
    let balance = json(&provider.cli(&["balance", "--json"]));
    assert_eq!(balance["peers"][0]["earned"], payee["paid"]);
    provider.stop().await;
    client.stop().await;
}

async fn retrieval_pair(client_deposit: u64) -> (TestNode, TestNode, String) {
    let provider = TestNode::start_with(|c| {
        c.pay.free_bytes = 1 << 20;
        c.pay.payment_threshold = 100;
        c.pay.disconnect_threshold = 2_000;
    })
    .await;
    // 1 000 000 per GiB: about 977 per MiB beyond the free MiB.
    provider.set_ask("1000", "1000000");
    let client = TestNode::start_with(|c| c.pay.retrieval_deposit = client_deposit).await;
    let cid = provider.add_cid(bytes(6 << 20, 9), "").await;
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    (provider, client, cid)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paying_client_downloads_and_its_payments_cover_what_it_received() {
    let (provider, client, cid) = retrieval_pair(100_000).await;
    // Past the disconnect threshold blocks are withheld until the invoice is paid, then sent:
    // the client's node pays on its own and the download completes in one go.
    let fetched = client.cli(&["cat", &cid]);
    assert_eq!(
        common::sha256_hex(&ok_bytes(&fetched)),
        common::sha256_hex(&bytes(6 << 20, 9))
    );
    let settled = eventually(Duration::from_secs(10), || {
        let b = json(&provider.cli(&["balance", "--json"]));
        b["peers"][0]["earned"].as_u64().unwrap_or(0) > 0
            && b["peers"][0]["owed_to_us"].as_u64().unwrap_or(u64::MAX) < 100
    })
    .await;
    let earned = json(&provider.cli(&["balance", "--json"]));
    assert!(settled, "{earned}");
    let spent = json(&client.cli(&["balance", "--json"]));
    assert_eq!(spent["peers"][0]["spent"], earned["peers"][0]["earned"]);
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_does_not_pay_is_cut_off_at_the_threshold() {
    let (provider, client, cid) = retrieval_pair(0).await;
    let out = client.cli(&["cat", &cid]);
    assert!(!out.status.success(), "the whole file was served unpaid");
    let served: u64 = provider
        .daemon
        .node()
        .pay()
        .meter()
        .snapshot()
        .iter()
        .map(|(_, bytes, _)| *bytes)
        .sum();
    // Free MiB + 2 000 units at ~977 per MiB + at most one more block.
    assert!(served <= (1 << 20) + 2_100 * 1099 + (1 << 20), "{served}");
    assert!(served < 6 << 20);
    let balance = json(&provider.cli(&["balance", "--json"]));
    assert!(balance["peers"][0]["owed_to_us"].as_u64().unwrap() >= 2_000);
    provider.stop().await;
    client.stop().await;
}

/// A's node signs `receipt` (or `key` does) and sends it to B; returns B's status.
async fn send(a: &TestNode, b: &TestNode, receipt: Signed<Receipt>) -> String {
    let net = a.daemon.node().net().running().unwrap();
    let request = PayRequest::Pay(vec![receipt]);
    match net
        .pay(b.daemon.node().peer_id(), &request, Duration::from_secs(5))
        .await
        .unwrap()
    {
        PayResponse::Acks(acks) => acks[0].status.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

fn receipt(channel: &str, a: &TestNode, b: &TestNode, amount: u64, seq: u64) -> Receipt {
    Receipt {
        channel: channel.parse().unwrap(),
        payer: a.daemon.node().key().verifying_key().to_bytes(),
        payee: b.daemon.node().key().verifying_key().to_bytes(),
        amount: Amount(amount),
        seq,
        deal: None,
        at: 1,
        voucher: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_receipts_are_refused_and_an_acknowledged_one_survives_a_restart() {
    let a = TestNode::start().await;
    let b = TestNode::start().await;
    let b_id = b.daemon.node().peer_id().to_string();
    ok(&a.cli(&["swarm", "connect", &b.tcp_addr()]));
    let opened = json(&a.cli(&[
        "pay",
        "channel",
        "open",
        &b_id,
        "--deposit",
        "1000",
        "--json",
    ]));
    let id = opened["id"].as_str().unwrap().to_string();
    let key = &a.daemon.node().key();
    let sign = |r: Receipt| Signed::sign(r, key).unwrap();

    let mut forged = sign(receipt(&id, &a, &b, 10, 1));
    forged.payload.amount = Amount(900);
    assert_eq!(send(&a, &b, forged).await, "bad_signature");
    assert_eq!(
        send(&a, &b, sign(receipt(&id, &a, &b, 1001, 1))).await,
        "over_deposit"
    );
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let by_stranger = Signed::sign(receipt(&id, &a, &b, 10, 1), &stranger).unwrap();
    assert_eq!(send(&a, &b, by_stranger).await, "wrong_signer");
    let mut elsewhere = receipt(&id, &a, &b, 10, 1);
    elsewhere.payee = [7; 32];
    assert_eq!(send(&a, &b, sign(elsewhere)).await, "wrong_payee");

    let good = sign(receipt(&id, &a, &b, 300, 1));
    assert_eq!(send(&a, &b, good.clone()).await, "stored");
    assert_eq!(
        send(&a, &b, sign(receipt(&id, &a, &b, 200, 2))).await,
        "not_increasing"
    );
    assert_eq!(
        send(&a, &b, sign(receipt(&id, &a, &b, 400, 1))).await,
        "replayed"
    );
    let u64_max = sign(receipt(&id, &a, &b, u64::MAX, 2));
    assert_eq!(send(&a, &b, u64_max).await, "over_deposit");

    // Only the good receipt was kept.
    let history = b.daemon.node().db().receipts(&id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(b.channel("payee")["paid"], 300);

    // After a restart the acknowledged receipt is there, and a payer's retry of it (as after
    // a crash before the acknowledgement reached it) is answered as a duplicate.
    let b = b.restart().await;
    ok(&a.cli(&["swarm", "connect", &b.tcp_addr()]));
    assert_eq!(b.channel("payee")["paid"], 300);
    assert_eq!(send(&a, &b, good).await, "duplicate");
    assert_eq!(b.daemon.node().db().receipts(&id).await.unwrap().len(), 1);

    // The CLI refuses what it cannot do, with a message and a non-zero exit.
    for args in [
        vec!["pay", "channel", "open", "not-a-peer", "--deposit", "10"],
        vec!["pay", "channel", "open", &b_id, "--deposit", "0"],
        vec!["pay", "channel", "close", "bafyreiunknownchannel"],
        vec!["pay", "receipts", "bafyreiunknownchannel"],
        vec!["pay", "verify", "/nonexistent/receipts.car"],
    ] {
        let out = a.cli(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!out.stderr.is_empty(), "{args:?} said nothing");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_deal_is_funded_by_deposit_not_yet_set_aside_for_another() {
    let provider = TestNode::start().await;
    provider.set_ask("1000000000000", "0");
    let client = TestNode::start_with(pricey_client).await;
    for seed in [11, 12] {
        let cid = client.add_cid(bytes(1_000_000, seed), "").await;
        let deal = json(&client.make_deal(&cid, &provider, "60s", Some("30s")));
        assert_eq!(deal["state"], "active", "{deal}");
    }
    // The first channel's deposit is the first deal's price, all of it still owed: the second
    // deal needed a channel of its own.
    let list = json(&client.cli(&["pay", "channels", "--json"]));
    let channels = list["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 2, "{list}");
    assert!(channels.iter().all(|c| c["role"] == "payer"));
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_cancels_a_deal_whose_client_stops_paying() {
    // Both nodes read one manual clock: hourly periods, with the test moving time an hour per
    // look instead of waiting for it.
    let (clock, hand) = cairn::clock::Clock::manual_now();
    let provider = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    provider.set_ask("1000000000000", "0");
    let client = TestNode::start_with_clock(clock, pricey_client).await;
    let cid = client.add_cid(bytes(2_000_000, 13), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "30d", Some("1h")));
    assert_eq!(deal["state"], "active", "{deal}");
    assert!(
        eventually(Duration::from_secs(10), || {
            provider.channel("payee")["paid"].as_u64().unwrap_or(0) > 0
        })
        .await
    );
    // Paying well, the deal stays; once the client closes its channel, payments fail while
    // the provider keeps proving, and past the allowance the provider lets the deal go.
    let id = client.channel("payer")["id"].as_str().unwrap().to_string();
    ok(&client.cli(&["pay", "channel", "close", &id]));
    let cancelled = eventually(Duration::from_secs(30), || {
        hand.advance(Duration::from_secs(3600));
        json(&provider.cli(&["provider", "deals", "--json"]))["deals"][0]["state"] == "cancelled"
    })
    .await;
    let deals = json(&provider.cli(&["provider", "deals", "--json"]));
    assert!(cancelled, "{deals}");
    let events = deals["deals"][0]["events"].as_array().unwrap();
    let last = events.last().unwrap()["reason"].as_str().unwrap();
    assert!(last.starts_with("unpaid:"), "{last}");
    assert_eq!(
        provider
            .daemon
            .node()
            .db()
            .reserved_capacity()
            .await
            .unwrap(),
        0
    );
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passed_period_left_unpaid_by_a_crash_is_paid_on_a_later_pass() {
    let (clock, hand) = cairn::clock::Clock::manual_now();
    let provider = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    provider.set_ask("1000000000000", "0");
    let client = TestNode::start_with_clock(clock.clone(), pricey_client).await;
    let cid = client.add_cid(bytes(2_000_000, 14), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "30d", Some("1h")));
    assert_eq!(deal["state"], "active", "{deal}");
    let id = deal["id"].as_str().unwrap().to_string();
    let db = client.daemon.node().db().clone();
    let first = eventually(Duration::from_secs(10), || {
        provider.channel("payee")["paid"].as_u64().unwrap_or(0) > 0
    })
    .await;
    assert!(first, "the first period is paid");
    let per_period = provider.channel("payee")["paid"].as_u64().unwrap();

    // The client crashed between a passed challenge and its payment: the challenge is
    // recorded as passed (the audit writes it first), the payment never went out. It is
    // recorded an hour ahead before the clock moves there, so no real challenge falls due.
    let row = db.get_deal(&id).await.unwrap().unwrap();
    let at = clock.now_ms() + 3_600_000;
    let mut passed = db.challenges_for(&row.piece_root).await.unwrap()[0].clone();
    passed.id = format!("{:064x}", 7);
    passed.issued_at = at;
    passed.answered_at = Some(at);
    passed.deadline = at + 30_000;
    db.record_challenge(&passed).await.unwrap();
    hand.advance(Duration::from_secs(3600));
    let unpaid_period = db.storage_payments(&id).await.unwrap().len();
    assert_eq!(unpaid_period, 1, "only the first period is paid so far");

    // A later pass pays it, once.
    let paid_twice = eventually(Duration::from_secs(20), || {
        provider.channel("payee")["paid"].as_u64().unwrap_or(0) >= 2 * per_period
    })
    .await;
    assert!(paid_twice, "{}", provider.channel("payee"));
    let payments = db.storage_payments(&id).await.unwrap();
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert_eq!(payments[1].period, payments[0].period + 1);
    assert_eq!(
        provider.channel("payee")["paid"].as_u64().unwrap(),
        2 * per_period
    );
    provider.stop().await;
    client.stop().await;
}
