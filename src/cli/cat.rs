//! `cairn cat`.

use anyhow::Context as _;
use clap::Args;
use futures::StreamExt;
use reqwest::Method;
use tokio::io::AsyncWriteExt;

use super::Context;

#[derive(Debug, Args)]
pub struct CatArgs {
    /// <cid>[/path]
    pub path: String,
}

pub async fn cat(ctx: &Context, args: CatArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let response = client
        .send(client.request(Method::GET, &format!("/cat/{}", args.path)))
        .await?;
    let mut stdout = tokio::io::stdout();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        stdout
            .write_all(&chunk.context("download interrupted")?)
            .await?;
    }
    stdout.flush().await?;
    Ok(())
}
