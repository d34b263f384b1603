// %% [markdown]
// # Engines: cells on MPI ranks
//
// Worker threads (the other notebooks) share this notebook's process: nothing is faster on
// one machine. **Engines** are for work that must leave it: processes of their own,
// started by `mpiexec` on this machine or across a cluster, as ipyparallel's engines are.
// A cell run with `:px --engines` is compiled once, here, and every engine runs the same
// library; each engine keeps its own variables from cell to cell, and `rank()`, `size()`
// and the MPI world communicator (the `mpi` crate) are in scope there for collectives.
//
// This notebook follows two of the tutorials the thread views follow too: the parallel
// matrix multiply of IPython's *DirectView* tutorial and trackpy's parallel feature
// location, both on two engines, with values moved by `push`, `scatter`, `pull` and
// `gather` and an MPI reduction between the engines.

// %% [markdown]
// ## Starting engines
//
// `:engines start -n 2` starts two engines on this machine (Open MPI or MPICH must be
// installed). On a cluster, `:engines start -n 64 --hostfile hosts` places them on the
// hosts of an MPI hostfile, and inside a Slurm allocation `mpiexec` finds the allocated
// nodes by itself. The first start builds the engines' crates (`mpi`, `ndarray`); later
// ones take a second or two.

// %%
:engines start -n 2

// %% [markdown]
// `:engines` shows the table: rank, host, process id, state, the cells each engine ran, and
// whether it reads the kernel's files (`shared`) or is sent them (`sent`, a host that
// cannot see them).

// %%
:engines

// %%
:px --engines
println!("engine {} of {}, process {}", rank(), size(), std::process::id());

// %% [markdown]
// ## Parallel matrix multiply
//
// The tutorial's exercise: compute `C = A.dot(B)` in parallel. Scatter the rows of `A`
// (each engine gets a contiguous block), push all of `B` to every engine, multiply there,
// and gather the blocks of `C` back, in rank order.

// %%
use rustpx::ndarray::{Array2, Axis, concatenate};
let A = Array2::from_shape_fn((300, 200), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
let B = Array2::from_shape_fn((200, 150), |(i, j)| ((i * 5 + j) % 13) as f64 / 4.0);
engines().scatter("a_rows", &A)?;
engines().push("b", &B)?;

// %%
:px --engines
let c_rows = a_rows.dot(&b);
c_rows.dim()

// %%
let blocks: Vec<Array2<f64>> = engines().pull("c_rows")?;
let C1 = {
    let views: Vec<_> = blocks.iter().map(|block| block.view()).collect();
    concatenate(Axis(0), &views)?
};
let C_ref = A.dot(&B);
C1 == C_ref

// %% [markdown]
// ## A collective between the engines
//
// Engines talk to each other over MPI, not through the notebook. Each computes the sum of
// the squares of its block of `C`; an `all_reduce` adds them up on every engine, and the
// total matches the notebook's own.

// %%
:px --engines
let mut total = 0.0f64;
let mine: f64 = c_rows.iter().map(|v| v * v).sum();
world().all_reduce_into(&mine, &mut total, SystemOperation::sum());
total

// %%
let frobenius2: f64 = C_ref.iter().map(|v| v * v).sum();
let on_engines: Vec<f64> = engines().pull("total")?;
assert!(on_engines.iter().all(|t| (t - frobenius2).abs() <= 1e-9 * frobenius2));
println!("sum of squares: {frobenius2} here, {on_engines:?} on the engines");

// %% [markdown]
// ## Feature location on the engines
//
// trackpy's tutorial locates bright particles in every frame of a movie, frames shared
// out among the engines. Here the notebook makes a small movie (Gaussian spots on a noisy
// background, known positions) and scatters its frames; each engine locates the
// particles of its own frames with a `locate` defined in an engine cell; an MPI `reduce`
// counts the particles found on rank 0, and the notebook gathers every position back.

// %%
use rustpx::ndarray::Array3;
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
const SIZE: usize = 256;
const SPOTS: usize = 40;
let n_frames = 8;
let mut rng = Rng(2024);
// Spots on a 16-pixel grid, jittered: never closer than 8 pixels, away from the edges.
let mut cells: Vec<(usize, usize)> = (1..15).flat_map(|r| (1..15).map(move |c| (r, c))).collect();
let mut truth: Vec<(usize, f64, f64)> = Vec::new();
let mut stack = Array3::<f32>::zeros((n_frames, SIZE, SIZE));
for (f, mut frame) in stack.axis_iter_mut(Axis(0)).enumerate() {
    for i in 0..SPOTS {
        let pick = i + (rng.uniform() * (cells.len() - i) as f64) as usize;
        cells.swap(i, pick);
    }
    let spots: Vec<(f64, f64, f64)> = cells[..SPOTS]
        .iter()
        .map(|&(r, c)| {
            let x = c as f64 * 16.0 + 8.0 * rng.uniform() - 4.0;
            let y = r as f64 * 16.0 + 8.0 * rng.uniform() - 4.0;
            (x, y, 100.0 + 100.0 * rng.uniform())
        })
        .collect();
    for ((y, x), v) in frame.indexed_iter_mut() {
        let noise = 5.0 * (rng.uniform() + rng.uniform() + rng.uniform() - 1.5);
        let light: f64 = spots
            .iter()
            .map(|&(sx, sy, a)| a * (-((x as f64 - sx).powi(2) + (y as f64 - sy).powi(2)) / 8.0).exp())
            .sum();
        *v = (20.0 + light + noise) as f32;
    }
    truth.extend(spots.iter().map(|&(x, y, _)| (f, x, y)));
}
engines().scatter("frames", &stack)?;
engines().scatter("frame_ids", (0..n_frames).collect::<Vec<usize>>())?;
println!("{n_frames} frames of {SIZE}x{SIZE}, {} particles, scattered", truth.len());

// %% [markdown]
// `locate` runs on the engines only: local maxima well above the background, then the
// centroid of the background-subtracted brightness in a disc of radius 4 around each.

// %%
:px --engines
use rustpx_mpi::ndarray::{ArrayView2, Axis};
/// Bright spots in `frame`: (x, y) in pixels.
fn locate(frame: ArrayView2<f32>) -> Vec<(f64, f64)> {
    let (h, w) = frame.dim();
    let background = frame.iter().sum::<f32>() / (h * w) as f32;
    let r = 4isize;
    let mut found = Vec::new();
    for y in 4..h - 4 {
        for x in 4..w - 4 {
            let v = frame[[y, x]];
            // Of equal maxima (a frame stored as integers has them) the first in raster
            // order is the peak: neighbours before it must be strictly dimmer.
            let peak = v > background + 40.0
                && (-3isize..=3).all(|dy| (-3isize..=3).all(|dx| {
                    let n = frame[[(y as isize + dy) as usize, (x as isize + dx) as usize]];
                    if (dy, dx) < (0, 0) { n < v } else { n <= v }
                }));
            if !peak {
                continue;
            }
            let (mut m, mut sx, mut sy) = (0.0f64, 0.0, 0.0);
            for dy in -r..=r {
                for dx in -r..=r {
                    if dy * dy + dx * dx <= r * r {
                        let p = frame[[(y as isize + dy) as usize, (x as isize + dx) as usize]];
                        let p = f64::from((p - background).max(0.0));
                        (m, sx, sy) = (m + p, sx + p * dx as f64, sy + p * dy as f64);
                    }
                }
            }
            found.push((x as f64 + sx / m, y as f64 + sy / m));
        }
    }
    found
}
let found: Vec<(usize, f64, f64)> = frame_ids
    .iter()
    .zip(frames.axis_iter(Axis(0)))
    .flat_map(|(&id, frame)| locate(frame).into_iter().map(move |(x, y)| (id, x, y)))
    .collect();
{
    let world = world();
    let root = world.process_at_rank(0);
    if rank() == 0 {
        let mut everyone = 0usize;
        root.reduce_into_root(&found.len(), &mut everyone, SystemOperation::sum());
        println!("{everyone} particles found by {} engines", size());
    } else {
        root.reduce_into(&found.len(), SystemOperation::sum());
    }
}
(frame_ids.clone(), found.len())

// %% [markdown]
// Gather the positions (in rank order, so frame order) and compare them with the truth:
// every particle found once, and how far the located positions are from the true ones.

// %%
let located: Vec<(usize, f64, f64)> = engines().gather("found")?;
let errors: Vec<f64> = truth
    .iter()
    .map(|&(f, x, y)| {
        located
            .iter()
            .filter(|p| p.0 == f)
            .map(|&(_, lx, ly)| (lx - x).hypot(ly - y))
            .fold(f64::INFINITY, f64::min)
    })
    .collect();
let mean_error = errors.iter().sum::<f64>() / errors.len() as f64;
assert_eq!(located.len(), truth.len());
assert!(errors.iter().all(|&e| e < 1.0), "a particle was missed");
println!("located {} of {} particles, mean error {mean_error:.3} px", located.len(), truth.len());

// %% [markdown]
// ## A load-balanced map over files
//
// ipyparallel's other view is the load-balanced one: `lview.map(f, items)` makes each item
// a task for whichever engine is free first. Here `f` is a function an engine cell defines,
// and `engines().map` sends the items. For an image sequence the items are the files'
// paths, so every engine decodes its own frames and only the results come back. The
// frames are written as 8-bit PNG files first (their brightness is within 0–255).

// %%
let frames_dir = std::env::temp_dir().join(format!("rustpx-06-{}", std::process::id()));
std::fs::create_dir_all(&frames_dir)?;
fn to_u8(frame: rustpx::ndarray::ArrayView2<f32>) -> Array2<u8> {
    frame.mapv(|v| v.clamp(0.0, 255.0) as u8)
}
let paths: Vec<String> = write_sequence(&frames_dir, "frame", "png", stack.axis_iter(Axis(0)).map(to_u8))?
    .iter()
    .map(|path| path.display().to_string())
    .collect();
paths.len()

// %%
:px --engines
/// The bright spots of the frame stored at `path`.
fn locate_file(path: String) -> Vec<(f64, f64)> {
    let frame = ImageSequence::open(&path).unwrap().gray().get(0).unwrap();
    locate(frame.view())
}

// %% [markdown]
// A progress bar shows while the tasks run; a frame that fails would be an error naming
// its task and engine, the others still located.

// %%
let per_frame: Vec<Vec<(f64, f64)>> = engines().map("locate_file", paths.clone())?;
let from_files: usize = per_frame.iter().map(Vec::len).sum();
std::fs::remove_dir_all(&frames_dir)?;
assert_eq!(from_files, truth.len());
println!("{from_files} particles in {} frames, located by a load-balanced map", per_frame.len());

// %% [markdown]
// Stopping the engines ends their processes (so do shutting the kernel down and the
// kernel dying); the notebook's own variables stay.

// %%
:engines stop

// %%
C1.dim()
