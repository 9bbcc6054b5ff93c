//! A small HTTP/1.1 client on a raw socket, reading a chunked SSE response
//! one event at a time, so tests see exactly when each event arrives.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::VecDeque;
use std::net::SocketAddr;

use llm_sse::decode::{Decoder, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) struct SseClient {
    socket: TcpStream,
    /// Raw bytes read but not yet de-chunked.
    raw: Vec<u8>,
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    decoder: Decoder,
    frames: VecDeque<Frame>,
    /// The whole de-chunked body so far.
    pub(crate) body: Vec<u8>,
    pub(crate) ended: bool,
}

impl SseClient {
    /// Sends `GET path` and reads the response head.
    pub(crate) async fn get(addr: SocketAddr, path: &str) -> Self {
        Self::request(addr, "GET", path, None).await
    }

    /// Sends `POST path` with a JSON body and reads the response head.
    pub(crate) async fn post_json(addr: SocketAddr, path: &str, body: &str) -> Self {
        Self::request(addr, "POST", path, Some(body)).await
    }

    async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Self {
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        match body {
            Some(body) => request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => request.push_str("\r\n"),
        }
        socket.write_all(request.as_bytes()).await.expect("send");
        let mut client = Self {
            socket,
            raw: Vec::new(),
            status: 0,
            headers: Vec::new(),
            decoder: Decoder::new().comments(true),
            frames: VecDeque::new(),
            body: Vec::new(),
            ended: false,
        };
        let head_end = loop {
            if let Some(i) = client.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(
                client.read_more().await,
                "connection closed before the headers"
            );
        };
        let head = String::from_utf8(client.raw[..head_end].to_vec()).expect("ASCII head");
        client.raw.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        client.status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        client.headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        client
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    async fn read_more(&mut self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let n = self.socket.read(&mut buf).await.unwrap_or(0);
        self.raw.extend_from_slice(&buf[..n]);
        n > 0
    }

    /// Moves complete chunks from `raw` into the body and the decoder.
    fn dechunk(&mut self) {
        loop {
            let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_line = std::str::from_utf8(&self.raw[..line_end]).expect("chunk size");
            let size = usize::from_str_radix(size_line.trim(), 16).expect("hex chunk size");
            if self.raw.len() < line_end + 2 + size + 2 {
                return;
            }
            let data = self.raw[line_end + 2..line_end + 2 + size].to_vec();
            self.raw.drain(..line_end + 2 + size + 2);
            if size == 0 {
                self.ended = true;
                return;
            }
            self.decoder.feed(&data);
            self.body.extend_from_slice(&data);
            while let Some(frame) = self.decoder.next_frame() {
                self.frames.push_back(frame.expect("no oversized events"));
            }
        }
    }

    /// The next frame (event or comment), or `None` at the end of the body.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        loop {
            self.dechunk();
            if let Some(frame) = self.frames.pop_front() {
                return Some(frame);
            }
            if self.ended || !self.read_more().await {
                return None;
            }
        }
    }

    /// The whole body of a response with a `content-length` (or chunked).
    pub(crate) async fn text(&mut self) -> String {
        if let Some(length) = self
            .header("content-length")
            .and_then(|l| l.parse::<usize>().ok())
        {
            while self.raw.len() < length {
                assert!(
                    self.read_more().await,
                    "body shorter than its content-length"
                );
            }
            return String::from_utf8(self.raw[..length].to_vec()).expect("UTF-8 body");
        }
        while self.next().await.is_some() {}
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    /// The next event's data, skipping comments.
    pub(crate) async fn next_data(&mut self) -> Option<String> {
        loop {
            match self.next().await? {
                Frame::Event(event) => return Some(event.data().unwrap_or_default().to_owned()),
                _ => continue,
            }
        }
    }
}

/// Checks an SSE response from a server whose token stream the test feeds
/// through `tx`: the SSE headers, then each token arriving as its own event
/// before the next is even produced, then `[DONE]` and a clean end.
pub(crate) async fn check_incremental_delivery(
    mut client: SseClient,
    tx: tokio::sync::mpsc::UnboundedSender<super::Token>,
) {
    assert_eq!(client.status, 200);
    assert_eq!(client.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        client.header("cache-control"),
        Some("no-cache, no-transform")
    );
    assert_eq!(client.header("x-accel-buffering"), Some("no"));
    assert_eq!(client.header("content-length"), None);
    assert_eq!(client.header("connection"), None);
    // The client holds each event while the model has not yet made the
    // next token: the next is sent only after the last one arrived.
    tx.send(Ok("Hello".into())).unwrap();
    assert_eq!(client.next_data().await.as_deref(), Some("Hello"));
    tx.send(Ok(" world".into())).unwrap();
    assert_eq!(client.next_data().await.as_deref(), Some(" world"));
    drop(tx);
    assert_eq!(client.next_data().await.as_deref(), Some("[DONE]"));
    assert_eq!(client.next().await, None);
    assert!(client.ended, "a clean end of the chunked body");
}
