//! How the binary ends: the exit code and the error line for what `run` returned.
//!
//! - A closed stdout (`cairn --json deal list | head`) is a normal end: exit 0, nothing
//!   printed. Every write to stdout goes through [`super::print_line`] or
//!   [`super::write_stdout`], which return the error instead of panicking as `println!` does.
//! - With `--json`, an error is one JSON line on stderr:
//!   `{"error": <reason>, "message": <text>, "status": <HTTP status or null>}`, where the
//!   reason is the daemon's machine-readable one when the daemon refused the call, `usage`
//!   for a command line clap refused, the CLI's own for what it refuses itself
//!   (`invalid_option`, `unknown_config_key`), and `error` otherwise. Without `--json` it is
//!   `error: <text>`.

use std::process::ExitCode;

use clap::Parser;

use super::client::ApiFailure;
use super::Cli;

/// Parses the command line; a refused one is reported (as JSON with `--json`) and exits 2.
pub fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => {
            use clap::error::ErrorKind;
            let json = std::env::args().any(|a| a == "--json");
            if json && !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let message = e.render().to_string();
                let line = serde_json::json!({
                    "error": "usage",
                    "message": message.trim_end(),
                    "status": null,
                });
                eprintln!("{line}");
                return Err(ExitCode::from(2));
            }
            let code = e.exit_code();
            let _ = e.print();
            Err(ExitCode::from(u8::try_from(code).unwrap_or(2)))
        }
    }
}

/// The exit code for `result`, after reporting an error.
pub fn finish(json: bool, result: anyhow::Result<()>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    if is_broken_pipe(&error) {
        return ExitCode::SUCCESS;
    }
    if json {
        let (reason, status) = reason(&error);
        let line = serde_json::json!({
            "error": reason,
            "message": format!("{error:#}"),
            "status": status,
        });
        eprintln!("{line}");
    } else {
        eprintln!("error: {error:#}");
    }
    ExitCode::FAILURE
}

/// The machine-readable reason of an error, and the HTTP status when the daemon gave one.
fn reason(error: &anyhow::Error) -> (String, Option<u16>) {
    if let Some(failure) = error.downcast_ref::<ApiFailure>() {
        return (failure.reason.clone(), Some(failure.status));
    }
    if let Some(refusal) = error.downcast_ref::<Refusal>() {
        return (refusal.reason.to_string(), None);
    }
    for cause in error.chain() {
        if let Some(crate::content::ContentError::InvalidOption(_)) = cause.downcast_ref() {
            return ("invalid_option".to_string(), None);
        }
    }
    ("error".to_string(), None)
}

/// A command line this CLI refuses by itself (no daemon involved), with its reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

/// True when the error is stdout (or another pipe) closed by the reader.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
