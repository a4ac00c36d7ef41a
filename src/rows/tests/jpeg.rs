//! JPEG through libjpeg's scanlines: OpenCV's own files (baseline, progressive, optimised, with
//! restart markers, 4:4:4 from split qualities), ImageMagick's chroma subsamplings, gray, odd
//! sizes; damage decoded around exactly as OpenCV decodes around it. CMYK, a turned EXIF
//! orientation and a truncated file fall back to the whole decode.

use super::*;

/// Inserts an APP1 EXIF marker with the given orientation right after SOI.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II".to_vec();
    tiff.extend_from_slice(&42u16.to_le_bytes());
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0; 2]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn jpeg_variants_stream_exactly_as_opencv_decodes_them() {
    let (_dir, file) = temp();
    for (w, h) in SIZES {
        let rgb = picture(w, h);
        let gray = gray_of(&rgb);
        let name = |v: &str| file(&format!("{v}-{w}x{h}.jpg"));
        let mut files = Vec::new();
        let mut opencv = |v: &str, channels: usize, samples: &[u16], params: &[i32]| {
            opencv_write(&name(v), w, h, channels, samples, false, params);
            files.push(name(v));
        };
        opencv("baseline", 3, &rgb, &[]);
        opencv("gray", 1, &gray, &[]);
        opencv("q30", 3, &rgb, &[imgcodecs::IMWRITE_JPEG_QUALITY, 30]);
        opencv("progressive", 3, &rgb, &[imgcodecs::IMWRITE_JPEG_PROGRESSIVE, 1]);
        opencv("gray-progressive", 1, &gray, &[imgcodecs::IMWRITE_JPEG_PROGRESSIVE, 1]);
        opencv("optimized", 3, &rgb, &[imgcodecs::IMWRITE_JPEG_OPTIMIZE, 1]);
        opencv("restarts", 3, &rgb, &[imgcodecs::IMWRITE_JPEG_RST_INTERVAL, 3]);
        opencv("444", 3, &rgb, &[imgcodecs::IMWRITE_JPEG_LUMA_QUALITY, 90, imgcodecs::IMWRITE_JPEG_CHROMA_QUALITY, 60]);
        let source = name("baseline").with_extension("png");
        opencv_write(&source, w, h, 3, &rgb, false, &[]);
        for factor in ["2x1", "1x2", "4x1", "1x1"] {
            let out = name(&format!("magick-{factor}"));
            tool(
                "convert",
                &[source.to_str().unwrap(), "-sampling-factor", factor, "-quality", "90", out.to_str().unwrap()],
            );
            files.push(out);
        }
        let upright = name("exif-1");
        std::fs::write(&upright, with_orientation(&std::fs::read(name("baseline")).unwrap(), 1)).unwrap();
        files.push(upright);
        for path in &files {
            assert_exact(path, false);
        }
    }
}

#[test]
fn cmyk_turned_and_truncated_jpegs_fall_back() {
    let (_dir, file) = temp();
    let (w, h) = (333, 257);
    let rgb = picture(w, h);
    let baseline = file("baseline.jpg");
    opencv_write(&baseline, w, h, 3, &rgb, false, &[]);
    let bytes = std::fs::read(&baseline).unwrap();
    for orientation in [3, 6, 8] {
        let turned = file(&format!("turned-{orientation}.jpg"));
        std::fs::write(&turned, with_orientation(&bytes, orientation)).unwrap();
        assert_falls_back(&turned);
        // The whole decode turns it: the streamed rows would not have been OpenCV's.
        if orientation != 3 {
            assert_eq!(read_image(&turned, DEFAULT_MAX_PIXELS).unwrap().width, h);
        }
    }
    let cmyk = file("cmyk.jpg");
    tool("convert", &[baseline.to_str().unwrap(), "-colorspace", "CMYK", cmyk.to_str().unwrap()]);
    assert_falls_back(&cmyk);
    let cut = file("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(open_stream(&cut, DEFAULT_MAX_PIXELS).unwrap().is_none());
    let e = read_image(&cut, DEFAULT_MAX_PIXELS).unwrap_err().to_string();
    assert!(e.contains("cut.jpg") && e.contains("truncated"), "{e}");
}

/// libjpeg decodes around damaged entropy data with a warning, in OpenCV too: the streamed rows
/// must be the same rows, or an error naming the file where OpenCV fails as well.
#[test]
fn damaged_jpeg_data_decodes_as_opencv_decodes_it() {
    let (_dir, file) = temp();
    let (w, h) = (333, 257);
    let rgb = picture(w, h);
    let path = file("damaged.jpg");
    opencv_write(&path, w, h, 3, &rgb, false, &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    // Damage that cannot form a marker (no 0xFF), so the scan goes on to the file's own EOI.
    bytes[middle..middle + 64].iter_mut().for_each(|b| *b = (*b ^ 0x5a) & 0x7f);
    std::fs::write(&path, &bytes).unwrap();
    let expected = read_image(&path, DEFAULT_MAX_PIXELS).unwrap();
    let mut stream = open_stream(&path, DEFAULT_MAX_PIXELS).unwrap().expect("streamable");
    let mut got = vec![0u8; expected.byte_len()];
    for rows in got.chunks_mut(5 * stream.shape().row_bytes()) {
        stream.next_rows(rows).unwrap();
    }
    assert!(got == expected.data, "damaged JPEG: streamed rows differ from OpenCV's");
}
