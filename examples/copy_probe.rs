//! Times copying a buffer the size of a strip into fresh memory and into memory already touched:
//! `copy_probe MEGABYTES [REPEAT]`, prints one JSON line. The benchmark runs it so that its report
//! can tell how much of a transfer is the copy itself and how much the kernel's first-touch page
//! faults on the freshly allocated receive buffer (which every message-passing transport pays).

use anyhow::{Context, Result};
use std::hint::black_box;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: copy_probe MEGABYTES [REPEAT]";
    let mb: usize = args.first().context(usage)?.parse().context(usage)?;
    let repeat: usize = args.get(1).map_or(Ok(5), |r| r.parse()).context(usage)?;
    let n = mb * 1_000_000;
    let src: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let (mut fresh, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        // vec![0; n] maps zero pages lazily, like the buffer a rank receives a strip into.
        let mut dst = vec![0u8; n];
        let t = Instant::now();
        dst.copy_from_slice(black_box(&src));
        fresh.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        dst.copy_from_slice(black_box(&src));
        warm.push(t.elapsed().as_secs_f64());
        black_box(&dst);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{{\"megabytes\": {mb}, \"fresh_secs\": {:.6}, \"warm_secs\": {:.6}}}",
        median(&mut fresh),
        median(&mut warm)
    );
    Ok(())
}
