//! Compiles the small C shims over the system libjpeg and libtiff, the libraries OpenCV's
//! imgcodecs links (Debian's libjpeg62-turbo and libtiff6), so the pixels are the same:
//! - `csrc/jpeg_rows.c`: the JPEG row decoder needs libjpeg's setjmp/longjmp error handling,
//!   which Rust cannot host.
//! - `csrc/tiff_rows.c`: TIFF strips and tiles decoded, and a piece's strips encoded, by libtiff,
//!   with per-handle error handlers (libtiff's messages come back as text).
//!
//! - `csrc/cv_codecs.cpp`, `csrc/cv_video.cpp`: OpenCV's imgcodecs and videoio behind C
//!   interfaces, each built as a shared object of its own that the program embeds and loads only
//!   when it first needs it (src/cvio): linked into the program, those two libraries and the
//!   ~240 they pull cost every start about 150 ms.
//!
//! `tiffio.h` is found where Debian's libtiff-dev puts it (a default include directory); the
//! include directories pkg-config names for libtiff-4 (and opencv4) are added when it knows them.
use std::path::Path;

fn main() {
    for shim in
        ["csrc/jpeg_rows.c", "csrc/tiff_rows.c", "csrc/cv_codecs.cpp", "csrc/cv_video.cpp", "csrc/cv_guarded.hpp"]
    {
        println!("cargo:rerun-if-changed={shim}");
    }
    cc::Build::new().file("csrc/jpeg_rows.c").warnings(true).extra_warnings(true).compile("jpeg_rows");
    let mut tiff = cc::Build::new();
    tiff.file("csrc/tiff_rows.c").warnings(true).extra_warnings(true);
    for dir in pkg_config_include_dirs("libtiff-4") {
        tiff.include(dir);
    }
    tiff.compile("tiff_rows");
    println!("cargo:rustc-link-lib=jpeg");
    println!("cargo:rustc-link-lib=tiff");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    plugin("csrc/cv_codecs.cpp", &Path::new(&out).join("libimgproc_cv_codecs.so"), "opencv_imgcodecs");
    plugin("csrc/cv_video.cpp", &Path::new(&out).join("libimgproc_cv_video.so"), "opencv_videoio");
}

/// Builds `source` into the shared object `out`, linked to `library` and OpenCV's core, with the
/// C++ compiler and flags `cc` would use (so `CXX` and `CXXFLAGS` are honoured).
fn plugin(source: &str, out: &Path, library: &str) {
    let compiler = cc::Build::new().cpp(true).pic(true).opt_level(2).get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args(["-shared", "-Wall", "-Wextra", "-o"]).arg(out).arg(source);
    for dir in pkg_config_include_dirs("opencv4") {
        cmd.arg(format!("-I{dir}"));
    }
    cmd.args(["-Wl,--as-needed", &format!("-l{library}"), "-lopencv_core"]);
    let status = cmd.status().unwrap_or_else(|e| panic!("running the C++ compiler for {source}: {e}"));
    assert!(status.success(), "building {source} into {} failed ({status})", out.display());
}

/// The `-I` directories `pkg-config --cflags` gives for `package`; none when pkg-config or the
/// package is missing (the default include path is then tried).
fn pkg_config_include_dirs(package: &str) -> Vec<String> {
    let Ok(out) = std::process::Command::new("pkg-config").args(["--cflags", package]).output() else {
        return Vec::new();
    };
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|flag| flag.strip_prefix("-I"))
        .map(str::to_owned)
        .collect()
}
