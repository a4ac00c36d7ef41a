//! Files and encodings: reading an image safely, encoding a result, and writing it atomically.
//!
//! Every error names the file and the reason. A header that declares more pixels than the limit is
//! refused before any decoding, so a hostile or mistaken file cannot exhaust a rank's memory.

use crate::cvio::imgcodecs;
use crate::image::{Depth, Image, Keep};
use crate::ops::{mat_view, mat_view_mut};
use anyhow::{bail, ensure, Context, Result};
use opencv::core::{Mat, Vector};
use opencv::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Default `--max-pixels`: 2³⁰, the same ceiling OpenCV itself applies.
pub const DEFAULT_MAX_PIXELS: u64 = 1 << 30;

/// Marker in the name of files being written; a stale one is a write that never finished.
pub const TMP_MARKER: &str = ".imgproc-tmp-";

/// Reads a whole file, refusing an empty one.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    ensure!(!bytes.is_empty(), "{}: empty file (0 bytes)", path.display());
    Ok(bytes)
}

/// Checks the declared size in the header against `max_pixels` without decoding.
/// Formats whose header we cannot read are checked after decoding instead.
pub fn check_header(bytes: &[u8], name: &str, max_pixels: u64) -> Result<()> {
    if let Ok(size) = imagesize::blob_size(bytes) {
        let pixels = size.width as u64 * size.height as u64;
        ensure!(
            pixels <= max_pixels,
            "{name}: header declares {}x{} = {pixels} pixels, more than the limit of {max_pixels} (--max-pixels)",
            size.width,
            size.height
        );
    }
    Ok(())
}

/// Decodes encoded bytes into an 8-bit gray or BGR image (alpha is dropped).
pub fn decode(bytes: &[u8], name: &str, max_pixels: u64) -> Result<Image> {
    ensure!(!bytes.is_empty(), "{name}: empty file (0 bytes)");
    check_header(bytes, name, max_pixels)?;
    if is_jpeg(bytes) {
        // libjpeg "decodes" a truncated file with a warning and grey rows; refuse it instead.
        ensure!(jpeg_is_complete(bytes), "{name}: truncated JPEG (no end-of-image marker)");
    }
    // A header over the caller's bytes: no copy of the encoded file.
    let src = Mat::from_slice(bytes)?;
    if let Ok(size) = imagesize::blob_size(bytes) {
        if let Some(img) = decode_in_place(&src, size.width, size.height, name)? {
            return Ok(img);
        }
    }
    let mat =
        imgcodecs::imdecode(&src, imgcodecs::IMREAD_ANYCOLOR).with_context(|| format!("{name}: cannot decode"))?;
    checked(&mat, name, max_pixels)?;
    from_mat(&mat).with_context(|| format!("{name}: unsupported pixel layout"))
}

fn checked(mat: &impl MatTraitConst, name: &str, max_pixels: u64) -> Result<()> {
    ensure!(!mat.empty(), "{name}: not a readable image (corrupt, truncated or not an image format OpenCV reads)");
    let pixels = mat.rows() as u64 * mat.cols() as u64;
    ensure!(pixels <= max_pixels, "{name}: {pixels} pixels, more than the limit of {max_pixels} (--max-pixels)");
    Ok(())
}

/// Decodes straight into the pixels of a new colour [`Image`] of the size the header declares, so
/// rank 0 never holds the image twice (decoded by OpenCV, then copied). When the file turns out
/// gray or with alpha, OpenCV allocates a buffer of its own instead and this copies from it.
/// `Ok(None)`: the header's size was wrong; decode the ordinary way.
fn decode_in_place(src: &impl MatTraitConst, width: usize, height: usize, name: &str) -> Result<Option<Image>> {
    let mut img = Image::zeros(width, height, 3);
    let own = img.data.as_ptr();
    let copied = {
        let mut view = mat_view_mut(&mut img)?;
        imgcodecs::imdecode_to(src, imgcodecs::IMREAD_ANYCOLOR, &mut view)
            .with_context(|| format!("{name}: cannot decode"))?;
        checked(&view, name, u64::MAX)?;
        if view.data() == own && view.typ() == opencv::core::CV_8UC3 {
            None
        } else if view.rows() as usize == height && view.cols() as usize == width {
            // Gray or with alpha: OpenCV decoded into a buffer of its own (smaller than ours).
            let mut decoded = Mat::default();
            view.copy_to(&mut decoded)?;
            Some(from_mat(&decoded).with_context(|| format!("{name}: unsupported pixel layout"))?)
        } else {
            return Ok(None);
        }
    };
    Ok(Some(copied.unwrap_or(img)))
}

/// Reads and decodes a file.
pub fn read_image(path: &Path, max_pixels: u64) -> Result<Image> {
    let bytes = read_file(path)?;
    decode(&bytes, &path.display().to_string(), max_pixels)
}

/// Reads and decodes a file as it is when its header declares 16-bit samples or alpha that
/// `keep` keeps ([`FileLayout`](crate::file_layout::FileLayout); OpenCV's `IMREAD_UNCHANGED`),
/// then drops what `keep` does not keep ([`Image::reduced`]); any other file (or one whose depth
/// and alpha are all dropped) as [`read_image`] does, as imgproc always read it.
pub fn read_image_keeping(path: &Path, max_pixels: u64, keep: Keep) -> Result<Image> {
    let bytes = read_file(path)?;
    decode_keeping(&bytes, &path.display().to_string(), max_pixels, keep)
}

/// [`read_image_keeping`] on bytes in memory.
pub fn decode_keeping(bytes: &[u8], name: &str, max_pixels: u64, keep: Keep) -> Result<Image> {
    if !crate::file_layout::FileLayout::probe(bytes).is_some_and(|l| l.kept_by(keep)) {
        return decode(bytes, name, max_pixels);
    }
    check_header(bytes, name, max_pixels)?;
    let src = Mat::from_slice(bytes)?;
    let mat =
        imgcodecs::imdecode(&src, imgcodecs::IMREAD_UNCHANGED).with_context(|| format!("{name}: cannot decode"))?;
    checked(&mat, name, max_pixels)?;
    if !matches!(mat.channels(), 1 | 3 | 4) {
        // Gray with alpha as two channels: as imgproc always read it, gray without its alpha.
        return decode(bytes, name, max_pixels);
    }
    let depth = match mat.depth() {
        opencv::core::CV_8U => Depth::U8,
        opencv::core::CV_16U => Depth::U16,
        d => bail!("{name}: samples of OpenCV depth {d} are not supported"),
    };
    let (w, h, c) = (mat.cols() as usize, mat.rows() as usize, mat.channels() as usize);
    let mut img = Image::zeros_as(w, h, c, depth);
    {
        let mut dst = mat_view_mut(&mut img)?;
        mat.copy_to(&mut dst)?;
    }
    Ok(img.reduced(keep))
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Whether a JPEG ends with its end-of-image marker (trailing padding allowed); libjpeg would
/// "decode" a truncated one with grey rows and a warning.
pub(crate) fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let end = bytes.iter().rposition(|&b| b != 0 && !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    bytes[..end].ends_with(&[0xFF, 0xD9])
}

/// Copies a decoded `Mat` into an [`Image`], converting BGRA to BGR.
fn from_mat(mat: &Mat) -> Result<Image> {
    ensure!(mat.depth() == opencv::core::CV_8U, "only 8-bit images are supported");
    let converted;
    let mat = match mat.channels() {
        1 | 3 => mat,
        4 => {
            let mut bgr = Mat::default();
            opencv::imgproc::cvt_color(mat, &mut bgr, opencv::imgproc::COLOR_BGRA2BGR, 0)?;
            converted = bgr;
            &converted
        }
        c => bail!("{c} channels"),
    };
    let (w, h, c) = (mat.cols() as usize, mat.rows() as usize, mat.channels() as usize);
    let mut img = Image::zeros(w, h, c);
    {
        let mut dst = mat_view_mut(&mut img)?;
        mat.copy_to(&mut dst)?;
    }
    Ok(img)
}

/// Encodes an image in the format named by `ext` ("png", "jpg", ...).
pub fn encode(img: &Image, ext: &str) -> Result<Encoded> {
    let view = mat_view(img)?;
    let buf = imgcodecs::imencode(&format!(".{ext}"), &view, &[]).with_context(|| format!("encoding as {ext}"))?;
    let buf = buf.with_context(|| format!("OpenCV could not encode the image as {ext}"))?;
    Ok(Encoded(buf))
}

/// An encoded file, in the buffer OpenCV wrote it to: read as bytes where it is, not copied out
/// (for an 8K PNG that copy was tens of MB on top of the image at rank 0's peak).
pub struct Encoded(Vector<u8>);

impl AsRef<[u8]> for Encoded {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::ops::Deref for Encoded {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// The extension of `path`, lower-case, checked to be a format imgproc can write.
pub fn output_format(path: &Path) -> Result<String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .with_context(|| format!("{}: no file extension to choose the output format from", path.display()))?;
    check_format(&ext).with_context(|| format!("{}: cannot write this format", path.display()))?;
    Ok(ext)
}

/// Checks that the extension names a format imgproc can write: one whose pieces imgproc encodes
/// with its own code (PNG, TIFF, BMP, PNM: `pieces`; OpenCV writes these too, whole, in every
/// build imgproc runs on), or one OpenCV has a writer for. Asking OpenCV loads its codecs
/// (`cvio`, about 100 ms), which a job written in pieces never needs otherwise.
pub fn check_format(ext: &str) -> Result<()> {
    let own = crate::pieces::PieceFormat::from_ext(ext).is_some_and(|p| p.own_encoder());
    // A shim that cannot be loaded is its own error, not an "unknown format".
    let ok = own || imgcodecs::have_image_writer(format!("x.{ext}").as_str()).context("asking OpenCV for a writer")?;
    ensure!(ok, "unknown image format '{ext}' (try png, jpg, bmp, tiff, webp)");
    Ok(())
}

/// Writes `bytes` to `path` so that readers see the old file or the complete new one, never a
/// part: write to a temporary name in the same folder, flush to disk, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temp(path, bytes)?;
    commit(&tmp, path)
}

/// Writes `bytes` under a temporary name beside `path` (unique to this process and call), flushed
/// to disk; [`commit`] puts it in place. On failure nothing is left behind.
pub fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = temp_name(path);
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("{}: cannot write", path.display()));
    }
    Ok(tmp)
}

/// Renames a file from [`write_temp`] to `path`, atomically; removes it if that fails.
pub fn commit(tmp: &Path, path: &Path) -> Result<()> {
    if let Err(e) = std::fs::rename(tmp, path) {
        let _ = std::fs::remove_file(tmp);
        return Err(e).with_context(|| format!("{}: cannot write", path.display()));
    }
    Ok(())
}

/// Whether `e` comes from a full file system (or an exhausted quota) anywhere in its chain.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|code| code == libc::ENOSPC || code == libc::EDQUOT)
    })
}

/// A temporary name beside `path`, unique to this process and call (see [`write_temp`]).
pub fn temp_name(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Process id, host and a counter: ranks on several hosts may write beside one shared output.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: u32 = host.trim().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}{TMP_MARKER}{host:08x}-{}-{n}", std::process::id()))
}

/// Removes temporary files that an interrupted run left in `dir`; returns how many.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().contains(TMP_MARKER) {
            std::fs::remove_file(entry.path()).with_context(|| format!("{}: cannot remove", entry.path().display()))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Image {
        Image::from_vec(5, 3, 3, (0..45).map(|v| (v * 5) as u8).collect()).unwrap()
    }

    #[test]
    fn png_round_trips_exactly_and_keeps_gray_as_one_channel() {
        let img = sample();
        assert_eq!(decode(&encode(&img, "png").unwrap(), "x.png", DEFAULT_MAX_PIXELS).unwrap(), img);
        let gray = Image::from_vec(4, 2, 1, vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert_eq!(decode(&encode(&gray, "png").unwrap(), "g.png", DEFAULT_MAX_PIXELS).unwrap(), gray);
    }

    #[test]
    fn a_16_bit_rgba_png_is_read_as_it_is_and_kept_only_as_far_as_asked() {
        let px: Vec<u8> = (0..5 * 3 * 4).flat_map(|i| ((i * 4099 % 65536) as u16).to_ne_bytes()).collect();
        let deep = Image::from_vec_as(5, 3, 4, Depth::U16, px).unwrap();
        let png = encode(&deep, "png").unwrap();
        assert_eq!(decode_keeping(&png, "d.png", DEFAULT_MAX_PIXELS, Keep::ALL).unwrap(), deep, "round trip");
        let no_alpha = Keep { depth16: true, alpha: false };
        assert_eq!(
            decode_keeping(&png, "d.png", DEFAULT_MAX_PIXELS, no_alpha).unwrap(),
            deep.clone().reduced(no_alpha)
        );
        // Nothing kept: read as it always was (OpenCV's 8-bit colour decode).
        let plain = decode_keeping(&png, "d.png", DEFAULT_MAX_PIXELS, Keep::NONE).unwrap();
        assert_eq!(plain, decode(&png, "d.png", DEFAULT_MAX_PIXELS).unwrap());
        assert_eq!((plain.depth, plain.channels), (Depth::U8, 3));
        // An ordinary file reads as it always did.
        let img = sample();
        let plain = encode(&img, "png").unwrap();
        assert_eq!(decode_keeping(&plain, "p.png", DEFAULT_MAX_PIXELS, Keep::ALL).unwrap(), img);
    }

    #[test]
    fn bad_bytes_are_refused_with_the_file_name() {
        let e = decode(b"hello, not an image", "notes.png", DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(e.to_string().contains("notes.png"), "{e}");
        assert!(decode(b"", "empty.png", DEFAULT_MAX_PIXELS).unwrap_err().to_string().contains("empty"));
        let png = encode(&sample(), "png").unwrap();
        assert!(decode(&png[..png.len() / 2], "cut.png", DEFAULT_MAX_PIXELS).is_err());
        let jpg = encode(&sample(), "jpg").unwrap();
        let e = decode(&jpg[..jpg.len() - 10], "cut.jpg", DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn a_header_declaring_too_many_pixels_is_refused_before_decoding() {
        let png = encode(&sample(), "png").unwrap();
        let e = decode(&png, "big.png", 10).unwrap_err().to_string();
        assert!(e.contains("header declares 5x3") && e.contains("--max-pixels"), "{e}");
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        write_atomic(&path, b"abc").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        std::fs::write(dir.path().join(format!(".x.png{TMP_MARKER}12")), b"half").unwrap();
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 1);
        assert!(write_atomic(&dir.path().join("missing/out.png"), b"abc").is_err());
    }

    #[test]
    fn output_format_follows_the_extension() {
        assert_eq!(output_format(Path::new("a/b.PNG")).unwrap(), "png");
        assert!(output_format(Path::new("a/b")).is_err());
        assert!(output_format(Path::new("a/b.xyz")).is_err());
    }
}
