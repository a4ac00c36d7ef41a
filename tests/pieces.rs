//! Files written in pieces (`imgproc::pieces`) are valid for their format: OpenCV and a second
//! reader (libvips' `vips`) read them back to exactly the pixels of the one-process result, and
//! they are no more than 5% larger than OpenCV's own file.
//!
//! Needs `vips` (libvips-tools; scripts/install-deps.sh installs it). The 8K timing is
//! `cargo test --release --test pieces -- --ignored --nocapture`.

use imgproc::codec::{self, DEFAULT_MAX_PIXELS};
use imgproc::image::Image;
use imgproc::pieces::{encode_piece, write_in_pieces, Assembler, PieceDetail, PieceFormat};
use proptest::prelude::*;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const FORMATS: [(PieceFormat, &str); 5] = [
    (PieceFormat::Png, "png"),
    (PieceFormat::Jpeg, "jpg"),
    (PieceFormat::Tiff, "tiff"),
    (PieceFormat::Bmp, "bmp"),
    (PieceFormat::Pnm, "pnm"),
];

/// A photo-like picture: a smooth two-dimensional gradient, different per channel, plus a little
/// noise. Compresses like a photograph rather than like flat colour or pure noise.
fn photo(width: usize, height: usize, channels: usize, seed: u64) -> Image {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(width * height * channels);
    for y in 0..height {
        for x in 0..width {
            for c in 0..channels {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let (fx, fy) = (x as f64 / width as f64, y as f64 / height as f64);
                let smooth = 128.0 + 90.0 * ((fx * 3.0 + c as f64).sin() * (fy * 2.0 + fx).cos());
                let noise = (state % 9) as f64 - 4.0;
                data.push((smooth + noise).clamp(0.0, 255.0) as u8);
            }
        }
    }
    Image::from_vec(width, height, channels, data).unwrap()
}

/// What a one-process encode decodes to: the image itself, or for JPEG OpenCV's own JPEG of it.
fn one_process_pixels(img: &Image, ext: &str) -> (Image, Vec<u8>) {
    let encoded = codec::encode(img, ext).unwrap();
    let decoded = codec::decode(&encoded, ext, DEFAULT_MAX_PIXELS).unwrap();
    (decoded, encoded.to_vec())
}

/// Pixels as libvips reads them, in RGB order (or gray), as an Image of the same layout as `like`.
fn vips_pixels(path: &Path, like: &Image) -> Vec<u8> {
    let raw = path.with_extension("raw");
    let out = Command::new("vips")
        .arg("rawsave")
        .arg(path)
        .arg(&raw)
        .output()
        .expect("vips is installed (apt-get install libvips-tools; scripts/install-deps.sh)");
    assert!(out.status.success(), "vips cannot read {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&raw).unwrap();
    let pixels = like.width * like.height;
    if like.channels == 1 && bytes.len() == 3 * pixels {
        // libvips reads a gray BMP's palette as three equal bands.
        assert!(bytes.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]), "{}: gray read as colour", path.display());
        return bytes.chunks(3).map(|p| p[0]).collect();
    }
    assert_eq!(bytes.len(), pixels * like.channels, "{}: vips read another shape", path.display());
    bytes
}

fn rgb(img: &Image) -> Vec<u8> {
    if img.channels == 1 {
        return img.data.clone();
    }
    img.data.chunks(3).flat_map(|p| [p[2], p[1], p[0]]).collect()
}

fn check_format(format: PieceFormat, ext: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [(1, 1), (17, 33), (333, 257), (40, 3), (50, 40), (20, 16)];
    for (w, h) in sizes {
        for channels in [1, 3] {
            let img = photo(w, h, channels, (w * h + channels) as u64);
            let (expected, reference) = one_process_pixels(&img, ext);
            let reference_path = dir.path().join(format!("reference.{ext}"));
            std::fs::write(&reference_path, &reference).unwrap();
            let vips_expected = vips_pixels(&reference_path, &expected);
            for n in [1, 2, 3, 5] {
                let name = format!("{w}x{h}x{channels}-{n}.{ext}");
                let path = dir.path().join(&name);
                write_in_pieces(&path, format, &img, n).unwrap_or_else(|e| panic!("{name}: {e:#}"));
                let decoded = codec::read_image(&path, DEFAULT_MAX_PIXELS).unwrap_or_else(|e| panic!("{e:#}"));
                assert!(decoded == expected, "{name}: OpenCV decodes other pixels than the one-process result");
                if format != PieceFormat::Jpeg {
                    assert_eq!(decoded, img, "{name}: lossless");
                }
                let by_vips = vips_pixels(&path, &expected);
                assert!(by_vips == vips_expected, "{name}: libvips decodes other pixels than the one-process file");
                if format != PieceFormat::Jpeg {
                    assert!(by_vips == rgb(&img), "{name}: libvips decodes other pixels than the image");
                }
            }
        }
    }
}

#[test]
fn png_in_pieces_decodes_to_the_image_in_opencv_and_vips() {
    check_format(PieceFormat::Png, "png");
}

#[test]
fn jpeg_in_pieces_decodes_to_the_one_process_jpeg_in_opencv_and_vips() {
    check_format(PieceFormat::Jpeg, "jpg");
}

#[test]
fn tiff_in_pieces_decodes_to_the_image_in_opencv_and_vips() {
    check_format(PieceFormat::Tiff, "tiff");
}

#[test]
fn bmp_in_pieces_decodes_to_the_image_in_opencv_and_vips() {
    check_format(PieceFormat::Bmp, "bmp");
}

#[test]
fn pnm_in_pieces_decodes_to_the_image_in_opencv_and_vips() {
    check_format(PieceFormat::Pnm, "pnm");
}

#[test]
fn pgm_and_ppm_in_pieces_are_byte_for_byte_opencvs() {
    let dir = tempfile::tempdir().unwrap();
    for (channels, ext) in [(1, "pgm"), (3, "ppm")] {
        let img = photo(31, 19, channels, 5);
        let path = dir.path().join(format!("g.{ext}"));
        write_in_pieces(&path, PieceFormat::Pnm, &img, 3).unwrap();
        assert!(std::fs::read(&path).unwrap() == codec::encode(&img, ext).unwrap().to_vec(), "{ext}");
    }
}

#[test]
fn bmp_in_pieces_is_byte_for_byte_opencvs() {
    let dir = tempfile::tempdir().unwrap();
    for channels in [1, 3] {
        let img = photo(33, 21, channels, 6);
        let path = dir.path().join("b.bmp");
        write_in_pieces(&path, PieceFormat::Bmp, &img, 4).unwrap();
        assert!(std::fs::read(&path).unwrap() == codec::encode(&img, "bmp").unwrap().to_vec(), "x{channels}");
    }
}

#[test]
fn files_in_three_pieces_are_at_most_5_percent_larger_than_opencvs() {
    let dir = tempfile::tempdir().unwrap();
    for channels in [3, 1] {
        let img = photo(1024, 768, channels, 7);
        for (format, ext) in FORMATS {
            let path = dir.path().join(format!("size.{ext}"));
            write_in_pieces(&path, format, &img, 3).unwrap();
            let ours = std::fs::metadata(&path).unwrap().len();
            let opencv = codec::encode(&img, ext).unwrap().len() as u64;
            let ratio = ours as f64 / opencv as f64;
            println!("{ext} 1024x768x{channels}: in 3 pieces {ours} bytes, OpenCV {opencv} bytes ({ratio:.4}x)");
            assert!(ratio <= 1.05, "{ext} x{channels}: {ours} bytes is more than 1.05 x OpenCV's {opencv}");
        }
    }
}

/// Writes `img` as 3 JPEG pieces, handing the middle one to `tamper` first; Ok(pixels) if the
/// file was written and decodes.
fn jpeg_with_tampered_middle(
    path: &Path,
    img: &Image,
    tamper: impl Fn(&mut imgproc::pieces::PieceMeta, &mut Vec<u8>),
) -> anyhow::Result<Image> {
    let mut asm = Assembler::new(path, PieceFormat::Jpeg, img.width, img.height, img.channels)?;
    for (i, (start, end)) in [(0, 32), (32, 64), (64, img.height)].into_iter().enumerate() {
        let mut piece = encode_piece(PieceFormat::Jpeg, &img.crop_rows(start, end), start, img.height)?;
        if i == 1 {
            tamper(&mut piece.meta, &mut piece.bytes);
        }
        asm.add(&piece.meta, &piece.bytes)?;
    }
    asm.finish()?;
    codec::read_image(path, DEFAULT_MAX_PIXELS)
}

#[test]
fn a_truncated_or_altered_jpeg_piece_fails_loudly_and_never_decodes_to_wrong_pixels_silently() {
    let dir = tempfile::tempdir().unwrap();
    let img = photo(100, 90, 3, 3);
    let (expected, _) = one_process_pixels(&img, "jpg");
    let path = dir.path().join("t.jpg");
    let untouched = jpeg_with_tampered_middle(&path, &img, |_, _| {}).unwrap();
    assert!(untouched == expected, "the untampered file is right");
    // Cut short or altered in transit: the meta still describes the encoder's bytes.
    for cut in [1, 5, 300] {
        let e = jpeg_with_tampered_middle(&path, &img, |_, b| b.truncate(b.len() - cut)).unwrap_err();
        assert!(format!("{e:#}").contains("cut short") && format!("{e:#}").contains("t.jpg"), "{e:#}");
    }
    let e = jpeg_with_tampered_middle(&path, &img, |_, b| b[40] ^= 0x10).unwrap_err();
    assert!(format!("{e:#}").contains("CRC-32"), "{e:#}");
    // Cut short before its meta was made: the joiner (restart markers) or the decoder must
    // notice. (Cutting only the last MCU's padding bits would change no pixel.)
    for cut in [7, 100, 400] {
        let result = jpeg_with_tampered_middle(&path, &img, |m, b| {
            b.truncate(b.len().saturating_sub(cut));
            m.byte_len = b.len() as u64;
            m.crc32 = crc32fast::hash(b);
        });
        assert!(result.map_or(true, |pixels| pixels != expected), "a piece cut by {cut} bytes went unnoticed");
    }
}

/// The chunks of a PNG file: (type, data), each chunk's CRC checked.
fn png_chunks(bytes: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    assert_eq!(bytes[..8], [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    let (mut pos, mut chunks) = (8, Vec::new());
    while pos < bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = bytes[pos + 4..pos + 8].try_into().unwrap();
        let data = &bytes[pos + 8..pos + 8 + len];
        let crc = u32::from_be_bytes(bytes[pos + 8 + len..pos + 12 + len].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&bytes[pos + 4..pos + 8 + len]), "CRC of a {:?} chunk", kind);
        chunks.push((kind, data.to_vec()));
        pos += 12 + len;
    }
    chunks
}

/// The PNG's IDAT data inflated as one zlib stream, whose Adler-32 the decoder checks (libpng
/// and so OpenCV stop reading once they have every row, so they would not notice a wrong one).
fn png_inflated(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let idat: Vec<u8> = png_chunks(bytes).into_iter().filter(|(k, _)| k == b"IDAT").flat_map(|(_, d)| d).collect();
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..]).read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn png_pieces_join_into_one_zlib_stream_with_the_right_adler32() {
    let dir = tempfile::tempdir().unwrap();
    let img = photo(64, 40, 3, 9);
    let write = |wrong_adler: bool| {
        let path = dir.path().join("t.png");
        let mut asm = Assembler::new(&path, PieceFormat::Png, 64, 40, 3).unwrap();
        for (start, end) in [(0, 13), (13, 40)] {
            let mut piece = encode_piece(PieceFormat::Png, &img.crop_rows(start, end), start, 40).unwrap();
            if let (true, PieceDetail::Png { adler32, .. }) = (wrong_adler, &mut piece.meta.detail) {
                *adler32 ^= 1;
            }
            asm.add(&piece.meta, &piece.bytes).unwrap();
        }
        asm.finish().unwrap();
        std::fs::read(&path).unwrap()
    };
    let good = png_inflated(&write(false)).unwrap();
    assert_eq!(good.len(), 40 * (1 + 64 * 3), "one filter byte and the samples per row");
    assert!(good.chunks(1 + 64 * 3).all(|row| row[0] == 1), "every row Sub-filtered, as OpenCV does");
    assert!(png_inflated(&write(true)).is_err(), "a wrong combined Adler-32 is caught by inflate");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn lossless_formats_in_any_pieces_decode_to_the_image(
        w in 1usize..70, h in 1usize..70, colour in any::<bool>(), n in 1usize..7, which in 0usize..4, seed in any::<u64>()
    ) {
        let (format, ext) = [FORMATS[0], FORMATS[2], FORMATS[3], FORMATS[4]][which];
        let img = photo(w, h, if colour { 3 } else { 1 }, seed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("p.{ext}"));
        write_in_pieces(&path, format, &img, n).unwrap();
        prop_assert_eq!(codec::read_image(&path, DEFAULT_MAX_PIXELS).unwrap(), img);
    }
}

#[test]
#[ignore = "8K timing: run with --ignored --nocapture"]
fn encode_piece_of_an_8k_image_takes_about_what_opencv_takes() {
    let img = photo(7680, 4320, 3, 1);
    for (format, ext) in FORMATS {
        let t = Instant::now();
        let piece = encode_piece(format, &img, 0, img.height).unwrap();
        let ours = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let opencv = codec::encode(&img, ext).unwrap();
        let theirs = t.elapsed().as_secs_f64();
        println!(
            "{ext} 7680x4320x3: encode_piece {ours:.3} s ({} bytes), codec::encode {theirs:.3} s ({} bytes)",
            piece.bytes.len(),
            opencv.len()
        );
    }
}
