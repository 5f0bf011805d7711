//! `cairn config <key> [<value>]` and `cairn config show`: read and edit the data dir's
//! `config.toml`, as Kubo's `ipfs config` does, with dotted keys (`api.listen`,
//! `storage.quota`, `swarm.bootstrap`).
//!
//! Works on the file, with or without a daemon; a running daemon reads it at its next start.
//! Invariants: a key that `config.toml` cannot hold is refused (`unknown config key`), and
//! a new value is written only after the whole file, with it, passes the same checks the
//! daemon applies at start; the file is replaced atomically and stays owner-only.

use anyhow::{bail, Context as _};
use clap::Args;

use super::Context;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// A dotted key (`api.listen`), or `show` for the whole configuration.
    pub key: String,
    /// The value to set: TOML (`1000`, `true`, `["/ip4/..."]`), else taken as a string.
    pub value: Option<String>,
}

pub fn run(ctx: &Context, args: ConfigArgs) -> anyhow::Result<()> {
    let data = ctx.data_dir()?;
    let config = data.load_config()?;
    let effective = toml::Value::try_from(&config).context("encoding the configuration")?;
    if args.key == "show" && args.value.is_none() {
        return show(ctx, effective);
    }
    let path = split_key(&args.key)?;
    match args.value {
        None => get(ctx, &config, &effective, &args.key, &path),
        Some(text) => set(ctx, &data, effective, &args.key, &path, &text),
    }
}

fn split_key(key: &str) -> anyhow::Result<Vec<&str>> {
    let path: Vec<&str> = key.split('.').collect();
    if path.iter().any(|s| s.is_empty()) {
        bail!("invalid config key {key:?} (use dotted names such as api.listen)");
    }
    Ok(path)
}

fn show(ctx: &Context, mut effective: toml::Value) -> anyhow::Result<()> {
    redact(&mut effective);
    if ctx.json {
        super::print_line(&serde_json::to_string(&effective)?)
    } else {
        super::print_line(toml::to_string_pretty(&effective)?.trim_end())
    }
}

/// A database URL's password is not shown (as Kubo's `config show` hides the private key).
fn redact(effective: &mut toml::Value) {
    if let Some(toml::Value::String(url)) = effective.get_mut("database_url") {
        if let Some((scheme, rest)) = url.split_once("://") {
            if let Some((credentials, host)) = rest.split_once('@') {
                if let Some((user, _)) = credentials.split_once(':') {
                    *url = format!("{scheme}://{user}:***@{host}");
                }
            }
        }
    }
}

fn lookup<'a>(value: &'a toml::Value, path: &[&str]) -> Option<&'a toml::Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn get(
    ctx: &Context,
    config: &Config,
    effective: &toml::Value,
    key: &str,
    path: &[&str],
) -> anyhow::Result<()> {
    let value = match lookup(effective, path) {
        Some(value) => value.clone(),
        None => {
            // Absent from the effective config: an optional key left unset, or no key at all.
            check_known(config, key, path)?;
            if ctx.json {
                return super::print_line("null");
            }
            bail!("{key} is not set");
        }
    };
    if ctx.json {
        return super::print_line(&serde_json::to_string(&value)?);
    }
    match &value {
        toml::Value::String(s) => super::print_line(s),
        toml::Value::Table(_) => super::print_line(toml::to_string_pretty(&value)?.trim_end()),
        other => super::print_line(&other.to_string()),
    }
}

/// Fails with `unknown config key` unless `config.toml` could hold `path`: a probe value is
/// set there and the file's own decoder says whether the key exists.
fn check_known(config: &Config, key: &str, path: &[&str]) -> anyhow::Result<()> {
    let mut probe = toml::Value::try_from(config)?;
    insert(&mut probe, path, toml::Value::Integer(0)).map_err(|_| unknown(key))?;
    let text = toml::to_string(&probe)?;
    match Config::from_toml(std::path::Path::new("config.toml"), &text) {
        Err(e) if e.to_string().contains("unknown field") => Err(unknown(key)),
        _ => Ok(()),
    }
}

fn unknown(key: &str) -> anyhow::Error {
    super::exit::Refusal {
        reason: "unknown_config_key",
        message: format!(
            "unknown config key {key:?} (see `cairn config show` for the keys there are)"
        ),
    }
    .into()
}

/// Sets `path` in `root`, creating tables on the way; fails where a non-table is in the way.
fn insert(root: &mut toml::Value, path: &[&str], value: toml::Value) -> Result<(), ()> {
    let (last, parents) = path.split_last().ok_or(())?;
    let mut table = root.as_table_mut().ok_or(())?;
    for key in parents {
        table = table
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .ok_or(())?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

/// A value as TOML when it reads as one (`1000`, `true`, `["a"]`), else as a string.
fn parse_value(text: &str) -> toml::Value {
    #[derive(serde::Deserialize)]
    struct Probe {
        v: toml::Value,
    }
    match toml::from_str::<Probe>(&format!("v = {text}")) {
        Ok(probe) => probe.v,
        Err(_) => toml::Value::String(text.to_string()),
    }
}

fn set(
    ctx: &Context,
    data: &crate::config::DataDir,
    effective: toml::Value,
    key: &str,
    path: &[&str],
    text: &str,
) -> anyhow::Result<()> {
    let config_path = data.root().join("config.toml");
    // The value as TOML first (`1000`, `true`, `["a"]`); if the key wants a string (a size,
    // a duration, an address), the text as typed.
    let mut tried = Vec::new();
    let mut candidates = vec![parse_value(text)];
    if !candidates[0].is_str() {
        candidates.push(toml::Value::String(text.to_string()));
    }
    let mut accepted = None;
    for value in candidates {
        let mut edited = effective.clone();
        insert(&mut edited, path, value.clone()).map_err(|_| unknown(key))?;
        let new_text = toml::to_string_pretty(&edited)?;
        match Config::from_toml(&config_path, &new_text) {
            Ok(_) => {
                accepted = Some((value, new_text));
                break;
            }
            Err(e) if e.to_string().contains("unknown field") => return Err(unknown(key)),
            Err(e) => tried.push(e.to_string()),
        }
    }
    let Some((value, new_text)) = accepted else {
        let reason = tried.first().cloned().unwrap_or_default();
        bail!("{key} cannot be {text:?}: {reason}");
    };
    let partial = data.root().join("config.toml.partial");
    write_owner_only(&partial, new_text.as_bytes())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &config_path)
        .with_context(|| format!("cannot replace {}", config_path.display()))?;
    #[derive(serde::Serialize)]
    struct Set<'a> {
        key: &'a str,
        value: serde_json::Value,
    }
    let out = Set {
        key,
        value: serde_json::to_value(&value)?,
    };
    ctx.print(&out, || {
        format!("set {key} = {value} (a running daemon reads it at its next start)")
    })
}

fn write_owner_only(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
