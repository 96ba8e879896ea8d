//! The sidecar's socket connections pass through here before tonic sees them, to
//! accept the `:authority` Argo CD's repo-server really sends (docs/cmp-protocol.md
//! §1): grpc-go (and grpc-core) put the percent-escaped socket path there
//! (`home%2Fargocd%2F...%2Fkcmp.sock`), which the `h2` crate rejects with
//! PROTOCOL_ERROR (hyperium/h2#487, open). Client-to-server HTTP/2 HEADERS blocks are
//! HPACK-decoded, an `:authority` that is not a valid URI authority becomes
//! `localhost`, and the block is re-encoded with literals only (so the server's HPACK
//! table stays empty and in sync). Every other frame, and the server's direction,
//! pass through unchanged.

use loona_hpack::encoder::encode_integer;
use loona_hpack::Decoder;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const PREFACE_LEN: usize = 24;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The server's SETTINGS_MAX_FRAME_SIZE (h2's default, never raised by tonic).
const MAX_FRAME: usize = 16_384;
/// A header block larger than this is refused (gRPC metadata is small).
const MAX_BLOCK: usize = 1 << 20;

/// A connection whose incoming HEADERS get a valid `:authority`.
pub struct AuthorityFix<S> {
    inner: S,
    raw: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    preface_left: usize,
    decoder: Decoder<'static>,
    pending: Option<Pending>,
    eof: bool,
}

struct Pending {
    stream_id: [u8; 4],
    end_stream: bool,
    block: Vec<u8>,
}

impl<S> AuthorityFix<S> {
    /// Wraps a freshly accepted connection (it starts with the HTTP/2 preface).
    pub fn new(inner: S) -> AuthorityFix<S> {
        AuthorityFix {
            inner,
            raw: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            preface_left: PREFACE_LEN,
            decoder: Decoder::new(),
            pending: None,
            eof: false,
        }
    }

    /// Moves complete frames from `raw` to `out`, rewriting header blocks.
    fn process(&mut self) -> io::Result<()> {
        if self.preface_left > 0 {
            let n = self.preface_left.min(self.raw.len());
            self.out.extend(self.raw.drain(..n));
            self.preface_left -= n;
            if self.preface_left > 0 {
                return Ok(());
            }
        }
        let mut start = 0;
        while self.raw.len() - start >= 9 {
            let head = &self.raw[start..start + 9];
            let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
            if self.raw.len() - start < 9 + len {
                break;
            }
            let frame = self.raw[start..start + 9 + len].to_vec();
            start += 9 + len;
            self.frame(&frame)?;
        }
        self.raw.drain(..start);
        Ok(())
    }

    fn frame(&mut self, frame: &[u8]) -> io::Result<()> {
        let (kind, flags) = (frame[3], frame[4]);
        let stream_id = [frame[5], frame[6], frame[7], frame[8]];
        let payload = &frame[9..];
        match kind {
            HEADERS => {
                if self.pending.is_some() {
                    return Err(protocol("HEADERS while a header block is open"));
                }
                let mut p = payload;
                if flags & PADDED != 0 {
                    let pad = usize::from(*p.first().ok_or_else(|| protocol("empty padded HEADERS"))?);
                    if pad + 1 > p.len() {
                        return Err(protocol("HEADERS padding longer than the frame"));
                    }
                    p = &p[1..p.len() - pad];
                }
                if flags & PRIORITY != 0 {
                    p = p.get(5..).ok_or_else(|| protocol("HEADERS priority fields truncated"))?;
                }
                self.pending = Some(Pending { stream_id, end_stream: flags & END_STREAM != 0, block: p.to_vec() });
            }
            CONTINUATION => {
                let pending = self.pending.as_mut().ok_or_else(|| protocol("CONTINUATION without HEADERS"))?;
                if pending.stream_id != stream_id {
                    return Err(protocol("CONTINUATION on another stream"));
                }
                pending.block.extend_from_slice(payload);
            }
            _ => {
                if self.pending.is_some() {
                    return Err(protocol("frame inside a header block"));
                }
                self.out.extend_from_slice(frame);
                return Ok(());
            }
        }
        if self.pending.as_ref().is_some_and(|p| p.block.len() > MAX_BLOCK) {
            return Err(protocol("header block too large"));
        }
        if flags & END_HEADERS != 0 {
            if let Some(pending) = self.pending.take() {
                self.emit(pending)?;
            }
        }
        Ok(())
    }

    fn emit(&mut self, pending: Pending) -> io::Result<()> {
        let headers = self.decoder.decode(&pending.block).map_err(|e| protocol(&format!("bad header block: {e}")))?;
        let mut block = Vec::with_capacity(pending.block.len() * 2);
        for (name, value) in headers {
            let value = if name == b":authority" && http::uri::Authority::try_from(value.as_slice()).is_err() {
                b"localhost".to_vec()
            } else {
                value
            };
            // Literal header field without indexing, new name (RFC 7541 §6.2.2), no Huffman.
            block.push(0);
            block.extend(encode_integer(name.len(), 7));
            block.extend_from_slice(&name);
            block.extend(encode_integer(value.len(), 7));
            block.extend_from_slice(&value);
        }
        let chunks: Vec<&[u8]> = if block.is_empty() { vec![&[][..]] } else { block.chunks(MAX_FRAME).collect() };
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let (kind, mut flags) =
                if i == 0 { (HEADERS, if pending.end_stream { END_STREAM } else { 0 }) } else { (CONTINUATION, 0) };
            if i == last {
                flags |= END_HEADERS;
            }
            let len = chunk.len();
            self.out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
            self.out.extend_from_slice(&pending.stream_id);
            self.out.extend_from_slice(chunk);
        }
        Ok(())
    }
}

fn protocol(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("http/2 from the client: {what}"))
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut tmp = [0u8; 16_384];
            let mut read = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.eof = true;
            } else {
                this.raw.extend_from_slice(read.filled());
                this.process()?;
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for AuthorityFix<tokio::net::UnixStream> {
    type ConnectInfo = tonic::transport::server::UdsConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    async fn pass(input: Vec<u8>) -> Vec<u8> {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        client.write_all(&input).await.expect("write");
        drop(client);
        let mut fixed = AuthorityFix::new(server);
        let mut out = Vec::new();
        fixed.read_to_end(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn percent_escaped_socket_path_authority_becomes_localhost_and_the_rest_passes() {
        let mut enc = loona_hpack::Encoder::new();
        let headers: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"POST"),
            (b":path", b"/plugin.ConfigManagementPluginService/GenerateManifest"),
            (b":authority", b"home%2Fargocd%2Fcmp-server%2Fplugins%2Fkcmp.sock"),
            (b"grpc-timeout", b"59999m"),
        ];
        let block = enc.encode(headers.iter().copied());
        let (first, rest) = block.split_at(block.len() / 2);
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frame(0x4, 0, 0, &[]));
        input.extend(frame(HEADERS, PRIORITY, 1, &[&[0, 0, 0, 0, 16][..], first].concat()));
        input.extend(frame(CONTINUATION, END_HEADERS, 1, rest));
        input.extend(frame(0x0, END_STREAM, 1, b"data"));
        // A second block on the same connection exercises the client's dynamic table.
        let block2 = enc.encode(headers.iter().copied());
        input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &block2));

        let out = pass(input).await;
        assert_eq!(&out[..24], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let mut frames = Vec::new();
        let mut i = 24;
        while i < out.len() {
            let len = (usize::from(out[i]) << 16) | (usize::from(out[i + 1]) << 8) | usize::from(out[i + 2]);
            frames.push(out[i..i + 9 + len].to_vec());
            i += 9 + len;
        }
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0], frame(0x4, 0, 0, &[]));
        let mut dec = Decoder::new();
        for (f, end_stream) in [(&frames[1], 0), (&frames[3], END_STREAM)] {
            assert_eq!(f[3], HEADERS);
            assert_eq!(f[4], END_HEADERS | end_stream);
            let decoded = dec.decode(&f[9..]).expect("valid block");
            let authority = decoded.iter().find(|(n, _)| n == b":authority").map(|(_, v)| v.as_slice());
            assert_eq!(authority, Some(&b"localhost"[..]));
            assert_eq!(decoded.len(), 4);
            assert!(decoded.contains(&(b"grpc-timeout".to_vec(), b"59999m".to_vec())));
        }
        assert_eq!(frames[2], frame(0x0, END_STREAM, 1, b"data"));
    }

    #[tokio::test]
    async fn a_valid_authority_is_kept() {
        let mut enc = loona_hpack::Encoder::new();
        let block = enc.encode([(&b":authority"[..], &b"localhost:8080"[..])]);
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &block));
        let out = pass(input).await;
        let decoded = Decoder::new().decode(&out[24 + 9..]).expect("valid");
        assert_eq!(decoded, vec![(b":authority".to_vec(), b"localhost:8080".to_vec())]);
    }
}
