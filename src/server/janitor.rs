//! Housekeeping under `--data`: finished jobs older than `--keep` are removed (rows and files),
//! and a job folder without a row (an upload cut off by a crash) is removed at start-up.

use super::state::Shared;
use super::store::{Layout, Store};
use anyhow::Result;
use std::collections::HashSet;

/// Removes the jobs that ended more than `--keep` ago.
pub fn expire(shared: &Shared, store: &Store) -> Result<()> {
    let before = crate::model::unix_now() - shared.keep.as_secs_f64();
    let expired = store.expired(before)?;
    for id in &expired {
        remove_files(&shared.layout, id);
        store.delete(id)?;
    }
    if !expired.is_empty() {
        shared.changed();
    }
    Ok(())
}

/// Removes a job's folder; a failure is reported, not fatal (the next pass retries).
pub fn remove_files(layout: &Layout, id: &str) {
    let dir = layout.job_dir(id);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("imgproc serve: {}: cannot remove: {e}", dir.display());
        }
    }
}

/// Removes job folders that no row names, and the folders of shared turns a stop cut off
/// (their jobs' unfinished images run again).
pub fn remove_orphans(layout: &Layout, store: &Store) -> Result<()> {
    let _ = std::fs::remove_dir_all(layout.root.join("turns"));
    let known: HashSet<String> = store.all_ids()?.into_iter().collect();
    let Ok(entries) = std::fs::read_dir(layout.root.join("jobs")) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !known.contains(&name) {
            remove_files(layout, &name);
        }
    }
    Ok(())
}
