//! `cairn gc`.

use reqwest::Method;

use super::Context;

pub async fn gc(ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let out = client.json(client.request(Method::POST, "/gc")).await?;
    ctx.print(&out, || {
        format!(
            "removed {} blocks, freed {} bytes",
            out["removed_blocks"], out["freed_bytes"]
        )
    });
    Ok(())
}
