//! The entry points of the fuzz targets (`fuzz/`, `cargo fuzz`): one function per decoder a
//! peer or a file reaches, each taking arbitrary bytes and driving the decoder the way the
//! node does (decode, then the checks that follow on the decoded value). None may panic,
//! hang or allocate far beyond its input; a crash found is fixed in the decoder and kept as a
//! regression input in the target's corpus.
//!
//! The same functions replay the committed corpora in the ordinary test build
//! (`tests/fuzz_corpus.rs`), so every crash once found stays fixed without a fuzzer.

use bytes::Bytes;
use cid::Cid;

/// A target's entry point: arbitrary bytes in, nothing out (a panic is the finding).
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("bitswap_message", bitswap_message),
    ("frame", frame),
    ("market_message", market_message),
    ("pay_message", pay_message),
    ("proof_message", proof_message),
    ("receipt", receipt),
    ("signed_envelope", signed_envelope),
    ("car", car),
    ("dagpb_unixfs", dagpb_unixfs),
    ("pinning_query", pinning_query),
];

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// A Bitswap message as a peer's stream carries it: the length-prefixed frame, the protobuf,
/// then what the engine reads out of it (payload CIDs rebuilt from prefixes, wanted CIDs).
pub fn bitswap_message(data: &[u8]) {
    use crate::net::bitswap::message;
    use prost::Message as _;
    let _ = block_on(message::read(&mut futures::io::Cursor::new(data)));
    let Ok(msg) = message::Message::decode(data) else {
        return;
    };
    for payload in &msg.payload {
        let _ = message::cid_of(&payload.prefix, &payload.data);
    }
    if let Some(wantlist) = &msg.wantlist {
        for entry in wantlist
            .entries
            .iter()
            .take(crate::net::bitswap::MAX_WANTLIST)
        {
            let _ = Cid::try_from(entry.block.as_slice());
        }
    }
    for presence in &msg.block_presences {
        let _ = Cid::try_from(presence.cid.as_slice());
    }
}

/// The length-prefixed frames of every stream protocol, with a small cap.
pub fn frame(data: &[u8]) {
    let mut cursor = futures::io::Cursor::new(data);
    while let Ok(Some(_)) = block_on(crate::net::frame::read(&mut cursor, 4096)) {}
}

/// `/cairn/market/1` requests and responses (DAG-CBOR), and the signatures inside.
pub fn market_message(data: &[u8]) {
    use crate::market::wire::{MarketRequest, MarketResponse};
    if let Ok(request) = MarketRequest::from_bytes(data) {
        match &request {
            MarketRequest::Propose(p) => {
                let _ = p.verify();
                let _ = p.deal_id();
            }
            MarketRequest::Cancel(c) => {
                let _ = c.verify();
            }
            _ => {}
        }
        let _ = request.to_bytes();
    }
    if let Ok(response) = MarketResponse::from_bytes(data) {
        match &response {
            MarketResponse::Ask(ask) => {
                let _ = ask.verify();
            }
            MarketResponse::Accepted(a) => {
                let _ = a.verify();
            }
            _ => {}
        }
        let _ = response.to_bytes();
    }
}

/// `/cairn/pay/1` requests and responses, and the receipts inside checked as a batch.
pub fn pay_message(data: &[u8]) {
    use crate::pay::wire::{PayRequest, PayResponse};
    if let Ok(request) = PayRequest::from_bytes(data) {
        match &request {
            PayRequest::Pay(receipts) => {
                let _ = crate::pay::receipt::verify_batch(receipts);
            }
            PayRequest::Open(open) => {
                let _ = open.verify();
            }
            _ => {}
        }
    }
    let _ = PayResponse::from_bytes(data);
}

/// `/cairn/proof/1`: challenges, answers and audit records; a decoded proof is verified
/// against the piece it names.
pub fn proof_message(data: &[u8]) {
    use crate::proof::{Answer, AuditRecord, Challenge, Proof};
    if let Ok(challenge) = Challenge::from_bytes(data) {
        let _ = challenge.validate();
    }
    let check = |challenge: &Challenge, proof: &Proof| {
        let _ = crate::proof::verify(challenge, &challenge.piece(), proof, 0);
    };
    if let Ok(Answer::Proof(proof)) = Answer::from_bytes(data) {
        let challenge = Challenge {
            nonce: proof.nonce,
            period: proof.period,
            samples: proof.chunks.len().clamp(1, 64) as u32,
            deadline: u64::MAX,
            piece_root: proof.piece_root,
            piece_size: proof
                .chunks
                .iter()
                .max()
                .map_or(1, |c| c.saturating_add(1) << 14),
        };
        check(&challenge, &proof);
    }
    if let Ok(record) = AuditRecord::from_bytes(data) {
        check(&record.challenge, &record.proof);
    }
    if let Ok(proof) = Proof::from_bytes(data) {
        let _ = proof.to_bytes();
    }
}

/// A receipt as exported or sent: the signed envelope, its signature, the batch check.
pub fn receipt(data: &[u8]) {
    use crate::pay::receipt::{Receipt, MAX_RECEIPT_SIZE};
    use crate::signed::Signed;
    if let Ok(receipt) = Signed::<Receipt>::from_bytes(data, MAX_RECEIPT_SIZE) {
        let _ = receipt.verify();
        let _ = crate::pay::receipt::verify_batch(std::slice::from_ref(&receipt));
    }
}

/// The other signed DAG-CBOR envelopes (asks, proposals, acceptances, cancels) and the
/// erasure manifest.
pub fn signed_envelope(data: &[u8]) {
    use crate::market::{Ask, DealAcceptance, DealCancel, DealProposal};
    use crate::signed::Signed;
    const MAX: usize = 8192;
    if let Ok(s) = Signed::<Ask>::from_bytes(data, MAX) {
        let _ = s.verify();
    }
    if let Ok(s) = Signed::<DealProposal>::from_bytes(data, MAX) {
        let _ = s.verify();
        let _ = s.deal_id();
    }
    if let Ok(s) = Signed::<DealAcceptance>::from_bytes(data, MAX) {
        let _ = s.verify();
    }
    if let Ok(s) = Signed::<DealCancel>::from_bytes(data, MAX) {
        let _ = s.verify();
    }
    let _ = crate::erasure::manifest::Manifest::from_bytes(data);
}

/// A CARv1 as an import reads it: header, sections, each block's links and the
/// reachability from the roots.
pub fn car(data: &[u8]) {
    block_on(async {
        let Ok(mut reader) = crate::content::car::CarReader::new(data).await else {
            return;
        };
        let mut reach = crate::content::reach::Reach::new(reader.roots());
        while let Ok(Some(block)) = reader.next_block().await {
            let Ok(links) = crate::content::dag::links(block.cid(), block.data()) else {
                continue;
            };
            if reach.arrive(block, links).is_err() {
                return;
            }
        }
    });
}

/// A dag-pb block as the exporter and the DAG walker read it: its links, its UnixFS node.
pub fn dagpb_unixfs(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let cid = Cid::new_v1(
        crate::content::DAG_PB,
        crate::content::HashAlg::Sha2_256.digest(data),
    );
    let _ = crate::content::dag::links(&cid, &bytes);
    let _ = crate::content::unixfs::decode_node(&cid, &bytes);
}

/// The Pinning Service API's `GET /pins` query string, parsed and checked into filters.
pub fn pinning_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::api::parse_pins_query(text);
}
