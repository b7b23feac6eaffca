//! The ingest benchmarks' load generator: `wrk` (Debian's package) with
//! `bench/wrk/ingest.lua`, which gives every tick an event id of its own and
//! signs in with Basic Auth. wrk costs a few microseconds of CPU per
//! request, far less than what it measures, so the server is the
//! bottleneck; each run also reports what wrk itself used.

use crate::{children_cpu_seconds, cpu_seconds, PASSWORD, USER};
use anyhow::{bail, Context};
use std::process::Command;

/// The request script, next to this crate's sources.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/wrk/ingest.lua");

/// Single-tick requests the script makes per thread before the run (more
/// than a 10 s run of the bare echo sends), so each costs wrk a lookup.
const PREBUILT: usize = 700_000;

/// One run's shape.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Ticks per request: 1 posts to `/ingest/tick`, more to `/ingest/ticks`.
    pub batch: usize,
    pub connections: usize,
    pub threads: usize,
    pub seconds: u64,
    /// Symbols the ticks spread over.
    pub symbols: usize,
}

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub batch: usize,
    pub requests: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Socket errors, and answers other than 2xx/3xx.
    pub errors: u64,
    /// CPU seconds wrk used.
    pub client_cpu: f64,
    /// CPU seconds the process under test used.
    pub server_cpu: f64,
}

impl Run {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }
    pub fn ticks_per_sec(&self) -> f64 {
        self.requests_per_sec() * self.batch as f64
    }
    /// wrk's CPU per request, in microseconds.
    pub fn client_us_per_request(&self) -> f64 {
        self.client_cpu * 1e6 / (self.requests.max(1) as f64)
    }
    /// The server's CPU per request, in microseconds.
    pub fn server_us_per_request(&self) -> f64 {
        self.server_cpu * 1e6 / (self.requests.max(1) as f64)
    }
}

/// `wrk --version`'s first line, for the report.
pub fn version() -> anyhow::Result<String> {
    let out = Command::new("wrk")
        .arg("--version")
        .output()
        .context("wrk is missing (Debian: apt-get install wrk; bench/run.sh installs it)")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok(text
        .lines()
        .next()
        .unwrap_or("wrk")
        .split(" Copyright")
        .next()
        .unwrap_or("wrk")
        .trim()
        .to_owned())
}

/// Runs wrk against `base` for `load`, counting the CPU of wrk and of
/// process `server`.
pub fn run(base: &str, load: Load, server: u32) -> anyhow::Result<Run> {
    let tag = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let client_before = children_cpu_seconds();
    let server_before = cpu_seconds(server);
    let out = Command::new("wrk")
        .args([
            "--latency",
            "-t",
            &load.threads.to_string(),
            "-c",
            &load.connections.to_string(),
            "-d",
            &format!("{}s", load.seconds),
            "--timeout",
            "10s",
            "-s",
            SCRIPT,
            base,
            "--",
            USER,
            PASSWORD,
            &load.batch.to_string(),
            &load.symbols.to_string(),
            &tag,
            &PREBUILT.to_string(),
        ])
        .output()
        .context("run wrk")?;
    let server_cpu = cpu_seconds(server) - server_before;
    let client_cpu = children_cpu_seconds() - client_before;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut run = parse(&text).with_context(|| format!("read wrk's output:\n{text}"))?;
    run.batch = load.batch;
    // What the script spent before the run (making requests) is not the
    // run's cost per request.
    run.client_cpu = (client_cpu - ready_cpu(&text)).max(0.0);
    run.server_cpu = server_cpu;
    Ok(run)
}

/// The CPU seconds the script reports it spent before the run.
fn ready_cpu(text: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix("wrk-ready-cpu-s "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A latency as wrk prints it (`405.00us`, `1.23ms`, `2.00s`), in ms.
fn millis(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// Reads wrk's summary (with `--latency`).
pub fn parse(text: &str) -> Option<Run> {
    let mut run = Run::default();
    let mut seen_total = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => run.p50_ms = millis(v)?,
            ["99%", v] => run.p99_ms = millis(v)?,
            [n, "requests", "in", secs, ..] => {
                run.requests = n.parse().ok()?;
                run.seconds = millis(secs.trim_end_matches(','))? / 1e3;
                seen_total = true;
            }
            ["Socket", "errors:", rest @ ..] => {
                run.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => run.errors += n.parse::<u64>().ok()?,
            _ => {}
        }
    }
    seen_total.then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_summary() {
        let text = "Running 10s test @ http://127.0.0.1:3000
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   512.00us  100.00us   9.00ms   90.00%
  Latency Distribution
     50%  405.00us
     75%  600.00us
     90%  800.00us
     99%    2.50ms
  1234567 requests in 10.00s, 123.45MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec: 123456.70
Transfer/sec:     12.34MB
wrk-ready-cpu-s 1.250
";
        let run = parse(text).unwrap();
        assert_eq!(run.requests, 1_234_567);
        assert!((run.seconds - 10.0).abs() < 1e-9);
        assert!((run.p50_ms - 0.405).abs() < 1e-9);
        assert!((run.p99_ms - 2.5).abs() < 1e-9);
        assert_eq!(run.errors, 15);
        assert!((ready_cpu(text) - 1.25).abs() < 1e-9);
        assert!(parse("wrk: connection refused").is_none());
    }
}
