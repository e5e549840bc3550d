//! The process pool, as the README shows it:
//! `cargo run -p fetchpool-futures --features process --example squares`.

use fetchpool_futures::{ProcessPoolExecutor, Registry, ReturnWhen, Task, process, wait};

fn square(x: u64) -> Result<u64, String> {
    Ok(x * x)
}
static SQUARE: Task<u64, u64, String> = Task::new("square", square);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    process::guard(Registry::new().register(&SQUARE)); // first, before anything else

    let processes = ProcessPoolExecutor::builder()
        .max_workers(4)
        .max_tasks_per_child(100) // optional
        .time_limit(std::time::Duration::from_secs(60)) // optional: kill a hung task
        .build()?;
    let squares: Vec<_> = (0..8)
        .map(|i| processes.submit(&SQUARE, i))
        .collect::<Result<_, _>>()?;
    wait(&squares, None, ReturnWhen::AllCompleted);
    let total: u64 = processes.map(&SQUARE, 0..8, None).map(Result::unwrap).sum();
    assert_eq!(total, 140);
    println!(
        "sum of squares 0..8 = {total}, over {} worker processes",
        processes.processes_started()
    );
    Ok(())
}
