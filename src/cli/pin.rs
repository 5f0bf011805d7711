//! `cairn pin add|ls|rm|verify`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;
use crate::api::types::{PinVerify, Pinned, Pins, Unpinned};

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
    /// Check that every pinned DAG is whole in the local store (nothing is fetched or
    /// changed); fails if any is not. `cairn repo verify --repair` mends.
    Verify {
        /// Print only the pins that are not whole.
        #[arg(short, long)]
        quiet: bool,
    },
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
        PinCommand::Verify { quiet } => {
            let out: PinVerify = client.post_empty("/pins/verify").await?;
            ctx.print(&out, || {
                let lines: Vec<String> = out
                    .pins
                    .iter()
                    .filter(|p| !quiet || !p.ok)
                    .map(|p| match p.ok {
                        true => format!("{} ok ({} blocks)", p.cid, p.blocks),
                        false => {
                            let bad: Vec<String> = p
                                .bad_nodes
                                .iter()
                                .map(|b| format!("{} {}", b.cid, b.problem))
                                .collect();
                            format!(
                                "{} broken: {} bad nodes: {}",
                                p.cid,
                                p.bad_count,
                                bad.join(", ")
                            )
                        }
                    })
                    .collect();
                lines.join("\n")
            })?;
            let broken = out.pins.iter().filter(|p| !p.ok).count();
            if broken > 0 {
                anyhow::bail!("{broken} of {} pins are not whole", out.pins.len());
            }
            Ok(())
        }
        PinCommand::Rm { cid } => {
            let out: Unpinned = client.delete_json(&format!("/pins/{cid}")).await?;
            ctx.print(&out, || format!("unpinned {}", out.cid))
        }
    }
}
