//! STUB (replaced by the rows branch): decoding rows incrementally or by range.
use anyhow::Result;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

pub trait RowStream: Send {
    fn shape(&self) -> Shape;
    fn next_rows(&mut self, buf: &mut [u8]) -> Result<()>;
}

pub trait RowRange: Send {
    fn shape(&self) -> Shape;
    fn read_rows(&mut self, start: usize, end: usize, buf: &mut [u8]) -> Result<()>;
}

pub fn open_stream(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowStream>>> {
    std::env::remove_var("STUB_STREAM_X");
    if std::env::var_os("STUB_STREAM").is_none() {
        return Ok(None);
    }
    std::env::remove_var("STUB_STREAM");
    let r = open_range(path, max_pixels);
    std::env::set_var("STUB_STREAM", "1");
    let Some(_) = r? else { return Ok(None) };
    let mut head = vec![0u8; 64];
    use std::io::Read;
    let n = std::fs::File::open(path)?.read(&mut head)?;
    let text = String::from_utf8_lossy(&head[..n]).to_string();
    let parts: Vec<&str> = text.split_ascii_whitespace().take(4).collect();
    let channels = if parts[0] == "P6" { 3 } else { 1 };
    let (w, h): (usize, usize) = (parts[1].parse()?, parts[2].parse()?);
    let offset = format!("{}\n{} {}\n255\n", parts[0], w, h).len() as u64;
    Ok(Some(Box::new(PnmStream(
        Pnm { path: path.to_path_buf(), shape: Shape { width: w, height: h, channels }, offset },
        0,
    ))))
}

pub fn open_range(path: &Path, _max_pixels: u64) -> Result<Option<Box<dyn RowRange>>> {
    use std::io::Read;
    let mut head = vec![0u8; 64];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    let text = String::from_utf8_lossy(&head[..n]).to_string();
    let parts: Vec<&str> = text.split_ascii_whitespace().take(4).collect();
    if parts.len() < 4 || !(parts[0] == "P6" || parts[0] == "P5") || std::env::var_os("STUB_STREAM").is_some() {
        return Ok(None);
    }
    let channels = if parts[0] == "P6" { 3 } else { 1 };
    let (w, h): (usize, usize) = (parts[1].parse()?, parts[2].parse()?);
    let offset = format!("{}\n{} {}\n255\n", parts[0], w, h).len() as u64;
    Ok(Some(Box::new(Pnm { path: path.to_path_buf(), shape: Shape { width: w, height: h, channels }, offset })))
}

struct Pnm {
    path: std::path::PathBuf,
    shape: Shape,
    offset: u64,
}

impl RowRange for Pnm {
    fn shape(&self) -> Shape {
        self.shape
    }
    fn read_rows(&mut self, start: usize, end: usize, buf: &mut [u8]) -> Result<()> {
        use std::io::{Read, Seek};
        let rb = (self.shape.width * self.shape.channels) as u64;
        let mut f = std::fs::File::open(&self.path)?;
        f.seek(std::io::SeekFrom::Start(self.offset + start as u64 * rb))?;
        f.read_exact(&mut buf[..(end - start) * rb as usize])?;
        if self.shape.channels == 3 {
            buf.chunks_mut(3).for_each(|p| p.swap(0, 2));
        }
        Ok(())
    }
}

struct PnmStream(Pnm, usize);
impl RowStream for PnmStream {
    fn shape(&self) -> Shape {
        self.0.shape
    }
    fn next_rows(&mut self, buf: &mut [u8]) -> Result<()> {
        let n = buf.len() / (self.0.shape.width * self.0.shape.channels);
        self.0.read_rows(self.1, self.1 + n, buf)?;
        self.1 += n;
        Ok(())
    }
}
