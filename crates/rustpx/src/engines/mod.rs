//! The MPI engines seen from the notebook: moving values between the notebook and the
//! engines' variables, as ipyparallel's `DirectView.push`/`pull`/`scatter`/`gather` do,
//! and mapping a function the engines define over the notebook's items with load
//! balancing ([`EngineView::map`], its protocol in `tasks.rs`).
//!
//! Engines are processes of their own (`:engines start -n N`, code run on them with
//! `:px --engines`), so values cross as bytes: serialized with serde (`postcard`) here,
//! into files of the engines' transfer directory that the kernel names over its socket
//! (see [`crate::protocol`]), and defined on the engines by a cell the kernel compiles
//! once for all of them. A pushed variable gets the
//! type the value had in the notebook, named by [`std::any::type_name`]: a standard
//! library type, an `ndarray` array, or a type the engines define themselves under the
//! same name (with `serde::Deserialize`). A pulled variable must implement
//! `serde::Serialize` on the engines.
//!
//! ```no_run
//! use rustpx::engines::engines;
//! // After `:engines start -n 2` in the notebook:
//! engines().push("threshold", &0.5f64)?;
//! engines().scatter("frames", (0..10).collect::<Vec<u32>>())?;
//! // ... `:px --engines let n = frames.len();` ...
//! let per_engine: Vec<usize> = engines().pull("n")?;
//! assert_eq!(per_engine, [5, 5]);
//! let back: Vec<u32> = engines().gather("frames")?;
//! assert_eq!(back.len(), 10);
//! # Ok::<(), rustpx::Error>(())
//! ```

use crate::Error;
use crate::protocol::{EngineReply, EngineRequest, SOCKET_ENV, read_message, write_message};
use crate::scatter::Scatter;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::type_name;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod claim;
mod tasks;
mod transfer;
pub use claim::{offer, record_ended, run_tasks};
pub use transfer::{TransferError, mirrored_transfer_name, put, take};

/// Why moving a value to or from the engines failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Not running in a rustpx kernel (a plain program or test): there are no engines.
    #[error("no rustpx kernel to ask: engines exist only in a notebook (:engines start -n N)")]
    NoKernel,
    /// The kernel's socket or the transfer directory could not be used.
    #[error("cannot move values to or from the engines: {0}")]
    Connection(String),
    /// The kernel or the engines refused: no engines running, a name that is not a
    /// variable, a type the engines cannot name, the error of a failing engine.
    #[error("{0}")]
    Kernel(String),
    /// The value could not be serialized.
    #[error("cannot serialize `{name}` for the engines: {message}")]
    Encode {
        /// The variable's name.
        name: String,
        /// serde's reason.
        message: String,
    },
    /// An engine's value is not of the type asked for.
    #[error("`{name}` on engine {rank} cannot be read as a `{type_name}`: {message}")]
    Decode {
        /// The variable's name.
        name: String,
        /// The engine (MPI rank).
        rank: usize,
        /// The type asked for.
        type_name: &'static str,
        /// serde's reason.
        message: String,
    },
    /// A map's result is not of the type asked for.
    #[error("the result of task {task} cannot be read as a `{type_name}`: {message}")]
    Result {
        /// The task (the item's position).
        task: usize,
        /// The type asked for.
        type_name: &'static str,
        /// serde's reason.
        message: String,
    },
}

/// Every running engine, for moving values to and from their variables.
///
/// ```no_run
/// let n = rustpx::engines::engines().len()?;
/// println!("{n} engines");
/// # Ok::<(), rustpx::Error>(())
/// ```
pub fn engines() -> EngineView {
    EngineView {
        timeout: None,
        retries: 0,
    }
}

/// A view of every engine (ipyparallel's `rc[:]` on the engines); see [`engines`].
#[derive(Debug, Clone, Copy)]
pub struct EngineView {
    timeout: Option<Duration>,
    retries: u32,
}

impl EngineView {
    /// How many engines are running (an error if none are).
    ///
    /// ```no_run
    /// assert!(rustpx::engines::engines().len()? > 0);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Result<usize, Error> {
        Ok(ask(&EngineRequest::Size)?.0)
    }

    /// Defines the variable `name` on every engine as a copy of `value` (a `&str` or a
    /// slice arrives as a `String` or a `Vec`).
    ///
    /// ```no_run
    /// rustpx::engines::engines().push("labels", &vec!["a".to_string(), "b".into()])?;
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn push<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<(), Error> {
        let _one_at_a_time = begin_transfer()?;
        let (_, dir) = ask(&EngineRequest::Size)?;
        write_part(name, &dir.join("push").join("all"), value)?;
        let request = EngineRequest::Push {
            name: name.into(),
            type_name: type_name::<T>().into(),
            parts: 1,
        };
        ask(&request)?;
        Ok(())
    }

    /// Splits `data` into one contiguous part per engine (ipyparallel's split: the first
    /// `len % n` parts one element longer; arrays along axis 0) and defines `name` on
    /// engine `r` as part `r`.
    ///
    /// ```no_run
    /// use rustpx::engines::engines;
    /// engines().scatter("rows", rustpx::ndarray::Array2::<f64>::zeros((10, 3)))?;
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn scatter<S>(&self, name: &str, data: S) -> Result<(), Error>
    where
        S: Scatter,
        S::Part: Serialize,
    {
        let _one_at_a_time = begin_transfer()?;
        let (engines, dir) = ask(&EngineRequest::Size)?;
        for (rank, part) in data.split_into(engines).iter().enumerate() {
            write_part(name, &dir.join("push").join(rank.to_string()), part)?;
        }
        let request = EngineRequest::Push {
            name: name.into(),
            type_name: type_name::<S::Part>().into(),
            parts: engines,
        };
        ask(&request)?;
        Ok(())
    }

    /// Every engine's variable `name`, in rank order.
    ///
    /// ```no_run
    /// let counts: Vec<usize> = rustpx::engines::engines().pull("n_found")?;
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn pull<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>, Error> {
        let _one_at_a_time = begin_transfer()?;
        let (engines, dir) = ask(&EngineRequest::Pull { name: name.into() })?;
        (0..engines)
            .map(|rank| read_part(name, rank, &dir.join("pull").join(rank.to_string())))
            .collect::<Result<_, _>>()
            .map_err(Error::from)
    }

    /// The engines' `Vec`s named `name` joined in rank order: the inverse of
    /// [`scatter`](Self::scatter) for vectors.
    ///
    /// ```no_run
    /// let all: Vec<f64> = rustpx::engines::engines().gather("partial_sums")?;
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn gather<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>, Error> {
        Ok(self.pull::<Vec<T>>(name)?.into_iter().flatten().collect())
    }

    /// `function(item)` for every item, in item order, run on the engines with load
    /// balancing (ipyparallel's `load_balanced_view().map`): `function` is defined in an
    /// engine cell (`:px --engines fn locate(path: String) -> usize { … }`) and takes an
    /// item by value; each engine takes the next task no engine has taken. Items and
    /// results cross as serde values (an item arrives as the owned type of `T`, as for
    /// [`push`](Self::push)). A progress bar shows while it runs; a task that panics is a
    /// [`TaskError`](crate::TaskError) naming the task, the engine and the message, and
    /// the others still run; an interrupt stops the engines taking tasks and returns
    /// [`Error::Interrupted`], the engines finishing the tasks they run.
    ///
    /// ```no_run
    /// // After `:px --engines fn square(x: u64) -> u64 { x * x }`:
    /// let squares: Vec<u64> = rustpx::engines::engines().map("square", 0..10u64)?;
    /// assert_eq!(squares[3], 9);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn map<T, R>(
        &self,
        function: &str,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<R>, Error>
    where
        T: Serialize,
        R: DeserializeOwned,
    {
        tasks::map(function, items, self.timeout, self.retries)
    }

    /// A copy whose [`map`](Self::map) tasks fail with
    /// [`Timeout`](crate::TaskErrorKind::Timeout) when still running `limit` after an
    /// engine took them, as with the thread views'
    /// [`timeout`](crate::LoadBalancedView::timeout): the rest of the map is unaffected,
    /// and the call returns once every other task is done (the engine running a
    /// timed-out task finishes it but takes no other; the next transfer waits for it).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let view = rustpx::engines::engines().timeout(Duration::from_secs(30));
    /// let counts: Vec<usize> = view.map("locate_path", ["a.png", "b.png"])?;
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn timeout(&self, limit: Duration) -> EngineView {
        EngineView {
            timeout: Some(limit),
            ..*self
        }
    }

    /// A copy whose [`map`](Self::map) runs a task that panics again, up to `retries`
    /// more times, on whichever engine takes it next (ipyparallel's `retries`): for
    /// failures that depend on the engine or the moment, such as a file not there yet.
    /// A task that fails every time is a [`TaskError`](crate::TaskError) with the last
    /// failure, saying how many times it ran. An item that cannot be read is not retried.
    ///
    /// ```no_run
    /// let view = rustpx::engines::engines().retries(2);
    /// let counts: Vec<usize> = view.map("locate_path", ["a.png", "b.png"])?;
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn retries(&self, retries: u32) -> EngineView {
        EngineView { retries, ..*self }
    }
}

/// Held for a whole transfer: the files in the transfer directory have fixed names, so
/// two threads of a cell must not move values at once.
static TRANSFER: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Starts a transfer: holds [`TRANSFER`] once a map that returned early has ended on the
/// engines (its files must not be taken for this transfer's).
fn begin_transfer() -> Result<parking_lot::MutexGuard<'static, ()>, Error> {
    let guard = TRANSFER.lock();
    tasks::settle()?;
    Ok(guard)
}

/// Serializes `value` into the file `path` for the engines (into memory first: postcard
/// writing to a file goes through a write call per field, several times slower).
fn write_part<T: Serialize + ?Sized>(
    name: &str,
    path: &Path,
    value: &T,
) -> Result<(), EngineError> {
    let bytes = postcard::to_stdvec(value).map_err(|e| EngineError::Encode {
        name: name.into(),
        message: e.to_string(),
    })?;
    std::fs::write(path, bytes).map_err(|e| file_error(path, &e))
}

/// Reads engine `rank`'s value from `path` (and removes the file).
fn read_part<T: DeserializeOwned>(name: &str, rank: usize, path: &Path) -> Result<T, EngineError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, &e))?;
    let _ = std::fs::remove_file(path);
    decode(&bytes).map_err(|message| EngineError::Decode {
        name: name.into(),
        rank,
        type_name: type_name::<T>(),
        message,
    })
}

/// The value `bytes` hold, all of them: postcard reads what the type needs and would
/// take the first bytes of another type's value for one of this type.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} bytes are left over", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

fn file_error(path: &Path, error: &std::io::Error) -> EngineError {
    EngineError::Connection(format!("{}: {error}", path.display()))
}

/// Sends one request to the kernel and waits for its reply: how many engines run, and
/// their transfer directory.
fn ask(request: &EngineRequest) -> Result<(usize, PathBuf), EngineError> {
    let path = std::env::var_os(SOCKET_ENV).ok_or(EngineError::NoKernel)?;
    let connection = |e: std::io::Error| EngineError::Connection(e.to_string());
    let stream = UnixStream::connect(&path).map_err(connection)?;
    write_message(&mut &stream, request).map_err(connection)?;
    match read_message(&mut BufReader::new(&stream)).map_err(connection)? {
        EngineReply::Ok { engines, transfer } => Ok((engines, transfer)),
        EngineReply::Error { message } => Err(EngineError::Kernel(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// Answers `requests` connections as a kernel would: a pull of `x` finds each
    /// engine's `u32` in the transfer directory.
    fn fake_kernel(dir: &Path, values: Vec<u32>, requests: usize) {
        let listener = UnixListener::bind(dir.join("kernel.sock")).unwrap();
        let transfer = dir.to_path_buf();
        std::fs::create_dir_all(transfer.join("pull")).unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let stream = stream.unwrap();
                let request = read_message(&mut BufReader::new(&stream)).unwrap();
                let reply = match request {
                    EngineRequest::Pull { name } if name == "x" => {
                        for (rank, v) in values.iter().enumerate() {
                            let file = transfer.join("pull").join(rank.to_string());
                            std::fs::write(file, postcard::to_stdvec(v).unwrap()).unwrap();
                        }
                        EngineReply::Ok {
                            engines: values.len(),
                            transfer: transfer.clone(),
                        }
                    }
                    other => EngineReply::Error {
                        message: format!("no engine has {other:?}"),
                    },
                };
                write_message(&mut &stream, &reply).unwrap();
            }
        });
    }

    // One test, so that no other test sees the environment variable change.
    #[test]
    fn values_come_back_in_rank_order_and_errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        fake_kernel(dir.path(), vec![7, 70_000], 3);
        // SAFETY: no other test of this binary reads or writes this variable.
        unsafe { std::env::set_var(SOCKET_ENV, dir.path().join("kernel.sock")) };

        assert_eq!(engines().pull::<u32>("x"), Ok(vec![7, 70_000]));
        let wrong = engines().pull::<String>("x").unwrap_err().to_string();
        assert!(
            wrong.starts_with("`x` on engine 0 cannot be read as a `alloc::string::String`"),
            "{wrong}"
        );
        let refused = engines().pull::<u32>("y").unwrap_err();
        assert!(
            refused.to_string().starts_with("no engine has Pull"),
            "{refused}"
        );

        // SAFETY: as above.
        unsafe { std::env::remove_var(SOCKET_ENV) };
        let error = engines().len().unwrap_err();
        assert_eq!(error, Error::Engines(EngineError::NoKernel));
        assert!(error.to_string().contains(":engines start"));
    }
}
