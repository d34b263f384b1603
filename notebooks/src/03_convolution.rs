// %% [markdown]
// # Parallelizing image convolution
//
// The workload of the *Ray, multiprocessing and Dask* convolution tutorial, in Rust: convolve a
// 3000x3000 image with small random 4x4 filters, keep every fifth row and column of the full
// convolution (`scipy.signal.convolve2d(image, filter)[::5, ::5]`), and make it faster by
// sharing the calls among the CPUs, here with rustpx's two kinds of view:
//
// * a **DirectView** splits the calls into one contiguous block per worker (static
//   scheduling, like `multiprocessing.Pool.map` with large chunks);
// * a **LoadBalancedView** hands each call to whichever worker is idle (dynamic scheduling,
//   like Ray or Dask tasks).
//
// The workers are threads of this notebook's process, so the 72 MB image is shared, not
// copied, pickled or put into an object store.

// %%
:dep ndarray = "0.17.2"

// %%
use ndarray::Array2;
use std::time::{Duration, Instant};
let rc = Client::new()?;
let dview = rc.direct_view();
let lview = rc.load_balanced_view();
println!("{} workers", rc.len());

// %% [markdown]
// ## The data
//
// A deterministic image and eight filters from a tiny hash-based generator (splitmix64), so
// that `benches/compare.py` can rebuild exactly the same numbers in NumPy.

// %%
/// splitmix64 of `seed * 2^32 + index`, as a uniform number in [0, 1).
fn uniform(seed: u64, index: u64) -> f64 {
    let mut z = (seed << 32).wrapping_add(index).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}
const N: usize = 3000;
const CALLS: usize = 8;
let image = Array2::from_shape_fn((N, N), |(i, j)| uniform(1, (i * N + j) as u64));
let filters: Vec<Array2<f64>> = (0..CALLS as u64)
    .map(|f| Array2::from_shape_fn((4, 4), |(a, b)| 2.0 * uniform(100 + f, (a * 4 + b) as u64) - 1.0))
    .collect();
println!("image {:?}, {} filters of {:?}", image.dim(), filters.len(), filters[0].dim());

// %% [markdown]
// ## The convolution
//
// Every pixel of the full (3003x3003) convolution is computed, one output row at a time in a
// reused buffer; every fifth row and column is kept. Each row is a sum of 16 shifted, scaled
// image rows, a loop the compiler turns into SIMD instructions.

// %%
/// `scipy.signal.convolve2d(image, filter)[::5, ::5]`.
fn fconv(image: &Array2<f64>, filter: &Array2<f64>) -> Array2<f64> {
    let (h, w) = image.dim();
    let (kh, kw) = filter.dim();
    let (oh, ow) = (h + kh - 1, w + kw - 1);
    let image = image.as_standard_layout();
    let pixels = image.as_slice().expect("standard layout");
    let mut row = vec![0.0; ow];
    let mut out = Array2::zeros((oh.div_ceil(5), ow.div_ceil(5)));
    for i in 0..oh {
        row.fill(0.0);
        for a in 0..kh {
            // full convolution: out[i, j] = sum over (a, b) of image[i - a, j - b] * filter[a, b]
            let Some(r) = i.checked_sub(a).filter(|&r| r < h) else { continue };
            let src = &pixels[r * w..(r + 1) * w];
            for b in 0..kw {
                let k = filter[[a, b]];
                for (d, s) in row[b..b + w].iter_mut().zip(src) {
                    *d += k * s;
                }
            }
        }
        if i % 5 == 0 {
            for (o, v) in out.row_mut(i / 5).iter_mut().zip(row.iter().step_by(5)) {
                *o = *v;
            }
        }
    }
    out
}

/// Best of `repeats` timings of `f` (like `%timeit -r`), and its last result.
fn best_of<R>(repeats: usize, mut f: impl FnMut() -> R) -> (Duration, R) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..repeats {
        let start = Instant::now();
        result = Some(f());
        best = best.min(start.elapsed());
    }
    (best, result.expect("at least one repeat"))
}

// %% [markdown]
// ## Serially, with a conventional loop

// %%
let (serial_time, serial) = best_of(3, || filters.iter().map(|f| fconv(&image, f)).collect::<Vec<_>>());
println!("serial: {CALLS} convolutions in {:.3} s", serial_time.as_secs_f64());

// %% [markdown]
// ## DirectView: one block of calls per worker
//
// `map` blocks until every call is done, so the closure may simply borrow `image`.

// %%
let (direct_time, direct) = best_of(3, || dview.map(&filters, |f| fconv(&image, f)));
let direct = direct?;
println!("DirectView.map: {:.3} s", direct_time.as_secs_f64());

// %% [markdown]
// ## LoadBalancedView: each call to the next idle worker

// %%
let (balanced_time, balanced) = best_of(3, || lview.map(&filters, |f| fconv(&image, f)));
let balanced = balanced?;
println!("LoadBalancedView.map: {:.3} s", balanced_time.as_secs_f64());

// %% [markdown]
// ## Results
//
// All three give the same arrays; the table shows the time for the eight convolutions and the
// speedup over the serial loop.

// %%
assert_eq!(serial[0].dim(), (601, 601));
assert!(serial == direct && serial == balanced);
let checksum: f64 = serial.iter().map(|r| r.sum()).sum();
println!("checksum {checksum:.6}");
println!("RESULT {{\"workload\": \"convolution\", \"calls\": {CALLS}, \"workers\": {}, \"serial_s\": {:.6}, \"direct_s\": {:.6}, \"balanced_s\": {:.6}, \"checksum\": {checksum:.9}}}",
    rc.len(), serial_time.as_secs_f64(), direct_time.as_secs_f64(), balanced_time.as_secs_f64());
{
let speedup = |t: Duration| serial_time.as_secs_f64() / t.as_secs_f64();
Table::new(["method", "time (s)", "speedup"])
    .row(["serial loop".to_string(), format!("{:.3}", serial_time.as_secs_f64()), "1.00".to_string()])
    .row(["DirectView.map".to_string(), format!("{:.3}", direct_time.as_secs_f64()), format!("{:.2}", speedup(direct_time))])
    .row(["LoadBalancedView.map".to_string(), format!("{:.3}", balanced_time.as_secs_f64()), format!("{:.2}", speedup(balanced_time))])
    .caption(format!("{CALLS} convolutions of a {N}x{N} image on {} workers", rc.len()))
}
