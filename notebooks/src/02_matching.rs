// %% [markdown]
// # Process a bundle of images in parallel
//
// From the *Performance, HPC and IPython Parallel* computer-vision tutorial: compute keypoint
// descriptors of a reference image, then, for every image of a bundle, detect keypoints, compute
// their descriptors and match them against the reference by brute force. Each image is
// independent, so a load-balanced parallel function (`@lview.parallel()` in IPython) spreads
// them over the CPUs.
//
// The tutorial used OpenCV's SIFT. Here the whole pipeline is written in the notebook: FAST
// corners, ORB-like binary descriptors (BRIEF tests steered by each keypoint's orientation), and
// Hamming-distance brute-force matching with cross-checking, like OpenCV's `BFMatcher`.

// %%
:dep ndarray = "0.17.2"

// %%
use ndarray::Array2;
use std::path::PathBuf;
let rc = Client::new()?;
let lview = rc.load_balanced_view();
println!("{} workers", rc.len());

// %% [markdown]
// ## The bundle
//
// A synthetic reference scene (shapes of random grey levels on a gradient), and 16 views of it:
// each rotated, scaled, shifted, with a different exposure and noise. The transform of each
// view is known, so we can tell correct matches from wrong ones. The views are written as PNG
// files, like the tutorial's `templeRing` directory.

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
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
}

const W: usize = 400;
const H: usize = 300;

fn scene(rng: &mut Rng) -> Array2<f64> {
    let mut img = Array2::from_shape_fn((H, W), |(r, c)| 60.0 + 0.1 * r as f64 + 0.1 * c as f64);
    for _ in 0..70 {
        let (cx, cy) = (rng.range(0.0, W as f64), rng.range(0.0, H as f64));
        let (a, b) = (rng.range(6.0, 30.0), rng.range(6.0, 30.0));
        let (level, ellipse) = (rng.range(0.0, 255.0), rng.uniform() < 0.5);
        for ((r, c), v) in img.indexed_iter_mut() {
            let (dx, dy) = ((c as f64 - cx) / a, (r as f64 - cy) / b);
            let inside = if ellipse { dx * dx + dy * dy <= 1.0 } else { dx.abs() <= 1.0 && dy.abs() <= 1.0 };
            if inside {
                *v = level;
            }
        }
    }
    img
}

/// A view of the scene: maps scene point p to `A p + t`. Returns the view and (A, t).
fn view_of(scene: &Array2<f64>, rng: &mut Rng) -> (Array2<u8>, [f64; 6]) {
    let (angle, scale) = (rng.range(-0.2, 0.2), rng.range(0.9, 1.1));
    let (gain, offset) = (rng.range(0.8, 1.2), rng.range(-20.0, 20.0));
    let (cos, sin) = (scale * angle.cos(), scale * angle.sin());
    let (cx, cy) = (W as f64 / 2.0, H as f64 / 2.0);
    let t = [cx - cos * cx + sin * cy + rng.range(-15.0, 15.0), cy - sin * cx - cos * cy + rng.range(-15.0, 15.0)];
    let affine = [cos, -sin, sin, cos, t[0], t[1]];
    let det = cos * cos + sin * sin;
    let view = Array2::from_shape_fn((H, W), |(r, c)| {
        // inverse map: where in the scene does this view pixel come from?
        let (x, y) = (c as f64 - t[0], r as f64 - t[1]);
        let (sx, sy) = ((cos * x + sin * y) / det, (-sin * x + cos * y) / det);
        let (x0, y0) = (sx.floor(), sy.floor());
        let v = if x0 < 0.0 || y0 < 0.0 || x0 + 1.0 >= W as f64 || y0 + 1.0 >= H as f64 {
            128.0
        } else {
            let (fx, fy, i, j) = (sx - x0, sy - y0, y0 as usize, x0 as usize);
            (1.0 - fy) * ((1.0 - fx) * scene[[i, j]] + fx * scene[[i, j + 1]])
                + fy * ((1.0 - fx) * scene[[i + 1, j]] + fx * scene[[i + 1, j + 1]])
        };
        let noise = 6.0 * (rng.uniform() - 0.5);
        (gain * v + offset + noise).round().clamp(0.0, 255.0) as u8
    });
    (view, affine)
}

let mut rng = Rng(1);
let reference_scene = scene(&mut rng);
let reference = reference_scene.mapv(|v| v as f32);
let (views, transforms): (Vec<Array2<u8>>, Vec<[f64; 6]>) = (0..16).map(|_| view_of(&reference_scene, &mut rng)).unzip();
let bundle_dir = std::env::temp_dir().join("rustpx-bundle");
std::fs::create_dir_all(&bundle_dir)?;
let fnames: Vec<PathBuf> = write_sequence(&bundle_dir, "view", "png", views)?;
println!("{} views in {}", fnames.len(), bundle_dir.display());

// %% [markdown]
// ## Keypoints and descriptors
//
// **FAST-9**: a pixel is a corner if 9 contiguous pixels of the 16 on a circle of radius 3 are
// all brighter, or all darker, than it by a threshold; the strongest corner in each 3x3
// neighbourhood is kept. **Descriptors**: 256 intensity comparisons between pairs of points of
// a smoothed 31x31 patch, the pattern rotated to the keypoint's orientation (the intensity
// centroid's direction), packed into 256 bits.

// %%
const CIRCLE: [(isize, isize); 16] = [
    (0, -3), (1, -3), (2, -2), (3, -1), (3, 0), (3, 1), (2, 2), (1, 3),
    (0, 3), (-1, 3), (-2, 2), (-3, 1), (-3, 0), (-3, -1), (-2, -2), (-1, -3),
];
const BORDER: usize = 18;

#[derive(Clone, Copy, Debug)]
struct Keypoint { x: usize, y: usize, score: f32, angle: f32 }

/// FAST-9 corners with non-maximum suppression, strongest `max_points` first.
fn fast(img: &Array2<f32>, threshold: f32, max_points: usize) -> Vec<Keypoint> {
    let (h, w) = img.dim();
    let mut score = Array2::<f32>::zeros((h, w));
    for y in BORDER..h - BORDER {
        for x in BORDER..w - BORDER {
            let p = img[[y, x]];
            let ring: Vec<f32> = CIRCLE.iter().map(|&(dx, dy)| img[[(y as isize + dy) as usize, (x as isize + dx) as usize]]).collect();
            let contiguous = |test: &dyn Fn(f32) -> bool| {
                let mut run = 0;
                (0..32).any(|i| {
                    run = if test(ring[i % 16]) { run + 1 } else { 0 };
                    run >= 9
                })
            };
            if contiguous(&|v| v > p + threshold) || contiguous(&|v| v < p - threshold) {
                score[[y, x]] = ring.iter().map(|v| ((v - p).abs() - threshold).max(0.0)).sum();
            }
        }
    }
    let mut points: Vec<Keypoint> = Vec::new();
    for y in BORDER..h - BORDER {
        for x in BORDER..w - BORDER {
            let s = score[[y, x]];
            if s > 0.0 && (y - 1..=y + 1).all(|yy| (x - 1..=x + 1).all(|xx| score[[yy, xx]] <= s)) {
                points.push(Keypoint { x, y, score: s, angle: orientation(img, x, y) });
            }
        }
    }
    points.sort_by(|a, b| b.score.total_cmp(&a.score));
    points.truncate(max_points);
    points
}

/// Direction of the intensity centroid of the disc of radius 15 around (x, y).
fn orientation(img: &Array2<f32>, x: usize, y: usize) -> f32 {
    let (mut m01, mut m10) = (0.0, 0.0);
    for dy in -15isize..=15 {
        for dx in -15isize..=15 {
            if dx * dx + dy * dy <= 225 {
                let v = img[[(y as isize + dy) as usize, (x as isize + dx) as usize]];
                m10 += dx as f32 * v;
                m01 += dy as f32 * v;
            }
        }
    }
    m01.atan2(m10)
}

/// 256 point pairs in a 31x31 patch, drawn once from an isotropic Gaussian like BRIEF's.
fn brief_pattern() -> Vec<[f32; 4]> {
    let mut rng = Rng(99);
    let mut gauss = || {
        let (u1, u2) = (1.0 - rng.uniform(), rng.uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * 31.0 / 5.0).clamp(-11.0, 11.0) as f32
    };
    (0..256).map(|_| [gauss(), gauss(), gauss(), gauss()]).collect()
}

/// 5x5 box smoothing, so each comparison is between small areas, not single noisy pixels.
fn smooth(img: &Array2<f32>) -> Array2<f32> {
    let (h, w) = img.dim();
    Array2::from_shape_fn((h, w), |(y, x)| {
        if y < 2 || x < 2 || y + 2 >= h || x + 2 >= w {
            return img[[y, x]];
        }
        img.slice(ndarray::s![y - 2..y + 3, x - 2..x + 3]).sum() / 25.0
    })
}

type Descriptor = [u64; 4];

fn describe(img: &Array2<f32>, keypoints: &[Keypoint], pattern: &[[f32; 4]]) -> Vec<Descriptor> {
    let smoothed = smooth(img);
    keypoints
        .iter()
        .map(|k| {
            let (sin, cos) = k.angle.sin_cos();
            let at = |dx: f32, dy: f32| {
                let (rx, ry) = (cos * dx - sin * dy, sin * dx + cos * dy);
                smoothed[[(k.y as f32 + ry).round() as usize, (k.x as f32 + rx).round() as usize]]
            };
            let mut d = [0u64; 4];
            for (i, p) in pattern.iter().enumerate() {
                if at(p[0], p[1]) < at(p[2], p[3]) {
                    d[i / 64] |= 1 << (i % 64);
                }
            }
            d
        })
        .collect()
}

fn hamming(a: &Descriptor, b: &Descriptor) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Brute-force matching with cross-check: (i, j) is a match when j is i's nearest neighbour
/// and i is j's.
fn cross_check_matches(a: &[Descriptor], b: &[Descriptor]) -> Vec<(usize, usize)> {
    let nearest = |d: &Descriptor, set: &[Descriptor]| (0..set.len()).min_by_key(|&j| hamming(d, &set[j]));
    a.iter()
        .enumerate()
        .filter_map(|(i, d)| nearest(d, b).filter(|&j| nearest(&b[j], a) == Some(i)).map(|j| (i, j)))
        .collect()
}

// %% [markdown]
// Descriptors of the reference image, D_1 in the tutorial:

// %%
let pattern = brief_pattern();
let reference_keypoints = fast(&reference, 20.0, 500);
let d_1 = describe(&reference, &reference_keypoints, &pattern);
println!("{} keypoints in the reference image", d_1.len());

// %% [markdown]
// ## The parallel function
//
// `lview.parallel(f)` is rustpx's `@lview.parallel()`: `f` takes one image path, reads the
// image, finds its keypoints and descriptors and matches them against the reference. A match
// is counted correct when the view's keypoint lies within 3 px of where the known transform
// puts the reference keypoint. Because `map` blocks until all images are done, the closure can
// borrow the reference descriptors (no copy per task). (The cell is a block because a
// notebook cannot keep a closure in a variable from one cell to the next.)

// %%
let results = {
let get_num_matches = lview.parallel(|(i, fname): (usize, PathBuf)| {
    let frame = Frame::open(&fname)?.into_gray();
    let keypoints = fast(&frame, 20.0, 500);
    let descriptors = describe(&frame, &keypoints, &pattern);
    let matches = cross_check_matches(&d_1, &descriptors);
    let [a, b, c, d, tx, ty] = transforms[i];
    let correct = matches.iter().filter(|&&(r, v)| {
        let (x, y) = (reference_keypoints[r].x as f64, reference_keypoints[r].y as f64);
        let (ex, ey) = (a * x + b * y + tx, c * x + d * y + ty);
        (ex - keypoints[v].x as f64).hypot(ey - keypoints[v].y as f64) <= 3.0
    }).count();
    Ok::<_, rustpx::FrameError>((fname, keypoints.len(), matches.len(), correct))
});
let async_res = get_num_matches.map(fnames.iter().cloned().enumerate().collect::<Vec<_>>())?;
async_res.into_iter().collect::<Result<Vec<_>, _>>()?
};

// %% [markdown]
// ## Matches per image

// %%
let mut table = Table::new(["image", "keypoints", "matches", "correct", "correct %"]);
for (fname, keypoints, matches, correct) in &results {
    let name = fname.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    println!("{name} {matches}");
    table.push_row([name, keypoints.to_string(), matches.to_string(), correct.to_string(),
        format!("{:.0}", 100.0 * *correct as f64 / *matches as f64)]);
}
let total_matches: usize = results.iter().map(|r| r.2).sum();
let total_correct: usize = results.iter().map(|r| r.3).sum();
println!("RESULT {{\"workload\": \"matching\", \"images\": {}, \"matches\": {total_matches}, \"correct\": {total_correct}}}", results.len());
assert_eq!(results.len(), 16);
assert!(results.iter().all(|r| r.2 >= 50), "every image matches the reference");
assert!(total_correct as f64 >= 0.8 * total_matches as f64, "most matches are correct");
table
