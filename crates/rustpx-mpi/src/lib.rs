//! MPI for code that runs on rustpx engines (`:px --engines`).
//!
//! Engines are MPI ranks launched by `mpiexec`; each runs evcxr's cell loop and loads
//! the libraries the kernel compiled. The kernel adds this crate to engine cells only, so
//! neither the kernel binary nor the thread runtime needs MPI to build or run.
//!
//! MPI is initialised on first use, once per rank, in this crate's shared library: with
//! static linking off, every cell links that one library, so the [`mpi::environment::Universe`]
//! lives in a single static shared by all cells. Control traffic (cells, output) never goes
//! over MPI; MPI is for data between ranks, as in ipyparallel.
//!
//! ```no_run
//! use rustpx_mpi::prelude::*;
//! let world = world();
//! let root = world.process_at_rank(0);
//! let mut sum = 0usize;
//! if rank() == 0 {
//!     root.reduce_into_root(&rank(), &mut sum, SystemOperation::sum());
//!     assert_eq!(sum, (0..size()).sum::<usize>());
//! } else {
//!     root.reduce_into(&rank(), SystemOperation::sum());
//! }
//! ```

pub use mpi;
/// The `ndarray` the notebook's runtime uses, so that arrays pushed from the notebook
/// have the same type on the engines.
pub use ndarray;

use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::Communicator;
use std::sync::OnceLock;

/// Why MPI is not available on this engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MpiError {
    /// `MPI_Init_thread` was already called by someone else, or failed.
    #[error(
        "MPI could not be initialised in this process (already initialised elsewhere, or \
         not started by mpiexec)"
    )]
    NotInitialised,
}

/// The universe, created on first use and finalised when the process exits.
static UNIVERSE: OnceLock<Result<Universe, MpiError>> = OnceLock::new();

/// Initialises MPI once for this process (with `MPI_THREAD_MULTIPLE`, so worker threads
/// of the rustpx runtime may call MPI too), or says why it could not.
///
/// ```no_run
/// let universe = rustpx_mpi::universe().expect("started by mpiexec");
/// println!("{} ranks", mpi::traits::Communicator::size(&universe.world()));
/// ```
pub fn universe() -> Result<&'static Universe, MpiError> {
    UNIVERSE
        .get_or_init(|| {
            let (universe, _threading) = mpi::initialize_with_threading(mpi::Threading::Multiple)
                .ok_or(MpiError::NotInitialised)?;
            finalize_at_exit();
            Ok(universe)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// `mpiexec` treats a rank that exits without `MPI_Finalize` as failed and aborts the
/// job, and a static is never dropped; so the universe is finalised by `atexit` (the
/// engine's cell loop ends with `exit` when the kernel closes its connection).
fn finalize_at_exit() {
    extern "C" fn finalize() {
        let mut finalized = 0;
        // SAFETY: plain MPI calls on this process's MPI state, made once at exit on the
        // thread that runs exit handlers; MPI_Finalized may be called at any time.
        unsafe {
            mpi::ffi::MPI_Finalized(&mut finalized);
            if finalized == 0 {
                mpi::ffi::MPI_Finalize();
            }
        }
    }
    // SAFETY: registers a function with no preconditions; this library is never unloaded
    // (evcxr keeps every loaded library until the process ends).
    unsafe {
        libc::atexit(finalize);
    }
}

/// The world communicator: every engine.
///
/// # Panics
/// If MPI cannot be initialised (see [`MpiError`]); engines are always started by
/// `mpiexec`, so this is a setup error, not something a cell can recover from.
///
/// ```no_run
/// use rustpx_mpi::prelude::*;
/// let everyone: usize = {
///     let mut n = 0;
///     world().all_reduce_into(&1usize, &mut n, SystemOperation::sum());
///     n
/// };
/// assert_eq!(everyone, size());
/// ```
pub fn world() -> SimpleCommunicator {
    match universe() {
        Ok(universe) => universe.world(),
        Err(error) => panic!("{error}"),
    }
}

/// This engine's rank in the world communicator (its engine id).
///
/// # Panics
/// As [`world`].
///
/// ```no_run
/// println!("I am engine {}", rustpx_mpi::rank());
/// ```
pub fn rank() -> usize {
    usize::try_from(world().rank()).expect("MPI ranks are not negative")
}

/// How many engines there are.
///
/// # Panics
/// As [`world`].
///
/// ```no_run
/// assert!(rustpx_mpi::size() > rustpx_mpi::rank());
/// ```
pub fn size() -> usize {
    usize::try_from(world().size()).expect("MPI sizes are not negative")
}

/// What engine cells import: [`rank`], [`size`], [`world`] and rsmpi's traits and
/// reduction operations.
///
/// ```no_run
/// use rustpx_mpi::prelude::*;
/// let mut max = 0usize;
/// world().all_reduce_into(&rank(), &mut max, SystemOperation::max());
/// ```
pub mod prelude {
    pub use crate::{rank, size, world};
    pub use mpi::collective::SystemOperation;
    pub use mpi::traits::*;
}
