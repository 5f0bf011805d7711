//! HAMT-sharded UnixFS directories (fanout 256, murmur3-x64-64 of the entry name).
//!
//! At each level one byte of the name's hash picks a bucket; a bucket with one entry links to
//! it under `XX<name>` (its index as two upper-case hex digits), a bucket with several links
//! to a child shard under `XX`, which uses the next byte. The node's `Data` is the bitfield of
//! occupied buckets, big-endian.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_dagpb::PbLink;

use super::profile::Params;
use super::unixfs::{encode_node, Data, DataType, Link, HAMT_HASH_MURMUR3};
use super::{Block, ContentError, Result};

/// The 8-byte hash that addresses `name` in the trie: the first half of murmur3-x64-128,
/// big-endian, as Kubo and Helia compute it.
pub fn name_hash(name: &str) -> [u8; 8] {
    let full = fastmurmur3::murmur3_x64_128(name.as_bytes(), 0);
    (full as u64).to_be_bytes()
}

/// The `Data` of a shard node: its bitfield of occupied buckets, the hash and the fanout.
fn shard_data(bitfield: Vec<u8>, fanout: usize) -> Data {
    Data {
        r#type: DataType::HamtShard as i32,
        data: Some(bitfield),
        hash_type: Some(HAMT_HASH_MURMUR3),
        fanout: Some(fanout as u64),
        ..Default::default()
    }
}

/// The bucket of a hash at `depth` (one byte per level for fanout 256).
fn bucket(hash: &[u8; 8], depth: usize, name: &str) -> Result<usize> {
    hash.get(depth)
        .map(|b| usize::from(*b))
        .ok_or_else(|| ContentError::InvalidOption(format!("HAMT too deep for entry {name:?}")))
}

/// Builds the shard for `entries` (sorted by name), pushing its blocks; returns its link.
pub fn build(
    entries: Vec<(String, Link)>,
    params: &Params,
    blocks: &mut Vec<Block>,
) -> Result<Link> {
    let hashed = entries
        .into_iter()
        .map(|(name, link)| (name_hash(&name), name, link))
        .collect();
    build_level(hashed, 0, params, blocks)
}

type Hashed = ([u8; 8], String, Link);

fn build_level(
    entries: Vec<Hashed>,
    depth: usize,
    params: &Params,
    blocks: &mut Vec<Block>,
) -> Result<Link> {
    let mut buckets: BTreeMap<usize, Vec<Hashed>> = BTreeMap::new();
    for entry in entries {
        let index = bucket(&entry.0, depth, &entry.1)?;
        buckets.entry(index).or_default().push(entry);
    }
    let mut bitfield = vec![0u8; params.hamt_fanout / 8];
    let mut links = Vec::with_capacity(buckets.len());
    let mut children_dag = 0;
    for (index, mut members) in buckets {
        let byte = bitfield.len() - 1 - index / 8;
        bitfield[byte] |= 1 << (index % 8);
        let (name, link) = if members.len() == 1 {
            let (_, name, link) = members.remove(0);
            (format!("{index:02X}{name}"), link)
        } else {
            (
                format!("{index:02X}"),
                build_level(members, depth + 1, params, blocks)?,
            )
        };
        children_dag += link.dag_size;
        links.push(PbLink {
            cid: link.cid,
            name: Some(name),
            size: Some(link.dag_size),
        });
    }
    // Minimal big-endian, as Helia writes it: leading zero bytes are dropped.
    let first = bitfield
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bitfield.len());
    let bitfield = bitfield.split_off(first);
    let block = encode_node(
        links,
        &shard_data(bitfield, params.hamt_fanout),
        params.hash,
        params.cid_v0,
    )?;
    let link = Link {
        cid: *block.cid(),
        file_size: 0,
        dag_size: block.data().len() as u64 + children_dag,
    };
    blocks.push(block);
    Ok(link)
}

/// Where to look for `name` in a shard node at `depth`: the link prefix of its bucket.
pub fn bucket_prefix(name: &str, depth: usize) -> Result<String> {
    Ok(format!("{:02X}", bucket(&name_hash(name), depth, name)?))
}

/// The next step of a lookup in a shard's links: the entry itself, a child shard to descend
/// into, or nothing.
pub enum Step {
    Found(Cid),
    Descend(Cid),
    Missing,
}

pub fn step(links: &[PbLink], name: &str, depth: usize) -> Result<Step> {
    let prefix = bucket_prefix(name, depth)?;
    for link in links {
        let Some(link_name) = link.name.as_deref() else {
            continue;
        };
        let Some(rest) = link_name.strip_prefix(prefix.as_str()) else {
            continue;
        };
        if rest.is_empty() {
            return Ok(Step::Descend(link.cid));
        }
        if rest == name {
            return Ok(Step::Found(link.cid));
        }
    }
    Ok(Step::Missing)
}
