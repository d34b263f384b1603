//! A cell's final value shown in one compile.
//!
//! evcxr shows a cell's last expression by compiling `(expr).evcxr_display();` and, when
//! the value's type has no such method, compiling the whole cell again with a `Debug`
//! print in its place. With the runtime as a dependency, that failed first compile is the
//! dearest part of a cell such as `2 + 1`: rustc's "no method named `evcxr_display`"
//! diagnostic loads the metadata of every crate in scope to suggest traits to import.
//! [`DebugDisplay`], in the prelude, gives the standard library's values (numbers, text,
//! collections, options, results, tuples, durations) an `evcxr_display`, so the first
//! compile succeeds and prints what evcxr's second compile would have printed.
//!
//! It is implemented for those types only, not for every `Debug` type: a blanket impl
//! would tie with any other trait's `evcxr_display` (a crate that shows images, say) and
//! the value would lose its rich display; smart pointers are left out so that a
//! `Box<Frame>` still reaches `Frame`'s own method. Any other value takes evcxr's usual
//! two compiles and looks the same.

use std::fmt::Debug;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

const PRETTY: u8 = 1;
const TYPES: u8 = 2;

/// How [`DebugDisplay`] prints: the `:fmt` and `:types` settings the kernel forwards.
static STYLE: AtomicU8 = AtomicU8::new(0);

/// Shows a standard library value that is a cell's final value with `Debug`, in the
/// cell's one compile (see the [module documentation](self) for why).
///
/// ```
/// use rustpx::display::DebugDisplay;
/// let value = vec![1, 2, 3];
/// value.evcxr_display(); // prints a text/plain block holding `[1, 2, 3]`
/// ```
pub trait DebugDisplay {
    /// Prints the value's `Debug` form as evcxr's `text/plain` content block.
    fn evcxr_display(&self);
}

/// The impl every listed type shares.
fn show<T: Debug + ?Sized>(value: &T) {
    let text = debug_text(value, std::any::type_name::<T>());
    let mut out = std::io::stdout().lock();
    let _ = write_plain(&mut out, &text);
}

macro_rules! debug_display {
    ($(impl[$($generics:tt)*] $ty:ty;)*) => {$(
        impl<$($generics)*> DebugDisplay for $ty {
            fn evcxr_display(&self) {
                show(self)
            }
        }
    )*};
}

debug_display! {
    impl[] i8; impl[] i16; impl[] i32; impl[] i64; impl[] i128; impl[] isize;
    impl[] u8; impl[] u16; impl[] u32; impl[] u64; impl[] u128; impl[] usize;
    impl[] f32; impl[] f64; impl[] bool; impl[] char; impl[] ();
    impl[] str; impl[] String; impl[] std::time::Duration;
    impl[T: Debug] [T]; impl[T: Debug, const N: usize] [T; N];
    impl[T: Debug] Vec<T>; impl[T: Debug] std::collections::VecDeque<T>;
    impl[T: Debug] Option<T>; impl[T: Debug, E: Debug] Result<T, E>;
    impl[K: Debug, V: Debug, S] std::collections::HashMap<K, V, S>;
    impl[K: Debug, V: Debug] std::collections::BTreeMap<K, V>;
    impl[T: Debug, S] std::collections::HashSet<T, S>;
    impl[T: Debug] std::collections::BTreeSet<T>;
    impl[T: Debug] std::ops::Range<T>; impl[T: Debug] std::ops::RangeInclusive<T>;
}

macro_rules! tuples {
    ($(($($name:ident),+))*) => {$(
        debug_display! { impl[$($name: Debug),+] ($($name,)+); }
    )*};
}

tuples! {
    (A) (A, B) (A, B, C) (A, B, C, D) (A, B, C, D, E) (A, B, C, D, E, F)
    (A, B, C, D, E, F, G) (A, B, C, D, E, F, G, H)
}

/// Sets how [`DebugDisplay`] prints, mirroring evcxr's `:fmt` (`pretty`: `{:#?}` rather
/// than `{:?}`) and `:types` (`types`: prefix the value with `: TYPE = `).
///
/// ```
/// rustpx::display::set_debug_style(true, false);
/// rustpx::display::set_debug_style(false, false);
/// ```
pub fn set_debug_style(pretty: bool, types: bool) {
    let style = if pretty { PRETTY } else { 0 } | if types { TYPES } else { 0 };
    STYLE.store(style, Ordering::Relaxed);
}

/// The text evcxr's fallback would print for `value` under the current style.
fn debug_text<T: Debug + ?Sized>(value: &T, type_name: &str) -> String {
    let style = STYLE.load(Ordering::Relaxed);
    let text = if style & PRETTY != 0 {
        format!("{value:#?}")
    } else {
        format!("{value:?}")
    };
    if style & TYPES != 0 {
        format!(": {type_name} = {text}")
    } else {
        text
    }
}

fn write_plain(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    let bundle = super::bundle([(super::TEXT_PLAIN, text.to_string())]);
    super::write_evcxr_blocks(out, &bundle)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn text_follows_the_style() {
        assert_eq!(debug_text(&(1, "a"), "(i32, &str)"), "(1, \"a\")");
        set_debug_style(true, true);
        let pretty = debug_text(&[1], "[i32; 1]");
        set_debug_style(false, false);
        assert_eq!(pretty, ": [i32; 1] = [\n    1,\n]");
    }

    #[test]
    fn a_block_is_written_for_text_plain() {
        let mut out = Vec::new();
        write_plain(&mut out, "[1, 2]").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "EVCXR_BEGIN_CONTENT text/plain\n[1, 2]\nEVCXR_END_CONTENT\n"
        );
    }

    /// The cells evcxr builds call the method on values, references and unsized text.
    #[test]
    #[allow(clippy::needless_borrow)] // `(&n)` is a receiver evcxr writes
    fn values_references_and_text_have_the_method() {
        let n = 3;
        (n).evcxr_display();
        (2 + 1).evcxr_display();
        (1.5).evcxr_display();
        (&n).evcxr_display();
        ("text").evcxr_display();
        (vec![(1, 'a')], Some(2.5), ()).evcxr_display();
    }

    /// A `Box` is left out so its contents' own method is reached.
    #[test]
    #[allow(unused_allocation)] // a boxed value is the case under test
    fn a_boxed_rich_value_keeps_its_own_method() {
        struct Rich;
        impl Rich {
            fn evcxr_display(&self) -> &'static str {
                "inherent"
            }
        }
        assert_eq!((Box::new(Rich)).evcxr_display(), "inherent");
    }
}
