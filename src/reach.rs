//! What a worker can reach of rank 0's files by itself, found out rather than assumed: rank 0
//! leaves a probe file holding a random token in a folder ([`ProbeFile`]); a worker that reads
//! the same token back at the same path sees that very folder (same host, or shared storage),
//! not a look-alike of its own. It then checks it may create files there, and that sample inputs
//! have the size rank 0 sees. Batches and videos both ask; no MPI here, the answers travel in
//! `protocol` messages.

use crate::codec::TMP_MARKER;
use serde::{Deserialize, Serialize};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

/// Where rank 0's probe is and what it holds, as a worker is told.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    pub path: PathBuf,
    pub token: String,
}

impl Probe {
    /// Whether this process reads the probe's token back: it sees rank 0's folder.
    pub fn seen(&self) -> bool {
        std::fs::read_to_string(&self.path).is_ok_and(|t| t == self.token)
    }
}

/// Rank 0's probe file; removed when dropped, so an error or a cancel leaves none behind. Its
/// name carries the temporary-file marker: one left by a crash goes with the next run's stale
/// temporary files.
pub struct ProbeFile(Probe);

impl ProbeFile {
    /// Writes a probe with a fresh random token in `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<ProbeFile> {
        use anyhow::Context;
        // std's hasher keys are random per process; the pid and the clock make it unique per job.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        let token = format!("{:016x}", h.finish());
        let path = dir.join(format!(".imgproc-probe{TMP_MARKER}{token}"));
        std::fs::write(&path, &token).with_context(|| format!("{}: cannot write the probe file", path.display()))?;
        Ok(ProbeFile(Probe { path, token }))
    }

    pub fn probe(&self) -> &Probe {
        &self.0
    }
}

impl Drop for ProbeFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0.path);
    }
}

/// Whether this process can create (and remove) a file in `dir`.
pub fn can_create_in(dir: &Path) -> bool {
    let test = dir.join(format!(".imgproc-write-test{TMP_MARKER}{}", std::process::id()));
    let ok = std::fs::write(&test, b"").is_ok();
    let _ = std::fs::remove_file(test);
    ok
}

/// An input and its size as rank 0 sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeenFile {
    pub path: PathBuf,
    pub size: u64,
}

/// How many inputs a worker checks besides the first.
const SAMPLE: usize = 4;

/// The first input and up to [`SAMPLE`] others spread over the list, with the sizes this
/// process sees; inputs it cannot open itself are left out (they fail by name anyway).
pub fn sample_inputs(inputs: &[PathBuf]) -> Vec<SeenFile> {
    let step = (inputs.len() / (SAMPLE + 1)).max(1);
    let mut picked: Vec<usize> = std::iter::once(0).chain((1..=SAMPLE).map(|k| k * step)).collect();
    picked.retain(|&i| i < inputs.len());
    picked.dedup();
    picked
        .into_iter()
        .filter_map(|i| {
            let size = std::fs::metadata(&inputs[i]).ok().filter(|m| m.is_file())?.len();
            Some(SeenFile { path: inputs[i].clone(), size })
        })
        .collect()
}

/// Whether this process opens every sampled input and finds the size rank 0 found.
pub fn reads_same(sample: &[SeenFile]) -> bool {
    sample.iter().all(|f| std::fs::File::open(&f.path).and_then(|h| h.metadata()).is_ok_and(|m| m.len() == f.size))
}

/// What a worker found it can reach for a batch.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchReach {
    /// It read the probe's token back in the output folder.
    pub sees_output: bool,
    /// It could create a file in the output folder.
    pub writes_output: bool,
    /// Every sampled input opened with rank 0's size.
    pub reads_inputs: bool,
}

impl BatchReach {
    /// Checks, from this process, the output folder (holding `probe`) and the `sample` inputs.
    pub fn check(probe: &Probe, out_dir: &Path, sample: &[SeenFile]) -> BatchReach {
        let sees_output = probe.seen();
        BatchReach {
            sees_output,
            // Only worth trying in the folder rank 0 means.
            writes_output: sees_output && can_create_in(out_dir),
            reads_inputs: !sample.is_empty() && reads_same(sample),
        }
    }

    /// Whether the worker reads and writes its images itself (only indices travel), rather than
    /// getting and returning their bytes through rank 0: when it reaches all three.
    pub fn own_files(&self) -> bool {
        self.sees_output && self.writes_output && self.reads_inputs
    }

    /// Why not, in words, when [`BatchReach::own_files`] is false.
    pub fn why_not(&self) -> &'static str {
        if !self.sees_output {
            "does not see the output folder (no probe file with rank 0's token)"
        } else if !self.writes_output {
            "cannot create files in the output folder"
        } else if !self.reads_inputs {
            "does not read the sampled inputs with the sizes rank 0 sees"
        } else {
            "reaches every file"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_seeing_the_folder_and_the_inputs_uses_its_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let inputs: Vec<PathBuf> = (0..12).map(|i| dir.path().join(format!("in{i}.png"))).collect();
        for (i, p) in inputs.iter().enumerate() {
            std::fs::write(p, vec![0u8; 10 + i]).unwrap();
        }
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let probe = ProbeFile::create(&out).unwrap();
        let sample = sample_inputs(&inputs);
        assert_eq!(sample.len(), 1 + SAMPLE);
        assert_eq!(sample[0].path, inputs[0], "the first input is always checked");
        let reach = BatchReach::check(probe.probe(), &out, &sample);
        assert_eq!(reach, BatchReach { sees_output: true, writes_output: true, reads_inputs: true });
        assert!(reach.own_files());
        let path = probe.probe().path.clone();
        drop(probe);
        assert!(!path.exists(), "the probe is removed when dropped");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "nothing is left in the output folder");
    }

    #[test]
    fn another_token_or_no_probe_means_another_folder() {
        let dir = tempfile::tempdir().unwrap();
        let probe = ProbeFile::create(dir.path()).unwrap();
        // A look-alike folder elsewhere: same path, other contents (as on another host).
        let other = Probe { path: probe.probe().path.clone(), token: "someone else's".into() };
        assert!(!other.seen());
        let gone = Probe { path: dir.path().join("missing"), token: probe.probe().token.clone() };
        let reach = BatchReach::check(&gone, dir.path(), &[]);
        assert!(!reach.sees_output && !reach.writes_output && !reach.own_files());
    }

    #[test]
    fn an_input_of_another_size_or_missing_keeps_the_bytes_mode() {
        let dir = tempfile::tempdir().unwrap();
        let probe = ProbeFile::create(dir.path()).unwrap();
        let a = dir.path().join("a.png");
        std::fs::write(&a, b"12345").unwrap();
        let same = [SeenFile { path: a.clone(), size: 5 }];
        assert!(BatchReach::check(probe.probe(), dir.path(), &same).own_files());
        let resized = [SeenFile { path: a.clone(), size: 6 }];
        assert!(!BatchReach::check(probe.probe(), dir.path(), &resized).own_files());
        let missing = [same[0].clone(), SeenFile { path: dir.path().join("b.png"), size: 5 }];
        assert!(!BatchReach::check(probe.probe(), dir.path(), &missing).own_files());
    }

    #[test]
    fn a_folder_that_cannot_take_files_keeps_the_bytes_mode() {
        let dir = tempfile::tempdir().unwrap();
        let probe = ProbeFile::create(dir.path()).unwrap();
        // Even root cannot create a file inside a regular file.
        let not_a_folder = probe.probe().path.clone();
        assert!(!can_create_in(&not_a_folder));
        let reach = BatchReach::check(probe.probe(), &not_a_folder, &[]);
        assert!(reach.sees_output && !reach.writes_output && !reach.own_files());
    }

    #[test]
    fn the_sample_of_a_short_list_takes_each_input_once() {
        let dir = tempfile::tempdir().unwrap();
        let inputs: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("{i}.png"))).collect();
        inputs.iter().for_each(|p| std::fs::write(p, b"x").unwrap());
        let sample = sample_inputs(&inputs);
        assert_eq!(sample.iter().map(|f| f.path.clone()).collect::<Vec<_>>(), inputs);
        assert!(sample_inputs(&[]).is_empty());
    }
}
