//! End-to-end load benchmark: many concurrent SSE streams over loopback
//! against the `axum_chat` example and against `axum_baseline` (axum's own
//! `Sse` + `KeepAlive`), both serving the same mock model.
//!
//! Build the servers, then run:
//!
//! ```sh
//! cargo build --release --features full --examples
//! cargo run --release --features full --example load -- [STREAMS] [TOKENS] [DELAY_MS]
//! ```
//!
//! Defaults: 500 streams of 200 tokens, 20 ms apart. Each server runs in its
//! own process; the report gives time to first token (p50, p99, from
//! sending the request, once connected, to reading the first event) and the
//! server's CPU time
//! (user + system, from `/proc/PID/stat`) per token delivered.

#![allow(clippy::print_stdout)] // a benchmark reports

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llm_sse::decode::{Decoder, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(example: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let path = std::env::current_exe()?.with_file_name(example);
        let mut child = Command::new(&path)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| {
                format!(
                    "starting {}: {err} (build it with --examples first)",
                    path.display()
                )
            })?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .ok_or_else(|| format!("unexpected first line {line:?}"))?
            .parse()?;
        Ok(Self { child, addr })
    }

    /// User plus system CPU time of the server so far.
    fn cpu_time(&self) -> Result<Duration, Box<dyn std::error::Error>> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat[stat.rfind(')').ok_or("bad stat")? + 2..]
            .split(' ')
            .collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        // CLK_TCK is 100 on Linux.
        Ok(Duration::from_millis(ticks * 10))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one stream; returns the time to its first event and its text.
async fn one_stream(addr: SocketAddr, path: String) -> Result<(Duration, String), String> {
    let start = Instant::now();
    let mut socket = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    socket.set_nodelay(true).map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    socket
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut decoder = Decoder::new();
    let mut head_done = false;
    let mut ttft = None;
    let mut text = String::new();
    loop {
        let n = socket.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before [DONE]".into());
        }
        raw.extend_from_slice(&buf[..n]);
        if !head_done {
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            raw.drain(..end + 4);
            head_done = true;
        }
        // De-chunk what is complete.
        while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                std::str::from_utf8(&raw[..line_end]).map_err(|e| e.to_string())?,
                16,
            )
            .map_err(|e| e.to_string())?;
            if raw.len() < line_end + 2 + size + 2 {
                break;
            }
            decoder.feed(&raw[line_end + 2..line_end + 2 + size]);
            raw.drain(..line_end + 2 + size + 2);
        }
        while let Some(frame) = decoder.next_frame() {
            if let Ok(Frame::Event(event)) = frame {
                ttft.get_or_insert_with(|| start.elapsed());
                let data = event.data().unwrap_or_default();
                if data == "[DONE]" {
                    return Ok((ttft.unwrap_or_default(), text));
                }
                text.push_str(data);
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run(
    name: &str,
    example: &str,
    query: &str,
    streams: usize,
    tokens: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start(example)?;
    // One warm-up stream.
    one_stream(server.addr, format!("/chat?tokens=5&delay_ms=0&{query}")).await?;
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            tokio::spawn(one_stream(
                server.addr,
                format!("/chat?tokens={tokens}&{query}"),
            ))
        })
        .collect();
    let mut ttfts = Vec::with_capacity(streams);
    let mut expected = None;
    for task in tasks {
        let (ttft, text) = task.await??;
        let expected = expected.get_or_insert_with(|| text.clone());
        if &text != expected {
            return Err(format!("{name}: streams disagree on the text").into());
        }
        ttfts.push(ttft);
    }
    let wall = started.elapsed();
    let cpu = server.cpu_time()? - cpu_before;
    ttfts.sort();
    let delivered = streams as u64 * tokens;
    println!(
        "| {name} | {streams} | {tokens} | {:.1} | {:.1} | {:.2} | {:.0} | {:.1} |",
        percentile(&ttfts, 0.5).as_secs_f64() * 1000.0,
        percentile(&ttfts, 0.99).as_secs_f64() * 1000.0,
        wall.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0,
        cpu.as_secs_f64() * 1e9 / delivered as f64 / 1000.0,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let streams = args.next().transpose()?.unwrap_or(500) as usize;
    let tokens = args.next().transpose()?.unwrap_or(200);
    let delay = args.next().transpose()?.unwrap_or(20);
    println!("| server | streams | tokens each | TTFT p50 ms | TTFT p99 ms | wall s | server CPU ms | CPU µs/token |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let knobs = format!("delay_ms={delay}&heartbeat_ms=15000");
    run(
        "axum Sse + KeepAlive (baseline)",
        "axum_baseline",
        &knobs,
        streams,
        tokens,
    )
    .await?;
    run(
        "llm-sse, batch off",
        "axum_chat",
        &format!("{knobs}&batch=1"),
        streams,
        tokens,
    )
    .await?;
    run(
        "llm-sse, batch 4",
        "axum_chat",
        &format!("{knobs}&batch=4&batch_ms={}", delay * 5),
        streams,
        tokens,
    )
    .await?;
    Ok(())
}
