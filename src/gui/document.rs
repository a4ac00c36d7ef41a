//! What the window has open: nothing, one image (and its result), a batch, or a video; a batch
//! image shown large; what background threads and file dialogs hand back; and whether the result
//! on screen was made with the chain and format as they are now. Opening, saving and processing
//! are `actions` and `job`, which change these; drawing them is `layout`.

use super::app::GuiApp;
use super::batch_view::BatchDoc;
use super::video_doc::VideoDoc;
use super::viewer::Picture;
use crate::chain::OpChain;
use crate::image::Image;
use crate::model::RankStats;
use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;

/// One opened image and, once processed, its result.
pub struct ImageDoc {
    pub path: PathBuf,
    pub file_bytes: u64,
    pub image: Arc<Image>,
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
    /// Where a video's result goes: a file (its extension picks the codec) or a frame folder.
    VideoOutput(PathBuf),
}

impl GuiApp {
    /// What a result is made with: the chain as the CLI spells it, and for a batch the output
    /// format ("gray,canny:… → png").
    pub fn recipe(&self, batch: bool) -> String {
        let chain = OpChain(self.settings.chain.clone()).to_string();
        match (batch, &self.settings.batch_format) {
            (false, _) => chain,
            (true, Some(ext)) => format!("{chain} → {ext}"),
            (true, None) => format!("{chain} → same format"),
        }
    }

    /// Whether the result shown (one image's, or the batch outputs) was made with the chain and
    /// format as they are now.
    pub fn freshness(&self) -> Freshness {
        let made_with = match &self.doc {
            Doc::Empty => None,
            Doc::Image(d) => d.result.as_ref().map(|r| r.chain.clone()),
            Doc::Batch(_) => self.batch_made_with.clone().filter(|_| !self.batch_items.is_empty()),
            // A video's result is written as it is processed: nothing is kept to save.
            Doc::Video(_) => None,
        };
        match made_with {
            None => Freshness::NoResult,
            Some(m) if m == self.recipe(matches!(self.doc, Doc::Batch(_))) => Freshness::Current,
            Some(made_with) => Freshness::OutOfDate { made_with },
        }
    }

    /// Takes the batch thumbnails decoded since the last frame, originals and results.
    pub(super) fn poll_batch_doc(&mut self) {
        let Doc::Batch(doc) = &mut self.doc else { return };
        let before = doc.result_count();
        doc.poll();
        // Every change is logged: the last thumbnails may decode before or after the run's end.
        if doc.result_count() != before {
            eprintln!("imgproc gui: the batch grid shows {} result thumbnail(s)", doc.result_count());
        }
    }
}
