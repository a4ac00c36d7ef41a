//! Writes synthetic test pictures: `synth WIDTH HEIGHT CHANNELS SEED OUTPUT [COUNT]`.
//! With COUNT, writes COUNT files named OUTPUT with `{}` replaced by 000, 001, ...
//! Used by the benchmark and to make the bundled sample.

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: synth WIDTH HEIGHT CHANNELS SEED OUTPUT [COUNT]";
    let num = |i: usize| -> Result<u64> { args.get(i).context(usage)?.parse().context(usage) };
    let (w, h, c, seed) = (num(0)? as usize, num(1)? as usize, num(2)? as usize, num(3)?);
    let out = args.get(4).context(usage)?;
    let count = if args.len() > 5 { num(5)? } else { 1 };
    for i in 0..count {
        let path = if count > 1 { out.replace("{}", &format!("{i:03}")) } else { out.clone() };
        let ext = std::path::Path::new(&path).extension().and_then(|e| e.to_str()).unwrap_or("png").to_string();
        let img = imgproc::synth::picture(w, h, c, seed + i);
        imgproc::codec::write_atomic(path.as_ref(), &imgproc::codec::encode(&img, &ext)?)?;
    }
    Ok(())
}
