//! The image view: an image uploaded as tiles of textures (so an 8K picture shows at full
//! resolution although one texture may not be that large), with zoom, pan, and a before/after
//! comparison side by side or with a split line. A result of another size than its original (a
//! resize) is shown at the original's displayed size, both real sizes written on the view. The
//! view is fitted again whenever its panes change (a result arrives, the mode changes, the
//! window is resized). Knows nothing of jobs or files.

use crate::image::Image;
use egui::{
    pos2, vec2, Color32, ColorImage, Context, CursorIcon, Key, PointerButton, Rect, Sense, Stroke, TextureHandle,
    TextureOptions, Ui, Vec2,
};

/// Side of a texture tile, in image pixels; below every GPU's texture limit.
const TILE: usize = 2048;

/// An image on the GPU, ready to paint at any zoom.
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    tiles: Vec<(Rect, TextureHandle)>,
}

impl Picture {
    /// Uploads `img` (BGR, BGRA-free gray or colour as the codec gives it) as RGBA tiles. Can run
    /// on any thread: egui's context is shared.
    pub fn upload(ctx: &Context, name: &str, img: &Image) -> Picture {
        // Crisp pixels when zoomed in, smooth when zoomed out.
        let options = TextureOptions { magnification: egui::TextureFilter::Nearest, ..TextureOptions::LINEAR }
            .with_mipmap_mode(Some(egui::TextureFilter::Linear));
        let mut tiles = Vec::new();
        for y0 in (0..img.height).step_by(TILE) {
            for x0 in (0..img.width).step_by(TILE) {
                let (w, h) = (TILE.min(img.width - x0), TILE.min(img.height - y0));
                let tile = color_image(img, x0, y0, w, h);
                let rect = Rect::from_min_size(pos2(x0 as f32, y0 as f32), vec2(w as f32, h as f32));
                tiles.push((rect, ctx.load_texture(format!("{name}-{x0}-{y0}"), tile, options)));
            }
        }
        Picture { width: img.width, height: img.height, channels: img.channels, tiles }
    }

    fn size(&self) -> Vec2 {
        vec2(self.width as f32, self.height as f32)
    }

    /// Paints the picture with image pixel (0, 0) at `origin`, `zoom` screen points per pixel,
    /// clipped to `clip`.
    fn paint(&self, ui: &Ui, origin: egui::Pos2, zoom: f32, clip: Rect) {
        let painter = ui.painter().with_clip_rect(clip);
        let uv = Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0));
        for (rect, tex) in &self.tiles {
            let screen = Rect::from_min_size(origin + rect.min.to_vec2() * zoom, rect.size() * zoom);
            if screen.intersects(clip) {
                painter.image(tex.id(), screen, uv, Color32::WHITE);
            }
        }
    }
}

/// The pixels of a rectangle of `img` as egui wants them: RGB(A), not OpenCV's BGR; 16-bit
/// samples shown by their top 8 bits, alpha as transparency over the view's background.
pub fn color_image(img: &Image, x0: usize, y0: usize, w: usize, h: usize) -> ColorImage {
    let mut pixels = Vec::with_capacity(w * h);
    for y in y0..y0 + h {
        pixels.extend((x0..x0 + w).map(|x| pixel(img, x, y)));
    }
    ColorImage::new([w, h], pixels)
}

/// One pixel of `img` as egui shows it.
fn pixel(img: &Image, x: usize, y: usize) -> Color32 {
    let (c, b) = (img.channels, img.depth.bytes());
    let row = img.rows(y, y + 1);
    let p = &row[x * c * b..(x + 1) * c * b];
    // The top 8 bits of a native-endian 16-bit sample, or the sample.
    let s = |i: usize| if b == 2 { (u16::from_ne_bytes([p[2 * i], p[2 * i + 1]]) >> 8) as u8 } else { p[i] };
    match c {
        1 => Color32::from_gray(s(0)),
        4 => Color32::from_rgba_unmultiplied(s(2), s(1), s(0), s(3)),
        _ => Color32::from_rgb(s(2), s(1), s(0)),
    }
}

/// A smaller copy for thumbnails: nearest-neighbour sampling, at most `side` pixels a side.
pub fn thumbnail(img: &Image, side: usize) -> ColorImage {
    let scale = (side as f64 / img.width.max(img.height) as f64).min(1.0);
    let (w, h) = (((img.width as f64 * scale) as usize).max(1), ((img.height as f64 * scale) as usize).max(1));
    let mut pixels = Vec::with_capacity(w * h);
    for ty in 0..h {
        let y = (ty * img.height / h).min(img.height - 1);
        for tx in 0..w {
            let x = (tx * img.width / w).min(img.width - 1);
            pixels.push(pixel(img, x, y));
        }
    }
    ColorImage::new([w, h], pixels)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Compare {
    /// Original left, result right, panned and zoomed together.
    SideBySide,
    /// One view: the original left of a line on the image, the result right of it.
    Split,
}

/// Zoom, pan and comparison state of the image view.
pub struct Viewer {
    /// Screen points per image pixel.
    pub zoom: f32,
    /// Screen offset of image pixel (0, 0) from the pane's corner.
    offset: Vec2,
    pub compare: Compare,
    /// Where the split line sits, as a fraction of the image's width: the original left of it,
    /// the result right. 0.5 is the image's centre whatever the zoom and pan; 0 shows only the
    /// result, 1 only the original.
    pub split: f32,
    /// Fit the next picture shown to the view.
    fit_pending: bool,
    /// Size of one pane at the last frame, the anchor of button zooms.
    last_view_size: Vec2,
    /// The view's size and whether it showed two panes, at the last frame: when either changes,
    /// the picture is fitted again.
    last_layout: Option<(Vec2, bool)>,
}

/// What happened in the view this frame, for the app to tell (the e2e test reads the log).
#[derive(Debug, Default)]
pub struct ViewEvents {
    /// The picture was fitted to the view: where it lies on screen (the left pane's copy in side
    /// by side).
    pub fitted: Option<Rect>,
    /// With it, where the result lies (the right pane's copy in side by side), and the real sizes
    /// of the original and the result.
    pub fitted_result: Option<(Rect, [usize; 2], [usize; 2])>,
    /// The split line was let go at this fraction of the image's width.
    pub split_released: Option<f32>,
}

impl Default for Viewer {
    fn default() -> Self {
        Viewer {
            zoom: 1.0,
            offset: Vec2::ZERO,
            compare: Compare::Split,
            split: 0.5,
            fit_pending: true,
            last_view_size: vec2(800.0, 600.0),
            last_layout: None,
        }
    }
}

impl Viewer {
    /// Fits the next frame's picture to the view (after opening a new image).
    pub fn refit(&mut self) {
        self.fit_pending = true;
    }

    /// The toolbar: comparison mode, split position, zoom buttons. The zoom buttons sit at its
    /// right end and the split slider takes what is left, so a narrow window cuts nothing off.
    pub fn toolbar(&mut self, ui: &mut Ui, has_result: bool) {
        self.toolbar_with(ui, has_result, |_| {});
    }

    /// [`Viewer::toolbar`] with `note` drawn after the split slider, in the width left (a note
    /// should cut its text to it: it never pushes the zoom buttons out of the window).
    pub fn toolbar_with(&mut self, ui: &mut Ui, has_result: bool, note: impl FnOnce(&mut Ui)) {
        ui.horizontal(|ui| {
            ui.add_enabled_ui(has_result, |ui| {
                ui.selectable_value(&mut self.compare, Compare::Split, "Split view")
                    .on_hover_text("Drag the line on the image; pan with the right or middle button, or Space+drag");
                let side = ui.selectable_value(&mut self.compare, Compare::SideBySide, "Side by side");
                super::places::log(ui, "Side by side", &side);
            });
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let zoom = ui.label(format!("{:.0} %", self.zoom * ui.ctx().pixels_per_point() * 100.0));
                super::places::log(ui, "zoom", &zoom);
                let zoom_in = ui.button(" + ").on_hover_text("Zoom in (+)");
                super::places::log(ui, "+", &zoom_in);
                if zoom_in.clicked() {
                    self.zoom_about(self.zoom * 1.5, None);
                }
                let zoom_out = ui.button(" − ").on_hover_text("Zoom out (−)");
                super::places::log(ui, "−", &zoom_out);
                if zoom_out.clicked() {
                    self.zoom_about(self.zoom / 1.5, None);
                }
                let one = ui.button("1:1").on_hover_text("One image pixel per screen pixel (1)");
                super::places::log(ui, "1:1", &one);
                if one.clicked() {
                    self.one_to_one(ui.ctx());
                }
                if ui.button("Fit").on_hover_text("0").clicked() {
                    self.fit_pending = true;
                }
                ui.separator();
                ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                    if has_result && self.compare == Compare::Split {
                        ui.spacing_mut().slider_width = (ui.available_width() / 2.0 - 8.0).clamp(16.0, 160.0);
                        ui.add(egui::Slider::new(&mut self.split, 0.0..=1.0).show_value(false)).on_hover_text(
                            "Where the line crosses the image (original left of it, result right), from its left \
                             edge to its right",
                        );
                    }
                    note(ui);
                });
            });
        });
    }

    /// The zoom keys: + (or =) and − zoom about the view's centre, 0 fits, 1 shows 1:1. The caller
    /// skips this while a text field has the keyboard.
    pub fn keys(&mut self, ctx: &egui::Context) {
        let (zoom_in, zoom_out, fit, one) = ctx.input_mut(|i| {
            let mut take =
                |key| i.consume_key(egui::Modifiers::NONE, key) || i.consume_key(egui::Modifiers::SHIFT, key);
            (take(Key::Plus) | take(Key::Equals), take(Key::Minus), take(Key::Num0), take(Key::Num1))
        });
        if zoom_in {
            self.zoom_about(self.zoom * 1.5, None);
        }
        if zoom_out {
            self.zoom_about(self.zoom / 1.5, None);
        }
        if fit {
            self.fit_pending = true;
        }
        if one {
            self.one_to_one(ctx);
        }
    }

    fn one_to_one(&mut self, ctx: &egui::Context) {
        self.zoom_about(1.0 / ctx.pixels_per_point(), None);
    }

    /// Keeps the image point under `anchor` (view coordinates; the view's centre when `None`)
    /// in place while zooming.
    fn zoom_about(&mut self, new_zoom: f32, anchor: Option<Vec2>) {
        let new_zoom = new_zoom.clamp(0.01, 64.0);
        let anchor = anchor.unwrap_or(self.last_view_size * 0.5);
        let image_point = (anchor - self.offset) / self.zoom;
        self.zoom = new_zoom;
        self.offset = anchor - image_point * new_zoom;
    }

    /// Shows `before` and, when there is one, `after`, filling the rest of `ui`. In the split
    /// view the primary button moves the line (it follows the pointer on the image); the
    /// secondary or middle button, or Space with the primary, pans. Elsewhere any drag pans.
    pub fn show(&mut self, ui: &mut Ui, before: &Picture, after: Option<&Picture>) -> ViewEvents {
        let mut events = ViewEvents::default();
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        let side_by_side = after.is_some() && self.compare == Compare::SideBySide;
        let splitting = after.is_some() && !side_by_side;
        let pane = if side_by_side { vec2(rect.width() / 2.0, rect.height()) } else { rect.size() };
        self.last_view_size = pane;
        if self.last_layout.replace((rect.size(), side_by_side)) != Some((rect.size(), side_by_side)) {
            // A result arrived in side by side, the mode changed, or the window was resized.
            self.fit_pending = true;
        }
        let size = before.size();
        // The result is drawn at the original's displayed size, whatever its own.
        let after_scale = after.map_or(1.0, |a| size.x / a.size().x.max(1.0));
        if self.fit_pending {
            self.zoom = (pane.x / size.x).min(pane.y / size.y).clamp(0.01, 64.0);
            self.offset = (pane - size * self.zoom) * 0.5;
            self.fit_pending = false;
            let shown = Rect::from_min_size(rect.min + self.offset, size * self.zoom);
            events.fitted = Some(shown);
            if let Some(a) = after {
                let at = if side_by_side { shown.translate(vec2(pane.x, 0.0)) } else { shown };
                let result = Rect::from_min_size(at.min, a.size() * self.zoom * after_scale);
                events.fitted_result = Some((result, [before.width, before.height], [a.width, a.height]));
            }
        }
        let space = ui.input(|i| i.key_down(Key::Space));
        let primary_pans = space || !splitting;
        let panning = response.dragged_by(PointerButton::Secondary)
            || response.dragged_by(PointerButton::Middle)
            || (response.dragged_by(PointerButton::Primary) && primary_pans);
        if panning {
            self.offset += response.drag_delta();
            ui.ctx().set_cursor_icon(CursorIcon::Grabbing);
        } else if splitting && !primary_pans {
            let moving = response.dragged_by(PointerButton::Primary) || response.clicked();
            if let (true, Some(p)) = (moving, response.interact_pointer_pos()) {
                self.split = ((p.x - rect.min.x - self.offset.x) / (size.x * self.zoom)).clamp(0.0, 1.0);
            }
            if response.drag_stopped_by(PointerButton::Primary) || response.clicked() {
                events.split_released = Some(self.split);
            }
            if response.hovered() {
                ui.ctx().set_cursor_icon(CursorIcon::ResizeHorizontal);
            }
        }
        if let Some(pointer) = response.hover_pos() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = pinch * (scroll / 300.0).exp();
            if factor != 1.0 {
                let mut local = pointer - rect.min;
                if side_by_side && local.x > pane.x {
                    local.x -= pane.x;
                }
                self.zoom_about(self.zoom * factor, Some(local));
            }
        }
        ui.painter().rect_filled(rect, 0.0, Color32::from_gray(24));
        match after {
            Some(after) if side_by_side => {
                let left = Rect::from_min_size(rect.min, pane);
                let right = Rect::from_min_size(rect.min + vec2(pane.x, 0.0), pane);
                before.paint(ui, left.min + self.offset, self.zoom, left);
                after.paint(ui, right.min + self.offset, self.zoom * after_scale, right);
                ui.painter().vline(right.min.x, rect.y_range(), Stroke::new(2.0, Color32::WHITE));
            }
            Some(after) => {
                let x = rect.min.x + self.offset.x + size.x * self.zoom * self.split;
                let (left, right) = (rect.intersect(rect.with_max_x(x)), rect.intersect(rect.with_min_x(x)));
                before.paint(ui, rect.min + self.offset, self.zoom, left);
                after.paint(ui, rect.min + self.offset, self.zoom * after_scale, right);
                if rect.x_range().contains(x) {
                    let line = Stroke::new(2.0, Color32::YELLOW);
                    let image_top = (rect.min.y + self.offset.y).max(rect.min.y);
                    let image_bottom = (rect.min.y + self.offset.y + size.y * self.zoom).min(rect.max.y);
                    ui.painter().vline(x, image_top..=image_bottom, line);
                    let grip = pos2(x, (image_top + image_bottom) / 2.0);
                    ui.painter().circle(grip, 7.0, Color32::from_black_alpha(160), line);
                }
            }
            None => before.paint(ui, rect.min + self.offset, self.zoom, rect),
        }
        if let Some(after) = after.filter(|a| (a.width, a.height) != (before.width, before.height)) {
            sizes_note(ui, rect, before, after);
        }
        events
    }
}

/// "original 512×512 · result 256×256, shown at the same size", in the view's bottom-left corner.
pub fn sizes_text(before: &Picture, after: &Picture) -> String {
    format!(
        "original {}×{} · result {}×{}, shown at the same size",
        before.width, before.height, after.width, after.height
    )
}

fn sizes_note(ui: &Ui, rect: Rect, before: &Picture, after: &Picture) {
    let painter = ui.painter().with_clip_rect(rect);
    let font = egui::TextStyle::Body.resolve(ui.style());
    let galley = painter.layout_no_wrap(sizes_text(before, after), font, Color32::WHITE);
    let at = rect.left_bottom() + vec2(8.0, -8.0 - galley.size().y);
    painter.rect_filled(Rect::from_min_size(at, galley.size()).expand(4.0), 3.0, Color32::from_black_alpha(190));
    painter.galley(at, galley, Color32::WHITE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui_kittest::Harness;

    struct View {
        viewer: Viewer,
        pictures: Option<(Picture, Picture)>,
    }

    /// A 100×100 picture and its result in a view of about 400×300 (less the harness's margin):
    /// fitted, centred on x = 200, its edges well inside the view.
    fn view() -> Harness<'static, View> {
        let mut h = Harness::builder().with_size([400.0, 300.0]).build_ui_state(
            |ui, v: &mut View| {
                let pics = v.pictures.get_or_insert_with(|| {
                    let img = crate::synth::picture(100, 100, 3, 1);
                    (Picture::upload(ui.ctx(), "b", &img), Picture::upload(ui.ctx(), "a", &img))
                });
                ui.spacing_mut().item_spacing = Vec2::ZERO;
                v.viewer.show(ui, &pics.0, Some(&pics.1));
            },
            View { viewer: Viewer::default(), pictures: None },
        );
        h.run();
        h
    }

    fn drag(h: &mut Harness<'static, View>, button: PointerButton, from: egui::Pos2, to: egui::Pos2) {
        let at = |pos| egui::Event::PointerButton { pos, button, pressed: true, modifiers: Default::default() };
        h.event(egui::Event::PointerMoved(from));
        h.event(at(from));
        h.run();
        for step in 1..=10 {
            h.event(egui::Event::PointerMoved(from + (to - from) * step as f32 / 10.0));
            h.run();
        }
        h.event(egui::Event::PointerButton { pos: to, button, pressed: false, modifiers: Default::default() });
        h.run();
    }

    #[test]
    fn the_split_line_is_in_image_coordinates_and_dragged_on_the_image_to_either_edge() {
        let mut h = view();
        assert_eq!(h.state().viewer.split, 0.5, "the image's centre");
        drag(&mut h, PointerButton::Primary, pos2(200.0, 150.0), pos2(395.0, 150.0));
        assert_eq!(h.state().viewer.split, 1.0, "at the right edge: only the original");
        drag(&mut h, PointerButton::Primary, pos2(395.0, 150.0), pos2(2.0, 150.0));
        assert_eq!(h.state().viewer.split, 0.0, "at the left edge: only the result");
        // The line jumps to where the image is pressed (its centre here), then follows the pointer
        // in image pixels, whatever the zoom.
        drag(&mut h, PointerButton::Primary, pos2(200.0, 150.0), pos2(125.0, 150.0));
        let v = &h.state().viewer;
        let expected = 0.5 - 75.0 / (100.0 * v.zoom);
        assert!((v.split - expected).abs() < 0.01, "{} instead of {expected}", v.split);
    }

    #[test]
    fn switching_to_side_by_side_refits_so_both_halves_show_the_whole_picture() {
        let mut h = view();
        let split_zoom = h.state().viewer.zoom;
        h.state_mut().viewer.compare = Compare::SideBySide;
        h.state_mut().viewer.refit(); // what the toolbar does on a mode change
        h.run();
        let v = &h.state().viewer;
        let pane = v.last_view_size;
        assert!(v.zoom < split_zoom, "{split_zoom} then {}", v.zoom);
        assert_eq!(v.zoom, (pane.x / 100.0).min(pane.y / 100.0), "fitted to one half: {pane:?}");
        assert!(v.offset.x >= 0.0 && v.offset.y >= 0.0, "the whole picture in each half: {:?}", v.offset);
    }

    #[test]
    fn a_smaller_result_is_drawn_over_the_whole_original_in_both_modes_with_both_sizes_written() {
        for compare in [Compare::Split, Compare::SideBySide] {
            let mut h = Harness::builder().with_size([400.0, 300.0]).build_ui_state(
                |ui, s: &mut (Viewer, Option<(Picture, Picture)>, Vec<ViewEvents>)| {
                    let pics = s.1.get_or_insert_with(|| {
                        let (big, small) = (crate::synth::picture(120, 80, 3, 1), crate::synth::picture(60, 40, 3, 2));
                        (Picture::upload(ui.ctx(), "b", &big), Picture::upload(ui.ctx(), "a", &small))
                    });
                    let events = s.0.show(ui, &pics.0, Some(&pics.1));
                    s.2.push(events);
                },
                (Viewer { compare, ..Viewer::default() }, None, Vec::new()),
            );
            h.run();
            let events = &h.state().2;
            let (shown, (result, before, after)) =
                events.iter().find_map(|e| Some((e.fitted?, e.fitted_result?))).expect("the first frame fits the view");
            assert_eq!((before, after), ([120, 80], [60, 40]));
            assert!((result.size() - shown.size()).length() < 0.01, "{compare:?}: {result:?} vs {shown:?}");
            match compare {
                Compare::Split => assert_eq!(result.min, shown.min),
                Compare::SideBySide => assert!(result.min.x >= shown.max.x, "{result:?} beside {shown:?}"),
            }
            let (b, a) = h.state().1.as_ref().unwrap();
            assert_eq!(sizes_text(b, a), "original 120×80 · result 60×40, shown at the same size");
        }
    }

    #[test]
    fn the_other_button_pans_and_leaves_the_line_on_the_same_image_column() {
        let mut h = view();
        drag(&mut h, PointerButton::Secondary, pos2(200.0, 150.0), pos2(100.0, 150.0));
        let v = &h.state().viewer;
        assert_eq!(v.split, 0.5);
        assert!((v.offset.x + 50.0).abs() < 1.0, "panned by the drag: {:?}", v.offset);
    }
}
