//! The notebook variables' types as evcxr reports them (text from its type inference),
//! parsed with `syn` so generated code splices them as tokens.

/// A reported type that does not parse as a Rust type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot restore `{name}`: evcxr reports its type as `{ty}`, which does not parse as a \
     Rust type ({message})"
)]
pub struct TypeError {
    /// The variable.
    pub name: String,
    /// The type as evcxr reported it.
    pub ty: String,
    /// syn's message.
    pub message: String,
}

/// The type `ty` that evcxr reported for the variable `name`.
pub fn parse(name: &str, ty: &str) -> Result<syn::Type, TypeError> {
    syn::parse_str::<syn::Type>(ty).map_err(|e| TypeError {
        name: name.to_string(),
        ty: ty.to_string(),
        message: e.to_string(),
    })
}

/// Whether `ty` is rustpx's `PerWorker<…>`, however the path is spelled. A type that does
/// not parse is not one: it cannot have come from the runtime's `PerWorker`, whose name
/// rust-analyzer always prints in full.
pub fn is_per_worker(ty: &str) -> bool {
    match syn::parse_str::<syn::Type>(ty) {
        Ok(syn::Type::Path(path)) if path.qself.is_none() => {
            path.path.segments.last().is_some_and(|last| {
                last.ident == "PerWorker"
                    && matches!(last.arguments, syn::PathArguments::AngleBracketed(_))
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    #[test]
    fn per_worker_types_however_spelled() {
        assert!(is_per_worker("PerWorker<usize>"));
        assert!(is_per_worker("rustpx::PerWorker<Vec<i32>>"));
        assert!(is_per_worker(
            "::rustpx::per_worker::PerWorker<(u8, String)>"
        ));
        assert!(!is_per_worker("Vec<PerWorker<usize>>"));
        assert!(!is_per_worker("PerWorkerish<u8>"));
        assert!(!is_per_worker("PerWorker"));
        assert!(!is_per_worker("{unknown}"));
        assert!(!is_per_worker("[closure@cell:1]"));
    }

    #[test]
    fn types_parse_or_name_the_variable() {
        let ty = parse("v", "std::collections::HashMap<String, Vec<(u8, f64)>>").unwrap();
        assert_eq!(
            ty.to_token_stream().to_string(),
            "std :: collections :: HashMap < String , Vec < (u8 , f64) > >"
        );
        let err = parse("w", "Vec<[closure@cell:1]>").unwrap_err();
        assert_eq!(
            (err.name.as_str(), err.ty.as_str()),
            ("w", "Vec<[closure@cell:1]>")
        );
        assert!(err.to_string().starts_with("cannot restore `w`"), "{err}");
    }
}
