//! Compiles the small C shims over the system libjpeg and libtiff, the libraries OpenCV's
//! imgcodecs links (Debian's libjpeg62-turbo and libtiff6), so the pixels are the same:
//! - `csrc/jpeg_rows.c`: the JPEG row decoder needs libjpeg's setjmp/longjmp error handling,
//!   which Rust cannot host.
//! - `csrc/tiff_rows.c`: TIFF strips and tiles decoded, and a piece's strips encoded, by libtiff,
//!   with per-handle error handlers (libtiff's messages come back as text).
//!
//! `tiffio.h` is found where Debian's libtiff-dev puts it (a default include directory); the
//! include directories pkg-config names for libtiff-4 are added when it knows them.
fn main() {
    for shim in ["csrc/jpeg_rows.c", "csrc/tiff_rows.c"] {
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
