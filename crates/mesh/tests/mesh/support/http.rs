//! A minimal HTTP/1.1 client: one request at a time, on a kept-alive connection or a fresh
//! one per request, with every failure (connect, write, read, framing, timeout) reported as
//! an error rather than retried, so that a test sees each lost request.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

/// The most a test response may carry (head or body).
const MAX: usize = 1 << 20;

/// An HTTP/1.1 client of one server address.
pub struct Client {
    addr: SocketAddr,
    keep_alive: bool,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
    /// Connections opened so far.
    pub connections: usize,
}

/// A response: its status and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Client {
    /// A client of `addr`, keeping its connection between requests when `keep_alive`.
    pub fn new(addr: SocketAddr, keep_alive: bool) -> Self {
        Self {
            addr,
            keep_alive,
            timeout: Duration::from_secs(5),
            conn: None,
            connections: 0,
        }
    }

    /// `GET path` with `Host: host`. On any error the connection is dropped (the next request
    /// opens a new one).
    pub async fn get(&mut self, host: &str, path: &str) -> Result<Response, String> {
        let result = tokio::time::timeout(self.timeout, self.exchange(host, path))
            .await
            .unwrap_or_else(|_| Err(format!("no response within {:?}", self.timeout)));
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn exchange(&mut self, host: &str, path: &str) -> Result<Response, String> {
        if self.conn.is_none() {
            let tcp = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            tcp.set_nodelay(true).ok();
            self.conn = Some(BufReader::new(tcp));
            self.connections += 1;
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".to_owned());
        };
        let connection = if self.keep_alive {
            "keep-alive"
        } else {
            "close"
        };
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\n\r\n");
        conn.get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let (status, close, response) = read_response(conn).await?;
        if close || !self.keep_alive {
            self.conn = None;
        }
        Ok(Response {
            status,
            body: response,
        })
    }
}

/// Reads one response: status, whether the server will close, and the body.
async fn read_response(conn: &mut BufReader<TcpStream>) -> Result<(u16, bool, Vec<u8>), String> {
    let status_line = read_line(conn).await?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not a status line: {status_line:?}"))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    let mut head = status_line.len();
    loop {
        let line = read_line(conn).await?;
        if line.is_empty() {
            break;
        }
        head += line.len();
        if head > MAX {
            return Err("response head too large".to_owned());
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim().to_ascii_lowercase();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(value.parse::<usize>().map_err(|_| "bad content-length")?);
            }
            "transfer-encoding" => chunked = value.contains("chunked"),
            "connection" => close = value.contains("close"),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(conn).await?
    } else if let Some(length) = length {
        if length > MAX {
            return Err("body too large".to_owned());
        }
        let mut body = vec![0; length];
        conn.read_exact(&mut body)
            .await
            .map_err(|e| format!("body: {e}"))?;
        body
    } else if status == 204 || status == 304 {
        Vec::new()
    } else {
        // Delimited by the close.
        close = true;
        let mut body = Vec::new();
        conn.take(MAX as u64)
            .read_to_end(&mut body)
            .await
            .map_err(|e| format!("body: {e}"))?;
        body
    };
    Ok((status, close, body))
}

async fn read_chunked(conn: &mut BufReader<TcpStream>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(conn).await?;
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_line:?}"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(conn).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX {
            return Err("body too large".to_owned());
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..])
            .await
            .map_err(|e| format!("chunk: {e}"))?;
        if !read_line(conn).await?.is_empty() {
            return Err("no CRLF after a chunk".to_owned());
        }
    }
}

/// One line without its CRLF; an error at the end of the stream.
async fn read_line(conn: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    let n = (&mut *conn)
        .take(MAX as u64)
        .read_line(&mut line)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if n == 0 {
        return Err("connection closed before a complete response".to_owned());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
