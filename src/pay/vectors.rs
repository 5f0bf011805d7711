//! Golden vectors for payments (`contracts/vectors/pay.json`): a channel open, a valid
//! sequence of receipts, receipts that must be refused with their reasons, a close, retrieval
//! charges and one request/response pair on the wire. The file is checked both ways: the
//! generator must reproduce it byte for byte, and its objects must pass or fail as it says.

use super::fixtures::*;
use super::*;
use crate::amount::Amount;
use crate::signed::{Signable, Signed};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contracts/vectors/pay.json");
const DEPOSIT: u64 = 1_000;
/// The valid sequence: cumulative totals, seq 1, 2, 3.
const AMOUNTS: [u64; 3] = [100, 250, 600];

fn hex_of<T: Signable>(signed: &Signed<T>) -> String {
    hex::encode(signed.to_bytes().unwrap())
}

fn terms() -> RetrievalTerms {
    RetrievalTerms {
        price_per_gib: Amount(100),
        free_bytes: 1 << 20,
        payment_threshold: Amount(50),
        disconnect_threshold: Amount(200),
    }
}

fn vectors() -> serde_json::Value {
    let open = signed_open(DEPOSIT);
    let mut channel = Channel::from_open(&open).unwrap();
    let deal = signed_open(1).cid().unwrap();
    let mut valid = Vec::new();
    for (i, amount) in AMOUNTS.iter().enumerate() {
        let seq = i as u64 + 1;
        let increment = Amount(amount - channel.paid.0);
        let deal = (seq == 2).then_some(deal);
        let r = channel
            .next_receipt(increment, deal, NOW + seq * 1000)
            .unwrap();
        let signed = Signed::sign(r, &payer_key()).unwrap();
        channel.apply(&signed.payload);
        valid.push(signed);
    }
    let latest = valid[2].clone();
    // Each refused receipt is otherwise a plausible next one: seq 4, 700 in total.
    let next = channel.next_receipt(Amount(100), None, NOW + 4000).unwrap();
    let by_payer = |r: Receipt| Signed::sign(r, &payer_key()).unwrap();
    let mut forged = by_payer(next.clone());
    forged.signature[0] ^= 1;
    let refused = [
        (
            "signature with one bit flipped",
            hex_of(&forged),
            "bad_signature",
        ),
        (
            "receipt for another payee",
            hex_of(&by_payer(Receipt {
                payee: public(&stranger_key()),
                ..next.clone()
            })),
            "wrong_payee",
        ),
        (
            "the second receipt replayed (seq below the latest)",
            hex_of(&valid[1]),
            "replayed",
        ),
        (
            "a total below the latest",
            hex_of(&by_payer(Receipt {
                amount: Amount(500),
                ..next.clone()
            })),
            "not_increasing",
        ),
        (
            "a total over the deposit",
            hex_of(&by_payer(Receipt {
                amount: Amount(DEPOSIT + 1),
                ..next.clone()
            })),
            "over_deposit",
        ),
        (
            "signed by a stranger in the payer's name",
            hex_of(&Signed::sign(next.clone(), &stranger_key()).unwrap()),
            "wrong_signer",
        ),
        (
            "receipt for another channel",
            hex_of(&by_payer(Receipt {
                channel: deal.into(),
                ..next
            })),
            "wrong_channel",
        ),
    ];
    let close = ChannelClose {
        channel: channel.id,
        amount: channel.paid,
        seq: channel.seq,
        at: NOW + 5000,
    };
    let close = Signed::sign(close, &payee_key()).unwrap();
    let request = PayRequest::Pay(valid.clone());
    let response = PayResponse::Acks(valid.iter().map(|r| Ack::stored(&r.payload)).collect());
    let charges: Vec<_> = [0u64, 1 << 20, (1 << 20) + 1, (1 << 20) + (1 << 30), 5 << 30]
        .iter()
        .map(|&bytes| serde_json::json!({"bytes": bytes, "charge": terms().charge(bytes).unwrap().0}))
        .collect();
    serde_json::json!({
        "keys": {
            "payer_seed": hex::encode([3u8; 32]),
            "payee_seed": hex::encode([4u8; 32]),
            "stranger_seed": hex::encode([5u8; 32]),
        },
        "open": {"signed": hex_of(&open), "channel_id": channel.id.to_string(), "deposit": DEPOSIT},
        "receipts": valid.iter().map(|r| serde_json::json!({
            "seq": r.payload.seq,
            "amount": r.payload.amount.0,
            "signed": hex_of(r),
        })).collect::<Vec<_>>(),
        "state_after": {"paid": channel.paid.0, "seq": channel.seq},
        "duplicate": {"name": "the latest receipt again", "signed": hex_of(&latest), "status": "duplicate"},
        "refused": refused.iter().map(|(name, signed, reason)| serde_json::json!({
            "name": name, "signed": signed, "reason": reason,
        })).collect::<Vec<_>>(),
        "close": {"signed": hex_of(&close)},
        "retrieval": {"terms": terms(), "charges": charges},
        "wire": {
            "pay_request": hex::encode(request.to_bytes().unwrap()),
            "acks_response": hex::encode(response.to_bytes().unwrap()),
        },
    })
}

fn receipt_from(hex_str: &serde_json::Value) -> Signed<Receipt> {
    let bytes = hex::decode(hex_str.as_str().unwrap()).unwrap();
    Signed::<Receipt>::from_bytes(&bytes, MAX_RECEIPT_SIZE).unwrap()
}

#[test]
fn golden_vectors_match_and_each_receipt_meets_its_fate() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(
        vectors(),
        expected,
        "regenerate with CAIRN_REGEN_VECTORS=1 only for a new version"
    );

    let bytes = hex::decode(expected["open"]["signed"].as_str().unwrap()).unwrap();
    let open = Signed::<ChannelOpen>::from_bytes(&bytes, MAX_OPEN_SIZE).unwrap();
    let mut channel = Channel::from_open(&open).unwrap();
    assert_eq!(channel.id.to_string(), expected["open"]["channel_id"]);
    assert_eq!(channel.deposit.0, expected["open"]["deposit"]);

    // The valid sequence is accepted in order, and only in order.
    let valid: Vec<_> = expected["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| receipt_from(&r["signed"]))
        .collect();
    assert_eq!(channel.check_receipt(&valid[1]).unwrap(), Verdict::New);
    for receipt in &valid {
        assert_eq!(channel.check_receipt(receipt).unwrap(), Verdict::New);
        channel.apply(&receipt.payload);
    }
    assert_eq!(channel.paid.0, expected["state_after"]["paid"]);
    assert_eq!(channel.seq, expected["state_after"]["seq"]);
    assert!(verify_batch(&valid).iter().all(Result::is_ok));

    let duplicate = receipt_from(&expected["duplicate"]["signed"]);
    assert_eq!(
        channel.check_receipt(&duplicate).unwrap(),
        Verdict::Duplicate
    );

    let before = channel.clone();
    for case in expected["refused"].as_array().unwrap() {
        let receipt = receipt_from(&case["signed"]);
        assert_eq!(
            channel.check_receipt(&receipt).unwrap_err().reason(),
            case["reason"],
            "{}",
            case["name"]
        );
    }
    assert_eq!(channel, before, "a refused receipt changes nothing");

    let bytes = hex::decode(expected["close"]["signed"].as_str().unwrap()).unwrap();
    let close = Signed::<ChannelClose>::from_bytes(&bytes, MAX_CLOSE_SIZE).unwrap();
    assert_eq!(close.check(&channel).unwrap().amount, channel.paid);
    assert_eq!(
        check_settlement(&channel, Some(&valid[2])).unwrap(),
        (channel.paid, channel.seq)
    );

    let terms: RetrievalTerms =
        serde_json::from_value(expected["retrieval"]["terms"].clone()).unwrap();
    for case in expected["retrieval"]["charges"].as_array().unwrap() {
        assert_eq!(
            terms.charge(case["bytes"].as_u64().unwrap()).unwrap().0,
            case["charge"]
        );
    }

    let bytes = hex::decode(expected["wire"]["pay_request"].as_str().unwrap()).unwrap();
    assert_eq!(
        PayRequest::from_bytes(&bytes).unwrap(),
        PayRequest::Pay(valid)
    );
    let bytes = hex::decode(expected["wire"]["acks_response"].as_str().unwrap()).unwrap();
    let PayResponse::Acks(acks) = PayResponse::from_bytes(&bytes).unwrap() else {
        panic!("not acks");
    };
    assert!(acks.iter().all(|a| a.status == "stored"));
}

#[test]
#[ignore = "writes contracts/vectors/pay.json; run with CAIRN_REGEN_VECTORS=1"]
fn regenerate_vectors() {
    if std::env::var("CAIRN_REGEN_VECTORS").as_deref() == Ok("1") {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&vectors()).unwrap() + "\n",
        )
        .unwrap();
    }
}
