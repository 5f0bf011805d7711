//! Length-prefixed frames: an unsigned varint length, then that many bytes. The reader checks
//! the length against a cap before allocating anything.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("message of {size} bytes is over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one frame of at most `max` bytes; `Ok(None)` at a clean end of stream.
pub async fn read<R: AsyncRead + Unpin>(
    io: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let len = match unsigned_varint::aio::read_usize(&mut *io).await {
        Ok(len) => len,
        Err(unsigned_varint::io::ReadError::Io(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            return Ok(None)
        }
        Err(e) => return Err(FrameError::Malformed(e.to_string())),
    };
    if len > max {
        return Err(FrameError::TooLarge { size: len, max });
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

pub async fn write<W: AsyncWrite + Unpin>(
    io: &mut W,
    bytes: &[u8],
    max: usize,
) -> Result<(), FrameError> {
    if bytes.len() > max {
        return Err(FrameError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    let mut buf = unsigned_varint::encode::usize_buffer();
    io.write_all(unsigned_varint::encode::usize(bytes.len(), &mut buf))
        .await?;
    io.write_all(bytes).await?;
    io.flush().await?;
    Ok(())
}
