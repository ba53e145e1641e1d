//! The layering rule of the crate docs (`src/lib.rs`, "Layers"): a module imports only from
//! floors below its own. The floors are read from that table, so the docs and the check
//! cannot drift; every `crate::` path in `src/` (test modules too) is checked against them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `module → floor`, from the crate docs' table.
fn floors(lib: &str) -> HashMap<String, usize> {
    let mut floors = HashMap::new();
    for line in lib.lines() {
        let cells: Vec<&str> = line
            .trim_start_matches("//!")
            .split('|')
            .map(str::trim)
            .collect();
        if let [_, floor, modules, _] = cells.as_slice()
            && let Ok(floor) = floor.parse::<usize>()
        {
            for module in modules.split(',') {
                floors.insert(module.trim().to_string(), floor);
            }
        }
    }
    floors
}

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

/// The top-level modules a file's code names as `crate::x` or `crate::{x, …}`.
fn imported_modules(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        // Comments may name anything.
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|n| n.trim().split("::").next().unwrap_or(""))
                    .collect()
            } else {
                vec![
                    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or(""),
                ]
            };
            found.extend(
                names
                    .into_iter()
                    .filter(|n| !n.is_empty())
                    .map(|n| (number + 1, n.to_string())),
            );
        }
    }
    found
}

#[test]
fn no_module_imports_its_own_floor_or_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let floors = floors(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(
        floors.len() > 10,
        "the layers table in src/lib.rs was not found"
    );
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let own = *floors.get(&module).unwrap_or_else(|| {
            panic!("module `{module}` is not in the layers table of src/lib.rs")
        });
        for (line, imported) in imported_modules(&std::fs::read_to_string(file).unwrap()) {
            if imported == module || imported == "Error" || imported == "Result" {
                continue;
            }
            let theirs = *floors.get(&imported).unwrap_or_else(|| {
                panic!(
                    "{}:{line}: `crate::{imported}` is not in the layers table",
                    relative.display()
                )
            });
            if theirs >= own {
                wrong.push(format!(
                    "{}:{line}: {module} (floor {own}) imports {imported} (floor {theirs})",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

/// The check itself finds what it must: an upward import and a grouped one.
#[test]
fn the_check_sees_plain_and_grouped_imports() {
    let found = imported_modules(
        "use crate::cli::human_bytes;\n// crate::pipeline in a comment\nuse crate::{source, warehouse::Dialect};",
    );
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["cli", "source", "warehouse"]);
}
