//! `:rustpx`: what the kernel runs (its version, the runtime's source, the build cache).

use super::dispatch::Changes;
use super::flags::no_code;
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};

/// The `:rustpx` magic.
pub struct RustpxInfo;

impl Magic for RustpxInfo {
    fn name(&self) -> &'static str {
        ":rustpx"
    }

    fn usage(&self) -> &'static str {
        ""
    }

    fn summary(&self) -> &'static str {
        "Show the rustpx version, the runtime's source and the build cache directory"
    }

    fn placement(&self) -> Placement {
        Placement::Cell
    }

    fn rewrite(&self, call: &Call<'_>, _: &Magics, _: &mut Changes) -> Result<Rewrite, MagicError> {
        no_code(self, call.code)?;
        Ok(Rewrite::Reply(format!(
            "rustpx {}\nruntime source: {}\nbuild cache: {}\n",
            env!("CARGO_PKG_VERSION"),
            crate::runtime_embed::version_dir()
                .join("runtime")
                .display(),
            std::env::var("EVCXR_TMPDIR").unwrap_or_else(|_| "(temporary)".into()),
        )))
    }
}
