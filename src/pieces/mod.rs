//! STUB (replaced by the pieces branch): raw PPM/PGM only, to exercise the MPI layer.
use crate::image::Image;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PieceFormat {
    Png,
    Jpeg,
    Tiff,
    Bmp,
    Pnm,
}

impl PieceFormat {
    pub fn from_ext(ext: &str) -> Option<PieceFormat> {
        matches!(ext, "ppm" | "pgm").then_some(PieceFormat::Pnm)
    }
    pub fn row_align(self) -> usize {
        1
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceMeta {
    rows: usize,
}

pub struct Piece {
    pub meta: PieceMeta,
    pub bytes: Vec<u8>,
}

pub fn encode_piece(_format: PieceFormat, rows: &Image, _start: usize, _height: usize) -> Result<Piece> {
    let mut bytes = rows.data.clone();
    if rows.channels == 3 {
        bytes.chunks_mut(3).for_each(|p| p.swap(0, 2));
    }
    Ok(Piece { meta: PieceMeta { rows: rows.height }, bytes })
}

pub struct Assembler {
    f: std::fs::File,
    left: usize,
}

impl Assembler {
    pub fn new(file: &Path, _format: PieceFormat, width: usize, height: usize, channels: usize) -> Result<Assembler> {
        let mut f = std::fs::File::create(file)?;
        write!(f, "{}\n{width} {height}\n255\n", if channels == 3 { "P6" } else { "P5" })?;
        Ok(Assembler { f, left: height })
    }
    pub fn add(&mut self, meta: &PieceMeta, bytes: &[u8]) -> Result<()> {
        self.f.write_all(bytes)?;
        self.left -= meta.rows;
        Ok(())
    }
    pub fn finish(self) -> Result<()> {
        ensure!(self.left == 0, "rows missing");
        self.f.sync_all()?;
        Ok(())
    }
}
