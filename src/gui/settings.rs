//! What the window remembers across starts (eframe storage, `~/.local/share/imgproc/app.ron`):
//! the chain, folders, the last inputs (absolute), recent files, named presets, the batch output
//! format, the comparison mode, and whether a job was running when the process ended; and the
//! one place they are loaded from and stored to. When they are stored is the app's business.

use super::viewer::Compare;
use crate::codec;
use crate::ops::Op;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How many recent files the File menu lists.
pub const RECENT: usize = 10;

/// Output formats a batch can be written in: (label, extension; `None` keeps each input's),
/// from the format table (`formats`).
pub fn batch_formats() -> Vec<(&'static str, Option<&'static str>)> {
    let table = crate::formats::batch_outputs().map(|(label, ext)| (label, Some(ext)));
    std::iter::once(("same as each input", None)).chain(table).collect()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    pub chain: Vec<Op>,
    pub open_dir: Option<PathBuf>,
    pub save_dir: Option<PathBuf>,
    /// The last opened files, absolute: one image, or a batch.
    pub inputs: Vec<PathBuf>,
    pub batch: bool,
    pub coordinator_only: bool,
    pub max_pixels: u64,
    pub compare: Compare,
    /// True from Process until the job ends, and cleared by a deliberate quit: only a job that was
    /// running when the process died is run again at the next start (a batch resumes through its
    /// journal; one image is redone).
    pub interrupted: bool,
    /// What was opened lately, newest first: each entry opens as it was (one image, or a batch).
    pub recent: Vec<Vec<PathBuf>>,
    /// Named op chains.
    pub presets: BTreeMap<String, Vec<Op>>,
    /// The extension batch outputs are written with; `None` keeps each input's format.
    pub batch_format: Option<String>,
    /// Folders opened as the frames of a video (File ▸ Open frame folder…): opened again, from
    /// the recent list or the command line, they open the same way, not as a batch.
    pub frame_folders: Vec<PathBuf>,
    /// The ONNX model Classify uses (its sidecar `M.json` beside it).
    pub classify_model: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            chain: vec![Op::default_for("blur").expect("blur exists")],
            open_dir: None,
            save_dir: None,
            inputs: Vec::new(),
            batch: false,
            coordinator_only: false,
            max_pixels: codec::DEFAULT_MAX_PIXELS,
            compare: Compare::Split,
            interrupted: false,
            recent: Vec::new(),
            presets: BTreeMap::new(),
            batch_format: None,
            frame_folders: Vec::new(),
            classify_model: None,
        }
    }
}

impl Settings {
    /// What the last run stored, or the defaults: at a first start, without storage, or when
    /// what is stored no longer reads as settings.
    pub fn load(storage: Option<&dyn eframe::Storage>) -> Settings {
        storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default()
    }

    /// Puts the settings in `storage`, which eframe writes to disk at its next flush (it flushes
    /// right after `App::save`).
    pub fn store(&self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, self);
    }

    /// Puts the settings in `storage` and writes them to disk at once, so that a crash cannot
    /// lose them (`interrupted` above all).
    pub fn store_now(&self, storage: &mut dyn eframe::Storage) {
        self.store(storage);
        storage.flush();
    }

    /// `paths` were opened: they go on top of the recent list, once.
    pub fn add_recent(&mut self, paths: Vec<PathBuf>) {
        self.recent.retain(|r| *r != paths);
        self.recent.insert(0, paths);
        self.recent.truncate(RECENT);
    }

    /// `folder` was opened as frames: it opens so again (the last [`RECENT`] such folders).
    pub fn add_frame_folder(&mut self, folder: PathBuf) {
        self.frame_folders.retain(|f| *f != folder);
        self.frame_folders.insert(0, folder);
        self.frame_folders.truncate(RECENT);
    }
}

/// "photo.jpg", "photos/ (folder)", "a.png and 3 more".
pub fn describe_recent(paths: &[PathBuf]) -> String {
    let name = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match paths {
        [] => String::new(),
        [one] if one.is_dir() => format!("{}/ (folder)", name(one)),
        [one] => name(one),
        [first, rest @ ..] => format!("{} and {} more", name(first), rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_files_are_newest_first_without_repeats_and_bounded() {
        let mut s = Settings::default();
        for i in 0..12 {
            s.add_recent(vec![PathBuf::from(format!("/p/{i}.png"))]);
        }
        s.add_recent(vec![PathBuf::from("/p/5.png")]);
        assert_eq!(s.recent.len(), RECENT);
        assert_eq!(s.recent[0], vec![PathBuf::from("/p/5.png")]);
        assert_eq!(s.recent.iter().filter(|r| r[0].ends_with("5.png")).count(), 1);
        assert_eq!(s.recent[1], vec![PathBuf::from("/p/11.png")]);
    }

    /// eframe's storage, in memory.
    #[derive(Default)]
    struct Memory(BTreeMap<String, String>);

    impl eframe::Storage for Memory {
        fn get_string(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set_string(&mut self, key: &str, value: String) {
            self.0.insert(key.to_string(), value);
        }
        fn remove_string(&mut self, key: &str) {
            self.0.remove(key);
        }
        fn flush(&mut self) {}
    }

    #[test]
    fn stored_settings_load_back_as_they_were_and_missing_or_unreadable_ones_load_as_defaults() {
        let mut s = Settings { interrupted: true, batch_format: Some("png".into()), ..Settings::default() };
        s.presets.insert("edges".into(), vec![Op::default_for("gray").unwrap(), Op::default_for("canny").unwrap()]);
        s.add_recent(vec![PathBuf::from("/p/a.png"), PathBuf::from("/p/b.png")]);
        let mut storage = Memory::default();
        s.store_now(&mut storage);
        assert_eq!(Settings::load(Some(&storage)), s);

        assert_eq!(Settings::load(None), Settings::default());
        eframe::Storage::set_string(&mut storage, eframe::APP_KEY, "not settings".into());
        assert_eq!(Settings::load(Some(&storage)), Settings::default());
    }

    #[test]
    fn every_batch_format_can_be_written() {
        for (label, ext) in batch_formats() {
            if let Some(ext) = ext {
                codec::check_format(ext).unwrap_or_else(|e| panic!("{label}: {e:#}"));
            }
        }
    }
}
