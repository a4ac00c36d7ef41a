//! OpenCV's image codecs and video capture, loaded when first needed instead of at start.
//!
//! Debian's `libopencv_imgcodecs` pulls GDAL and about 130 more shared libraries, and
//! `libopencv_videoio` FFmpeg and GStreamer on top: linked into the program, the dynamic loader
//! spent about 150 ms resolving their symbols before `main`, on every start (`--version`, and every
//! rank of every job). So the program links only OpenCV's core, imgproc and dnn, and reaches
//! imgcodecs and videoio through two small C shims (`csrc/cv_codecs.cpp`, `csrc/cv_video.cpp`)
//! built by `build.rs` as shared objects of their own. Both are embedded in the binary, so it
//! stays one file to deploy, and each is loaded from memory (a `memfd`) the first time a codec or
//! a capture is used; a job that never decodes through OpenCV never loads them.
//!
//! [`imgcodecs`] and [`videoio`] give the same calls the opencv crate's modules gave, over the same
//! `Mat` and `Vector` types.

pub mod imgcodecs;
mod plugin;
pub mod videoio;
