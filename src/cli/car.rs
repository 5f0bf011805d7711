//! `cairn car export|import`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use futures::StreamExt;
use reqwest::{Body, Method};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::{progress, Context};
use crate::api::types::CarImported;

#[derive(Debug, Subcommand)]
pub enum CarCommand {
    /// Write the DAG under a CID as a CARv1 (to stdout unless -o).
    Export {
        cid: String,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Import a CARv1: blocks verified, roots pinned.
    Import {
        file: PathBuf,
        /// Pin the roots (default true).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        pin: bool,
    },
}

pub async fn run(ctx: &Context, command: CarCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match command {
        CarCommand::Export { cid, output } => {
            let response = client
                .send(client.request(Method::GET, &format!("/car/{cid}")))
                .await?;
            let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &output {
                Some(path) => Box::new(
                    tokio::fs::File::create(path)
                        .await
                        .with_context(|| format!("cannot create {}", path.display()))?,
                ),
                None => Box::new(tokio::io::stdout()),
            };
            let bar = progress::bytes(None, ctx.json || output.is_none());
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.context("export interrupted: the CAR is incomplete")?;
                out.write_all(&chunk).await?;
                bar.inc(chunk.len() as u64);
            }
            out.flush().await?;
            bar.finish_and_clear();
        }
        CarCommand::Import { file, pin } => {
            let handle = tokio::fs::File::open(&file)
                .await
                .with_context(|| format!("cannot open {}", file.display()))?;
            let len = handle.metadata().await?.len();
            let bar = progress::bytes(Some(len), ctx.json);
            let counter = bar.clone();
            let stream = ReaderStream::with_capacity(handle, 1 << 20).inspect(move |c| {
                if let Ok(c) = c {
                    counter.inc(c.len() as u64);
                }
            });
            let request = client
                .request(Method::POST, "/car")
                .query(&[("pin", pin)])
                .body(Body::wrap_stream(stream));
            let out = client.json::<CarImported>(request).await;
            bar.finish_and_clear();
            let out = out?;
            ctx.print(&out, || {
                format!(
                    "imported {} blocks, roots: {}",
                    out.blocks,
                    out.roots.join(" ")
                )
            })?;
        }
    }
    Ok(())
}
