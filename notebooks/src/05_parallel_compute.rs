// %% [markdown]
// # Speed up computations with `parallel_compute()`
//
// pyUSID's `parallel_compute()` maps a function over every spectrum of a data set in one call,
// choosing how many cores to use from the size of the data and the cost of one call. rustpx has
// the same helper. Here, as in pyUSID's tutorial, every one of 16,384 spectra (a 128x128 grid of
// a Band Excitation microscopy scan, 119 frequencies each) has one peak, and a wavelet-based peak
// finder written in this notebook finds it.
//
// The spectra are synthetic, with the peak at a known index, so the result can be checked.

// %%
:dep ndarray = "0.17.2"

// %%
use ndarray::{Array2, ArrayView1};
use std::time::{Duration, Instant};

// %% [markdown]
// ## The data set
//
// Each spectrum: a Gaussian peak (width 5 to 10 points, centre between 25 and 94) with
// noise. `peak_at[i]` is the true peak index of spectrum `i`.

// %%
/// splitmix64: a small deterministic random generator, enough for test data.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}
const ROWS: usize = 128;
const COLS: usize = 128;
const POINTS: usize = 119;
let mut rng = Rng(42);
let mut peak_at = Vec::with_capacity(ROWS * COLS);
let mut spectra = Array2::<f64>::zeros((ROWS * COLS, POINTS));
for mut spectrum in spectra.rows_mut() {
    let centre = 25.0 + 69.0 * rng.uniform();
    let width = 5.0 + 5.0 * rng.uniform();
    for (j, v) in spectrum.iter_mut().enumerate() {
        let x = j as f64;
        *v = (-(x - centre).powi(2) / (2.0 * width * width)).exp() + 0.1 * (rng.uniform() - 0.5);
    }
    peak_at.push(centre.round() as usize);
}
println!("{} spectra of {} points", spectra.nrows(), spectra.ncols());

// %% [markdown]
// ## The operation: a wavelet peak finder
//
// Like SciPy's `find_peaks_cwt`, which the tutorial's `find_all_peaks` wraps: the spectrum is
// convolved with Ricker ("Mexican hat") wavelets of every width in `width_bounds`; local maxima
// of the transform are chained across widths into ridge lines; ridges that span at least half
// the widths and stand out of the noise are the peaks.

// %%
/// The Ricker wavelet of width `a` on `points` samples (`scipy.signal.ricker`).
fn ricker(points: usize, a: f64) -> Vec<f64> {
    let amplitude = 2.0 / ((3.0 * a).sqrt() * std::f64::consts::PI.powf(0.25));
    (0..points)
        .map(|i| {
            let x = i as f64 - (points as f64 - 1.0) / 2.0;
            amplitude * (1.0 - x * x / (a * a)) * (-x * x / (2.0 * a * a)).exp()
        })
        .collect()
}

/// Continuous wavelet transform: one row per width, each the "same"-size convolution of the
/// signal with a wavelet of `min(10 * width, len)` points.
fn cwt(signal: &[f64], widths: &[f64]) -> Vec<Vec<f64>> {
    let n = signal.len();
    widths
        .iter()
        .map(|&a| {
            let wavelet = ricker(((10.0 * a) as usize).min(n), a);
            let m = wavelet.len();
            let shift = (m - 1) / 2;
            (0..n)
                .map(|i| {
                    // same-size convolution: centre of the full convolution
                    let k = i + shift;
                    (k.saturating_sub(n - 1)..=k.min(m - 1)).map(|j| signal[k - j] * wavelet[j]).sum()
                })
                .collect()
        })
        .collect()
}

fn local_maxima(row: &[f64]) -> Vec<usize> {
    (1..row.len().saturating_sub(1)).filter(|&i| row[i] > row[i - 1] && row[i] >= row[i + 1]).collect()
}

/// Indices of the peaks of `vector` between `width_bounds` wide, searched at `num_steps`
/// widths (the tutorial's `find_all_peaks(vector, width_bounds, num_steps)`).
fn find_all_peaks(vector: ArrayView1<f64>, width_bounds: [f64; 2], num_steps: usize) -> Vec<usize> {
    let signal: Vec<f64> = vector.iter().map(|v| v.abs()).collect();
    let widths: Vec<f64> = (0..num_steps)
        .map(|i| width_bounds[0] + (width_bounds[1] - width_bounds[0]) * i as f64 / (num_steps - 1) as f64)
        .collect();
    let coefficients = cwt(&signal, &widths);
    // Ridge lines, from the widest wavelet down: each ridge is (last column, length, gap).
    let max_distance = |row: usize| (widths[row] / 4.0).ceil() as usize;
    let gap_thresh = widths[0].ceil() as usize;
    let mut open: Vec<(usize, usize, usize)> = Vec::new();
    let mut done: Vec<(usize, usize)> = Vec::new();
    for row in (0..num_steps).rev() {
        let mut maxima = local_maxima(&coefficients[row]);
        for ridge in open.iter_mut() {
            let nearest = maxima.iter().enumerate().min_by_key(|&(_, &c)| c.abs_diff(ridge.0));
            match nearest {
                Some((k, &c)) if c.abs_diff(ridge.0) <= max_distance(row) => {
                    *ridge = (c, ridge.1 + 1, 0);
                    maxima.remove(k);
                }
                _ => ridge.2 += 1,
            }
        }
        open.extend(maxima.into_iter().map(|c| (c, 1, 0)));
        done.extend(open.iter().filter(|r| r.2 > gap_thresh).map(|r| (r.0, r.1)));
        open.retain(|r| r.2 <= gap_thresh);
    }
    done.extend(open.iter().map(|r| (r.0, r.1)));
    // Keep ridges at least half the widths long whose smallest-width coefficient stands out
    // of the noise: three times the median magnitude of that row of the transform.
    let min_length = num_steps.div_ceil(2);
    let mut magnitudes: Vec<f64> = coefficients[0].iter().map(|v| v.abs()).collect();
    magnitudes.sort_by(f64::total_cmp);
    let noise = magnitudes[magnitudes.len() / 2].max(1e-12);
    let mut peaks: Vec<usize> = done
        .into_iter()
        .filter(|&(c, length)| length >= min_length && coefficients[0][c] / noise >= 3.0)
        .map(|(c, _)| c)
        .collect();
    peaks.sort_unstable();
    peaks
}

// %% [markdown]
// ## Testing the function
//
// The spectrum at row 103, column 19, and the peak found in it:

// %%
let pixel = 19 + 103 * COLS;
let example = find_all_peaks(spectra.row(pixel), [5.0, 20.0], 10);
println!("find_all_peaks found peaks at index: {example:?} (true peak at {})", peak_at[pixel]);
assert!(example.iter().any(|&p| p.abs_diff(peak_at[pixel]) <= 2));
let spectrum_plot = LinePlot::new(format!("spectrum {pixel}: peaks found at {example:?}"))
    .x_label("frequency index")
    .y_label("amplitude")
    .points("spectrum", spectra.row(pixel).iter().enumerate().map(|(j, &v)| (j as f64, v)))
    .line("peak", example.iter().flat_map(|&p| [(p as f64, 0.0), (p as f64, 1.1)]));
spectrum_plot

// %% [markdown]
// ## Serial computing
//
// The simplest way: loop over every spectrum.

// %%
/// `find_all_peaks` with the widths fixed (the tutorial's `partial(find_all_peaks, ...)`).
fn find_peaks(vector: ArrayView1<f64>) -> Vec<usize> {
    find_all_peaks(vector, [5.0, 20.0], 10)
}
let start = Instant::now();
let serial_results: Vec<Vec<usize>> = spectra.rows().into_iter().map(find_peaks).collect();
let serial_time = start.elapsed();
println!("Serial computation took {:.2} seconds", serial_time.as_secs_f64());

// %% [markdown]
// ## `parallel_compute()`
//
// One call. It times `find_peaks` on a few spectra, chooses the number of workers from that
// and from the number of spectra (leaving a core free on machines with more than two), prints
// its choice, and returns the results in order with a report.

// %%
let start = Instant::now();
let (parallel_results, report) = parallel_compute(&spectra, find_peaks)?;
let parallel_time = start.elapsed();
println!("Parallel computation with {} workers took {:.2} seconds", report.workers, parallel_time.as_secs_f64());
report

// %% [markdown]
// ## Compare the results
//
// Both methods give the same peaks, and the peak found is the true one.

// %%
assert_eq!(serial_results, parallel_results);
println!("Result from serial computation: {:?}", serial_results[pixel]);
println!("Result from parallel computation: {:?}", parallel_results[pixel]);
let correct = parallel_results.iter().zip(&peak_at)
    .filter(|&(found, &truth)| found.len() == 1 && found[0].abs_diff(truth) <= 2)
    .count();
println!("{correct} of {} spectra: exactly one peak, within 2 points of the truth", peak_at.len());
assert!(correct as f64 >= 0.99 * peak_at.len() as f64);

// %% [markdown]
// ## More workers
//
// `ParallelCompute` takes a worker count (pyUSID's `cores=`). Time the same work on 1, 2, ...
// workers, one per core of this machine, and plot compute time against workers.

// %%
let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
let mut times = vec![(1, serial_time)];
for workers in 2..=cores {
    let client = Client::local(workers)?;
    let start = Instant::now();
    let (results, _) = ParallelCompute::new().workers(workers).client(&client).quiet().run(&spectra, find_peaks)?;
    times.push((workers, start.elapsed()));
    assert_eq!(results, serial_results);
}
for (workers, t) in &times {
    println!("{workers} workers: {:.2} s", t.as_secs_f64());
}
time_plot(&times)?
