//! Batch planning and the work on one batch image, both free of MPI.
//!
//! Planning turns the user's inputs (files and folders) into items with their output paths and
//! refuses, before any work starts, plans that would lose data: two inputs with the same output
//! name, or an output that would overwrite an input.

use crate::cancel::CancelFlag;
use crate::chain::OpChain;
use crate::codec;
use crate::exec::run_whole;
use crate::formats::is_image_path;
use crate::journal::BatchJournal;
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One image of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchItem {
    /// Absolute path of the input.
    pub input: PathBuf,
    /// Absolute path of the output.
    pub output: PathBuf,
    /// Output format (the output's extension).
    pub format: String,
}

/// Expands files and folders (not recursively, hidden files skipped) into a sorted input list.
///
/// Every entry of a folder with an image extension (`formats`, any case) is taken unless it is a sub-folder: a dangling
/// symbolic link or an entry that cannot be inspected is taken too, so it fails later by name
/// like any bad file instead of vanishing from the batch.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let abs = absolute(input)?;
        if abs.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(&abs).with_context(|| format!("{}: cannot list folder", abs.display()))? {
                let path = entry?.path();
                let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if !path.is_dir() && !hidden && is_image_path(&path) {
                    found.push(path);
                }
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(abs);
        }
    }
    Ok(files)
}

/// The batch plan: each input's output in `out_dir`, named like the input, with the extension
/// changed when `format` is given.
pub fn plan(inputs: &[PathBuf], out_dir: &Path, format: Option<&str>) -> Result<Vec<BatchItem>> {
    if let Some(f) = format {
        codec::check_format(f)?;
    }
    let out_dir = absolute(out_dir)?;
    let mut seen: HashMap<PathBuf, &Path> = HashMap::new();
    let mut items = Vec::with_capacity(inputs.len());
    for input in inputs {
        let name = input.file_name().with_context(|| format!("{}: not a file name", input.display()))?;
        let mut output = out_dir.join(name);
        let format = match format {
            Some(f) => {
                output.set_extension(f);
                f.to_string()
            }
            None => codec::output_format(input)?,
        };
        if let Some(other) = seen.insert(output.clone(), input) {
            anyhow::bail!("{} and {} would both be written to {}", other.display(), input.display(), output.display());
        }
        ensure!(!same_file(input, &output), "{}: the output would overwrite the input", input.display());
        items.push(BatchItem { input: input.clone(), output, format });
    }
    Ok(items)
}

/// Creates the output folder if needed and proves it can be written.
pub fn prepare_output_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create output folder", dir.display()))?;
    // Named as a temporary file, so one a crash leaves behind is removed by the next run.
    let probe = dir.join(format!(".imgproc-write-test{}{}", codec::TMP_MARKER, std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("{}: output folder cannot be written", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    codec::remove_stale_temps(dir)?;
    Ok(())
}

/// Everything a batch needs before its first image, checked up front: the expanded inputs, the
/// plan, a writable output folder and its journal (opened for this chain and format, so a rerun
/// of the same job skips what is done). The CLI and the GUI both start batches here.
pub fn open_job(
    inputs: &[PathBuf],
    out_dir: &Path,
    format: Option<&str>,
    chain: &OpChain,
) -> Result<(Vec<BatchItem>, BatchJournal)> {
    let files = expand_inputs(inputs)?;
    ensure!(!files.is_empty(), "no input images found");
    let items = plan(&files, out_dir, format)?;
    prepare_output_dir(out_dir)?;
    let job = format!("{chain} -> {}", format.unwrap_or("same"));
    let journal = BatchJournal::open(out_dir, &job)?;
    Ok((items, journal))
}

/// Decodes, filters and encodes one image held in memory, keeping its 16-bit samples and alpha
/// where the chain and the output format keep them (as `imgproc run` does). Stops at the next chunk of rows once
/// `cancel` is set (the error is then `cancel::Cancelled`).
pub fn process_bytes(
    bytes: &[u8],
    name: &str,
    chain: &OpChain,
    max_pixels: u64,
    format: &str,
    cancel: &CancelFlag,
) -> Result<codec::Encoded> {
    // 16-bit samples and alpha are kept as `imgproc run` keeps them: where every op of the chain
    // takes them and the output format holds them.
    let keep = chain.keeps().and(crate::image::Keep::format(format));
    let img = codec::decode_keeping(bytes, name, max_pixels, keep)?;
    let out = run_whole(chain, &img, cancel).with_context(|| format!("{name}: filtering"))?;
    codec::encode(&out, format).with_context(|| format!("{name}: encoding"))
}

/// Seconds one [`process_file`] spent reading and writing; the rest of its time is compute.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileTimes {
    pub read_secs: f64,
    pub write_secs: f64,
}

/// Reads, filters and writes one image under a temporary name beside its output (see
/// `codec::write_temp`); whoever decides that this result counts puts it in place with
/// `codec::commit`. A cancel (see [`process_bytes`]) writes nothing.
pub fn process_file(
    item: &BatchItem,
    chain: &OpChain,
    max_pixels: u64,
    cancel: &CancelFlag,
) -> Result<(PathBuf, FileTimes)> {
    let t = std::time::Instant::now();
    let bytes = codec::read_file(&item.input)?;
    let read_secs = t.elapsed().as_secs_f64();
    let encoded = process_bytes(&bytes, &item.input.display().to_string(), chain, max_pixels, &item.format, cancel)?;
    drop(bytes);
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(crate::cancel::Cancelled.into());
    }
    let t = std::time::Instant::now();
    let tmp = codec::write_temp(&item.output, &encoded)?;
    Ok((tmp, FileTimes { read_secs, write_secs: t.elapsed().as_secs_f64() }))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}: bad path", path.display()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_keep_the_name_and_take_the_requested_format() {
        let items = plan(&[PathBuf::from("/in/a.png"), PathBuf::from("/in/b.jpg")], Path::new("/out"), None).unwrap();
        assert_eq!(items[1].output, PathBuf::from("/out/b.jpg"));
        assert_eq!(items[1].format, "jpg");
        let items = plan(&[PathBuf::from("/in/b.jpg")], Path::new("/out"), Some("png")).unwrap();
        assert_eq!(items[0].output, PathBuf::from("/out/b.png"));
    }

    #[test]
    fn two_inputs_with_one_output_name_are_refused() {
        let e = plan(&[PathBuf::from("/x/a.png"), PathBuf::from("/y/a.png")], Path::new("/out"), None).unwrap_err();
        assert!(e.to_string().contains("both"), "{e}");
    }

    #[test]
    fn an_output_that_would_overwrite_its_input_is_refused() {
        let e = plan(&[PathBuf::from("/in/a.png")], Path::new("/in"), None).unwrap_err();
        assert!(e.to_string().contains("overwrite"), "{e}");
    }

    #[test]
    fn folders_expand_to_sorted_visible_image_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.PNG", "a.jpg", "notes.txt", ".hidden.png"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let files = expand_inputs(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["a.jpg", "b.PNG"]);
    }

    #[test]
    fn a_dangling_link_in_a_folder_is_taken_and_a_sub_folder_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.png"), dir.path().join("broken.png")).unwrap();
        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let files = expand_inputs(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["a.png", "broken.png"]);
    }
}
