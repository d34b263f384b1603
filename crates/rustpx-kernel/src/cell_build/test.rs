use super::alias;
use super::cache::{self, CellCache, Hit};
use super::record::{FileStamp, Invocation};
use super::shim::{build_key, unversioned_path_dependency};
use std::ffi::OsString;
use std::path::Path;

const SOURCE: &str =
    "#[unsafe(no_mangle)]\npub extern \"C\" fn run_user_code_12(\n  s: *mut u8) {}\n";

fn invocation(args: &[&str]) -> Invocation {
    Invocation {
        args: args.iter().map(|a| a.to_string()).collect(),
        env: vec![("EVCXR_EXECUTION_SO_PATH".into(), "/x/.so-path".into())],
        cwd: "/crate".into(),
    }
}

#[test]
fn the_entry_point_is_found_and_taken_out_of_the_source() {
    let (entry, normalized) = cache::entry_point(SOURCE).unwrap();
    assert_eq!(entry, "run_user_code_12");
    assert!(normalized.contains("fn run_user_code_(") && !normalized.contains("_12"));
    // Two runs of one cell differ only in that name, so they share a key.
    let again = SOURCE.replace("_12", "_3");
    assert_eq!(cache::entry_point(&again).unwrap().1, normalized);
    assert_eq!(cache::entry_point("fn main() {}"), None);
}

#[test]
fn an_alias_rewrites_only_the_run_it_was_made_for() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("libcode_7.so");
    let line = format!("LOAD_AND_RUN {} run_user_code_7\n", library.display());
    assert_eq!(alias::resolve(line.as_bytes()), None, "no alias yet");
    alias::set(dir.path(), "run_user_code_7", "run_user_code_2").unwrap();
    let rewritten = String::from_utf8(alias::resolve(line.as_bytes()).unwrap()).unwrap();
    assert_eq!(
        rewritten,
        format!("LOAD_AND_RUN {} run_user_code_2\n", library.display())
    );
    let other = format!("LOAD_AND_RUN {} run_user_code_8\n", library.display());
    assert_eq!(alias::resolve(other.as_bytes()), None);
    assert_eq!(alias::resolve(b"something else\n"), None);
    alias::clear(dir.path());
    assert_eq!(alias::resolve(line.as_bytes()), None);
}

#[test]
fn an_invocation_names_its_outputs_and_externs() {
    let inv = invocation(&[
        "/bin/rustc",
        "--crate-name",
        "ctx",
        "--out-dir",
        "/t/deps",
        "-C",
        "extra-filename=-abc",
        "--extern",
        "rustpx=/t/deps/librustpx-1.rlib",
        "--extern=core=/sys/libstd.rmeta",
    ]);
    assert_eq!(inv.arg("--out-dir"), Some("/t/deps"));
    assert_eq!(
        inv.externs(),
        vec![
            Path::new("/t/deps/librustpx-1.rlib"),
            Path::new("/sys/libstd.rmeta")
        ]
    );
    assert_eq!(inv.dep_info().unwrap(), Path::new("/t/deps/ctx-abc.d"));
    assert_eq!(inv.env_var("EVCXR_EXECUTION_SO_PATH"), Some("/x/.so-path"));
}

#[test]
fn a_cached_library_is_valid_while_the_files_it_read_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let cells = CellCache::of_crate(dir.path());
    let library = dir.path().join("libctx.so");
    std::fs::write(&library, b"library").unwrap();
    let data = dir.path().join("data.txt");
    std::fs::write(&data, b"one").unwrap();
    let source = dir.path().join("src/lib.rs");
    let dep_info = dir.path().join("ctx.d");
    std::fs::write(
        &dep_info,
        format!(
            "{}: src/lib.rs {}\n\nsrc/lib.rs:\n",
            dep_info.display(),
            data.display()
        ),
    )
    .unwrap();
    let inputs = cache::inputs(&dep_info, dir.path(), &source).unwrap();
    assert_eq!(
        inputs.len(),
        1,
        "the cell's own source is covered by the key"
    );
    cells
        .store("k", &library, "run_user_code_4", inputs)
        .unwrap();
    let hit = cells.lookup("k").unwrap();
    assert_eq!(
        hit,
        Hit {
            library: dir.path().join("target/rustpx-cells/k.so"),
            entry: "run_user_code_4".into()
        }
    );
    assert_eq!(std::fs::read(&hit.library).unwrap(), b"library");
    assert!(cells.lookup("other").is_none());
    std::fs::write(&data, b"two!").unwrap();
    assert!(cells.lookup("k").is_none(), "include_str! input changed");
}

#[test]
fn a_stamp_sees_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"a").unwrap();
    let stamp = FileStamp::of(&file).unwrap();
    assert!(stamp.holds());
    std::fs::write(&file, b"bb").unwrap();
    assert!(!stamp.holds());
    std::fs::remove_file(&file).unwrap();
    assert!(!stamp.holds());
}

#[test]
fn the_build_key_covers_the_manifest_and_refuses_path_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<OsString> = vec!["cargo".into(), "build".into()];
    let manifest = |deps: &str| format!("[package]\nname = \"ctx\"\n[dependencies]\n{deps}\n");
    std::fs::write(dir.path().join("Cargo.toml"), manifest("")).unwrap();
    let empty = build_key(&args, dir.path()).unwrap();
    assert_eq!(build_key(&args, dir.path()).unwrap(), empty);
    std::fs::write(dir.path().join("Cargo.toml"), manifest("glob = \"0.3\"")).unwrap();
    assert_ne!(build_key(&args, dir.path()).unwrap(), empty);
    std::fs::write(dir.path().join("Cargo.lock"), "lock").unwrap();
    let locked = build_key(&args, dir.path()).unwrap();
    std::fs::write(dir.path().join("Cargo.lock"), "lock 2").unwrap();
    assert_ne!(build_key(&args, dir.path()).unwrap(), locked);

    std::fs::write(
        dir.path().join("Cargo.toml"),
        manifest("mine = { path = \"/home/me/mine\" }"),
    )
    .unwrap();
    let why = build_key(&args, dir.path()).unwrap_err();
    assert!(why.contains("`mine`"), "{why}");
}

#[test]
fn only_the_versioned_runtime_may_be_a_path_dependency() {
    let runtime = crate::runtime_embed::version_dir().join("runtime");
    let manifest = format!(
        "[dependencies]\nrustpx = {{ path = {:?} }}\nglob = \"0.3\"\n",
        runtime
    );
    assert_eq!(unversioned_path_dependency(&manifest), None);
    let manifest = "[dependencies]\nlocal = { path = \"../local\", version = \"1\" }\n";
    assert_eq!(
        unversioned_path_dependency(manifest).as_deref(),
        Some("local")
    );
}
