//! The type a pushed variable is declared with on the engines, from the
//! [`std::any::type_name`] of the value in the notebook.
//!
//! `type_name` writes the paths where items are defined, not where they are public
//! (`alloc::vec::Vec`, `std::collections::hash::map::HashMap`,
//! `ndarray::data_repr::OwnedRepr`), and the notebook's borrowed forms (`&str`, `[T]`).
//! The engines need a type a cell can name and own, so:
//! - `alloc::…`/`core::…`/`std::…` become `std::MODULE::NAME` (the standard library
//!   re-exports every public item one module below its root);
//! - other crates' items become `CRATE::NAME` (their root re-exports, as `ndarray`'s
//!   do), with the crates the engines get from `rustpx_mpi` reached through it;
//! - items defined by notebook cells (evcxr's `ctx…` crates) keep their bare name: the
//!   engines must define the same type (with `serde::Deserialize`);
//! - `&T` becomes `T`, `str` `String` and `[T]` `Vec<T>`.

use quote::quote;
use syn::visit_mut::VisitMut;
use syn::{Path, PathArguments, Type};

/// Crates the engines reach through `rustpx_mpi` (its re-exports).
const VIA_RUSTPX_MPI: &[&str] = &["ndarray"];

/// The standard library's crates as `type_name` writes them.
const STD_CRATES: &[&str] = &["std", "alloc", "core"];

/// The engines' type for a notebook value whose `type_name` is `type_name`, or why there
/// is none (a closure, a trait object, an unnamed type).
pub fn engine_type(type_name: &str) -> Result<Type, String> {
    let mut ty = syn::parse_str::<Type>(type_name)
        .map_err(|_| format!("the type `{type_name}` cannot be named in a cell"))?;
    let mut owned = Owned { refused: None };
    owned.visit_type_mut(&mut ty);
    match owned.refused {
        Some(what) => Err(format!(
            "the type `{type_name}` has {what}, which cannot be sent to the engines"
        )),
        None => Ok(ty),
    }
}

/// Rewrites a type into its owned, nameable form (see the module's documentation).
struct Owned {
    refused: Option<&'static str>,
}

impl VisitMut for Owned {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        match ty {
            Type::Reference(reference) => {
                let inner = std::mem::replace(&mut *reference.elem, Type::Verbatim(quote!()));
                *ty = inner;
                self.visit_type_mut(ty);
                return;
            }
            Type::Slice(slice) => {
                let elem = &slice.elem;
                *ty = syn::parse_quote!(std::vec::Vec<#elem>);
            }
            Type::Path(path) if path.qself.is_none() && path.path.is_ident("str") => {
                *ty = syn::parse_quote!(std::string::String);
            }
            Type::TraitObject(_) | Type::ImplTrait(_) => self.refused = Some("a trait object"),
            Type::BareFn(_) => self.refused = Some("a function pointer"),
            Type::Ptr(_) => self.refused = Some("a raw pointer"),
            _ => {}
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }

    fn visit_path_mut(&mut self, path: &mut Path) {
        public_path(path);
        syn::visit_mut::visit_path_mut(self, path);
    }
}

/// Shortens the path of an item to one under which it is public (the module docs).
fn public_path(path: &mut Path) {
    if path.leading_colon.is_some() || path.segments.len() < 2 {
        return;
    }
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let last = path.segments.pop().map(syn::punctuated::Pair::into_value);
    let Some(last) = last else { return };
    let krate = names[0].as_str();
    let prefix: Vec<String> = if STD_CRATES.contains(&krate) {
        let module = if names.len() > 2 {
            Some(names[1].clone())
        } else {
            None
        };
        std::iter::once("std".to_string()).chain(module).collect()
    } else if krate.starts_with("ctx") {
        Vec::new()
    } else if VIA_RUSTPX_MPI.contains(&krate) {
        vec!["rustpx_mpi".into(), krate.into()]
    } else {
        vec![krate.into()]
    };
    path.segments = prefix
        .iter()
        .map(|name| syn::PathSegment {
            ident: syn::Ident::new(name, proc_macro2::Span::call_site()),
            arguments: PathArguments::None,
        })
        .chain(std::iter::once(last))
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn engines(type_name: &str) -> String {
        let ty = engine_type(type_name).unwrap();
        ty.to_token_stream().to_string().replace(' ', "")
    }

    #[test]
    fn standard_library_paths_become_public_ones() {
        assert_eq!(engines(std::any::type_name::<f64>()), "f64");
        assert_eq!(
            engines(std::any::type_name::<Vec<String>>()),
            "std::vec::Vec<std::string::String>"
        );
        assert_eq!(
            engines(std::any::type_name::<std::collections::HashMap<String, u8>>()),
            "std::collections::HashMap<std::string::String,u8>"
        );
        assert_eq!(
            engines(std::any::type_name::<
                std::collections::BTreeMap<u8, Option<u8>>,
            >()),
            "std::collections::BTreeMap<u8,std::option::Option<u8>>"
        );
        assert_eq!(
            engines(std::any::type_name::<(u8, [f32; 3])>()),
            "(u8,[f32;3])"
        );
    }

    #[test]
    fn borrowed_forms_become_owned() {
        assert_eq!(
            engines(std::any::type_name::<&str>()),
            "std::string::String"
        );
        assert_eq!(
            engines(std::any::type_name::<[u32]>()),
            "std::vec::Vec<u32>"
        );
        assert_eq!(
            engines(std::any::type_name::<&&[&str]>()),
            "std::vec::Vec<std::string::String>"
        );
    }

    #[test]
    fn arrays_come_from_rustpx_mpi_and_notebook_types_keep_their_name() {
        assert_eq!(
            engines(std::any::type_name::<rustpx::ndarray::Array2<f64>>()),
            "rustpx_mpi::ndarray::ArrayBase<rustpx_mpi::ndarray::OwnedRepr<f64>,\
             rustpx_mpi::ndarray::Dim<[usize;2]>,f64>"
        );
        assert_eq!(engines("ctx::Point"), "Point");
        assert_eq!(engines("ctx3::Pair<ctx3::Point>"), "Pair<Point>");
        assert_eq!(engines("other::deep::module::Thing"), "other::Thing");
    }

    #[test]
    fn what_cannot_be_sent_is_named() {
        let closure = engine_type("ctx::main::{{closure}}").unwrap_err();
        assert!(closure.contains("cannot be named"), "{closure}");
        let object = engine_type("alloc::boxed::Box<dyn core::fmt::Debug>").unwrap_err();
        assert!(object.contains("a trait object"), "{object}");
    }
}
