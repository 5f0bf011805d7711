//! The UnixFS importer: files into balanced DAGs of fixed-size chunks, named entries into
//! directories (basic, or HAMT-sharded past the profile's threshold).
//!
//! Push-based and synchronous: the caller feeds bytes and persists the blocks each call
//! returns, so memory stays at one chunk plus at most `max_links` pending links per tree
//! level. The layout is the balanced one Kubo and Helia share: leaves are grouped into parents
//! of `max_links`, parents into grandparents, until one root remains; a file of a single
//! chunk is that chunk itself.

use bytes::Bytes;
use cid::Cid;
use ipld_dagpb::PbLink;

use super::profile::{ImportOptions, Params, ShardEstimate};
use super::unixfs::{encode_node, Data, DataType, Link};
use super::{Block, ContentError, Result, RAW};

/// The root of an imported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedFile {
    pub cid: Cid,
    /// File bytes.
    pub size: u64,
}

pub struct FileImporter {
    params: Params,
    pending: Vec<u8>,
    /// `levels[0]` holds leaves not yet under a parent, `levels[1]` their parents, ...
    levels: Vec<Vec<Link>>,
    leaves: u64,
    size: u64,
}

impl FileImporter {
    pub fn new(options: ImportOptions) -> Result<Self> {
        let params = options.params()?;
        Ok(FileImporter {
            pending: Vec::with_capacity(params.chunk_size),
            params,
            levels: vec![Vec::new()],
            leaves: 0,
            size: 0,
        })
    }

    /// Feeds file bytes; returns the blocks this completed.
    pub fn write(&mut self, mut data: &[u8]) -> Vec<Block> {
        let mut blocks = Vec::new();
        while !data.is_empty() {
            let room = self.params.chunk_size - self.pending.len();
            let (now, rest) = data.split_at(room.min(data.len()));
            self.pending.extend_from_slice(now);
            data = rest;
            if self.pending.len() == self.params.chunk_size {
                self.emit_leaf(&mut blocks);
            }
        }
        blocks
    }

    /// Ends the file; returns the last blocks and the root.
    pub fn finish(mut self) -> Result<(Vec<Block>, ImportedFile)> {
        let mut blocks = Vec::new();
        if !self.pending.is_empty() || self.leaves == 0 {
            self.emit_leaf(&mut blocks);
        }
        let size = self.size;
        // Collapse each level into the next until a single link is left at the top.
        let mut level = 0;
        loop {
            let is_top = self.levels[level + 1..].iter().all(Vec::is_empty);
            if is_top && self.levels[level].len() == 1 {
                let root = self.levels[level].remove(0);
                return Ok((
                    blocks,
                    ImportedFile {
                        cid: root.cid,
                        size,
                    },
                ));
            }
            if !self.levels[level].is_empty() {
                let links = std::mem::take(&mut self.levels[level]);
                let parent = self.parent(links, &mut blocks);
                self.push(level + 1, parent, &mut blocks);
            }
            level += 1;
        }
    }

    fn emit_leaf(&mut self, blocks: &mut Vec<Block>) {
        let chunk = std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(self.params.chunk_size),
        );
        let len = chunk.len() as u64;
        self.size += len;
        self.leaves += 1;
        let block = if self.params.raw_leaves {
            Block::encode(RAW, self.params.hash, chunk)
        } else {
            let data = Data {
                r#type: DataType::File as i32,
                data: (!chunk.is_empty()).then_some(chunk),
                filesize: Some(len),
                ..Default::default()
            };
            match encode_node(Vec::new(), &data, self.params.hash, self.params.cid_v0) {
                Ok(block) => block,
                // Only CIDv0 with a non-sha2 hash can fail, and params never pair them.
                Err(_) => Block::encode(RAW, self.params.hash, Bytes::new()),
            }
        };
        let link = Link {
            cid: *block.cid(),
            file_size: len,
            dag_size: block.data().len() as u64,
        };
        blocks.push(block);
        self.push(0, link, blocks);
    }

    /// Adds a link at `level`, building the parent as soon as the level is full (a full
    /// group's parent is the same whatever follows).
    fn push(&mut self, level: usize, link: Link, blocks: &mut Vec<Block>) {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        self.levels[level].push(link);
        if self.levels[level].len() == self.params.max_links {
            let links = std::mem::take(&mut self.levels[level]);
            let parent = self.parent(links, blocks);
            self.push(level + 1, parent, blocks);
        }
    }

    fn parent(&self, children: Vec<Link>, blocks: &mut Vec<Block>) -> Link {
        let data = Data {
            r#type: DataType::File as i32,
            filesize: Some(children.iter().map(|c| c.file_size).sum()),
            blocksizes: children.iter().map(|c| c.file_size).collect(),
            ..Default::default()
        };
        let file_size = data.filesize.unwrap_or(0);
        let children_dag: u64 = children.iter().map(|c| c.dag_size).sum();
        let links = children
            .into_iter()
            .map(|c| PbLink {
                cid: c.cid,
                name: Some(String::new()),
                size: Some(c.dag_size),
            })
            .collect();
        let block = match encode_node(links, &data, self.params.hash, self.params.cid_v0) {
            Ok(block) => block,
            Err(_) => Block::encode(RAW, self.params.hash, Bytes::new()),
        };
        let link = Link {
            cid: *block.cid(),
            file_size,
            dag_size: block.data().len() as u64 + children_dag,
        };
        blocks.push(block);
        link
    }
}

/// Builds one directory level from named entries.
pub struct DirectoryBuilder {
    params: Result<Params>,
    entries: std::collections::BTreeMap<String, Link>,
}

impl DirectoryBuilder {
    pub fn new(options: ImportOptions) -> Self {
        DirectoryBuilder {
            params: options.params(),
            entries: Default::default(),
        }
    }

    /// Adds an entry; `dag_size` is the entry's whole DAG in bytes (its `Tsize`).
    pub fn add(&mut self, name: &str, cid: Cid, dag_size: u64) -> Result<()> {
        check_entry_name(name)?;
        let link = Link {
            cid,
            file_size: 0,
            dag_size,
        };
        if self.entries.insert(name.to_string(), link).is_some() {
            return Err(ContentError::InvalidOption(format!(
                "duplicate directory entry {name:?}"
            )));
        }
        Ok(())
    }

    /// Builds the directory: the blocks it needs and its root CID.
    pub fn finish(self) -> Result<(Vec<Block>, Cid)> {
        let params = self.params?;
        let entries: Vec<(String, Link)> = self.entries.into_iter().collect();
        let basic = basic_directory(&entries, &params)?;
        if exceeds_shard_threshold(&entries, basic.data().len(), &params) {
            let mut blocks = Vec::new();
            let root = super::hamt::build(entries, &params, &mut blocks)?;
            return Ok((blocks, root.cid));
        }
        let cid = *basic.cid();
        Ok((vec![basic], cid))
    }
}

/// The names a directory entry may have: one path component, never `.` or `..`.
pub fn check_entry_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(ContentError::InvalidOption(format!(
            "invalid directory entry name {name:?}"
        )));
    }
    Ok(())
}

fn directory_data() -> Data {
    Data {
        r#type: DataType::Directory as i32,
        ..Default::default()
    }
}

fn basic_directory(entries: &[(String, Link)], params: &Params) -> Result<Block> {
    let links = entries
        .iter()
        .map(|(name, link)| PbLink {
            cid: link.cid,
            name: Some(name.clone()),
            size: Some(link.dag_size),
        })
        .collect();
    encode_node(links, &directory_data(), params.hash, params.cid_v0)
}

/// IPIP-0499: v1-2025 measures the serialized node (`block-bytes`), v0-2015 the sum of link
/// name and CID lengths (`links-bytes`); both switch when the estimate is strictly greater.
fn exceeds_shard_threshold(
    entries: &[(String, Link)],
    block_bytes: usize,
    params: &Params,
) -> bool {
    let estimate = match params.hamt_estimate {
        ShardEstimate::LinksBytes => entries
            .iter()
            .map(|(name, link)| name.len() + link.cid.to_bytes().len())
            .sum(),
        ShardEstimate::BlockBytes => block_bytes,
    };
    estimate > params.hamt_threshold
}
