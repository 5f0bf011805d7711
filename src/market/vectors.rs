//! Golden vectors for the market's signed objects (`contracts/vectors/market.json`), and the
//! policy's rules exercised one by one.

use ed25519_dalek::SigningKey;

use super::ask::MAX_ASK_SIZE;
use super::deal::MAX_PROPOSAL_SIZE;
use super::*;
use crate::amount::Amount;
use crate::signed::Signed;
use crate::units::GIB;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contracts/vectors/market.json");
const NOW: u64 = 1_800_000_000_000;

fn provider_key() -> SigningKey {
    SigningKey::from_bytes(&[1u8; 32])
}

fn client_key() -> SigningKey {
    SigningKey::from_bytes(&[2u8; 32])
}

fn ask() -> Ask {
    Ask {
        price_per_gib_month: Amount(1000),
        retrieval_price_per_gib: Amount(50),
        min_duration_secs: 24 * 3600,
        max_duration_secs: 365 * 24 * 3600,
        max_piece_size: 32 * GIB,
        free_capacity: 500 * GIB,
        min_challenge_period_secs: 3600,
        collateral: Amount(0),
        expires_at: NOW + 3_600_000,
        seq: 7,
        chain: None,
    }
}

fn proposal() -> DealProposal {
    DealProposal {
        client: client_key().verifying_key().to_bytes(),
        provider: provider_key().verifying_key().to_bytes(),
        root: crate::content::parse_cid(
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
        )
        .unwrap(),
        piece_root: *blake3::hash(b"piece").as_bytes(),
        piece_size: 3 * GIB / 2,
        start: NOW,
        duration_secs: 30 * 24 * 3600,
        price_per_gib_month: Amount(1000),
        challenge_period_secs: 3600,
        samples_per_challenge: 20,
        payment_channel: None,
        origins: vec![],
    }
}

fn policy() -> Policy {
    Policy {
        ask: ask(),
        provider: provider_key().verifying_key().to_bytes(),
        allow: None,
        deny: Default::default(),
    }
}

fn vectors() -> serde_json::Value {
    let signed_ask = Signed::sign(ask(), &provider_key()).unwrap();
    let signed = Signed::sign(proposal(), &client_key()).unwrap();
    let deal = signed.deal_id().unwrap();
    let acceptance = Signed::sign(
        DealAcceptance {
            deal,
            activated: false,
            at: NOW,
        },
        &provider_key(),
    )
    .unwrap();
    let mut forged = signed.clone();
    forged.signature[0] ^= 1;
    let mut tampered = signed.clone();
    tampered.payload.price_per_gib_month = Amount(1);
    let impostor = Signed::sign(proposal(), &provider_key()).unwrap();
    let hex_of = |s: &Signed<DealProposal>| hex::encode(s.to_bytes().unwrap());
    let cancel = |key: &SigningKey| {
        let c = DealCancel {
            deal,
            reason: "replica no longer needed".into(),
            at: NOW,
        };
        hex::encode(Signed::sign(c, key).unwrap().to_bytes().unwrap())
    };
    serde_json::json!({
        "keys": {"provider_seed": hex::encode([1u8; 32]), "client_seed": hex::encode([2u8; 32])},
        "ask": {"signed": hex::encode(signed_ask.to_bytes().unwrap()), "cid": signed_ask.cid().unwrap().to_string()},
        "proposal": {
            "signed": hex_of(&signed),
            "deal_id": deal.to_string(),
            "total_price": proposal().total_price().unwrap().0,
            "price_per_period": proposal().price_per_period().unwrap().0,
        },
        "acceptance": {"signed": hex::encode(acceptance.to_bytes().unwrap())},
        "cancel": {"signed": cancel(&client_key()), "refused_signed_by_provider": cancel(&provider_key())},
        "refused": [
            {"name": "signature with one bit flipped", "signed": hex_of(&forged), "reason": "bad_signature"},
            {"name": "price changed after signing", "signed": hex_of(&tampered), "reason": "bad_signature"},
            {"name": "signed by the provider in the client's name", "signed": hex_of(&impostor), "reason": "wrong_signer"},
        ],
    })
}

#[test]
fn golden_vectors_match_and_refused_objects_are_refused() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(
        vectors(),
        expected,
        "regenerate with CAIRN_REGEN_VECTORS=1 only for a new version"
    );
    let ask_bytes = hex::decode(expected["ask"]["signed"].as_str().unwrap()).unwrap();
    let ask = Signed::<Ask>::from_bytes(&ask_bytes, MAX_ASK_SIZE).unwrap();
    assert_eq!(ask.check(NOW).unwrap().seq, 7);
    assert_eq!(ask.check(NOW + 3_600_001).unwrap_err().reason(), "expired");
    let bytes = hex::decode(expected["proposal"]["signed"].as_str().unwrap()).unwrap();
    let proposal = Signed::<DealProposal>::from_bytes(&bytes, MAX_PROPOSAL_SIZE).unwrap();
    assert_eq!(
        proposal.deal_id().unwrap().to_string(),
        expected["proposal"]["deal_id"]
    );
    let cancel = |field: &str| {
        let bytes = hex::decode(expected["cancel"][field].as_str().unwrap()).unwrap();
        Signed::<DealCancel>::from_bytes(&bytes, super::deal::MAX_CANCEL_SIZE).unwrap()
    };
    assert_eq!(
        cancel("signed").check_for(&proposal.payload).unwrap().deal,
        proposal.deal_id().unwrap()
    );
    let impostor = cancel("refused_signed_by_provider");
    let refused = impostor.check_for(&proposal.payload).unwrap_err();
    assert_eq!(refused.reason(), "wrong_signer");
    for case in expected["refused"].as_array().unwrap() {
        let bytes = hex::decode(case["signed"].as_str().unwrap()).unwrap();
        let signed = Signed::<DealProposal>::from_bytes(&bytes, MAX_PROPOSAL_SIZE).unwrap();
        assert_eq!(
            signed.check().unwrap_err().reason(),
            case["reason"],
            "{}",
            case["name"]
        );
    }
}

#[test]
#[ignore = "writes contracts/vectors/market.json; run with CAIRN_REGEN_VECTORS=1"]
fn regenerate_vectors() {
    if std::env::var("CAIRN_REGEN_VECTORS").as_deref() == Ok("1") {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&vectors()).unwrap() + "\n",
        )
        .unwrap();
    }
}

#[test]
fn non_canonical_and_oversized_encodings_are_refused() {
    let signed = Signed::sign(proposal(), &client_key()).unwrap();
    let mut bytes = signed.to_bytes().unwrap();
    assert!(Signed::<DealProposal>::from_bytes(&bytes, 16).is_err());
    bytes.push(0);
    assert_eq!(
        Signed::<DealProposal>::from_bytes(&bytes, MAX_PROPOSAL_SIZE)
            .unwrap_err()
            .reason(),
        "malformed"
    );
}

#[test]
fn the_policy_refuses_each_broken_rule_with_its_reason() {
    let policy = policy();
    let capacity = Capacity {
        total: 2 * GIB,
        reserved: 0,
    };
    let sign = |p: DealProposal| Signed::sign(p, &client_key()).unwrap();
    assert!(policy.check(&sign(proposal()), &capacity, NOW).is_ok());
    let cases: Vec<(&str, DealProposal, u64, &str)> = vec![
        (
            "under price",
            DealProposal {
                price_per_gib_month: Amount(999),
                ..proposal()
            },
            NOW,
            "price_too_low",
        ),
        (
            "piece too large",
            DealProposal {
                piece_size: 33 * GIB,
                ..proposal()
            },
            NOW,
            "piece_too_large",
        ),
        (
            "too short",
            DealProposal {
                duration_secs: 60,
                ..proposal()
            },
            NOW,
            "duration_out_of_range",
        ),
        (
            "period too short",
            DealProposal {
                challenge_period_secs: 60,
                ..proposal()
            },
            NOW,
            "period_too_short",
        ),
        (
            "over capacity",
            DealProposal {
                piece_size: 3 * GIB,
                ..proposal()
            },
            NOW,
            "over_capacity",
        ),
        ("expired ask", proposal(), NOW + 3_600_001, "expired"),
        (
            "other provider",
            DealProposal {
                provider: [9; 32],
                ..proposal()
            },
            NOW,
            "wrong_signer",
        ),
        (
            "overflow",
            DealProposal {
                price_per_gib_month: Amount(u64::MAX),
                piece_size: 32 * GIB,
                duration_secs: 365 * 24 * 3600,
                ..proposal()
            },
            NOW,
            "overflow",
        ),
    ];
    for (name, deal, now, reason) in cases {
        let capacity = if name == "overflow" {
            Capacity {
                total: 64 * GIB,
                reserved: 0,
            }
        } else {
            capacity
        };
        assert_eq!(
            policy
                .check(&sign(deal), &capacity, now)
                .unwrap_err()
                .reason(),
            reason,
            "{name}"
        );
    }
    let mut denied = policy.clone();
    denied.deny.insert(client_key().verifying_key().to_bytes());
    assert_eq!(
        denied
            .check(&sign(proposal()), &capacity, NOW)
            .unwrap_err()
            .reason(),
        "client_denied"
    );
}

#[test]
fn accepting_reserves_capacity_exactly_and_never_beyond_the_total() {
    let policy = policy();
    let mut capacity = Capacity {
        total: 2 * GIB,
        reserved: 0,
    };
    let deal = Signed::sign(proposal(), &client_key()).unwrap();
    policy.accept(&deal, &mut capacity, NOW).unwrap();
    assert_eq!(capacity.reserved, 3 * GIB / 2);
    assert_eq!(
        policy
            .accept(&deal, &mut capacity, NOW)
            .unwrap_err()
            .reason(),
        "over_capacity"
    );
    assert_eq!(
        capacity.reserved,
        3 * GIB / 2,
        "a refused deal reserves nothing"
    );
    capacity.release(3 * GIB / 2);
    assert_eq!(capacity.free(), 2 * GIB);
}

#[test]
fn prices_round_up_and_split_into_periods() {
    let p = proposal();
    // 1.5 GiB for one month at 1000 per GiB-month.
    assert_eq!(p.total_price().unwrap(), Amount(1500));
    // 720 hourly periods; each rounds up so the periods never pay less than the total.
    assert_eq!(p.price_per_period().unwrap(), Amount(3));
    let tiny = DealProposal {
        piece_size: 1,
        duration_secs: 1,
        ..proposal()
    };
    assert_eq!(tiny.total_price().unwrap(), Amount(1));
}
