//! Deterministic synthetic pictures for tests, benchmarks and the bundled sample: a gradient, flat
//! rectangles (long edges that cross strip boundaries) and noise. Same seed, same bytes.

use crate::image::Image;

/// A `w`×`h` picture with `channels` channels (1 or 3).
pub fn picture(w: usize, h: usize, channels: usize, seed: u64) -> Image {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let noise = (next() % 40) as i64;
    let rects: Vec<(usize, usize, usize, usize, u8)> = (0..4)
        .map(|_| {
            let (x0, y0) = ((next() as usize) % w.max(1), (next() as usize) % h.max(1));
            let (x1, y1) = (x0 + (next() as usize) % w.max(1), y0 + (next() as usize) % h.max(1));
            (x0, y0, x1, y1, next() as u8)
        })
        .collect();
    let mut data = Vec::with_capacity(w * h * channels);
    for y in 0..h {
        for x in 0..w {
            let mut base: Option<i64> = None;
            for &(x0, y0, x1, y1, val) in &rects {
                if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
                    base = Some(val as i64);
                }
            }
            for c in 0..channels {
                let mut v = match base {
                    Some(b) => b + c as i64 * 30,
                    None => ((x * 255) / w.max(1) + (y * 97) / h.max(1) + c * 40) as i64,
                };
                if noise > 0 {
                    v += (next() % (2 * noise as u64 + 1)) as i64 - noise;
                }
                data.push(v.clamp(0, 255) as u8);
            }
        }
    }
    Image::from_vec(w, h, channels, data).expect("shape matches")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_seed_gives_the_same_picture_and_another_seed_another() {
        assert_eq!(super::picture(9, 7, 3, 1), super::picture(9, 7, 3, 1));
        assert_ne!(super::picture(9, 7, 3, 1), super::picture(9, 7, 3, 2));
    }
}
