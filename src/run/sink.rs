//! Where records go: one owner for the output, the tally and the input-order buffer, fed
//! directly by the threads that produce records (the workers' done-callbacks and the
//! input thread).
//!
//! Delivering under one lock on the producing thread, instead of sending every record to
//! the main thread, saves a thread wake-up per URL; the main thread only waits for the
//! end, a signal or the deadline, and flushes the output on a timer.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::sync::{Condvar, Mutex, MutexGuard};

use crossbeam_channel::Sender;
use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::record::{Format, Printer, Record, Tally};
use crate::sync::Recover;

/// What the sink tells the main thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Every entry the input produced has been delivered.
    Finished,
    /// Writing the output failed; nothing more will be printed.
    OutputFailed,
}

/// Bounds the entries between "read" and "printed": a counting semaphore. The input
/// thread takes a slot per entry; the sink gives it back once the entry's record is
/// printed. A release wakes the input thread only when a quarter of the window has become
/// free, so under load it reads and submits in bursts instead of being woken (a system
/// call and a context switch) for every record.
#[derive(Debug)]
struct Window {
    /// Free slots.
    free: Mutex<usize>,
    /// Signalled when `free` reaches `wake_at`.
    freed: Condvar,
    /// How many free slots wake a waiting input thread.
    wake_at: usize,
}

impl Window {
    /// A window of `size` slots (at least 1).
    fn new(size: usize) -> Self {
        let size = size.max(1);
        Window {
            free: Mutex::new(size),
            freed: Condvar::new(),
            wake_at: (size / 4).max(1),
        }
    }

    /// Takes a slot, waiting while none is free.
    fn acquire(&self) {
        let mut free = self.free.lock().recover();
        while *free == 0 {
            free = self.freed.wait(free).recover();
        }
        *free -= 1;
    }

    /// Gives a slot back. A waiter only exists while `free` is 0, and `free` then climbs
    /// one by one through `wake_at`, so the notification cannot be missed.
    fn release(&self) {
        let mut free = self.free.lock().recover();
        *free += 1;
        if *free == self.wake_at {
            self.freed.notify_one();
        }
    }
}

/// A record with its text already made, so the lock is held only to write bytes.
struct Ready {
    /// The record (counted, and kept for a table).
    record: Record,
    /// Its line in the output format (`None` for a table).
    printed: Option<String>,
    /// Its JSON line for the record file, if there is one.
    file_line: Option<String>,
}

/// Everything behind the sink's lock.
struct State<W: Write> {
    /// Formats and writes records.
    printer: Printer<W>,
    /// `--record FILE`: every record as a JSON line, written whole as it is delivered.
    record_file: Option<File>,
    /// Counts for the summary and the exit code.
    tally: Tally,
    /// `--order input`: hold records until all earlier ones are printed.
    in_order: bool,
    /// Records that arrived before an earlier one (input order only).
    reorder: BTreeMap<u64, Ready>,
    /// The next entry number to print (input order only).
    next_seq: u64,
    /// Entries admitted so far (the next entry's number).
    admitted: u64,
    /// Set when the input ended or the run stopped: nothing more is admitted.
    input_closed: bool,
    /// How many entries the run reports, once admission is closed.
    expected: Option<u64>,
    /// The first error writing stdout; after it nothing is printed.
    output_error: Option<io::Error>,
    /// The error that made the record file fail; after it nothing is written to it.
    record_error: Option<io::Error>,
    /// The progress bar on stderr.
    progress: Progress,
}

/// The output side of a run; shared (in an `Arc`) by the input thread, the workers and
/// the main thread.
pub(crate) struct Sink<W: Write> {
    /// Output, tally, order buffer.
    state: Mutex<State<W>>,
    /// Entries in flight.
    window: Window,
    /// Tells the main thread about the end and about output failures.
    events: Sender<Event>,
    /// Flush after every record (stdout is a terminal); otherwise the main thread flushes
    /// on a timer, so a burst of records costs one write.
    eager_flush: bool,
    /// The output format, to render records before taking the lock.
    format: Format,
    /// Whether there is a record file (then each record is also rendered as JSON).
    has_record_file: bool,
    /// Only failed, cancelled and invalid records are printed (`--failures-only`).
    failures_only: bool,
    /// Text lines are coloured (`--color`).
    color: bool,
}

impl<W: Write> std::fmt::Debug for Sink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").finish_non_exhaustive()
    }
}

/// How a [`Sink`] behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SinkOptions {
    /// Print in input order rather than completion order.
    pub(crate) in_order: bool,
    /// Entries allowed between "read" and "printed".
    pub(crate) window: usize,
    /// Flush after every record.
    pub(crate) eager_flush: bool,
    /// Draw the progress bar on stderr.
    pub(crate) progress: bool,
    /// Print only failed, cancelled and invalid records.
    pub(crate) failures_only: bool,
    /// Colour the text lines.
    pub(crate) color: bool,
}

impl<W: Write> Sink<W> {
    /// A sink printing with `printer` and reporting to `events`.
    pub fn new(
        printer: Printer<W>,
        record_file: Option<File>,
        options: SinkOptions,
        events: Sender<Event>,
    ) -> Self {
        let format = printer.format();
        let has_record_file = record_file.is_some();
        Sink {
            format,
            has_record_file,
            failures_only: options.failures_only,
            color: options.color,
            state: Mutex::new(State {
                printer,
                record_file,
                tally: Tally::default(),
                in_order: options.in_order,
                reorder: BTreeMap::new(),
                next_seq: 0,
                admitted: 0,
                input_closed: false,
                expected: None,
                output_error: None,
                record_error: None,
                progress: Progress::new(options.progress),
            }),
            window: Window::new(options.window),
            events,
            eager_flush: options.eager_flush,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<W>> {
        self.state.lock().recover()
    }

    /// Waits for room for one more entry (called by the input thread before each entry).
    pub(crate) fn reserve(&self) {
        self.window.acquire();
    }

    /// Takes the record of entry `seq` (0-based, in input order). Each entry must be
    /// delivered exactly once.
    pub(crate) fn deliver(&self, seq: u64, record: Record) {
        let shown = !self.failures_only || record.is_failure();
        let printed = shown
            .then(|| self.format.render(&record, self.color))
            .flatten();
        let file_line = self.has_record_file.then(|| match (self.format, &printed) {
            (Format::Jsonl, Some(line)) => line.clone(),
            _ => record.to_json() + "\n",
        });
        let ready = Ready {
            record,
            printed,
            file_line,
        };
        let mut state = self.lock();
        if state.in_order {
            state.reorder.insert(seq, ready);
            loop {
                let next = state.next_seq;
                let Some(r) = state.reorder.remove(&next) else {
                    break;
                };
                state.next_seq += 1;
                self.emit(&mut state, r);
            }
        } else {
            self.emit(&mut state, ready);
        }
        // With `eager_flush`, `emit` has flushed each record already (under the bar).
        self.check_finished(&state);
    }

    /// Prints and counts one record, and frees its slot.
    fn emit(&self, state: &mut State<W>, ready: Ready) {
        let Ready {
            record,
            printed,
            file_line,
        } = ready;
        state.tally.add(&record);
        if state.output_error.is_none() {
            let State {
                printer, progress, ..
            } = &mut *state;
            let written = if self.eager_flush {
                // Records go to the same terminal as the bar: print them under it, so it
                // is erased and redrawn around them (indicatif's `suspend`), no flicker.
                progress.suspend(|| {
                    printer.record(record, printed.as_deref())?;
                    printer.flush()
                })
            } else {
                printer.record(record, printed.as_deref())
            };
            if let Err(e) = written {
                self.fail_output(state, e);
            }
        }
        if let (Some(file), Some(line)) = (state.record_file.as_mut(), file_line) {
            // One write per record, straight to the file: a crash can tear at most the
            // line being written, never an earlier one.
            if let Err(e) = file.write_all(line.as_bytes()) {
                state.record_file = None;
                state.record_error = Some(e);
                let _ = self.events.send(Event::OutputFailed);
            }
        }
        self.window.release();
        state.progress.advance();
        let State {
            progress, tally, ..
        } = &mut *state;
        progress.show(tally, true);
    }

    fn fail_output(&self, state: &mut State<W>, e: io::Error) {
        state.output_error = Some(e);
        let _ = self.events.send(Event::OutputFailed);
    }

    fn flush_locked(&self, state: &mut State<W>) {
        if state.output_error.is_none()
            && let Err(e) = state.printer.flush()
        {
            self.fail_output(state, e);
        }
    }

    fn check_finished(&self, state: &State<W>) {
        if state.expected == Some(state.tally.total) {
            let _ = self.events.send(Event::Finished);
        }
    }

    /// Writes a line that is not a record to the record file at once (a page a crawl
    /// queued, so that a resumed crawl knows its frontier).
    pub(crate) fn note(&self, line: &str) {
        let mut state = self.lock();
        if let Some(file) = state.record_file.as_mut()
            && let Err(e) = file.write_all(line.as_bytes())
        {
            state.record_file = None;
            state.record_error = Some(e);
            let _ = self.events.send(Event::OutputFailed);
        }
    }

    /// Prints `fetchpool: warning: MESSAGE` on stderr, under the progress bar.
    pub(crate) fn warn(&self, message: &str) {
        self.note_on_stderr(&format!("warning: {message}"));
    }

    /// Prints `fetchpool: MESSAGE` on stderr, under the progress bar.
    pub(crate) fn note_on_stderr(&self, message: &str) {
        let state = self.lock();
        state.progress.suspend(|| eprintln!("fetchpool: {message}"));
    }

    /// Counts an input line skipped by `--resume` (it gets no record in this run).
    pub(crate) fn skip(&self) {
        // Not this run's work: neither the bar's count nor its rate includes it.
        self.lock().tally.resumed += 1;
    }

    /// Admits one more entry (called by the input thread after `reserve`): returns its
    /// number, or `None` once admission is closed (the run stopped).
    pub(crate) fn admit(&self) -> Option<u64> {
        let mut state = self.lock();
        if state.input_closed {
            return None;
        }
        state.admitted += 1;
        Some(state.admitted - 1)
    }

    /// Closes admission (the input ended, or the run stopped): the run reports the entries
    /// admitted so far and ends once they are delivered. Idempotent.
    pub(crate) fn close_input(&self) {
        let mut state = self.lock();
        if !state.input_closed {
            state.input_closed = true;
            state.expected = Some(state.admitted);
            self.check_finished(&state);
        }
    }

    /// Flushes the output and updates the bar's counts (the main thread's timer).
    pub(crate) fn tick(&self) {
        let mut state = self.lock();
        self.flush_locked(&mut state);
        let State {
            progress, tally, ..
        } = &mut *state;
        progress.show(tally, false);
    }

    /// The list holds `entries` entries in all (counted beside the run, for a regular
    /// file): the bar gets a total and an ETA.
    pub(crate) fn set_total(&self, entries: u64) {
        self.lock().progress.set_total(entries);
    }

    /// Ends the output (prints the table of `--format table`, flushes) and returns the
    /// tally, the first error writing stdout and the one writing the record file, if any.
    pub(crate) fn finish(&self) -> (Tally, Option<io::Error>, Option<io::Error>) {
        let mut state = self.lock();
        state.progress.finish();
        if state.output_error.is_none()
            && let Err(e) = state.printer.finish()
        {
            state.output_error = Some(e);
        }
        (
            state.tally.clone(),
            state.output_error.take(),
            state.record_error.take(),
        )
    }
}

/// The progress bar on stderr (indicatif), drawn only when stderr is a terminal: entries
/// done so far, fetched and not-ok counts, the rate, and, once the list's size is known, a
/// bar with a total and an ETA. indicatif limits its own redraws (20 a second).
struct Progress {
    /// `None` when no bar is drawn (stderr is not a terminal, `TERM=dumb`,
    /// `--no-progress`).
    bar: Option<ProgressBar>,
    /// When the counts were last shown: a record shows them again only after
    /// [`Progress::EVERY`], so that a burst of records costs no more than the bar's redraws.
    shown_at: Option<std::time::Instant>,
}

impl Progress {
    /// A bar on stderr, or none.
    fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message("0 done: 0 fetched, 0 not ok");
            bar
        });
        Progress {
            bar,
            shown_at: None,
        }
    }

    /// How often records update the counts (the bar redraws at most 20 times a second).
    const EVERY: std::time::Duration = std::time::Duration::from_millis(50);

    /// Switches to a bar with a total and an ETA.
    fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_style(
                ProgressStyle::with_template("{wide_bar} {msg}, ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
    }

    /// One more entry done (a record).
    fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Updates the counts shown, all from one tally so that they always agree (done,
    /// fetched, not ok): on the main thread's timer, and after a record unless they were
    /// shown less than [`Progress::EVERY`] ago (`soon`).
    fn show(&mut self, tally: &Tally, soon: bool) {
        let Some(bar) = &self.bar else {
            return;
        };
        let now = std::time::Instant::now();
        if soon
            && self
                .shown_at
                .is_some_and(|at| now.duration_since(at) < Self::EVERY)
        {
            return;
        }
        self.shown_at = Some(now);
        let elapsed = bar.elapsed();
        // Bytes as they arrive (worker threads count them live; worker processes only as
        // their records come).
        let bytes = crate::fetch::save::bytes_received().max(tally.bytes);
        let per_second = bytes as f64 / elapsed.as_secs_f64().max(1e-3);
        let done = match bar.length() {
            Some(total) => format!("{}/{}", HumanCount(tally.total), HumanCount(total)),
            None => HumanCount(tally.total).to_string(),
        };
        bar.set_message(format!(
            "{done} done: {} fetched, {} not ok, {:.0} URLs/s, {} at {}/s",
            tally.fetched,
            tally.not_ok(),
            tally.fetch_rate(elapsed),
            HumanBytes(bytes),
            HumanBytes(per_second as u64)
        ));
    }

    /// Runs `f` with the bar erased, then redraws it.
    fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Erases the bar for good (before the summary).
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::Window;

    #[test]
    fn a_full_window_blocks_the_reader_until_slots_are_given_back() {
        let window = Arc::new(Window::new(8));
        for _ in 0..8 {
            window.acquire();
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let w = Arc::clone(&window);
        let waiter = std::thread::spawn(move || {
            w.acquire();
            let _ = tx.send(());
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "a full window blocks"
        );
        // A quarter of the window (2 slots) wakes the reader: no wake-up is lost.
        window.release();
        window.release();
        assert!(rx.recv_timeout(Duration::from_secs(30)).is_ok());
        waiter.join().unwrap();
    }
}
