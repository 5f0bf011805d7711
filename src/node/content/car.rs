//! CAR export and import.
//!
//! An import follows which blocks its roots reach ([`Reach`]): strays are never stored, and
//! too many of them refuse the import (see `content::reach`).

use cid::Cid;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{AddSession, Content};
use crate::content::car::{export_dag, CarError, CarReader};
use crate::content::dag::DagWalker;
use crate::content::reach::Reach;
use crate::node::Result;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CarImport {
    #[serde(serialize_with = "crate::content::cid_text::serialize_all")]
    pub roots: Vec<Cid>,
    pub blocks: u64,
    /// Blocks of the CAR that no root reaches: not stored, or (past what an import holds
    /// back in memory) stored unpinned, for the next `gc` to remove.
    pub unreachable: u64,
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
        Ok(self.car_import_counted(input, pin).await?.0)
    }

    /// Like [`Content::car_import`], also returning the bytes of the blocks imported.
    pub async fn car_import_counted<R: AsyncRead + Unpin + Send>(
        &self,
        input: R,
        pin: bool,
    ) -> Result<(CarImport, u64)> {
        let mut session = self.add_session(Default::default(), false).await;
        match read_car(&mut session, input).await {
            Ok((import, bytes)) => {
                session.commit_roots(&import.roots, pin).await?;
                Ok((import, bytes))
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
) -> Result<(CarImport, u64)> {
    let mut reader = CarReader::new(input).await?;
    let roots = reader.roots().to_vec();
    let mut reach = Reach::new(&roots);
    let (mut blocks, mut bytes) = (0, 0);
    while let Some(block) = reader.next_block().await? {
        bytes += block.data().len() as u64;
        let links =
            crate::content::dag::links(block.cid(), block.data()).map_err(CarError::from)?;
        blocks += 1;
        for block in reach.arrive(block, links)? {
            session.put_block(block).await?;
        }
    }
    Ok((
        CarImport {
            roots,
            blocks,
            unreachable: reach.unreachable(),
        },
        bytes,
    ))
}
