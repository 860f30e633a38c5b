//! What docs/operations.md hands operators stays true: the files it points
//! to exist, and the systemd unit is one systemd accepts
//! (`systemd-analyze verify`, when installed) with the settings the page
//! promises.
mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_operations_page_links_to_files_that_exist() {
    let page = read("docs/operations.md");
    let mut links = 0;
    for target in page.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
        let path = target.split('#').next().unwrap();
        if path.starts_with("http") || path.is_empty() {
            continue;
        }
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(path);
        assert!(
            full.exists(),
            "docs/operations.md links to {target}, which does not exist"
        );
        links += 1;
    }
    assert!(links >= 5, "{links} links");
    assert!(read("README.md").contains("(docs/operations.md)"));
}

#[test]
fn the_systemd_unit_is_valid_and_confined() {
    let unit = read("contrib/systemd/lifeline.service");
    for setting in [
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=lifeline",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
        "LimitNOFILE=",
    ] {
        assert!(unit.contains(setting), "the unit lacks {setting}");
    }
    let Some(analyze) = external_tool("systemd-analyze") else {
        return;
    };
    // Verified with the binary just built in place of the installed one.
    let dir = TempDir::new();
    let local = unit.replace("/usr/local/bin/lifeline", env!("CARGO_BIN_EXE_lifeline"));
    let path = dir.write("lifeline.service", &local);
    let out = Command::new(analyze).arg("verify").arg(&path).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}
