//! The input image's rows as rank 0 hands them out ([`RowSource`]), top to bottom, from the cheapest reader the
//! file allows: a range reader (TIFF, BMP, PPM/PGM: any rows without the ones before), a streaming
//! decoder (PNG rows) or, for other formats, one whole decode.
//!
//! A streamed strip is sent as soon as its rows are decoded, so the workers filter while rank 0 is
//! still decoding, and rank 0 never holds more than a message of rows plus the halo rows that two
//! neighbouring strips share. Pure: no MPI.

use crate::codec;
use crate::image::Image;
use crate::rows::{open_range, open_stream, RowRange, RowStream, Shape};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes of rows per message when rank 0 streams a strip: large enough that a message costs
/// nothing next to its transfer, small enough that rank 0 holds little of a worker's strip.
pub const STREAM_MESSAGE_BYTES: usize = 4 << 20;

/// RowSource per streamed message for rows of `row_bytes` bytes.
pub fn chunk_rows(row_bytes: usize) -> usize {
    (STREAM_MESSAGE_BYTES / row_bytes.max(1)).max(1)
}

/// How rank 0 reads an input's rows (the `--json` summary's `io` names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderKind {
    /// Any rows where they lie, without the ones before (TIFF, BMP, PPM/PGM): other ranks can
    /// read their own rows too.
    Ranged,
    /// Rows decoded in order, top to bottom (PNG, JPEG).
    Streamed,
    /// One decode of the whole image (other formats, and variants the row decoders do not
    /// reproduce exactly).
    Whole,
}

impl ReaderKind {
    /// The word the `--json` summary uses.
    pub fn name(self) -> &'static str {
        match self {
            ReaderKind::Ranged => "ranged",
            ReaderKind::Streamed => "streamed",
            ReaderKind::Whole => "whole",
        }
    }
}

impl std::fmt::Display for ReaderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The rows of an input file, read in row order.
pub enum RowSource {
    /// Any range of rows, read where it lies.
    Range(Box<dyn RowRange>),
    /// RowSource decoded in order; `carry` holds rows `[carry_start, next)` that a later request may
    /// still ask for (the halo two strips share).
    Stream { stream: Box<dyn RowStream>, next: usize, carry: Vec<u8>, carry_start: usize },
    /// The whole image, decoded at once (formats without a row reader).
    Whole(Image),
}

impl RowSource {
    /// Opens `path` with the best reader for its format; only the header is read yet, except for
    /// a whole decode. Errors name the file and the reason.
    pub fn open(path: &Path, max_pixels: u64) -> Result<RowSource> {
        if let Some(range) = open_range(path, max_pixels)? {
            return Ok(RowSource::Range(range));
        }
        if let Some(stream) = open_stream(path, max_pixels)? {
            return Ok(RowSource::Stream { stream, next: 0, carry: Vec::new(), carry_start: 0 });
        }
        Ok(RowSource::Whole(codec::read_image(path, max_pixels)?))
    }

    pub fn shape(&self) -> Shape {
        match self {
            RowSource::Range(r) => r.shape(),
            RowSource::Stream { stream, .. } => stream.shape(),
            RowSource::Whole(img) => Shape { width: img.width, height: img.height, channels: img.channels },
        }
    }

    /// How the rows are read.
    pub fn kind(&self) -> ReaderKind {
        match self {
            RowSource::Range(_) => ReaderKind::Ranged,
            RowSource::Stream { .. } => ReaderKind::Streamed,
            RowSource::Whole(_) => ReaderKind::Whole,
        }
    }

    /// Rank 0's share of rows against a worker's (`split::plan_streamed`). Rank 0 decodes a
    /// stream for every rank before its own rows: balanced when its share is `1 - f`, with `f` the
    /// part of the job decoding takes (the last worker and rank 0 then finish together).
    pub fn rank0_weight(&self) -> f64 {
        match self {
            RowSource::Stream { stream, .. } => 1.0 - stream.decode_share().clamp(0.0, 0.9),
            RowSource::Range(_) | RowSource::Whole(_) => 1.0,
        }
    }

    /// Whether another process could read any rows of the same file by itself.
    pub fn random_access(&self) -> bool {
        matches!(self, RowSource::Range(_))
    }

    fn row_bytes(&self) -> usize {
        let s = self.shape();
        s.width * s.channels
    }

    /// Fills `buf` with rows `[start, end)`. Requests come in row order: a stream can only give
    /// rows at or after `keep_from` of the previous request, and after this one it forgets the
    /// rows before `keep_from` (the first row a later request will ask for).
    pub fn rows(&mut self, start: usize, end: usize, buf: &mut [u8], keep_from: usize) -> Result<()> {
        let rb = self.row_bytes();
        ensure!(buf.len() == (end - start) * rb, "a buffer of {} bytes for rows {start}..{end}", buf.len());
        match self {
            RowSource::Range(r) => r.read_rows(start, end, buf),
            RowSource::Whole(img) => {
                buf.copy_from_slice(img.rows(start, end));
                Ok(())
            }
            RowSource::Stream { stream, next, carry, carry_start } => {
                ensure!(start >= *carry_start, "rows {start}.. were already handed out and forgotten");
                // RowSource already decoded come from the carry, the rest straight from the decoder.
                let from_carry = start.min(*next)..end.min(*next);
                buf[..from_carry.len() * rb].copy_from_slice(
                    &carry[(from_carry.start - *carry_start) * rb..(from_carry.end - *carry_start) * rb],
                );
                if end > *next {
                    ensure!(start <= *next, "rows {}..{start} would be skipped", *next);
                    stream.next_rows(&mut buf[(*next - start) * rb..])?;
                    *next = end;
                }
                // Keep rows [keep_from, next) for the next request.
                let keep = keep_from.clamp(*carry_start, *next);
                let mut kept = Vec::with_capacity((*next - keep) * rb);
                for row in keep..*next {
                    let src = if row >= start && row < end {
                        &buf[(row - start) * rb..(row - start + 1) * rb]
                    } else {
                        &carry[(row - *carry_start) * rb..(row - *carry_start + 1) * rb]
                    };
                    kept.extend_from_slice(src);
                }
                *carry = kept;
                *carry_start = keep;
                Ok(())
            }
        }
    }

    /// RowSource `[start, end)` where they already lie in memory (a whole decode), to be sent
    /// without a copy; `None` for readers that read on demand.
    pub fn in_memory(&self, start: usize, end: usize) -> Option<&[u8]> {
        match self {
            RowSource::Whole(img) => Some(img.rows(start, end)),
            _ => None,
        }
    }

    /// The last rows this reader gives, `[start, end)`, as an image; a whole decode keeps them in
    /// place instead of copying them (rank 0's own strip).
    pub fn into_image(self, start: usize, end: usize) -> Result<Image> {
        match self {
            RowSource::Whole(mut img) => {
                img.retain_rows(start, end);
                Ok(img)
            }
            mut rows => rows.image(start, end, end),
        }
    }

    /// RowSource `[start, end)` as an image (see [`RowSource::rows`]).
    pub fn image(&mut self, start: usize, end: usize, keep_from: usize) -> Result<Image> {
        let s = self.shape();
        let mut img = Image::zeros(s.width, end - start, s.channels);
        self.rows(start, end, &mut img.data, keep_from)?;
        Ok(img)
    }
}

/// What identifies a file across hosts without reading it all: its length and a hash of its
/// first and last 64 KB. Another rank that finds the same fingerprint at the same path reads the
/// same image (a copy on each host counts as the same file, as it should).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u64,
    pub hash: u64,
}

impl Fingerprint {
    pub fn of(path: &Path) -> Result<Fingerprint> {
        let mut f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let len = f.metadata()?.len();
        const PART: u64 = 64 << 10;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut buf = vec![0u8; PART.min(len) as usize];
        f.read_exact(&mut buf)?;
        hasher.write(&buf);
        f.seek(SeekFrom::Start(len.saturating_sub(PART)))?;
        f.read_exact(&mut buf)?;
        hasher.write(&buf);
        hasher.write_u64(len);
        Ok(Fingerprint { len, hash: hasher.finish() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream over an image, one row at a time, that counts the rows it decoded.
    struct FakeStream(Image, usize);

    impl RowStream for FakeStream {
        fn shape(&self) -> Shape {
            Shape { width: self.0.width, height: self.0.height, channels: self.0.channels }
        }
        fn next_rows(&mut self, buf: &mut [u8]) -> Result<()> {
            let n = buf.len() / self.0.row_bytes();
            buf.copy_from_slice(self.0.rows(self.1, self.1 + n));
            self.1 += n;
            Ok(())
        }
    }

    #[test]
    fn overlapping_strips_in_chunks_read_each_row_once_and_exactly() {
        let img = crate::synth::picture(23, 41, 3, 7);
        let mut rows =
            RowSource::Stream { stream: Box::new(FakeStream(img.clone(), 0)), next: 0, carry: vec![], carry_start: 0 };
        // Three strips with a halo of 3 rows, each sent in chunks of 4 rows.
        let strips = [0..17, 11..31, 25..41];
        for (i, s) in strips.iter().enumerate() {
            let next_start = strips.get(i + 1).map_or(41, |n| n.start);
            let mut at = s.start;
            while at < s.end {
                let to = (at + 4).min(s.end);
                let got = rows.image(at, to, next_start.min(to)).unwrap();
                assert_eq!(got, img.crop_rows(at, to), "rows {at}..{to}");
                at = to;
            }
            if let RowSource::Stream { carry, .. } = &rows {
                assert!(carry.len() <= 6 * img.row_bytes(), "only the shared halo is kept");
            }
        }
        let RowSource::Stream { stream, .. } = rows else { unreachable!() };
        assert_eq!(stream.shape().height, 41);
    }

    #[test]
    fn a_whole_decode_lends_its_rows_and_keeps_the_last_ones_in_place() {
        let img = crate::synth::picture(9, 20, 3, 2);
        let rows = RowSource::Whole(img.clone());
        assert_eq!(rows.in_memory(2, 5).unwrap(), img.rows(2, 5));
        let RowSource::Whole(held) = &rows else { unreachable!() };
        let at = held.data.as_ptr() as usize;
        let last = rows.into_image(0, 20).unwrap();
        assert_eq!(last.data.as_ptr() as usize, at, "rows starting at 0 stay where they are");
        assert_eq!(RowSource::Whole(img.clone()).into_image(13, 20).unwrap(), img.crop_rows(13, 20));
    }

    #[test]
    fn a_row_already_forgotten_is_an_error_not_a_wrong_pixel() {
        let img = crate::synth::picture(5, 10, 1, 1);
        let mut rows =
            RowSource::Stream { stream: Box::new(FakeStream(img, 0)), next: 0, carry: vec![], carry_start: 0 };
        rows.image(0, 6, 6).unwrap();
        assert!(rows.image(4, 8, 8).is_err());
    }

    #[test]
    fn rank_0_takes_fewer_rows_only_when_it_decodes_a_costly_stream_for_everyone() {
        let dir = tempfile::tempdir().unwrap();
        let img = crate::synth::picture(64, 48, 3, 5);
        let weight = |ext: &str| {
            let path = dir.path().join(format!("in.{ext}"));
            std::fs::write(&path, &*crate::codec::encode(&img, ext).unwrap()).unwrap();
            let rows = RowSource::open(&path, u64::MAX).unwrap();
            (rows.kind().name(), rows.rank0_weight())
        };
        assert_eq!(weight("jpg"), ("streamed", 0.5));
        assert_eq!(weight("png"), ("streamed", 1.0));
        assert_eq!(weight("tif"), ("ranged", 1.0));
        assert_eq!(weight("webp"), ("whole", 1.0));
    }

    #[test]
    fn fingerprints_tell_files_apart_by_content_and_length() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        std::fs::write(&a, vec![7u8; 200_000]).unwrap();
        std::fs::write(&b, vec![7u8; 200_000]).unwrap();
        let mut other = vec![7u8; 200_000];
        other[199_999] = 8;
        std::fs::write(&c, other).unwrap();
        assert_eq!(Fingerprint::of(&a).unwrap(), Fingerprint::of(&b).unwrap());
        assert_ne!(Fingerprint::of(&a).unwrap(), Fingerprint::of(&c).unwrap());
    }
}
