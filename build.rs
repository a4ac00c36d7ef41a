//! Compiles the small C shim over the system libjpeg (`csrc/jpeg_rows.c`): the JPEG row decoder
//! needs libjpeg's setjmp/longjmp error handling, which Rust cannot host. It links the same
//! libjpeg OpenCV's imgcodecs links (Debian's libjpeg62-turbo), so the pixels are the same.
fn main() {
    println!("cargo:rerun-if-changed=csrc/jpeg_rows.c");
    cc::Build::new().file("csrc/jpeg_rows.c").warnings(true).extra_warnings(true).compile("jpeg_rows");
    println!("cargo:rustc-link-lib=jpeg");
}
