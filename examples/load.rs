//! End-to-end load benchmark: many concurrent SSE streams over loopback
//! against the `axum_chat` example and against `axum_baseline` (axum's own
//! `Sse` + `KeepAlive`), both serving the same mock model.
//!
//! Build the servers, then run:
//!
//! ```sh
//! cargo build --release --features full --examples
//! cargo run --release --features full --example load -- [STREAMS] [TOKENS] [DELAY_MS] [--svg PATH]
//! ```
//!
//! Defaults: 500 streams of 200 tokens, 20 ms apart. `STREAMS` may be a
//! comma-separated list of concurrency levels (`50,200,500`): every server
//! runs at each level in turn. Each server runs in its own process; the
//! report gives time to first token (p50, p99, from sending the request,
//! once connected, to reading the first event) and the server's CPU time
//! (user + system, from `/proc/PID/stat`) per token delivered. `--svg PATH`
//! also draws both against concurrency, one line per server (plotters'
//! SVG backend), e.g. `--svg benches/load.svg`.

#![allow(clippy::print_stdout)] // a benchmark reports

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llm_sse::decode::{Decoder, Frame};
use plotters::prelude::*;
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

/// What one server did at one concurrency level.
#[derive(Debug, Clone, Copy)]
struct Measured {
    streams: usize,
    ttft_p50: Duration,
    ttft_p99: Duration,
    cpu_per_token: Duration,
}

async fn run(
    name: &str,
    example: &str,
    query: &str,
    streams: usize,
    tokens: u64,
) -> Result<Measured, Box<dyn std::error::Error>> {
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
    let measured = Measured {
        streams,
        ttft_p50: percentile(&ttfts, 0.5),
        ttft_p99: percentile(&ttfts, 0.99),
        cpu_per_token: cpu / u32::try_from(delivered)?,
    };
    println!(
        "| {name} | {streams} | {tokens} | {:.1} | {:.1} | {:.2} | {:.0} | {:.1} |",
        measured.ttft_p50.as_secs_f64() * 1000.0,
        measured.ttft_p99.as_secs_f64() * 1000.0,
        wall.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0,
        measured.cpu_per_token.as_secs_f64() * 1e6,
    );
    Ok(measured)
}

/// One line of the chart: a server's measurements at every level.
struct Series {
    name: &'static str,
    color: RGBColor,
    points: Vec<Measured>,
}

/// Draws CPU per token (left) and TTFT p50 and p99 (right, p99 dashed)
/// against concurrency, one color per server.
fn chart(
    path: &str,
    series: &[Series],
    tokens: u64,
    delay: u64,
) -> Result<(), Box<dyn std::error::Error>> {
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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut svg = None;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--svg" {
            svg = Some(args.next().ok_or("--svg needs a path")?);
        } else {
            positional.push(arg);
        }
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
    let knobs = format!("delay_ms={delay}&heartbeat_ms=15000");
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
            name: "llm-sse, batch 4",
            color: RGBColor(214, 39, 40),
            points: Vec::new(),
        },
    ];
    let servers = [
        ("axum_baseline", knobs.clone()),
        ("axum_chat", format!("{knobs}&batch=1")),
        (
            "axum_chat",
            format!("{knobs}&batch=4&batch_ms={}", delay * 5),
        ),
    ];
    for &streams in &levels {
        for (series, (example, query)) in series.iter_mut().zip(&servers) {
            let measured = run(series.name, example, query, streams, tokens).await?;
            series.points.push(measured);
        }
    }
    if let Some(path) = svg {
        chart(&path, &series, tokens, delay)?;
        println!("\nchart: {path}");
    }
    Ok(())
}
