//! One file per subcommand. Each takes validated settings and returns the exit code of a run that
//! completed; failures travel as errors and `main` maps them.

pub mod auth;
pub mod context;
pub mod sandbox;

use crate::cli::{Cli, Command};
use crate::error::{Exit, NotBuilt};
use crate::settings::Settings;

/// Run the parsed command.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Auth { action } => auth::run(&settings, action).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        other => Err(NotBuilt {
            command: other.name(),
        }
        .into()),
    }
}
