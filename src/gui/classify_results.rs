//! The labels of a classify run as the window holds them: read back from the results file itself
//! (new complete lines as images finish, the whole file again once the job is planned, as a
//! resume may rewrite it), so what the grid shows is what the file holds, including the lines
//! an earlier run of the same job kept.

use crate::classify::record::Record;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// The results file of a classify run, read as it grows.
pub struct ClassifyResults {
    pub path: PathBuf,
    /// Bytes read so far (up to the end of the last complete line).
    read: u64,
    index_of: HashMap<PathBuf, usize>,
    /// Each batch image's record, once its line is in the file.
    pub records: Vec<Option<Record>>,
}

impl ClassifyResults {
    pub fn new(path: PathBuf, files: &[PathBuf]) -> ClassifyResults {
        let index_of = files.iter().enumerate().map(|(i, f)| (f.clone(), i)).collect();
        ClassifyResults { path, read: 0, index_of, records: vec![None; files.len()] }
    }

    /// Reads the whole file again (it may have been rewritten when the job reconciled it).
    pub fn reread(&mut self) {
        self.read = 0;
        self.records.iter_mut().for_each(|r| *r = None);
        self.poll();
    }

    /// Takes the lines written since the last call; a torn last line waits for its end.
    pub fn poll(&mut self) {
        let Ok(mut file) = std::fs::File::open(&self.path) else { return };
        if file.metadata().map(|m| m.len()).unwrap_or(0) < self.read {
            self.read = 0; // rewritten shorter
        }
        let mut text = Vec::new();
        if file.seek(SeekFrom::Start(self.read)).is_err() || file.read_to_end(&mut text).is_err() {
            return;
        }
        let Some(end) = text.iter().rposition(|&b| b == b'\n') else { return };
        for line in text[..end].split(|&b| b == b'\n') {
            let Ok(record) = serde_json::from_slice::<Record>(line) else { continue };
            if let Some(&i) = self.index_of.get(&record.file) {
                self.records[i] = Some(record);
            }
        }
        self.read += end as u64 + 1;
    }

    /// Images with a line (labelled or failed).
    pub fn count(&self) -> usize {
        self.records.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::record::Guess;
    use std::io::Write;

    fn record(file: &str, label: &str) -> Record {
        let top = vec![Guess { label: label.into(), id: None, index: 0, score: 0.5 }];
        Record { file: PathBuf::from(file), top, error: None, secs: 0.0, rank: 0 }
    }

    #[test]
    fn lines_are_taken_as_they_complete_and_a_rewritten_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let files = [PathBuf::from("/a.png"), PathBuf::from("/b.png")];
        let mut results = ClassifyResults::new(path.clone(), &files);
        results.poll();
        assert_eq!(results.count(), 0, "no file yet");
        let mut f = std::fs::File::create(&path).unwrap();
        let line = serde_json::to_string(&record("/b.png", "cat")).unwrap();
        f.write_all(format!("{line}\n").as_bytes()).unwrap();
        let torn = serde_json::to_string(&record("/a.png", "dog")).unwrap();
        f.write_all(&torn.as_bytes()[..10]).unwrap();
        results.poll();
        assert_eq!(results.count(), 1);
        assert_eq!(results.records[1].as_ref().unwrap().top[0].label, "cat");
        f.write_all(format!("{}\n", &torn[10..]).as_bytes()).unwrap();
        results.poll();
        assert_eq!(results.records[0].as_ref().unwrap().top[0].label, "dog");
        // Reconciled on a resume: rewritten with one line only.
        std::fs::write(&path, format!("{line}\n")).unwrap();
        results.reread();
        assert_eq!((results.count(), results.records[0].is_none()), (1, true));
    }
}
