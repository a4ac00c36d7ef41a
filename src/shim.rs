//! What the C shims (`csrc/`, built by `build.rs`) share with their Rust callers: each call that
//! can fail writes its library's message into a buffer the caller owns.

use std::ffi::{c_char, CStr};

/// Room for a shim's message (libjpeg's are at most 200 bytes, libtiff's are cut at 512).
pub(crate) const MSG_LEN: usize = 512;

/// The message a shim wrote into `buf`.
pub(crate) fn message(buf: &[c_char; MSG_LEN]) -> String {
    // SAFETY: the C side always writes a NUL-terminated string within MSG_LEN (snprintf), and the
    // buffer starts zeroed.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}
