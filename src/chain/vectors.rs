//! Golden vectors for `CairnChannels` vouchers (`contracts/vectors/evm-vouchers.json`):
//! fixed secp256k1 keys, a fixed chain id, contract and channel ids, the EIP-712 digest and
//! signature of valid vouchers to claim in order, and vouchers the contract must refuse (for
//! another channel, another chain id, another contract, by a stranger, malformed, replayed).
//! The file is checked both ways: the generator reproduces it byte for byte, and each voucher
//! meets its local fate here; `tests/chain.rs` presents the same vouchers to a real contract.

use alloy::primitives::{Address, B256, U256};
use serde_json::json;

use super::voucher::{recover, Close, Domain, Voucher, DOMAIN_NAME, DOMAIN_VERSION};
use super::wallet::Wallet;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contracts/vectors/evm-vouchers.json"
);

/// Anvil's default chain id.
const CHAIN_ID: u64 = 31337;
/// Where a fresh anvil puts `CairnChannels` when its first account deploys the test token
/// (nonce 0, at `TOKEN`) and then the contract (nonce 1): the addresses are those of
/// `CREATE` from `DEPLOYER`, so `tests/chain.rs` reproduces them.
const DEPLOYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const CONTRACT: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
/// Another contract address, for a voucher that must not be valid here.
const OTHER_CONTRACT: &str = "0x000000000000000000000000000000000000cafe";
const DEPOSIT: u128 = 1_000;
const CHANNEL: u64 = 1;
const OTHER_CHANNEL: u64 = 2;
/// The valid sequence of cumulative totals on channel 1.
const CUMULATIVES: [u128; 3] = [100, 250, 600];
/// Each refused voucher would otherwise be a plausible next one.
const NEXT: u128 = 700;
/// A voucher above the deposit: pays what is left of the escrow.
const OVER: u128 = 1_500;

fn key(byte: u8) -> Wallet {
    Wallet::from_secret([byte; 32]).unwrap()
}

fn payer() -> Wallet {
    key(3)
}
fn payee() -> Wallet {
    key(4)
}
fn stranger() -> Wallet {
    key(5)
}

fn address(text: &str) -> Address {
    text.parse().unwrap()
}

fn domain() -> Domain {
    Domain::new(CHAIN_ID, address(CONTRACT))
}

fn b256(value: &serde_json::Value) -> B256 {
    value.as_str().unwrap().parse().unwrap()
}

fn sig_hex(sig: &[u8]) -> String {
    format!("0x{}", hex::encode(sig))
}

fn sig_bytes(value: &serde_json::Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

/// The secp256k1 group order, to malleate a signature into its high-`s` twin.
const ORDER: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

/// What a voucher signed in `signed_in` for `(channel, cumulative)` looks like in the file.
fn entry(
    description: &str,
    channel: u64,
    cumulative: u128,
    signed_in: Domain,
    sig: &[u8],
) -> serde_json::Value {
    let voucher = Voucher::new(U256::from(channel), cumulative);
    json!({
        "description": description,
        "signed_in": {"chain_id": signed_in.chain_id, "contract": signed_in.contract.to_checksum(None)},
        "channel_id": channel,
        "cumulative": cumulative.to_string(),
        "digest": voucher.digest(&signed_in).to_string(),
        "signature": sig_hex(sig),
    })
}

fn vectors() -> serde_json::Value {
    let d = domain();
    let sign = |channel: u64, cumulative: u128, domain: &Domain, wallet: &Wallet| {
        Voucher::new(U256::from(channel), cumulative)
            .sign(domain, wallet)
            .unwrap()
    };
    let valid: Vec<_> = CUMULATIVES
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let mut e = entry(
                &format!("voucher {} of the sequence", i + 1),
                CHANNEL,
                c,
                d,
                &sign(CHANNEL, c, &d, &payer()),
            );
            let before = if i == 0 { 0 } else { CUMULATIVES[i - 1] };
            e["pays"] = json!((c - before).to_string());
            e
        })
        .collect();

    let good_next = sign(CHANNEL, NEXT, &d, &payer());
    let mut flipped = good_next;
    flipped[10] ^= 1;
    let mut high_s = good_next;
    let s = ORDER - U256::from_be_slice(&good_next[32..64]);
    high_s[32..64].copy_from_slice(&s.to_be_bytes::<32>());
    high_s[64] = if good_next[64] == 27 { 28 } else { 27 };
    let mut v_zero = good_next;
    v_zero[64] -= 27;

    let other_chain = Domain::new(1, d.contract);
    let other_contract = Domain::new(CHAIN_ID, address(OTHER_CONTRACT));
    // (description, voucher as presented, how it was signed, local reason, contract error)
    let refused: Vec<serde_json::Value> =
        vec![
        (
            entry(
                "a voucher for channel 2 (same payer, payee and contract), presented on channel 1",
                OTHER_CHANNEL,
                NEXT,
                d,
                &sign(OTHER_CHANNEL, NEXT, &d, &payer()),
            ),
            "wrong_signer",
            "InvalidSignature",
        ),
        (
            entry(
                "a voucher signed for chain id 1 (same contract address)",
                CHANNEL,
                NEXT,
                other_chain,
                &sign(CHANNEL, NEXT, &other_chain, &payer()),
            ),
            "wrong_signer",
            "InvalidSignature",
        ),
        (
            entry(
                "a voucher signed for another contract on the same chain",
                CHANNEL,
                NEXT,
                other_contract,
                &sign(CHANNEL, NEXT, &other_contract, &payer()),
            ),
            "wrong_signer",
            "InvalidSignature",
        ),
        (
            entry(
                "a voucher signed by a stranger, not the payer",
                CHANNEL,
                NEXT,
                d,
                &sign(CHANNEL, NEXT, &d, &stranger()),
            ),
            "wrong_signer",
            "InvalidSignature",
        ),
        (
            entry("the payer's voucher with one bit of r flipped", CHANNEL, NEXT, d, &flipped),
            "",
            "InvalidSignature",
        ),
        (
            entry(
                "the payer's voucher malleated to its high-s twin (s' = n - s, v flipped)",
                CHANNEL,
                NEXT,
                d,
                &high_s,
            ),
            "bad_signature",
            "InvalidSignature",
        ),
        (
            entry("the payer's voucher with v as 0/1 instead of 27/28", CHANNEL, NEXT, d, &v_zero),
            "bad_signature",
            "InvalidSignature",
        ),
        (
            entry("the payer's voucher cut to 64 bytes", CHANNEL, NEXT, d, &good_next[..64]),
            "bad_signature",
            "InvalidSignature",
        ),
        (
            entry(
                "the second voucher of the sequence again (a replay)",
                CHANNEL,
                CUMULATIVES[1],
                d,
                &sign(CHANNEL, CUMULATIVES[1], &d, &payer()),
            ),
            "valid_signature",
            "VoucherNotAbove",
        ),
        (
            entry(
                "a fresh voucher below the latest (500 after 600)",
                CHANNEL,
                500,
                d,
                &sign(CHANNEL, 500, &d, &payer()),
            ),
            "valid_signature",
            "VoucherNotAbove",
        ),
    ]
        .into_iter()
        .map(|(mut e, local, contract_error)| {
            let sig = sig_bytes(&e["signature"]);
            let digest = Voucher::new(
                U256::from(CHANNEL),
                e["cumulative"].as_str().unwrap().parse().unwrap(),
            )
            .digest(&d);
            // The flipped bit's local fate is whatever recovery gives; record it, never guess.
            let local = match (local, recover(&digest, &sig)) {
                ("", Ok(_)) => "wrong_signer",
                ("", Err(err)) => err.reason(),
                (fixed, _) => fixed,
            };
            e["local"] = json!(local);
            e["contract_error"] = json!(contract_error);
            e
        })
        .collect();

    let mut over = entry(
        "a voucher above the deposit, after the sequence: pays the rest of the escrow",
        CHANNEL,
        OVER,
        d,
        &sign(CHANNEL, OVER, &d, &payer()),
    );
    over["pays"] = json!((DEPOSIT - CUMULATIVES[2]).to_string());
    over["paid_out_after"] = json!(DEPOSIT.to_string());

    let close = Close::new(U256::from(OTHER_CHANNEL), 300);
    let close_sig = close.sign(&d, &payee()).unwrap();
    let wallet = |w: Wallet| json!({"secret": format!("0x{}", hex::encode(w.signer().to_bytes())), "address": w.address().to_checksum(None)});
    json!({
        "description": "EIP-712 vouchers of CairnChannels (contracts/evm.md). Signatures are r || s || v (65 bytes, v 27 or 28, low s), deterministic (RFC 6979). The valid vouchers are claimed in order on channel 1; each refused one is presented on channel 1 after them and must revert with contract_error; local is the reason a node refuses it before sending (valid_signature: the signature is the payer's, the amount is what is refused).",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chain_id": CHAIN_ID,
            "contract": address(CONTRACT).to_checksum(None),
            "separator": d.separator().to_string(),
        },
        "types": {
            "EIP712Domain": "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
            "Voucher": "Voucher(uint256 channelId,uint256 cumulative)",
            "Close": "Close(uint256 channelId,uint256 cumulative)",
        },
        "keys": {"payer": wallet(payer()), "payee": wallet(payee()), "stranger": wallet(stranger())},
        "deployment": {
            "note": "a fresh anvil (chain id 31337): its first account deploys TestToken (nonce 0), then CairnChannels(token) (nonce 1); the payer opens channel 1 to the payee with the deposit, then channel 2 likewise",
            "deployer": DEPLOYER,
            "token": TOKEN,
            "contract": CONTRACT,
        },
        "deposit": DEPOSIT.to_string(),
        "channel_id": CHANNEL,
        "other_channel_id": OTHER_CHANNEL,
        "valid": valid,
        "state_after": {"paid_out": CUMULATIVES[2].to_string()},
        "refused": refused,
        "over_deposit": over,
        "close": {
            "description": "the payee agrees to end channel 2 at 300: the payer's cooperativeClose pays the payee 300 and refunds 700",
            "channel_id": OTHER_CHANNEL,
            "cumulative": "300",
            "digest": close.digest(&d).to_string(),
            "signature": sig_hex(&close_sig),
            "pays": "300",
            "refund": (DEPOSIT - 300).to_string(),
        },
    })
}

fn text() -> String {
    format!("{}\n", serde_json::to_string_pretty(&vectors()).unwrap())
}

#[test]
fn golden_vouchers_match_and_each_meets_its_fate() {
    let committed = std::fs::read_to_string(PATH).expect("contracts/vectors/evm-vouchers.json");
    assert_eq!(
        committed,
        text(),
        "regenerate with CAIRN_REGEN_VECTORS=1 only for a new version"
    );
    let v: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let d = domain();
    assert_eq!(b256(&v["domain"]["separator"]), d.separator());
    let payer_address = address(v["keys"]["payer"]["address"].as_str().unwrap());
    assert_eq!(payer_address, payer().address());

    let mut paid = 0u128;
    for e in v["valid"].as_array().unwrap() {
        let cumulative: u128 = e["cumulative"].as_str().unwrap().parse().unwrap();
        let voucher = Voucher::new(U256::from(CHANNEL), cumulative);
        assert_eq!(voucher.digest(&d), b256(&e["digest"]));
        let sig = sig_bytes(&e["signature"]);
        voucher.verify(&d, &sig, payer_address).unwrap();
        assert_eq!(recover(&voucher.digest(&d), &sig).unwrap(), payer_address);
        assert!(cumulative > paid);
        paid = cumulative;
    }
    assert_eq!(v["state_after"]["paid_out"], paid.to_string());

    let refused = v["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 10);
    for e in refused {
        // Presented on channel 1 in this domain: the digest the contract computes.
        let cumulative: u128 = e["cumulative"].as_str().unwrap().parse().unwrap();
        let voucher = Voucher::new(U256::from(CHANNEL), cumulative);
        let sig = sig_bytes(&e["signature"]);
        let result = voucher.verify(&d, &sig, payer_address);
        let what = e["description"].as_str().unwrap();
        match e["local"].as_str().unwrap() {
            "valid_signature" => {
                result.unwrap_or_else(|err| panic!("{what}: {err}"));
                assert!(cumulative <= paid, "{what}");
            }
            reason => assert_eq!(result.unwrap_err().reason(), reason, "{what}"),
        }
        // The digest in the file is the one the signer signed, in its own domain.
        let signed_in = Domain::new(
            e["signed_in"]["chain_id"].as_u64().unwrap(),
            address(e["signed_in"]["contract"].as_str().unwrap()),
        );
        let signed = Voucher::new(U256::from(e["channel_id"].as_u64().unwrap()), cumulative);
        assert_eq!(signed.digest(&signed_in), b256(&e["digest"]), "{what}");
    }
    // The vouchers for another channel, chain and contract are the payer's own, valid where
    // they were signed: only the binding refuses them.
    for e in &refused[..3] {
        let signed_in = Domain::new(
            e["signed_in"]["chain_id"].as_u64().unwrap(),
            address(e["signed_in"]["contract"].as_str().unwrap()),
        );
        let cumulative: u128 = e["cumulative"].as_str().unwrap().parse().unwrap();
        let signed = Voucher::new(U256::from(e["channel_id"].as_u64().unwrap()), cumulative);
        signed
            .verify(&signed_in, &sig_bytes(&e["signature"]), payer_address)
            .unwrap();
    }

    let over = &v["over_deposit"];
    Voucher::new(U256::from(CHANNEL), OVER)
        .verify(&d, &sig_bytes(&over["signature"]), payer_address)
        .unwrap();

    let close = &v["close"];
    let c = Close::new(U256::from(OTHER_CHANNEL), 300);
    assert_eq!(c.digest(&d), b256(&close["digest"]));
    c.verify(&d, &sig_bytes(&close["signature"]), payee().address())
        .unwrap();
    // A close is not a voucher: the same fields under the other type hash another digest.
    assert_ne!(
        c.digest(&d),
        Voucher::new(U256::from(OTHER_CHANNEL), 300).digest(&d)
    );
    assert_eq!(
        c.verify(&d, &sig_bytes(&close["signature"]), payer_address)
            .unwrap_err()
            .reason(),
        "wrong_signer"
    );
}

#[test]
#[ignore = "writes contracts/vectors/evm-vouchers.json; run with CAIRN_REGEN_VECTORS=1"]
fn regenerate_vectors() {
    if std::env::var("CAIRN_REGEN_VECTORS").as_deref() == Ok("1") {
        std::fs::write(PATH, text()).unwrap();
    }
}
