//! Proves the features do what Cargo.toml says, by asking `cargo tree`:
//!
//! - without `tracy`, neither `tracy-client` nor `tracy-client-sys` is in the
//!   build of the facade `tickmem` or of `tickmem-tracy` (nothing of Tracy is
//!   compiled);
//! - with `tracy`, the Tracy client is built with exactly `enable`,
//!   `ondemand`, `only-localhost` and `timer-fallback`: without `broadcast`
//!   or any of tracy-client's other default features (sampling, system
//!   tracing, code transfer, crash handler, ...).
//!
//! Builds nothing; runs cargo offline when it can. Not under Miri (it spawns
//! a process).
#![cfg(not(miri))]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn workspace_manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml")
}

/// `cargo tree -e normal` of `package` with `args`, one `name vX [features]`
/// line per package.
fn tree(package: &str, args: &[&str]) -> String {
    let run = |offline: bool| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["tree", "-e", "normal", "--prefix", "none"]);
        if offline {
            cargo.arg("--offline");
        }
        cargo
            .args(["-f", "{p} [{f}]", "-p", package, "--manifest-path"])
            .arg(workspace_manifest())
            .args(args)
            .output()
            .expect("could not run cargo")
    };
    // Offline first (works in a sandbox once the crates are cached); online
    // when a crate the tree needs was never downloaded (a fresh machine that
    // has not built with `tracy` yet).
    let mut output = run(true);
    if !output.status.success() {
        output = run(false);
    }
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "cargo tree -p {package} {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The packages in a tree, by name.
fn packages(tree: &str) -> BTreeSet<&str> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

/// The features of `package` in a tree.
fn features<'t>(tree: &'t str, package: &str) -> BTreeSet<&'t str> {
    let line = tree
        .lines()
        .find(|line| line.split_whitespace().next() == Some(package))
        .unwrap_or_else(|| panic!("{package} is not in the tree:\n{tree}"));
    let list = &line[line.find('[').expect("a feature list") + 1..line.rfind(']').expect("]")];
    list.split(',').filter(|f| !f.is_empty()).collect()
}

const TRACY_CRATES: [&str; 2] = ["tracy-client", "tracy-client-sys"];

#[test]
fn without_the_feature_no_tracy_crate_is_built() {
    for (package, args) in [
        ("tickmem", &["--no-default-features"][..]),
        ("tickmem", &[][..]),
        ("tickmem-tracy", &[][..]),
        ("tickmem-tracy", &["--features", "record"][..]),
    ] {
        let tree = tree(package, args);
        let found = packages(&tree);
        assert!(
            found.contains(package),
            "the tree of {package} should list it:\n{tree}"
        );
        for tracy in TRACY_CRATES {
            assert!(
                !found.contains(tracy),
                "{tracy} is built for {package} {args:?}:\n{tree}"
            );
        }
    }
}

#[test]
fn with_the_feature_the_client_is_loopback_only_and_on_demand() {
    // The control: the check above would see the crates if they were there.
    for (package, args) in [
        ("tickmem-tracy", &["--features", "tracy"][..]),
        ("tickmem", &["--features", "tracy"][..]),
    ] {
        let tree = tree(package, args);
        for tracy in TRACY_CRATES {
            let on = features(&tree, tracy);
            let expected: BTreeSet<&str> =
                ["enable", "ondemand", "only-localhost", "timer-fallback"].into();
            assert_eq!(
                on, expected,
                "{tracy} features for {package} {args:?} (no broadcast, sampling, ...):\n{tree}"
            );
        }
    }
}
