//! What a file holds before imgproc decodes it: sample depth and channels (alpha included), read
//! from the header of a PNG, a PNM or a WebP. Such a file is read as it is and keeps its depth and
//! alpha through a job where every op of the chain takes them (`ops::keeps`) and the output
//! format holds them ([`FileLayout::kept_by`]); otherwise it is read as imgproc always read it
//! (8-bit gray or colour, as OpenCV decodes it) and the faces say what is dropped before any
//! work ([`FileLayout::warning`]). Pure: bytes in, a description out.

use crate::chain::OpChain;
use crate::image::Keep;

/// The samples a file declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLayout {
    /// Bits per sample (1, 2, 4, 8 or 16).
    pub bits: u8,
    /// Channels, alpha included (a palette counts as 3).
    pub channels: u8,
    pub alpha: bool,
}

impl FileLayout {
    /// Reads the layout from the first bytes of a file (64 are enough); `None` for a format whose
    /// header is not read here (JPEG and BMP are 8-bit without alpha as imgproc reads them).
    pub fn probe(head: &[u8]) -> Option<FileLayout> {
        png(head).or_else(|| pnm(head)).or_else(|| webp(head))
    }

    /// Whether a job that keeps `keep` keeps anything of this file that an 8-bit gray or colour
    /// image has not: the file is then read as it is (and whole on rank 0), not as 8-bit rows.
    pub fn kept_by(&self, keep: Keep) -> bool {
        (self.bits > 8 && keep.depth16) || (self.alpha && keep.alpha)
    }

    /// "16-bit gray", "8-bit colour with alpha (RGBA)".
    pub fn describe(&self) -> String {
        let kind = match (self.channels, self.alpha) {
            (1, _) => "gray",
            (2, _) => "gray with alpha",
            (3, _) => "colour",
            _ => "colour with alpha (RGBA)",
        };
        format!("{}-bit {kind}", self.bits)
    }

    /// What a job with `chain` into a file that holds `format` loses of this file, and why, or
    /// `None`: "its 16-bit samples become 8-bit (the top 8 bits) for bilateral, which takes 8-bit
    /// samples only".
    pub fn dropped(&self, chain: &OpChain, format: Keep) -> Option<String> {
        let keep = chain.keeps().and(format);
        let why = |kept: fn(Keep) -> bool, what: &str| {
            let ops: Vec<&str> = chain.0.iter().filter(|op| !kept(op.keeps())).map(|op| op.name()).collect();
            match ops.as_slice() {
                [] => "the output format holds no such samples".to_string(),
                [one] => format!("{one} takes {what}"),
                many => format!("{} take {what}", many.join(", ")),
            }
        };
        let depth = (self.bits > 8 && !keep.depth16).then(|| {
            format!("its {}-bit samples become 8-bit (the top 8 bits): {}", self.bits, why(|k| k.depth16, "8-bit only"))
        });
        let alpha = (self.alpha && !keep.alpha)
            .then(|| format!("its alpha channel is dropped: {}", why(|k| k.alpha, "no alpha")));
        match (depth, alpha) {
            (None, None) => None,
            (Some(d), None) => Some(d),
            (None, Some(a)) => Some(a),
            (Some(d), Some(a)) => Some(format!("{d}; {a}")),
        }
    }

    /// The warning a face gives before work starts, or `None` when nothing is lost: "in.png is
    /// 16-bit gray: its 16-bit samples become 8-bit … only".
    pub fn warning(&self, name: &str, chain: &OpChain, format: Keep) -> Option<String> {
        self.dropped(chain, format).map(|d| format!("{name} is {}: {d}", self.describe()))
    }
}

fn png(b: &[u8]) -> Option<FileLayout> {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") || b.len() < 26 || &b[12..16] != b"IHDR" {
        return None;
    }
    let (bits, colour) = (b[24], b[25]);
    let (channels, alpha) = match colour {
        0 => (1, false),
        2 | 3 => (3, false),
        4 => (2, true),
        6 => (4, true),
        _ => return None,
    };
    Some(FileLayout { bits, channels, alpha })
}

/// P5 (gray) and P6 (colour): more than 8 bits when the maximum value is above 255.
fn pnm(b: &[u8]) -> Option<FileLayout> {
    let channels = match b.get(..2)? {
        b"P5" => 1,
        b"P6" => 3,
        _ => return None,
    };
    let text = String::from_utf8_lossy(&b[2..b.len().min(64)]);
    let mut fields = text.lines().map(|l| l.split('#').next().unwrap_or("")).flat_map(str::split_whitespace);
    let max: u32 = fields.nth(2)?.parse().ok()?;
    Some(FileLayout { bits: if max > 255 { 16 } else { 8 }, channels, alpha: false })
}

/// WebP is 8-bit; its extended header (VP8X) or a lossless stream (VP8L) says whether it has alpha.
fn webp(b: &[u8]) -> Option<FileLayout> {
    if b.len() < 30 || &b[..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return None;
    }
    let alpha = match &b[12..16] {
        b"VP8X" => b[20] & 0x10 != 0,
        b"VP8L" => b[24] & 0x10 != 0,
        _ => false,
    };
    Some(FileLayout { bits: 8, channels: if alpha { 4 } else { 3 }, alpha })
}

/// The first bytes of the file at `path`, enough for [`FileLayout::probe`].
pub fn probe_file(path: &std::path::Path) -> Option<FileLayout> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path).ok()?.take(64).read_to_end(&mut head).ok()?;
    FileLayout::probe(&head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_head(bits: u8, colour: u8) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x04\0\0\0\x02".to_vec();
        b.extend([bits, colour, 0, 0, 0]);
        b
    }

    #[test]
    fn a_16_bit_png_and_an_rgba_png_are_told_before_their_depth_and_alpha_are_dropped() {
        let chain = |text: &str| OpChain::parse(text, &[]).unwrap();
        let gray16 = FileLayout::probe(&png_head(16, 0)).unwrap();
        assert_eq!(gray16, FileLayout { bits: 16, channels: 1, alpha: false });
        assert_eq!(gray16.warning("deep.png", &chain("gaussian,invert"), Keep::ALL), None, "both take 16 bits");
        let w = gray16.warning("deep.png", &chain("gaussian,bilateral"), Keep::ALL).unwrap();
        assert_eq!(
            w,
            "deep.png is 16-bit gray: its 16-bit samples become 8-bit (the top 8 bits): bilateral takes 8-bit only"
        );
        let w = gray16.warning("deep.png", &chain("blur"), Keep::format("jpg")).unwrap();
        assert!(w.ends_with("the output format holds no such samples"), "{w}");
        let rgba = FileLayout::probe(&png_head(8, 6)).unwrap();
        assert_eq!(rgba.describe(), "8-bit colour with alpha (RGBA)");
        let d = rgba.dropped(&chain("blur,invert,gray"), Keep::ALL).unwrap();
        assert_eq!(d, "its alpha channel is dropped: invert, gray take no alpha");
        let plain = FileLayout::probe(&png_head(8, 2)).unwrap();
        assert_eq!(plain.warning("x.png", &chain("canny"), Keep::NONE), None, "8-bit colour loses nothing");
    }

    #[test]
    fn pnm_depth_follows_its_maximum_value_and_other_formats_are_not_guessed() {
        assert_eq!(FileLayout::probe(b"P5\n# c\n4 2\n65535\n").unwrap().bits, 16);
        assert_eq!(FileLayout::probe(b"P6 4 2 255\n").unwrap(), FileLayout { bits: 8, channels: 3, alpha: false });
        assert_eq!(FileLayout::probe(&[0xFF, 0xD8, 0xFF, 0xE0]), None);
    }
}
