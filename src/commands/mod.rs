//! One file per subcommand: arguments in, core calls, output out. No logic of their own beyond
//! wiring; the logic lives in `sockets`, `output` and friends.

pub mod capture;
pub mod check;
pub mod completions;
pub mod echo;
pub mod list;
pub mod ping;
pub mod stats;
pub mod trace;
pub mod who;

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::error::{Exit, Result};
use crate::output::Style;

/// Runs the parsed command line, writing results to `out` and logs to stderr.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Exit> {
    let style = Style::for_stdout(cli.color.into());
    match cli.command {
        Command::List(args) => list::run(&args, &style, out),
        Command::Who(args) => who::run(&args, &style, out),
        Command::Completions { shell } => completions::run(shell, out),
        Command::Check(args) => check::run(&args, &style, out),
        Command::Capture(args) => capture::run(&args, out),
        Command::Ping(args) => ping::run(&args, &style, out),
        Command::Trace(args) => trace::run(&args, out),
        Command::Echo(args) => echo::run(&args, out),
        Command::Stats(args) => stats::run(&args, &style, out),
    }
}
