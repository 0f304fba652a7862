//! House rules checked on every `cargo test` (rust-analyzer's tidy idea): small files, and no
//! silently discarded results in library code.

use std::path::{Path, PathBuf};

/// A file over this many lines is a smell (STYLE.md: one idea per file).
const MAX_FILE_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn source_files() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(&crates).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 20, "tidy found too few files: {files:?}");
    files
}

#[test]
fn no_source_file_exceeds_the_line_limit() {
    let long: Vec<String> = source_files()
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these files by responsibility:\n{}",
        long.join("\n")
    );
}

#[test]
fn library_code_never_discards_a_result_with_let_underscore() {
    let offenders: Vec<String> = source_files()
        .into_iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.trim_start().starts_with("let _ =") || l.contains(".ok();"))
                .map(|(i, l)| format!("{}:{}: {}", f.display(), i + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "handle or name what is discarded:\n{}",
        offenders.join("\n")
    );
}
