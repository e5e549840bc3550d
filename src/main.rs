//! `fetchpool`: parse the arguments, wire Ctrl-C, dispatch to a run or a subcommand, map
//! the outcome to an exit code.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Receiver;
use fetchpool::cli::{self, Command, Exit};

fn main() -> ExitCode {
    // `--executor process` runs this program again as its workers: in one, this serves
    // fetches and never returns (Python's `if __name__ == '__main__':`).
    #[cfg(process_pool)]
    fetchpool::futures::process::guard(fetchpool::run::worker::registry());
    let cli = match cli::parse_args() {
        Ok(cli) => cli,
        Err(exit) => return exit.into(),
    };
    let outcome = match &cli.command {
        None => fetchpool::run::main(&cli, &stop_signals()),
        Some(Command::Demo { options }) => fetchpool::demo::main(options, &stop_signals()),
        Some(Command::Report(args)) => fetchpool::report::report(args),
        Some(Command::Completions { shell }) => cli::completions(*shell),
        Some(Command::Man { command, dir }) => cli::man::man(command.as_deref(), dir.as_deref()),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("fetchpool: error: {e:#}");
            Exit::Usage.into()
        }
    }
}

/// One message per Ctrl-C or SIGTERM, for a run to stop on. The handler runs on ctrlc's
/// own thread, not in signal context. The first signal asks the run to cancel what is
/// queued and finish; a second one means "now", so it ends the process from here, without
/// waiting for running fetches (the only exit below `main`, on purpose).
fn stop_signals() -> Receiver<()> {
    let (tx, signals) = crossbeam_channel::bounded(1);
    let interrupted_once = AtomicBool::new(false);
    let handler = ctrlc::set_handler(move || {
        if interrupted_once.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(Exit::Interrupted.code()));
        }
        let _ = tx.try_send(());
    });
    if let Err(e) = handler {
        eprintln!("fetchpool: warning: cannot handle Ctrl-C: {e}");
    }
    signals
}
