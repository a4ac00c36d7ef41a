//! The image formats imgproc knows by extension: one table that the batch's folder scan, the
//! video's frame lists, the piece writers and the GUI's dialogs all read, so a format is added in
//! one place. Which of them OpenCV can actually write is asked of OpenCV (`codec::check_format`).

use std::path::Path;

/// A format's family: what decides how it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Png,
    Jpeg,
    Tiff,
    Bmp,
    /// Binary PPM (colour) and PGM (gray).
    Pnm,
    /// Bitmaps of one bit per pixel.
    Pbm,
    WebP,
    Jpeg2000,
    SunRaster,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct ImageFormat {
    pub family: Family,
    /// What a person calls it, for dialogs.
    pub name: &'static str,
    /// Lower-case, the usual one first.
    pub extensions: &'static [&'static str],
    /// Offered as a batch's output format in the GUI, with this label.
    pub batch_label: Option<&'static str>,
    /// Offered in the GUI's save dialog.
    pub in_save_dialog: bool,
    /// Can be encoded as pieces on several ranks and joined (`pieces`).
    pub in_pieces: bool,
}

const fn format(family: Family, name: &'static str, extensions: &'static [&'static str]) -> ImageFormat {
    ImageFormat { family, name, extensions, batch_label: None, in_save_dialog: false, in_pieces: false }
}

/// Every format, in the order dialogs list them.
pub const FORMATS: &[ImageFormat] = &[
    ImageFormat {
        batch_label: Some("PNG (lossless)"),
        in_save_dialog: true,
        in_pieces: true,
        ..format(Family::Png, "PNG", &["png"])
    },
    ImageFormat {
        batch_label: Some("JPEG (lossy)"),
        in_save_dialog: true,
        in_pieces: true,
        ..format(Family::Jpeg, "JPEG", &["jpg", "jpeg"])
    },
    ImageFormat {
        batch_label: Some("TIFF (lossless)"),
        in_save_dialog: true,
        in_pieces: true,
        ..format(Family::Tiff, "TIFF", &["tif", "tiff"])
    },
    ImageFormat { batch_label: Some("WebP"), in_save_dialog: true, ..format(Family::WebP, "WebP", &["webp"]) },
    ImageFormat {
        batch_label: Some("BMP"),
        in_save_dialog: true,
        in_pieces: true,
        ..format(Family::Bmp, "BMP", &["bmp"])
    },
    // OpenCV reads and writes .dib as BMP; it is not offered, and not written in pieces.
    format(Family::Bmp, "DIB", &["dib"]),
    ImageFormat { in_pieces: true, ..format(Family::Pnm, "PPM/PGM", &["ppm", "pgm", "pnm"]) },
    format(Family::Pbm, "PBM", &["pbm"]),
    format(Family::Jpeg2000, "JPEG 2000", &["jp2"]),
    format(Family::SunRaster, "Sun raster", &["sr"]),
];

/// The format of an extension (any case), if it is an image format.
pub fn by_extension(ext: &str) -> Option<&'static ImageFormat> {
    let ext = ext.to_ascii_lowercase();
    FORMATS.iter().find(|f| f.extensions.contains(&ext.as_str()))
}

/// Every image extension, lower-case (a folder scan's and an open dialog's filter).
pub fn image_extensions() -> Vec<&'static str> {
    FORMATS.iter().flat_map(|f| f.extensions.iter().copied()).collect()
}

/// True when the file's extension is an image format's.
pub fn is_image_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| by_extension(e).is_some())
}

/// The GUI's batch output choices: (label, extension), in table order.
pub fn batch_outputs() -> impl Iterator<Item = (&'static str, &'static str)> {
    FORMATS.iter().filter_map(|f| Some((f.batch_label?, f.extensions[0])))
}

/// The GUI's save dialog filters: (name, extensions), in table order.
pub fn save_filters() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    FORMATS.iter().filter(|f| f.in_save_dialog).map(|f| (f.name, f.extensions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_extension_names_one_format_whatever_its_case() {
        let all = image_extensions();
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(all.len(), unique.len(), "an extension in two rows");
        assert_eq!(by_extension("JPEG").map(|f| f.family), Some(Family::Jpeg));
        assert!(is_image_path(Path::new("a/b.TiF")));
        assert!(!is_image_path(Path::new("a/b.mp4")) && !is_image_path(Path::new("a/b")));
    }

    #[test]
    fn what_the_gui_offers_is_what_opencv_writes() {
        for (_, ext) in batch_outputs() {
            crate::codec::check_format(ext).unwrap();
        }
        for (_, exts) in save_filters() {
            exts.iter().for_each(|e| crate::codec::check_format(e).unwrap());
        }
        assert_eq!(batch_outputs().map(|(_, e)| e).collect::<Vec<_>>(), ["png", "jpg", "tif", "webp", "bmp"]);
    }
}
