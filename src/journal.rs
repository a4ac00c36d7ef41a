//! `BatchJournal`: the record, kept beside a batch's outputs, of which images are finished, so a
//! relaunched batch (after a node died) skips them and redoes only the rest.
//!
//! One JSON object per line: `start` at every launch, `done` after an output has been renamed
//! into place, `failed` with the reason, `finish` at the end. `start` and `finish` are forced to
//! disk at once; `done` lines in groups (at most [`SYNC_AFTER`] late), and the batch counts an
//! image as done only once its line is on disk. A `done` line counts only for the same job (op chain and format)
//! and while its output file still exists. Only rank 0 writes it.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// Lines appended since the last fsync, and when the first of them was.
    unsynced: usize,
    oldest_unsynced: Option<Instant>,
}

/// Longest a journal line waits for its fsync ([`BatchJournal::sync_due`]).
pub const SYNC_AFTER: Duration = Duration::from_millis(50);
/// Most journal lines that wait for one fsync.
pub const SYNC_LINES: usize = 64;

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
        let mut journal =
            BatchJournal { file, job: job.to_string(), done, used_of_reserve: 0, unsynced: 0, oldest_unsynced: None };
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

    /// Counts `input` as not done after all (a classify job whose results line was lost): the
    /// run does it again.
    pub fn forget(&mut self, input: &Path) {
        self.done.remove(input);
    }

    /// Every input an earlier run of this job finished, in no particular order.
    pub fn done_inputs(&self) -> impl Iterator<Item = &Path> {
        self.done.iter().map(PathBuf::as_path)
    }

    pub fn job(&self) -> &str {
        &self.job
    }

    /// Appends one entry and forces it to disk, with any lines still waiting.
    pub fn record(&mut self, entry: Entry) -> Result<()> {
        self.append(entry)?;
        self.sync()
    }

    /// Appends one entry without waiting for the disk: it is durable after the next
    /// [`BatchJournal::sync`] (or a [`BatchJournal::sync_due`] that says so). Until then a crash
    /// of the machine may lose it, and its image is done again by the next run.
    pub fn append(&mut self, entry: Entry) -> Result<()> {
        if let Entry::Done { input, .. } = &entry {
            self.done.insert(input.clone());
        }
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        self.file.write_all(&line).context("writing the batch journal")?;
        self.unsynced += 1;
        self.oldest_unsynced.get_or_insert_with(Instant::now);
        self.used_of_reserve += line.len() as u64;
        if self.used_of_reserve > RESERVE / 2 {
            self.reserve();
        }
        Ok(())
    }

    /// Forces every appended line to disk.
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced > 0 {
            self.file.sync_data().context("syncing the batch journal")?;
        }
        self.unsynced = 0;
        self.oldest_unsynced = None;
        Ok(())
    }

    /// Group commit: forces the appended lines to disk once the oldest has waited
    /// [`SYNC_AFTER`] or [`SYNC_LINES`] lines wait, so a fast batch pays one fsync for many
    /// images instead of one each. True when every appended line is on disk now.
    pub fn sync_due(&mut self) -> Result<bool> {
        let due = self.unsynced >= SYNC_LINES || self.oldest_unsynced.is_some_and(|t| t.elapsed() >= SYNC_AFTER);
        if due {
            self.sync()?;
        }
        Ok(self.unsynced == 0)
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
    fn done_lines_are_synced_in_groups_and_a_record_syncs_everything_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.png");
        std::fs::write(&out, b"out").unwrap();
        let mut j = BatchJournal::open(dir.path(), "blur").unwrap();
        for i in 0..SYNC_LINES - 1 {
            j.append(done("blur", Path::new(&format!("/in/{i}.png")), &out)).unwrap();
        }
        assert_eq!(j.unsynced, SYNC_LINES - 1);
        j.append(done("blur", Path::new("/in/last.png"), &out)).unwrap();
        assert!(j.sync_due().unwrap(), "a full group is synced at once");
        assert_eq!((j.unsynced, j.oldest_unsynced), (0, None));
        j.append(done("blur", Path::new("/in/more.png"), &out)).unwrap();
        j.record(Entry::Finish { time: now(), job: "blur".into(), done: 1, failed: 0, cancelled: false }).unwrap();
        assert_eq!(j.unsynced, 0, "a record forces the waiting lines too");
        let again = BatchJournal::open(dir.path(), "blur").unwrap();
        assert!(again.is_done(Path::new("/in/last.png")) && again.is_done(Path::new("/in/more.png")));
    }

    #[test]
    fn a_line_waits_at_most_sync_after_for_its_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = BatchJournal::open(dir.path(), "blur").unwrap();
        assert!(j.sync_due().unwrap(), "nothing waits");
        j.append(done("blur", Path::new("/in/a.png"), dir.path())).unwrap();
        // Pretend the line was written long enough ago.
        j.oldest_unsynced = Some(Instant::now() - SYNC_AFTER);
        assert!(j.sync_due().unwrap());
        assert_eq!(j.unsynced, 0);
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
