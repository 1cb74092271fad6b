//! Shared by the admin command tests: a temporary HOME and config, the real binary, and
//! helpers reading its results.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Env {
    pub home: tempfile::TempDir,
    pub config: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_secure-mcp-gateway")
}

impl Env {
    /// A HOME with a config written by `generate-config`.
    pub fn generated() -> Env {
        let e = Env::empty();
        let out = e.run(&["generate-config", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        e
    }

    /// A HOME with `fixture` (from tests/fixtures/reference) as the config.
    pub fn reference(fixture: &str) -> Env {
        let e = Env::empty();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/reference")
            .join(fixture);
        std::fs::create_dir_all(e.config.parent().unwrap()).unwrap();
        std::fs::copy(src, &e.config).unwrap();
        e
    }

    pub fn empty() -> Env {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".enkrypt").join("enkrypt_mcp_config.json");
        Env { home, config }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .env("HOME", self.home.path())
            .env_remove("ENKRYPT_CONFIG_PATH")
            .current_dir(self.home.path())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run the gateway binary")
    }

    /// Runs `args` with `--json`; asserts exit 0 and returns the parsed stdout.
    pub fn ok(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs `args`; asserts exit 1, exactly one line on stderr, and the config file unchanged.
    /// Returns that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let before = std::fs::read(&self.config).ok();
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err:?}"
        );
        assert_eq!(
            std::fs::read(&self.config).ok(),
            before,
            "{args:?} changed the file"
        );
        err.trim_end().to_string()
    }

    pub fn file(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.config).unwrap()).unwrap()
    }

    pub fn text(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

pub fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && [8, 13, 18, 23].iter().all(|i| b[*i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        && s.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

pub fn config_by_name<'a>(file: &'a Value, name: &str) -> (&'a String, &'a Value) {
    file["mcp_configs"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, c)| c["mcp_config_name"] == name)
        .unwrap_or_else(|| panic!("no config {name}"))
}
