//! A safe wrapper over the system zlib's `deflate`, for the PNG pieces.
//!
//! We call zlib itself (through `libz-sys`) rather than a Rust port because a piece must be
//! compressed exactly as OpenCV's libpng would (level 1, `Z_RLE`) and end on a byte-aligned
//! `Z_SYNC_FLUSH` that is not final, so that pieces made on different ranks concatenate into one
//! valid stream (the technique of pigz and mtpng). It also exposes zlib's Adler-32 and its
//! `adler32_combine`. It knows nothing of image formats.

use anyhow::{ensure, Result};
use libz_sys as z;
use std::os::raw::{c_int, c_uint, c_void};

/// How a deflate stream is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Bare deflate blocks (`windowBits` −15): the PNG joiner writes the zlib header and the
    /// Adler-32 around the concatenated pieces itself.
    Raw,
}

/// One deflate stream. Boxed because zlib keeps a pointer back to the `z_stream` and checks it.
pub struct Deflater {
    stream: Box<z::z_stream>,
}

/// What to do after the input of one [`Deflater::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Keep the input for later blocks.
    None,
    /// End on a byte boundary with an empty stored block, not final: more pieces follow.
    Sync,
    /// End the stream (final block).
    Finish,
}

unsafe extern "C" fn zalloc(_opaque: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void {
    libc::calloc(items as usize, size as usize)
}

unsafe extern "C" fn zfree(_opaque: *mut c_void, address: *mut c_void) {
    libc::free(address)
}

impl Deflater {
    /// A stream at zlib `level` (0–9) with `strategy` (`Z_RLE`, `Z_DEFAULT_STRATEGY`, ...).
    pub fn new(level: i32, strategy: i32, framing: Framing) -> Result<Deflater> {
        let mut stream = Box::new(z::z_stream {
            next_in: std::ptr::null_mut(),
            avail_in: 0,
            total_in: 0,
            next_out: std::ptr::null_mut(),
            avail_out: 0,
            total_out: 0,
            msg: std::ptr::null_mut(),
            state: std::ptr::null_mut(),
            zalloc,
            zfree,
            opaque: std::ptr::null_mut(),
            data_type: 0,
            adler: 0,
            reserved: 0,
        });
        let bits = match framing {
            Framing::Raw => -15,
        };
        // SAFETY: `stream` is a fully initialised z_stream that stays at this address (boxed)
        // until `deflateEnd` in Drop.
        let rc = unsafe {
            z::deflateInit2_(
                &mut *stream,
                level,
                z::Z_DEFLATED,
                bits,
                8,
                strategy,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        ensure!(rc == z::Z_OK, "zlib deflateInit2 failed ({rc})");
        Ok(Deflater { stream })
    }

    /// Compresses `input`, appending the output to `out`.
    pub fn push(&mut self, input: &[u8], flush: Flush, out: &mut Vec<u8>) -> Result<()> {
        let mode = match flush {
            Flush::None => z::Z_NO_FLUSH,
            Flush::Sync => z::Z_SYNC_FLUSH,
            Flush::Finish => z::Z_FINISH,
        };
        // zlib counts in 32-bit units: feed very large inputs in parts.
        let mut parts = input.chunks(1 << 30).peekable();
        if parts.peek().is_none() {
            return self.run(&[], mode, out);
        }
        while let Some(part) = parts.next() {
            let m = if parts.peek().is_some() { z::Z_NO_FLUSH } else { mode };
            self.run(part, m, out)?;
        }
        Ok(())
    }

    fn run(&mut self, input: &[u8], mode: c_int, out: &mut Vec<u8>) -> Result<()> {
        let s = &mut *self.stream;
        s.next_in = input.as_ptr() as *mut u8;
        s.avail_in = input.len() as c_uint;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(input.len() / 2 + 4096);
            }
            let spare = (out.capacity() - out.len()).min(1 << 30);
            // SAFETY: next_out points at `spare` writable bytes of `out`'s allocation; zlib
            // reports how many it wrote and we extend the length by exactly that.
            let rc = unsafe {
                s.next_out = out.as_mut_ptr().add(out.len());
                s.avail_out = spare as c_uint;
                let rc = z::deflate(s, mode);
                let written = spare - s.avail_out as usize;
                out.set_len(out.len() + written);
                rc
            };
            ensure!(rc == z::Z_OK || rc == z::Z_STREAM_END || rc == z::Z_BUF_ERROR, "zlib deflate failed ({rc})");
            let done = match mode {
                z::Z_FINISH => rc == z::Z_STREAM_END,
                // All input taken and room left over: zlib has nothing more to give.
                _ => s.avail_in == 0 && s.avail_out > 0,
            };
            if done {
                return Ok(());
            }
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised by deflateInit2 in `new`.
        unsafe {
            z::deflateEnd(&mut *self.stream);
        }
    }
}

/// Adler-32 of `bytes`, continuing from `adler` (1 for a new checksum).
pub fn adler32(adler: u32, bytes: &[u8]) -> u32 {
    bytes.chunks(1 << 30).fold(adler, |a, part| {
        // SAFETY: zlib reads exactly `part.len()` bytes from a valid slice.
        unsafe { z::adler32(a as z::uLong, part.as_ptr(), part.len() as c_uint) as u32 }
    })
}

/// The Adler-32 of `a ++ b` from that of `a`, that of `b` and the length of `b`.
pub fn adler32_combine(first: u32, second: u32, second_len: u64) -> u32 {
    // SAFETY: a pure function of its arguments.
    unsafe { z::adler32_combine(first as z::uLong, second as z::uLong, second_len as z::z_off_t) as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate_raw(data: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(data).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn sync_flushed_segments_concatenate_into_one_raw_stream() {
        let a: Vec<u8> = (0..5000u32).map(|i| (i / 7) as u8).collect();
        let b: Vec<u8> = (0..3000u32).map(|i| (i % 13) as u8).collect();
        let (mut sa, mut sb) = (Vec::new(), Vec::new());
        Deflater::new(1, z::Z_RLE, Framing::Raw).unwrap().push(&a, Flush::Sync, &mut sa).unwrap();
        Deflater::new(1, z::Z_RLE, Framing::Raw).unwrap().push(&b, Flush::Finish, &mut sb).unwrap();
        assert!(sa.ends_with(&[0, 0, 0xFF, 0xFF]), "a sync flush ends on an empty stored block");
        let joined = [sa, sb].concat();
        assert_eq!(inflate_raw(&joined), [a, b].concat());
    }

    #[test]
    fn combined_adler_equals_the_adler_of_the_concatenation() {
        let a = b"the first piece of rows".to_vec();
        let b = b"and the second, longer piece of rows".to_vec();
        let whole = adler32(1, &[a.clone(), b.clone()].concat());
        assert_eq!(adler32_combine(adler32(1, &a), adler32(1, &b), b.len() as u64), whole);
        assert_eq!(adler32_combine(1, whole, 59), whole, "the empty prefix is neutral");
        assert_eq!(adler32_combine(whole, 1, 0), whole, "an empty piece is neutral");
    }
}
