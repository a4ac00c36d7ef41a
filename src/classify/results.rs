//! The results file of a classify job, written only by rank 0: a line appended as each image
//! finishes, and on a resumed run reconciled with the batch journal first, so every image has
//! exactly one line in the end.
//!
//! The journal decides what is done (as for any batch); this file holds the answers. A line
//! counts only when it ends in a newline (a crash may cut the last one), is a success, and its
//! image is done in the journal; every other line is dropped (its image is classified again).
//! An image done in the journal whose line was lost (the machine crashed before the page cache
//! reached the disk) is classified again too ([`Reconciled::kept`] leaves it out).

use super::record::{Record, ResultsFormat};
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct ResultsFile {
    path: PathBuf,
    format: ResultsFormat,
    file: std::fs::File,
}

/// What [`ResultsFile::open`] kept of an earlier run.
pub struct Reconciled {
    pub file: ResultsFile,
    /// The images whose line was kept: done, not to be classified again.
    pub kept: HashSet<PathBuf>,
}

impl ResultsFile {
    /// Opens (or creates) the results file, keeping the lines of images `done` says are done;
    /// when any line goes, the file is rewritten without it (a temporary file renamed over it).
    pub fn open(path: &Path, k: usize, done: &dyn Fn(&Path) -> bool) -> Result<Reconciled> {
        let format = ResultsFormat::of(path)?;
        let name = path.display();
        let old = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("{name}: cannot read the results file")),
        };
        let mut kept = HashSet::new();
        let mut lines: Vec<&str> = Vec::new();
        let mut dropped = false;
        if let Some(text) = &old {
            let whole = text.rfind('\n').map_or("", |end| &text[..end]);
            dropped = whole.len() + 1 < text.len() && !text.is_empty();
            for line in whole.split('\n').filter(|l| !l.is_empty()) {
                match format.file_of(line) {
                    Some((file, true)) if done(&file) && kept.insert(file.clone()) => lines.push(line),
                    // CSV's header is kept as it is.
                    None if format.header(0).is_some_and(|h| line.starts_with(&h)) && lines.is_empty() => {
                        lines.push(line)
                    }
                    _ => dropped = true,
                }
            }
        }
        let fresh = lines.is_empty();
        if dropped || fresh {
            let mut text = String::new();
            if fresh {
                if let Some(h) = format.header(k) {
                    text.push_str(&h);
                    text.push('\n');
                }
            }
            lines.iter().for_each(|l| {
                text.push_str(l);
                text.push('\n');
            });
            crate::codec::write_atomic(path, text.as_bytes())
                .with_context(|| format!("{name}: cannot write the results file"))?;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("{name}: cannot write the results file"))?;
        Ok(Reconciled { file: ResultsFile { path: path.to_path_buf(), format, file }, kept })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (durable once [`ResultsFile::sync`] returns).
    pub fn append(&mut self, r: &Record) -> Result<()> {
        let mut line = self.format.line(r);
        line.push('\n');
        self.file.write_all(line.as_bytes()).with_context(|| format!("{}: cannot write", self.path.display()))
    }

    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().with_context(|| format!("{}: cannot sync", self.path.display()))
    }
}

/// Every record of a results file (for the evaluation and the faces); a CSV row's labels are
/// matched back to their index by name.
pub fn read_records(path: &Path, labels: &[super::labels::Label]) -> Result<Vec<Record>> {
    let format = ResultsFormat::of(path)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(text.lines().filter_map(|l| format.parse(l, labels)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(file: &str) -> Record {
        Record { file: file.into(), top: Vec::new(), error: None, secs: 0.0, rank: 0 }
    }

    #[test]
    fn a_resume_keeps_done_lines_once_and_drops_torn_failed_and_undone_ones() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.jsonl", "r.csv"] {
            let path = dir.path().join(name);
            let mut r = ResultsFile::open(&path, 2, &|_| false).unwrap();
            assert!(r.kept.is_empty());
            for f in ["/a", "/b", "/a"] {
                r.file.append(&rec(f)).unwrap();
            }
            r.file.append(&Record::failed(Path::new("/c"), "bad", 0.0, 1)).unwrap();
            r.file.append(&rec("/d")).unwrap();
            drop(r);
            // A crash cut the last line.
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, &text[..text.len() - 3]).unwrap();
            let again = ResultsFile::open(&path, 2, &|f| f != Path::new("/b")).unwrap();
            assert_eq!(again.kept, HashSet::from([PathBuf::from("/a")]), "{name}");
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), if name.ends_with("csv") { 2 } else { 1 }, "{name}: {text}");
            assert!(text.ends_with('\n'));
        }
    }
}
