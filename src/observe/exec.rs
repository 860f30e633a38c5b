//! `exec` checks: run a command, exit status 0 is up. The command gets its
//! own process group so that a timeout kills it together with anything it
//! started (a shell script's `sleep`, say), not only the shell.

use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use tokio::process::Command;

use super::result::{Failure, Phase, Trace};
use super::spec::ExecProbe;

pub(super) async fn check(target: IpAddr, exec: &ExecProbe, trace: &mut Trace) -> Result<String, Failure> {
    trace.phase = Phase::Exec;
    let mut child = Command::new(&exec.command)
        .args(&exec.args)
        .env("LIFELINE_TARGET", target.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(Failure::Spawn)?;
    let mut group = GroupKiller(child.id());
    let status = child.wait().await?;
    group.disarm();
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok("exit 0".into()),
        (Some(code), _) => Err(Failure::Exit(code)),
        (None, Some(signal)) => Err(Failure::Signal(signal)),
        (None, None) => Err(Failure::Exit(-1)),
    }
}

/// Kills the command's process group unless disarmed. It is dropped with
/// the probe's future, which the timeout (or a removed probe) drops while
/// the command still runs. The group leader is not reaped before this
/// runs, so its ID (the group's) cannot have been reused.
struct GroupKiller(Option<u32>);

impl GroupKiller {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        let Some(pgid) = self.0.and_then(|id| libc::pid_t::try_from(id).ok()) else {
            return;
        };
        // SAFETY: kill(2) takes plain integers and touches no memory of
        // ours; a negative PID addresses the process group we created.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}
