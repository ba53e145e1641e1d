//! The extraction's own connection: MySQL's client/server protocol spoken directly, so that
//! each row of a result set is decoded from the socket's read buffer into the Arrow builders
//! (`decode::RowDecoder::push_binary`) with no `Row` of `Value`s in between. mysql_async's
//! `QueryResult::next` builds one per row, and a `Vec` per string column: `perf` put a third
//! of the extracting process there (README, "The production path").
//!
//! mysql_common, the crate mysql_async is built on, parses and writes every packet; this file
//! holds what is left: the framing, the handshake, and the prepared-statement calls.
//! It speaks TCP, plain or TLS (as `ssl-mode` asks: the SSLRequest packet, then rustls
//! checking what mysql_async's rustls would check), with `mysql_native_password` or
//! `caching_sha2_password` (its fast path, which the server offers once it has seen the
//! password). Anything else (a Unix socket, a TLS client certificate, another authentication
//! plugin, caching_sha2's full authentication) is [`ConnectError::Unsupported`], and the
//! extraction reads through mysql_async instead.
//!
//! The protocol: <https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html>
//! (MariaDB's is the same for everything used here: no MariaDB extended capabilities are
//! asked for).

use std::io;
use std::time::Duration;

use mysql_async::{Opts, Value};
use mysql_common::collations::CollationId;
use mysql_common::constants::CapabilityFlags;
use mysql_common::io::ParseBuf;
use mysql_common::packets::{
    AuthPlugin, AuthSwitchRequest, Column, ComStmtExecuteRequestBuilder, ErrPacket,
    HandshakePacket, HandshakeResponse, SslRequest, StmtPacket,
};
use mysql_common::proto::MySerialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::format_duration;
use crate::units::tls::{Verify, client_config, root_store};

/// A payload this long continues in the next packet.
const MAX_PAYLOAD: usize = 0xFF_FFFF;
/// Room kept free at the end of the read buffer: rows are decoded out of it in place, so one
/// read brings hundreds of them.
const READ_ROOM: usize = 256 * 1024;
/// The largest packet this client sends, told to the server at the handshake.
const MAX_PACKET: u32 = 16 * 1024 * 1024;

const COM_QUIT: u8 = 0x01;
const COM_QUERY: u8 = 0x03;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_CLOSE: u8 = 0x19;

/// Why a connection was not made.
#[derive(Debug)]
pub(super) enum ConnectError {
    /// The server asks for something this client does not speak; mysql_async does.
    Unsupported(String),
    /// The server refused us or could not be reached: mysql_async would fail the same way.
    Failed(String),
}

/// The connection's byte stream: TCP, or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One connection, reading result sets out of one growing buffer.
pub(super) struct WireConn {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    /// The first byte of `buf` not yet handed out.
    start: usize,
    /// The end of the bytes read into `buf`.
    end: usize,
    /// A payload of 16 MiB or more, joined from its packets.
    joined: Vec<u8>,
    /// The sequence id of the next packet this client writes.
    seq: u8,
    capabilities: CapabilityFlags,
    read_timeout: Duration,
}

fn io_error(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "the server closed the connection".to_string(),
        _ => e.to_string(),
    }
}

/// `ERROR 1146 (42S02): Table 't.x' doesn't exist`, as the MySQL client prints it.
fn server_error(packet: &[u8], capabilities: CapabilityFlags) -> String {
    match ParseBuf(packet).parse::<ErrPacket>(capabilities) {
        Ok(ErrPacket::Error(e)) => match e.sql_state_ref() {
            Some(state) => format!(
                "ERROR {} ({}): {}",
                e.error_code(),
                state.as_str(),
                e.message_str()
            ),
            None => format!("ERROR {}: {}", e.error_code(), e.message_str()),
        },
        Ok(ErrPacket::Progress(_)) => "an unexpected progress report".to_string(),
        Err(e) => format!("an unreadable error packet: {e}"),
    }
}

fn unexpected(packet: &[u8], during: &str) -> String {
    let head = &packet[..packet.len().min(16)];
    format!("unexpected packet {head:02x?} during {during}")
}

/// A length-encoded integer at `*pos`, moving past it.
pub(super) fn lenenc_int(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *buf.get(*pos)?;
    let (width, value) = match first {
        0..=0xFA => (1, first as u64),
        0xFC => (
            3,
            u16::from_le_bytes(buf.get(*pos + 1..*pos + 3)?.try_into().ok()?) as u64,
        ),
        0xFD => {
            let b = buf.get(*pos + 1..*pos + 4)?;
            (4, u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64)
        }
        0xFE => (
            9,
            u64::from_le_bytes(buf.get(*pos + 1..*pos + 9)?.try_into().ok()?),
        ),
        _ => return None,
    };
    *pos += width;
    Some(value)
}

impl WireConn {
    /// Connects and authenticates as `opts` say, then sets the session's time zone to UTC
    /// (as the mysql_async pool's setup does).
    pub(super) async fn connect(opts: &Opts, read_timeout: Duration) -> Result<Self, ConnectError> {
        use ConnectError::{Failed, Unsupported};
        if opts
            .ssl_opts()
            .is_some_and(|ssl| ssl.client_identity().is_some())
        {
            return Err(Unsupported("a TLS client certificate".into()));
        }
        if opts.socket().is_some() {
            return Err(Unsupported("a Unix socket".into()));
        }
        let (host, port) = (opts.ip_or_hostname(), opts.tcp_port());
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| Failed(format!("connecting to {host}:{port}: {e}")))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Failed(e.to_string()))?;
        let mut conn = WireConn {
            stream: Box::new(stream),
            buf: vec![0; READ_ROOM * 2],
            start: 0,
            end: 0,
            joined: Vec::new(),
            seq: 0,
            capabilities: CapabilityFlags::empty(),
            read_timeout,
        };
        conn.handshake(opts).await?;
        conn.query_drop("SET time_zone = '+00:00'")
            .await
            .map_err(Failed)?;
        Ok(conn)
    }

    async fn handshake(&mut self, opts: &Opts) -> Result<(), ConnectError> {
        use ConnectError::{Failed, Unsupported};
        let packet = self.payload().await.map_err(Failed)?.to_vec();
        if packet.first() == Some(&0xFF) {
            // "Too many connections", "Host is blocked": before any capability is agreed.
            return Err(Failed(server_error(&packet, CapabilityFlags::empty())));
        }
        let handshake = ParseBuf(&packet)
            .parse::<HandshakePacket>(())
            .map_err(|e| Failed(format!("the server's handshake: {e}")))?;
        let mut nonce = handshake.scramble_1_ref().to_vec();
        nonce.extend_from_slice(handshake.scramble_2_ref().unwrap_or_default());
        // 20 bytes without the terminating zero, as the server computes it.
        nonce.resize(20, 0);
        let version = handshake
            .maria_db_server_version_parsed()
            .or_else(|| handshake.server_version_parsed())
            .unwrap_or((0, 0, 0));
        let mut wanted = CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_SECURE_CONNECTION
            | CapabilityFlags::CLIENT_LONG_PASSWORD
            | CapabilityFlags::CLIENT_TRANSACTIONS
            | CapabilityFlags::CLIENT_MULTI_RESULTS
            | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
            | CapabilityFlags::CLIENT_DEPRECATE_EOF
            | CapabilityFlags::CLIENT_PLUGIN_AUTH;
        if opts.db_name().is_some() {
            wanted |= CapabilityFlags::CLIENT_CONNECT_WITH_DB;
        }
        self.capabilities = handshake.capabilities() & wanted;
        if !self
            .capabilities
            .contains(CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_PLUGIN_AUTH)
        {
            return Err(Unsupported(
                "a server without protocol 4.1 and auth plugins".into(),
            ));
        }
        if let Some(ssl) = opts.ssl_opts() {
            self.start_tls(opts, ssl, handshake.capabilities(), version)
                .await?;
        }
        let mut plugin = match handshake.auth_plugin() {
            Some(AuthPlugin::CachingSha2Password) => AuthPlugin::CachingSha2Password,
            _ => AuthPlugin::MysqlNativePassword,
        };
        let data = plugin.gen_data(opts.pass(), &nonce);
        let response = HandshakeResponse::new(
            data.as_deref(),
            version,
            opts.user().map(str::as_bytes),
            opts.db_name().map(str::as_bytes),
            Some(plugin.borrow()),
            self.capabilities,
            None,
            MAX_PACKET,
        );
        let mut out = Vec::new();
        response.serialize(&mut out);
        self.write(&out).await.map_err(Failed)?;

        let mut switched = false;
        loop {
            let packet = self.payload().await.map_err(Failed)?.to_vec();
            match packet.first() {
                Some(0x00) => return Ok(()),
                Some(0xFF) => return Err(Failed(server_error(&packet, self.capabilities))),
                Some(0xFE) if !switched && packet.len() > 1 => {
                    switched = true;
                    let switch = ParseBuf(&packet)
                        .parse::<AuthSwitchRequest>(())
                        .map_err(|e| Failed(format!("the server's auth switch: {e}")))?;
                    plugin = match switch.auth_plugin() {
                        AuthPlugin::MysqlNativePassword => AuthPlugin::MysqlNativePassword,
                        AuthPlugin::CachingSha2Password => AuthPlugin::CachingSha2Password,
                        other => {
                            let name = String::from_utf8_lossy(other.as_bytes()).into_owned();
                            return Err(Unsupported(format!("the auth plugin {name}")));
                        }
                    };
                    let data = plugin.gen_data(opts.pass(), switch.plugin_data());
                    self.write(data.as_deref().unwrap_or_default())
                        .await
                        .map_err(Failed)?;
                }
                // caching_sha2_password: 0x01 0x03 is "fast auth done, OK follows"; 0x04 asks
                // for the password itself, which needs TLS or the server's RSA key.
                Some(0x01) if matches!(plugin, AuthPlugin::CachingSha2Password) => {
                    match packet.get(1) {
                        Some(0x03) => {}
                        Some(0x04) => {
                            return Err(Unsupported(
                                "caching_sha2_password's full authentication".into(),
                            ));
                        }
                        _ => return Err(Failed(unexpected(&packet, "authentication"))),
                    }
                }
                Some(0xFE) => return Err(Unsupported("the old password protocol".into())),
                _ => return Err(Failed(unexpected(&packet, "authentication"))),
            }
        }
    }

    /// Asks the server for TLS (the SSLRequest packet: the handshake response's first 32
    /// bytes, with `CLIENT_SSL`) and continues the handshake over it. The server's certificate
    /// is checked as mysql_async's rustls checks it for the same [`mysql_async::SslOpts`]:
    /// `ssl-mode=REQUIRED` accepts any, `VERIFY_CA` the chain to a root (the web PKI's and
    /// `ssl-ca`), `VERIFY_IDENTITY` the name as well (`connect::tls_options`).
    async fn start_tls(
        &mut self,
        opts: &Opts,
        ssl: &mysql_async::SslOpts,
        offered: CapabilityFlags,
        version: (u16, u16, u16),
    ) -> Result<(), ConnectError> {
        use ConnectError::Failed;
        if !offered.contains(CapabilityFlags::CLIENT_SSL) {
            return Err(Failed(
                "the server does not offer TLS, which the URL's ssl-mode asks for".into(),
            ));
        }
        let verify = if ssl.accept_invalid_certs() {
            Verify::Nothing
        } else if ssl.skip_domain_validation() {
            Verify::Chain
        } else {
            Verify::Full
        };
        let mut extra = Vec::new();
        // The URL has one `ssl-ca` (`connect::tls_options`): its file is named in the URL.
        for cert in ssl.root_certs() {
            let bytes = cert
                .read()
                .await
                .map_err(|e| Failed(format!("reading the URL's ssl-ca file: {e}")))?;
            extra.push(("the URL's ssl-ca file".to_string(), bytes.into_owned()));
        }
        let config = client_config(verify, || root_store(!ssl.disable_built_in_roots(), &extra))
            .map_err(Failed)?;
        let host = ssl
            .tls_hostname_override()
            .map(str::to_string)
            .unwrap_or_else(|| opts.ip_or_hostname().to_string());
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| Failed(format!("TLS server name {host}: {e}")))?;
        self.capabilities |= CapabilityFlags::CLIENT_SSL;
        // The collation the handshake response will name (mysql_common's rule).
        let collation = if version >= (5, 5, 3) {
            CollationId::UTF8MB4_GENERAL_CI
        } else {
            CollationId::UTF8MB3_GENERAL_CI
        };
        let request = SslRequest::new(self.capabilities, MAX_PACKET, collation as u8);
        let mut out = Vec::new();
        request.serialize(&mut out);
        self.write(&out).await.map_err(Failed)?;
        if self.start != self.end {
            return Err(Failed(
                "the server sent more than its handshake before TLS".into(),
            ));
        }
        let plain = std::mem::replace(&mut self.stream, Box::new(tokio::io::empty()));
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, plain)
            .await
            .map_err(|e| Failed(format!("TLS with {host}: {e}")))?;
        self.stream = Box::new(tls);
        Ok(())
    }

    /// Reads more bytes, making room for the packet whose first bytes have arrived.
    async fn fill(&mut self) -> Result<(), String> {
        let available = self.end - self.start;
        let needed = if available >= 4 {
            let header = &self.buf[self.start..self.start + 3];
            4 + u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize
        } else {
            4
        };
        if self.buf.len() - self.end < READ_ROOM || self.start + needed > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = available;
            if self.buf.len() < needed + READ_ROOM {
                self.buf.resize(needed + READ_ROOM, 0);
            }
        }
        let read = tokio::time::timeout(
            self.read_timeout,
            self.stream.read(&mut self.buf[self.end..]),
        )
        .await
        .map_err(|_| {
            format!(
                "no answer within source.read_timeout = {}; the server stopped answering",
                format_duration(self.read_timeout)
            )
        })?
        .map_err(io_error)?;
        if read == 0 {
            return Err(io_error(io::ErrorKind::UnexpectedEof.into()));
        }
        self.end += read;
        Ok(())
    }

    /// The bounds in `buf` of the next packet's payload, read if need be.
    async fn packet(&mut self) -> Result<(usize, usize), String> {
        loop {
            let available = &self.buf[self.start..self.end];
            if available.len() >= 4 {
                let len =
                    u32::from_le_bytes([available[0], available[1], available[2], 0]) as usize;
                if available.len() >= 4 + len {
                    let from = self.start + 4;
                    self.seq = available[3].wrapping_add(1);
                    self.start = from + len;
                    return Ok((from, from + len));
                }
            }
            self.fill().await?;
        }
    }

    /// The next payload, borrowed from the read buffer (or joined, past 16 MiB).
    async fn payload(&mut self) -> Result<&[u8], String> {
        let (from, to) = self.packet().await?;
        if to - from < MAX_PAYLOAD {
            return Ok(&self.buf[from..to]);
        }
        let mut joined = std::mem::take(&mut self.joined);
        joined.clear();
        joined.extend_from_slice(&self.buf[from..to]);
        loop {
            let (from, to) = self.packet().await?;
            joined.extend_from_slice(&self.buf[from..to]);
            if to - from < MAX_PAYLOAD {
                break;
            }
        }
        self.joined = joined;
        Ok(&self.joined)
    }

    /// Writes one payload as packets from the current sequence id.
    async fn write(&mut self, payload: &[u8]) -> Result<(), String> {
        let mut out = Vec::with_capacity(payload.len() + 8);
        let mut chunks: Vec<&[u8]> = payload.chunks(MAX_PAYLOAD).collect();
        // A payload that is a multiple of the maximum ends with an empty packet.
        if payload.len().is_multiple_of(MAX_PAYLOAD) {
            chunks.push(&[]);
        }
        for chunk in chunks {
            out.extend_from_slice(&(chunk.len() as u32).to_le_bytes()[..3]);
            out.push(self.seq);
            self.seq = self.seq.wrapping_add(1);
            out.extend_from_slice(chunk);
        }
        self.stream.write_all(&out).await.map_err(io_error)
    }

    /// Sends a command: a new exchange, whose packets count from zero.
    async fn command(&mut self, code: u8, body: &[u8]) -> Result<(), String> {
        self.seq = 0;
        let mut payload = Vec::with_capacity(body.len() + 1);
        payload.push(code);
        payload.extend_from_slice(body);
        self.write(&payload).await
    }

    /// Runs a statement that returns no rows.
    pub(super) async fn query_drop(&mut self, sql: &str) -> Result<(), String> {
        self.command(COM_QUERY, sql.as_bytes()).await?;
        let capabilities = self.capabilities;
        let packet = self.payload().await?;
        match packet.first() {
            Some(0x00) => Ok(()),
            Some(0xFF) => Err(server_error(packet, capabilities)),
            _ => Err(unexpected(packet, sql)),
        }
    }

    /// Prepares a statement; its id.
    pub(super) async fn prepare(&mut self, sql: &str) -> Result<u32, String> {
        self.command(COM_STMT_PREPARE, sql.as_bytes()).await?;
        let capabilities = self.capabilities;
        let packet = self.payload().await?;
        if packet.first() == Some(&0xFF) {
            return Err(server_error(packet, capabilities));
        }
        let stmt = ParseBuf(packet)
            .parse::<StmtPacket>(())
            .map_err(|e| format!("the answer to COM_STMT_PREPARE: {e}"))?;
        // The parameter and column definitions that follow are skipped: the execution's
        // result set describes its columns again.
        for count in [stmt.num_params(), stmt.num_columns()] {
            for _ in 0..count {
                self.payload().await?;
            }
            if count > 0 && !self.deprecate_eof() {
                self.payload().await?;
            }
        }
        Ok(stmt.statement_id())
    }

    fn deprecate_eof(&self) -> bool {
        self.capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    }

    /// Executes a prepared statement; the definitions of its result set's columns (none for a
    /// statement without one). Rows follow from [`WireConn::next_row`].
    pub(super) async fn execute(
        &mut self,
        stmt: u32,
        params: &[Value],
    ) -> Result<Vec<Column>, String> {
        let (request, as_long_data) = ComStmtExecuteRequestBuilder::new(stmt).build(params);
        if as_long_data {
            return Err("the statement's parameters exceed one packet".into());
        }
        let mut body = Vec::new();
        request.serialize(&mut body);
        self.seq = 0;
        self.write(&body).await?;
        let capabilities = self.capabilities;
        let packet = self.payload().await?;
        let count = match packet.first() {
            Some(0x00) => return Ok(Vec::new()),
            Some(0xFF) => return Err(server_error(packet, capabilities)),
            _ => lenenc_int(packet, &mut 0).ok_or_else(|| unexpected(packet, "execute"))?,
        };
        let mut columns = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let packet = self.payload().await?;
            let column = ParseBuf(packet)
                .parse::<Column>(())
                .map_err(|e| format!("a column definition: {e}"))?;
            columns.push(column);
        }
        if !self.deprecate_eof() {
            self.payload().await?;
        }
        Ok(columns)
    }

    /// The next row of the result set being read (a binary-protocol row: a zero byte, the
    /// NULL bitmap, the values), or `None` at its end.
    pub(super) async fn next_row(&mut self) -> Result<Option<&[u8]>, String> {
        let capabilities = self.capabilities;
        let packet = self.payload().await?;
        match packet.first() {
            Some(0x00) => Ok(Some(packet)),
            // The terminator: an EOF packet, or an OK packet with 0xFE's header under
            // CLIENT_DEPRECATE_EOF (a row cannot start with 0xFE: binary rows start with 0).
            Some(0xFE) => Ok(None),
            Some(0xFF) => Err(server_error(packet, capabilities)),
            _ => Err(unexpected(packet, "a result set")),
        }
    }

    /// Frees a prepared statement (the server sends no answer).
    pub(super) async fn close(&mut self, stmt: u32) -> Result<(), String> {
        self.command(COM_STMT_CLOSE, &stmt.to_le_bytes()).await
    }

    /// Says goodbye, so the server does not count an aborted client.
    pub(super) async fn quit(mut self) {
        let _ = self.command(COM_QUIT, &[]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tls_client_certificate_is_left_to_mysql_async_before_anything_connects() {
        // Port 1: nothing listens there, so only an answer given before connecting passes.
        let identity = mysql_async::ClientIdentity::new(
            std::path::PathBuf::from("cert.pem").into(),
            std::path::PathBuf::from("key.pem").into(),
        );
        let opts: Opts = mysql_async::OptsBuilder::from_opts(
            Opts::from_url("mysql://u:p@127.0.0.1:1/db").unwrap(),
        )
        .ssl_opts(Some(
            mysql_async::SslOpts::default().with_client_identity(Some(identity)),
        ))
        .into();
        let result = WireConn::connect(&opts, Duration::from_secs(1)).await;
        assert!(
            matches!(&result, Err(ConnectError::Unsupported(what)) if what.contains("client certificate")),
            "{:?}",
            result.err()
        );
    }

    #[test]
    fn length_encoded_integers() {
        let cases: [(&[u8], u64, usize); 4] = [
            (&[0xFA], 250, 1),
            (&[0xFC, 0x34, 0x12], 0x1234, 3),
            (&[0xFD, 0x56, 0x34, 0x12], 0x12_3456, 4),
            (&[0xFE, 1, 0, 0, 0, 0, 0, 0, 0x80], 0x8000_0000_0000_0001, 9),
        ];
        for (bytes, value, width) in cases {
            let mut pos = 0;
            assert_eq!(lenenc_int(bytes, &mut pos), Some(value));
            assert_eq!(pos, width);
        }
        assert_eq!(lenenc_int(&[0xFC, 0x34], &mut 0), None, "cut short");
        assert_eq!(lenenc_int(&[0xFF], &mut 0), None, "not an integer");
    }
}
