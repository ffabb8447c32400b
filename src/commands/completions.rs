//! `sockscope completions SHELL`: completion scripts from the clap definitions.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Exit, Result};

/// Prints the completion script for `shell`.
pub fn run(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<Exit> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sockscope", &mut buf);
    out.write_all(&buf)?;
    Ok(Exit::Success)
}
