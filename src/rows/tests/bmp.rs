//! BMP: OpenCV's 24-bit and gray files, hand-made palettes of 1, 4 and 8 bits (gray, colour, short),
//! 32-bit plain and bit fields, top-down rows, the v5 header; RLE and 16-bit fall back.

use super::*;

/// A BMP file: `rows` top to bottom, each already packed to `bpp` (unpadded).
struct Bmp<'a> {
    w: usize,
    h: usize,
    bpp: u16,
    compression: u32,
    header_size: u32,
    palette: &'a [[u8; 4]],
    masks: Option<[u32; 3]>,
    top_down: bool,
}

impl Bmp<'_> {
    fn write(&self, path: &Path, rows: &[Vec<u8>]) {
        let stride = (self.w * self.bpp as usize).div_ceil(32) * 4;
        let masks_len = if self.masks.is_some() && self.header_size == 40 { 12 } else { 0 };
        let offset = 14 + self.header_size as usize + masks_len + self.palette.len() * 4;
        let mut out = Vec::new();
        out.extend(b"BM");
        out.extend(((offset + stride * self.h) as u32).to_le_bytes());
        out.extend([0u8; 4]);
        out.extend((offset as u32).to_le_bytes());
        let mut header = vec![0u8; self.header_size as usize];
        header[0..4].copy_from_slice(&self.header_size.to_le_bytes());
        header[4..8].copy_from_slice(&(self.w as i32).to_le_bytes());
        let h = if self.top_down { -(self.h as i32) } else { self.h as i32 };
        header[8..12].copy_from_slice(&h.to_le_bytes());
        header[12..14].copy_from_slice(&1u16.to_le_bytes());
        header[14..16].copy_from_slice(&self.bpp.to_le_bytes());
        header[16..20].copy_from_slice(&self.compression.to_le_bytes());
        header[32..36].copy_from_slice(&(self.palette.len() as u32).to_le_bytes());
        out.extend(&header);
        if let Some(masks) = self.masks {
            let at = out.len() - header.len() + 40;
            let bytes: Vec<u8> = masks.iter().flat_map(|m| m.to_le_bytes()).collect();
            if masks_len > 0 {
                out.extend(&bytes);
            } else {
                out[at..at + 12].copy_from_slice(&bytes);
            }
        }
        out.extend(self.palette.iter().flatten());
        let mut stored: Vec<&Vec<u8>> = rows.iter().collect();
        if !self.top_down {
            stored.reverse();
        }
        for row in stored {
            let mut padded = row.clone();
            padded.resize(stride, 0);
            out.extend(padded);
        }
        std::fs::write(path, out).unwrap();
    }
}

fn packed_rows(values: &[u8], w: usize, bits: usize) -> Vec<Vec<u8>> {
    values
        .chunks_exact(w)
        .map(|row| {
            let mut packed = vec![0u8; (w * bits).div_ceil(8)];
            for (x, v) in row.iter().enumerate() {
                let v = v >> (8 - bits);
                packed[x * bits / 8] |= v << (8 - bits - x * bits % 8);
            }
            packed
        })
        .collect()
}

#[test]
fn bmp_variants_read_exactly_as_opencv_decodes_them() {
    let (_dir, file) = temp();
    let color_palette: Vec<[u8; 4]> = (0..256).map(|i| [i as u8, (255 - i) as u8, (i * 37 % 256) as u8, 0]).collect();
    let gray_palette: Vec<[u8; 4]> = (0..256).map(|i| [(255 - i) as u8; 3]).map(|[b, g, r]| [b, g, r, 0]).collect();
    for (w, h) in SIZES {
        let rgb = picture(w, h);
        let gray8 = high_bytes(&gray_of(&rgb));
        let bgr: Vec<u8> = high_bytes(&rgb).chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
        let mut files = Vec::new();
        for (name, channels, samples) in [("opencv-bgr", 3, &rgb), ("opencv-gray", 1, &gray_of(&rgb))] {
            let path = file(&format!("{name}-{w}x{h}.bmp"));
            opencv_write(&path, w, h, channels, samples, false, &[]);
            files.push(path);
        }
        let plain = Bmp { w, h, bpp: 8, compression: 0, header_size: 40, palette: &[], masks: None, top_down: false };
        for bits in [1usize, 4, 8] {
            let rows = packed_rows(&gray8, w, bits);
            for (kind, palette) in [("color", &color_palette), ("gray", &gray_palette)] {
                for (short, entries) in [("full", 1 << bits), ("short", (1 << bits) / 2 + 1)] {
                    for top_down in [false, true] {
                        let path = file(&format!("pal{bits}-{kind}-{short}-{top_down}-{w}x{h}.bmp"));
                        let bmp = Bmp { bpp: bits as u16, palette: &palette[..entries], top_down, ..plain };
                        bmp.write(&path, &rows);
                        files.push(path);
                    }
                }
            }
        }
        let bgrx: Vec<Vec<u8>> = bgr
            .chunks_exact(3 * w)
            .map(|row| row.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], p[1] ^ 0xa5]).collect())
            .collect();
        let bgr_rows: Vec<Vec<u8>> = bgr.chunks_exact(3 * w).map(<[u8]>::to_vec).collect();
        let variants = [
            ("bgr-topdown", Bmp { bpp: 24, top_down: true, ..plain }, &bgr_rows),
            ("bgr-v5", Bmp { bpp: 24, header_size: 124, ..plain }, &bgr_rows),
            ("bgrx", Bmp { bpp: 32, ..plain }, &bgrx),
            ("bgrx-topdown", Bmp { bpp: 32, top_down: true, ..plain }, &bgrx),
            ("bitfields", Bmp { bpp: 32, compression: 3, masks: Some([0xff_0000, 0xff00, 0xff]), ..plain }, &bgrx),
            (
                "bitfields-v5",
                Bmp { bpp: 32, compression: 3, header_size: 124, masks: Some([0xff_0000, 0xff00, 0xff]), ..plain },
                &bgrx,
            ),
        ];
        for (name, bmp, rows) in variants {
            let path = file(&format!("{name}-{w}x{h}.bmp"));
            bmp.write(&path, rows);
            files.push(path);
        }
        for path in files {
            assert_exact(&path, true);
        }
    }
}

#[test]
fn rle_and_sixteen_bit_bmps_fall_back_to_the_whole_decode() {
    let (_dir, file) = temp();
    let plain = Bmp {
        w: 4,
        h: 2,
        bpp: 8,
        compression: 1,
        header_size: 40,
        palette: &[[9, 9, 9, 0]; 256],
        masks: None,
        top_down: false,
    };
    // RLE8: a run of 4 pixels of index 0, end of line, a run of 4, end of bitmap.
    let rle = file("rle8.bmp");
    plain.write(&rle, &[vec![4, 0, 0, 0, 4, 0, 0, 1]]);
    assert!(open_stream(&rle, DEFAULT_MAX_PIXELS).unwrap().is_none());
    assert!(open_range(&rle, DEFAULT_MAX_PIXELS).unwrap().is_none());
    let sixteen = file("rgb555.bmp");
    Bmp { bpp: 16, compression: 0, palette: &[], ..plain }
        .write(&sixteen, &[[0x1f, 0x7c].repeat(4), [0xe0, 0x03].repeat(4)]);
    assert_falls_back(&sixteen);
}
