//! What the window has open: nothing, one image (and its result), a batch, or a video; a batch
//! image shown large; what background threads and file dialogs hand back; and whether the result
//! on screen was made with the chain and format as they are now. Opening, saving and processing
//! are `actions` and `processing`, which change these; drawing them is `layout`.

use super::batch_view::BatchDoc;
use super::video_doc::VideoDoc;
use super::viewer::Picture;
use crate::image::Image;
use crate::model::RankStats;
use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;

/// One opened image and, once processed, its result.
pub struct ImageDoc {
    pub path: PathBuf,
    pub file_bytes: u64,
    /// What the file holds, when its header says (depth, alpha), as opposed to `image`, which is
    /// what imgproc filters (8-bit gray or colour).
    pub layout: Option<crate::file_layout::FileLayout>,
    /// The file as it is (16-bit samples and alpha kept).
    pub image: Arc<Image>,
    /// For a file with 16-bit samples or alpha, the file as imgproc reads it for a chain that
    /// keeps none of them (8-bit gray or colour, OpenCV's decode), as the CLI does.
    pub plain: Option<Arc<Image>>,
    pub picture: Picture,
    pub result: Option<ImageResult>,
}

pub struct ImageResult {
    pub image: Image,
    pub picture: Picture,
    pub stats: Vec<RankStats>,
    /// The chain that made it, as the CLI spells it.
    pub chain: String,
}

/// Whether the result on screen was made with the chain as it is now.
#[derive(Clone, Debug, PartialEq)]
pub enum Freshness {
    /// Nothing processed yet.
    NoResult,
    Current,
    /// Made with other parameters (named, as the CLI spells them): Process makes it again,
    /// Save refuses it.
    OutOfDate {
        made_with: String,
    },
}

pub enum Doc {
    Empty,
    Image(ImageDoc),
    Batch(BatchDoc),
    /// Boxed: much larger than the other docs.
    Video(Box<VideoDoc>),
}

/// A batch image shown large: its original and, when done, its result.
pub struct Selected {
    pub index: usize,
    pub before: Picture,
    pub after: Option<Picture>,
}

/// Work finished on a background thread.
pub(super) enum Loaded {
    Image(Result<ImageDoc>),
    Video(Result<Box<VideoDoc>>),
    Selected(Result<Selected>),
    /// A file dialog closed, with what the user picked.
    Picked(Option<Picked>),
}

/// What a file dialog was for, with the path(s) the user picked.
pub enum Picked {
    Image(PathBuf),
    Batch(Vec<PathBuf>),
    SaveImage(PathBuf),
    SaveBatch(PathBuf),
    Video(PathBuf),
    FrameFolder(PathBuf),
    /// The ONNX model Classify uses.
    Model(PathBuf),
    /// Where a video's result goes: a file (its extension picks the codec) or a frame folder.
    VideoOutput(PathBuf),
}
