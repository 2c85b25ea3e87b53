//! `tidings`: the Tidings news server binary.
//!
//! It owns process setup: command-line parsing, logging, the TOML configuration
//! ([`config`]), the daemon with its async runtime, signals and shutdown ([`serve`]), the
//! admin commands and the control socket ([`admin`]) and the users file ([`users`]). The
//! protocol, article, storage, transport and session logic live in the library crates; this
//! crate only wires them together.
//!
//! Commands:
//! - `tidings serve [--config FILE]`: run the server (embedded defaults without a file).
//! - `tidings config check FILE`: report every error of a configuration file (exit 1 if any).
//! - `tidings group add NAME [--status y|n|m] [--description TEXT]`, `group rm NAME`,
//!   `group set NAME [--status FLAG] [--description TEXT]`, `group list`; `tidings user add
//!   NAME --password-stdin`, `user rm NAME`, `user list`; `tidings feed status`; `tidings
//!   cancel ID`; `tidings expire`; `tidings check`: through the running server's control
//!   socket, or directly on the data directory when no server runs.
//! - `tidings rebuild`: rebuild the index from the spool (server stopped).

mod admin;
mod config;
mod serve;
mod users;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser, Subcommand};

/// Tidings: a Usenet news server and peering node.
#[derive(Debug, Parser)]
#[command(name = "tidings", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML); without it, the embedded defaults.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the news server (on embedded defaults when no configuration is given).
    Serve,
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Newsgroups (through the running server, or on the store when it is stopped).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Reader accounts for AUTHINFO.
    #[command(subcommand)]
    User(UserCommand),
    /// Outbound feeds to peers.
    #[command(subcommand)]
    Feed(FeedCommand),
    /// Cancel an article (as `ctlinnd cancel`): it is removed and its Message-ID remembered as
    /// rejected, so that peers cannot bring it back.
    Cancel {
        /// The Message-ID, e.g. `<abc@example.org>`.
        message_id: String,
    },
    /// Run an expiry pass now with the `[expire]` policy (the server also runs one every
    /// `expire.every_minutes`).
    Expire,
    /// Verify the store: every spool record's checksums, and history against overview.
    /// Exit status 1 if a problem is found.
    Check,
    /// Rebuild the index (history, overview, active list) from the spool. The server must be
    /// stopped; group statuses and descriptions are kept from the old index when it is
    /// readable.
    Rebuild,
    /// Print the version and exit.
    Version,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Report every error of a configuration file; exit status 1 if there is any.
    Check {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Create a group.
    Add {
        /// Group name (e.g. `local.general`).
        name: String,
        /// `y` (posting allowed), `n` (no local posting) or `m` (moderated).
        #[arg(long, default_value = "y", value_parser = ["y", "n", "m"])]
        status: String,
        /// One-line description (LIST NEWSGROUPS).
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Remove a group.
    Rm {
        /// Group name.
        name: String,
    },
    /// Change a group's status and/or description (as `ctlinnd changegroup`).
    Set {
        /// Group name.
        name: String,
        /// `y`, `n`, `m`, `x` (no articles filed) or `=other.group` (filed there instead).
        #[arg(long)]
        status: Option<String>,
        /// One-line description (LIST NEWSGROUPS).
        #[arg(long)]
        description: Option<String>,
    },
    /// List the groups: name, status, low and high article numbers, description.
    List,
}

#[derive(Debug, Subcommand)]
enum FeedCommand {
    /// Per peer: offered, accepted, refused, rejected, deferred, missing, bytes and queued
    /// (articles still to deliver). With the server stopped, the queue depths only.
    Status,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user, or change a user's password.
    Add {
        /// User name.
        name: String,
        /// Read the password from standard input (first line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Remove a user.
    Rm {
        /// User name.
        name: String,
    },
    /// List the users.
    List,
}

/// Seconds since the Unix epoch (the reader's clock function, also used by the transit side).
pub(crate) use tidings_reader::system_clock as unix_now;

fn load_config(path: Option<&Path>) -> Result<config::Config> {
    match path {
        None => Ok(config::Config::default()),
        Some(p) => config::load(p).with_context(|| format!("configuration {}", p.display())),
    }
}

fn init_logging(filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => EnvFilter::new(s),
        _ => EnvFilter::new(filter),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn read_password() -> Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let password = input.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        bail!("empty password on standard input");
    }
    Ok(password)
}

fn print_lines(lines: &[String]) {
    for l in lines {
        println!("{l}");
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let Some(command) = cli.command else {
        Cli::command().print_help()?;
        println!();
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Command::Version => {
            println!("tidings {}", env!("CARGO_PKG_VERSION"));
        }
        Command::Config(ConfigCommand::Check { file }) => match config::check(&file) {
            Ok(warnings) => {
                for w in &warnings {
                    println!("{}: warning: {w}", file.display());
                }
                println!("{}: ok", file.display());
            }
            Err(errors) => {
                for e in &errors {
                    println!("{}: {e}", file.display());
                }
                eprintln!("{} error(s)", errors.len());
                return Ok(ExitCode::from(1));
            }
        },
        Command::Serve => {
            let cfg = load_config(cli.config.as_deref())?;
            init_logging(&cfg.log.filter);
            serve::run(cfg)?;
        }
        Command::Group(g) => {
            let cfg = load_config(cli.config.as_deref())?;
            init_logging("warn");
            let req = match g {
                GroupCommand::Add {
                    name,
                    status,
                    description,
                } => admin::Request::GroupAdd {
                    name,
                    flag: status,
                    description,
                },
                GroupCommand::Rm { name } => admin::Request::GroupRm { name },
                GroupCommand::Set {
                    name,
                    status,
                    description,
                } => admin::Request::GroupSet {
                    name,
                    flag: status,
                    description,
                },
                GroupCommand::List => admin::Request::GroupList,
            };
            print_lines(&admin::run(&cfg, &req)?);
        }
        Command::User(u) => {
            let cfg = load_config(cli.config.as_deref())?;
            init_logging("warn");
            let req = match u {
                UserCommand::Add { name, .. } => {
                    if !users::valid_user_name(&name) {
                        bail!("bad user name {name:?} (no ':', spaces or control characters)");
                    }
                    let password = read_password()?;
                    admin::Request::UserAdd {
                        name,
                        phc: users::hash_password(&password)?,
                    }
                }
                UserCommand::Rm { name } => admin::Request::UserRm { name },
                UserCommand::List => admin::Request::UserList,
            };
            print_lines(&admin::run(&cfg, &req)?);
        }
        Command::Feed(FeedCommand::Status) => {
            let cfg = load_config(cli.config.as_deref())?;
            init_logging("warn");
            print_lines(&admin::run(&cfg, &admin::Request::FeedStatus)?);
        }
        Command::Cancel { message_id } => {
            let cfg = load_config(cli.config.as_deref())?;
            init_logging("warn");
            print_lines(&admin::run(
                &cfg,
                &admin::Request::Cancel { id: message_id },
            )?);
        }
        Command::Expire => {
            let cfg = load_config(cli.config.as_deref())?;
            init_logging("warn");
            print_lines(&admin::run(&cfg, &admin::Request::Expire)?);
        }
        Command::Check => {
            let cfg = load_config(cli.config.as_deref())?;
            init_logging("warn");
            let lines = admin::run(&cfg, &admin::Request::Check)?;
            print_lines(&lines);
            if lines.last().is_some_and(|l| l == admin::CHECK_FAILED) {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Rebuild => {
            let cfg = load_config(cli.config.as_deref())?;
            init_logging("info");
            print_lines(&admin::rebuild(&cfg)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tidings: {e:#}");
            ExitCode::from(1)
        }
    }
}
