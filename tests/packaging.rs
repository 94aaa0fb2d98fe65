//! What ships beside the binary: shell completions and manual pages generated from the
//! command line's definitions, the systemd unit, the container recipe.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::process::Command;

const C360: &str = env!("CARGO_BIN_EXE_c360");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn c360(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(C360);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("C360_")) {
        command.env_remove(name);
    }
    command.args(args).output().unwrap()
}

fn stdout(args: &[&str]) -> String {
    let output = c360(args);
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn completions_know_every_command_and_bash_reads_them() {
    let bash = stdout(&["completions", "bash"]);
    for word in ["lookup", "watch", "--timeout", "--sections", "completions"] {
        assert!(bash.contains(word), "{word} in the bash completions");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c360.bash");
    std::fs::write(&file, &bash).unwrap();
    let checked = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(checked.status.success(), "{checked:?}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(
            stdout(&["completions", shell]).contains("lookup"),
            "{shell}"
        );
    }
    assert!(!c360(&["completions", "tcsh"]).status.success());
}

#[test]
fn the_manual_has_a_page_for_c360_and_one_for_each_command() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH c360 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS", ".SH VERSION"] {
        assert!(page.contains(section), "{section} in {page}");
    }
    let dir = tempfile::tempdir().unwrap();
    stdout(&["man", "--dir", dir.path().to_str().unwrap()]);
    let get = std::fs::read_to_string(dir.path().join("c360-get.1")).unwrap();
    assert!(
        get.contains("\\-\\-timeout") && get.contains("C360_ADDR"),
        "{get}"
    );
    for command in ["serve", "demo", "lookup", "config-check", "health"] {
        let page = std::fs::read_to_string(dir.path().join(format!("c360-{command}.1")))
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        for section in [".SH \"EXIT STATUS\"", ".SH \"EXAMPLES\""] {
            assert!(page.contains(section), "{section} in c360-{command}.1");
        }
    }
    // What the client reads from its environment, in its page and in its --help.
    let help = stdout(&["get", "--help"]);
    for variable in [
        "C360_ADDR",
        "C360_TOKEN",
        "C360_API_KEY",
        "C360_CA_CERT",
        "C360_CLIENT_CERT",
        "C360_CLIENT_KEY",
    ] {
        assert!(get.contains(variable), "{variable} in c360-get.1");
        assert!(help.contains(variable), "{variable} in get --help: {help}");
    }
    assert!(get.contains(".SH \"ENVIRONMENT\""), "{get}");
    assert!(
        help.contains("Exit status:") && help.contains("Examples:"),
        "{help}"
    );
    assert!(help.contains("--verbose"), "{help}");
    let health = std::fs::read_to_string(dir.path().join("c360-health.1")).unwrap();
    assert!(
        health.contains("\\fB4\\fR\nIt answered, but not SERVING."),
        "{health}"
    );
    let serve = stdout(&["serve", "--help"]);
    assert!(serve.contains("C360_<TABLE>__<KEY>"), "{serve}");
    assert!(
        page.contains(".SH \"EXAMPLES\"") && page.contains("c360 demo"),
        "{page}"
    );
}

/// The unit is valid (`systemd-analyze verify`), hardened (`systemd-analyze security` rates
/// its exposure 2.0 or less of 10), and starts c360 with arguments it accepts.
#[test]
fn the_systemd_unit_is_valid_and_hardened() {
    let unit = std::fs::read_to_string(format!("{ROOT}/deploy/systemd/c360.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .unwrap();
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/c360"));
    let args: Vec<String> = words
        .map(|word| word.replace("${CREDENTIALS_DIRECTORY}", "/run/credentials/c360.service"))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let help: Vec<&str> = args.iter().copied().chain(["--help"]).collect();
    assert!(c360(&help).status.success(), "{exec}");

    let analyze = |args: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        // verify wants the program to exist: this build's, in the installed one's place.
        let local = dir.path().join("c360.service");
        std::fs::write(&local, unit.replace("/usr/local/bin/c360", C360)).unwrap();
        Command::new("systemd-analyze")
            .args(args)
            .arg(&local)
            .output()
            .expect("systemd-analyze (Debian's systemd package) is needed for this test")
    };
    // The man page is installed with the binary, not on this machine.
    let verified = analyze(&["verify", "--man=no"]);
    assert!(verified.status.success(), "{verified:?}");
    let rated = analyze(&["security", "--offline=yes", "--threshold=20"]);
    assert!(
        rated.status.success(),
        "{}",
        String::from_utf8_lossy(&rated.stdout)
    );
}

/// The unit's user may read its configuration as installed: the steps in the unit's header
/// (`/etc/c360` 0750 and `c360.toml` 0640, both root's) leave the file unreadable to an
/// unprivileged user, which c360 says plainly ("cannot read", the reason) rather than "does
/// not exist"; the unit's `LoadCredential=` hands it over as systemd does (a copy readable by
/// the service's user alone, under `$CREDENTIALS_DIRECTORY`), and the unit's `--config`
/// reads it. The user is `nobody` (65534), as `setpriv` sets it; needs root, as CI runs.
#[test]
fn the_units_user_reads_its_configuration_as_installed() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let root = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&root.stdout).trim(),
        "0",
        "this test installs files as root and runs c360 as nobody: run it as root"
    );
    let unit = std::fs::read_to_string(format!("{ROOT}/deploy/systemd/c360.service")).unwrap();
    let setting = |name: &str| {
        unit.lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in the unit"))
            .to_owned()
    };
    let (credential, installed) = setting("LoadCredential=")
        .split_once(':')
        .map(|(n, p)| (n.to_owned(), p.to_owned()))
        .unwrap();
    assert_eq!(installed, "/etc/c360/c360.toml");
    let exec = setting("ExecStart=");
    let config = exec
        .split_whitespace()
        .skip_while(|word| *word != "--config")
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(config, format!("${{CREDENTIALS_DIRECTORY}}/{credential}"));

    // The installed layout, under a directory anyone may pass through.
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let etc = base.path().join("etc/c360");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::set_permissions(
        base.path().join("etc"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o750)).unwrap();
    let file = etc.join("c360.toml");
    std::fs::write(&file, "[cache]\nttl = \"2m\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let as_nobody = |config: &std::path::Path, env: &[(&str, &std::path::Path)]| {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", C360]);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("C360_")) {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        command
            .args(["config", "check", "--config"])
            .arg(config)
            .output()
            .unwrap()
    };

    let refused = as_nobody(&file, &[]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        said.contains("cannot read the configuration file"),
        "{said}"
    );
    assert!(said.contains("ermission denied"), "{said}");
    assert!(!said.contains("does not exist"), "{said}");

    // systemd's credential: a directory and a copy of the file, the service's user's alone.
    let credentials = base.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    let copy = credentials.join(&credential);
    std::fs::copy(&file, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o400)).unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o500)).unwrap();
    chown(&copy, Some(65534), Some(65534)).unwrap();
    chown(&credentials, Some(65534), Some(65534)).unwrap();
    let expanded = config.replace(
        "${CREDENTIALS_DIRECTORY}",
        &credentials.display().to_string(),
    );
    let read = as_nobody(
        std::path::Path::new(&expanded),
        &[("CREDENTIALS_DIRECTORY", &credentials)],
    );
    assert!(read.status.success(), "{read:?}");
    assert!(
        String::from_utf8_lossy(&read.stdout).contains("ttl = \"2m\""),
        "{read:?}"
    );
}

/// What can be checked of the container recipe without a Docker daemon: every file it copies
/// exists, its toolchain is new enough, it builds and starts the binary this package has with
/// arguments it accepts, and it exposes the default port. (`docker build .` where a daemon
/// and an image registry are at hand builds it.)
#[test]
fn the_dockerfile_builds_and_runs_what_the_package_has() {
    let recipe = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).unwrap();
    let manifest = std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).unwrap();
    let rust_version = manifest
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap();
    let toolchain = recipe
        .lines()
        .find_map(|line| line.strip_prefix("FROM rust:"))
        .and_then(|rest| rest.split('-').next())
        .unwrap();
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        version(toolchain) >= version(rust_version),
        "rust:{toolchain} < {rust_version}"
    );
    assert_eq!(
        recipe.matches("\nFROM ").count() + usize::from(recipe.starts_with("FROM ")),
        2,
        "two stages"
    );

    for line in recipe
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            let path = std::path::Path::new(ROOT).join(source);
            assert!(*source == "." || path.exists(), "{source} in {line}");
        }
    }
    assert!(recipe.contains("--bin c360 "), "builds the c360 binary");
    assert!(recipe.contains("--locked"), "builds from Cargo.lock");
    let entry = recipe
        .lines()
        .find(|l| l.starts_with("ENTRYPOINT"))
        .unwrap();
    assert!(entry.contains("\"/usr/local/bin/c360\""), "{entry}");
    let cmd: Vec<String> =
        serde_json::from_str(recipe.lines().find_map(|l| l.strip_prefix("CMD ")).unwrap()).unwrap();
    let help: Vec<&str> = cmd.iter().map(String::as_str).chain(["--help"]).collect();
    assert!(c360(&help).status.success(), "{cmd:?}");
    assert!(recipe.contains("EXPOSE 50051"), "the default port");
    // It listens where the published port reaches, and its health check asks that port
    // with a command and arguments this binary takes.
    let listen = recipe
        .lines()
        .find_map(|l| l.strip_prefix("ENV C360_SERVER__LISTEN="))
        .expect("the image's listen address");
    assert_eq!(listen, "0.0.0.0:50051");
    let check = recipe
        .split("HEALTHCHECK ")
        .nth(1)
        .and_then(|rest| rest.split_once("CMD "))
        .map(|(_, cmd)| cmd.lines().next().unwrap())
        .expect("a HEALTHCHECK with a CMD");
    let check: Vec<String> = serde_json::from_str(check).unwrap();
    assert_eq!(check[..2], ["/usr/local/bin/c360", "health"], "{check:?}");
    assert!(
        check.iter().any(|arg| arg == "127.0.0.1:50051"),
        "{check:?}"
    );
    let help: Vec<&str> = check[1..]
        .iter()
        .map(String::as_str)
        .chain(["--help"])
        .collect();
    assert!(c360(&help).status.success(), "{check:?}");
    assert!(recipe.contains("USER 10360"), "not root");
    let ignored = std::fs::read_to_string(format!("{ROOT}/.dockerignore")).unwrap();
    assert!(
        ignored.lines().any(|l| l == "target/"),
        "the build context leaves target/ out"
    );
}

/// Credentials for a role the configuration does not name are refused when made, not at
/// every call they would later be refused.
#[test]
fn credentials_for_unknown_roles_are_not_made() {
    let refused = c360(&["api-key", "--name", "billing-bot", "--role", "nosuch"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("no role \"nosuch\""), "{said}");
    assert!(refused.stdout.is_empty(), "no key printed");
    assert!(
        c360(&["api-key", "--name", "billing-bot", "--role", "service"])
            .status
            .success()
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c360.toml");
    std::fs::write(
        &config,
        "[auth]\nenabled = true\n[auth.jwt]\nalgorithms = [\"HS256\"]\nissuer = \"i\"\n\
         audience = \"c360\"\nsecret = \"a development secret of at least 32 bytes\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let refused = c360(&["token", "--config", config, "--role", "nosuch"]);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        c360(&["token", "--config", config, "--role", "agent"])
            .status
            .success()
    );
}
