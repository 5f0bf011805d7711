//! `cairn pin add|ls|rm`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;
use crate::api::types::{Pinned, Pins, Unpinned};

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Pin a DAG whose blocks are in the store.
    Add {
        cid: String,
        /// A name to remember the pin by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List pins.
    Ls,
    /// Unpin; the blocks go at the next `cairn gc` unless another pin needs them.
    Rm { cid: String },
}

pub async fn run(ctx: &Context, command: PinCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match command {
        PinCommand::Add { cid, name } => {
            let mut request = client.request(Method::POST, &format!("/pins/{cid}"));
            if let Some(name) = name {
                request = request.query(&[("name", name)]);
            }
            let out: Pinned = client.json(request).await?;
            ctx.print(&out, || format!("pinned {}", out.cid))
        }
        PinCommand::Ls => {
            let out: Pins = client.get_json("/pins").await?;
            ctx.print(&out, || {
                let lines: Vec<String> = out
                    .pins
                    .iter()
                    .map(|p| {
                        format!("{} {}", p.cid, p.name.as_deref().unwrap_or(""))
                            .trim_end()
                            .to_string()
                    })
                    .collect();
                lines.join("\n")
            })
        }
        PinCommand::Rm { cid } => {
            let out: Unpinned = client.delete_json(&format!("/pins/{cid}")).await?;
            ctx.print(&out, || format!("unpinned {}", out.cid))
        }
    }
}
