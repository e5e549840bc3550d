//! `fetchpool`: parse the arguments, wire Ctrl-C, run, map the outcome to an exit code.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use fetchpool::cli::{self, Exit};

fn main() -> ExitCode {
    // `--executor process` runs this program again as its workers: in one, this serves
    // fetches and never returns (Python's `if __name__ == '__main__':`).
    #[cfg(process_pool)]
    fetchpool::futures::process::guard(fetchpool::run::worker::registry());
    let cli = match cli::parse_args() {
        Ok(cli) => cli,
        Err(exit) => return exit.into(),
    };
    if let Some(cli::Command::Demo { options }) = &cli.command {
        return demo(options);
    }
    if let Some(command) = &cli.command {
        return match cli::run_command(command) {
            Ok(exit) => exit.into(),
            Err(e) => {
                eprintln!("fetchpool: error: {e:#}");
                Exit::Usage.into()
            }
        };
    }
    run(&cli)
}

/// `fetchpool demo OPTIONS`: the demo's server and list, then the run those options make.
fn demo(options: &[std::ffi::OsString]) -> ExitCode {
    let started = fetchpool::demo::DemoServer::start().and_then(|server| {
        let list = fetchpool::demo::write_list(&server)?;
        Ok((server, list))
    });
    let (server, list) = match started {
        Ok(started) => started,
        Err(e) => {
            eprintln!("fetchpool: error: cannot start the demo's server: {e}");
            return Exit::Usage.into();
        }
    };
    let cli = match cli::demo_cli(options, &list) {
        Ok(cli) => cli,
        Err(exit) => return exit.into(),
    };
    eprintln!(
        "fetchpool demo: serving {} pages on {}; the list is {} (the server stops with the \
         demo)",
        fetchpool::demo::PAGES.len(),
        server.base(),
        list.display()
    );
    let exit = run(&cli);
    drop(server);
    exit
}

/// An ordinary run, Ctrl-C and SIGTERM wired to stop it.
fn run(cli: &cli::Cli) -> ExitCode {
    // What the pool catches and survives (a panicking callback, say) goes to stderr.
    fetchpool::futures::set_report_hook(|report| eprintln!("fetchpool: {report}"));
    let (tx, signals) = crossbeam_channel::bounded(1);
    let interrupted_once = AtomicBool::new(false);
    // The handler runs on ctrlc's own thread, not in signal context. The first Ctrl-C or
    // SIGTERM asks the run to cancel what is queued and finish; a second one means "now",
    // so it ends the process from here without waiting for running fetches.
    let handler = ctrlc::set_handler(move || {
        if interrupted_once.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(Exit::Interrupted.code()));
        }
        let _ = tx.try_send(());
    });
    if let Err(e) = handler {
        eprintln!("fetchpool: warning: cannot handle Ctrl-C: {e}");
    }
    let settings = match fetchpool::run::settings::Settings::from_cli(cli) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("fetchpool: error: {e:#}");
            return Exit::Usage.into();
        }
    };
    match fetchpool::run::run(&settings, &signals) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("fetchpool: error: {e:#}");
            Exit::Usage.into()
        }
    }
}
