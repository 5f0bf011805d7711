//! `cairn pin add|ls|rm`.

use clap::Subcommand;
use reqwest::Method;

use super::Context;

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
            let out = client.json(request).await?;
            ctx.print(&out, || {
                format!("pinned {}", out["cid"].as_str().unwrap_or(""))
            });
        }
        PinCommand::Ls => {
            let out = client.json(client.request(Method::GET, "/pins")).await?;
            ctx.print(&out, || {
                let pins = out["pins"].as_array().cloned().unwrap_or_default();
                let lines: Vec<String> = pins
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {}",
                            p["cid"].as_str().unwrap_or(""),
                            p["name"].as_str().unwrap_or("")
                        )
                        .trim_end()
                        .to_string()
                    })
                    .collect();
                lines.join("\n")
            });
        }
        PinCommand::Rm { cid } => {
            let out = client
                .json(client.request(Method::DELETE, &format!("/pins/{cid}")))
                .await?;
            ctx.print(&out, || {
                format!("unpinned {}", out["cid"].as_str().unwrap_or(""))
            });
        }
    }
    Ok(())
}
