use std::io::Write as _;
use std::process::ExitCode;

use ahead_sync::error::{exit_for, Exit};
use ahead_sync::settings::Settings;

// mimalloc rather than the system allocator: the mapping and pull paths allocate many small,
// short-lived values (JSON maps, strings), where glibc's malloc spent 30-40% of the mapping's
// CPU time. Built without transparent huge pages, which kept a pull's peak RSS 40 MB higher.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ahead_sync::cli::parse();
    ahead_sync::logging::init(
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
    let exit = match runtime.block_on(ahead_sync::commands::run(cli, load, &env)) {
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
