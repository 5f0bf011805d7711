//! The process's log subscriber: stderr, filtered by `CAIRN_LOG` / `RUST_LOG`, in the data
//! dir's `[log] format` for `cairn daemon` (text for every other command), with colours only on
//! a terminal. See [`crate::config::LogConfig`] for the rules.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::{Cli, Command};
use crate::config::{filter_directive, DataDir, LogFormat};

/// Installs the global subscriber. Call once, before the command runs.
pub fn init(cli: &Cli) {
    // The demo network prints its own summary; its nodes' routine news would drown it.
    let default = match cli.command {
        Command::Devnet(_) => "warn",
        _ => "warn,cairn=info",
    };
    let directive = filter_directive(
        std::env::var("CAIRN_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
        default,
    );
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|e| {
        eprintln!("warning: ignoring the log filter {directive:?}: {e}");
        EnvFilter::new(default)
    });
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format(cli) {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}

/// The daemon's configured format. An unreadable config is the daemon's own error to report
/// (with its key and line) once it loads it; until then the log is text.
fn format(cli: &Cli) -> LogFormat {
    if !matches!(cli.command, Command::Daemon(_)) {
        return LogFormat::Text;
    }
    let data = match &cli.repo {
        Some(path) => DataDir::new(path),
        None => match DataDir::from_env() {
            Ok(data) => data,
            Err(_) => return LogFormat::Text,
        },
    };
    match data.is_initialized() {
        true => data.load_config().map(|c| c.log.format).unwrap_or_default(),
        false => LogFormat::Text,
    }
}
