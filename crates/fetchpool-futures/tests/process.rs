//! The process pool. Ported from CPython `Lib/test/test_concurrent_futures/`:
//! `test_process_pool.py` (ProcessPoolExecutorTest: killed child, traceback, saturation,
//! idle-process reuse, max_tasks_per_child, terminate/kill_workers), `test_deadlock.py`
//! (ExecutorDeadlockTest: crashes and (de)serialisation errors at every stage, shutdown
//! during a crash, big data to a dying worker), the gh-115634 / gh-119592 / gh-152967
//! max-tasks scenarios, and the cases of `executor.py` and `test_wait.py` that apply to
//! both pools.
//!
//! What changed: where Python breaks the whole pool (`BrokenProcessPool`) on a dead worker,
//! only the dead worker's future fails here and the next task runs on a replacement, so
//! those tests check both halves. Pickling errors are serde errors. Added: the hard time
//! limit, orphans after the parent is killed or panics, stdout and stdin of tasks.
//!
//! Workers run this test binary again, so it has its own `main` (libtest-mimic keeps
//! `cargo test` filters and nextest working): the guard first, then, when the
//! `PROCESS_TEST_PARENT` variable asks for it, one of the "parent" programs the orphan
//! tests start and kill.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{PATIENCE, eventually};
use fetchpool_futures::{
    BuildError, Executor, FutureError, MapError, PoolFuture, ProcessPoolExecutor, Registry,
    ReturnWhen, SubmitError, Task, TaskError, ThreadPoolExecutor, as_completed, process, wait,
};
use libtest_mimic::{Arguments, Trial};
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;

// ---- the tasks (registered in `main`) ----

fn square(x: u64) -> Result<u64, String> {
    Ok(x * x)
}
static SQUARE: Task<u64, u64, String> = Task::new("square", square);

fn picky(x: u64) -> Result<u64, String> {
    assert!(x != 13, "unlucky {x}");
    if x % 7 == 3 {
        return Err(format!("no {x}"));
    }
    Ok(x * x)
}
static PICKY: Task<u64, u64, String> = Task::new("picky", picky);

fn fail(message: String) -> Result<(), String> {
    Err(message)
}
static FAIL: Task<String, (), String> = Task::new("fail", fail);

fn panics(message: String) -> Result<(), String> {
    panic!("{message}");
}
static PANICS: Task<String, (), String> = Task::new("panics", panics);

fn exit_with(code: i32) -> Result<(), String> {
    std::process::exit(code)
}
static EXIT: Task<i32, (), String> = Task::new("exit", exit_with);

fn abort(_: ()) -> Result<(), String> {
    std::process::abort()
}
static ABORT: Task<(), (), String> = Task::new("abort", abort);

fn pid(_: ()) -> Result<u32, String> {
    Ok(std::process::id())
}
static PID: Task<(), u32, String> = Task::new("pid", pid);

fn sleep_ms(ms: u64) -> Result<u32, String> {
    thread::sleep(Duration::from_millis(ms));
    Ok(std::process::id())
}
static SLEEP: Task<u64, u32, String> = Task::new("sleep", sleep_ms);

/// Blocks until `path` exists (a gate across processes), at most `PATIENCE`; says it
/// runs by creating `path.running-PID`.
fn wait_for_file(path: PathBuf) -> Result<u32, String> {
    let mut running = path.clone().into_os_string();
    running.push(format!(".running-{}", std::process::id()));
    std::fs::write(running, b"").map_err(|e| e.to_string())?;
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > PATIENCE {
            return Err("gate never opened".into());
        }
        thread::sleep(Duration::from_millis(2));
    }
    Ok(std::process::id())
}
static GATED: Task<PathBuf, u32, String> = Task::new("gated", wait_for_file);

fn echo(bytes: ByteBuf) -> Result<ByteBuf, String> {
    Ok(bytes)
}
static ECHO: Task<ByteBuf, ByteBuf, String> = Task::new("echo", echo);

fn exit_after_reading(bytes: ByteBuf) -> Result<(), String> {
    std::process::exit(i32::from(!bytes.is_empty()) * 7)
}
static EXIT_BIG: Task<ByteBuf, (), String> = Task::new("exit_big", exit_after_reading);

fn chatty(lines: u32) -> Result<u32, String> {
    for i in 0..lines {
        println!("a task writing to stdout, line {i}");
    }
    Ok(lines)
}
static CHATTY: Task<u32, u32, String> = Task::new("chatty", chatty);

fn read_stdin(_: ()) -> Result<usize, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    Ok(buf.len())
}
static READ_STDIN: Task<(), usize, String> = Task::new("read_stdin", read_stdin);

/// Serialises, but refuses to deserialise (Python: an object whose unpickling raises).
#[derive(Debug, Clone)]
struct NoDecode;
impl Serialize for NoDecode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}
impl<'de> Deserialize<'de> for NoDecode {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(D::Error::custom("NoDecode refuses to deserialise"))
    }
}

/// Refuses to serialise (Python: an object whose pickling raises).
#[derive(Debug, Clone)]
struct NoEncode;
impl Serialize for NoEncode {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(S::Error::custom("NoEncode refuses to serialise"))
    }
}
impl<'de> Deserialize<'de> for NoEncode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u8::deserialize(d).map(|_| NoEncode)
    }
}

/// Serialises, but its deserialisation panics (CPython's
/// `test_error_during_result_unpickle_in_result_handler`: an unpickling that raises in the
/// parent's result handler).
#[derive(Debug, Clone)]
struct PanicDecode;
impl Serialize for PanicDecode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}
impl<'de> Deserialize<'de> for PanicDecode {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("PanicDecode panics while deserialising (expected by the test)")
    }
}

fn give_panic_decode(_: ()) -> Result<PanicDecode, String> {
    Ok(PanicDecode)
}
static RESULT_PANIC_DECODE: Task<(), PanicDecode, String> =
    Task::new("result_panic_decode", give_panic_decode);

fn take_no_decode(_: NoDecode) -> Result<(), String> {
    Ok(())
}
static ARG_NO_DECODE: Task<NoDecode, (), String> = Task::new("arg_no_decode", take_no_decode);

fn take_no_encode(_: NoEncode) -> Result<(), String> {
    Ok(())
}
static ARG_NO_ENCODE: Task<NoEncode, (), String> = Task::new("arg_no_encode", take_no_encode);

fn give_no_encode(_: ()) -> Result<NoEncode, String> {
    Ok(NoEncode)
}
static RESULT_NO_ENCODE: Task<(), NoEncode, String> = Task::new("result_no_encode", give_no_encode);

fn give_no_decode(_: ()) -> Result<NoDecode, String> {
    Ok(NoDecode)
}
static RESULT_NO_DECODE: Task<(), NoDecode, String> = Task::new("result_no_decode", give_no_decode);

static INIT_VALUE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn init(value: String) -> Result<(), String> {
    if value == "fail" {
        return Err("initializer failure (expected by the test)".into());
    }
    INIT_VALUE
        .set(value)
        .map_err(|_| "initialised twice".to_string())
}
static INIT: Task<String, (), String> = Task::new("init", init);

fn read_init(_: ()) -> Result<String, String> {
    INIT_VALUE
        .get()
        .cloned()
        .ok_or_else(|| "not initialised".into())
}
static READ_INIT: Task<(), String, String> = Task::new("read_init", read_init);

/// Registered nowhere.
static UNREGISTERED: Task<u64, u64, String> = Task::new("unregistered", square);
/// Registered name, other types.
static WRONG_TYPES: Task<u32, u64, String> = Task::new("square", |x| Ok(u64::from(x)));

fn registry() -> Registry {
    Registry::new()
        .register(&SQUARE)
        .register(&PICKY)
        .register(&FAIL)
        .register(&PANICS)
        .register(&EXIT)
        .register(&ABORT)
        .register(&PID)
        .register(&RESULT_PANIC_DECODE)
        .register(&SLEEP)
        .register(&GATED)
        .register(&ECHO)
        .register(&EXIT_BIG)
        .register(&CHATTY)
        .register(&READ_STDIN)
        .register(&ARG_NO_DECODE)
        .register(&ARG_NO_ENCODE)
        .register(&RESULT_NO_ENCODE)
        .register(&RESULT_NO_DECODE)
        .register(&INIT)
        .register(&READ_INIT)
}

// ---- helpers ----

fn pool(n: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::new(n).unwrap()
}

/// A file-system gate: tasks of `GATED` wait until it is opened.
struct FileGate(tempfile::TempDir);

impl FileGate {
    fn new() -> Self {
        FileGate(tempfile::tempdir().unwrap())
    }
    fn path(&self) -> PathBuf {
        self.0.path().join("open")
    }
    fn open(&self) {
        std::fs::write(self.path(), b"").unwrap();
    }
    /// How many tasks have started waiting at the gate.
    fn waiting(&self) -> usize {
        std::fs::read_dir(self.0.path()).unwrap().count()
    }
}

/// Whether `pid` is gone (or a zombie nobody reaped yet: it runs nothing).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn died<T: std::fmt::Debug, E: std::fmt::Debug>(r: Result<T, FutureError<E>>) -> String {
    match r {
        Err(FutureError::Task(TaskError::WorkerDied(m))) => m,
        other => panic!("expected a dead worker, got {other:?}"),
    }
}

// ---- submit, results, errors ----

fn submit_runs_the_task_in_another_process_and_returns_its_value() {
    let pool = pool(2);
    let f = pool.submit(&SQUARE, 323).unwrap();
    assert_eq!(f.result(Some(PATIENCE)), Ok(104_329));
    let pid = pool
        .submit(&PID, ())
        .unwrap()
        .result(Some(PATIENCE))
        .unwrap();
    assert_ne!(pid, std::process::id());
}

fn an_error_returned_by_a_task_arrives_with_its_message() {
    // Python: test_traceback (the exception and its text reach the caller).
    let pool = pool(1);
    let f = pool.submit(&FAIL, "disk on fire".to_string()).unwrap();
    assert_eq!(
        f.result(Some(PATIENCE)),
        Err(FutureError::Task(TaskError::Raised("disk on fire".into())))
    );
    assert_eq!(
        f.exception(Some(PATIENCE)),
        Ok(Some(TaskError::Raised("disk on fire".into())))
    );
}

fn a_panic_in_a_task_arrives_as_the_thread_pools_panic_error_and_the_worker_lives_on() {
    let pool = pool(1);
    let before = pool
        .submit(&PID, ())
        .unwrap()
        .result(Some(PATIENCE))
        .unwrap();
    let f = pool
        .submit(&PANICS, "task failure (expected by the test)".into())
        .unwrap();
    assert_eq!(
        f.result(Some(PATIENCE)),
        Err(FutureError::Task(TaskError::Panicked(
            "task failure (expected by the test)".into()
        )))
    );
    let after = pool
        .submit(&PID, ())
        .unwrap()
        .result(Some(PATIENCE))
        .unwrap();
    assert_eq!(
        before, after,
        "a panic is caught in the worker, which serves on"
    );
}

fn a_megabyte_argument_and_result_cross_intact() {
    let pool = pool(1);
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let f = pool.submit(&ECHO, ByteBuf::from(data.clone())).unwrap();
    assert_eq!(f.result(Some(PATIENCE)).unwrap().into_vec(), data);
}

fn an_unregistered_task_or_one_of_other_types_is_refused_at_submit() {
    let pool = pool(1);
    match pool.submit(&UNREGISTERED, 1) {
        Err(SubmitError::UnknownTask(m)) => assert!(m.contains("'unregistered'"), "{m}"),
        other => panic!("{other:?}"),
    }
    match pool.submit(&WRONG_TYPES, 1) {
        Err(SubmitError::UnknownTask(m)) => assert!(m.contains("other"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.processes_started(), 0);
}

fn zero_workers_or_zero_tasks_per_child_are_refused() {
    assert_eq!(
        ProcessPoolExecutor::new(0).unwrap_err(),
        BuildError::ZeroWorkers
    );
    let err = ProcessPoolExecutor::builder()
        .max_tasks_per_child(0)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::ZeroTasksPerChild);
}

fn submit_after_shutdown_is_refused() {
    let pool = pool(1);
    pool.shutdown(true, false);
    assert_eq!(pool.submit(&SQUARE, 2).unwrap_err(), SubmitError::Shutdown);
}

// ---- test_deadlock.py: every stage can fail; nothing hangs, the pool goes on ----

fn an_argument_that_cannot_be_serialised_fails_its_future_at_once() {
    let pool = pool(1);
    let f = pool.submit(&ARG_NO_ENCODE, NoEncode).unwrap();
    assert!(f.done(), "it never reaches the queue");
    match f.result(Some(Duration::ZERO)) {
        Err(FutureError::Task(TaskError::Codec(m))) => {
            assert!(
                m.contains("cannot serialise the argument of task 'arg_no_encode'"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    for i in 0..3 {
        assert_eq!(
            pool.submit(&SQUARE, i).unwrap().result(Some(PATIENCE)),
            Ok(i * i)
        );
    }
    assert_eq!(
        pool.processes_started(),
        1,
        "the failed submit claimed no worker"
    );
}

fn an_argument_the_worker_cannot_deserialise_fails_only_its_future() {
    let pool = pool(1);
    let f = pool.submit(&ARG_NO_DECODE, NoDecode).unwrap();
    match f.result(Some(PATIENCE)) {
        Err(FutureError::Task(TaskError::Codec(m))) => {
            assert!(m.contains("argument of task 'arg_no_decode'"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pool.submit(&SQUARE, 4).unwrap().result(Some(PATIENCE)),
        Ok(16)
    );
}

fn a_result_that_cannot_be_serialised_or_deserialised_fails_only_its_future() {
    let pool = pool(1);
    for (f, what) in [(
        pool.submit(&RESULT_NO_ENCODE, ())
            .unwrap()
            .exception(Some(PATIENCE)),
        "serialise the result",
    )] {
        match f {
            Ok(Some(TaskError::Codec(m))) => assert!(m.contains(what), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    match pool
        .submit(&RESULT_NO_DECODE, ())
        .unwrap()
        .exception(Some(PATIENCE))
    {
        Ok(Some(TaskError::Codec(m))) => assert!(m.contains("deserialise the result"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pool.submit(&SQUARE, 5).unwrap().result(Some(PATIENCE)),
        Ok(25)
    );
    assert_eq!(
        pool.processes_started(),
        1,
        "codec errors never cost a worker"
    );
}

fn a_result_whose_decoding_panics_fails_its_future_and_never_hangs() {
    // CPython: test_error_during_result_unpickle_in_result_handler expects an error, never
    // a hang. The decode runs in the parent, before the future is completed.
    let pool = pool(1);
    let f = pool.submit(&RESULT_PANIC_DECODE, ()).unwrap();
    match f.exception(Some(PATIENCE)) {
        Ok(Some(TaskError::Codec(m))) => {
            assert!(
                m.contains("result_panic_decode") && m.contains("panicked"),
                "{m}"
            );
        }
        other => panic!("expected a codec error, got {other:?}"),
    }
    let waited = wait(
        std::slice::from_ref(&f),
        Some(PATIENCE),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(waited.done.len(), 1, "the future is done");
    assert_eq!(
        pool.submit(&SQUARE, 7).unwrap().result(Some(PATIENCE)),
        Ok(49),
        "the pool goes on, with the same worker"
    );
    assert_eq!(pool.processes_started(), 1);
}

fn a_worker_killed_while_idle_does_not_fail_the_next_task() {
    // Only the task a dead worker was running fails; an idle worker's death costs nothing
    // but a replacement.
    let pool = pool(1);
    let first = pool
        .submit(&PID, ())
        .unwrap()
        .result(Some(PATIENCE))
        .unwrap();
    kill(first, "-KILL");
    eventually("the idle worker is dead", || {
        std::fs::read_to_string(format!("/proc/{first}/stat"))
            .map_or(true, |stat| stat.contains(") Z "))
    });
    for i in 0..3 {
        assert_eq!(
            pool.submit(&SQUARE, i).unwrap().result(Some(PATIENCE)),
            Ok(i * i),
            "task {i} never reached the dead worker"
        );
    }
    let second = pool
        .submit(&PID, ())
        .unwrap()
        .result(Some(PATIENCE))
        .unwrap();
    assert_ne!(first, second, "a replacement serves it");
}

fn a_worker_that_exits_fails_only_its_task_with_the_exit_code_and_is_replaced() {
    let pool = pool(1);
    let first = pool
        .submit(&PID, ())
        .unwrap()
        .result(Some(PATIENCE))
        .unwrap();
    let m = died(pool.submit(&EXIT, 99).unwrap().result(Some(PATIENCE)));
    assert!(
        m.contains(&format!("worker process {first} exited with code 99")),
        "{m}"
    );
    let second = pool
        .submit(&PID, ())
        .unwrap()
        .result(Some(PATIENCE))
        .unwrap();
    assert_ne!(first, second, "a replacement serves the next task");
    assert_eq!(pool.processes_started(), 2);
}

fn a_worker_that_aborts_fails_only_its_task_naming_the_signal() {
    let pool = pool(2);
    let ok: Vec<_> = (0..4).map(|i| pool.submit(&SQUARE, i).unwrap()).collect();
    let m = died(pool.submit(&ABORT, ()).unwrap().result(Some(PATIENCE)));
    assert!(m.contains("signal 6 (SIGABRT)"), "{m}");
    for (i, f) in ok.iter().enumerate() {
        assert_eq!(f.result(Some(PATIENCE)), Ok((i * i) as u64));
    }
    assert_eq!(
        pool.submit(&SQUARE, 9).unwrap().result(Some(PATIENCE)),
        Ok(81)
    );
}

fn a_worker_killed_from_outside_fails_only_its_task() {
    // Python: test_killed_child, where every future then fails with BrokenProcessPool.
    let pool = pool(2);
    let gate = FileGate::new();
    let held = pool.submit(&GATED, gate.path()).unwrap();
    let other = pool.submit(&GATED, gate.path()).unwrap();
    eventually("both wait at the gate", || gate.waiting() == 2);
    let victim = pool.worker_pids()[0];
    kill(victim, "-KILL");
    eventually("a future failed", || held.done() || other.done());
    let (dead, alive) = if held.done() {
        (held, other)
    } else {
        (other, held)
    };
    let m = died(dead.result(Some(PATIENCE)));
    assert!(
        m.contains(&format!("{victim} was killed by signal 9 (SIGKILL)")),
        "{m}"
    );
    gate.open();
    assert!(
        alive.result(Some(PATIENCE)).is_ok(),
        "the other worker's task is unharmed"
    );
    assert_eq!(
        pool.submit(&SQUARE, 6).unwrap().result(Some(PATIENCE)),
        Ok(36)
    );
}

fn big_data_sent_to_a_worker_that_dies_does_not_deadlock() {
    // Python: test_crash_big_data (gh-94777).
    let pool = pool(1);
    let big = ByteBuf::from(vec![7u8; 16 << 20]);
    let futures: Vec<_> = (0..3)
        .map(|_| pool.submit(&EXIT_BIG, big.clone()).unwrap())
        .collect();
    for f in &futures {
        let m = died(f.result(Some(PATIENCE)));
        assert!(m.contains("exited with code 7"), "{m}");
    }
    drop(pool);
}

fn shutdown_while_a_worker_crashes_returns_and_fails_that_task() {
    // Python: test_shutdown_deadlock.
    let pool = pool(2);
    let f = pool.submit(&EXIT, 3).unwrap();
    pool.shutdown(true, false);
    died(f.result(Some(Duration::ZERO)));
}

// ---- the time limit ----

fn a_task_past_the_time_limit_is_killed_and_fails_as_timed_out() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .time_limit(Duration::from_millis(300))
        .build()
        .unwrap();
    let start = Instant::now();
    let f = pool.submit(&SLEEP, 60_000).unwrap();
    assert_eq!(
        f.result(Some(PATIENCE)),
        Err(FutureError::Task(TaskError::TimedOut(
            Duration::from_millis(300)
        )))
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "killed, not waited for"
    );
    let pids = pool.worker_pids();
    assert!(pids.is_empty(), "the killed worker is reaped: {pids:?}");
    assert_eq!(
        pool.submit(&SQUARE, 7).unwrap().result(Some(PATIENCE)),
        Ok(49)
    );
}

fn a_task_may_run_longer_than_the_start_timeout_when_there_is_no_time_limit() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .start_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    assert!(
        pool.submit(&SLEEP, 1500)
            .unwrap()
            .result(Some(PATIENCE))
            .is_ok()
    );
}

fn a_result_timeout_only_stops_waiting() {
    let pool = pool(1);
    let f = pool.submit(&SLEEP, 300).unwrap();
    assert_eq!(
        f.result(Some(Duration::from_millis(10))),
        Err(FutureError::Timeout)
    );
    assert!(f.result(Some(PATIENCE)).is_ok());
}

// ---- reuse, saturation, max_tasks_per_child ----

fn idle_processes_are_reused() {
    // Python: test_idle_process_reuse_one.
    let pool = pool(4);
    for i in 0..3 {
        assert_eq!(
            pool.submit(&SQUARE, i).unwrap().result(Some(PATIENCE)),
            Ok(i * i)
        );
    }
    assert_eq!(pool.processes_started(), 1);
}

fn never_more_processes_than_max_workers() {
    // Python: test_saturation.
    let pool = pool(3);
    let gate = FileGate::new();
    let futures: Vec<_> = (0..12)
        .map(|_| pool.submit(&GATED, gate.path()).unwrap())
        .collect();
    eventually("three wait at the gate", || gate.waiting() == 3);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(pool.processes_started(), 3);
    assert!(futures.iter().filter(|f| f.running()).count() == 3);
    assert!(pool.worker_pids().len() <= 3);
    gate.open();
    for f in &futures {
        assert!(f.result(Some(PATIENCE)).is_ok());
    }
    assert_eq!(pool.processes_started(), 3);
}

fn a_queued_task_stays_pending_and_can_be_cancelled() {
    let pool = pool(1);
    let gate = FileGate::new();
    let running = pool.submit(&GATED, gate.path()).unwrap();
    let queued = pool.submit(&SQUARE, 2).unwrap();
    eventually("the first runs", || running.running());
    assert!(!queued.running());
    assert!(queued.cancel());
    gate.open();
    assert!(running.result(Some(PATIENCE)).is_ok());
    assert_eq!(
        queued.result(Some(Duration::ZERO)),
        Err(FutureError::Cancelled)
    );
}

fn a_worker_is_replaced_after_max_tasks_per_child() {
    // Python: test_max_tasks_per_child.
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(3)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..4)
        .map(|_| {
            pool.submit(&PID, ())
                .unwrap()
                .result(Some(PATIENCE))
                .unwrap()
        })
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[1], pids[2]);
    assert_ne!(pids[2], pids[3]);
    assert!(is_dead_soon(pids[0]));
}

fn is_dead_soon(pid: u32) -> bool {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if is_dead(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

fn max_tasks_per_child_with_a_backlog_does_not_deadlock() {
    // gh-115634: (1, max_tasks_per_child=2) with 10 tasks hung after two.
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..10).map(|i| pool.submit(&SQUARE, i).unwrap()).collect();
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result(Some(PATIENCE)), Ok((i * i) as u64));
    }
    assert_eq!(pool.processes_started(), 5);
}

fn max_tasks_per_child_survives_shutdown_without_wait() {
    // gh-119592: a worker retiring after shutdown(wait=False) stranded the queue.
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..8)
        .map(|i| pool.submit(&SLEEP, 5 + i).unwrap())
        .collect();
    pool.shutdown(false, false);
    for f in &futures {
        assert!(f.result(Some(PATIENCE)).is_ok());
    }
}

fn max_tasks_per_child_survives_dropping_the_pool() {
    // gh-152967: the pool collected without shutdown while a worker retired.
    let futures: Vec<_> = {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .max_tasks_per_child(1)
            .build()
            .unwrap();
        (0..6).map(|i| pool.submit(&SQUARE, i).unwrap()).collect()
    };
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result(Some(Duration::ZERO)), Ok((i * i) as u64));
    }
}

fn early_shutdown_with_max_tasks_per_child_runs_everything() {
    // Python: test_max_tasks_early_shutdown.
    let pool = ProcessPoolExecutor::builder()
        .max_workers(3)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..6).map(|i| pool.submit(&SQUARE, i).unwrap()).collect();
    pool.shutdown(true, false);
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result(Some(Duration::ZERO)), Ok((i * i) as u64));
    }
}

// ---- initializer (test_init.py) ----

fn the_initializer_runs_in_each_worker_before_its_first_task() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(&INIT, "ready".to_string())
        .build()
        .unwrap();
    let values: Vec<_> = (0..4)
        .map(|_| pool.submit(&READ_INIT, ()).unwrap())
        .collect();
    for f in values {
        assert_eq!(f.result(Some(PATIENCE)), Ok("ready".to_string()));
    }
}

fn a_failing_initializer_breaks_the_pool() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(&INIT, "fail".to_string())
        .build()
        .unwrap();
    let futures: Vec<_> = (0..4).map(|i| pool.submit(&SQUARE, i)).collect();
    for f in futures.into_iter().flatten() {
        match f.result(Some(PATIENCE)) {
            Err(FutureError::Task(TaskError::Broken(m))) => {
                assert!(m.contains("initializer"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
    eventually("submit refuses", || {
        matches!(pool.submit(&SQUARE, 1), Err(SubmitError::Broken(_)))
    });
}

fn a_program_without_the_guard_fails_fast_then_breaks_the_pool() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program("/bin/false")
        .build()
        .unwrap();
    for _ in 0..3 {
        match pool.submit(&SQUARE, 1).unwrap().result(Some(PATIENCE)) {
            Err(FutureError::Task(TaskError::Broken(m))) => {
                assert!(m.contains("exited with code 1 before it was ready"), "{m}");
                assert!(m.contains("guard"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        pool.submit(&SQUARE, 1),
        Err(SubmitError::Broken(_))
    ));
}

// ---- shutdown, terminate, kill ----

fn shutdown_with_cancel_futures_cancels_what_is_queued() {
    let pool = pool(1);
    let gate = FileGate::new();
    let running = pool.submit(&GATED, gate.path()).unwrap();
    eventually("it runs", || running.running());
    let queued: Vec<_> = (0..5).map(|i| pool.submit(&SQUARE, i).unwrap()).collect();
    pool.shutdown(false, true);
    assert!(queued.iter().all(PoolFuture::cancelled));
    gate.open();
    pool.shutdown(true, false);
    assert!(running.result(Some(Duration::ZERO)).is_ok());
}

fn no_worker_outlives_shutdown_or_drop() {
    let pool = pool(2);
    let gate = FileGate::new();
    let _running: Vec<_> = (0..2)
        .map(|_| pool.submit(&GATED, gate.path()).unwrap())
        .collect();
    eventually("both wait at the gate", || gate.waiting() == 2);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2);
    gate.open();
    drop(pool);
    for pid in pids {
        assert!(
            is_dead(pid),
            "worker {pid} outlived the pool: {}",
            status_of(pid)
        );
    }
}

fn kill_workers_ends_running_tasks_and_refuses_new_ones() {
    // Python 3.14: test_force_shutdown_workers (kill_workers).
    force_shutdown(ProcessPoolExecutor::kill_workers, "signal 9 (SIGKILL)");
}

fn terminate_workers_ends_running_tasks_and_refuses_new_ones() {
    force_shutdown(
        ProcessPoolExecutor::terminate_workers,
        "signal 15 (SIGTERM)",
    );
}

fn force_shutdown(how: fn(&ProcessPoolExecutor), signal: &str) {
    let pool = pool(2);
    let gate = FileGate::new();
    let running: Vec<_> = (0..2)
        .map(|_| pool.submit(&GATED, gate.path()).unwrap())
        .collect();
    eventually("both wait at the gate", || gate.waiting() == 2);
    let queued = pool.submit(&SQUARE, 1).unwrap();
    let pids = pool.worker_pids();
    how(&pool);
    assert_eq!(pool.submit(&SQUARE, 1).unwrap_err(), SubmitError::Shutdown);
    assert!(queued.cancelled());
    for f in &running {
        let m = died(f.result(Some(PATIENCE)));
        assert!(m.contains(signal), "{m}");
    }
    pool.shutdown(true, false);
    for pid in pids {
        assert!(is_dead(pid));
    }
    how(&pool);
}

// ---- one API, two pools ----

fn wait_and_as_completed_take_thread_and_process_futures_together() {
    let processes = pool(2);
    let threads = ThreadPoolExecutor::new(2).unwrap();
    let mut futures = Vec::new();
    for i in 0..4 {
        futures.push(processes.submit(&SQUARE, i).unwrap());
        futures.push(Executor::submit(&threads, &SQUARE, i + 10).unwrap());
    }
    let split = wait(&futures, Some(PATIENCE), ReturnWhen::AllCompleted);
    assert_eq!(split.done.len(), 8);
    let mut values: Vec<u64> = as_completed(&futures, Some(PATIENCE))
        .map(|f| f.unwrap().result(None).unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values, vec![0, 1, 4, 9, 100, 121, 144, 169]);
}

/// Code written once against the trait.
fn sum_of_squares(executor: &impl Executor, n: u64) -> u64 {
    executor
        .map(&SQUARE, 0..n, Some(PATIENCE))
        .map(Result::unwrap)
        .sum()
}

fn code_written_against_the_executor_trait_runs_on_either_pool() {
    assert_eq!(sum_of_squares(&pool(2), 20), 2470);
    assert_eq!(
        sum_of_squares(&ThreadPoolExecutor::new(2).unwrap(), 20),
        2470
    );
}

fn map_yields_in_input_order_and_keeps_going_past_an_error() {
    let pool = pool(2);
    let results: Vec<_> = pool
        .map(&SLEEP, [30, 1, 20, 2], Some(PATIENCE))
        .map(|r| r.is_ok())
        .collect();
    assert_eq!(results, vec![true; 4]);
    let messages: Vec<_> = pool
        .map(&FAIL, ["a".to_string(), "b".to_string()], None)
        .map(|r| r.unwrap_err().to_string())
        .collect();
    assert_eq!(messages, vec!["a", "b"]);
}

fn map_chunked_yields_each_item_in_order_with_errors_at_their_own_items() {
    // executor.py: test_map_chunksize (and the errors CPython re-raises at their item).
    let pool = pool(2);
    let expected: Vec<Result<u64, String>> = (0..40u64)
        .map(|x| match x {
            13 => Err("task panicked: unlucky 13".to_string()),
            x if x % 7 == 3 => Err(format!("no {x}")),
            x => Ok(x * x),
        })
        .collect();
    for chunksize in [1, 3, 7, 64] {
        let results: Vec<Result<u64, String>> = pool
            .map_chunked(&PICKY, 0..40u64, Some(PATIENCE), chunksize)
            .unwrap()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        assert_eq!(results, expected, "chunksize {chunksize}");
    }
}

fn a_chunk_whose_worker_dies_fails_each_of_its_items_and_the_next_chunk_runs() {
    let pool = pool(1);
    let results: Vec<_> = pool
        .map_chunked(&EXIT, [3, 3, 3], Some(PATIENCE), 3)
        .unwrap()
        .collect();
    assert_eq!(results.len(), 3);
    for r in &results {
        assert!(
            matches!(r, Err(MapError::Task(TaskError::WorkerDied(m))) if m.contains('3')),
            "{r:?}"
        );
    }
    let squares: Vec<_> = pool
        .map_chunked(&SQUARE, 1..=4u64, Some(PATIENCE), 2)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(squares, [1, 4, 9, 16]);
}

fn a_chunksize_of_0_is_an_error_on_both_pools() {
    let processes = pool(1);
    let threads = ThreadPoolExecutor::new(1).unwrap();
    assert!(processes.map_chunked(&SQUARE, [1u64], None, 0).is_err());
    assert!(
        threads
            .map_chunked(|x: u64| Ok::<_, String>(x), [1u64], None, 0)
            .is_err()
    );
    assert!(Executor::map_chunked(&processes, &SQUARE, [1u64], None, 0).is_err());
    assert!(Executor::map_chunked(&threads, &SQUARE, [1u64], None, 0).is_err());
    // Given a chunksize, the thread pool ignores it, as CPython's does.
    let on_threads: Vec<_> = Executor::map_chunked(&threads, &SQUARE, 1..=3u64, None, 2)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(on_threads, [1, 4, 9]);
}

fn map_chunked_reads_its_input_a_window_of_chunks_ahead() {
    let pool = pool(2);
    let read = std::cell::Cell::new(0u64);
    let endless = (0u64..).inspect(|_| read.set(read.get() + 1));
    let first: Vec<u64> = pool
        .map_chunked(&SQUARE, endless, Some(PATIENCE), 100)
        .unwrap()
        .take(1_000)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(first[999], 999 * 999);
    // A window of 2 x 2 chunks, one more while waiting, and the chunk being read.
    assert!(read.get() <= 1_000 + 6 * 100, "read {} items", read.get());
}

fn map_chunked_past_its_timeout_yields_a_timeout_and_ends() {
    let pool = pool(1);
    let results: Vec<_> = pool
        .map_chunked(
            &SLEEP,
            [0, 0, 5_000, 0, 0],
            Some(Duration::from_millis(1500)),
            2,
        )
        .unwrap()
        .collect();
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results[0].is_ok() && results[1].is_ok());
    assert_eq!(results[2], Err(MapError::Timeout));
    pool.kill_workers();
}

fn map_past_its_timeout_yields_a_timeout_and_cancels_the_rest() {
    // executor.py: test_map_timeout.
    let pool = pool(1);
    let results: Vec<_> = pool
        .map(
            &SLEEP,
            [0, 0, 5_000, 0, 0],
            Some(Duration::from_millis(1500)),
        )
        .collect();
    assert_eq!(
        results.len(),
        3,
        "two values, then the timeout ends it: {results:?}"
    );
    assert!(results[0].is_ok() && results[1].is_ok());
    assert_eq!(results[2], Err(MapError::Timeout));
    pool.kill_workers(); // the long task is running: end it rather than wait
}

fn shutdown_without_wait_returns_at_once_and_the_work_still_completes() {
    // test_shutdown.py: test_shutdown_no_wait, test_hang_issue12364.
    let pool = pool(2);
    let futures: Vec<_> = (0..20)
        .map(|i| pool.submit(&SLEEP, i % 3).unwrap())
        .collect();
    let start = Instant::now();
    pool.shutdown(false, false);
    assert!(start.elapsed() < Duration::from_secs(5));
    for f in &futures {
        assert!(f.result(Some(PATIENCE)).is_ok());
    }
    drop(pool);
}

fn a_tasks_stdout_and_stdin_cannot_disturb_the_protocol() {
    let pool = pool(1);
    assert_eq!(
        pool.submit(&CHATTY, 500).unwrap().result(Some(PATIENCE)),
        Ok(500)
    );
    assert_eq!(
        pool.submit(&READ_STDIN, ()).unwrap().result(Some(PATIENCE)),
        Ok(0)
    );
    assert_eq!(
        pool.submit(&SQUARE, 8).unwrap().result(Some(PATIENCE)),
        Ok(64)
    );
}

// ---- orphans: the parent killed, panicking, or exiting without shutdown ----

/// Runs this binary as a "parent" program, reads the worker pid it prints, then lets
/// `finish` end it; returns the worker pid.
fn run_parent(mode: &str, finish: impl FnOnce(&mut std::process::Child)) -> u32 {
    let mut parent = Command::new(std::env::current_exe().unwrap())
        .env("PROCESS_TEST_PARENT", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let worker: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("parent said {line:?}"));
    finish(&mut parent);
    let _ = parent.wait();
    worker
}

fn a_busy_worker_dies_with_its_killed_parent() {
    let worker = run_parent("busy", |p| p.kill().unwrap());
    assert!(
        is_dead_soon(worker),
        "worker {worker} outlived its parent: {}",
        status_of(worker)
    );
}

fn status_of(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    format!(
        "{} {:?}",
        status.lines().take(8).collect::<Vec<_>>().join("; "),
        String::from_utf8_lossy(&cmdline)
    )
}

fn an_idle_worker_dies_with_its_killed_parent() {
    let worker = run_parent("idle", |p| p.kill().unwrap());
    assert!(is_dead_soon(worker), "worker {worker} outlived its parent");
}

fn no_worker_outlives_a_panic_in_the_parent() {
    let worker = run_parent("panic", |p| {
        let status = p.wait().unwrap();
        assert_eq!(status.code(), Some(101));
    });
    assert!(is_dead_soon(worker));
}

fn no_worker_outlives_a_parent_that_exits_without_shutdown() {
    let worker = run_parent("exit", |p| {
        assert!(p.wait().unwrap().success());
    });
    assert!(is_dead_soon(worker));
}

/// The "parent" programs: build a pool, print a worker's pid, then behave as `mode` says.
fn parent_program(mode: &str) {
    let pool = pool(1);
    let say_pid = |pool: &ProcessPoolExecutor| {
        eventually("a worker", || !pool.worker_pids().is_empty());
        println!("{}", pool.worker_pids()[0]);
    };
    match mode {
        "busy" => {
            let _f = pool.submit(&SLEEP, PATIENCE.as_millis() as u64).unwrap();
            say_pid(&pool);
            thread::sleep(PATIENCE);
        }
        "idle" => {
            pool.submit(&PID, ())
                .unwrap()
                .result(Some(PATIENCE))
                .unwrap();
            say_pid(&pool);
            thread::sleep(PATIENCE);
        }
        "panic" => {
            let _f = pool.submit(&SLEEP, 1000).unwrap();
            say_pid(&pool);
            panic!("the parent panics (expected by the test)");
        }
        "exit" => {
            let _f = pool.submit(&SLEEP, PATIENCE.as_millis() as u64).unwrap();
            say_pid(&pool);
            pool.shutdown(false, false);
            std::process::exit(0);
        }
        other => panic!("unknown parent mode {other}"),
    }
}

macro_rules! trials {
    ($($name:ident),* $(,)?) => {
        vec![$(Trial::test(stringify!($name), || {
            $name();
            Ok(())
        })),*]
    };
}

fn main() {
    process::guard(registry());
    if let Ok(mode) = std::env::var("PROCESS_TEST_PARENT") {
        return parent_program(&mode);
    }
    let trials = trials![
        submit_runs_the_task_in_another_process_and_returns_its_value,
        an_error_returned_by_a_task_arrives_with_its_message,
        a_panic_in_a_task_arrives_as_the_thread_pools_panic_error_and_the_worker_lives_on,
        a_megabyte_argument_and_result_cross_intact,
        an_unregistered_task_or_one_of_other_types_is_refused_at_submit,
        zero_workers_or_zero_tasks_per_child_are_refused,
        submit_after_shutdown_is_refused,
        an_argument_that_cannot_be_serialised_fails_its_future_at_once,
        an_argument_the_worker_cannot_deserialise_fails_only_its_future,
        a_result_that_cannot_be_serialised_or_deserialised_fails_only_its_future,
        a_result_whose_decoding_panics_fails_its_future_and_never_hangs,
        a_worker_killed_while_idle_does_not_fail_the_next_task,
        a_worker_that_exits_fails_only_its_task_with_the_exit_code_and_is_replaced,
        a_worker_that_aborts_fails_only_its_task_naming_the_signal,
        a_worker_killed_from_outside_fails_only_its_task,
        big_data_sent_to_a_worker_that_dies_does_not_deadlock,
        shutdown_while_a_worker_crashes_returns_and_fails_that_task,
        a_task_past_the_time_limit_is_killed_and_fails_as_timed_out,
        a_task_may_run_longer_than_the_start_timeout_when_there_is_no_time_limit,
        a_result_timeout_only_stops_waiting,
        idle_processes_are_reused,
        never_more_processes_than_max_workers,
        a_queued_task_stays_pending_and_can_be_cancelled,
        a_worker_is_replaced_after_max_tasks_per_child,
        max_tasks_per_child_with_a_backlog_does_not_deadlock,
        max_tasks_per_child_survives_shutdown_without_wait,
        max_tasks_per_child_survives_dropping_the_pool,
        early_shutdown_with_max_tasks_per_child_runs_everything,
        the_initializer_runs_in_each_worker_before_its_first_task,
        a_failing_initializer_breaks_the_pool,
        a_program_without_the_guard_fails_fast_then_breaks_the_pool,
        shutdown_with_cancel_futures_cancels_what_is_queued,
        no_worker_outlives_shutdown_or_drop,
        kill_workers_ends_running_tasks_and_refuses_new_ones,
        terminate_workers_ends_running_tasks_and_refuses_new_ones,
        wait_and_as_completed_take_thread_and_process_futures_together,
        code_written_against_the_executor_trait_runs_on_either_pool,
        map_yields_in_input_order_and_keeps_going_past_an_error,
        map_past_its_timeout_yields_a_timeout_and_cancels_the_rest,
        map_chunked_yields_each_item_in_order_with_errors_at_their_own_items,
        a_chunk_whose_worker_dies_fails_each_of_its_items_and_the_next_chunk_runs,
        a_chunksize_of_0_is_an_error_on_both_pools,
        map_chunked_reads_its_input_a_window_of_chunks_ahead,
        map_chunked_past_its_timeout_yields_a_timeout_and_ends,
        shutdown_without_wait_returns_at_once_and_the_work_still_completes,
        a_tasks_stdout_and_stdin_cannot_disturb_the_protocol,
        a_busy_worker_dies_with_its_killed_parent,
        an_idle_worker_dies_with_its_killed_parent,
        no_worker_outlives_a_panic_in_the_parent,
        no_worker_outlives_a_parent_that_exits_without_shutdown,
    ];
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}
