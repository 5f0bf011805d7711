//! Golden vectors: `contracts/vectors/proof.json` and `proof-piece.car`, checked on every test
//! run. Regenerate (only when the contract changes, with a new protocol version) with
//! `CAIRN_REGEN_VECTORS=1 cargo test --lib proof::vectors -- --ignored`.

use serde_json::{json, Value};

use super::tests::{leaf_bytes, sample_blocks};
use super::*;
use crate::content::car::export_dag;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contracts/vectors");
const LEAVES: usize = 3;
const LEAF_SIZE: usize = 20_000;
const PERIOD: u64 = 42;
const SAMPLES: u32 = 6;
/// 2026-01-01T00:00:00Z.
const DEADLINE: u64 = 1_767_225_600_000;

fn nonce() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

fn other_nonce() -> [u8; 32] {
    std::array::from_fn(|i| 0xff - i as u8)
}

async fn piece_bytes(leaf_size: usize) -> Vec<u8> {
    let (store, root) = tests::sample_dag(LEAVES, leaf_size).await;
    let mut car = Vec::new();
    export_dag(crate::blockstore::LocalBlocks(store), root, &mut car)
        .await
        .unwrap();
    car
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Builds the whole vector file from the definitions above.
async fn generate() -> (Value, Vec<u8>) {
    let car = piece_bytes(LEAF_SIZE).await;
    let outboard = commit_bytes(&car).unwrap();
    let commitment = outboard.commitment();
    let (root, leaves) = sample_blocks(LEAVES, LEAF_SIZE);
    assert_eq!(leaves[1].data().as_ref(), leaf_bytes(1, LEAF_SIZE));

    let challenge = Challenge::new(commitment, PERIOD, nonce(), SAMPLES, DEADLINE);
    let proof = prove(&challenge, &car, &outboard).await.unwrap();
    let proof_bytes = proof.to_bytes().unwrap();

    let mut invalid = Vec::new();
    let mut case = |name: &str, description: &str, proof: Vec<u8>, now_ms: u64, error: &str| {
        invalid.push(json!({
            "name": name, "description": description, "proof": hex::encode(proof), "now_ms": now_ms, "error": error,
        }));
    };
    let with = |f: &dyn Fn(&mut Proof)| {
        let mut p = proof.clone();
        f(&mut p);
        p.to_bytes().unwrap()
    };
    case(
        "flipped_parent_byte",
        "first byte of `encoded` (a hash of the root pair) XOR 0x01",
        with(&|p| p.encoded[0] ^= 1),
        DEADLINE,
        "bad_chunk",
    );
    case(
        "flipped_chunk_byte",
        "last byte of `encoded` (inside the last sampled chunk) XOR 0x01",
        with(&|p| {
            let n = p.encoded.len();
            p.encoded[n - 1] ^= 1
        }),
        DEADLINE,
        "bad_chunk",
    );
    case(
        "truncated_encoding",
        "`encoded` without its last 100 bytes",
        with(&|p| {
            let n = p.encoded.len();
            p.encoded.truncate(n - 100)
        }),
        DEADLINE,
        "truncated",
    );
    case(
        "trailing_byte_in_encoding",
        "`encoded` followed by one 0x00 byte",
        with(&|p| p.encoded.push(0)),
        DEADLINE,
        "malformed",
    );
    let other = Challenge::new(commitment, PERIOD, other_nonce(), SAMPLES, DEADLINE);
    let other_proof = prove(&other, &car, &outboard).await.unwrap();
    case(
        "other_positions",
        "a valid proof for the same piece and period with nonce ff fe fd ... e0",
        other_proof.to_bytes().unwrap(),
        DEADLINE,
        "wrong_positions",
    );
    case(
        "wrong_chunk_list",
        "the valid proof with its last chunk index increased by one",
        with(&|p| {
            let n = p.chunks.len();
            p.chunks[n - 1] += 1
        }),
        DEADLINE,
        "wrong_positions",
    );
    let other_car = piece_bytes(LEAF_SIZE + 1).await;
    let other_outboard = commit_bytes(&other_car).unwrap();
    let foreign = Challenge::new(
        other_outboard.commitment(),
        PERIOD,
        nonce(),
        SAMPLES,
        DEADLINE,
    );
    let foreign_proof = prove(&foreign, &other_car, &other_outboard).await.unwrap();
    case(
        "different_root",
        "a valid proof, same period and nonce, for the piece built with leaf_size 20001",
        foreign_proof.to_bytes().unwrap(),
        DEADLINE,
        "wrong_root",
    );
    case(
        "late",
        "the valid proof, arriving 1 ms after the deadline",
        proof_bytes.clone(),
        DEADLINE + 1,
        "late",
    );
    let mut non_minimal = proof_bytes.clone();
    let period_key = hex::decode("66706572696f64182a").unwrap(); // "period": 42 (0x18 0x2a)
    let at = non_minimal
        .windows(period_key.len())
        .position(|w| w == period_key)
        .unwrap();
    non_minimal.splice(at + 7..at + 9, [0x19, 0x00, 0x2a]);
    case(
        "non_canonical_cbor",
        "the valid proof with period 42 encoded as 0x19 0x00 0x2a (not minimal)",
        non_minimal,
        DEADLINE,
        "malformed",
    );
    let mut trailing = proof_bytes.clone();
    trailing.push(0);
    case(
        "trailing_cbor_bytes",
        "the valid proof's DAG-CBOR followed by one 0x00 byte",
        trailing,
        DEADLINE,
        "malformed",
    );

    let bad_challenge = |samples: u32| {
        let mut c = challenge.clone();
        c.samples = samples;
        hex::encode(c.to_bytes().unwrap())
    };

    let vectors = json!({
        "description": "Golden vectors for /cairn/proof/1 (contracts/proof.md). All hex is lowercase, no prefix.",
        "protocol": PROTOCOL,
        "chunk_bytes": CHUNK_SIZE,
        "chunk_group_bytes": BLOCK_SIZE.bytes(),
        "piece": {
            "dag": {
                "leaves": LEAVES,
                "leaf_size": LEAF_SIZE,
                "leaf_bytes": "byte j of leaf i (0-based) is (7*i + 13*j) mod 256",
                "leaf_cid": "CIDv1 raw (0x55), sha2-256",
                "root": "dag-pb node (CIDv1 0x70, sha2-256) with one link per leaf in order: Hash = leaf CID, Name = \"\", Tsize = leaf length; no Data",
            },
            "root_cid": root.cid().to_string(),
            "leaf_cids": leaves.iter().map(|b| b.cid().to_string()).collect::<Vec<_>>(),
            "car_file": "proof-piece.car",
            "car_sha256": sha256_hex(&car),
            "piece_size": commitment.size,
            "piece_root": hex::encode(commitment.root),
            "outboard": hex::encode(outboard.as_bytes()),
        },
        "challenge": {
            "nonce": hex::encode(challenge.nonce),
            "period": challenge.period,
            "samples": challenge.samples,
            "deadline": challenge.deadline,
            "piece_root": hex::encode(challenge.piece_root),
            "piece_size": challenge.piece_size,
            "encoding": hex::encode(challenge.to_bytes().unwrap()),
            "cid": challenge.cid().unwrap().to_string(),
            "sample_chunks": challenge.sample_chunks(),
            "distinct_chunks": challenge.distinct_chunks(),
        },
        "proof": {
            "encoding": hex::encode(&proof_bytes),
            "encoded_len": proof.encoded.len(),
            "now_ms": DEADLINE,
        },
        "invalid_proofs": invalid,
        "invalid_challenges": [
            { "name": "zero_samples", "challenge": bad_challenge(0), "error": "malformed" },
            { "name": "too_many_samples", "challenge": bad_challenge(MAX_SAMPLES + 1), "error": "too_large" },
        ],
    });
    (vectors, car)
}

#[tokio::test]
#[ignore = "writes contracts/vectors; run with CAIRN_REGEN_VECTORS=1"]
async fn regenerate_vectors() {
    if std::env::var("CAIRN_REGEN_VECTORS").as_deref() != Ok("1") {
        return;
    }
    let (vectors, car) = generate().await;
    std::fs::create_dir_all(DIR).unwrap();
    std::fs::write(
        format!("{DIR}/proof.json"),
        serde_json::to_string_pretty(&vectors).unwrap() + "\n",
    )
    .unwrap();
    std::fs::write(format!("{DIR}/proof-piece.car"), car).unwrap();
}

fn hex_field(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn u64_field(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

/// Checks this implementation against the stored vectors, independently of `generate`.
#[tokio::test]
async fn golden_vectors() {
    let text = std::fs::read_to_string(format!("{DIR}/proof.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let piece = &v["piece"];
    assert_eq!(v["protocol"], PROTOCOL);
    assert_eq!(
        u64_field(&v["chunk_group_bytes"]),
        BLOCK_SIZE.bytes() as u64
    );

    // The piece: the stored CAR is what we build from the DAG definition.
    let car = std::fs::read(format!("{DIR}/{}", piece["car_file"].as_str().unwrap())).unwrap();
    assert_eq!(sha256_hex(&car), piece["car_sha256"].as_str().unwrap());
    let (store, root) = tests::sample_dag(
        u64_field(&piece["dag"]["leaves"]) as usize,
        u64_field(&piece["dag"]["leaf_size"]) as usize,
    )
    .await;
    assert_eq!(root.to_string(), piece["root_cid"].as_str().unwrap());
    let built = commit_dag(crate::blockstore::LocalBlocks(store), root)
        .await
        .unwrap();
    let commitment = PieceCommitment {
        root: hex_field(&piece["piece_root"]).try_into().unwrap(),
        size: u64_field(&piece["piece_size"]),
    };
    assert_eq!(built.commitment, commitment);
    assert_eq!(commitment.size, car.len() as u64);
    assert_eq!(blake3::hash(&car).as_bytes(), &commitment.root);
    assert_eq!(built.outboard.as_bytes(), hex_field(&piece["outboard"]));

    // The challenge: fields, encoding, positions.
    let c = &v["challenge"];
    let encoding = hex_field(&c["encoding"]);
    let challenge = Challenge::from_bytes(&encoding).unwrap();
    assert_eq!(challenge.nonce.to_vec(), hex_field(&c["nonce"]));
    assert_eq!(challenge.period, u64_field(&c["period"]));
    assert_eq!(u64::from(challenge.samples), u64_field(&c["samples"]));
    assert_eq!(challenge.deadline, u64_field(&c["deadline"]));
    assert_eq!(challenge.piece(), commitment);
    assert_eq!(challenge.to_bytes().unwrap(), encoding);
    assert_eq!(
        challenge.cid().unwrap().to_string(),
        c["cid"].as_str().unwrap()
    );
    let positions: Vec<u64> = c["sample_chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(u64_field)
        .collect();
    assert_eq!(challenge.sample_chunks(), positions);
    let distinct: Vec<u64> = c["distinct_chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(u64_field)
        .collect();
    assert_eq!(challenge.distinct_chunks(), distinct);

    // The valid proof: we produce exactly these bytes, and they verify.
    let p = &v["proof"];
    let proof_bytes = hex_field(&p["encoding"]);
    let proved = prove(&challenge, &car, &built.outboard).await.unwrap();
    assert_eq!(proved.to_bytes().unwrap(), proof_bytes);
    let proof = Proof::from_bytes(&proof_bytes).unwrap();
    verify(&challenge, &commitment, &proof, u64_field(&p["now_ms"])).unwrap();

    // Every corrupted proof is refused with the named error.
    let cases = v["invalid_proofs"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let result = Proof::from_bytes(&hex_field(&case["proof"]))
            .and_then(|proof| verify(&challenge, &commitment, &proof, u64_field(&case["now_ms"])));
        let got = result.err().map(|e| e.reason()).unwrap_or("ok");
        assert_eq!(
            got,
            case["error"].as_str().unwrap(),
            "invalid proof case {name}"
        );
    }
    for case in v["invalid_challenges"].as_array().unwrap() {
        let got = Challenge::from_bytes(&hex_field(&case["challenge"]))
            .err()
            .map(|e| e.reason())
            .unwrap_or("ok");
        assert_eq!(
            got,
            case["error"].as_str().unwrap(),
            "invalid challenge case {}",
            case["name"]
        );
    }
}

/// The stored vectors are exactly what the generator produces (so regeneration is a no-op
/// unless the contract changed).
#[tokio::test]
async fn vectors_are_up_to_date() {
    let (vectors, car) = generate().await;
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/proof.json")).unwrap())
            .unwrap();
    assert_eq!(vectors, stored);
    assert_eq!(
        std::fs::read(format!("{DIR}/proof-piece.car")).unwrap(),
        car
    );
}

/// An independent implementation of the tree encoding exactly as `contracts/proof.md` §5.1
/// words it (BLAKE3 tree over 1 KiB chunks, no bao-tree), for the spec's sake: the text must
/// be enough to interoperate.
fn reference_encode(piece: &[u8], proved: &[u64]) -> Vec<u8> {
    use blake3::hazmat::{merge_subtrees_non_root, merge_subtrees_root, HasherExt, Mode};

    fn node(data: &[u8], a: u64, is_root: bool, proved: &[u64], out: &mut Vec<u8>) -> [u8; 32] {
        let chunks = (data.len() as u64).div_ceil(1024).max(1);
        let b = a + chunks;
        let hit = proved.iter().filter(|&&c| a <= c && c < b).count() as u64;
        if chunks == 1 {
            if hit > 0 {
                out.extend_from_slice(data);
            }
            if is_root {
                return *blake3::hash(data).as_bytes();
            }
            let mut hasher = blake3::Hasher::new();
            hasher.set_input_offset(a * 1024);
            hasher.update(data);
            return hasher.finalize_non_root();
        }
        let left_chunks = if chunks.is_power_of_two() {
            chunks / 2
        } else {
            chunks.next_power_of_two() / 2
        };
        let emit_pair = hit > 0 && (chunks > 16 || hit < chunks);
        let at = out.len();
        if emit_pair {
            out.extend_from_slice(&[0; 64]);
        }
        let (l, r) = data.split_at((left_chunks * 1024) as usize);
        let left = node(l, a, false, proved, out);
        let right = node(r, a + left_chunks, false, proved, out);
        if emit_pair {
            out[at..at + 32].copy_from_slice(&left);
            out[at + 32..at + 64].copy_from_slice(&right);
        }
        if is_root {
            *merge_subtrees_root(&left, &right, Mode::Hash).as_bytes()
        } else {
            merge_subtrees_non_root(&left, &right, Mode::Hash)
        }
    }

    let mut out = Vec::new();
    let root = node(piece, 0, true, proved, &mut out);
    assert_eq!(&root, blake3::hash(piece).as_bytes());
    out
}

#[tokio::test]
async fn spec_text_encoding_matches_bao_tree() {
    let text = std::fs::read_to_string(format!("{DIR}/proof.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let car = std::fs::read(format!("{DIR}/proof-piece.car")).unwrap();
    let proof = Proof::from_bytes(&hex_field(&v["proof"]["encoding"])).unwrap();
    assert_eq!(reference_encode(&car, &proof.chunks), proof.encoded);

    // And on other shapes: a single group, a short tail group, many samples (so that whole
    // groups and adjacent chunks get selected).
    for (leaves, leaf_size, samples) in [
        (1, 10, 3),
        (1, 5000, 64),
        (2, 9000, 64),
        (5, 33_333, 64),
        (9, 70_000, 20),
    ] {
        let (car, outboard) = tests::sample_piece(leaves, leaf_size).await;
        for n in 0..8u8 {
            let challenge = Challenge::new(outboard.commitment(), 1, [n; 32], samples, DEADLINE);
            let proof = prove(&challenge, &car, &outboard).await.unwrap();
            assert_eq!(
                reference_encode(&car, &proof.chunks),
                proof.encoded,
                "{leaves}x{leaf_size}, nonce {n}"
            );
        }
    }
}
