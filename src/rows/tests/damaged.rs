//! Damaged files give errors that name them (never a panic), and a header over the pixel limit is
//! refused before any pixel is decoded.

use super::*;

/// Reads every row of `path` in pieces of 5 rows and returns the first error.
fn stream_error(path: &Path) -> String {
    let mut stream = open_stream(path, DEFAULT_MAX_PIXELS).unwrap().expect("streamable");
    let row_bytes = stream.shape().row_bytes();
    let mut buf = vec![0u8; row_bytes * stream.shape().height];
    for rows in buf.chunks_mut(5 * row_bytes) {
        if let Err(e) = stream.next_rows(rows) {
            return format!("{e:#}");
        }
    }
    panic!("{}: damaged file decoded without an error", path.display());
}

fn range_error(path: &Path) -> String {
    let mut reader = open_range(path, DEFAULT_MAX_PIXELS).unwrap().expect("random access");
    let shape = reader.shape();
    let mut buf = vec![0u8; shape.row_bytes() * shape.height];
    format!("{:#}", reader.read_rows(0, shape.height, &mut buf).expect_err("damaged file decoded"))
}

#[test]
fn damaged_rows_halfway_give_an_error_naming_the_file() {
    let (_dir, file) = temp();
    let (w, h) = (333, 257);
    let rgb = picture(w, h);
    let png = file("damaged.png");
    opencv_write(&png, w, h, 3, &rgb, false, &[]);
    let mut bytes = std::fs::read(&png).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(&png, &bytes).unwrap();
    let e = stream_error(&png);
    assert!(e.contains("damaged.png"), "{e}");

    // Deflate's checksum catches any damage; the middle of the file is strip data (the
    // directory is small, at one end).
    let tif = file("damaged.tif");
    opencv_write(&tif, w, h, 3, &rgb, false, &[imgcodecs::IMWRITE_TIFF_COMPRESSION, 8]);
    let mut bytes = std::fs::read(&tif).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(&tif, &bytes).unwrap();
    let e = stream_error(&tif);
    assert!(e.contains("damaged.tif") && e.contains("rows"), "{e}");
    let e = range_error(&tif);
    assert!(e.contains("damaged.tif"), "{e}");

    let bmp = file("cut.bmp");
    opencv_write(&bmp, w, h, 3, &rgb, false, &[]);
    let bytes = std::fs::read(&bmp).unwrap();
    std::fs::write(&bmp, &bytes[..bytes.len() / 2]).unwrap();
    let e = range_error(&bmp);
    assert!(e.contains("cut.bmp") && e.contains("cut short"), "{e}");
    let e = stream_error(&bmp);
    assert!(e.contains("cut.bmp"), "{e}");

    let ppm = file("cut.ppm");
    opencv_write(&ppm, w, h, 3, &rgb, false, &[]);
    let bytes = std::fs::read(&ppm).unwrap();
    std::fs::write(&ppm, &bytes[..bytes.len() / 2]).unwrap();
    let e = range_error(&ppm);
    assert!(e.contains("cut.ppm") && e.contains("cut short"), "{e}");
}

#[test]
fn a_header_over_the_pixel_limit_is_refused_before_decoding() {
    let (_dir, file) = temp();
    let (w, h) = (17, 33);
    for ext in ["png", "tif", "bmp", "ppm", "pgm"] {
        let path = file(&format!("big.{ext}"));
        let (channels, samples) = if ext == "pgm" { (1, gray_of(&picture(w, h))) } else { (3, picture(w, h)) };
        opencv_write(&path, w, h, channels, &samples, false, &[]);
        let e = open_stream(&path, 100).err().expect("refused").to_string();
        assert!(
            e.contains("header declares 17x33") && e.contains("--max-pixels") && e.contains(&format!("big.{ext}")),
            "{e}"
        );
        if ext != "png" {
            assert!(open_range(&path, 100).is_err(), "{ext}");
        }
        assert!(open_stream(&path, (w * h) as u64).unwrap().is_some(), "{ext}");
    }
}

#[test]
fn asking_for_rows_out_of_the_image_is_an_error_not_a_panic() {
    let (_dir, file) = temp();
    let path = file("small.bmp");
    opencv_write(&path, 4, 3, 3, &picture(4, 3), false, &[]);
    let mut reader = open_range(&path, DEFAULT_MAX_PIXELS).unwrap().unwrap();
    assert!(reader.read_rows(2, 4, &mut [0u8; 24]).is_err());
    assert!(reader.read_rows(0, 1, &mut [0u8; 5]).is_err());
    let mut stream = open_stream(&path, DEFAULT_MAX_PIXELS).unwrap().unwrap();
    stream.next_rows(&mut [0u8; 24]).unwrap();
    assert!(stream.next_rows(&mut [0u8; 24]).is_err());
}
