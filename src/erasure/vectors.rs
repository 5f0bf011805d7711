//! Golden vectors: `contracts/vectors/erasure.json`, checked on every test run. Regenerate
//! (only when the contract changes, with a new manifest version) with
//! `CAIRN_REGEN_VECTORS=1 cargo test --lib erasure::vectors -- --ignored`.

use serde_json::{json, Value};

use super::*;
use crate::blockstore::LocalBlocks;
use crate::content::car::export_dag;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contracts/vectors");

/// The coded pieces: `(name, leaves, leaf size, scheme, the slots a restore reads)`. The DAG
/// is the proof vectors' shape (`contracts/proof.md` §8): raw sha2-256 leaves, byte `j` of
/// leaf `i` is `(7·i + 13·j) mod 256`, under one dag-pb node.
const CASES: [(&str, usize, usize, &str, &[u32]); 2] = [
    ("proof_piece_3+2", 3, 20_000, "3+2", &[1, 3, 4]),
    ("striped_2+1", 130, 20_000, "2+1", &[1, 2]),
];

/// `(k, m, piece_size)` whose layouts the vectors pin.
const LAYOUTS: [(u32, u32, u64); 7] = [
    (3, 2, 60_352),
    (4, 4, 1),
    (10, 20, 100_000),
    (4, 4, 1 << 20),
    (4, 4, (1 << 20) + 1),
    (4, 8, 1 << 30),
    (10, 20, 1_000_000_007),
];

async fn piece(leaves: usize, leaf_size: usize) -> (cid::Cid, Vec<u8>) {
    let (store, root) = crate::proof::tests::sample_dag(leaves, leaf_size).await;
    let mut car = Vec::new();
    export_dag(LocalBlocks(store), root, &mut car)
        .await
        .unwrap();
    (root, car)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn hex_field(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn u64_field(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

/// Builds the whole vector file from the definitions above.
async fn generate() -> Value {
    let layouts: Vec<Value> = LAYOUTS
        .iter()
        .map(|&(k, m, piece_size)| {
            let l = Layout::for_piece(Scheme::new(k, m).unwrap(), piece_size).unwrap();
            json!({
                "k": k, "m": m, "piece_size": piece_size, "shard_size": l.shard_size,
                "stripes": l.stripes(), "slot_size": l.slot_size(), "padding": l.padding(),
            })
        })
        .collect();

    let mut cases = Vec::new();
    let mut first = None;
    for (name, leaves, leaf_size, scheme, restore_from) in CASES {
        let (dag, car) = piece(leaves, leaf_size).await;
        let (manifest, slots) = encode_piece(dag, &car, scheme.parse().unwrap()).unwrap();
        let layout = manifest.layout().unwrap();
        let block = manifest.to_block().unwrap();
        cases.push(json!({
            "name": name,
            "piece": {
                "leaves": leaves, "leaf_size": leaf_size, "dag": dag.to_string(),
                "piece_size": car.len(), "piece_root": hex::encode(manifest.piece_root),
                "piece_sha256": sha256_hex(&car),
            },
            "scheme": scheme,
            "shard_size": layout.shard_size,
            "stripes": layout.stripes(),
            "slot_size": layout.slot_size(),
            "slots": manifest.slots.iter().zip(&slots).map(|(entry, bytes)| json!({
                "index": entry.index, "cid": entry.cid.to_string(), "size": entry.size,
                "bytes_blake3": blake3::hash(bytes).to_hex().to_string(),
                "piece_root": hex::encode(entry.piece_root), "piece_size": entry.piece_size,
            })).collect::<Vec<_>>(),
            "manifest": {"encoding": hex::encode(block.data()), "cid": block.cid().to_string()},
            "restore_from": restore_from,
        }));
        first.get_or_insert(manifest);
    }

    let manifest = first.unwrap();
    let valid = manifest.to_bytes().unwrap();
    let mut invalid = Vec::new();
    let mut case = |name: &str,
                    description: &str,
                    bytes: Vec<u8>,
                    cid: Option<cid::Cid>,
                    refused_by: &str,
                    error: &str| {
        let cid = cid.unwrap_or_else(|| {
            *crate::content::Block::encode(
                crate::content::DAG_CBOR,
                crate::content::HashAlg::Sha2_256,
                bytes.clone(),
            )
            .cid()
        });
        invalid.push(json!({
            "name": name, "description": description, "manifest": hex::encode(bytes),
            "cid": cid.to_string(), "refused_by": refused_by, "error": error,
        }));
    };
    let with = |f: &dyn Fn(&mut Manifest)| {
        let mut m = manifest.clone();
        f(&mut m);
        serde_ipld_dagcbor::to_vec(&m).unwrap()
    };
    case(
        "wrong_slot_root",
        "slot 1's piece_root with its first byte XOR 0x01: a well-formed manifest that the true slot 1 does not match",
        with(&|m| m.slots[1].piece_root[0] ^= 1),
        None,
        "slots",
        "slot_mismatch",
    );
    let mut flipped = valid.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    case(
        "bytes_not_its_cid",
        "the valid manifest's last byte XOR 0x01, fetched by the valid manifest's CID",
        flipped,
        Some(manifest.cid().unwrap()),
        "decode",
        "wrong_cid",
    );
    case(
        "slot_missing",
        "the last slot entry removed",
        with(&|m| {
            m.slots.pop();
        }),
        None,
        "decode",
        "bad_slot_list",
    );
    case(
        "slots_out_of_order",
        "slot entries 0 and 1 swapped",
        with(&|m| m.slots.swap(0, 1)),
        None,
        "decode",
        "bad_slot_list",
    );
    case(
        "slot_size_off",
        "slot 2's size plus 64",
        with(&|m| m.slots[2].size += 64),
        None,
        "decode",
        "bad_slot_list",
    );
    case(
        "shard_size_off",
        "shard_size plus 64 (not what the layout rule gives)",
        with(&|m| m.shard_size += 64),
        None,
        "decode",
        "invalid_layout",
    );
    case(
        "version_2",
        "version 2",
        with(&|m| m.version = 2),
        None,
        "decode",
        "malformed",
    );
    case(
        "trailing_byte",
        "the valid encoding followed by 0x00",
        [valid.clone(), vec![0]].concat(),
        None,
        "decode",
        "malformed",
    );

    json!({
        "description": "Golden vectors for erasure-coded slots and their manifest (contracts/erasure.md). All hex is lowercase, no prefix.",
        "layouts": layouts,
        "cases": cases,
        "invalid_manifests": invalid,
    })
}

#[tokio::test]
#[ignore = "writes contracts/vectors; run with CAIRN_REGEN_VECTORS=1"]
async fn regenerate_vectors() {
    if std::env::var("CAIRN_REGEN_VECTORS").as_deref() != Ok("1") {
        return;
    }
    let vectors = generate().await;
    std::fs::write(
        format!("{DIR}/erasure.json"),
        serde_json::to_string_pretty(&vectors).unwrap() + "\n",
    )
    .unwrap();
}

fn stored() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/erasure.json")).unwrap()).unwrap()
}

/// Checks this implementation against the stored vectors, independently of `generate`.
#[tokio::test]
async fn golden_vectors() {
    let v = stored();
    for l in v["layouts"].as_array().unwrap() {
        let k = u64_field(&l["k"]) as u32;
        let m = u64_field(&l["m"]) as u32;
        let layout =
            Layout::for_piece(Scheme::new(k, m).unwrap(), u64_field(&l["piece_size"])).unwrap();
        assert_eq!(
            u64::from(layout.shard_size),
            u64_field(&l["shard_size"]),
            "{l}"
        );
        assert_eq!(layout.stripes(), u64_field(&l["stripes"]), "{l}");
        assert_eq!(layout.slot_size(), u64_field(&l["slot_size"]), "{l}");
        assert_eq!(layout.padding(), u64_field(&l["padding"]), "{l}");
    }

    let mut first = None;
    for c in v["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let p = &c["piece"];
        let (dag, car) = piece(
            u64_field(&p["leaves"]) as usize,
            u64_field(&p["leaf_size"]) as usize,
        )
        .await;
        assert_eq!(dag.to_string(), p["dag"].as_str().unwrap(), "{name}");
        assert_eq!(
            sha256_hex(&car),
            p["piece_sha256"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(car.len() as u64, u64_field(&p["piece_size"]), "{name}");

        // The manifest decodes from its block, and encoding the piece reproduces it and
        // every slot.
        let m = &c["manifest"];
        let cid: cid::Cid = m["cid"].as_str().unwrap().parse().unwrap();
        let bytes = hex_field(&m["encoding"]);
        let manifest = Manifest::from_block(&cid, &bytes).unwrap();
        assert_eq!(
            hex::encode(manifest.piece_root),
            p["piece_root"].as_str().unwrap()
        );
        assert_eq!(manifest.scheme().to_string(), c["scheme"].as_str().unwrap());
        assert_eq!(u64::from(manifest.shard_size), u64_field(&c["shard_size"]));
        let (encoded, slots) = encode_piece(dag, &car, manifest.scheme()).unwrap();
        assert_eq!(encoded, manifest, "{name}");
        assert_eq!(encoded.to_bytes().unwrap(), bytes, "{name}");
        let expected = c["slots"].as_array().unwrap();
        assert_eq!(expected.len(), slots.len());
        for (e, bytes) in expected.iter().zip(&slots) {
            let index = u64_field(&e["index"]) as u32;
            assert_eq!(
                blake3::hash(bytes).to_hex().as_str(),
                e["bytes_blake3"].as_str().unwrap(),
                "{name} slot {index}"
            );
            let object = manifest.verify_slot(index, bytes.as_slice()).unwrap();
            assert_eq!(object.cid.to_string(), e["cid"].as_str().unwrap());
            assert_eq!(object.size, u64_field(&e["size"]));
            assert_eq!(
                hex::encode(object.piece.root),
                e["piece_root"].as_str().unwrap()
            );
            assert_eq!(object.piece.size, u64_field(&e["piece_size"]));
        }
        let from: Vec<(u32, &[u8])> = c["restore_from"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (u64_field(i) as u32, slots[u64_field(i) as usize].as_slice()))
            .collect();
        let mut out = Vec::new();
        manifest.restore(from, &mut out, Sources::Verify).unwrap();
        assert!(out == car, "{name}: restored piece");
        first.get_or_insert((manifest, slots));
    }

    // Every invalid manifest is refused with the named error, by decoding or by the slots
    // of the first case.
    let (_, slots) = first.unwrap();
    let cases = v["invalid_manifests"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let cid: cid::Cid = case["cid"].as_str().unwrap().parse().unwrap();
        let decoded = Manifest::from_block(&cid, &hex_field(&case["manifest"]));
        let got = match case["refused_by"].as_str().unwrap() {
            "decode" => decoded.err().map(|e| e.reason()).unwrap_or("ok"),
            "slots" => {
                let manifest = decoded.unwrap();
                slots
                    .iter()
                    .enumerate()
                    .find_map(|(i, bytes)| manifest.verify_slot(i as u32, bytes.as_slice()).err())
                    .map(|e| e.reason())
                    .unwrap_or("ok")
            }
            other => panic!("unknown refusal {other}"),
        };
        assert_eq!(
            got,
            case["error"].as_str().unwrap(),
            "invalid manifest case {name}"
        );
    }
}

/// The stored vectors are exactly what the generator produces (so regeneration is a no-op
/// unless the contract changed).
#[tokio::test]
async fn vectors_are_up_to_date() {
    assert_eq!(generate().await, stored());
}

/// The striping rule as `contracts/erasure.md` §2 words it, without the codec: slot `i < k`
/// holds bytes `[(j·k + i)·S, (j·k + i + 1)·S)` of the zero-padded piece at offset `j·S`.
#[test]
fn data_slots_follow_the_spec_text() {
    let piece: Vec<u8> = (0..1_300_000u32).map(|x| (x % 251) as u8).collect();
    let (manifest, slots) = encode_piece(
        crate::content::Block::encode(
            crate::content::RAW,
            crate::content::HashAlg::Sha2_256,
            vec![1u8],
        )
        .cid()
        .to_owned(),
        &piece,
        "3+1".parse().unwrap(),
    )
    .unwrap();
    let s = manifest.shard_size as usize;
    let layout = manifest.layout().unwrap();
    assert!(layout.stripes() > 1);
    let padded = [piece.clone(), vec![0; layout.padding() as usize]].concat();
    for (i, slot) in slots.iter().enumerate().take(3) {
        for j in 0..layout.stripes() as usize {
            let from = (j * 3 + i) * s;
            assert_eq!(
                slot[j * s..(j + 1) * s],
                padded[from..from + s],
                "slot {i} stripe {j}"
            );
        }
    }
}
