//! JPEG in pieces: each piece is its rows encoded by OpenCV (the same libjpeg, quality and
//! sampling as `codec::encode`) with a restart marker after every MCU row; the joiner writes
//! the first piece's headers once and then every piece's entropy-coded data, the restart
//! markers numbered over the whole image and one more between pieces.
//!
//! Pieces start on MCU rows and libjpeg's 4:2:0 downsampling and DCT only look inside an MCU,
//! so the coefficients are those of a one-process encode and the file decodes to exactly its
//! pixels; only the DC prediction restarts at each marker (a couple of bytes per MCU row).

use super::format::{PieceDetail, PieceMeta};
use crate::cvio::imgcodecs;
use crate::image::Image;
use crate::ops::mat_view;
use anyhow::{bail, ensure, Context, Result};
use std::io::Write;

/// OpenCV's default `IMWRITE_JPEG_QUALITY`.
const QUALITY: i32 = 95;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DRI: u8 = 0xDD;
const RST0: u8 = 0xD0;

/// Encodes `rows` (starting at row `start` of `height`) and turns the result into the header
/// (with the full height) and this piece's share of the scan.
pub(super) fn encode(rows: &Image, start: usize, height: usize) -> Result<(PieceDetail, Vec<u8>)> {
    // OpenCV 4.6 encodes colour 4:2:0 (16-pixel MCUs) and gray in 8-pixel MCUs.
    let mcu_width = if rows.channels == 3 { 16 } else { 8 };
    let interval = rows.width.div_ceil(mcu_width);
    ensure!(
        interval <= u16::MAX as usize,
        "{} columns need more MCUs per row than a restart interval holds",
        rows.width
    );
    let params = [imgcodecs::IMWRITE_JPEG_QUALITY, QUALITY, imgcodecs::IMWRITE_JPEG_RST_INTERVAL, interval as i32];
    let buf = imgcodecs::imencode(".jpg", &mat_view(rows)?, &params).context("OpenCV's JPEG encoder")?;
    let buf = buf.context("OpenCV could not encode the rows as JPEG")?;
    let file = parse(buf.as_slice())?;
    let frame = file.frame;
    ensure!(
        file.restart_interval == Some(frame.mcus_per_row() as u16),
        "the encoder's restart interval {:?} is not one MCU row ({} MCUs)",
        file.restart_interval,
        frame.mcus_per_row()
    );
    ensure!(start.is_multiple_of(frame.mcu_height()), "row {start} is not the first of an MCU row");
    let mut header = buf.as_slice()[..file.scan_start].to_vec();
    ensure!(height <= u16::MAX as usize, "JPEG holds at most 65535 rows, not {height}");
    header[file.height_at..file.height_at + 2].copy_from_slice(&(height as u16).to_be_bytes());
    // The restart marker before MCU row k of the image is RST((k - 1) mod 8).
    let first_mcu_row = start / frame.mcu_height();
    let mut scan = Vec::with_capacity(buf.len() - file.scan_start + 2);
    if first_mcu_row > 0 {
        scan.extend_from_slice(&[0xFF, rst(first_mcu_row - 1)]);
    }
    let mut next = first_mcu_row;
    for_each_segment(&buf.as_slice()[file.scan_start..], |data, ends_with_rst| {
        scan.extend_from_slice(data);
        if ends_with_rst {
            scan.extend_from_slice(&[0xFF, rst(next)]);
            next += 1;
        }
    })?;
    let markers = next - first_mcu_row;
    let expected = rows.height.div_ceil(frame.mcu_height()) - 1;
    ensure!(markers == expected, "the encoder wrote {markers} restart markers for {expected} MCU row boundaries");
    Ok((PieceDetail::Jpeg { header }, scan))
}

fn rst(boundary: usize) -> u8 {
    RST0 + (boundary % 8) as u8
}

/// What the joiner needs from a JPEG file's headers.
struct Parsed {
    frame: Frame,
    restart_interval: Option<u16>,
    /// Offset of SOF's height field.
    height_at: usize,
    /// Offset of the first byte after the SOS segment.
    scan_start: usize,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    width: usize,
    max_h: usize,
    max_v: usize,
}

impl Frame {
    fn mcu_height(self) -> usize {
        8 * self.max_v
    }

    fn mcus_per_row(self) -> usize {
        self.width.div_ceil(8 * self.max_h)
    }
}

/// Reads the marker segments of a baseline JPEG up to its scan.
fn parse(bytes: &[u8]) -> Result<Parsed> {
    ensure!(bytes.starts_with(&[0xFF, SOI]), "not a JPEG (no start-of-image marker)");
    let (mut pos, mut frame, mut interval) = (2, None, None);
    loop {
        ensure!(pos + 4 <= bytes.len(), "the headers end before the scan");
        ensure!(bytes[pos] == 0xFF, "no marker at offset {pos}");
        let marker = bytes[pos + 1];
        if marker == 0xFF {
            pos += 1; // a fill byte
            continue;
        }
        let len = u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]) as usize;
        let body = bytes.get(pos + 4..pos + 2 + len).context("a marker segment runs past the end")?;
        match marker {
            0xC0 | 0xC1 => {
                ensure!(body.len() >= 6, "a short SOF");
                let n = body[5] as usize;
                let comps = body.get(6..6 + 3 * n).context("a short SOF")?;
                let max_h = comps.chunks(3).map(|c| (c[1] >> 4) as usize).max().unwrap_or(1);
                let max_v = comps.chunks(3).map(|c| (c[1] & 15) as usize).max().unwrap_or(1);
                let width = u16::from_be_bytes([body[3], body[4]]) as usize;
                frame = Some((Frame { width, max_h, max_v }, pos + 5));
            }
            0xC2..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => {
                bail!("not a baseline sequential JPEG (SOF marker {marker:02X})")
            }
            DRI => interval = Some(u16::from_be_bytes([body[0], body[1]])),
            SOS => {
                let (frame, height_at) = frame.context("a scan before the frame header")?;
                return Ok(Parsed { frame, restart_interval: interval, height_at, scan_start: pos + 2 + len });
            }
            _ => {}
        }
        pos += 2 + len;
    }
}

/// Splits entropy-coded data (which starts right after SOS) at its markers: calls `f` with each
/// run of data and whether it ends at a restart marker. Stuffed `FF 00` stays data; fill bytes
/// are dropped; the data must end with EOI.
fn for_each_segment(scan: &[u8], mut f: impl FnMut(&[u8], bool)) -> Result<()> {
    let (mut from, mut i) = (0, 0);
    while i < scan.len() {
        if scan[i] != 0xFF {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while scan.get(j) == Some(&0xFF) {
            j += 1; // fill bytes
        }
        match scan.get(j) {
            Some(0x00) => i = j + 1,
            Some(&m) if (RST0..RST0 + 8).contains(&m) => {
                f(&scan[from..i], true);
                from = j + 1;
                i = from;
            }
            Some(&EOI) => {
                f(&scan[from..i], false);
                return Ok(());
            }
            Some(m) => bail!("unexpected marker FF{m:02X} inside the scan"),
            None => break,
        }
    }
    bail!("the scan has no end-of-image marker")
}

/// Writes the header once, the scans in order, then EOI; checks that pieces agree and that
/// each piece's restart markers continue where the last one stopped.
pub(super) struct Joiner {
    header: Option<Vec<u8>>,
    /// Restart markers written so far (the next is RST(written mod 8)).
    markers: usize,
}

impl Joiner {
    pub fn new() -> Joiner {
        Joiner { header: None, markers: 0 }
    }

    pub fn add(&mut self, out: &mut impl Write, meta: &PieceMeta, header: &[u8], scan: &[u8]) -> Result<()> {
        if meta.rows == 0 {
            ensure!(scan.is_empty(), "a piece of no rows has {} bytes", scan.len());
            return Ok(());
        }
        match &self.header {
            None => {
                out.write_all(header)?;
                self.header = Some(header.to_vec());
            }
            Some(h) => ensure!(h == header, "this piece's JPEG headers differ from the first piece's"),
        }
        let frame = parse(header)?.frame;
        let mut expected = meta.rows.div_ceil(frame.mcu_height()) - 1;
        if meta.start > 0 {
            expected += 1; // the marker between this piece and the last
        }
        let mut seen = 0;
        let mut bad = None;
        let ends = for_each_segment_open(scan, |m| {
            if m != rst(self.markers + seen) && bad.is_none() {
                bad = Some(seen);
            }
            seen += 1;
        })?;
        ensure!(bad.is_none(), "restart marker {} of this piece is out of sequence", bad.unwrap_or(0));
        ensure!(seen == expected, "{seen} restart markers where its {} rows need {expected}", meta.rows);
        ensure!(!ends, "the scan data ends inside a marker");
        out.write_all(scan)?;
        self.markers += seen;
        Ok(())
    }

    pub fn finish(self, out: &mut impl Write) -> Result<()> {
        ensure!(self.header.is_some(), "no rows were joined");
        out.write_all(&[0xFF, EOI])?;
        Ok(())
    }
}

/// Walks a piece's scan data (no EOI) calling `f` with each restart marker; any other marker is
/// an error. Returns whether the data ends on a lone 0xFF.
fn for_each_segment_open(scan: &[u8], mut f: impl FnMut(u8)) -> Result<bool> {
    let mut i = 0;
    while i < scan.len() {
        if scan[i] != 0xFF {
            i += 1;
            continue;
        }
        match scan.get(i + 1) {
            None => return Ok(true),
            Some(0x00) => {}
            Some(&m) if (RST0..RST0 + 8).contains(&m) => f(m),
            Some(m) => bail!("unexpected marker FF{m:02X} inside the scan"),
        }
        i += 2;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_segments_keep_stuffed_bytes_drop_fill_bytes_and_split_at_restarts() {
        let scan = [1, 0xFF, 0x00, 2, 0xFF, 0xFF, 0xD3, 3, 4, 0xFF, 0xD9];
        let mut parts = Vec::new();
        for_each_segment(&scan, |d, rst| parts.push((d.to_vec(), rst))).unwrap();
        assert_eq!(parts, vec![(vec![1, 0xFF, 0x00, 2], true), (vec![3, 4], false)]);
        assert!(for_each_segment(&[1, 2, 3], |_, _| {}).is_err(), "no EOI");
        assert!(for_each_segment(&[1, 0xFF, 0xC4, 0xFF, 0xD9], |_, _| {}).is_err(), "a stray marker");
    }

    #[test]
    fn restart_markers_are_numbered_over_the_whole_image() {
        let rows = Image::from_vec(20, 32, 1, (0..640).map(|v| (v % 200) as u8).collect()).unwrap();
        let (_, first) = encode(&rows, 0, 64).unwrap();
        let (_, second) = encode(&rows, 32, 64).unwrap();
        let mut seen = Vec::new();
        for_each_segment_open(&first, |m| seen.push(m - RST0)).unwrap();
        assert_eq!(seen, [0, 1, 2], "8-row MCUs: three boundaries inside 32 rows");
        seen.clear();
        for_each_segment_open(&second, |m| seen.push(m - RST0)).unwrap();
        assert_eq!(seen, [3, 4, 5, 6], "one marker before the piece, three inside");
    }
}
