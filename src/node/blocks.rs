//! The node's block source: local first, then the network.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;

use super::Node;
use crate::blockstore::Blockstore;
use crate::content::{Block, BlockGet, ContentError};

/// How long one block may take to arrive from the network.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct NodeBlocks(pub(super) Arc<Node>);

impl BlockGet for NodeBlocks {
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, ContentError> {
        let node = &self.0;
        let source = |e: &dyn std::fmt::Display| ContentError::Source(e.to_string());
        if let Some(data) = node.store.get(cid).await.map_err(|e| source(&e))? {
            return Ok(data);
        }
        let Some(net) = node.net.get() else {
            return Err(ContentError::NotFound(*cid));
        };
        let data = net
            .get_block(*cid, FETCH_TIMEOUT)
            .await
            .map_err(|e| match e {
                crate::net::NetError::Bitswap(_) => ContentError::NotFound(*cid),
                other => source(&other),
            })?;
        let block = Block::verified(*cid, data)?;
        node.keep_fetched(&block).await.map_err(|e| source(&e))?;
        Ok(block.into_parts().1)
    }
}

impl Node {
    /// Stores a block that came from the network, recorded but unpinned.
    async fn keep_fetched(&self, block: &Block) -> super::Result<()> {
        if self.store.put(block).await? {
            self.store.sync().await?;
            self.db
                .record_blocks(&[(*block.cid(), block.data().len() as u64)])
                .await?;
        }
        Ok(())
    }
}
