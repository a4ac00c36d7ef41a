//! PNG: every colour type and bit depth, palettes with and without tRNS, gamma chunks, OpenCV's
//! own files; interlaced and eXIf files fall back.

use super::*;
use ::png::{BitDepth, ColorType, Encoder, ScaledFloat, SrgbRenderingIntent};

/// Writes a PNG with the `png` crate; `extra` sets palette, tRNS or gamma before the header.
fn png_file(
    path: &Path,
    w: usize,
    h: usize,
    color: ColorType,
    depth: BitDepth,
    data: &[u8],
    extra: impl FnOnce(&mut Encoder<'_, std::fs::File>),
) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = Encoder::new(file, w as u32, h as u32);
    encoder.set_color(color);
    encoder.set_depth(depth);
    extra(&mut encoder);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(data).unwrap();
}

/// Packs 8-bit values into `bits`-bit samples, rows padded to a byte.
fn pack(values: &[u8], w: usize, bits: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for row in values.chunks_exact(w) {
        let mut packed = vec![0u8; (w * bits).div_ceil(8)];
        for (x, v) in row.iter().enumerate() {
            let v = v >> (8 - bits);
            packed[x * bits / 8] |= v << (8 - bits - x * bits % 8);
        }
        out.extend(packed);
    }
    out
}

fn interleave(rgb: &[u16], alpha: &[u16], gray: bool) -> Vec<u16> {
    let color: Vec<u16> = if gray { gray_of(rgb) } else { rgb.to_vec() };
    let n = if gray { 1 } else { 3 };
    color.chunks_exact(n).zip(alpha).flat_map(|(c, a)| c.iter().copied().chain([*a])).collect()
}

#[test]
fn png_variants_stream_exactly_as_opencv_decodes_them() {
    let (_dir, file) = temp();
    for (w, h) in SIZES {
        let rgb = picture(w, h);
        let gray = gray_of(&rgb);
        let alpha: Vec<u16> = (0..w * h).map(|i| (i * 7919 % 65536) as u16).collect();
        let name = |v: &str| file(&format!("{v}-{w}x{h}.png"));
        let mut files = Vec::new();
        let mut add = |v: &str, color, depth, data: &[u8]| {
            png_file(&name(v), w, h, color, depth, data, |_| {});
            files.push(name(v));
        };
        add("rgb8", ColorType::Rgb, BitDepth::Eight, &high_bytes(&rgb));
        add("rgb16", ColorType::Rgb, BitDepth::Sixteen, &big_endian(&rgb));
        add("gray8", ColorType::Grayscale, BitDepth::Eight, &high_bytes(&gray));
        add("gray16", ColorType::Grayscale, BitDepth::Sixteen, &big_endian(&gray));
        add("rgba8", ColorType::Rgba, BitDepth::Eight, &high_bytes(&interleave(&rgb, &alpha, false)));
        add("rgba16", ColorType::Rgba, BitDepth::Sixteen, &big_endian(&interleave(&rgb, &alpha, false)));
        add("graya8", ColorType::GrayscaleAlpha, BitDepth::Eight, &high_bytes(&interleave(&rgb, &alpha, true)));
        add("graya16", ColorType::GrayscaleAlpha, BitDepth::Sixteen, &big_endian(&interleave(&rgb, &alpha, true)));
        for (bits, depth) in [(1, BitDepth::One), (2, BitDepth::Two), (4, BitDepth::Four)] {
            add(&format!("gray{bits}"), ColorType::Grayscale, depth, &pack(&high_bytes(&gray), w, bits));
        }
        let palette: Vec<u8> = (0..256).flat_map(|i| [i as u8, (255 - i) as u8, (i * 37 % 256) as u8]).collect();
        let trns: Vec<u8> = (0..200).map(|i| (i * 3 % 256) as u8).collect();
        let indices = high_bytes(&gray);
        for (bits, depth) in [(8, BitDepth::Eight), (4, BitDepth::Four), (1, BitDepth::One)] {
            let data = pack(&indices, w, bits);
            let entries = palette[..3 << bits].to_vec();
            let path = name(&format!("palette{bits}"));
            png_file(&path, w, h, ColorType::Indexed, depth, &data, |e| e.set_palette(entries.clone()));
            files.push(path);
            let path = name(&format!("palette{bits}-trns"));
            let t = trns[..trns.len().min(1 << bits)].to_vec();
            png_file(&path, w, h, ColorType::Indexed, depth, &data, |e| {
                e.set_palette(entries);
                e.set_trns(t);
            });
            files.push(path);
        }
        let path = name("gray8-trns");
        png_file(&path, w, h, ColorType::Grayscale, BitDepth::Eight, &high_bytes(&gray), |e| e.set_trns(vec![0, 77]));
        files.push(path);
        let path = name("rgb16-trns");
        png_file(&path, w, h, ColorType::Rgb, BitDepth::Sixteen, &big_endian(&rgb), |e| {
            e.set_trns(vec![0, 1, 0, 2, 0, 3])
        });
        files.push(path);
        let path = name("rgb8-gamma");
        png_file(&path, w, h, ColorType::Rgb, BitDepth::Eight, &high_bytes(&rgb), |e| {
            e.set_source_gamma(ScaledFloat::new(0.3))
        });
        files.push(path);
        let path = name("rgb8-srgb");
        png_file(&path, w, h, ColorType::Rgb, BitDepth::Eight, &high_bytes(&rgb), |e| {
            e.set_source_srgb(SrgbRenderingIntent::Perceptual)
        });
        files.push(path);
        for level in [0, 9] {
            let path = name(&format!("opencv-bgr-{level}"));
            opencv_write(&path, w, h, 3, &rgb, false, &[imgcodecs::IMWRITE_PNG_COMPRESSION, level]);
            files.push(path);
            let path = name(&format!("opencv-gray16-{level}"));
            opencv_write(&path, w, h, 1, &gray, true, &[imgcodecs::IMWRITE_PNG_COMPRESSION, level]);
            files.push(path);
        }
        for path in files {
            assert_exact(&path, false);
        }
    }
}

#[test]
fn interlaced_and_exif_pngs_fall_back_to_the_whole_decode() {
    let (_dir, file) = temp();
    let (w, h) = (17, 33);
    let plain = file("plain.png");
    opencv_write(&plain, w, h, 3, &picture(w, h), false, &[]);
    let interlaced = file("interlaced.png");
    tool("vips", &["copy", plain.to_str().unwrap(), &format!("{}[interlace]", interlaced.display())]);
    assert_falls_back(&interlaced);
    // An eXIf chunk (big-endian TIFF header, one IFD entry: orientation 6), after the image data.
    let exif: Vec<u8> = [&b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0"[..]].concat();
    let with_exif = file("exif.png");
    let rgb = high_bytes(&picture(w, h));
    let f = std::fs::File::create(&with_exif).unwrap();
    let mut encoder = Encoder::new(f, w as u32, h as u32);
    encoder.set_color(ColorType::Rgb);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&rgb).unwrap();
    writer.write_chunk(::png::chunk::ChunkType(*b"eXIf"), &exif).unwrap();
    writer.finish().unwrap();
    assert_falls_back(&with_exif);
}
