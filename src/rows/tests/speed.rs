//! How long an 8K photo takes to decode through a stream and through `codec::read_image`, for
//! PNG, TIFF and BMP written by OpenCV. Prints the times; asserts only that the pixels agree.
//! Slow: run with `cargo test --release --lib rows::tests::speed -- --ignored --nocapture`.

use super::*;
use std::time::Instant;

#[test]
#[ignore = "writes and decodes 8K images; run on demand for the numbers"]
fn eight_k_photo_decode_times_stream_vs_whole() {
    let (_dir, file) = temp();
    let (w, h) = (7680, 4320);
    let rgb = picture(w, h);
    for ext in ["png", "jpg", "tif", "bmp"] {
        let path = file(&format!("photo8k.{ext}"));
        opencv_write(&path, w, h, 3, &rgb, false, &[]);
        let size = std::fs::metadata(&path).unwrap().len();
        let t = Instant::now();
        let whole = read_image(&path, DEFAULT_MAX_PIXELS).unwrap();
        let whole_time = t.elapsed();
        let t = Instant::now();
        let mut stream = open_stream(&path, DEFAULT_MAX_PIXELS).unwrap().expect("streamable");
        let strip = 64 * stream.shape().row_bytes();
        let mut rows = vec![0u8; strip];
        let mut same = true;
        for (i, expected) in whole.data.chunks(strip).enumerate() {
            stream.next_rows(&mut rows[..expected.len()]).unwrap();
            same &= rows[..expected.len()] == *expected;
            let _ = i;
        }
        let stream_time = t.elapsed();
        assert!(same, "{ext}: streamed pixels differ");
        eprintln!(
            "8K {ext} ({:.1} MB): codec::read_image {:.3} s, open_stream in strips of 64 rows {:.3} s",
            size as f64 / 1e6,
            whole_time.as_secs_f64(),
            stream_time.as_secs_f64()
        );
    }
}
