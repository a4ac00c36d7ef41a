//! An opened batch: its files with size and format (read from headers), thumbnails decoded on a
//! background thread so the window never waits, and the grid that shows them with each image's
//! state in the running or finished job.

use super::progress::ItemState;
use super::viewer::thumbnail;
use crate::codec;
use egui::{Color32, Context, TextureHandle, TextureOptions, Ui};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};

/// Thumbnail side in pixels.
const THUMB: usize = 160;

/// What the header says of one file, or why it could not be read.
#[derive(Clone, Debug)]
pub struct FileInfo {
    pub path: PathBuf,
    pub size: Option<(usize, usize)>,
    pub format: String,
    pub error: Option<String>,
}

impl FileInfo {
    pub fn read(path: PathBuf) -> FileInfo {
        let format = path.extension().map(|e| e.to_string_lossy().to_uppercase()).unwrap_or_default();
        match imagesize::size(&path) {
            Ok(s) => FileInfo { path, size: Some((s.width, s.height)), format, error: None },
            Err(e) => {
                let error = Some(format!("{}: {e}", path.display()));
                FileInfo { path, size: None, format, error }
            }
        }
    }

    /// "1920×1080 PNG".
    pub fn describe(&self) -> String {
        match self.size {
            Some((w, h)) => format!("{w}×{h} {}", self.format),
            None => format!("? {}", self.format),
        }
    }
}

pub struct BatchDoc {
    pub files: Vec<FileInfo>,
    pub thumbs: Vec<Option<TextureHandle>>,
    thumb_rx: Receiver<(usize, Option<TextureHandle>)>,
}

impl BatchDoc {
    /// Reads every header now (cheap) and starts decoding thumbnails in the background.
    pub fn open(ctx: &Context, inputs: Vec<PathBuf>, max_pixels: u64) -> BatchDoc {
        let files: Vec<FileInfo> = inputs.into_iter().map(FileInfo::read).collect();
        let (tx, thumb_rx) = mpsc::channel();
        let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        let ctx2 = ctx.clone();
        std::thread::spawn(move || {
            for (i, path) in paths.iter().enumerate() {
                let tex = codec::read_image(path, max_pixels).ok().map(|img| {
                    ctx2.load_texture(
                        format!("thumb-{}", path.display()),
                        thumbnail(&img, THUMB),
                        TextureOptions::LINEAR,
                    )
                });
                // The batch was closed: stop decoding.
                if tx.send((i, tex)).is_err() {
                    return;
                }
                ctx2.request_repaint();
            }
        });
        let thumbs = vec![None; files.len()];
        BatchDoc { files, thumbs, thumb_rx }
    }

    /// Takes the thumbnails decoded since the last frame.
    pub fn poll(&mut self) {
        while let Ok((i, tex)) = self.thumb_rx.try_recv() {
            self.thumbs[i] = tex;
        }
    }

    /// The grid; returns the index of a clicked image.
    pub fn grid(&self, ui: &mut Ui, states: &[ItemState]) -> Option<usize> {
        let mut clicked = None;
        let cell = THUMB as f32 + 16.0;
        let per_row = ((ui.available_width() / cell).floor() as usize).max(1);
        egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
            egui::Grid::new("batch-grid").spacing([8.0, 8.0]).show(ui, |ui| {
                for (i, file) in self.files.iter().enumerate() {
                    let response = ui
                        .vertical(|ui| {
                            ui.set_width(THUMB as f32);
                            match &self.thumbs[i] {
                                Some(t) => {
                                    ui.add(egui::Image::new(t).max_size(egui::vec2(THUMB as f32, THUMB as f32)));
                                }
                                None => {
                                    let (r, _) = ui.allocate_exact_size(
                                        egui::vec2(THUMB as f32, THUMB as f32 * 0.6),
                                        egui::Sense::hover(),
                                    );
                                    ui.painter().rect_filled(r, 4.0, Color32::from_gray(40));
                                }
                            }
                            let name =
                                file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                            ui.label(egui::RichText::new(name).small().strong());
                            ui.label(egui::RichText::new(file.describe()).small());
                            state_label(ui, states.get(i), file.error.as_deref());
                        })
                        .response
                        .interact(egui::Sense::click());
                    if response.clicked() {
                        clicked = Some(i);
                    }
                    if (i + 1) % per_row == 0 {
                        ui.end_row();
                    }
                }
            });
        });
        clicked
    }
}

fn state_label(ui: &mut Ui, state: Option<&ItemState>, header_error: Option<&str>) {
    let (text, colour) = match state {
        Some(ItemState::Running { rank }) => (format!("running on rank {rank}"), Color32::LIGHT_BLUE),
        Some(ItemState::Done { rank, secs }) => (format!("done: rank {rank}, {secs:.2} s"), Color32::LIGHT_GREEN),
        Some(ItemState::AlreadyDone) => ("done earlier".into(), Color32::LIGHT_GREEN),
        Some(ItemState::Failed(e)) => {
            ui.colored_label(Color32::LIGHT_RED, "FAILED (hover for why)").on_hover_text(e);
            return;
        }
        Some(ItemState::Waiting) => ("waiting".into(), Color32::GRAY),
        None => match header_error {
            Some(e) => {
                ui.colored_label(Color32::LIGHT_RED, "unreadable (hover)").on_hover_text(e);
                return;
            }
            None => (String::new(), Color32::GRAY),
        },
    };
    ui.colored_label(colour, egui::RichText::new(text).small());
}
