//! Storage deals between two daemons: a client proposes at the provider's ask, the provider
//! pulls the DAG, checks its piece and activates; the client then challenges every period,
//! and both sides expire the deal at its end. Proposals the provider must refuse are refused
//! with their reason, and a refused deal holds no capacity.

mod common;

use std::time::Duration;

use common::{bytes, eventually, json, ok, TestNode};

async fn provider(capacity: &str) -> TestNode {
    provider_on(cairn::clock::Clock::system(), capacity).await
}

async fn provider_on(clock: cairn::clock::Clock, capacity: &str) -> TestNode {
    let node = TestNode::start_with_clock(clock, |_| {}).await;
    ok(&node.cli(&[
        "provider",
        "ask",
        "set",
        "--price-per-gib-month",
        "1000",
        "--min-duration",
        "1s",
        "--max-duration",
        "365d",
        "--max-piece",
        "1GiB",
        "--capacity",
        capacity,
        "--min-challenge-period",
        "1s",
    ]));
    node
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deal_is_activated_challenged_every_period_and_expires() {
    // Both nodes read one manual clock: a day-long deal with hourly challenges runs in
    // seconds, because the test moves time instead of waiting for it.
    let (clock, hand) = cairn::clock::Clock::manual_now();
    let provider = provider_on(clock.clone(), "1GiB").await;
    let client = TestNode::start_with_clock(clock, |_| {}).await;
    let cid = client.add_cid(bytes(2_500_000, 61), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "1d", Some("1h")));
    assert_eq!(deal["state"], "active", "{deal}");
    let id = deal["id"].as_str().unwrap().to_string();
    let states: Vec<&str> = deal["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["accepted", "active"]);

    let held = json(&provider.cli(&["provider", "deals", "--json"]));
    assert_eq!(held["deals"][0]["id"], id.as_str());
    assert_eq!(held["deals"][0]["state"], "active");
    let steps: Vec<&str> = held["deals"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["accepted", "transferring", "active"]);

    // The client's node challenges the provider each period, on its own: the first at once,
    // the next when the clock has moved an hour.
    hand.advance(Duration::from_secs(3600));
    let passed = eventually(Duration::from_secs(8), || {
        json(&client.cli(&["deal", "show", &id, "--json"]))["proofs_passed"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    })
    .await;
    assert!(passed, "a challenge passed within a few periods");

    // At the end of its term the deal expires on both sides and the provider lets go of it.
    let active = json(&client.cli(&["deal", "show", &id, "--json"]));
    assert_eq!(active["state"], "active", "not before its end: {active}");
    hand.advance(Duration::from_secs(24 * 3600));
    let expired = eventually(Duration::from_secs(10), || {
        json(&client.cli(&["deal", "show", &id, "--json"]))["state"] == "expired"
            && json(&provider.cli(&["provider", "deals", "--json"]))["deals"][0]["state"]
                == "expired"
    })
    .await;
    assert!(expired);
    assert!(json(&provider.cli(&["pin", "ls", "--json"]))["pins"]
        .as_array()
        .unwrap()
        .is_empty());
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
async fn refused_proposals_say_why_and_hold_no_capacity() {
    let small = provider("1MiB").await;
    let client = TestNode::start().await;
    let cid = client.add_cid(bytes(2_000_000, 62), "").await;
    let addr = small.tcp_addr();

    let too_big = client.cli(&[
        "deal",
        "make",
        &cid,
        "--provider",
        &addr,
        "--duration",
        "1h",
    ]);
    assert!(!too_big.status.success());
    assert!(
        String::from_utf8_lossy(&too_big.stderr).contains("over_capacity"),
        "{}",
        String::from_utf8_lossy(&too_big.stderr)
    );

    let too_dear = client.cli(&[
        "deal",
        "make",
        &cid,
        "--provider",
        &addr,
        "--duration",
        "1h",
        "--max-price",
        "10",
    ]);
    assert!(String::from_utf8_lossy(&too_dear.stderr).contains("price_too_high"));

    let too_long = client.cli(&[
        "deal",
        "make",
        &cid,
        "--provider",
        &addr,
        "--duration",
        "400d",
    ]);
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("duration_out_of_range"));

    let idle = TestNode::start().await;
    let no_ask = client.cli(&[
        "deal",
        "make",
        &cid,
        "--provider",
        &idle.tcp_addr(),
        "--duration",
        "1h",
    ]);
    assert!(String::from_utf8_lossy(&no_ask.stderr).contains("no_ask"));

    assert!(json(&small.cli(&["provider", "deals", "--json"]))["deals"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        small.daemon.node().db().reserved_capacity().await.unwrap(),
        0
    );
    assert!(json(&client.cli(&["deal", "list", "--json"]))["deals"]
        .as_array()
        .unwrap()
        .is_empty());
    for node in [small, client, idle] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_piece_root_fails_the_deal_and_a_forged_proposal_is_refused() {
    use cairn::amount::Amount;
    use cairn::market::wire::{MarketRequest, MarketResponse};
    use cairn::market::DealProposal;
    use cairn::signed::Signed;

    let provider = provider("1GiB").await;
    let client = TestNode::start().await;
    let cid = client.add_cid(bytes(1_500_000, 63), "").await;
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    let node = &client.daemon.node();
    let net = node.net().running().unwrap();
    let peer = provider.daemon.node().peer_id();
    let timeout = Duration::from_secs(10);
    let MarketResponse::Ask(ask) = net
        .market(peer, &MarketRequest::GetAsk, timeout)
        .await
        .unwrap()
    else {
        panic!("the provider has an ask")
    };
    let proposal = DealProposal {
        client: node.key().verifying_key().to_bytes(),
        provider: ask.signer,
        root: cairn::content::parse_cid(&cid).unwrap(),
        piece_root: [7; 32],
        piece_size: 1_500_200,
        start: cairn::clock::Clock::system().now_ms() as u64,
        duration_secs: 3600,
        price_per_gib_month: Amount(1000),
        challenge_period_secs: 60,
        samples_per_challenge: 20,
        payment_channel: None,
        origins: vec![],
    };

    // A paid deal without a payment channel to the provider: refused.
    let unfunded = Signed::sign(proposal.clone(), node.key()).unwrap();
    let refused = net
        .market(peer, &MarketRequest::Propose(Box::new(unfunded)), timeout)
        .await
        .unwrap();
    assert!(
        matches!(&refused, MarketResponse::Rejected { reason, .. } if reason == "unfunded"),
        "{refused:?}"
    );
    let channel = node.pay().open_channel(peer, 1000).await.unwrap();
    let proposal = DealProposal {
        payment_channel: Some(channel.id),
        ..proposal
    };

    // Signed by another key in this client's name: refused before anything is recorded.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let forged = Signed::sign(proposal.clone(), &stranger).unwrap();
    let refused = net
        .market(peer, &MarketRequest::Propose(Box::new(forged)), timeout)
        .await
        .unwrap();
    assert!(
        matches!(&refused, MarketResponse::Rejected { reason, .. } if reason == "wrong_signer"),
        "{refused:?}"
    );

    // Honestly signed but for a piece the DAG does not make: accepted, pulled, then failed.
    let signed = Signed::sign(proposal, node.key()).unwrap();
    let id = signed.deal_id().unwrap().to_string();
    let accepted = net
        .market(peer, &MarketRequest::Propose(Box::new(signed)), timeout)
        .await
        .unwrap();
    assert!(
        matches!(accepted, MarketResponse::Accepted(_)),
        "{accepted:?}"
    );
    let db = provider.daemon.node().db().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let row = db.get_deal(&id).await.unwrap().unwrap();
        if row.state == cairn::market::DealState::Failed || tokio::time::Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.state, cairn::market::DealState::Failed);
    let reason = db
        .deal_events(&id)
        .await
        .unwrap()
        .last()
        .unwrap()
        .reason
        .clone()
        .unwrap();
    assert!(reason.contains("piece mismatch"), "{reason}");
    assert_eq!(
        db.reserved_capacity().await.unwrap(),
        0,
        "a failed deal holds no capacity"
    );
    assert!(
        db.list_pins().await.unwrap().is_empty(),
        "the pulled data is let go"
    );
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_provider_keeps_its_deals_and_capacity_exact() {
    let provider = provider("1GiB").await;
    let client = TestNode::start().await;
    let cid = client.add_cid(bytes(1_200_000, 64), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "1h", Some("1s")));
    assert_eq!(deal["state"], "active");
    let id = deal["id"].as_str().unwrap().to_string();
    let reserved = provider
        .daemon
        .node()
        .db()
        .reserved_capacity()
        .await
        .unwrap();
    assert!(reserved > 1_200_000);

    let provider = provider.restart().await;
    assert_eq!(
        provider
            .daemon
            .node()
            .db()
            .reserved_capacity()
            .await
            .unwrap(),
        reserved
    );
    assert_eq!(
        json(&provider.cli(&["provider", "deals", "--json"]))["deals"][0]["state"],
        "active"
    );
    // The provider came back on new ports; once the client reaches it, proofs pass again.
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    let before = json(&client.cli(&["deal", "show", &id, "--json"]))["proofs_passed"]
        .as_u64()
        .unwrap();
    let passed_again = eventually(Duration::from_secs(8), || {
        json(&client.cli(&["deal", "show", &id, "--json"]))["proofs_passed"]
            .as_u64()
            .unwrap()
            > before
    })
    .await;
    assert!(passed_again, "challenges pass after the provider's restart");
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_vanishes_mid_transfer_leaves_a_failed_deal_and_no_reservation() {
    use cairn::market::wire::{MarketRequest, MarketResponse};
    let provider = provider("1GiB").await;
    let client = TestNode::start().await;
    let cid = client.add_cid(bytes(3_000_000, 65), "").await;
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    let node = client.daemon.node().clone();
    let piece = node
        .content()
        .piece_commit(&cairn::content::parse_cid(&cid).unwrap())
        .await
        .unwrap();
    let net = node.net().running().unwrap().clone();
    let peer = provider.daemon.node().peer_id();
    let MarketResponse::Ask(ask) = net
        .market(peer, &MarketRequest::GetAsk, Duration::from_secs(10))
        .await
        .unwrap()
    else {
        panic!("ask")
    };
    let proposal = cairn::market::DealProposal {
        client: node.key().verifying_key().to_bytes(),
        provider: ask.signer,
        root: cairn::content::parse_cid(&cid).unwrap(),
        piece_root: piece.root,
        piece_size: piece.size,
        start: cairn::clock::Clock::system().now_ms() as u64,
        duration_secs: 3600,
        price_per_gib_month: ask.payload.price_per_gib_month,
        challenge_period_secs: 60,
        samples_per_challenge: 20,
        payment_channel: Some(node.pay().open_channel(peer, 1000).await.unwrap().id),
        origins: vec![],
    };
    let signed = cairn::signed::Signed::sign(proposal, node.key()).unwrap();
    let id = signed.deal_id().unwrap().to_string();
    // Propose and vanish at once: the provider is left with nobody to pull from.
    let request = MarketRequest::Propose(Box::new(signed));
    let answered = net
        .market(peer, &request, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(matches!(answered, MarketResponse::Accepted(_)));
    client.stop().await;

    let db = provider.daemon.node().db().clone();
    // The provider pulls again on its retry schedule (six pulls, about 30 s of pauses besides
    // each pull's own timeouts) before it gives the deal up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let row = db.get_deal(&id).await.unwrap().unwrap();
        if row.state == cairn::market::DealState::Failed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deal fails once the client is gone: {:?}",
            row.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = db
        .deal_events(&id)
        .await
        .unwrap()
        .last()
        .unwrap()
        .reason
        .clone()
        .unwrap();
    assert!(!reason.is_empty());
    assert_eq!(db.reserved_capacity().await.unwrap(), 0);
    provider.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_refuses_denied_clients_and_those_not_on_its_allow_list() {
    let provider = TestNode::start().await;
    let client = TestNode::start().await;
    let other = TestNode::start().await;
    let cid = client.add_cid(bytes(500_000, 66), "").await;
    let ask = |list: &str, peer: &str| {
        provider.cli(&[
            "provider",
            "ask",
            "set",
            "--price-per-gib-month",
            "1",
            "--min-duration",
            "1s",
            "--max-duration",
            "1d",
            "--max-piece",
            "1GiB",
            "--capacity",
            "1GiB",
            list,
            peer,
        ])
    };
    assert!(
        !ask("--deny", "not-a-peer-id").status.success(),
        "an unreadable peer id is refused"
    );
    ok(&ask("--deny", &client.daemon.info.id));
    let denied = client.cli(&[
        "deal",
        "make",
        &cid,
        "--provider",
        &provider.tcp_addr(),
        "--duration",
        "1h",
    ]);
    assert!(String::from_utf8_lossy(&denied.stderr).contains("client_denied"));

    ok(&ask("--allow", &other.daemon.info.id));
    let not_allowed = client.cli(&[
        "deal",
        "make",
        &cid,
        "--provider",
        &provider.tcp_addr(),
        "--duration",
        "1h",
    ]);
    assert!(String::from_utf8_lossy(&not_allowed.stderr).contains("client_denied"));

    ok(&ask("--allow", &client.daemon.info.id));
    let deal = json(&client.make_deal(&cid, &provider, "1h", None));
    assert_eq!(deal["state"], "active");
    for node in [provider, client, other] {
        node.stop().await;
    }
}

/// Nobody connects by hand: a client whose challenges found its provider down redials it
/// once it is back on its address, and a client restarted on new ports redials its provider
/// from the addresses it saved, so challenges pass again in both cases.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_redials_its_provider_after_either_side_restarts() {
    let provider = provider("1GiB").await;
    let client = TestNode::start().await;
    let cid = client.add_cid(bytes(1_100_000, 71), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "1h", Some("1s")));
    assert_eq!(deal["state"], "active", "{deal}");
    let id = deal["id"].as_str().unwrap().to_string();
    let peer = provider.daemon.node().peer_id().to_string();
    let passed = |client: &TestNode| {
        json(&client.cli(&["deal", "show", &id, "--json"]))["proofs_passed"]
            .as_u64()
            .unwrap()
    };

    // The provider goes away; the client's next challenges find nobody (its dials fail, which
    // made libp2p's own caches forget the address).
    let data = provider.daemon.node().data().clone();
    let addr = provider.tcp_addr();
    provider.keep_tcp_port();
    let TestNode {
        daemon,
        dir,
        http,
        s3,
    } = provider;
    daemon.stop().await;
    let db = client.daemon.node().db().clone();
    let mut unreachable = false;
    for _ in 0..100 {
        let history = db.provider_history(&peer, 20).await.unwrap();
        if history.iter().any(|o| o == "unreachable") {
            unreachable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(unreachable, "a challenge found the provider down");
    let provider = TestNode {
        daemon: cairn::node::Daemon::start(data).await.unwrap(),
        dir,
        http,
        s3,
    };
    assert_eq!(provider.tcp_addr(), addr);
    let before = passed(&client);
    let back = eventually(Duration::from_secs(20), || passed(&client) > before).await;
    assert!(
        back,
        "challenges pass again once the provider is back on its address"
    );

    // The client restarts on new ports: only its saved addresses lead it to the provider.
    let client = client.restart().await;
    let before = passed(&client);
    let back = eventually(Duration::from_secs(20), || passed(&client) > before).await;
    assert!(
        back,
        "a restarted client redials its provider from the saved addresses"
    );
    provider.stop().await;
    client.stop().await;
}

/// A deal recorded as `accepted` or `transferring` when its provider stopped is picked up
/// again when the provider starts: it ends active (or failed, never stuck), and capacity
/// stays exact throughout.
#[tokio::test(flavor = "multi_thread")]
async fn a_provider_restarted_before_or_during_a_transfer_finishes_the_deal() {
    use cairn::market::wire::{MarketRequest, MarketResponse};
    use cairn::market::{DealProposal, DealState};
    use cairn::signed::Signed;

    let mut provider = provider("1GiB").await;
    let client = TestNode::start().await;
    for (seed, interrupted) in [(67u64, DealState::Accepted), (68, DealState::Transferring)] {
        let cid = client.add_cid(bytes(900_000, seed), "").await;
        ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
        let node = client.daemon.node().clone();
        let root = cairn::content::parse_cid(&cid).unwrap();
        let piece = node.content().piece_commit(&root).await.unwrap();
        let net = node.net().running().unwrap().clone();
        let peer = provider.daemon.node().peer_id();
        let MarketResponse::Ask(ask) = net
            .market(peer, &MarketRequest::GetAsk, Duration::from_secs(10))
            .await
            .unwrap()
        else {
            panic!("ask")
        };
        let proposal = DealProposal {
            client: node.key().verifying_key().to_bytes(),
            provider: ask.signer,
            root,
            piece_root: piece.root,
            piece_size: piece.size,
            start: cairn::clock::Clock::system().now_ms() as u64,
            duration_secs: 3600,
            price_per_gib_month: ask.payload.price_per_gib_month,
            challenge_period_secs: 3600,
            samples_per_challenge: 20,
            payment_channel: None,
            origins: vec![client.tcp_addr()],
        };
        let signed = Signed::sign(proposal, node.key()).unwrap();
        let id = signed.deal_id().unwrap().to_string();
        // The provider's record as a crash left it: the deal taken, the transfer unfinished.
        let row = cairn::db::DealRow {
            id: id.clone(),
            role: "provider".into(),
            peer: client.daemon.node().peer_id().to_string(),
            root_cid: cid.clone(),
            piece_root: hex::encode(piece.root),
            piece_size: piece.size,
            proposal: hex::encode(signed.to_bytes().unwrap()),
            acceptance: None,
            state: interrupted,
            created_at: cairn::clock::Clock::system().now_ms(),
            updated_at: cairn::clock::Clock::system().now_ms(),
        };
        provider
            .daemon
            .node()
            .db()
            .insert_deal(&row, "left by a crash")
            .await
            .unwrap();
        let reserved = provider
            .daemon
            .node()
            .db()
            .reserved_capacity()
            .await
            .unwrap();

        provider = provider.restart().await;
        assert_eq!(
            provider
                .daemon
                .node()
                .db()
                .reserved_capacity()
                .await
                .unwrap(),
            reserved,
            "{interrupted:?}"
        );
        let db = provider.daemon.node().db().clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        let state = loop {
            let state = db.get_deal(&id).await.unwrap().unwrap().state;
            if state.is_final()
                || state == DealState::Active
                || tokio::time::Instant::now() > deadline
            {
                break state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            state,
            DealState::Active,
            "a deal left {interrupted:?} by a restart is finished"
        );
    }
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deal_the_client_cancels_is_released_by_the_provider_and_a_forged_cancel_is_refused() {
    use cairn::market::wire::{MarketRequest, MarketResponse};
    use cairn::market::DealCancel;
    use cairn::signed::Signed;

    let provider = provider("1GiB").await;
    let client = TestNode::start().await;
    let cid = client.add_cid(bytes(1_200_000, 67), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "1h", None));
    assert_eq!(deal["state"], "active", "{deal}");
    let id = deal["id"].as_str().unwrap().to_string();
    let reserved = provider
        .daemon
        .node()
        .db()
        .reserved_capacity()
        .await
        .unwrap();
    assert!(reserved > 0);

    // Signed by a stranger in the client's name: refused, nothing changes.
    let forged = Signed::sign(
        DealCancel {
            deal: id.parse().unwrap(),
            reason: "forged".into(),
            at: 1,
        },
        &ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap();
    let net = client.daemon.node().net().running().unwrap();
    let answer = net
        .market(
            provider.daemon.node().peer_id(),
            &MarketRequest::Cancel(Box::new(forged)),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        matches!(&answer, MarketResponse::Rejected { reason, .. } if reason == "wrong_signer"),
        "{answer:?}"
    );
    assert_eq!(
        provider
            .daemon
            .node()
            .db()
            .reserved_capacity()
            .await
            .unwrap(),
        reserved
    );

    // The client cancels: the provider is told, releases the capacity and the data.
    assert!(client
        .daemon
        .node()
        .keeps()
        .cancel_deal(&id, "no longer needed")
        .await
        .unwrap());
    let released = eventually(Duration::from_secs(10), || {
        json(&provider.cli(&["provider", "deals", "--json"]))["deals"][0]["state"] == "cancelled"
    })
    .await;
    assert!(released);
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
    assert!(json(&provider.cli(&["pin", "ls", "--json"]))["pins"]
        .as_array()
        .unwrap()
        .is_empty());
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_both_nodes_mid_transfer_leaves_no_task_of_theirs_running() {
    let provider = provider("1GiB").await;
    let client = TestNode::start().await;
    let cid = client.add_cid(bytes(16_000_000, 29), "").await;
    let request = cairn::node::DealRequest {
        cid,
        provider: provider.tcp_addr(),
        duration_secs: 3600,
        challenge_period_secs: 60,
        samples: 20,
        max_price_per_gib_month: None,
        wait_secs: 300,
        channel: None,
    };
    let client_deals = client.daemon.node().deals().clone();
    let making = tokio::spawn(async move { client_deals.make_deal(&request).await });
    let making_failed = |making: &tokio::task::JoinHandle<_>| making.is_finished();
    // Stop once the provider holds the deal (its transfer task and the client's follow run).
    let held = eventually(Duration::from_secs(20), || {
        !json(&provider.cli(&["provider", "deals", "--json"]))["deals"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    assert!(
        held,
        "the provider took the deal (make_deal ended early: {})",
        making_failed(&making)
    );
    let provider_tasks = provider.daemon.node().parts().tasks.clone();
    let client_tasks = client.daemon.node().parts().tasks.clone();
    provider.stop().await;
    client.stop().await;
    assert!(
        provider_tasks.is_empty(),
        "{} provider tasks left",
        provider_tasks.len()
    );
    assert!(
        client_tasks.is_empty(),
        "{} client tasks left",
        client_tasks.len()
    );
    // The deal call ends (with the node offline), it does not hang.
    let outcome = tokio::time::timeout(Duration::from_secs(30), making).await;
    assert!(outcome.is_ok(), "make_deal still running after stop");
}
