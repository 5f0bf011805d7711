//! CAR export and import.
//!
//! An import keeps track, as blocks stream in, of which are reachable from the CAR's roots
//! ([`Reach`]): a block linked from a root or from a reachable block is reachable, in any
//! order (Kubo writes parents first, `ipfs-car` leaves first). A block not (yet) reachable is
//! an orphan; at most [`MAX_ORPHANS`] orphans (and [`MAX_ORPHAN_LINKS`] links of theirs) are
//! pending at once, past which the import is refused and rolled back, so a CAR of a million
//! blocks nobody links to costs a bounded amount of memory and disk. Orphans still pending at
//! the end are reported (`unreachable`) and left unpinned for the next `gc`.
//!
//! Memory is proportional to the reachable blocks (their CIDs, as for any add) plus the
//! orphan caps; block bytes are written as they arrive, never held.

use std::collections::{HashMap, HashSet};

use cid::Cid;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{AddSession, Content};
use crate::blockstore::canonical;
use crate::content::car::{export_dag, CarError, CarReader};
use crate::content::dag::DagWalker;
use crate::node::Result;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CarImport {
    #[serde(serialize_with = "crate::content::cid_text::serialize_all")]
    pub roots: Vec<Cid>,
    pub blocks: u64,
    /// Blocks of the CAR that no root reaches: stored unpinned, removed by the next `gc`.
    pub unreachable: u64,
}

/// Orphans (blocks no root reaches yet) pending at once during an import.
pub const MAX_ORPHANS: usize = 65_536;
/// Links of pending orphans held at once.
pub const MAX_ORPHAN_LINKS: usize = 1 << 20;

/// Which blocks of a CAR stream are reachable from its roots (CIDs in canonical form, so a
/// CIDv0 link finds its CIDv1 block).
#[derive(Debug, Default)]
pub(crate) struct Reach {
    /// Linked from a root or a reachable block, not arrived yet.
    wanted: HashSet<Cid>,
    /// Arrived and reachable.
    reachable: HashSet<Cid>,
    /// Arrived, not reachable yet: their links, followed once something reaches them.
    orphans: HashMap<Cid, Vec<Cid>>,
    orphan_links: usize,
}

impl Reach {
    pub(crate) fn new(roots: &[Cid]) -> Self {
        Reach {
            wanted: roots.iter().map(canonical).collect(),
            ..Reach::default()
        }
    }

    /// Takes a block's arrival; refuses once too many orphans are pending.
    pub(crate) fn arrive(&mut self, cid: &Cid, links: Vec<Cid>) -> Result<(), CarError> {
        let cid = canonical(cid);
        if self.reachable.contains(&cid) || self.orphans.contains_key(&cid) {
            return Ok(()); // a repeat
        }
        if self.wanted.remove(&cid) {
            self.reachable.insert(cid);
            self.follow(links);
            return Ok(());
        }
        if self.orphans.len() >= MAX_ORPHANS
            || self.orphan_links + links.len() > MAX_ORPHAN_LINKS
        {
            return Err(CarError::TooManyUnreachable { max: MAX_ORPHANS });
        }
        self.orphan_links += links.len();
        self.orphans.insert(cid, links);
        Ok(())
    }

    fn follow(&mut self, links: Vec<Cid>) {
        let mut stack = links;
        while let Some(link) = stack.pop() {
            let link = canonical(&link);
            if self.reachable.contains(&link) {
                continue;
            }
            match self.orphans.remove(&link) {
                Some(more) => {
                    self.orphan_links -= more.len();
                    self.reachable.insert(link);
                    stack.extend(more);
                }
                None => {
                    self.wanted.insert(link);
                }
            }
        }
    }

    /// Blocks that arrived and no root reaches.
    pub(crate) fn unreachable(&self) -> u64 {
        self.orphans.len() as u64
    }
}

impl Content {
    /// Writes the DAG under `root` as a CARv1, in Cairn's one traversal order.
    pub async fn car_export<W: AsyncWrite + Unpin + Send>(&self, root: &Cid, out: W) -> Result<()> {
        export_dag(self.blocks(), *root, out).await?;
        Ok(())
    }

    /// Imports a CARv1: every block verified against its CID, every root's DAG complete, then
    /// the roots pinned. Any failure leaves the store and the database as they were.
    pub async fn car_import<R: AsyncRead + Unpin + Send>(
        &self,
        input: R,
        pin: bool,
    ) -> Result<CarImport> {
        let mut session = self.add_session(Default::default(), false).await;
        match read_car(&mut session, input).await {
            Ok(import) => {
                session.commit_roots(&import.roots, pin).await?;
                Ok(import)
            }
            Err(e) => {
                session.rollback().await;
                Err(e)
            }
        }
    }

    /// Every block of the DAG under `root`, from the local store; fails if one is missing.
    pub async fn dag_blocks(&self, root: &Cid) -> Result<Vec<Cid>> {
        dag_blocks_from(self.local_blocks(), root).await
    }
}

/// Every block of the DAG under `root`, read through `src`.
pub(crate) async fn dag_blocks_from<G: crate::content::BlockGet>(
    src: G,
    root: &Cid,
) -> Result<Vec<Cid>> {
    let mut walker = DagWalker::new(src, *root);
    let mut blocks = Vec::new();
    while let Some((cid, _)) = walker.next().await? {
        blocks.push(cid);
    }
    Ok(blocks)
}

async fn read_car<R: AsyncRead + Unpin + Send>(
    session: &mut AddSession<'_>,
    input: R,
) -> Result<CarImport> {
    let mut reader = CarReader::new(input).await?;
    let roots = reader.roots().to_vec();
    let mut reach = Reach::new(&roots);
    let mut blocks = 0;
    while let Some(block) = reader.next_block().await? {
        let links = crate::content::dag::links(block.cid(), block.data()).map_err(CarError::from)?;
        reach.arrive(block.cid(), links)?;
        session.put_block(block).await?;
        blocks += 1;
    }
    Ok(CarImport {
        roots,
        blocks,
        unreachable: reach.unreachable(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Block, HashAlg, DAG_PB, RAW};

    fn raw(i: u32) -> Cid {
        *Block::encode(RAW, HashAlg::Sha2_256, i.to_le_bytes().to_vec()).cid()
    }

    fn node(i: u32) -> Cid {
        *Block::encode(DAG_PB, HashAlg::Sha2_256, i.to_le_bytes().to_vec()).cid()
    }

    #[test]
    fn reachability_holds_in_any_order_and_counts_strays() {
        let (root, mid, a, b, stray) = (node(0), node(1), raw(2), raw(3), raw(4));
        // Leaves first, the root last (as ipfs-car writes), with a repeat and a stray.
        let mut reach = Reach::new(&[root]);
        reach.arrive(&a, vec![]).unwrap();
        reach.arrive(&b, vec![]).unwrap();
        reach.arrive(&stray, vec![]).unwrap();
        reach.arrive(&mid, vec![a, b]).unwrap();
        reach.arrive(&a, vec![]).unwrap();
        assert_eq!(reach.unreachable(), 4, "nothing reaches them before the root");
        reach.arrive(&root, vec![mid]).unwrap();
        assert_eq!(reach.unreachable(), 1, "only the stray is left");
        assert_eq!(reach.orphan_links, 0);
        // Parents first (as Kubo writes): nothing pends.
        let mut reach = Reach::new(&[root]);
        for (cid, links) in [(root, vec![mid]), (mid, vec![a, b]), (a, vec![]), (b, vec![])] {
            reach.arrive(&cid, links).unwrap();
        }
        assert_eq!(reach.unreachable(), 0);
        // A CIDv0 link finds its CIDv1 block.
        let v0 = Cid::new_v0(*mid.hash()).unwrap();
        let mut reach = Reach::new(&[root]);
        reach.arrive(&root, vec![v0]).unwrap();
        reach.arrive(&mid, vec![]).unwrap();
        assert_eq!(reach.unreachable(), 0);
    }

    #[test]
    fn too_many_strays_refuse_the_import() {
        let mut reach = Reach::new(&[node(0)]);
        for i in 0..MAX_ORPHANS as u32 {
            reach.arrive(&raw(i + 10), vec![]).unwrap();
        }
        let err = reach.arrive(&raw(u32::MAX), vec![]).unwrap_err();
        assert!(matches!(err, CarError::TooManyUnreachable { max } if max == MAX_ORPHANS));
    }
}
