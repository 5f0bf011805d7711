//! UnixFS on dag-pb: the `Data` protobuf (encoded with prost, per `unixfs.md`) and the dag-pb
//! nodes that carry it (encoded with `ipld-dagpb`, per `dag-pb.md`).
//!
//! Field choices follow what Kubo and Helia emit, since CIDs depend on every byte: links of
//! file nodes have an empty (present) name, `filesize` is written for files and never for
//! directories, and a leaf's `Data` bytes are omitted when empty.

use bytes::Bytes;
use cid::Cid;
use ipld_dagpb::{PbLink, PbNode};
use prost::Message;

use super::{Block, ContentError, HashAlg, Result, DAG_PB};

/// UnixFS node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum DataType {
    Raw = 0,
    Directory = 1,
    File = 2,
    Metadata = 3,
    Symlink = 4,
    HamtShard = 5,
}

/// The UnixFS `Data` message (proto2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Data {
    #[prost(enumeration = "DataType", required, tag = "1")]
    pub r#type: i32,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub data: Option<Vec<u8>>,
    #[prost(uint64, optional, tag = "3")]
    pub filesize: Option<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub blocksizes: Vec<u64>,
    #[prost(uint64, optional, tag = "5")]
    pub hash_type: Option<u64>,
    #[prost(uint64, optional, tag = "6")]
    pub fanout: Option<u64>,
}

/// Multicodec of the HAMT's hash function (murmur3-x64-64).
pub const HAMT_HASH_MURMUR3: u64 = 0x22;

/// A link with the sizes parents record about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub cid: Cid,
    /// File bytes under the link (for `blocksizes`).
    pub file_size: u64,
    /// Bytes of every block under the link, its own included (`Tsize`).
    pub dag_size: u64,
}

/// Encodes a dag-pb node and builds its block.
pub fn encode_node(links: Vec<PbLink>, data: &Data, hash: HashAlg, cid_v0: bool) -> Result<Block> {
    let node = PbNode {
        links,
        data: Some(Bytes::from(data.encode_to_vec())),
    };
    let bytes = node.into_bytes();
    let digest = hash.digest(&bytes);
    let cid = if cid_v0 {
        Cid::new_v0(digest).map_err(|e| ContentError::InvalidOption(e.to_string()))?
    } else {
        Cid::new_v1(DAG_PB, digest)
    };
    Ok(Block::new_unchecked(cid, Bytes::from(bytes)))
}

/// A dag-pb node with its UnixFS data decoded.
#[derive(Debug, Clone)]
pub struct Node {
    pub links: Vec<PbLink>,
    pub data: Data,
}

impl Node {
    pub fn kind(&self) -> Option<DataType> {
        DataType::try_from(self.data.r#type).ok()
    }
}

/// Decodes a dag-pb block as a UnixFS node.
pub fn decode_node(cid: &Cid, bytes: &Bytes) -> Result<Node> {
    let malformed = |reason: String| ContentError::MalformedNode {
        cid: *cid,
        kind: "unixfs",
        reason,
    };
    let node = PbNode::from_bytes(bytes.clone()).map_err(|e| malformed(e.to_string()))?;
    let raw = node
        .data
        .ok_or_else(|| malformed("dag-pb node has no UnixFS data".into()))?;
    let data = Data::decode(raw).map_err(|e| malformed(e.to_string()))?;
    if DataType::try_from(data.r#type).is_err() {
        return Err(malformed(format!("unknown UnixFS type {}", data.r#type)));
    }
    Ok(Node {
        links: node.links,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_directory_matches_the_well_known_cid() {
        let data = Data {
            r#type: DataType::Directory as i32,
            ..Default::default()
        };
        let block = encode_node(Vec::new(), &data, HashAlg::Sha2_256, true).unwrap();
        assert_eq!(
            block.cid().to_string(),
            "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
        );
        let v1 = encode_node(Vec::new(), &data, HashAlg::Sha2_256, false).unwrap();
        assert_eq!(
            v1.cid().to_string(),
            "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
        );
    }

    #[test]
    fn decode_refuses_nodes_without_unixfs_data() {
        let block = Block::encode(DAG_PB, HashAlg::Sha2_256, PbNode::default().into_bytes());
        assert!(matches!(
            decode_node(block.cid(), block.data()),
            Err(ContentError::MalformedNode { .. })
        ));
    }
}
