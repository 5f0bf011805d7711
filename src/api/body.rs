//! File bodies that do not start with a 200 they cannot keep.
//!
//! A file's bytes stream out block by block, after the status line. [`checked_file_body`]
//! reads the first blocks before the response is built, so a block that is missing, torn or
//! unfetchable at the start of the file gives an error status with a JSON reason instead of a
//! 200 and a cut body. A failure further in aborts the body: with the `Content-Length` already
//! sent, a client sees a short read, never a whole-looking file.

use axum::body::Body;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};

use super::ApiError;
use crate::content::ContentError;

/// Bytes read (whole blocks) before the status line: the first leaf of the default profile
/// (1 MiB) and the nodes above it.
const AHEAD: usize = 1024 * 1024;

/// Reads up to [`AHEAD`] bytes of `stream` (at least its first chunk), then returns a body
/// that replays them and streams the rest; an error in what was read ahead is returned
/// instead.
pub(super) async fn checked_file_body<S>(stream: S) -> Result<Body, ApiError>
where
    S: Stream<Item = Result<Bytes, ContentError>> + Send + 'static,
{
    let mut stream = Box::pin(stream);
    let mut ahead = Vec::new();
    let mut read = 0;
    while read < AHEAD {
        match stream.next().await {
            Some(Ok(chunk)) => {
                read += chunk.len();
                ahead.push(Ok(chunk));
            }
            Some(Err(e)) => return Err(e.into()),
            None => break,
        }
    }
    let body = futures::stream::iter(ahead)
        .chain(stream)
        .map_err(std::io::Error::other);
    Ok(Body::from_stream(body))
}
