//! Records the git revision the binary is built from (`c360 --version`, `c360_build_info`);
//! outside a git checkout (a source tarball, a container build without `.git`) the
//! `GIT_REVISION` variable's, else `unknown`.

use std::process::Command;

fn main() {
    let valid = |text: &String| {
        !text.is_empty() && text.len() <= 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let revision = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(valid)
        .or_else(|| std::env::var("GIT_REVISION").ok().filter(valid))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    println!("cargo:rustc-env=GIT_REVISION={revision}");
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
