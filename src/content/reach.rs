//! Which blocks of a CAR stream its roots reach, as the blocks arrive.
//!
//! An import keeps track, as blocks stream in, of which are reachable from the CAR's roots
//! ([`Reach`]): a block linked from a root or from a reachable block is reachable, in any
//! order (Kubo writes parents first, `ipfs-car` leaves first). A block not (yet) reachable is
//! an orphan; at most [`MAX_ORPHANS`] orphans (and [`MAX_ORPHAN_LINKS`] links of theirs) are
//! pending at once, past which the import is refused and rolled back, so a CAR of a million
//! blocks nobody links to costs a bounded amount of memory and disk. Orphans are held back in
//! memory (up to [`MAX_HELD_BYTES`]) and written only once something reaches them; past that
//! they are written as they come. Orphans still pending at the end are reported
//! (`unreachable`): the held ones are never stored, the written ones stay unpinned for `gc`.
//!
//! Memory is proportional to the reachable blocks (their CIDs, as for any add) plus the
//! orphan caps.

use std::collections::{HashMap, HashSet};

use cid::Cid;

use super::car::CarError;
use super::Block;
use crate::blockstore::canonical;

/// Orphans (blocks no root reaches yet) pending at once during an import.
pub const MAX_ORPHANS: usize = 65_536;
/// Links of pending orphans held at once.
pub const MAX_ORPHAN_LINKS: usize = 1 << 20;
/// Bytes of orphans held in memory rather than written; past it, orphans are written to the
/// store as they come (and, if never reached, left unpinned for `gc`).
pub const MAX_HELD_BYTES: usize = 32 << 20;

/// Which blocks of a CAR stream are reachable from its roots (CIDs in canonical form, so a
/// CIDv0 link finds its CIDv1 block), and which blocks to write when.
#[derive(Debug, Default)]
pub struct Reach {
    /// Linked from a root or a reachable block, not arrived yet.
    wanted: HashSet<Cid>,
    /// Arrived and reachable.
    reachable: HashSet<Cid>,
    /// Arrived, not reachable yet: their links, followed once something reaches them, and
    /// the block itself while it is held back (not yet written).
    orphans: HashMap<Cid, (Vec<Cid>, Option<Block>)>,
    orphan_links: usize,
    held_bytes: usize,
    /// Orphans written to the store (held back no longer).
    spilled: u64,
}

impl Reach {
    pub fn new(roots: &[Cid]) -> Self {
        Reach {
            wanted: roots.iter().map(canonical).collect(),
            ..Reach::default()
        }
    }

    /// Takes a block's arrival: the blocks to write now (this one if reachable, with the
    /// held orphans it reaches; or this one spilled). Refuses once too many orphans pend.
    pub fn arrive(&mut self, block: Block, links: Vec<Cid>) -> Result<Vec<Block>, CarError> {
        let cid = canonical(block.cid());
        if self.reachable.contains(&cid) || self.orphans.contains_key(&cid) {
            return Ok(Vec::new()); // a repeat
        }
        if self.wanted.remove(&cid) {
            self.reachable.insert(cid);
            let mut out = vec![block];
            self.follow(links, &mut out);
            return Ok(out);
        }
        if self.orphans.len() >= MAX_ORPHANS || self.orphan_links + links.len() > MAX_ORPHAN_LINKS {
            return Err(CarError::TooManyUnreachable { max: MAX_ORPHANS });
        }
        self.orphan_links += links.len();
        let len = block.data().len();
        if self.held_bytes + len <= MAX_HELD_BYTES {
            self.held_bytes += len;
            self.orphans.insert(cid, (links, Some(block)));
            Ok(Vec::new())
        } else {
            self.spilled += 1;
            self.orphans.insert(cid, (links, None));
            Ok(vec![block])
        }
    }

    fn follow(&mut self, links: Vec<Cid>, out: &mut Vec<Block>) {
        let mut stack = links;
        while let Some(link) = stack.pop() {
            let link = canonical(&link);
            if self.reachable.contains(&link) {
                continue;
            }
            match self.orphans.remove(&link) {
                Some((more, held)) => {
                    self.orphan_links -= more.len();
                    match held {
                        Some(block) => {
                            self.held_bytes -= block.data().len();
                            out.push(block);
                        }
                        None => self.spilled -= 1,
                    }
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
    pub fn unreachable(&self) -> u64 {
        self.orphans.len() as u64
    }

    /// Of those, the ones written to the store (left unpinned for `gc`).
    pub fn unreachable_stored(&self) -> u64 {
        self.spilled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{HashAlg, DAG_PB, RAW};

    fn arrive(reach: &mut Reach, block: &Block, links: Vec<Cid>) -> Vec<Cid> {
        let out = reach.arrive(block.clone(), links).unwrap();
        out.iter().map(|b| *b.cid()).collect()
    }

    #[test]
    fn reachability_holds_in_any_order_and_counts_strays() {
        let blk = |codec, i: u32| Block::encode(codec, HashAlg::Sha2_256, i.to_le_bytes().to_vec());
        let (root, mid, a, b, stray) = (
            blk(DAG_PB, 0),
            blk(DAG_PB, 1),
            blk(RAW, 2),
            blk(RAW, 3),
            blk(RAW, 4),
        );
        let c = |b: &Block| *b.cid();
        // Leaves first, the root last (as ipfs-car writes), with a repeat and a stray: nothing
        // is written until the root reaches it, then all of it at once.
        let mut reach = Reach::new(&[c(&root)]);
        assert!(arrive(&mut reach, &a, vec![]).is_empty());
        assert!(arrive(&mut reach, &b, vec![]).is_empty());
        assert!(arrive(&mut reach, &stray, vec![]).is_empty());
        assert!(arrive(&mut reach, &mid, vec![c(&a), c(&b)]).is_empty());
        assert!(arrive(&mut reach, &a, vec![]).is_empty());
        assert_eq!(
            reach.unreachable(),
            4,
            "nothing reaches them before the root"
        );
        let mut written = arrive(&mut reach, &root, vec![c(&mid)]);
        written.sort();
        let mut want = vec![c(&root), c(&mid), c(&a), c(&b)];
        want.sort();
        assert_eq!(written, want);
        assert_eq!(
            reach.unreachable(),
            1,
            "only the stray is left, never written"
        );
        assert_eq!(reach.unreachable_stored(), 0);
        assert_eq!((reach.orphan_links, reach.held_bytes), (0, 4));
        // Parents first (as Kubo writes): each block is written as it comes.
        let mut reach = Reach::new(&[c(&root)]);
        for (block, links) in [
            (&root, vec![c(&mid)]),
            (&mid, vec![c(&a), c(&b)]),
            (&a, vec![]),
            (&b, vec![]),
        ] {
            assert_eq!(arrive(&mut reach, block, links), vec![c(block)]);
        }
        assert_eq!(reach.unreachable(), 0);
        // A CIDv0 link finds its CIDv1 block.
        let v0 = Cid::new_v0(*c(&mid).hash()).unwrap();
        let mut reach = Reach::new(&[c(&root)]);
        arrive(&mut reach, &root, vec![v0]);
        assert_eq!(arrive(&mut reach, &mid, vec![]), vec![c(&mid)]);
        assert_eq!(reach.unreachable(), 0);
    }

    #[test]
    fn too_many_strays_refuse_the_import_and_big_ones_are_written_past_the_hold() {
        let mut reach = Reach::new(&[*Block::encode(DAG_PB, HashAlg::Sha2_256, vec![0]).cid()]);
        for i in 0..MAX_ORPHANS as u32 {
            let stray = Block::encode(RAW, HashAlg::Sha2_256, (i + 10).to_le_bytes().to_vec());
            assert!(
                reach.arrive(stray, vec![]).unwrap().is_empty(),
                "held, not written"
            );
        }
        let last = Block::encode(RAW, HashAlg::Sha2_256, u32::MAX.to_le_bytes().to_vec());
        let err = reach.arrive(last, vec![]).unwrap_err();
        assert!(matches!(err, CarError::TooManyUnreachable { max } if max == MAX_ORPHANS));

        let mut reach = Reach::new(&[]);
        let big = |i: u8| Block::encode(RAW, HashAlg::Sha2_256, vec![i; 1 << 20]);
        let held = MAX_HELD_BYTES >> 20;
        for i in 0..held as u8 {
            assert!(reach.arrive(big(i), vec![]).unwrap().is_empty());
        }
        assert_eq!(reach.arrive(big(255), vec![]).unwrap().len(), 1, "spilled");
        assert_eq!(reach.unreachable_stored(), 1);
    }
}
