//! `tidings`: the Tidings news server binary.
//!
//! It owns process setup: command-line parsing, logging, and (in later issues) the TOML
//! configuration, the async runtime, signals and shutdown. The protocol, article and storage
//! logic live in the library crates; this crate only wires them together.
//!
//! What it does not do yet: the daemon (`tidings serve`) arrives with the node issue. Until
//! then `serve` states that plainly and exits with status 2 rather than pretending to run.

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Tidings: a Usenet news server and peering node.
#[derive(Debug, Parser)]
#[command(name = "tidings", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the news server (on embedded defaults when no configuration is given).
    Serve,
    /// Print the version and exit.
    Version,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Version => {
            println!("tidings {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Serve => {
            println!("tidings {}", env!("CARGO_PKG_VERSION"));
            eprintln!(
                "tidings serve: not yet. The daemon arrives with the node issue; this build has \
                 the NNTP codec, the article model and the storage engine. See README.md."
            );
            std::process::exit(2);
        }
    }
}
