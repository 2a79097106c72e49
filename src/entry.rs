//! The process's whole life below `main`: parse the arguments, set up logs, load the settings,
//! run the command on a runtime, and turn its outcome into an exit code.

use std::io::Write as _;
use std::process::ExitCode;

use crate::error::{exit_for, Exit};
use crate::settings::Settings;

/// Run the command line the process was started with; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = crate::cli::parse();
    crate::logging::init(
        cli.global.log_format,
        cli.global.verbose as i8 - cli.global.quiet as i8,
    );
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            return report(&anyhow::Error::new(e).context("cannot start the async runtime")).into()
        }
    };
    // Settings are loaded by the commands that need them: `init`, `completions` and `man` work
    // wherever they are run, whatever configuration lies there.
    let config = cli.global.config.clone();
    let load = || Settings::load(config.as_deref(), &env);
    let exit = match runtime.block_on(crate::commands::run(cli, load, &env)) {
        Ok(exit) => exit,
        Err(e) => report(&e),
    };
    exit.into()
}

/// Print the error chain and a hint, and pick the exit code.
fn report(error: &anyhow::Error) -> Exit {
    let exit = exit_for(error);
    // Not `eprintln!`, which panics when stderr is closed: the exit code still tells.
    let _ = writeln!(std::io::stderr(), "error: {error:#}");
    exit
}
