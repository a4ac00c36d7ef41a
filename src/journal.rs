//! `BatchJournal`: the record, kept beside a batch's outputs, of which images are finished, so a
//! relaunched batch (after a node died) skips them and redoes only the rest.
//!
//! One JSON object per line, appended and flushed to disk after each event:
//! `start` at every launch, `done` after an output has been renamed into place, `failed` with the
//! reason, `finish` at the end. A `done` line counts only for the same job (op chain and format)
//! and while its output file still exists. Only rank 0 writes it.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// File name of the journal inside the output folder.
pub const JOURNAL_NAME: &str = ".imgproc-journal.jsonl";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Entry {
    Start { time: f64, job: String, ranks: usize, hosts: Vec<String>, pending: usize, already_done: usize },
    Done { time: f64, job: String, input: PathBuf, output: PathBuf, rank: usize, host: String, secs: f64 },
    Failed { time: f64, job: String, input: PathBuf, reason: String },
    Finish { time: f64, job: String, done: usize, failed: usize, cancelled: bool },
}

pub struct BatchJournal {
    file: std::fs::File,
    job: String,
    done: HashSet<PathBuf>,
    /// Bytes written into the space reserved at the last [`BatchJournal::reserve`].
    used_of_reserve: u64,
}

/// Disk space kept allocated ahead of the journal's end (a few hundred entries), so that a full
/// output disk fails the next image's write, never the journal line of an image already written.
const RESERVE: u64 = 256 << 10;

impl BatchJournal {
    /// Opens (or creates) the journal in `out_dir` for the job described by `job`.
    pub fn open(out_dir: &Path, job: &str) -> Result<BatchJournal> {
        let path = out_dir.join(JOURNAL_NAME);
        let mut done = HashSet::new();
        if path.exists() {
            let f = std::fs::File::open(&path).with_context(|| format!("{}: cannot read journal", path.display()))?;
            for line in std::io::BufReader::new(f).lines() {
                let line = line.with_context(|| format!("{}: cannot read journal", path.display()))?;
                // A line cut short by a crash is ignored: its image is simply done again.
                if let Ok(Entry::Done { job: j, input, output, .. }) = serde_json::from_str::<Entry>(&line) {
                    if j == job && output.exists() {
                        done.insert(input);
                    }
                }
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("{}: cannot write journal", path.display()))?;
        // End a line torn by a crash, so the next entry starts on a line of its own.
        let len = file.metadata()?.len();
        if len > 0 && std::fs::read(&path)?.last() != Some(&b'\n') {
            file.write_all(b"\n")?;
        }
        let mut journal = BatchJournal { file, job: job.to_string(), done, used_of_reserve: 0 };
        journal.reserve();
        Ok(journal)
    }

    /// Allocates [`RESERVE`] bytes past the journal's end without changing its length. Where the
    /// file system cannot (or is already full), entries are written as before.
    fn reserve(&mut self) {
        use std::os::fd::AsRawFd;
        let Ok(len) = self.file.metadata().map(|m| m.len()) else { return };
        // SAFETY: fallocate only reads its integer arguments; the descriptor is open for writing.
        unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_KEEP_SIZE,
                len as libc::off_t,
                RESERVE as libc::off_t,
            );
        }
        self.used_of_reserve = 0;
    }

    /// True when an earlier run of this job finished `input`.
    pub fn is_done(&self, input: &Path) -> bool {
        self.done.contains(input)
    }

    pub fn job(&self) -> &str {
        &self.job
    }

    /// Appends one entry and forces it to disk.
    pub fn record(&mut self, entry: Entry) -> Result<()> {
        if let Entry::Done { input, .. } = &entry {
            self.done.insert(input.clone());
        }
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        self.file.write_all(&line).context("writing the batch journal")?;
        self.file.sync_data().context("syncing the batch journal")?;
        self.used_of_reserve += line.len() as u64;
        if self.used_of_reserve > RESERVE / 2 {
            self.reserve();
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch, for journal times.
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(job: &str, input: &Path, output: &Path) -> Entry {
        Entry::Done {
            time: now(),
            job: job.into(),
            input: input.into(),
            output: output.into(),
            rank: 1,
            host: "h".into(),
            secs: 0.1,
        }
    }

    #[test]
    fn a_reopened_journal_remembers_finished_images_of_the_same_job_only() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        std::fs::write(&a, b"out").unwrap();
        {
            let mut j = BatchJournal::open(dir.path(), "blur:ksize=5").unwrap();
            j.record(done("blur:ksize=5", Path::new("/in/a.png"), &a)).unwrap();
            // Output missing: must be redone.
            j.record(done("blur:ksize=5", Path::new("/in/b.png"), &b)).unwrap();
        }
        // A torn last line from a crash is ignored.
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join(JOURNAL_NAME)).unwrap();
        f.write_all(b"{\"event\":\"done\",\"ti").unwrap();
        let mut j = BatchJournal::open(dir.path(), "blur:ksize=5").unwrap();
        assert!(j.is_done(Path::new("/in/a.png")));
        assert!(!j.is_done(Path::new("/in/b.png")), "b's output is missing, so it is redone");
        std::fs::write(&b, b"out").unwrap();
        j.record(done("blur:ksize=5", Path::new("/in/b.png"), &b)).unwrap();
        let j = BatchJournal::open(dir.path(), "blur:ksize=5").unwrap();
        assert!(j.is_done(Path::new("/in/b.png")), "the entry after a torn line is readable");
        let other = BatchJournal::open(dir.path(), "median:ksize=5").unwrap();
        assert!(!other.is_done(Path::new("/in/a.png")));
    }
}
