//! TIFF: gray and RGB, 8 and 16 bits, every compression and predictor accepted, strips of several
//! heights, BigTIFF, tiles, planar samples, OpenCV's own files; orientation and alpha fall back.

use super::*;
use ::tiff::encoder::{colortype, Compression, DeflateLevel, TiffEncoder};
use ::tiff::tags::Predictor;

/// Writes a TIFF with the `tiff` crate (strips of `rows` rows).
macro_rules! tiff_file {
    ($path:expr, $color:ty, $w:expr, $h:expr, $data:expr, $compression:expr, $predictor:expr, $rows:expr, $big:expr) => {{
        let file = std::fs::File::create($path).unwrap();
        if $big {
            let mut encoder =
                TiffEncoder::new_big(file).unwrap().with_compression($compression).with_predictor($predictor);
            let mut image = encoder.new_image::<$color>($w as u32, $h as u32).unwrap();
            image.rows_per_strip($rows).unwrap();
            image.write_data($data).unwrap();
        } else {
            let mut encoder = TiffEncoder::new(file).unwrap().with_compression($compression).with_predictor($predictor);
            let mut image = encoder.new_image::<$color>($w as u32, $h as u32).unwrap();
            image.rows_per_strip($rows).unwrap();
            image.write_data($data).unwrap();
        }
    }};
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn tiff_variants_read_exactly_as_opencv_decodes_them() {
    let (_dir, file) = temp();
    for (w, h) in SIZES {
        let rgb = picture(w, h);
        let gray = gray_of(&rgb);
        let (rgb8, gray8) = (high_bytes(&rgb), high_bytes(&gray));
        let mut files = Vec::new();
        let compressions = [
            ("none", Compression::Uncompressed, Predictor::None),
            ("lzw", Compression::Lzw, Predictor::None),
            ("lzw-pred", Compression::Lzw, Predictor::Horizontal),
            ("deflate-pred", Compression::Deflate(DeflateLevel::Balanced), Predictor::Horizontal),
            ("packbits", Compression::Packbits, Predictor::None),
        ];
        for (c, compression, predictor) in compressions {
            for (rows, big) in [(1, false), (5, true), (h as u32, false)] {
                let name = |kind: &str| file(&format!("{kind}-{c}-{rows}-{big}-{w}x{h}.tif"));
                tiff_file!(&name("rgb8"), colortype::RGB8, w, h, &rgb8, compression, predictor, rows, big);
                tiff_file!(&name("gray8"), colortype::Gray8, w, h, &gray8, compression, predictor, rows, big);
                tiff_file!(&name("rgb16"), colortype::RGB16, w, h, &rgb, compression, predictor, rows, big);
                tiff_file!(&name("gray16"), colortype::Gray16, w, h, &gray, compression, predictor, rows, big);
                files.extend(["rgb8", "gray8", "rgb16", "gray16"].map(name));
            }
        }
        for (name, channels, params) in [
            ("opencv-bgr", 3, vec![]),
            ("opencv-bgr-none", 3, vec![imgcodecs::IMWRITE_TIFF_COMPRESSION, 1]),
            ("opencv-gray", 1, vec![]),
        ] {
            let path = file(&format!("{name}-{w}x{h}.tif"));
            let samples = if channels == 1 { gray.clone() } else { rgb.clone() };
            opencv_write(&path, w, h, channels, &samples, false, &params);
            files.push(path);
        }
        // libtiff's own layouts: tiles, planar samples, BigTIFF, from the strip files above.
        let rgb_strips = file(&format!("rgb8-none-5-true-{w}x{h}.tif"));
        let rgb16_strips = file(&format!("rgb16-lzw-1-false-{w}x{h}.tif"));
        let gray_strips = file(&format!("gray16-none-1-false-{w}x{h}.tif"));
        let mut tall_tiles = Vec::new();
        for (name, src, args) in [
            ("tiled", &rgb_strips, vec!["-t", "-w", "16", "-l", "16"]),
            ("tiled-lzw", &rgb_strips, vec!["-t", "-w", "32", "-l", "16", "-c", "lzw:2"]),
            ("tiled16-big", &rgb16_strips, vec!["-t", "-w", "48", "-l", "32", "-c", "zip", "-8"]),
            ("tiled-gray16", &gray_strips, vec!["-t", "-w", "16", "-l", "48", "-c", "packbits"]),
            ("planar-strips", &rgb_strips, vec!["-p", "separate", "-r", "3"]),
            ("tall-strip", &rgb_strips, vec!["-r", "64"]),
        ] {
            let path = file(&format!("{name}-{w}x{h}.tif"));
            let mut args = args.clone();
            args.extend([s(src), s(&path)]);
            tool("tiffcp", &args);
            let tile_height: usize = args.iter().position(|a| *a == "-l").map_or(0, |i| args[i + 1].parse().unwrap());
            if tile_height > h || name == "tiled-gray16" {
                tall_tiles.push(path);
            } else {
                files.push(path);
            }
        }
        for path in files {
            assert_exact(&path, true);
        }
        // Tiles taller than the image, and 16-bit gray tiles, are left to OpenCV (not reproduced).
        for path in tall_tiles {
            assert!(open_range(&path, DEFAULT_MAX_PIXELS).unwrap().is_none(), "{}", path.display());
        }
    }
}

#[test]
fn rotated_and_alpha_tiffs_fall_back_to_the_whole_decode() {
    let (_dir, file) = temp();
    let (w, h) = (17, 33);
    let rgb8 = high_bytes(&picture(w, h));
    let rotated = file("rotated.tif");
    tiff_file!(&rotated, colortype::RGB8, w, h, &rgb8, Compression::Uncompressed, Predictor::None, 4, false);
    tool("tiffset", &["-s", "274", "3", s(&rotated)]);
    assert_falls_back(&rotated);
    let rgba: Vec<u8> = rgb8.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], p[0] ^ 0x55]).collect();
    let alpha = file("alpha.tif");
    tiff_file!(&alpha, colortype::RGBA8, w, h, &rgba, Compression::Lzw, Predictor::None, 4, false);
    assert_falls_back(&alpha);
    let planar_tiles = file("planar-tiles.tif");
    let (w, h) = (333, 257);
    tiff_file!(
        &rotated,
        colortype::RGB8,
        w,
        h,
        &high_bytes(&picture(w, h)),
        Compression::Uncompressed,
        Predictor::None,
        4,
        false
    );
    tool("tiffcp", &["-t", "-w", "128", "-l", "128", "-p", "separate", s(&rotated), s(&planar_tiles)]);
    assert_falls_back(&planar_tiles);
}

/// libtiff's own message reaches the caller, with the file, the chunk and its rows: a strip of
/// OpenCV's LZW overwritten with codes past the end of the table cannot decode.
#[test]
fn a_corrupt_lzw_strip_gives_libtiffs_message_naming_the_file_and_rows() {
    let (_dir, file) = temp();
    let (w, h) = (333, 257);
    let path = file("corrupt-lzw.tif");
    opencv_write(&path, w, h, 3, &picture(w, h), false, &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();
    let mut reader = open_range(&path, DEFAULT_MAX_PIXELS).unwrap().expect("random access");
    let shape = reader.shape();
    let mut buf = vec![0u8; shape.row_bytes() * shape.height];
    let e = format!("{:#}", reader.read_rows(0, shape.height, &mut buf).expect_err("corrupt strip decoded"));
    // libtiff 4.5's words for a code past the end of the LZW table.
    assert!(e.contains("corrupt-lzw.tif") && e.contains("(rows ") && e.contains("code not yet in table"), "{e}");
}
