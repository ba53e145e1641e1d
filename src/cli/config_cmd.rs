//! `martsync config check|schema|docs`: validate a config and show what it resolves to;
//! print the config's JSON Schema (for editors) or its Markdown reference (`docs/config.md`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::ConfigArgs;
use crate::config::{Config, RawConfig, StageUrl, WarehouseUrl};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and print the values it resolves to (defaults and `MARTSYNC_*_URL`
    /// overrides applied, secrets masked). Exit code 2 when it is invalid.
    Check(CheckArgs),
    /// Print the config file's JSON Schema (for editor completion and validation).
    Schema,
    /// Print the config reference in Markdown (the text of `docs/config.md`).
    Docs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(command: ConfigCommand) -> crate::Result<ExitCode> {
    match command {
        ConfigCommand::Check(args) => {
            let config = args.config.load()?;
            let resolved = resolved(&config);
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&resolved).expect("JSON serializes")
                );
            } else {
                println!("# {}: valid", config.origin);
                print!("{}", toml::to_string(&resolved).expect("TOML serializes"));
            }
        }
        ConfigCommand::Schema => println!(
            "{}",
            serde_json::to_string_pretty(&schema()).expect("JSON serializes")
        ),
        ConfigCommand::Docs => print!("{}", reference()),
    }
    Ok(ExitCode::SUCCESS)
}

/// The validated config as a config file would state it, every default filled in. URLs are
/// shown through their `Display`, which masks passwords and secret query parameters.
pub fn resolved(config: &Config) -> Value {
    let duration = crate::units::format_duration;
    let mut stage = serde_json::json!({
        "url": config.stage.url.to_string(),
        "keep": config.stage.keep,
        "part_rows": config.stage.part_rows,
    });
    if let StageUrl::S3 { .. } = config.stage.url {
        stage["timeout"] = Value::from(duration(config.stage.timeout));
        let s3 = [
            ("endpoint", &config.stage.endpoint),
            ("region", &config.stage.region),
            ("sse", &config.stage.sse),
        ];
        for (key, value) in s3 {
            if let Some(v) = value {
                stage[key] = Value::from(v.clone());
            }
        }
    }
    let timeouts = &config.warehouse.timeouts;
    let mut warehouse = serde_json::json!({
        "url": config.warehouse.url.to_string(),
        "connect_timeout": duration(timeouts.connect),
        "statement_timeout": duration(timeouts.statement),
        "lock_timeout": duration(timeouts.lock),
        "warn_delete_after": duration(config.warehouse.warn_delete_after),
    });
    if let (WarehouseUrl::Redshift(_), Some(role)) =
        (&config.warehouse.url, &config.warehouse.iam_role)
    {
        warehouse["iam_role"] = Value::from(role.clone());
    }
    let tables: Vec<Value> = config
        .tables
        .iter()
        .map(|t| {
            let mut table = serde_json::json!({
                "name": t.name,
                "source": t.schema.name,
                "strategy": t.strategy.as_str(),
                "key": t.key,
                "watermark": t.watermark,
                "lookback": duration(t.lookback),
                "retention": t.retention.map_or("off".to_string(), duration),
                "retention_column": t.retention_column,
                "max_rejected": t.max_rejected,
                "sort_key": t.sort_key,
                "dist_key": t.dist_key,
                "dedup": t.dedup.as_str(),
            });
            if let Some(version) = &t.version {
                table["version"] = Value::from(version.clone());
                table["version_guard"] = Value::from(t.version_guard.as_str());
            }
            if !t.targets.is_empty() {
                let targets: Vec<Value> = t
                    .targets
                    .iter()
                    .map(|target| {
                        serde_json::json!({
                            "name": target.name,
                            "retention": target.retention.map_or("off".to_string(), duration),
                        })
                    })
                    .collect();
                table["targets"] = Value::from(targets);
            }
            table
        })
        .collect();
    serde_json::json!({
        "source": {
            "url": config.source.url.to_string(),
            "batch_rows": config.source.batch_rows,
            "parallel": config.source.parallel,
            "unsigned_bigint": config.source.unsigned_bigint,
            "connect_timeout": duration(config.source.connect_timeout),
            "read_timeout": duration(config.source.read_timeout),
            "mode": config.source.mode,
            "binlog_server_id": config.source.binlog_server_id,
        },
        "stage": stage,
        "warehouse": warehouse,
        "dedup": {
            "memory_limit": crate::units::size::exact_size(config.dedup.memory_limit as u64),
            "spill_dir": config.dedup.spill_dir.display().to_string(),
        },
        "maintenance": {
            "sort_above": config.maintenance.sort_above,
            "delete_above": config.maintenance.delete_above,
            "analyze_above": config.maintenance.analyze_above,
        },
        "tables": tables,
    })
}

/// The config file's JSON Schema, from the config structs' doc comments and attributes.
pub fn schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RawConfig)).expect("schema serializes")
}

/// The Markdown config reference (`docs/config.md`): one entry per key, with its type,
/// default and an example, all taken from the JSON Schema.
pub fn reference() -> String {
    let schema = schema();
    let defs = &schema["$defs"];
    let resolve = |s: &Value| -> Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => defs[r.trim_start_matches("#/$defs/")].clone(),
            None => s.clone(),
        }
    };
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated by `martsync config docs` from the doc comments of src/config/file.rs; \
         do not edit. A test fails when this file is stale: regenerate it with \
         `cargo run --release -- config docs > docs/config.md`. -->\n\n\
         martsync reads one TOML file: `--config FILE`, else `./martsync.toml` when present, \
         else the embedded default (demo fixtures → `file://.martsync/stage` → \
         `duckdb://.martsync/warehouse.duckdb`). Every key is optional except `name` in \
         `[[tables]]`; unknown keys are errors. `martsync config check` prints the values a \
         config resolves to, secrets masked; `martsync config schema` prints its JSON Schema.\n\n\
         Durations are written as `30m`, `1h`, `180d`. The environment variables \
         `MARTSYNC_SOURCE_URL`, `MARTSYNC_STAGE_URL` and `MARTSYNC_WAREHOUSE_URL` override the \
         three URLs (keep passwords out of the file).\n",
    );
    let root = &schema["properties"];
    for section in [
        "source",
        "stage",
        "warehouse",
        "dedup",
        "maintenance",
        "tables",
    ] {
        let (header, def) = if section == "tables" {
            ("[[tables]]".to_string(), resolve(&root[section]["items"]))
        } else {
            (format!("[{section}]"), resolve(&root[section]))
        };
        // The struct docs start with "`[source]`: …", which the heading already says.
        let about = text(&def["description"]).replace('\n', " ");
        let about = about
            .split_once("`: ")
            .map_or(about.as_str(), |(_, rest)| rest);
        out += &format!("\n## `{header}`\n\n{}\n", capitalize(about));
        let required: Vec<&str> = def["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (key, field) in def["properties"].as_object().expect("sections have keys") {
            let (kind, values) = type_of(field, &resolve);
            let default = if required.contains(&key.as_str()) {
                "required".to_string()
            } else {
                let default = field
                    .get("default")
                    .cloned()
                    .or_else(|| Some(resolve(field)["default"].clone()).filter(|v| !v.is_null()));
                match default {
                    Some(v) => format!("`{}`", toml_value(&v)),
                    None => "none (see above)".to_string(),
                }
            };
            let example = field["examples"]
                .as_array()
                .and_then(|e| e.first())
                .cloned()
                .or_else(|| values.first().map(|(v, _)| Value::from(v.clone())))
                .or_else(|| field.get("default").cloned())
                .expect("every config key has an example, an enum value or a default");
            out += &format!("\n### `{section}.{key}`\n\n");
            out += &format!("{}\n\n", text(&field["description"]).replace('\n', " "));
            for (value, about) in &values {
                out += &format!("- `{value}`: {about}\n");
            }
            if !values.is_empty() {
                out += "\n";
            }
            out += &format!("Type: {kind}. Default: {default}.\n\n");
            out += &format!("```toml\n{header}\n{key} = {}\n```\n", toml_value(&example));
        }
    }
    out
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A schema's type for people, and the values (with their descriptions) of an enum.
fn type_of(schema: &Value, resolve: &dyn Fn(&Value) -> Value) -> (String, Vec<(String, String)>) {
    let schema = resolve(schema);
    if let Some(any) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        // An enum of documented constants, a nullable ($ref | null), or a union.
        if any.iter().all(|v| v.get("const").is_some()) {
            let values: Vec<(String, String)> = any
                .iter()
                .map(|v| (text(&v["const"]), text(&v["description"])))
                .collect();
            return ("string".into(), values);
        }
        let parts: Vec<(String, Vec<(String, String)>)> = any
            .iter()
            .filter(|v| v.get("type") != Some(&Value::from("null")))
            .map(|v| type_of(v, resolve))
            .collect();
        let kind = parts
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
            .join(" or ");
        let values = parts.into_iter().flat_map(|(_, v)| v).collect();
        return (kind, values);
    }
    let kinds: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(String::from)
            .collect(),
        _ => vec![],
    };
    let kinds: Vec<String> = kinds
        .into_iter()
        .map(|k| match k.as_str() {
            "array" => format!("list of {}", type_of(&schema["items"], resolve).0),
            "integer" => match schema.get("minimum").and_then(Value::as_u64) {
                Some(min) if min > 0 => format!("integer ≥ {min}"),
                _ => "integer".into(),
            },
            _ => k,
        })
        .collect();
    (kinds.join(" or "), Vec::new())
}

/// A JSON value written as TOML.
fn toml_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{ {} }}",
            fields
                .iter()
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}
