//! OpenCV's `VideoCapture`, through the video shim (`csrc/cv_video.cpp`), loaded on first use.

use super::plugin::{checked, once};
use anyhow::{Context, Result};
use opencv::prelude::*;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::OnceLock;

// OpenCV's values (`cv::VideoCaptureAPIs`, `cv::VideoCaptureProperties`); the shim checks each
// against OpenCV's headers at build time.
pub const CAP_FFMPEG: i32 = 1900;
pub const CAP_PROP_POS_MSEC: i32 = 0;
pub const CAP_PROP_POS_FRAMES: i32 = 1;

type Err = *mut c_char;
type Open = unsafe extern "C" fn(*const c_char, c_int, *mut *mut c_void, Err, usize) -> c_int;
type Free = unsafe extern "C" fn(*mut c_void);
type IsOpened = unsafe extern "C" fn(*const c_void, *mut c_int, Err, usize) -> c_int;
type ReadFrame = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_int, Err, usize) -> c_int;
type Grab = unsafe extern "C" fn(*mut c_void, *mut c_int, Err, usize) -> c_int;
type Get = unsafe extern "C" fn(*const c_void, c_int, *mut f64, Err, usize) -> c_int;
type Set = unsafe extern "C" fn(*mut c_void, c_int, f64, *mut c_int, Err, usize) -> c_int;

/// The shim's functions.
struct Video {
    open: Open,
    free: Free,
    is_opened: IsOpened,
    read: ReadFrame,
    grab: Grab,
    get: Get,
    set: Set,
}

static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libimgproc_cv_video.so"));

/// The shim, loaded by the first caller; a failure to load is kept and given to every caller.
fn video() -> Result<&'static Video> {
    static VIDEO: OnceLock<Result<Video, String>> = OnceLock::new();
    once(&VIDEO, "videoio", SHIM, |p| {
        // SAFETY: each type above is the signature csrc/cv_video.cpp gives the symbol.
        unsafe {
            Ok(Video {
                open: p.function("imgproc_capture_open")?,
                free: p.function("imgproc_capture_free")?,
                is_opened: p.function("imgproc_capture_is_opened")?,
                read: p.function("imgproc_capture_read")?,
                grab: p.function("imgproc_capture_grab")?,
                get: p.function("imgproc_capture_get")?,
                set: p.function("imgproc_capture_set")?,
            })
        }
    })
}

/// A `cv::VideoCapture`, released when dropped.
pub struct VideoCapture {
    raw: *mut c_void,
    f: &'static Video,
}

// SAFETY: a capture is used by one thread at a time (&mut self for every call that changes it),
// as OpenCV allows; it may move between threads.
unsafe impl Send for VideoCapture {}

impl VideoCapture {
    /// `cv::VideoCapture(path, api)`: opened or not (see [`is_opened`](Self::is_opened)).
    pub fn from_file(path: &str, api: i32) -> Result<VideoCapture> {
        let f = video()?;
        let path = CString::new(path).with_context(|| format!("{path:?}: contains a NUL byte"))?;
        let mut raw: *mut c_void = std::ptr::null_mut();
        // SAFETY: a NUL-terminated path, a pointer to receive the capture, the message buffer.
        checked(|err, n| unsafe { (f.open)(path.as_ptr(), api, &mut raw, err, n) })?;
        Ok(VideoCapture { raw, f })
    }

    pub fn is_opened(&self) -> Result<bool> {
        let mut ok: c_int = 0;
        // SAFETY: a live capture, a pointer to receive the answer, the message buffer.
        checked(|err, n| unsafe { (self.f.is_opened)(self.raw, &mut ok, err, n) })?;
        Ok(ok != 0)
    }

    /// `read`: the next frame into `frame`; false at the end.
    pub fn read(&mut self, frame: &mut impl MatTrait) -> Result<bool> {
        let mut ok: c_int = 0;
        // SAFETY: a live capture and Mat, a pointer to receive the answer, the message buffer.
        checked(|err, n| unsafe { (self.f.read)(self.raw, frame.as_raw_mut_Mat(), &mut ok, err, n) })?;
        Ok(ok != 0)
    }

    /// `grab`: steps over the next frame without converting it; false at the end.
    pub fn grab(&mut self) -> Result<bool> {
        let mut ok: c_int = 0;
        // SAFETY: as in read, without the Mat.
        checked(|err, n| unsafe { (self.f.grab)(self.raw, &mut ok, err, n) })?;
        Ok(ok != 0)
    }

    pub fn get(&self, prop: i32) -> Result<f64> {
        let mut value = 0.0;
        // SAFETY: a live capture, a pointer to receive the value, the message buffer.
        checked(|err, n| unsafe { (self.f.get)(self.raw, prop, &mut value, err, n) })?;
        Ok(value)
    }

    /// `set`: whether the back end took the value.
    pub fn set(&mut self, prop: i32, value: f64) -> Result<bool> {
        let mut ok: c_int = 0;
        // SAFETY: a live capture, a pointer to receive the answer, the message buffer.
        checked(|err, n| unsafe { (self.f.set)(self.raw, prop, value, &mut ok, err, n) })?;
        Ok(ok != 0)
    }
}

impl Drop for VideoCapture {
    fn drop(&mut self) {
        // SAFETY: the capture was made by the shim's open and is released once, here.
        unsafe { (self.f.free)(self.raw) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_opens_nothing() {
        let capture = VideoCapture::from_file("/nonexistent/imgproc-no-such.mp4", CAP_FFMPEG).unwrap();
        assert!(!capture.is_opened().unwrap());
    }
}
