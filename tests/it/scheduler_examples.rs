//! The scheduler examples run real `martsync` command lines: every command the Airflow DAG
//! and the systemd unit run is parsed by clap's own parser (the binary's `Cli`) and accepted
//! by the binary with `--help` appended.

use std::path::Path;
use std::process::Command;

use clap::Parser;
use martsync::cli::Cli;

/// Reads the DAG with Python's `ast` (no Airflow needed) and prints, as JSON, the argv of
/// every `BashOperator(bash_command=…)`: module-level string constants and the loop variable
/// of `for x in LIST` are substituted into f-strings.
const DAG_COMMANDS: &str = r#"
import ast, json, shlex, sys
tree = ast.parse(open(sys.argv[1]).read())
consts = {}
for node in tree.body:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        try:
            consts[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            pass

def text(node, env):
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Name):
        return str(env[node.id])
    if isinstance(node, ast.FormattedValue):
        return text(node.value, env)
    if isinstance(node, ast.JoinedStr):
        return "".join(text(v, env) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return text(node.left, env) + text(node.right, env)
    raise SystemExit("cannot evaluate " + ast.dump(node))

commands = []
def visit(node, env):
    if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
        values = env[node.iter.id] if isinstance(node.iter, ast.Name) else ast.literal_eval(node.iter)
        for value in values:
            for child in node.body:
                visit(child, {**env, node.target.id: value})
        return
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "BashOperator":
        for kw in node.keywords:
            if kw.arg == "bash_command":
                commands.append(shlex.split(text(kw.value, env)))
    for child in ast.iter_child_nodes(node):
        visit(child, env)
visit(tree, consts)
print(json.dumps({"commands": commands, "marts": consts.get("MARTS", [])}))
"#;

fn assert_martsync_accepts(argv: &[String]) {
    assert_eq!(
        Path::new(&argv[0]).file_name().unwrap(),
        "martsync",
        "{argv:?}"
    );
    if let Err(e) = Cli::try_parse_from(argv) {
        panic!("clap rejects {argv:?}: {e}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_martsync"))
        .args(&argv[1..])
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`martsync {} --help` fails: {}",
        argv[1..].join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_airflow_dag_runs_valid_martsync_commands_for_every_mart() {
    let dag = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/airflow/martsync_dag.py");
    let out = Command::new("python3")
        .arg("-c")
        .arg(DAG_COMMANDS)
        .arg(&dag)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let commands: Vec<Vec<String>> = serde_json::from_value(parsed["commands"].clone()).unwrap();
    let marts: Vec<String> = serde_json::from_value(parsed["marts"].clone()).unwrap();

    let config = crate::common::parse_config("");
    let configured: Vec<String> = config.tables.iter().map(|t| t.name.clone()).collect();
    assert_eq!(marts, configured, "the DAG syncs every mart of the design");
    // One config check, then one run per mart; and the daily maintenance.
    assert_eq!(commands.len(), 1 + marts.len() + 1, "{commands:?}");
    assert_eq!(
        commands.iter().filter(|c| c[1] == "maintain").count(),
        1,
        "{commands:?}"
    );
    for command in &commands {
        assert_martsync_accepts(command);
    }
    for mart in &marts {
        let run = commands
            .iter()
            .find(|c| c[1] == "run" && c.windows(2).any(|w| w[0] == "--table" && &w[1] == mart))
            .unwrap_or_else(|| panic!("no run of {mart}: {commands:?}"));
        for flag in ["--config", "--log-format", "--metrics-file"] {
            assert!(run.iter().any(|a| a == flag), "{flag} missing: {run:?}");
        }
    }
    let text = std::fs::read_to_string(&dag).unwrap();
    for setting in [
        "max_active_runs=1",
        "catchup=False",
        "schedule=\"*/15 * * * *\"",
        "schedule=\"30 3 * * *\"",
    ] {
        assert!(text.contains(setting), "the DAG lacks {setting}");
    }
}

#[test]
fn the_systemd_units_run_a_valid_command_every_15_minutes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systemd");
    let service = std::fs::read_to_string(dir.join("martsync.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let argv: Vec<String> = exec.split_whitespace().map(String::from).collect();
    assert_martsync_accepts(&argv);
    assert!(service.contains("Type=oneshot"), "no overlapping runs");
    let timer = std::fs::read_to_string(dir.join("martsync.timer")).unwrap();
    assert!(timer.contains("OnCalendar=*:0/15"), "{timer}");
    // The daily maintenance.
    let service = std::fs::read_to_string(dir.join("martsync-maintain.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let argv: Vec<String> = exec.split_whitespace().map(String::from).collect();
    assert_eq!(argv[1], "maintain");
    assert_martsync_accepts(&argv);
    let timer = std::fs::read_to_string(dir.join("martsync-maintain.timer")).unwrap();
    assert!(timer.contains("OnCalendar=*-*-* 03:30:00"), "{timer}");
    // The example config the units and the DAG point at is valid.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/martsync.toml");
    martsync::config::Config::load(Some(&example)).unwrap();
}
