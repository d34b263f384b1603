//! `:workers [N]`: show the workers, or restart the default client with N of them.

use super::code::render;
use super::dispatch::Changes;
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};
use quote::quote;

/// The most workers `:workers N` starts: each is a thread of the kernel's child process,
/// and more than this is a typo rather than a machine.
pub const MAX_WORKERS: usize = 1024;

/// The `:workers` magic.
pub struct Workers;

impl Magic for Workers {
    fn name(&self) -> &'static str {
        ":workers"
    }

    fn usage(&self) -> &'static str {
        "[N]"
    }

    fn summary(&self) -> &'static str {
        "Show the workers (id, tasks done, busy); with N, restart the default client"
    }

    fn placement(&self) -> Placement {
        Placement::Line
    }

    fn rewrite(&self, call: &Call<'_>, _: &Magics, _: &mut Changes) -> Result<Rewrite, MagicError> {
        match call.code.trim() {
            "" => Ok(Rewrite::Code(render(&quote!(rustpx::px::workers()?)))),
            n => match n.parse::<usize>() {
                Ok(n) if (1..=MAX_WORKERS).contains(&n) => {
                    Ok(Rewrite::Code(render(&quote!(rustpx::px::set_workers(#n)?))))
                }
                _ => Err(MagicError::bad_value(
                    self.name(),
                    "N",
                    n,
                    format!("a worker count (1 <= N <= {MAX_WORKERS})"),
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_counts_are_bounded() {
        let m = Magics::default();
        assert!(m.prepare(":workers 1024").is_ok());
        for bad in ["0", "1025", "-1", "zero", "18446744073709551616", "2 3"] {
            let err = m
                .prepare(&format!(":workers {bad}"))
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(":workers N: {bad} is not a worker count (1 <= N <= 1024)")
            );
        }
    }
}
