//! End-to-end load benchmark: many concurrent SSE streams over loopback
//! against the `axum_chat` example and against `axum_baseline` (axum's own
//! `Sse` + `KeepAlive`), both serving the same mock model.
//!
//! Run with
//!
//! ```sh
//! cargo build --release --features full --examples
//! ./target/release/examples/load [STREAMS] [TOKENS] [DELAY_MS] [--svg PATH]
//! ulimit -n 65536 && ./target/release/examples/load --slow 10000 [TOKENS] [DELAY_MS]
//! ```
//!
//! Each server runs in its own process, started by this tool from the same
//! directory. The client is hyper's HTTP/1.1 client, one connection per
//! stream with `TCP_NODELAY`, its body frames fed to llm-sse's `Decoder`;
//! every stream must bring the same full text and `data: [DONE]`. Time to
//! first token (TTFT) runs from sending the request, once connected, to
//! decoding the first event.
//!
//! **Sweep** (the default): 500 streams of 200 tokens, 20 ms apart, against
//! four servers: the baseline one event per token, `axum_chat` with batching
//! off, the baseline grouping 4 tokens per event by hand (`batch=4`), and
//! `axum_chat` batching 4 (both with a max delay of 5 token intervals).
//! `STREAMS` may be a comma-separated list of concurrency levels
//! (`50,200,500`): every server runs at each level in turn. The report gives
//! TTFT p50 and p99 and the server's CPU time (user + system, from
//! `/proc/PID/stat`, in the system's clock ticks, `getconf CLK_TCK`) per
//! token delivered. `--svg PATH` also draws both against concurrency, one
//! line per server (plotters' SVG backend), e.g. `--svg benches/load.svg`.
//! `--engine` feeds every server from the mock's shared engine task
//! (`engine=1`: one tick every `DELAY_MS`, a token per stream per tick,
//! bounded channels) instead of a sleep per stream.
//!
//! **Resumption** (`--resume`): `axum_chat` with resumable streams off,
//! in memory, and in Redis (with `REDIS_URL`), batch off and batch 4, in
//! one run: CPU and body bytes per token against off, and Redis's own CPU
//! and script calls per body frame.
//!
//! **Slow streams** (`--slow N`): N streams opened at once, each long and
//! slow (default 30 tokens 1000 ms apart, heartbeats every 15 s). Once all
//! N have their first event, the server's resident memory (`VmRSS` from
//! `/proc/PID/status`) is read; the report gives RSS per open stream (RSS
//! then, minus RSS idle before, over N), TTFT p50 and p99, how long opening
//! all took, and how many streams completed. Every stream holds a socket in
//! both processes: raise the open-files limit in the shell first (`ulimit
//! -n 65536`; the servers inherit it). The tool prints both limits and
//! stops if they are too low.

#![allow(clippy::print_stdout)] // a benchmark reports

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::TokioIo;
use llm_sse::decode::{Decoder, Frame};
use plotters::prelude::*;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

type BoxError = Box<dyn std::error::Error>;

/// The kernel's clock ticks per second, in which `/proc/PID/stat` counts
/// CPU time: `getconf CLK_TCK`, or 100 (with a warning) if that fails.
fn clock_ticks_per_second() -> u64 {
    let asked = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|&hz| hz > 0);
    asked.unwrap_or_else(|| {
        eprintln!("warning: `getconf CLK_TCK` failed; assuming 100 clock ticks per second");
        100
    })
}

/// The soft and hard open-files limits of a process (`self` or a PID), as
/// `/proc/PID/limits` writes them (`unlimited` included).
fn open_files_limit(pid: &str) -> Result<(String, String), BoxError> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .ok_or("no `Max open files` in limits")?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next().ok_or("no soft limit")?.to_owned();
    let hard = fields.next().ok_or("no hard limit")?.to_owned();
    Ok((soft, hard))
}

/// Whether a soft limit as `/proc/PID/limits` writes it allows `needed`.
fn allows(soft: &str, needed: usize) -> bool {
    soft == "unlimited" || soft.parse::<usize>().is_ok_and(|soft| soft >= needed)
}

struct Server {
    child: Child,
    addr: SocketAddr,
    ticks_per_second: u64,
}

impl Server {
    fn start(example: &str, env: &[(&str, &str)], ticks_per_second: u64) -> Result<Self, BoxError> {
        let path = std::env::current_exe()?.with_file_name(example);
        let mut child = Command::new(&path)
            .env("PORT", "0")
            .env_remove("REDIS_URL")
            .envs(env.iter().copied())
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
        Ok(Self {
            child,
            addr,
            ticks_per_second,
        })
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// User plus system CPU time of the server so far.
    fn cpu_time(&self) -> Result<Duration, BoxError> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat[stat.rfind(')').ok_or("bad stat")? + 2..]
            .split(' ')
            .collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        Ok(Duration::from_nanos(
            ticks * 1_000_000_000 / self.ticks_per_second,
        ))
    }

    /// The server's resident memory now, in KiB (`VmRSS`).
    fn rss_kib(&self) -> Result<u64, BoxError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .ok_or("no VmRSS in status")?;
        let kib = line["VmRSS:".len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kib)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one stream brought.
struct Received {
    /// Time to the first event.
    ttft: Duration,
    /// The events' data, joined.
    text: String,
    /// Bytes of the body.
    bytes: u64,
    /// Body frames (HTTP/1.1 chunks): the server's writes, about.
    writes: u64,
}

/// Reads one stream over its own connection. `first` hears the time to the
/// first event as soon as it is decoded (and is dropped unheard if the
/// stream fails before).
async fn one_stream(
    addr: SocketAddr,
    path: String,
    mut first: Option<oneshot::Sender<Duration>>,
) -> Result<Received, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    // Connected: the clock starts as the request goes out.
    let start = Instant::now();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut body = response.into_body();
    let mut decoder = Decoder::new();
    let mut ttft = None;
    let mut text = String::new();
    let mut bytes = 0;
    let mut writes = 0;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else {
            continue;
        };
        bytes += data.len() as u64;
        writes += 1;
        decoder.feed(&data);
        while let Some(frame) = decoder.next_frame() {
            if let Ok(Frame::Event(event)) = frame {
                let ttft = *ttft.get_or_insert_with(|| start.elapsed());
                if let Some(first) = first.take() {
                    let _ = first.send(ttft);
                }
                let data = event.data().unwrap_or_default();
                if data == "[DONE]" {
                    return Ok(Received {
                        ttft,
                        text,
                        bytes,
                        writes,
                    });
                }
                text.push_str(data);
            }
        }
    }
    Err("body ended before [DONE]".into())
}

/// The `p` quantile of sorted durations (zero for none).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one server did at one concurrency level.
#[derive(Debug, Clone, Copy)]
struct Measured {
    streams: usize,
    ttft_p50: Duration,
    ttft_p99: Duration,
    cpu_per_token: Duration,
    /// Body bytes per token delivered.
    bytes_per_token: f64,
    /// Body frames received, all streams.
    writes: u64,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    name: &str,
    example: &str,
    env: &[(&str, &str)],
    query: &str,
    streams: usize,
    tokens: u64,
    ticks_per_second: u64,
) -> Result<Measured, BoxError> {
    let server = Server::start(example, env, ticks_per_second)?;
    // One warm-up stream; the last value of a repeated knob wins.
    one_stream(
        server.addr,
        format!("/chat?{query}&tokens=5&delay_ms=0"),
        None,
    )
    .await?;
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            tokio::spawn(one_stream(
                server.addr,
                format!("/chat?tokens={tokens}&{query}"),
                None,
            ))
        })
        .collect();
    let mut ttfts = Vec::with_capacity(streams);
    let mut expected = None;
    let mut bytes = 0;
    let mut writes = 0;
    for task in tasks {
        let received = task.await??;
        let expected = expected.get_or_insert_with(|| received.text.clone());
        if &received.text != expected {
            return Err(format!("{name}: streams disagree on the text").into());
        }
        ttfts.push(received.ttft);
        bytes += received.bytes;
        writes += received.writes;
    }
    let wall = started.elapsed();
    let cpu = server.cpu_time()? - cpu_before;
    ttfts.sort();
    let delivered = streams as u64 * tokens;
    let measured = Measured {
        streams,
        ttft_p50: percentile(&ttfts, 0.5),
        ttft_p99: percentile(&ttfts, 0.99),
        cpu_per_token: cpu / u32::try_from(delivered)?,
        bytes_per_token: bytes as f64 / delivered as f64,
        writes,
    };
    println!(
        "| {name} | {streams} | {tokens} | {:.1} | {:.1} | {:.2} | {:.0} | {:.1} |",
        millis(measured.ttft_p50),
        millis(measured.ttft_p99),
        wall.as_secs_f64(),
        millis(cpu),
        measured.cpu_per_token.as_secs_f64() * 1e6,
    );
    Ok(measured)
}

/// Opens `streams` slow streams at once, reads the server's RSS once all
/// have their first event, then waits for all to complete.
async fn run_slow(
    name: &str,
    example: &str,
    query: &str,
    streams: usize,
    ticks_per_second: u64,
) -> Result<(), BoxError> {
    let server = Server::start(example, &[], ticks_per_second)?;
    let (soft, hard) = open_files_limit(&server.pid())?;
    eprintln!("{name}: server open-files limit {soft} (hard {hard})");
    if !allows(&soft, streams + 64) {
        return Err(format!(
            "the server may open {soft} files, {streams} streams need more: run `ulimit -n 65536` first"
        )
        .into());
    }
    one_stream(
        server.addr,
        format!("/chat?{query}&tokens=5&delay_ms=0"),
        None,
    )
    .await?;
    let rss_idle = server.rss_kib()?;
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (firsts, tasks): (Vec<_>, Vec<_>) = (0..streams)
        .map(|_| {
            let (first, heard) = oneshot::channel();
            let stream = one_stream(server.addr, format!("/chat?{query}"), Some(first));
            let finished = Arc::clone(&finished);
            let task = tokio::spawn(async move {
                let result = stream.await;
                finished.fetch_add(1, Ordering::Relaxed);
                result
            });
            (heard, task)
        })
        .unzip();
    let mut ttfts = Vec::with_capacity(streams);
    for heard in firsts {
        // A stream that fails before its first event drops its sender.
        if let Ok(ttft) = heard.await {
            ttfts.push(ttft);
        }
    }
    let opened = started.elapsed();
    let rss_open = server.rss_kib()?;
    let open = streams - finished.load(Ordering::Relaxed);
    let mut completed = 0;
    let mut failures = Vec::new();
    let mut expected = None;
    for task in tasks {
        match task.await? {
            Ok(Received { text, .. }) if expected.get_or_insert_with(|| text.clone()) == &text => {
                completed += 1;
            }
            Ok(_) => failures.push("streams disagree on the text".to_owned()),
            Err(err) => failures.push(err),
        }
    }
    let wall = started.elapsed();
    ttfts.sort();
    let per_stream = (rss_open.saturating_sub(rss_idle)) as f64 / streams as f64;
    println!(
        "| {name} | {streams} | {open} | {:.1} | {:.1} | {per_stream:.2} | {:.1} | {:.1} | {:.2} | {:.1} | {completed}/{streams} |",
        rss_idle as f64 / 1024.0,
        rss_open as f64 / 1024.0,
        millis(percentile(&ttfts, 0.5)),
        millis(percentile(&ttfts, 0.99)),
        opened.as_secs_f64(),
        wall.as_secs_f64(),
    );
    if !failures.is_empty() {
        failures.sort();
        failures.dedup();
        eprintln!(
            "{name}: {} streams failed, e.g. {:?}",
            streams - completed,
            &failures[..failures.len().min(3)]
        );
    }
    Ok(())
}

/// One line of the chart: a server's measurements at every level.
struct Series {
    name: &'static str,
    color: RGBColor,
    points: Vec<Measured>,
}

/// Draws CPU per token (left) and TTFT p50 and p99 (right, p99 dashed)
/// against concurrency, one color per server.
fn chart(path: &str, series: &[Series], tokens: u64, delay: u64) -> Result<(), BoxError> {
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        &format!("Concurrent SSE streams over loopback, {tokens} tokens each, {delay} ms apart"),
        ("sans-serif", 20),
    )?;
    let (left, right) = body.split_horizontally(550);
    let levels: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.streams as f64))
        .collect();
    let x_max = levels.iter().copied().fold(1.0, f64::max) * 1.05;
    let all = || series.iter().flat_map(|s| s.points.iter());

    let cpu_max = all()
        .map(|p| p.cpu_per_token.as_secs_f64() * 1e6)
        .fold(1.0, f64::max)
        * 1.15;
    let mut cpu = ChartBuilder::on(&left)
        .caption(
            "server CPU per token (µs, lower is better)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..x_max, 0.0..cpu_max)?;
    let whole = |v: &f64| format!("{v:.0}");
    cpu.configure_mesh()
        .x_label_formatter(&whole)
        .x_desc("concurrent streams")
        .y_desc("µs / token")
        .draw()?;
    for s in series {
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|p| (p.streams as f64, p.cpu_per_token.as_secs_f64() * 1e6))
            .collect();
        cpu.draw_series(LineSeries::new(points.clone(), s.color.stroke_width(2)))?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], s.color.stroke_width(2)));
        cpu.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, s.color.filled())),
        )?;
    }
    cpu.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let ms = |d: Duration| (d.as_secs_f64() * 1000.0).max(0.1);
    let ttft_max = all().map(|p| ms(p.ttft_p99)).fold(1.0, f64::max) * 2.0;
    let ttft_min = all().map(|p| ms(p.ttft_p50)).fold(f64::MAX, f64::min) / 2.0;
    let mut ttft = ChartBuilder::on(&right)
        .caption(
            "time to first token (ms, log scale): p50 solid, p99 dashed",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, (ttft_min..ttft_max).log_scale())?;
    ttft.configure_mesh()
        .x_label_formatter(&whole)
        .y_label_formatter(&|v: &f64| {
            if *v < 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        })
        .x_desc("concurrent streams")
        .y_desc("ms")
        .draw()?;
    for s in series {
        let p50: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|p| (p.streams as f64, ms(p.ttft_p50)))
            .collect();
        let p99: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|p| (p.streams as f64, ms(p.ttft_p99)))
            .collect();
        ttft.draw_series(LineSeries::new(p50.clone(), s.color.stroke_width(2)))?;
        ttft.draw_series(DashedLineSeries::new(
            p99.clone(),
            6,
            4,
            s.color.stroke_width(2),
        ))?;
        ttft.draw_series(
            p50.into_iter()
                .chain(p99)
                .map(|p| Circle::new(p, 3, s.color.filled())),
        )?;
    }
    root.present()?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut svg = None;
    let mut slow = None;
    let mut engine = false;
    let mut resume = false;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--svg" => svg = Some(args.next().ok_or("--svg needs a path")?),
            "--slow" => slow = Some(args.next().ok_or("--slow needs a number")?.parse()?),
            "--engine" => engine = true,
            "--resume" => resume = true,
            _ => positional.push(arg),
        }
    }
    let ticks_per_second = clock_ticks_per_second();
    if let Some(streams) = slow {
        return slow_mode(streams, positional, ticks_per_second).await;
    }
    if resume {
        return resume_mode(positional, ticks_per_second).await;
    }
    let mut positional = positional.into_iter();
    let levels: Vec<usize> = match positional.next() {
        Some(levels) => levels
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?,
        None => vec![500],
    };
    let tokens = positional
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200);
    let delay: u64 = positional
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20);
    println!("| server | streams | tokens each | TTFT p50 ms | TTFT p99 ms | wall s | server CPU ms | CPU µs/token |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    // `--engine`: every server takes its tokens from the mock's shared
    // engine (`engine=1`) instead of a sleep per stream.
    let engine = if engine { "&engine=1" } else { "" };
    let knobs = format!("delay_ms={delay}&heartbeat_ms=15000{engine}");
    let mut series = [
        Series {
            name: "axum Sse + KeepAlive (baseline)",
            color: RGBColor(110, 110, 110),
            points: Vec::new(),
        },
        Series {
            name: "llm-sse, batch off",
            color: RGBColor(31, 119, 180),
            points: Vec::new(),
        },
        Series {
            name: "axum Sse, grouped 4 by hand (baseline)",
            color: RGBColor(188, 189, 34),
            points: Vec::new(),
        },
        Series {
            name: "llm-sse, batch 4",
            color: RGBColor(214, 39, 40),
            points: Vec::new(),
        },
    ];
    let grouped = format!("{knobs}&batch=4&batch_ms={}", delay * 5);
    let servers = [
        ("axum_baseline", knobs.clone()),
        ("axum_chat", format!("{knobs}&batch=1")),
        ("axum_baseline", grouped.clone()),
        ("axum_chat", grouped),
    ];
    for &streams in &levels {
        for (series, (example, query)) in series.iter_mut().zip(&servers) {
            let measured = run(
                series.name,
                example,
                &[],
                query,
                streams,
                tokens,
                ticks_per_second,
            )
            .await?;
            series.points.push(measured);
        }
    }
    if let Some(path) = svg {
        chart(&path, &series, tokens, delay)?;
        println!("\nchart: {path}");
    }
    Ok(())
}

/// `--resume [STREAMS] [TOKENS] [DELAY_MS]`: `axum_chat` with resumption
/// off, on in memory, and on in Redis (when `REDIS_URL` is set for this
/// tool), batch off and batch 4, in the same run: CPU and bytes per token
/// against off, and for Redis the server's own CPU and its script calls
/// (one per logged write, one at the end) per body frame received.
async fn resume_mode(positional: Vec<String>, ticks_per_second: u64) -> Result<(), BoxError> {
    let mut positional = positional.into_iter();
    let mut number = |default: u64| -> Result<u64, BoxError> {
        Ok(positional
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let streams = number(500)? as usize;
    let tokens = number(200)?;
    let delay = number(20)?;
    let redis_url = std::env::var("REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty());
    println!("| server | streams | tokens each | TTFT p50 ms | TTFT p99 ms | wall s | server CPU ms | CPU µs/token |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut summary = Vec::new();
    for batch in [1, 4] {
        let knobs = format!(
            "delay_ms={delay}&heartbeat_ms=15000&batch={batch}&batch_ms={}",
            delay * 5
        );
        let resumable = format!("{knobs}&resumable=1");
        let off = run(
            &format!("batch {batch}, resumption off"),
            "axum_chat",
            &[],
            &knobs,
            streams,
            tokens,
            ticks_per_second,
        )
        .await?;
        let memory = run(
            &format!("batch {batch}, memory store"),
            "axum_chat",
            &[],
            &resumable,
            streams,
            tokens,
            ticks_per_second,
        )
        .await?;
        summary.push((batch, "memory", off, memory, None));
        if let Some(url) = &redis_url {
            let before = RedisStats::read(url)?;
            let env = [("REDIS_URL", url.as_str())];
            let redis = run(
                &format!("batch {batch}, Redis store"),
                "axum_chat",
                &env,
                &resumable,
                streams,
                tokens,
                ticks_per_second,
            )
            .await?;
            let after = RedisStats::read(url)?;
            summary.push((batch, "Redis", off, redis, Some(after.since(&before))));
        }
    }
    println!("\n| batch | store | CPU/token vs off | bytes/token off | bytes/token on | Redis CPU µs/token | script calls per body frame |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let delivered = (streams as u64 * tokens) as f64;
    for (batch, store, off, on, redis) in summary {
        let ratio = on.cpu_per_token.as_secs_f64() / off.cpu_per_token.as_secs_f64();
        let (redis_cpu, calls) = match redis {
            Some(stats) => (
                format!("{:.1}", stats.cpu.as_secs_f64() * 1e6 / delivered),
                // The warm-up stream's calls are in the count too.
                format!("{:.2}", stats.script_calls as f64 / on.writes as f64),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {batch} | {store} | {ratio:.2}x | {:.1} | {:.1} | {redis_cpu} | {calls} |",
            off.bytes_per_token, on.bytes_per_token
        );
    }
    if redis_url.is_none() {
        println!("\n(no REDIS_URL: the Redis store was not measured)");
    }
    Ok(())
}

/// A Redis server's CPU time and script calls so far (`INFO`).
struct RedisStats {
    cpu: Duration,
    script_calls: u64,
}

impl RedisStats {
    fn read(url: &str) -> Result<Self, BoxError> {
        let mut connection = redis::Client::open(url)?.get_connection()?;
        let info: String = redis::cmd("INFO").arg("all").query(&mut connection)?;
        let field = |name: &str| -> f64 {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let calls = |command: &str| -> u64 {
            info.lines()
                .find_map(|line| line.strip_prefix(command)?.strip_prefix(":calls="))
                .and_then(|rest| rest.split(',').next()?.parse().ok())
                .unwrap_or(0)
        };
        Ok(Self {
            cpu: Duration::from_secs_f64(field("used_cpu_user") + field("used_cpu_sys")),
            script_calls: calls("cmdstat_evalsha") + calls("cmdstat_eval"),
        })
    }

    fn since(&self, before: &Self) -> Self {
        Self {
            cpu: self.cpu.saturating_sub(before.cpu),
            script_calls: self.script_calls - before.script_calls,
        }
    }
}

/// `--slow N [TOKENS] [DELAY_MS]`: N slow streams at once against the
/// baseline and llm-sse with batching off.
async fn slow_mode(
    streams: usize,
    positional: Vec<String>,
    ticks_per_second: u64,
) -> Result<(), BoxError> {
    let mut positional = positional.into_iter();
    let tokens: u64 = positional
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(30);
    let delay: u64 = positional
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1000);
    let (soft, hard) = open_files_limit("self")?;
    eprintln!("load: open-files limit {soft} (hard {hard})");
    if !allows(&soft, streams + 64) {
        return Err(format!(
            "this process may open {soft} files, {streams} streams need more: run `ulimit -n 65536` first"
        )
        .into());
    }
    println!(
        "{streams} streams at once, {tokens} tokens each, {delay} ms apart, heartbeats every 15 s\n"
    );
    println!("| server | streams | open when measured | RSS idle MiB | RSS open MiB | RSS KiB/stream | TTFT p50 ms | TTFT p99 ms | all open after s | wall s | completed |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let knobs = format!("tokens={tokens}&delay_ms={delay}&heartbeat_ms=15000");
    let servers = [
        (
            "axum Sse + KeepAlive (baseline)",
            "axum_baseline",
            knobs.clone(),
        ),
        (
            "llm-sse, batch off",
            "axum_chat",
            format!("{knobs}&batch=1"),
        ),
    ];
    for (name, example, query) in &servers {
        run_slow(name, example, query, streams, ticks_per_second).await?;
    }
    Ok(())
}
