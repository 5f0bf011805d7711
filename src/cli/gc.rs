//! `cairn gc`.

use super::Context;
use crate::api::types::Collected;

pub async fn gc(ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let out: Collected = client.post_empty("/gc").await?;
    ctx.print(&out, || {
        format!(
            "removed {} blocks, freed {} bytes",
            out.removed_blocks, out.freed_bytes
        )
    })
}
