//! Seed 002's convolution kernel, shared by the dispatch benchmark and the test that
//! checks it against the definition (`tests/convolution.rs`).

use ndarray::Array2;

/// `scipy.signal.convolve2d(image, filter)[::5, ::5]` (mode "full", zero padding).
///
/// Gives the same values as the full convolution followed by the slice, but only the
/// kept rows are computed (each in full, into a row buffer that stays in cache, as a
/// row-wise axpy the compiler vectorises); the rows the slice drops are skipped.
pub fn fconv(image: &Array2<f64>, filter: &Array2<f64>) -> Array2<f64> {
    const STEP: usize = 5;
    let (ih, iw) = image.dim();
    let (fh, fw) = filter.dim();
    let (oh, ow) = (ih + fh - 1, iw + fw - 1);
    let mut out = Array2::<f64>::zeros((oh.div_ceil(STEP), ow.div_ceil(STEP)));
    let mut row = vec![0.0_f64; ow];
    for (r_out, r) in (0..oh).step_by(STEP).enumerate() {
        row.iter_mut().for_each(|v| *v = 0.0);
        // full[r, c] = sum over a, b of image[r - a, c - b] * filter[a, b]
        for a in 0..fh {
            let Some(i) = r.checked_sub(a).filter(|&i| i < ih) else {
                continue;
            };
            let src = image.row(i);
            let src = src.as_slice().expect("standard layout");
            for b in 0..fw {
                let k = filter[[a, b]];
                for (d, &x) in row[b..b + iw].iter_mut().zip(src) {
                    *d += k * x;
                }
            }
        }
        for (c_out, v) in row.iter().step_by(STEP).enumerate() {
            out[[r_out, c_out]] = *v;
        }
    }
    out
}

/// A deterministic normal-ish filter (sum of uniforms), as `np.random.normal(size=(4, 4))`.
pub fn filters(n: usize) -> Vec<Array2<f64>> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| Array2::from_shape_fn((4, 4), |_| (0..12).map(|_| uniform()).sum::<f64>() - 6.0))
        .collect()
}

/// The fast convolution against the definition, on a small image.
pub fn check_fconv() {
    let image = Array2::from_shape_fn((23, 17), |(r, c)| ((r * 31 + c * 7) % 11) as f64 - 5.0);
    let filter = &filters(1)[0];
    let (oh, ow) = (23 + 3, 17 + 3);
    let mut full = Array2::<f64>::zeros((oh, ow));
    for ((r, c), v) in full.indexed_iter_mut() {
        for a in 0..4 {
            for b in 0..4 {
                if r >= a && c >= b && r - a < 23 && c - b < 17 {
                    *v += image[[r - a, c - b]] * filter[[a, b]];
                }
            }
        }
    }
    let expected = full.slice(ndarray::s![..;5, ..;5]).to_owned();
    let got = fconv(&image, filter);
    assert_eq!(got.dim(), expected.dim());
    assert!(
        got.iter().zip(&expected).all(|(g, e)| (g - e).abs() < 1e-9),
        "fconv is wrong"
    );
}
