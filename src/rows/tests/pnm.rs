//! Binary PGM and PPM: OpenCV's 8- and 16-bit files, hand-made headers with comments and unusual
//! maxvals; the ASCII variants fall back.

use super::*;

#[test]
fn pnm_variants_read_exactly_as_opencv_decodes_them() {
    let (_dir, file) = temp();
    for (w, h) in SIZES {
        let rgb = picture(w, h);
        let gray = gray_of(&rgb);
        let mut files = Vec::new();
        for (name, channels, sixteen) in [("p6", 3, false), ("p5", 1, false), ("p6-16", 3, true), ("p5-16", 1, true)] {
            let ext = if channels == 1 { "pgm" } else { "ppm" };
            let path = file(&format!("opencv-{name}-{w}x{h}.{ext}"));
            let samples = if channels == 1 { &gray } else { &rgb };
            opencv_write(&path, w, h, channels, samples, sixteen, &[imgcodecs::IMWRITE_PXM_BINARY, 1]);
            files.push(path);
        }
        let hand = [
            ("P6", 255, "P6\n# a comment\n{w} {h}\n255\n", high_bytes(&rgb)),
            ("P5", 100, "P5 {w}\t{h} #c\n100\r", high_bytes(&gray).iter().map(|v| v % 101).collect()),
            ("P6", 1000, "P6\n{w}\n{h}\n1000\n", big_endian(&rgb.iter().map(|v| v % 1001).collect::<Vec<_>>())),
            ("P5", 65535, "P5\n{w} {h}\n65535 ", big_endian(&gray)),
        ];
        for (i, (magic, maxval, header, data)) in hand.into_iter().enumerate() {
            let path = file(&format!("hand{i}-{magic}-{maxval}-{w}x{h}.pnm"));
            let header = header.replace("{w}", &w.to_string()).replace("{h}", &h.to_string());
            std::fs::write(&path, [header.as_bytes(), &data].concat()).unwrap();
            files.push(path);
        }
        for path in files {
            assert_exact(&path, true);
        }
    }
}

#[test]
fn ascii_pnms_fall_back_to_the_whole_decode() {
    let (_dir, file) = temp();
    let path = file("ascii.pgm");
    std::fs::write(&path, "P2\n2 2\n255\n1 2\n3 4\n").unwrap();
    assert_falls_back(&path);
}
