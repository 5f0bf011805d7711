//! CARs built in memory for tests and benchmarks.

use cairn::content::car::CarWriter;
use cairn::content::{Block, HashAlg, DAG_PB, RAW};

/// A CAR of a dag-pb root linking `n` raw leaves of 16 bytes (`seed` and the leaf's index),
/// root first: every block is reachable from the root.
pub async fn car_of_leaves(n: u64, seed: u64) -> Vec<u8> {
    let leaves: Vec<Block> = (0..n)
        .map(|i| {
            Block::encode(
                RAW,
                HashAlg::Sha2_256,
                [seed.to_le_bytes(), i.to_le_bytes()].concat(),
            )
        })
        .collect();
    let node = ipld_dagpb::PbNode {
        links: leaves
            .iter()
            .map(|b| ipld_dagpb::PbLink {
                cid: *b.cid(),
                name: Some(String::new()),
                size: Some(16),
            })
            .collect(),
        data: None,
    };
    let root = Block::encode(DAG_PB, HashAlg::Sha2_256, node.into_bytes());
    let mut car = CarWriter::new(Vec::new(), &[*root.cid()])
        .await
        .expect("car");
    car.write_block(root.cid(), root.data())
        .await
        .expect("root");
    for leaf in &leaves {
        car.write_block(leaf.cid(), leaf.data())
            .await
            .expect("leaf");
    }
    car.finish().await.expect("finish").0
}
