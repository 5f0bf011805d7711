//! `cairn completions <shell>` (clap_complete) and `cairn man [--dir DIR]` (clap_mangen):
//! both generated at run time from the same clap definitions the binary parses with, so they
//! never drift from the flags. `cairn man` prints the top page (roff) to stdout; with `--dir`
//! it writes one page per command (`cairn.1`, `cairn-add.1`, `cairn-pin-ls.1`, ...).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write a page per command into this directory instead of the top page to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "cairn", &mut out);
    super::write_stdout(&out)
}

pub fn man(args: ManArgs) -> anyhow::Result<()> {
    let command = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
            Ok(())
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command).render(&mut out)?;
            super::write_stdout(&out)
        }
    }
}
