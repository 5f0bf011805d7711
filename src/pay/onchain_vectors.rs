//! Golden vectors for channels escrowed on chain (`contracts/vectors/pay-onchain.json`): an
//! open bound to a contract's channel, receipts carrying EIP-712 vouchers to accept in order,
//! receipts the payee must refuse (no voucher, a forged one, one for another channel, chain
//! id or contract, one for a lower amount, a version 1 receipt naming the channel by the open's
//! CID), the `pay` and `close` requests on the wire, and a provider's ask naming its chain.
//! Version 2: the channel id is the contract's. Checked both ways, as `vectors.rs`: the
//! generator reproduces the file, and each object meets its fate under the rules.

use alloy::primitives::{Address, U256};

use super::fixtures::*;
use super::*;
use crate::amount::Amount;
use crate::chain::{Domain, Voucher, Wallet};
use crate::market::{Ask, AskChain};
use crate::signed::{Signable, Signed};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contracts/vectors/pay-onchain.json"
);
const CHAIN_ID: u64 = 31337;
/// `CairnChannels` on a fresh anvil (as `contracts/vectors/evm-vouchers.json`).
const CONTRACT: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const CHANNEL: u64 = 1;
const DEPOSIT: u64 = 1_000;
const AMOUNTS: [u64; 2] = [100, 250];

fn payer_wallet() -> Wallet {
    Wallet::from_secret([0x11; 32]).unwrap()
}

fn payee_wallet() -> Wallet {
    Wallet::from_secret([0x22; 32]).unwrap()
}

fn domain() -> Domain {
    Domain::new(CHAIN_ID, CONTRACT.parse().unwrap())
}

fn binding() -> OnChain {
    OnChain::new(
        domain(),
        U256::from(CHANNEL),
        payer_wallet().address(),
        payee_wallet().address(),
    )
}

fn hex_of<T: Signable>(signed: &Signed<T>) -> String {
    hex::encode(signed.to_bytes().unwrap())
}

fn open() -> Signed<ChannelOpen> {
    let open = ChannelOpen {
        chain: Some(binding()),
        ..signed_open(DEPOSIT).payload
    };
    Signed::sign(open, &payer_key()).unwrap()
}

fn signed_voucher(domain: &Domain, channel: u64, amount: u64) -> Vec<u8> {
    Voucher::new(U256::from(channel), u128::from(amount))
        .sign(domain, &payer_wallet())
        .unwrap()
        .to_vec()
}

fn vectors() -> serde_json::Value {
    let open = open();
    let mut channel = Channel::from_open(&open).unwrap();
    let mut valid = Vec::new();
    for amount in AMOUNTS {
        let mut r = channel
            .next_receipt(Amount(amount - channel.paid.0), None, NOW + amount)
            .unwrap();
        r.voucher = Some(signed_voucher(&domain(), CHANNEL, amount));
        let signed = Signed::sign(r, &payer_key()).unwrap();
        channel.apply(&signed.payload);
        valid.push(signed);
    }
    let next = |voucher: Option<Vec<u8>>| {
        let mut r = channel.next_receipt(Amount(100), None, NOW + 400).unwrap();
        r.voucher = voucher;
        Signed::sign(r, &payer_key()).unwrap()
    };
    let mut forged = signed_voucher(&domain(), CHANNEL, 350);
    forged[5] ^= 1;
    let other_contract = Domain::new(CHAIN_ID, Address::repeat_byte(0xca));
    let refused = [
        ("no voucher", next(None), "missing_voucher"),
        (
            "voucher with one bit flipped",
            next(Some(forged)),
            "bad_voucher",
        ),
        (
            "voucher for another channel",
            next(Some(signed_voucher(&domain(), CHANNEL + 1, 350))),
            "bad_voucher",
        ),
        (
            "voucher for another chain id",
            next(Some(signed_voucher(
                &Domain::new(1, domain().contract),
                CHANNEL,
                350,
            ))),
            "bad_voucher",
        ),
        (
            "voucher for another contract",
            next(Some(signed_voucher(&other_contract, CHANNEL, 350))),
            "bad_voucher",
        ),
        (
            "voucher for a lower amount than the receipt",
            next(Some(signed_voucher(&domain(), CHANNEL, 349))),
            "bad_voucher",
        ),
        (
            "version 1: the channel named by the open's CID",
            {
                let mut r = channel.next_receipt(Amount(100), None, NOW + 400).unwrap();
                r.channel = ChannelId::Open(open.cid().unwrap());
                r.voucher = Some(signed_voucher(&domain(), CHANNEL, 350));
                Signed::sign(r, &payer_key()).unwrap()
            },
            "wrong_channel",
        ),
    ];
    let request = PayRequest::Pay(valid.clone());
    let response = PayResponse::Acks(valid.iter().map(|r| Ack::stored(&r.payload)).collect());
    let close = PayRequest::Close(channel.id);
    let ask = Ask {
        price_per_gib_month: Amount(1000),
        retrieval_price_per_gib: Amount(0),
        min_duration_secs: 3600,
        max_duration_secs: 86_400,
        max_piece_size: 1 << 30,
        free_capacity: 1 << 30,
        min_challenge_period_secs: 60,
        collateral: Amount(0),
        expires_at: NOW + 3_600_000,
        seq: 1,
        chain: Some(AskChain {
            chain_id: CHAIN_ID,
            contract: domain().contract.into_array(),
            payee: payee_wallet().address().into_array(),
        }),
    };
    let ask = Signed::sign(ask, &payee_key()).unwrap();
    serde_json::json!({
        "keys": {
            "payer_ed25519_seed": "03".repeat(32),
            "payee_ed25519_seed": "04".repeat(32),
            "payer_secp256k1": "11".repeat(32),
            "payee_secp256k1": "22".repeat(32),
            "payer_address": payer_wallet().address().to_checksum(None),
            "payee_address": payee_wallet().address().to_checksum(None),
        },
        "domain": {"chain_id": CHAIN_ID, "contract": CONTRACT, "channel_id": CHANNEL},
        "open": {
            "signed": hex_of(&open),
            "channel_id": open.channel_id().unwrap().to_string(),
            "open_cid_not_the_id": open.cid().unwrap().to_string(),
            "deposit": DEPOSIT,
        },
        "receipts": valid.iter().map(|r| serde_json::json!({
            "amount": r.payload.amount.0,
            "voucher": hex::encode(r.payload.voucher.as_deref().unwrap_or_default()),
            "voucher_digest": binding().voucher(r.payload.amount.0).digest(&domain()).to_string(),
            "signed": hex_of(r),
        })).collect::<Vec<_>>(),
        "refused": refused.iter().map(|(name, r, reason)| serde_json::json!({
            "name": name, "signed": hex_of(r), "reason": reason,
        })).collect::<Vec<_>>(),
        "wire": {
            "pay_request": hex::encode(request.to_bytes().unwrap()),
            "acks_response": hex::encode(response.to_bytes().unwrap()),
            "close_request": hex::encode(close.to_bytes().unwrap()),
        },
        "ask": {"signed": hex_of(&ask)},
    })
}

fn receipt_from(value: &serde_json::Value) -> Signed<Receipt> {
    let bytes = hex::decode(value.as_str().unwrap()).unwrap();
    Signed::<Receipt>::from_bytes(&bytes, MAX_RECEIPT_SIZE).unwrap()
}

/// The payee's rules for a receipt on a bound channel: the ed25519 rules and the voucher.
fn accept(channel: &Channel, binding: &OnChain, r: &Signed<Receipt>) -> Result<Verdict, PayError> {
    r.verify()?;
    channel.check_parties_of(r)?;
    binding.check_voucher(&r.payload)?;
    channel.check_verified(r)
}

#[test]
fn the_onchain_vectors_are_reproduced_and_hold() {
    let text = std::fs::read_to_string(PATH).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        vectors(),
        expected,
        "regenerate with CAIRN_REGEN_VECTORS=1 only for a new version"
    );
    let bytes = hex::decode(expected["open"]["signed"].as_str().unwrap()).unwrap();
    let open = Signed::<ChannelOpen>::from_bytes(&bytes, MAX_OPEN_SIZE).unwrap();
    let binding = open.payload.chain.unwrap();
    assert_eq!(binding.channel_id(), U256::from(CHANNEL));
    assert_eq!(binding.domain(), domain());
    // Version 2: the channel is named by the contract's id, not by the open's CID.
    let id: ChannelId = expected["open"]["channel_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(id, ChannelId::chain(U256::from(CHANNEL)));
    assert_eq!(open.channel_id().unwrap(), id);
    assert_ne!(ChannelId::Open(open.cid().unwrap()), id);
    let mut channel = Channel::from_open(&open).unwrap();
    assert_eq!(channel.id, id);
    for case in expected["receipts"].as_array().unwrap() {
        let r = receipt_from(&case["signed"]);
        assert_eq!(accept(&channel, &binding, &r).unwrap(), Verdict::New);
        channel.apply(&r.payload);
    }
    assert_eq!(channel.paid, Amount(250));
    let before = channel.clone();
    for case in expected["refused"].as_array().unwrap() {
        let r = receipt_from(&case["signed"]);
        assert_eq!(
            accept(&channel, &binding, &r).unwrap_err().reason(),
            case["reason"],
            "{}",
            case["name"]
        );
    }
    assert_eq!(channel, before);
    // The wire messages decode strictly and name the channel by its 32 bytes.
    let wire = |name: &str| hex::decode(expected["wire"][name].as_str().unwrap()).unwrap();
    let PayRequest::Pay(paid) = PayRequest::from_bytes(&wire("pay_request")).unwrap() else {
        panic!("not a pay request");
    };
    assert!(paid.iter().all(|r| r.payload.channel == id));
    let PayResponse::Acks(acks) = PayResponse::from_bytes(&wire("acks_response")).unwrap() else {
        panic!("not acks");
    };
    assert!(acks.iter().all(|a| a.channel == id && a.is_accepted()));
    assert_eq!(
        PayRequest::from_bytes(&wire("close_request")).unwrap(),
        PayRequest::Close(id)
    );
    let mut id_bytes = vec![0x58, 0x20];
    id_bytes.extend_from_slice(&U256::from(CHANNEL).to_be_bytes::<32>());
    assert!(wire("close_request").ends_with(&id_bytes));
    let bytes = hex::decode(expected["ask"]["signed"].as_str().unwrap()).unwrap();
    let ask = Signed::<Ask>::from_bytes(&bytes, crate::market::ask::MAX_ASK_SIZE).unwrap();
    let chain = ask.check(NOW).unwrap().chain.unwrap();
    assert_eq!(Address::from(chain.payee), payee_wallet().address());
    // A ledger open and receipt keep exactly their version-1 bytes (no `chain`, no `voucher`).
    let ledger = hex_of(&signed_open(DEPOSIT));
    let v1: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/contracts/vectors/pay.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(v1["open"]["signed"], ledger.as_str());
}

#[test]
#[ignore = "writes contracts/vectors/pay-onchain.json; run with CAIRN_REGEN_VECTORS=1"]
fn regenerate_onchain_vectors() {
    if std::env::var("CAIRN_REGEN_VECTORS").as_deref() == Ok("1") {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&vectors()).unwrap() + "\n",
        )
        .unwrap();
    }
}
