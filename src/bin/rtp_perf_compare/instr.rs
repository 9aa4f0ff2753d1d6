//! `--instructions`: instructions per RTP packet under valgrind callgrind.
//!
//! Timings on a shared machine move 20–50% between runs; instruction counts
//! do not. The parent re-executes this binary under
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=<tmp> --collect-atstart=no \
//!          --toggle-collect=*rtp_perf_instr_push_loop*  <self> --instr-child PAIR:ROLE:REPS ...
//! ```
//!
//! The child builds the element in the usual rig and *all* its input
//! GstBuffers first, then pushes them inside [`rtp_perf_instr_push_loop`],
//! the only code callgrind counts (everything it calls included: the
//! element, its base class, GStreamer, freeing the input, the rig's sink).
//! Each contender runs twice, with the input once and twice over (`REPS` 1
//! and 2). `(Ir(2) - Ir(1)) / (packets(2) - packets(1))` is then the cost of
//! one more pass over the media per packet: element creation, negotiation,
//! first-use initialisation and anything counted once per run cancel out.
//! Packets: RTP packets out for payloaders, RTP packets in for depayloaders
//! (and for the `valve drop=true` floor fed the same packets).

use crate::rig::Rig;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Name of the counted function (callgrind `--toggle-collect` pattern).
pub const PUSH_LOOP: &str = "rtp_perf_instr_push_loop";

/// The counted section: push every buffer, then every list (`--input-lists`),
/// in order, synchronously. Never inlined, so callgrind sees it as a
/// function of its own.
#[inline(never)]
pub fn rtp_perf_instr_push_loop(
    rig: &Rig,
    bufs: Vec<gst::Buffer>,
    lists: Vec<gst::BufferList>,
) -> Result<(), String> {
    for b in bufs {
        rig.push(b)?;
    }
    for l in lists {
        rig.push_list(l)?;
    }
    Ok(())
}

/// Marker of the child's result line on stdout.
pub const CHILD_LINE: &str = "rtp_perf_instr_child packets=";

/// Instructions per packet of one contender, with the two runs it came from.
#[derive(Clone, Debug)]
pub struct InstrCount {
    pub per_packet: f64,
    /// Instructions counted in the push loop, runs with 1 and 2 repeats.
    pub ir: [u64; 2],
    /// Packets of those runs (pay: RTP packets out, depay: RTP packets in).
    pub packets: [u64; 2],
}

/// `valgrind --version`, or why `--instructions` cannot work here.
pub fn valgrind_version() -> Result<String, String> {
    let fail = |why: String| {
        format!(
            "--instructions needs valgrind (callgrind) on PATH, but {why}; \
             install it (scripts/install-deps.sh lists it: apt-get install valgrind)"
        )
    };
    match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(fail(format!(
            "`valgrind --version` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(e) => Err(fail(format!("running `valgrind --version` failed: {e}"))),
    }
}

/// Total instructions (first event, Ir) from a callgrind out file: its
/// `totals:` line, else `summary:`.
pub fn parse_callgrind_total(text: &str) -> Option<u64> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    field("totals:").or_else(|| field("summary:"))
}

fn tmp_out(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "rtp_perf_compare.{}.{tag}.callgrind.out",
        std::process::id()
    ))
}

/// One child run under callgrind: (instructions in the push loop, packets).
fn run_child(child_args: &[String], tag: &str) -> Result<(u64, u64), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out_file = tmp_out(tag);
    let _ = std::fs::remove_file(&out_file);
    let keep = std::env::var_os("RTP_PERF_KEEP_CALLGRIND").is_some();
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("-q")
        // Kept profiles carry per-instruction costs too (for objdump).
        .args(keep.then_some("--dump-instr=yes"))
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=*{PUSH_LOOP}*"))
        .arg(&exe)
        .args(child_args)
        // From process start (GLib reads it before main), and no re-exec:
        // an exec'd process would run outside valgrind.
        .env("G_SLICE", "always-malloc")
        .env("RTP_PERF_REEXEC", "1")
        .output()
        .map_err(|e| format!("running valgrind: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&out_file);
    // RTP_PERF_KEEP_CALLGRIND=<dir> keeps the profiles for callgrind_annotate
    // (where the instructions of a contender go, function by function).
    match std::env::var_os("RTP_PERF_KEEP_CALLGRIND") {
        Some(dir) => {
            let kept = Path::new(&dir).join(format!("{tag}.callgrind.out"));
            if let Err(e) = std::fs::rename(&out_file, &kept) {
                eprintln!("keeping {}: {e}", kept.display());
            }
        }
        None => {
            let _ = std::fs::remove_file(&out_file);
        }
    }
    if !out.status.success() {
        return Err(format!(
            "callgrind child {} failed ({}): {}",
            child_args.join(" "),
            out.status,
            stderr.trim()
        ));
    }
    let packets = stdout
        .lines()
        .find_map(|l| l.strip_prefix(CHILD_LINE))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("callgrind child printed no packet count: {stdout}{stderr}"))?;
    let text = text.map_err(|e| format!("reading {}: {e}", out_file.display()))?;
    let ir = parse_callgrind_total(&text)
        .ok_or_else(|| format!("no totals:/summary: line in {}", out_file.display()))?;
    if ir == 0 {
        return Err(format!(
            "callgrind counted 0 instructions: --toggle-collect=*{PUSH_LOOP}* matched no function"
        ));
    }
    Ok((ir, packets))
}

/// Instructions per packet of `role` in `pair`: two child runs (input once
/// and twice over), difference over difference. `common` are the options
/// the child needs to rebuild the same input (mtu, frames, media dir, ...).
pub fn measure(pair: &str, role: &str, common: &[String]) -> Result<InstrCount, String> {
    let mut ir = [0u64; 2];
    let mut packets = [0u64; 2];
    for (k, reps) in [1usize, 2].into_iter().enumerate() {
        let mut args = vec!["--instr-child".to_string(), format!("{pair}:{role}:{reps}")];
        args.extend_from_slice(common);
        let (i, p) = run_child(&args, &format!("{pair}.{role}.{reps}"))?;
        ir[k] = i;
        packets[k] = p;
    }
    if packets[1] <= packets[0] {
        return Err(format!(
            "packets did not grow with the input ({} -> {})",
            packets[0], packets[1]
        ));
    }
    if ir[1] <= ir[0] {
        return Err(format!(
            "instructions did not grow with the input ({} -> {})",
            ir[0], ir[1]
        ));
    }
    Ok(InstrCount {
        per_packet: (ir[1] - ir[0]) as f64 / (packets[1] - packets[0]) as f64,
        ir,
        packets,
    })
}

// ------------------------------------------------- depayloader input file ----

/// Write RTP packets and their caps for the child (so every child pushes
/// exactly the packets the timed passes used; little-endian u32 lengths).
pub fn write_rtp_file(
    path: &Path,
    caps: &str,
    packets: &[std::sync::Arc<Vec<u8>>],
) -> Result<(), String> {
    let mut v = Vec::new();
    v.extend_from_slice(&(caps.len() as u32).to_le_bytes());
    v.extend_from_slice(caps.as_bytes());
    for p in packets {
        v.extend_from_slice(&(p.len() as u32).to_le_bytes());
        v.extend_from_slice(p);
    }
    std::fs::write(path, v).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Read what [`write_rtp_file`] wrote: (caps string, packets).
pub fn read_rtp_file(path: &Path) -> Result<(String, Vec<Vec<u8>>), String> {
    let d = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    fn take<'a>(d: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
        let s = d.get(*at..at.checked_add(n)?)?;
        *at += n;
        Some(s)
    }
    fn len(d: &[u8], at: &mut usize) -> Option<usize> {
        take(d, at, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let bad = || format!("{}: truncated", path.display());
    let mut at = 0usize;
    let n = len(&d, &mut at).ok_or_else(bad)?;
    let caps = String::from_utf8_lossy(take(&d, &mut at, n).ok_or_else(bad)?).into_owned();
    let mut packets = Vec::new();
    while at < d.len() {
        let n = len(&d, &mut at).ok_or_else(bad)?;
        packets.push(take(&d, &mut at, n).ok_or_else(bad)?.to_vec());
    }
    Ok((caps, packets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_totals_then_summary() {
        let t = "version: 1\nevents: Ir\nsummary: 1234\nfn=(1) x\n1 5\ntotals: 999\n";
        assert_eq!(parse_callgrind_total(t), Some(999));
        assert_eq!(parse_callgrind_total("events: Ir\nsummary: 42\n"), Some(42));
        assert_eq!(parse_callgrind_total("events: Ir\n"), None);
    }
}
