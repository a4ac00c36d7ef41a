//! Where the widgets the e2e test drives lie on screen: each is logged ("imgproc gui: place:
//! Process at 12,40 size 80x24 px", in physical pixels) when it first shows and whenever it
//! moves, so `tests/gui_e2e.sh` can click it with xdotool and check that it keeps its place.
//! Knows nothing of the app; remembers the last place in egui's memory.

use egui::{Id, Rect, Response, Ui};

/// Logs `response`'s rectangle under `name` if it moved since it was last logged.
pub fn log(ui: &Ui, name: &str, response: &Response) {
    log_rect(ui, name, response.rect);
}

/// Logs `rect` (in points) under `name` if it changed since it was last logged.
pub fn log_rect(ui: &Ui, name: &str, rect: Rect) {
    let ppp = ui.ctx().pixels_per_point();
    let px = [rect.min.x, rect.min.y, rect.width(), rect.height()].map(|v| (v * ppp).round() as i32);
    let id = Id::unique(("place", name));
    let before = ui.data(|d| d.get_temp::<[i32; 4]>(id));
    if before != Some(px) {
        eprintln!("imgproc gui: place: {name} at {},{} size {}x{} px", px[0], px[1], px[2], px[3]);
        ui.data_mut(|d| d.insert_temp(id, px));
    }
}
