//! `cairn add`: stream a file (or a directory tree, as multipart) to the daemon.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::{Body, Method};
use tokio_util::io::ReaderStream;

use super::{progress, Context};
use crate::api::types::Added;
use crate::content::importer::{FileImporter, ImportedFile};
use crate::content::profile::{parse_chunker, ImportOptions};
use crate::content::HashAlg;

#[derive(Debug, Args)]
pub struct AddArgs {
    /// File or directory to add.
    pub path: PathBuf,
    /// Add a directory and everything under it.
    #[arg(short, long)]
    pub recursive: bool,
    /// CID profile (IPIP-0499): unixfs-v1-2025 (default) or unixfs-v0-2015.
    #[arg(long)]
    pub profile: Option<String>,
    /// Chunker, as Kubo's: size-<bytes>.
    #[arg(short = 's', long)]
    pub chunker: Option<String>,
    /// Use raw blocks for leaves (overrides the profile): `--raw-leaves` alone means true,
    /// `--raw-leaves=false` turns them off (the value needs `=`, as Kubo's flags do).
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub raw_leaves: Option<bool>,
    /// CID version, as Kubo's flag: 0 (CIDv0, dag-pb leaves; with no --profile, Kubo's
    /// default layout `unixfs-v0-2015`) or 1 (CIDv1, raw leaves).
    #[arg(long, value_name = "0|1")]
    pub cid_version: Option<u8>,
    /// Wrap the file (or directory) in a new directory, as Kubo's -w: the CID printed is the
    /// wrapping directory's.
    #[arg(short = 'w', long)]
    pub wrap_with_directory: bool,
    /// Hash function: sha2-256 (default) or blake3.
    #[arg(long)]
    pub hash: Option<String>,
    /// Only compute the CID; write nothing (works without a daemon for a single file).
    #[arg(short = 'n', long)]
    pub only_hash: bool,
    /// Pin the result (default true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pin: bool,
    /// Name to give the pin.
    #[arg(long)]
    pub name: Option<String>,
    /// Print only the CID.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print only the final CID (Kubo's -Q; the same as -q here, which prints only the root).
    #[arg(short = 'Q', long)]
    pub quieter: bool,
    /// Include files and directories whose names start with a dot (left out by default, as
    /// IPIP-0499 profiles say).
    #[arg(short = 'H', long)]
    pub hidden: bool,
}

impl AddArgs {
    fn options(&self) -> anyhow::Result<ImportOptions> {
        let mut options = ImportOptions {
            profile: ImportOptions::profile_for(self.profile.as_deref(), self.cid_version)?,
            cid_version: self.cid_version,
            ..ImportOptions::default()
        };
        if let Some(chunker) = &self.chunker {
            options.chunk_size = Some(parse_chunker(chunker)?);
        }
        options.raw_leaves = self.raw_leaves;
        if let Some(hash) = &self.hash {
            options.hash = hash.parse::<HashAlg>()?;
        }
        // Checked here, so a bad combination fails before any upload.
        options.params()?;
        Ok(options)
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![
            ("pin", self.pin.to_string()),
            ("only-hash", self.only_hash.to_string()),
        ];
        let optional = [
            ("profile", &self.profile),
            ("chunker", &self.chunker),
            ("hash", &self.hash),
            ("name", &self.name),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                query.push((key, value.clone()));
            }
        }
        if let Some(raw) = self.raw_leaves {
            query.push(("raw-leaves", raw.to_string()));
        }
        if let Some(version) = self.cid_version {
            query.push(("cid-version", version.to_string()));
        }
        if self.wrap_with_directory {
            query.push(("wrap-with-directory", "true".into()));
        }
        query
    }
}

pub async fn run(ctx: &Context, args: AddArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    let meta = std::fs::metadata(&args.path)
        .with_context(|| format!("cannot read {}", args.path.display()))?;
    if meta.is_dir() && !args.recursive {
        bail!("{} is a directory: use -r to add it", args.path.display());
    }
    let quiet = args.quiet || args.quieter || ctx.json;
    if args.only_hash && !meta.is_dir() && !args.wrap_with_directory {
        let hashed = hash_locally(&args.path, options, meta.len(), quiet).await?;
        return report(ctx, &args, &hashed.cid, &hashed);
    }
    let added = upload(ctx, &args, &meta, quiet).await?;
    report(ctx, &args, &added.cid, &added)
}

/// What `add --only-hash` of one file prints: computed here, so no DAG size and no pin.
#[derive(Debug, serde::Serialize)]
struct Hashed {
    cid: String,
    size: u64,
    pinned: bool,
}

fn report(
    ctx: &Context,
    args: &AddArgs,
    cid: &str,
    out: &impl serde::Serialize,
) -> anyhow::Result<()> {
    if (args.quiet || args.quieter) && !ctx.json {
        return super::print_line(cid);
    }
    ctx.print(out, || format!("added {cid} {}", args.path.display()))
}

/// `--only-hash` for a file: the importer runs here, nothing is sent or stored. One thread
/// reads while another hashes, so the disk and the hash function overlap.
async fn hash_locally(
    path: &Path,
    options: ImportOptions,
    len: u64,
    quiet: bool,
) -> anyhow::Result<Hashed> {
    let bar = progress::bytes(Some(len), quiet);
    let path = path.to_path_buf();
    let counter = bar.clone();
    let file = tokio::task::spawn_blocking(move || -> anyhow::Result<ImportedFile> {
        let mut importer = FileImporter::new(options)?;
        let (chunks, reader) = read_ahead(&path)?;
        for chunk in chunks {
            let chunk = chunk?;
            drop(importer.write(&chunk));
            counter.inc(chunk.len() as u64);
        }
        let _ = reader.join();
        Ok(importer.finish()?.1)
    })
    .await??;
    bar.finish_and_clear();
    Ok(Hashed {
        cid: file.cid.to_string(),
        size: file.size,
        pinned: false,
    })
}

type Chunks = std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>;

/// Reads `path` in 1 MiB chunks on its own thread, at most four chunks ahead.
fn read_ahead(path: &Path) -> anyhow::Result<(Chunks, std::thread::JoinHandle<()>)> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    let reader = std::thread::spawn(move || loop {
        let mut buffer = vec![0u8; 1 << 20];
        let mut filled = 0;
        while filled < buffer.len() {
            match file.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        buffer.truncate(filled);
        if filled == 0 || tx.send(Ok(buffer)).is_err() {
            return;
        }
    });
    Ok((rx, reader))
}

async fn upload(
    ctx: &Context,
    args: &AddArgs,
    meta: &std::fs::Metadata,
    quiet: bool,
) -> anyhow::Result<Added> {
    let client = ctx.client()?;
    let request = client.request(Method::POST, "/add").query(&args.query());
    if !meta.is_dir() && args.wrap_with_directory {
        // One part named by the file's name: the daemon wraps it in a directory.
        let bar = progress::bytes(Some(meta.len()), quiet);
        let name = file_name(&args.path)?;
        let part = Part::stream_with_length(file_body(&args.path, &bar).await?, meta.len())
            .file_name(name);
        let out = client
            .json(request.multipart(Form::new().part("file", part)))
            .await;
        bar.finish_and_clear();
        return out;
    }
    if !meta.is_dir() {
        let bar = progress::bytes(Some(meta.len()), quiet);
        let body = file_body(&args.path, &bar).await?;
        let out = client.json(request.body(body)).await;
        bar.finish_and_clear();
        return out;
    }
    let (files, total) = walk_tree(&args.path, args.hidden)?;
    let bar = progress::bytes(Some(total), quiet);
    let mut form = Form::new();
    for (relative, source) in files {
        let part = match source {
            Some(path) => {
                let len = std::fs::metadata(&path)?.len();
                Part::stream_with_length(file_body(&path, &bar).await?, len)
            }
            None => Part::bytes(Vec::new()).mime_str("application/x-directory")?,
        };
        form = form.part("file", part.file_name(relative));
    }
    let out = client.json(request.multipart(form)).await;
    bar.finish_and_clear();
    out
}

async fn file_body(path: &Path, bar: &indicatif::ProgressBar) -> anyhow::Result<Body> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let bar = bar.clone();
    let stream = ReaderStream::with_capacity(file, 1 << 20).inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            bar.inc(chunk.len() as u64);
        }
    });
    Ok(Body::wrap_stream(stream))
}

fn file_name(path: &Path) -> anyhow::Result<String> {
    let name = path
        .canonicalize()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow::anyhow!("{} has no file name", path.display()))?;
    Ok(name)
}

/// Every file (with its source path) and directory (`None`) under `root`, as paths relative
/// to `root`'s parent, so the upload's top-level entry is `root` itself.
type TreeEntry = (String, Option<PathBuf>);

fn walk_tree(root: &Path, hidden: bool) -> anyhow::Result<(Vec<TreeEntry>, u64)> {
    let top = root
        .canonicalize()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into());
    let mut entries = vec![(top.clone(), None)];
    let mut total = 0;
    let mut pending = vec![(root.to_path_buf(), top)];
    while let Some((dir, relative)) = pending.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child
                .file_name()
                .into_string()
                .map_err(|n| anyhow::anyhow!("file name {n:?} is not UTF-8"))?;
            if name.starts_with('.') && !hidden {
                continue;
            }
            let path = child.path();
            let relative = format!("{relative}/{name}");
            let kind = child.file_type()?;
            if kind.is_dir() {
                entries.push((relative.clone(), None));
                pending.push((path, relative));
            } else if kind.is_file() {
                total += child.metadata()?.len();
                entries.push((relative, Some(path)));
            } else {
                eprintln!(
                    "skipping {} (not a regular file or directory)",
                    path.display()
                );
            }
        }
    }
    Ok((entries, total))
}
