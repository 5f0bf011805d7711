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
    /// Byte offset to begin reading from.
    #[arg(short, long)]
    pub offset: Option<u64>,
    /// Maximum number of bytes to read.
    #[arg(short, long)]
    pub length: Option<u64>,
}

pub async fn cat(ctx: &Context, args: CatArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mut query = Vec::new();
    if let Some(offset) = args.offset {
        query.push(("offset", offset));
    }
    if let Some(length) = args.length {
        query.push(("length", length));
    }
    let request = client
        .request(Method::GET, &format!("/cat/{}", args.path))
        .query(&query);
    let response = client.send(request).await?;
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
