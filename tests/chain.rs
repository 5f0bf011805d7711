//! `CairnChannels` on a real chain: each test starts its own anvil (Foundry, from the npm
//! package pinned in `contracts/evm`) on 127.0.0.1 with a port the OS picks, drives the
//! contract through `cairn::chain`, and kills anvil at the end.
//!
//! The packages are installed by `.ci/run`; if they are missing this test installs them with
//! `npm ci`, and if anvil still cannot start the tests fail: they never skip.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use cairn::chain::{
    Anvil, ChainClient, ChainError, Channels, Close, Domain, Revert, Voucher, Wallet,
};

fn evm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts/evm")
}

/// A binary of `contracts/evm/node_modules/.bin`, installing the packages first if needed.
fn tool(name: &str) -> PathBuf {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    let dir = evm_dir();
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
    let path = dir.join("node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `npm ci` in {}",
        path.display(),
        dir.display()
    );
    path
}

fn hundred_ether() -> U256 {
    U256::from(100u64) * U256::from(10u64).pow(U256::from(18u64))
}

/// A deployment and three funded parties, each with a client on it.
struct Setup {
    anvil: Anvil,
    payer: Channels,
    payee: Channels,
    stranger: Channels,
}

impl Setup {
    async fn new(payer: Wallet, payee: Wallet, stranger: Wallet) -> Setup {
        let anvil = Anvil::start(&tool("anvil")).await.unwrap();
        let deployment = anvil.deployer().deploy(None).await.unwrap();
        assert!(deployment.test_token);
        assert_eq!(deployment.chain_id, 31337);
        let mut parties = Vec::new();
        for wallet in [payer, payee, stranger] {
            anvil.fund(wallet.address(), hundred_ether()).await.unwrap();
            let client = ChainClient::connect(anvil.url(), wallet).await.unwrap();
            parties.push(client.channels(deployment.contract).await.unwrap());
        }
        let stranger = parties.pop().unwrap();
        let payee = parties.pop().unwrap();
        let payer = parties.pop().unwrap();
        Setup {
            anvil,
            payer,
            payee,
            stranger,
        }
    }

    async fn fresh() -> Setup {
        Setup::new(Wallet::generate(), Wallet::generate(), Wallet::generate()).await
    }

    async fn balance(&self, who: Address) -> u128 {
        self.payer.token_balance(who).await.unwrap().to::<u128>()
    }

    fn sign(&self, channel: U256, cumulative: u128) -> [u8; 65] {
        Voucher::new(channel, cumulative)
            .sign(&self.payer.domain(), self.payer.client().wallet())
            .unwrap()
    }
}

fn revert_name(err: &ChainError) -> &'static str {
    err.revert_name()
        .unwrap_or_else(|| panic!("expected a named revert, got {err:?}"))
}

/// The revert name of a call that must fail.
fn named<T: std::fmt::Debug>(result: Result<T, ChainError>) -> &'static str {
    match result {
        Ok(value) => panic!("expected a revert, got {value:?}"),
        Err(err) => revert_name(&err),
    }
}

#[test]
fn committed_artifacts_are_a_fresh_compile() {
    tool("anvil");
    let output = Command::new("node")
        .args(["build.mjs", "--check"])
        .current_dir(evm_dir())
        .output()
        .expect("node must be installed");
    assert!(
        output.status.success(),
        "contracts/evm/artifacts differ from a fresh compile:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn open_claim_close_withdraw_moves_exact_balances() {
    let s = Setup::fresh().await;
    let (payer, payee) = (s.payer.client().address(), s.payee.client().address());
    s.payer.mint(payer, U256::from(50_000u64)).await.unwrap();

    let mut gas = Vec::new();
    let (_, deployed) = s
        .payer
        .client()
        .deploy_channels(s.payer.token())
        .await
        .unwrap();
    gas.push(("deploy CairnChannels", deployed.gas_used));
    let approved = s.payer.approve(10_000).await.unwrap();
    gas.push(("approve (the token, before open)", approved.gas_used));
    let opened = s.payer.open(payee, 10_000, 600).await.unwrap();
    gas.push(("open (first channel of the contract)", opened.tx.gas_used));
    let id = opened.channel_id;
    assert_eq!(id, U256::from(1));
    assert_eq!(s.balance(payer).await, 40_000);
    assert_eq!(s.balance(s.payer.address()).await, 10_000);
    let second = s.payer.open(payee, 1_000, 600).await.unwrap();
    gas.push(("open (a later channel)", second.tx.gas_used));
    let topped = s.payer.top_up(second.channel_id, 500).await.unwrap();
    assert_eq!(topped.deposit, 1_500);
    gas.push(("topUp", topped.tx.gas_used));

    let state = s.payee.channel(id).await.unwrap();
    assert_eq!(
        (state.payer, state.payee, state.deposit, state.paid_out),
        (payer, payee, 10_000, 0)
    );
    assert_eq!(
        (state.challenge_window, state.closes_at, state.settled),
        (600, None, false)
    );

    let first = s.payee.claim(id, 1_000, &s.sign(id, 1_000)).await.unwrap();
    assert_eq!((first.amount, first.paid_out), (1_000, 1_000));
    gas.push(("claim (payee's first tokens)", first.tx.gas_used));
    let next = s.payee.claim(id, 3_500, &s.sign(id, 3_500)).await.unwrap();
    assert_eq!((next.amount, next.paid_out), (2_500, 3_500));
    gas.push(("claim (later)", next.tx.gas_used));
    assert_eq!(s.balance(payee).await, 3_500);

    let (started, tx) = s.payer.start_close(id).await.unwrap();
    gas.push(("startClose", tx.gas_used));
    let (_, now) = s.payer.client().head().await.unwrap();
    assert_eq!(started.closes_at, now + 600);
    let watched = s.payee.closes_started(0).await.unwrap();
    assert_eq!(watched.len(), 1);
    assert_eq!(
        (watched[0].channel_id, watched[0].closes_at),
        (id, started.closes_at)
    );

    // Too early: the window is still open, and the payee may still claim in it.
    let err = s.payer.withdraw(id).await.unwrap_err();
    assert_eq!(revert_name(&err), "WindowNotOver");
    let during = s.payee.claim(id, 5_000, &s.sign(id, 5_000)).await.unwrap();
    assert_eq!(during.amount, 1_500);
    s.anvil.advance(599).await.unwrap();
    assert_eq!(
        revert_name(&s.payer.withdraw(id).await.unwrap_err()),
        "WindowNotOver"
    );
    s.anvil.advance(1).await.unwrap();

    let withdrawn = s.payer.withdraw(id).await.unwrap();
    gas.push(("withdraw", withdrawn.tx.gas_used));
    assert_eq!(withdrawn.refund, 5_000);
    let err = s.payer.withdraw(id).await.unwrap_err();
    assert_eq!(revert_name(&err), "ChannelSettled");
    let err = s
        .payee
        .claim(id, 6_000, &s.sign(id, 6_000))
        .await
        .unwrap_err();
    assert_eq!(revert_name(&err), "ChannelSettled");

    // Refund plus claims is the deposit, to the unit; nothing is left in escrow for it.
    let state = s.payee.channel(id).await.unwrap();
    assert!(state.settled);
    assert_eq!(state.paid_out + withdrawn.refund, 10_000);
    assert_eq!(s.balance(payee).await, 5_000);
    assert_eq!(s.balance(payer).await, 50_000 - 10_000 - 1_500 + 5_000);
    assert_eq!(s.balance(s.payer.address()).await, 1_500);

    // A cooperative close ends the second channel at once.
    let close = Close::new(second.channel_id, 400)
        .sign(&s.payer.domain(), s.payee.client().wallet())
        .unwrap();
    let closed = s
        .payer
        .cooperative_close(second.channel_id, 400, &close)
        .await
        .unwrap();
    gas.push(("cooperativeClose", closed.tx.gas_used));
    assert_eq!((closed.paid, closed.refund), (400, 1_100));
    assert_eq!(s.balance(s.payer.address()).await, 0);
    assert_eq!(s.balance(payee).await, 5_400);

    // Gas is paid in the native coin: the stranger sent nothing and still has what it got.
    let funded = hundred_ether();
    let stranger = s.stranger.client().address();
    assert_eq!(
        s.payee.client().native_balance(stranger).await.unwrap(),
        funded
    );
    assert!(s.payee.client().native_balance(payee).await.unwrap() < funded);

    eprintln!("gas used (anvil, solc 0.8.37, optimizer 10000 runs):");
    for (call, used) in &gas {
        eprintln!("  {call:<40} {used}");
    }
    let claim_gas = gas.iter().filter(|(c, _)| c.starts_with("claim"));
    for (call, used) in claim_gas {
        assert!(
            *used < 80_000,
            "{call} used {used} gas, over the 80 000 target"
        );
    }
}

fn vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contracts/vectors/evm-vouchers.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn string(v: &serde_json::Value) -> &str {
    v.as_str().unwrap()
}

fn amount(v: &serde_json::Value) -> u128 {
    string(v).parse().unwrap()
}

fn signature(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(string(v).trim_start_matches("0x")).unwrap()
}

fn key(v: &serde_json::Value, who: &str) -> Wallet {
    Wallet::from_hex(string(&v["keys"][who]["secret"])).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_golden_vouchers_meet_their_fate_on_a_real_contract() {
    let v = vectors();
    let s = Setup::new(key(&v, "payer"), key(&v, "payee"), key(&v, "stranger")).await;
    let address = |field: &str| -> Address { string(&v["deployment"][field]).parse().unwrap() };
    assert_eq!(s.payer.address(), address("contract"));
    assert_eq!(s.payer.token(), address("token"));
    let domain = s.payer.domain();
    assert_eq!(domain, Domain::new(31337, address("contract")));
    let separator: B256 = string(&v["domain"]["separator"]).parse().unwrap();
    assert_eq!(domain.separator(), separator);

    let (payer, payee) = (s.payer.client().address(), s.payee.client().address());
    let deposit = amount(&v["deposit"]);
    s.payer.mint(payer, U256::from(10 * deposit)).await.unwrap();
    let one = s
        .payer
        .open(payee, deposit, 3_600)
        .await
        .unwrap()
        .channel_id;
    let two = s
        .payer
        .open(payee, deposit, 3_600)
        .await
        .unwrap()
        .channel_id;
    assert_eq!((one, two), (U256::from(1), U256::from(2)));

    for e in v["valid"].as_array().unwrap() {
        let cumulative = amount(&e["cumulative"]);
        let digest: B256 = string(&e["digest"]).parse().unwrap();
        assert_eq!(
            s.payer.voucher_digest(one, cumulative).await.unwrap(),
            digest
        );
        let claimed = s
            .payee
            .claim(one, cumulative, &signature(&e["signature"]))
            .await
            .unwrap();
        assert_eq!(claimed.amount, amount(&e["pays"]));
        assert_eq!(claimed.paid_out, cumulative);
    }
    let paid = amount(&v["state_after"]["paid_out"]);
    assert_eq!(s.balance(payee).await, paid);

    for e in v["refused"].as_array().unwrap() {
        let what = string(&e["description"]);
        let err = s
            .payee
            .claim(one, amount(&e["cumulative"]), &signature(&e["signature"]))
            .await
            .unwrap_err();
        assert_eq!(revert_name(&err), string(&e["contract_error"]), "{what}");
        assert!(
            matches!(err, ChainError::Reverted(Revert::Channels(_))),
            "{what}"
        );
    }
    // The idempotent claim refuses the forged ones before sending anything.
    for e in &v["refused"].as_array().unwrap()[..4] {
        let err = s
            .payee
            .claim_owed(one, amount(&e["cumulative"]), &signature(&e["signature"]))
            .await
            .unwrap_err();
        assert!(matches!(err, ChainError::Voucher(_)), "{err:?}");
        assert_eq!(err.reason(), string(&e["local"]));
    }
    // Nothing moved for any of them.
    assert_eq!(s.payee.channel(one).await.unwrap().paid_out, paid);
    assert_eq!(s.balance(payee).await, paid);

    // Above the deposit: pays what is left, and stays good for a top-up.
    let over = &v["over_deposit"];
    let sig = signature(&over["signature"]);
    let claimed = s
        .payee
        .claim(one, amount(&over["cumulative"]), &sig)
        .await
        .unwrap();
    assert_eq!(claimed.amount, amount(&over["pays"]));
    assert_eq!(claimed.paid_out, amount(&over["paid_out_after"]));
    let err = s
        .payee
        .claim(one, amount(&over["cumulative"]), &sig)
        .await
        .unwrap_err();
    assert_eq!(revert_name(&err), "EscrowExhausted");
    s.payer.top_up(one, 300).await.unwrap();
    let rest = s
        .payee
        .claim(one, amount(&over["cumulative"]), &sig)
        .await
        .unwrap();
    assert_eq!((rest.amount, rest.paid_out), (300, deposit + 300));

    // The payee's golden close ends channel 2.
    let close = &v["close"];
    let cumulative = amount(&close["cumulative"]);
    let digest: B256 = string(&close["digest"]).parse().unwrap();
    assert_eq!(s.payer.close_digest(two, cumulative).await.unwrap(), digest);
    // Only the payer may present it; a stranger's close signature is refused.
    let err = s
        .payee
        .cooperative_close(two, cumulative, &signature(&close["signature"]))
        .await
        .unwrap_err();
    assert_eq!(revert_name(&err), "NotPayer");
    let forged = Close::new(two, cumulative)
        .sign(&domain, s.stranger.client().wallet())
        .unwrap();
    let err = s
        .payer
        .cooperative_close(two, cumulative, &forged)
        .await
        .unwrap_err();
    assert_eq!(revert_name(&err), "InvalidSignature");
    let closed = s
        .payer
        .cooperative_close(two, cumulative, &signature(&close["signature"]))
        .await
        .unwrap();
    assert_eq!(closed.paid, amount(&close["pays"]));
    assert_eq!(closed.refund, amount(&close["refund"]));
    assert_eq!(s.balance(payee).await, deposit + 300 + cumulative);
    assert_eq!(s.balance(s.payer.address()).await, 0);
    assert_eq!(
        s.balance(payer).await,
        10 * deposit - 2 * deposit - 300 + closed.refund
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_calls_are_refused_with_the_contracts_named_errors() {
    let s = Setup::fresh().await;
    let (payer, payee) = (s.payer.client().address(), s.payee.client().address());
    s.payer.mint(payer, U256::from(5_000u64)).await.unwrap();

    assert_eq!(named(s.payer.open(payer, 100, 60).await), "InvalidPayee");
    assert_eq!(
        named(s.payer.open(Address::ZERO, 100, 60).await),
        "InvalidPayee"
    );
    assert_eq!(named(s.payer.open(payee, 0, 60).await), "ZeroAmount");
    assert_eq!(
        named(s.payer.open(payee, 100, 0).await),
        "InvalidChallengeWindow"
    );
    let month = 30 * 24 * 3600;
    assert_eq!(
        named(s.payer.open(payee, 100, month + 1).await),
        "InvalidChallengeWindow"
    );
    // The token's own error comes through, decoded: the stranger holds no tokens.
    let err = s.stranger.open(payee, 100, 60).await.unwrap_err();
    assert_eq!(revert_name(&err), "ERC20InsufficientBalance");
    assert!(matches!(err, ChainError::Reverted(Revert::Token(_))));

    let id = s.payer.open(payee, 1_000, month).await.unwrap().channel_id;
    let unknown = U256::from(99);
    assert_eq!(named(s.payee.channel(unknown).await), "UnknownChannel");
    let sig = s.sign(id, 10);
    assert_eq!(
        named(s.payee.claim(unknown, 10, &sig).await),
        "UnknownChannel"
    );
    assert_eq!(named(s.payer.claim(id, 10, &sig).await), "NotPayee");
    assert_eq!(named(s.stranger.claim(id, 10, &sig).await), "NotPayee");
    assert_eq!(
        named(s.payee.claim(id, 0, &s.sign(id, 0)).await),
        "VoucherNotAbove"
    );
    assert_eq!(named(s.payee.start_close(id).await), "NotPayer");
    assert_eq!(named(s.payee.top_up(id, 10).await), "NotPayer");
    assert_eq!(named(s.payer.top_up(id, 0).await), "ZeroAmount");
    assert_eq!(named(s.payer.withdraw(id).await), "NotClosing");
    assert_eq!(named(s.stranger.withdraw(id).await), "NotPayer");
    s.payer.start_close(id).await.unwrap();
    assert_eq!(named(s.payer.start_close(id).await), "ChannelClosing");
    assert_eq!(named(s.payer.top_up(id, 10).await), "ChannelClosing");

    // A deposit cannot pass 2^128 - 1 (the stranger mints the test token for itself).
    let stranger = s.stranger.client().address();
    s.stranger
        .mint(stranger, U256::from(u128::MAX) + U256::from(1u64))
        .await
        .unwrap();
    let full = s
        .stranger
        .open(payee, u128::MAX, 60)
        .await
        .unwrap()
        .channel_id;
    assert_eq!(named(s.stranger.top_up(full, 1).await), "DepositOverflow");
    assert_eq!(s.stranger.channel(full).await.unwrap().deposit, u128::MAX);
    assert_eq!(s.balance(stranger).await, 1);

    // None of it moved a token.
    assert_eq!(s.balance(payer).await, 4_000);
    assert_eq!(
        s.payer.token_balance(s.payer.address()).await.unwrap(),
        U256::from(u128::MAX) + U256::from(1_000u64)
    );
    assert_eq!(s.balance(payee).await, 0);
    // A wallet with no gas money: the node refuses the transaction, which is not a revert.
    let broke = ChainClient::connect(s.anvil.url(), Wallet::generate())
        .await
        .unwrap()
        .channels(s.payer.address())
        .await
        .unwrap();
    let err = broke.approve(10).await.unwrap_err();
    assert!(matches!(err, ChainError::Rpc { .. }), "{err:?}");
    assert_eq!(err.reason(), "chain_refused");
    // A contract address that holds no code is refused before any call.
    let err = s.payer.client().channels(payee).await.unwrap_err();
    assert!(matches!(err, ChainError::Unexpected(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_rpc_is_not_a_refusal() {
    // A port nothing listens on: bound by us, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let wallet = Wallet::generate();
    let err = ChainClient::connect(&format!("http://127.0.0.1:{port}"), wallet.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.reason(), "chain_unreachable");
    let err = ChainClient::connect("https://127.0.0.1:1", wallet.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Invalid(_)), "{err:?}");

    // A chain that goes away under a connected client.
    let mut s = Setup::fresh().await;
    let id = {
        let payer = s.payer.client().address();
        s.payer.mint(payer, U256::from(100u64)).await.unwrap();
        let payee = s.payee.client().address();
        s.payer.open(payee, 100, 60).await.unwrap().channel_id
    };
    assert_eq!(s.payee.channel(id).await.unwrap().deposit, 100);
    s.anvil.stop();
    let err = s.payee.channel(id).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
    let err = s.payee.claim(id, 10, &s.sign(id, 10)).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
}

/// The digest and signature of each golden voucher, made again by an independent tool:
/// `cast wallet sign --data` hashes the EIP-712 typed data itself and signs it (RFC 6979,
/// so the same digest gives the same signature), and `cast keccak`/`abi-encode` rebuild the
/// digest by hand from the EIP-712 rules.
#[test]
fn the_golden_vouchers_agree_with_cast() {
    let v = vectors();
    let cast = tool("cast");
    let run = |args: &[&str]| -> String {
        let output = Command::new(&cast).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "cast {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let domain_type = run(&[
        "keccak",
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
    ]);
    let (name, version) = (run(&["keccak", "CairnChannels"]), run(&["keccak", "1"]));
    let digest_by_hand =
        |primary: &str, chain: &str, contract: &str, channel: &str, cumulative: &str| {
            let encoded = run(&[
                "abi-encode",
                "f(bytes32,bytes32,bytes32,uint256,address)",
                &domain_type,
                &name,
                &version,
                chain,
                contract,
            ]);
            let separator = run(&["keccak", &encoded]);
            let type_hash = run(&[
                "keccak",
                &format!("{primary}(uint256 channelId,uint256 cumulative)"),
            ]);
            let encoded = run(&[
                "abi-encode",
                "f(bytes32,uint256,uint256)",
                &type_hash,
                channel,
                cumulative,
            ]);
            let struct_hash = run(&["keccak", &encoded]);
            let joined = run(&["concat-hex", "0x1901", &separator, &struct_hash]);
            run(&["keccak", &joined])
        };
    let typed_data = |primary: &str,
                      chain: &serde_json::Value,
                      contract: &str,
                      channel: &str,
                      cumulative: &str| {
        serde_json::json!({
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"}
                ],
                primary: [
                    {"name": "channelId", "type": "uint256"},
                    {"name": "cumulative", "type": "uint256"}
                ]
            },
            "primaryType": primary,
            "domain": {"name": "CairnChannels", "version": "1", "chainId": chain, "verifyingContract": contract},
            "message": {"channelId": channel, "cumulative": cumulative}
        })
        .to_string()
    };

    let separator = {
        let d = &v["domain"];
        let encoded = run(&[
            "abi-encode",
            "f(bytes32,bytes32,bytes32,uint256,address)",
            &domain_type,
            &name,
            &version,
            &d["chain_id"].to_string(),
            string(&d["contract"]),
        ]);
        run(&["keccak", &encoded])
    };
    assert_eq!(separator, string(&v["domain"]["separator"]));

    let mut vouchers: Vec<(&serde_json::Value, &str, &str)> = Vec::new();
    for e in v["valid"].as_array().unwrap() {
        vouchers.push((e, "payer", "Voucher"));
    }
    // The refused vouchers whose signatures are genuine, each in the domain it was made in.
    for e in &v["refused"].as_array().unwrap()[..4] {
        let signer = if string(&e["description"]).contains("stranger") {
            "stranger"
        } else {
            "payer"
        };
        vouchers.push((e, signer, "Voucher"));
    }
    vouchers.push((&v["over_deposit"], "payer", "Voucher"));
    let close = &v["close"];
    let close_entry = serde_json::json!({
        "signed_in": v["domain"].clone(),
        "channel_id": close["channel_id"],
        "cumulative": close["cumulative"],
        "digest": close["digest"],
        "signature": close["signature"],
        "description": close["description"],
    });
    vouchers.push((&close_entry, "payee", "Close"));

    for (e, signer, primary) in vouchers {
        let what = string(&e["description"]);
        let signed_in = &e["signed_in"];
        let chain = &signed_in["chain_id"];
        let contract = string(&signed_in["contract"]);
        let channel = e["channel_id"].to_string();
        let cumulative = string(&e["cumulative"]);
        let digest = digest_by_hand(primary, &chain.to_string(), contract, &channel, cumulative);
        assert_eq!(digest, string(&e["digest"]), "{what}: digest by hand");
        let data = typed_data(primary, chain, contract, &channel, cumulative);
        let secret = string(&v["keys"][signer]["secret"]);
        let sig = run(&["wallet", "sign", "--data", &data, "--private-key", secret]);
        assert_eq!(
            sig,
            string(&e["signature"]),
            "{what}: cast's EIP-712 signature"
        );
    }
}

/// A claim sent whose receipt never came (the payee crashed, or its RPC went away, right
/// after sending): the client says so with the transaction's hash, the chain's state says
/// what happened, and sending the same voucher again can never pay twice.
#[tokio::test(flavor = "multi_thread")]
async fn an_unconfirmed_claim_is_reconciled_from_the_chain_and_never_pays_twice() {
    let s = Setup::fresh().await;
    let (payer, payee) = (s.payer.client().address(), s.payee.client().address());
    s.payer.mint(payer, U256::from(1_000u64)).await.unwrap();
    let id = s.payer.open(payee, 1_000, 600).await.unwrap().channel_id;

    // The chain stops mining: the claim is accepted into the pool but never confirmed.
    s.anvil.set_automine(false).await.unwrap();
    let impatient = s
        .payee
        .client()
        .clone()
        .with_receipt_timeout(Duration::from_secs(2))
        .channels(s.payee.address())
        .await
        .unwrap();
    let voucher = s.sign(id, 400);
    let err = impatient.claim(id, 400, &voucher).await.unwrap_err();
    assert_eq!(err.reason(), "unconfirmed");
    let ChainError::Unconfirmed { tx, .. } = err else {
        panic!("expected an unconfirmed claim, got {err:?}");
    };
    assert_eq!(s.payee.channel(id).await.unwrap().paid_out, 0);

    // The chain mines again; the payee reconciles from the channel's state, not its memory.
    s.anvil.mine().await.unwrap();
    s.anvil.set_automine(true).await.unwrap();
    let receipt = s
        .payee
        .client()
        .provider()
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .expect("the claim was mined");
    assert!(receipt.status());
    let state = s.payee.channel(id).await.unwrap();
    assert_eq!(state.paid_out, 400);
    assert_eq!(state.claimable(400), 0);
    let err = s.payee.claim(id, 400, &voucher).await.unwrap_err();
    assert_eq!(revert_name(&err), "VoucherNotAbove");
    // The idempotent path sends nothing for what was already paid, and pays only the rest.
    assert_eq!(s.payee.claim_owed(id, 400, &voucher).await.unwrap(), None);
    let rest = s.payee.claim_owed(id, 650, &s.sign(id, 650)).await.unwrap();
    assert_eq!(rest.map(|c| (c.amount, c.paid_out)), Some((250, 650)));
    assert_eq!(s.balance(payee).await, 650);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anvil_that_cannot_start_is_an_error() {
    let missing = evm_dir().join("node_modules/.bin/no-such-anvil");
    let err = Anvil::start(&missing).await.unwrap_err();
    assert!(matches!(err, ChainError::Io { .. }), "{err:?}");
    // A program that exits at once never listens.
    let err = Anvil::start(std::path::Path::new("/bin/false"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Unexpected(m) if m.contains("exited")),
        "{err:?}"
    );
}
