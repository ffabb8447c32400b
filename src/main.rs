//! The sockscope binary: parse, dispatch, map errors to exit codes. Nothing else.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use sockscope::cli::Cli;
use sockscope::{Error, Exit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; anything else is bad usage (exit 2).
            let code = if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = sockscope::commands::run(cli, &mut out).and_then(|exit| {
        out.flush().map_err(Error::Output)?;
        Ok(exit)
    });
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        // `sockscope list | head`: the reader went away; that is not an error.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            // Whatever was already written belongs before the error.
            let _ = out.flush();
            let _ = writeln!(io::stderr(), "sockscope: error: {e}");
            ExitCode::from(e.exit().code())
        }
    }
}
