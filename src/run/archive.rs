//! `--warc-file`: the run's one WARC writer, fed the exchanges each attempt captured
//! (from a worker thread, or a worker process through the attempt's result), before the
//! attempt's record is delivered. A WARC that cannot be written stops the run, like a
//! record file that cannot: the run ends with the error.

use std::path::PathBuf;
use std::sync::Mutex;

use super::Run;
use super::attempt::Archived;
use crate::sync::Recover as _;
use crate::warc::capture;
use crate::warc::writer::{WarcSettings, WarcWriter};

/// The run's WARC writer and what went wrong with it.
pub(super) struct Archive {
    writer: Mutex<WarcWriter>,
    /// The first error: the run stopped on it.
    error: Mutex<Option<String>>,
    /// Where this run's spool files are, and how their names start.
    spool_dir: PathBuf,
    spool_tag: String,
    /// gzip records (not `--no-warc-compression`).
    compress: bool,
}

impl Archive {
    /// Opens the first WARC file (its `warcinfo` describes the run with `info`).
    ///
    /// # Errors
    /// The file cannot be created (or its name is taken, without `--resume`).
    pub(super) fn open(
        settings: WarcSettings,
        info: Vec<(String, String)>,
        capture: &capture::CaptureOptions,
    ) -> anyhow::Result<Self> {
        let prefix = settings.prefix.display().to_string();
        let compress = settings.compress;
        let writer = WarcWriter::create(settings, info)
            .map_err(|e| anyhow::anyhow!("cannot write the WARC file {prefix}: {e}"))?;
        Ok(Archive {
            writer: Mutex::new(writer),
            error: Mutex::new(None),
            spool_dir: capture.spool_dir.clone(),
            spool_tag: capture.spool_tag.clone(),
            compress,
        })
    }

    /// Writes one exchange: what its records are is decided under the writer's lock,
    /// they are built and compressed on this thread without it, then appended under it.
    fn write(&self, exchange: &capture::Exchange) -> std::io::Result<()> {
        let plan = self.writer.lock().recover().plan(exchange);
        let encoded = crate::warc::writer::encode(&plan, exchange, self.compress);
        self.writer
            .lock()
            .recover()
            .emit(&plan, exchange, encoded)
            .map(drop)
    }

    /// Closes the last file and removes this run's spool files; the error that stopped
    /// the run, if one did.
    pub(super) fn finish(&self) -> Option<String> {
        let mut writer = self.writer.lock().recover();
        let closed = writer.close();
        let forgotten = writer.forgotten();
        drop(writer);
        if forgotten > 0 {
            eprintln!(
                "fetchpool: warning: {forgotten} payload(s) were archived whole without being \
                 remembered for deduplication (its table holds {} MiB)",
                crate::warc::dedup::BUDGET >> 20
            );
        }
        capture::sweep(&self.spool_dir, &self.spool_tag);
        let mut error = self.error.lock().recover().take();
        if let (None, Err(e)) = (&error, closed) {
            error = Some(format!("cannot write the WARC file: {e}"));
        }
        error
    }
}

impl Run {
    /// Writes what an attempt captured (nothing without `--warc-file`); on a failure the
    /// run stops, and ends with that error.
    pub(super) fn archive(&self, archived: Archived) {
        let Some(archive) = &self.archive else {
            return;
        };
        let failure = match archived.failed {
            Some(why) => Some(why),
            None => archived
                .exchanges
                .iter()
                .find_map(|exchange| archive.write(exchange).err())
                .map(|e| format!("cannot write the WARC file: {e}")),
        };
        if let Some(why) = failure {
            archive.error.lock().recover().get_or_insert(why);
            self.stop();
        }
    }
}
