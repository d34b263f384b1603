//! The dispatch benchmark's convolution gives scipy's values: checked here, so that
//! `cargo test` runs it and not only `cargo bench`.

#[path = "../benches/common/convolution.rs"]
mod convolution;

#[test]
fn the_benchmarks_convolution_matches_the_definition() {
    convolution::check_fconv();
}

#[test]
fn the_benchmarks_filters_are_deterministic() {
    assert_eq!(convolution::filters(3), convolution::filters(3));
}
