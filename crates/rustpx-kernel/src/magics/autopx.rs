//! `:autopx`: run every following cell as `:px` until the next `:autopx` (ipyparallel's
//! `%autopx`).

use super::dispatch::Changes;
use super::flags::no_code;
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};

/// The `:autopx` magic.
pub struct Autopx;

impl Magic for Autopx {
    fn name(&self) -> &'static str {
        ":autopx"
    }

    fn usage(&self) -> &'static str {
        ""
    }

    fn summary(&self) -> &'static str {
        "Toggle running every following cell as :px"
    }

    fn placement(&self) -> Placement {
        Placement::Cell
    }

    fn rewrite(
        &self,
        call: &Call<'_>,
        magics: &Magics,
        changes: &mut Changes,
    ) -> Result<Rewrite, MagicError> {
        no_code(self, call.code)?;
        let on = !magics.autopx();
        changes.autopx = Some(on);
        Ok(Rewrite::Note(if on {
            "%autopx enabled: every cell now runs on the workers as :px (:autopx to stop)".into()
        } else {
            "%autopx disabled: cells run in the notebook again".into()
        }))
    }
}
