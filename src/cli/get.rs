//! `cairn get`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use futures::StreamExt;
use reqwest::Method;
use tokio::io::AsyncWriteExt;

use super::{progress, Client, Context};
use crate::api::types::{EntryKind, Listing, Stat};

#[derive(Debug, Args)]
pub struct GetArgs {
    /// <cid>[/path]
    pub path: String,
    /// Where to write (default: ./<cid or last path segment>).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub async fn get(ctx: &Context, args: GetArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let default_name = args
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(&args.path)
        .to_string();
    let output = match args.output {
        Some(output) => output,
        None => PathBuf::from(safe_name(&default_name)?),
    };
    let stat: Stat = client.get_json(&format!("/stat/{}", args.path)).await?;
    let bar = progress::bytes(Some(stat.size), ctx.json);
    let fetch = Fetch {
        client: &client,
        bar: &bar,
    };
    match stat.kind {
        EntryKind::Directory => fetch.directory(&args.path, &output).await?,
        EntryKind::File => fetch.file(&args.path, &output).await?,
    }
    bar.finish_and_clear();
    let saved = Saved {
        path: output.display().to_string(),
        cid: stat.cid,
        size: stat.size,
    };
    ctx.print(&saved, || format!("saved {} to {}", args.path, saved.path))
}

/// What `cairn get --json` prints.
#[derive(Debug, serde::Serialize)]
struct Saved {
    path: String,
    cid: String,
    size: u64,
}

/// A name taken from a DAG must stay one plain path component under the output directory.
fn safe_name(name: &str) -> anyhow::Result<&str> {
    let unsafe_name =
        name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']);
    if unsafe_name {
        bail!("refusing unsafe entry name {name:?} (it could write outside the output directory)");
    }
    Ok(name)
}

struct Fetch<'a> {
    client: &'a Client,
    bar: &'a indicatif::ProgressBar,
}

impl Fetch<'_> {
    /// Streams a file into a partial file, renamed into place once complete.
    async fn file(&self, path: &str, dest: &Path) -> anyhow::Result<()> {
        let response = self
            .client
            .send(self.client.request(Method::GET, &format!("/cat/{path}")))
            .await?;
        let partial = partial_path(dest);
        let result = async {
            let mut file = tokio::fs::File::create(&partial)
                .await
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.context("download interrupted")?;
                file.write_all(&chunk).await?;
                self.bar.inc(chunk.len() as u64);
            }
            file.flush().await?;
            tokio::fs::rename(&partial, dest)
                .await
                .with_context(|| format!("cannot write {}", dest.display()))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        result
    }

    /// Recreates a directory tree, depth-first, without recursion.
    async fn directory(&self, root: &str, dest: &Path) -> anyhow::Result<()> {
        let mut pending = vec![(root.to_string(), dest.to_path_buf())];
        while let Some((path, dir)) = pending.pop() {
            tokio::fs::create_dir_all(&dir)
                .await
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let listing: Listing = self.client.get_json(&format!("/ls/{path}")).await?;
            for entry in listing.entries {
                let name = safe_name(&entry.name)?;
                let stat: Stat = self
                    .client
                    .get_json(&format!("/stat/{}", entry.cid))
                    .await?;
                match stat.kind {
                    EntryKind::Directory => pending.push((entry.cid, dir.join(name))),
                    EntryKind::File => self.file(&entry.cid, &dir.join(name)).await?,
                }
            }
        }
        Ok(())
    }
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".cairn-partial");
    dest.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn names_that_could_escape_the_output_dir_are_refused() {
        for bad in ["..", ".", "", "a/b", "../etc", "a\\b", "nul\0"] {
            assert!(safe_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(safe_name("index.html").unwrap(), "index.html");
        assert_eq!(safe_name("..hidden").unwrap(), "..hidden");
    }
}
