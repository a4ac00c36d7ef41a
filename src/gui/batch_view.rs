//! An opened batch: its files with size and format (read from headers), thumbnails of the
//! originals and of the results decoded on a background thread so the window never waits, and the
//! grid that shows them with each image's state in the running or finished job.

use super::progress::ItemState;
use super::viewer::thumbnail;
use crate::classify::record::Record;
use crate::codec;
use egui::{Color32, Context, TextureHandle, TextureOptions, Ui};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};

/// Thumbnail side in pixels, decoded once: sharp up to the largest tiles.
const THUMB: usize = 320;

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

    /// "1920×1080 PNG"; "PNG, cannot be read" when its header or its pixels are broken.
    pub fn describe(&self) -> String {
        match (self.size, &self.error) {
            (Some((w, h)), None) => format!("{w}×{h} {}", self.format),
            _ => format!("{}, cannot be read", self.format),
        }
    }
}

/// Which picture of a batch image a thumbnail shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Original,
    Result,
}

/// A request to the thumbnail thread; `generation` tells a result of an older run from a new one.
struct ThumbJob {
    index: usize,
    side: Side,
    path: PathBuf,
    generation: u64,
}

struct Thumb {
    index: usize,
    side: Side,
    generation: u64,
    made: Result<TextureHandle, String>,
}

pub struct BatchDoc {
    pub files: Vec<FileInfo>,
    pub thumbs: Vec<Option<TextureHandle>>,
    /// Thumbnails of the outputs of the last run, as they are written.
    pub results: Vec<Option<TextureHandle>>,
    /// Show the originals in the grid even where there is a result.
    pub show_originals: bool,
    jobs: Sender<ThumbJob>,
    thumb_rx: Receiver<Thumb>,
    generation: u64,
}

impl BatchDoc {
    /// Reads every header now (cheap) and starts decoding thumbnails in the background. A file
    /// whose header reads but whose pixels do not (a truncated PNG) is marked unreadable when its
    /// thumbnail fails, before any processing.
    pub fn open(ctx: &Context, inputs: Vec<PathBuf>, max_pixels: u64) -> BatchDoc {
        let files: Vec<FileInfo> = inputs.into_iter().map(FileInfo::read).collect();
        let (jobs, job_rx) = mpsc::channel::<ThumbJob>();
        let (tx, thumb_rx) = mpsc::channel();
        let ctx2 = ctx.clone();
        std::thread::spawn(move || {
            // Ends when the batch is closed (its sender dropped) or nobody listens.
            for job in job_rx {
                let limit = if job.side == Side::Original { max_pixels } else { u64::MAX };
                let made = codec::read_image(&job.path, limit).map_err(|e| format!("{e:#}")).map(|img| {
                    let name = format!("thumb-{:?}-{}-{}", job.side, job.generation, job.path.display());
                    ctx2.load_texture(name, thumbnail(&img, THUMB), TextureOptions::LINEAR)
                });
                let thumb = Thumb { index: job.index, side: job.side, generation: job.generation, made };
                if tx.send(thumb).is_err() {
                    return;
                }
                ctx2.request_repaint();
            }
        });
        for (index, f) in files.iter().enumerate() {
            let _ = jobs.send(ThumbJob { index, side: Side::Original, path: f.path.clone(), generation: 0 });
        }
        let n = files.len();
        BatchDoc {
            files,
            thumbs: vec![None; n],
            results: vec![None; n],
            show_originals: false,
            jobs,
            thumb_rx,
            generation: 0,
        }
    }

    /// A new run starts: the last run's result thumbnails no longer hold.
    pub fn clear_results(&mut self) {
        self.generation += 1;
        self.results.iter_mut().for_each(|r| *r = None);
    }

    /// Image `index`'s output was written to `output`: its thumbnail replaces the original's.
    pub fn show_result(&mut self, index: usize, output: PathBuf) {
        let job = ThumbJob { index, side: Side::Result, path: output, generation: self.generation };
        let _ = self.jobs.send(job);
    }

    /// Results shown in the grid so far.
    pub fn result_count(&self) -> usize {
        self.results.iter().flatten().count()
    }

    /// Takes the thumbnails decoded since the last frame.
    pub fn poll(&mut self) {
        while let Ok(t) = self.thumb_rx.try_recv() {
            match (t.side, t.made) {
                (Side::Original, Ok(tex)) => self.thumbs[t.index] = Some(tex),
                (Side::Original, Err(e)) => {
                    let file = &mut self.files[t.index];
                    file.error.get_or_insert(e);
                }
                (Side::Result, Ok(tex)) if t.generation == self.generation => self.results[t.index] = Some(tex),
                (Side::Result, _) => {}
            }
        }
    }

    /// The grid, its tiles as wide as the view allows (about 240 points); returns the index of a
    /// clicked image.
    /// With `labels` (a classify run's records), each tile also shows its image's best labels.
    pub fn grid(&self, ui: &mut Ui, states: &[ItemState], labels: Option<&[Option<Record>]>) -> Option<usize> {
        let mut clicked = None;
        let gap = 10.0;
        let width = ui.available_width() - 16.0;
        let per_row = ((width / 240.0).round() as usize).max(1);
        let side = (width / per_row as f32 - gap).floor();
        let picture = egui::vec2(side, (side * 0.7).floor());
        egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
            egui::Grid::new("batch-grid").spacing([gap, gap]).show(ui, |ui| {
                for (i, file) in self.files.iter().enumerate() {
                    let response = ui
                        .vertical(|ui| {
                            ui.set_width(side);
                            let shown = match (&self.results[i], self.show_originals) {
                                (Some(r), false) => Some(r),
                                _ => self.thumbs[i].as_ref(),
                            };
                            let (r, _) = ui.allocate_exact_size(picture, egui::Sense::hover());
                            match (shown, &file.error) {
                                (_, Some(_)) => {
                                    let error = ui.visuals().error_fg_color;
                                    ui.painter().rect_filled(r, 4.0, Color32::from_gray(40));
                                    ui.painter().rect_stroke(
                                        r,
                                        4.0,
                                        egui::Stroke::new(1.0, error),
                                        egui::StrokeKind::Inside,
                                    );
                                    ui.painter().text(
                                        r.center(),
                                        egui::Align2::CENTER_CENTER,
                                        "cannot be read",
                                        egui::FontId::proportional(14.0),
                                        error,
                                    );
                                }
                                (Some(t), None) => {
                                    let size = t.size_vec2();
                                    let scale = (picture.x / size.x).min(picture.y / size.y);
                                    let fitted = egui::Rect::from_center_size(r.center(), size * scale);
                                    egui::Image::new(t).paint_at(ui, fitted);
                                }
                                (None, None) => {
                                    ui.painter().rect_filled(r, 4.0, Color32::from_gray(40));
                                }
                            }
                            let name =
                                file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                            ui.label(egui::RichText::new(name).small().strong());
                            ui.label(egui::RichText::new(file.describe()).small());
                            state_label(ui, states.get(i), file.error.as_deref());
                            if let Some(Some(record)) = labels.map(|l| l.get(i)) {
                                labels_line(ui, record.as_ref());
                            }
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

fn state_label(ui: &mut Ui, state: Option<&ItemState>, file_error: Option<&str>) {
    let error = ui.visuals().error_fg_color;
    let (text, colour) = match (state, file_error) {
        (Some(ItemState::Running { rank }), _) => (format!("running on rank {rank}"), Color32::LIGHT_BLUE),
        (Some(ItemState::Done { rank, secs }), _) => {
            (format!("done on rank {rank} in {secs:.2} s"), Color32::LIGHT_GREEN)
        }
        (Some(ItemState::AlreadyDone), _) => ("done in an earlier run (kept)".into(), Color32::LIGHT_GREEN),
        (Some(ItemState::Failed(e)), _) => {
            ui.colored_label(error, egui::RichText::new("failed (hover for why)").small()).on_hover_text(e);
            return;
        }
        (_, Some(e)) => {
            ui.colored_label(error, egui::RichText::new("unreadable (hover for why)").small()).on_hover_text(e);
            return;
        }
        (Some(ItemState::Waiting), None) => ("waiting".into(), Color32::GRAY),
        (None, None) => (String::new(), Color32::GRAY),
    };
    ui.colored_label(colour, egui::RichText::new(text).small());
}

/// An image's best labels under its tile: the first strong, up to three with their scores.
fn labels_line(ui: &mut Ui, record: Option<&Record>) {
    let Some(record) = record else { return };
    if let Some(e) = &record.error {
        ui.colored_label(ui.visuals().error_fg_color, egui::RichText::new("not classified (hover for why)").small())
            .on_hover_text(e);
        return;
    }
    let Some((best, rest)) = record.top.split_first() else { return };
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        let colour = Color32::from_rgb(255, 210, 120);
        ui.label(egui::RichText::new(format!("{} {}", best.label, percent(best.score))).strong().color(colour));
        for g in rest.iter().take(2) {
            ui.label(egui::RichText::new(format!("{} {}", g.label, percent(g.score))).small());
        }
    });
}

/// A score as the tile shows it: a percentage for probabilities, the raw value otherwise.
fn percent(score: f32) -> String {
    if (0.0..=1.0).contains(&score) {
        format!("{:.1} %", score * 100.0)
    } else {
        format!("{score:.3}")
    }
}
