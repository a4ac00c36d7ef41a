//! OpenCV's `imdecode`, `imencode`, `imread`, `imwrite` and `haveImageWriter`, through the codecs
//! shim (`csrc/cv_codecs.cpp`), loaded on first use.

use super::plugin::{checked, once};
use anyhow::{Context, Result};
use opencv::core::{Mat, Vector};
use opencv::prelude::*;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::OnceLock;

// OpenCV's flag values (`cv::ImreadModes`, `cv::ImwriteFlags`); the shim checks each against
// OpenCV's headers at build time.
pub const IMREAD_UNCHANGED: i32 = -1;
pub const IMREAD_ANYCOLOR: i32 = 4;
pub const IMWRITE_JPEG_QUALITY: i32 = 1;
pub const IMWRITE_JPEG_PROGRESSIVE: i32 = 2;
pub const IMWRITE_JPEG_OPTIMIZE: i32 = 3;
pub const IMWRITE_JPEG_RST_INTERVAL: i32 = 4;
pub const IMWRITE_JPEG_LUMA_QUALITY: i32 = 5;
pub const IMWRITE_JPEG_CHROMA_QUALITY: i32 = 6;
pub const IMWRITE_PNG_COMPRESSION: i32 = 16;
pub const IMWRITE_PXM_BINARY: i32 = 32;
pub const IMWRITE_TIFF_COMPRESSION: i32 = 259;

type Err = *mut c_char;
type Decode = unsafe extern "C" fn(*const c_void, c_int, *mut *mut c_void, Err, usize) -> c_int;
type DecodeTo = unsafe extern "C" fn(*const c_void, c_int, *mut c_void, Err, usize) -> c_int;
type Read = unsafe extern "C" fn(*const c_char, c_int, *mut *mut c_void, Err, usize) -> c_int;
type Encode = unsafe extern "C" fn(
    *const c_char,
    *const c_void,
    *const c_int,
    usize,
    *mut *mut c_void,
    *mut c_int,
    Err,
    usize,
) -> c_int;
type Write = unsafe extern "C" fn(*const c_char, *const c_void, *const c_int, usize, *mut c_int, Err, usize) -> c_int;
type HaveWriter = unsafe extern "C" fn(*const c_char, *mut c_int, Err, usize) -> c_int;

/// The shim's functions.
struct Codecs {
    decode: Decode,
    decode_to: DecodeTo,
    read: Read,
    encode: Encode,
    write: Write,
    have_writer: HaveWriter,
}

static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libimgproc_cv_codecs.so"));

/// Loads the shim now rather than at the first image: a server's ranks do it as it starts, so
/// its first job does not wait the ~0.1 s the dynamic loader takes for OpenCV's codecs.
pub fn preload() -> Result<()> {
    codecs().map(|_| ())
}

/// The shim, loaded by the first caller; a failure to load is kept and given to every caller.
fn codecs() -> Result<&'static Codecs> {
    static CODECS: OnceLock<Result<Codecs, String>> = OnceLock::new();
    once(&CODECS, "imgcodecs", SHIM, |p| {
        // SAFETY: each type above is the signature csrc/cv_codecs.cpp gives the symbol.
        unsafe {
            Ok(Codecs {
                decode: p.function("imgproc_imdecode")?,
                decode_to: p.function("imgproc_imdecode_to")?,
                read: p.function("imgproc_imread")?,
                encode: p.function("imgproc_imencode")?,
                write: p.function("imgproc_imwrite")?,
                have_writer: p.function("imgproc_have_image_writer")?,
            })
        }
    })
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("{s:?}: contains a NUL byte"))
}

/// `cv::imdecode`: the decoded image (empty when OpenCV cannot read the bytes).
pub fn imdecode(buf: &impl MatTraitConst, flags: i32) -> Result<Mat> {
    let f = codecs()?;
    let mut out: *mut c_void = std::ptr::null_mut();
    // SAFETY: a live Mat, a pointer to receive the new one, the caller's message buffer.
    checked(|err, n| unsafe { (f.decode)(buf.as_raw_Mat(), flags, &mut out, err, n) })?;
    // SAFETY: on success the shim gave a Mat allocated with new, now owned by the crate's Mat.
    Ok(unsafe { Mat::from_raw(out) })
}

/// `cv::imdecode` into `dst`: into its own pixels when their size and type fit the image.
pub fn imdecode_to(buf: &impl MatTraitConst, flags: i32, dst: &mut impl MatTrait) -> Result<()> {
    let f = codecs()?;
    // SAFETY: two live Mats and the caller's message buffer.
    checked(|err, n| unsafe { (f.decode_to)(buf.as_raw_Mat(), flags, dst.as_raw_mut_Mat(), err, n) })
}

/// `cv::imread`: the decoded file (empty when OpenCV cannot read it).
pub fn imread(path: &str, flags: i32) -> Result<Mat> {
    let f = codecs()?;
    let path = c_string(path)?;
    let mut out: *mut c_void = std::ptr::null_mut();
    // SAFETY: a NUL-terminated path, a pointer to receive the new Mat, the message buffer.
    checked(|err, n| unsafe { (f.read)(path.as_ptr(), flags, &mut out, err, n) })?;
    // SAFETY: as in imdecode.
    Ok(unsafe { Mat::from_raw(out) })
}

/// `cv::imencode` with the extension (".png") and flag pairs: the bytes, or `None` when OpenCV
/// answered that it could not encode.
pub fn imencode(ext: &str, img: &impl MatTraitConst, params: &[i32]) -> Result<Option<Vector<u8>>> {
    let f = codecs()?;
    let ext = c_string(ext)?;
    let mut out: *mut c_void = std::ptr::null_mut();
    let mut ok: c_int = 0;
    // SAFETY: a NUL-terminated extension, a live Mat, `params` as pointer and length, pointers to
    // receive the vector and the answer, the message buffer.
    checked(|err, n| unsafe {
        (f.encode)(ext.as_ptr(), img.as_raw_Mat(), params.as_ptr(), params.len(), &mut out, &mut ok, err, n)
    })?;
    // SAFETY: on success the shim gave a std::vector<uchar> allocated with new, the type the
    // crate's Vector<u8> boxes.
    let bytes = unsafe { Vector::<u8>::from_raw(out) };
    Ok((ok != 0).then_some(bytes))
}

/// `cv::imwrite`: whether OpenCV wrote the file.
pub fn imwrite(path: &str, img: &impl MatTraitConst, params: &[i32]) -> Result<bool> {
    let f = codecs()?;
    let path = c_string(path)?;
    let mut ok: c_int = 0;
    // SAFETY: as in imencode, without the vector.
    checked(|err, n| unsafe {
        (f.write)(path.as_ptr(), img.as_raw_Mat(), params.as_ptr(), params.len(), &mut ok, err, n)
    })?;
    Ok(ok != 0)
}

/// `cv::haveImageWriter`: whether OpenCV can write a file of this name's extension.
pub fn have_image_writer(name: &str) -> Result<bool> {
    let f = codecs()?;
    let name = c_string(name)?;
    let mut ok: c_int = 0;
    // SAFETY: a NUL-terminated name, a pointer to receive the answer, the message buffer.
    checked(|err, n| unsafe { (f.have_writer)(name.as_ptr(), &mut ok, err, n) })?;
    Ok(ok != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_through_the_loaded_shim() {
        let pixels: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let img = Mat::new_rows_cols_with_data(3, 12, &pixels).unwrap();
        let png = imencode(".png", &img, &[IMWRITE_PNG_COMPRESSION, 9]).unwrap().expect("OpenCV writes PNG");
        assert!(png.as_slice().starts_with(b"\x89PNG"));
        let src = Mat::from_slice(png.as_slice()).unwrap();
        let back = imdecode(&src, IMREAD_UNCHANGED).unwrap();
        assert_eq!((back.rows(), back.cols(), back.channels()), (3, 12, 1));
        assert_eq!(back.data_bytes().unwrap(), &pixels[..]);
    }

    #[test]
    fn opencv_errors_come_back_as_messages() {
        // An extension OpenCV has no encoder for: imencode throws, the shim reports it.
        let img = Mat::new_rows_cols_with_default(2, 2, opencv::core::CV_8UC1, 0.into()).unwrap();
        let err = imencode(".nosuchformat", &img, &[]).unwrap_err();
        assert!(format!("{err}").contains("could not find encoder"), "{err}");
        assert!(!have_image_writer("x.nosuchformat").unwrap());
        assert!(have_image_writer("x.png").unwrap());
    }

    #[test]
    fn undecodable_bytes_give_an_empty_mat() {
        let junk = [1u8, 2, 3, 4, 5];
        let src = Mat::from_slice(&junk).unwrap();
        assert!(imdecode(&src, IMREAD_ANYCOLOR).unwrap().empty());
    }
}
