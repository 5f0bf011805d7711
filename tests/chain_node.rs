//! Nodes that settle on a real chain: each test starts its own anvil (from the npm package
//! pinned in `contracts/evm`) on 127.0.0.1 with an OS-picked port, deploys the contract, and
//! runs real daemons configured with `[chain]`. The tests fail, never skip, when anvil cannot
//! start.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use cairn::amount::Amount;
use cairn::chain::config::ChainConfig;
use cairn::chain::{Anvil, Deployment, Domain, Voucher, Wallet};
use cairn::pay::wire::{PayRequest, PayResponse};
use cairn::pay::{ChannelId, ChannelOpen, OnChain, Receipt};
use cairn::signed::Signed;
use common::{bytes, eventually, json, ok, TestNode};

/// The anvil binary, installing the npm packages first if needed (as tests/chain.rs).
fn anvil_binary() -> PathBuf {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts/evm");
    INSTALL.call_once(|| {
        if !dir.join("node_modules/.bin/anvil").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm must be installed to run the chain tests");
            assert!(status.success(), "`npm ci` in {} failed", dir.display());
        }
    });
    dir.join("node_modules/.bin/anvil")
}

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// A chain with the contract and a test token.
struct Chain {
    anvil: Anvil,
    deployment: Deployment,
}

impl Chain {
    async fn start() -> Chain {
        let anvil = Anvil::start(&anvil_binary()).await.unwrap();
        let deployment = anvil.deployer().deploy(None).await.unwrap();
        Chain { anvil, deployment }
    }

    fn config(&self, rpc: &str) -> ChainConfig {
        let mut config = ChainConfig::new(rpc.to_string(), self.deployment.contract, None);
        config.challenge_window = Duration::from_secs(30);
        config
    }

    async fn channels(&self) -> cairn::chain::Channels {
        self.anvil
            .deployer()
            .channels(self.deployment.contract)
            .await
            .unwrap()
    }

    /// Gas for a node's wallet, and `tokens` of the test token.
    async fn fund(&self, node: &TestNode, tokens: u64) {
        let address = address(node);
        self.anvil.fund(address, ether(10)).await.unwrap();
        if tokens > 0 {
            self.channels()
                .await
                .mint(address, U256::from(tokens))
                .await
                .unwrap();
        }
    }

    async fn tokens(&self, who: Address) -> u64 {
        self.channels()
            .await
            .token_balance(who)
            .await
            .unwrap()
            .to::<u64>()
    }
}

fn address(node: &TestNode) -> Address {
    node.daemon.node().parts().chain.as_ref().unwrap().address()
}

/// A node on `chain` through `rpc` (the chain's own URL, or a proxy to it).
async fn node_on(chain: &Chain, rpc: &str, edit: impl FnOnce(&mut ChainConfig)) -> TestNode {
    let mut config = chain.config(rpc);
    edit(&mut config);
    TestNode::start_with(move |c| {
        c.chain = Some(config);
        c.pay.max_price_per_gib_month = 1 << 62;
    })
    .await
}

fn failed(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_escrowed_deal_is_claimed_and_a_close_mid_deal_is_claimed_then_refunded() {
    let chain = Chain::start().await;
    let url = chain.anvil.url().to_string();
    let provider = node_on(&chain, &url, |_| {}).await;
    let client = node_on(&chain, &url, |_| {}).await;
    chain.fund(&provider, 0).await;
    chain.fund(&client, 1_000_000).await;
    // About 900 base units per 1 s period for a 2.5 MB piece: the default threshold (10 000)
    // is passed after some eleven periods.
    provider.set_ask("1000000000000", "0");

    // The wallet: its address, gas and tokens, from the chain.
    let wallet = json(&client.cli(&["wallet", "--json"]));
    assert_eq!(wallet["address"], address(&client).to_checksum(None));
    assert_eq!(wallet["token"], "1000000");
    assert_eq!(wallet["chain_id"], 31337);

    let cid = client.add_cid(bytes(2_500_000, 7), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "300s", Some("1s")));
    assert_eq!(deal["state"], "active", "{deal}");
    let deal_id = deal["id"].as_str().unwrap().to_string();

    // The channel is the contract's: escrowed from the client's address to the provider's.
    let payer_view = client.channel("payer");
    let onchain = &payer_view["onchain"];
    assert_eq!(onchain["payer"], address(&client).to_checksum(None));
    assert_eq!(onchain["payee"], address(&provider).to_checksum(None));
    assert_eq!(
        onchain["contract"],
        chain.deployment.contract.to_checksum(None)
    );
    let contract_id: U256 = onchain["channel_id"].as_str().unwrap().parse().unwrap();
    // Its id is the contract's, on both sides and in every receipt.
    let channel_id = ChannelId::chain(contract_id).to_string();
    assert_eq!(payer_view["id"], channel_id.as_str());
    let deposit = payer_view["deposit"].as_u64().unwrap();
    let state = chain.channels().await.channel(contract_id).await.unwrap();
    assert_eq!(state.deposit, u128::from(deposit));
    assert_eq!(chain.tokens(address(&client)).await, 1_000_000 - deposit);

    // The first passed period is paid; the provider claims once the threshold is passed.
    let paid = eventually(Duration::from_secs(20), || {
        provider.channel("payee")["paid"].as_u64().unwrap_or(0) > 0
    })
    .await;
    assert!(paid, "{}", provider.channel("payee"));
    assert_eq!(provider.channel("payee")["id"], channel_id.as_str());
    let first_paid = Instant::now();
    let payee = address(&provider);
    let deadline = Instant::now() + Duration::from_secs(60);
    while chain.tokens(payee).await == 0 {
        assert!(Instant::now() < deadline, "no claim within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let to_first_claim = first_paid.elapsed();
    let claimed = chain.tokens(payee).await;
    assert!(claimed >= 10_000, "claimed {claimed} below the threshold");
    let receipts = json(&provider.cli(&[
        "pay",
        "receipts",
        payer_view["id"].as_str().unwrap(),
        "--json",
    ]));
    let covered = receipts["receipts"].as_array().unwrap().len();
    for r in receipts["receipts"].as_array().unwrap() {
        let bytes = hex::decode(r["signed"].as_str().unwrap()).unwrap();
        let signed = Signed::<Receipt>::from_bytes(&bytes, cairn::pay::MAX_RECEIPT_SIZE).unwrap();
        assert_eq!(signed.payload.channel, ChannelId::chain(contract_id));
    }
    eprintln!(
        "BENCH first passed period to first claimed tokens: {:.1} s; receipts covered by the first claim: {covered} (threshold {}, {claimed} claimed)",
        to_first_claim.as_secs_f64(),
        cairn::chain::config::DEFAULT_CLAIM_THRESHOLD
    );
    assert_eq!(provider.daemon.node().pay().claims_sent().await, 1);
    // The dashboard's payouts are the claims on chain, with their transaction.
    let history: serde_json::Value = provider
        .http
        .get(provider.api("/status/history?days=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payouts = &history["payouts"];
    assert_eq!(payouts["kind"], "claim", "{payouts}");
    assert_eq!(payouts["count"], 1, "{payouts}");
    assert_eq!(payouts["total"].as_u64(), Some(claimed), "{payouts}");
    assert!(payouts["recent"][0]["tx"]
        .as_str()
        .unwrap()
        .starts_with("0x"));

    // The payer starts the close mid-deal: the provider claims what it holds before the
    // window ends and stops serving the deal, saying why.
    let id = payer_view["id"].as_str().unwrap().to_string();
    let closed = json(&client.cli(&["pay", "channel", "close", &id, "--json"]));
    let closing = chain.channels().await.channel(contract_id).await.unwrap();
    assert!(closing.closes_at.is_some());
    // The payer marks it closing, with the chain time it may withdraw from ...
    assert_eq!(closed["state"], "closing", "{closed}");
    assert_eq!(closed["closes_at"].as_u64(), closing.closes_at);
    let shown = json(&client.cli(&["pay", "channel", "show", &id, "--json"]));
    assert_eq!(shown["state"], "closing", "{shown}");
    assert_eq!(client.channel("payer")["state"], "closing");
    // ... and uses it no more: a new deal on it is refused before anything is proposed, and
    // closing it again is refused too.
    let more = client.add_cid(bytes(100_000, 8), "").await;
    let addr = provider.tcp_addr();
    let refused = failed(&client.cli(&[
        "deal",
        "make",
        &more,
        "--provider",
        &addr,
        "--duration",
        "60s",
        "--challenge-period",
        "1s",
        "--channel",
        &id,
    ]));
    assert!(
        refused.contains("channel_closed") && refused.contains("closing on chain"),
        "{refused}"
    );
    let again = failed(&client.cli(&["pay", "channel", "close", &id]));
    assert!(again.contains("channel_closed"), "{again}");
    assert_eq!(
        json(&client.cli(&["deal", "list", "--json"]))["deals"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let stopped = eventually(Duration::from_secs(20), || {
        json(&provider.cli(&["provider", "deals", "--json"]))["deals"][0]["state"] == "failed"
    })
    .await;
    assert!(
        stopped,
        "{}",
        provider.cli(&["provider", "deals", "--json"]).status
    );
    let events = provider
        .daemon
        .node()
        .db()
        .deal_events(&deal_id)
        .await
        .unwrap();
    let last = events.last().unwrap();
    assert!(
        last.reason
            .as_deref()
            .unwrap_or_default()
            .contains("started closing"),
        "{last:?}"
    );
    // Everything the provider holds is claimed (the client's last payments may still land
    // after the deal stopped: they are claimed too, while the window is open).
    let deadline = Instant::now() + Duration::from_secs(15);
    let held = loop {
        let held = provider.channel("payee")["paid"].as_u64().unwrap();
        if chain.tokens(payee).await == held {
            break held;
        }
        assert!(
            Instant::now() < deadline,
            "claimed {} of {held}",
            chain.tokens(payee).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The stopped deal's challenges are refused, so the client's audits of it fail.
    let piece_root = json(&provider.cli(&["provider", "deals", "--json"]))["deals"][0]
        ["piece_root"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = eventually(Duration::from_secs(10), || {
        let rows =
            futures::executor::block_on(provider.daemon.node().db().challenges_for(&piece_root))
                .unwrap();
        rows.iter().any(|r| {
            r.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("deal_stopped"))
        })
    })
    .await;
    assert!(refused, "no challenge was refused after the deal stopped");
    let now = json(&provider.cli(&["pay", "claim", &id, "--json"]));
    assert_eq!(now["claimed"], 0, "{now}");
    assert_eq!(now["tx"], serde_json::Value::Null);

    // Withdraw: not before the window ends, once after it, never twice.
    let early = failed(&client.cli(&["pay", "withdraw", &id]));
    assert!(early.contains("reverted"), "{early}");
    chain.anvil.advance(31).await.unwrap();
    let withdrawn = json(&client.cli(&["pay", "withdraw", &contract_id.to_string(), "--json"]));
    let refund = withdrawn["refund"].as_u64().unwrap();
    let held = provider.channel("payee")["paid"]
        .as_u64()
        .unwrap()
        .max(held);
    assert_eq!(
        withdrawn["paid_out"].as_u64().unwrap(),
        chain.tokens(payee).await
    );
    assert_eq!(
        chain.tokens(payee).await,
        held,
        "a receipt the provider holds was not claimed"
    );
    let again = failed(&client.cli(&["pay", "withdraw", &id]));
    assert!(again.contains("reverted"), "{again}");
    // The payer's record: closed, with the refund and what the payee was paid.
    let shown = json(&client.cli(&["pay", "channel", "show", &id, "--json"]));
    assert_eq!(shown["state"], "closed", "{shown}");
    assert_eq!(shown["refund"].as_u64(), Some(refund));
    assert_eq!(shown["settled"].as_u64(), Some(chain.tokens(payee).await));
    // Refund plus claims is the deposit, exactly, and the tokens are where they should be.
    assert_eq!(refund + chain.tokens(payee).await, deposit);
    assert_eq!(chain.tokens(address(&client)).await, 1_000_000 - held);
    assert_eq!(chain.tokens(chain.deployment.contract).await, 0);
    let wallet = json(&provider.cli(&["wallet", "--json"]));
    assert_eq!(wallet["token"], held.to_string());
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deal_that_ends_is_claimed_in_full_whatever_the_threshold() {
    let chain = Chain::start().await;
    let url = chain.anvil.url().to_string();
    let provider = node_on(&chain, &url, |c| c.claim_threshold = 1 << 40).await;
    let client = node_on(&chain, &url, |_| {}).await;
    chain.fund(&provider, 0).await;
    chain.fund(&client, 1_000_000).await;
    provider.set_ask("1000000000000", "0");
    let cid = client.add_cid(bytes(2_500_000, 5), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "12s", Some("1s")));
    assert_eq!(deal["state"], "active", "{deal}");
    let payee = address(&provider);
    let ended = eventually(Duration::from_secs(30), || {
        json(&provider.cli(&["provider", "deals", "--json"]))["deals"][0]["state"] == "expired"
    })
    .await;
    assert!(ended);
    // Nothing was claimed while the deal ran (the threshold is out of reach) ...
    let held = provider.channel("payee")["paid"].as_u64().unwrap();
    assert!(held > 0);
    // ... and all of it once it ended.
    let deadline = Instant::now() + Duration::from_secs(20);
    while chain.tokens(payee).await != held {
        assert!(
            Instant::now() < deadline,
            "claimed {} of {held}",
            chain.tokens(payee).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(provider.daemon.node().pay().claims_sent().await, 1);
    provider.stop().await;
    client.stop().await;
}

/// A's node sends `receipt` to B; B's status.
async fn send(a: &TestNode, b: &TestNode, receipt: Receipt) -> String {
    let signed = Signed::sign(receipt, a.daemon.node().key()).unwrap();
    let net = a.daemon.node().net().running().unwrap();
    match net
        .pay(
            b.daemon.node().peer_id(),
            &PayRequest::Pay(vec![signed]),
            Duration::from_secs(5),
        )
        .await
        .unwrap()
    {
        PayResponse::Acks(acks) => acks[0].status.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_vouchers_are_refused_before_they_are_acknowledged_and_a_claim_is_idempotent() {
    let chain = Chain::start().await;
    let url = chain.anvil.url().to_string();
    // A threshold nobody reaches and no deal on the channel: only `cairn pay claim` cashes.
    let provider = node_on(&chain, &url, |c| c.claim_threshold = 1 << 40).await;
    let client = node_on(&chain, &url, |_| {}).await;
    chain.fund(&provider, 0).await;
    chain.fund(&client, 5_000).await;
    provider.set_ask("1", "0");
    let peer = provider.daemon.node().peer_id().to_string();
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    let opened = json(&client.cli(&[
        "pay",
        "channel",
        "open",
        &peer,
        "--deposit",
        "1000",
        "--json",
    ]));
    let id = opened["id"].as_str().unwrap().to_string();
    let contract_id: U256 = opened["onchain"]["channel_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(chain.tokens(chain.deployment.contract).await, 1000);

    let payer_wallet = Wallet::load(&client.repo()).unwrap();
    let domain = Domain::new(31337, chain.deployment.contract);
    let voucher = |domain: &Domain, channel: U256, amount: u64| {
        Voucher::new(channel, u128::from(amount))
            .sign(domain, &payer_wallet)
            .unwrap()
            .to_vec()
    };
    let receipt = |amount: u64, seq: u64, voucher: Option<Vec<u8>>| Receipt {
        channel: id.parse().unwrap(),
        payer: client.daemon.node().key().verifying_key().to_bytes(),
        payee: provider.daemon.node().key().verifying_key().to_bytes(),
        amount: Amount(amount),
        seq,
        deal: None,
        at: 1,
        voucher,
    };
    let mut flipped = voucher(&domain, contract_id, 300);
    flipped[3] ^= 1;
    let other_channel = voucher(&domain, contract_id + U256::from(1), 300);
    let other_chain = voucher(&Domain::new(1, chain.deployment.contract), contract_id, 300);
    let other_contract = voucher(
        &Domain::new(31337, Address::repeat_byte(7)),
        contract_id,
        300,
    );
    let stranger = Voucher::new(contract_id, 300)
        .sign(&domain, &Wallet::generate())
        .unwrap()
        .to_vec();
    let lower = voucher(&domain, contract_id, 299);
    for (what, bad) in [
        ("forged", Some(flipped)),
        ("another channel", Some(other_channel)),
        ("another chain", Some(other_chain)),
        ("another contract", Some(other_contract)),
        ("another signer", Some(stranger)),
        ("a lower amount", Some(lower)),
    ] {
        assert_eq!(
            send(&client, &provider, receipt(300, 1, bad)).await,
            "bad_voucher",
            "{what}"
        );
    }
    assert_eq!(
        send(&client, &provider, receipt(300, 1, None)).await,
        "missing_voucher"
    );
    assert_eq!(provider.channel("payee")["paid"], 0);

    let good = voucher(&domain, contract_id, 300);
    assert_eq!(
        send(&client, &provider, receipt(300, 1, Some(good.clone()))).await,
        "stored"
    );
    assert_eq!(
        send(&client, &provider, receipt(300, 1, Some(good.clone()))).await,
        "duplicate"
    );
    // A replayed receipt, and one above the escrow.
    let older = voucher(&domain, contract_id, 200);
    assert_eq!(
        send(&client, &provider, receipt(200, 2, Some(older))).await,
        "not_increasing"
    );
    let over = voucher(&domain, contract_id, 1001);
    assert_eq!(
        send(&client, &provider, receipt(1001, 3, Some(over))).await,
        "over_deposit"
    );

    // Claimed by hand: what the receipt says, once.
    let first = json(&provider.cli(&["pay", "claim", &id, "--json"]));
    assert_eq!(first["claimed"], 300, "{first}");
    assert!(first["tx"].as_str().unwrap().starts_with("0x"));
    let second = json(&provider.cli(&["pay", "claim", &contract_id.to_string(), "--json"]));
    assert_eq!(second["claimed"], 0, "{second}");
    assert_eq!(chain.tokens(address(&provider)).await, 300);
    // Not a channel of this node, and a channel the node is not the payee of.
    let unknown = failed(&provider.cli(&["pay", "claim", "12345"]));
    assert!(unknown.contains("unknown_channel"), "{unknown}");
    let not_payee = failed(&client.cli(&["pay", "claim", &id]));
    assert!(not_payee.contains("unknown_channel"), "{not_payee}");

    // The provider refuses a paid deal the escrow cannot cover.
    let cid = client.add_cid(bytes(200_000, 3), "").await;
    provider.set_ask("100000000000000000", "0");
    let refused = client.make_deal(&cid, &provider, "30d", Some("1h"));
    assert!(!refused.status.success());
    // A deal naming its channel: refused here when the channel cannot pay for it, or is not
    // one of this node's channels to that provider.
    let addr = provider.tcp_addr();
    let named = |channel: &str| {
        failed(&client.cli(&[
            "deal",
            "make",
            &cid,
            "--provider",
            &addr,
            "--duration",
            "30d",
            "--challenge-period",
            "1h",
            "--channel",
            channel,
        ]))
    };
    let short = named(&id);
    assert!(
        short.contains("unfunded") && short.contains("left after its other deals"),
        "{short}"
    );
    let unknown = named(&ChannelId::chain(contract_id + U256::from(40)).to_string());
    assert!(unknown.contains("unknown_channel"), "{unknown}");
    let not_ours = named("12345");
    assert!(not_ours.contains("unknown_channel"), "{not_ours}");
    assert_eq!(chain.tokens(chain.deployment.contract).await, 1000 - 300);
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_refuses_a_provider_on_another_chain_or_contract() {
    let chain = Chain::start().await;
    let url = chain.anvil.url().to_string();
    let provider = node_on(&chain, &url, |_| {}).await;
    chain.fund(&provider, 0).await;
    provider.set_ask("1000000000000", "0");
    // Another deployment of the contract on the same chain.
    let other = chain.anvil.deployer().deploy(None).await.unwrap();
    let elsewhere = TestNode::start_with(|c| {
        let mut config = ChainConfig::new(url.clone(), other.contract, None);
        config.challenge_window = Duration::from_secs(30);
        c.chain = Some(config);
        c.pay.max_price_per_gib_month = 1 << 62;
    })
    .await;
    chain
        .anvil
        .fund(address(&elsewhere), ether(1))
        .await
        .unwrap();
    // The same contract, deployed the same way, on another chain id.
    let anvil = Anvil::start_on_chain(&anvil_binary(), 31_338)
        .await
        .unwrap();
    let deployment = anvil.deployer().deploy(None).await.unwrap();
    let other_chain = Chain { anvil, deployment };
    let other_url = other_chain.anvil.url().to_string();
    let on_other_chain = node_on(&other_chain, &other_url, |_| {}).await;
    other_chain.fund(&on_other_chain, 1_000_000).await;
    let ledger = TestNode::start_with(|c| c.pay.max_price_per_gib_month = 1 << 62).await;
    let contract = chain.deployment.contract.to_string();
    let other_contract = other.contract.to_string();
    let cases: [(&TestNode, &[&str]); 3] = [
        (
            &elsewhere,
            &["chain 31337 contract", &contract, &other_contract],
        ),
        (&on_other_chain, &["chain 31337", "chain 31338"]),
        (&ledger, &["chain 31337", "this node has no [chain]"]),
    ];
    for (client, named) in cases {
        let cid = client.add_cid(bytes(100_000, 9), "").await;
        let refused = failed(&client.make_deal(&cid, &provider, "60s", Some("1s")));
        assert!(refused.contains("wrong_chain"), "{refused}");
        for part in named {
            assert!(refused.contains(part), "{part:?} not in {refused}");
        }
        // Nothing was escrowed and no channel recorded.
        assert_eq!(client.channel("payer"), serde_json::Value::Null);
    }
    assert_eq!(chain.tokens(chain.deployment.contract).await, 0);
    assert_eq!(other_chain.tokens(other_chain.deployment.contract).await, 0);
    assert_eq!(
        other_chain.tokens(address(&on_other_chain)).await,
        1_000_000
    );
    provider.stop().await;
    elsewhere.stop().await;
    on_other_chain.stop().await;
    ledger.stop().await;
}

/// `client` signs `open` with its ed25519 key and sends it to `provider`: the answer's channel,
/// or the refusal's reason.
async fn send_open(
    client: &TestNode,
    provider: &TestNode,
    open: ChannelOpen,
) -> Result<ChannelId, String> {
    let signed = Signed::sign(open, client.daemon.node().key()).unwrap();
    let net = client.daemon.node().net().running().unwrap();
    match net
        .pay(
            provider.daemon.node().peer_id(),
            &PayRequest::Open(Box::new(signed)),
            Duration::from_secs(5),
        )
        .await
        .unwrap()
    {
        PayResponse::Opened { channel } => Ok(channel),
        PayResponse::Rejected { reason, detail } => Err(format!("{reason}: {detail}")),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_is_acknowledged_only_if_the_chain_binds_its_channel_to_both_peers() {
    let chain = Chain::start().await;
    let url = chain.anvil.url().to_string();
    let provider = node_on(&chain, &url, |_| {}).await;
    let client = node_on(&chain, &url, |_| {}).await;
    chain.fund(&provider, 0).await;
    chain.fund(&client, 10_000).await;
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    // The client's own wallet escrows on chain, as its node would.
    let wallet = Wallet::load(&client.repo()).unwrap();
    let escrow = cairn::chain::ChainClient::connect(&url, wallet)
        .await
        .unwrap()
        .channels(chain.deployment.contract)
        .await
        .unwrap();
    let stranger = Wallet::generate().address();
    let (payer, payee) = (address(&client), address(&provider));
    let domain = Domain::new(31337, chain.deployment.contract);
    let to_stranger = escrow.open(stranger, 1000, 30).await.unwrap().channel_id;
    let to_provider = escrow.open(payee, 1000, 30).await.unwrap().channel_id;
    let open = |id: U256, payer: Address, payee: Address, nonce: u64| ChannelOpen {
        payer: client.daemon.node().key().verifying_key().to_bytes(),
        payee: provider.daemon.node().key().verifying_key().to_bytes(),
        deposit: Amount(1000),
        nonce,
        at: 1,
        chain: Some(OnChain::new(domain, id, payer, payee)),
    };
    let refused = |outcome: Result<ChannelId, String>| outcome.unwrap_err();

    // The channel on chain pays a stranger, whatever the open says.
    let r = refused(send_open(&client, &provider, open(to_stranger, payer, payee, 1)).await);
    assert!(r.starts_with("wrong_channel"), "{r}");
    let r = refused(send_open(&client, &provider, open(to_stranger, payer, stranger, 2)).await);
    assert!(r.starts_with("wrong_payee"), "{r}");
    // The open names another payer address than the one that escrowed.
    let r = refused(send_open(&client, &provider, open(to_provider, stranger, payee, 3)).await);
    assert!(r.starts_with("wrong_channel"), "{r}");
    // A channel the contract does not hold.
    let r = refused(
        send_open(
            &client,
            &provider,
            open(to_provider + U256::from(9), payer, payee, 4),
        )
        .await,
    );
    assert!(r.starts_with("wrong_channel"), "{r}");
    // Another chain id or contract than the provider's.
    let mut elsewhere = open(to_provider, payer, payee, 5);
    elsewhere.chain.as_mut().unwrap().chain_id = 1;
    let r = refused(send_open(&client, &provider, elsewhere).await);
    assert!(r.starts_with("wrong_chain"), "{r}");
    let mut elsewhere = open(to_provider, payer, payee, 6);
    elsewhere.chain.as_mut().unwrap().contract = [7; 20];
    let r = refused(send_open(&client, &provider, elsewhere).await);
    assert!(r.starts_with("wrong_chain"), "{r}");
    // None of those was recorded.
    assert_eq!(provider.channel("payee"), serde_json::Value::Null);

    // Bound to both: acknowledged under the contract's id; the same open again is a retry,
    // another open for the same escrow is refused.
    let good = open(to_provider, payer, payee, 7);
    let id = send_open(&client, &provider, good.clone()).await.unwrap();
    assert_eq!(id, ChannelId::chain(to_provider));
    let recorded = provider.channel("payee");
    assert_eq!(recorded["id"], id.to_string().as_str());
    assert_eq!(recorded["state"], "open");
    assert_eq!(send_open(&client, &provider, good).await.unwrap(), id);
    let r = refused(send_open(&client, &provider, open(to_provider, payer, payee, 8)).await);
    assert!(
        r.starts_with("invalid") && r.contains("another commitment"),
        "{r}"
    );
    provider.stop().await;
    client.stop().await;
}

/// A TCP proxy to the chain that a test can take down and bring back.
struct Proxy {
    url: String,
    down: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(target: &str) -> Proxy {
        let target = target.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let flag = down.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while !flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        _ = cut => {}
                    }
                });
            }
        });
        Proxy { url, down }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_wait_out_an_unreachable_chain_and_a_claim_cut_off_by_a_crash_is_not_paid_twice() {
    let chain = Chain::start().await;
    let proxy = Proxy::start(chain.anvil.url()).await;
    let url = chain.anvil.url().to_string();
    let provider = node_on(&chain, &proxy.url, |c| c.claim_threshold = 2_000).await;
    let client = node_on(&chain, &url, |_| {}).await;
    chain.fund(&provider, 0).await;
    chain.fund(&client, 1_000_000).await;
    provider.set_ask("1000000000000", "0");
    let cid = client.add_cid(bytes(2_500_000, 11), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "300s", Some("1s")));
    assert_eq!(deal["state"], "active", "{deal}");
    let deal_id = deal["id"].as_str().unwrap().to_string();
    let payee = address(&provider);

    // The provider's chain goes away: no claims, but the deal goes on and is paid.
    proxy.set_down(true);
    let before = provider.channel("payee")["paid"].as_u64().unwrap_or(0);
    let paid_on = eventually(Duration::from_secs(20), || {
        provider.channel("payee")["paid"].as_u64().unwrap_or(0) >= before + 4_000
    })
    .await;
    assert!(paid_on, "{}", provider.channel("payee"));
    let show = json(&client.cli(&["deal", "show", &deal_id, "--json"]));
    assert_eq!(show["state"], "active", "{show}");
    assert_eq!(chain.tokens(payee).await, 0);
    let offline = failed(&provider.cli(&[
        "pay",
        "claim",
        &deal["payment_channel"].as_str().map_or_else(
            || {
                provider.channel("payee")["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            },
            str::to_string,
        ),
    ]));
    assert!(offline.contains("chain_unreachable"), "{offline}");
    // Back: the backlog is claimed.
    proxy.set_down(false);
    let claimed = eventually(Duration::from_secs(20), || {
        futures::executor::block_on(chain.tokens(payee)) > 0
    })
    .await;
    assert!(claimed);

    // A claim sent, then the provider dies before it sees the receipt: after the restart the
    // chain says what was paid, and nothing is paid twice.
    let id = provider.channel("payee")["id"]
        .as_str()
        .unwrap()
        .to_string();
    chain.anvil.set_automine(false).await.unwrap();
    let pay = provider.daemon.node().pay().clone();
    let claim = {
        let id = id.clone();
        tokio::spawn(async move { pay.claim(&id).await })
    };
    // The claim is in the pool once the wallet's pending nonce moved.
    let channels = chain.channels().await;
    let rpc = channels.client().provider();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = false;
    while Instant::now() < deadline && !sent {
        use alloy::providers::Provider as _;
        let pending = rpc.get_transaction_count(payee).pending().await.unwrap();
        let latest = rpc.get_transaction_count(payee).latest().await.unwrap();
        sent = pending > latest;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sent, "the claim never reached the pool");
    claim.abort();
    let provider = provider.restart().await;
    chain.anvil.mine().await.unwrap();
    chain.anvil.set_automine(true).await.unwrap();
    let after_crash = chain.tokens(payee).await;
    let again = json(&provider.cli(&["pay", "claim", &id, "--json"]));
    let held = provider.channel("payee")["paid"].as_u64().unwrap();
    assert_eq!(
        after_crash + again["claimed"].as_u64().unwrap(),
        chain.tokens(payee).await
    );
    assert!(chain.tokens(payee).await <= held);
    let state = chain
        .channels()
        .await
        .channel(
            client.channel("payer")["onchain"]["channel_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        u64::try_from(state.paid_out).unwrap(),
        chain.tokens(payee).await
    );
    provider.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chain_deploy_and_init_write_a_chain_node_and_refuse_bad_input() {
    let chain = Chain::start().await;
    let cairn = |dir: &std::path::Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .env("CAIRN_PATH", dir)
            .env_remove("CAIRN_API")
            .output()
            .unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let deployed = json(&cairn(
        &repo,
        &["chain", "deploy", "--rpc-url", chain.anvil.url(), "--json"],
    ));
    assert_eq!(deployed["chain_id"], 31337);
    assert_eq!(deployed["test_token"], true);
    let contract = deployed["contract"].as_str().unwrap().to_string();
    let token = deployed["token"].as_str().unwrap().to_string();
    // With an existing token, only the channel contract is deployed, for that token.
    let again = json(&cairn(
        &repo,
        &[
            "chain",
            "deploy",
            "--rpc-url",
            chain.anvil.url(),
            "--token",
            &token,
            "--json",
        ],
    ));
    assert_eq!(again["token"], token.as_str());
    assert_eq!(again["test_token"], false);
    assert_ne!(again["contract"], contract.as_str());

    for bad in [
        vec!["chain", "deploy", "--rpc-url", "https://rpc.example"],
        vec![
            "chain",
            "deploy",
            "--rpc-url",
            chain.anvil.url(),
            "--token",
            "0x1234",
        ],
        vec![
            "chain",
            "deploy",
            "--rpc-url",
            chain.anvil.url(),
            "--private-key",
            "0x00",
        ],
        // A token address that holds no contract.
        vec![
            "chain",
            "deploy",
            "--rpc-url",
            chain.anvil.url(),
            "--token",
            "0x000000000000000000000000000000000000dEaD",
        ],
        vec![
            "init",
            "--chain-rpc",
            "https://rpc.example",
            "--contract",
            &contract,
        ],
        vec![
            "init",
            "--chain-rpc",
            chain.anvil.url(),
            "--contract",
            "0xnope",
        ],
        vec!["init", "--chain-rpc", chain.anvil.url()],
    ] {
        let out = cairn(&repo, &bad);
        assert!(!out.status.success(), "{bad:?} was accepted");
    }
    assert!(
        !repo.join("config.toml").exists(),
        "a refused init wrote a config"
    );

    let init = json(&cairn(
        &repo,
        &[
            "init",
            "--random-ports",
            "--chain-rpc",
            chain.anvil.url(),
            "--contract",
            &contract,
            "--token",
            &token,
            "--json",
        ],
    ));
    let text = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    assert!(
        text.contains("[chain]") && text.contains(&contract),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(repo.join("wallet.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        init["address"],
        Wallet::load(&repo).unwrap().address().to_checksum(None)
    );
    let config = cairn::config::DataDir::new(&repo).load_config().unwrap();
    let loaded = config.chain.unwrap();
    assert_eq!(loaded.contract.to_checksum(None), contract);
    assert_eq!(loaded.token.unwrap().to_checksum(None), token);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_escrow_whose_open_the_payee_refused_is_kept_closing_and_withdrawn_in_full() {
    let chain = Chain::start().await;
    let proxy = Proxy::start(chain.anvil.url()).await;
    let url = chain.anvil.url().to_string();
    // The provider reaches the chain through a proxy the test takes down once its ask is
    // signed: it cannot check the escrow, so it refuses the open.
    let provider = node_on(&chain, &proxy.url, |_| {}).await;
    let client = node_on(&chain, &url, |_| {}).await;
    chain.fund(&provider, 0).await;
    chain.fund(&client, 5_000).await;
    provider.set_ask("1", "0");
    ok(&provider.cli(&["wallet", "--json"]));
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    proxy.set_down(true);
    let peer = provider.daemon.node().peer_id().to_string();
    let refused = failed(&client.cli(&["pay", "channel", "open", &peer, "--deposit", "1000"]));
    assert!(refused.contains("chain_unreachable"), "{refused}");
    // Escrowed, closed at once, and recorded closing: no deal will use it.
    let kept = client.channel("payer");
    assert_eq!(kept["state"], "closing", "{kept}");
    let contract_id: U256 = kept["onchain"]["channel_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let state = chain.channels().await.channel(contract_id).await.unwrap();
    assert_eq!(kept["closes_at"].as_u64(), state.closes_at);
    assert_eq!(chain.tokens(address(&client)).await, 4_000);
    chain.anvil.advance(31).await.unwrap();
    let id = kept["id"].as_str().unwrap();
    let withdrawn = json(&client.cli(&["pay", "withdraw", id, "--json"]));
    assert_eq!(withdrawn["refund"], 1000, "{withdrawn}");
    assert_eq!(chain.tokens(address(&client)).await, 5_000);
    assert_eq!(client.channel("payer")["state"], "closed");
    proxy.set_down(false);
    provider.stop().await;
    client.stop().await;
}
