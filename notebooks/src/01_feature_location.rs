// %% [markdown]
// # Parallel feature location over an image sequence
//
// Finding particles in microscope images is independent from frame to frame, so the frames
// can be shared out among the CPUs. This notebook follows trackpy's *Parallelized Feature
// Location using IPython Parallel* tutorial with rustpx: a `locate` function written right
// here in the notebook, mapped over an `ImageSequence` by a load-balanced view.
//
// The frames are synthetic, so we know where every particle really is and can measure how
// accurate the located positions are.

// %%
:dep ndarray = "0.17.2"

// %% [markdown]
// Start a client with one worker thread per core, and a load-balanced view on it. The
// workers are threads in this notebook's process: nothing to launch, nothing to import on
// the workers (the code below is compiled once and every worker runs it).

// %%
use ndarray::{Array2, s};
use std::path::PathBuf;
use std::time::{Duration, Instant};
let rc = Client::new()?;
let view = rc.load_balanced_view();
println!("workers: {:?}", rc.ids());

// %% [markdown]
// ## A movie of diffusing particles
//
// 200 particles (Gaussian spots of sigma 2 px and random brightness) diffuse over 32 frames of
// 512x512 pixels, with background, shot-like noise and 8-bit quantisation. The generator is
// deterministic (a small splitmix64), so every run makes the same frames.

// %%
/// splitmix64: a small deterministic random generator, enough for test data.
#[derive(Clone)]
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[derive(Clone, Copy, Debug)]
struct Particle { x: f64, y: f64, amplitude: f64 }

const SIZE: usize = 512;
const N_PARTICLES: usize = 200;
const PSF_SIGMA: f64 = 2.0;
const MIN_SEPARATION: f64 = 16.0;
const EDGE: f64 = 12.0;

fn far_enough(p: &Particle, others: &[Particle], skip: usize) -> bool {
    others.iter().enumerate()
        .all(|(i, q)| i == skip || (p.x - q.x).hypot(p.y - q.y) >= MIN_SEPARATION)
}

/// True positions of every particle in every frame: a random start, then Brownian steps
/// (0.8 px per frame) that keep particles apart and away from the edges.
fn simulate(n_frames: usize, seed: u64) -> Vec<Vec<Particle>> {
    let mut rng = Rng(seed);
    let span = SIZE as f64 - 2.0 * EDGE;
    let mut ps: Vec<Particle> = Vec::new();
    while ps.len() < N_PARTICLES {
        let p = Particle {
            x: EDGE + span * rng.uniform(),
            y: EDGE + span * rng.uniform(),
            amplitude: 100.0 + 100.0 * rng.uniform(),
        };
        if far_enough(&p, &ps, usize::MAX) {
            ps.push(p);
        }
    }
    let mut movie = vec![ps.clone()];
    for _ in 1..n_frames {
        for i in 0..ps.len() {
            let moved = Particle { x: ps[i].x + 0.8 * rng.normal(), y: ps[i].y + 0.8 * rng.normal(), ..ps[i] };
            let inside = |v: f64| (EDGE..SIZE as f64 - EDGE).contains(&v);
            if inside(moved.x) && inside(moved.y) && far_enough(&moved, &ps, i) {
                ps[i] = moved;
            }
        }
        movie.push(ps.clone());
    }
    movie
}

/// One 8-bit frame: background 20, the particles, Gaussian noise of 5 grey levels.
fn render(particles: &[Particle], rng: &mut Rng) -> Array2<u8> {
    let mut img = Array2::<f64>::from_elem((SIZE, SIZE), 20.0);
    let reach = (4.0 * PSF_SIGMA).ceil() as isize;
    for p in particles {
        let (cx, cy) = (p.x.round() as isize, p.y.round() as isize);
        for r in (cy - reach).max(0)..=(cy + reach).min(SIZE as isize - 1) {
            for c in (cx - reach).max(0)..=(cx + reach).min(SIZE as isize - 1) {
                let d2 = (c as f64 - p.x).powi(2) + (r as f64 - p.y).powi(2);
                img[[r as usize, c as usize]] += p.amplitude * (-d2 / (2.0 * PSF_SIGMA * PSF_SIGMA)).exp();
            }
        }
    }
    img.mapv(|v| (v + 5.0 * rng.normal()).round().clamp(0.0, 255.0) as u8)
}

// %% [markdown]
// Write the frames as PNG files (and the true positions as `truth.csv`) into a directory:
// `$RUSTPX_FRAMES_DIR` if set, else `rustpx-frames` in the system's temporary directory.
// The comparison with the Python tools (`benches/compare.py`) reads the very same files.

// %%
let n_frames = 32;
let movie = simulate(n_frames, 2024);
let frames_dir = std::env::var_os("RUSTPX_FRAMES_DIR")
    .map(PathBuf::from)
    .unwrap_or_else(|| std::env::temp_dir().join("rustpx-frames"));
std::fs::create_dir_all(&frames_dir)?;
let mut noise = Rng(7);
write_sequence(&frames_dir, "frame", "png", movie.iter().map(|ps| render(ps, &mut noise)))?;
let truth_csv: String = std::iter::once("frame,x,y\n".to_string())
    .chain(movie.iter().enumerate().flat_map(|(i, ps)| {
        ps.iter().map(move |p| format!("{i},{:.4},{:.4}\n", p.x, p.y))
    }))
    .collect();
std::fs::write(frames_dir.join("truth.csv"), truth_csv)?;
println!("wrote {n_frames} frames to {}", frames_dir.display());

// %% [markdown]
// Open them as an image sequence. Nothing is decoded yet: the sequence is a list of paths,
// and each frame is decoded (to `Array2<f32>`, gray) inside the worker that processes it.

// %%
let frames = ImageSequence::open(format!("{}/frame*.png", frames_dir.display()))?.gray();
assert_eq!(frames.len(), n_frames);
frames

// %% [markdown]
// ## `locate`, written in the notebook
//
// The same steps as trackpy's `locate(image, diameter, minmass=...)`:
// 1. **band-pass**: a Gaussian blur (sigma 1 px) removes pixel noise, a `diameter`-wide
//    boxcar average is subtracted to remove the background;

// %%
/// One located feature, trackpy's columns: position (x = column, y = row, in pixels),
/// integrated brightness of the band-passed image, radius of gyration, eccentricity,
/// and peak band-passed brightness.
#[derive(Clone, Copy, Debug)]
struct Feature { x: f64, y: f64, mass: f64, size: f64, ecc: f64, signal: f64 }

/// Reflect an index into 0..n the way SciPy's ndimage does by default (`d c b a | a b c d`).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    (if i < 0 { -i - 1 } else if i >= n { 2 * n - i - 1 } else { i }) as usize
}

/// Correlate every row, then every column, with the 1-D kernel `k` (odd length). Both
/// passes add one shifted, scaled row at a time, which the compiler vectorises.
fn separable(img: &Array2<f32>, k: &[f32]) -> Array2<f32> {
    let (h, w) = img.dim();
    let r = k.len() / 2;
    let src = img.as_slice().expect("standard layout");
    let mut rows = vec![0f32; h * w];
    let mut padded = vec![0f32; w + 2 * r];
    for (y, out) in rows.chunks_exact_mut(w).enumerate() {
        for (i, p) in padded.iter_mut().enumerate() {
            *p = src[y * w + reflect(i as isize - r as isize, w)];
        }
        for (j, &kv) in k.iter().enumerate() {
            for (o, s) in out.iter_mut().zip(&padded[j..j + w]) {
                *o += kv * s;
            }
        }
    }
    let mut out = Array2::<f32>::zeros((h, w));
    let dst = out.as_slice_mut().expect("standard layout");
    for (y, out_row) in dst.chunks_exact_mut(w).enumerate() {
        for (j, &kv) in k.iter().enumerate() {
            let sy = reflect(y as isize + j as isize - r as isize, h);
            for (o, s) in out_row.iter_mut().zip(&rows[sy * w..(sy + 1) * w]) {
                *o += kv * s;
            }
        }
    }
    out
}

/// Mean over a `size`-square around every pixel (SciPy's `uniform_filter`, reflected
/// edges), with running sums so the cost does not grow with `size`.
fn boxcar(img: &Array2<f32>, size: usize) -> Array2<f32> {
    let (h, w) = img.dim();
    let r = size / 2;
    let src = img.as_slice().expect("standard layout");
    let mut rows = vec![0f32; h * w];
    let mut padded = vec![0f32; w + 2 * r];
    for (y, out) in rows.chunks_exact_mut(w).enumerate() {
        for (i, p) in padded.iter_mut().enumerate() {
            *p = src[y * w + reflect(i as isize - r as isize, w)];
        }
        let mut acc: f32 = padded[..size].iter().sum();
        for x in 0..w {
            out[x] = acc;
            if x + 1 < w {
                acc += padded[x + size] - padded[x];
            }
        }
    }
    let mut out = Array2::<f32>::zeros((h, w));
    let dst = out.as_slice_mut().expect("standard layout");
    let mut acc = vec![0f32; w];
    for j in 0..size {
        let sy = reflect(j as isize - r as isize, h);
        acc.iter_mut().zip(&rows[sy * w..(sy + 1) * w]).for_each(|(a, s)| *a += s);
    }
    let norm = 1.0 / (size * size) as f32;
    for y in 0..h {
        dst[y * w..(y + 1) * w].iter_mut().zip(&acc).for_each(|(o, a)| *o = a * norm);
        if y + 1 < h {
            let (add, sub) = (reflect((y + 1 + r) as isize, h), reflect(y as isize - r as isize, h));
            for x in 0..w {
                acc[x] += rows[add * w + x] - rows[sub * w + x];
            }
        }
    }
    out
}

/// trackpy's `bandpass`: a Gaussian blur of `noise_size` (truncated at 4 sigma) minus a
/// `smoothing_size` boxcar average, keeping only what is at least 1 grey level above it.
fn bandpass(raw: &Array2<f32>, noise_size: f64, smoothing_size: usize) -> Array2<f32> {
    let r = (4.0 * noise_size).round() as i64;
    let g: Vec<f64> = (-r..=r).map(|i| (-((i * i) as f64) / (2.0 * noise_size * noise_size)).exp()).collect();
    let total: f64 = g.iter().sum();
    let gauss: Vec<f32> = g.iter().map(|v| (v / total) as f32).collect();
    let mut out = separable(raw, &gauss);
    out.zip_mut_with(&boxcar(raw, smoothing_size), |v, b| {
        let d = *v - b;
        *v = if d >= 1.0 { d } else { 0.0 };
    });
    out
}

// %% [markdown]
// 2. **local maxima**: pixels brighter than the 64th percentile that are the brightest in a
//    square of about `diameter + 1` pixels, away from the edges;
// 3. **refinement**: the centroid of a disc of radius `diameter / 2` is moved until it sits
//    on the feature, then mass (integrated brightness), size (radius of gyration),
//    eccentricity and signal are measured there; a last Gaussian-weighted centroid gives
//    the sub-pixel position;
// 4. a **minmass** filter drops faint noise peaks.

// %%
/// The `pct` percentile of the positive pixels: maxima dimmer than this are noise.
fn percentile_of_positive(img: &Array2<f32>, pct: f64) -> f32 {
    let mut v: Vec<f32> = img.iter().copied().filter(|&x| x > 0.0).collect();
    if v.is_empty() {
        return f32::INFINITY;
    }
    let k = ((v.len() - 1) as f64 * pct / 100.0).round() as usize;
    *v.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Pixels brighter than `threshold` that are the maximum of the `size`-square around
/// them (trackpy's grey dilation), at least `margin` pixels from every edge.
fn local_maxima(img: &Array2<f32>, size: usize, threshold: f32, margin: usize) -> Vec<(usize, usize)> {
    let (h, w) = img.dim();
    let p = img.as_slice().expect("standard layout");
    let (lo, hi) = (size / 2, size - size / 2);
    let mut peaks = Vec::new();
    for y in margin.max(1)..h - margin.max(1) {
        for x in margin.max(1)..w - margin.max(1) {
            let v = p[y * w + x];
            // the 3x3 test rejects almost every pixel before the whole square is read
            if v <= threshold
                || [y - 1, y, y + 1].iter().any(|&yy| p[yy * w + x - 1..yy * w + x + 2].iter().any(|&u| u > v))
            {
                continue;
            }
            let (x0, x1) = (x.saturating_sub(lo), (x + hi).min(w));
            if (y.saturating_sub(lo)..(y + hi).min(h)).all(|yy| p[yy * w + x0..yy * w + x1].iter().all(|&u| u <= v)) {
                peaks.push((y, x));
            }
        }
    }
    peaks
}

/// trackpy's `refine_com`: move a disc of `radius` until the centroid of the band-passed
/// image inside it is within 0.6 px of its centre, then measure mass, size, eccentricity
/// and signal there.
fn refine(img: &Array2<f32>, (mut y, mut x): (usize, usize), radius: usize) -> Feature {
    let (h, w) = img.dim();
    let p = img.as_slice().expect("standard layout");
    let rad = radius as isize;
    let disc: Vec<(f64, f64, isize)> = (-rad..=rad)
        .flat_map(|dy| (-rad..=rad).map(move |dx| (dy, dx)))
        .filter(|(dy, dx)| dy * dy + dx * dx <= rad * rad)
        .map(|(dy, dx)| (dy as f64, dx as f64, dy * w as isize + dx))
        .collect();
    let at = |y: usize, x: usize, off: isize| p[((y * w + x) as isize + off) as usize] as f64;
    let (mut cy, mut cx) = (0.0, 0.0);
    for _ in 0..10 {
        let (mut m, mut sy, mut sx) = (0.0, 0.0, 0.0);
        for &(dy, dx, off) in &disc {
            let v = at(y, x, off);
            (m, sy, sx) = (m + v, sy + v * dy, sx + v * dx);
        }
        (cy, cx) = if m > 0.0 { (sy / m, sx / m) } else { (0.0, 0.0) };
        if cy.abs() < 0.6 && cx.abs() < 0.6 {
            break;
        }
        let step = |o: f64| if o > 0.6 { 1 } else if o < -0.6 { -1 } else { 0 };
        y = (y as isize + step(cy)).clamp(rad, (h - 1 - radius) as isize) as usize;
        x = (x as isize + step(cx)).clamp(rad, (w - 1 - radius) as isize) as usize;
    }
    let (mut mass, mut rg2, mut ec, mut es, mut signal) = (0.0, 0.0, 0.0, 0.0, 0.0f64);
    for &(dy, dx, off) in &disc {
        let v = at(y, x, off);
        let d2 = dy * dy + dx * dx;
        mass += v;
        rg2 += v * d2;
        if d2 > 0.0 {
            // cos 2θ and sin 2θ without trigonometry
            ec += v * (dx * dx - dy * dy) / d2;
            es += v * 2.0 * dx * dy / d2;
        }
        signal = signal.max(v);
    }
    Feature {
        x: x as f64 + cx,
        y: y as f64 + cy,
        mass,
        size: (rg2 / mass).sqrt(),
        ecc: ec.hypot(es) / (mass - at(y, x, 0) + 1e-6),
        signal,
    }
}

/// The last step: re-weight the disc's pixels with a Gaussian centred on the sub-pixel
/// estimate, iterated to its fixed point. This removes the pull of the integer grid and
/// lowers the noise of the plain centroid.
fn gaussian_centroid(img: &Array2<f32>, f: Feature, radius: usize) -> Feature {
    let (h, w) = img.dim();
    let (y, x) = (f.y.round() as usize, f.x.round() as usize);
    let rad = radius as isize;
    if y < radius || x < radius || y + radius >= h || x + radius >= w {
        return f;
    }
    let (mut cy, mut cx) = (f.y - y as f64, f.x - x as f64);
    let s2 = 2.0 * (radius as f64 / 2.5).powi(2);
    for _ in 0..3 {
        let (mut m, mut sy, mut sx) = (0.0, 0.0, 0.0);
        for dy in -rad..=rad {
            for dx in -rad..=rad {
                if dy * dy + dx * dx > rad * rad {
                    continue;
                }
                let (fy, fx) = (dy as f64, dx as f64);
                let v = img[[(y as isize + dy) as usize, (x as isize + dx) as usize]] as f64
                    * (-((fy - cy).powi(2) + (fx - cx).powi(2)) / s2).exp();
                (m, sy, sx) = (m + v, sy + v * fy, sx + v * fx);
            }
        }
        if m <= 0.0 {
            return f;
        }
        (cy, cx) = (sy / m, sx / m);
    }
    Feature { x: x as f64 + cx, y: y as f64 + cy, ..f }
}

/// Locate bright round features about `diameter` pixels across (odd), like trackpy's
/// `locate(frame, diameter, minmass=...)` with its defaults.
fn locate(raw: &Array2<f32>, diameter: usize, minmass: f64) -> Vec<Feature> {
    let radius = diameter / 2;
    let separation = diameter + 1;
    let img = bandpass(raw, 1.0, diameter);
    let threshold = percentile_of_positive(&img, 64.0);
    let margin = radius.max(separation / 2 - 1);
    let square = (2.0 * separation as f64 / 2f64.sqrt()) as usize;
    local_maxima(&img, square, threshold, margin)
        .into_iter()
        .map(|p| refine(&img, p, radius))
        .filter(|f| f.mass > minmass)
        .map(|f| gaussian_centroid(&img, f, radius))
        .collect()
}

// %% [markdown]
// As in the tutorial, fix the parameters in a function whose only argument is the frame
// ("currying"), and prime the workers with a first map over four frames.

// %%
fn curried_locate(image: Array2<f32>) -> Vec<Feature> {
    locate(&image, 11, 500.0)
}
let primed = view.map(&frames.slice(..4), curried_locate)?;
println!("features in the first 4 frames: {:?}", primed.iter().map(Vec::len).collect::<Vec<_>>());

// %% [markdown]
// ## Serial against parallel
//
// Locate the features in all frames, in parallel with `map_async` and a live progress bar,
// then serially in this thread. Each is timed best of three (like `%timeit`).

// %%
let mut parallel_best = Duration::MAX;
let mut features = Vec::new();
for _ in 0..3 {
    let start = Instant::now();
    let amr = view.map_async(&frames, curried_locate);
    amr.wait_interactive()?;
    features = amr.get()?;
    parallel_best = parallel_best.min(start.elapsed());
}
println!("parallel: {n_frames} frames in {:.1} ms (best of 3) on {} workers",
    parallel_best.as_secs_f64() * 1e3, rc.len());

// %%
let mut serial_best = Duration::MAX;
let mut serial_features = Vec::new();
for _ in 0..3 {
    let start = Instant::now();
    serial_features = frames.iter()
        .map(|frame| frame.map(curried_locate))
        .collect::<Result<Vec<_>, _>>()?;
    serial_best = serial_best.min(start.elapsed());
}
let speedup = serial_best.as_secs_f64() / parallel_best.as_secs_f64();
println!("serial:   {n_frames} frames in {:.1} ms (best of 3)", serial_best.as_secs_f64() * 1e3);
println!("speedup:  {speedup:.2}x");

// %% [markdown]
// ## How accurate is it?
//
// Every true particle is matched to the nearest located feature (within 3 px); the
// parallel and serial runs must agree exactly.

// %%
assert_eq!(features.len(), serial_features.len());
for (p, s) in features.iter().zip(&serial_features) {
    assert_eq!(p.len(), s.len());
    assert!(p.iter().zip(s).all(|(a, b)| a.x == b.x && a.y == b.y));
}
let (mut found, mut error_sum, mut located) = (0usize, 0.0, 0usize);
for (feats, truth) in features.iter().zip(&movie) {
    located += feats.len();
    for t in truth {
        let nearest = feats.iter().map(|f| (f.x - t.x).hypot(f.y - t.y)).fold(f64::INFINITY, f64::min);
        if nearest < 3.0 {
            found += 1;
            error_sum += nearest;
        }
    }
}
let truth_count = n_frames * N_PARTICLES;
let mean_error = error_sum / found as f64;
println!("found {found} of {truth_count} particles, {} spurious features", located - found);
println!("mean position error: {mean_error:.4} px");
println!("RESULT {{\"workload\": \"locate\", \"frames\": {n_frames}, \"workers\": {}, \"serial_s\": {:.6}, \"parallel_s\": {:.6}, \"found\": {found}, \"truth\": {truth_count}, \"spurious\": {}, \"mean_error_px\": {mean_error:.6}}}",
    rc.len(), serial_best.as_secs_f64(), parallel_best.as_secs_f64(), located - found);
assert_eq!(found, truth_count);
assert_eq!(located, found);
assert!(mean_error < 0.05);

// %% [markdown]
// ## The features of the first frame
//
// Red circles: the located features, drawn over the frame.

// %%
let first = frames.get(0)?;
let canvas = Canvas::gray(&first)
    .circles(features[0].iter().map(|f| (f.x, f.y)), 7.0, rustpx::display::RED);
canvas.png()?
