//! The UnixFS exporter: reads files and directories back through a [`BlockGet`].
//!
//! `cat` streams a file depth-first with a stack of pending links, so memory is bounded by
//! the tree's depth times its width, never by the file's size. Directory reads handle both
//! basic and HAMT-sharded directories; paths resolve link by link through the DAG.

use bytes::Bytes;
use cid::Cid;
use futures::{Stream, StreamExt, TryStreamExt};

use super::hamt::{self, Step};
use super::unixfs::{decode_node, DataType, Node};
use super::{BlockGet, ContentError, Result, DAG_PB, RAW};

/// What a CID names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A file (a raw block or a UnixFS file); `size` in file bytes.
    File { size: u64 },
    /// A directory (basic or sharded); `size` is the cumulative size of its DAG.
    Directory { size: u64, sharded: bool },
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        matches!(self, Entry::Directory { .. })
    }

    pub fn size(&self) -> u64 {
        match self {
            Entry::File { size } | Entry::Directory { size, .. } => *size,
        }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirEntry {
    pub name: String,
    #[serde(serialize_with = "super::cid_text::serialize")]
    pub cid: Cid,
    /// The entry's cumulative DAG size (`Tsize`).
    pub size: u64,
}

async fn load<G: BlockGet>(src: &G, cid: &Cid) -> Result<(Bytes, Option<Node>)> {
    let data = src.get_block(cid).await?;
    match cid.codec() {
        RAW => Ok((data, None)),
        DAG_PB => {
            let node = decode_node(cid, &data)?;
            Ok((data, Some(node)))
        }
        other => Err(ContentError::UnsupportedCodec(other)),
    }
}

pub async fn stat<G: BlockGet>(src: &G, cid: &Cid) -> Result<Entry> {
    let (data, node) = load(src, cid).await?;
    let Some(node) = node else {
        return Ok(Entry::File {
            size: data.len() as u64,
        });
    };
    let linked: u64 = node.links.iter().filter_map(|l| l.size).sum();
    match node.kind() {
        Some(DataType::File | DataType::Raw) => {
            let inline = node.data.data.as_ref().map_or(0, |d| d.len() as u64);
            Ok(Entry::File {
                size: node.data.filesize.unwrap_or(inline),
            })
        }
        Some(DataType::Directory) => Ok(Entry::Directory {
            size: data.len() as u64 + linked,
            sharded: false,
        }),
        Some(DataType::HamtShard) => Ok(Entry::Directory {
            size: data.len() as u64 + linked,
            sharded: true,
        }),
        _ => Err(ContentError::NotAFile(*cid)),
    }
}

/// Blocks fetched ahead of the one being streamed, per tree level: reads (and their hash
/// checks) overlap with sending, and network fetches run in parallel.
const PREFETCH: usize = 8;

/// Streams the bytes of the file at `cid`, in order.
pub fn cat<G: BlockGet + Clone + 'static>(
    src: G,
    cid: Cid,
) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
    let root = async move {
        let loaded = load(&src, &cid).await?;
        Ok::<_, ContentError>(expand(src, cid, loaded))
    };
    futures::stream::once(root).try_flatten()
}

type ByteStream = futures::stream::BoxStream<'static, Result<Bytes>>;

/// The bytes under one loaded node: its inline data, then its children's, fetched ahead.
fn expand<G: BlockGet + Clone + 'static>(
    src: G,
    cid: Cid,
    (data, node): (Bytes, Option<Node>),
) -> ByteStream {
    use futures::future::ready;
    let Some(node) = node else {
        return futures::stream::once(ready(Ok(data))).boxed();
    };
    if !matches!(node.kind(), Some(DataType::File | DataType::Raw)) {
        return futures::stream::once(ready(Err(ContentError::NotAFile(cid)))).boxed();
    }
    let inline = node
        .data
        .data
        .filter(|d| !d.is_empty())
        .map(|d| Ok(Bytes::from(d)));
    let fetcher = src.clone();
    let children = futures::stream::iter(node.links.into_iter().map(|l| l.cid))
        .map(move |child| {
            let src = fetcher.clone();
            async move { Ok::<_, ContentError>((child, load(&src, &child).await?)) }
        })
        .buffered(PREFETCH)
        .map_ok(move |(child, loaded)| expand(src.clone(), child, loaded))
        .try_flatten();
    futures::stream::iter(inline).chain(children).boxed()
}

/// The entries of the directory at `cid`, sorted by name.
pub async fn list_dir<G: BlockGet>(src: &G, cid: &Cid) -> Result<Vec<DirEntry>> {
    let node = directory_node(src, cid).await?;
    let mut entries = Vec::new();
    if node.kind() == Some(DataType::Directory) {
        for link in node.links {
            let name = link.name.unwrap_or_default();
            entries.push(DirEntry {
                name,
                cid: link.cid,
                size: link.size.unwrap_or(0),
            });
        }
        return Ok(entries);
    }
    // A shard: walk every child shard; entries are links whose name is longer than the prefix.
    let mut shards = vec![node];
    while let Some(shard) = shards.pop() {
        for link in shard.links {
            let name = link.name.unwrap_or_default();
            if name.len() > 2 {
                entries.push(DirEntry {
                    name: name[2..].to_string(),
                    cid: link.cid,
                    size: link.size.unwrap_or(0),
                });
            } else {
                shards.push(directory_node(src, &link.cid).await?);
            }
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

async fn directory_node<G: BlockGet>(src: &G, cid: &Cid) -> Result<Node> {
    match load(src, cid).await? {
        (_, Some(node))
            if matches!(node.kind(), Some(DataType::Directory | DataType::HamtShard)) =>
        {
            Ok(node)
        }
        _ => Err(ContentError::NotADirectory(*cid)),
    }
}

/// Resolves `path` (segments separated by `/`) under the directory `root`.
pub async fn resolve_path<G: BlockGet>(src: &G, root: &Cid, path: &str) -> Result<Cid> {
    let mut current = *root;
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err(ContentError::InvalidOption(format!(
                "path segment {segment:?} is not allowed"
            )));
        }
        let not_found = || ContentError::PathNotFound {
            root: *root,
            path: path.to_string(),
        };
        current = lookup(src, &current, segment)
            .await?
            .ok_or_else(not_found)?;
    }
    Ok(current)
}

async fn lookup<G: BlockGet>(src: &G, dir: &Cid, name: &str) -> Result<Option<Cid>> {
    let node = directory_node(src, dir).await?;
    if node.kind() == Some(DataType::Directory) {
        return Ok(node
            .links
            .into_iter()
            .find(|l| l.name.as_deref() == Some(name))
            .map(|l| l.cid));
    }
    let mut links = node.links;
    for depth in 0..8 {
        match hamt::step(&links, name, depth)? {
            Step::Found(cid) => return Ok(Some(cid)),
            Step::Missing => return Ok(None),
            Step::Descend(child) => links = directory_node(src, &child).await?.links,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::TryStreamExt;

    use super::*;
    use crate::blockstore::{Blockstore, LocalBlocks, MemoryBlockstore};
    use crate::content::importer::{DirectoryBuilder, FileImporter};
    use crate::content::profile::{ImportOptions, Profile};
    use crate::content::Block;

    async fn store(blocks: Vec<Block>, into: &MemoryBlockstore) {
        for block in blocks {
            into.put(&block).await.unwrap();
        }
    }

    async fn import(data: &[u8], options: ImportOptions, into: &MemoryBlockstore) -> (Cid, u64) {
        let mut importer = FileImporter::new(options).unwrap();
        let mut total = 0;
        for piece in data.chunks(100_000) {
            let blocks = importer.write(piece);
            total += blocks.iter().map(|b| b.data().len() as u64).sum::<u64>();
            store(blocks, into).await;
        }
        let (blocks, root) = importer.finish().unwrap();
        total += blocks.iter().map(|b| b.data().len() as u64).sum::<u64>();
        store(blocks, into).await;
        (root.cid, total)
    }

    fn data(len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        blake3::Hasher::new()
            .update(&len.to_le_bytes())
            .finalize_xof()
            .fill(&mut out);
        out
    }

    #[tokio::test]
    async fn files_round_trip_byte_for_byte_in_both_profiles() {
        let profiles = [Profile::UnixfsV1_2025, Profile::UnixfsV0_2015];
        for profile in profiles {
            for len in [0, 1, 4095, 4096, 4097, 300_000, 1_100_000] {
                let memory = Arc::new(MemoryBlockstore::new());
                let options = ImportOptions {
                    profile,
                    chunk_size: Some(4096),
                    ..Default::default()
                };
                let bytes = data(len);
                let (cid, _) = import(&bytes, options, &memory).await;
                let src = LocalBlocks(memory.clone());
                let back: Vec<Bytes> = cat(src.clone(), cid).try_collect().await.unwrap();
                assert_eq!(back.concat(), bytes, "{profile} {len}");
                assert_eq!(
                    stat(&src, &cid).await.unwrap(),
                    Entry::File { size: len as u64 }
                );
            }
        }
    }

    #[tokio::test]
    async fn sharded_directories_list_and_resolve_every_entry() {
        let memory = Arc::new(MemoryBlockstore::new());
        let options = ImportOptions::default();
        let mut builder = DirectoryBuilder::new(options.clone());
        let names: Vec<String> = (0..3000)
            .map(|i| format!("file-{i:05}-{}", "n".repeat(80)))
            .collect();
        for name in &names {
            let (cid, size) = import(name.as_bytes(), options.clone(), &memory).await;
            builder.add(name, cid, size).unwrap();
        }
        let (blocks, dir) = builder.finish().unwrap();
        assert!(
            blocks.len() > 1,
            "3000 long names exceed the threshold: sharded"
        );
        store(blocks, &memory).await;
        let src = LocalBlocks(memory.clone());
        assert!(matches!(
            stat(&src, &dir).await.unwrap(),
            Entry::Directory { sharded: true, .. }
        ));
        let listed = list_dir(&src, &dir).await.unwrap();
        let mut expected = names.clone();
        expected.sort();
        assert_eq!(
            listed.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
            expected
        );
        for name in names.iter().step_by(97) {
            let cid = resolve_path(&src, &dir, name).await.unwrap();
            let back: Vec<Bytes> = cat(src.clone(), cid).try_collect().await.unwrap();
            assert_eq!(back.concat(), name.as_bytes());
        }
        let missing = resolve_path(&src, &dir, "no-such-entry").await;
        assert!(matches!(missing, Err(ContentError::PathNotFound { .. })));
        assert!(matches!(
            resolve_path(&src, &dir, "../x").await,
            Err(ContentError::InvalidOption(_))
        ));
    }

    /// `X-Ipfs-Roots` material: one root per path segment, the HAMT shards read on the way
    /// kept apart (they are in the traced path, not the roots).
    #[tokio::test]
    async fn a_traced_path_through_a_sharded_directory_keeps_one_root_per_segment() {
        let memory = Arc::new(MemoryBlockstore::new());
        let options = ImportOptions::default();
        let mut wiki = DirectoryBuilder::new(options.clone());
        let names: Vec<String> = (0..3000)
            .map(|i| format!("article-{i:05}-{}", "n".repeat(80)))
            .collect();
        for name in &names {
            let (cid, size) = import(name.as_bytes(), options.clone(), &memory).await;
            wiki.add(name, cid, size).unwrap();
        }
        let (blocks, wiki) = wiki.finish().unwrap();
        store(blocks, &memory).await;
        let mut top = DirectoryBuilder::new(options.clone());
        top.add("wiki", wiki, 1).unwrap();
        let (blocks, top) = top.finish().unwrap();
        store(blocks, &memory).await;
        let src = LocalBlocks(memory.clone());
        let name = &names[1234];
        let file = resolve_path(&src, &wiki, name).await.unwrap();
        let traced = crate::content::selector::resolve_path(&src, top, &["wiki", name])
            .await
            .unwrap();
        assert_eq!(traced.roots, vec![top, wiki, file]);
        assert_eq!(traced.terminal, file);
        assert_eq!(traced.path[..2], [top, wiki]);
        assert!(traced.path.len() > 2, "the shards under wiki were read too");
        assert!(!traced.path.contains(&file));
        let root_only = crate::content::selector::resolve_path(&src, top, &[])
            .await
            .unwrap();
        assert_eq!(root_only.roots, vec![top]);
        assert!(root_only.path.is_empty());
    }

    #[tokio::test]
    async fn a_directory_is_not_a_file_and_a_file_is_not_a_directory() {
        let memory = Arc::new(MemoryBlockstore::new());
        let (file, size) = import(b"abc", ImportOptions::default(), &memory).await;
        let mut builder = DirectoryBuilder::new(ImportOptions::default());
        builder.add("f", file, size).unwrap();
        assert!(
            builder.add("f", file, size).is_err(),
            "duplicate names are refused"
        );
        assert!(builder.add("..", file, size).is_err());
        assert!(builder.add("a/b", file, size).is_err());
        let (blocks, dir) = builder.finish().unwrap();
        store(blocks, &memory).await;
        let src = LocalBlocks(memory.clone());
        assert!(matches!(
            list_dir(&src, &file).await,
            Err(ContentError::NotADirectory(_))
        ));
        let err = cat(src.clone(), dir)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(matches!(err, ContentError::NotAFile(_)));
    }
}
