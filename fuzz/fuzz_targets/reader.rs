//! Shared by the CSV and JSON-lines targets: writes the fuzzed bytes to a file of the given
//! extension and reads it as a source file of each demo table (`files://` reader), which must
//! end in batches or an `Error`, never a panic.

use std::path::PathBuf;
use std::sync::OnceLock;

use martsync::config::{Config, RawConfig};
use martsync::source::files::read_file;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        RawConfig::default()
            .validate("embedded default", &|_| None)
            .expect("the embedded default config is valid")
    })
}

pub fn read(data: &[u8], extension: &str) {
    // One file per process, rewritten per input: libFuzzer runs inputs one after another.
    let path: PathBuf = std::env::temp_dir().join(format!(
        "martsync-fuzz-{}.{extension}",
        std::process::id()
    ));
    std::fs::write(&path, data).expect("writing the fuzz input file");
    for table in &config().tables {
        let target = table.schema.arrow_schema();
        // Small batches so multi-batch paths (row numbers in errors) are reached too.
        let _ = read_file(&path, &target, 7, table, false, &mut |batch| {
            assert_eq!(batch.schema(), target, "a conformed batch has the mart schema");
            Ok(true)
        });
    }
}
