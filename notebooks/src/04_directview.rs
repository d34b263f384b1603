// %% [markdown]
// # The DirectView as multiplexer
//
// A `DirectView` does the same thing on every one of its workers. The only difference between
// running code on one worker and running it in parallel is how many workers the view has.
// This is IPython parallel's *DirectView as multiplexer* tutorial, in Rust.

// %%
:dep ndarray = "0.17.2"

// %%
use ndarray::{Array2, Array3};
let rc = Client::new()?;
rc.ids()

// %% [markdown]
// Views are made by picking workers from the client, by index, range or step
// (IPython's `rc[0]`, `rc[:]`, `rc[::2]`, `rc[1::2]`). `dview.activate()` makes a view the one
// that the `:px` magic runs on.

// %%
let e0 = rc.view(0)?;
let engines = rc.view(..)?;
let even = rc.view((0..).step_by(2))?;
let odd = rc.view((1..).step_by(2))?;
// this is the one we are going to use:
let dview = engines.clone();
dview.activate();

// %% [markdown]
// `apply` runs a closure once on each worker of a view. The workers are threads of this
// notebook's process: the process id is the same everywhere, the worker id and thread differ.

// %%
for (name, view) in [("e0", &e0), ("engines", &engines), ("even", &even), ("odd", &odd)] {
    let who = view.apply(|w| (std::process::id(), w.id()))?;
    println!("{name} {:?}: {:?}", view.targets(), who.values().collect::<Vec<_>>());
}

// %% [markdown]
// The result of a multiplexed call is always one value per worker of the view: a `PerWorker`.
// `push` gives each worker its own copy of a value.

// %%
let a = engines.push(5);
a

// %% [markdown]
// ## Scatter and gather
//
// `scatter` partitions a `Vec` (or an ndarray, along its rows) onto the workers, `gather`
// puts the pieces back together.

// %%
let a = dview.scatter((0..16).collect::<Vec<i32>>());
a

// %%
dview.gather(&a)

// %% [markdown]
// `:px` runs code on every worker of the active view. Inside it, `a` is this worker's own
// piece; a `let` defines a per-worker variable.

// %%
:px let asum: i32 = a.iter().sum();

// %%
let total: i32 = asum.values().sum();
assert_eq!(total, (0..16).sum::<i32>());
println!("asum per worker: {:?}, total {total}", asum.values().collect::<Vec<_>>());

// %% [markdown]
// With one item per worker, `scatter_flatten` hands each worker the item itself rather than a
// one-element list (IPython's `flatten=True`):

// %%
let id = dview.scatter(rc.ids());
id

// %%
let id = dview.scatter_flatten(rc.ids())?;
assert!(id.pairs().all(|(worker, &i)| worker == i));
id

// %% [markdown]
// Scatter and gather also work with arrays:

// %%
let (A, B) = {
    let mut seed = 7u64;
    let mut randint = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        1 + (seed >> 33) as i64 % 9
    };
    (Array2::from_shape_simple_fn((16, 4), &mut randint), Array2::from_shape_simple_fn((4, 16), &mut randint))
};
println!("A =\n{A}\nB =\n{B}");

// %%
let A_part = dview.scatter(A.clone());
println!("worker 0 has rows 0..{} of A:\n{}", A_part[0].nrows(), A_part[0]);

// %% [markdown]
// ## Exercise: parallel matrix multiply
//
// Compute `C = A.dot(B)` in parallel: each worker multiplies its rows of `A` by `B`, and
// the pieces are gathered. With `:px`, `A_part` is the worker's own rows, `B` the notebook's.

// %%
:px let C_part = A_part.dot(&B);

// %% [markdown]
// Validate the result against a local computation:

// %%
let C_ref = A.dot(&B);
let C1 = dview.gather(&C_part)?;
assert_eq!(C1, C_ref);
C1 == C_ref

// %% [markdown]
// The same as a function over any view, with `apply` instead of `:px`:

// %%
fn pdot(view: &DirectView, a: &Array2<i64>, b: &Array2<i64>) -> Result<Array2<i64>, Error> {
    let parts = view.scatter(a.clone());
    let products = view.apply(|w| parts[w.id()].dot(b))?;
    view.gather(&products)
}
assert_eq!(pdot(&even, &A, &B)?, C_ref);
pdot(&dview, &A, &B)? == C_ref

// %% [markdown]
// ## Map
//
// `DirectView::map` behaves like an iterator's `map`, computed in parallel: the items are
// split into one contiguous block per worker.

// %%
let serial_result: Vec<u64> = (0..32u64).map(|x| x.pow(10)).collect();
let parallel_result = dview.map(0..32u64, |x| x.pow(10))?;
serial_result == parallel_result

// %% [markdown]
// `map_async` returns at once with an `AsyncMapResult`. Progress counts items, whatever the
// number of blocks.

// %%
let amr = dview.map_async(0..3200u64, |x| x.pow(5));
amr.wait()?;
println!("{} of {} items done", amr.progress(), amr.len());
amr

// %% [markdown]
// ## The motivating example: contours of images
//
// Each worker draws the contour lines of a picture (marching squares at a few levels) over the
// picture, and returns it as a PNG that the notebook shows inline. The pictures are synthetic
// landscapes of Gaussian hills.

// %%
fn picture(seed: u64) -> Array2<f64> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let hills: Vec<[f64; 4]> = (0..8).map(|_| [200.0 * next(), 160.0 * next(), 10.0 + 25.0 * next(), next()]).collect();
    Array2::from_shape_fn((160, 200), |(r, c)| {
        hills.iter().map(|&[x, y, w, h]| h * (-((c as f64 - x).powi(2) + (r as f64 - y).powi(2)) / (2.0 * w * w)).exp()).sum()
    })
}

/// Segments where `img` crosses `level`, by marching squares, in (x, y) pixel coordinates.
fn find_contours(img: &Array2<f64>, level: f64) -> Vec<[(f64, f64); 2]> {
    let (h, w) = img.dim();
    let mut segments = Vec::new();
    for r in 0..h - 1 {
        for c in 0..w - 1 {
            let corners = [(c, r), (c + 1, r), (c + 1, r + 1), (c, r + 1)];
            let v: Vec<f64> = corners.iter().map(|&(x, y)| img[[y, x]]).collect();
            // the points where each of the square's four edges crosses the level
            let crossings: Vec<(f64, f64)> = (0..4)
                .filter_map(|e| {
                    let (a, b) = (e, (e + 1) % 4);
                    if (v[a] >= level) == (v[b] >= level) {
                        return None;
                    }
                    let t = (level - v[a]) / (v[b] - v[a]);
                    let ((xa, ya), (xb, yb)) = (corners[a], corners[b]);
                    Some((xa as f64 + t * (xb as f64 - xa as f64), ya as f64 + t * (yb as f64 - ya as f64)))
                })
                .collect();
            for pair in crossings.chunks_exact(2) {
                segments.push([pair[0], pair[1]]);
            }
        }
    }
    segments
}

/// The picture in grey with its contours at four levels drawn in colour, as a PNG.
fn get_contours_image(img: &Array2<f64>) -> Result<Png, rustpx::display::DisplayError> {
    let max = img.iter().cloned().fold(f64::MIN, f64::max);
    let (h, w) = img.dim();
    let mut rgb = Array3::from_shape_fn((h, w, 3), |(r, c, _)| (180.0 * img[[r, c]] / max) as u8);
    let colours = [[230, 25, 45], [250, 220, 20], [40, 200, 80], [40, 110, 230]];
    for (k, colour) in colours.iter().enumerate() {
        for [(x0, y0), (x1, y1)] in find_contours(img, max * (k as f64 + 1.0) / 5.0) {
            for step in 0..=4 {
                let t = step as f64 / 4.0;
                let (x, y) = ((x0 + t * (x1 - x0)).round() as usize, (y0 + t * (y1 - y0)).round() as usize);
                for (ch, &v) in colour.iter().enumerate() {
                    rgb[[y.min(h - 1), x.min(w - 1), ch]] = v;
                }
            }
        }
    }
    Png::rgb8(&rgb)
}

let pictures: Vec<Array2<f64>> = (1..=8).map(picture).collect();
println!("{} pictures of {:?}", pictures.len(), pictures[0].dim());

// %% [markdown]
// One picture on worker 0, asynchronously (`apply_async` needs a `'static` closure, so the
// picture is moved into it):

// %%
let first = pictures[0].clone();
let ar = e0.apply_async(move |_| get_contours_image(&first));
ar.wait_interactive()?;
let contour_image = ar.get()?.into_values().remove(0)?;
contour_image

// %% [markdown]
// One picture per worker, with `map_async`:

// %%
let amr = engines.map_async(pictures[..engines.len()].to_vec(), |p| get_contours_image(&p));
amr.wait_interactive()?;
let images = amr.get()?.into_iter().collect::<Result<Vec<Png>, _>>()?;
for png in &images {
    display(png);
}
println!("{} contour images", images.len());
